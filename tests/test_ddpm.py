"""DDPM: the forward process against its closed form, the loss, sampling, and the export that is both a genhub
checkpoint and a diffusers pipeline (loaded offline, without genhub)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from genhub.models import DDPM, MODEL_CLASSES
from genhub.train.ddpm import denoising_loss


def tiny_model(**kwargs) -> DDPM:
    return DDPM(16, 3, [8, 16], 1, [1], 4, **{"num_train_timesteps": 100, **kwargs})


def test_add_noise_matches_the_closed_form_at_the_first_and_last_timestep():
    """q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I), alpha_bar_t = prod_{s<=t} (1 - beta_s),
    with the paper's linear betas 1e-4 ... 0.02 over T = 1000 (Ho et al. 2020, eq. 4)."""
    scheduler = DDPM(16, 3, [8, 16], 1, [1], 4).noise_scheduler
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    clean, noise = torch.rand(2, 3, 4, 4) * 2 - 1, torch.randn(2, 3, 4, 4)
    for t in (0, 999):
        alpha_bar = torch.prod(1 - betas[: t + 1])
        expected = alpha_bar.sqrt() * clean + (1 - alpha_bar).sqrt() * noise
        noisy = scheduler.add_noise(clean, noise, torch.tensor([t, t]))
        torch.testing.assert_close(noisy, expected.float(), atol=1e-5, rtol=1e-5)
    assert float(1 - betas[0]) == pytest.approx(0.9999)  # t = 0: almost the image
    assert float(torch.prod(1 - betas)) < 1e-4  # t = T - 1: almost pure noise


def test_loss_is_zero_for_a_model_that_predicts_the_true_noise_and_the_mean_square_otherwise():
    scheduler = tiny_model().noise_scheduler
    clean, noise = torch.rand(4, 3, 8, 8) * 2 - 1, torch.randn(4, 3, 8, 8)
    timesteps = torch.tensor([0, 10, 50, 99])
    alpha_bar = scheduler.alphas_cumprod[timesteps].view(-1, 1, 1, 1)

    def oracle(noisy, t):  # recovers eps from x_t knowing x_0
        return (noisy - alpha_bar.sqrt() * clean) / (1 - alpha_bar).sqrt()

    assert float(denoising_loss(oracle, scheduler, clean, noise, timesteps)) == pytest.approx(0, abs=1e-9)
    zero = denoising_loss(lambda noisy, t: torch.zeros_like(noisy), scheduler, clean, noise, timesteps)
    assert zero.dtype == torch.float32 and float(zero) == pytest.approx(float(noise.pow(2).mean()))
    sample = denoising_loss(lambda noisy, t: clean, scheduler, clean, noise, timesteps, "sample")
    assert float(sample) == 0


def test_model_config_shapes_and_sampling_range():
    model = tiny_model()
    assert MODEL_CLASSES["ddpm"] is DDPM and DDPM.card_facts()["library_name"] == "diffusers"
    assert json.loads(json.dumps(model.config)) == model.config
    noisy = torch.randn(2, 3, 16, 16)
    assert model(noisy, torch.tensor([0, 99])).shape == (2, 3, 16, 16)
    first = model.sample(2, torch.Generator().manual_seed(0), num_inference_steps=2)
    again = model.sample(2, torch.Generator().manual_seed(0), num_inference_steps=2)
    assert first.shape == (2, 3, 16, 16) and first.min() >= -1 and first.max() <= 1
    assert torch.equal(first, again)
    with pytest.raises(ValueError, match="attention_levels"):
        DDPM(16, 3, [8, 16], 1, [2], 4)


@pytest.fixture(scope="module")
def ddpm_export(tiny_ddpm_export):
    return tiny_ddpm_export


def test_export_is_a_diffusers_pipeline_that_loads_offline_and_samples_reproducibly(ddpm_export):
    from diffusers import DDPMPipeline, DiffusionPipeline

    for name in ("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                 "scheduler/scheduler_config.json", "config.json", "model.safetensors", "training_info.json",
                 "README.md", "samples.png"):
        assert (ddpm_export / name).is_file(), name
    assert not [p for p in ddpm_export.rglob("*.bin") if not p.parent.name.startswith("checkpoint-")]
    # a fresh interpreter, offline, never importing genhub
    script = f"""
import sys, torch
from diffusers import DiffusionPipeline
pipe = DiffusionPipeline.from_pretrained({str(ddpm_export)!r}, local_files_only=True)
runs = [pipe(batch_size=2, num_inference_steps=3, generator=torch.Generator().manual_seed(1),
             output_type="np").images for _ in range(2)]
assert "genhub" not in sys.modules
print(type(pipe).__name__, pipe.scheduler.config.num_train_timesteps, runs[0].shape, (runs[0] == runs[1]).all(),
      0 <= runs[0].min() and runs[0].max() <= 1)
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd="/",
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "DDPMPipeline 100 (2, 16, 16, 3) True True"

    pipe = DiffusionPipeline.from_pretrained(str(ddpm_export), local_files_only=True)
    assert isinstance(pipe, DDPMPipeline)

    model = DDPM.from_pretrained(ddpm_export)
    pipe_weights = pipe.unet.state_dict()
    for name, value in model.unet.state_dict().items():
        assert torch.equal(value, pipe_weights[name]), name
    assert model.noise_scheduler.config.num_train_timesteps == 100


def test_export_card_says_diffusers(ddpm_export):
    card = (ddpm_export / "README.md").read_text()
    assert "library_name: diffusers" in card and "pipeline_tag: unconditional-image-generation" in card
    info = json.loads((ddpm_export / "training_info.json").read_text())
    assert info["family"] == "ddpm" and info["library_name"] == "diffusers" and info["ema"]
