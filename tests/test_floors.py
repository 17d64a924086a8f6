"""Floors: every bound is checked by metric-name prefix, a figure of another feature-space version never passes,
and genhub-evaluate's report carries the verdict."""

from __future__ import annotations

from genhub.evaluation import floors
from genhub.evaluation.families import Evaluation
from genhub.evaluation.metrics import FeatureSpace
from genhub.evaluation.report import build_report, format_report

FACE, PRECISION = floors.FACE_CHECK, floors.PRECISION


def test_a_quiz_family_passes_only_when_every_bound_holds():
    good = {FACE: 0.99, PRECISION: 0.8, f"FID, {floors.SPACE} (not comparable with published FIDs)": 12.0}
    verdict = floors.check("ddpm", good)
    assert verdict.passed is True and len(verdict.lines) == 2 and all(line.endswith("passed") for line in verdict.lines)
    noise = floors.check("ddpm", {FACE: 0.0, PRECISION: 0.64})  # what v2 called the old starter's noise: no faces
    assert noise.passed is False and noise.lines[0] == f"{FACE} = 0 (>= 0.95): FAILED"


def test_a_figure_of_another_space_is_not_measured_and_one_failure_outweighs_it():
    v1 = {"face check, genhub-face-features v1": 1.0, "precision, genhub-face-features v1": 0.9}
    verdict = floors.check("stylegan", v1)
    assert verdict.passed is None and all(line.endswith("not measured") for line in verdict.lines)
    assert floors.check("stylegan", {FACE: 0.2}).passed is False  # precision unmeasured, but the face check failed


def test_a_bound_covers_every_metric_it_prefixes():
    both = {f"{FACE} (A->B)": 0.97, f"{FACE} (B->A)": 0.5}
    verdict = floors.check("cyclegan", both)
    assert verdict.passed is False and len(verdict.lines) == 2 and verdict.lines[1].endswith("FAILED")
    assert floors.check("dbvae", {"recall": 1.0}) is None  # no floor declared
    assert floors.check("dcgan", {"dtw_l1 A->B": 0.1}, modality="audio") is None  # no voice floor for a DCGAN


def test_a_non_finite_value_never_passes():
    assert floors.check("autoencoder", {"reconstruction PSNR (dB)": float("nan")}).passed is False


def test_the_report_and_its_table_carry_the_verdict():
    space = FeatureSpace(None, floors.SPACE.split(" v")[0], floors.SPACE.rsplit("v", 1)[1], "ab" * 32)
    result = Evaluation()
    result.add(FACE, 0.5, "")
    result.add(PRECISION, 0.9, "")
    report = build_report("export", "dcgan", "faces", "test", space, result, seed=0, started=0.0)
    assert report["floor"] == {"passed": False, "space": floors.SPACE,
                               "checks": [f"{FACE} = 0.5 (>= 0.95): FAILED",
                                          f"{PRECISION} = 0.9 (>= 0.5): passed"]}
    assert floors.recorded({"floor": report["floor"]}) == report["floor"]
    assert floors.recorded({"floor": {**report["floor"], "space": "genhub-face-features v1"}}) is None
    assert "floor (dcgan): FAILED" in format_report(report)
    assert build_report("export", "dbvae", "faces", "test", space, Evaluation(), 0, 0.0)["floor"] is None


def test_a_voice_conversion_must_go_a_fifth_of_the_way_to_the_target_voice_in_both_directions():
    """The voice floor bounds each direction's DTW log-mel distance relative to the unconverted clip's (the numbers of
    the 2-minute speech starter: 0.62 and 0.49 of the way left); the image floor does not apply to audio."""
    measured = {"dtw_l1 A->B": 0.158, "dtw_l1 A->B unconverted": 0.253, "dtw_l1 B->A": 0.123,
                "dtw_l1 B->A unconverted": 0.253, "median F0 A->B (Hz)": 222.6}
    verdict = floors.check("cyclegan", measured, modality="audio")
    assert verdict.passed is True and len(verdict.lines) == 2  # the unconverted distances are not bounded themselves
    assert verdict.lines[0] == "dtw_l1 A->B = 0.158 = 0.62 x the unconverted 0.253 (<= 0.8): passed"
    unconverted_copy = {**measured, "dtw_l1 B->A": 0.24}  # a generator that barely changes the voice
    failed = floors.check("cyclegan", unconverted_copy, modality="audio")
    assert failed.passed is False and failed.lines[1].endswith("FAILED")
    missing_base = floors.check("cyclegan", {"dtw_l1 A->B": 0.1}, modality="audio")
    assert missing_base.passed is False and "nan x" in missing_base.lines[0]  # no baseline: never a pass
    assert floors.check("cyclegan", {}, modality="audio").lines == ("dtw_l1 (<= 0.8): not measured",)
    assert floors.check("cyclegan", measured, modality="image").passed is None  # the face check was not measured
