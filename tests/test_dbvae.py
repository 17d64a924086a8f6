"""DB-VAE (Amini et al. 2019): the loss against hand-computed values, the VAE terms' zero gradient on non-faces
(the course lab's bug), adaptive resampling on a toy latent against hand-computed histograms, alpha = inf is
uniform, the resampler's checkpoint state, and the DB-VAE and the standard-CNN baseline through the real entry
point with their audit and resampling files. Exact resume is tests/test_resume.py's ``dbvae`` row."""

import json
import math

import pytest
import torch
from accelerate.utils import set_seed
from safetensors.torch import load_file

from conftest import tiny_dbvae_args, train_tiny
from genhub.evaluation.fairness import GROUPS, Rate, audit, group_rows
from genhub.evaluation.intervals import wilson_interval
from genhub.models import DBVAE
from genhub.models.dbvae import dbvae_loss, split_outputs
from genhub.models.debiasing import LatentDensity
from genhub.train.dbvae import Resampler, parse_args

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


def _pair():
    """One face (label 1) and one non-face (label 0), 1x2x2 images, 2 latents, known values."""
    images = torch.tensor([[[[0.5, -0.5], [1.0, 0.0]]], [[[0.2, 0.2], [0.2, 0.2]]]])
    reconstructions = torch.tensor([[[[0.0, -0.5], [0.5, 0.5]]], [[[-0.8, 0.9], [0.0, 0.7]]]])
    mu = torch.tensor([[1.0, -2.0], [3.0, 0.5]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [1.0, -1.0]])
    return torch.tensor([0.3, -1.2]), torch.tensor([1.0, 0.0]), images, reconstructions, mu, logvar


def test_loss_matches_hand_computed_values_for_a_face_and_a_non_face():
    losses = dbvae_loss(*_pair(), classification_weight=2.0, reconstruction_weight=3.0, kl_weight=0.5)
    face_bce, nonface_bce = math.log(1 + math.exp(-0.3)), math.log(1 + math.exp(-1.2))
    face_l1 = (0.5 + 0.0 + 0.5 + 0.5) / 4
    face_kl = 0.5 * ((1 + 1 - 1 - 0) + (2 + 4 - 1 - math.log(2.0)))
    # the non-face contributes its classification term only, although its L1 and KL are large
    expected = (2.0 * face_bce + 3.0 * face_l1 + 0.5 * face_kl + 2.0 * nonface_bce) / 2
    assert losses["loss"].item() == pytest.approx(expected, rel=1e-6)
    assert losses["classification"].item() == pytest.approx((face_bce + nonface_bce) / 2, rel=1e-6)
    assert losses["reconstruction"].item() == pytest.approx(face_l1, rel=1e-6)
    assert losses["kl"].item() == pytest.approx(face_kl, rel=1e-6)


def test_a_non_face_gets_zero_gradient_from_the_reconstruction_and_kl_terms():
    logits, labels, images, reconstructions, mu, logvar = _pair()
    leaves = [tensor.clone().requires_grad_(True) for tensor in (logits, reconstructions, mu, logvar)]
    dbvae_loss(leaves[0], labels, images, leaves[1], leaves[2], leaves[3])["loss"].backward()
    logits_grad, reconstruction_grad, mu_grad, logvar_grad = (leaf.grad for leaf in leaves)
    for grad in (reconstruction_grad, mu_grad, logvar_grad):
        assert torch.count_nonzero(grad[1]) == 0 and torch.count_nonzero(grad[0]) > 0
    assert logits_grad[1] != 0  # the non-face still trains the classifier


def test_a_batch_of_non_faces_leaves_the_decoder_without_gradient():
    torch.manual_seed(0)
    model = DBVAE(32, 4, 3, 8)
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    logits, mu, logvar = model.encode(images)
    loss = dbvae_loss(logits, torch.zeros(3), images, model.decode(mu), mu, logvar)["loss"]
    loss.backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in model.decoder.parameters())
    assert any(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in model.encoder.parameters())


def test_model_shapes_and_ranges():
    model = DBVAE(32, 6, 3, 8).eval()
    images = torch.rand(5, 3, 32, 32) * 2 - 1
    logits, mu, logvar = model.encode(images)
    assert logits.shape == (5,) and mu.shape == logvar.shape == (5, 6)
    assert torch.equal(split_outputs(model.encoder(images))[0], logits)
    probability = model.face_probability(images)
    assert probability.shape == (5,) and probability.min() >= 0 and probability.max() <= 1
    out = model.reconstruct(images)
    assert out.shape == images.shape and out.abs().max() <= 1


# ------------------------------------------------------------------------------------------- resampling
TOY = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]])  # 2 bins per latent: masses 2/5, 3/5


def test_toy_histograms_and_product_weights_match_a_hand_computation():
    density = LatentDensity.fit(TOY, alpha=0.1, num_bins=2)
    assert torch.allclose(density.edges, torch.tensor([[0.0, 0.5, 1.0], [0.0, 0.5, 1.0]], dtype=torch.float64))
    assert torch.allclose(density.mass, torch.tensor([[0.4, 0.6], [0.4, 0.6]], dtype=torch.float64))
    scores = torch.tensor([1 / (0.5 * 0.5), 1 / (0.5 * 0.7), 1 / (0.7 * 0.5), 1 / (0.7 * 0.7), 1 / (0.7 * 0.7)],
                          dtype=torch.float64)
    assert torch.allclose(density.weights, scores / scores.sum())
    assert torch.allclose(density.log_scores.exp(), scores)  # the log-space product is the product
    assert density.weights.sum().item() == pytest.approx(1.0)


def test_max_combination_matches_the_course_labs_rule():
    density = LatentDensity.fit(TOY, alpha=0.1, num_bins=2, combine="max")
    normaliser = 2 / 0.5 + 3 / 0.7  # sum over faces of 1 / (Q + alpha), the same for both latents
    scores = torch.tensor([2, 2, 2, 1 / 0.7, 1 / 0.7], dtype=torch.float64) / normaliser
    assert torch.allclose(density.weights, scores / scores.sum())


def test_alpha_inf_gives_uniform_weights_and_large_alpha_nearly_so():
    codes = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(LatentDensity.fit(codes, math.inf).weights, torch.full((50,), 1 / 50, dtype=torch.float64))
    assert LatentDensity.fit(codes, math.inf).effective_sample_size() == pytest.approx(50)
    near = LatentDensity.fit(codes, 1e6).weights
    assert torch.allclose(near, torch.full((50,), 1 / 50, dtype=torch.float64), rtol=1e-5)
    # smaller alpha resamples harder: fewer effective faces
    sizes = [LatentDensity.fit(codes, alpha).effective_sample_size() for alpha in (1.0, 0.1, 0.01)]
    assert sizes[0] > sizes[1] > sizes[2]


def test_rare_codes_get_more_weight_and_outside_codes_use_the_edge_bins():
    codes = torch.cat([torch.zeros(9, 1), torch.ones(1, 1)])  # nine common faces, one rare
    density = LatentDensity.fit(codes, 0.01, num_bins=2)
    assert density.weights[9] > 5 * density.weights[0]
    assert torch.equal(density.bins(torch.tensor([[-5.0], [7.0]])), torch.tensor([[0], [1]]))


def test_density_save_load_round_trip(tmp_path):
    density = LatentDensity.fit(torch.randn(20, 3, generator=torch.Generator().manual_seed(1)), 0.05, 4, "max")
    density.save(tmp_path)
    loaded = LatentDensity.load(tmp_path)
    assert loaded.alpha == 0.05 and loaded.combine == "max"
    for name in ("edges", "mass", "normalisers", "log_scores"):
        assert torch.equal(getattr(loaded, name), getattr(density, name))
    with pytest.raises(ValueError, match="alpha"):
        LatentDensity.fit(torch.zeros(3, 2), 0.0)


def test_resampler_state_round_trip_reproduces_the_next_draw():
    codes = torch.randn(30, 2, generator=torch.Generator().manual_seed(2))
    first = Resampler(30, 0.1, 5, "product", seed=3)
    first.resample(codes)
    second = Resampler(30, 0.1, 5, "product", seed=99)
    second.load_state_dict(first.state_dict())
    assert torch.equal(second.order, first.order) and torch.equal(second.density.weights, first.density.weights)
    first.resample(codes)
    second.resample(codes)
    assert torch.equal(first.order, second.order)  # the generator's state came along


def test_parse_args_errors(tmp_path):
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", str(tmp_path)])  # no non-faces
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", str(tmp_path), "--domain_column", "domain", "--alpha", "0"])
    assert math.isinf(parse_args(["--output_dir", str(tmp_path), "--domain_column", "d", "--baseline"]).alpha)


# ---------------------------------------------------------------------------------------------- audit
class _Fixed(torch.nn.Module):
    """A 'detector' whose P(face) is the image's mean pixel mapped to [0, 1]."""

    def face_probability(self, images):
        return (images.mean((1, 2, 3)) + 1) / 2


def test_audit_counts_groups_with_wilson_intervals(labelled_faces_dir):
    from genhub.data import DataSpec, load_split

    faces = load_split(DataSpec(str(labelled_faces_dir), 32), "test")
    called = _Fixed().face_probability(torch.stack([faces[i]["pixel_values"] for i in range(len(faces))])) >= 0.5
    report = audit(_Fixed(), faces, faces)
    first = report["groups"][0]
    assert first["n"] == len(faces) and first["hits"] == int(called.sum())
    assert (first["low"], first["high"]) == pytest.approx(wilson_interval(first["hits"], first["n"]))
    for rate in report["groups"][1:]:
        group = next(g for g in GROUPS if g.name == rate["name"])
        rows = group_rows(faces.table, group)
        assert rate["n"] == len(rows) > 0 and rate["hits"] == int(called[rows].sum())
    assert Rate.of("x", torch.tensor([True, False, True, True])).rate == 0.75


# ------------------------------------------------------------------------------------ real entry point
def test_dbvae_and_baseline_train_and_export_their_audit(faces_and_nonfaces, tmp_path):
    flags = ("--max_train_steps", "4", "--max_train_samples", "16", "--alpha", "0.1")
    folder = train_tiny("dbvae", tiny_dbvae_args(faces_and_nonfaces, tmp_path / "dbvae", *flags))
    info = json.loads((folder / "training_info.json").read_text())
    assert info["family"] == "dbvae" and info["pipeline_tag"] == "image-classification"
    metrics = info["metrics"]
    assert any(name.startswith("recall: all held-out faces (N=") for name in metrics)
    assert 0 < metrics["resampling effective sample size (Kish)"] <= metrics["training faces"]
    report = json.loads((folder / "fairness.json").read_text())
    assert "Pale_Skin is a weak" in report["note"] and report["false_positive"]["n"] > 0
    density = LatentDensity.load(folder)
    assert density.log_scores.shape == (int(metrics["training faces"]),) and density.alpha == 0.1
    model = DBVAE.from_pretrained(str(folder))
    assert torch.equal(model.resampling.log_scores, density.log_scores)
    assert model.latent_dim == 4 and "Pale_Skin is only a weak proxy" in (folder / "README.md").read_text()

    baseline = train_tiny("dbvae", tiny_dbvae_args(faces_and_nonfaces, tmp_path / "cnn", "--baseline", *flags[:4]))
    assert not (baseline / "resampling.safetensors").exists() and DBVAE.from_pretrained(baseline).resampling is None
    assert "standard CNN" in json.loads((baseline / "training_info.json").read_text())["description"]
    # the baseline trains the encoder only: its decoder keeps the initial weights of the same seed
    set_seed(0)
    initial, trained = DBVAE(32, 4, 3, 8).state_dict(), load_file(baseline / "model.safetensors")
    assert all(torch.equal(trained[k], initial[k]) for k in initial if k.startswith("decoder."))
    assert not all(torch.equal(trained[k], initial[k]) for k in initial if k.startswith("encoder."))
