"""Time to quality: a family's recipes trained on the same data, each exporting snapshots at fixed minutes of its
training clock, then every snapshot evaluated (``genhub-evaluate``: FID†/KID† in genhub's face feature space,
precision/recall, the face check, pixel-CNN detectability) — quality against wall time.

    python bench/bench_quality.py                   # DCGAN: the reference for 30 min beside 3 challengers
    python bench/bench_quality.py --family ddpm --minutes 15 --challengers v-1e-3 v-1e-3-snr5
    python bench/bench_quality.py --family stylegan --no_reference --minutes 15 --challengers style-300 progressive-300
    python bench/bench_quality.py --no_reference --challengers reference-batch32 reference-batch16
    python bench/bench_quality.py --tiny [--family ddpm]   # a smoke run: tiny models, seconds

Two lanes run at the same time, one process and one torch thread each (one per core on a 2-core machine, so
neither waits for the other): the reference recipe for ``--minutes``, and beside it the challengers one after
another, each for a third of that (the target: the reference's final quality in a third of its time);
``--no_reference``: only the challengers, shared between the two lanes, to be read beside an earlier run's
reference rows. Apart from the recipe's own flags (:data:`RECIPES`) the runs are the same. The training clock is
the trainer's (``training_info.json``'s wall time: data loading and snapshots included, evaluation not). Prints a
markdown table, writes bench/results/quality-FAMILY.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import benchlib  # bench/ is on sys.path: these files run as scripts

#: DCGAN recipe name -> its flags on top of the shared ones. "reference": the 2016 DCGAN (BCE, BatchNorm in D, Adam
#: 2e-4, beta1 0.5) as the registry's reference run trains it; "modern": hinge loss, spectral norm in D (no
#: BatchNorm, one D pass over real+fake), two time-scale learning rates, Adam (0, 0.9), DiffAugment.
_MODERN = ("--gan_loss", "hinge", "--spectral_norm", "--learning_rate", "1e-4", "--learning_rate_d", "4e-4",
           "--adam_beta1", "0.0", "--adam_beta2", "0.9")
_AUGMENT = ("--diffaugment", "color,translation,cutout")
DCGAN: dict[str, tuple[str, ...]] = {
    "reference": (),
    "modern": (*_MODERN, *_AUGMENT),
    "modern-no-augment": _MODERN,
    "modern-batch32": (*_MODERN, "--train_batch_size", "32"),
    # the 2016 recipe learns more per step than the modern one in the first 10 minutes (the table in README):
    # these trade batch size for steps, with and without DiffAugment
    "reference-batch32": ("--train_batch_size", "32"),
    "reference-batch16": ("--train_batch_size", "16"),
    "reference-batch32-augment": ("--train_batch_size", "32", *_AUGMENT),
    "reference-batch16-augment": ("--train_batch_size", "16", *_AUGMENT),
    "reference-batch12-augment": ("--train_batch_size", "12", *_AUGMENT),
    "reference-batch8-augment": ("--train_batch_size", "8", *_AUGMENT),
    "modern-batch32-augment": (*_MODERN, "--train_batch_size", "32", *_AUGMENT),
    "modern-r1": (*_MODERN, "--r1_gamma", "0.1", "--r1_interval", "4"),
}
#: DDPM recipes: the old starter's (epsilon at 2e-4), v-prediction (Salimans & Ho 2022) at 1e-3, and with min-SNR-5
#: weighting (Hang et al. 2023).
_V = ("--prediction_type", "v_prediction", "--learning_rate", "1e-3", "--lr_warmup_steps", "100")
DDPM: dict[str, tuple[str, ...]] = {
    "epsilon-2e-4": ("--learning_rate", "2e-4", "--lr_warmup_steps", "50"),
    "v-1e-3": _V,
    "v-1e-3-snr5": (*_V, "--snr_gamma", "5"),
}
#: Growing-GAN recipes: stage lengths (steps at alpha 1 / fade-in), the style-based or the progressive generator
#: (Karras et al. 2019 / 2018), style mixing on or off.
STYLEGAN: dict[str, tuple[str, ...]] = {
    "style-100": ("--stage_steps", "100", "--fade_steps", "100"),
    "style-300": ("--stage_steps", "300", "--fade_steps", "150"),
    "style-300-mix0": ("--stage_steps", "300", "--fade_steps", "150", "--style_mixing_prob", "0"),
    "progressive-300": ("--generator_type", "progressive", "--stage_steps", "300", "--fade_steps", "150"),
}
#: every run: the budget decides when it ends; no checkpoints or grids (not timed work of the recipe).
QUIET = ("--max_train_steps", "100000000", "--checkpointing_steps", "100000000", "--save_images_steps", "100000000")


@dataclass(frozen=True)
class FamilyRecipes:
    """A family's recipes (name -> flags), the flags every run of it shares (full and ``--tiny``), and the default
    reference and challengers."""

    recipes: dict[str, tuple[str, ...]]
    shared: tuple[str, ...]
    tiny: tuple[str, ...]
    reference: str
    challengers: tuple[str, ...]


#: family (its ``genhub.train`` module) -> its recipes. The DCGAN runs at the quiz GAN's CPU configuration (its
#: starter's widths): at ngf = ndf = 64 one thread of a 2-core AMD EPYC trains ~10 images/s, too few for a curve.
RECIPES: dict[str, FamilyRecipes] = {
    "dcgan": FamilyRecipes(
        DCGAN, ("--resolution", "64", "--ngf", "32", "--ndf", "32", "--random_flip", *QUIET, "--num_grid_images", "16"),
        ("--resolution", "32", "--ngf", "8", "--ndf", "8", "--latent_dim", "16", "--train_batch_size", "8", *QUIET,
         "--num_grid_images", "4"),
        "reference", ("modern", "modern-no-augment", "modern-batch32")),
    "ddpm": FamilyRecipes(
        DDPM, ("--resolution", "32", "--random_flip", "--train_batch_size", "32", *QUIET, "--num_grid_images", "16"),
        ("--resolution", "16", "--block_out_channels", "8", "16", "--attention_levels", "--norm_num_groups", "4",
         "--train_batch_size", "8", "--ddpm_num_inference_steps", "2", *QUIET, "--num_grid_images", "4"),
        "epsilon-2e-4", ("v-1e-3", "v-1e-3-snr5")),
    "stylegan": FamilyRecipes(
        STYLEGAN, ("--resolution", "32", "--random_flip", *QUIET, "--num_grid_images", "16"),
        ("--resolution", "8", "--latent_dim", "8", "--w_dim", "8", "--mapping_layers", "1", "--channel_base", "32",
         "--max_channels", "8", "--train_batch_size", "8", *QUIET, "--num_grid_images", "4"),
        "style-100", ("style-300", "style-300-mix0", "progressive-300")),
}


def snapshot_folder(output: Path, minutes: float) -> Path:
    return output / f"snapshot-{minutes:g}min"


def train_worker(config: dict) -> Path | None:
    """``--worker``: one variant's run with ``--max_train_minutes`` = the last mark (its export is the last point),
    exporting the (EMA) generator at every earlier mark of the training clock."""
    from dataclasses import replace

    from genhub.hub.info import TRAINING_INFO
    from genhub.train.trainer import train

    family = importlib.import_module(f"genhub.train.{config['family']}")
    marks = sorted(config["marks"])
    args = family.parse_args([*config["flags"], "--max_train_minutes", str(marks[-1]), "--output_dir",
                              config["output"]])
    pending = marks[:-1]

    def build(args, trainer):
        recipe, dataset = family.build(args, trainer)

        def on_step(step: int, export_model) -> None:
            clock = trainer.progress.wall_time
            while pending and clock >= 60 * pending[0]:
                folder = snapshot_folder(Path(config["output"]), pending.pop(0))
                model = export_model()
                model.save_pretrained(folder)
                facts = {**model.card_facts(), "dataset": args.data.source, "data": args.data.to_dict(),
                         "resolution": args.resolution, "config": model.config, "global_step": step,
                         "images_seen": step * args.train_batch_size, "wall_time_seconds": round(clock, 1)}
                (folder / TRAINING_INFO).write_text(json.dumps(facts, indent=2))  # what genhub-evaluate reads

        return replace(recipe, on_step=on_step), dataset

    return train(args, build)  # None: stopped by a signal


def points(output: Path, marks: list[float]) -> list[Path]:
    """The run's exports in time order: the snapshots, then the final export (the last mark)."""
    return [snapshot_folder(output, minutes) for minutes in sorted(marks)[:-1]] + [output]


def evaluate_points(variant: str, output: Path, marks: list[float], tiny: bool, chosen: set[float]) -> list[dict]:
    """One row per export of the run (only those at the ``chosen`` marks, when given)."""
    from genhub.evaluation.evaluate import evaluate

    rows = []
    for minutes, folder in zip(sorted(marks), points(output, marks)):
        if chosen and minutes not in chosen:
            continue
        if not (folder / "config.json").is_file():
            continue  # the run ended before this mark (it cannot: the budget is the last mark)
        info = json.loads((folder / "training_info.json").read_text())
        report = evaluate(folder, output_dir=output / "evaluation" / folder.name, update_card=False,
                          max_real=64 if tiny else None, memorisation_samples=8 if tiny else 64)
        metrics = report["metrics"]
        rows.append({"variant": variant, "minutes": info["wall_time_seconds"] / 60, "steps": info["global_step"],
                     "images": info["images_seen"], **{key: pick(metrics, prefix) for key, prefix in METRICS.items()}})
    return rows


#: column -> the start of the report's metric name (the feature space is named in the report).
METRICS = {"FID†": "FID, ", "KID†": "KID, ", "precision": "precision, ", "recall": "recall, ",
           "face check": "face check, ", "detectability": "detectability (pixel CNN)"}


def pick(metrics: dict, prefix: str) -> float | None:
    return next((value for name, value in metrics.items() if name.startswith(prefix) and "floor" not in name), None)


def lane_worker(lane: list[dict]) -> None:
    """``--worker``: the runs of one lane, one after another; a run stopped by a signal ends the lane."""
    for config in lane:
        if train_worker(config) is None:
            raise SystemExit(f"stopped during {config['output']}")


def main(argv: list[str] | None = None) -> int:
    parser = benchlib.common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]), "quality-FAMILY.json")
    parser.add_argument("--family", default="dcgan", choices=list(RECIPES))
    parser.add_argument("--reference", default=None, help="a recipe of the family (default: its reference)")
    parser.add_argument("--challengers", nargs="*", default=None,
                        help="recipes of the family, each run for a third of --minutes, one after another")
    parser.add_argument("--minutes", type=float, default=None, help="the reference's budget (default 30; tiny 0.15)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per lane")
    parser.add_argument("--dataset", default=None, help="default: ../shared/data/faces_celeba (tiny: a slice)")
    parser.add_argument("--scratch", default=None, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--evaluate_only", action="store_true", help="evaluate the runs already in --scratch")
    parser.add_argument("--evaluate_minutes", nargs="*", type=float, default=None,
                        help="evaluate only the points at these marks (default: every mark)")
    parser.add_argument("--no_reference", action="store_true",
                        help="run only the challengers, in both lanes (read them beside an earlier reference)")
    args = parser.parse_args(argv)
    if args.worker:
        lane_worker(json.loads(sys.stdin.read()))
        return 0
    family = RECIPES[args.family]
    args.reference = args.reference or family.reference
    args.challengers = family.challengers if args.challengers is None else args.challengers
    unknown = sorted({args.reference, *args.challengers} - set(family.recipes))
    if unknown:
        parser.error(f"no {args.family} recipe {unknown}; the family's: {', '.join(family.recipes)}")
    budget = args.minutes or (0.15 if args.tiny else 30.0)
    marks = {"reference": [budget / 2, budget] if args.tiny else [2.5, 5, *(budget * k / 6 for k in (2, 3, 4, 6))],
             "challenger": [budget / 3] if args.tiny else [2.5, 5, budget / 3]}
    dataset = args.dataset or benchlib.dataset_for(args.family, args.tiny)
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="bench-quality-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1",
           "OMP_NUM_THREADS": str(args.threads)}

    def config(variant: str, role: str) -> dict:
        shared = family.tiny if args.tiny else family.shared
        return {"family": args.family, "marks": sorted(set(marks[role])), "output": str(scratch / variant),
                "flags": ["--dataset", dataset, *shared, *family.recipes[variant]]}

    challengers = [config(variant, "challenger") for variant in args.challengers]
    lanes = ({"challengers-1": challengers[0::2], "challengers-2": challengers[1::2]} if args.no_reference else
             {"reference": [config(args.reference, "reference")], "challengers": challengers})
    runs = {}
    for name, lane in ({} if args.evaluate_only else lanes).items():
        scratch.mkdir(parents=True, exist_ok=True)
        log = open(scratch / f"{name}.log", "w")  # noqa: SIM115 - the lane writes to it until it ends
        runs[name] = subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE, text=True,
                                      env=env, cwd=benchlib.ROOT, stdout=log, stderr=subprocess.STDOUT)
        runs[name].stdin.write(json.dumps(lane))
        runs[name].stdin.close()
    for name, run in runs.items():
        if run.wait() != 0:
            raise RuntimeError(f"lane {name} failed:\n{(scratch / f'{name}.log').read_text()[-4000:]}")
    chosen = set(args.evaluate_minutes or [])
    evaluated = [] if args.no_reference else [(args.reference, "reference")]
    rows = [row for variant, role in [*evaluated, *((v, "challenger") for v in args.challengers)]
            for row in evaluate_points(variant, scratch / variant, sorted(set(marks[role])), args.tiny, chosen)]
    text = benchlib.table(rows, {"variant": "recipe", "minutes": "training minutes", "steps": "steps",
                                 "images": "images seen", **{key: key for key in METRICS}})
    benchlib.report(f"quality-{args.family}", {"family": args.family, "tiny": args.tiny, "budget_minutes": budget,
                                "threads": args.threads,
                                "variants": {variant: list(family.recipes[variant])
                                             for variant in [*(name for name, _ in evaluated), *args.challengers]},
                                "dataset": dataset, "scratch": str(scratch), "points": rows}, text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
