"""Starters: a small, quick model for every registry entry, so that every tab is live on a fresh machine.

    python -m genhub.app.starters            # trains each registry model whose local folder is missing
    python -m genhub.app.starters --list     # what would be trained, and how long it takes

Each registry key's starter recipe (its family, its flags on the shared data, ``../shared/data``, when that folder
exists, and on data that ships inside scikit-image otherwise, and the measured wall time) is declared with the key
in :data:`genhub.app.families.ENTRIES`; :data:`STARTERS` reads it off that table.
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
import multiprocessing
import os
import time
from pathlib import Path

from tqdm.auto import tqdm

from genhub.app.families import ENTRIES, QUIET, SHARED_DATA, SPEECH_DATA, ModelSpec, Starter
from genhub.app.registry import resolve_registry
from genhub.paths import PROJECT_ROOT, locate

#: Where each lane's runs write their output (progress bars included) when two or more train at once.
LOGS = PROJECT_ROOT / "runs" / "starters"


#: registry key -> its starter: CPU-sized widths and resolutions, a few minutes each (measured: README.md's
#: "Starters" table); declared with each key's location and reference recipe in :data:`genhub.app.families.ENTRIES`.
STARTERS: dict[str, Starter] = {key: entry.starter for key, entry in ENTRIES.items()}


#: genhub's face feature network, the judge of every floor (:mod:`genhub.evaluation.floors`): trained first in its
#: lane, when the shared data is there (its attribute head needs CelebA's labels, which no shipped data has; without
#: it the starters record no floor and the quiz plays them all). The README's recipe, whole: v3, 8 epochs in about
#: 6 lane-minutes (v2, twice the channels, took 11.4: the first run's critical path; bench/README.md).
JUDGE_FOLDER = "checkpoints/face-features"
JUDGE = Starter(
    "face_features",
    ("--dataset", "{data}/faces_celeba", "--nonface_dataset", "{data}/nonface_flowers_128", *QUIET),
    (), (6.0, 0.0))
#: Held-out images (and as many samples) each starter is evaluated on for its floor: at 256 the StyleGAN starter's
#: face check read 91% where 512 read 95% (bench/README.md); DDIM-50 samples cost most (about 2 min for the DDPM).
EVALUATION_IMAGES = 512


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


def train_starter(key: str, spec: ModelSpec, data: Path | None, starter: Starter | None = None,
                  output_dir: Path | None = None) -> Path | None:
    """Train ``key``'s starter (or ``starter``) into ``output_dir`` (default: ``spec.location``), resuming one that
    was stopped half-way; the card's command names ``spec.location``. Returns the export folder, None when stopped."""
    from genhub.train.trainer import train  # Accelerate only when training: the app imports this table

    starter = starter or STARTERS[key]
    if starter.speech and starter.first(data) and not (SPEECH_DATA / "README.md").is_file():  # its card comes last
        from genhub.voices import make_speech_domains

        print(f"speaking the voice starter's clips with espeak-ng into {os.path.relpath(SPEECH_DATA)}", flush=True)
        make_speech_domains(SPEECH_DATA)
    module = importlib.import_module(f"genhub.train.{starter.family}")
    argv = [*starter.flags(data), "--output_dir", str(output_dir or locate(spec.location)),
            "--resume_from_checkpoint", "latest"]
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
    # no memorisation check (a floor does not read it; 16 s a model, 2.4 lane-minutes of the first run): the reference
    # runs' evaluation (genhub-evaluate) makes it
    report = evaluate(export, feature_network=network, max_real=count, num_samples=count, memorisation_samples=0,
                      output_dir=PROJECT_ROOT / "runs" / "evaluation" / export.name)
    floor = report["floor"]
    verdict = {True: "passes its floor", False: "is BELOW its floor", None: "was not fully measured"}[floor["passed"]]
    return f"{verdict}: " + "; ".join(floor["checks"])


def judge_current(folder: Path) -> bool:
    """Whether ``folder`` holds a trained judge of the feature space genhub measures in now (its ``config.json``
    names the current :data:`~genhub.models.face_features.VERSION`)."""
    from genhub.evaluation.features import network_version
    from genhub.models.face_features import VERSION

    return network_version(folder) == VERSION and (folder / "model.safetensors").is_file()


def set_aside_old_judge(folder: Path) -> None:
    """An exported judge of another version cannot be resumed or used: it moves to ``<folder>-v<version>`` (kept,
    since figures measured in it may be quoted) and a judge of the current version trains in its place. A folder
    with nothing exported (a judge's training stopped half-way) stays, so the training resumes."""
    from genhub.evaluation.features import network_version
    from genhub.models.face_features import VERSION

    version = network_version(folder)
    if version is None or version == VERSION:
        return
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


def unjudged(registry: dict[str, ModelSpec]) -> list[str]:
    """Registry keys whose local export is there and has a floor, but records no verdict in the current judge's
    space (trained before the judge, or judged by another version): :func:`train_all` judges them again."""
    from genhub.evaluation.floors import declared, recorded
    from genhub.hub.info import data_spec, read_training_info

    keys = []
    for key, spec in registry.items():
        folder = locate(spec.location)
        if not spec.local or not (folder / "model.safetensors").is_file():
            continue
        info = read_training_info(folder)
        if declared(spec.family, data_spec(info).modality) and recorded(info) is None:
            keys.append(key)
    return keys


def train_all(todo: list[str], registry: dict[str, ModelSpec], data: Path | None, lanes: int,
              rejudge: list[str] = ()) -> int:
    """Train the judge (when the shared data is there and it is missing) and every starter in ``todo``, ``lanes`` at
    a time, the longest first; each starter is evaluated for its floor once it and the judge are trained, and so is
    every present export in ``rejudge``. Returns the exit status: 1 when a run was stopped (the same command resumes
    it)."""
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
        set_aside_old_judge(judge_folder)
        print(f"first the judge of every floor, genhub's face feature network (~{JUDGE.estimate(data):g} min)",
              flush=True)
        submit("train", "face-features", train_starter, "face-features",
               ModelSpec("face-features", JUDGE_FOLDER, local=True), data, JUDGE)
    for key in order:
        submit("train", key, train_starter, key, registry[key], data, STARTERS[key])
    if lanes > 1:
        print(f"{lanes} lanes of {threads} thread(s) each; each run's progress bar is in {os.path.relpath(LOGS)}/",
              flush=True)
    waiting: list[str] = list(rejudge)  # trained starters waiting for the judge

    def judge_waiting() -> None:
        for ready in waiting:
            submit("floor", ready, judge, locate(registry[ready].location), registry[ready].family, judge_folder,
                   EVALUATION_IMAGES)
        waiting.clear()

    if judge_ready and data is not None:
        judge_waiting()
    try:
        # the bar counts the estimated minutes of the trainings done, so its time left weighs a StyleGAN above a DB-VAE
        work = {"face-features": JUDGE.estimate(data), **{key: STARTERS[key].estimate(data) for key in todo}}
        with tqdm(total=sum(work[key] for kind, key in jobs.values() if kind == "train"), desc="starters",
                  disable=lanes == 1,
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
                        judge_waiting()
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
    data = shared_data() if args.list or not todo else fetch_hub_data()
    rejudge = [key for key in unjudged(registry) if args.keys is None or key in args.keys] if data else []
    if not todo and not rejudge:
        print("every registry model is present: nothing to train")
        return 0
    lanes = args.lanes or default_lanes()
    where = (f"the shared data in {data}" if data == SHARED_DATA else f"the Hub's data in {data}" if data else
             "data shipped with scikit-image (no ../shared/data here)")
    estimates = sorted((STARTERS[key].estimate(data) for key in todo), reverse=True)
    if data is not None and not judge_current(locate(JUDGE_FOLDER)):
        estimates.insert(0, JUDGE.estimate(data))
    print(f"{len(todo)} starter(s) to train on {where}, about {makespan(estimates, lanes):.0f} min in {lanes} "
          f"lane(s) (as measured on 2 cores of an AMD EPYC with native bf16)")
    if rejudge:
        print(f"judged again in the current judge's space: {', '.join(rejudge)}")
    if args.list:
        for key in todo:
            print(f"- {key} (~{STARTERS[key].estimate(data):g} min): {command(key, registry[key], data)}")
        return 0
    return train_all(todo, registry, data, lanes, rejudge)


if __name__ == "__main__":
    raise SystemExit(main())
