"""The debiasing variational autoencoder, DB-VAE (Amini, Soleimany, Schwarting, Bhatia & Rus 2019, "Uncovering and
Mitigating Algorithmic Bias through Learned Latent Structure", AIES), a face detector that learns a latent space
of faces while it classifies, on the autoencoder families' networks (:mod:`genhub.models.backbones`).

The encoder maps an image x to a face logit y_hat and a diagonal Gaussian q(z|x) = N(mu, diag(sigma^2)) over
``latent_dim`` latents; the decoder maps z = mu + sigma * eps back to an image. The loss per image (the paper's
eq. 4, with its terms as the course lab computes them) is

    L = c1 * L_y(y, y_hat) + 1_face(y) * [ c2 * L_x(x, x_hat) + c3 * L_KL(mu, sigma) ]

    L_y  = binary cross-entropy of the logit with the label y (1 = face, 0 = not a face),
    L_x  = mean_pixels |x - x_hat|                       (L1 on pixels in [-1, 1]),
    L_KL = 1/2 sum_j (sigma_j^2 + mu_j^2 - 1 - log sigma_j^2)   (nats),

so the VAE terms apply to faces only: a non-face trains the classifier and nothing else (the latent space is a
space of faces, whose density the adaptive resampling of :mod:`genhub.models.debiasing` evens out).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from genhub.models.backbones import ConvDecoder, ConvEncoder
from genhub.models.base import GenhubModel
from genhub.models.debiasing import RESAMPLING_FILE, LatentDensity
from genhub.models.vae import kl_divergence, split_posterior


def split_outputs(encoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The encoder's output (B, 1 + 2 * latent_dim) -> (face logit (B,), mu (B, latent_dim), logvar (B, latent_dim)),
    logvar clamped as the VAE's (:data:`genhub.models.vae.LOGVAR_RANGE`)."""
    mu, logvar = split_posterior(encoded[:, 1:])
    return encoded[:, 0], mu, logvar


def dbvae_loss(logits: torch.Tensor, labels: torch.Tensor, images: torch.Tensor, reconstructions: torch.Tensor,
               mu: torch.Tensor, logvar: torch.Tensor, classification_weight: float = 1.0,
               reconstruction_weight: float = 1.0, kl_weight: float = 5e-4) -> dict[str, torch.Tensor]:
    """The DB-VAE loss (module docstring), averaged over the batch, in float32.

    Args:
        logits: float (B,), the face logits y_hat. labels: (B,) 1 for a face, 0 for a non-face.
        images, reconstructions: float (B, C, H, W) in [-1, 1] (x and x_hat).
        mu, logvar: float (B, latent_dim), the posterior's mean and log variance.
        classification_weight, reconstruction_weight, kl_weight: c1, c2, c3.

    Returns:
        ``loss`` (the scalar to minimise), and the batch means of its unweighted terms ``classification``,
        ``reconstruction`` and ``kl`` (the last two over the faces only; 0 for a batch without faces).
        A non-face's x_hat, mu and logvar get zero gradient.
    """
    is_face = labels.float()
    classification = F.binary_cross_entropy_with_logits(logits.float(), is_face, reduction="none")
    reconstruction = (images.float() - reconstructions.float()).abs().flatten(1).mean(1)
    kl = kl_divergence(mu, logvar).sum(1)
    # where(), not a product with the indicator: a non-face's terms then get exactly zero gradient even when
    # they are not finite (0 * inf would be nan)
    vae_terms = torch.where(is_face > 0, reconstruction_weight * reconstruction + kl_weight * kl, 0.0)
    loss = (classification_weight * classification + vae_terms).mean()
    faces = is_face.sum().clamp(min=1.0)
    return {"loss": loss, "classification": classification.mean(),
            "reconstruction": torch.where(is_face > 0, reconstruction, 0.0).sum() / faces,
            "kl": torch.where(is_face > 0, kl, 0.0).sum() / faces}


class DBVAE(GenhubModel, tags=["db-vae", "debiasing", "face-detection", "fairness"],
            pipeline_tag="image-classification", paper_url="https://doi.org/10.1145/3306618.3314243"):
    """A face detector with a VAE of faces: ``encoder`` x -> (face logit, mu, log sigma^2), ``decoder`` z -> x.

    Trained without its VAE terms and without resampling (``train_dbvae.py --baseline``) the same network is the
    standard CNN face detector the paper compares against.

    ``resampling`` holds the export's final :class:`~genhub.models.debiasing.LatentDensity` (the training faces'
    histograms and weights, ``resampling.safetensors``), or None (the baseline, or a model not loaded from an
    export); ``from_pretrained`` reads it when present.

    Parameters:
        resolution: 32, 64 or 128.
        latent_dim: k, the size of z.
        channels: image channels, 3 or 1.
        hidden_channels: encoder's first / decoder's last stage width; doubled at each stage.

    Raises:
        ValueError: an unsupported resolution.
    """

    family = "dbvae"
    paper = ("Amini, Soleimany, Schwarting, Bhatia & Rus 2019, Uncovering and Mitigating Algorithmic Bias through "
             "Learned Latent Structure (AIES).")

    def __init__(self, resolution: int = 64, latent_dim: int = 32, channels: int = 3, hidden_channels: int = 32):
        super().__init__()
        self.resolution, self.latent_dim, self.channels = resolution, latent_dim, channels
        self.encoder = ConvEncoder(resolution, 1 + 2 * latent_dim, channels, hidden_channels)
        self.decoder = ConvDecoder(resolution, latent_dim, channels, hidden_channels)
        self.resampling: LatentDensity | None = None

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images: float (B, C, H, W) in [-1, 1] -> (face logit (B,), mu, logvar (B, latent_dim))."""
        return split_outputs(self.encoder(images))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: float (B, latent_dim) -> images: float (B, C, H, W) in [-1, 1]."""
        return self.decoder(z)

    @torch.no_grad()
    def face_probability(self, images: torch.Tensor) -> torch.Tensor:
        """P(face | x) = sigmoid(logit): images float (B, C, H, W) in [-1, 1] -> float32 (B,) in [0, 1]."""
        return torch.sigmoid(self.encode(images.to(next(self.parameters()).device))[0].float()).cpu()

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """decoder(mu(x)) without gradients, on the model's device: (B, C, H, W) in [-1, 1]."""
        return self.decode(self.encode(images.to(next(self.parameters()).device))[1])

    def _save_pretrained(self, save_directory: Path) -> None:
        super()._save_pretrained(save_directory)
        if self.resampling is not None:
            self.resampling.save(save_directory)

    def _load_extras(self, find) -> None:
        found = find(RESAMPLING_FILE)
        self.resampling = None if found is None else LatentDensity.load(found)
