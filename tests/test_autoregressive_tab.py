"""The Autoregressive tab: its pure functions on the tiny PixelCNN export, then every event through gradio_client on
a launched server, hostile uploads included."""

import gradio as gr
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from conftest import (
    assert_hostile_files_answered_clearly,
    client_of,
    image_endpoints,
)
from genhub.app.loading import load_model
from genhub.app.registry import ModelSpec
from genhub.app.serving import GPU_MARKER
from genhub.app.tabs import autoregressive, tab
from genhub.data import DataSpec, load_split
from genhub.images import ImageError

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


@pytest.fixture(scope="module")
def loaded(tiny_pixelcnn_export):
    return load_model("pixelcnn-faces", ModelSpec("pixelcnn", str(tiny_pixelcnn_export)))


@pytest.fixture(scope="module")
def model(loaded):
    return loaded.model


@pytest.fixture(scope="module")
def face(faces_dir):
    return load_split(DataSpec(str(faces_dir), 8, 1), "train").image(0)


def _pixels(image) -> np.ndarray:
    return np.asarray(image)


def test_sampling_streams_one_frame_per_row_and_is_seeded(model):
    frames = list(autoregressive.sample_rows(model, 5, 1.0, 2))
    assert len(frames) == model.resolution
    assert "row 1 of 8" in frames[0][1] and "done in" in frames[-1][1] and "Seed 5" in frames[-1][1]
    again = list(autoregressive.sample_rows(model, 5, 1.0, 2))
    assert np.array_equal(_pixels(frames[-1][0]), _pixels(again[-1][0]))
    assert not np.array_equal(_pixels(frames[0][0]), _pixels(frames[-1][0]))  # grey rows filled in
    for bad in ({"num_images": 0}, {"num_images": 99}, {"temperature": 0.0}, {"temperature": "hot"}):
        settings = {"seed": 0, "temperature": 1.0, "num_images": 1, **bad}
        with pytest.raises(ValueError):
            next(autoregressive.sample_rows(model, **settings))


@pytest.mark.parametrize("region", list(autoregressive.REGIONS))
def test_completion_streams_the_hidden_rows_and_shows_face_mask_and_completions(model, face, region):
    hidden = autoregressive.REGIONS[region](8, 8)
    frames = list(autoregressive.complete(model, face, region, 3, 1.0, 0))
    assert len(frames) == int(hidden.any(1).sum())
    assert "done in" in frames[-1][1] and "3 completions" in frames[-1][1]
    grid = frames[-1][0]
    assert grid.width > 4 * grid.height  # five tiles side by side: face, visible part, three completions


def test_completion_refuses_bad_input_clearly(model, face):
    with pytest.raises(ValueError, match="region must be one of"):
        next(autoregressive.complete(model, face, "top", 2, 1.0, 0))
    with pytest.raises(ValueError, match="Upload a face"):
        next(autoregressive.complete(model, None, "lower half", 2, 1.0, 0))
    with pytest.raises(ImageError):
        next(autoregressive.complete(model, b"not an image", "lower half", 2, 1.0, 0))


def test_heat_map_runs_from_black_to_white():
    image = np.asarray(autoregressive.heat(np.array([[0.0, 1.0], [2.0, 4.0]])))
    assert image.shape == (2, 2, 3) and image[0, 0].tolist() == [0, 0, 0] and image[1, 1].tolist() == [255, 255, 255]


def test_surprise_map_reports_the_models_bits_per_dim(model, face):
    seen, heat_map, note = autoregressive.surprise_map(model, face, heldout_bits=1.5)
    levels = autoregressive.prepare(model, face)
    assert f"**{float(model.nll_bits(levels)[0]):.2f} bits/dim**" in note and "held-out faces: 1.50" in note
    assert seen.size == heat_map.size


def test_outlier_rows_score_each_model_on_its_faces_and_the_outliers(loaded, faces_dir):
    rows = autoregressive.outlier_rows({"pixelcnn-faces": loaded}, "lfw-subset")
    key, score, auroc, faces, others = rows[0]
    assert key == "pixelcnn-faces" and "bits/dim" in score and 0 <= float(auroc) <= 1
    assert int(faces) == len(load_split(DataSpec(str(faces_dir), 8, 1), "test")) and int(others) == 10


# ------------------------------------------------------------------------------------------- the built tab
def _demo(models) -> gr.Blocks:
    with gr.Blocks() as demo:
        autoregressive.build(demo, models)
    return demo


def test_the_tab_has_the_tables_api_names(loaded):
    events = {fn.api_name: fn for fn in _demo({"pixelcnn-faces": loaded}).fns.values()}
    public = {name for name, fn in events.items() if fn.api_visibility == "public"}
    assert public == set(tab("autoregressive").api_names) and set(events) == public | {
        "pixelcnn_pick_example", "pixelcnn_first_sample", "pixelcnn_first_sample_status",
        "pixelcnn_first_sample_status_on_open"}
    assert getattr(events["pixelcnn_pick_example"].fn, GPU_MARKER) is None
    assert events["pixelcnn_sample"].types_generator and events["pixelcnn_complete"].types_generator


def test_a_missing_model_keeps_the_api_says_why_and_fills_in_when_it_lands(loaded, tmp_path):
    missing = load_model("pixelcnn-faces", ModelSpec("pixelcnn", str(tmp_path / "absent")))
    demo = _demo({"pixelcnn-faces": missing})
    events = {fn.api_name: fn for fn in demo.fns.values()}
    assert {name for name, fn in events.items() if fn.api_visibility == "public"} == set(
        tab("autoregressive").api_names)
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("Model **pixelcnn-faces** is not available" in text for text in texts)
    why = r"Model \*\*pixelcnn-faces\*\* is not available"
    with pytest.raises(gr.Error, match=why):
        next(events["pixelcnn_sample"].fn(0, 1.0, 1))
    with pytest.raises(gr.Error, match=why):
        events["pixelcnn_outliers"].fn()
    assert events["pixelcnn_first_sample"].fn(None) == (gr.skip(), gr.skip(), None)  # nothing to show yet
    # the export lands (what LoadedModel.refresh does): the next request and the next page are served by it
    missing.model, missing.info, missing.error, missing.stamp = loaded.model, loaded.info, None, loaded.stamp
    grid, note, shown = events["pixelcnn_first_sample"].fn(None)
    assert "done in" in note and shown == (loaded.export_id,)
    assert "done in" in list(events["pixelcnn_sample"].fn(1, 1.0, 1))[-1][1]


@pytest.fixture(scope="module")
def served(loaded, faces_dir, tmp_path_factory):
    shared = tmp_path_factory.mktemp("shared")
    (shared / autoregressive.OUTLIERS).symlink_to(faces_dir)  # the "flowers": other faces, for a quick comparison
    patch = pytest.MonkeyPatch()
    patch.setattr(autoregressive, "shared_data", lambda: shared)
    demo = _demo({"pixelcnn-faces": loaded})
    try:
        with client_of(demo) as both:
            yield both
    finally:
        patch.undo()


def test_every_event_through_gradio_client(served, face, tmp_path):
    _, client = served
    frames = list(client.submit(1, 1.0, 2, api_name="/pixelcnn_sample"))
    assert len(frames) == 8 and "done in" in frames[-1][1]
    photo = tmp_path / "face.png"
    face.save(photo)
    completed = list(client.submit(handle_file(str(photo)), "lower half", 2, 1.0, 0, api_name="/pixelcnn_complete"))
    assert len(completed) == 4 and "done in" in completed[-1][1]
    seen, heat_map, note = client.predict(handle_file(str(photo)), api_name="/pixelcnn_surprise")
    assert "bits/dim" in note
    table = client.predict(api_name="/pixelcnn_outliers")
    assert table["data"][0][0] == "pixelcnn-faces"
    with pytest.raises(AppError, match="Upload a face"):
        client.predict(None, api_name="/pixelcnn_surprise")


def test_the_uploads_answer_hostile_files_clearly(served, tmp_path):
    demo, client = served
    endpoints = image_endpoints(demo)
    assert {fn.api_name for fn in endpoints} == {"pixelcnn_complete", "pixelcnn_surprise"}
    assert_hostile_files_answered_clearly(client, endpoints, tmp_path)
