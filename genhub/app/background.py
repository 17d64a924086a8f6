"""The background trainer: the starters, trained behind the running app in the order the app needs them.

    python -m genhub.app.background [--keys KEY ...] [--model KEY=LOCATION ...]

``python app.py`` (``make demo``) starts it beside the app unless ``--no-train``; Ctrl-C stops both, and the next
start resumes the run that was stopped. One process, one torch thread, the lowest CPU priority (``nice 19``): the
app keeps a core and its requests come first (bench/README.md, "The app while it trains").

Each key trains into its own run folder (``runs/background/KEY``, its checkpoints there: a kill resumes from the
last one); its export is then *published*: copied beside the registry folder and renamed into place, so the app
never reads half of one, and the run folder is removed (disk stays bounded: the training state of a finished run is
not kept). With the shared data the judge of every floor trains once each tab has a model, and every export it has
not judged is judged then. What it is doing is in ``runs/background/status.json`` (:func:`read_status`), which the
app's tabs show with the running key's ``progress.json`` (:func:`describe`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from genhub.app.families import ModelSpec
from genhub.paths import PROJECT_ROOT, locate
from genhub.train.progress import read_progress, seconds_left

#: Where the runs train and the status is written.
RUNS = PROJECT_ROOT / "runs" / "background"
STATUS_FILE = "status.json"
LOG_FILE = "trainer.log"
#: The judge's place in the queue (it is no registry key: floors need it, no tab shows it).
JUDGE_KEY = "face-features"
#: What a run folder holds that an export does not: the training state, the per-step grids, the logs, the progress.
NOT_EXPORTED = ("checkpoint-", ".partial-", "samples", "logs", "progress.json", ".progress.json")


def order(todo: Sequence[str], groups: Sequence[Sequence[str]], estimate: Callable[[str], float],
          judge: bool = False) -> list[str]:
    """The keys of ``todo`` in the order the app needs them: for each group (the quiz's keys first, then each tab's,
    its main model first) that has no model yet, its first key to train; then the judge (``judge``:
    :data:`JUDGE_KEY`), whose floors decide what the quiz plays; then the rest, quickest (``estimate``, minutes)
    first. A group with a key that is not to be trained (present, or a Hub repo) already has its model."""
    first: list[str] = []
    for group in groups:
        if group and all(key in todo and key not in first for key in group):
            first.append(group[0])
    rest = sorted((key for key in todo if key not in first), key=estimate)
    return first + ([JUDGE_KEY] if judge else []) + rest


def publish(run_dir: Path, location: Path) -> Path:
    """Copy the export in ``run_dir`` (everything but :data:`NOT_EXPORTED`) to ``location``: written beside it, then
    renamed into place (a replaced export is moved aside first and removed after), so a reader finds the old export
    whole, nothing for an instant, or the new one whole. Returns ``location``."""
    incoming = location.with_name(f".{location.name}.incoming")
    replaced = location.with_name(f".{location.name}.replaced")
    for stale in (incoming, replaced):
        shutil.rmtree(stale, ignore_errors=True)
    incoming.mkdir(parents=True)
    for item in run_dir.iterdir():
        if item.name.startswith(NOT_EXPORTED):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, incoming / item.name)
    if location.exists():
        os.rename(location, replaced)
    os.rename(incoming, location)
    shutil.rmtree(replaced, ignore_errors=True)
    return location


class Status:
    """``runs/background/status.json``: the queue, the key training now, what ended and how; rewritten atomically
    at each change."""

    def __init__(self, folder: Path, queue: list[str], estimates: dict[str, float]):
        self.path = folder / STATUS_FILE
        self.facts = {"pid": os.getpid(), "started": time.time(), "queue": list(queue), "current": None,
                      "estimates": estimates, "done": {}, "ended": None}
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{STATUS_FILE}.{os.getpid()}")
        partial.write_text(json.dumps(self.facts, indent=1))
        os.replace(partial, self.path)

    def start(self, key: str) -> None:
        self.facts["current"] = key
        self.write()

    def finish(self, key: str, line: str) -> None:
        self.facts["queue"].remove(key)
        self.facts["current"] = None
        self.facts["done"][key] = line
        self.write()

    def end(self, how: str) -> None:
        self.facts["current"], self.facts["ended"] = None, how
        self.write()


def read_status(folder: Path = RUNS) -> dict | None:
    """The background trainer's status (see :class:`Status`), with ``alive``: whether its process still runs; None
    when it never ran here."""
    try:
        facts = json.loads((folder / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(facts["pid"]), 0)
        facts["alive"] = facts.get("ended") is None
    except (OSError, KeyError, ValueError):
        facts["alive"] = False
    return facts


def describe(key: str, status: dict | None, folder: Path = RUNS) -> str | None:
    """One line on ``key`` for a tab whose model is missing: training (images seen of the need, minutes left, from
    its ``progress.json``), queued (behind how many, about how long), or the trainer stopped; None when the background
    trainer has nothing to say of it (the tab shows how to make the model instead)."""
    if not status or key not in status.get("queue", []):
        return None
    if not status.get("alive"):
        return (f"`{key}` was to train behind the app, but the background trainer stopped "
                f"({status.get('ended') or 'killed'}; its log: `{os.path.relpath(folder / LOG_FILE)}`); "
                "start the app again to resume it.")
    estimates, current = status.get("estimates", {}), status.get("current")
    progress = read_progress(folder / key) if key == current else None
    if key == current:
        return f"`{key}` is training behind the app: {_progress_text(progress)}."
    queue = status["queue"]
    ahead = queue[: queue.index(key)]
    minutes = sum(estimates.get(other, 0.0) for other in ahead if other != current)
    if current in ahead:
        left = seconds_left(read_progress(folder / current) or {})
        minutes += (left / 60) if left is not None else estimates.get(current, 0.0)
    return (f"`{key}` is queued behind the app's trainer: {len(ahead)} model(s) before it, starting in about "
            f"{max(1, round(minutes))} min, then about {max(1, round(estimates.get(key, 1.0)))} min to train.")


def _progress_text(progress: dict | None) -> str:
    if not progress:
        return "starting"
    left = seconds_left(progress)
    need = progress.get("min_train_images")
    seen = f"{progress['images_seen']:,}" + (f" of {need:,}" if need else "") + " images"
    return f"step {progress['global_step']:,}, {seen}" + (
        f", about {max(1, round(left / 60))} min left" if left is not None else "")


def plan(registry: dict[str, ModelSpec], groups: Sequence[Sequence[str]] = ()) -> tuple[list[str], list[str]]:
    """What a background trainer would do here: (the keys to train in :func:`order`, the judge included when it is
    needed, present exports to judge again). Looks at the shared data only (fetching the Hub's is the trainer's)."""
    from genhub.app import starters

    todo, data = starters.missing(registry), starters.shared_data()
    rejudge = starters.unjudged(registry) if data else []
    judge = data is not None and bool(todo or rejudge) and not starters.judge_current(locate(starters.JUDGE_FOLDER))
    return order(todo, groups, lambda key: starters.STARTERS[key].estimate(data), judge=judge), rejudge


def start(keys: Sequence[str], overrides: Sequence[str] = (), folder: Path = RUNS) -> subprocess.Popen:
    """Start the background trainer on ``keys`` (in that order; ``overrides``: the app's ``--model KEY=LOCATION``)
    as a child process in the app's process group (Ctrl-C stops both; the trainer saves its checkpoint first), its
    output appended to ``folder/trainer.log``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATUS_FILE).unlink(missing_ok=True)  # an earlier run's ("stopped") until the new one writes its own
    with open(folder / LOG_FILE, "a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "genhub.app.background", "--keys", *keys,
             *[flag for override in overrides for flag in ("--model", override)]],
            stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})


def run(keys: Sequence[str], registry: dict[str, ModelSpec], data: Path | None, folder: Path = RUNS,
        rejudge: Sequence[str] = ()) -> int:
    """Train ``keys`` one after another (:data:`JUDGE_KEY` is the judge), each in ``folder/KEY`` and then published
    to its registry location; judge for its floor every export that needs it (``rejudge``: present ones) once the
    judge is there. Returns 0 when all ended, 1 when a run was stopped (the same call resumes it)."""
    from genhub.app import starters

    estimates = {key: (starters.JUDGE if key == JUDGE_KEY else starters.STARTERS[key]).estimate(data) for key in keys}
    status = Status(folder, list(keys), estimates)
    judge_folder = locate(starters.JUDGE_FOLDER)
    judge_ready = data is not None and starters.judge_current(judge_folder)
    waiting = list(rejudge)
    for key in keys:
        status.start(key)
        start = time.perf_counter()
        if key == JUDGE_KEY:
            starters.set_aside_old_judge(judge_folder)
            done = starters.train_starter(key, ModelSpec("face-features", starters.JUDGE_FOLDER, local=True), data,
                                          starters.JUDGE)
            judge_ready = done is not None
        else:
            done = _train_and_publish(key, registry[key], data, folder / key)
            waiting.append(key)
        if done is None:
            status.end(f"stopped while training {key}")
            return 1
        status.finish(key, f"trained in {(time.perf_counter() - start) / 60:.1f} min")
        if judge_ready:
            for ready in waiting:
                line = starters.judge(locate(registry[ready].location), registry[ready].family, judge_folder)
                if line:
                    print(f"{ready}: it {line}", flush=True)
            waiting.clear()
    status.end("nothing left to train")
    return 0


def _train_and_publish(key: str, spec: ModelSpec, data: Path | None, run_dir: Path) -> Path | None:
    from genhub.app.starters import train_starter

    export = train_starter(key, spec, data, output_dir=run_dir)
    if export is None:
        return None
    publish(export, locate(spec.location))
    shutil.rmtree(run_dir)
    return locate(spec.location)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the app's missing starters behind it, one at a time.")
    parser.add_argument("--keys", nargs="*", default=None, help="these keys, in this order (default: every missing "
                        "one, quickest first); 'face-features' is the judge of the floors")
    parser.add_argument("--model", action="append", default=[], metavar="KEY=LOCATION",
                        help="as app.py's: the registry entries the app serves")
    args = parser.parse_args(argv)
    os.nice(19)  # the app's requests come first
    import torch

    torch.set_num_threads(1)
    from genhub.app import starters
    from genhub.app.registry import resolve_registry

    registry = resolve_registry(args.model)
    todo = starters.missing(registry)
    data = starters.fetch_hub_data() if todo else starters.shared_data()
    keys = args.keys if args.keys is not None else plan(registry)[0]
    rejudge = starters.unjudged(registry) if data else []
    judge_missing = data is not None and not starters.judge_current(locate(starters.JUDGE_FOLDER))
    keys = [key for key in keys if key in todo or (key == JUDGE_KEY and judge_missing)]
    if judge_missing and rejudge and JUDGE_KEY not in keys:
        keys.append(JUDGE_KEY)
    print(f"background trainer: {len(keys)} to train ({', '.join(keys) or 'nothing'}), nice 19, 1 thread", flush=True)
    return run(keys, registry, data, rejudge=rejudge)


if __name__ == "__main__":
    raise SystemExit(main())
