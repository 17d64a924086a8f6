"""Gated PixelCNN (van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves & Kavukcuoglu 2016, "Conditional Image
Generation with PixelCNN Decoders", NeurIPS): an autoregressive model of images,

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1})      (pixels in raster order, channels in order within a pixel),

each factor a categorical softmax over ``num_levels`` quantised intensities. A vertical stack (what lies above)
and a horizontal stack (what lies to the left in the current row, fed by the vertical stack shifted down one row)
remove the blind spot of the original PixelCNN; both use the gated activation tanh(W_f * x) * sigmoid(W_g * x)
(eq. 2). The first layer is "mask A" (a pixel's channel c sees only channels < c of itself), the others "mask B"
(channels <= c of the hidden features at the same position). Training minimises the negative log-likelihood;
held-out NLL is reported in bits per dimension.

Inputs are ``levels``: int64 (B, C, H, W) in [0, num_levels); :func:`quantize` maps ``pixel_values`` in [-1, 1]
to them and :func:`dequantize` back.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genhub.models.base import GenhubModel


def quantize(pixel_values: torch.Tensor, num_levels: int) -> torch.Tensor:
    """``pixel_values`` float in [-1, 1] -> levels int64 in [0, num_levels): round((x + 1) / 2 * (L - 1))."""
    return ((pixel_values.float().clamp(-1, 1) + 1) / 2 * (num_levels - 1)).round().long()


def dequantize(levels: torch.Tensor, num_levels: int) -> torch.Tensor:
    """levels int in [0, num_levels) -> float32 in [-1, 1] (level 0 -> -1, level L - 1 -> 1)."""
    return levels.float() / (num_levels - 1) * 2 - 1


def channel_groups(num_channels: int, groups: int, halves: int = 1) -> torch.Tensor:
    """Which image channel each of ``num_channels`` features belongs to (int64 (num_channels,)): contiguous blocks,
    repeated ``halves`` times (the gated activation's tanh and sigmoid halves each hold every group)."""
    per_half = num_channels // halves
    return torch.arange(num_channels) % per_half * groups // per_half


def group_mask(out_groups: torch.Tensor, in_groups: torch.Tensor, strict: bool) -> torch.Tensor:
    """(out, in) float mask: output feature of group g may read input feature of group h when h < g (mask A,
    ``strict``) or h <= g (mask B)."""
    allowed = in_groups[None, :] < out_groups[:, None] if strict else in_groups[None, :] <= out_groups[:, None]
    return allowed.float()


class MaskedConv2d(nn.Conv2d):
    """A convolution whose weight is multiplied by a fixed mask (a buffer) on every call."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, mask: torch.Tensor, padding=0):
        super().__init__(in_channels, out_channels, kernel_size, padding=padding)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def gate(x: torch.Tensor) -> torch.Tensor:
    """The gated activation (eq. 2): tanh of the first half of the channels times sigmoid of the second."""
    value, gate_ = x.chunk(2, dim=1)
    return torch.tanh(value) * torch.sigmoid(gate_)


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) moved one row down (a zero row on top): row i then holds what row i - 1 computed."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


class GatedLayer(nn.Module):
    """One gated layer: vertical stack (rows above and the current row, passed on shifted down) and horizontal
    stack (the current row up to the current pixel, channel-masked there).

    Parameters:
        in_channels: features in (the image's channels for the first layer).
        channels: features out of each stack.
        image_channels: C, the image's channels (the channel groups).
        kernel_size: odd k; the vertical stack reads k // 2 rows up, the horizontal k // 2 pixels left.
        first: mask A and no residual (the input layer), else mask B with a residual on the horizontal stack.
    """

    def __init__(self, in_channels: int, channels: int, image_channels: int, kernel_size: int, first: bool):
        super().__init__()
        half = kernel_size // 2
        in_groups = channel_groups(in_channels, image_channels)
        out_groups = channel_groups(2 * channels, image_channels, halves=2)
        self.first, self.half = first, half
        # vertical: (half + 1) x k, padded so output row i reads input rows i - half .. i; no channel mask (the
        # horizontal stack only ever sees it one row down)
        self.vertical = nn.Conv2d(in_channels, 2 * channels, (half + 1, kernel_size), padding=(half, half))
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        # horizontal: 1 x (half + 1), reading columns j - half .. j; at column j itself only the allowed groups
        mask = torch.ones(2 * channels, in_channels, 1, half + 1)
        mask[:, :, 0, half] = group_mask(out_groups, in_groups, strict=first)
        self.horizontal = MaskedConv2d(in_channels, 2 * channels, (1, half + 1), mask, padding=(0, half))
        gated_groups = channel_groups(channels, image_channels)
        self.horizontal_out = MaskedConv2d(channels, channels, 1, group_mask(gated_groups, gated_groups,
                                                                             strict=False)[:, :, None, None])

    def forward(self, vertical: torch.Tensor, horizontal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(vertical, horizontal) features (B, in, H, W) -> the next layer's, (B, channels, H, W) each."""
        before_gate = self.vertical_features(vertical)
        return gate(before_gate), self.horizontal_step(horizontal, self.link(before_gate))

    def vertical_features(self, vertical: torch.Tensor) -> torch.Tensor:
        """The vertical convolution before its gate: row i from input rows i - k // 2 .. i, (B, 2 * channels, H, W)."""
        return self.vertical(vertical)[:, :, :vertical.shape[-2]]

    def link(self, vertical_features: torch.Tensor) -> torch.Tensor:
        """What the horizontal stack gets from above: the vertical features one row down, through a 1x1 conv."""
        return self.vertical_to_horizontal(shift_down(vertical_features))

    def horizontal_step(self, horizontal: torch.Tensor, link: torch.Tensor) -> torch.Tensor:
        """The horizontal stack on rows (B, in, h, W) given their ``link`` (B, 2 * channels, h, W)."""
        h = self.horizontal_out(gate(self.horizontal(horizontal)[:, :, :, :horizontal.shape[-1]] + link))
        return h if self.first else horizontal + h


class PixelCNN(GenhubModel, tags=["pixelcnn", "autoregressive"], pipeline_tag="unconditional-image-generation",
               paper_url="https://arxiv.org/abs/1606.05328"):
    """A Gated PixelCNN over ``num_levels`` intensity levels.

    Parameters:
        resolution: image side in pixels (any size; the model is fully convolutional, trained at this one).
        channels: image channels (1 grayscale, or 3 predicted R, G, B in order within each pixel).
        num_levels: L, the quantised intensities per channel (2..256).
        hidden_channels: features per stack; a multiple of ``channels``.
        num_layers: gated layers (the first is mask A).
        kernel_size: odd k of the gated layers.

    Raises:
        ValueError: num_levels outside 2..256, hidden_channels not a multiple of channels, an even kernel_size.
    """

    family = "pixelcnn"
    paper = ("van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves & Kavukcuoglu 2016, Conditional Image "
             "Generation with PixelCNN Decoders (NeurIPS).")

    def __init__(self, resolution: int = 32, channels: int = 1, num_levels: int = 16, hidden_channels: int = 64,
                 num_layers: int = 8, kernel_size: int = 3):
        super().__init__()
        if not 2 <= num_levels <= 256 or hidden_channels % channels or kernel_size % 2 == 0 or num_layers < 1:
            raise ValueError(f"need 2 <= num_levels <= 256 (got {num_levels}), hidden_channels a multiple of "
                             f"channels (got {hidden_channels}, {channels}), an odd kernel_size (got {kernel_size}) "
                             f"and num_layers >= 1 (got {num_layers})")
        self.resolution, self.channels, self.num_levels = resolution, channels, num_levels
        self.layers = nn.ModuleList(
            [GatedLayer(channels if i == 0 else hidden_channels, hidden_channels, channels, kernel_size, i == 0)
             for i in range(num_layers)])
        hidden_groups = channel_groups(hidden_channels, channels)
        logit_groups = torch.arange(channels * num_levels) // num_levels
        self.head = MaskedConv2d(hidden_channels, hidden_channels, 1,
                                 group_mask(hidden_groups, hidden_groups, strict=False)[:, :, None, None])
        self.logits_out = MaskedConv2d(hidden_channels, channels * num_levels, 1,
                                       group_mask(logit_groups, hidden_groups, strict=False)[:, :, None, None])
        #: rows above a pixel that its logits depend on: the band :meth:`row_links` reads
        self.rows_above = num_layers * (kernel_size // 2) + 1

    def forward(self, levels: torch.Tensor) -> torch.Tensor:
        """levels int (B, C, H, W) in [0, L) -> logits float (B, L, C, H, W); position (c, i, j) depends only on
        the pixels before (i, j) in raster order and on channels < c of pixel (i, j)."""
        return self.network(dequantize(levels, self.num_levels).to(self.head.weight.dtype))

    def network(self, x: torch.Tensor) -> torch.Tensor:
        """The network on float inputs: x (B, C, H, W) in [-1, 1] (dequantised levels) -> logits (B, L, C, H, W).
        :meth:`forward` without the quantisation, so that gradients with respect to the pixels exist (tests)."""
        vertical, horizontal = x, x
        for layer in self.layers:
            vertical, horizontal = layer(vertical, horizontal)
        return self._logits(horizontal)

    def _logits(self, horizontal: torch.Tensor) -> torch.Tensor:
        logits = self.logits_out(F.relu(self.head(F.relu(horizontal))))
        batch, _, height, width = logits.shape
        return logits.view(batch, self.channels, self.num_levels, height, width).transpose(1, 2)

    @torch.no_grad()
    def nll_bits(self, levels: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of each image in bits per dimension (C * H * W dimensions): float32 (B,)."""
        nats = F.cross_entropy(self(levels).float(), levels, reduction="none").flatten(1).mean(1)
        return nats / math.log(2)

    @torch.no_grad()
    def surprise(self, levels: torch.Tensor) -> torch.Tensor:
        """-log2 p(x_i | x_<i) of every sub-pixel: float32 (B, C, H, W), in bits."""
        return F.cross_entropy(self(levels).float(), levels, reduction="none") / math.log(2)

    def row_links(self, levels: torch.Tensor, row: int) -> list[torch.Tensor]:
        """What row ``row`` receives from the rows above it, per layer ((B, 2 * hidden, 1, W) each): computed once
        per row from the band of :attr:`rows_above` rows, since sampling the row changes none of it."""
        top = max(0, row - self.rows_above)
        vertical = dequantize(levels[:, :, top:row + 1], self.num_levels).to(self.head.weight.dtype)
        links = []
        for layer in self.layers:
            before_gate = layer.vertical_features(vertical)
            links.append(layer.link(before_gate)[:, :, -1:])
            vertical = gate(before_gate)
        return links

    def row_logits(self, levels: torch.Tensor, row: int, links: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The logits of one row, (B, L, C, W): the horizontal stack on that row alone plus its :meth:`row_links`
        (pass them to reuse them while the row is sampled). Equal to ``self(levels)[..., row, :]``, at a fraction of
        the cost."""
        links = self.row_links(levels, row) if links is None else links
        horizontal = dequantize(levels[:, :, row:row + 1], self.num_levels).to(self.head.weight.dtype)
        for layer, link in zip(self.layers, links):
            horizontal = layer.horizontal_step(horizontal, link)
        return self._logits(horizontal)[..., 0, :]

    @torch.no_grad()
    def fill(self, levels: torch.Tensor, hidden: torch.Tensor, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """Sample the ``hidden`` positions of ``levels`` in raster order (channels in order), each from
        p(x_i | everything before it), row by row; visible positions are never changed.

        Args:
            levels: int (B, C, H, W) in [0, L), the visible values (hidden ones are overwritten).
            hidden: bool (B, C, H, W) or broadcastable: what to sample.
            temperature: > 0; logits are divided by it (1: the model's distribution; < 1: sharper).
            generator: RNG for the draws (CPU).

        Yields:
            (row, levels so far) after each row that had a hidden position; the last is the finished sample.

        Raises:
            ValueError: a non-positive or non-finite temperature.
        """
        if not (temperature > 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be a positive number, got {temperature}")
        device = self.head.weight.device
        levels = levels.clone().to(device)
        hidden = torch.broadcast_to(hidden.to(device), levels.shape)
        for row in range(levels.shape[2]):
            if not hidden[:, :, row].any():
                continue
            links = self.row_links(levels, row)
            for column in range(levels.shape[3]):
                for channel in range(self.channels):
                    where = hidden[:, channel, row, column]
                    if not where.any():
                        continue
                    logits = self.row_logits(levels, row, links)[:, :, channel, column].float().cpu() / temperature
                    drawn = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator)[:, 0]
                    levels[:, channel, row, column] = torch.where(where, drawn.to(device),
                                                                  levels[:, channel, row, column])
            yield row, levels

    @torch.no_grad()
    def sample(self, num_images: int, generator: torch.Generator | None = None, temperature: float = 1.0,
               resolution: int | None = None) -> torch.Tensor:
        """``num_images`` samples, pixel by pixel: float32 (B, C, H, W) in [-1, 1] (H = W = ``resolution``,
        default the training resolution)."""
        side = resolution or self.resolution
        blank = torch.zeros(num_images, self.channels, side, side, dtype=torch.long)
        *_, (_, levels) = self.fill(blank, torch.ones_like(blank, dtype=torch.bool), temperature, generator)
        return dequantize(levels.cpu(), self.num_levels)
