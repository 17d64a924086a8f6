"""Known answers for the feature space: FID†, KID†, precision, recall and the face check's rate of held-out faces,
blurred faces and non-faces made from them (:mod:`genhub.evaluation.known_answers`), against the other half of the
held-out faces. A space fit to measure generators ranks them as a person does; the script prints the table and
what is out of order, then (with ``--sides``) the face check's rate at each side on held-out faces in colour and
grey, LFW's grey faces, the flowers and each made non-face (as a 16 px PixelCNN sample or a 32 px StyleGAN stage
reaches the network), and writes bench/results/metrics.json.

    python bench/bench_metrics.py                                   # checkpoints/face-features on faces_celeba
    python bench/bench_metrics.py --feature_network PATH --dataset ../shared/data/faces_celeba --split test
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

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
    parser.add_argument("--sides", type=int, nargs="*", default=[16, 32, 64],
                        help="sides of the face-check table (none: no table)")
    parser.add_argument("--sides_images", type=int, default=256, help="held-out images per row of that table")
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
    rates = face_check_by_side(space, args.dataset, args.split, args.sides, args.sides_images) if args.sides else {}
    if rates:
        print(f"\nface check by side ({args.sides_images} held-out images per row, resized to the network's side):")
        header = " | ".join(f"{side} px" for side in args.sides)
        print(f"| images | {header} |\n| --- |" + " --- |" * len(args.sides))
        for name, row in rates.items():
            print(f"| {name} | " + " | ".join(f"{rate:.1%}" for rate in row) + " |")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"space": space.describe(), "dataset": args.dataset, "split": args.split,
                                             "faces": len(faces), "table": table, "errors": errors,
                                             "face_check_by_side": {"sides": args.sides, "rates": rates},
                                             "machine": benchlib.machine()}, indent=2))
    return 0 if not errors else 1


def face_check_by_side(space, dataset: str, split: str, sides: list[int], count: int) -> dict[str, list[float]]:
    """{row name: the face check's rate at each side}: ``dataset``'s held-out faces in colour and grey, each made
    non-face kind of them, and, where the shared data is there, LFW's grey faces and the flowers in colour and grey."""
    from genhub.evaluation.features import attribute_network
    from genhub.nonfaces import NONFACE_MAKERS

    network = attribute_network(space)
    if network is None:
        return {}
    sources = {"held-out faces": dataset}
    if SHARED.is_dir():
        sources.update({"LFW faces (grey)": str(SHARED / "faces_lfw_gray"),
                        "flowers": str(SHARED / "nonface_flowers_128")})
    rates: dict[str, list[float]] = {}
    for side in sides:
        generator = torch.Generator().manual_seed(0)
        for name, source in sources.items():
            images = stack(load_split(DataSpec(source, side), split), "pixel_values", count)
            grey = images.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
            rows = {name: images} if name.startswith("LFW") else {name: images, f"{name}, grey": grey}
            if name == "held-out faces":
                rows.update({f"{kind} ({name})": make(images, generator) for kind, make in NONFACE_MAKERS.items()})
            for row, batch in rows.items():
                rates.setdefault(row, []).append(float((network.face_probability(batch) > 0.5).float().mean()))
    return rates


if __name__ == "__main__":
    sys.exit(main())
