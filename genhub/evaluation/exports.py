"""An export folder opened for evaluation: its model, its ``training_info.json``, and the data to measure it on
(:func:`evaluation_data`: the export's own :class:`~genhub.data.DataSpec`, from :func:`genhub.hub.info.data_spec`,
optionally moved to another source)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from genhub.data import DataError, DataSpec
from genhub.hub.info import data_spec, read_training_info
from genhub.models.base import CheckpointError, GenhubModel


def load_export(checkpoint: str | Path, families: Collection[str]) -> tuple[GenhubModel, dict]:
    """The model of an export folder (eval mode) and its ``training_info.json``.

    Args:
        families: the families the caller can handle (e.g. the evaluators' table).

    Raises:
        CheckpointError: no training_info.json, or a family outside ``families`` or without a model class.
    """
    from genhub.models import MODEL_CLASSES

    folder = Path(checkpoint)
    info = read_training_info(folder)
    if not info:
        raise CheckpointError(f"{folder}: no training_info.json; not a genhub export folder")
    family = info.get("family")
    if family not in families or family not in MODEL_CLASSES:
        raise CheckpointError(f"{folder}: family {family!r} has no evaluator (known: {', '.join(families)})")
    return MODEL_CLASSES[family].from_pretrained(str(folder)).eval(), info


def evaluation_data(info: dict, model: GenhubModel, source: str | None = None) -> DataSpec:
    """The data an export is measured on: the spec it was trained on (:func:`genhub.hub.info.data_spec`), on
    ``source`` instead when that names another dataset (:meth:`DataSpec.with_source`: its image columns found
    afresh), at the model's resolution and channels. Paths are as recorded (see :func:`genhub.paths.located`).

    An export without a recorded dataset is measured on ``source`` with one image per row (``pixel_values``).

    Raises:
        DataError: neither the export nor ``source`` names a dataset.
    """
    if info.get("data") or info.get("dataset"):
        spec = data_spec(info)
        if source and source != spec.source:
            spec = spec.with_source(source)
    elif source:
        spec = DataSpec(source)
    else:
        raise DataError("the export's training_info.json names no dataset; pass one")
    return replace(spec, resolution=model.resolution, channels=getattr(model, "channels", spec.channels))
