"""The Conditional GAN tab: its pure functions on a tiny conditional DCGAN, then every event through gradio_client."""

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client.exceptions import AppError

from conftest import served_tab, tiny_cgan_args, train_tiny
from genhub.app.loading import load_model
from genhub.app.registry import ModelSpec
from genhub.app.tabs import conditional, tab

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


@pytest.fixture(scope="module")
def loaded(labelled_faces_dir, tmp_path_factory):
    folder = train_tiny("cgan", tiny_cgan_args(labelled_faces_dir, tmp_path_factory.mktemp("cgan") / "out",
                                               "--max_train_steps", "2"))
    return load_model("cgan-faces", ModelSpec("cgan", str(folder)))


def test_generate_is_the_models_sample_for_that_z_and_those_labels(loaded):
    model = loaded.model
    image, note = conditional.generate(model, 4, ["Smiling"])
    expected = model.generator(torch.randn(1, 16, generator=torch.Generator().manual_seed(4)),
                               model.labels({"Smiling": True}))
    tile = np.asarray(image)[:: image.width // 32, :: image.width // 32]  # undo the whole-factor enlargement
    assert np.abs(tile.astype(int) - np.asarray(conditional.to_pil(expected[0].detach())).astype(int)).max() <= 1
    assert "seed 4" in note and "Smiling" in note
    with pytest.raises(ValueError, match="unknown attribute"):
        conditional.generate(model, 4, ["Wings"])
    with pytest.raises(ValueError, match="seed"):
        conditional.generate(model, -1, [])


def test_flips_change_one_label_per_column_with_z_fixed(loaded):
    strip, note = conditional.flips(loaded.model, 2, ["Male"])
    assert "Columns: as chosen, without Male, with Smiling" in note
    assert strip.width > 2 * strip.height  # three faces side by side


def test_grid_is_seeds_by_attributes(loaded):
    image, note = conditional.grid(loaded.model, 10, 3)
    assert "seeds 10..12" in note and "Male, Smiling alone" in note
    assert image.width / image.height == pytest.approx(3 / 3, rel=0.05)  # 3 columns (none, Male, Smiling) x 3 rows
    with pytest.raises(ValueError, match="rows"):
        conditional.grid(loaded.model, 0, 99)


def _public(demo) -> set[str]:
    return {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}


@pytest.fixture(scope="module")
def served(loaded):
    with served_tab(conditional, {"cgan-faces": loaded}) as served_demo:
        yield served_demo


def test_every_event_through_gradio_client(served, tmp_path):
    demo, client = served
    assert _public(demo) == set(tab("conditional").api_names)
    _, note = client.predict(1, ["Male", "Smiling"], api_name="/cgan_generate")
    assert "Male, Smiling" in note
    assert "Columns" in client.predict(1, [], api_name="/cgan_flips")[1]
    assert "Rows" in client.predict(1, 2, api_name="/cgan_grid")[1]
    with pytest.raises(AppError, match="less than minimum"):  # the slider's own range, checked by Gradio
        client.predict(1, 0, api_name="/cgan_grid")
    with pytest.raises(AppError, match="not in the list of choices"):  # Gradio refuses it before our code
        client.predict(1, ["Wings"], api_name="/cgan_flips")


def test_a_missing_model_says_what_to_do_and_the_api_is_there(tmp_path):
    missing = load_model("cgan-faces", ModelSpec("cgan", str(tmp_path / "absent")))
    with gr.Blocks() as demo:
        conditional.build(demo, {"cgan-faces": missing})
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("Model **cgan-faces** is not available" in text for text in texts)
    assert _public(demo) == set(tab("conditional").api_names)
