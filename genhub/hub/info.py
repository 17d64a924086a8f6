"""An export's ``training_info.json``: the run's facts (data, steps, wall time, losses, metrics, hardware),
from which its model card is rendered. :func:`save_training_info` is the one writer of both."""

from __future__ import annotations

import json
import os
from pathlib import Path

from genhub.data import DataError, DataSpec
from genhub.hub.card import write_model_card

#: The export's training facts (dataset, steps, wall time, losses, metrics); the card is built from them.
TRAINING_INFO = "training_info.json"


def read_training_info(folder: str | Path) -> dict:
    """An export's ``training_info.json``; {} when the folder has none or it is unreadable."""
    try:
        return json.loads((Path(folder) / TRAINING_INFO).read_text())
    except (OSError, ValueError):
        return {}


def save_training_info(folder: str | Path, info: dict) -> None:
    """Write ``training_info.json`` and the model card built from it, so the two never disagree. Each file is written
    beside itself and renamed into place: an app serving the folder while a floor verdict lands never reads half of
    one."""
    path = Path(folder) / TRAINING_INFO
    partial = path.with_name(f".{TRAINING_INFO}.{os.getpid()}")
    partial.write_text(json.dumps(info, indent=2))
    os.replace(partial, path)
    write_model_card(folder, info)


def data_spec(info: dict) -> DataSpec:
    """The :class:`~genhub.data.DataSpec` an export was trained on: ``info["data"]``, or, for exports written
    before it was recorded, rebuilt from the older fields (``dataset``, ``image_column``, ``args``).

    Raises:
        DataError: the facts name no dataset.
    """
    if info.get("data"):
        return DataSpec.from_dict(info["data"])
    args = info.get("args") or {}
    if not info.get("dataset"):
        raise DataError("the export names no training dataset")
    common = {"source": info["dataset"], "resolution": info.get("resolution", 64),
              "channels": args.get("channels", 3), "seed": args.get("seed", 0)}
    family = info.get("family")
    if family == "pix2pix":
        return DataSpec(**common, columns={"real_A": args.get("input_column"), "real_B": args.get("target_column")})
    if family == "cyclegan":
        column = args.get("image_column")
        return DataSpec(**common, columns={"real_A": column, "real_B": args.get("image_column_b") or column},
                        domain_column=args.get("domain_column"), source_b=args.get("dataset_b"),
                        domains={"real_A": str(args.get("domain_a", "A")), "real_B": str(args.get("domain_b", "B"))})
    return DataSpec(**common, columns={"pixel_values": info.get("image_column")})
