"""Image-to-image — genhub's pix2pix and CycleGAN translators as a Space of their own.

In a bundle (``genhub-space-bundle``) the ``genhub`` package sits beside this file; in the repository it is
installed (``pip install -e .``)."""

from genhub.app.loading import load_models
from genhub.app.serving import configure_threads, launch
from genhub.app.tabs import assemble, tab

configure_threads()
TAB = tab("translate")
demo = assemble([TAB], load_models(TAB.keys), TAB.title)

if __name__ == "__main__":
    launch(demo)
