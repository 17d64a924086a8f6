"""Adversarial losses shared by the GAN families."""

from __future__ import annotations

import torch
import torch.nn.functional as F

GAN_MODES = ("vanilla", "lsgan")


def gan_loss(logits: torch.Tensor, target_is_real: bool, gan_mode: str = "vanilla") -> torch.Tensor:
    """Mean adversarial loss of discriminator outputs against an all-real or all-fake target.

    ``vanilla``: binary cross-entropy on logits, i.e. -log D(x) for real targets and
    -log(1 - D(x)) for fake ones (Goodfellow et al. 2014, eq. 1; used as the non-saturating
    generator loss when a generator asks for ``target_is_real=True``).
    ``lsgan``: least squares, (D(x) - 1)^2 or D(x)^2 on raw outputs (Mao et al. 2017, eq. 2;
    the CycleGAN default, Zhu et al. 2017 section 4).

    Args:
        logits: raw discriminator outputs, any shape, float.
        target_is_real: whether every element should be judged real.
        gan_mode: ``"vanilla"`` or ``"lsgan"``.

    Returns:
        A scalar float32 tensor.

    Raises:
        ValueError: unknown ``gan_mode``.
    """
    logits = logits.float()
    target = torch.full_like(logits, 1.0 if target_is_real else 0.0)
    if gan_mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    if gan_mode == "lsgan":
        return F.mse_loss(logits, target)
    raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {gan_mode!r}")
