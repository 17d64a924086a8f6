"""The convolutional encoder and decoder shared by the autoencoder families (autoencoder, VAE, DB-VAE): one
definition of the networks; each family decides what the encoder's outputs mean (z; mu and log sigma^2; a
face logit and a Gaussian) and what the loss is.

The layout is the beta-VAE paper's CelebA network (Higgins et al. 2017, appendix), scaled by
``hidden_channels``: strided 4x4 convolutions down to 4x4, a linear layer each way, transposed 4x4
convolutions back up, LeakyReLU(0.2), tanh output.
"""

from __future__ import annotations

import torch
from torch import nn

from genhub.models.layers import resolution_stages


class ConvEncoder(nn.Module):
    """Strided 4x4 convolutions with LeakyReLU(0.2), then one linear layer.

    (B, channels, resolution, resolution) -> each stage halves the side and doubles the channels, starting at
    ``hidden_channels`` -> 4x4 -> flatten -> linear -> (B, out_features).

    Parameters:
        resolution: 32, 64 or 128.
        out_features: size of the output (e.g. latent_dim, or 2 * latent_dim for mu and log sigma^2).
        channels: image channels, 3 or 1.
        hidden_channels: channels of the first stage (the beta-VAE paper's CelebA encoder uses 32).

    Raises:
        ValueError: an unsupported resolution.
    """

    def __init__(self, resolution: int = 64, out_features: int = 128, channels: int = 3, hidden_channels: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        width_in, width = channels, hidden_channels
        for _ in range(resolution_stages(resolution)):
            layers += [nn.Conv2d(width_in, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            width_in, width = width, width * 2
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(width_in * 16, out_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: float (B, channels, resolution, resolution) in [-1, 1] -> float (B, out_features)."""
        return self.head(self.net(images))


class ConvDecoder(nn.Module):
    """A linear layer to a 4x4 map, then transposed 4x4 convolutions with LeakyReLU(0.2); tanh output.

    z (B, latent_dim) -> 4x4 with ``hidden_channels * 2**(stages-1)`` channels -> each stage doubles the side and
    halves the channels -> (B, channels, resolution, resolution) in [-1, 1].

    Parameters:
        resolution: 32, 64 or 128.
        latent_dim: size of z.
        channels: image channels, 3 or 1.
        hidden_channels: channels of the last hidden stage (mirrors :class:`ConvEncoder`).

    Raises:
        ValueError: an unsupported resolution.
    """

    def __init__(self, resolution: int = 64, latent_dim: int = 128, channels: int = 3, hidden_channels: int = 32):
        super().__init__()
        stages = resolution_stages(resolution)
        width = hidden_channels * 2 ** (stages - 1)
        self.latent_dim, self.width = latent_dim, width
        self.head = nn.Linear(latent_dim, width * 16)
        layers: list[nn.Module] = [nn.LeakyReLU(0.2, True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: float (B, latent_dim) -> images: float (B, channels, resolution, resolution) in [-1, 1]."""
        return self.net(self.head(z).view(z.shape[0], self.width, 4, 4))
