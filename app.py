"""The genhub hub: one Gradio app, one tab per entry of genhub.app.tabs.TABS.

    python app.py [--model KEY=LOCATION ...] [--quiz-dataset SOURCE] [--port 7860] [--host 127.0.0.1] [--no-train]

``demo`` is built once, at import (as Hugging Face Spaces expect), from the registry in
genhub/app/registry.py, ``GENHUB_MODELS``, ``GENHUB_QUIZ_DATASET`` and, when run as a script, the
command line; every tab is laid out whether its model exists yet or not, and an export that lands while the app runs
is served from the next request on (:func:`genhub.app.loading.watch`). :func:`main` launches it and, unless
``--no-train`` or on a Space, starts the background trainer (:mod:`genhub.app.background`) on the missing models,
the quiz's first.
"""

from __future__ import annotations

import argparse
import os
import sys

import gradio as gr

from genhub.app import background
from genhub.app.loading import load_models, watch
from genhub.app.registry import resolve_registry
from genhub.app.serving import configure_threads, launch
from genhub.app.stats import QuizStats, open_default_stats
from genhub.app.tabs import TABS, assemble, model_keys

HEADER = "# genhub\nClassic deep generative models, trained in the open."


def parse_settings(argv: list[str]) -> argparse.Namespace:
    """The app's settings from ``argv``, with the environment's defaults (``GENHUB_QUIZ_DATASET``)."""
    parser = argparse.ArgumentParser(description="Launch the genhub app.", allow_abbrev=False)
    parser.add_argument("--model", action="append", default=[], metavar="KEY=LOCATION",
                        help="replace a registry model by a local export folder or Hub repo id (repeatable)")
    parser.add_argument("--quiz-dataset", default=os.environ.get("GENHUB_QUIZ_DATASET"),
                        help="real faces for the quiz (default: the GAN's own training dataset, test split)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help="serve what is there: no background training of the missing models")
    return parser.parse_args(argv)


def build_demo(model_overrides: list[str] | None = None, quiz_dataset: str | None = None,
               stats: QuizStats | None = None) -> gr.Blocks:
    """Load the models of every tab of :data:`TABS` (once each) and lay the tabs out. ``quiz_dataset`` replaces
    the quiz's real faces; ``stats`` records quiz rounds (None: not recorded)."""
    tabs = [entry.with_options(dataset=quiz_dataset, stats=stats) if entry.name == "quiz" else entry
            for entry in TABS]
    models = load_models(model_keys(tabs), model_overrides)
    watch(models)
    return assemble(tabs, models, "genhub", HEADER)


def start_trainer(overrides: list[str]):
    """The background trainer on what is missing here, the quiz's model first and then one per tab
    (:func:`genhub.app.background.plan`); None when there is nothing to train, or on a Space (it serves Hub models)."""
    if os.environ.get("SPACE_ID"):
        return None
    groups = [entry.keys for entry in TABS if entry.name != "models"]
    keys, rejudge = background.plan(resolve_registry(overrides), groups)
    if not keys and not rejudge:
        print("every model is here: nothing to train", flush=True)
        return None
    print(f"training behind the app (one thread, lowest priority): {', '.join(keys) or 'judging only'}; each tab "
          f"shows its progress, the log is {os.path.relpath(background.RUNS / background.LOG_FILE)}", flush=True)
    return background.start(keys, overrides)


configure_threads()
# The command line is read only when this file is the script run: imported (a Space, a test), argv is not ours.
SETTINGS = parse_settings(sys.argv[1:] if __name__ == "__main__" else [])
demo = build_demo(SETTINGS.model, SETTINGS.quiz_dataset, open_default_stats())


def main() -> None:
    trainer = start_trainer(SETTINGS.model) if SETTINGS.train else None
    try:
        launch(demo, server_name=SETTINGS.host, server_port=SETTINGS.port)
    finally:
        if trainer is not None and trainer.poll() is None:  # it saves a checkpoint on SIGTERM: the next start resumes
            trainer.terminate()
            trainer.wait(120)


if __name__ == "__main__":
    main()
