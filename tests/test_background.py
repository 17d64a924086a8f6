"""The background trainer: its queue order, the progress a run writes and the app shows, the atomic publishing of an
export, a run stopped and resumed ending as an uninterrupted one, and the app served before its models exist."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from conftest import served_tab, tiny_dcgan_args
from genhub.app import background, starters
from genhub.app.families import ModelSpec, Starter
from genhub.app.loading import load_model
from genhub.app.tabs import conditional
from genhub.train import trainer as trainer_module
from genhub.train.progress import read_progress, seconds_left

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module

MINUTES = {"dcgan": 3.3, "vae": 2.6, "ae": 2.2, "pix2pix": 2.0, "cyc": 4.2, "ddpm": 8.5, "cnn": 0.7, "a1": 0.7}


def test_the_queue_serves_the_quiz_first_then_a_model_per_tab_then_the_judge_then_the_quickest():
    groups = [("dcgan", "vae", "ddpm"), ("pix2pix", "cyc"), ("vae", "dcgan", "ae"), ("ddpm",), ("cnn", "a1")]
    # the third tab has the quiz's model already: it waits with the rest
    assert background.order(list(MINUTES), groups, MINUTES.get, judge=True) == [
        "dcgan", "pix2pix", "ddpm", "cnn", background.JUDGE_KEY, "a1", "ae", "vae", "cyc"]
    # a tab with a model already there (not to be trained) gets none ahead of the rest
    assert background.order(["vae", "ae", "cyc"], groups, MINUTES.get) == ["ae", "vae", "cyc"]
    assert background.order([], groups, MINUTES.get) == []


def test_seconds_left_follows_the_stop_rule():
    assert seconds_left({"global_step": 0}) is None
    steps = {"global_step": 10, "images_seen": 80, "wall_time_seconds": 5.0, "max_steps": 30}
    assert seconds_left(steps) == pytest.approx(10.0)  # 20 steps at 0.5 s
    budget = {**steps, "max_steps": 10**9, "max_train_minutes": 1.0, "min_train_images": 0}
    assert seconds_left(budget) == pytest.approx(55.0)
    need = {**budget, "min_train_images": 800}  # 720 more images at 16 img/s: 45 s, within the budget's 55
    assert seconds_left(need) == pytest.approx(55.0)
    assert seconds_left({**need, "min_train_images": 8000}) == pytest.approx(7920 / 16)  # the images outlast it


def test_publish_swaps_whole_exports_and_leaves_the_training_state_behind(tmp_path):
    run_dir, location = tmp_path / "run", tmp_path / "checkpoints" / "dcgan-faces-64"
    (run_dir / "checkpoint-4").mkdir(parents=True)
    (run_dir / "samples").mkdir()
    for name, text in (("model.safetensors", "new"), ("config.json", "{}"), ("progress.json", "{}"),
                       ("checkpoint-4/state", "x"), ("samples/step-4.png", "x")):
        (run_dir / name).write_text(text)
    location.mkdir(parents=True)
    (location / "model.safetensors").write_text("old")
    (location / "stale.json").write_text("old")
    background.publish(run_dir, location)
    assert sorted(path.name for path in location.iterdir()) == ["config.json", "model.safetensors"]
    assert (location / "model.safetensors").read_text() == "new"
    assert sorted(path.name for path in location.parent.iterdir()) == ["dcgan-faces-64"]  # nothing half-done left


def _tiny(faces_dir, steps: int) -> Starter:
    flags = tuple(tiny_dcgan_args(faces_dir, "unused", "--max_train_steps", str(steps), "--checkpointing_steps", "2",
                                  "--logging_steps", "1")[4:])  # without --dataset / --output_dir
    return Starter("dcgan", (), ("--dataset", str(faces_dir), *flags), (0.1, 0.1))


def _stop_at(step: int, monkeypatch) -> None:
    """Ask the trainer to stop (as SIGTERM does) once it has taken ``step`` steps."""
    after_step = trainer_module.Trainer._after_step

    def stopping(self, *args):
        after_step(self, *args)
        if self.progress.global_step == step:
            self._stop_requested = True

    monkeypatch.setattr(trainer_module.Trainer, "_after_step", stopping)


def test_a_stopped_background_run_resumes_and_ends_as_an_uninterrupted_one(faces_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(starters.STARTERS, "dcgan-faces", _tiny(faces_dir, 6))
    registry = {"dcgan-faces": ModelSpec("dcgan", str(tmp_path / "served"), local=True)}
    runs = tmp_path / "runs"
    with monkeypatch.context() as stopped:
        _stop_at(3, stopped)
        assert background.run(["dcgan-faces"], registry, None, runs) == 1
    status = background.read_status(runs)
    assert status["ended"] == "stopped while training dcgan-faces" and not status["alive"]
    assert status["queue"] == ["dcgan-faces"] and not (tmp_path / "served").exists()
    assert read_progress(runs / "dcgan-faces")["global_step"] == 3
    assert "training behind the app" not in (background.describe("dcgan-faces", status, runs) or "")
    assert "stopped" in background.describe("dcgan-faces", status, runs)

    assert background.run(["dcgan-faces"], registry, None, runs) == 0  # resumes from checkpoint-2
    assert background.read_status(runs)["ended"] == "nothing left to train"
    assert not (runs / "dcgan-faces").exists()  # the training state is not kept
    straight = starters.train_starter("dcgan-faces", registry["dcgan-faces"], None, output_dir=tmp_path / "straight")
    resumed, uninterrupted = (load_file(folder / "model.safetensors") for folder in (tmp_path / "served", straight))
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in resumed)
    info = json.loads((tmp_path / "served" / "training_info.json").read_text())
    assert info["global_step"] == 6 and f"--output_dir {tmp_path / 'served'}" in info["command"]


def test_a_queued_or_training_model_says_so_with_its_progress(tmp_path):
    status = {"alive": True, "queue": ["dcgan-faces", "ddpm-faces"], "current": "dcgan-faces",
              "estimates": {"dcgan-faces": 3.0, "ddpm-faces": 8.5}}
    (tmp_path / "dcgan-faces").mkdir()
    (tmp_path / "dcgan-faces" / "progress.json").write_text(json.dumps(
        {"global_step": 100, "images_seen": 1200, "wall_time_seconds": 30.0, "max_steps": 10**9,  # 40 img/s
         "max_train_minutes": 2.6, "min_train_images": 24000}))
    assert background.describe("dcgan-faces", status, tmp_path) == (
        "`dcgan-faces` is training behind the app: step 100, 1,200 of 24,000 images, about 10 min left.")
    assert background.describe("ddpm-faces", status, tmp_path) == (
        "`ddpm-faces` is queued behind the app's trainer: 1 model(s) before it, starting in about 10 min, then about "
        "8 min to train.")
    assert background.describe("vae-faces", status, tmp_path) is None  # not the trainer's: the tab says how to make it


def test_a_tab_built_before_its_model_exists_serves_it_once_it_lands(tmp_path, labelled_faces_dir):
    """The app starts with no model; the export is published while it runs; the next request is served by it, with no
    failed call on the way, and the tab's public API was there from the start."""
    from conftest import tiny_cgan_args, train_tiny

    location = tmp_path / "checkpoints" / "cgan-faces-64"
    loaded = load_model("cgan-faces", ModelSpec("cgan", str(location), local=True))
    assert loaded.model is None and not loaded.refresh()
    with served_tab(conditional, {"cgan-faces": loaded}) as (demo, client):
        assert {"cgan_generate", "cgan_flips", "cgan_grid"} <= {fn.api_name for fn in demo.fns.values()}
        from gradio_client.exceptions import AppError

        with pytest.raises(AppError, match=r"cgan-faces\*\* is not available"):
            client.predict(1, [], api_name="/cgan_generate")
        export = train_tiny("cgan", tiny_cgan_args(labelled_faces_dir, tmp_path / "run", "--max_train_steps", "2"))
        background.publish(export, location)
        assert loaded.refresh() and not loaded.refresh()  # swapped once; nothing changed since
        first_id = loaded.export_id
        _, note = client.predict(1, ["Smiling"], api_name="/cgan_generate")
        assert "Smiling" in note
        os.utime(location / "training_info.json")  # a verdict lands: the facts change, the export is read again
        assert loaded.refresh() and loaded.export_id != first_id
        assert "seed 2" in client.predict(2, [], api_name="/cgan_generate")[1]


def test_the_app_starts_the_trainer_quiz_first_but_not_with_no_train_or_on_a_space(monkeypatch):
    import app

    started = []
    monkeypatch.setattr(background, "start", lambda keys, overrides: started.append((list(keys), overrides)))
    monkeypatch.setattr(starters, "missing", lambda registry: list(registry))  # a fresh clone: every model
    assert app.parse_settings(["--no-train"]).train is False and app.parse_settings([]).train is True
    monkeypatch.setenv("SPACE_ID", "someone/genhub")
    assert app.start_trainer([]) is None and not started  # a Space serves Hub models
    monkeypatch.delenv("SPACE_ID")
    app.start_trainer(["vae-faces=./elsewhere"])
    keys, overrides = started[0]
    assert keys[:3] == ["dcgan-faces", "pix2pix-sketch2face", "ddpm-faces"]  # the quiz's, then a model per tab
    assert set(keys) - {background.JUDGE_KEY} == set(starters.STARTERS)
    assert overrides == ["vae-faces=./elsewhere"]
