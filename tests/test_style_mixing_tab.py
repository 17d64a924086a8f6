"""The Style mixing tab: its pure functions on a tiny style-based GAN trained through the real entry point (so it has
per-stage exports), then every event through gradio_client."""

import shutil

import gradio as gr
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradio_client.exceptions import AppError

from conftest import served_tab
from genhub.app.loading import LoadedModel, load_model
from genhub.app.registry import ModelSpec
from genhub.app.tabs import style_mixing, tab
from genhub.evaluation.directions import save_boundaries
from genhub.images import to_pil
from genhub.models import StyleGAN
from genhub.models.stylegan import mix_styles

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


@pytest.fixture(scope="module")
def loaded(tiny_stylegan_export, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stylegan") / "export"
    shutil.copytree(tiny_stylegan_export, folder)  # the boundaries below are this test's own
    save_boundaries(folder, {name: {"direction": torch.randn(16), "accuracy": 0.9, "samples": 10}
                             for name in ("Smiling", "Male")})
    return load_model("stylegan-faces", ModelSpec("stylegan", str(folder)))


def tile(image, index: int, columns: int, size: int = 16) -> np.ndarray:
    """Tile ``index`` of a make_grid image (padding 2) enlarged by a whole factor, at its own size."""
    factor = image.width // (columns * (size + 2) + 2)
    array = np.asarray(image)[::factor, ::factor]
    top, left = 2 + (index // columns) * (size + 2), 2 + (index % columns) * (size + 2)
    return array[top: top + size, left: left + size].astype(int)


def pixels(images: torch.Tensor) -> np.ndarray:
    return np.asarray(to_pil(images[0].clamp(-1, 1))).astype(int)


def test_each_cell_is_its_row_with_the_columns_styles_in_the_chosen_layers(loaded):
    model = loaded.model
    image, note = style_mixing.mixing_grid(model, "1, 2", "3, 4, 5", "coarse", 0.7, "const")
    assert "Rows: seeds 1, 2; columns: seeds 3, 4, 5" in note and "coarse (layers 0-3: 4 px, 8 px)" in note
    z = lambda seed: model.latents(1, torch.Generator().manual_seed(seed))  # noqa: E731
    with torch.no_grad():
        row, column = model.styles(z(2), 0.7), model.styles(z(4), 0.7)
        expected = model.synthesis(mix_styles(row, column, range(0, 4)), noise_mode="const")
        column_alone = model.synthesis(column, noise_mode="const")
    # layout: blank, 3 column sources / row source, 3 cells / ...: row 2 (seed 2), column 2 (seed 4) is tile 10
    assert np.abs(tile(image, 2 * 4 + 2, 4) - pixels(expected)).max() <= 1
    assert np.abs(tile(image, 2, 4) - pixels(column_alone)).max() <= 1
    assert tile(image, 0, 4).min() == 255  # the blank corner


def test_mixing_refuses_what_it_cannot_do(loaded):
    model = loaded.model
    with pytest.raises(ValueError, match="1 to 6 seeds"):
        style_mixing.mixing_grid(model, "1 2 3 4 5 6 7", "1", "coarse", 1.0)
    with pytest.raises(ValueError, match="whole number"):
        style_mixing.mixing_grid(model, "1, x", "1", "coarse", 1.0)
    with pytest.raises(ValueError, match="layer range"):
        style_mixing.mixing_grid(model, "1", "2", "middle", 1.0)  # 16 px: coarse and fine only
    with pytest.raises(ValueError, match="ψ"):
        style_mixing.mixing_grid(model, "1", "2", "coarse", 7)
    with pytest.raises(ValueError, match="noise mode"):
        style_mixing.mixing_grid(model, "1", "2", "coarse", 1.0, "loud")
    progressive = StyleGAN(16, "progressive", latent_dim=16, channel_base=64, max_channels=16).eval()
    with pytest.raises(ValueError, match="no styles to mix"):
        style_mixing.mixing_grid(progressive, "1", "2", "coarse", 1.0)
    assert "16 px" in style_mixing.growth_strip(progressive, 0)[1]  # the growth strip needs no styles


def test_the_noise_toggle_reaches_the_layers(loaded):
    model = loaded.model
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("noise_strength"):
                parameter.add_(1.0)  # a tiny run's strengths are near 0
    labels = style_mixing.noise_layer_labels(model)
    assert labels[:3] == ["0: 4 px", "1: 4 px", "2: 8 px"] and len(labels) == model.num_layers
    none, _ = style_mixing.mixing_grid(model, "1", "2", "fine", 1.0, "none")
    const_off, _ = style_mixing.mixing_grid(model, "1", "2", "fine", 1.0, "const", [])
    const_on, _ = style_mixing.mixing_grid(model, "1", "2", "fine", 1.0, "const", labels)
    assert np.array_equal(np.asarray(none), np.asarray(const_off))
    assert not np.array_equal(np.asarray(none), np.asarray(const_on))


def test_the_growth_strip_is_the_same_z_at_every_stage(loaded):
    model = loaded.model
    strip, note = style_mixing.growth_strip(model, 5)
    assert "4 px → 8 px → 16 px" in note
    z = model.latents(1, torch.Generator().manual_seed(5))
    with torch.no_grad():
        first = F.interpolate(model.stages[4](z, noise_mode="const"), size=16, mode="nearest")
        last = model(z, noise_mode="const")
    assert np.abs(tile(strip, 0, 3) - pixels(first)).max() <= 1
    assert np.abs(tile(strip, 2, 3) - pixels(last)).max() <= 1


def test_the_truncation_strip_ends_at_the_average_face(loaded):
    model = loaded.model
    strip, note = style_mixing.truncation_strip(model, 3)
    with torch.no_grad():
        average = model.synthesis(model.mapping.w_avg.expand(1, model.num_layers, -1), noise_mode="const")
    assert np.abs(tile(strip, 4, 5) - pixels(average)).max() <= 1
    assert "G(w_avg)" in note


def test_directions_in_w_move_one_face_and_condition_on_other_attributes(loaded):
    model = loaded.model
    directions = style_mixing.w_directions(model)
    assert list(directions.vectors)[:2] == ["SeFa 1", "SeFa 2"] and directions.attributes == ("Smiling", "Male")
    assert all(abs(float(v.norm()) - 1) < 1e-5 for v in directions.vectors.values())
    strip, note = style_mixing.direction_strip(model, directions, 2, "Smiling", ["Male"], 0.7)
    assert "conditioned on Male" in note
    with torch.no_grad():
        plain = model.synthesis(model.styles(model.latents(1, torch.Generator().manual_seed(2)), 0.7),
                                noise_mode="const")
    assert np.abs(tile(strip, 3, 7) - pixels(plain)).max() <= 1  # amount 0 is the face itself
    assert not np.array_equal(tile(strip, 0, 7), tile(strip, 3, 7))
    with pytest.raises(ValueError, match="other attributes"):
        style_mixing.direction_strip(model, directions, 2, "Smiling", ["Smiling"])
    with pytest.raises(ValueError, match="unknown direction"):
        style_mixing.direction_strip(model, directions, 2, "Wings")


@pytest.fixture(scope="module")
def served(loaded):
    with served_tab(style_mixing, {style_mixing.KEY: loaded}) as served_demo:
        yield served_demo


def test_every_event_through_gradio_client(served):
    demo, client = served
    events = {fn.api_name: fn for fn in demo.fns.values()}
    public = {name for name, fn in events.items() if fn.api_visibility == "public"}
    assert public == set(tab("style").api_names) and set(events) == public | {"style_first_grid",
                                                                              "style_first_grid_status",
                                                                              "style_first_grid_status_on_open"}
    assert "Rows" in client.predict("1, 2", "3", "fine", 0.5, "random", ["0: 4 px"], api_name="/style_mixing")[1]
    assert "4 px → 8 px" in client.predict(1, api_name="/style_growth")[1]
    assert "ψ = 1" in client.predict(1, api_name="/style_truncation")[1]
    assert "Male" in client.predict(1, "Male", [], 1.0, api_name="/style_direction")[1]
    with pytest.raises(AppError, match="1 to 6 seeds"):
        client.predict("", "3", "fine", 0.5, "const", [], api_name="/style_mixing")
    with pytest.raises(AppError, match="not in the list of choices"):  # Gradio refuses it before our code
        client.predict("1", "3", "middle", 0.5, "const", [], api_name="/style_mixing")


def test_a_missing_model_keeps_the_api_says_why_and_fills_in_when_it_lands(loaded, tmp_path):
    missing = load_model("stylegan-faces", ModelSpec("stylegan", str(tmp_path / "absent")))
    with gr.Blocks() as demo:
        style_mixing.build(demo, {"stylegan-faces": missing})
    events = {fn.api_name: fn for fn in demo.fns.values()}
    assert {name for name, fn in events.items() if fn.api_visibility == "public"} == set(tab("style").api_names)
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("Model **stylegan-faces** is not available" in text for text in texts)
    groups = next(block for block in demo.blocks.values() if isinstance(block, gr.Radio)
                  and block.label == "styles taken from the column")
    assert [name for _, name in groups.choices] == ["coarse", "middle", "fine"]  # a 32 px model's, until one lands
    with pytest.raises(gr.Error, match=r"Model \*\*stylegan-faces\*\* is not available"):
        events["style_mixing"].fn("1", "2", "fine", 1.0, "const", [])
    with pytest.raises(gr.Error, match=r"Model \*\*stylegan-faces\*\* is not available"):
        events["style_direction"].fn(1, "SeFa 1", [], 1.0)
    assert events["style_first_grid"].fn(None) == (*[gr.skip()] * 10, None)  # nothing to show yet
    # the 16 px export lands (what LoadedModel.refresh does): the server's choices follow at once, the page's with
    # the first grid, and the next request is served by it
    missing.model, missing.info, missing.error, missing.stamp = loaded.model, loaded.info, None, loaded.stamp
    for callback in missing.swapped:
        callback()
    assert [name for _, name in groups.choices] == ["coarse", "fine"]
    *fitted, _, grid_note, shown = events["style_first_grid"].fn(None)  # the grid's picture is tested above
    group, layers, direction, conditions = fitted[1], fitted[2], fitted[6], fitted[7]
    assert [name for _, name in group["choices"]] == ["coarse", "fine"] and group["value"] == "coarse"
    assert layers["value"] == style_mixing.noise_layer_labels(loaded.model) and direction["value"] == "Smiling"
    assert [name for _, name in conditions["choices"]] == ["Smiling", "Male"]
    assert "Rows: seeds 1, 2, 3" in grid_note and shown == (loaded.export_id,)
    assert "Male" in events["style_direction"].fn(1, "Male", [], 1.0)[1]


def test_a_progressive_gan_hides_what_needs_styles():
    progressive = StyleGAN(16, "progressive", latent_dim=16, channel_base=64, max_channels=16).eval()
    served = LoadedModel("stylegan-faces", ModelSpec("stylegan", "absent"), progressive)
    with gr.Blocks() as demo:
        style_mixing.build(demo, {"stylegan-faces": served})
    events = {fn.api_name: fn for fn in demo.fns.values()}
    assert {name for name, fn in events.items() if fn.api_visibility == "public"} == set(tab("style").api_names)
    mixing, *_, grid, note, _ = events["style_first_grid"].fn(None)
    assert mixing["visible"] is False and grid is None and note == ""
    with pytest.raises(gr.Error, match="no styles to mix"):
        events["style_mixing"].fn("1", "2", "coarse", 1.0, "const", [])
    assert "16 px" in events["style_growth"].fn(0)[1]
