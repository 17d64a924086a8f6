"""Model cards for exports: ``README.md`` with the metadata a Hub user expects, built with
``huggingface_hub.ModelCard`` / ``ModelCardData`` from the export's ``training_info.json``.

The facts come from ``Trainer._export``: the family's (``Recipe.card``: family, model_class,
registry_key, pipeline_tag, tags, description, paper; optionally usage, license and
metric_descriptions = {metric: how it is measured}) and the run's (dataset, steps, wall time,
hardware, command, config, args, final_losses, metrics = {name: float}).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

#: The export's training facts (dataset, steps, wall time, losses, metrics); the card is built from them.
TRAINING_INFO = "training_info.json"
_HUB_DATASET = r"^[\w.-]+/[\w.-]+$"
_SAMPLE_USAGE = "images = model.sample(16)  # (16, C, H, W) in [-1, 1]"


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
        library_name="genhub", pipeline_tag=task, tags=["genhub", "pytorch_model_hub_mixin", *info.get("tags", [])],
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
            + (f"\n\nHow each metric is measured:\n\n{how}" if how else ""))


def model_card(info: dict) -> ModelCard:
    """Build the card of an export from its training facts (see ``Trainer._export``).

    Raises:
        ValueError: the metadata does not parse back (``ModelCard`` re-reads the YAML it is given).
    """
    model_class, key = info.get("model_class", "DCGAN"), info.get("registry_key", "KEY")
    repo_id = (info.get("args") or {}).get("hub_model_id") or "ORG/NAME"  # known when training pushed it
    seconds = info["wall_time_seconds"]
    facts = {
        "dataset": f"`{info['dataset']}`",
        "resolution": f"{info['resolution']} px",
        "optimisation steps": f"{info['global_step']:,}",
        "images seen": f"{info['images_seen']:,}",
        "wall time": f"{seconds / 60:.1f} min ({seconds:,.0f} s)",
        "throughput": f"{info['images_per_second']} images/s",
        "mixed precision": info["mixed_precision"],
        "processes": info["num_processes"],
        "hardware": info["hardware"],
        "EMA weights exported": info["ema"],
    }
    celeba = " CelebA-derived data is for non-commercial research only." if "celeb" in info["dataset"].lower() else ""
    body = f"""
# {_model_name(info)}: {model_class} on {Path(info["dataset"]).name} at {info["resolution"]}x{info["resolution"]}

{info.get("description", "")}

![samples from the exported weights](samples.png)

## Use

```python
from genhub.models import {model_class}

model = {model_class}.from_pretrained("{repo_id}")  # pin a version with revision="<commit sha>"
{info.get("usage", _SAMPLE_USAGE)}
```

In the genhub app: `python app.py --model {key}={repo_id}`, or `GENHUB_MODELS="{key}={repo_id}@<commit sha>"`.

## Evaluation

{_evaluation(info)}

## Training

{_table("fact", facts)}

Final losses (mean of the last 50 steps):

{_table("loss", info["final_losses"])}

## Reproduce

```bash
{info.get("command") or "# not recorded (trained from Python); the flags are below"}
```

Architecture (`config.json`): `{json.dumps(info["config"])}`

<details><summary>Every flag of the run</summary>

```json
{json.dumps(info.get("args") or {}, indent=2)}
```

</details>

## Source

{info.get("paper", "")}

## Terms

The weights inherit the terms of the training data (`{info["dataset"]}`).{celeba}
"""
    return ModelCard(f"---\n{card_data(info).to_yaml()}\n---\n{body}", ignore_metadata_errors=False)


def write_model_card(folder: str | Path, info: dict) -> None:
    """Write ``README.md`` (the model card) into an export folder."""
    model_card(info).save(Path(folder) / "README.md")


def read_training_info(folder: str | Path) -> dict:
    """An export's ``training_info.json``; {} when the folder has none or it is unreadable."""
    try:
        return json.loads((Path(folder) / TRAINING_INFO).read_text())
    except (OSError, ValueError):
        return {}


def save_training_info(folder: str | Path, info: dict) -> None:
    """Write ``training_info.json`` and the model card built from it, so the two never disagree."""
    (Path(folder) / TRAINING_INFO).write_text(json.dumps(info, indent=2))
    write_model_card(folder, info)
