"""Image sanitising and conversions between PIL images and ``pixel_values`` tensors.

Everything that enters genhub from a user, a dataset or the Hub passes through
:func:`sanitize_image`, so odd inputs (EXIF rotation, RGBA, CMYK, 16-bit, palette,
corrupt or huge files) are handled once, here.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

#: Largest image we decode, in pixels (about 7000 x 7000). Bigger files are refused before
#: decoding so a hostile upload cannot exhaust memory.
MAX_PIXELS = 50_000_000


class ImageError(ValueError):
    """An image could not be read or is unusable; the message says why."""


def _open(source) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return Image.fromarray(source)
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    elif isinstance(source, (str, Path)) and not Path(source).is_file():
        raise ImageError(f"no such image file: {source}")
    try:
        image = Image.open(source)
        if image.width * image.height > MAX_PIXELS:
            raise ImageError(
                f"image is {image.width}x{image.height}, larger than the {MAX_PIXELS:,}-pixel limit"
            )
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageError(f"cannot read the image: {error}") from error
    return image


def _to_8bit(image: Image.Image) -> Image.Image:
    """High bit-depth grayscale ("I", "I;16", "F") scaled to 8 bits by its own range."""
    array = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
    return Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")


def sanitize_image(source, channels: int = 3) -> Image.Image:
    """Read any image and return a clean 8-bit ``RGB`` (``channels=3``) or ``L`` (``channels=1``) PIL image.

    Applies the EXIF orientation, flattens transparency onto white, converts palette, CMYK,
    LA and 16-bit/float modes, and drops all metadata.

    Args:
        source: a ``PIL.Image``, a ``numpy`` uint8 array (H, W) or (H, W, C), raw encoded bytes,
            or a file path.
        channels: 3 for RGB, 1 for grayscale.

    Returns:
        A new ``PIL.Image`` with mode ``"RGB"`` or ``"L"`` and an empty ``info`` dict.

    Raises:
        ImageError: the file is missing, corrupt, not an image, empty (0 pixels), or larger than
            :data:`MAX_PIXELS`.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    image = _open(source)
    if image.width == 0 or image.height == 0:
        raise ImageError("image has no pixels")
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not make a good image unusable
        pass
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = _to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    image = image.convert("RGB" if channels == 3 else "L")
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    return clean


def center_crop_resize(image: Image.Image, resolution: int) -> Image.Image:
    """Crop the largest centred square and resize it to ``resolution`` x ``resolution`` (Lanczos)."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    if side == resolution:
        return square
    return square.resize((resolution, resolution), Image.Resampling.LANCZOS)


def to_pixel_values(image: Image.Image) -> torch.Tensor:
    """8-bit PIL image -> float32 tensor of shape (C, H, W) in [-1, 1]."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array).permute(2, 0, 1).contiguous() / 127.5 - 1.0


def to_uint8(pixel_values: torch.Tensor) -> np.ndarray:
    """Tensor (C, H, W) or (B, C, H, W) in [-1, 1] -> uint8 array (H, W, C) or (B, H, W, C).

    Values outside [-1, 1] are clipped; the mapping rounds, so ``to_uint8(to_pixel_values(x))``
    returns ``x`` exactly.
    """
    x = pixel_values.detach().float().cpu().clamp(-1, 1)
    x = ((x + 1.0) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def to_pil(pixel_values: torch.Tensor) -> Image.Image:
    """Tensor (C, H, W) in [-1, 1] -> PIL ``RGB`` or ``L`` image."""
    array = to_uint8(pixel_values)
    return Image.fromarray(array[:, :, 0] if array.shape[-1] == 1 else array)


def make_grid(pixel_values: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """Tile a batch (B, C, H, W) in [-1, 1] into one PIL image, ``nrow`` images per row."""
    batch, channels, height, width = pixel_values.shape
    nrow = nrow or math.ceil(math.sqrt(batch))
    rows = math.ceil(batch / nrow)
    canvas = torch.ones(channels, rows * (height + padding) + padding, nrow * (width + padding) + padding)
    for index, image in enumerate(pixel_values.detach().float().cpu()):
        top = padding + (index // nrow) * (height + padding)
        left = padding + (index % nrow) * (width + padding)
        canvas[:, top : top + height, left : left + width] = image
    return to_pil(canvas)


def xdog_sketch(image: Image.Image, work_size: int = 256, size: int | None = None, sigma: float = 0.8,
                k: float = 1.6, p: float = 20.0, epsilon: float = 0.3, phi: float = 10.0,
                threshold: int = 200) -> Image.Image:
    """A black-on-white line drawing of ``image`` by XDoG (eXtended Difference of Gaussians; Winnemöller,
    Kyprianidis & Olsen 2012, Computers & Graphics 36(6)): the operator that made genhub's sketch->face data.

    On the grayscale image resized to ``work_size`` (intensities in [0, 1]): S = (1 + p) G_sigma - p G_{k sigma},
    T = 1 where S >= epsilon else 1 + tanh(phi (S - epsilon)); then resized to ``size`` (default: the input's
    side) with Lanczos and binarised (pixel > ``threshold`` -> 255, else 0).

    Returns:
        An 8-bit ``L`` image, values 0 and 255, ``size`` x ``size`` (square inputs; others keep their aspect).
    """
    from PIL import ImageFilter

    gray = image.convert("L")
    out_size = (size, size) if size else gray.size
    gray = gray.resize((work_size, work_size), Image.Resampling.LANCZOS)

    def blur(s: float) -> np.ndarray:  # Pillow's Gaussian blur takes the standard deviation as its radius
        return np.asarray(gray.filter(ImageFilter.GaussianBlur(s)), dtype=np.float64) / 255.0

    s = (1 + p) * blur(sigma) - p * blur(k * sigma)
    t = np.where(s >= epsilon, 1.0, 1.0 + np.tanh(phi * (s - epsilon)))
    drawing = Image.fromarray(np.clip(t * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    drawing = drawing.resize(out_size, Image.Resampling.LANCZOS)
    return drawing.point(lambda value: 255 if value > threshold else 0)
