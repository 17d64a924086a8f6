"""The hub app, launched for real and played through gradio_client."""

import functools
import runpy
import socket
import struct
import subprocess
import sys
import threading

import gradio as gr
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app
from conftest import ROOT
from genhub.app import loading, serving
from genhub.app.registry import DEFAULT_MODELS, parse_overrides, resolve_registry
from genhub.app.serving import GPU_MARKER, MAX_UPLOAD_BYTES, handler, served_png
from genhub.app.stats import QuizStats
from genhub.app.tabs import TABS, model_keys, tab
from genhub.data import DataError
from genhub.images import ImageError


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


def tab_labels(demo: gr.Blocks) -> list[str]:
    return [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)]


def public_api_names(demo: gr.Blocks) -> set[str]:
    return {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}


def test_module_level_demo_has_every_tab_of_the_table():
    assert [t.title for t in TABS] == ["Which face is fake?", "Image-to-image", "Latent explorer", "Models"]
    labels = tab_labels(app.demo)
    assert labels[:3] == [t.title for t in TABS[:3]]  # then the latent explorer's one sub-tab per model
    assert labels[3:] == [*tab("latent").keys, "Models"]
    texts = [block.value or "" for block in app.demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert texts[0].startswith("# genhub")
    for key in model_keys(TABS):  # no checkpoints/ in the test checkout: every model says how to get it
        location = resolve_registry()[key].location
        if not (ROOT / location).is_dir():
            assert any(f"Model **{key}** is not available" in text for text in texts), key


def test_running_app_py_builds_the_demo_once_from_the_command_line(tiny_export, monkeypatch):
    loads, launches = [], []
    real_load_models = loading.load_models

    def counting_load_models(keys=None, overrides=None):
        loads.append((list(keys), list(overrides or [])))
        return real_load_models(keys, overrides)

    monkeypatch.setattr(loading, "load_models", counting_load_models)
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: launches.append((self, kwargs)))
    monkeypatch.setattr(sys, "argv", ["app.py", "--model", f"dcgan-faces={tiny_export}", "--port", "7999"])
    module = runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
    assert loads == [(model_keys(TABS), [f"dcgan-faces={tiny_export}"])]  # every key once, one load
    assert launches == [(module["demo"], {"server_name": "127.0.0.1", "server_port": 7999,
                                          "max_file_size": MAX_UPLOAD_BYTES})]
    assert {"new_round", "guess_left"} <= public_api_names(module["demo"])  # the GAN from --model is served
    with pytest.raises(SystemExit):
        app.parse_settings(["--mod", "x"])  # no abbreviations: an unknown flag is refused


def test_app_settings_come_from_the_environment_and_the_command_line(monkeypatch):
    monkeypatch.setenv("GENHUB_QUIZ_DATASET", "from-env")
    settings = app.parse_settings([])
    assert (settings.model, settings.quiz_dataset, settings.port, settings.host) == ([], "from-env", 7860, "127.0.0.1")
    settings = app.parse_settings(["--model", "a=b", "--model", "c=d", "--quiz-dataset", "cli", "--host", "0.0.0.0"])
    assert (settings.model, settings.quiz_dataset, settings.host) == (["a=b", "c=d"], "cli", "0.0.0.0")


def test_serving_threads_are_an_explicit_setup_not_a_side_effect_of_loading(tmp_path):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        loading.load_models(["dcgan-faces"], [f"dcgan-faces={tmp_path}"])
        assert torch.get_num_threads() == 2
        serving.configure_threads()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_load_models_loads_only_the_keys_asked_for(tiny_export):
    models = loading.load_models(["dcgan-faces"], [f"dcgan-faces={tiny_export}"])
    assert list(models) == ["dcgan-faces"] and models["dcgan-faces"].error is None
    samples = models["dcgan-faces"].model.sample(3, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, 3, 32, 32) and samples.min() >= -1 and samples.max() <= 1
    with pytest.raises(ValueError, match="unknown model key 'nope'"):
        loading.load_models(["nope"])
    assert model_keys(TABS) == ["dcgan-faces", "pix2pix-sketch2face", "cyclegan-eyeglasses", "vae-faces"]
    assert model_keys([tab("latent")]) == ["vae-faces", "dcgan-faces"]
    with pytest.raises(ValueError, match="unknown tab 'nope'"):
        tab("nope")
    assert tab("latent", held_out_examples=False).options == {"held_out_examples": False}
    assert tab("latent").options == {}  # the table itself is not changed


# ------------------------------------------------------------------------------------------- the handler decorator
def test_handler_maps_our_errors_to_gr_error_and_lets_others_through():
    def failing(error):
        @handler(gpu_seconds=None)
        def fn():
            raise error
        return fn

    for error, message in [(ImageError("too small"), "Cannot use this image: too small"),
                           (DataError("no test split"), "no test split"),
                           (ValueError("side must be 0"), "side must be 0")]:
        with pytest.raises(gr.Error) as raised:
            failing(error)()
        assert raised.value.message == message
    with pytest.raises(RuntimeError, match="a bug"):
        failing(RuntimeError("a bug"))()  # a bug is not dressed up as the user's mistake


def test_handler_wraps_model_events_in_spaces_gpu_and_marks_them(monkeypatch):
    durations = []

    def fake_gpu(duration=None):
        durations.append(duration)
        return lambda fn: fn

    monkeypatch.setattr("spaces.GPU", fake_gpu)

    @handler(gpu_seconds=7)
    def model_event(x: int, evt: gr.SelectData):
        """doc"""
        return x

    @handler(gpu_seconds=None)
    def state_event():
        return 1

    assert durations == [7]  # only the event that runs a model asks for a GPU
    assert getattr(model_event, GPU_MARKER) == 7 and getattr(state_event, GPU_MARKER) is None
    assert model_event.__name__ == "model_event" and model_event.__doc__ == "doc"
    assert list(__import__("inspect").signature(model_event).parameters) == ["x", "evt"]  # Gradio reads it
    assert model_event.__annotations__["evt"] is gr.SelectData


def test_handler_serves_returned_images_as_atomic_png_paths():
    image = Image.new("RGB", (20, 10), (1, 2, 3))
    image.info["comment"] = "metadata must not leave"

    @handler(gpu_seconds=None)
    def event():
        return image, "text", None

    path, text, nothing = event()
    assert (text, nothing) == ("text", None) and path != served_png(image.copy())  # a new file each time
    served = Image.open(path)
    assert (served.format, served.size, served.mode, served.getpixel((0, 0))) == ("PNG", (20, 10), "RGB", (1, 2, 3))
    assert set(png_chunks(path)) == {b"IHDR", b"IDAT", b"IEND"}
    gray = Image.open(handler(gpu_seconds=None)(lambda: Image.new("L", (4, 4), 9))())
    assert gray.mode == "L" and gray.getpixel((0, 0)) == 9


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
    assert any("dcgan-faces" in t and "not available" in t and f"no folder `{tmp_path / 'absent'}`" in t
               and "python -m genhub.app.starters --keys dcgan-faces" in t for t in texts)


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


# ------------------------------------------------------------------------------------------- ZeroGPU on every event
#: Events that run no model (they read the session's state or the held-out data), by api name.
NON_MODEL_EVENTS = {"guess_left", "guess_right", "everyone", "select_model", "pick_example"}


@pytest.fixture(scope="module")
def gpu_calls():
    """While active, a stand-in for spaces.GPU that notes which thread is inside a GPU call, and a forward hook
    on every torch module that records any forward pass made outside one."""
    inside, outside = threading.local(), []

    def fake_gpu(duration=None):
        assert isinstance(duration, int) and duration > 0

        def wrap(fn):
            @functools.wraps(fn)
            def run(*args, **kwargs):
                inside.active = True
                try:
                    return fn(*args, **kwargs)
                finally:
                    inside.active = False
            return run
        return wrap

    def hook(module, args):
        if not getattr(inside, "active", False):
            outside.append(type(module).__name__)

    patch = pytest.MonkeyPatch()
    patch.setattr("spaces.GPU", fake_gpu)
    yield outside, hook
    patch.undo()


@pytest.fixture(scope="module")
def full_demo(gpu_calls, tiny_export, tiny_vae_export, tiny_pix2pix_export, tiny_cyclegan_export):
    return app.build_demo([f"dcgan-faces={tiny_export}", f"vae-faces={tiny_vae_export}",
                           f"pix2pix-sketch2face={tiny_pix2pix_export}", f"cyclegan-eyeglasses={tiny_cyclegan_export}"])


def test_the_full_demo_has_the_tables_tabs_and_api_names(full_demo):
    quiz, translate, latent, models = TABS
    assert tab_labels(full_demo) == [quiz.title, translate.title, "Picture", "Draw", latent.title, *latent.keys,
                                     models.title]
    assert public_api_names(full_demo) == {name for entry in TABS for name in entry.api_names}


def test_every_event_that_runs_a_model_is_wrapped_for_zerogpu(full_demo):
    events = list(full_demo.fns.values())
    assert len(events) > len(public_api_names(full_demo))  # the page-load and gallery events too
    unmarked = [fn.name for fn in events if not hasattr(fn.fn, GPU_MARKER)]
    assert unmarked == []  # every handler went through serving.handler
    no_model = {fn.api_name for fn in events if getattr(fn.fn, GPU_MARKER) is None}
    assert no_model == NON_MODEL_EVENTS
    assert all(getattr(fn.fn, GPU_MARKER) > 0 for fn in events if fn.api_name not in NON_MODEL_EVENTS)


def test_models_run_only_inside_gpu_calls_when_every_tab_is_played(full_demo, gpu_calls, launched, tmp_path):
    outside, hook = gpu_calls
    client = launched(full_demo)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (90, 60), (200, 150, 120)).save(photo)
    drawing = {"background": None, "layers": [], "composite": handle_file(str(photo)), "id": None}
    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        torch.nn.Linear(2, 2)(torch.zeros(1, 2))
        assert outside == ["Linear"]  # the hook sees a forward pass made outside a GPU call
        outside.clear()
        client.predict(api_name="/new_round")
        client.predict(api_name="/guess_right")
        for prefix, second_photo in (("vae_faces", [None]), ("dcgan_faces", [])):  # the DCGAN's takes no photo
            values = client.predict(5, api_name=f"/{prefix}_random_face")[1:-1]
            client.predict(*values, api_name=f"/{prefix}_edit")
            client.predict(*second_photo, 3, "linear", 1, api_name=f"/{prefix}_interpolate")
        client.predict(handle_file(str(photo)), api_name="/vae_faces_encode")
        client.predict(handle_file(str(photo)), 3, "spherical", None, api_name="/vae_faces_interpolate")
        client.predict(2, api_name="/vae_faces_held_out_face")
        for choice in ("cyclegan-eyeglasses:BA", "pix2pix-sketch2face"):
            client.predict(choice, api_name="/select_model")
            client.predict(choice, handle_file(str(photo)), "pad", api_name="/translate")
        client.predict("pix2pix-sketch2face", drawing, "crop", api_name="/translate_sketch")
    finally:
        handle.remove()
    assert outside == []
