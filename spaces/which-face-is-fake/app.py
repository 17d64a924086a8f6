"""Which face is fake? — the genhub quiz as a Space of its own."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if not (HERE / "genhub").is_dir():  # run from the genhub repository, not from a bundle
    sys.path.insert(0, str(HERE.parents[1]))

import gradio as gr  # noqa: E402

from genhub.registry import load_models  # noqa: E402
from genhub.stats import open_default_stats  # noqa: E402
from genhub.tabs import quiz  # noqa: E402

with gr.Blocks(title="Which face is fake?") as demo:
    quiz.build(demo, load_models(["dcgan-faces"])["dcgan-faces"], stats=open_default_stats())

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=4).launch()
