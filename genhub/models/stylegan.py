"""Progressive growing of GANs (Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation", ICLR; ProGAN) and the style-based generator built on it (Karras, Laine & Aila 2019, "A
Style-Based Generator Architecture for Generative Adversarial Networks", CVPR; StyleGAN): one family, two generators.

Both grow 4 -> 8 -> ... -> ``resolution`` pixels. Stage s renders 4 * 2^s pixels; while stage s fades in, the image is
``lerp(upsample(to_rgb[s-1](h[s-1])), to_rgb[s](h[s]), alpha)`` (ProGAN fig. 2) and the discriminator mirrors it on
its input side. Every layer has an equalised learning rate (weights ~ N(0, 1) scaled at run time by He's constant,
ProGAN sec. 4.1); the discriminator appends the minibatch standard deviation before its last block (ProGAN sec. 3).

- ``generator_type="progressive"`` (ProGAN): z -> 4x4 by a dense layer, then per layer conv 3x3 -> leaky ReLU ->
  pixel norm (ProGAN sec. 4.2).
- ``generator_type="style"`` (StyleGAN): a mapping MLP z -> w, a learned constant 4x4 input, then per layer
  conv 3x3 -> + per-channel-scaled noise -> leaky ReLU -> AdaIN(x, w) = y_s(w) * (x - mu(x)) / sigma(x) + y_b(w)
  (StyleGAN eq. 1). Each layer reads its own w (``ws``: (B, num_layers, w_dim)), which is what style mixing swaps.
  ``w_avg`` tracks the mean of w during training, for the truncation trick w' = w_avg + psi (w - w_avg) (sec. 2.1 and
  appendix B).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from genhub.models.base import CheckpointError, GenhubModel, read_boundaries
from genhub.models.layers import truncate

GENERATOR_TYPES = ("progressive", "style")
NOISE_MODES = ("random", "const", "none")
#: Where an export keeps the generator of each finished stage: ``stages/8px/model.safetensors`` and so on.
STAGES_FOLDER = "stages"


def num_stages(resolution: int) -> int:
    """Stages from 4x4 to ``resolution`` (a power of two from 4 to 128): 4 -> 1, 32 -> 4.

    Raises:
        ValueError: another resolution.
    """
    if resolution not in (4, 8, 16, 32, 64, 128):
        raise ValueError(f"resolution must be a power of two from 4 to 128, got {resolution}")
    return int(math.log2(resolution)) - 1


def stage_resolution(stage: int) -> int:
    """The side in pixels stage ``stage`` renders: 4 * 2^stage."""
    return 4 * 2 ** stage


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each pixel's feature vector scaled to unit mean square over channels (dim 1) (ProGAN eq. in sec. 4.2)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """(B, C, H, W) -> (B, C + 1, H, W): one more channel, the standard deviation of each feature over a group of
    images, averaged over features and pixels (ProGAN sec. 3). Groups are the largest divisor of B up to
    ``group_size``; image b is in group b mod (B / G), as in StyleGAN's code."""
    batch = x.shape[0]
    group = next(g for g in range(min(group_size, batch), 0, -1) if batch % g == 0)
    y = x.float().reshape(group, batch // group, *x.shape[1:])
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / G,)
    y = y.repeat(group).reshape(batch, 1, 1, 1).expand(batch, 1, *x.shape[2:]).to(x.dtype)
    return torch.cat([x, y], dim=1)


def truncate_w(w: torch.Tensor, w_avg: torch.Tensor, truncation_psi: float) -> torch.Tensor:
    """w' = w_avg + psi (w - w_avg) (StyleGAN sec. 2.1 / appendix B): psi = 1 returns w itself, psi = 0 gives w_avg
    exactly for every code. w: (..., w_dim); w_avg: (w_dim,).

    Raises:
        ValueError: ``truncation_psi`` is not finite.
    """
    if not math.isfinite(truncation_psi):
        raise ValueError(f"truncation_psi must be a finite number (1 = no truncation), got {truncation_psi}")
    return w if truncation_psi == 1.0 else torch.lerp(w_avg.to(w.dtype).expand_as(w), w, truncation_psi)


def mix_styles(ws: torch.Tensor, ws_other: torch.Tensor, layers: Sequence[int] | range) -> torch.Tensor:
    """``ws`` (B, L, w_dim) with the listed layers' styles taken from ``ws_other`` (B or 1, L, w_dim): style mixing.
    The training regulariser's crossover at layer k is ``layers = range(k, L)``: k = 0 is ``ws_other`` throughout,
    k = L is ``ws`` itself (StyleGAN sec. 3.1)."""
    mixed = ws.clone()
    index = list(layers)
    if index:
        mixed[:, index] = ws_other.expand_as(ws)[:, index]
    return mixed


def layer_groups(num_layers: int) -> dict[str, range]:
    """NVIDIA's coarse / middle / fine split of the style layers (StyleGAN sec. 3.1 at 1024 px: 4-8 px, 16-32 px,
    64-1024 px): coarse the 4 and 8 px layers, fine the last stage's, middle those between (empty below 32 px)."""
    coarse_end = min(4, num_layers)
    fine_start = max(coarse_end, num_layers - 2)
    return {"coarse": range(0, coarse_end), "middle": range(coarse_end, fine_start),
            "fine": range(fine_start, num_layers)}


# ---------------------------------------------------------------------------------------- equalised layers
class EqualLinear(nn.Module):
    """A dense layer with an equalised learning rate: y = x (W * gain / sqrt(in) * lr_mul)^T + b * lr_mul, W ~ N(0, 1)
    / lr_mul (ProGAN sec. 4.1; ``lr_mul`` < 1 slows a layer, StyleGAN's mapping network uses 0.01)."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2), lr_mul: float = 1.0,
                 bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_mul))
        self.scale, self.lr_mul = gain / math.sqrt(in_features) * lr_mul, lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """A square convolution, stride 1, "same" padding, with an equalised learning rate (ProGAN sec. 4.1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


# ---------------------------------------------------------------------------------------------- generator
class MappingNetwork(nn.Module):
    """z (B, latent_dim) -> w (B, w_dim): pixel norm, then ``num_layers`` dense layers with leaky ReLU at 1/100 of the
    learning rate (StyleGAN sec. 2, appendix C). ``w_avg`` (w_dim,): the running mean of w, changed only by
    :meth:`update_w_avg` (the training step), never by a forward pass or by truncation."""

    def __init__(self, latent_dim: int, w_dim: int, num_layers: int):
        super().__init__()
        sizes = [latent_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=0.01) for a, b in zip(sizes, sizes[1:]))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(z)
        for layer in self.layers:
            x = _lrelu(layer(x))
        return x

    @torch.no_grad()
    def update_w_avg(self, w: torch.Tensor, beta: float) -> None:
        """w_avg <- beta w_avg + (1 - beta) mean(w) over the batch (StyleGAN's ``dlatent_avg``, beta 0.995)."""
        self.w_avg.copy_(torch.lerp(w.detach().float().mean(0), self.w_avg, beta))


class AdaIN(nn.Module):
    """Adaptive instance norm (StyleGAN eq. 1): y_s * (x - mu(x)) / sigma(x) + y_b, (y_s, y_b) = A(w), with A a dense
    layer whose scale half starts at 1 (bias 1) and shift half at 0."""

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        self.style = EqualLinear(w_dim, 2 * channels, gain=1.0)
        with torch.no_grad():
            self.style.bias[:channels] = 1.0

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, shift = self.style(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return scale * F.instance_norm(x) + shift


class SynthesisLayer(nn.Module):
    """conv 3x3 (none for StyleGAN's first layer, on the constant) -> (+ noise) -> leaky ReLU -> AdaIN(w) for the
    style-based generator; conv 3x3 -> leaky ReLU -> pixel norm for the progressive one.

    The noise image (1 channel, broadcast over channels with a learned per-channel strength starting at 0): fresh
    N(0, 1) ("random"), the layer's fixed ``noise_const`` buffer ("const"), or none."""

    def __init__(self, in_channels: int | None, out_channels: int, resolution: int, w_dim: int | None, index: int):
        super().__init__()
        self.conv = EqualConv2d(in_channels, out_channels, 3) if in_channels else None
        self.adain = AdaIN(out_channels, w_dim) if w_dim else None
        if self.adain is not None:
            self.noise_strength = nn.Parameter(torch.zeros(out_channels))
            noise = torch.randn(1, 1, resolution, resolution, generator=torch.Generator().manual_seed(index))
            self.register_buffer("noise_const", noise)

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None, noise_mode: str = "random",
                generator: torch.Generator | None = None) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x)
        if self.adain is None:
            return pixel_norm(_lrelu(x))
        if noise_mode != "none":
            noise = self.noise_const if noise_mode == "const" else torch.randn(
                x.shape[0], 1, *x.shape[2:], generator=generator, device=x.device if generator is None else "cpu")
            x = x + self.noise_strength.view(1, -1, 1, 1) * noise.to(x.device, x.dtype)
        return self.adain(_lrelu(x), w)


class DenseInput(nn.Module):
    """ProGAN's first layer: z (B, latent_dim) -> pixel norm -> dense -> (B, C, 4, 4) -> leaky ReLU -> pixel norm."""

    def __init__(self, latent_dim: int, channels: int):
        super().__init__()
        self.dense = EqualLinear(latent_dim, channels * 16, gain=math.sqrt(2) / 4)
        self.channels = channels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return pixel_norm(_lrelu(self.dense(pixel_norm(z)).view(-1, self.channels, 4, 4)))


class Synthesis(nn.Module):
    """The growing generator body: latents -> an image at a stage's resolution.

    ``latents``: z (B, latent_dim) for the progressive generator; ws (B, num_layers, w_dim) for the style-based one
    (layer i reads ``ws[:, i]``). ``forward(latents, stage, alpha, noise_mode, noise_layers, generator)`` returns
    float (B, C, 4 * 2^stage, 4 * 2^stage), unbounded (ProGAN's linear output; about [-1, 1] once trained).
    ``noise_layers``: per style layer, whether it gets noise (default all); ``generator`` draws "random" noise.
    """

    def __init__(self, resolution: int, latent_dim: int, channels: int, widths: list[int], w_dim: int | None):
        super().__init__()
        self.style_based = w_dim is not None
        self.input = (nn.Parameter(torch.ones(1, widths[0], 4, 4)) if self.style_based
                      else DenseInput(latent_dim, widths[0]))
        blocks, index = [], 0
        for stage, width in enumerate(widths):
            size = stage_resolution(stage)
            if stage == 0:
                ins = [None, width] if self.style_based else [width]
            else:
                ins = [widths[stage - 1], width]
            layers = []
            for in_channels in ins:
                layers.append(SynthesisLayer(in_channels, width, size, w_dim, index))
                index += 1
            blocks.append(nn.ModuleList(layers))
        self.blocks = nn.ModuleList(blocks)
        self.to_rgb = nn.ModuleList(EqualConv2d(width, channels, 1, gain=1.0) for width in widths)
        self.num_layers = index

    def forward(self, latents: torch.Tensor, stage: int | None = None, alpha: float = 1.0, noise_mode: str = "random",
                noise_layers: Sequence[bool] | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        stage = len(self.blocks) - 1 if stage is None else stage
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        noise_layers = [True] * self.num_layers if noise_layers is None else list(noise_layers)
        x = self.input.expand(latents.shape[0], -1, -1, -1) if self.style_based else self.input(latents)
        previous, index = None, 0
        for s in range(stage + 1):
            if s:
                previous, x = x, F.interpolate(x, scale_factor=2, mode="nearest")
            for layer in self.blocks[s]:
                w = latents[:, index] if self.style_based else None
                x = layer(x, w, noise_mode if noise_layers[index] else "none", generator)
                index += 1
        rgb = self.to_rgb[stage](x)
        if stage and alpha < 1.0:  # fade-in: the previous stage's image, upsampled, blended with the new one
            skip = F.interpolate(self.to_rgb[stage - 1](previous), scale_factor=2, mode="nearest")
            rgb = torch.lerp(skip, rgb, float(alpha))
        return rgb


# ------------------------------------------------------------------------------------------ discriminator
class DiscriminatorBlock(nn.Module):
    """conv 3x3 -> leaky ReLU -> conv 3x3 -> leaky ReLU -> 2x2 average pool: (B, C_s, r, r) -> (B, C_{s-1}, r/2,
    r/2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1, self.conv2 = EqualConv2d(in_channels, in_channels, 3), EqualConv2d(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(_lrelu(self.conv2(_lrelu(self.conv1(x)))), 2)


class DiscriminatorOutput(nn.Module):
    """The 4x4 block: minibatch stddev -> conv 3x3 -> dense -> dense to one logit (ProGAN table 2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = EqualConv2d(channels + 1, channels, 3)
        self.dense = EqualLinear(channels * 16, channels)
        self.logit = EqualLinear(channels, 1, gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _lrelu(self.conv(minibatch_stddev(x)))
        return self.logit(_lrelu(self.dense(x.flatten(1)))).flatten()


class ProgressiveDiscriminator(nn.Module):
    """images (B, C, r, r) at stage s's resolution r -> logits (B,), > 0: real. ``blocks[s]`` halves stage s's
    resolution (``blocks[0]`` is the 4x4 output block); while stage s fades in, its first block's output is blended
    with the previous stage's ``from_rgb`` on the 2x average-pooled input."""

    def __init__(self, channels: int, widths: list[int]):
        super().__init__()
        self.from_rgb = nn.ModuleList(EqualConv2d(channels, width, 1) for width in widths)
        self.blocks = nn.ModuleList([DiscriminatorOutput(widths[0])] +
                                    [DiscriminatorBlock(widths[s], widths[s - 1]) for s in range(1, len(widths))])

    def forward(self, images: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        stage = len(self.blocks) - 1 if stage is None else stage
        if images.shape[-1] != stage_resolution(stage):
            raise ValueError(f"stage {stage} takes {stage_resolution(stage)} px images, got {tuple(images.shape)}")
        x = _lrelu(self.from_rgb[stage](images))
        for s in range(stage, 0, -1):
            x = self.blocks[s](x)
            if s == stage and alpha < 1.0:
                x = torch.lerp(_lrelu(self.from_rgb[s - 1](F.avg_pool2d(images, 2))), x, float(alpha))
        return self.blocks[0](x)


# ------------------------------------------------------------------------------------------------ the model
class StyleGAN(GenhubModel, tags=["stylegan", "progan", "gan"], pipeline_tag="unconditional-image-generation",
               paper_url="https://arxiv.org/abs/1812.04948"):
    """A progressively grown GAN: ``mapping`` (style-based only), ``synthesis`` and ``discriminator``.

    ``stages``: resolution -> the generator as it was when that stage finished training (a smaller ``StyleGAN``),
    read from the export's ``stages/<r>px/`` folders; ``boundaries``: attribute -> unit direction in w (float32
    (w_dim,)) when the export has :data:`~genhub.models.base.BOUNDARIES_FILE`.

    Parameters:
        resolution: final side in pixels, a power of two from 4 to 128.
        generator_type: "style" (StyleGAN) or "progressive" (ProGAN).
        latent_dim: size of z ~ N(0, I).
        w_dim: size of w (style-based only).
        mapping_layers: dense layers in the mapping network (StyleGAN: 8; style-based only).
        channels: image channels, 3 or 1.
        channel_base, max_channels: stage s has min(max_channels, channel_base / (4 * 2^s)) feature maps, in G and D.

    Raises:
        ValueError: an unknown ``generator_type`` or an unsupported resolution.
    """

    family = "stylegan"
    paper = ("Karras, Laine & Aila 2019, A Style-Based Generator Architecture for Generative Adversarial Networks "
             "(arXiv:1812.04948); Karras, Aila, Laine & Lehtinen 2018, Progressive Growing of GANs for Improved "
             "Quality, Stability, and Variation (arXiv:1710.10196).")

    def __init__(self, resolution: int = 32, generator_type: str = "style", latent_dim: int = 128, w_dim: int = 128,
                 mapping_layers: int = 4, channels: int = 3, channel_base: int = 512, max_channels: int = 128):
        super().__init__()
        if generator_type not in GENERATOR_TYPES:
            raise ValueError(f"generator_type must be one of {GENERATOR_TYPES}, got {generator_type!r}")
        widths = [min(max_channels, channel_base // stage_resolution(s)) for s in range(num_stages(resolution))]
        self.resolution, self.latent_dim, self.channels = resolution, latent_dim, channels
        self.style_based = generator_type == "style"
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers) if self.style_based else None
        self.synthesis = Synthesis(resolution, latent_dim, channels, widths, w_dim if self.style_based else None)
        self.discriminator = ProgressiveDiscriminator(channels, widths)
        self.num_stages, self.num_layers = len(widths), self.synthesis.num_layers
        self.stages: dict[int, StyleGAN] = {}
        self.boundaries: dict[str, torch.Tensor] = {}

    def styles(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """z (B, latent_dim) -> ws (B, num_layers, w_dim): w = mapping(z), truncated towards ``w_avg``, one copy per
        layer (style-based); the progressive generator's latent is z itself (truncated as z' = psi z)."""
        if not self.style_based:
            return truncate(z, truncation_psi)
        w = truncate_w(self.mapping(z), self.mapping.w_avg, truncation_psi)
        return w.unsqueeze(1).repeat(1, self.num_layers, 1)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "random",
                generator: torch.Generator | None = None) -> torch.Tensor:
        """z (B, latent_dim) -> images (B, C, resolution, resolution), unclamped."""
        return self.synthesis(self.styles(z, truncation_psi), noise_mode=noise_mode, generator=generator)

    def decode_w(self, codes: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """One code per image, the same at every layer -> images (B, C, resolution, resolution) in [-1, 1]: w (B, w_dim)
        for the style-based generator, z for the progressive one (its only latent)."""
        ws = codes.unsqueeze(1).expand(-1, self.num_layers, -1) if self.style_based else codes
        return self.synthesis(ws.to(self._device()), noise_mode=noise_mode).clamp(-1, 1)

    def latents(self, num_images: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I): (num_images, latent_dim) on the model's device, drawn on CPU from ``generator``."""
        return torch.randn(num_images, self.latent_dim, generator=generator).to(self._device())

    @torch.no_grad()
    def sample(self, num_images: int, generator: torch.Generator | None = None, truncation_psi: float = 1.0,
               noise_mode: str = "random") -> torch.Tensor:
        """``num_images`` images (B, C, resolution, resolution) in [-1, 1] (clamped) from z ~ N(0, I), the truncation
        trick with ``truncation_psi`` (1: none; 0: every image G(w_avg)) and noise ``noise_mode``. The same
        ``generator`` draws the same z whatever psi; "random" noise is drawn from it after z."""
        z = self.latents(num_images, generator)
        return self(z, truncation_psi, noise_mode, generator).clamp(-1, 1)

    @torch.no_grad()
    def real_probability(self, images: torch.Tensor) -> torch.Tensor:
        """The discriminator's probability (B,) in [0, 1] that each image (B, C, resolution, resolution) is real."""
        return torch.sigmoid(self.discriminator(images.to(self._device())))

    def at_resolution(self, resolution: int) -> StyleGAN:
        """A copy grown only to ``resolution`` (<= this one's): the same weights for the stages it has (CPU, eval)."""
        small = type(self)(**{**self.config, "resolution": resolution})
        own = self.state_dict()
        small.load_state_dict({key: own[key].detach().cpu().clone() for key in small.state_dict()})
        return small.eval()

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _load_extras(self, find) -> None:
        self.boundaries = read_boundaries(find, self.mapping.w_avg.shape[0] if self.style_based else self.latent_dim)
        for stage in range(self.num_stages - 1):
            size = stage_resolution(stage)
            weights = find(f"{STAGES_FOLDER}/{size}px/model.safetensors")
            if weights is None:
                continue
            small = type(self)(**{**self.config, "resolution": size})  # never the folder's own config: a bad
            try:  # export cannot make us build an arbitrary model
                small.load_state_dict(load_file(str(weights)))
            except (RuntimeError, ValueError) as error:
                raise CheckpointError(f"{weights}: not the {size} px stage of this model: {error}") from error
            self.stages[size] = small.eval()
