"""``genhub-evaluate`` (or ``python -m genhub.evaluation``): evaluate an export from the command line.

    genhub-evaluate checkpoints/dcgan-faces-64 [--dataset ../shared/data/faces_celeba] [--split test]
        [--feature_network checkpoints/face-features]
        [--inception_weights pt_inception-2015-12-05-6726825d.pth [--inception_sha256 HEX]]

Prints the report as a table; exits 2 with the reason on stderr when the export, the feature network or the
data cannot be used (see :func:`genhub.evaluation.evaluate.evaluate`).
"""

from __future__ import annotations

import argparse
import sys

from genhub.data import DataError
from genhub.evaluation.evaluate import evaluate
from genhub.evaluation.features import DEFAULT_FEATURE_NETWORK, FEATURE_NETWORK_ENV
from genhub.evaluation.report import format_report
from genhub.models.base import CheckpointError
from genhub.models.inception import STANDARD_SHA256


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="genhub-evaluate",
                                     description="Evaluate a genhub export (FID/KID/precision/recall, detectability, "
                                                 "memorisation; per family).")
    parser.add_argument("checkpoint", help="export folder")
    parser.add_argument("--dataset", default=None, help="held-out data (default: the export's training dataset)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--feature_network", default=None,
                        help=f"genhub face feature network export (default: ${FEATURE_NETWORK_ENV} or "
                             f"{DEFAULT_FEATURE_NETWORK})")
    parser.add_argument("--inception_weights", default=None,
                        help="pt_inception-2015-12-05-6726825d.pth: standard, comparable FID/KID")
    parser.add_argument("--inception_sha256", default=STANDARD_SHA256, help="required SHA-256 of the weights file")
    parser.add_argument("--output_dir", default=None, help="report and gallery folder (default runs/evaluation/NAME)")
    parser.add_argument("--num_samples", type=int, default=None, help="fakes to draw (default: as many as reals)")
    parser.add_argument("--max_real", type=int, default=None, help="use at most N held-out reals")
    parser.add_argument("--memorisation_samples", type=int, default=64,
                        help="fakes checked for copies of training images (0: no memorisation check)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no_update_card", dest="update_card", action="store_false",
                        help="leave the export's training_info.json and model card alone")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run :func:`parse_args` then :func:`~genhub.evaluation.evaluate.evaluate`; returns the exit code
    (0, or 2 on a ``CheckpointError`` / ``DataError``)."""
    args = parse_args(argv)
    try:
        report = evaluate(args.checkpoint, args.dataset, args.split, args.feature_network, args.inception_weights,
                          args.inception_sha256, args.output_dir, args.num_samples, args.max_real,
                          args.memorisation_samples, args.batch_size, args.seed, args.update_card)
    except (CheckpointError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0
