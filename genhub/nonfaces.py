"""Images whose answer is known: faces made into non-faces (and blurred faces, which stay faces).

They train the face head of genhub's feature network (:mod:`genhub.train.face_features`) and they are the
fixed inputs of its sanity checks (held-out faces must score better than blurred faces, and those better than
every non-face here). Each maker takes float pixel values (B, C, H, W) in [-1, 1] and a ``torch.Generator``
and returns a float tensor of the same shape in [-1, 1]; none touches the global RNG.

- phase scrambling keeps each image's amplitude spectrum and adds one random phase to all its channels
  (Oppenheim & Lim 1981, "The importance of phase in signals"): the colours and the blur of a face with none of
  its layout;
- patch shuffling permutes a grid of tiles: a face's parts, not in their places;
- colour blobs are smooth random colour fields (low-resolution noise enlarged), the look of an early GAN;
- pixel noise is uniform in [-1, 1].
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F


def gaussian_blur(pixel_values: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur of standard deviation ``sigma`` pixels (> 0), reflect-padded; same shape."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(pixel_values.device)
    channels = pixel_values.shape[1]
    with torch.autocast(pixel_values.device.type, enabled=False):  # a fixed filter: float32 under any autocast
        padded = F.pad(pixel_values.float(), (radius, radius, radius, radius), mode="reflect")
        rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
        blurred = F.conv2d(rows, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
    return blurred.to(pixel_values.dtype)


def phase_scramble(pixel_values: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image's amplitude spectrum with a random phase added (the same for its channels, so colours keep
    their relation), then each channel set back to its own mean and standard deviation."""
    images = pixel_values.float()
    spectrum = torch.fft.rfft2(images)
    noise = torch.rand(images.shape[0], 1, *images.shape[2:], generator=generator)
    random_phase = torch.angle(torch.fft.rfft2(noise))  # the phase of real noise: the result stays real
    scrambled = torch.fft.irfft2(spectrum * torch.exp(1j * random_phase), s=images.shape[-2:])
    mean, std = images.mean(dim=(2, 3), keepdim=True), images.std(dim=(2, 3), keepdim=True)
    centred = scrambled - scrambled.mean(dim=(2, 3), keepdim=True)
    scaled = centred / centred.std(dim=(2, 3), keepdim=True).clamp_min(1e-6) * std + mean
    return scaled.clamp(-1, 1).to(pixel_values.dtype)


def patch_shuffle(pixel_values: torch.Tensor, generator: torch.Generator, tiles: int = 4) -> torch.Tensor:
    """Each image cut into ``tiles`` x ``tiles`` squares (the side must divide by ``tiles``), put back in a random
    order of its own."""
    batch, channels, height, width = pixel_values.shape
    if height % tiles or width % tiles:
        raise ValueError(f"a {height}x{width} image does not cut into {tiles}x{tiles} tiles")
    th, tw = height // tiles, width // tiles
    patches = pixel_values.reshape(batch, channels, tiles, th, tiles, tw).permute(0, 2, 4, 1, 3, 5)
    patches = patches.reshape(batch, tiles * tiles, channels, th, tw)
    order = torch.argsort(torch.rand(batch, tiles * tiles, generator=generator), dim=1)
    shuffled = patches[torch.arange(batch)[:, None], order]
    shuffled = shuffled.reshape(batch, tiles, tiles, channels, th, tw).permute(0, 3, 1, 4, 2, 5)
    return shuffled.reshape(batch, channels, height, width)


def colour_blobs(pixel_values: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Smooth random colour fields of the input's shape: Gaussian noise on a 2x2 to 8x8 grid, enlarged bicubically
    and squashed with tanh (one grid size per batch)."""
    batch, channels, height, width = pixel_values.shape
    grid = int(torch.randint(2, 9, (1,), generator=generator))
    coarse = torch.randn(batch, channels, grid, grid, generator=generator) * 1.5
    fields = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    return torch.tanh(fields).to(pixel_values.dtype)


def pixel_noise(pixel_values: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Uniform noise in [-1, 1] of the input's shape."""
    return (torch.rand(pixel_values.shape, generator=generator) * 2 - 1).to(pixel_values.dtype)


#: name -> maker of non-faces from faces (float (B, C, H, W) in [-1, 1], generator) -> same shape in [-1, 1].
NONFACE_MAKERS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "phase-scrambled": phase_scramble,
    "patch-shuffled": patch_shuffle,
    "colour blobs": colour_blobs,
    "pixel noise": pixel_noise,
}


def make_nonfaces(faces: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Non-faces of the same shape as ``faces`` (on CPU), each made by one maker of :data:`NONFACE_MAKERS`
    picked at random per image."""
    faces = faces.detach().float().cpu()
    kinds = torch.randint(len(NONFACE_MAKERS), (len(faces),), generator=generator)
    out = torch.empty_like(faces)
    for index, make in enumerate(NONFACE_MAKERS.values()):
        chosen = (kinds == index).nonzero().flatten()
        if len(chosen):
            out[chosen] = make(faces[chosen], generator)
    return out
