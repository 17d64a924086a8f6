"""Training throughput: each family's default CPU configuration through the genhub trainer (fp32 and bf16)
beside the same step in a plain fp32 eager loop, and how DCGAN / VAE cost grows with batch size and
resolution.

    python bench/bench_training.py            # the real figures (several minutes on 2 cores)
    python bench/bench_training.py --tiny     # a smoke run on tiny models and data slices

Every measurement runs in a fresh process on 4 decoded batches held in memory (the data pipeline is
bench_data.py's subject), times ``--steps`` steps after ``--warmup`` and reports the median.
Prints markdown tables, writes bench/results/training.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import benchlib  # bench/ is on sys.path: these files run as scripts

SWEEP_FAMILIES = ("dcgan", "vae")
BATCH_SIZES = (16, 32, 64, 128)
RESOLUTIONS = (32, 64, 128)


def plan(tiny: bool, families: list[str], warmup: int, steps: int, sweep: bool) -> list[dict]:
    configs = []
    for family in families:
        bench = benchlib.FAMILIES[family]
        base = {"family": family, "dataset": benchlib.dataset_for(family, tiny), "warmup": warmup, "steps": steps,
                "args": list(bench.tiny_args if tiny else bench.cpu_args), "study": "default"}
        configs += [{**base, "mode": "trainer", "precision": "no"}, {**base, "mode": "trainer", "precision": "bf16"},
                    {**base, "mode": "reference", "precision": "no"}]
        if not sweep or family not in SWEEP_FAMILIES:
            continue
        batches, resolutions = ((16,), (64,)) if tiny else (BATCH_SIZES, RESOLUTIONS)
        batch_flag = "--train_batch_size"
        for batch in batches:
            args = [*base["args"], batch_flag, str(batch)]
            configs.append({**base, "args": args, "mode": "trainer", "precision": "no", "study": "batch size"})
        for resolution in resolutions:
            args = [*base["args"], "--resolution", str(resolution)]
            configs.append({**base, "args": args, "mode": "trainer", "precision": "no", "study": "resolution"})
    return configs


def summarise(results: list[dict]) -> tuple[list[dict], list[dict]]:
    """(one row per family: trainer fp32 / bf16 vs reference, ratios; the sweep rows)."""
    rows = []
    for family in dict.fromkeys(r["family"] for r in results):
        default = {(r["mode"], r["precision"]): r for r in results if r["family"] == family and r["study"] == "default"}
        reference = default[("reference", "no")]
        fp32, bf16 = default[("trainer", "no")], default[("trainer", "bf16")]
        rows.append({"family": family, "config": f"{fp32['resolution']} px, batch {fp32['batch_size']}",
                     "trainer_fp32": fp32["images_per_second"], "trainer_bf16": bf16["images_per_second"],
                     "reference_fp32": reference["images_per_second"],
                     "ratio_fp32": fp32["images_per_second"] / reference["images_per_second"],
                     "ratio_bf16": bf16["images_per_second"] / reference["images_per_second"],
                     "s_step_fp32": fp32["seconds_per_step"], "s_step_bf16": bf16["seconds_per_step"],
                     "s_step_reference": reference["seconds_per_step"]})
    sweep = [{"family": r["family"], "study": r["study"], "resolution": r["resolution"], "batch_size": r["batch_size"],
              "images_per_second": r["images_per_second"], "seconds_per_step": r["seconds_per_step"]}
             for r in results if r["study"] != "default"]
    return rows, sweep


def main(argv: list[str] | None = None) -> int:
    parser = benchlib.common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]), "training.json")
    parser.add_argument("--families", nargs="*", default=None, help="default: every family whose data is present")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 3; tiny 1)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10; tiny 2)")
    parser.add_argument("--no_sweep", dest="sweep", action="store_false", help="skip batch-size/resolution sweeps")
    args = parser.parse_args(argv)
    if args.worker:
        benchlib.worker_main()
        return 0
    families = args.families or benchlib.available_families()
    warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 3)
    steps = args.steps or (2 if args.tiny else 10)
    results = benchlib.run_in_subprocesses(plan(args.tiny, families, warmup, steps, args.sweep), Path(__file__))
    rows, sweep = summarise(results)
    text = benchlib.table(rows, {
        "family": "family", "config": "default CPU config", "trainer_fp32": "trainer fp32 img/s",
        "trainer_bf16": "trainer bf16 img/s", "reference_fp32": "plain fp32 loop img/s",
        "ratio_fp32": "fp32 / plain", "ratio_bf16": "bf16 / plain", "s_step_fp32": "trainer fp32 s/step",
        "s_step_bf16": "trainer bf16 s/step", "s_step_reference": "plain s/step"})
    if sweep:
        text += "\n\nHow cost grows (genhub trainer, fp32):\n\n" + benchlib.table(sweep, {
            "family": "family", "study": "varying", "resolution": "resolution", "batch_size": "batch",
            "images_per_second": "img/s", "seconds_per_step": "s/step"})
    benchlib.report("training", {"tiny": args.tiny, "warmup": warmup, "steps": steps, "families": rows,
                                 "sweep": sweep, "runs": results}, text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
