"""Starters: a small, quick model for every registry entry, so that every tab is live on a fresh machine.

    python -m genhub.app.starters            # trains each registry model whose local folder is missing
    python -m genhub.app.starters --list     # what would be trained, and how long it takes

:data:`STARTERS` is the one place that holds each entry's starter recipe: its family, its flags on the shared
data (``../shared/data``, when that folder exists) and on data that ships inside scikit-image (otherwise), and
the measured wall time. A new registry entry adds one row (a test fails while an entry has none).
``make demo`` runs this before it launches the app: the app then starts with every model present, and the
training runs alone on the cores instead of fighting the app's requests for them. On a CPU two trainings run at
once, one thread each (:func:`default_lanes`): small steps leave a second thread idle, so two lanes train more
images per second than one run on both threads (bench/README.md, "The first run").

With the shared data, the judge (genhub's face feature network, :data:`JUDGE`) trains beside the first starters,
and every starter of a family with a floor (:mod:`genhub.evaluation.floors`) is evaluated once it and the judge
are trained: the verdict goes into its export, and the quiz plays only the starters that pass. On the shared data
every starter stops at a time budget once it has seen the images its family needs (or, the DB-VAE's, after one
epoch), never at a step cap: a lane of one thread or a slower CPU still gets there, a faster machine (a GPU) buys a
better model in the same time (bench/README.md). The shipped recipes
train on 100 images and keep their step caps (epochs, in effect) under a budget.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import importlib
import json
import multiprocessing
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from genhub.app.registry import DBVAE_FLAGS, ModelSpec, resolve_registry
from genhub.paths import PROJECT_ROOT, locate

#: Where the project's shared data sits next to a checkout (see ../shared/data/DATA.md).
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
#: Where each lane's runs write their output (progress bars included) when two or more train at once.
LOGS = PROJECT_ROOT / "runs" / "starters"
#: Where the voice starter's speech is made (``training/make_speech_domains.py``'s folder, README's), once.
SPEECH_DATA = PROJECT_ROOT / "data" / "voices"


@dataclass(frozen=True)
class Starter:
    """One registry entry's starter recipe.

    Parameters:
        family: the ``genhub.train`` module that trains it.
        shared: flags when :data:`SHARED_DATA` exists (or, for ``speech``, when espeak-ng does); ``{data}`` stands
            for that folder, ``{speech}`` for :data:`SPEECH_DATA`.
        shipped: flags on the data that ships inside a package (see :mod:`genhub.shipped`).
        minutes: wall time of the shared recipe in a lane of one thread (two lanes on 2 cores of the bf16 kind,
            its floor evaluation included) and of the shipped one on 2 threads, as measured: the progress
            estimate.
        speech: the first recipe converts espeak-ng's speech (made into :data:`SPEECH_DATA` before it trains) and
            needs espeak-ng instead of the shared data.
    """

    family: str
    shared: tuple[str, ...]
    shipped: tuple[str, ...]
    minutes: tuple[float, float]
    speech: bool = False

    def first(self, shared_data: Path | None) -> bool:
        """Whether this machine trains the first recipe (``shared``) rather than the shipped one."""
        return espeak_installed() if self.speech else shared_data is not None

    def flags(self, shared_data: Path | None) -> list[str]:
        """The training flags (without ``--output_dir``) for this machine's data; folders are named relative to the
        working directory (``../shared/data`` from the checkout), as README's commands do."""
        if not self.first(shared_data):
            return list(self.shipped)
        return [flag.format(data=os.path.relpath(shared_data or SHARED_DATA), speech=os.path.relpath(SPEECH_DATA))
                for flag in self.shared]

    def estimate(self, shared_data: Path | None) -> float:
        return self.minutes[0 if self.first(shared_data) else 1]


_QUIET = ("--checkpointing_steps", "250", "--checkpoints_total_limit", "1", "--save_images_steps", "250")


def _budget(minutes: float) -> tuple[str, ...]:
    """Stop after ``minutes`` of training (or at a recipe's own step cap, when it has one, if that comes first)."""
    return ("--max_train_minutes", str(minutes))


#: For the recipes that stop at their budget alone: the trainer's default of 10 epochs is 60 steps of the 100
#: shipped images, so it would stop them in seconds (measured: the shipped StyleGAN ended in its 4 px stage).
_EPOCHS = ("--num_epochs", "100000")


def _need(minutes: float, images: int) -> tuple[str, ...]:
    """A shared-data recipe's stop rule: ``images`` is what the family needed to show its idea (what it saw in
    ``minutes`` on 2 threads of the bf16 kind, bench/README.md), so a lane of one thread or a slower CPU trains until
    it has seen them; a faster machine trains on to ``minutes``. No step cap (10 epochs would be one on a GPU)."""
    return ("--max_train_minutes", str(minutes), "--min_train_images", str(images), *_EPOCHS)


#: The DDPM starter's recipe: v-prediction (Salimans & Ho 2022) with min-SNR-5 weighting (Hang et al. 2023) at 1e-3
#: after 100 warm-up steps.
_DDPM_RECIPE = ("--prediction_type", "v_prediction", "--snr_gamma", "5", "--learning_rate", "1e-3",
                "--lr_warmup_steps", "100")


#: The style-based GAN starter's recipe: stages of 300 steps at alpha 1 and 150 fading in, no style-mixing
#: regularisation (the tab mixes styles all the same; at 5 minutes mixing cost 6.5 FID† and a tenth of the faces).
_STYLEGAN_RECIPE = ("--stage_steps", "300", "--fade_steps", "150", "--style_mixing_prob", "0")


def _dbvae(*flags: str) -> Starter:
    """A DB-VAE (or, with ``--baseline``, CNN) starter: faces vs flowers at 32 px, or LFW faces vs patches."""
    return Starter(
        "dbvae",
        ("--dataset", "{data}/faces_celeba", "--nonface_dataset", "{data}/nonface_flowers_128",
         "--domain_shift_dataset", "{data}/faces_lfw_gray", "--resolution", "32", "--latent_dim", "32",
         "--hidden_channels", "32", "--train_batch_size", "32", "--random_flip", "--num_epochs", "1",
         *flags, *_budget(1.5), *_QUIET),
        ("--dataset", "lfw-subset-faces-vs-patches", "--domain_column", "domain", "--resolution", "32", "--latent_dim",
         "16", "--hidden_channels", "16", "--train_batch_size", "16", "--random_flip", "--num_epochs", "20", *flags,
         *_budget(0.5), *_QUIET),
        (0.7, 0.3))


#: registry key -> its starter: CPU-sized widths and resolutions, a few minutes each (measured: README.md's
#: "Starters" table); the full recipes are the registry's ``recipe``s.
STARTERS: dict[str, Starter] = {
    "dcgan-faces": Starter(
        "dcgan",
        # the 2016 recipe at batch 12 with DiffAugment: the best FID† at every mark in bench/bench_quality.py; 24,000
        # images (14,000 read 91.8% faces and precision 0.46 in a lane, below the floor; 24,000: 99% and 0.77)
        ("--dataset", "{data}/faces_celeba", "--resolution", "64", "--ngf", "32", "--ndf", "32", "--random_flip",
         "--diffaugment", "color,translation,cutout", "--train_batch_size", "12", *_need(2.6, 24_000), *_QUIET),
        ("--dataset", "lfw-subset", "--resolution", "32", "--ngf", "32", "--ndf", "32", "--random_flip",
         "--train_batch_size", "16", "--max_train_steps", "1500", *_budget(1.0), *_QUIET),
        (3.3, 1.0)),
    "vae-faces": Starter(
        "vae",
        ("--dataset", "{data}/faces_celeba", "--resolution", "64", "--latent_dim", "128", "--hidden_channels", "32",
         "--random_flip", "--train_batch_size", "64", "--outlier_dataset", "{data}/nonface_flowers_128",
         *_need(1.5, 32_000), *_QUIET),
        ("--dataset", "lfw-subset", "--resolution", "32", "--latent_dim", "32", "--hidden_channels", "16",
         "--random_flip", "--train_batch_size", "16", "--max_train_steps", "1500", "--min_attribute_count", "2",
         *_budget(0.6), *_QUIET),
        (2.1, 0.4)),
    "autoencoder-faces": Starter(
        "autoencoder",
        ("--dataset", "{data}/faces_celeba", "--resolution", "64", "--latent_dim", "128", "--hidden_channels", "32",
         "--random_flip", "--train_batch_size", "64", *_need(1.5, 32_000), *_QUIET),
        ("--dataset", "lfw-subset", "--resolution", "32", "--latent_dim", "32", "--hidden_channels", "16",
         "--random_flip", "--train_batch_size", "16", "--max_train_steps", "1500", *_budget(0.6), *_QUIET),
        (2.2, 0.8)),
    **{key: _dbvae(*flag.split()) for key, flag in DBVAE_FLAGS.items()},
    "cgan-faces": Starter(
        "cgan",
        ("--dataset", "{data}/faces_celeba", "--resolution", "64", "--attributes", "Male", "Smiling", "Eyeglasses",
         "Young", "Blond_Hair", "Bald", "--ngf", "32", "--ndf", "32", "--random_flip", "--train_batch_size", "64",
         *_need(1.6, 24_000), *_QUIET),
        ("--dataset", "lfw-subset-faces-vs-patches", "--resolution", "32", "--attributes", "is_face", "--ngf", "32",
         "--ndf", "32", "--random_flip", "--train_batch_size", "16", "--max_train_steps", "1000", *_budget(1.0),
         *_QUIET),
        (2.7, 1.6)),
    "pixelcnn-faces": Starter(
        "pixelcnn",
        # CelebA's aligned faces in grayscale at 16 px, 5x5 kernels (13 rows of context, most of the image): faces in
        # 3 min (bench/README.md) where LFW at 32 px with 3x3 kernels (7 rows) drew gray textures; no step cap
        ("--dataset", "{data}/faces_celeba", "--channels", "1", "--resolution", "16", "--num_levels", "16",
         "--hidden_channels", "32", "--num_layers", "6", "--kernel_size", "5", "--random_flip", "--train_batch_size",
         "32", "--outlier_dataset", "{data}/nonface_flowers_128", "--num_grid_images", "8", *_need(3.0, 52_000),
         *_QUIET),
        ("--dataset", "lfw-subset", "--resolution", "16", "--num_levels", "16", "--hidden_channels", "32",
         "--num_layers", "6", "--kernel_size", "5", "--random_flip", "--train_batch_size", "16", *_EPOCHS,
         "--num_grid_images", "8", *_budget(1.0), *_QUIET),
        (4.8, 1.1)),
    "pix2pix-sketch2face": Starter(
        "pix2pix",
        ("--dataset", "{data}/sketch2face_celeba_128", "--input_column", "input", "--target_column", "target",
         "--input_name", "sketch", "--target_name", "face", "--resolution", "64", "--ngf", "32", "--ndf", "32",
         "--train_batch_size", "8", "--random_flip", *_need(1.5, 5_000), *_QUIET),
        ("--dataset", "lfw-subset-sketch", "--input_column", "input", "--target_column", "target",
         "--input_name", "sketch", "--target_name", "face", "--resolution", "64", "--ngf", "32", "--ndf", "32",
         "--train_batch_size", "8", "--random_flip", "--max_train_steps", "600", *_budget(1.5), *_QUIET),
        (2.0, 1.5)),
    "cyclegan-eyeglasses": Starter(
        "cyclegan",
        ("--dataset", "{data}/unpaired_celeba_eyeglasses", "--domain_column", "domain", "--domain_a", "A",
         "--domain_b", "B", "--domain_a_name", "no_eyeglasses", "--domain_b_name", "eyeglasses", "--resolution", "64",
         "--ngf", "16", "--ndf", "16", "--n_blocks", "4", "--train_batch_size", "1", "--random_flip",
         *_need(3.0, 1_800), *_QUIET),
        ("--dataset", "lfw-subset-faces-vs-patches", "--domain_column", "domain", "--domain_a", "A", "--domain_b",
         "B", "--domain_a_name", "face", "--domain_b_name", "texture_patch", "--resolution", "32", "--ngf", "16",
         "--ndf", "16", "--n_blocks", "4", "--train_batch_size", "4", "--random_flip", "--max_train_steps", "600",
         *_budget(1.0), *_QUIET),
        (4.2, 1.0)),
    "cyclegan-voices": Starter(
        "cyclegan",
        # espeak-ng's two voices where it is installed (speech: 2 min took the log-mel distance to the true clip 38%
        # and 51% of the way, bench/README.md); genhub's vowel-only numpy voices where it is not
        *[("--dataset", dataset, "--domain_column", "voice", "--modality", "audio", "--domain_a_name", "low voice",
           "--domain_b_name", "high voice", "--resolution", "64", "--ngf", "8", "--ndf", "8", "--n_blocks", "2",
           "--train_batch_size", "4", *stop, *_QUIET)
          for dataset, stop in (("{speech}", _need(1.5, 2_800)), ("synthetic-voices", (*_EPOCHS, *_budget(1.0))))],
        (3.7, 1.1), speech=True),
    "ddpm-faces": Starter(
        "ddpm",
        # min-SNR-weighted v-prediction at a 5x learning rate (bench/README.md, time to quality): faces in 4 min
        # where the epsilon recipe at 2e-4 drew colour noise; no step cap, so a faster machine buys more steps
        ("--dataset", "{data}/faces_celeba", "--resolution", "32", "--random_flip", "--train_batch_size", "32",
         *_DDPM_RECIPE, *_need(4.0, 19_200), "--num_grid_images", "16", *_QUIET),
        ("--dataset", "lfw-subset", "--resolution", "32", "--random_flip", "--train_batch_size", "16",
         *_DDPM_RECIPE, *_EPOCHS, *_budget(1.5), "--num_grid_images", "16", *_QUIET),
        (8.5, 1.6)),
    "stylegan-faces": Starter(
        "stylegan",
        # style-based, 300-step stages with 150-step fade-ins, no mixing regularisation, batch 16 (bench/README.md):
        # 68,000 images in 7.2 lane-minutes read 98.8% faces and precision 0.83 (judge v3), where batch 32 took
        # 160,000 images and 15 minutes to 98.2% and 0.91
        ("--dataset", "{data}/faces_celeba", "--resolution", "32", "--random_flip", *_STYLEGAN_RECIPE,
         "--train_batch_size", "16", *_need(4.5, 68_000), "--num_grid_images", "16", *_QUIET),
        ("--dataset", "lfw-subset", "--resolution", "32", "--random_flip", "--train_batch_size", "16",
         *_STYLEGAN_RECIPE, *_EPOCHS, *_budget(2.0), "--num_grid_images", "16", *_QUIET),
        (8.0, 2.2)),
}


#: genhub's face feature network, the judge of every floor (:mod:`genhub.evaluation.floors`): trained first in its
#: lane, when the shared data is there (its attribute head needs CelebA's labels, which no shipped data has; without
#: it the starters record no floor and the quiz plays them all). The README's recipe, whole: v3, 8 epochs in about
#: 6 lane-minutes (v2, twice the channels, took 11.4: the first run's critical path; bench/README.md).
JUDGE_FOLDER = "checkpoints/face-features"
JUDGE = Starter(
    "face_features",
    ("--dataset", "{data}/faces_celeba", "--nonface_dataset", "{data}/nonface_flowers_128", *_QUIET),
    (), (6.0, 0.0))
#: Held-out images (and as many samples) each starter is evaluated on for its floor: at 256 the StyleGAN starter's
#: face check read 91% where 512 read 95% (bench/README.md); DDIM-50 samples cost most (about 2 min for the DDPM).
EVALUATION_IMAGES = 512


def espeak_installed() -> bool:
    """Whether espeak-ng is on PATH (the voice starter then converts speech; ``make audio-tools`` installs it)."""
    return shutil.which("espeak-ng") is not None


def shared_data() -> Path | None:
    """:data:`SHARED_DATA` when it exists, else the same folders made from the Hub (:mod:`genhub.hub_data`) when
    they are complete, else None (the shipped recipes are used)."""
    from genhub.hub_data import COMPLETE, HUB_DATA

    if SHARED_DATA.is_dir():
        return SHARED_DATA
    return HUB_DATA if (HUB_DATA / "faces_celeba" / COMPLETE).is_file() else None


def fetch_hub_data() -> Path | None:
    """Without :data:`SHARED_DATA`, make the newcomer's folders from public Hub datasets (:func:`genhub.hub_data.
    make_hub_data`, once) and return them; None with one line saying why when the Hub cannot be reached (the
    shipped recipes are used then)."""
    from genhub.data import DataError
    from genhub.hub.reachable import hub_reachable
    from genhub.hub_data import CELEBA, FLOWERS, HUB_DATA, make_hub_data

    found = shared_data()
    if found is not None:
        return found
    shipped = "training on the data shipped with scikit-image (100 gray 25 px LFW faces) instead"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or not hub_reachable():
        print(f"no ../shared/data and the Hugging Face Hub cannot be reached: {shipped}", flush=True)
        return None
    print(f"no ../shared/data: making its folders from {CELEBA.repo_id} and {FLOWERS.repo_id} (pinned revisions; "
          f"CelebA is for non-commercial research only) into {os.path.relpath(HUB_DATA)}", flush=True)
    try:
        return make_hub_data(HUB_DATA)
    except DataError as error:
        print(f"{error}; {shipped}", flush=True)
        return None


def command(key: str, spec: ModelSpec, data: Path | None = None, starter: Starter | None = None) -> str:
    """The shell command that trains ``key``'s starter (or ``starter``) into its registry folder."""
    starter = starter or STARTERS[key]
    flags = " ".join(starter.flags(data))
    return f"accelerate launch training/train_{starter.family}.py {flags} --output_dir {spec.location}"


def missing(registry: dict[str, ModelSpec]) -> list[str]:
    """Registry keys whose location is a local folder (``ModelSpec.local``) that holds no export yet; repo ids
    are never trained here."""
    return [key for key, spec in registry.items()
            if spec.local and not (locate(spec.location) / "model.safetensors").is_file()]


def train_starter(key: str, spec: ModelSpec, data: Path | None, starter: Starter | None = None) -> Path | None:
    """Train ``key``'s starter (or ``starter``) into ``spec.location`` (resuming one that was stopped half-way)."""
    from genhub.train.trainer import train  # Accelerate only when training: the app imports this table

    starter = starter or STARTERS[key]
    if starter.speech and starter.first(data) and not (SPEECH_DATA / "README.md").is_file():  # its card comes last
        from genhub.voices import make_speech_domains

        print(f"speaking the voice starter's clips with espeak-ng into {os.path.relpath(SPEECH_DATA)}", flush=True)
        make_speech_domains(SPEECH_DATA)
    module = importlib.import_module(f"genhub.train.{starter.family}")
    argv = [*starter.flags(data), "--output_dir", str(locate(spec.location)), "--resume_from_checkpoint", "latest"]
    return train(module.parse_args(argv), module.build, command=command(key, spec, data, starter))


def judge(export: Path, family: str, network: str | Path | None = None, images: int | None = None) -> str | None:
    """Evaluate a fresh starter for its family's floor (``genhub-evaluate`` on ``images`` held-out images and as many
    samples, a PixelCNN's included, default :data:`EVALUATION_IMAGES`, in the space of the feature network
    ``network``, default :data:`JUDGE_FOLDER`; the verdict goes into the export) and return one line saying how it
    did; None when the family has no floor or there is no judge."""
    from genhub.evaluation.evaluate import evaluate
    from genhub.evaluation.floors import declared
    from genhub.hub.info import data_spec, read_training_info

    network = locate(network or JUDGE_FOLDER)
    modality = data_spec(read_training_info(export)).modality
    if not declared(family, modality) or not (network / "model.safetensors").is_file():
        return None  # genhub-evaluate opens the judge's space for every family, a voice's too
    count = images or EVALUATION_IMAGES
    report = evaluate(export, feature_network=network, max_real=count, num_samples=count, memorisation_samples=16,
                      output_dir=PROJECT_ROOT / "runs" / "evaluation" / export.name)
    floor = report["floor"]
    verdict = {True: "passes its floor", False: "is BELOW its floor", None: "was not fully measured"}[floor["passed"]]
    return f"{verdict}: " + "; ".join(floor["checks"])


def judge_current(folder: Path) -> bool:
    """Whether ``folder`` holds a trained judge of the feature space genhub measures in now (its ``config.json``
    names the current :data:`~genhub.models.face_features.VERSION`)."""
    from genhub.models.face_features import VERSION

    try:
        version = json.loads((folder / "config.json").read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return False
    return version == VERSION and (folder / "model.safetensors").is_file()


def _set_aside_old_judge(folder: Path) -> None:
    """A judge of another version cannot be resumed or used: it moves to ``<folder>-v<version>`` (kept, since
    figures measured in it may be quoted) and a judge of the current version trains in its place."""
    if not folder.exists():
        return
    try:
        version = json.loads((folder / "config.json").read_text()).get("version", "old")
    except (OSError, ValueError, AttributeError):
        version = "old"
    aside = folder.with_name(f"{folder.name}-v{version}")
    while aside.exists():
        aside = aside.with_name(aside.name + "-old")
    folder.rename(aside)
    print(f"the judge in {os.path.relpath(folder)} is of another version: kept as {os.path.relpath(aside)}", flush=True)


def default_lanes() -> int:
    """Trainings at once: one on a GPU, else two on a CPU with 2+ cores (each with half the cores). Two lanes of one
    thread train 1.2x (DDPM, PixelCNN, batch-64 models) to 1.7x (DCGAN, pix2pix, StyleGAN) the images per second
    of one run on both threads (bench/README.md): small steps leave a second thread idle."""
    import torch

    return 1 if torch.cuda.is_available() else min(2, len(os.sched_getaffinity(0)))


def makespan(minutes: list[float], lanes: int) -> float:
    """Minutes until the last job ends when each job, in order, goes to the lane that frees first."""
    ends = [0.0] * lanes
    for job in minutes:
        ends[ends.index(min(ends))] += job
    return max(ends)


class _InThisProcess(concurrent.futures.Executor):
    """One lane: each job runs at once, here (the trainer's progress bars stay on the terminal)."""

    def submit(self, fn, /, *args, **kwargs):
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # noqa: BLE001 - handed to the caller through the future, as a pool would
            future.set_exception(error)
        return future


def _in_lane(threads: int | None, log: Path | None, work, *args):
    """Run ``work(*args)`` with ``threads`` torch threads (None: as they are), its output (progress bars included)
    appended to ``log`` (None: the terminal); returns its result and the minutes it took."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    if log is None:
        return work(*args), (time.perf_counter() - start) / 60
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as stream, contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        return work(*args), (time.perf_counter() - start) / 60


def _trained_line(key: str, export: Path, minutes: float) -> str:
    from genhub.hub.info import read_training_info

    info = read_training_info(export)
    return (f"{key}: trained in {minutes:.1f} min ({info.get('images_seen', 0):,} images, "
            f"{info.get('global_step')} steps)")


def train_all(todo: list[str], registry: dict[str, ModelSpec], data: Path | None, lanes: int) -> int:
    """Train the judge (when the shared data is there and it is missing) and every starter in ``todo``, ``lanes`` at
    a time, the longest first; each starter is evaluated for its floor once it and the judge are trained. Returns
    the exit status: 1 when a run was stopped (the same command resumes it)."""
    threads = max(1, len(os.sched_getaffinity(0)) // lanes) if lanes > 1 else None
    order = sorted(todo, key=lambda key: -STARTERS[key].estimate(data))
    judge_folder = locate(JUDGE_FOLDER)
    judge_ready = data is None or judge_current(judge_folder)
    executor = (concurrent.futures.ProcessPoolExecutor(lanes, mp_context=multiprocessing.get_context("spawn"))
                if lanes > 1 else _InThisProcess())
    jobs: dict[concurrent.futures.Future, tuple[str, str]] = {}

    def submit(kind: str, key: str, work, *args) -> None:
        log = LOGS / f"{key}.{kind}.log" if lanes > 1 else None
        jobs[executor.submit(_in_lane, threads, log, work, *args)] = (kind, key)

    if not judge_ready:
        _set_aside_old_judge(judge_folder)
        print(f"first the judge of every floor, genhub's face feature network (~{JUDGE.estimate(data):g} min)",
              flush=True)
        submit("train", "face-features", train_starter, "face-features",
               ModelSpec("face-features", JUDGE_FOLDER, local=True), data, JUDGE)
    for key in order:
        submit("train", key, train_starter, key, registry[key], data, STARTERS[key])
    if lanes > 1:
        print(f"{lanes} lanes of {threads} thread(s) each; each run's progress bar is in {os.path.relpath(LOGS)}/",
              flush=True)
    waiting: list[str] = []  # trained starters waiting for the judge
    try:
        # the bar counts the estimated minutes of the trainings done, so its time left weighs a StyleGAN above a DB-VAE
        work = {"face-features": JUDGE.estimate(data), **{key: STARTERS[key].estimate(data) for key in todo}}
        with tqdm(total=sum(work[key] for _, key in jobs.values()), desc="starters", disable=lanes == 1,
                  bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed} so far, about {remaining} left]",
                  dynamic_ncols=True) as bar:
            while jobs:
                done, _ = concurrent.futures.wait(jobs, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    kind, key = jobs.pop(future)
                    result, minutes = future.result()
                    if kind == "floor":
                        if result:
                            tqdm.write(f"{key}: it {result}")
                        continue
                    if result is None:
                        tqdm.write(f"stopped; run the same command again to resume {key}")
                        executor.shutdown(cancel_futures=True)
                        return 1
                    bar.update(work[key])
                    tqdm.write(_trained_line(key, result, minutes))
                    if key == "face-features":
                        judge_ready = True
                    else:
                        waiting.append(key)
                    if judge_ready:
                        for ready in waiting:
                            submit("floor", ready, judge, locate(registry[ready].location), STARTERS[ready].family,
                                   judge_folder, EVALUATION_IMAGES)
                        waiting = []
    except KeyboardInterrupt:
        print("stopped; run the same command again to resume", flush=True)
        executor.shutdown(cancel_futures=True)  # each lane's trainer saves its checkpoint first
        return 1
    executor.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a starter for every registry model that is missing.")
    parser.add_argument("--keys", nargs="*", default=None, help=f"only these (default: all; {', '.join(STARTERS)})")
    parser.add_argument("--list", action="store_true", help="print the plan and the commands, train nothing")
    parser.add_argument("--lanes", type=int, default=None,
                        help="trainings at once, each with its share of the cores (default: 1 on a GPU, 2 on a CPU)")
    args = parser.parse_args(argv)
    registry = resolve_registry()
    todo = [key for key in missing(registry) if args.keys is None or key in args.keys]
    if not todo:
        print("every registry model is present: nothing to train")
        return 0
    lanes = args.lanes or default_lanes()
    data = shared_data() if args.list else fetch_hub_data()
    where = (f"the shared data in {data}" if data == SHARED_DATA else f"the Hub's data in {data}" if data else
             "data shipped with scikit-image (no ../shared/data here)")
    estimates = sorted((STARTERS[key].estimate(data) for key in todo), reverse=True)
    if data is not None and not judge_current(locate(JUDGE_FOLDER)):
        estimates.insert(0, JUDGE.estimate(data))
    print(f"{len(todo)} starter(s) to train on {where}, about {makespan(estimates, lanes):.0f} min in {lanes} "
          f"lane(s) (as measured on 2 cores of an AMD EPYC with native bf16)")
    if args.list:
        for key in todo:
            print(f"- {key} (~{STARTERS[key].estimate(data):g} min): {command(key, registry[key], data)}")
        return 0
    return train_all(todo, registry, data, lanes)


if __name__ == "__main__":
    raise SystemExit(main())
