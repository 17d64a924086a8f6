"""pix2pix (Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional Adversarial
Networks"): a U-Net generator with skip connections (section 3.2.1, appendix 6.1.1) and a conditional
70x70 PatchGAN discriminator (section 3.2.2), trained on paired images with
G* = arg min_G max_D L_cGAN(G, D) + lambda_l1 * L_L1(G) (eq. 4, lambda_l1 = 100)."""

from __future__ import annotations

import torch
from torch import nn

from genhub.models.base import GenhubModel
from genhub.models.layers import init_gan_weights, norm_layer, pad_to_multiple
from genhub.models.patchgan import PatchGANDiscriminator


class UNetGenerator(nn.Module):
    """Encoder-decoder with a skip connection from every encoder level to the mirrored decoder level.

    Level k (0 = outermost) halves the side with a 4x4 stride-2 conv to ``ngf * min(2**k, 8)`` channels
    (LeakyReLU(0.2) before, norm after, except no activation at level 0 and no norm at the innermost
    level); the decoder doubles the side with a 4x4 stride-2 transposed conv whose input is the
    concatenation [encoder output of level k, decoder output of level k + 1] (ReLU before, norm after,
    dropout 0.5 on levels 4 .. num_downs - 2 when ``use_dropout``, as the authors' code), ending in tanh.
    ``num_downs=8`` on 256x256 images is the paper's "U-Net-256" (encoder C64-C128-C256-C512-C512-C512-
    C512-C512, a 1x1 bottleneck); ``num_downs=7`` gives the 1x1 bottleneck at 128x128.

    Inputs whose sides are not multiples of 2**num_downs are replicate-padded at the right and bottom
    and the output is cropped back, so any size works (the bottleneck then sees the padded image).

    Parameters:
        in_channels: input image channels.
        out_channels: output image channels.
        num_downs: number of stride-2 levels (at least 2).
        ngf: channels of the outermost level (the paper: 64).
        norm: ``"batch"`` (the paper) or ``"instance"``.
        use_dropout: dropout 0.5 in the inner decoder levels, the paper's only source of noise.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = True):
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"num_downs must be at least 2, got {num_downs}")
        bias = norm == "instance"
        widths = [ngf * min(2 ** k, 8) for k in range(num_downs)]
        downs: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1, bias=bias)]
        ups: list[nn.Module] = [nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * widths[0], out_channels, 4, 2, 1),
                                              nn.Tanh())]
        for k in range(1, num_downs):
            innermost = k == num_downs - 1
            down = [nn.LeakyReLU(0.2), nn.Conv2d(widths[k - 1], widths[k], 4, 2, 1, bias=bias)]
            if not innermost:
                down.append(norm_layer(norm, widths[k]))
            up = [nn.ReLU(), nn.ConvTranspose2d(widths[k] * (1 if innermost else 2), widths[k - 1], 4, 2, 1, bias=bias),
                  norm_layer(norm, widths[k - 1])]
            if use_dropout and 4 <= k <= num_downs - 2:
                up.append(nn.Dropout(0.5))
            downs.append(nn.Sequential(*down))
            ups.append(nn.Sequential(*up))
        self.num_downs = num_downs
        self.downs, self.ups = nn.ModuleList(downs), nn.ModuleList(ups)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: float (B, in_channels, H, W) in [-1, 1], any H, W >= 1 ->
        float (B, out_channels, H, W) in [-1, 1]."""
        x, (height, width) = pad_to_multiple(images, 2 ** self.num_downs)
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[-1](skips[-1])
        for k in range(self.num_downs - 2, -1, -1):
            x = self.ups[k](torch.cat([skips[k], x], dim=1))
        return x[..., :height, :width]


class Pix2Pix(GenhubModel, tags=["pix2pix", "gan"], pipeline_tag="image-to-image",
              paper_url="https://arxiv.org/abs/1611.07004"):
    """A pix2pix U-Net generator (input -> output) and its conditional PatchGAN, saved and loaded together.

    The discriminator is kept in the export (2.8 M parameters beside U-Net-256's 54 M at the paper's
    widths) so a run can be fine-tuned from a Hub export; the app uses only the generator.

    Parameters:
        resolution: training side in pixels; a multiple of 2**num_downs (256 with the paper's 8 levels).
        in_channels: input channels (3; a grayscale sketch is repeated to 3 channels by the data loader).
        out_channels: output channels.
        ngf: generator width (see :class:`UNetGenerator`).
        ndf: discriminator width (see :class:`~genhub.models.patchgan.PatchGANDiscriminator`).
        num_downs: U-Net levels; log2(resolution) gives a 1x1 bottleneck as in the paper.
        n_layers: PatchGAN stride-2 layers (3 -> 70x70 patches).
        norm: ``"batch"`` (the paper) or ``"instance"``, for both networks.
        use_dropout: dropout in the generator's inner decoder levels.

    Raises:
        ValueError: ``resolution`` is not a multiple of 2**num_downs, or too small for the PatchGAN.
    """

    family = "pix2pix"
    paper = ("Isola, Zhu, Zhou & Efros 2017, Image-to-Image Translation with Conditional Adversarial Networks "
             "(arXiv:1611.07004).")

    def __init__(self, resolution: int = 256, in_channels: int = 3, out_channels: int = 3, ngf: int = 64,
                 ndf: int = 64, num_downs: int = 8, n_layers: int = 3, norm: str = "batch", use_dropout: bool = True):
        super().__init__()
        if resolution % 2 ** num_downs:
            raise ValueError(f"resolution {resolution} is not a multiple of 2**num_downs = {2 ** num_downs}")
        if resolution < 3 * 2 ** n_layers:
            raise ValueError(f"resolution {resolution} is below {3 * 2 ** n_layers}, the smallest input of a "
                             f"PatchGAN with n_layers={n_layers}")
        self.resolution, self.in_channels, self.out_channels = resolution, in_channels, out_channels
        self.generator = UNetGenerator(in_channels, out_channels, num_downs, ngf, norm, use_dropout)
        self.discriminator = PatchGANDiscriminator(in_channels + out_channels, ndf, n_layers, norm)
        self.apply(init_gan_weights)

    def forward(self, real_A: torch.Tensor) -> torch.Tensor:
        """Same as ``self.generator(real_A)``."""
        return self.generator(real_A)

    @torch.no_grad()
    def translate(self, real_A: torch.Tensor) -> torch.Tensor:
        """fake_B = G(real_A): float (B, out_channels, H, W) in [-1, 1] from (B, in_channels, H, W) in [-1, 1],
        on the model's device (use ``eval()`` for the deterministic, dropout-free output)."""
        return self.generator(real_A.to(next(self.parameters()).device))
