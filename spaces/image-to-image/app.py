"""Image-to-image — genhub's pix2pix and CycleGAN translators as a Space of their own."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if not (HERE / "genhub").is_dir():  # run from the genhub repository, not from a bundle
    sys.path.insert(0, str(HERE.parents[1]))

import gradio as gr  # noqa: E402

from genhub.registry import load_models  # noqa: E402
from genhub.tabs import translate  # noqa: E402

with gr.Blocks(title="Image-to-image") as demo:
    translate.build(demo, load_models(["pix2pix-sketch2face", "cyclegan-eyeglasses"]))

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=4).launch()
