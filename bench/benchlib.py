"""Shared pieces of the bench scripts: each family's default CPU configuration, timing training steps inside
the genhub trainer (or in the family's textbook loop, bench/plain_loops.py), running each measurement in a fresh
process, machine facts, tables and JSON.

Timing inside the trainer: ``Trainer.fit``'s ``on_step`` hook stamps the end of every optimisation step; the
interval between two stamps is one full step as the trainer runs it (the step under ``accelerate``'s
accumulate/autocast, the EMA update, logging, fetching the next batch). After ``warmup + steps`` intervals
the hook stops the run before checkpointing or exporting anything. The plain loop is stamped the same way: each
interval is one step of the textbook loop, fetching its batch included. The first step of either (compilation,
first-touch allocations) is reported on its own as ``first_step_seconds``. One more step after the timed ones runs
under torch's ``FlopCounterMode`` (untimed: the counter slows it). Its count of matrix-product and convolution
operations turns seconds into the rate a step achieves, which :func:`matmul_gflops` (what the cores deliver on a
large matrix product) puts in proportion.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class FamilyBench:
    """How to benchmark one family (its ``genhub.train`` module is the key of :data:`FAMILIES`): the shared
    dataset it trains on, the flags of its default CPU configuration (ENVIRONMENT.md's CPU table; the family's
    defaults elsewhere), the flags of the tiny configuration, flags of both, and further shared datasets it needs as
    (flag, dataset) pairs: those are used whole, also by --tiny (a run decodes only the items it draws)."""

    dataset: str
    cpu_args: tuple[str, ...] = ()
    tiny_args: tuple[str, ...] = ()
    data_args: tuple[str, ...] = ()
    more_datasets: tuple[tuple[str, str], ...] = ()


#: family -> how to benchmark it. A new family adds one entry.
FAMILIES: dict[str, FamilyBench] = {
    "dcgan": FamilyBench("faces_celeba", ("--resolution", "64", "--train_batch_size", "64"),
                         ("--resolution", "32", "--ngf", "8", "--ndf", "8", "--latent_dim", "16",
                          "--train_batch_size", "8")),
    "vae": FamilyBench("faces_celeba", ("--resolution", "64", "--train_batch_size", "64"),
                       ("--resolution", "32", "--hidden_channels", "8", "--latent_dim", "8",
                        "--train_batch_size", "8")),
    "pix2pix": FamilyBench("sketch2face_celeba_128",
                           ("--resolution", "128", "--train_batch_size", "8"),
                           ("--resolution", "32", "--ngf", "8", "--ndf", "8", "--train_batch_size", "2")),
    "cyclegan": FamilyBench("unpaired_celeba_eyeglasses",
                            ("--resolution", "128", "--train_batch_size", "1"),
                            ("--resolution", "32", "--ngf", "8", "--ndf", "8", "--n_blocks", "1",
                             "--train_batch_size", "1"),
                            ("--domain_column", "domain")),
    "autoencoder": FamilyBench("faces_celeba", ("--resolution", "64", "--train_batch_size", "64"),
                               ("--resolution", "32", "--hidden_channels", "8", "--latent_dim", "8",
                                "--train_batch_size", "8")),
    "ddpm": FamilyBench("faces_celeba", ("--resolution", "32", "--train_batch_size", "64"),
                        ("--resolution", "16", "--block_out_channels", "8", "16", "--attention_levels", "1",
                         "--norm_num_groups", "4", "--train_batch_size", "8")),
    # one-step stages without fade-in: every step after the warm-up runs at the final resolution
    "stylegan": FamilyBench("faces_celeba", ("--resolution", "32", "--train_batch_size", "32", "--stage_steps", "1",
                                             "--fade_steps", "0"),
                            ("--resolution", "16", "--latent_dim", "16", "--w_dim", "16", "--mapping_layers", "2",
                             "--channel_base", "64", "--max_channels", "16", "--train_batch_size", "8",
                             "--stage_steps", "1", "--fade_steps", "0")),
    "cgan": FamilyBench("faces_celeba", ("--resolution", "64", "--train_batch_size", "64"),
                        ("--resolution", "32", "--ngf", "8", "--ndf", "8", "--latent_dim", "16", "--attributes", "Male",
                         "Smiling", "--train_batch_size", "8")),
    "pixelcnn": FamilyBench("faces_lfw_gray", ("--resolution", "32", "--train_batch_size", "32"),
                            ("--resolution", "8", "--hidden_channels", "8", "--num_layers", "2", "--num_levels", "4",
                             "--train_batch_size", "8")),
    "dbvae": FamilyBench("faces_celeba", ("--resolution", "64", "--train_batch_size", "32"),
                         ("--resolution", "32", "--hidden_channels", "8", "--latent_dim", "4",
                          "--train_batch_size", "4"),
                         more_datasets=(("--nonface_dataset", "nonface_flowers_128"),)),
}

#: The levers bench_training.py measures on the trainer (fp32), each against the same baseline: contiguous memory,
#: fused Adam, eager. name -> (flags, Adam implementation).
LEVERS: dict[str, tuple[tuple[str, ...], str]] = {
    "baseline": (("--no-channels_last",), "fused"),
    "channels_last": (("--channels_last",), "fused"),
    "foreach_adam": (("--no-channels_last",), "foreach"),
    "compile": (("--no-channels_last", "--compile"), "fused"),
    "no_ema": (("--no-channels_last", "--no-use_ema"), "fused"),  # what the EMA (which plain loops lack) costs
}


def available_families() -> list[str]:
    """Families whose shared datasets are present."""
    return [name for name, bench in FAMILIES.items()
            if all((SHARED_DATA / folder).is_dir() for folder in (bench.dataset, *dict(bench.more_datasets).values()))]


def tiny_dataset(name: str, rows: dict[str, int] | None = None) -> Path:
    """A small slice (default 32 train / 8 test rows) of a shared dataset in a temporary folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = rows or {"train": 32, "test": 8}
    target = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    for split, count in rows.items():
        table = pq.read_table(next((SHARED_DATA / name).glob(f"{split}-*.parquet")))
        if "domain" in table.column_names:  # keep both domains of an unpaired set
            domain = table.column("domain").to_pylist()
            picked = [i for i, d in enumerate(domain) if d == "A"][: count // 2] + \
                     [i for i, d in enumerate(domain) if d == "B"][: count - count // 2]
            table = table.take(pa.array(picked))
        else:
            table = table.slice(0, count)
        pq.write_table(table, target / f"{split}-00000-of-00001.parquet")
    return target


# ------------------------------------------------------------------------------------ measuring
class _Done(Exception):
    """Raised from inside the trainer once enough steps are timed: stops before any checkpoint or export."""


class CachedDataset:
    """The first ``count`` items of a dataset, decoded once and kept in memory (so a run times the step, not
    the JPEG decoder). Same item dicts as the source."""

    def __init__(self, dataset, count: int):
        self.items = [dataset[i] for i in range(min(count, len(dataset)))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


def use_foreach_adam(optimizers: dict) -> None:
    """Switch the recipe's (fused) Adam optimizers to torch's foreach implementation before their first step: the same
    update rule, the implementation the ``foreach_adam`` lever measures. A bench-only switch: the trainer always
    builds fused Adam where the device has it (genhub.train.optim)."""
    for optimizer in optimizers.values():
        for group in optimizer.param_groups:
            group.update(fused=None, foreach=True)


def matmul_gflops(size: int = 2048, warmup: int = 3, repeats: int = 10) -> float:
    """This machine's fp32 matrix-multiply rate on torch's current threads, in GFLOP/s: the best of ``repeats``
    (size, size) @ (size, size) products (2 size³ operations each) after ``warmup``. What the cores deliver on the
    friendliest kernel at this moment, beside which a training step's rate reads as a share (on a shared machine
    the rate itself moves from minute to minute)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(warmup):  # thread pool and clocks up
        a @ b
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def time_steps(config: dict, module, args) -> tuple[float | None, list[tuple[float, float]], float | None]:
    """Run ``warmup + steps + 2`` steps of ``config``'s family (``module``: its ``genhub.train`` module) and return
    the first step's seconds, the (start, end) perf_counter pairs of the other steps, and the floating-point
    operations of one more step, counted by ``FlopCounterMode`` (its matrix products and convolutions, forward and
    backward: elementwise work is not counted; None for ``"loader"`` and ``--compile`` runs: the
    counter would run the compiled graph's operations through its Python hooks or force a recompilation).

    ``config["mode"]`` ``"trainer"``: :meth:`Trainer.fit` runs, timed through its ``on_step`` hook (each pair spans one
    whole optimisation step as the trainer runs it; the run stops before any checkpoint or export), with torch's
    foreach Adam when ``config["adam"]`` is ``"foreach"``; ``"plain"``: the family's textbook loop
    (:func:`plain_loops.make_loop`) at ``config["precision"]``; ``"loader"``: only a DataLoader built like the
    trainer's (each pair is one batch fetched; no first step). ``config["cache"]`` (default true): train on the first
    4 batches decoded once (cycled).
    """
    import plain_loops
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from genhub.train.trainer import Trainer, flip_batch

    mode, calls = config["mode"], config["warmup"] + config["steps"]
    counter = None if mode == "loader" or (mode == "trainer" and args.compile) else FlopCounterMode(display=False)
    trainer = Trainer(args)
    recipe, dataset = module.build(args, trainer)
    if config.get("cache", True):
        dataset = CachedDataset(dataset, 4 * args.train_batch_size)
    if mode == "trainer":
        if config.get("adam") == "foreach":
            use_foreach_adam(recipe.optimizers)
        stamps: list[float] = []

        def on_step(step: int) -> None:
            stamps.append(time.perf_counter())
            if len(stamps) == calls + 1 and counter is not None:
                counter.__enter__()  # left at the next step's end: it counts exactly one step
            elif len(stamps) > calls:
                if counter is not None:
                    counter.__exit__(None, None, None)
                raise _Done

        with contextlib.suppress(_Done):
            trainer.fit(recipe, dataset, on_step)
        if len(stamps) <= calls + (counter is not None):
            raise RuntimeError(f"the run stopped after {len(stamps)} steps, before its steps were timed and counted")
        timed = list(zip(stamps, stamps[1:]))[:calls]
        return trainer.first_step_seconds, timed, None if counter is None else counter.get_total_flops()
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.train_batch_size, shuffle=True, drop_last=True,
                                         num_workers=args.dataloader_num_workers if mode == "loader" else 0,
                                         generator=torch.Generator().manual_seed(0))
    batches = (batch for _ in itertools.count() for batch in loader)
    if mode == "loader":  # the data pipeline alone, as the trainer builds its loader
        record = []
        for _ in range(calls):
            start = time.perf_counter()
            next(batches)
            record.append((start, time.perf_counter()))
        return None, record, None
    step = plain_loops.make_loop(config["family"], recipe, config["precision"], trainer.accelerator.device)
    prepared = (flip_batch(batch, recipe.flip_groups) if args.random_flip else batch for batch in batches)
    stamps = [time.perf_counter()]
    for batch in itertools.islice(prepared, calls + 1):
        step(batch)
        stamps.append(time.perf_counter())
    with counter:
        step(next(prepared))
    return stamps[1] - stamps[0], list(zip(stamps[1:], stamps[2:])), counter.get_total_flops()


def step_seconds(record: list[tuple[float, float]], warmup: int) -> list[float]:
    """Per-step seconds after ``warmup`` steps."""
    return [end - start for start, end in record][warmup:]


def run_config(config: dict) -> dict:
    """Run one measurement in this process. ``config``: family, mode (trainer/plain/loader), precision
    (no/bf16), dataset (path), args (extra flags), warmup, steps, cache (bool), adam ("foreach": see
    :func:`use_foreach_adam`). The result adds batch size, resolution, median seconds per step and images per
    second, and (where :func:`time_steps` counted them) GFLOP per image and the GFLOP/s the median step achieved."""
    bench = FAMILIES[config["family"]]
    module = importlib.import_module(f"genhub.train.{config['family']}")
    warmup, steps = config["warmup"], config["steps"]
    more = [part for flag, name in bench.more_datasets for part in (flag, str(SHARED_DATA / name))]
    with tempfile.TemporaryDirectory(prefix="bench-run-") as output:
        argv = ["--dataset", config["dataset"], *more, *bench.data_args, *config["args"], "--output_dir", output,
                "--max_train_steps", str(warmup + steps + 2), "--checkpointing_steps", "100000000",
                "--save_images_steps", "100000000", "--num_grid_images", "4", "--mixed_precision", config["precision"]]
        args = module.parse_args(argv)
        first_step, record, flops = time_steps(config, module, args)
    times = step_seconds(record, warmup)
    median = statistics.median(times)
    counted = {} if flops is None else {"gflop_per_image": flops / 1e9 / args.train_batch_size,
                                        "gflops": flops / 1e9 / median}
    return {**config, "batch_size": args.train_batch_size, "resolution": args.resolution, **counted,
            "seconds_per_step": median, "images_per_second": args.train_batch_size / median,
            "p90_seconds_per_step": sorted(times)[int(0.9 * (len(times) - 1))], "timed_steps": len(times),
            "first_step_seconds": first_step}


def run_in_subprocesses(configs: list[dict], script: Path) -> list[dict]:
    """Run each config in a fresh ``python SCRIPT --worker`` process (Accelerate's precision is fixed per
    process, and a fresh process is what a real run gets); configs sharing a precision share a process, except
    that ``--compile`` runs get processes of their own, with an empty inductor cache: the eager measurements
    share nothing with the compiler, and a compiled run's first step is a first compilation, not a cache hit."""
    def process(config: dict) -> tuple[str, bool]:
        return config["precision"], "--compile" in config["args"]

    results = []
    for (precision, compiled), group in itertools.groupby(sorted(configs, key=process), key=process):
        with tempfile.TemporaryDirectory(prefix="bench-inductor-") as cache:
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1",
                   **({"TORCHINDUCTOR_CACHE_DIR": cache} if compiled else {})}
            done = subprocess.run([sys.executable, str(script), "--worker"], input=json.dumps(list(group)), text=True,
                                  capture_output=True, env=env, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"bench worker ({precision}) failed:\n{done.stderr[-4000:]}")
        results += [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return results


def worker_main() -> None:
    """``--worker``: read a JSON list of configs on stdin, print one JSON result line per config."""
    for config in json.loads(sys.stdin.read()):
        print(json.dumps(run_config(config)), flush=True)


# ------------------------------------------------------------------------------------ reporting
def machine() -> dict:
    """The machine the numbers came from."""
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available()
            else None, "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "load_average_1min": round(os.getloadavg()[0], 2)}  # other work on the machine skews every figure


def table(rows: list[dict], columns: dict[str, str]) -> str:
    """A markdown table of ``rows`` with ``columns`` = {key: header}; floats get 3 significant digits."""
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(columns.values()) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(key)) for key in columns) + " |" for row in rows]
    return "\n".join(lines)


def report(name: str, payload: dict, text: str, output: str | None) -> Path:
    """Print the table (with the machine) and write ``payload`` + machine as JSON (default bench/results/NAME.json)."""
    facts = machine()
    print(f"{name} — {facts['cpu']}, {facts['cores']} cores, torch {facts['torch']}, {facts['date']}, "
          f"load average {facts['load_average_1min']} at the end\n")
    print(text)
    path = Path(output) if output else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": facts, **payload}, indent=2))
    print(f"\nwrote {path}")
    return path


def common_args(parser, default_output: str):
    parser.add_argument("--tiny", action="store_true", help="tiny models and data slices, 1+2 steps: a smoke run")
    parser.add_argument("--output", default=None, help=f"JSON file (default bench/results/{default_output})")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser


_TINY: dict[str, Path] = {}


def dataset_for(family: str, tiny: bool) -> str:
    """The family's shared dataset, or (``tiny``) a small slice of it made once per process."""
    name = FAMILIES[family].dataset
    if not tiny:
        return str(SHARED_DATA / name)
    if name not in _TINY:
        _TINY[name] = tiny_dataset(name)
    return str(_TINY[name])
