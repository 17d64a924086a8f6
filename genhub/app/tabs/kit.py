"""The tab kit's layout pieces: a tab's opening (its title, the idea its model shows, and a live line on each missing
model: training behind the app, queued, or the command that makes it), the first example it shows (again whenever a
newer export is served), and its held-out examples (or the one sentence saying why there are none). Input rules live
in :mod:`genhub.app.inputs`.

A tab lays out all of itself and wires every event at start, its models missing or not (the API exists from the first
second); its handlers take the model with :func:`ready` when they run, so an export that lands later
(:func:`genhub.app.loading.watch`) is served from the next request on."""

from __future__ import annotations

import functools
from typing import Callable

from genhub.app.loading import LoadedModel, unavailable
from genhub.app.serving import handler, zero_gpu
from genhub.data import DataError

#: How every refusal for a model that is not served (yet) begins: a client (``examples/every_endpoint.py``) tells it
#: from a refused input by it.
NOT_SERVED = "Not served yet: "
#: How often an open page asks whether a missing model is closer, or a newer export is served.
STATUS_SECONDS = 10.0


def opening(title: str, idea: str, *loaded: LoadedModel):
    """Lay out a tab's opening in the current Gradio container: ``## title``, then ``idea`` (markdown, one or two
    sentences with the paper), then the status of its missing models (:func:`waiting`). Returns the status component,
    for :func:`live`."""
    import gradio as gr

    gr.Markdown(f"## {title}\n{idea}")
    return gr.Markdown(waiting(loaded))


def waiting(loaded) -> str:
    """Markdown, a line per model of ``loaded`` that does not yet show its idea: a missing one's status from the
    background trainer (:func:`genhub.app.background.describe`: training, with its progress and the minutes left, or
    queued), else the command that makes it (:attr:`LoadedModel.missing_message`); one below its floor, its numbers and
    the reference model's command (:attr:`LoadedModel.floor_note`). "" when every one is served and passes."""
    from genhub.app.background import describe, read_status

    missing = [entry for entry in loaded if entry.model is None]
    status = read_status() if missing else None
    return "\n\n".join(describe(entry.key, status) or entry.missing_message if entry.model is None
                        else entry.floor_note for entry in loaded if entry.model is None or entry.floor_note)


def ready(loaded: LoadedModel):
    """``loaded``'s model, as served now (read once per request: a newer export may replace it between requests).

    Raises:
        ValueError: it is missing; the message (:func:`not_served`) says why and what is being done about it.
    """
    model = loaded.model
    if model is None:
        raise not_served([loaded])
    return model


def not_served(loaded, lead: str = "") -> ValueError:
    """The refusal of a request whose models ``loaded`` are not served (yet): :data:`NOT_SERVED`, ``lead``, then
    :func:`waiting`'s lines as plain text."""
    return ValueError(NOT_SERVED + lead + (waiting(loaded).replace("`", "") or
                                           f"{', '.join(entry.key for entry in loaded)} is not available"))


def offer(component, value, **props):
    """Give ``component`` ``props`` (e.g. ``choices``, ``maximum``) on the server, where Gradio checks each request's
    value against them, and return the update that sets them and ``value`` on a page: for a layout made before its
    model landed, called when one does (:meth:`LoadedModel.on_swap`) and by :func:`live`'s ``compute``."""
    import gradio as gr

    for name, prop in props.items():
        setattr(component, name, prop)
    return gr.update(value=value, **props)


def exports(loaded) -> tuple:
    """The ids of the exports served now for ``loaded`` (None for a missing one): what a page last showed."""
    return tuple(None if entry.model is None else entry.export_id for entry in loaded)


def live(demo, status, loaded, compute: Callable[[], tuple] | None = None, outputs: list = (),
         api_name: str = "", gpu_seconds: int = 10, partial: bool = False) -> None:
    """Keep a tab current: ``status`` (from :func:`opening`) says what its missing ``loaded`` models are waiting for,
    refreshed every :data:`STATUS_SECONDS` while one is missing or the background trainer runs; ``compute()``, the
    tab's first example, fills ``outputs`` when the page opens and again when the served exports change (an export
    landed). It is computed once per set of exports and kept for every visitor, and never while its models are
    missing (``partial``: while all are; a tab that compares several shows the ones there). Private events
    (``api_name`` stays out of the public API), wrapped like every other."""
    import gradio as gr

    from genhub.app.background import read_status

    kept = functools.lru_cache(maxsize=1)(lambda ids: compute())
    shown = gr.State(None)  # per page: the exports its outputs were computed from

    def current(before):
        ids = exports(loaded)
        absent = [entry.model is None for entry in loaded]
        if compute is None or ids == before or (all(absent) if partial else any(absent)):
            return [gr.skip() for _ in outputs], before
        return list(kept(ids)), ids

    @handler(gpu_seconds=gpu_seconds)
    def first_example(before):
        values, ids = current(before)
        return *values, ids

    @handler(gpu_seconds=None)  # reads the trainer's status: no model runs
    def status_now():
        return waiting(loaded)

    @handler(gpu_seconds=gpu_seconds)
    def tick(before):
        values, ids = current(before)
        status_of_trainer = read_status()
        busy = any(entry.model is None for entry in loaded) or bool(status_of_trainer and status_of_trainer["alive"])
        return waiting(loaded), *values, ids, gr.Timer(active=busy)

    timer = gr.Timer(STATUS_SECONDS, active=not zero_gpu())  # a Space trains nothing; a tick would hold a GPU
    demo.load(first_example, shown, [*outputs, shown], api_name=api_name or None, api_visibility="private")
    demo.load(status_now, None, status, api_name=f"{api_name}_status_on_open" if api_name else None,
              api_visibility="private", show_progress="hidden")  # as it is now, not as it was at build
    timer.tick(tick, shown, [status, *outputs, shown, timer], api_name=f"{api_name}_status" if api_name else None,
               api_visibility="private", show_progress="hidden")


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


