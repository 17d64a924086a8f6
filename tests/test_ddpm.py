"""DDPM: the forward process against its closed form, the loss, sampling, and the export that is both a genhub
checkpoint and a diffusers pipeline (loaded offline, without genhub)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from genhub.models import DDPM, MODEL_CLASSES
from genhub.models.ddpm import SAMPLERS
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


# ------------------------------------------------------------------------------------------- samplers and the loop
def test_each_sampler_of_the_table_is_built_from_the_noise_schedule_and_samples_reproducibly():
    model = tiny_model().eval()
    assert list(SAMPLERS) == ["DDPM", "DDIM", "DPM-Solver++"]
    outputs = {}
    for name, entry in SAMPLERS.items():
        scheduler = model.scheduler(name)
        assert type(scheduler) is entry.scheduler_class and scheduler is not model.scheduler(name)  # fresh each time
        assert scheduler.config.num_train_timesteps == 100
        torch.testing.assert_close(scheduler.alphas_cumprod, model.noise_scheduler.alphas_cumprod)
        first = model.sample(2, torch.Generator().manual_seed(3), 5, name)
        again = model.sample(2, torch.Generator().manual_seed(3), 5, name)
        other = model.sample(2, torch.Generator().manual_seed(4), 5, name)
        assert first.shape == (2, 3, 16, 16) and first.dtype == torch.float32
        assert first.min() >= -1 and first.max() <= 1
        assert torch.equal(first, again) and not torch.allclose(first, other)
        outputs[name] = first
    assert model.scheduler("DPM-Solver++").config.algorithm_type == "dpmsolver++"
    assert not torch.allclose(outputs["DDPM"], outputs["DDIM"])  # the table really switches the reverse process
    assert not torch.allclose(outputs["DDIM"], outputs["DPM-Solver++"])
    stochastic = model.sample(2, torch.Generator().manual_seed(3), 5, "DDIM", eta=1.0)
    assert not torch.allclose(stochastic, outputs["DDIM"])  # eta = 1 adds noise at every step
    assert torch.equal(stochastic, model.sample(2, torch.Generator().manual_seed(3), 5, "DDIM", eta=1.0))


def test_sampling_refuses_bad_settings_clearly():
    model = tiny_model().eval()
    with pytest.raises(ValueError, match="unknown sampler 'PLMS'; choose one of DDPM, DDIM, DPM-Solver\\+\\+"):
        model.sample(1, sampler="PLMS")
    with pytest.raises(ValueError, match="between 1 and T = 100, got 101"):
        model.sample(1, num_inference_steps=101)
    with pytest.raises(ValueError, match="between 1 and T = 100, got 0"):
        model.sample(1, num_inference_steps=0)
    with pytest.raises(ValueError, match="at least 1, got 0"):
        model.sample(0)
    with pytest.raises(ValueError, match="DDIM's only; got 0.5 for DPM-Solver"):
        model.sample(1, sampler="DPM-Solver++", eta=0.5)
    with pytest.raises(ValueError, match="eta must be >= 0"):
        model.sample(1, eta=-0.1)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_the_film_strip_loop_yields_every_step_and_ends_at_samples_output(sampler):
    model = tiny_model().eval()
    steps = list(model.denoise(2, torch.Generator().manual_seed(0), 7, sampler))
    scheduler = model.scheduler(sampler)
    scheduler.set_timesteps(7)
    assert [step.index for step in steps] == list(range(7))
    assert [step.timestep for step in steps] == scheduler.timesteps.tolist()  # from noisy t down
    assert steps[0].timestep > steps[-1].timestep
    assert all(step.sample.shape == step.pred_original_sample.shape == (2, 3, 16, 16) for step in steps)
    assert torch.equal(steps[-1].sample.clamp(-1, 1), model.sample(2, torch.Generator().manual_seed(0), 7, sampler))


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_predicted_x0_recovers_x0_from_the_true_target_for_every_prediction_type(prediction_type):
    """x̂_0 by the closed form of eq. 4 (eq. 15 for eps) is exact for a UNet that outputs the true target."""
    model = tiny_model(prediction_type=prediction_type)
    clean, noise = torch.rand(2, 3, 8, 8) * 2 - 1, torch.randn(2, 3, 8, 8)
    for t in (0, 40, 99):
        timesteps = torch.tensor([t, t])
        noisy = model.noise_scheduler.add_noise(clean, noise, timesteps)
        target = {"epsilon": noise, "sample": clean,
                  "v_prediction": model.noise_scheduler.get_velocity(clean, noise, timesteps)}[prediction_type]
        torch.testing.assert_close(model.pred_original_sample(target, t, noisy), clean, atol=2e-4, rtol=1e-4)
    with pytest.raises(ValueError, match=r"t must be in \[0, 100\), got 100"):
        model.pred_original_sample(noise, 100, noise)


def test_dpm_solver_x0_is_the_closed_form_and_ddim_x0_is_diffusers_clipped_one():
    model = tiny_model().eval()
    for sampler in ("DDIM", "DPM-Solver++"):
        start = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
        first = next(model.trajectory(model.scheduler(sampler), start, 4))
        with torch.no_grad():
            eps = model.unet(start, first.timestep).sample
        alpha_bar = model.noise_scheduler.alphas_cumprod[first.timestep]
        expected = (start - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()  # eq. 15
        if sampler == "DDIM":
            expected = expected.clamp(-1, 1)  # the DDPM config's clip_sample, which DDIM inherits
        torch.testing.assert_close(first.pred_original_sample, expected, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------------------------------- forward process, inversion
def test_q_sample_is_the_closed_form_at_t_with_seeded_noise():
    model = tiny_model()
    betas = torch.linspace(1e-4, 0.02, 100, dtype=torch.float64)
    clean = torch.rand(2, 3, 16, 16) * 2 - 1
    for t in (0, 37, 99):
        alpha_bar = torch.prod(1 - betas[: t + 1])
        noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(5))
        expected = alpha_bar.sqrt() * clean + (1 - alpha_bar).sqrt() * noise
        noisy = model.q_sample(clean, t, torch.Generator().manual_seed(5))
        assert noisy.dtype == torch.float32
        torch.testing.assert_close(noisy, expected.float(), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(model.q_sample(clean, 50, torch.Generator().manual_seed(6)),
                              model.q_sample(clean, 50, torch.Generator().manual_seed(5)))
    for t in (-1, 100):
        with pytest.raises(ValueError, match=r"t must be in \[0, 100\)"):
            model.q_sample(clean, t)


@pytest.fixture(scope="module")
def trained(ddpm_export):
    return DDPM.from_pretrained(ddpm_export).eval()


@pytest.fixture(scope="module")
def training_faces(faces_dir):
    from genhub.data import DataSpec, load_split

    split = load_split(DataSpec(str(faces_dir), 16), "train")
    return torch.stack([split[index]["pixel_values"] for index in range(8)])


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error on pixels in [0, 1]."""
    return ((a - b) / 2).pow(2).mean((1, 2, 3))


#: Measured on the 3-step tiny export (T = 100), 8 training faces, 50 steps: reconstruction MSE at most 5.7e-5
#: (PSNR >= 42 dB) on pixels in [0, 1]; an unrelated training face is at least 0.067 away. The bound leaves 3.5x.
INVERSION_MSE_BOUND = 2e-4


def test_ddim_inversion_then_reconstruction_returns_the_training_image(trained, training_faces):
    """Song et al. 2021, sec. 5.4: x_0 -> x_T by the eta = 0 update run upwards, then DDIM back with the same steps."""
    latents = trained.invert(training_faces, 50)
    assert latents.shape == training_faces.shape and latents.dtype == torch.float32
    assert torch.equal(latents, trained.invert(training_faces, 50))  # deterministic: no generator anywhere
    assert float(_mse(latents, training_faces).min()) > 0.01  # it did move the images towards noise
    reconstruction = trained.reconstruct(latents, 50)
    error = _mse(reconstruction, training_faces)
    assert float(error.max()) < INVERSION_MSE_BOUND
    unrelated = _mse(training_faces.roll(1, 0), training_faces)  # every face against another one
    assert float(error.max()) * 100 < float(unrelated.min())
    from_other = _mse(trained.reconstruct(latents.roll(1, 0), 50), training_faces)  # another face's x_T
    assert float(error.max()) * 100 < float(from_other.min())
    coarse = _mse(trained.reconstruct(trained.invert(training_faces, 10), 10), training_faces)
    assert float(coarse.mean()) > 3 * float(error.mean())  # the error is the discretisation's: more steps, less
    with pytest.raises(ValueError, match="between 1 and T = 100"):
        trained.invert(training_faces, 101)


def test_slerp_between_inverted_latents_keeps_the_ends_and_the_radius(trained, training_faces):
    latents = trained.invert(training_faces[:2], 20)
    path = DDPM.interpolate_latents(latents[0], latents[1], 5)
    assert path.shape == (5, 3, 16, 16)
    torch.testing.assert_close(path[0], latents[0])
    torch.testing.assert_close(path[-1], latents[1])
    first, second = latents[0].flatten(), latents[1].flatten()
    unit = DDPM.interpolate_latents(latents[0] / first.norm(), latents[1] / second.norm(), 5)
    torch.testing.assert_close(unit.flatten(1).norm(dim=1), torch.ones(5), atol=1e-5, rtol=0)  # on the sphere
    frames = trained.reconstruct(path, 20)
    torch.testing.assert_close(frames[0], trained.reconstruct(latents[:1], 20)[0])  # the ends are the reconstructions
    with pytest.raises(ValueError, match="at least 2 frames"):
        DDPM.interpolate_latents(latents[0], latents[1], 1)
