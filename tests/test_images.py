import io

import numpy as np
import pytest
import torch
from PIL import Image

from genhub import images
from genhub.images import ImageError, center_crop_resize, make_grid, sanitize_image, to_pil, to_pixel_values


def _encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_rgba_is_flattened_on_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    out = sanitize_image(_encoded(rgba, "PNG"))
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255)


def test_cmyk_palette_and_la_become_rgb():
    cmyk = Image.new("CMYK", (5, 3), (0, 255, 255, 0))  # red in CMYK
    assert sanitize_image(_encoded(cmyk, "JPEG")).getpixel((2, 1))[0] > 200
    palette = Image.new("P", (3, 3))
    palette.putpalette([0, 0, 255] * 256)
    assert sanitize_image(_encoded(palette, "PNG")).getpixel((0, 0)) == (0, 0, 255)
    assert sanitize_image(Image.new("LA", (2, 2), (10, 255))).getpixel((0, 0)) == (10, 10, 10)


def test_16_bit_grayscale_is_scaled_to_8_bits():
    array = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    out = sanitize_image(_encoded(Image.fromarray(array), "PNG"), channels=1)
    assert out.mode == "L"
    assert np.asarray(out).tolist() == [[0, 255], [128, 4]]


def test_exif_orientation_is_applied_and_metadata_dropped():
    image = Image.new("RGB", (6, 2), (0, 128, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    out = sanitize_image(_encoded(image, "JPEG", exif=exif))
    assert out.size == (2, 6)
    assert out.info == {}


def test_grayscale_to_three_channels_only_when_asked():
    gray = Image.new("L", (3, 3), 77)
    assert sanitize_image(gray, channels=1).mode == "L"
    assert sanitize_image(gray, channels=3).getpixel((1, 1)) == (77, 77, 77)


@pytest.mark.parametrize("payload", [b"", b"not an image", _encoded(Image.new("RGB", (8, 8)), "PNG")[:40]])
def test_corrupt_bytes_give_a_clear_error(payload):
    with pytest.raises(ImageError, match="cannot read the image"):
        sanitize_image(payload)


def test_huge_image_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(ImageError, match="larger than"):
        sanitize_image(_encoded(Image.new("RGB", (11, 10)), "PNG"))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ImageError, match="no such image file"):
        sanitize_image(tmp_path / "nope.png")


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

