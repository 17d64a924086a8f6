"""genhub-evaluate end to end on tiny exports: the labelled report, the export's card and training_info, the
refusal to run without a trained feature network, every family's evaluator, and the VAE's reconstruction
measured the same way as at export."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from conftest import SHARED_DATA, tiny_dbvae_args, train_tiny, write_parquet_slice
from genhub.data import DataSpec, load_source, load_split
from genhub.evaluation.cli import main
from genhub.evaluation.evaluate import evaluate
from genhub.evaluation.families import EVALUATORS
from genhub.evaluation.latent import measure_latent_space
from genhub.evaluation.metrics import NOT_COMPARABLE
from genhub.models import MODEL_CLASSES, VAE, CycleGAN, Pix2Pix
from genhub.models.inception import FIDInceptionV3, sha256_file


def test_feature_network_export_is_named_versioned_and_measured(feature_network):
    config = json.loads((feature_network / "config.json").read_text())
    info = json.loads((feature_network / "training_info.json").read_text())
    assert config["name"] == "genhub-face-features" and config["version"] == "3" and len(config["attributes"]) == 40
    assert info["family"] == "face-features" and info["global_step"] == 3
    assert 0 <= info["metrics"]["held-out mean attribute accuracy"] <= 1
    rates = {name: value for name, value in info["metrics"].items() if name.startswith("face check")}
    # 3 face probes and 4 synthetic kinds, at the network's side and at a quarter of it
    assert len(rates) == 14 and all(0 <= value <= 1 for value in rates.values())
    assert (feature_network / "model.safetensors").is_file()


def test_dcgan_evaluation_writes_a_labelled_report_card_and_gallery(tiny_export, feature_network, tmp_path):
    export = shutil.copytree(tiny_export, tmp_path / "export", ignore=shutil.ignore_patterns("checkpoint-*"))
    out = tmp_path / "report"
    assert main([str(export), "--feature_network", str(feature_network), "--output_dir", str(out),
                   "--memorisation_samples", "8"]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert report["feature_space"]["standard"] is False
    assert report["feature_space"]["weights_sha256"] == sha256_file(feature_network / "model.safetensors")
    fid_names = [name for name in report["metrics"] if name.startswith(("FID", "KID")) and "floor" not in name]
    assert len(fid_names) == 2 and all(NOT_COMPARABLE in name for name in fid_names)
    assert all(NOT_COMPARABLE in report["metric_descriptions"][name] for name in report["metrics"] if "FID" in name)
    for kind in ("cnn", "linear"):
        found = report["details"][f"detectability_{kind}"]
        assert found["trials"] == 16 and found["low"] <= found["accuracy"] <= found["high"]
    memorisation = report["details"]["memorisation"]
    assert memorisation["fakes_checked"] == 8 and len(memorisation["nearest"]) == 8
    assert (out / "memorisation_gallery.png").is_file() and not (export / "memorisation_gallery.png").exists()

    info = json.loads((export / "training_info.json").read_text())
    assert set(report["metrics"]) <= set(info["metrics"]) and info["evaluation"]["report"] == "evaluation.json"
    name = "face check, genhub-face-features v3"
    face_check = report["metrics"][name]
    assert 0 <= face_check <= 1 and "face head" in report["metric_descriptions"][name]
    assert info["floor"] == report["floor"] and len(report["floor"]["checks"]) == 2  # the quiz floor's two bounds
    assert report["floor"]["checks"][0].startswith(f"{name} = {face_check:.3g} (>= 0.95): ")
    card = (export / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---")[1])
    card_metrics = {m["name"]: m["value"] for m in metadata["model-index"][0]["results"][0]["metrics"]}
    assert card_metrics[fid_names[0]] == pytest.approx(report["metrics"][fid_names[0]])
    assert NOT_COMPARABLE in card
    public = json.loads((export / "evaluation.json").read_text())
    assert "memorisation" not in public["details"]  # the published copy names no training images

    # a second evaluation replaces the first one's numbers instead of piling up
    assert main([str(export), "--feature_network", str(feature_network), "--output_dir", str(out),
                   "--memorisation_samples", "8", "--num_samples", "12"]) == 0
    again = json.loads((export / "training_info.json").read_text())
    assert set(again["metrics"]) == set(info["metrics"])


def test_ddpm_evaluation_measures_ddim_samples_in_the_same_space(tiny_ddpm_export, feature_network, tmp_path):
    export = shutil.copytree(tiny_ddpm_export, tmp_path / "export", ignore=shutil.ignore_patterns("checkpoint-*"))
    report = evaluate(export, feature_network=feature_network, output_dir=tmp_path / "out", max_real=8,
                      num_samples=8, memorisation_samples=0)  # 0: no memorisation check (the starters' floors)
    assert "memorisation" not in report["details"] and not (tmp_path / "out" / "memorisation_gallery.png").exists()
    assert report["family"] == "ddpm" and report["feature_space"]["weights_sha256"] == sha256_file(
        feature_network / "model.safetensors")
    metrics = report["metrics"]
    fid = next(name for name in metrics if name.startswith("FID") and "floor" not in name)
    floor = next(name for name in metrics if name.startswith("FID") and "floor" in name)
    assert metrics[fid] > metrics[floor] >= 0  # 3 training steps: far from the data
    assert 0 <= metrics["detectability (pixel CNN)"] <= 1
    info = json.loads((export / "training_info.json").read_text())
    assert info["metrics"]["detectability (pixel CNN)"] == metrics["detectability (pixel CNN)"]
    assert (export / "model_index.json").is_file()  # still a diffusers pipeline after the card's rewrite


def test_evaluation_refuses_without_a_trained_feature_network(tiny_export, tmp_path, capsys):
    code = main([str(tiny_export), "--feature_network", str(tmp_path / "none"), "--no_update_card",
                   "--output_dir", str(tmp_path)])
    assert code == 2
    assert "train_face_features.py" in capsys.readouterr().err
    assert not (tmp_path / "evaluation.json").exists()


def test_evaluation_with_inception_weights_checks_the_hash_and_labels_the_space(tiny_export, tmp_path, capsys):
    weights = tmp_path / "inception.pth"
    torch.save(FIDInceptionV3().state_dict(), weights)
    args = [str(tiny_export), "--inception_weights", str(weights), "--no_update_card", "--output_dir", str(tmp_path)]
    assert main(args) == 2 and "SHA-256" in capsys.readouterr().err  # a dummy file is not the standard one
    report = evaluate(tiny_export, inception_weights=weights, inception_sha256=sha256_file(weights),
                        output_dir=tmp_path, max_real=4, num_samples=4, memorisation_samples=4, update_card=False)
    assert report["feature_space"]["name"] == "inception-v3-fid" and report["feature_space"]["standard"] is False
    assert any(name.startswith("FID") and NOT_COMPARABLE in name for name in report["metrics"])


def test_every_family_has_an_evaluator_and_a_model_class():
    assert set(EVALUATORS) == {"dcgan", "ddpm", "vae", "autoencoder", "pix2pix", "cyclegan", "dbvae", "pixelcnn",
                               "cgan", "stylegan"}
    assert set(EVALUATORS) <= set(MODEL_CLASSES)


def _export(model, folder, info):
    model.save_pretrained(folder)
    (folder / "training_info.json").write_text(json.dumps(info))
    return folder


def test_vae_evaluation_reports_reconstruction_and_sample_metrics(faces_dir, feature_network, tmp_path):
    export = _export(VAE(resolution=32, latent_dim=8, hidden_channels=8), tmp_path / "vae",
                     {"family": "vae", "dataset": str(faces_dir), "image_column": "image", "args": {}})
    # --dataset: the same faces under another column name, found afresh (DataSpec.with_source)
    other = tmp_path / "renamed"
    for split, table in load_source(str(faces_dir)).items():
        table.select_columns(["image"]).rename_column("image", "photo").to_parquet(
            str(other / f"{split}-00000-of-00001.parquet"))
    report = evaluate(export, dataset=str(other), feature_network=feature_network, output_dir=tmp_path / "out",
                      update_card=False)
    metrics = report["metrics"]
    assert report["dataset"] == str(other)
    assert 0 < metrics["reconstruction MSE"] < 1 and metrics["reconstruction PSNR (dB)"] > 0
    assert metrics["reconstruction PSNR (dB)"] == pytest.approx(10 * math.log10(1 / metrics["reconstruction MSE"]))
    assert any(name.startswith("FID") for name in metrics)
    assert 0 <= metrics["detectability (pixel CNN)"] <= 1  # prior draws: the quiz leaderboard's figure
    assert not any(name.startswith("memorisation") for name in metrics)
    # one definition: the export's heldout_mse / heldout_psnr_db measure the same images the same way
    model = VAE.from_pretrained(export).eval()
    _, at_export = measure_latent_space(model, load_split(DataSpec(str(other), 32), "test"))
    assert at_export["heldout_mse"] == pytest.approx(metrics["reconstruction MSE"], rel=1e-6)
    assert at_export["heldout_psnr_db"] == pytest.approx(metrics["reconstruction PSNR (dB)"], rel=1e-6)


def test_python_dash_m_genhub_evaluation_is_the_cli():
    found = subprocess.run([sys.executable, "-m", "genhub.evaluation", "--help"], capture_output=True, text=True)
    assert found.returncode == 0 and "genhub-evaluate" in found.stdout and "--inception_weights" in found.stdout


@pytest.mark.skipif(not (SHARED_DATA / "sketch2face_celeba_128").is_dir(), reason="needs ../shared/data")
def test_pix2pix_evaluation_reports_l1_psnr_ssim(feature_network, tmp_path):
    data = write_parquet_slice(SHARED_DATA / "sketch2face_celeba_128", tmp_path / "pairs", {"train": 4, "test": 8})
    model = Pix2Pix(resolution=32, ngf=8, ndf=8, num_downs=5)
    export = _export(model, tmp_path / "p2p", {"family": "pix2pix", "dataset": str(data), "args": {}})
    metrics = evaluate(export, feature_network=feature_network, output_dir=tmp_path / "out",
                         update_card=False)["metrics"]
    assert 0 < metrics["L1 to target"] <= 2 and -1 <= metrics["SSIM to target"] <= 1
    assert metrics["PSNR to target (dB)"] > 0 and any("translations" in name for name in metrics)


@pytest.mark.skipif(not (SHARED_DATA / "unpaired_celeba_eyeglasses").is_dir(), reason="needs ../shared/data")
def test_cyclegan_evaluation_reports_both_directions(feature_network, tmp_path):
    table = pq.read_table(next((SHARED_DATA / "unpaired_celeba_eyeglasses").glob("test-*.parquet")))
    domain = table.column("domain").to_pylist()
    rows = [i for i, d in enumerate(domain) if d == "A"][:6] + [i for i, d in enumerate(domain) if d == "B"][:6]
    data = tmp_path / "unpaired"
    data.mkdir()
    for split in ("train", "test"):
        pq.write_table(table.take(pa.array(rows)), data / f"{split}-00000-of-00001.parquet")
    export = _export(CycleGAN(resolution=32, ngf=8, ndf=8, n_blocks=1), tmp_path / "cg",
                     {"family": "cyclegan", "dataset": str(data), "args": {"domain_column": "domain"}})
    metrics = evaluate(export, feature_network=feature_network, output_dir=tmp_path / "out",
                         update_card=False)["metrics"]
    assert any("A->B" in name and name.startswith("FID") for name in metrics)
    assert any("B->A" in name and name.startswith("KID") for name in metrics)


def test_dbvae_evaluation_and_the_fairness_table_report_groups_with_n(faces_and_nonfaces, feature_network, tmp_path,
                                                                      capsys):
    from genhub.evaluation.fairness import main as fairness_main

    exports = [train_tiny("dbvae", tiny_dbvae_args(faces_and_nonfaces, tmp_path / name, "--max_train_steps", "2",
                                                   *flags)) for name, flags in (("cnn", ["--baseline"]),
                                                                                ("dbvae", ["--alpha", "0.1"]))]
    report = evaluate(exports[1], feature_network=feature_network, output_dir=tmp_path / "out")
    rows = report["details"]["fairness"]["groups"]
    assert rows[0]["name"] == "all held-out faces" and rows[0]["n"] > 0
    assert f"recall: all held-out faces (N={rows[0]['n']})" in report["metrics"]
    assert "recall: all held-out faces" in (exports[1] / "README.md").read_text()
    assert fairness_main([str(folder) for folder in exports] + ["--json", str(tmp_path / "table.json")]) == 0
    table = capsys.readouterr().out
    assert "| all held-out faces (" in table and "cnn" in table and "Pale_Skin is a weak" in table
    assert set(json.loads((tmp_path / "table.json").read_text())) == {"cnn", "dbvae"}


def test_pixelcnn_evaluation_reports_bits_per_dim(tiny_pixelcnn_export, feature_network, tmp_path):
    report = evaluate(tiny_pixelcnn_export, feature_network=feature_network, output_dir=tmp_path / "out",
                      update_card=False)  # a session fixture: leave it as trained
    bits = report["metrics"]["bits/dim"]
    info = json.loads((tiny_pixelcnn_export / "training_info.json").read_text())
    assert bits == pytest.approx(info["metrics"]["heldout_bits_per_dim"], rel=1e-5)  # the export's own measure
    assert report["metrics"]["bits/dim, 8-bit equivalent"] == pytest.approx(bits + 6)


def test_cgan_evaluation_reports_conditional_accuracy_beside_the_networks_ceiling(labelled_faces_dir, feature_network,
                                                                                 tmp_path):
    from conftest import tiny_cgan_args

    export = train_tiny("cgan", tiny_cgan_args(labelled_faces_dir, tmp_path / "cgan", "--max_train_steps", "2"))
    report = evaluate(export, feature_network=feature_network, output_dir=tmp_path / "out", max_real=16,
                      memorisation_samples=4)
    for name in ("Male", "Smiling"):
        accuracy = report["metrics"][f"conditional accuracy: {name}"]
        detail = report["details"][f"conditional_accuracy_{name}"]
        assert 0 <= accuracy <= 1 and detail["n"] == 256 and detail["low"] <= accuracy <= detail["high"]
        assert 0 <= detail["real_accuracy"] <= 1
    assert any(name.startswith("FID") for name in report["metrics"])
