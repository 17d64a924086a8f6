"""SIGKILL, which nothing can catch or clean up after.

A training run (``python training/train_dcgan.py``) killed at random moments, inside a checkpoint save and
while exporting, always leaves a complete checkpoint for ``--resume_from_checkpoint latest``, and the resumed
run ends bit-identical to an uninterrupted one. The quiz statistics keep every round a player was told the
answer of through a SIGKILL of the server while 8 players play, and the database opens fine after it."""

import contextlib
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from gradio_client import Client
from safetensors.torch import load_file

from conftest import ROOT, start_app, tiny_dcgan_args
from genhub.app.tabs.quiz.game import DIFFICULTIES
from genhub.train.trainer import Trainer

#: 64 rows / batch 8 = 8 steps per epoch: the run ends inside its third epoch, with a last checkpoint of its
#: own (21 is not a multiple of 2), and every kill below falls mid-epoch.
STEPS = 21
FLAGS = ("--max_train_steps", str(STEPS), "--checkpointing_steps", "2", "--checkpoints_total_limit", "3",
         "--random_flip", "--mixed_precision", "no")
RESUME = ("--resume_from_checkpoint", "latest")
#: Same threads in every run (floating-point sums depend on them), and only one: the machine has two cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def start_training(dataset: Path, output: Path, *extra: str) -> subprocess.Popen:
    argv = tiny_dcgan_args(dataset, output, *FLAGS, *extra)
    return subprocess.Popen([sys.executable, str(ROOT / "training" / "train_dcgan.py"), *argv], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_when(process: subprocess.Popen, ready, timeout: float = 300) -> None:
    """SIGKILL ``process`` as soon as ``ready()`` is true (polled every half millisecond)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"the run ended before the kill: {process.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.0005)
    process.kill()
    process.wait()


def partial_checkpoints(output: Path, since: float) -> list[Path]:
    """The ``.partial-checkpoint-*`` folders (saves in progress) created since ``since`` (time.time())."""
    with contextlib.suppress(FileNotFoundError):
        return [p for p in output.glob(".partial-checkpoint-*") if p.stat().st_ctime >= since]
    return []  # renamed or deleted while we looked


def latest_checkpoint(output: Path) -> Path:
    """What ``--resume_from_checkpoint latest`` chooses (the trainer's own choice)."""
    found = Trainer.checkpoints(SimpleNamespace(output_dir=output))
    assert found, "no checkpoint to resume from"
    return found[-1]


def assert_complete(checkpoint: Path, files: set[str]) -> None:
    """Every file a checkpoint has is there and reads back whole."""
    assert {p.name for p in checkpoint.iterdir()} == files, checkpoint
    for path in checkpoint.iterdir():
        if path.suffix == ".safetensors":
            load_file(path)
        else:
            torch.load(path, weights_only=False)  # our own training state (pickled RNG states, optimizers)


def test_training_killed_at_random_moments_resumes_bit_identical(faces_dir, tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    run = start_training(faces_dir, reference)
    assert run.wait() == 0, run.stderr.read().decode()[-2000:]
    files = {p.name for p in latest_checkpoint(reference).iterdir()}
    assert {"model.safetensors", "optimizer.bin", "random_states_0.pkl"} <= files

    # 1. at a random moment once checkpoints exist (steps done since the last one are lost and redone), by
    # checkpoint-6 at the latest: on a fast CPU 0.3 s is most of the run, and each attempt of 2. below uses up at
    # least one of the saves left (a run resumed from the last checkpoint has none, and ends before any kill)
    run = start_training(faces_dir, killed)
    delay = random.uniform(0.0, 0.3)
    appeared = []

    def a_moment_after_the_first_checkpoint():
        if not appeared and Trainer.checkpoints(SimpleNamespace(output_dir=killed)):
            appeared.append(time.monotonic())
        return bool(appeared) and (time.monotonic() > appeared[0] + delay or (killed / "checkpoint-6").is_dir())

    kill_when(run, a_moment_after_the_first_checkpoint)
    assert_complete(latest_checkpoint(killed), files)

    # 2. inside a checkpoint save: each attempt resumes, and is killed as soon as a save has begun; a save
    # folder left behind shows the kill landed inside it
    for _ in range(8):
        started = time.time()
        run = start_training(faces_dir, killed, *RESUME)
        kill_when(run, lambda since=started: partial_checkpoints(killed, since))
        assert_complete(latest_checkpoint(killed), files)
        if partial_checkpoints(killed, started):
            break
    else:
        pytest.fail("no kill landed inside a checkpoint save in 8 attempts")

    # 3. while exporting: the last checkpoint is written, the weights not yet
    run = start_training(faces_dir, killed, *RESUME)
    kill_when(run, lambda: (killed / f"checkpoint-{STEPS}").is_dir())
    assert not (killed / "model.safetensors").exists()
    assert latest_checkpoint(killed).name == f"checkpoint-{STEPS}"
    assert_complete(latest_checkpoint(killed), files)

    run = start_training(faces_dir, killed, *RESUME)
    assert run.wait() == 0, run.stderr.read().decode()[-2000:]
    expected, resumed = load_file(reference / "model.safetensors"), load_file(killed / "model.safetensors")
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name
    assert latest_checkpoint(killed).name == f"checkpoint-{STEPS}"


# ------------------------------------------------------------------------------------- the quiz server, killed
def test_quiz_statistics_keep_every_acknowledged_round_through_a_server_sigkill(tiny_export, tmp_path):
    models = (f"dcgan-faces={tiny_export}", f"vae-faces={tmp_path / 'absent'}", f"ddpm-faces={tmp_path / 'absent'}")
    server, url = start_app(tmp_path, *models)
    acknowledged, lock, stop = [0], threading.Lock(), threading.Event()

    def player():
        try:
            client = Client(url, verbose=False)
            while not stop.is_set():
                client.predict(difficulty=random.choice(DIFFICULTIES), api_name="/new_round")
                client.predict(api_name="/guess_left")  # returned: the player was told the answer
                with lock:
                    acknowledged[0] += 1
        except Exception:  # the server died under us: stop playing
            return

    players = [threading.Thread(target=player, daemon=True) for _ in range(8)]
    try:
        for thread in players:
            thread.start()
        deadline = time.monotonic() + 300
        while acknowledged[0] < 40:
            assert time.monotonic() < deadline and any(t.is_alive() for t in players), acknowledged
            time.sleep(0.05)
        time.sleep(random.uniform(0.0, 0.5))  # a random moment in the middle of play
    finally:
        server.kill()
        server.wait()
    stop.set()
    for thread in players:
        thread.join(timeout=60)
    told = acknowledged[0]

    database = tmp_path / "stats" / "quiz.sqlite"
    with contextlib.closing(sqlite3.connect(database)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (played,) = db.execute("SELECT COUNT(*) FROM rounds").fetchone()
        difficulties = {row[0] for row in db.execute("SELECT DISTINCT difficulty FROM rounds")}
    assert played >= told >= 40 and difficulties == set(DIFFICULTIES)  # each round kept with its difficulty

    server, url = start_app(tmp_path, *models)  # the same database, reopened after the kill
    try:
        client = Client(url, verbose=False)
        assert f"{played} rounds played" in client.predict(api_name="/everyone")
        client.predict(api_name="/new_round")
        client.predict(api_name="/guess_right")
        assert f"{played + 1} rounds played" in client.predict(api_name="/everyone")
    finally:
        server.terminate()
        server.wait(timeout=60)
