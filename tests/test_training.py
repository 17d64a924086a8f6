"""The shared trainer through the real DCGAN entry point: export, exact resume, interruption, the speed levers
(channels_last, reading the losses every --logging_steps, --compile's failure), and the fused Adam of every family."""

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


def test_a_spent_time_budget_waits_for_the_images_the_recipe_needs(faces_dir, tmp_path):
    """--min_train_images: a slow machine still trains what the recipe needs (40 images: 5 steps of 8)."""
    out = tmp_path / "need"
    _run(*tiny_dcgan_args(faces_dir, out, "--max_train_steps", "1000", "--max_train_minutes", "0.00001",
                          "--min_train_images", "40"))
    info = json.loads((out / "training_info.json").read_text())
    assert info["global_step"] == 5 and info["images_seen"] == 40 and info["stopped_by_time_budget"] is True


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


@pytest.mark.parametrize("listed", [True, False])
def test_the_channels_last_default_is_on_where_the_family_lists_the_runs_precision(faces_dir, tmp_path, monkeypatch,
                                                                                   listed):
    """A family lists the precisions where channels_last won (on the CPU kind that trains in them); with no flag, the
    run's precision decides. (One precision per process: Accelerate fixes it with the first Accelerator.)"""
    import dataclasses

    from genhub.train.precision import resolve_precision

    precision = resolve_precision("auto", cpu=True).mixed_precision
    others = tuple(p for p in ("no", "bf16", "fp16") if p != precision)
    make_recipe = train_dcgan.make_recipe
    monkeypatch.setattr(train_dcgan, "make_recipe", lambda args: dataclasses.replace(
        make_recipe(args), channels_last_precisions=(precision,) if listed else others))
    out = _run(*tiny_dcgan_args(faces_dir, tmp_path / "run", "--max_train_steps", "1"))
    info = json.loads((out / "training_info.json").read_text())
    assert info["mixed_precision"] == precision and info["channels_last"] is listed


def test_channels_last_trains_the_same_weights_and_exports_them_contiguous(faces_dir, tmp_path):
    from safetensors.torch import load_file

    contiguous = _run(*tiny_dcgan_args(faces_dir, tmp_path / "contiguous", "--max_train_steps", "3",
                                       "--no-channels_last"))
    channels_last = _run(*tiny_dcgan_args(faces_dir, tmp_path / "channels_last", "--max_train_steps", "3",
                                          "--channels_last"))
    assert json.loads((channels_last / "training_info.json").read_text())["channels_last"] is True
    assert json.loads((contiguous / "training_info.json").read_text())["channels_last"] is False
    expected, trained = load_file(contiguous / "model.safetensors"), load_file(channels_last / "model.safetensors")
    assert expected.keys() == trained.keys()
    # The same math; only the convolution kernels' summation order differs: rounding, at the run's precision. In bf16
    # a gradient entry near zero can change sign, and Adam's first steps move a weight by about lr whatever its
    # gradient's size: a few entries may differ by up to ~lr (seen: at most 0.8 lr, 1.6% of a tensor beyond lr / 10).
    # Different math would move most entries differently.
    bf16 = json.loads((contiguous / "training_info.json").read_text())["mixed_precision"] == "bf16"
    learning_rate = 2e-4
    for name in expected:
        difference = (trained[name] - expected[name]).abs()
        if bf16:
            assert difference.max() <= 2 * learning_rate, (name, difference.max())
            assert (difference > learning_rate / 10).float().mean() <= 0.05, name
        else:
            assert difference.max() <= 1e-5, (name, difference.max())
    model = DCGAN.from_pretrained(channels_last)
    assert all(p.is_contiguous() for p in model.parameters())
    same_weights = DCGAN.from_pretrained(channels_last).to(memory_format=torch.channels_last)
    z = torch.randn(4, model.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = model.generator(z)
        assert torch.allclose(same_weights.generator(z), images, atol=1e-5)
        assert torch.allclose(same_weights.discriminator(images.contiguous(memory_format=torch.channels_last)),
                              model.discriminator(images), atol=1e-5)
    # its checkpoint resumes in contiguous memory
    _run(*tiny_dcgan_args(faces_dir, tmp_path / "channels_last", "--max_train_steps", "4", "--no-channels_last",
                          "--resume_from_checkpoint", "latest"))
    assert json.loads((channels_last / "training_info.json").read_text())["global_step"] == 4


def test_reading_the_losses_less_often_changes_no_weight(faces_dir, tmp_path):
    from safetensors.torch import load_file

    every = _run(*tiny_dcgan_args(faces_dir, tmp_path / "every", "--max_train_steps", "5", "--logging_steps", "1"))
    rarely = _run(*tiny_dcgan_args(faces_dir, tmp_path / "rarely", "--max_train_steps", "5", "--logging_steps", "4"))
    expected, trained = load_file(every / "model.safetensors"), load_file(rarely / "model.safetensors")
    assert all(torch.equal(trained[name], expected[name]) for name in expected)
    losses = [json.loads((out / "training_info.json").read_text())["final_losses"] for out in (every, rarely)]
    assert losses[0] == losses[1]  # means over the same recent steps, read once at the end
    with pytest.raises(SystemExit):
        train_dcgan.parse_args(tiny_dcgan_args(faces_dir, tmp_path / "never", "--logging_steps", "0"))


def test_compile_without_a_cpp_compiler_is_a_clear_error(faces_dir, tmp_path, monkeypatch):
    """The failure path only: a real compilation of even the tiny DCGAN takes over a minute on one thread."""
    import torch._inductor.config as inductor

    monkeypatch.setattr(inductor.cpp, "cxx", (None, str(tmp_path / "no-such-g++")))
    monkeypatch.setattr(inductor, "force_disable_caches", True)  # a cached kernel would need no compiler
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    try:
        with pytest.raises(RuntimeError, match=r"--compile: .*No working C\+\+ compiler.*run without --compile"):
            _run(*tiny_dcgan_args(faces_dir, tmp_path / "compiled", "--max_train_steps", "2", "--compile"))
    finally:
        torch._dynamo.reset()


def test_adam_is_fused_on_cpu_with_the_update_rule_of_torchs_default():
    from genhub.train.optim import adam

    with pytest.raises(ValueError, match="no parameters"):
        adam([], 1e-3)
    for decoupled, kind in ((False, torch.optim.Adam), (True, torch.optim.AdamW)):
        start = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0))
        fused_weight, plain_weight = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
        fused = adam([fused_weight], 1e-2, (0.5, 0.999), weight_decay=0.1, decoupled=decoupled)
        plain = kind([plain_weight], lr=1e-2, betas=(0.5, 0.999), weight_decay=0.1)
        assert type(fused) is kind and fused.defaults["fused"] is True and not plain.defaults["fused"]
        gradients = torch.Generator().manual_seed(1)
        for _ in range(5):
            gradient = torch.randn(start.shape, generator=gradients)
            for weight, optimizer in ((fused_weight, fused), (plain_weight, plain)):
                weight.grad = gradient.clone()
                optimizer.step()
        assert torch.allclose(fused_weight, plain_weight, atol=1e-6) and not torch.equal(fused_weight, start)
