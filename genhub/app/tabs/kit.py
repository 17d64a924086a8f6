"""The tab kit's layout pieces: a tab's opening (its title, the idea its model shows, what to run when the model is
missing) and its held-out examples (or the one sentence saying why there are none). Input rules live in
:mod:`genhub.app.inputs`."""

from __future__ import annotations

import functools
from typing import Callable

from genhub.app.loading import LoadedModel, unavailable
from genhub.app.serving import handler
from genhub.data import DataError


def opening(title: str, idea: str, *loaded: LoadedModel) -> bool:
    """Lay out a tab's opening in the current Gradio container: ``## title``, then ``idea`` (markdown, one or two
    sentences with the paper), then each missing model's message naming the command that makes it. Returns whether
    any of ``loaded`` has its model (False: the tab lays out nothing more)."""
    import gradio as gr

    gr.Markdown(f"## {title}\n{idea}")
    for entry in loaded:
        if entry.model is None:
            gr.Markdown(entry.missing_message)
    return any(entry.model is not None for entry in loaded)


def held_out(loaded: LoadedModel, load: Callable[[LoadedModel], list], shown: bool = True) -> tuple[list, str]:
    """A tab's held-out examples: (``load(loaded)``, "") or, when the data cannot be read (``DataError``), ([], one
    sentence saying why); ([], "") when not ``shown`` (e.g. a public Space: CelebA's terms)."""
    if not shown:
        return [], ""
    try:
        return load(loaded), ""
    except DataError as error:
        return [], f"No held-out examples: {unavailable(loaded, error)}."


def seed_box(value: int | None = None, label: str = "seed"):
    """A seed field that can be empty, which :func:`genhub.app.inputs.seed` turns into a random seed (the result says
    which): a text box, because Gradio's number field shows an empty value as 0 and sends 0, so a "Random" button
    beside it drew the same face every time."""
    import gradio as gr

    return gr.Textbox("" if value is None else str(value), label=f"{label} (empty: random)", max_lines=1,
                      placeholder="empty: a random seed")


def show_on_open(demo, compute: Callable[[], tuple], outputs: list, api_name: str, gpu_seconds: int) -> None:
    """Fill ``outputs`` when the page opens with ``compute()``, a tab's first example: computed for the first
    visitor and kept for every later one (not at build, so the app starts fast; not per visit, so many visitors cost
    one computation). A private event (``api_name`` stays out of the public API), wrapped like every other."""
    kept = functools.cache(compute)

    @handler(gpu_seconds=gpu_seconds)
    def first_example():
        return kept()

    demo.load(first_example, None, outputs, api_name=api_name, api_visibility="private")
