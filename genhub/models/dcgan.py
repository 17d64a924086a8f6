"""DCGAN (Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", section 3 and figure 1), trained with the
GAN objective of Goodfellow et al. 2014 (eq. 1, non-saturating generator loss); optionally with a
spectrally normalised discriminator (Miyato et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrizations

from genhub.models.base import GenhubModel, read_boundaries
from genhub.models.layers import init_dcgan_weights, init_gan_weights, resolution_stages, truncate


class DCGANGenerator(nn.Module):
    """Maps latent codes to images with transposed convolutions, batch norm and ReLU; tanh output.

    z (B, latent_dim) -> 4x4 with ``ngf * 2**(stages-1)`` channels -> each stage doubles the side and
    halves the channels -> (B, channels, resolution, resolution) in [-1, 1].

    Parameters:
        resolution: 32, 64 or 128.
        latent_dim: size of z (the paper uses 100).
        channels: image channels, 3 (RGB) or 1.
        ngf: channels of the last hidden stage (the paper's 64x64 model uses 128 ... 1024, i.e. ngf=128).
    """

    def __init__(self, resolution: int = 64, latent_dim: int = 100, channels: int = 3, ngf: int = 64):
        super().__init__()
        stages = resolution_stages(resolution)
        width = ngf * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2),
                       nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.latent_dim = latent_dim
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: float (B, latent_dim) -> images: float (B, channels, resolution, resolution) in [-1, 1]."""
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Strided convolutions with LeakyReLU(0.2), batch norm on all but the first layer; one logit per image.

    With ``spectral_norm`` (SNGAN, Miyato et al. 2018, section 2.1): no batch norm, and every convolution's weight is
    W / sigma(W), sigma the largest singular value of W reshaped to (out_channels, -1), estimated by one power
    iteration per forward pass in train mode (``torch.nn.utils.parametrizations.spectral_norm``), which bounds each
    layer's Lipschitz constant by 1. Its convolutions then have biases (without batch norm nothing else shifts them)
    and are initialised here, N(0, 0.02) weights and zero biases, before the parametrization: afterwards
    ``conv.weight`` is computed on each access, and an in-place init of it would be lost.

    Parameters:
        resolution: 32, 64 or 128.
        channels: image channels.
        ndf: channels of the first stage; each further stage doubles them.
        spectral_norm: the SNGAN discriminator instead of the DCGAN one.
    """

    def __init__(self, resolution: int = 64, channels: int = 3, ndf: int = 64, spectral_norm: bool = False):
        super().__init__()
        stages = resolution_stages(resolution)

        def conv(c_in: int, c_out: int, stride: int, padding: int) -> nn.Module:
            layer = nn.Conv2d(c_in, c_out, 4, stride, padding, bias=spectral_norm)
            if spectral_norm:
                init_gan_weights(layer)
                parametrizations.spectral_norm(layer)
            return layer

        layers: list[nn.Module] = [conv(channels, ndf, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(stages - 1):
            norm = [] if spectral_norm else [nn.BatchNorm2d(width * 2)]
            layers += [conv(width, width * 2, 2, 1), *norm, nn.LeakyReLU(0.2, True)]
            width *= 2
        layers += [conv(width, 1, 1, 0)]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: float (B, channels, resolution, resolution) in [-1, 1] -> logits: float (B,); > 0 means "real"."""
        return self.net(images).flatten()


class DCGAN(GenhubModel, tags=["dcgan", "gan"], pipeline_tag="unconditional-image-generation",
            paper_url="https://arxiv.org/abs/1511.06434"):
    """A DCGAN generator and its discriminator, saved and loaded together.

    The app uses the generator for samples and the discriminator for its "real or fake" guess. ``boundaries``:
    attribute name -> unit direction in z (float32 (latent_dim,)) when the export has
    :data:`~genhub.models.base.BOUNDARIES_FILE`.

    Parameters:
        resolution: 32, 64 or 128.
        latent_dim: size of the latent code z ~ N(0, I).
        channels: image channels, 3 or 1.
        ngf: generator width (see :class:`DCGANGenerator`).
        ndf: discriminator width (see :class:`DCGANDiscriminator`).
        spectral_norm: a spectrally normalised discriminator without batch norm (SNGAN, Miyato et al. 2018); an
            export whose config.json predates it loads with the default, the 2016 discriminator.
    """

    family = "dcgan"
    paper = ("Radford, Metz & Chintala 2016, Unsupervised Representation Learning with Deep Convolutional Generative "
             "Adversarial Networks (arXiv:1511.06434); Goodfellow et al. 2014, Generative Adversarial Nets.")

    def __init__(self, resolution: int = 64, latent_dim: int = 100, channels: int = 3, ngf: int = 64,
                 ndf: int = 64, spectral_norm: bool = False):
        super().__init__()
        self.resolution, self.latent_dim, self.channels = resolution, latent_dim, channels
        self.generator = DCGANGenerator(resolution, latent_dim, channels, ngf)
        self.discriminator = DCGANDiscriminator(resolution, channels, ndf, spectral_norm)
        self.generator.apply(init_dcgan_weights)
        if not spectral_norm:  # a spectrally normalised discriminator has initialised itself
            self.discriminator.apply(init_dcgan_weights)
        self.boundaries: dict[str, torch.Tensor] = {}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Same as ``self.generator(z)``."""
        return self.generator(z)

    @torch.no_grad()
    def sample(self, num_images: int, generator: torch.Generator | None = None,
               truncation_psi: float = 1.0) -> torch.Tensor:
        """``num_images`` fresh images (B, channels, resolution, resolution) in [-1, 1] from z ~ N(0, I).

        ``truncation_psi``: the truncation trick, z' = psi * z (StyleGAN's w' = w_mean + psi (w - w_mean), Karras,
        Laine & Aila 2019, applied to z, whose mean is 0; BigGAN, Brock et al. 2019, truncates z by resampling
        instead). psi < 1 moves every code towards the mode, trading variety for typical faces: 1 is plain sampling,
        0 gives every image G(0). The same ``generator`` draws the same z whatever psi.

        Raises:
            ValueError: ``truncation_psi`` is negative or not finite.
        """
        z = torch.randn(num_images, self.latent_dim, generator=generator)
        z = truncate(z, truncation_psi).to(next(self.parameters()).device)
        return self.generator(z)

    @torch.no_grad()
    def real_probability(self, images: torch.Tensor) -> torch.Tensor:
        """The discriminator's probability (B,) in [0, 1] that each image (B, C, H, W) in [-1, 1] is real."""
        return torch.sigmoid(self.discriminator(images.to(next(self.parameters()).device)))

    def _load_extras(self, find) -> None:
        self.boundaries = read_boundaries(find, self.latent_dim)
