"""Shared quiz statistics: every finished round, from every player, in one SQLite file.

A row holds no personal data: a random round id, the time, the model key, whether the player
spotted the fake, and the response time. Each round is committed on its own, so a crash loses
nothing already recorded, and SQLite's locking serialises concurrent players (threads or
processes). On a Space, ``GENHUB_STATS_REPO=org/dataset`` makes a ``huggingface_hub.CommitScheduler``
push the folder to a Hub dataset repo every few minutes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from genhub.evaluation.intervals import wilson_interval
from genhub.paths import PROJECT_ROOT

_SCHEMA = """CREATE TABLE IF NOT EXISTS rounds (
    round_id TEXT PRIMARY KEY,
    played_at REAL NOT NULL,
    model TEXT NOT NULL,
    correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
    response_seconds REAL NOT NULL
)"""


@dataclass(frozen=True)
class Tally:
    """Rounds played and rounds where the player spotted the fake."""

    played: int
    correct: int

    @property
    def rate(self) -> float:
        return self.correct / self.played if self.played else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """95% Wilson interval of :attr:`rate`."""
        return wilson_interval(self.correct, self.played)


class QuizStats:
    """Append-only round log in a SQLite file (created on first use, with its folder).

    Args:
        path: the database file.
        scheduler: an optional ``huggingface_hub.CommitScheduler`` pushing the file's folder; writes
            take its lock so it never uploads a half-written database.
    """

    def __init__(self, path: str | Path, scheduler=None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.scheduler = scheduler
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # One short-lived connection per call: safe across Gradio's worker threads, and the
        # 30 s busy timeout makes concurrent writers wait instead of failing.
        return contextlib.closing(sqlite3.connect(self.path, timeout=30, isolation_level=None))

    def record(self, model: str, correct: bool, response_seconds: float) -> str:
        """Store one finished round; returns its random id. Durable once this returns."""
        round_id = uuid.uuid4().hex
        lock = self.scheduler.lock if self.scheduler is not None else contextlib.nullcontext()
        with lock, self._connect() as db:
            db.execute("INSERT INTO rounds VALUES (?, ?, ?, ?, ?)",
                       (round_id, time.time(), model, int(correct), float(response_seconds)))
        return round_id

    def totals(self) -> Tally:
        """All rounds, all models."""
        with self._connect() as db:
            played, correct = db.execute("SELECT COUNT(*), COALESCE(SUM(correct), 0) FROM rounds").fetchone()
        return Tally(played, correct)

    def per_model(self) -> dict[str, Tally]:
        """model key -> its tally, most played first."""
        with self._connect() as db:
            rows = db.execute("SELECT model, COUNT(*), SUM(correct) FROM rounds GROUP BY model "
                              "ORDER BY COUNT(*) DESC, model").fetchall()
        return {model: Tally(played, correct) for model, played, correct in rows}


def open_default_stats() -> QuizStats:
    """The app's statistics: ``GENHUB_STATS_DIR`` (default ``stats/`` in the project) / quiz.sqlite,
    pushed to the Hub dataset ``GENHUB_STATS_REPO`` every 10 minutes when that is set."""
    folder = Path(os.environ.get("GENHUB_STATS_DIR", PROJECT_ROOT / "stats"))
    scheduler = None
    repo = os.environ.get("GENHUB_STATS_REPO")
    if repo:
        from huggingface_hub import CommitScheduler

        scheduler = CommitScheduler(repo_id=repo, repo_type="dataset", folder_path=folder, every=10,
                                    allow_patterns=["*.sqlite"])
    return QuizStats(folder / "quiz.sqlite", scheduler)
