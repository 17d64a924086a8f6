"""Shared quiz statistics: durable, concurrent, restart-proof."""

import contextlib
import sqlite3
import subprocess
import sys
import threading

import pytest

from genhub.app.stats import QuizStats
from genhub.evaluation.intervals import wilson_interval


def test_record_totals_and_per_model_table(tmp_path):
    stats = QuizStats(tmp_path / "sub" / "quiz.sqlite")
    assert stats.totals().played == 0 and stats.per_model() == {}
    for model, correct in [("a", True), ("a", False), ("b", True), ("a", True)]:
        stats.record(model, correct, 1.5)
    total = stats.totals()
    assert (total.played, total.correct) == (4, 3) and total.rate == 0.75
    assert total.interval == pytest.approx(wilson_interval(3, 4))
    table = stats.per_model()
    assert list(table) == ["a", "b"]
    assert (table["a"].played, table["a"].correct, table["b"].played) == (3, 2, 1)


def test_per_model_and_difficulty_tallies_with_median_response_times(tmp_path):
    stats = QuizStats(tmp_path / "quiz.sqlite")
    rounds = [("a", True, 4.0, "normal"), ("a", False, 1.0, "hard"), ("a", False, 3.0, "hard"),
              ("a", True, 2.0, "normal"), ("b", False, 7.5, "truncated")]
    for model, correct, seconds, difficulty in rounds:
        stats.record(model, correct, seconds, difficulty)
    table = stats.per_model()
    assert list(table) == ["a", "b"]
    assert (table["a"].played, table["a"].correct, table["a"].median_seconds) == (4, 2, 2.5)  # mean of 2.0 and 3.0
    assert (table["b"].played, table["b"].median_seconds) == (1, 7.5)
    assert table["a"].fooled == 0.5 and table["a"].fooled_interval == pytest.approx(wilson_interval(2, 4))
    assert table["b"].fooled == 1.0 and table["b"].fooled_interval == pytest.approx(wilson_interval(1, 1))
    split = stats.per_model_and_difficulty()
    assert list(split) == [("a", "hard"), ("a", "normal"), ("b", "truncated")]  # most played, then by name
    assert [(t.played, t.correct, t.median_seconds) for t in split.values()] == [(2, 0, 2.0), (2, 2, 3.0),
                                                                                  (1, 0, 7.5)]
    stats.record("c", True, 9.0)  # no difficulty given: a normal round
    assert stats.per_model_and_difficulty()[("c", "normal")].played == 1
    assert stats.totals().median_seconds is None  # totals carry no median
    assert QuizStats(tmp_path / "empty.sqlite").per_model_and_difficulty() == {}


#: The schema every database was written with before the difficulty was recorded (genhub before issue 12).
OLD_SCHEMA = """CREATE TABLE IF NOT EXISTS rounds (
    round_id TEXT PRIMARY KEY,
    played_at REAL NOT NULL,
    model TEXT NOT NULL,
    correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
    response_seconds REAL NOT NULL
)"""


def test_a_database_of_the_old_schema_gets_the_difficulty_column_and_keeps_its_rounds(tmp_path):
    path = tmp_path / "quiz.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(OLD_SCHEMA)
        db.executemany("INSERT INTO rounds VALUES (?, ?, ?, ?, ?)",
                       [("r1", 1.0, "dcgan-faces", 1, 2.0), ("r2", 2.0, "dcgan-faces", 0, 4.0)])
    stats = QuizStats(path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(rounds)")]
        old_rows = db.execute("SELECT round_id, difficulty FROM rounds ORDER BY round_id").fetchall()
    assert columns == ["round_id", "played_at", "model", "correct", "response_seconds", "difficulty"]
    assert old_rows == [("r1", "normal"), ("r2", "normal")]  # the old rounds were all played at "normal"
    stats.record("dcgan-faces", True, 6.0, "hard")
    reopened = QuizStats(path)  # migrating twice is a no-op
    split = reopened.per_model_and_difficulty()
    assert {key: tally.played for key, tally in split.items()} == {("dcgan-faces", "normal"): 2,
                                                                   ("dcgan-faces", "hard"): 1}
    assert reopened.per_model()["dcgan-faces"].median_seconds == 4.0


def test_an_old_database_migrated_by_another_process_meanwhile_is_not_migrated_twice(tmp_path):
    """Another process adds the column while this one opens the database: the check and the ALTER share one write
    transaction, so this one waits, sees the column and adds nothing (checked outside it, the second ALTER would
    fail with "duplicate column name" and the app would not start)."""
    path = tmp_path / "quiz.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(OLD_SCHEMA)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("ALTER TABLE rounds ADD COLUMN difficulty TEXT NOT NULL DEFAULT 'normal'")  # not committed yet
    opened, errors = [], []

    def open_stats():
        try:
            opened.append(QuizStats(path))
        except Exception as error:  # reported below
            errors.append(error)

    opener = threading.Thread(target=open_stats)
    opener.start()
    opener.join(timeout=1.0)
    assert opener.is_alive()  # waiting for the other process's transaction
    other.execute("COMMIT")
    other.close()
    opener.join(timeout=30)
    assert errors == [] and len(opened) == 1
    opened[0].record("a", True, 1.0, "hard")
    assert opened[0].per_model_and_difficulty()[("a", "hard")].played == 1


def test_concurrent_players_lose_no_round(tmp_path):
    stats = QuizStats(tmp_path / "quiz.sqlite")
    errors = []

    def player(index):
        try:
            for round_number in range(50):
                stats.record(f"model-{index % 2}", round_number % 3 == 0, 0.1)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=player, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stats.totals().played == 400 and stats.totals().correct == 8 * 17
    assert {m: t.played for m, t in stats.per_model().items()} == {"model-0": 200, "model-1": 200}


def test_rounds_survive_a_restart_and_a_crash(tmp_path):
    path = tmp_path / "quiz.sqlite"
    QuizStats(path).record("a", True, 2.0)
    crash = ("import os, sys; from genhub.app.stats import QuizStats\n"
             "s = QuizStats(sys.argv[1])\n[s.record('b', False, 1.0) for _ in range(5)]\nos._exit(9)")
    result = subprocess.run([sys.executable, "-c", crash, str(path)])
    assert result.returncode == 9  # died without any clean-up
    reopened = QuizStats(path)
    assert reopened.totals().played == 6
    assert reopened.per_model()["b"].played == 5


def test_writes_take_the_commit_schedulers_lock(tmp_path):
    class FakeScheduler:
        def __init__(self):
            self.lock = threading.Lock()

    scheduler = FakeScheduler()
    stats = QuizStats(tmp_path / "quiz.sqlite", scheduler)
    scheduler.lock.acquire()  # an upload in progress: the write must wait for it
    writer = threading.Thread(target=stats.record, args=("a", True, 1.0))
    writer.start()
    writer.join(timeout=0.5)
    assert writer.is_alive() and stats.totals().played == 0
    scheduler.lock.release()
    writer.join(timeout=10)
    assert stats.totals().played == 1
