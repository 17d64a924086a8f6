"""Building blocks several families share: the 32/64/128 resolution ladder, GAN weight init (N(0, 0.02),
Radford et al. 2016, section 4; also pix2pix and CycleGAN), batch/instance norm, and padding to a multiple."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED_RESOLUTIONS = (32, 64, 128)


def resolution_stages(resolution: int) -> int:
    """Number of stride-2 stages between 4x4 and ``resolution``: 3, 4 or 5."""
    if resolution not in SUPPORTED_RESOLUTIONS:
        raise ValueError(f"resolution must be one of {SUPPORTED_RESOLUTIONS}, got {resolution}")
    return int(math.log2(resolution)) - 2


def init_dcgan_weights(module: nn.Module) -> None:
    """Radford et al. 2016, section 4: conv weights ~ N(0, 0.02); batch-norm scale ~ N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


NORMS = ("batch", "instance")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """``"batch"``: ``BatchNorm2d`` (pix2pix); ``"instance"``: ``InstanceNorm2d`` without affine
    parameters or running statistics (CycleGAN, after Ulyanov et al. 2016).

    Raises:
        ValueError: unknown ``norm``.
    """
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def init_gan_weights(module: nn.Module) -> None:
    """Conv weights ~ N(0, 0.02) and conv biases 0; batch-norm scale ~ N(1, 0.02), shift 0."""
    init_dcgan_weights(module)
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and module.bias is not None:
        nn.init.zeros_(module.bias)


def pad_to_multiple(images: torch.Tensor, multiple: int, minimum: int = 1) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad the right and bottom of a batch (B, C, H, W) so that both sides are multiples of
    ``multiple`` and at least ``minimum``.

    Returns:
        The padded batch and the original (H, W), to crop the result back with ``x[..., :H, :W]``.
    """
    height, width = images.shape[-2:]

    def target(side: int) -> int:
        return max(-(-side // multiple) * multiple, -(-minimum // multiple) * multiple)

    pad_h, pad_w = target(height) - height, target(width) - width
    if pad_h or pad_w:
        images = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")
    return images, (height, width)


def truncate(z: torch.Tensor, truncation_psi: float) -> torch.Tensor:
    """z' = psi * z: latent codes drawn from N(0, I) pulled towards the prior's mode 0 (the truncation trick; see
    :meth:`genhub.models.DCGAN.sample`). z: float (B, latent_dim); psi = 1 returns z itself.

    Raises:
        ValueError: ``truncation_psi`` is negative or not finite.
    """
    if not math.isfinite(truncation_psi) or truncation_psi < 0:
        raise ValueError(f"truncation_psi must be a finite number >= 0 (1 = no truncation), got {truncation_psi}")
    return z if truncation_psi == 1.0 else z * truncation_psi
