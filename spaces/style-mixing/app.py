"""Style mixing — genhub's style-based generator (StyleGAN) as a Space of its own: mix the styles of two faces by
layer range, watch the model grow stage by stage, truncate towards the average face, move along directions in w.

In a bundle (``genhub-space-bundle``) the ``genhub`` package sits beside this file; in the repository it is
installed (``pip install -e .``)."""

from genhub.app.loading import load_models
from genhub.app.serving import configure_threads, launch
from genhub.app.tabs import assemble, tab

configure_threads()
TAB = tab("style")
demo = assemble([TAB], load_models(TAB.keys), TAB.title)

if __name__ == "__main__":
    launch(demo)
