"""Shared quiz statistics: every finished round, from every player, in one SQLite file.

A row holds no personal data: a random round id, the time, the model key, whether the player
spotted the fake, the response time and the round's difficulty. A database written before the
difficulty was recorded gets the column on first open, its old rounds counted as ``normal``. Each
round is committed on its own, so a crash loses nothing already recorded, and SQLite's locking
serialises concurrent players (threads or processes). On a Space, ``GENHUB_STATS_REPO=org/dataset``
makes a ``huggingface_hub.CommitScheduler`` push the folder to a Hub dataset repo every few minutes.
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
    response_seconds REAL NOT NULL,
    difficulty TEXT NOT NULL DEFAULT 'normal'
)"""
#: The column added after the first schema, and how: rounds recorded before it were all played at "normal".
_ADD_DIFFICULTY = "ALTER TABLE rounds ADD COLUMN difficulty TEXT NOT NULL DEFAULT 'normal'"
#: Per group ({group}: our own column names): rounds, rounds spotted, and the median response time, the mean of
#: the middle one or two rows (SQLite has no median; window functions are in SQLite since 3.25).
_GROUPED = """WITH ranked AS (
    SELECT {group}, correct, response_seconds,
           ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY response_seconds) AS position,
           COUNT(*) OVER (PARTITION BY {group}) AS size
    FROM rounds)
SELECT {group}, COUNT(*), SUM(correct),
       AVG(CASE WHEN position IN ((size + 1) / 2, (size + 2) / 2) THEN response_seconds END)
FROM ranked GROUP BY {group} ORDER BY COUNT(*) DESC, {group}"""


@dataclass(frozen=True)
class Tally:
    """Rounds played, rounds where the player spotted the fake, and the median response time in seconds
    (None: no rounds, or not measured)."""

    played: int
    correct: int
    median_seconds: float | None = None

    @property
    def rate(self) -> float:
        """Share of rounds where the player spotted the fake, in [0, 1] (0 with no rounds)."""
        return self.correct / self.played if self.played else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """95% Wilson interval of :attr:`rate`."""
        return wilson_interval(self.correct, self.played)

    @property
    def fooled(self) -> float:
        """Share of rounds where the fake fooled the player, 1 - :attr:`rate` (0 with no rounds)."""
        return 1.0 - self.rate if self.played else 0.0

    @property
    def fooled_interval(self) -> tuple[float, float]:
        """95% Wilson interval of :attr:`fooled` ((0, 1) with no rounds)."""
        return wilson_interval(self.played - self.correct, self.played)


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
        with self._lock(), self._connect() as db:
            # One write transaction: two processes opening an old database at once add the column once.
            db.execute("BEGIN IMMEDIATE")
            db.execute(_SCHEMA)
            if "difficulty" not in {row[1] for row in db.execute("PRAGMA table_info(rounds)")}:
                db.execute(_ADD_DIFFICULTY)
            db.execute("COMMIT")

    def _lock(self):
        """The commit scheduler's lock (it must never upload a half-written database), or no lock."""
        return self.scheduler.lock if self.scheduler is not None else contextlib.nullcontext()

    def _connect(self) -> sqlite3.Connection:
        # One short-lived connection per call: safe across Gradio's worker threads, and the
        # 30 s busy timeout makes concurrent writers wait instead of failing.
        return contextlib.closing(sqlite3.connect(self.path, timeout=30, isolation_level=None))

    def record(self, model: str, correct: bool, response_seconds: float, difficulty: str = "normal") -> str:
        """Store one finished round (``response_seconds`` from showing the pair to the guess); returns its random
        id. Durable once this returns."""
        round_id = uuid.uuid4().hex
        with self._lock(), self._connect() as db:
            db.execute("INSERT INTO rounds (round_id, played_at, model, correct, response_seconds, difficulty) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (round_id, time.time(), model, int(correct), float(response_seconds), difficulty))
        return round_id

    def totals(self) -> Tally:
        """All rounds, all models (no median)."""
        with self._connect() as db:
            played, correct = db.execute("SELECT COUNT(*), COALESCE(SUM(correct), 0) FROM rounds").fetchone()
        return Tally(played, correct)

    def per_model(self) -> dict[str, Tally]:
        """model key -> its tally with the median response time, most played first."""
        return {model: tally for (model,), tally in self._grouped("model")}

    def per_model_and_difficulty(self) -> dict[tuple[str, str], Tally]:
        """(model key, difficulty) -> its tally with the median response time, most played first."""
        return dict(self._grouped("model", "difficulty"))

    def _grouped(self, *columns: str) -> list[tuple[tuple, Tally]]:
        with self._connect() as db:
            rows = db.execute(_GROUPED.format(group=", ".join(columns))).fetchall()
        width = len(columns)
        return [(tuple(row[:width]), Tally(*row[width:])) for row in rows]


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
