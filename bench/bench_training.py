"""Training throughput: each family's default CPU configuration through the genhub trainer against the family's
textbook loop (bench/plain_loops.py) at the same batch, resolution and precision (fp32 and bf16), the trainer's
speed levers one at a time (channels_last, foreach instead of fused Adam, torch.compile; and the cost of the EMA,
which the plain loops do not keep), and how DCGAN / VAE cost grows with batch size and resolution.

    python bench/bench_training.py            # the real figures (tens of minutes on 2 cores)
    python bench/bench_training.py --tiny     # a smoke run on tiny models and data slices
    python bench/bench_training.py --families dcgan --levers compile --no_sweep

Every measurement runs in a fresh process on 4 decoded batches held in memory (the data pipeline is
bench_data.py's subject), times ``--steps`` steps after ``--warmup`` and reports the median; each run's first
step (for ``--compile``: the compilation) is reported apart. One more step of each (not for ``--compile``) is
counted with torch's FlopCounterMode: GFLOP per image, and the GFLOP/s a step achieves beside this machine's fp32
matrix-multiply rate. Prints markdown tables, writes
bench/results/training.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import benchlib  # bench/ is on sys.path: these files run as scripts
from genhub.train.precision import resolve_precision

SWEEP_FAMILIES = ("dcgan", "vae")
BATCH_SIZES = (16, 32, 64, 128)
RESOLUTIONS = (32, 64, 128)
PRECISIONS = {"no": "fp32", "bf16": "bf16"}
#: A lever is kept for a family when it makes the trainer at least this much faster than the baseline (the rest is
#: within the noise of a shared 2-core machine).
KEEP_SPEEDUP = 1.05
LEVER_NAMES = {"channels_last": "channels_last", "foreach_adam": "foreach Adam", "compile": "torch.compile",
               "no_ema": "EMA off"}
#: Levers that change what is trained, measured for their cost only, never kept for speed.
NOT_KEPT = ("no_ema",)


def plan(tiny: bool, families: list[str], warmup: int, steps: int, sweep: bool, levers: list[str],
         precisions: list[str], lever_precision: str) -> list[dict]:
    configs = []
    for family in families:
        bench = benchlib.FAMILIES[family]
        base = {"family": family, "dataset": benchlib.dataset_for(family, tiny), "warmup": warmup, "steps": steps,
                "args": list(bench.tiny_args if tiny else bench.cpu_args), "study": "default"}
        configs += [{**base, "mode": mode, "precision": precision} for mode in ("trainer", "plain")
                    for precision in precisions]
        for lever in ["baseline", *levers] if levers else []:
            flags, adam = benchlib.LEVERS[lever]
            configs.append({**base, "args": [*base["args"], *flags], "mode": "trainer", "precision": lever_precision,
                            "study": "levers", "lever": lever, "adam": adam})
        if not sweep or family not in SWEEP_FAMILIES:
            continue
        batches, resolutions = ((16,), (64,)) if tiny else (BATCH_SIZES, RESOLUTIONS)
        for batch in batches:
            args = [*base["args"], "--train_batch_size", str(batch)]
            configs.append({**base, "args": args, "mode": "trainer", "precision": "no", "study": "batch size"})
        for resolution in resolutions:
            args = [*base["args"], "--resolution", str(resolution)]
            configs.append({**base, "args": args, "mode": "trainer", "precision": "no", "study": "resolution"})
    return configs


def trainer_vs_plain(family: str, runs: list[dict], matmul_gflops: float) -> dict:
    """One family's row: trainer and plain loop at each precision measured, trainer / plain ratios, seconds per
    step, GFLOP per image of each, and the fp32 trainer's GFLOP/s as a share of this machine's fp32 matrix-multiply
    rate (``matmul_gflops``, measured at the start of the run; a step can exceed it when the machine speeds up)."""
    default = {(r["mode"], r["precision"]): r for r in runs if r["study"] == "default"}
    first = next(iter(default.values()))
    row = {"family": family, "config": f"{first['resolution']} px, batch {first['batch_size']}"}
    for precision, name in PRECISIONS.items():
        if ("trainer", precision) not in default:
            continue
        trainer, plain = default[("trainer", precision)], default[("plain", precision)]
        row.update({f"trainer_{name}": trainer["images_per_second"], f"plain_{name}": plain["images_per_second"],
                    f"ratio_{name}": trainer["images_per_second"] / plain["images_per_second"],
                    f"s_step_trainer_{name}": trainer["seconds_per_step"],
                    f"s_step_plain_{name}": plain["seconds_per_step"]})
        if "gflops" in trainer and "gflops" in plain:
            row.update({f"gflop_image_trainer_{name}": trainer["gflop_per_image"],
                        f"gflop_image_plain_{name}": plain["gflop_per_image"],
                        f"gflops_trainer_{name}": trainer["gflops"], f"gflops_plain_{name}": plain["gflops"]})
    if "gflops_trainer_fp32" in row:
        row["matmul_share_fp32"] = row["gflops_trainer_fp32"] / matmul_gflops
    return row


def lever_row(family: str, runs: list[dict]) -> dict | None:
    """One family's levers: each lever's trainer img/s / the baseline's (at the levers' precision), compile's warm-up,
    and what to keep."""
    levers = {r["lever"]: r for r in runs if r["study"] == "levers"}
    if not levers:
        return None
    baseline = levers.pop("baseline")
    row = {"family": family, "baseline": baseline["images_per_second"],
           "baseline_first_step_seconds": baseline["first_step_seconds"]}
    keep = []
    for lever, run in levers.items():
        speedup = run["images_per_second"] / baseline["images_per_second"]
        row.update({lever: run["images_per_second"], f"{lever}_speedup": speedup})
        if speedup >= KEEP_SPEEDUP and lever not in NOT_KEPT:
            keep.append(LEVER_NAMES[lever])
    if "foreach_adam" in levers and "foreach Adam" not in keep:
        keep.append("fused Adam")
    if "compile" in levers:
        row["compile_warmup_seconds"] = levers["compile"]["first_step_seconds"]
    row["keep"] = ", ".join(keep) or "none"
    return row


def summarise(results: list[dict], matmul_gflops: float) -> tuple[list[dict], list[dict], list[dict]]:
    """(one row per family: trainer vs plain loop; one row per family: the levers; the sweep rows)."""
    rows, levers = [], []
    for family in dict.fromkeys(r["family"] for r in results):
        runs = [r for r in results if r["family"] == family]
        rows.append(trainer_vs_plain(family, runs, matmul_gflops))
        levers += filter(None, [lever_row(family, runs)])
    sweep = [{"family": r["family"], "study": r["study"], "resolution": r["resolution"], "batch_size": r["batch_size"],
              "images_per_second": r["images_per_second"], "seconds_per_step": r["seconds_per_step"]}
             for r in results if r["study"] in ("batch size", "resolution")]
    return rows, levers, sweep


def tables(rows: list[dict], levers: list[dict], sweep: list[dict], chosen: list[str], lever_precision: str) -> str:
    text = benchlib.table(rows, {
        "family": "family", "config": "default CPU config", "trainer_fp32": "trainer fp32 img/s",
        "plain_fp32": "plain fp32 img/s", "ratio_fp32": "fp32 trainer / plain", "trainer_bf16": "trainer bf16 img/s",
        "plain_bf16": "plain bf16 img/s", "ratio_bf16": "bf16 trainer / plain",
        "s_step_trainer_fp32": "trainer fp32 s/step", "s_step_plain_fp32": "plain fp32 s/step",
        "gflop_image_trainer_fp32": "trainer GFLOP/img", "gflop_image_plain_fp32": "plain GFLOP/img",
        "gflops_trainer_fp32": "trainer fp32 GFLOP/s", "gflops_plain_fp32": "plain fp32 GFLOP/s",
        "matmul_share_fp32": "trainer / matmul GFLOP/s"})
    if levers:
        columns = {"family": "family", "baseline": "baseline img/s"}
        columns.update({f"{lever}_speedup": f"{LEVER_NAMES[lever]} ×" for lever in chosen})
        if "compile" in chosen:
            columns.update({"compile_warmup_seconds": "compile warm-up s",
                            "baseline_first_step_seconds": "eager first step s"})
        columns["keep"] = f"keep (≥ {KEEP_SPEEDUP}×)"
        text += (f"\n\nLevers (genhub trainer, {PRECISIONS[lever_precision]}; baseline: contiguous, fused Adam, eager; "
                 "× = img/s over the baseline's):\n\n" + benchlib.table(levers, columns))
    if sweep:
        text += "\n\nHow cost grows (genhub trainer, fp32):\n\n" + benchlib.table(sweep, {
            "family": "family", "study": "varying", "resolution": "resolution", "batch_size": "batch",
            "images_per_second": "img/s", "seconds_per_step": "s/step"})
    return text


def main(argv: list[str] | None = None) -> int:
    parser = benchlib.common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]), "training.json")
    parser.add_argument("--families", nargs="*", default=None, help="default: every family whose data is present")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps after the first (default 3; tiny 1)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10; tiny 2)")
    parser.add_argument("--no_sweep", dest="sweep", action="store_false", help="skip batch-size/resolution sweeps")
    parser.add_argument("--levers", nargs="*", choices=list(LEVER_NAMES), default=list(LEVER_NAMES),
                        help="trainer levers to measure against the baseline (default all; none: --levers)")
    parser.add_argument("--precisions", nargs="+", choices=list(PRECISIONS), default=list(PRECISIONS),
                        help="precisions of the trainer-vs-plain table, 'no' (fp32) and/or bf16 (default both; bf16 is "
                             "very slow where the CPU emulates it)")
    parser.add_argument("--lever_precision", choices=["auto", *PRECISIONS], default="auto",
                        help="precision of the levers table (default: what --mixed_precision auto picks on this CPU, "
                             "the precision its users train in)")
    args = parser.parse_args(argv)
    if args.worker:
        benchlib.worker_main()
        return 0
    families = args.families or benchlib.available_families()
    warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 3)
    steps = args.steps or (2 if args.tiny else 10)
    lever_precision = resolve_precision(args.lever_precision, cpu=True).mixed_precision
    configs = plan(args.tiny, families, warmup, steps, args.sweep, args.levers, args.precisions, lever_precision)
    matmul_gflops = benchlib.matmul_gflops()  # before the workers, on the same threads, with the machine to itself
    results = benchlib.run_in_subprocesses(configs, Path(__file__))
    rows, levers, sweep = summarise(results, matmul_gflops)
    text = (f"fp32 matrix multiply (2048 x 2048): {matmul_gflops:.1f} GFLOP/s\n\n"
            + tables(rows, levers, sweep, args.levers, lever_precision))
    benchlib.report("training", {"tiny": args.tiny, "warmup": warmup, "steps": steps, "keep_speedup": KEEP_SPEEDUP,
                                 "matmul_gflops": matmul_gflops, "lever_precision": lever_precision, "families": rows,
                                 "levers": levers, "sweep": sweep, "runs": results}, text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
