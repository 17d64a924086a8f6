"""Discriminator rejection sampling (Azadi et al. 2019, "Discriminator Rejection Sampling", ICLR): keep a GAN's
samples with a probability that grows with its discriminator's logit, correcting the generator towards the data.
Pure functions of the logits; the quiz's "hard" rounds use them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn


def has_discriminator(model: nn.Module) -> bool:
    """Whether the export kept its GAN discriminator (``model.discriminator``, a module: images (B, C, H, W) in
    [-1, 1] -> logits, > 0 meaning "real"), as the DCGAN's does."""
    return isinstance(getattr(model, "discriminator", None), nn.Module)


@torch.no_grad()
def discriminator_logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The discriminator's logit D̃(x) per image: images float (B, C, H, W) in [-1, 1] -> float32 (B,) on CPU
    (a patch discriminator's map is averaged per image)."""
    logits = model.discriminator(images.to(next(model.parameters()).device))
    return logits.reshape(len(images), -1).mean(1).float().cpu()


class Rejection(NamedTuple):
    """One batch of discriminator rejection sampling: ``accepted`` bool (N,), ``probability`` float64 (N,) in [0, 1]
    (each candidate's acceptance probability), ``max_logit`` the updated estimate of D̃_M."""

    accepted: torch.Tensor
    probability: torch.Tensor
    max_logit: float


def rejection_sample(logits: torch.Tensor, max_logit: float | None = None, generator: torch.Generator | None = None,
                     epsilon: float = 1e-6, gamma_percentile: float = 0.95) -> Rejection:
    """Discriminator rejection sampling (Azadi et al. 2019, "Discriminator Rejection Sampling", ICLR: the practical
    scheme and its algorithm 1) of one batch of generator samples, from their discriminator logits.

    With D = sigmoid(D̃) the optimal discriminator, p_data(x) / p_g(x) = exp(D̃(x)), so accepting x with
    probability exp(D̃(x) - D̃_M) corrects the generator towards the data. D̃_M, the largest logit, is estimated
    as in the paper: from the first candidates seen (its burn-in), then raised whenever a larger logit appears
    (here by this batch's largest). The practical acceptance probability is sigmoid(F(x)) with

        F(x) = D̃(x) - D̃_M - log(1 - exp(D̃(x) - D̃_M - epsilon)) - γ,

    γ the ``gamma_percentile`` quantile of F over the batch (the paper sets γ dynamically per batch from a
    percentile of F): the higher the percentile, the fewer, and the more convincing to the discriminator, the
    accepted samples. F increases with D̃, so the acceptance probability does too; away from D̃_M, F ~ D̃ - D̃_M,
    so the selection is sharp only when the logits spread over several units, as a trained discriminator's do.

    Args:
        logits: float (N,), D̃(x) of N candidates (N >= 1).
        max_logit: the D̃_M estimate so far (None: none yet, e.g. the first batch, the paper's burn-in).
        generator: RNG of the uniform draws (None: the global torch RNG); a seeded one makes the result reproducible.
        epsilon: > 0, keeps the logarithm finite for the candidate at D̃_M.
        gamma_percentile: in [0, 1].

    Returns:
        :class:`Rejection` (accepted, probability, the updated D̃_M).

    Raises:
        ValueError: no logits, a non-finite logit, epsilon <= 0 or a percentile outside [0, 1].
    """
    logits = logits.detach().double().flatten().cpu()
    if len(logits) == 0 or not torch.isfinite(logits).all():
        raise ValueError("rejection sampling needs at least one finite discriminator logit")
    if epsilon <= 0 or not 0.0 <= gamma_percentile <= 1.0:
        raise ValueError(f"need epsilon > 0 and gamma_percentile in [0, 1], got {epsilon} and {gamma_percentile}")
    max_logit = max(float(logits.max()), -math.inf if max_logit is None else max_logit)
    shifted = logits - max_logit  # <= 0
    f = shifted - torch.log(-torch.expm1(shifted - epsilon))  # log(1 - e^a) = log(-expm1(a)), exact near a = 0
    probability = torch.sigmoid(f - torch.quantile(f, gamma_percentile))
    draws = torch.rand(len(logits), generator=generator, dtype=torch.float64)
    return Rejection(draws < probability, probability, max_logit)
