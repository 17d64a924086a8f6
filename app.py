"""The genhub hub: one Gradio app, one tab per entry of genhub.app.tabs.TABS.

    python app.py [--model KEY=LOCATION ...] [--quiz-dataset SOURCE] [--port 7860] [--host 127.0.0.1]

``demo`` is built once, at import (as Hugging Face Spaces expect), from the registry in
genhub/app/registry.py, ``GENHUB_MODELS``, ``GENHUB_QUIZ_DATASET`` and, when run as a script, the
command line; :func:`main` only launches it.
"""

from __future__ import annotations

import argparse
import os
import sys

import gradio as gr

from genhub.app.loading import load_models
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
    return parser.parse_args(argv)


def build_demo(model_overrides: list[str] | None = None, quiz_dataset: str | None = None,
               stats: QuizStats | None = None) -> gr.Blocks:
    """Load the models of every tab of :data:`TABS` (once each) and lay the tabs out. ``quiz_dataset`` replaces
    the quiz's real faces; ``stats`` records quiz rounds (None: not recorded)."""
    tabs = [entry.with_options(dataset=quiz_dataset, stats=stats) if entry.name == "quiz" else entry
            for entry in TABS]
    return assemble(tabs, load_models(model_keys(tabs), model_overrides), "genhub", HEADER)


configure_threads()
# The command line is read only when this file is the script run: imported (a Space, a test), argv is not ours.
SETTINGS = parse_settings(sys.argv[1:] if __name__ == "__main__" else [])
demo = build_demo(SETTINGS.model, SETTINGS.quiz_dataset, open_default_stats())


def main() -> None:
    launch(demo, server_name=SETTINGS.host, server_port=SETTINGS.port)


if __name__ == "__main__":
    main()
