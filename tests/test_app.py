"""The hub app, launched for real and played through gradio_client."""

import contextlib
import functools
import inspect
import io
import json
import re
import runpy
import shutil
import struct
import subprocess
import sys
import threading

import gradio as gr
import pytest
import soundfile
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

import app
from conftest import ROOT, client_of, pair_pngs, tiny_autoencoder_args, tiny_cgan_args, tiny_dbvae_args, train_tiny
from genhub.app import loading, serving
from genhub.app.registry import DEFAULT_MODELS, parse_overrides, resolve_registry
from genhub.app.serving import ANALYTICS_EVERY, GPU_MARKER, MAX_UPLOAD_BYTES, handler, served_png
from genhub.app.stats import QuizStats
from genhub.app.tabs import TABS, model_keys, tab
from genhub.audio import synthetic_voice
from genhub.data import DataError
from genhub.images import ImageError


@pytest.fixture
def launched():
    """Launch a demo; yields a function that returns a client for it (every demo closed afterwards)."""
    with contextlib.ExitStack() as stack:
        yield lambda demo: stack.enter_context(client_of(demo))[1]


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunks.append(kind)
        offset += 12 + length
    return chunks


#: The Diffusion tab's own sub-tabs, when its model is loaded.
DIFFUSION_SUB_TABS = ["Sampling", "Forward process", "DDIM inversion"]
#: The Latent explorer's sub-tabs: one per model but the autoencoder, which is compared with the VAE in the last.
AUTOREGRESSIVE_SUB_TABS = ["Sample", "Complete", "Likelihood as an outlier score"]
LATENT_SUB_TABS = ["vae-faces", "dcgan-faces", "Autoencoder vs VAE"]
TRANSLATE_SUB_TABS = ["Picture", "Draw"]


def tab_labels(demo: gr.Blocks) -> list[str]:
    return [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)]


def public_api_names(demo: gr.Blocks) -> set[str]:
    return {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}


def test_module_level_demo_has_every_tab_of_the_table():
    assert [t.title for t in TABS] == ["Which face is fake?", "Image-to-image", "Latent explorer", "Diffusion",
                                       "Conditional GAN", "Style mixing", "Autoregressive", "Voice conversion",
                                       "Fairness", "Models"]
    # every tab is laid out whole, its models present or not (they may land while the app runs)
    assert tab_labels(app.demo) == ["Which face is fake?", "Image-to-image", *TRANSLATE_SUB_TABS, "Latent explorer",
                                    *LATENT_SUB_TABS, "Diffusion", *DIFFUSION_SUB_TABS, "Conditional GAN",
                                    "Style mixing", "Autoregressive", *AUTOREGRESSIVE_SUB_TABS, "Voice conversion",
                                    "Fairness", "Models"]
    texts = [block.value or "" for block in app.demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert texts[0].startswith("# genhub")
    for key in model_keys(TABS):  # no checkpoints/ in the test checkout: every model says how to get it
        location = resolve_registry()[key].location
        if not (ROOT / location).is_dir():
            assert any(f"Model **{key}** is not available" in text for text in texts), key


def test_running_app_py_builds_the_demo_once_from_the_command_line(tiny_export, monkeypatch):
    monkeypatch.delenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", raising=False)  # what launch sets is undone afterwards
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
    queue = module["demo"]._queue  # serving.QUEUE: positions re-estimated every 5 s, not after every job
    assert (queue.live_updates, queue.update_intervals, queue.default_concurrency_limit) == (False, 5, 4)
    assert queue.ANAYLTICS_CACHE_FREQUENCY == ANALYTICS_EVERY  # not a DataFrame of past events after every event
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
    assert model_keys(TABS) == ["dcgan-faces", "vae-faces", "stylegan-faces", "ddpm-faces", "pix2pix-sketch2face",
                                "cyclegan-eyeglasses", "autoencoder-faces", "cgan-faces", "pixelcnn-faces",
                                "cyclegan-voices", "face-cnn", "dbvae-faces-alpha-inf", "dbvae-faces-alpha-1",
                                "dbvae-faces-alpha-0.1", "dbvae-faces-alpha-0.01"]
    assert model_keys([tab("latent")]) == ["vae-faces", "dcgan-faces", "autoencoder-faces"]
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
    assert set(png_chunks(open(path, "rb").read())) == {b"IHDR", b"IDAT", b"IEND"}
    gray = Image.open(handler(gpu_seconds=None)(lambda: Image.new("L", (4, 4), 9))())
    assert gray.mode == "L" and gray.getpixel((0, 0)) == 9


def test_handler_passes_a_duration_callable_to_spaces_gpu(monkeypatch):
    """spaces 0.51's ZeroGPU wrapper calls a callable ``duration`` with the task's arguments on every call
    (``spaces.zero.wrappers.static_duration``, which imports only on a GPU machine): it must arrive unchanged."""
    durations = []
    monkeypatch.setattr("spaces.GPU", lambda duration=None: durations.append(duration) or (lambda fn: fn))

    def per_step(steps, images):
        return 5 + steps * images // 100

    @handler(gpu_seconds=per_step)
    def event(steps, images):
        return steps * images

    assert durations == [per_step] and getattr(event, GPU_MARKER) is per_step
    assert event(50, 4) == 200
    assert durations[0](50, 4) == 7 and durations[0](500, 4) == 25
    for wrong in (0, -3, "10", 2.5):
        with pytest.raises(ValueError, match="gpu_seconds must be None, a positive int or a callable"):
            handler(gpu_seconds=wrong)


def test_handler_streams_a_generator_serving_every_value_it_yields(monkeypatch):
    wrapped = []
    monkeypatch.setattr("spaces.GPU", lambda duration=None: lambda fn: wrapped.append(fn) or fn)
    image = Image.new("RGB", (6, 4), (7, 8, 9))

    @handler(gpu_seconds=3)
    def stream(count):
        for index in range(count):
            yield image, f"frame {index}"
        raise ImageError("it ran out of film.")

    assert inspect.isgeneratorfunction(stream) and inspect.isgeneratorfunction(wrapped[0])  # as spaces.GPU checks
    frames = stream(2)
    paths = []
    for index in range(2):
        path, note = next(frames)
        assert note == f"frame {index}" and Image.open(path).getpixel((0, 0)) == (7, 8, 9)
        paths.append(path)
    assert paths[0] != paths[1]  # a new file per yield
    with pytest.raises(gr.Error) as raised:
        next(frames)
    assert raised.value.message == "Cannot use this image: it ran out of film."
    assert [value for value in handler(gpu_seconds=None)(lambda: (yield from range(3)))()] == [0, 1, 2]


#: The quiz's face generators as tiny exports: each key -> the difficulties it offers.
QUIZ_DIFFICULTIES = {"dcgan-faces": ("normal", "truncated", "hard"), "vae-faces": ("normal", "truncated"),
                     "stylegan-faces": ("normal", "truncated", "hard"), "ddpm-faces": ("normal",)}
GANS = ("dcgan-faces", "stylegan-faces")


def _row(key: str) -> str:
    """A leaderboard row's start for ``key``'s served export (its totals are kept per export)."""
    return rf"\| {re.escape(key)}@[0-9a-f]{{8}} \|"


def test_quiz_played_through_gradio_client(tiny_export, tiny_vae_export, tiny_ddpm_export, tiny_stylegan_export,
                                           launched, tmp_path):
    stats = QuizStats(tmp_path / "quiz.sqlite")
    client = launched(app.build_demo([f"dcgan-faces={tiny_export}", f"vae-faces={tiny_vae_export}",
                                      f"ddpm-faces={tiny_ddpm_export}", f"stylegan-faces={tiny_stylegan_export}"],
                                     stats=stats))
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/new_round", "/guess_left", "/guess_right", "/everyone"} <= set(endpoints)
    parameters = {p["parameter_name"]: p for p in endpoints["/new_round"]["parameters"]}
    assert list(parameters) == ["model", "difficulty"]  # both optional: callers passing neither keep working
    assert [(p["parameter_has_default"], p["parameter_default"], p["type"]["enum"]) for p in parameters.values()] == [
        (True, "Surprise me", ["Surprise me", *QUIZ_DIFFICULTIES]), (True, "normal", ["normal", "truncated", "hard"])]
    board = client.predict(api_name="/everyone")
    # totals are kept per export (key@export id): two exports of one key are never mixed
    assert "no rounds played yet" in board
    assert re.search(rf"{_row('ddpm-faces')} 0 \| – \| – \| – \| not evaluated: ", board)

    pair, verdict = client.predict(api_name="/new_round")  # no choice given: "Surprise me", "normal"
    assert verdict == ""  # nothing about the answer, or the model, before the guess
    pngs = pair_pngs(pair)  # inline: no file to fetch
    images = [Image.open(io.BytesIO(png)) for png in pngs]
    assert [(im.format, im.mode) for im in images] == [("PNG", "RGB")] * 2
    assert images[0].size == images[1].size and images[0].width == images[0].height  # the model's resolution
    assert [im.info for im in images] == [{}, {}]
    assert set(png_chunks(pngs[0])) == set(png_chunks(pngs[1])) == {b"IHDR", b"IDAT", b"IEND"}  # no metadata

    verdict, score, everyone = client.predict(api_name="/guess_right")
    surprise = re.search(r"It was made by \*\*([a-z-]+)\*\* \(\w+, \d+×\d+ px, your surprise model\) at difficulty "
                         r"\*\*normal\*\*", verdict).group(1)
    assert "The fake was on the **" in verdict and surprise in QUIZ_DIFFICULTIES
    assert ("The discriminator rated" in verdict) == (surprise in GANS)  # only a GAN's has an opinion
    assert "/1 = " in score and ("Discriminator:" in score) == (surprise in GANS)
    assert "1 round played" in everyone and re.search(rf"{_row(surprise)} 1 \|", everyone)
    with pytest.raises(AppError, match="No open round"):
        client.predict(api_name="/guess_left")

    for key, difficulties in QUIZ_DIFFICULTIES.items():  # every model at every difficulty it offers
        for difficulty in difficulties:
            assert client.predict(key, difficulty, api_name="/new_round")[1] == ""
            verdict, score, everyone = client.predict(api_name="/guess_left")
            assert f"made by **{key}** (" in verdict and f"difficulty **{difficulty}**" in verdict
            assert "surprise" not in verdict
    client.predict(difficulty="hard", api_name="/new_round")  # a surprise among the models with a discriminator
    hard = re.search(r"made by \*\*([a-z-]+)\*\* \((DCGAN, 32|StyleGAN, 16)×\d+ px, your surprise model\)",
                     client.predict(api_name="/guess_left")[0]).group(1)
    assert hard in GANS
    for key, difficulty, message in [("vae-faces", "hard", "hard mode needs a GAN with a discriminator: vae-faces "
                                                           "has none"),
                                     ("ddpm-faces", "truncated", "truncated mode needs a latent code to truncate")]:
        with pytest.raises(AppError, match=message):
            client.predict(key, difficulty, api_name="/new_round")
    with pytest.raises(AppError):
        client.predict("pix2pix-sketch2face", api_name="/new_round")  # not one of the model choices

    rounds = {(key, difficulty): 1 for key, difficulties in QUIZ_DIFFICULTIES.items() for difficulty in difficulties}
    rounds[surprise, "normal"] += 1
    rounds[hard, "hard"] += 1
    assert {(model.partition("@")[0], difficulty): tally.played
            for (model, difficulty), tally in stats.per_model_and_difficulty().items()} == rounds
    everyone = client.predict(api_name="/everyone")
    assert "11 rounds played" in everyone and "### Deception leaderboard" in everyone
    for key in QUIZ_DIFFICULTIES:
        played = sum(count for (model, _), count in rounds.items() if model == key)
        assert re.search(rf"{_row(key)} {played} \| ", everyone)
    assert re.search(rf"{_row(hard)} hard \| 2 \| ", everyone)
    assert re.search(rf"{_row('ddpm-faces')} normal \| ", everyone)


def test_sessions_do_not_share_rounds(tiny_export, launched, tmp_path):
    demo = app.build_demo([f"dcgan-faces={tiny_export}", f"vae-faces={tmp_path / 'absent'}",
                           f"ddpm-faces={tmp_path / 'absent'}", f"stylegan-faces={tmp_path / 'absent'}"])
    first = launched(demo)
    second = Client(first.src, verbose=False)
    first.predict(api_name="/new_round")
    with pytest.raises(AppError, match="No open round"):
        second.predict(api_name="/guess_left")
    first.predict(api_name="/guess_left")


def test_quiz_plays_the_models_that_loaded_and_names_the_others(tiny_export, tiny_ddpm_export, tmp_path):
    """A missing model and a model whose held-out faces are not on the server sit out, each named with what is
    missing; the rest of the quiz plays."""
    no_data = shutil.copytree(tiny_ddpm_export, tmp_path / "ddpm", ignore=shutil.ignore_patterns("checkpoint-*"))
    info = json.loads((no_data / "training_info.json").read_text())
    info["data"]["source"] = str(tmp_path / "gone" / "faces")
    (no_data / "training_info.json").write_text(json.dumps(info))
    demo = app.build_demo([f"dcgan-faces={tiny_export}", f"vae-faces={tmp_path / 'absent'}",
                           f"ddpm-faces={no_data}", f"stylegan-faces={tmp_path / 'absent'}"])
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any(text.startswith("Model **vae-faces** is not available (no folder") for text in texts)
    assert any("`ddpm-faces` sits out: the quiz needs held-out real faces, and the held-out images of `ddpm-faces`'s "
               "training data (`faces`) are not available on this server." in text for text in texts)
    assert not any(str(tmp_path / "gone") in text for text in texts)  # no server path
    choices = [block.choices for block in demo.blocks.values() if getattr(block, "elem_id", None) == "quiz-model"]
    assert choices == [[("Surprise me", "Surprise me"), ("dcgan-faces", "dcgan-faces")]]
    assert {"new_round", "guess_left", "guess_right", "everyone"} <= public_api_names(demo)


def test_a_model_below_its_floor_sits_out_of_the_quiz_and_plays_in_its_tab_under_one_line(
        tiny_export, tiny_ddpm_export, tmp_path):
    from genhub.evaluation import floors

    below = shutil.copytree(tiny_ddpm_export, tmp_path / "ddpm", ignore=shutil.ignore_patterns("checkpoint-*"))
    info = json.loads((below / "training_info.json").read_text())
    verdict = floors.check("ddpm", {floors.FACE_CHECK: 0.0, floors.PRECISION: 0.7})
    (below / "training_info.json").write_text(json.dumps({**info, "floor": verdict.as_dict()}))
    demo = app.build_demo([f"dcgan-faces={tiny_export}", f"vae-faces={tmp_path / 'absent'}", f"ddpm-faces={below}",
                           f"stylegan-faces={tmp_path / 'absent'}"])
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    notes = [text for text in texts if "**ddpm-faces** is below its family's floor" in text]
    assert len(notes) == 2  # among the quiz's models that sit out, and in the diffusion tab's status
    assert any("| `ddpm-faces` | served (" in text and "**below**" in text for text in texts)  # the models tab
    assert f"{floors.FACE_CHECK} = 0 (>= 0.95): FAILED" in notes[0]
    assert "precision" not in notes[0] and "The reference model: `accelerate launch training/train_ddpm.py" in notes[0]
    choices = [block.choices for block in demo.blocks.values() if getattr(block, "elem_id", None) == "quiz-model"]
    assert choices == [[("Surprise me", "Surprise me"), ("dcgan-faces", "dcgan-faces")]]
    assert "diffusion_sample" in public_api_names(demo)  # its own tab still plays it


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
    for line in ("quiz: ### ", "quiz, DCGAN hard mode: ### ", "random VAE face: ", "VAE reconstruction: ",
                 "interpolation strip: ", "DCGAN face, seed 3: ", "translation: "):
        assert line in result.stdout, result.stdout
    assert "not on this server" not in result.stdout


# ------------------------------------------------------------------------------------------- ZeroGPU on every event
#: Events that run no model (they read the session's state or the held-out data), by api name.
NON_MODEL_EVENTS = {"guess_left", "guess_right", "everyone", "quiz_difficulties", "select_model", "pick_example",
                    "diffusion_preset", "diffusion_invert_example", "fairness_galleries", "pixelcnn_pick_example",
                    "voice_held_out", "quiz_status", "models_overview", "models_overview_on_open"}


@pytest.fixture(scope="module")
def gpu_calls():
    """While active, a stand-in for spaces.GPU that notes which thread is inside a GPU call, and a forward hook
    on every torch module that records any forward pass made outside one."""
    inside, outside = threading.local(), []

    def seconds(duration, args, kwargs) -> int:  # as ZeroGPU does: a callable gets the handler's arguments
        value = duration(*args, **kwargs) if callable(duration) else duration
        assert isinstance(value, int) and value > 0
        return value

    def fake_gpu(duration=None):
        if not callable(duration):
            seconds(duration, (), {})

        def wrap(fn):
            @functools.wraps(fn)
            def run(*args, **kwargs):
                seconds(duration, args, kwargs)
                inside.active = True
                try:
                    return fn(*args, **kwargs)
                finally:
                    inside.active = False

            @functools.wraps(fn)
            def run_stream(*args, **kwargs):  # Gradio may resume a stream on another thread: mark each resumption
                seconds(duration, args, kwargs)
                stream = fn(*args, **kwargs)
                while True:
                    inside.active = True
                    try:
                        value = next(stream)
                    except StopIteration:
                        return
                    finally:
                        inside.active = False
                    yield value
            return run_stream if inspect.isgeneratorfunction(fn) else run
        return wrap

    # quiz pool workers already running belong to other demos (app.py's, built at import when checkpoints/ has
    # models), not to the demo played here, which must start none on ZeroGPU
    elsewhere = {thread.ident for thread in threading.enumerate() if thread.name == "genhub-fake-pool"}

    def hook(module, args):
        if not getattr(inside, "active", False) and threading.get_ident() not in elsewhere:
            outside.append(type(module).__name__)

    patch = pytest.MonkeyPatch()
    patch.setattr("spaces.GPU", fake_gpu)
    patch.setattr("spaces.config.Config.zero_gpu", True)  # so the quiz fills its pools inside its rounds' calls
    yield outside, hook
    patch.undo()


@pytest.fixture(scope="module")
def full_demo(gpu_calls, tiny_export, tiny_vae_export, tiny_pix2pix_export, tiny_cyclegan_export, tiny_ddpm_export,
              tiny_pixelcnn_export, tiny_stylegan_export, tiny_voice_export, labelled_faces_dir, faces_and_nonfaces,
              tmp_path_factory):
    cgan = train_tiny("cgan", tiny_cgan_args(labelled_faces_dir, tmp_path_factory.mktemp("export") / "cgan",
                                             "--max_train_steps", "2"))
    autoencoder = train_tiny("autoencoder", tiny_autoencoder_args(  # on the VAE's data: the same held-out faces
        labelled_faces_dir, tmp_path_factory.mktemp("export") / "autoencoder", "--max_train_steps", "4"))
    cnn, dbvae = (train_tiny("dbvae", tiny_dbvae_args(faces_and_nonfaces, tmp_path_factory.mktemp("export") / name,
                                                      "--max_train_steps", "2", "--max_train_samples", "16", *flags))
                  for name, flags in (("cnn", ["--baseline"]), ("dbvae", ["--alpha", "0.1"])))
    return app.build_demo([f"dcgan-faces={tiny_export}", f"vae-faces={tiny_vae_export}",
                           f"pix2pix-sketch2face={tiny_pix2pix_export}", f"cyclegan-eyeglasses={tiny_cyclegan_export}",
                           f"ddpm-faces={tiny_ddpm_export}", f"autoencoder-faces={autoencoder}", f"face-cnn={cnn}",
                           f"dbvae-faces-alpha-0.1={dbvae}", f"pixelcnn-faces={tiny_pixelcnn_export}",
                           f"cgan-faces={cgan}", f"stylegan-faces={tiny_stylegan_export}",
                           f"cyclegan-voices={tiny_voice_export}"])


def test_the_full_demo_has_the_tables_tabs_and_api_names(full_demo):
    quiz, translate, latent, diffusion, conditional, style, autoregressive, voice, fairness, models = TABS
    assert tab_labels(full_demo) == [quiz.title, translate.title, "Picture", "Draw", latent.title, *LATENT_SUB_TABS,
                                     diffusion.title, *DIFFUSION_SUB_TABS, conditional.title, style.title,
                                     autoregressive.title, *AUTOREGRESSIVE_SUB_TABS, voice.title, fairness.title,
                                     models.title]
    assert public_api_names(full_demo) == {name for entry in TABS for name in entry.api_names}


def test_every_event_that_runs_a_model_is_wrapped_for_zerogpu(full_demo):
    events = list(full_demo.fns.values())
    assert len(events) > len(public_api_names(full_demo))  # the page-load and gallery events too
    unmarked = [fn.name for fn in events if not hasattr(fn.fn, GPU_MARKER)]
    assert unmarked == []  # every handler went through serving.handler
    no_model = {fn.api_name for fn in events if getattr(fn.fn, GPU_MARKER) is None}
    opening = {name for name in no_model if name.endswith("_status_on_open")}  # each tab's status line, on open
    assert len(opening) >= 9 and no_model - opening == NON_MODEL_EVENTS
    markers = [getattr(fn.fn, GPU_MARKER) for fn in events if fn.api_name not in NON_MODEL_EVENTS | opening]
    assert all(callable(marker) or marker > 0 for marker in markers)  # a callable: seconds from the arguments
    assert any(callable(marker) for marker in markers)  # the diffusion tab's grow with the step count


def test_models_run_only_inside_gpu_calls_when_every_tab_is_played(full_demo, gpu_calls, launched, tmp_path,
                                                                   monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    import every_endpoint

    outside, hook = gpu_calls
    client = launched(full_demo)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (90, 60), (200, 150, 120)).save(photo)
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, synthetic_voice("hello there", seconds=1.0, sample_rate=16000), 16000)
    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        torch.nn.Linear(2, 2)(torch.zeros(1, 2))
        assert outside == ["Linear"]  # the hook sees a forward pass made outside a GPU call
        outside.clear()
        played = every_endpoint.play(client, str(photo), str(clip))
        model_events = {name for entry in TABS for name in entry.api_names} - NON_MODEL_EVENTS
        assert model_events <= set(played)  # every endpoint that runs a model was called
    finally:
        handle.remove()
    assert outside == []
