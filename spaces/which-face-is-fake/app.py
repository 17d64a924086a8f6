"""Which face is fake? — the genhub quiz as a Space of its own."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if not (HERE / "genhub").is_dir():  # run from the genhub repository, not from a bundle
    sys.path.insert(0, str(HERE.parents[1]))

from genhub.app.loading import load_models  # noqa: E402
from genhub.app.serving import configure_threads  # noqa: E402
from genhub.app.stats import open_default_stats  # noqa: E402
from genhub.app.tabs import assemble, tab  # noqa: E402

configure_threads()
TAB = tab("quiz", stats=open_default_stats())
demo = assemble([TAB], load_models(TAB.keys), TAB.title)

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=4).launch()
