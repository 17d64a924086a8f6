"""Shared quiz statistics: durable, concurrent, restart-proof."""

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
