"""The genhub hub: one Gradio app, one tab per demo.

    python app.py [--model KEY=LOCATION ...] [--quiz-dataset SOURCE] [--port 7860]

``demo`` is built at import (as Hugging Face Spaces expect), from the registry in
genhub/registry.py, ``GENHUB_MODELS`` and ``GENHUB_QUIZ_DATASET``.
"""

from __future__ import annotations

import argparse
import os

import gradio as gr

from genhub.registry import load_models
from genhub.stats import QuizStats, open_default_stats
from genhub.tabs import latent, quiz, translate


def build_demo(model_overrides: list[str] | None = None, quiz_dataset: str | None = None,
               stats: QuizStats | None = None) -> gr.Blocks:
    """Load every registry model and lay out the tabs. ``stats`` records quiz rounds (None: not recorded)."""
    models = load_models(overrides=model_overrides)
    with gr.Blocks(title="genhub") as demo:
        gr.Markdown("# genhub\nClassic deep generative models, trained in the open.")
        with gr.Tab("Which face is fake?"):
            quiz.build(demo, models["dcgan-faces"], quiz_dataset, stats)
        with gr.Tab("Image-to-image"):
            translate.build(demo, models)
        with gr.Tab("Latent explorer"):
            latent.build(demo, [models["vae-faces"], models["dcgan-faces"]])
    return demo


STATS = open_default_stats()
demo = build_demo(quiz_dataset=os.environ.get("GENHUB_QUIZ_DATASET"), stats=STATS)


def main() -> None:
    global demo
    parser = argparse.ArgumentParser(description="Launch the genhub app.")
    parser.add_argument("--model", action="append", default=[], metavar="KEY=LOCATION",
                        help="replace a registry model by a local export folder or Hub repo id (repeatable)")
    parser.add_argument("--quiz-dataset", default=os.environ.get("GENHUB_QUIZ_DATASET"),
                        help="real faces for the quiz (default: the GAN's own training dataset, test split)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    if args.model or args.quiz_dataset != os.environ.get("GENHUB_QUIZ_DATASET"):
        demo = build_demo(args.model, args.quiz_dataset, STATS)
    demo.queue(default_concurrency_limit=4).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
