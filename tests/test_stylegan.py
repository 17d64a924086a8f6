"""The progressive / style-based GAN: fade-in, style mixing, truncation, the growth schedule, R1, the per-stage
exports, and training and export through the real entry point. Exact resume across a stage change is
tests/test_resume.py's ``stylegan`` row."""

import json

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_stylegan_args, train_tiny
from genhub.models import CheckpointError, StyleGAN
from genhub.models.stylegan import layer_groups, minibatch_stddev, mix_styles, truncate_w
from genhub.train.stylegan import GrowthSchedule, parse_args, r1_penalty, real_at_stage

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


def tiny(generator_type: str = "style", resolution: int = 16) -> StyleGAN:
    torch.manual_seed(0)
    model = StyleGAN(resolution, generator_type, latent_dim=16, w_dim=16, mapping_layers=2, channel_base=64,
                     max_channels=16).eval()
    with torch.no_grad():  # trained-looking noise strengths and w_avg, so that noise and truncation matter
        for name, parameter in model.named_parameters():
            if name.endswith("noise_strength"):
                parameter.normal_()
        if model.mapping is not None:
            model.mapping.w_avg.normal_()
    return model


@pytest.mark.parametrize("generator_type", ["style", "progressive"])
def test_fade_in_at_alpha_0_is_the_previous_stage_upsampled(generator_type):
    model = tiny(generator_type)
    z = torch.randn(3, 16)
    latents = model.styles(z)
    for stage in (1, 2):
        faded = model.synthesis(latents, stage, alpha=0.0, noise_mode="const")
        previous = model.synthesis(latents, stage - 1, alpha=1.0, noise_mode="const")
        assert faded.shape == (3, 3, 4 * 2 ** stage, 4 * 2 ** stage)
        assert torch.equal(faded, F.interpolate(previous, scale_factor=2, mode="nearest"))
        halfway = model.synthesis(latents, stage, alpha=0.5, noise_mode="const")
        assert not torch.equal(halfway, faded)
        # the discriminator mirrors it: at alpha 0 it sees the average-pooled image through the previous stage
        images = torch.randn(3, 3, 4 * 2 ** stage, 4 * 2 ** stage)
        assert torch.equal(model.discriminator(images, stage, 0.0),
                           model.discriminator(F.avg_pool2d(images, 2), stage - 1, 1.0))


def test_real_images_fade_in_like_the_generator():
    images = torch.randn(2, 3, 16, 16)
    assert torch.equal(real_at_stage(images, 2, 1.0), images)
    assert torch.equal(real_at_stage(images, 1, 1.0), F.avg_pool2d(images, 2))
    faded = real_at_stage(images, 2, 0.0)
    assert torch.equal(faded, F.interpolate(F.avg_pool2d(images, 2), scale_factor=2, mode="nearest"))


def test_mixing_with_the_crossover_at_0_or_the_last_layer_is_one_source():
    model = tiny()
    ws_row, ws_column = model.styles(torch.randn(2, 16)), model.styles(torch.randn(2, 16))
    layers = model.num_layers
    image = lambda ws: model.synthesis(ws, noise_mode="const")  # noqa: E731
    assert torch.equal(image(mix_styles(ws_row, ws_column, range(0, layers))), image(ws_column))
    assert torch.equal(image(mix_styles(ws_row, ws_column, range(layers, layers))), image(ws_row))
    mixed = mix_styles(ws_row, ws_column, range(2, layers))
    assert torch.equal(mixed[:, :2], ws_row[:, :2]) and torch.equal(mixed[:, 2:], ws_column[:, 2:])
    assert not torch.equal(image(mixed), image(ws_row)) and not torch.equal(image(mixed), image(ws_column))


def test_layer_groups_follow_nvidia_coarse_middle_fine():
    assert layer_groups(8) == {"coarse": range(0, 4), "middle": range(4, 6), "fine": range(6, 8)}  # 32 px
    assert layer_groups(10) == {"coarse": range(0, 4), "middle": range(4, 8), "fine": range(8, 10)}  # 64 px
    assert layer_groups(6) == {"coarse": range(0, 4), "middle": range(4, 4), "fine": range(4, 6)}  # 16 px


def test_psi_0_makes_every_sample_the_image_of_w_avg():
    model = tiny()
    samples = model.sample(4, torch.Generator().manual_seed(0), truncation_psi=0.0, noise_mode="const")
    w_avg = model.mapping.w_avg.expand(4, model.num_layers, -1)  # the same batch size: the same kernels
    assert torch.equal(samples, model.synthesis(w_avg, noise_mode="const").clamp(-1, 1))
    assert all(torch.equal(image, samples[0]) for image in samples)
    assert not torch.equal(*model.sample(2, torch.Generator().manual_seed(0), noise_mode="const"))


def test_truncation_never_changes_w_avg_and_only_the_training_update_does():
    model = tiny().train()
    before = model.mapping.w_avg.clone()
    for psi in (0.0, 0.5, 1.0, 1.5):
        model.sample(3, torch.Generator().manual_seed(1), truncation_psi=psi)
        model(torch.randn(3, 16), truncation_psi=psi)
    assert torch.equal(model.mapping.w_avg, before)
    w = torch.randn(5, 16)
    model.mapping.update_w_avg(w, beta=0.9)
    assert torch.allclose(model.mapping.w_avg, 0.9 * before + 0.1 * w.mean(0))
    assert torch.equal(truncate_w(w, before, 1.0), w)
    assert torch.allclose(truncate_w(w, before, 0.5), before + 0.5 * (w - before), atol=1e-6)
    with pytest.raises(ValueError, match="finite"):
        truncate_w(w, before, float("nan"))


def test_noise_modes_and_the_per_layer_toggle():
    model = tiny()
    ws = model.styles(torch.randn(2, 16))
    run = lambda mode, layers=None, seed=0: model.synthesis(  # noqa: E731
        ws, noise_mode=mode, noise_layers=layers, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run("const"), run("const")) and torch.equal(run("random"), run("random"))
    assert not torch.equal(run("random", seed=0), run("random", seed=1))
    assert not torch.equal(run("const"), run("none"))
    assert torch.equal(run("const", [False] * model.num_layers), run("none"))
    only_fine = [i >= model.num_layers - 2 for i in range(model.num_layers)]
    assert not torch.equal(run("const", only_fine), run("none"))
    with pytest.raises(ValueError, match="noise_mode"):
        run("loud")


def test_minibatch_stddev_appends_the_group_standard_deviation():
    x = torch.randn(6, 5, 4, 4)
    out = minibatch_stddev(x, group_size=4)  # 6 is not a multiple of 4: groups of 3, image b in group b mod 2
    assert out.shape == (6, 6, 4, 4) and torch.equal(out[:, :5], x)
    group = x[[0, 2, 4]]
    expected = (group.var(0, unbiased=False) + 1e-8).sqrt().mean()
    assert torch.allclose(out[2, 5], expected.expand(4, 4), atol=1e-6)


def test_the_growth_schedule_is_a_pure_function_of_the_step():
    schedule = GrowthSchedule(num_stages=3, stage_steps=10, fade_steps=4)
    assert [schedule.at(step) for step in (0, 9, 10, 12, 14, 23, 24, 26, 28, 1000)] == [
        (0, 1.0), (0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0), (1, 1.0), (2, 0.0), (2, 0.5), (2, 1.0), (2, 1.0)]
    assert (schedule.stage_end(0), schedule.stage_end(1), schedule.growth_steps()) == (10, 24, 28)
    assert GrowthSchedule(3, 10, 0).at(10) == (1, 1.0)
    assert all(GrowthSchedule(3, (10,), 4).at(step) == schedule.at(step) for step in range(40))  # one count = (it,)


def test_each_stage_can_train_for_its_own_steps():
    schedule = GrowthSchedule(num_stages=4, stage_steps=(2, 5, 10), fade_steps=3)  # the 10 repeats for stage 3
    ends = [schedule.stage_end(stage) for stage in range(3)]
    assert ends == [2, 2 + 3 + 5, 10 + 3 + 10] and schedule.growth_steps() == 23 + 3
    assert [schedule.at(step) for step in (1, 2, 5, 9, 10, 12, 22, 23, 26, 500)] == [
        (0, 1.0), (1, 0.0), (1, 1.0), (1, 1.0), (2, 0.0), (2, 2 / 3), (2, 1.0), (3, 0.0), (3, 1.0), (3, 1.0)]
    assert parse_args(["--dataset", "d", "--output_dir", "o", "--stage_steps", "300", "300", "1200"]).stage_steps == [
        300, 300, 1200]
    with pytest.raises(SystemExit):
        parse_args(["--dataset", "d", "--output_dir", "o", "--stage_steps", "300", "0"])


def test_r1_is_the_squared_norm_of_the_gradient_on_reals():
    weight = torch.randn(3, 4, 4, requires_grad=True)

    class Linear(torch.nn.Module):
        def forward(self, images, stage, alpha):
            return (images * weight).sum((1, 2, 3))

    penalty = r1_penalty(Linear(), torch.randn(5, 3, 4, 4), 0, 1.0)
    assert torch.allclose(penalty, weight.pow(2).sum())
    penalty.backward()  # differentiable in D's weights: d/dW ||W||^2 = 2W
    assert torch.allclose(weight.grad, 2 * weight.detach())


def test_a_bad_resolution_or_generator_type_is_refused():
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN(48)
    with pytest.raises(ValueError, match="generator_type"):
        StyleGAN(32, "stylegan3")
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", "x", "--style_mixing_prob", "1.5"])


def test_training_exports_every_stage_and_the_export_loads_them(faces_dir, tmp_path):
    output = train_tiny("stylegan", tiny_stylegan_args(faces_dir, tmp_path / "sg", "--max_train_steps", "8"))
    info = json.loads((output / "training_info.json").read_text())
    assert info["family"] == "stylegan" and info["global_step"] == 8
    model = StyleGAN.from_pretrained(output)
    assert sorted(model.stages) == [4, 8] and model.stages[8].resolution == 8
    z = torch.randn(2, 16)
    assert model.stages[4](z, noise_mode="const").shape == (2, 3, 4, 4)
    assert model.sample(2, torch.Generator().manual_seed(0)).shape == (2, 3, 16, 16)
    assert model.mapping.w_avg.abs().sum() > 0  # tracked while training
    # the 8 px export is the model of step 6, not a slice of the final one
    assert not torch.equal(model.stages[8].synthesis.to_rgb[1].weight, model.synthesis.to_rgb[1].weight)
    # a stage file that is not this model's is refused, not half-loaded
    (output / "stages" / "8px" / "model.safetensors").write_bytes((output / "stages" / "4px" / "model.safetensors")
                                                                 .read_bytes())
    with pytest.raises(CheckpointError, match="8 px stage"):
        StyleGAN.from_pretrained(output)


def test_at_resolution_keeps_the_stages_weights():
    model = tiny(resolution=16)
    small = model.at_resolution(8)
    ws = model.styles(torch.randn(2, 16))
    assert torch.equal(small.synthesis(ws[:, : small.num_layers], noise_mode="const"),
                       model.synthesis(ws, 1, noise_mode="const"))
