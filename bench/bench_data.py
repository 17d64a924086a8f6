"""Data pipeline: images/second the training loader delivers on its own (the family's dataset on the shared
parquet sets, as its training script builds it, with the trainer's loader settings), and whether training
waits on it: the same trainer run on the dataset as loaded and on 4 batches held in memory; the difference
in median step time is the time each step waits for data.

    python bench/bench_data.py [--num_workers 0 1]
    python bench/bench_data.py --tiny

Prints a markdown table, writes bench/results/data.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import benchlib  # bench/ is on sys.path: these files run as scripts


def plan(tiny: bool, families: list[str], workers: list[int], warmup: int, steps: int) -> list[dict]:
    configs = []
    for family in families:
        bench = benchlib.FAMILIES[family]
        base = {"family": family, "dataset": benchlib.dataset_for(family, tiny), "precision": "no",
                "warmup": warmup, "steps": steps, "args": list(bench.tiny_args if tiny else bench.cpu_args)}
        for count in workers:
            configs.append({**base, "mode": "loader", "cache": False, "num_workers": count,
                            "args": [*base["args"], "--dataloader_num_workers", str(count)]})
        configs.append({**base, "mode": "trainer", "cache": False, "num_workers": 0})
        configs.append({**base, "mode": "trainer", "cache": True, "num_workers": 0})
    return configs


def summarise(results: list[dict]) -> list[dict]:
    rows = []
    for family in dict.fromkeys(r["family"] for r in results):
        mine = [r for r in results if r["family"] == family]
        loaded = next(r for r in mine if r["mode"] == "trainer" and not r["cache"])
        cached = next(r for r in mine if r["mode"] == "trainer" and r["cache"])
        wait = max(0.0, loaded["seconds_per_step"] - cached["seconds_per_step"])
        row = {"family": family, "dataset": benchlib.FAMILIES[family].dataset,
               "config": f"{loaded['resolution']} px, batch {loaded['batch_size']}",
               "training": cached["images_per_second"], "training_loaded": loaded["images_per_second"],
               "wait": wait, "wait_share": wait / loaded["seconds_per_step"]}
        for r in mine:
            if r["mode"] == "loader":
                row[f"loader_{r['num_workers']}"] = r["images_per_second"]
        row["headroom"] = row.get("loader_0", 0.0) / cached["images_per_second"]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = benchlib.common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]), "data.json")
    parser.add_argument("--families", nargs="*", default=None, help="default: every family whose data is present")
    parser.add_argument("--num_workers", nargs="*", type=int, default=None, help="loader workers to try (default 0 1)")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps/batches (default 20; tiny 2)")
    args = parser.parse_args(argv)
    if args.worker:
        benchlib.worker_main()
        return 0
    families = args.families or benchlib.available_families()
    workers = args.num_workers if args.num_workers is not None else ([0] if args.tiny else [0, 1])
    warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 3)
    steps = args.steps or (2 if args.tiny else 20)
    results = benchlib.run_in_subprocesses(plan(args.tiny, families, workers, warmup, steps), Path(__file__))
    rows = summarise(results)
    columns = {"family": "family", "dataset": "dataset", "config": "config"}
    columns.update({f"loader_{count}": f"loader alone img/s ({count} workers)" for count in workers})
    columns.update({"training": "training img/s (data in memory)", "training_loaded": "training img/s (real loader)",
                    "headroom": "loader / training", "wait": "wait per step (s)", "wait_share": "share of step"})
    benchlib.report("data", {"tiny": args.tiny, "warmup": warmup, "steps": steps, "families": rows, "runs": results},
                    benchlib.table(rows, columns), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
