"""The deterministic autoencoder (Hinton & Salakhutdinov 2006, "Reducing the Dimensionality of Data with Neural
Networks", Science 313), optionally denoising (Vincent et al. 2008, "Extracting and Composing Robust Features
with Denoising Autoencoders", ICML), on the VAE's networks (:mod:`genhub.models.backbones`).

    z = encoder(x),  x_hat = decoder(z),  loss(x) = ||x - decoder(encoder(x~))||^2,  x~ = x + noise_std * eps

on ``pixel_values`` in [-1, 1]. Nothing shapes the distribution of z: its codes fill whatever region of the
latent space suits reconstruction, so decoding draws from N(0, I) lands where the decoder never saw a code —
which is what the VAE's KL term (and its prior) is for. A Gaussian fitted to the codes after training
(:data:`LATENT_GAUSSIAN_FILE`, "ex-post density estimation", Ghosh et al. 2020, "From Variational to Deterministic
Autoencoders", ICLR, section 4) is the autoencoder's own way to sample.
"""

from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch

from genhub.models.backbones import ConvDecoder, ConvEncoder
from genhub.models.base import CheckpointError, GenhubModel

#: The Gaussian fitted to the training codes, beside the weights: ``mean`` (latent_dim,) and ``scale_tril``
#: (latent_dim, latent_dim), the Cholesky factor of its covariance.
LATENT_GAUSSIAN_FILE = "latent_gaussian.safetensors"
#: Added to the covariance's diagonal before the Cholesky factorisation (codes of a collapsed dimension).
COVARIANCE_JITTER = 1e-4


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
        #: (mean, scale_tril) of :meth:`fit_latent_gaussian`, or None (an export without :data:`LATENT_GAUSSIAN_FILE`)
        self.latent_gaussian: tuple[torch.Tensor, torch.Tensor] | None = None

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
    def sample(self, num_images: int, generator: torch.Generator | None = None, fitted: bool = False) -> torch.Tensor:
        """``num_images`` decodes, (B, C, H, W) in [-1, 1], of z ~ N(0, I) (the same draws a VAE decodes: what an
        unregularised latent space gives there) or, ``fitted``, of z = mean + scale_tril @ eps, eps ~ N(0, I) from
        the same generator (the Gaussian fitted to the training codes).

        Raises:
            ValueError: ``fitted`` and the export has no fitted Gaussian.
        """
        device = next(self.parameters()).device
        eps = torch.randn(num_images, self.latent_dim, generator=generator)
        if fitted:
            if self.latent_gaussian is None:
                raise ValueError(f"this autoencoder has no {LATENT_GAUSSIAN_FILE}: fit one (fit_latent_gaussian)")
            mean, scale_tril = self.latent_gaussian
            eps = mean + eps @ scale_tril.T
        return self.decode(eps.to(device))

    def fit_latent_gaussian(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fit N(mean, cov) to codes float (N, latent_dim), N >= 2, and keep it: (mean float32 (latent_dim,), the
        Cholesky factor of cov + :data:`COVARIANCE_JITTER` I, float32 (latent_dim, latent_dim)). Ghosh et al. 2020
        fit such a density (or a mixture) ex post to sample a deterministic autoencoder."""
        codes = codes.detach().float().cpu()
        covariance = torch.cov(codes.T).reshape(self.latent_dim, self.latent_dim)
        scale_tril = torch.linalg.cholesky(covariance + COVARIANCE_JITTER * torch.eye(self.latent_dim))
        self.latent_gaussian = (codes.mean(0), scale_tril)
        return self.latent_gaussian

    def _save_pretrained(self, save_directory: Path) -> None:
        super()._save_pretrained(save_directory)
        if self.latent_gaussian is not None:
            mean, scale_tril = self.latent_gaussian
            safetensors.torch.save_file({"mean": mean.contiguous(), "scale_tril": scale_tril.contiguous()},
                                        str(Path(save_directory) / LATENT_GAUSSIAN_FILE))

    def _load_extras(self, find) -> None:
        found = find(LATENT_GAUSSIAN_FILE)
        if found is None:
            return
        tensors = safetensors.torch.load_file(str(found))
        mean, scale_tril = tensors.get("mean"), tensors.get("scale_tril")
        if mean is None or scale_tril is None or mean.shape != (self.latent_dim,) or scale_tril.shape != (
                self.latent_dim, self.latent_dim):
            raise CheckpointError(f"{LATENT_GAUSSIAN_FILE} does not describe a {self.latent_dim}-dimensional Gaussian")
        self.latent_gaussian = (mean.float(), scale_tril.float())
