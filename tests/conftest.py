"""The tests' one helper module: shared fixtures (small slices of ../shared/data, or scikit-image's faces on a
machine without it; tiny trained exports), launching a demo or the app, hostile files for image endpoints, and the
quiz's helpers. Test files import from here, never from each other."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

# Set before any Hugging Face import (none above reads them): tests never reach the network or write the repo.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GENHUB_STATS_DIR", tempfile.mkdtemp(prefix="genhub-stats-"))

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def write_parquet_slice(source: Path, target: Path, rows: dict[str, int]) -> Path:
    """Copy the first N rows of each split of a Hub-layout parquet folder (schema metadata kept)."""
    target.mkdir(parents=True, exist_ok=True)
    for split, count in rows.items():
        table = pq.read_table(next(source.glob(f"{split}-*.parquet")))
        pq.write_table(table.slice(0, count), target / f"{split}-00000-of-00001.parquet")
    return target


def _faces_from_skimage(target: Path, rows: dict[str, int]) -> Path:
    import datasets
    from skimage.data import lfw_subset

    faces = (lfw_subset()[:100] * 255).astype(np.uint8)
    target.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, count in rows.items():
        images = [np.repeat(face[:, :, None], 3, axis=2) for face in faces[start:start + count]]
        start += count
        table = datasets.Dataset.from_dict({"image": images}, features=datasets.Features({"image": datasets.Image()}))
        table.to_parquet(str(target / f"{split}-00000-of-00001.parquet"))
    return target


@pytest.fixture(scope="session")
def faces_dir(tmp_path_factory) -> Path:
    """A parquet folder in the Hub's layout: 64 train + 16 test faces (64x64 RGB)."""
    target = tmp_path_factory.mktemp("faces")
    rows = {"train": 64, "test": 16}
    if (SHARED_DATA / "faces_celeba").is_dir():
        return write_parquet_slice(SHARED_DATA / "faces_celeba", target, rows)
    return _faces_from_skimage(target, rows)


def tiny_dcgan_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a DCGAN small enough to train in a second on two cores."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--resolution", "32", "--ngf", "8",
            "--ndf", "8", "--latent_dim", "16", "--train_batch_size", "8", "--num_grid_images", "4",
            "--save_images_steps", "5", *extra]


def tiny_ddpm_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a DDPM (a two-level UNet, 16 px, T = 100) small enough to train a step in well under a second."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--resolution", "16",
            "--block_out_channels", "8", "16", "--attention_levels", "1", "--norm_num_groups", "4",
            "--ddpm_num_steps", "100", "--ddpm_num_inference_steps", "2", "--lr_warmup_steps", "2",
            "--train_batch_size", "8", "--num_grid_images", "4", "--save_images_steps", "5", *extra]


def train_tiny(family: str, argv: list[str]) -> Path:
    """Train ``genhub.train.<family>`` through its real entry point (``main(parse_args(argv))``) on one torch
    thread; returns the export folder."""
    import importlib

    module = importlib.import_module(f"genhub.train.{family}")
    with one_torch_thread():
        return module.main(module.parse_args(argv))


@pytest.fixture(scope="session")
def tiny_export(faces_dir, tmp_path_factory) -> Path:
    """A DCGAN export trained for 6 steps through the real training entry point."""
    output = tmp_path_factory.mktemp("export") / "dcgan"
    return train_tiny("dcgan", tiny_dcgan_args(faces_dir, output, "--max_train_steps", "6"))


@pytest.fixture(scope="session")
def tiny_ddpm_export(faces_dir, tmp_path_factory) -> Path:
    """A DDPM export (16 px, T = 100) trained for 3 steps through the real training entry point."""
    output = tmp_path_factory.mktemp("export") / "ddpm"
    return train_tiny("ddpm", tiny_ddpm_args(faces_dir, output, "--max_train_steps", "3"))


def _shared(folder: str) -> Path:
    if not (SHARED_DATA / folder).is_dir():
        pytest.skip(f"needs ../shared/data/{folder}")
    return SHARED_DATA / folder


@pytest.fixture(scope="session")
def sketch_dir(tmp_path_factory) -> Path:
    """Paired pix2pix data (``input`` sketch, ``target`` photo, 128x128): 16 train + 4 test rows."""
    return write_parquet_slice(_shared("sketch2face_celeba_128"), tmp_path_factory.mktemp("sketch2face"),
                               {"train": 16, "test": 4})


@pytest.fixture(scope="session")
def eyeglasses_dir(tmp_path_factory) -> Path:
    """Unpaired CycleGAN data (64x64, ``domain`` A/B): train 12 A + 8 B, test 3 A + 2 B rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    source, target = _shared("unpaired_celeba_eyeglasses"), tmp_path_factory.mktemp("eyeglasses")
    for split, counts in {"train": (12, 8), "test": (3, 2)}.items():
        table = pq.read_table(next(source.glob(f"{split}-*.parquet")))
        parts = [table.filter(pc.equal(table["domain"], domain)).slice(0, count)
                 for domain, count in zip("AB", counts)]
        pq.write_table(pa.concat_tables(parts), target / f"{split}-00000-of-00001.parquet")
    return target


def tiny_pix2pix_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a pix2pix small enough to train a step in well under a second on two cores."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--input_column", "input",
            "--target_column", "target", "--input_name", "sketch", "--target_name", "face", "--resolution", "32",
            "--ngf", "4", "--ndf", "4", "--train_batch_size", "4", "--num_grid_images", "2", "--save_images_steps", "5",
            *extra]


def tiny_cyclegan_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a CycleGAN small enough to train a step in well under a second on two cores."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--domain_column", "domain",
            "--domain_a_name", "no_eyeglasses", "--domain_b_name", "eyeglasses", "--resolution", "32", "--ngf", "4",
            "--ndf", "4", "--n_blocks", "1", "--train_batch_size", "2", "--pool_size", "3", "--num_grid_images", "4",
            "--save_images_steps", "5", *extra]


@pytest.fixture(scope="session")
def tiny_pix2pix_export(sketch_dir, tmp_path_factory) -> Path:
    """A pix2pix export trained for 4 steps through the real training entry point."""
    output = tmp_path_factory.mktemp("export") / "pix2pix"
    return train_tiny("pix2pix", tiny_pix2pix_args(sketch_dir, output, "--max_train_steps", "4"))


@pytest.fixture(scope="session")
def tiny_cyclegan_export(eyeglasses_dir, tmp_path_factory) -> Path:
    """A CycleGAN export trained for 4 steps through the real training entry point."""
    output = tmp_path_factory.mktemp("export") / "cyclegan"
    return train_tiny("cyclegan", tiny_cyclegan_args(eyeglasses_dir, output, "--max_train_steps", "4"))


def _labelled_faces_from_skimage(target: Path, rows: dict[str, int]) -> Path:
    import datasets
    from skimage.data import lfw_subset

    faces = (lfw_subset()[:100] * 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    target.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, count in rows.items():
        images = [np.repeat(face[:, :, None], 3, axis=2) for face in faces[start:start + count]]
        start += count
        columns = {"image": images, "has_attributes": [True] * count,
                   **{name: rng.integers(0, 2, count).astype(np.int8).tolist() for name in ("Eyeglasses", "Smiling")}}
        features = datasets.Features({"image": datasets.Image(), "has_attributes": datasets.Value("bool"),
                                      "Eyeglasses": datasets.Value("int8"), "Smiling": datasets.Value("int8")})
        table = datasets.Dataset.from_dict(columns, features=features)
        table.to_parquet(str(target / f"{split}-00000-of-00001.parquet"))
    return target


@pytest.fixture(scope="session")
def labelled_faces_dir(tmp_path_factory) -> Path:
    """Like ``faces_dir`` (64 train + 16 test, 64x64 RGB) but only rows whose attribute columns are filled,
    so the folder carries CelebA's 40 binary attributes (1/0) next to the image."""
    import pyarrow.compute as pc

    target = tmp_path_factory.mktemp("labelled-faces")
    rows = {"train": 64, "test": 16}
    source = SHARED_DATA / "faces_celeba"
    if not source.is_dir():
        return _labelled_faces_from_skimage(target, rows)
    for split, count in rows.items():
        table = pq.read_table(next(source.glob(f"{split}-*.parquet")))
        table = table.filter(pc.field("has_attributes"))
        pq.write_table(table.slice(0, count), target / f"{split}-00000-of-00001.parquet")
    return target


def tiny_vae_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a VAE small enough to train in a second on two cores."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--resolution", "32",
            "--hidden_channels", "8", "--latent_dim", "8", "--train_batch_size", "8", "--num_grid_images", "8",
            "--save_images_steps", "5", "--min_attribute_count", "2", *extra]


def tiny_autoencoder_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for an autoencoder small enough to train in a second on two cores (the tiny VAE's networks)."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--resolution", "32",
            "--hidden_channels", "8", "--latent_dim", "8", "--train_batch_size", "8", "--num_grid_images", "8",
            "--save_images_steps", "5", *extra]


@pytest.fixture(scope="session")
def faces_and_nonfaces() -> str:
    """DB-VAE data that ships inside scikit-image: domain A = 100 LFW faces, B = 100 non-face patches."""
    return "lfw-subset-faces-vs-patches"


def tiny_dbvae_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a DB-VAE on one source holding faces (domain A) and non-faces (B), small enough for a second."""
    return ["--dataset", str(dataset), "--domain_column", "domain", "--output_dir", str(output_dir), "--resolution",
            "32", "--hidden_channels", "8", "--latent_dim", "4", "--train_batch_size", "4", "--num_grid_images", "8",
            "--save_images_steps", "5", *extra]


def tiny_pixelcnn_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a grayscale PixelCNN at 8 px, 4 levels, 2 layers of 8 features: a step in milliseconds."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--resolution", "8", "--hidden_channels",
            "8", "--num_layers", "2", "--num_levels", "4", "--train_batch_size", "8", "--num_grid_images", "2",
            "--save_images_steps", "50", *extra]


@pytest.fixture(scope="session")
def tiny_pixelcnn_export(faces_dir, tmp_path_factory) -> Path:
    """A PixelCNN export (8 px, 4 levels) trained for 3 steps through the real training entry point."""
    output = tmp_path_factory.mktemp("export") / "pixelcnn"
    return train_tiny("pixelcnn", tiny_pixelcnn_args(faces_dir, output, "--max_train_steps", "3"))


def tiny_cgan_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a conditional DCGAN on two CelebA attributes, small enough to train a step in milliseconds."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--resolution", "32", "--ngf", "8", "--ndf",
            "8", "--latent_dim", "16", "--attributes", "Male", "Smiling", "--train_batch_size", "8",
            "--num_grid_images", "6", "--save_images_steps", "5", *extra]


def tiny_stylegan_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a style-based GAN grown 4 -> 8 -> 16 px over two-step stages, small enough for milliseconds a step."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--resolution", "16", "--latent_dim", "16",
            "--w_dim", "16", "--mapping_layers", "2", "--channel_base", "64", "--max_channels", "16",
            "--stage_steps", "2", "--fade_steps", "2", "--r1_interval", "2", "--train_batch_size", "8",
            "--num_grid_images", "4", "--save_images_steps", "5", *extra]


@pytest.fixture(scope="session")
def tiny_stylegan_export(faces_dir, tmp_path_factory) -> Path:
    """A style-based GAN export (16 px) trained for 8 steps through the real entry point: stages/4px and 8px too."""
    output = tmp_path_factory.mktemp("export") / "stylegan"
    return train_tiny("stylegan", tiny_stylegan_args(faces_dir, output, "--max_train_steps", "8"))


@pytest.fixture(scope="session")
def voices_dir(tmp_path_factory) -> Path:
    """Two synthetic voices (genhub.voices, numpy source-filter: no espeak-ng needed): 4 clips per voice for training,
    2 held out, 2 sentences said by both (the paired split)."""
    from genhub.voices import make_speech_domains

    folder = tmp_path_factory.mktemp("voices")
    make_speech_domains(folder, num_train=4, num_test=2, num_paired=2, seed=0, synthetic=True)
    return folder


def tiny_voice_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a voice CycleGAN on 64 x 64 log-mel windows, small enough to train a step in a fraction of a second."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--domain_column", "voice", "--modality",
            "audio", "--resolution", "64", "--ngf", "4", "--ndf", "4", "--n_blocks", "1", "--pool_size", "3",
            "--train_batch_size", "2", "--num_grid_images", "2", "--save_images_steps", "5", *extra]


@pytest.fixture(scope="session")
def tiny_voice_export(voices_dir, tmp_path_factory) -> Path:
    """A voice CycleGAN export trained for 2 steps through the real entry point."""
    output = tmp_path_factory.mktemp("export") / "voices"
    return train_tiny("cyclegan", tiny_voice_args(voices_dir, output, "--max_train_steps", "2"))


def tiny_feature_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a face feature network small enough to train a step in well under a second."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--resolution", "32", "--width", "4",
            "--train_batch_size", "8", "--num_grid_images", "4", "--save_images_steps", "5", *extra]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(demo, **launch_options):
    """``demo`` queued and launched on a free local port as app.py launches it (``launch_options`` added): yields its
    URL; closed afterwards."""
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                        **launch_options)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextlib.contextmanager
def client_of(demo):
    """``demo`` launched (:func:`serving`): yields (demo, a gradio_client ``Client`` of it); closed afterwards."""
    from gradio_client import Client

    with serving(demo) as url:
        yield demo, Client(url, verbose=False)


@contextlib.contextmanager
def served_tab(module, models: dict):
    """A tab module's ``build(demo, models)`` in its own ``gr.Blocks``, launched (:func:`client_of`): yields (demo, a
    gradio_client ``Client`` of it); closed afterwards."""
    import gradio as gr

    with gr.Blocks() as demo:
        module.build(demo, models)
    with client_of(demo) as both:
        yield both


@contextlib.contextmanager
def one_torch_thread():
    """Tiny models on a busy 2-core machine: one intra-op thread avoids OpenMP oversubscription, which
    made a 40-step tiny run 20x slower (20 s instead of 1 s) while another job used the cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_thread():
    """:func:`one_torch_thread` for a whole test module: ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def tiny_vae_export(labelled_faces_dir, tmp_path_factory) -> Path:
    """A VAE export (with its latent files) trained for 60 steps through the real training entry point:
    enough to reconstruct faces far better than noise (held-out MSE about 0.05 on [0, 1] pixels)."""
    output = tmp_path_factory.mktemp("export") / "vae"
    return train_tiny("vae", tiny_vae_args(labelled_faces_dir, output, "--max_train_steps", "60", "--train_batch_size",
                                           "16", "--learning_rate", "2e-3"))


@pytest.fixture(scope="session")
def feature_network(faces_dir, tmp_path_factory):
    """A face feature network trained for 3 steps through training/train_face_features.py."""
    from genhub.train import face_features as train_face_features

    output = tmp_path_factory.mktemp("features") / "face-features"
    train_face_features.main(train_face_features.parse_args([
        "--dataset", str(faces_dir), "--output_dir", str(output), "--resolution", "32", "--width", "8",
        "--train_batch_size", "16", "--max_train_steps", "3", "--num_grid_images", "4"]))
    return output


def png_pixels(path) -> np.ndarray:
    """A served image file, which must be a PNG, as int RGB pixels (H, W, 3)."""
    image = Image.open(path)
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB")).astype(int)


# ------------------------------------------------------------------------------------------- hostile files
#: What a clear message never contains: a temp path, a traceback, an exception class, PIL's name or text, or
#: Gradio's generic wrapper of an unexpected exception.
UNCLEAR = re.compile(rf"{re.escape(tempfile.gettempdir())}|/tmp|Traceback|\b[A-Z]\w*(Error|Exception)\b|PIL"
                     r"|cannot identify|upstream Gradio app")
#: The sanitiser's refusals of a file as such (not of its size or content): a readable file never gets one.
FILE_REFUSALS = re.compile(r"cannot be decoded|not an image file|larger than the|is empty \(0 bytes\)|SVG")


def encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, bit_depth: int, colour_type: int, rows) -> bytes:
    """A PNG written by hand (PIL cannot write 48-bit RGB): ``rows`` yields each scanline's bytes, unfiltered."""
    stream = zlib.compressobj(1)
    data = b"".join(stream.compress(b"\x00" + row) for row in rows) + stream.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header (IHDR, with a valid CRC) claims ``width`` x ``height`` pixels."""
    data = bytearray(encoded(Image.new("L", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def hostile_files() -> dict[str, tuple[bytes, bool]]:
    """name -> (bytes, readable): readable files are odd but valid images; the others must be refused."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    png, jpeg = encoded(photo, "PNG"), encoded(photo, "JPEG")
    bad_crc = bytearray(png)
    bad_crc[29] ^= 0xFF  # the IHDR chunk's CRC
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    frames = [Image.new("RGB", (40, 40), colour) for colour in ("red", "green", "blue")]
    gif, tiff_pages = io.BytesIO(), io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(tiff_pages, format="TIFF", save_all=True, append_images=frames[1:])
    palette = Image.new("P", (40, 40))
    palette.putpalette([0, 0, 255] * 256)
    gradient = np.linspace(0, 1, 48 * 48, dtype=np.float32).reshape(48, 48)
    rgb48 = (rng.random((48, 48, 3)) * 65535).astype(">u2")
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle r="9"/></svg>'
    html = b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"
    return {
        "empty.png": (b"", False),
        "random-bytes.png": (rng.bytes(4096), False),
        "truncated.png": (png[: len(png) // 2], False),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], False),
        "bad-crc.png": (bytes(bad_crc), False),
        "bomb-header.png": (_png_claiming(30000, 30000), False),  # 67 bytes
        "huge-header.png": (_png_claiming(9000, 9000), False),  # beyond our limit, below PIL's default one
        # 2.9 MB of real pixel data: 13000x13000 RGBA, below PIL's default limit (Gradio decoded it: +1.3 GB)
        "bomb.png": (_png(13000, 13000, 8, 6, (bytes(13000 * 4) for _ in range(13000))), False),
        "drawing.svg": (svg, False),
        "svg-named.png": (svg, False),
        "html-named.png": (html, False),
        "text-named.jpg": (b"this is not an image, just some text\n" * 20, False),
        "1x1.png": (encoded(Image.new("RGB", (1, 1), "blue"), "PNG"), True),
        "4000x200.png": (encoded(Image.new("RGB", (4000, 200), "green"), "PNG"), True),
        "rgba.png": (encoded(Image.new("RGBA", (64, 64), (255, 0, 0, 128)), "PNG"), True),
        "cmyk.jpg": (encoded(photo.convert("CMYK"), "JPEG"), True),
        "gray16.png": (encoded(Image.fromarray((gradient * 65535).astype(np.uint16)), "PNG"), True),
        "rgb48.png": (_png(48, 48, 16, 2, (row.tobytes() for row in rgb48)), True),
        "int32.tif": (encoded(Image.fromarray((gradient * 2e9).astype(np.int32)), "TIFF"), True),
        "float32.tif": (encoded(Image.fromarray(gradient), "TIFF"), True),
        "palette.png": (encoded(palette, "PNG"), True),
        "exif-rotated.jpg": (encoded(photo.crop((0, 0, 64, 32)), "JPEG", exif=exif), True),
        "animated.gif": (gif.getvalue(), True),
        "multipage.tif": (tiff_pages.getvalue(), True),
    }


def image_inputs() -> tuple[type, ...]:
    """The components an uploaded image arrives through (``gr.Sketchpad`` is a ``gr.ImageEditor``)."""
    import gradio as gr

    return gr.Image, gr.File, gr.ImageEditor


def image_endpoints(demo) -> list:
    """The demo's public events that take an image (upload, file or drawing)."""
    return [fn for fn in demo.fns.values()
            if fn.api_visibility == "public" and any(isinstance(block, image_inputs()) for block in fn.inputs)]


def endpoint_arguments(fn, path: Path | None) -> list:
    """The endpoint's API arguments: ``path`` for every image input, the component's default for the rest."""
    import gradio as gr
    from gradio_client import handle_file

    arguments = []
    for block in fn.inputs:
        if isinstance(block, gr.State):
            continue  # kept on the server, not part of the API
        if isinstance(block, gr.ImageEditor):
            arguments.append({"background": None, "layers": [], "composite": handle_file(str(path)), "id": None})
        elif isinstance(block, image_inputs()):
            arguments.append(handle_file(str(path)))
        else:
            arguments.append(block.value)
    return arguments


def endpoint_answer(client, fn, path: Path) -> str:
    """"ok" for ``client``'s call of the endpoint ``fn`` with ``path`` as its image, else the AppError's message."""
    from gradio_client.exceptions import AppError

    try:
        client.predict(*endpoint_arguments(fn, path), api_name=f"/{fn.api_name}")
    except AppError as error:
        return str(error)
    return "ok"


def assert_hostile_files_answered_clearly(client, endpoints: list, folder: Path) -> None:
    """Every :func:`hostile_files` file sent to every endpoint in ``endpoints`` (of :func:`image_endpoints`) through
    ``client``: a readable one gets a result, the others one clear sentence refusing the file (no path, exception
    class or library text)."""
    for name, (payload, readable) in hostile_files().items():
        path = folder / name
        path.write_bytes(payload)
        for fn in endpoints:
            answer = endpoint_answer(client, fn, path)
            where = f"{name} -> /{fn.api_name}: {answer}"
            assert not UNCLEAR.search(answer), where
            if readable:
                assert answer == "ok", where
            else:
                assert answer.startswith("Cannot use this image: ") and answer.endswith("."), where
                assert FILE_REFUSALS.search(answer) or "pixels" in answer, where


# ------------------------------------------------------------------------------------------- the quiz
def wide_dcgan_export(tiny_export: Path, folder: Path) -> Path:
    """A 64 px DCGAN export (untrained weights) with ``tiny_export``'s training facts (its held-out faces)."""
    import torch

    from genhub.models import DCGAN

    torch.manual_seed(0)
    DCGAN(64, latent_dim=16, ngf=4, ndf=4).save_pretrained(folder)
    info = json.loads((tiny_export / "training_info.json").read_text())
    info["data"]["resolution"] = 64
    (folder / "training_info.json").write_text(json.dumps(info))
    return folder


def pair_pngs(html: str) -> list[bytes]:
    """The PNG bytes of the faces inline in a round's HTML (:func:`quiz_game.pair_html`), left then right."""
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


# ------------------------------------------------------------------------------------------- a launched app
def start_app(workdir: Path, *models: str) -> tuple[subprocess.Popen, str]:
    """``python app.py --no-train --model KEY=LOCATION ...`` run in ``workdir``, with its statistics in
    ``workdir/stats`` and Gradio's cache in ``workdir/gradio``; returns the process and its URL once it answers."""
    import httpx

    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GENHUB_STATS_DIR": str(workdir / "stats"),
           "GRADIO_TEMP_DIR": str(workdir / "gradio")}
    flags = [flag for model in models for flag in ("--model", model)]
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--no-train", *flags, "--port", str(port)],
                              cwd=workdir,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while True:
        assert server.poll() is None, "the app died while starting"
        assert time.monotonic() < deadline, "the app did not start"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return server, url
        time.sleep(0.5)
