"""The deterministic autoencoder: the VAE's networks without the KL term; its loss is exactly the reconstruction
term; shapes, save/load, denoising, and training and export through the real entry point."""

import json

import pytest
import torch

from conftest import tiny_autoencoder_args, train_tiny
from genhub.models import VAE, Autoencoder, CheckpointError
from genhub.models.backbones import ConvDecoder, ConvEncoder
from genhub.models.vae import reconstruction_error
from genhub.train.autoencoder import autoencoder_loss, parse_args

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


def test_the_autoencoder_and_the_vae_share_one_encoder_and_decoder_definition():
    ae, vae = Autoencoder(32, 8, 3, 8), VAE(32, 8, 3, 8)
    assert type(ae.encoder) is type(vae.encoder) is ConvEncoder
    assert type(ae.decoder) is type(vae.decoder) is ConvDecoder
    # the VAE's encoder head is twice as wide (mu and log sigma^2); everything else has the same shapes
    ae_shapes = {k: v.shape for k, v in ae.state_dict().items()}
    vae_shapes = {k: v.shape for k, v in vae.state_dict().items()}
    assert set(ae_shapes) == set(vae_shapes)
    assert {k for k in ae_shapes if ae_shapes[k] != vae_shapes[k]} == {"encoder.head.weight", "encoder.head.bias"}


@pytest.mark.parametrize("resolution", [32, 64])
def test_shapes_ranges_and_determinism(resolution):
    model = Autoencoder(resolution, 16, 3, 8).eval()
    images = torch.rand(3, 3, resolution, resolution) * 2 - 1
    z = model.encode(images)
    assert z.shape == (3, 16)
    out = model.reconstruct(images)
    assert out.shape == images.shape and out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, model.reconstruct(images))  # no sampling anywhere
    first = model.sample(4, torch.Generator().manual_seed(3))
    assert first.shape == (4, 3, resolution, resolution) and torch.equal(first, model.sample(
        4, torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="resolution"):
        Autoencoder(48)


def test_loss_equals_the_reconstruction_term_exactly():
    torch.manual_seed(0)
    model = Autoencoder(32, 8, 3, 8)
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    loss = autoencoder_loss(model.encoder, model.decoder, images)
    assert torch.equal(loss, reconstruction_error(model(images), images).mean())
    by_hand = ((model(images) - images) ** 2).flatten(1).sum(1).mean()
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_denoising_feeds_noisy_inputs_and_scores_against_clean_targets():
    torch.manual_seed(0)
    model = Autoencoder(32, 8, 3, 8)
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    torch.manual_seed(1)
    noisy_loss = autoencoder_loss(model.encoder, model.decoder, images, noise_std=0.5)
    torch.manual_seed(1)
    noisy = images + 0.5 * torch.randn_like(images)
    assert noisy_loss.item() == pytest.approx(reconstruction_error(model(noisy), images).mean().item(), rel=1e-6)
    # identity networks: the loss is the noise energy, sigma^2 per value (exactly 0 without noise)
    identity = torch.nn.Identity()
    assert autoencoder_loss(identity, identity, images).item() == 0.0
    energy = autoencoder_loss(identity, identity, torch.zeros(64, 3, 32, 32), noise_std=0.5).item()
    assert energy / (3 * 32 * 32) == pytest.approx(0.25, rel=0.02)
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", "x", "--noise_std", "-1"])


def test_save_load_round_trip_is_exact_and_a_vae_checkpoint_is_refused(tmp_path):
    model = Autoencoder(32, 8, 3, 8).eval()
    model.save_pretrained(tmp_path / "ae")
    again = Autoencoder.from_pretrained(tmp_path / "ae").eval()
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(model.reconstruct(images), again.reconstruct(images))
    VAE(32, 8, 3, 8).save_pretrained(tmp_path / "vae")
    with pytest.raises(CheckpointError):
        Autoencoder.from_pretrained(tmp_path / "vae")


def test_the_fitted_gaussian_has_the_codes_moments_round_trips_and_its_draws_follow_it(tmp_path):
    torch.manual_seed(0)
    model = Autoencoder(32, 4, 3, 8).eval()
    with pytest.raises(ValueError, match="no latent_gaussian"):
        model.sample(2, fitted=True)
    mixing = torch.tensor([[2.0, 0, 0, 0], [1.0, 1.0, 0, 0], [0, 0, 0.5, 0], [0, 0, 0, 3.0]])
    codes = torch.tensor([1.0, -2.0, 0.0, 5.0]) + torch.randn(20000, 4) @ mixing.T
    mean, scale_tril = model.fit_latent_gaussian(codes)
    assert torch.allclose(mean, codes.mean(0)) and torch.allclose(scale_tril @ scale_tril.T, torch.cov(codes.T)
                                                                      + 1e-4 * torch.eye(4), atol=1e-4)
    assert torch.allclose(scale_tril @ scale_tril.T, mixing @ mixing.T, atol=0.15)  # the true covariance
    model.save_pretrained(tmp_path / "ae")
    again = Autoencoder.from_pretrained(tmp_path / "ae").eval()
    assert all(torch.equal(a, b) for a, b in zip(model.latent_gaussian, again.latent_gaussian))
    draws = model.sample(3, torch.Generator().manual_seed(5), fitted=True)
    eps = torch.randn(3, 4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(draws, again.decode(mean + eps @ scale_tril.T)) and not torch.equal(draws, again.decode(eps))
    Autoencoder(32, 6, 3, 8).save_pretrained(tmp_path / "wide")
    (tmp_path / "wide" / "latent_gaussian.safetensors").write_bytes(
        (tmp_path / "ae" / "latent_gaussian.safetensors").read_bytes())  # a 4-d Gaussian beside 6-d weights
    with pytest.raises(CheckpointError, match="6-dimensional"):
        Autoencoder.from_pretrained(tmp_path / "wide")


def test_training_exports_reconstruction_quality_and_latent_statistics(faces_dir, tmp_path):
    export = train_tiny("autoencoder", tiny_autoencoder_args(faces_dir, tmp_path / "ae", "--max_train_steps", "30",
                                                             "--learning_rate", "2e-3"))
    info = json.loads((export / "training_info.json").read_text())
    metrics = info["metrics"]
    assert info["family"] == "autoencoder" and info["global_step"] == 30
    assert 0 < metrics["heldout_mse"] < 0.2 and metrics["heldout_psnr_db"] > 7
    assert metrics["latent_std_mean"] > 0
    model = Autoencoder.from_pretrained(export)
    assert model.latent_dim == 8 and (export / "samples.png").is_file()
    assert model.latent_gaussian is not None and model.latent_gaussian[0].shape == (8,)  # fitted to its codes
    assert "autoencoder" in (export / "README.md").read_text()
