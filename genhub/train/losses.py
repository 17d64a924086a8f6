"""Adversarial losses and regularisers shared by the GAN families."""

from __future__ import annotations

from typing import Callable

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


def hinge_loss(logits: torch.Tensor, target_is_real: bool, for_discriminator: bool = True) -> torch.Tensor:
    """The hinge adversarial loss (Lim & Ye 2017, Geometric GAN; in the form of Miyato et al. 2018, SNGAN).

    Discriminator: mean(relu(1 - D(x))) on reals, mean(relu(1 + D(G(z)))) on fakes, so that D only learns from
    images it does not yet score beyond the margin. Generator (``for_discriminator=False``): -mean(D(G(z))).

    Args:
        logits: raw discriminator outputs, any shape, float.
        target_is_real: whether every element should be judged real; must be True for the generator's loss.
        for_discriminator: the discriminator's margin loss, or the generator's linear one.

    Returns:
        A scalar float32 tensor.

    Raises:
        ValueError: a generator loss asked against fake targets.
    """
    logits = logits.float()
    if not for_discriminator:
        if not target_is_real:
            raise ValueError("the generator's hinge loss only has a real target")
        return -logits.mean()
    return F.relu(1.0 - logits if target_is_real else 1.0 + logits).mean()


def r1_penalty(discriminator: Callable[..., torch.Tensor], real: torch.Tensor, *inputs) -> torch.Tensor:
    """R1 = E[||grad_x D(x)||^2] on real images (Mescheder et al. 2018, eq. 9, before its weight gamma / 2),
    differentiable in D's weights (``create_graph``), so that its backward trains D.

    Args:
        discriminator: any callable ``discriminator(images, *inputs) -> logits`` (B,), e.g. a network, or a lambda
            that augments the images first.
        real: real images (B, C, H, W), float; detached here: the gradient is wrt these pixels.
        inputs: further arguments of ``discriminator`` (e.g. the progressive GAN's stage and alpha).

    Returns:
        A scalar float32 tensor.
    """
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(real, *inputs).sum(), real, create_graph=True)
    return grad.float().pow(2).sum(dim=(1, 2, 3)).mean()
