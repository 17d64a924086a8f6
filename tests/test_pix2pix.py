"""pix2pix: U-Net and PatchGAN shapes, skips and odd sizes, the loss, save/load, training and exact resume."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from genhub.models import Pix2Pix
from genhub.models.layers import pad_to_multiple
from genhub.models.patchgan import PatchGANDiscriminator, patchgan_output_side, patchgan_receptive_field
from genhub.models.pix2pix import UNetGenerator
from genhub.train import pix2pix as train_pix2pix
from genhub.train.trainer import flip_batch


def _run(*argv):
    return train_pix2pix.main(train_pix2pix.parse_args(list(argv)))


@pytest.mark.parametrize("resolution, patches", [(32, 2), (64, 6), (128, 14), (256, 30)])
def test_generator_and_discriminator_shapes_for_each_resolution(resolution, patches):
    torch.manual_seed(0)
    model = Pix2Pix(resolution, ngf=4, ndf=4, num_downs=int(math.log2(resolution))).eval()
    real_A = torch.randn(2, 3, resolution, resolution)
    fake_B = model.translate(real_A * 10)
    assert fake_B.shape == (2, 3, resolution, resolution) and fake_B.dtype == torch.float32
    assert -1 <= fake_B.min() and fake_B.max() <= 1
    logits = model.discriminator(torch.cat([real_A, fake_B], dim=1))
    assert logits.shape == (2, 1, patches, patches) and patchgan_output_side(resolution) == patches


def test_paper_sizes_are_the_defaults():
    model = Pix2Pix()
    assert model.config == {"resolution": 256, "in_channels": 3, "out_channels": 3, "ngf": 64, "ndf": 64,
                            "num_downs": 8, "n_layers": 3, "norm": "batch", "use_dropout": True}
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert count(model.generator) == 54_413_955  # the authors' U-Net-256
    assert count(model.discriminator) == 2_768_705  # their 70x70 PatchGAN on 6 channels
    assert train_pix2pix.parse_args(["--output_dir", "x"]).num_downs == 8
    assert train_pix2pix.parse_args(["--output_dir", "x", "--resolution", "128"]).num_downs == 7


def test_patchgan_sees_70_by_70_patches():
    assert [patchgan_receptive_field(n) for n in (1, 3, 5)] == [16, 70, 286]
    torch.manual_seed(0)
    discriminator = PatchGANDiscriminator(3, ndf=4, n_layers=3).eval()  # eval: batch norm is per pixel
    images = torch.randn(1, 3, 128, 128, requires_grad=True)
    discriminator(images)[0, 0, 7, 7].backward()
    rows = images.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    columns = images.grad.abs().sum(dim=(0, 1, 2)).nonzero().flatten()
    assert rows.max() - rows.min() + 1 == 70 and columns.max() - columns.min() + 1 == 70


def test_unsupported_sizes_are_refused():
    with pytest.raises(ValueError, match="not a multiple of 2\\*\\*num_downs"):
        Pix2Pix(128, num_downs=8)
    with pytest.raises(ValueError, match="smallest input of a PatchGAN"):
        Pix2Pix(16, ngf=4, ndf=4, num_downs=4)
    with pytest.raises(ValueError, match="norm must be one of"):
        Pix2Pix(32, num_downs=5, norm="layer")
    with pytest.raises(ValueError, match="at least 24 px"):
        PatchGANDiscriminator(3, ndf=4)(torch.zeros(1, 3, 16, 16))


def test_skip_connections_carry_the_input_past_a_cut_bottleneck():
    torch.manual_seed(0)
    generator = UNetGenerator(num_downs=5, ngf=4).eval()
    cut = generator.downs[-1].register_forward_hook(lambda module, inputs, output: torch.zeros_like(output))
    a, b = torch.randn(2, 1, 3, 32, 32).unbind(0)
    assert not torch.allclose(generator(a), generator(b))  # only the skip paths can tell a from b
    # and the outermost skip is wired to the last decoder layer: cutting it changes the output
    skip = generator.downs[0].register_forward_hook(lambda module, inputs, output: torch.zeros_like(output))
    with_skip_cut = generator(a)
    skip.remove()
    assert not torch.allclose(generator(a), with_skip_cut)
    cut.remove()


@pytest.mark.parametrize("height, width", [(37, 51), (1, 1), (32, 33)])
def test_odd_input_sizes_are_padded_and_cropped_back(height, width):
    torch.manual_seed(0)
    generator = UNetGenerator(num_downs=5, ngf=4).eval()
    images = torch.randn(1, 3, height, width)
    output = generator(images)
    assert output.shape == images.shape
    padded, size = pad_to_multiple(images, 32)
    assert size == (height, width) and padded.shape[-2] % 32 == 0 and padded.shape[-1] % 32 == 0
    assert torch.equal(padded[..., :height, :width], images)
    assert torch.equal(padded[..., -1, -1], images[..., -1, -1])  # replicated edge
    torch.testing.assert_close(output, generator(padded)[..., :height, :width])


def test_pad_to_multiple_leaves_fitting_inputs_alone():
    images = torch.randn(2, 3, 16, 24)
    assert pad_to_multiple(images, 8)[0] is images
    assert pad_to_multiple(images, 8, minimum=32)[0].shape[-2:] == (32, 32)


def test_generator_loss_matches_hand_computation():
    fake_B = torch.zeros(1, 3, 2, 2)
    real_B = torch.full((1, 3, 2, 2), 0.5)
    gan, l1 = train_pix2pix.generator_loss(torch.zeros(1, 1, 2, 2), fake_B, real_B, 100.0, "vanilla")
    assert gan.item() == pytest.approx(math.log(2))  # -log sigmoid(0)
    assert l1.item() == pytest.approx(50.0)  # 100 * mean |0.5 - 0|
    gan, l1 = train_pix2pix.generator_loss(torch.tensor([[[[3.0, 1.0]]]]), fake_B, real_B, 1.0, "lsgan")
    assert gan.item() == pytest.approx(((3 - 1) ** 2 + 0) / 2) and l1.item() == pytest.approx(0.5)
    gan, _ = train_pix2pix.generator_loss(torch.tensor([2.0, -1.0]), fake_B, real_B, 1.0, "vanilla")
    assert gan.item() == pytest.approx((F.softplus(torch.tensor(-2.0)) + F.softplus(torch.tensor(1.0))).item() / 2)


def test_random_flip_flips_input_and_target_together():
    torch.manual_seed(3)
    real_A = torch.arange(8.0).view(1, 1, 1, 8).repeat(64, 3, 2, 1)
    real_B = real_A[:, :2] * 10
    flipped = flip_batch({"real_A": real_A, "real_B": real_B}, (("real_A", "real_B"),))
    flipped_A, flipped_B = flipped["real_A"], flipped["real_B"]
    was_flipped = flipped_A[:, 0, 0, 0] == 7
    assert 10 < was_flipped.sum() < 54
    assert torch.equal(flipped_B, flipped_A[:, :2] * 10)
    torch.manual_seed(3)
    assert torch.equal(flip_batch({"real_A": real_A, "real_B": real_B}, (("real_A", "real_B"),))["real_A"], flipped_A)


def test_save_load_round_trip_is_bit_identical(tmp_path):
    torch.manual_seed(0)
    model = Pix2Pix(32, ngf=4, ndf=4, num_downs=5, norm="instance").eval()
    model.save_pretrained(tmp_path)
    loaded = Pix2Pix.from_pretrained(tmp_path)
    assert loaded.config == model.config and json.loads((tmp_path / "config.json").read_text())["norm"] == "instance"
    images = torch.randn(2, 3, 32, 32)
    assert torch.equal(model.translate(images), loaded.translate(images))
    pair = torch.cat([images, images], dim=1)
    assert torch.equal(model.discriminator(pair), loaded.discriminator(pair))


def test_few_steps_export_a_loadable_folder(tiny_pix2pix_export, sketch_dir):
    out = tiny_pix2pix_export
    assert {"config.json", "model.safetensors", "README.md", "samples.png", "training_info.json"} <= {
        p.name for p in out.iterdir()}
    info = json.loads((out / "training_info.json").read_text())
    assert info["family"] == "pix2pix" and info["global_step"] == 4 and info["dataset"] == str(sketch_dir)
    assert set(info["final_losses"]) == {"loss_d", "loss_g_gan", "loss_g_l1"}
    assert info["args"]["input_column"] == "input" and 0 < info["metrics"]["heldout_l1"] < 2
    assert info["domains"] == {"A": "sketch", "B": "face"}
    card = (out / "README.md").read_text()
    assert "pipeline_tag: image-to-image" in card and "model.translate(real_A)" in card
    model = Pix2Pix.from_pretrained(out)
    assert model.resolution == 32 and model.translate(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    assert not torch.equal(model.generator.downs[0].weight, Pix2Pix(**model.config).generator.downs[0].weight)
    from PIL import Image

    grid = Image.open(out / "samples.png")  # 2 held-out tiles of input | output | target, 32 px, padding 2
    assert grid.size == (2 + 2 * (3 * 32 + 2), 2 + 32 + 2)
