"""The Models tab: every registry entry, its status, its card and where it lives."""

import gradio as gr

import app
from genhub.app.loading import load_model
from genhub.app.registry import DEFAULT_MODELS, ModelSpec
from genhub.app.tabs import models


def test_the_app_lists_every_registry_entry():
    labels = [block.label for block in app.demo.blocks.values() if isinstance(block, gr.Accordion)]
    assert labels == list(DEFAULT_MODELS)


def test_the_overview_and_the_sections_follow_the_served_exports(tiny_export, tmp_path):
    served = load_model("dcgan-faces", ModelSpec("dcgan", str(tiny_export)))
    missing = load_model("vae-faces", ModelSpec("vae", str(tmp_path / "none"), local=True))
    with gr.Blocks() as demo:
        models.build(demo, {"dcgan-faces": served, "vae-faces": missing})
    opened = next(fn for fn in demo.fns.values() if fn.api_name == "models_overview_on_open").fn
    table, dcgan_status, grid, dcgan_card, vae_status, no_grid, vae_card, ids = opened(None)
    assert f"| `dcgan-faces` | served ({served.export_id}) | 6 | 48 | not judged |" in table
    assert "| `vae-faces` | missing |" in table and "No background trainer has run here" in table
    assert dcgan_status.startswith("**Loaded**") and grid.endswith("samples.png") and "## Training" in dcgan_card
    assert vae_status.startswith("**Missing.**") and no_grid is None and vae_card == "No model card yet."
    assert ids == (served.export_id, None)
    again = opened(ids)  # nothing changed since the page showed it: only the table is sent again
    assert again[0] == table and all(part == gr.skip() for part in again[1:-1]) and again[-1] == ids


def test_a_loaded_export_shows_its_card_grid_and_folder(tiny_export):
    loaded = load_model("dcgan-faces", ModelSpec("dcgan", str(tiny_export)))
    status = models.status(loaded)
    assert status.startswith("**Loaded**: DCGAN (`dcgan`), 32x32 px") and f"`{tiny_export}`" in status
    body = models.card_body(loaded)
    assert not body.startswith("---") and "library_name" not in body  # the YAML front matter is not shown
    assert "## Training" in body and "| optimisation steps | 6 |" in body and "samples.png" not in body
    assert models.export_file(loaded, "samples.png") == tiny_export / "samples.png"


def test_a_missing_entry_says_how_to_get_it_and_a_repo_links_to_the_hub(tmp_path):
    missing = load_model("vae-faces", ModelSpec("vae", str(tmp_path / "none"), local=True))
    assert models.status(missing).startswith("**Missing.** Model **vae-faces** is not available")
    assert models.card_body(missing) == "No model card yet." and models.export_file(missing, "README.md") is None
    repo = load_model("dcgan-faces", ModelSpec("dcgan", "org/name@abc123", local=False))
    link = models.where(repo)
    assert link.startswith("Hub repo: [org/name@abc123](") and link.endswith("/org/name/tree/abc123)")
