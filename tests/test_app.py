"""The hub app, launched for real and played through gradio_client."""

import socket
import struct
import subprocess
import sys

import gradio as gr
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

import app
from conftest import ROOT
from genhub.app.registry import DEFAULT_MODELS, parse_overrides, resolve_registry
from genhub.app.stats import QuizStats


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def launched():
    """Launch a demo; yields a function that returns a client for it."""
    demos = []

    def launch(demo: gr.Blocks) -> Client:
        port = free_port()
        demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        demos.append(demo)
        return Client(f"http://127.0.0.1:{port}/", verbose=False)

    yield launch
    for demo in demos:
        demo.close()


def png_chunks(path) -> list[bytes]:
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunks.append(kind)
        offset += 12 + length
    return chunks


def test_module_level_demo_is_built():
    assert isinstance(app.demo, gr.Blocks)


def test_quiz_played_through_gradio_client(tiny_export, launched, tmp_path):
    stats = QuizStats(tmp_path / "quiz.sqlite")
    client = launched(app.build_demo([f"dcgan-faces={tiny_export}"], stats=stats))
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/new_round", "/guess_left", "/guess_right", "/everyone"} <= set(endpoints)
    assert "no rounds played yet" in client.predict(api_name="/everyone")

    left, right, verdict = client.predict(api_name="/new_round")
    assert verdict == ""  # nothing about the answer before the guess
    images = [Image.open(path) for path in (left, right)]
    assert [(im.format, im.size, im.mode) for im in images] == [("PNG", (256, 256), "RGB")] * 2
    assert [im.info for im in images] == [{}, {}]
    assert set(png_chunks(left)) == set(png_chunks(right)) == {b"IHDR", b"IDAT", b"IEND"}  # no metadata chunks
    assert left.rsplit("/", 1)[1] == right.rsplit("/", 1)[1]  # file names tell nothing

    verdict, score, everyone = client.predict(api_name="/guess_right")
    assert "The fake was on the **" in verdict and "discriminator" in verdict
    assert "/1 = " in score and "Discriminator:" in score
    assert "1 round played" in everyone and "| dcgan-faces | 1 |" in everyone
    with pytest.raises(AppError, match="No open round"):
        client.predict(api_name="/guess_left")

    played = 1
    for _ in range(3):
        client.predict(api_name="/new_round")
        verdict, score, everyone = client.predict(api_name="/guess_left")
        played += 1
        assert f"/{played} = " in score
    assert stats.totals().played == played and f"{played} rounds played" in client.predict(api_name="/everyone")


def test_sessions_do_not_share_rounds(tiny_export, launched):
    demo = app.build_demo([f"dcgan-faces={tiny_export}"])
    first = launched(demo)
    second = Client(first.src, verbose=False)
    first.predict(api_name="/new_round")
    with pytest.raises(AppError, match="No open round"):
        second.predict(api_name="/guess_left")
    first.predict(api_name="/guess_left")


def test_missing_model_tab_says_what_to_do(tmp_path):
    demo = app.build_demo([f"dcgan-faces={tmp_path / 'absent'}"])
    texts = [block.value for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("dcgan-faces" in t and "not available" in t and "make starter" in t for t in texts)


def test_registry_overrides(monkeypatch):
    assert parse_overrides(["dcgan-faces=a", "dcgan-faces=b,"]) == {"dcgan-faces": "b"}
    with pytest.raises(ValueError, match="not KEY=LOCATION"):
        parse_overrides(["dcgan-faces"])
    with pytest.raises(ValueError, match="unknown model key 'nope'"):
        parse_overrides(["nope=x"])
    monkeypatch.setenv("GENHUB_MODELS", "dcgan-faces=from-env/model")
    assert resolve_registry()["dcgan-faces"].location == "from-env/model"
    assert resolve_registry(["dcgan-faces=cli/model"])["dcgan-faces"].location == "cli/model"
    monkeypatch.delenv("GENHUB_MODELS")
    assert resolve_registry()["dcgan-faces"] == DEFAULT_MODELS["dcgan-faces"]


def test_readme_api_example_calls_every_tab(tiny_export, tiny_vae_export, tiny_pix2pix_export, launched, tmp_path):
    client = launched(app.build_demo([f"dcgan-faces={tiny_export}", f"vae-faces={tiny_vae_export}",
                                      f"pix2pix-sketch2face={tiny_pix2pix_export}"]))
    photo = tmp_path / "photo.png"
    Image.new("RGB", (90, 60), (200, 150, 120)).save(photo)
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "api_client.py"), client.src, str(photo)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for line in ("quiz: ### ", "random VAE face: ", "VAE reconstruction: ", "interpolation strip: ",
                 "DCGAN face, seed 3: ", "translation: "):
        assert line in result.stdout, result.stdout
    assert "not on this server" not in result.stdout
