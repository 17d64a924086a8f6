"""The bench scripts run end to end in --tiny mode and write their JSON (speed numbers are not asserted:
they belong to the benchmarks, not to tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SHARED_DATA
from genhub.train.precision import resolve_precision

needs_shared = pytest.mark.skipif(not (SHARED_DATA / "faces_celeba").is_dir(), reason="benches use ../shared/data")


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f"bench/{script}", "--tiny", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)


def test_bench_training_reports_only_the_precisions_it_ran(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import bench_training

    runs = [{"study": "default", "mode": mode, "precision": "no", "resolution": 64, "batch_size": 8,
             "images_per_second": speed, "seconds_per_step": 8 / speed, "gflop_per_image": flop, "gflops": flop * speed}
            for mode, speed, flop in (("trainer", 30.0, 2.0), ("plain", 20.0, 2.5))]
    row = bench_training.trainer_vs_plain("dcgan", runs, matmul_gflops=100.0)
    assert row["ratio_fp32"] == 1.5 and row["config"] == "64 px, batch 8" and "ratio_bf16" not in row
    assert row["gflop_image_trainer_fp32"] == 2.0 and row["gflop_image_plain_fp32"] == 2.5
    assert row["matmul_share_fp32"] == pytest.approx(0.6)  # 60 GFLOP/s of 100


@needs_shared
def test_bench_training_tiny(tmp_path):
    """Every family whose data is present: trainer and textbook loop at both precisions, the eager levers, the
    sweeps (--compile is left out: compiling takes minutes on one thread)."""
    out = tmp_path / "training.json"
    done = run("bench_training.py", "--levers", "channels_last", "foreach_adam", "no_ema", "--output", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    families = [row["family"] for row in result["families"]]
    assert "dcgan" in families and families == list(dict.fromkeys(r["family"] for r in result["runs"]))
    for row in result["families"]:
        for precision in ("fp32", "bf16"):
            assert row[f"trainer_{precision}"] > 0 and row[f"plain_{precision}"] > 0
            assert row[f"ratio_{precision}"] == pytest.approx(row[f"trainer_{precision}"] / row[f"plain_{precision}"])
    assert {(r["family"], r["mode"], r["precision"]) for r in result["runs"] if r["study"] == "default"} == {
        (f, mode, precision) for f in families for mode in ("trainer", "plain") for precision in ("no", "bf16")}
    assert all(r["first_step_seconds"] > 0 for r in result["runs"])
    rows = {row["family"]: row for row in result["families"]}
    # one counted step each: the VAE's trainer and textbook loop do the same products; the DCGAN's frozen
    # discriminator skips its weight gradients in the generator's step
    assert rows["vae"]["gflop_image_trainer_fp32"] == pytest.approx(rows["vae"]["gflop_image_plain_fp32"])
    assert 0 < rows["dcgan"]["gflop_image_trainer_fp32"] < rows["dcgan"]["gflop_image_plain_fp32"]
    assert rows["dcgan"]["matmul_share_fp32"] == pytest.approx(rows["dcgan"]["gflops_trainer_fp32"] /
                                                               result["matmul_gflops"])
    assert [row["family"] for row in result["levers"]] == families
    auto = resolve_precision("auto", cpu=True).mixed_precision  # the levers run at what users of this CPU train in
    assert result["lever_precision"] == auto
    assert {r["precision"] for r in result["runs"] if r["study"] == "levers"} == {auto}
    for row in result["levers"]:
        assert row["channels_last_speedup"] == pytest.approx(row["channels_last"] / row["baseline"])
        assert ("foreach Adam" in row["keep"]) != ("fused Adam" in row["keep"])
        assert row["no_ema_speedup"] > 0 and "EMA" not in row["keep"]  # a cost measured, never a lever kept
    studies = {(row["family"], row["study"]) for row in result["sweep"]}
    assert studies == {(f, s) for f in ("dcgan", "vae") for s in ("batch size", "resolution")}
    assert result["machine"]["cores"] and "| dcgan |" in done.stdout and "channels_last ×" in done.stdout
    assert "trainer / matmul GFLOP/s" in done.stdout


@needs_shared
def test_bench_data_tiny(tmp_path):
    out = tmp_path / "data.json"
    done = run("bench_data.py", "--families", "dcgan", "--output", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads(out.read_text())["families"][0]
    assert row["family"] == "dcgan" and row["loader_0"] > 0 and row["training"] > 0
    assert row["wait"] >= 0 and 0 <= row["wait_share"] <= 1


def test_bench_app_tiny(tiny_export, faces_dir, tmp_path):
    out = tmp_path / "app.json"
    done = run("bench_app.py", "--model", f"dcgan-faces={tiny_export}", "--quiz-dataset", str(faces_dir),
               "--clients", "1", "2", "--output", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["failed_requests"] == 0 and result["cold_start_seconds"][0] > 0
    rounds = [row for row in result["endpoints"] if row["endpoint"] == "/new_round"]
    assert [row["clients"] for row in rounds] == [1, 2] and rounds[1]["requests"] == 4
    assert all(row["median_ms"] <= row["p95_ms"] for row in result["endpoints"])
    assert all(row["server_cpu_ms"] > 0 and row["client_cpu_ms"] > 0 for row in result["endpoints"])


@needs_shared
@pytest.mark.parametrize("family", ["ddpm", "stylegan"])
def test_bench_quality_tiny_runs_the_familys_recipes_and_evaluates_each_point(family, feature_network, tmp_path,
                                                                              monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import bench_quality

    out = tmp_path / "quality.json"
    recipes = bench_quality.RECIPES[family]
    done = subprocess.run([sys.executable, "bench/bench_quality.py", "--tiny", "--family", family, "--challengers",
                           recipes.challengers[0], "--scratch", str(tmp_path / "runs"), "--output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "GENHUB_FEATURE_NETWORK": str(feature_network)})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["family"] == family and set(report["variants"]) == {recipes.reference, recipes.challengers[0]}
    points = {(row["variant"], row["steps"] > 0) for row in report["points"]}
    assert points == {(recipes.reference, True), (recipes.challengers[0], True)}
    assert all(0 <= row["face check"] <= 1 and row["FID†"] >= 0 for row in report["points"])


def test_bench_quality_refuses_a_recipe_of_another_family():
    done = subprocess.run([sys.executable, "bench/bench_quality.py", "--family", "ddpm", "--challengers", "modern"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no ddpm recipe ['modern']" in done.stderr


def test_gpu_check_tiny_trains_judges_and_serves_every_endpoint_of_its_starters(tmp_path):
    """The lent-GPU script on this CPU: two starters for 2 steps each, judged, served, every endpoint they carry
    called once."""
    out = tmp_path / "gpu-check.json"
    done = run("gpu_check.py", "--keys", "dcgan-faces", "ddpm-faces", "--scratch", str(tmp_path / "runs"),
               "--output", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["device"].startswith(("CUDA", "no CUDA")) and [row["starter"] for row in report["starters"]] == [
        "dcgan-faces", "ddpm-faces"]
    assert all(row["steps"] == 2 and row["images_per_second"] > 0 for row in report["starters"])
    judged = (SHARED_DATA / "faces_celeba").is_dir()
    assert all(("floor" in row["floor"]) == judged for row in report["starters"])
    assert {"new_round", "dcgan_faces_random_face", "dcgan_faces_edit", "diffusion_sample",
            "diffusion_film_strip"} <= set(report["latencies"])
    assert not any(name.startswith(("vae_", "pixelcnn_", "translate")) for name in report["latencies"])  # missing
