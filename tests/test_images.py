import re
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import encoded
from genhub import images
from genhub.images import ImageError, center_crop_resize, make_grid, quantise, sanitize_image, to_pil, to_pixel_values


def test_rgba_is_flattened_on_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    out = sanitize_image(encoded(rgba, "PNG"))
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255)


def test_cmyk_palette_and_la_become_rgb():
    cmyk = Image.new("CMYK", (5, 3), (0, 255, 255, 0))  # red in CMYK
    assert sanitize_image(encoded(cmyk, "JPEG")).getpixel((2, 1))[0] > 200
    palette = Image.new("P", (3, 3))
    palette.putpalette([0, 0, 255] * 256)
    assert sanitize_image(encoded(palette, "PNG")).getpixel((0, 0)) == (0, 0, 255)
    assert sanitize_image(Image.new("LA", (2, 2), (10, 255))).getpixel((0, 0)) == (10, 10, 10)


def test_16_bit_grayscale_is_scaled_to_8_bits():
    array = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    out = sanitize_image(encoded(Image.fromarray(array), "PNG"), channels=1)
    assert out.mode == "L"
    assert np.asarray(out).tolist() == [[0, 255], [128, 4]]


def test_exif_orientation_is_applied_and_metadata_dropped():
    image = Image.new("RGB", (6, 2), (0, 128, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    out = sanitize_image(encoded(image, "JPEG", exif=exif))
    assert out.size == (2, 6)
    assert out.info == {}


def test_grayscale_to_three_channels_only_when_asked():
    gray = Image.new("L", (3, 3), 77)
    assert sanitize_image(gray, channels=1).mode == "L"
    assert sanitize_image(gray, channels=3).getpixel((1, 1)) == (77, 77, 77)


def _png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header (IHDR, with a valid CRC) claims ``width`` x ``height`` pixels."""
    data = bytearray(encoded(Image.new("L", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _png_rgb48(array: np.ndarray) -> bytes:
    """A 48-bit RGB PNG (16 bits per channel) of a uint16 (H, W, 3) array, written by hand: PIL cannot."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    height, width, _ = array.shape
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in array)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = encoded(Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)), "PNG")
JPEG = encoded(Image.new("RGB", (32, 32), "red"), "JPEG")
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'
READABLE = "(PNG, JPEG, WebP, BMP, TIFF, GIF)"


@pytest.mark.parametrize("payload, message", [
    (b"", "the file is empty (0 bytes). Upload a photo or drawing."),
    (b"not an image", f"it is not an image file genhub can read {READABLE}. Upload a photo or drawing."),
    (b"<!DOCTYPE html><html><body>hi</body></html>", f"it is not an image file genhub can read {READABLE}."),
    (SVG, "it is an SVG (vector) drawing; genhub reads bitmap images (PNG, JPEG, WebP, BMP, TIFF, GIF). Export it "
          "as PNG and upload that."),
    (PNG[:40], "it looks like a PNG file but cannot be decoded: it is damaged, cut short or an unusual variant. "
               "Save or export it again as an ordinary PNG or JPEG and upload that."),
    (PNG[:len(PNG) // 2], "it looks like a PNG file but cannot be decoded"),  # header fine, pixel data cut short
    (PNG[:29] + b"\x00\x00\x00\x00" + PNG[33:], "it looks like a PNG file but cannot be decoded"),  # bad IHDR CRC
    (JPEG[:len(JPEG) // 2], "it looks like a JPEG file but cannot be decoded"),
    (encoded(Image.new("RGB", (16, 16)), "ICO"), "it is not an image file genhub can read"),  # PIL reads it; we don't
])
def test_unusable_files_say_what_is_wrong_and_what_to_do(payload, message):
    with pytest.raises(ImageError) as raised:
        sanitize_image(payload)
    assert str(raised.value).startswith(message)
    assert not re.search(r"[A-Z]\w*Error|PIL|cannot identify|/", str(raised.value))  # no class, library text or path


def test_a_colour_format_pil_cannot_convert_is_refused_clearly():
    lab = encoded(Image.new("LAB", (4, 4), (50, 10, 10)), "TIFF")  # CIELAB: PIL makes RGB of it, not grayscale
    assert sanitize_image(lab).mode == "RGB"
    with pytest.raises(ImageError) as raised:
        sanitize_image(lab, channels=1)
    assert str(raised.value) == ("its colour format (LAB) cannot be converted. Save it as an ordinary PNG or JPEG "
                                 "and upload that.")


def test_files_are_refused_from_the_header_before_decoding(monkeypatch):
    message = ("it is larger than the 50,000,000-pixel limit. Shrink it (e.g. to 2000 pixels on the longer side) "
               "and upload it again.")
    with pytest.raises(ImageError) as raised:
        sanitize_image(_png_claiming(30000, 30000))  # PIL's own guard (MAX_IMAGE_PIXELS) refuses it in open()
    assert str(raised.value) == message
    with pytest.raises(ImageError, match=r"^it is 8000×6251 pixels, larger than the 50,000,000-pixel limit"):
        sanitize_image(_png_claiming(8000, 6251))  # ours: a pixel data stream this short would fail to decode
    assert Image.MAX_IMAGE_PIXELS == images.MAX_PIXELS
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(ImageError, match="11×10 pixels, larger than the 100-pixel limit"):
        sanitize_image(encoded(Image.new("RGB", (11, 10)), "PNG"))


def test_missing_file_says_upload_again_without_the_path(tmp_path):
    with pytest.raises(ImageError) as raised:
        sanitize_image(tmp_path / "nope.png")
    assert str(raised.value) == "the file is missing (an upload expires after a while). Upload it again."


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def _smooth(shape, rng) -> np.ndarray:
    """A picture-like array in [0, 1]: a gradient plus noise."""
    ramp = np.linspace(0, 1, shape[1])[None, :] * np.linspace(0.3, 1, shape[0])[:, None]
    ramp = ramp if len(shape) == 2 else ramp[:, :, None] * np.array([1.0, 0.6, 0.3])
    return np.clip(ramp + rng.normal(0, 0.05, shape), 0, 1)


@pytest.mark.parametrize("name", ["48-bit RGB PNG", "32-bit float TIFF in [0, 1]", "32-bit float TIFF, any range",
                                  "32-bit integer TIFF", "32-bit integer TIFF, 16-bit values",
                                  "32-bit signed integer TIFF"])
def test_high_bit_depth_keeps_the_picture(name):
    rng = np.random.default_rng(3)
    x = _smooth((40, 50, 3) if "RGB" in name else (40, 50), rng)
    if name == "48-bit RGB PNG":
        values = np.round(x * 65535).astype(np.uint16)
        payload, expected = _png_rgb48(values), values / 65535 * 255
    elif name == "32-bit float TIFF in [0, 1]":
        payload, expected = encoded(Image.fromarray(x.astype(np.float32)), "TIFF"), x * 255
    elif name == "32-bit float TIFF, any range":  # e.g. a depth map or a physical quantity: its own range
        values = (x * 40 - 7).astype(np.float32)
        payload, expected = encoded(Image.fromarray(values), "TIFF"), (values - values.min()) / np.ptp(values) * 255
    elif name == "32-bit integer TIFF":  # beyond 16 bits: 0 to its maximum
        values = np.round(x * 3e9 / 2).astype(np.int32)
        payload, expected = encoded(Image.fromarray(values), "TIFF"), values / values.max() * 255
    elif name == "32-bit integer TIFF, 16-bit values":  # 16-bit data stored in 32 bits: the 16-bit range
        values = np.round(x * 40000).astype(np.int32)
        payload, expected = encoded(Image.fromarray(values), "TIFF"), values / 65535 * 255
    else:  # negative values: its own range
        values = np.round((x - 0.5) * 2e6).astype(np.int32)
        payload, expected = (encoded(Image.fromarray(values), "TIFF"),
                             (values - values.min()) / np.ptp(values) * 255)
    out = np.asarray(sanitize_image(payload, channels=3 if "RGB" in name else 1)).astype(float)
    assert out.shape == expected.shape
    assert _correlation(out, expected) > 0.99
    assert abs(out.std() - expected.std()) < 1.0 and abs(out.mean() - expected.mean()) < 1.0


def test_float_images_with_nan_and_infinity_are_rendered_not_refused():
    values = np.array([[0.0, 0.5], [np.nan, np.inf]], dtype=np.float32)
    assert np.asarray(sanitize_image(encoded(Image.fromarray(values), "TIFF"), 1)).tolist() == [[0, 128], [0, 255]]


def test_pixel_values_round_trip_exactly():
    array = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    pixel_values = to_pixel_values(Image.fromarray(array))
    assert pixel_values.shape == (3, 5, 7) and pixel_values.dtype == torch.float32
    assert pixel_values.min() >= -1 and pixel_values.max() <= 1
    assert np.array_equal(np.asarray(to_pil(pixel_values)), array)


def test_center_crop_resize_takes_the_middle_square():
    image = Image.new("RGB", (30, 10), (0, 0, 0))
    image.paste((255, 255, 255), (10, 0, 20, 10))  # white centre square
    out = center_crop_resize(image, 10)
    assert out.size == (10, 10) and out.getpixel((5, 5)) == (255, 255, 255)


def test_make_grid_tiles_in_rows():
    batch = torch.stack([torch.full((3, 4, 4), v) for v in (-1.0, 1.0, -1.0)])
    grid = make_grid(batch, nrow=2, padding=1)
    assert grid.size == (2 * 5 + 1, 2 * 5 + 1)
    assert grid.getpixel((1, 1)) == (0, 0, 0) and grid.getpixel((6, 1)) == (255, 255, 255)



@pytest.mark.parametrize("channels", [1, 3])
def test_quantise_is_what_reading_the_saved_png_back_gives(channels):
    images = torch.rand(3, channels, 5, 7, generator=torch.Generator().manual_seed(channels)) * 2.4 - 1.2
    expected = torch.stack([to_pixel_values(to_pil(image)) for image in images])
    assert torch.equal(quantise(images), expected)
    assert quantise(images).abs().max() <= 1 and not torch.equal(quantise(images), images.clamp(-1, 1))
