"""The DCGAN's opt-in modern recipe: hinge loss, spectral norm, two learning rates, DiffAugment and lazy R1, and the
one discriminator pass over reals and fakes without batch norm; training and export through the real entry point.
Exact resume with every flag on is tests/test_resume.py's second ``dcgan`` row."""

import copy
import json

import pytest
import torch

from conftest import tiny_dcgan_args, train_tiny
from genhub.models import DCGAN
from genhub.models.dcgan import DCGANDiscriminator
from genhub.train.dcgan import DCGANHparams, adversarial_loss, make_recipe, parse_args, training_step
from genhub.train.diffaugment import diff_augment
from genhub.train.losses import hinge_loss, r1_penalty
from genhub.train.optim import adam
from genhub.train.trainer import StepContext

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module

MODERN = ("--gan_loss", "hinge", "--spectral_norm", "--diffaugment", "color,translation,cutout", "--r1_gamma", "1",
          "--r1_interval", "2", "--learning_rate_d", "4e-4")


def convs(discriminator: torch.nn.Module) -> list[torch.nn.Conv2d]:
    return [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]


def spectral_norm_of(conv: torch.nn.Conv2d, weight: torch.Tensor | None = None) -> float:
    weight = conv.weight if weight is None else weight
    return float(torch.linalg.matrix_norm(weight.detach().reshape(conv.out_channels, -1), ord=2))


# ----------------------------------------------------------------------------------------------------------- losses
def test_hinge_losses_match_hand_computed_values():
    logits = torch.tensor([-2.0, 0.5, 3.0])
    assert torch.allclose(hinge_loss(logits, True), torch.tensor((3.0 + 0.5 + 0.0) / 3))  # relu(1 - x)
    assert torch.allclose(hinge_loss(logits, False), torch.tensor((0.0 + 1.5 + 4.0) / 3))  # relu(1 + x)
    assert torch.allclose(hinge_loss(logits, True, for_discriminator=False), torch.tensor(-1.5 / 3))  # -mean(x)
    assert hinge_loss(logits.bfloat16(), True).dtype == torch.float32
    with pytest.raises(ValueError, match="only has a real target"):
        hinge_loss(logits, False, for_discriminator=False)


def test_the_vanilla_recipe_keeps_the_non_saturating_loss():
    logits = torch.tensor([-1.0, 2.0])
    expected = -torch.nn.functional.logsigmoid(logits).mean()  # -log D(x), for D's reals and for G alike
    assert torch.allclose(adversarial_loss(logits, True, "vanilla"), expected)
    assert torch.allclose(adversarial_loss(logits, True, "vanilla", for_discriminator=False), expected)
    assert torch.allclose(adversarial_loss(logits, True, "hinge", for_discriminator=False), torch.tensor(-0.5))


def test_r1_of_a_linear_discriminator_is_the_squared_norm_of_its_weight():
    weight = torch.randn(3, 4, 4, requires_grad=True)

    def linear(images, scale=1.0):
        return scale * (images * weight).sum((1, 2, 3))

    real = torch.randn(5, 3, 4, 4)
    penalty = r1_penalty(linear, real)
    assert torch.allclose(penalty, weight.pow(2).sum())
    penalty.backward()  # differentiable in D's weights: d/dW ||W||^2 = 2W
    assert torch.allclose(weight.grad, 2 * weight.detach())
    # further arguments go to the discriminator (the progressive GAN's stage and alpha); a callable works alike
    assert torch.allclose(r1_penalty(linear, real, 3.0), 9 * weight.pow(2).sum())
    assert torch.allclose(r1_penalty(lambda images: linear(images, 3.0), real), 9 * weight.pow(2).sum())
    assert not real.requires_grad


# ---------------------------------------------------------------------------------------------------- spectral norm
def test_spectral_norm_bounds_every_conv_and_removes_batch_norm():
    torch.manual_seed(0)
    discriminator = DCGANDiscriminator(32, channels=3, ndf=8, spectral_norm=True).train()
    with torch.no_grad():
        for _ in range(10):  # one power iteration per forward pass in train mode
            discriminator(torch.randn(4, 3, 32, 32))
    discriminator.eval()
    assert len(convs(discriminator)) == 4
    for conv in convs(discriminator):
        raw = conv.parametrizations.weight.original
        assert spectral_norm_of(conv, raw) < 0.9  # N(0, 0.02) weights are far from 1 ...
        assert spectral_norm_of(conv) == pytest.approx(1.0, abs=5e-3)  # ... W / sigma(W) is not
        assert conv.bias is not None
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in discriminator.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in DCGANDiscriminator(32, ndf=8).modules())


def test_spectral_norm_export_round_trip(tmp_path):
    torch.manual_seed(0)
    model = DCGAN(32, latent_dim=16, ngf=8, ndf=8, spectral_norm=True).train()
    with torch.no_grad():  # move the power-iteration vectors away from their initial values
        for _ in range(3):
            model.discriminator(torch.randn(4, 3, 32, 32))
    model.eval()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["spectral_norm"] is True
    loaded = DCGAN.from_pretrained(tmp_path)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.discriminator.modules())
    z, images = torch.randn(4, 16), torch.rand(4, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.generator(z), loaded.generator(z))
        assert torch.equal(model.discriminator(images), loaded.discriminator(images))
    assert torch.equal(model.real_probability(images), loaded.real_probability(images))


def test_an_export_without_the_key_is_the_batch_norm_dcgan(tmp_path):
    DCGAN(32, latent_dim=16, ngf=8, ndf=8).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["spectral_norm"]  # as exports written before the flag existed
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = DCGAN.from_pretrained(tmp_path)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.discriminator.modules())
    assert loaded.config["spectral_norm"] is False


# ------------------------------------------------------------------------------------------------------ DiffAugment
def faces(batch: int = 8, side: int = 32) -> torch.Tensor:
    """Images in [0.1, 1] (never 0, so that zeroed pixels are the augmentation's)."""
    return torch.rand(batch, 3, side, side, generator=torch.Generator().manual_seed(1)) * 0.9 + 0.1


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_every_policy_keeps_the_shape_changes_the_images_and_passes_gradients(policy):
    images = faces().requires_grad_(True)
    torch.manual_seed(0)
    out = diff_augment(images, policy)
    assert out.shape == images.shape and out.dtype == images.dtype and torch.isfinite(out).all()
    assert not torch.allclose(out, images)
    out.square().sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    torch.manual_seed(0)  # the global RNG decides, so a resumed run augments alike
    assert torch.equal(diff_augment(images, policy), out)


def test_the_empty_policy_is_the_identity():
    images = faces()
    assert diff_augment(images, "") is images


def test_color_shifts_a_flat_image_by_one_brightness_per_image():
    images = torch.full((16, 3, 8, 8), 0.2)  # no colour or contrast to scale: only the brightness shift is left
    torch.manual_seed(0)
    shift = diff_augment(images, "color") - images
    per_image = shift[:, :1, :1, :1]
    assert torch.allclose(shift, per_image.expand_as(shift), atol=1e-6)
    assert per_image.abs().max() <= 0.5 and per_image.unique().numel() == 16


def test_translation_shifts_each_image_by_at_most_an_eighth_with_zero_padding():
    images = faces()
    torch.manual_seed(0)
    out = diff_augment(images, "translation")
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    shifts = []
    for image, moved in zip(padded, out):
        found = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                 if torch.equal(moved, image[:, 4 - dy: 36 - dy, 4 - dx: 36 - dx])]
        assert len(found) == 1
        shifts.append(found[0])
    assert len(set(shifts)) > 1


def test_cutout_zeroes_one_clipped_half_side_square_and_only_it():
    images = faces(16).requires_grad_(True)
    torch.manual_seed(0)
    out = diff_augment(images, "cutout")
    zero = out == 0
    for cut in zero.all(dim=1):  # one mask for all channels
        rows, cols = cut.any(dim=1).nonzero().flatten(), cut.any(dim=0).nonzero().flatten()
        assert cut[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1].all()  # a filled rectangle
        assert 8 <= len(rows) <= 16 and 8 <= len(cols) <= 16  # half of 32, clipped to no less than its half
    assert torch.equal(out[~zero], images[~zero])
    out.sum().backward()
    assert torch.equal(images.grad, (~zero).float())  # the gradient of what is kept, none of what is cut


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match=r"unknown DiffAugment transform\(s\) 'rotate'"):
        diff_augment(faces(), "color,rotate")
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", "x", "--diffaugment", "color,rotate"])
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", "x", "--r1_interval", "0"])


# -------------------------------------------------------------------------------------------------------- the step
def step_once(model: DCGAN, hparams: DCGANHparams, real: torch.Tensor) -> tuple[dict, int]:
    """One ``training_step`` on a bare context; the step's logs and its number of discriminator calls."""
    networks = {"generator": model.generator, "discriminator": model.discriminator}
    optimizers = {name: adam(network.parameters(), 1e-4) for name, network in networks.items()}
    calls = []
    hook = model.discriminator.register_forward_hook(lambda *_: calls.append(1))
    ctx = StepContext(networks, dict(networks), optimizers, {}, hparams, lambda loss: loss.backward())
    try:
        return training_step(ctx, {"pixel_values": real}), len(calls)
    finally:
        hook.remove()


@pytest.mark.parametrize("gan_loss", ["vanilla", "hinge"])
def test_one_discriminator_pass_gives_the_two_pass_loss_without_batch_norm(gan_loss):
    torch.manual_seed(0)
    model = DCGAN(32, latent_dim=16, ngf=8, ndf=8, spectral_norm=True).train()
    with torch.no_grad():  # converge the power iterations, so one more pass does not move sigma
        for _ in range(10):
            model.discriminator(torch.randn(8, 3, 32, 32))
    reference, real = copy.deepcopy(model), faces() * 2 - 1
    torch.manual_seed(1)
    logs, calls = step_once(model, DCGANHparams(16, gan_loss), real)
    assert calls == 2  # reals and fakes together, then the generator's step

    torch.manual_seed(1)
    with torch.no_grad():
        fake = reference.generator(torch.randn(8, 16))
        expected = (adversarial_loss(reference.discriminator(real), True, gan_loss)
                    + adversarial_loss(reference.discriminator(fake), False, gan_loss))
    assert torch.allclose(logs["loss_d"], expected, rtol=1e-4)
    assert set(logs) == {"loss_d", "loss_g"}


def test_batch_norm_keeps_two_passes_and_r1_adds_its_own():
    real = faces() * 2 - 1
    torch.manual_seed(0)
    _, calls = step_once(DCGAN(32, latent_dim=16, ngf=8, ndf=8).train(), DCGANHparams(16), real)
    assert calls == 3
    torch.manual_seed(0)
    logs, calls = step_once(DCGAN(32, latent_dim=16, ngf=8, ndf=8, spectral_norm=True).train(),
                            DCGANHparams(16, "hinge", "color,translation,cutout", r1_gamma=1.0), real)
    assert calls == 3 and set(logs) == {"loss_d", "r1", "loss_g"}
    assert all(value.requires_grad is False and torch.isfinite(value) for value in logs.values())
    assert logs["r1"] > 0


def test_the_flags_build_the_recipe():
    modern = make_recipe(parse_args(["--output_dir", "x", "--latent_dim", "16", "--ngf", "8", "--ndf", "8",
                                     "--resolution", "32", *MODERN]))
    assert modern.hparams == DCGANHparams(16, "hinge", "color,translation,cutout", 1.0, 2)
    assert modern.model.config["spectral_norm"] is True
    learning_rates = {name: optimizer.param_groups[0]["lr"] for name, optimizer in modern.optimizers.items()}
    assert learning_rates == {"generator": 2e-4, "discriminator": 4e-4}
    classic = make_recipe(parse_args(["--output_dir", "x", "--resolution", "32", "--ngf", "8", "--ndf", "8"]))
    assert classic.hparams == DCGANHparams(100)
    assert {optimizer.param_groups[0]["lr"] for optimizer in classic.optimizers.values()} == {2e-4}


# ------------------------------------------------------------------------------------------------------- end to end
def test_training_with_every_flag_exports_a_loadable_spectral_norm_model(faces_dir, tmp_path):
    output = train_tiny("dcgan", tiny_dcgan_args(faces_dir, tmp_path / "modern", "--max_train_steps", "3", *MODERN))
    assert json.loads((output / "config.json").read_text())["spectral_norm"] is True
    info = json.loads((output / "training_info.json").read_text())
    assert set(info["final_losses"]) == {"loss_d", "r1", "loss_g"}  # R1 at steps 0 and 2
    assert {k: info["args"][k] for k in ("gan_loss", "spectral_norm", "diffaugment", "r1_gamma", "r1_interval",
                                         "learning_rate_d")} == {
        "gan_loss": "hinge", "spectral_norm": True, "diffaugment": "color,translation,cutout", "r1_gamma": 1.0,
        "r1_interval": 2, "learning_rate_d": 4e-4}
    model = DCGAN.from_pretrained(output)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.discriminator.modules())
    probability = model.real_probability(model.sample(4, torch.Generator().manual_seed(0)))
    assert probability.shape == (4,) and ((probability >= 0) & (probability <= 1)).all()
