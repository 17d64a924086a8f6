"""Model cards for exports: ``README.md`` with the metadata a Hub user expects, rendered from
``card_template.md`` with ``huggingface_hub.ModelCard.from_template`` / ``ModelCardData`` from the
export's ``training_info.json``.

The facts come from ``Trainer._export``: the family's static ones (``GenhubModel.card_facts``: family,
model_class, library_name, pipeline_tag, tags, paper), the run's text (:class:`CardText`: description, usage,
metric_descriptions, domains) and the run's numbers (dataset, steps, wall time, hardware, command,
config, args, final_losses, metrics = {name: float}).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATE = Path(__file__).with_name("card_template.md")
_HUB_DATASET = r"^[\w.-]+/[\w.-]+$"
_SAMPLE_USAGE = "images = model.sample(16)  # (16, C, H, W) in [-1, 1]"


@dataclass(frozen=True)
class CardText:
    """What one run says about itself on its card (its family's static facts come from the model class).

    Parameters:
        description: a paragraph on what the model is and what the sample grid shows.
        usage: a Python snippet after ``model = Cls.from_pretrained(...)`` (None: ``model.sample(16)``).
        metric_descriptions: metric name -> how it is measured.
        domains: ``{"A": name, "B": name}`` for translation models: what their inputs and outputs are.
    """

    description: str
    usage: str | None = None
    metric_descriptions: dict[str, str] = field(default_factory=dict)
    domains: dict[str, str] | None = None

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value}


def _dataset_ids(dataset: str) -> list[str] | None:
    return [dataset] if re.match(_HUB_DATASET, dataset) and not Path(dataset).exists() else None


def _model_name(info: dict) -> str:
    args = info.get("args") or {}
    return Path(args.get("hub_model_id") or args.get("output_dir") or info.get("family", "genhub")).name


def card_data(info: dict) -> ModelCardData:
    """The card's YAML metadata: library, task, tags, Hub datasets, license, and the metrics as a model-index
    (one result per metric, on the held-out split of the training dataset)."""
    task = info.get("pipeline_tag", "unconditional-image-generation")
    datasets = _dataset_ids(info["dataset"])
    dataset = datasets[0] if datasets else Path(info["dataset"]).name
    results = [EvalResult(task_type=task, dataset_type=dataset, dataset_name=dataset, dataset_split="test",
                          metric_type=name, metric_name=name, metric_value=float(value))
               for name, value in (info.get("metrics") or {}).items()]
    license_ = info.get("license", "other")
    return ModelCardData(
        library_name=info.get("library_name", "genhub"), pipeline_tag=task,
        tags=["genhub", "pytorch_model_hub_mixin", *info.get("tags", [])],
        datasets=datasets, license=license_, license_name="same-as-training-data" if license_ == "other" else None,
        model_name=_model_name(info) if results else None, eval_results=results or None)


def _table(header: str, rows: dict) -> str:
    return f"| {header} | value |\n| --- | --- |\n" + "\n".join(f"| {k} | {v} |" for k, v in rows.items())


def _evaluation(info: dict) -> str:
    metrics = info.get("metrics") or {}
    if not metrics:
        return "No held-out metrics were measured for this run; judge it by the samples above."
    descriptions = info.get("metric_descriptions") or {}
    how = "\n".join(f"- **{name}**: {descriptions[name]}" for name in metrics if descriptions.get(name))
    return (f"Measured on the exported weights with held-out data (the test split of `{info['dataset']}` unless "
            "the metric says otherwise):\n\n"
            + _table("metric", {name: f"{value:.4g}" for name, value in metrics.items()})
            + _floor(info.get("floor"))
            + (f"\n\nHow each metric is measured:\n\n{how}" if how else ""))


def _floor(floor: dict | None) -> str:
    """The family's floor as genhub-evaluate recorded it (``training_info.json``'s ``floor``), or nothing."""
    if not floor:
        return ""
    verdict = {True: "passes", False: "is **below**", None: "was not fully measured against"}[floor["passed"]]
    checks = "\n".join(f"- {line}" for line in floor["checks"])
    return (f"\n\nThis model {verdict} its family's floor, what genhub asks before a model is said to show its "
            f"family's idea (in {floor['space']}):\n\n{checks}")


def model_card(info: dict) -> ModelCard:
    """Build the card of an export from its training facts (see ``Trainer._export``), rendering
    ``card_template.md`` through ``ModelCard.from_template``.

    Raises:
        ValueError: the metadata does not parse back (``ModelCard`` re-reads the YAML it is given).
    """
    seconds = info["wall_time_seconds"]
    facts = {
        "dataset": f"`{info['dataset']}`",
        "resolution": f"{info['resolution']} px",
        "optimisation steps": f"{info['global_step']:,}",
        "images seen": f"{info['images_seen']:,}",
        "wall time": f"{seconds / 60:.1f} min ({seconds:,.0f} s)",
        "throughput": f"{info['images_per_second']} images/s",
        "mixed precision": info["mixed_precision"] + (f" ({info['precision_reason']})" if info.get("precision_reason")
                                                      else ""),
        "processes": info["num_processes"],
        "hardware": info["hardware"],
        "EMA weights exported": info["ema"],
    }
    celeba = " CelebA-derived data is for non-commercial research only." if "celeb" in info["dataset"].lower() else ""
    card = ModelCard.from_template(
        card_data(info), template_path=str(TEMPLATE), name=_model_name(info), model_class=info["model_class"],
        family=info["family"], in_app=info.get("in_app", True), dataset=info["dataset"],
        dataset_name=Path(info["dataset"]).name, resolution=info["resolution"], description=info.get("description", ""),
        repo_id=(info.get("args") or {}).get("hub_model_id") or "ORG/NAME",  # known when training pushed it
        usage=info.get("usage") or _SAMPLE_USAGE, evaluation=_evaluation(info), facts_table=_table("fact", facts),
        losses_table=_table("loss", info["final_losses"]),
        command=info.get("command") or "# not recorded (trained from Python); the flags are below",
        config=json.dumps(info["config"]), args=json.dumps(info.get("args") or {}, indent=2),
        paper=info.get("paper", ""), paper_url=info.get("paper_url"), terms_note=celeba)
    return ModelCard(str(card), ignore_metadata_errors=False)


def write_model_card(folder: str | Path, info: dict) -> None:
    """Write ``README.md`` (the model card) into an export folder (beside itself, then renamed into place)."""
    path = Path(folder) / "README.md"
    partial = path.with_name(f".README.md.{os.getpid()}")
    model_card(info).save(partial)
    os.replace(partial, path)
