"""Latency of one VAE decode (the Latent explorer's slider step) on this machine.

    .venv/bin/python bench/vae_decode_latency.py [--resolution 64] [--latent_dim 128] [--hidden_channels 32]
        [--threads N] [--export checkpoints/vae-faces-64]

Prints the median and 90th percentile over 50 single-image decodes (after 10 warm-up decodes), for the
decoder alone and for the explorer's whole step (decode + 8-bit PIL + Lanczos upscale to 256 px).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genhub.models import VAE  # noqa: E402
from genhub.app.tabs.latent import Explorer  # noqa: E402


def timed(function, repeats: int = 50, warmup: int = 10) -> list[float]:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--latent_dim", type=int, default=128)
    parser.add_argument("--hidden_channels", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--export", default=None, help="time a trained export instead of a fresh model")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = (VAE.from_pretrained(args.export) if args.export else
             VAE(args.resolution, args.latent_dim, 3, args.hidden_channels)).eval()
    explorer = Explorer(model)
    z = torch.randn(1, model.latent_dim)
    with torch.inference_mode():
        decode = timed(lambda: model.decode(z))
        step = timed(lambda: explorer.display(explorer.decode(z)[0]))
    for name, times in (("decode", decode), ("decode + PIL + upscale", step)):
        print(f"{name:>24}: median {statistics.median(times):.2f} ms, "
              f"p90 {statistics.quantiles(times, n=10)[-1]:.2f} ms over {len(times)} runs "
              f"({model.resolution}x{model.resolution}, z={model.latent_dim}, "
              f"hidden={model.config['hidden_channels']}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
