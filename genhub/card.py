"""Model cards for exports, written with ``huggingface_hub.ModelCard`` from ``training_info.json``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

_HUB_DATASET = r"^[\w.-]+/[\w.-]+$"


def _dataset_ids(dataset: str) -> list[str] | None:
    return [dataset] if re.match(_HUB_DATASET, dataset) and not Path(dataset).exists() else None


def _metrics_table(metrics: dict) -> str:
    if not metrics:
        return ""
    rows = "\n".join(f"| {name} | {value:.4g} |" for name, value in metrics.items())
    return f"Held-out metrics:\n\n| metric | value |\n| --- | --- |\n{rows}\n\n"


def model_card(info: dict) -> ModelCard:
    """Build the card of an export from its training facts (see ``Trainer._export``)."""
    data = ModelCardData(
        library_name="genhub",
        pipeline_tag=info.get("pipeline_tag", "unconditional-image-generation"),
        tags=["genhub", "pytorch_model_hub_mixin", *info.get("tags", [])],
        datasets=_dataset_ids(info["dataset"]),
        license="other",
        license_name="same-as-training-data",
    )
    losses = "\n".join(f"| {name} | {value} |" for name, value in info["final_losses"].items())
    body = f"""
# {info.get("family", "genhub").upper()} — {info["dataset"]} at {info["resolution"]}x{info["resolution"]}

{info.get("description", "")}

![samples from fixed noise, EMA weights](samples.png)

## Training

| fact | value |
| --- | --- |
| dataset | `{info["dataset"]}` |
| resolution | {info["resolution"]} px |
| optimisation steps | {info["global_step"]:,} |
| images seen | {info["images_seen"]:,} |
| wall time | {info["wall_time_seconds"] / 60:.1f} min |
| throughput | {info["images_per_second"]} images/s |
| mixed precision | {info["mixed_precision"]} |
| processes | {info["num_processes"]} |
| hardware | {info["hardware"]} |
| EMA weights exported | {info["ema"]} |

Final losses (mean of the last 50 steps):

| loss | value |
| --- | --- |
{losses}

{_metrics_table(info.get("metrics") or {})}Command: `{info.get("command") or "see training_info.json"}`

Architecture (`config.json`): `{json.dumps(info["config"])}`

## Use

```python
from genhub.models import {info.get("model_class", "DCGAN")}
model = {info.get("model_class", "DCGAN")}.from_pretrained("path/or/org-name")
images = model.sample(16)  # (16, C, H, W) in [-1, 1]
```

Or in the hub app: `python app.py --model {info.get("registry_key", "dcgan-faces")}=path/or/org-name`.

## Source

{info.get("paper", "")}

## Terms

The weights inherit the terms of the training data. CelebA-derived data is for non-commercial
research only.
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def write_model_card(folder: str | Path, info: dict) -> None:
    """Write ``README.md`` (the model card) into an export folder."""
    model_card(info).save(Path(folder) / "README.md")
