"""Which face is fake? — the genhub quiz as a Space of its own.

In a bundle (``genhub-space-bundle``) the ``genhub`` package sits beside this file; in the repository it is
installed (``pip install -e .``)."""

from genhub.app.loading import load_models
from genhub.app.serving import configure_threads, launch
from genhub.app.stats import open_default_stats
from genhub.app.tabs import assemble, tab

configure_threads()
TAB = tab("quiz", stats=open_default_stats())
demo = assemble([TAB], load_models(TAB.keys), TAB.title)

if __name__ == "__main__":
    launch(demo)
