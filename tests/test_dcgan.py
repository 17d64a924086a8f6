import json

import pytest
import torch
from safetensors.torch import save_file

from genhub.models import DCGAN, CheckpointError
from genhub.models.dcgan import DCGANDiscriminator, DCGANGenerator


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_generator_and_discriminator_shapes_and_ranges(resolution):
    generator = DCGANGenerator(resolution, latent_dim=8, channels=3, ngf=4).eval()
    discriminator = DCGANDiscriminator(resolution, channels=3, ndf=4)
    images = generator(torch.randn(2, 8) * 10)
    assert images.shape == (2, 3, resolution, resolution) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images).shape == (2,)


def test_unsupported_resolution_is_refused():
    with pytest.raises(ValueError, match="resolution must be one of"):
        DCGAN(resolution=48)


def test_grayscale_model_makes_one_channel():
    assert DCGAN(32, latent_dim=4, channels=1, ngf=4, ndf=4).sample(3).shape == (3, 1, 32, 32)


def test_truncation_scales_the_same_latent_codes_towards_the_mode():
    model = DCGAN(32, latent_dim=8, ngf=4, ndf=4).eval()
    torch.manual_seed(0)
    for weight in model.generator.parameters():  # far from the tiny initial weights, so psi visibly matters
        torch.nn.init.normal_(weight, std=0.5)
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        plain, half, mode = model.generator(z), model.generator(0.5 * z), model.generator(torch.zeros(1, 8))

    def sample(psi=None):
        kwargs = {} if psi is None else {"truncation_psi": psi}
        return model.sample(4, generator=torch.Generator().manual_seed(3), **kwargs)

    assert torch.equal(sample(), plain) and torch.equal(sample(1.0), plain)  # the default is plain sampling
    assert torch.allclose(sample(0.5), half, atol=1e-6) and not torch.allclose(half, plain, atol=1e-3)
    assert torch.allclose(sample(0.0), mode.expand(4, -1, -1, -1), atol=1e-6)  # psi = 0: every image is G(0)
    for psi in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="truncation_psi must be a finite number >= 0"):
            model.sample(1, truncation_psi=psi)


def test_weights_follow_radford_init():
    model = DCGAN(64, ngf=32, ndf=32)
    conv = model.generator.net[0].weight
    assert abs(conv.mean().item()) < 0.002 and 0.018 < conv.std().item() < 0.022


def test_save_load_round_trip_is_bit_identical(tmp_path):
    torch.manual_seed(0)
    model = DCGAN(32, latent_dim=8, ngf=4, ndf=4).eval()
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((tmp_path / "config.json").read_text()) == {
        "resolution": 32, "latent_dim": 8, "channels": 3, "ngf": 4, "ndf": 4, "spectral_norm": False}
    loaded = DCGAN.from_pretrained(tmp_path)
    z = torch.randn(4, 8)
    assert torch.equal(model.generator(z), loaded.generator(z))
    images = model.sample(2, torch.Generator().manual_seed(1))
    assert torch.equal(model.real_probability(images), loaded.real_probability(images))


def test_pickle_checkpoint_is_refused(tmp_path):
    model = DCGAN(32, latent_dim=8, ngf=4, ndf=4)
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pickle checkpoints are refused"):
        DCGAN.from_pretrained(tmp_path)


def test_mismatched_checkpoint_is_refused(tmp_path):
    DCGAN(32, latent_dim=8, ngf=4, ndf=4).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "ngf": 8}))
    with pytest.raises(CheckpointError, match="do not fit DCGAN"):
        DCGAN.from_pretrained(tmp_path)


def test_missing_tensor_is_refused(tmp_path):
    model = DCGAN(32, latent_dim=8, ngf=4, ndf=4)
    model.save_pretrained(tmp_path)
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith("discriminator.")}
    save_file({k: v.contiguous() for k, v in weights.items()}, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="discriminator"):
        DCGAN.from_pretrained(tmp_path)


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        DCGAN.from_pretrained(tmp_path)
