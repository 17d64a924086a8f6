"""A label-conditional DCGAN (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets", arXiv:1411.1784) on
multi-hot face attributes, with a projection discriminator (Miyato & Koyama 2018, "cGANs with Projection
Discriminator", ICLR, eq. 3):

    G(z, y) = DCGAN generator of [z, s(y)],      s(y) = 2y - 1 in {-1, 1}^A (attribute present / absent),
    D(x, y) = psi(phi(x)) + s(y)^T V pool(phi(x)),

where phi is the DCGAN discriminator up to its last layer, psi its last layer, pool the spatial mean of phi's last
feature map (Miyato & Koyama pool by summing), and V one learned vector per attribute (initialised N(0, 0.02^2) as
DCGAN's weights): the label enters D through an inner product with the image's features, not by concatenation.
"""

from __future__ import annotations

import torch
from torch import nn

from genhub.models.base import GenhubModel
from genhub.models.dcgan import DCGANDiscriminator, DCGANGenerator
from genhub.models.layers import init_dcgan_weights, truncate


def signed(labels: torch.Tensor) -> torch.Tensor:
    """Multi-hot labels (B, A) in {0, 1} -> s(y) = 2y - 1 in {-1, 1}, float."""
    return labels.float() * 2 - 1


class ConditionalGenerator(nn.Module):
    """The DCGAN generator on [z, s(y)]: (z (B, latent_dim), labels (B, A)) -> images (B, C, H, W) in [-1, 1]."""

    def __init__(self, resolution: int, latent_dim: int, num_attributes: int, channels: int, ngf: int):
        super().__init__()
        self.net = DCGANGenerator(resolution, latent_dim + num_attributes, channels, ngf)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, signed(labels).to(z.dtype)], dim=1))


class ProjectionDiscriminator(nn.Module):
    """D(x, y) = psi(phi(x)) + s(y)^T V pool(phi(x)): (images (B, C, H, W), labels (B, A)) -> logits (B,); > 0: real."""

    def __init__(self, resolution: int, num_attributes: int, channels: int, ndf: int):
        super().__init__()
        layers = list(DCGANDiscriminator(resolution, channels, ndf).net)
        self.features, self.psi = nn.Sequential(*layers[:-1]), layers[-1]  # phi: (B, width, 4, 4); psi: 4x4 conv
        self.projection = nn.Linear(num_attributes, self.psi.in_channels, bias=False)  # the rows of V
        nn.init.normal_(self.projection.weight, 0.0, 0.02)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        phi = self.features(images)
        projected = (phi.mean((2, 3)) * self.projection(signed(labels).to(phi.dtype))).sum(1)
        return self.psi(phi).flatten() + projected


class CGAN(GenhubModel, tags=["cgan", "gan", "conditional"], pipeline_tag="unconditional-image-generation",
           paper_url="https://arxiv.org/abs/1411.1784"):
    """A conditional DCGAN: ``generator`` (z, y) -> image, ``discriminator`` (image, y) -> logit.

    Parameters:
        resolution: 32, 64 or 128.
        attributes: the names of the A conditioning attributes, in order (e.g. CelebA's ``Male``, ``Smiling``).
        latent_dim: size of z ~ N(0, I).
        channels: image channels, 3 or 1.
        ngf, ndf: generator / discriminator widths (as the DCGAN's).

    Raises:
        ValueError: no attributes, or an unsupported resolution.
    """

    family = "cgan"
    paper = ("Mirza & Osindero 2014, Conditional Generative Adversarial Nets (arXiv:1411.1784); Miyato & Koyama 2018, "
             "cGANs with Projection Discriminator (ICLR); Radford et al. 2016 (DCGAN).")

    def __init__(self, resolution: int = 64, attributes: list[str] | tuple[str, ...] = ("Male", "Smiling"),
                 latent_dim: int = 100, channels: int = 3, ngf: int = 64, ndf: int = 64):
        super().__init__()
        if not attributes:
            raise ValueError("a conditional GAN needs at least one attribute")
        self.resolution, self.latent_dim, self.channels = resolution, latent_dim, channels
        self.attributes = list(attributes)
        self.generator = ConditionalGenerator(resolution, latent_dim, len(self.attributes), channels, ngf)
        self.discriminator = ProjectionDiscriminator(resolution, len(self.attributes), channels, ndf)
        self.apply(init_dcgan_weights)

    def labels(self, wanted: dict[str, bool] | None = None, num_images: int = 1) -> torch.Tensor:
        """Multi-hot labels (num_images, A) from ``{attribute: present}`` (unnamed attributes absent).

        Raises:
            ValueError: an attribute the model was not trained on.
        """
        wanted = wanted or {}
        unknown = set(wanted) - set(self.attributes)
        if unknown:
            raise ValueError(f"unknown attribute(s) {sorted(unknown)}; this model knows {self.attributes}")
        row = torch.tensor([float(bool(wanted.get(name, False))) for name in self.attributes])
        return row.expand(num_images, -1).clone()

    @torch.no_grad()
    def sample(self, num_images: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
               truncation_psi: float = 1.0) -> torch.Tensor:
        """Images (B, C, H, W) in [-1, 1] for z ~ N(0, I) (the truncation trick with ``truncation_psi``, as the
        DCGAN's) and ``labels`` (B, A) in {0, 1}; without labels each attribute is drawn present with probability
        1/2 from the same generator, after z. The same generator gives the same z whatever the labels."""
        z = truncate(torch.randn(num_images, self.latent_dim, generator=generator), truncation_psi)
        if labels is None:
            labels = (torch.rand(num_images, len(self.attributes), generator=generator) < 0.5).float()
        device = next(self.parameters()).device
        return self.generator(z.to(device), labels.to(device))

    @torch.no_grad()
    def real_probability(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The discriminator's probability (B,) in [0, 1] that each image is a real face with those labels."""
        device = next(self.parameters()).device
        return torch.sigmoid(self.discriminator(images.to(device), labels.to(device)))
