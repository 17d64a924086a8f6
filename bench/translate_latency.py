"""Latency of one Image-to-image tab translation of a 128x128 picture (sanitise, fit, model, display resize).

    .venv/bin/python bench/translate_latency.py [--repeats 20]

Untrained models of the registry's sizes (the weights do not change the cost). Prints the median and
90th percentile per configuration; run it on an idle machine for clean numbers.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genhub.models import CycleGAN, Pix2Pix  # noqa: E402
from genhub.app.registry import LoadedModel, ModelSpec  # noqa: E402
from genhub.app.tabs.translate import Direction, translate  # noqa: E402

CONFIGS = {
    "pix2pix 128 ngf=64 (U-Net-128, paper width)": (Pix2Pix(128, num_downs=7), None),
    "pix2pix 128 ngf=32": (Pix2Pix(128, ngf=32, ndf=32, num_downs=7), None),
    "cyclegan 64 ngf=64 ResNet-6, translation + cycle": (CycleGAN(64, n_blocks=6), "AB"),
    "cyclegan 64 ngf=32 ResNet-6, translation + cycle": (CycleGAN(64, ngf=32, ndf=32, n_blocks=6), "AB"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    picture = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(picture, "PNG")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, (model, direction) in CONFIGS.items():
        family = "pix2pix" if direction is None else "cyclegan"
        entry = Direction(LoadedModel(name, ModelSpec(family, ""), model.eval()), direction)
        translate(entry, picture.getvalue())  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            translate(entry, picture.getvalue())
            times.append(time.perf_counter() - start)
        times.sort()
        print(f"{name}: median {statistics.median(times) * 1000:.0f} ms, "
              f"p90 {times[int(0.9 * (len(times) - 1))] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
