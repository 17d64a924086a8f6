"""Autoregressive — draw, complete and score faces pixel by pixel with genhub's Gated PixelCNN, as a Space of its own.

In a bundle (``genhub-space-bundle``) the ``genhub`` package sits beside this file; in the repository it is
installed (``pip install -e .``)."""

from genhub.app.loading import load_models
from genhub.app.serving import configure_threads, launch
from genhub.app.tabs import assemble, tab

configure_threads()
# No held-out photos on a public Space: the face data's terms forbid redistribution.
TAB = tab("autoregressive", held_out_examples=False)
demo = assemble([TAB], load_models(TAB.keys), TAB.title)

if __name__ == "__main__":
    launch(demo)
