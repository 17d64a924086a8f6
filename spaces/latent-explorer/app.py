"""Latent explorer — walk the latent spaces of genhub's VAE and DCGAN as a Space of its own."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if not (HERE / "genhub").is_dir():  # run from the genhub repository, not from a bundle
    sys.path.insert(0, str(HERE.parents[1]))

import gradio as gr  # noqa: E402

from genhub.registry import load_models  # noqa: E402
from genhub.tabs import latent  # noqa: E402

with gr.Blocks(title="Latent explorer") as demo:
    # No held-out photos on a public Space: the face data's terms forbid redistribution.
    latent.build(demo, list(load_models(["vae-faces", "dcgan-faces"]).values()), held_out_examples=False)

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=4).launch()
