"""The deterministic autoencoder (Hinton & Salakhutdinov 2006, "Reducing the Dimensionality of Data with Neural
Networks", Science 313), optionally denoising (Vincent et al. 2008, "Extracting and Composing Robust Features
with Denoising Autoencoders", ICML), on the VAE's networks (:mod:`genhub.models.backbones`).

    z = encoder(x),  x_hat = decoder(z),  loss(x) = ||x - decoder(encoder(x~))||^2,  x~ = x + noise_std * eps

on ``pixel_values`` in [-1, 1]. Nothing shapes the distribution of z: its codes fill whatever region of the
latent space suits reconstruction, so decoding draws from N(0, I) lands in "holes" the decoder never saw —
which is what the VAE's KL term (and its prior) is for.
"""

from __future__ import annotations

import torch

from genhub.models.backbones import ConvDecoder, ConvEncoder
from genhub.models.base import GenhubModel


class Autoencoder(GenhubModel, tags=["autoencoder"], pipeline_tag="image-to-image",
                  paper_url="https://doi.org/10.1126/science.1127647"):
    """A convolutional autoencoder: ``encoder`` x -> z, ``decoder`` z -> x (the VAE's networks, deterministic).

    Parameters:
        resolution: 32, 64 or 128.
        latent_dim: size of z.
        channels: image channels, 3 or 1.
        hidden_channels: encoder's first / decoder's last stage width; doubled at each stage.

    Raises:
        ValueError: an unsupported resolution.
    """

    family = "autoencoder"
    paper = ("Hinton & Salakhutdinov 2006, Reducing the Dimensionality of Data with Neural Networks (Science 313); "
             "Vincent et al. 2008, Extracting and Composing Robust Features with Denoising Autoencoders (ICML).")

    def __init__(self, resolution: int = 64, latent_dim: int = 128, channels: int = 3, hidden_channels: int = 32):
        super().__init__()
        self.resolution, self.latent_dim, self.channels = resolution, latent_dim, channels
        self.encoder = ConvEncoder(resolution, latent_dim, channels, hidden_channels)
        self.decoder = ConvDecoder(resolution, latent_dim, channels, hidden_channels)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images: float (B, C, H, W) in [-1, 1] -> z: float (B, latent_dim)."""
        return self.encoder(images)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: float (B, latent_dim) -> images: float (B, C, H, W) in [-1, 1]."""
        return self.decoder(z)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) in [-1, 1] -> their reconstructions decoder(encoder(x)), same shape and range."""
        return self.decode(self.encode(images))

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """decoder(encoder(x)) without gradients, on the model's device: (B, C, H, W) in [-1, 1]."""
        return self(images.to(next(self.parameters()).device))

    @torch.no_grad()
    def sample(self, num_images: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num_images`` decodes of z ~ N(0, I), (B, C, H, W) in [-1, 1]: the same draws a VAE decodes, to show
        what an unregularised latent space gives there (the autoencoder has no prior; nothing makes these faces)."""
        device = next(self.parameters()).device
        return self.decode(torch.randn(num_images, self.latent_dim, generator=generator).to(device))
