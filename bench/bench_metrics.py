"""Known answers for the feature space: FID†, KID†, precision, recall and the face check's rate of held-out faces,
blurred faces and non-faces made from them (:mod:`genhub.evaluation.known_answers`), against the other half of the
held-out faces. A space fit to measure generators ranks them as a person does; the script prints the table and
what is out of order, and writes bench/results/metrics.json.

    python bench/bench_metrics.py                                   # checkpoints/face-features on faces_celeba
    python bench/bench_metrics.py --feature_network PATH --dataset ../shared/data/faces_celeba --split test
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import benchlib  # bench/ is on sys.path: these files run as scripts
from genhub.data import DataSpec, load_split
from genhub.evaluation import known_answers
from genhub.evaluation.families import stack
from genhub.evaluation.features import face_feature_space
from genhub.paths import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feature_network", default="checkpoints/face-features")
    parser.add_argument("--dataset", default=str(SHARED / "faces_celeba") if SHARED.is_dir() else "lfw-subset")
    parser.add_argument("--split", default="test")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--max_faces", type=int, default=None, help="held-out faces to use (default: all)")
    parser.add_argument("--output", default=str(benchlib.RESULTS / "metrics.json"))
    args = parser.parse_args(argv)
    space = face_feature_space(args.feature_network)
    faces = stack(load_split(DataSpec(args.dataset, args.resolution), args.split), "pixel_values", args.max_faces)
    table = known_answers.score(space, faces)
    errors = known_answers.ranking_errors(table)
    print(f"known answers: {len(faces) // 2} held-out faces of {args.dataset} ({args.split}) as the reference, "
          f"{len(faces) // 2} per probe; space {space.label}")
    print("| probe | FID† | KID† | precision | recall | face check |\n| --- | --- | --- | --- | --- | --- |")
    for name, row in table.items():
        print(f"| {name} | {row['FID']:.2f} | {row['KID']:.4f} | {row['precision']:.3f} | {row['recall']:.3f} | "
              f"{row['face rate']:.1%} |")
    print("ranking: " + ("as a person ranks them" if not errors else "OUT OF ORDER\n- " + "\n- ".join(errors)))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"space": space.describe(), "dataset": args.dataset, "split": args.split,
                                             "faces": len(faces), "table": table, "errors": errors,
                                             "machine": benchlib.machine()}, indent=2))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
