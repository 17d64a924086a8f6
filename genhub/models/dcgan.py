"""DCGAN (Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", section 3 and figure 1), trained with the
GAN objective of Goodfellow et al. 2014 (eq. 1, non-saturating generator loss)."""

from __future__ import annotations

import torch
from torch import nn

from genhub.models.base import GenhubModel, read_boundaries
from genhub.models.layers import init_dcgan_weights, resolution_stages, truncate


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

    Parameters:
        resolution: 32, 64 or 128.
        channels: image channels.
        ndf: channels of the first stage; each further stage doubles them.
    """

    def __init__(self, resolution: int = 64, channels: int = 3, ndf: int = 64):
        super().__init__()
        stages = resolution_stages(resolution)
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(stages - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2),
                       nn.LeakyReLU(0.2, True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]
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
    """

    family = "dcgan"
    paper = ("Radford, Metz & Chintala 2016, Unsupervised Representation Learning with Deep Convolutional Generative "
             "Adversarial Networks (arXiv:1511.06434); Goodfellow et al. 2014, Generative Adversarial Nets.")

    def __init__(self, resolution: int = 64, latent_dim: int = 100, channels: int = 3, ngf: int = 64,
                 ndf: int = 64):
        super().__init__()
        self.resolution, self.latent_dim, self.channels = resolution, latent_dim, channels
        self.generator = DCGANGenerator(resolution, latent_dim, channels, ngf)
        self.discriminator = DCGANDiscriminator(resolution, channels, ndf)
        self.apply(init_dcgan_weights)
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
