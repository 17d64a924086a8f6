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
from torch import nn

from genhub.models.base import CheckpointError, GenhubModel
from genhub.models.latent_space import LatentSpace
from genhub.models.layers import resolution_stages

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


class VAEEncoder(nn.Module):
    """Strided 4x4 convolutions with LeakyReLU(0.2), then one linear layer to (mu, log sigma^2).

    (B, channels, resolution, resolution) -> each stage halves the side and doubles the channels,
    starting at ``hidden_channels`` -> 4x4 -> flatten -> linear -> mu, logvar (B, latent_dim) each.

    Parameters:
        resolution: 32, 64 or 128.
        latent_dim: size of z.
        channels: image channels, 3 or 1.
        hidden_channels: channels of the first stage (the beta-VAE paper's CelebA encoder uses 32).
    """

    def __init__(self, resolution: int = 64, latent_dim: int = 128, channels: int = 3, hidden_channels: int = 32):
        super().__init__()
        stages = resolution_stages(resolution)
        layers: list[nn.Module] = []
        width_in, width = channels, hidden_channels
        for _ in range(stages):
            layers += [nn.Conv2d(width_in, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            width_in, width = width, width * 2
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(width_in * 16, 2 * latent_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images: float (B, channels, resolution, resolution) in [-1, 1] -> (mu, logvar), each float
        (B, latent_dim); logvar is clamped to :data:`LOGVAR_RANGE`."""
        mu, logvar = self.head(self.net(images)).chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)


class VAEDecoder(nn.Module):
    """A linear layer to a 4x4 map, then transposed 4x4 convolutions with LeakyReLU(0.2); tanh output.

    z (B, latent_dim) -> 4x4 with ``hidden_channels * 2**(stages-1)`` channels -> each stage doubles
    the side and halves the channels -> (B, channels, resolution, resolution) in [-1, 1].

    Parameters:
        resolution: 32, 64 or 128.
        latent_dim: size of z.
        channels: image channels, 3 or 1.
        hidden_channels: channels of the last hidden stage (mirrors :class:`VAEEncoder`).
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


class VAE(GenhubModel, tags=["vae", "variational-autoencoder"], pipeline_tag="unconditional-image-generation",
          paper_url="https://arxiv.org/abs/1312.6114"):
    """A convolutional VAE: ``encoder`` x -> (mu, log sigma^2), ``decoder`` z -> x, prior N(0, I).

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
        self.encoder = VAEEncoder(resolution, latent_dim, channels, hidden_channels)
        self.decoder = VAEDecoder(resolution, latent_dim, channels, hidden_channels)
        self.latent_space: LatentSpace | None = None

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images: float (B, C, H, W) in [-1, 1] -> posterior (mu, logvar), float (B, latent_dim) each."""
        return self.encoder(images)

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
    def sample(self, num_images: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num_images`` images (B, C, H, W) in [-1, 1] decoded from z ~ N(0, I)."""
        device = next(self.parameters()).device
        return self.decode(torch.randn(num_images, self.latent_dim, generator=generator).to(device))

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

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision, cache_dir, force_download, local_files_only, token,
                         **kwargs):
        model = super()._from_pretrained(model_id=model_id, revision=revision, cache_dir=cache_dir,
                                         force_download=force_download, local_files_only=local_files_only,
                                         token=token, **kwargs)
        model.latent_space = LatentSpace.load(model_id, revision=revision, cache_dir=cache_dir,
                                              force_download=force_download, local_files_only=local_files_only,
                                              token=token)
        if model.latent_space is not None and model.latent_space.latent_dim != model.latent_dim:
            raise CheckpointError(f"{model_id}: latent files describe {model.latent_space.latent_dim} dimensions, "
                                  f"the model has {model.latent_dim}")
        return model
