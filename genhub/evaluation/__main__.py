"""``python -m genhub.evaluation EXPORT [...]``: the same as ``genhub-evaluate`` (:mod:`genhub.evaluation.cli`)."""

import sys

from genhub.evaluation.cli import main

sys.exit(main())
