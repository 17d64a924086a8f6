"""Variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes", arXiv:1312.6114)
and its beta-VAE weighting (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework", ICLR, eq. 4), with convolutional encoder and decoder.

The model is q(z|x) = N(mu(x), diag(sigma(x)^2)), the prior p(z) = N(0, I) and the decoder
p(x|z) = N(x; decoder(z), 1/2 I) on ``pixel_values`` in [-1, 1], so that

    -log p(x|z) = ||x - decoder(z)||^2 + (D/2) log(pi),            D = channels * resolution^2,

and the training loss per image is the negative beta-ELBO without that constant:

    loss(x) = ||x - decoder(z)||^2 + beta * KL(q(z|x) || N(0, I)),   z = mu + sigma * eps, eps ~ N(0, I),

with the KL in closed form (Kingma & Welling 2014, appendix B, the negative of the first term of eq. 10):

    KL = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)      (nats).

beta = 1 is the VAE; beta > 1 a beta-VAE.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genhub.models.backbones import ConvDecoder, ConvEncoder
from genhub.models.base import CheckpointError, GenhubModel
from genhub.models.latent_space import LatentSpace
from genhub.models.layers import truncate

#: log sigma^2 is clamped to this range before use, so exp() can neither overflow nor vanish.
LOGVAR_RANGE = (-30.0, 20.0)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(logvar / 2), eps ~ N(0, I) (Kingma & Welling 2014, section 2.4).

    Args:
        mu, logvar: float (B, latent_dim), the posterior mean and log variance.
        generator: RNG for eps (None: the global torch RNG).

    Returns:
        z: float (B, latent_dim), differentiable in ``mu`` and ``logvar``.
    """
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per latent dimension, in nats, computed in float32.

    Kingma & Welling 2014, appendix B: KL_j = -1/2 (1 + logvar_j - mu_j^2 - exp(logvar_j)) >= 0.

    Args:
        mu, logvar: float (B, latent_dim).

    Returns:
        float32 (B, latent_dim); sum over the last axis for the KL of each image.
    """
    mu, logvar = mu.float(), logvar.float()
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())


def reconstruction_error(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors per image, ||x - x_hat||^2, on ``pixel_values`` in [-1, 1], in float32.

    It is -log N(x; x_hat, 1/2 I) - (D/2) log(pi): the decoder's negative log-likelihood in nats
    without its constant.

    Args:
        reconstruction, target: float (B, C, H, W) in [-1, 1].

    Returns:
        float32 (B,), in [0, 4 * C * H * W].
    """
    return (reconstruction.float() - target.float()).pow(2).flatten(1).sum(1)


def split_posterior(encoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's output (B, 2 * latent_dim) -> (mu, logvar), float (B, latent_dim) each, logvar clamped to
    :data:`LOGVAR_RANGE`."""
    mu, logvar = encoded.chunk(2, dim=1)
    return mu, logvar.clamp(*LOGVAR_RANGE)


class VAE(GenhubModel, tags=["vae", "variational-autoencoder"], pipeline_tag="unconditional-image-generation",
          paper_url="https://arxiv.org/abs/1312.6114"):
    """A convolutional VAE: ``encoder`` x -> (mu, log sigma^2), ``decoder`` z -> x, prior N(0, I) (the networks of
    :mod:`genhub.models.backbones`, shared with the autoencoder).

    ``latent_space`` holds what the export measured about the latent space (slider ranking, attribute
    directions, held-out outlier scores; see :class:`genhub.evaluation.latent.LatentSpace`), or None. It is saved
    beside the weights by ``save_pretrained`` and read back by ``from_pretrained`` when present.

    Parameters:
        resolution: 32, 64 or 128.
        latent_dim: size of z.
        channels: image channels, 3 or 1.
        hidden_channels: encoder's first / decoder's last stage width; doubled at each stage.
    """

    family = "vae"
    paper = ("Kingma & Welling 2014, Auto-Encoding Variational Bayes (arXiv:1312.6114); Higgins et al. 2017, beta-VAE: "
             "Learning Basic Visual Concepts with a Constrained Variational Framework (ICLR); Burda, Grosse & "
             "Salakhutdinov 2016, Importance Weighted Autoencoders (active units).")

    def __init__(self, resolution: int = 64, latent_dim: int = 128, channels: int = 3, hidden_channels: int = 32):
        super().__init__()
        self.resolution, self.latent_dim, self.channels = resolution, latent_dim, channels
        self.encoder = ConvEncoder(resolution, 2 * latent_dim, channels, hidden_channels)  # mu and log sigma^2
        self.decoder = ConvDecoder(resolution, latent_dim, channels, hidden_channels)
        self.latent_space: LatentSpace | None = None

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images: float (B, C, H, W) in [-1, 1] -> posterior (mu, logvar), float (B, latent_dim) each; logvar is
        clamped to :data:`LOGVAR_RANGE`."""
        return split_posterior(self.encoder(images))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: float (B, latent_dim) -> images: float (B, C, H, W) in [-1, 1] (the decoder's mean)."""
        return self.decoder(z)

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass with a sampled z: images (B, C, H, W) in [-1, 1] -> (reconstruction (B, C, H, W) in
        [-1, 1], mu (B, latent_dim), logvar (B, latent_dim))."""
        mu, logvar = self.encode(images)
        return self.decode(reparameterize(mu, logvar, generator)), mu, logvar

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """decoder(mu(x)) without gradients, on the model's device: (B, C, H, W) in [-1, 1] (deterministic)."""
        return self.decode(self.encode(images.to(next(self.parameters()).device))[0])

    @torch.no_grad()
    def sample(self, num_images: int, generator: torch.Generator | None = None,
               truncation_psi: float = 1.0) -> torch.Tensor:
        """``num_images`` images (B, C, H, W) in [-1, 1] decoded from prior draws z ~ N(0, I).

        ``truncation_psi``: the truncation trick on the prior draws, z' = psi * z (as :meth:`DCGAN.sample`):
        psi < 1 decodes codes nearer the prior's mode 0 (more typical, less varied faces), 1 is plain sampling.
        The same ``generator`` draws the same z whatever psi.

        Raises:
            ValueError: ``truncation_psi`` is negative or not finite.
        """
        z = truncate(torch.randn(num_images, self.latent_dim, generator=generator), truncation_psi)
        return self.decode(z.to(next(self.parameters()).device))

    @torch.no_grad()
    def negative_elbo(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Deterministic negative ELBO per image, in nats (without the constant (D/2) log(pi)).

        -ELBO(x) = ||x - decoder(mu)||^2 + KL(q(z|x) || N(0, I)), with the expectation over q(z|x)
        replaced by its mean (z = mu), so the same image always gets the same score.

        Args:
            images: float (B, C, H, W) in [-1, 1].

        Returns:
            float32 tensors: ``neg_elbo`` (B,), ``reconstruction`` (B,) (sum of squared errors),
            ``kl`` (B, latent_dim) (per dimension), ``mu`` and ``logvar`` (B, latent_dim),
            ``decoded`` (B, C, H, W) in [-1, 1].
        """
        images = images.to(next(self.parameters()).device)
        mu, logvar = self.encode(images)
        decoded = self.decode(mu)
        reconstruction = reconstruction_error(decoded, images)
        kl = kl_divergence(mu, logvar)
        return {"neg_elbo": reconstruction + kl.sum(1), "reconstruction": reconstruction, "kl": kl,
                "mu": mu.float(), "logvar": logvar.float(), "decoded": decoded.float()}

    def _save_pretrained(self, save_directory: Path) -> None:
        super()._save_pretrained(save_directory)
        if self.latent_space is not None:
            self.latent_space.save(save_directory)

    def _load_extras(self, find) -> None:
        self.latent_space = LatentSpace.load(find)
        if self.latent_space is not None and self.latent_space.latent_dim != self.latent_dim:
            raise CheckpointError(f"the export's latent files describe {self.latent_space.latent_dim} dimensions, "
                                  f"the model has {self.latent_dim}")
