"""The Diffusion tab: its pure functions on the tiny DDPM export, then every event through gradio_client on a
launched server, hostile uploads included."""

import re

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from conftest import (
    assert_hostile_files_answered_clearly,
    client_of,
    image_endpoints,
)
from genhub.app.loading import LoadedModel, load_model
from genhub.app.registry import ModelSpec
from genhub.app.serving import GPU_MARKER
from genhub.app.tabs import diffusion, tab
from genhub.data import DataSpec, load_split
from genhub.images import ImageError, center_crop_resize, make_grid, to_pixel_values, to_uint8

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


@pytest.fixture(scope="module")
def loaded(tiny_ddpm_export):
    return load_model("ddpm-faces", ModelSpec("ddpm", str(tiny_ddpm_export)))


@pytest.fixture(scope="module")
def model(loaded):
    return loaded.model


@pytest.fixture(scope="module")
def face(faces_dir) -> Image.Image:
    """A training face at full size (the tiny export was trained on these)."""
    return load_split(DataSpec(str(faces_dir), 16), "train").image(0)


def _pixels(image) -> np.ndarray:
    return np.asarray(Image.open(image) if isinstance(image, str) else image).astype(int)


def _unscaled(image, width: int, height: int) -> np.ndarray:
    """The picture before the tab enlarged it by a whole factor (nearest neighbour): exactly, or the test fails."""
    pixels = _pixels(image)
    factor = pixels.shape[1] // width
    assert pixels.shape[:2] == (height * factor, width * factor), (pixels.shape, width, height)
    assert np.array_equal(pixels, pixels[::factor, ::factor].repeat(factor, 0).repeat(factor, 1))
    return pixels[::factor, ::factor]


# ------------------------------------------------------------------------------------------- pure functions
def test_sample_grid_is_seeded_and_says_what_it_did_and_how_long_it_took(model):
    grid, note = diffusion.sample_grid(model, 3, "DDIM", 10, 0.0, 4)
    again, _ = diffusion.sample_grid(model, 3, "DDIM", 10, 0.0, 4)
    expected = make_grid(model.sample(4, torch.Generator().manual_seed(3), 10, "DDIM"))  # 2 x 2 faces of 16 px
    assert np.array_equal(_unscaled(grid, 38, 38), _pixels(expected)) and grid.size == (38 * 13, 38 * 13)
    assert re.fullmatch(r"4 samples, DDIM 10 steps, η = 0: \d+\.\d s \(seed 3\)\.", note), note
    assert np.array_equal(_pixels(grid), _pixels(again))
    other, _ = diffusion.sample_grid(model, 4, "DDIM", 10, 0.0, 4)
    assert np.abs(_pixels(other) - _pixels(grid)).mean() > 5
    dpm, dpm_note = diffusion.sample_grid(model, 3, "DPM-Solver++", 10, 0.7, 1)  # η is DDIM's: ignored here
    assert re.fullmatch(r"1 sample, DPM-Solver\+\+ 10 steps: \d+\.\d s \(seed 3\)\.", dpm_note), dpm_note
    assert np.array_equal(_pixels(dpm), _pixels(diffusion.sample_grid(model, 3, "DPM-Solver++", 10, 0.0, 1)[0]))
    _, drawn = diffusion.sample_grid(model, None, "DDPM", 10, 0.0, 1)
    assert re.search(r"\(seed \d+\)\.$", drawn)  # an empty seed is drawn and shown


@pytest.mark.parametrize("settings, message", [
    ((0, "PLMS", 10, 0.0, 4), "Pick a sampler: DDPM, DDIM, DPM-Solver"),
    ((0, "DDIM", 101, 0.0, 4), "number of steps must be a whole number from 1 to 100, got 101"),
    ((0, "DDIM", None, 0.0, 4), "number of steps must be a whole number"),
    ((0, "DDIM", 10, 1.5, 4), "η must be a number from 0 to 1, got 1.5"),
    ((0, "DDIM", 10, 0.0, 17), "number of images must be a whole number from 1 to 16, got 17"),
    ((0, "DDIM", 10, 0.0, 0), "number of images must be a whole number from 1 to 16, got 0"),
])
def test_sample_grid_refuses_bad_settings_clearly(model, settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        diffusion.sample_grid(model, *settings)


def test_frame_indices_spread_over_the_steps_with_both_ends():
    assert diffusion.frame_indices(50) == [0, 7, 14, 21, 28, 35, 42, 49]
    assert diffusion.frame_indices(10, 2) == [0, 9]
    assert diffusion.frame_indices(5) == [0, 1, 2, 3, 4]  # fewer steps than frames: every step


def test_film_strip_streams_its_frames_as_they_form(model):
    calls = []
    frames = list(diffusion.film_strip(model, 5, "DDIM", 20, 0.0, on_step=lambda index, total: calls.append(
        (index, total))))
    assert calls == [(index, 20) for index in range(20)]  # the progress bar hears of every step
    assert len(frames) == diffusion.FILM_FRAMES
    widths = [image.width for image, _ in frames]
    assert widths == sorted(widths) and widths[0] < widths[-1]  # the strip grows a column per frame
    final, note = frames[-1]
    assert final.size == ((8 * 18 + 2) * 5, (2 * 18 + 2) * 5)  # 8 columns, two rows of 16 px faces, enlarged 5x
    assert frames[0][0].size == ((18 + 2) * 5, (2 * 18 + 2) * 5)  # the faces keep their size as the strip grows
    scheduler = model.scheduler("DDIM")
    scheduler.set_timesteps(20)
    shown = [scheduler.timesteps[index].item() for index in diffusion.frame_indices(20)]
    assert f"t = {', '.join(map(str, shown))}." in note and "done in" in note and "step 1 of 20" in frames[0][1]
    again = list(diffusion.film_strip(model, 5, "DDIM", 20, 0.0))[-1][0]
    assert np.array_equal(_pixels(final), _pixels(again))
    with pytest.raises(ValueError, match="number of frames must be a whole number from 2 to 16, got 1"):
        next(diffusion.film_strip(model, 5, "DDIM", 20, 0.0, num_frames=1))


@pytest.mark.parametrize("sampler", ["DDPM", "DPM-Solver++"])
def test_film_strip_ends_with_the_sample_of_the_same_seed(model, sampler):
    """Its last top face is ``model.sample(1, ...)`` with the same seed, pixel for pixel; the bottom row is x̂_0."""
    final, _ = list(diffusion.film_strip(model, 9, sampler, 12, 0.0))[-1]
    strip = _unscaled(final, 8 * 18 + 2, 2 * 18 + 2)
    expected = model.sample(1, torch.Generator().manual_seed(9), 12, sampler)[0]
    assert np.array_equal(strip[2:18, 7 * 18 + 2:7 * 18 + 18], to_uint8(expected))
    steps = list(model.denoise(1, torch.Generator().manual_seed(9), 12, sampler))
    first_x0 = steps[diffusion.frame_indices(12)[0]].pred_original_sample[0]
    assert np.array_equal(strip[20:36, 2:18], to_uint8(first_x0))


def test_forward_process_follows_the_schedule(model, face):
    clean, noisy, note = diffusion.forward_process(model, face, 0, 1)
    assert clean.size == noisy.size == (diffusion.FACE_SIZE, diffusion.FACE_SIZE)
    assert "t = 0 of T − 1 = 99: ᾱ_t = 0.9999, so x_t = 1.000 x_0 + 0.010 ε" in note and "seed 1" in note
    assert np.abs(_pixels(clean) - _pixels(noisy)).mean() < 3  # t = 0: almost the face
    _, late, late_note = diffusion.forward_process(model, face, 99, 1)
    alpha_bar = float(model.noise_scheduler.alphas_cumprod[99])
    assert f"ᾱ_t = {alpha_bar:.4f}" in late_note and alpha_bar < 0.4
    assert np.abs(_pixels(clean) - _pixels(late)).mean() > 30
    assert np.array_equal(_pixels(late), _pixels(diffusion.forward_process(model, face, 99, 1)[1]))  # seeded noise
    with pytest.raises(ValueError, match="timestep t must be a whole number from 0 to 99, got 100"):
        diffusion.forward_process(model, face, 100, 1)
    with pytest.raises(ValueError, match="Upload a face or click a held-out example first"):
        diffusion.forward_process(model, None, 10, 1)


def test_inversion_reconstructs_a_training_face_and_reports_its_psnr(model, face):
    shown, latent, reconstruction, note = diffusion.invert(model, face, 50)
    assert shown.size == latent.size == reconstruction.size == (diffusion.FACE_SIZE, diffusion.FACE_SIZE)
    psnr_db = float(re.search(r"PSNR (\d+\.\d) dB to the input \(16×16\)", note).group(1))
    assert psnr_db > 37  # tests/test_ddpm.py: reconstruction MSE below 2e-4 on [0, 1] pixels at 50 steps
    assert np.abs(_pixels(shown) - _pixels(reconstruction)).mean() < 3
    assert np.abs(_pixels(shown) - _pixels(latent)).mean() > 10  # x_T is not the face
    again = diffusion.invert(model, face, 50)
    assert np.array_equal(_pixels(latent), _pixels(again[1])) and again[3].split(",")[0] == note.split(",")[0]
    _, _, _, coarse = diffusion.invert(model, face, 10)
    assert float(re.search(r"PSNR (\d+\.\d) dB", coarse).group(1)) < psnr_db
    with pytest.raises(ValueError, match="Upload a face"):
        diffusion.invert(model, None, 50)
    with pytest.raises(ImageError, match="not an image file"):
        diffusion.invert(model, b"this is text, not a picture" * 4, 50)


def test_interpolation_strip_runs_from_one_reconstruction_to_the_other(model, face, faces_dir):
    second = load_split(DataSpec(str(faces_dir), 16), "train").image(1)
    strip, note = diffusion.interpolate(model, face, second, 5, 20)
    assert note.startswith("5 faces decoded by DDIM (20 steps, η = 0)")
    small = _unscaled(strip, 5 * 18 + 2, 18 + 2)
    ends = [small[2:18, 2:18], small[2:18, 4 * 18 + 2:4 * 18 + 18]]
    targets = [np.asarray(center_crop_resize(image, 16)).astype(int) for image in (face, second)]
    for end, target, other in zip(ends, targets, targets[::-1]):
        assert np.abs(end - target).mean() < 0.5 * np.abs(end - other).mean()
    with pytest.raises(ValueError, match="number of frames must be a whole number from 2 to 16, got 17"):
        diffusion.interpolate(model, face, second, 17, 20)


def test_gpu_seconds_grow_with_the_work_and_are_capped():
    assert diffusion.gpu_seconds(0) == diffusion.GPU_BASE_SECONDS
    assert diffusion.gpu_seconds(16 * 25) < diffusion.gpu_seconds(16 * 250) <= diffusion.MAX_GPU_SECONDS
    assert diffusion.gpu_seconds(10**9) == diffusion.gpu_seconds(None) == diffusion.gpu_seconds("x") == \
        diffusion.MAX_GPU_SECONDS


def test_held_out_examples_come_from_the_training_datas_test_split(loaded, faces_dir):
    faces = diffusion.examples(loaded)
    assert len(faces) == diffusion.NUM_EXAMPLES
    expected = load_split(DataSpec(str(faces_dir), 16), "test").image(0)
    assert np.array_equal(_pixels(faces[0]), _pixels(expected))


def test_prepare_sanitises_and_crops_to_the_model(model):
    pixel_values = diffusion.prepare(model, Image.new("RGBA", (40, 20), (255, 0, 0, 0)))  # transparent -> white
    assert pixel_values.shape == (3, 16, 16) and torch.equal(pixel_values, torch.ones(3, 16, 16))
    photo = Image.new("RGB", (30, 20), (10, 200, 30))
    assert torch.equal(diffusion.prepare(model, photo), to_pixel_values(center_crop_resize(photo, 16)))


# ------------------------------------------------------------------------------------------- the built tab
def _demo(models, **options) -> gr.Blocks:
    with gr.Blocks() as demo:
        diffusion.build(demo, models, **options)
    return demo


def _events(demo: gr.Blocks) -> dict:
    return {fn.api_name: fn for fn in demo.fns.values()}


def test_the_tab_has_the_tables_api_names_every_event_marked_and_durations_from_the_steps(loaded):
    events = _events(_demo({"ddpm-faces": loaded}))
    public = {name for name, fn in events.items() if fn.api_visibility == "public"}
    assert public == set(tab("diffusion").api_names)
    assert set(events) == public | {"diffusion_preset", "diffusion_forward_example", "diffusion_invert_example",
                                    "diffusion_first_sample", "diffusion_first_sample_status",
                                    "diffusion_first_sample_status_on_open"}
    assert all(name.startswith("diffusion_") for name in events)
    markers = {name: getattr(fn.fn, GPU_MARKER) for name, fn in events.items()}
    assert markers["diffusion_preset"] is None and markers["diffusion_invert_example"] is None  # no model
    sample, film = markers["diffusion_sample"], markers["diffusion_film_strip"]
    assert sample(0, "DDIM", 250, 0.0, 16) > sample(0, "DDIM", 25, 0.0, 16) > sample(0, "DDIM", 25, 0.0, 1) > 0
    assert film(0, "DDPM", 1000, 0.0, gr.Progress()) > film(0, "DDPM", 10, 0.0, gr.Progress())  # Gradio adds it
    assert markers["diffusion_invert"](None, 1000) > markers["diffusion_invert"](None, 10)
    assert markers["diffusion_interpolate"](None, None, 16, 50) > markers["diffusion_interpolate"](None, None, 2, 50)
    assert events["diffusion_film_strip"].types_generator  # Gradio streams it


def test_the_tab_opens_with_the_default_settings_grid_made_once(loaded):
    """What a newcomer sees first: the grid the default settings make (seed 0, DDIM, its steps, 9 images), sampled
    for the first visitor and served as it is to the next, with the sliders fitted to the model's T = 100."""
    first = _events(_demo({"ddpm-faces": loaded}))["diffusion_first_sample"].fn
    steps, inversion_steps, timestep, presets, grid, note, shown = first(None)  # None: what a new page showed
    expected, _ = diffusion.sample_grid(loaded.model, 0, "DDIM", min(diffusion.DEFAULT_STEPS, 100), 0.0,
                                        diffusion.DEFAULT_IMAGES)
    assert np.array_equal(_pixels(grid), _pixels(expected)) and note.startswith("9 samples, DDIM")
    assert steps["maximum"] == inversion_steps["maximum"] == 100 and timestep["maximum"] == 99
    assert [sample[2] for sample in presets["samples"]] == [25, 15, 50, 100]
    assert first(None)[5] == note  # the same result again, not a new sample (its latency would differ)
    assert first(shown)[:6] == (gr.skip(),) * 6  # a page that shows this export already keeps what it shows


def test_presets_fit_the_models_step_range(loaded):
    events = _events(_demo({"ddpm-faces": loaded}))
    for index, (seed, sampler, steps, eta, images) in enumerate(diffusion.PRESETS):
        assert events["diffusion_preset"].fn(index) == (seed, sampler, min(steps, 100), eta, images)
        diffusion.sample_grid(loaded.model, seed, sampler, min(steps, 100), eta, 1)  # every preset runs


def test_held_out_faces_can_be_left_out_or_say_why_there_are_none(loaded):
    demo = _demo({"ddpm-faces": loaded}, held_out_examples=False)  # as the public Space builds it
    assert not [block for block in demo.blocks.values() if isinstance(block, gr.Gallery)]
    assert {name for name, fn in _events(demo).items() if fn.api_visibility == "public"} == set(
        tab("diffusion").api_names)
    galleries = [block for block in _demo({"ddpm-faces": loaded}).blocks.values() if isinstance(block, gr.Gallery)]
    assert len(galleries) == 2 and all(len(block.value) == diffusion.NUM_EXAMPLES for block in galleries)
    no_data = _demo({"ddpm-faces": LoadedModel("ddpm-faces", loaded.spec, loaded.model, {})})  # names no dataset
    texts = [block.value or "" for block in no_data.blocks.values() if isinstance(block, gr.Markdown)]
    assert any(text.startswith("No held-out examples: the held-out images of `ddpm-faces`") for text in texts)


def _land(missing: LoadedModel, export: LoadedModel) -> None:
    """What the export watcher does when an export lands (:meth:`LoadedModel.refresh`): serve it, then tell the
    tabs (:meth:`LoadedModel.on_swap`)."""
    missing.model, missing.info, missing.error, missing.stamp = export.model, export.info, None, export.stamp
    for callback in missing.swapped:
        callback()


def test_a_missing_model_keeps_the_api_says_why_and_fills_in_when_it_lands(loaded, tmp_path):
    missing = load_model("ddpm-faces", ModelSpec("ddpm", str(tmp_path / "absent")))
    demo = _demo({"ddpm-faces": missing})
    events = _events(demo)
    assert {name for name, fn in events.items() if fn.api_visibility == "public"} == set(tab("diffusion").api_names)
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("Model **ddpm-faces** is not available" in text and "absent" in text for text in texts)
    assert not [block for block in demo.blocks.values() if isinstance(block, gr.Gallery)]  # no export, no data
    sliders = {block.label: block for block in demo.blocks.values() if isinstance(block, gr.Slider)}
    assert sliders["number of steps"].maximum == 1000 and sliders["t"].maximum == 999  # a DDPM of the paper's T
    with pytest.raises(gr.Error, match=r"Model \*\*ddpm-faces\*\* is not available"):
        events["diffusion_sample"].fn(0, "DDIM", 10, 0.0, 1)
    with pytest.raises(gr.Error, match=r"Model \*\*ddpm-faces\*\* is not available"):
        next(events["diffusion_film_strip"].fn(0, "DDIM", 10, 0.0))
    assert events["diffusion_first_sample"].fn(None) == (*[gr.skip()] * 6, None)  # nothing to show yet
    _land(missing, loaded)
    assert sliders["number of steps"].maximum == 100 and sliders["t"].maximum == 99  # the server's, at once
    assert events["diffusion_preset"].fn(3)[2] == 100
    *_, note, shown = events["diffusion_first_sample"].fn(None)
    assert note.startswith("9 samples, DDIM 25 steps") and shown == (loaded.export_id,)
    assert events["diffusion_sample"].fn(1, "DDIM", 10, 0.0, 1)[1].startswith("1 sample, DDIM 10 steps")


# ------------------------------------------------------------------------------------------- through gradio_client
@pytest.fixture(scope="module")
def served(loaded):
    demo = _demo({"ddpm-faces": loaded})
    with client_of(demo) as both:
        yield both


@pytest.fixture
def photo(tmp_path, face):
    path = tmp_path / "face.png"
    face.save(path)
    return path


def test_endpoints_take_what_the_ui_sends(served):
    _, client = served
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {f"/{name}" for name in tab("diffusion").api_names}
    names = {endpoint: [p["parameter_name"] for p in info["parameters"]] for endpoint, info in endpoints.items()}
    assert names["/diffusion_sample"] == ["seed", "sampler", "steps", "eta", "images"]
    assert names["/diffusion_film_strip"] == ["seed", "sampler", "steps", "eta"]  # no progress: Gradio's own
    assert names["/diffusion_invert"] == ["image", "steps"]


def test_sampling_through_gradio_client(served):
    _, client = served
    grid, note = client.predict(2, "DDIM", 10, 0.0, 4, api_name="/diffusion_sample")
    assert Image.open(grid).format == "PNG" and note.startswith("4 samples, DDIM 10 steps, η = 0: ")
    same, _ = client.predict(2, "DDIM", 10, 0.0, 4, api_name="/diffusion_sample")
    assert np.array_equal(_pixels(grid), _pixels(same))
    _, drawn = client.predict(None, "DPM-Solver++", 10, 0.0, 1, api_name="/diffusion_sample")
    assert re.fullmatch(r"1 sample, DPM-Solver\+\+ 10 steps: \d+\.\d s \(seed \d+\)\.", drawn), drawn  # drawn at random
    with pytest.raises(AppError, match="seed must be a whole number from 0 to 2147483647, got .-1."):
        client.predict(-1, "DDIM", 10, 0.0, 1, api_name="/diffusion_sample")  # one rule for seeds in every tab
    with pytest.raises(AppError, match="not in the list of choices"):  # Gradio itself refuses other samplers
        client.predict(2, "Euler", 10, 0.0, 4, api_name="/diffusion_sample")


def test_the_film_strip_streams_through_gradio_client(served):
    _, client = served
    job = client.submit(4, "DDPM", 16, 0.0, api_name="/diffusion_film_strip")
    updates = list(job)
    assert len(updates) == diffusion.FILM_FRAMES
    widths = [Image.open(strip).width for strip, _ in updates]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    assert "step 1 of 16" in updates[0][1] and "done in" in updates[-1][1]


def test_forward_inversion_and_interpolation_through_gradio_client(served, photo):
    _, client = served
    clean, noisy, note = client.predict(handle_file(str(photo)), 60, 2, api_name="/diffusion_forward")
    assert "t = 60 of T − 1 = 99" in note and np.abs(_pixels(clean) - _pixels(noisy)).mean() > 10
    shown, latent, reconstruction, note = client.predict(handle_file(str(photo)), 50, api_name="/diffusion_invert")
    assert float(re.search(r"PSNR (\d+\.\d) dB", note).group(1)) > 37
    assert np.abs(_pixels(shown) - _pixels(reconstruction)).mean() < 3
    strip, note = client.predict(handle_file(str(photo)), handle_file(str(photo)), 4, 10,
                                 api_name="/diffusion_interpolate")
    assert _unscaled(strip, 4 * 18 + 2, 18 + 2).shape == (20, 74, 3) and note.startswith("4 faces")
    with pytest.raises(AppError, match="Upload a face or click a held-out example first"):
        client.predict(None, 50, api_name="/diffusion_invert")


def test_every_image_endpoint_of_the_tab_answers_hostile_files_clearly(served, tmp_path):
    """tests/test_hostile.py's files against this tab alone (its full app has no DDPM unless one is exported)."""
    demo, client = served
    endpoints = image_endpoints(demo)
    assert {fn.api_name for fn in endpoints} == {"diffusion_forward", "diffusion_invert", "diffusion_interpolate"}
    assert_hostile_files_answered_clearly(client, endpoints, tmp_path)
