"""Gated PixelCNN: causality (grayscale and RGB channel order), bits/dim of a uniform model, quantisation round
trips, the band trick, seeded sampling, completion that keeps the visible pixels, and training and export through
the real entry point. Exact resume is tests/test_resume.py's ``pixelcnn`` row."""

import json
import math

import pytest
import torch

from conftest import tiny_pixelcnn_args, train_tiny
from genhub.models import PixelCNN
from genhub.models.pixelcnn import dequantize, quantize

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


@pytest.mark.parametrize("channels", [1, 3])
def test_every_output_depends_on_the_past_only(channels):
    torch.manual_seed(0)
    model = PixelCNN(6, channels, 4, 6, 3, 3)
    x = (torch.rand(1, channels, 6, 6) * 2 - 1).requires_grad_(True)
    logits = model.network(x)
    dependencies = 0
    for c in range(channels):
        for i in range(6):
            for j in range(6):
                grad, = torch.autograd.grad(logits[0, :, c, i, j].sum(), x, retain_graph=True)
                for cc in range(channels):
                    for ii in range(6):
                        for jj in range(6):
                            if (ii, jj, cc) >= (i, j, c):  # itself and everything after it in raster/channel order
                                assert grad[0, cc, ii, jj] == 0, ((c, i, j), (cc, ii, jj))
                            dependencies += int(grad[0, cc, ii, jj] != 0)
    assert dependencies > 0
    if channels == 3:  # the B of a pixel sees its R and G (the R sees none of that pixel: checked above)
        grad, = torch.autograd.grad(logits[0, :, 2, 3, 3].sum(), x, retain_graph=True)
        assert grad[0, 0, 3, 3] != 0 and grad[0, 1, 3, 3] != 0


def test_a_uniform_model_scores_exactly_log2_levels_bits_per_dim():
    model = PixelCNN(8, 1, 16, 8, 2, 3)
    for parameter in model.logits_out.parameters():
        torch.nn.init.zeros_(parameter)  # every logit 0: a uniform distribution over the 16 levels
    levels = torch.randint(0, 16, (3, 1, 8, 8))
    assert torch.allclose(model.nll_bits(levels), torch.full((3,), 4.0))
    assert torch.allclose(model.surprise(levels), torch.full((3, 1, 8, 8), 4.0))


def test_quantisation_round_trip():
    levels = torch.arange(16).view(1, 1, 4, 4)
    assert torch.equal(quantize(dequantize(levels, 16), 16), levels)
    assert dequantize(torch.tensor([0, 15]), 16).tolist() == [-1.0, 1.0]
    assert quantize(torch.tensor([-5.0, 5.0]), 16).tolist() == [0, 15]


def test_row_logits_from_the_band_equal_the_full_image():
    torch.manual_seed(1)
    model = PixelCNN(12, 1, 8, 8, 3, 3)
    levels = torch.randint(0, 8, (2, 1, 12, 12))
    full = model(levels)
    for row in range(12):
        assert torch.allclose(model.row_logits(levels, row), full[..., row, :], atol=1e-6)


def test_seeded_sampling_is_reproducible_and_in_range():
    model = PixelCNN(6, 1, 4, 8, 2, 3).eval()
    first = model.sample(2, torch.Generator().manual_seed(3))
    assert first.shape == (2, 1, 6, 6) and set(first.unique().tolist()) <= set(dequantize(torch.arange(4), 4).tolist())
    assert torch.equal(first, model.sample(2, torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="temperature"):
        model.sample(1, temperature=0.0)


def test_completion_never_changes_the_visible_pixels_and_streams_rows():
    model = PixelCNN(6, 1, 4, 8, 2, 3).eval()
    levels = torch.randint(0, 4, (3, 1, 6, 6))
    hidden = torch.zeros(1, 1, 6, 6, dtype=torch.bool)
    hidden[..., 3:, :] = True  # the lower half
    hidden[..., 1, 2] = True  # and one pixel above it
    steps = [(row, frame.clone()) for row, frame in model.fill(levels, hidden, 0.8, torch.Generator().manual_seed(0))]
    assert [row for row, _ in steps] == [1, 3, 4, 5]
    final = steps[-1][1]
    assert torch.equal(final[~hidden.expand_as(final)], levels[~hidden.expand_as(levels)])
    assert final.min() >= 0 and final.max() < 4


def test_bad_configurations_are_refused():
    for kwargs in ({"num_levels": 1}, {"num_levels": 257}, {"channels": 3, "hidden_channels": 8},
                   {"kernel_size": 4}):
        with pytest.raises(ValueError):
            PixelCNN(**kwargs)


def test_training_and_export_report_bits_per_dim_through_the_real_entry_point(faces_dir, tmp_path):
    folder = train_tiny("pixelcnn", tiny_pixelcnn_args(faces_dir, tmp_path / "out", "--max_train_steps", "3",
                                                       "--outlier_dataset", "lfw-subset"))
    info = json.loads((folder / "training_info.json").read_text())
    metrics = info["metrics"]
    assert 0 < metrics["heldout_bits_per_dim"] < 8
    assert metrics["heldout_bits_per_dim_8bit_equivalent"] == pytest.approx(metrics["heldout_bits_per_dim"] + 6)
    assert 0 <= metrics["outlier_auroc_vs_lfw-subset"] <= 1
    model = PixelCNN.from_pretrained(str(folder))
    assert model.num_levels == 4 and model.channels == 1 and info["family"] == "pixelcnn"
    assert "bits per dimension" in (folder / "README.md").read_text()
    assert math.isfinite(float(model.nll_bits(torch.zeros(1, 1, 8, 8, dtype=torch.long))[0]))
