"""Models: every registry entry with its status (loaded, or missing and how to get it), its model card rendered
(sample grid, metrics, training facts, the exact command) and where it lives: what a Hub user looks at first."""

from __future__ import annotations

import re
from pathlib import Path

from huggingface_hub import constants, hf_hub_download

from genhub.app.loading import LoadedModel
from genhub.paths import locate

CARD = "README.md"
GRID = "samples.png"
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
_GRID_LINE = re.compile(rf"^!\[[^\]]*\]\({re.escape(GRID)}\)\n?", re.M)


def export_file(loaded: LoadedModel, name: str) -> Path | None:
    """A file of the entry's export: from its local folder, or its Hub repo as cached (never downloaded here)."""
    if loaded.spec.local:
        path = locate(loaded.spec.location) / name
        return path if path.is_file() else None
    repo_id, _, revision = loaded.spec.location.partition("@")
    try:
        return Path(hf_hub_download(repo_id, name, revision=revision or None, local_files_only=True))
    except Exception:  # not cached, or no such file: the tab says there is no card
        return None


def where(loaded: LoadedModel) -> str:
    """Markdown: the export folder, or a link to the Hub repo (at its pinned revision)."""
    if loaded.spec.local:
        return f"Export folder: `{locate(loaded.spec.location).resolve()}`"
    repo_id, _, revision = loaded.spec.location.partition("@")
    url = f"{constants.ENDPOINT}/{repo_id}" + (f"/tree/{revision}" if revision else "")
    return f"Hub repo: [{loaded.spec.location}]({url})"


def status(loaded: LoadedModel) -> str:
    """Markdown: loaded (with its family and resolution) or the missing message with the commands that make it."""
    if loaded.model is None:
        return f"**Missing.** {loaded.missing_message}"
    model = loaded.model
    return (f"**Loaded**: {type(model).__name__} (`{loaded.spec.family}`), {model.resolution}x{model.resolution} px, "
            f"{sum(p.numel() for p in model.parameters()):,} parameters. {where(loaded)}")


def card_body(loaded: LoadedModel) -> str:
    """The model card without its YAML front matter and sample-grid line (the tab shows the grid itself), or a
    sentence saying there is none."""
    path = export_file(loaded, CARD)
    if path is None:
        return "No model card yet." if loaded.model is None else "This export has no model card."
    return _GRID_LINE.sub("", _FRONT_MATTER.sub("", path.read_text(encoding="utf-8"), count=1), count=1).strip()


def build(demo, models: dict[str, LoadedModel]) -> None:
    """Lay out the tab: one section per registry entry (no events: everything is known at launch)."""
    import gradio as gr

    gr.Markdown("## Models\nEvery model the app uses: whether it is loaded, its model card, and where it lives.")
    for key, loaded in models.items():
        with gr.Accordion(f"{key} — {'loaded' if loaded.model is not None else 'missing'}", open=False):
            gr.Markdown(status(loaded))
            grid = export_file(loaded, GRID)
            if grid is not None:
                gr.Image(str(grid), label="samples from the exported weights", interactive=False, buttons=[],
                         format="png", height=256)
            gr.Markdown(card_body(loaded))
