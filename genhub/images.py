"""Image sanitising and conversions between PIL images and ``pixel_values`` tensors.

Everything that enters genhub from a user, a dataset or the Hub passes through
:func:`sanitize_image`, so odd inputs (EXIF rotation, RGBA, CMYK, 16-bit, 32-bit integer and float,
palette, corrupt or huge files) are handled once, here. Its :class:`ImageError` messages are written
for the person who supplied the file: what is wrong with it and what to do, never a path or a
library's exception text.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

#: Largest image we decode, in pixels (about 7000 x 7000). Bigger files are refused from their header,
#: before decoding, so a hostile upload cannot exhaust memory: a decode holds at most about
#: 16 bytes per pixel of this (800 MB), usually 3-8.
MAX_PIXELS = 50_000_000
#: PIL's own guard, also for decoders that do not go through :func:`sanitize_image` (e.g. a library's): it
#: warns above this many pixels and refuses more than twice as many (``Image.DecompressionBombError``).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
#: The formats :func:`sanitize_image` decodes (PIL names; "JPEG" includes the multi-picture JPEGs of some
#: cameras). PIL's other decoders (PSD, EPS, ICO, ...) are never offered an upload.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
READABLE = "PNG, JPEG, WebP, BMP, TIFF, GIF"
#: File signatures of those formats, to tell a damaged file of a known format from something else.
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF", b"GIF89a": "GIF",
               b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"BM": "BMP"}
_HEAD_BYTES = 4096


class ImageError(ValueError):
    """An image could not be read or is unusable; the message says why, and what to do, in plain words."""


def _head(source) -> bytes:
    """The first bytes of an encoded image (bytes or a path), to name what it is when PIL cannot.

    Raises:
        ImageError: the file does not exist.
    """
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:_HEAD_BYTES])
    if not Path(source).is_file():
        raise ImageError("the file is missing (an upload expires after a while). Upload it again.")
    with open(source, "rb") as file:
        return file.read(_HEAD_BYTES)


def _too_large(size: tuple[int, int] | None = None) -> str:
    shape = f"it is {size[0]}×{size[1]} pixels, " if size else "it is "
    return (f"{shape}larger than the {MAX_PIXELS:,}-pixel limit. Shrink it (e.g. to 2000 pixels on the longer "
            "side) and upload it again.")


def _undecodable(kind: str) -> str:
    return (f"it looks like a {kind} file but cannot be decoded: it is damaged, cut short or an unusual variant. "
            "Save or export it again as an ordinary PNG or JPEG and upload that.")


def _unidentified(head: bytes) -> str:
    """Why PIL could not identify a file whose first bytes are ``head``, in the user's words."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _undecodable("WebP")
    for signature, kind in _SIGNATURES.items():
        if head.startswith(signature):
            return _undecodable(kind)
    if b"<svg" in head.lower():
        return (f"it is an SVG (vector) drawing; genhub reads bitmap images ({READABLE}). Export it as PNG "
                "and upload that.")
    return f"it is not an image file genhub can read ({READABLE}). Upload a photo or drawing."


def _open(source) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return Image.fromarray(source)
    head = _head(source)
    if not head:
        raise ImageError("the file is empty (0 bytes). Upload a photo or drawing.")
    try:
        image = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source, formats=FORMATS)
    except Image.DecompressionBombError as error:  # its header claims more than twice MAX_IMAGE_PIXELS
        raise ImageError(_too_large()) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(_unidentified(head)) from error
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise ImageError(_too_large(image.size))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # truncated data, a bad chunk, a broken stream
        image.close()
        raise ImageError(_undecodable(image.format or "image")) from error
    return image


def _to_8bit(image: Image.Image) -> Image.Image:
    """High bit-depth grayscale ("I;16*", "I" (32-bit integer), "F" (32-bit float)) -> 8-bit "L", linearly.

    Black and white are, for integers: 0 (or the minimum, when negative) and the top of the smallest range
    holding the values: 255 for an "I" image within 0..255, 65535 within 0..65535 (always for "I;16*": its
    mode's range), else the image's maximum. For floats: 0 and 1 when the values lie in [0, 1], else the
    image's own minimum and maximum. NaN becomes black, +-inf the range's ends.
    """
    array = np.asarray(image, dtype=np.float32)
    finite = np.isfinite(array)
    values = array if finite.all() else array[finite]
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode == "F" and low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0
    elif image.mode != "F" and low >= 0.0:  # integers with negative values keep their own range
        low, high = 0.0, (255.0 if image.mode == "I" and high <= 255 else 65535.0 if high <= 65535 else high)
    array = np.nan_to_num(array, nan=low, posinf=high, neginf=low)
    scale = 255.0 / (high - low) if high > low else 0.0
    return Image.fromarray(np.clip((array - low) * scale + 0.5, 0, 255).astype(np.uint8), "L")


def sanitize_image(source, channels: int = 3) -> Image.Image:
    """Read any image and return a clean 8-bit ``RGB`` (``channels=3``) or ``L`` (``channels=1``) PIL image.

    Applies the EXIF orientation, flattens transparency onto white, converts palette, CMYK, LA, 16-bit and
    32-bit integer/float modes, and drops all metadata.

    Args:
        source: a ``PIL.Image``, a ``numpy`` uint8 array (H, W) or (H, W, C), raw encoded bytes,
            or a file path.
        channels: 3 for RGB, 1 for grayscale.

    Returns:
        A new ``PIL.Image`` with mode ``"RGB"`` or ``"L"`` and an empty ``info`` dict. Of an animated GIF or a
        multi-page TIFF, the first frame. High bit depths are scaled to 8 bits: 16 bits per channel by their
        range (0..65535), 32-bit integer and float grayscale as :func:`_to_8bit` says.

    Raises:
        ImageError: the file is missing, empty, not in one of :data:`FORMATS` (e.g. SVG, HTML, text),
            damaged or cut short, has no pixels, is larger than :data:`MAX_PIXELS` (refused from its header,
            before decoding), or has a pixel format that cannot be converted (e.g. CIELAB).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    image = _open(source)
    if image.width == 0 or image.height == 0:
        raise ImageError("it has no pixels (0 wide or 0 high). Upload a photo or drawing.")
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not make a good image unusable
        pass
    try:
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            image = _to_8bit(image)
        if image.mode == "P":
            image = image.convert("RGBA")
        if image.mode in ("RGBA", "LA", "PA"):
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image.convert("RGBA"))
        image = image.convert("RGB" if channels == 3 else "L")
    except ValueError as error:  # PIL converts most modes, not all (e.g. CIELAB)
        raise ImageError(f"its colour format ({image.mode}) cannot be converted. Save it as an ordinary PNG or "
                         "JPEG and upload that.") from error
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


def quantise(images: torch.Tensor) -> torch.Tensor:
    """Images float (B, C, H, W) in [-1, 1] -> float32 (B, C, H, W) on CPU on the 8-bit grid a saved PNG holds:
    exactly what reading that PNG back gives (``to_pixel_values(to_pil(x))``), as real photos are read. Fakes are
    quantised before they are compared with photos, or a classifier learns the quantisation."""
    return torch.from_numpy(to_uint8(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


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


def scale_for(size: int, longer_side: int) -> int:
    """The whole factor that brings ``size`` pixels closest to ``longer_side`` (at least 1)."""
    return max(1, round(longer_side / size))


def enlarge(image: Image.Image, factor: int) -> Image.Image:
    """Each pixel becomes a ``factor`` x ``factor`` block (nearest neighbour): samples and noise are shown exactly
    as the model made them (a smooth resampling would blur a diffusion model's noise or a PixelCNN's levels)."""
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def show(image: Image.Image, longer_side: int) -> Image.Image:
    """:func:`enlarge` by :func:`scale_for` the image's longer side."""
    return enlarge(image, scale_for(max(image.size), longer_side))
