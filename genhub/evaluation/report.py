"""The evaluation report: built from a family's :class:`~genhub.evaluation.families.Evaluation`, written as
``evaluation.json`` to the report folder, merged into the export (``training_info.json``, a public
``evaluation.json`` without the memorisation details, and the model card through
:func:`genhub.hub.info.save_training_info`), and printed as a table."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

from genhub.evaluation import floors
from genhub.evaluation.families import Evaluation
from genhub.evaluation.metrics import FeatureSpace
from genhub.hub.info import save_training_info

REPORT_FILE = "evaluation.json"
#: Details that name training images: kept in the local report, never in the export (which may be published).
PRIVATE_DETAILS = ("memorisation",)


def build_report(export: str | Path, family: str, dataset: str, split: str, space: FeatureSpace,
                 result: Evaluation, seed: int, started: float, modality: str = "image") -> dict:
    """The report as a JSON-ready dict: what was measured (export, family, dataset, split, feature space, seed),
    the metrics with their descriptions and details, the family's floor for the data's ``modality`` checked against
    them (:func:`genhub.evaluation.floors.check`; None without one), when, the wall time since ``started``
    (``time.perf_counter()``, seconds) and the hardware."""
    verdict = floors.check(family, result.metrics, modality)
    return {
        "export": str(export), "family": family, "dataset": str(dataset), "split": split,
        "feature_space": space.describe(), "metrics": result.metrics, "metric_descriptions": result.descriptions,
        "details": result.details, "floor": verdict.as_dict() if verdict else None, "seed": seed,
        "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_time_seconds": round(time.perf_counter() - started, 1),
        "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
    }


def write_report(report: dict, folder: str | Path) -> Path:
    """Write the full report to ``folder/evaluation.json`` (creating the folder); returns the file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REPORT_FILE).write_text(json.dumps(report, indent=2))
    return folder / REPORT_FILE


def update_export(folder: str | Path, info: dict, report: dict) -> None:
    """Merge the report's metrics into ``training_info.json`` (replacing those of an earlier evaluation), write
    ``evaluation.json`` without :data:`PRIVATE_DETAILS` beside it, and rewrite the model card (table and
    ``model-index``). ``info`` is updated in place."""
    previous = (info.get("evaluation") or {}).get("metric_names", [])
    metrics = {k: v for k, v in (info.get("metrics") or {}).items() if k not in previous}
    descriptions = {k: v for k, v in (info.get("metric_descriptions") or {}).items() if k not in previous}
    info["metrics"] = {**metrics, **report["metrics"]}
    info["metric_descriptions"] = {**descriptions, **report["metric_descriptions"]}
    info["floor"] = report.get("floor")
    info["evaluation"] = {"metric_names": list(report["metrics"]), "report": REPORT_FILE,
                          "feature_space": report["feature_space"], "split": report["split"],
                          "dataset": report["dataset"], "evaluated_at": report["evaluated_at"]}
    public = {**report, "details": {k: v for k, v in report["details"].items() if k not in PRIVATE_DETAILS}}
    write_report(public, folder)
    save_training_info(folder, info)


def format_report(report: dict) -> str:
    """The report as a plain-text table, with the feature space's label on top."""
    lines = [f"{report['family']} export {report['export']} on {report['dataset']} ({report['split']})",
             f"features: {report['feature_space']['label']}", ""]
    width = max(len(name) for name in report["metrics"])
    lines += [f"{name:<{width}}  {value:.4g}" for name, value in report["metrics"].items()]
    floor = report.get("floor")
    if floor:
        verdict = {True: "passed", False: "FAILED", None: "not fully measured"}[floor["passed"]]
        lines += ["", f"floor ({report['family']}): {verdict}", *(f"  {line}" for line in floor["checks"])]
    return "\n".join(lines)
