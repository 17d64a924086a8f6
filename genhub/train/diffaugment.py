"""DiffAugment (Zhao, Liu, Lin, Zhu & Han 2020, "Differentiable Augmentation for Data-Efficient GAN Training",
section 3): the same family of random, differentiable transforms T applied to real and fake images before every
discriminator call, in D's loss and in G's, so that D cannot memorise the few real images and G's gradient still
flows through T. Written from the paper's description of its three policies:

- ``color``: brightness + U(-0.5, 0.5), saturation x U(0, 2) about the per-pixel channel mean, contrast
  x U(0.5, 1.5) about the image mean;
- ``translation``: a shift by up to 1/8 of each side, in whole pixels, with zero padding;
- ``cutout``: a square of half the side, centred anywhere in the image (clipped at the border), set to zero.

Every random number is per image and drawn from torch's RNG on the images' device (the global one on CPU), which the
trainer checkpoints, so a resumed run draws the same augmentations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def color(images: torch.Tensor) -> torch.Tensor:
    """Random brightness, saturation and contrast per image (see the module docstring)."""
    def draw() -> torch.Tensor:
        return torch.rand(images.shape[0], 1, 1, 1, dtype=images.dtype, device=images.device)

    images = images + (draw() - 0.5)
    mean = images.mean(dim=1, keepdim=True)
    images = (images - mean) * (2 * draw()) + mean
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * (draw() + 0.5) + mean


def translation(images: torch.Tensor) -> torch.Tensor:
    """Shift each image by its own (dy, dx), |dy| <= H // 8 and |dx| <= W // 8 pixels; the uncovered border is 0."""
    batch, _, height, width = images.shape
    max_dy, max_dx = height // 8, width // 8
    dy = torch.randint(-max_dy, max_dy + 1, (batch, 1, 1), device=images.device)
    dx = torch.randint(-max_dx, max_dx + 1, (batch, 1, 1), device=images.device)
    # out[b, :, i, j] = padded[b, :, i - dy + max_dy, j - dx + max_dx]: a gather, so the gradient reaches the
    # pixels that stay in view.
    padded = F.pad(images, (max_dx, max_dx, max_dy, max_dy)).permute(0, 2, 3, 1)
    rows = torch.arange(height, device=images.device).view(1, height, 1) - dy + max_dy
    cols = torch.arange(width, device=images.device).view(1, 1, width) - dx + max_dx
    index = torch.arange(batch, device=images.device).view(batch, 1, 1)
    return padded[index, rows, cols].permute(0, 3, 1, 2)


def cutout(images: torch.Tensor) -> torch.Tensor:
    """Zero a (H // 2) x (W // 2) rectangle per image, centred on a uniformly drawn pixel and clipped at the border."""
    batch, _, height, width = images.shape
    size_y, size_x = height // 2, width // 2
    top = torch.randint(0, height, (batch, 1, 1), device=images.device) - size_y // 2
    left = torch.randint(0, width, (batch, 1, 1), device=images.device) - size_x // 2
    rows = torch.arange(height, device=images.device).view(1, height, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, width)
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return images * (~inside).unsqueeze(1).to(images.dtype)


POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> list[str]:
    """The transform names of a comma-separated policy, in order ("" -> []).

    Raises:
        ValueError: a name that is not one of :data:`POLICIES`.
    """
    names = [name.strip() for name in policy.split(",") if name.strip()]
    unknown = [name for name in names if name not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment transform(s) {', '.join(map(repr, unknown))}: the policy is a "
                         f"comma-separated list of {', '.join(POLICIES)}")
    return names


def diff_augment(images: torch.Tensor, policy: str) -> torch.Tensor:
    """The policy's transforms, in its order, each with fresh per-image randomness.

    Args:
        images: pixel_values (B, C, H, W) in [-1, 1], float; gradients flow back to them.
        policy: comma-separated names of :data:`POLICIES`, e.g. ``"color,translation,cutout"`` (the paper's choice
            with little data); ``""`` returns ``images`` itself.

    Returns:
        Float (B, C, H, W) of ``images``' dtype. ``color`` may leave [-1, 1] (unclamped, like the paper's: a clamp
        would cut the gradient); the other two keep it.

    Raises:
        ValueError: an unknown name in ``policy``.
    """
    for name in parse_policy(policy):
        images = POLICIES[name](images)
    return images
