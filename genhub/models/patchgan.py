"""The PatchGAN discriminator that pix2pix and CycleGAN share.

PatchGAN: Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional Adversarial
Networks", section 3.2.2 and appendix 6.1.2 (the 70x70 "C64-C128-C256-C512" discriminator); used
unchanged by CycleGAN (Zhu, Park, Isola & Efros 2017, appendix 7.2). Initialisation N(0, 0.02): both
papers, after Radford et al. 2016.
"""

from __future__ import annotations

import torch
from torch import nn

from genhub.models.layers import norm_layer


def patchgan_output_side(resolution: int, n_layers: int = 3) -> int:
    """Side of the patch-logit map for a ``resolution`` input: resolution / 2**n_layers - 2
    (e.g. 30 for 256, 14 for 128, 6 for 64, 2 for 32 with ``n_layers=3``)."""
    side = resolution
    for _ in range(n_layers):
        side = (side + 2 - 4) // 2 + 1
    for _ in range(2):
        side = side + 2 - 4 + 1
    return side


def patchgan_receptive_field(n_layers: int = 3) -> int:
    """Input pixels seen by one output logit along each axis: 70 for ``n_layers=3`` (the paper's 70x70
    PatchGAN), 16 for 1, 286 for 5. Two stride-1 4x4 convs follow ``n_layers`` stride-2 4x4 convs."""
    field = 1
    for stride in reversed([2] * n_layers + [1, 1]):
        field = (field - 1) * stride + 4
    return field


class PatchGANDiscriminator(nn.Module):
    """Classifies every overlapping N x N patch of an image as real or fake (one logit per patch).

    Layers: conv 4x4 stride 2 to ``ndf`` channels + LeakyReLU(0.2) (no norm), then ``n_layers - 1``
    stride-2 convs doubling the width (capped at 8 * ndf) with norm + LeakyReLU, one stride-1 conv with
    norm + LeakyReLU, and a stride-1 conv to 1 channel. With ``n_layers=3`` this is the paper's
    70x70 PatchGAN C64-C128-C256-C512 (receptive field 70, see :func:`patchgan_receptive_field`).
    For pix2pix the discriminator is conditional: it sees the input and the (real or generated) output
    concatenated along channels, so ``in_channels`` = input channels + output channels.

    Parameters:
        in_channels: channels of the judged images (3, or 6 for a conditional RGB->RGB judge).
        ndf: channels of the first layer (the papers: 64).
        n_layers: number of stride-2 convolutions: 1 -> 16x16 patches, 3 -> 70x70, 5 -> 286x286 (the paper's
            table 3); the input side must be at least 3 * 2**n_layers.
        norm: ``"batch"`` (pix2pix) or ``"instance"`` (CycleGAN).
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        bias = norm == "instance"  # a batch-norm shift makes a conv bias redundant
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers):
            next_width = ndf * min(2 ** n, 8)
            layers += [nn.Conv2d(width, next_width, 4, 2, 1, bias=bias), norm_layer(norm, next_width),
                       nn.LeakyReLU(0.2, True)]
            width = next_width
        next_width = ndf * min(2 ** n_layers, 8)
        layers += [nn.Conv2d(width, next_width, 4, 1, 1, bias=bias), norm_layer(norm, next_width),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(next_width, 1, 4, 1, 1)]
        self.n_layers = n_layers
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: float (B, in_channels, H, W) in [-1, 1], H and W >= 2**n_layers * 3 ->
        patch logits: float (B, 1, H', W') with H' = :func:`patchgan_output_side` (H); > 0 means "real".

        Raises:
            ValueError: the image is too small for ``n_layers`` stride-2 convolutions.
        """
        if min(images.shape[-2:]) < 2 ** self.n_layers * 3:
            raise ValueError(f"PatchGAN with n_layers={self.n_layers} needs images of at least "
                             f"{2 ** self.n_layers * 3} px, got {tuple(images.shape[-2:])}")
        return self.net(images)
