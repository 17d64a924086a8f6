"""The VAE: its math against hand-computed cases, shapes, save/load with the latent files, training and
export through train_vae.py, latent-space measurements and the outlier score."""

import json
import math

import datasets
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import tiny_vae_args
from genhub.data import DataSpec, load_source, load_split
from genhub.evaluation.latent import active_units, attribute_directions, attribute_labels, measure_latent_space
from genhub.evaluation.outlier import NOT_LIKE, OutlierReference, auroc, evaluate_auroc, evaluate_export
from genhub.geometry import compose, coordinates, interpolate, lerp, sefa, slerp
from genhub.models import VAE, CheckpointError
from genhub.models.latent_space import DIRECTIONS_FILE, STATS_FILE, LatentSpace
from genhub.models.vae import kl_divergence, reconstruction_error, reparameterize
from genhub.train import vae as train_vae

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


def _run(*argv):
    return train_vae.main(train_vae.parse_args(list(argv)))


# ------------------------------------------------------------------------------------------- math
def test_kl_matches_a_hand_computed_case_and_torch_distributions():
    mu = torch.tensor([[1.0, 0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0), 0.0]])
    # -1/2 (1 + logvar - mu^2 - exp(logvar)): (1 + 0 - 1 - 1) -> 0.5; (1 + ln 4 - 0 - 4) -> 1.5 - ln 2; prior -> 0
    assert kl_divergence(mu, logvar)[0].tolist() == pytest.approx([0.5, 1.5 - math.log(2.0), 0.0], abs=1e-6)
    mu, logvar = torch.randn(4, 5), torch.randn(4, 5)
    reference = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                                  torch.distributions.Normal(0.0, 1.0))
    assert torch.allclose(kl_divergence(mu, logvar), reference, atol=1e-5)
    assert (kl_divergence(mu, logvar) >= 0).all()


def test_reparameterization_is_mu_plus_sigma_eps_and_differentiable():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(4.0)]], requires_grad=True)
    eps = torch.randn((1, 2), generator=torch.Generator().manual_seed(7))
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    assert torch.allclose(z, torch.tensor([[1.0 + eps[0, 0], -2.0 + 2.0 * eps[0, 1]]]))
    z.sum().backward()
    assert mu.grad.tolist() == [[1.0, 1.0]]
    # dz/dlogvar = 1/2 sigma eps
    assert torch.allclose(logvar.grad, torch.tensor([[0.5 * eps[0, 0], 0.5 * 2.0 * eps[0, 1]]]))
    many = reparameterize(torch.zeros(20000, 1) + 3.0, torch.zeros(20000, 1) + math.log(0.25))
    assert abs(many.mean().item() - 3.0) < 0.02 and abs(many.std().item() - 0.5) < 0.02


def test_reconstruction_error_is_the_sum_of_squares_per_image():
    target = torch.zeros(2, 3, 2, 2)
    reconstruction = torch.full((2, 3, 2, 2), 0.5)
    reconstruction[1] = -1.0
    assert reconstruction_error(reconstruction, target).tolist() == [12 * 0.25, 12 * 1.0]


# ------------------------------------------------------------------------------------------- model
@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_shapes_and_ranges(resolution):
    model = VAE(resolution, latent_dim=6, channels=3, hidden_channels=4).eval()
    images = torch.rand(2, 3, resolution, resolution) * 2 - 1
    mu, logvar = model.encode(images)
    assert mu.shape == logvar.shape == (2, 6)
    decoded = model.decode(torch.randn(2, 6) * 100)
    assert decoded.shape == (2, 3, resolution, resolution) and decoded.min() >= -1 and decoded.max() <= 1
    reconstruction, mu, logvar = model(images)
    assert reconstruction.shape == images.shape
    out = model.negative_elbo(images)
    assert out["neg_elbo"].shape == (2,) and out["kl"].shape == (2, 6) and out["decoded"].shape == images.shape
    assert torch.allclose(out["neg_elbo"], out["reconstruction"] + out["kl"].sum(1))
    assert torch.equal(model.negative_elbo(images)["neg_elbo"], out["neg_elbo"])  # deterministic
    assert model.sample(3).shape == (3, 3, resolution, resolution)


def test_grayscale_and_unsupported_resolution():
    assert VAE(32, latent_dim=4, channels=1, hidden_channels=4).sample(2).shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="resolution must be one of"):
        VAE(resolution=48)


def test_truncation_scales_the_prior_draws():
    model = VAE(32, latent_dim=6, hidden_channels=4).eval()
    z = torch.randn(3, 6, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        plain, truncated = model.decode(z), model.decode(0.7 * z)
    sample = lambda **kwargs: model.sample(3, generator=torch.Generator().manual_seed(5), **kwargs)  # noqa: E731
    assert torch.equal(sample(), plain) and torch.equal(sample(truncation_psi=1.0), plain)
    assert torch.allclose(sample(truncation_psi=0.7), truncated, atol=1e-6)
    assert not torch.allclose(truncated, plain, atol=1e-3)
    with pytest.raises(ValueError, match="truncation_psi must be a finite number >= 0"):
        model.sample(1, truncation_psi=-1.0)


def test_logvar_is_clamped():
    model = VAE(32, latent_dim=4, hidden_channels=4)
    torch.nn.init.constant_(model.encoder.head.bias, 1e4)
    _, logvar = model.encode(torch.zeros(1, 3, 32, 32))
    assert logvar.max().item() == 20.0 and torch.isfinite(kl_divergence(*model.encode(torch.zeros(1, 3, 32, 32)))).all()


def _space(latent_dim=4, directions=True):
    space = LatentSpace(torch.tensor([0.5, 2.0, 0.0, 2.0])[:latent_dim], torch.tensor([10.0, 11.0, 15.0]))
    if directions:
        space.directions = {"Smiling": torch.arange(latent_dim, dtype=torch.float32),
                            "Eyeglasses": -torch.ones(latent_dim)}
        space.counts = {"Smiling": (5, 7), "Eyeglasses": (2, 10)}
    return space


def test_save_load_round_trip_with_latent_files(tmp_path):
    torch.manual_seed(0)
    model = VAE(32, latent_dim=4, hidden_channels=4).eval()
    model.latent_space = _space()
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["README.md", "config.json", "model.safetensors", STATS_FILE, DIRECTIONS_FILE])
    assert json.loads((tmp_path / "config.json").read_text()) == {
        "resolution": 32, "latent_dim": 4, "channels": 3, "hidden_channels": 4}
    loaded = VAE.from_pretrained(tmp_path)
    z = torch.randn(3, 4)
    assert torch.equal(model.decode(z), loaded.decode(z))
    images = model.sample(2)
    assert torch.equal(model.encode(images)[0], loaded.encode(images)[0])
    space = loaded.latent_space
    assert torch.equal(space.kl_per_dim, model.latent_space.kl_per_dim)
    assert torch.equal(space.heldout_neg_elbo, model.latent_space.heldout_neg_elbo)
    assert set(space.directions) == {"Smiling", "Eyeglasses"}
    assert torch.equal(space.directions["Smiling"], torch.arange(4, dtype=torch.float32))
    assert space.counts == {"Smiling": (5, 7), "Eyeglasses": (2, 10)}
    assert set(load_file(tmp_path / DIRECTIONS_FILE)) == {"Smiling", "Eyeglasses"}  # plain safetensors, by name

    model.latent_space = _space(directions=False)  # re-saving without directions leaves no stale file
    model.save_pretrained(tmp_path)
    assert not (tmp_path / DIRECTIONS_FILE).exists() and VAE.from_pretrained(tmp_path).latent_space.directions == {}
    model.latent_space = None
    model.save_pretrained(tmp_path / "bare")
    assert VAE.from_pretrained(tmp_path / "bare").latent_space is None


def test_latent_files_of_another_size_are_refused(tmp_path):
    model = VAE(32, latent_dim=4, hidden_channels=4)
    model.save_pretrained(tmp_path)
    _space(latent_dim=3, directions=False).save(tmp_path)
    with pytest.raises(CheckpointError, match="3 dimensions"):
        VAE.from_pretrained(tmp_path)


def test_pickle_checkpoint_is_refused(tmp_path):
    model = VAE(32, latent_dim=4, hidden_channels=4)
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle checkpoints are refused"):
        VAE.from_pretrained(tmp_path)


# ------------------------------------------------------------------------------------------- latent tools
def test_slider_ranking_is_by_kl_with_ties_to_the_lower_index():
    assert _space().slider_order().tolist() == [1, 3, 0, 2]


def test_slider_ranking_measured_twice_is_identical(tiny_vae_export, labelled_faces_dir):
    model = VAE.from_pretrained(tiny_vae_export)
    held_out = load_split(DataSpec(str(labelled_faces_dir), 32), "test")
    first, metrics = measure_latent_space(model, held_out)
    second, again = measure_latent_space(model, held_out, batch_size=5)  # other batching, same numbers
    assert torch.allclose(first.kl_per_dim, second.kl_per_dim, atol=1e-5)
    assert torch.equal(first.slider_order(), second.slider_order())
    assert torch.equal(first.slider_order(), model.latent_space.slider_order())  # as stored at export
    assert metrics["active_units"] == again["active_units"]


def test_attribute_labels_keep_only_binary_integer_columns():
    table = datasets.Dataset.from_dict(
        {"Smiling": [1, 0, None], "identity": [5, 7, 9], "name": ["a", "b", "c"], "flag": [True, False, True],
         "Bald": [0, 0, 0]},
        features=datasets.Features({"Smiling": datasets.Value("int8"), "identity": datasets.Value("int32"),
                                    "name": datasets.Value("string"), "flag": datasets.Value("bool"),
                                    "Bald": datasets.Value("int8")}))
    names, labels = attribute_labels(table)
    assert names == ["Smiling", "Bald"]
    assert np.array_equal(labels, np.array([[1, 0], [0, 0], [np.nan, 0]], np.float32), equal_nan=True)
    no_labels = datasets.Dataset.from_dict({"name": ["a"]})
    assert attribute_labels(no_labels)[0] == [] and attribute_labels(no_labels)[1].shape == (1, 0)


def test_attribute_direction_is_the_difference_of_means_and_skips_rare_attributes():
    mu = torch.zeros(6, 3)
    mu[:3, 0] = 2.0  # the first three have the attribute and sit at +2 on dim 0
    labels = np.array([[1, 1], [1, np.nan], [1, 0], [0, 0], [0, 0], [0, 0]], np.float32)
    directions, counts = attribute_directions(mu, labels, ["A", "Rare"], min_count=2)
    assert list(directions) == ["A"] and counts == {"A": (3, 3)}
    assert directions["A"].tolist() == [2.0, 0.0, 0.0]


def test_active_units_follow_burda_et_al():
    mu = torch.zeros(100, 3)
    mu[:, 0] = torch.linspace(-1, 1, 100)  # variance ~0.34: active
    mu[:, 1] = torch.linspace(-0.1, 0.1, 100)  # variance ~0.0034: inactive
    assert active_units(mu) == 1


def test_interpolation_paths():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b)
    assert torch.allclose(path.norm(dim=1), torch.ones(3))  # stays on the circle
    assert torch.allclose(path[1], torch.tensor([0.5 ** 0.5, 0.5 ** 0.5]))
    assert torch.allclose(lerp(a, b, torch.tensor([0.5])), torch.tensor([[0.5, 0.5]]))
    assert torch.allclose(slerp(a, 2 * a, torch.tensor([0.5])), torch.tensor([[1.5, 0.0]]))  # parallel -> lerp
    assert interpolate(a, b, 5, "linear").shape == (5, 2)
    with pytest.raises(ValueError, match="at least 2 frames"):
        interpolate(a, b, 1)
    with pytest.raises(ValueError, match="mode must be one of"):
        interpolate(a, b, 3, "cubic")


def test_sefa_finds_the_dominant_direction():
    weight = torch.zeros(3, 4)
    weight[0] = torch.tensor([1.0, 2.0, 3.0, 4.0])  # every output unit reads z_0 only
    weight[1, 0] = 1e-3
    values, directions = sefa(weight)
    assert torch.allclose(directions[0].abs(), torch.tensor([1.0, 0.0, 0.0]), atol=1e-3)
    assert (values[:-1] >= values[1:]).all()
    assert torch.allclose(directions @ directions.T, torch.eye(3), atol=1e-5)


def test_compose_and_coordinates_round_trip():
    base = torch.tensor([1.0, 2.0, 3.0])
    directions = torch.eye(3)[[2, 0]]
    values = coordinates(base, directions)
    assert values.tolist() == [3.0, 1.0]
    assert torch.allclose(compose(base, directions, values), base)
    moved = compose(base, directions, torch.tensor([-1.0, 1.0]), torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([2.0]))
    assert moved.tolist() == [1.0, 4.0, -1.0]


# ------------------------------------------------------------------------------------------- training and export
def test_training_exports_weights_latent_files_and_metrics(tiny_vae_export, labelled_faces_dir):
    out = tiny_vae_export
    assert {"config.json", "model.safetensors", "README.md", "samples.png", "training_info.json", STATS_FILE,
            DIRECTIONS_FILE} <= {p.name for p in out.iterdir()}
    info = json.loads((out / "training_info.json").read_text())
    assert info["family"] == "vae" and info["global_step"] == 60 and info["ema"] is True
    assert set(info["final_losses"]) == {"loss", "reconstruction", "kl"}
    metrics = info["metrics"]
    assert metrics["heldout_images"] == 16 and 0 < metrics["heldout_mse"] < 1
    assert metrics["heldout_psnr_db"] == pytest.approx(10 * math.log10(1 / metrics["heldout_mse"]))
    assert 0 <= metrics["active_units"] <= 8 and metrics["heldout_kl_nats"] >= 0
    assert metrics["heldout_neg_elbo_nats"] > metrics["heldout_kl_nats"]
    assert sum(1 for key in metrics if key.startswith("kl_nats/z")) == 8
    card = (out / "README.md").read_text()
    assert "heldout_psnr_db" in card and "VAE" in card and "Kingma" in card
    model = VAE.from_pretrained(out)
    space = model.latent_space
    assert space.latent_dim == 8 and len(space.heldout_neg_elbo) == 16
    assert torch.equal(space.heldout_neg_elbo, space.heldout_neg_elbo.sort().values)
    table = load_source(str(labelled_faces_dir))["train"]
    assert set(space.directions) <= set(attribute_labels(table)[0]) and "Male" in space.directions
    positives = sum(1 for value in table["Male"] if value == 1)
    assert space.counts["Male"] == (positives, 64 - positives)
    assert Image.open(out / "samples.png").size == (3 * 34 + 2, 3 * 34 + 2)  # 4 samples + 2 pairs, 3 per row


def test_data_without_labels_gives_no_directions(faces_dir, tmp_path):
    unlabelled = tmp_path / "unlabelled"
    for split, table in load_source(str(faces_dir)).items():
        table.select_columns(["image"]).to_parquet(str(unlabelled / f"{split}-00000-of-00001.parquet"))
    assert attribute_labels(load_source(str(unlabelled))["train"])[0] == []
    out = tmp_path / "run"
    _run(*tiny_vae_args(unlabelled, out, "--max_train_steps", "2"))
    assert (out / STATS_FILE).is_file() and not (out / DIRECTIONS_FILE).exists()
    info = json.loads((out / "training_info.json").read_text())
    assert info["metrics"]["attribute_directions"] == 0


def test_ema_averages_encoder_and_decoder(labelled_faces_dir, tmp_path):
    for ema in ("--use_ema", "--no-use_ema"):
        out = tmp_path / ema
        _run(*tiny_vae_args(labelled_faces_dir, out, "--max_train_steps", "3", ema))
        exported = load_file(out / "model.safetensors")
        raw = {**{f"encoder.{k}": v for k, v in load_file(out / "checkpoint-3" / "model.safetensors").items()},
               **{f"decoder.{k}": v for k, v in load_file(out / "checkpoint-3" / "model_1.safetensors").items()}}
        assert raw.keys() == exported.keys()
        for part in ("encoder.", "decoder."):
            same = all(torch.equal(raw[k], exported[k]) for k in raw if k.startswith(part))
            assert same == (ema == "--no-use_ema"), (ema, part)


def _with_glasses(image: Image.Image) -> Image.Image:
    """A crude pair of "eyeglasses": a black band across the eyes of a 64x64 face."""
    image = image.copy()
    image.paste((0, 0, 0), (4, 22, 60, 32))
    return image


def _band_darkness(images: torch.Tensor) -> torch.Tensor:
    """A simple eyeglasses classifier for 32x32 images: mean brightness outside the band minus inside it."""
    band = images[:, :, 11:16, 2:30].mean((1, 2, 3))
    return images.mean((1, 2, 3)) - band


def test_attribute_direction_points_the_right_way(labelled_faces_dir, tmp_path):
    # A tiny labelled set where "Eyeglasses" is unmistakable: half the faces get a black band over the eyes.
    source = load_source(str(labelled_faces_dir))
    data = tmp_path / "glasses"
    data.mkdir()
    for split in ("train", "test"):
        faces = [Image.open(__import__("io").BytesIO(row["bytes"])).convert("RGB")
                 for row in source[split].cast_column("image", datasets.Image(decode=False))["image"]]
        labels = [i % 2 for i in range(len(faces))]
        images = [_with_glasses(face) if label else face for face, label in zip(faces, labels)]
        datasets.Dataset.from_dict(
            {"image": images, "Eyeglasses": labels},
            features=datasets.Features({"image": datasets.Image(), "Eyeglasses": datasets.Value("int8")}),
        ).to_parquet(str(data / f"{split}-00000-of-00001.parquet"))
    out = tmp_path / "run"
    _run(*tiny_vae_args(data, out, "--max_train_steps", "120", "--train_batch_size", "16", "--learning_rate",
                        "2e-3", "--save_images_steps", "1000", "--checkpointing_steps", "1000"))
    model = VAE.from_pretrained(out)
    direction = model.latent_space.directions["Eyeglasses"]
    assert model.latent_space.counts["Eyeglasses"] == (32, 32)
    without = torch.stack([x["pixel_values"] for i, x in enumerate(load_split(DataSpec(str(data), 32), "test"))
                           if i % 2 == 0])
    codes = model.encode(without)[0]
    with torch.no_grad():
        scores = [_band_darkness(model.decode(codes + step * direction)) for step in (-1.0, 0.0, 1.0)]
    # every face: more "glasses" along +direction, fewer along -direction
    assert (scores[2] > scores[1]).all() and (scores[1] > scores[0]).all()
    assert (scores[2] - scores[1]).mean() > 0.1


# ------------------------------------------------------------------------------------------- outlier score
def test_outlier_reference_percentiles_and_verdicts():
    reference = OutlierReference(torch.arange(1.0, 101.0))  # 1 .. 100
    typical, unusual, beyond = reference.score(50.0), reference.score(97.0), reference.score(1000.0)
    assert typical.percentile == 50.0 and typical.verdict == "typical face"
    assert abs(typical.zscore - (50 - 50.5) / np.std(np.arange(1, 101), ddof=1)) < 1e-9
    assert unusual.percentile == 97.0 and "unusual" in unusual.verdict
    assert beyond.percentile == 100.0 and beyond.verdict == NOT_LIKE and beyond.zscore > 30
    assert reference.score(80.0).verdict == "a little unusual"
    assert "typical face" in typical.markdown() and "50.0%" in typical.markdown()
    with pytest.raises(ValueError, match="at least 2"):
        OutlierReference([1.0])


def test_auroc_hand_computed():
    assert auroc(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0, 5.0])) == 1.0
    assert auroc(torch.tensor([4.0, 5.0]), torch.tensor([1.0, 2.0])) == 0.0
    # pairs (outlier > inlier): 150>100 yes, 150>200 no, 100=100 half, 100>200 no -> 1.5 / 4
    assert auroc(torch.tensor([100.0, 200.0]), torch.tensor([150.0, 100.0])) == pytest.approx(0.375)


def _noise(count: int, side: int, block: int = 1, seed: int = 0) -> np.ndarray:
    """Obvious non-faces: random black-or-white blocks of ``block`` pixels, uint8 (count, side, side, 3)."""
    blocks = np.random.default_rng(seed).integers(0, 2, (count, side // block, side // block, 3), dtype=np.uint8)
    return blocks.repeat(block, 1).repeat(block, 2) * 255


def _noise_dataset(folder, count=8):
    folder.mkdir()
    images = list(_noise(count, 64, block=2))  # 2-pixel blocks survive the resize to 32 px
    for split in ("train", "test"):
        datasets.Dataset.from_dict({"image": images}, features=datasets.Features({"image": datasets.Image()})
                                   ).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    return folder


def test_outlier_score_ranks_a_non_face_above_faces(tiny_vae_export, labelled_faces_dir, tmp_path):
    model = VAE.from_pretrained(tiny_vae_export)
    reference = OutlierReference(model.latent_space.heldout_neg_elbo)
    noise = torch.from_numpy(_noise(1, 32)).permute(0, 3, 1, 2).float() / 127.5 - 1
    score = reference.score(float(model.negative_elbo(noise)["neg_elbo"][0]))
    assert score.percentile == 100.0 and score.verdict == NOT_LIKE
    faces = load_split(DataSpec(str(labelled_faces_dir), 32), "test")
    nonfaces = load_split(DataSpec(str(_noise_dataset(tmp_path / "noise")), 32), "test")
    assert evaluate_auroc(model, faces, nonfaces)["outlier_auroc"] == 1.0


def test_evaluate_export_writes_the_auroc_to_the_card(tiny_vae_export, tmp_path):
    import shutil

    export = tmp_path / "export"
    shutil.copytree(tiny_vae_export, export, ignore=shutil.ignore_patterns("checkpoint-*", "samples"))
    metrics = evaluate_export(export, str(_noise_dataset(tmp_path / "noise")))
    assert metrics["outlier_auroc"] == 1.0 and metrics["outlier_images"] == 8
    info = json.loads((export / "training_info.json").read_text())
    assert info["metrics"]["outlier_auroc_vs_noise"] == 1.0 and "heldout_mse" in info["metrics"]
    assert "| outlier_auroc_vs_noise | 1 |" in (export / "README.md").read_text()
