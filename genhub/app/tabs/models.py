"""Models: the background trainer's queue and every registry entry's latest numbers (steps, images seen, its floor's
checks, when it was exported), kept current while models land; then each entry's status (loaded, or missing and how
to get it), its model card rendered (sample grid, metrics, training facts, the exact command) and where it lives:
what a Hub user looks at first."""

from __future__ import annotations

import re
import time
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


def exported(loaded: LoadedModel) -> str:
    """When a local export's weights were written (UTC), or "–"."""
    path = export_file(loaded, "model.safetensors") if loaded.model is not None and loaded.spec.local else None
    return "–" if path is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(path.stat().st_mtime))


def _floor(loaded: LoadedModel) -> str:
    floor = (loaded.info.get("floor") or {}) if loaded.model is not None else {}
    verdict = {True: "passes", False: "**below**", None: "not fully measured"}.get(floor.get("passed"), "")
    return f"{verdict}: {'; '.join(floor.get('checks', []))}" if floor else "not judged"


def overview(models: dict[str, LoadedModel], trainer: dict | None) -> str:
    """Markdown: the background trainer's state (what it trains now and what is queued), then a row per entry: served
    or not (training, queued, missing), its steps and images seen, its floor's checks and when it was exported."""
    from genhub.app.background import describe

    if trainer is None:
        head = "No background trainer has run here (`python app.py` starts one when a model is missing)."
    elif trainer.get("alive"):
        head = (f"**Background trainer** (one thread, lowest priority): training `{trainer.get('current') or '–'}`; "
                f"queued next: {', '.join(f'`{key}`' for key in trainer['queue'][1:]) or 'nothing'}.")
    else:
        head = f"**Background trainer**: {trainer.get('ended') or 'stopped'}."
    rows = []
    for key, loaded in models.items():
        if loaded.model is None:
            state = describe(key, trainer) or "missing"
            rows.append(f"| `{key}` | {state.replace('|', '/')} | – | – | – | – |")
            continue
        steps, images = (_count(loaded.info.get(name)) for name in ("global_step", "images_seen"))
        rows.append(f"| `{key}` | served ({loaded.export_id}) | {steps} | {images} | {_floor(loaded)} | "
                    f"{exported(loaded)} |")
    return (f"{head}\n\n| model | state | steps | images seen | floor | exported |\n"
            "| --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows))


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else "–"


def card(loaded: LoadedModel) -> tuple:
    """One entry's section as served now: (its status, its sample grid's path or None, its card's body)."""
    grid = export_file(loaded, GRID)
    return status(loaded), None if grid is None else str(grid), card_body(loaded)


def build(demo, models: dict[str, LoadedModel]) -> None:
    """Lay out the tab: the overview (:func:`overview`), then one section per registry entry (:func:`card`); both
    refreshed every :data:`~genhub.app.tabs.kit.STATUS_SECONDS` and when a page opens, the sections only when the
    served exports changed since the page last showed them."""
    import gradio as gr

    from genhub.app.background import read_status
    from genhub.app.serving import handler, zero_gpu
    from genhub.app.tabs.kit import STATUS_SECONDS, exports

    gr.Markdown("## Models\nEvery model the app uses: whether it is loaded, its model card, and where it lives.")
    table = gr.Markdown(overview(models, read_status()))
    sections = []
    for key in models:
        with gr.Accordion(key, open=False):
            sections += [gr.Markdown(), gr.Image(label="samples from the exported weights", interactive=False,
                                                 buttons=[], format="png", height=256), gr.Markdown()]
    shown = gr.State(None)  # per page: the exports its sections show

    @handler(gpu_seconds=None)  # reads the served exports' facts and files, and the trainer's status
    def refresh(before):
        ids = exports(models.values())
        cards = [gr.skip()] * len(sections) if ids == before else [part for loaded in models.values()
                                                                     for part in card(loaded)]
        return overview(models, read_status()), *cards, ids

    timer = gr.Timer(STATUS_SECONDS, active=not zero_gpu())
    for event, name in ((timer.tick, "models_overview"), (demo.load, "models_overview_on_open")):  # current on open
        event(refresh, shown, [table, *sections, shown], api_name=name, api_visibility="private",
              show_progress="hidden")
