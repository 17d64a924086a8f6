"""A running training's progress, as a file: ``progress.json`` in its output folder, rewritten (atomically) every
``--logging_steps`` steps by the trainer, read by whoever watches the run (the app's tabs while a model trains behind
them, ``genhub.app.background``'s status).

The facts: ``global_step``, ``images_seen``, ``wall_time_seconds`` (training time, resumed runs included) and the stop
rule (``max_steps``, ``max_train_minutes``, ``min_train_images``); :func:`seconds_left` estimates the rest from them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

PROGRESS_FILE = "progress.json"


def write_progress(folder: str | Path, facts: dict) -> None:
    """Write ``facts`` to ``folder/progress.json`` through a temporary file renamed into place, so a reader never
    sees half of it."""
    path = Path(folder) / PROGRESS_FILE
    partial = path.with_name(f".{PROGRESS_FILE}.{os.getpid()}")
    partial.write_text(json.dumps(facts))
    os.replace(partial, path)


def read_progress(folder: str | Path) -> dict | None:
    """The facts of ``folder/progress.json``; None when there is none (yet) or it cannot be read."""
    try:
        facts = json.loads((Path(folder) / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return facts if isinstance(facts, dict) else None


def seconds_left(facts: dict) -> float | None:
    """Seconds until the run's stop rule ends it, at its speed so far: the trainer stops at ``max_steps``, or once
    ``max_train_minutes`` have passed AND ``min_train_images`` were seen (both, when both are set). None before the
    first step (no speed yet)."""
    step, wall, images = facts.get("global_step", 0), facts.get("wall_time_seconds", 0.0), facts.get("images_seen", 0)
    if step <= 0 or wall <= 0:
        return None
    per_step = wall / step
    left = max(0, facts.get("max_steps", math.inf) - step) * per_step
    budget = facts.get("max_train_minutes")
    if budget is not None:
        need = facts.get("min_train_images") or 0
        by_images = max(0.0, need - images) * wall / max(images, 1)
        left = min(left, max(60 * budget - wall, by_images))
    return max(0.0, left)
