"""CycleGAN (Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks"): two ResNet generators G: A -> B and F: B -> A (appendix 7.2, after Johnson et
al. 2016) and two 70x70 PatchGAN discriminators, trained with the full objective (eq. 3)
L = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda_cycle * L_cyc(G, F) (+ the identity loss of section 5.2)."""

from __future__ import annotations

import torch
from torch import nn

from genhub.models.base import GenhubModel
from genhub.models.layers import init_gan_weights, norm_layer, pad_to_multiple
from genhub.models.patchgan import PatchGANDiscriminator

DIRECTIONS = ("AB", "BA")


class ResnetBlock(nn.Module):
    """x + [reflect-pad 1, conv 3x3, norm, ReLU, (dropout 0.5), reflect-pad 1, conv 3x3, norm](x); same shape."""

    def __init__(self, channels: int, norm: str = "instance", use_dropout: bool = False):
        super().__init__()
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
                                   norm_layer(norm, channels), nn.ReLU()]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), norm_layer(norm, channels)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """Johnson et al. 2016's transformation network as used by CycleGAN (appendix 7.2):
    c7s1-ngf, d(2 ngf), d(4 ngf), ``n_blocks`` x R(4 ngf), u(2 ngf), u(ngf), c7s1-out + tanh, where c7s1 is a
    reflect-padded 7x7 conv, d/u are stride-2 3x3 convs / transposed convs, and every conv but the last
    is followed by norm and ReLU. "ResNet-9" (n_blocks=9) is the paper's choice for 256x256, "ResNet-6" for 128x128.

    Inputs whose sides are not multiples of 4 (or smaller than 8) are replicate-padded at the right and
    bottom and the output is cropped back.

    Parameters:
        in_channels: input image channels.
        out_channels: output image channels.
        ngf: channels after the first conv (the paper: 64); the residual blocks run at 4 * ngf.
        n_blocks: residual blocks (6 or 9 in the paper).
        norm: ``"instance"`` (the paper) or ``"batch"``.
        use_dropout: dropout 0.5 inside each residual block.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", use_dropout: bool = False):
        super().__init__()
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   norm_layer(norm, ngf), nn.ReLU()]
        for width in (ngf, 2 * ngf):
            layers += [nn.Conv2d(width, 2 * width, 3, 2, 1, bias=bias), norm_layer(norm, 2 * width), nn.ReLU()]
        layers += [ResnetBlock(4 * ngf, norm, use_dropout) for _ in range(n_blocks)]
        for width in (4 * ngf, 2 * ngf):
            layers += [nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1, bias=bias),
                       norm_layer(norm, width // 2), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: float (B, in_channels, H, W) in [-1, 1], any H, W >= 1 ->
        float (B, out_channels, H, W) in [-1, 1]."""
        x, (height, width) = pad_to_multiple(images, 4, minimum=8)
        return self.net(x)[..., :height, :width]


class CycleGANGenerators(nn.Module):
    """The two generators as one module, so that one optimizer and one (DDP-)prepared network cover
    both and a single forward yields every image the generator loss needs.

    Parameters:
        channels, ngf, n_blocks, norm, use_dropout: as :class:`ResnetGenerator`, for both generators.
    """

    def __init__(self, channels: int = 3, ngf: int = 64, n_blocks: int = 9, norm: str = "instance",
                 use_dropout: bool = False):
        super().__init__()
        self.generator_AB = ResnetGenerator(channels, channels, ngf, n_blocks, norm, use_dropout)
        self.generator_BA = ResnetGenerator(channels, channels, ngf, n_blocks, norm, use_dropout)

    def forward(self, real_A: torch.Tensor, real_B: torch.Tensor, identity: bool = True) -> dict[str, torch.Tensor]:
        """Both translations and both cycles, (B, C, H, W) in [-1, 1] each:
        ``fake_B`` = G_AB(real_A), ``rec_A`` = G_BA(fake_B), ``fake_A`` = G_BA(real_B), ``rec_B`` = G_AB(fake_A),
        and with ``identity`` also ``idt_B`` = G_AB(real_B) and ``idt_A`` = G_BA(real_A) (an image already in
        a generator's target domain should come back unchanged)."""
        fake_B = self.generator_AB(real_A)
        fake_A = self.generator_BA(real_B)
        images = {"fake_B": fake_B, "rec_A": self.generator_BA(fake_B),
                  "fake_A": fake_A, "rec_B": self.generator_AB(fake_A)}
        if identity:
            images["idt_B"] = self.generator_AB(real_B)
            images["idt_A"] = self.generator_BA(real_A)
        return images


class CycleGAN(GenhubModel, tags=["cyclegan", "gan", "unpaired"], pipeline_tag="image-to-image",
               paper_url="https://arxiv.org/abs/1703.10593"):
    """Both CycleGAN generators and both discriminators, saved and loaded together.

    ``generators.generator_AB`` translates domain A to B and ``generators.generator_BA`` B to A (also
    reachable as ``generator_AB`` / ``generator_BA``); ``discriminator_A`` judges domain-A images
    (real_A against fake_A), ``discriminator_B`` domain-B images. The discriminators stay in the export
    (each about a quarter of a ResNet-9 generator at the paper's widths) so a run can be fine-tuned
    from a Hub export; the app uses only the generators.

    Parameters:
        resolution: training side in pixels, a multiple of 4 (the paper: 256; 128 with ResNet-6).
        channels: image channels of both domains.
        ngf: generator width (see :class:`ResnetGenerator`).
        ndf: discriminator width (see :class:`~genhub.models.patchgan.PatchGANDiscriminator`).
        n_blocks: residual blocks per generator (the paper: 9 at 256, 6 at 128).
        n_layers: PatchGAN stride-2 layers (3 -> 70x70 patches).
        norm: ``"instance"`` (the paper) or ``"batch"``, for all four networks.
        use_dropout: dropout in the residual blocks (off in the paper).

    Raises:
        ValueError: ``resolution`` is not a multiple of 4 or too small for the PatchGAN.
    """

    family = "cyclegan"
    paper = ("Zhu, Park, Isola & Efros 2017, Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial "
             "Networks (arXiv:1703.10593).")

    def __init__(self, resolution: int = 256, channels: int = 3, ngf: int = 64, ndf: int = 64, n_blocks: int = 9,
                 n_layers: int = 3, norm: str = "instance", use_dropout: bool = False):
        super().__init__()
        if resolution % 4:
            raise ValueError(f"resolution {resolution} is not a multiple of 4")
        if resolution < 3 * 2 ** n_layers:
            raise ValueError(f"resolution {resolution} is below {3 * 2 ** n_layers}, the smallest input of a "
                             f"PatchGAN with n_layers={n_layers}")
        self.resolution, self.channels = resolution, channels
        self.generators = CycleGANGenerators(channels, ngf, n_blocks, norm, use_dropout)
        self.discriminator_A = PatchGANDiscriminator(channels, ndf, n_layers, norm)
        self.discriminator_B = PatchGANDiscriminator(channels, ndf, n_layers, norm)
        self.apply(init_gan_weights)

    @property
    def generator_AB(self) -> ResnetGenerator:
        return self.generators.generator_AB

    @property
    def generator_BA(self) -> ResnetGenerator:
        return self.generators.generator_BA

    def forward(self, real_A: torch.Tensor, real_B: torch.Tensor, identity: bool = True) -> dict[str, torch.Tensor]:
        """Same as ``self.generators(real_A, real_B, identity)``."""
        return self.generators(real_A, real_B, identity)

    def _generator(self, direction: str) -> ResnetGenerator:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        return self.generator_AB if direction == "AB" else self.generator_BA

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str = "AB") -> torch.Tensor:
        """Translate (B, C, H, W) in [-1, 1] from domain ``direction[0]`` to ``direction[1]``; same shape.

        Raises:
            ValueError: ``direction`` is not ``"AB"`` or ``"BA"``.
        """
        return self._generator(direction)(images.to(next(self.parameters()).device))

    @torch.no_grad()
    def cycle(self, images: torch.Tensor, direction: str = "AB") -> tuple[torch.Tensor, torch.Tensor]:
        """(translation, reconstruction): for ``"AB"`` (fake_B, rec_A) = (G_AB(real_A), G_BA(G_AB(real_A))).

        Raises:
            ValueError: ``direction`` is not ``"AB"`` or ``"BA"``.
        """
        fake = self.translate(images, direction)
        return fake, self._generator(direction[::-1])(fake)
