"""Latent explorer — walk the latent spaces of genhub's VAE and DCGAN as a Space of its own."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if not (HERE / "genhub").is_dir():  # run from the genhub repository, not from a bundle
    sys.path.insert(0, str(HERE.parents[1]))

from genhub.app.loading import load_models  # noqa: E402
from genhub.app.serving import configure_threads  # noqa: E402
from genhub.app.tabs import assemble, tab  # noqa: E402

configure_threads()
# No held-out photos on a public Space: the face data's terms forbid redistribution.
TAB = tab("latent", held_out_examples=False)
demo = assemble([TAB], load_models(TAB.keys), TAB.title)

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=4).launch()
