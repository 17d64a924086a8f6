"""The shared trainer through the real DCGAN entry point: export, exact resume, interruption."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, tiny_dcgan_args
from genhub.models import DCGAN
from genhub.train import dcgan as train_dcgan


def _run(*argv):
    return train_dcgan.main(train_dcgan.parse_args(list(argv)))


def test_twenty_steps_export_a_loadable_folder(faces_dir, tmp_path):
    out = tmp_path / "run"
    assert _run(*tiny_dcgan_args(faces_dir, out, "--max_train_steps", "20", "--checkpointing_steps", "10",
                                 "--checkpoints_total_limit", "1", "--random_flip")) == out
    assert {"config.json", "model.safetensors", "README.md", "samples.png", "training_info.json"} <= {
        p.name for p in out.iterdir()}
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-20"]  # limit 1 pruned checkpoint-10
    assert sorted(p.name for p in (out / "samples").iterdir()) == [f"step-{s:07d}.png" for s in (5, 10, 15, 20)]
    info = json.loads((out / "training_info.json").read_text())
    assert info["global_step"] == 20 and info["images_seen"] == 160 and info["family"] == "dcgan"
    assert info["dataset"] == str(faces_dir) and set(info["final_losses"]) == {"loss_d", "loss_g"}
    assert all(v > 0 for v in info["final_losses"].values())
    card = (out / "README.md").read_text()
    assert "library_name: genhub" in card and "| optimisation steps | 20 |" in card and "samples.png" in card
    model = DCGAN.from_pretrained(out)
    assert model.resolution == 32 and model.sample(2).shape == (2, 3, 32, 32)
    assert not torch.equal(model.generator.net[0].weight, DCGAN(**model.config).generator.net[0].weight)


def test_gradient_accumulation_counts_optimisation_steps(faces_dir, tmp_path):
    out = tmp_path / "accumulate"
    _run(*tiny_dcgan_args(faces_dir, out, "--max_train_steps", "3", "--gradient_accumulation_steps", "4"))
    info = json.loads((out / "training_info.json").read_text())
    assert info["global_step"] == 3 and info["images_seen"] == 3 * 4 * 8


def test_a_time_budget_ends_the_run_early_and_still_exports(faces_dir, tmp_path):
    out = tmp_path / "budget"
    _run(*tiny_dcgan_args(faces_dir, out, "--max_train_steps", "1000", "--max_train_minutes", "0.00001"))
    info = json.loads((out / "training_info.json").read_text())
    assert info["global_step"] == 1 and info["stopped_by_time_budget"] is True
    assert (out / "model.safetensors").is_file() and (out / "checkpoint-1").is_dir()
    assert info["args"]["max_train_minutes"] == 1e-05


def test_resume_from_an_explicit_checkpoint_and_a_missing_one(faces_dir, tmp_path):
    out = tmp_path / "run"
    _run(*tiny_dcgan_args(faces_dir, out, "--max_train_steps", "4", "--checkpointing_steps", "2"))
    _run(*tiny_dcgan_args(faces_dir, out, "--max_train_steps", "6", "--resume_from_checkpoint",
                          str(out / "checkpoint-4")))
    assert json.loads((out / "training_info.json").read_text())["global_step"] == 6
    with pytest.raises(FileNotFoundError, match="no such checkpoint folder"):
        _run(*tiny_dcgan_args(faces_dir, out, "--resume_from_checkpoint", str(out / "checkpoint-99")))
    # other model flags than the run that saved it: a clear refusal, and the checkpoint is still there
    with pytest.raises(ValueError, match="saved by a run with another model configuration"):
        _run(*tiny_dcgan_args(faces_dir, out, "--ngf", "16", "--max_train_steps", "8", "--resume_from_checkpoint",
                              "latest"))
    assert (out / "checkpoint-6").is_dir()


def test_two_process_cpu_run_through_accelerate_launch(faces_dir, tmp_path):
    """The documented DDP-on-CPU command really starts two communicating processes."""
    out = tmp_path / "ddp"
    launcher = Path(sys.executable).with_name("accelerate")
    command = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_cpu_threads_per_process", "1",
               str(ROOT / "training" / "train_dcgan.py"), *tiny_dcgan_args(faces_dir, out, "--max_train_steps", "4")]
    result = subprocess.run(command, env={**os.environ, "ACCELERATE_USE_CPU": "true"}, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads((out / "training_info.json").read_text())
    assert info["num_processes"] == 2 and info["images_seen"] == 4 * 8 * 2
    DCGAN.from_pretrained(out)
