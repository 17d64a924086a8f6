"""Metric code against small known cases: FID/KID on identical and shifted sets (closed forms), precision and
recall on known manifolds, detectability near chance when the "fakes" are held-out reals, the memorisation
check finding a planted copy, the Inception weights' SHA-256 gate, and the feature network's refusals."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest
import torch

from genhub.data import DataSpec, load_split
from genhub.evaluation import metrics as M
from genhub.evaluation.families import stack
from genhub.evaluation.features import inception_space, load_feature_network
from genhub.models.base import CheckpointError
from genhub.models.face_features import FaceFeatureNet
from genhub.models.inception import STANDARD_SHA256, FIDInceptionV3, resize_bilinear_tf1, sha256_file


def gaussian(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------------------------ FID / KID
def test_fid_of_identical_sets_is_zero():
    x = gaussian(500, 16, 0)
    assert M.fid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fid_of_a_shifted_and_scaled_set_is_the_closed_form():
    # y = a x + s has mean a m + s and covariance a^2 S, so FID = ||(a - 1) m + s||^2 + (1 - a)^2 Tr(S) exactly.
    x, s = gaussian(400, 8, 1), gaussian(1, 8, 2)[0]
    assert M.fid(x, x + s) == pytest.approx(float(s.pow(2).sum()), rel=1e-9)
    a = 2.0
    expected = ((a - 1) * x.mean(0) + s).pow(2).sum() + (1 - a) ** 2 * torch.cov(x.T).trace()
    assert M.fid(x, a * x + s) == pytest.approx(float(expected), rel=1e-9)


def test_fid_of_two_gaussians_matches_the_frechet_distance():
    # N(0, I) vs N(mu, diag(sigma^2)): ||mu||^2 + sum (1 - sigma)^2 = 1 + 1 + 0.25 = 2.25.
    mu, sigma = torch.tensor([1.0, 0, 0, 0], dtype=torch.float64), torch.tensor([1.0, 2, 0.5, 1], dtype=torch.float64)
    assert M.fid(gaussian(20000, 4, 3), gaussian(20000, 4, 4) * sigma + mu) == pytest.approx(2.25, rel=0.05)


def test_kid_is_near_zero_for_the_same_distribution_and_large_for_a_shift():
    x, y = gaussian(1000, 8, 5), gaussian(1000, 8, 6)
    shifted, _ = M.kid(x, y + 0.5)
    assert shifted > 0.5
    assert abs(M.kid(x, x)[0]) < 0.02 * shifted
    assert abs(M.kid(x, y)[0]) < 0.02 * shifted
    assert M.kid(x, y, subset_size=100, seed=3) == M.kid(x, y, subset_size=100, seed=3)  # seeded subsets
    assert M.kid(x, y, subset_size=100, seed=3) != M.kid(x, y, subset_size=100, seed=4)  # ... that the seed draws


# ------------------------------------------------------------------------------------ precision / recall
def test_precision_and_recall_of_known_manifolds():
    real = gaussian(400, 4, 7)
    precision, recall = M.precision_recall(real, gaussian(400, 4, 8))
    assert precision > 0.8 and recall > 0.8
    collapsed = real[:1] + 0.01 * gaussian(400, 4, 9)  # mode collapse: every fake near one real point
    precision, recall = M.precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.05
    assert M.precision_recall(real, gaussian(400, 4, 10) + 100) == (0.0, 0.0)
    with pytest.raises(ValueError, match="more than 3"):
        M.precision_recall(real, real[:3])


# ------------------------------------------------------------------------------------ PSNR
def test_psnr_is_that_of_the_pooled_mse_as_torchmetrics_computes_it():
    from torchmetrics.functional.image import peak_signal_noise_ratio

    assert M.psnr(0.01) == pytest.approx(20.0) and M.psnr(1.0) == 0.0 and M.psnr(0.0) == pytest.approx(120.0)
    target = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(1)) * torch.tensor([.01, .02, .05, .1]
                                                                                                 ).view(4, 1, 1, 1)
    preds = target + noise
    pooled = M.psnr((preds - target).pow(2).mean())
    assert pooled == pytest.approx(float(peak_signal_noise_ratio(preds, target, data_range=1.0)), rel=1e-5)
    per_image = float(peak_signal_noise_ratio(preds, target, data_range=1.0, dim=(1, 2, 3)))
    assert per_image > pooled + 1  # the mean of per-image PSNRs, which genhub does not report, is pulled up


# ------------------------------------------------------------------------------------ detectability
@pytest.fixture(scope="module")
def faces(faces_dir):
    """80 real faces at 32x32 (train + test of the shared slice), float in [-1, 1]."""
    train = stack(load_split(DataSpec(str(faces_dir), 32)), "pixel_values")
    return torch.cat([train, stack(load_split(DataSpec(str(faces_dir), 32), "test"), "pixel_values")])


def test_detectability_is_near_chance_when_fakes_are_real(faces):
    real, other_real = faces[:40], faces[40:80]
    for kind, a, b in (("cnn", real, other_real),
                       ("linear", torch.nn.functional.avg_pool2d(real, 4).flatten(1),
                        torch.nn.functional.avg_pool2d(other_real, 4).flatten(1))):
        found = M.detectability(a, b, kind, seed=0)
        assert found.trials == 40 and found.train_images == 40
        assert found.low < 0.5 < found.high, (kind, found)


def test_detectability_spots_obvious_fakes_with_an_interval(faces):
    real = faces[:40]
    noise = 0.5 * torch.randn(faces[40:80].shape, generator=torch.Generator().manual_seed(0))
    fake = (faces[40:80] + noise).clamp(-1, 1)
    found = M.detectability(real, fake, "cnn", seed=0)
    assert found.accuracy > 0.9 and found.low > 0.5
    assert found == M.detectability(real, fake, "cnn", seed=0)  # deterministic given the seed
    with pytest.raises(ValueError, match="cnn"):
        M.detectability(real, fake, "forest")


# ------------------------------------------------------------------------------------ memorisation
def test_memorisation_finds_a_planted_copy_and_its_mirror(faces):
    train, held_out = faces[:64], faces[64:]
    noise = torch.rand(6, *faces.shape[1:], generator=torch.Generator().manual_seed(1)) * 2 - 1
    fakes = torch.cat([noise, train[17:18], train[40:41].flip(-1)])
    found = M.nearest_neighbours(fakes, train.split(10))  # streamed in batches; indices count across them
    assert found.indices[-2:].tolist() == [17, 40]
    assert found.mirrored[-2:].tolist() == [False, True]
    assert found.distances[-2:].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    assert (found.distances[:6] > 0.1).all()
    summary = M.memorisation_summary(found, M.nearest_neighbours(held_out, [train]))
    assert summary["suspected_copies"] == 2 and summary["suspected_copy_indices"] == [6, 7]
    gallery = M.memorisation_gallery(fakes, train[found.indices], found.distances, count=4)
    assert gallery.size == (8 * 34 + 2, 34 + 2)  # 4 pairs in one row of 32 px tiles, 2 px padding


# ------------------------------------------------------------------------------------ feature spaces
def test_inception_matches_the_published_weights_file_layout_and_runs():
    model = FIDInceptionV3()
    state = model.state_dict()
    # pt_inception-2015-12-05-6726825d.pth holds 566 tensors (95,628,359 bytes, i.e. ~23.9 M float32 values)
    assert len(state) == 566
    assert sum(t.numel() for t in state.values()) == 23_885_486
    assert state["fc.weight"].shape == (1008, 2048)
    features = model(torch.zeros(1, 1, 32, 32))  # pixel_values in [-1, 1], grayscale repeated to RGB
    assert features.shape == (1, 2048) and features.dtype == torch.float32


def test_tf1_bilinear_resize_samples_without_half_pixel_offset():
    ramp = torch.arange(4.0).view(1, 1, 1, 4).repeat(1, 1, 4, 1)
    assert resize_bilinear_tf1(ramp, 8)[0, 0, 0].tolist() == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3]


def test_inception_weights_are_refused_unless_the_sha256_matches(tmp_path):
    path = tmp_path / "dummy_inception.pth"
    torch.save(FIDInceptionV3().state_dict(), path)
    digest = sha256_file(path)
    with pytest.raises(CheckpointError, match="SHA-256"):
        FIDInceptionV3.from_weights(path)  # the standard hash: a dummy file is not the published one
    with pytest.raises(CheckpointError, match="no such file"):
        FIDInceptionV3.from_weights(tmp_path / "missing.pth")
    loaded = FIDInceptionV3.from_weights(path, digest.upper())
    assert torch.equal(loaded.Mixed_7c.branch_pool.conv.weight, torch.load(path)["Mixed_7c.branch_pool.conv.weight"])
    space = inception_space(path, digest)
    assert not space.standard and M.NOT_COMPARABLE in space.label  # right hash, but not the standard file

    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(CheckpointError, match="do not fit"):
        FIDInceptionV3.from_weights(wrong, sha256_file(wrong))


class _Exploit:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['GENHUB_TEST_MARKER'], 'w').write('pwned')",))


def test_inception_weights_never_run_pickled_code(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv("GENHUB_TEST_MARKER", str(marker))
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"fc.weight": _Exploit()}))
    with pytest.raises(CheckpointError, match="tensor-only"):
        FIDInceptionV3.from_weights(path, sha256_file(path))
    assert not marker.exists()


def test_standard_space_label_and_non_standard_label():
    assert len(STANDARD_SHA256) == 64 and STANDARD_SHA256.startswith("6726825d")
    standard = M.FeatureSpace(torch.nn.Identity(), "inception-v3-fid", "2015-12-05", STANDARD_SHA256, standard=True)
    assert M.NOT_COMPARABLE not in standard.label and "standard" in standard.label
    ours = M.FeatureSpace(torch.nn.Identity(), "genhub-face-features", "1", "ab" * 32)
    assert ours.label.endswith("not comparable with published FIDs") and "v1" in ours.label


def test_feature_network_refuses_untrained_weights(tmp_path):
    folder = tmp_path / "random"
    FaceFeatureNet(resolution=32).save_pretrained(folder)
    with pytest.raises(CheckpointError, match="train_face_features"):
        load_feature_network(folder)
    (folder / "training_info.json").write_text(json.dumps({"family": "face-features", "global_step": 0}))
    with pytest.raises(CheckpointError, match="not that of a trained"):
        load_feature_network(folder)


def test_feature_network_of_another_version_is_refused_with_the_command(tmp_path):
    """A v2 export (it called grey textures faces) never stands behind a v3 figure."""
    folder = tmp_path / "v2"
    FaceFeatureNet(resolution=32, width=4).save_pretrained(folder)
    (folder / "training_info.json").write_text(json.dumps({"family": "face-features", "global_step": 600}))
    assert load_feature_network(folder).version == "3"
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "version": "2"}))
    with pytest.raises(CheckpointError, match="version 2; genhub measures in version 3.*--nonface_dataset"):
        load_feature_network(folder)


def test_models_import_nothing_from_hub_evaluation_or_app():
    code = ("import sys, genhub.models; print(sorted(m for m in sys.modules if m.startswith(('genhub.hub', "
            "'genhub.evaluation', 'genhub.app'))))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def test_feature_network_features_are_its_penultimate_layer():
    net = FaceFeatureNet(resolution=32, width=8).eval()
    images = torch.rand(3, 3, 64, 64) * 2 - 1  # resized to 32 inside
    features = net.features(images)
    assert features.shape == (3, net.num_features) == (3, 64)
    assert torch.allclose(net(images), net.head(features))
    attribute_logits, face_logits = net(images, with_face=True)
    assert torch.equal(attribute_logits, net(images)) and face_logits.shape == (3,)
    assert torch.allclose(net.face_probability(images, batch_size=2), torch.sigmoid(net.face_logit(images)))
    assert net.features(images[:, :1]).shape == (3, 64)  # grayscale accepted
