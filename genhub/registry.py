"""The app's models: an explicit registry of key -> (family, location), and loading with clear failures.

A location is a local export folder or a Hub repo id (``org/name`` or ``org/name@revision``).
Override any entry with ``python app.py --model KEY=LOCATION`` or
``GENHUB_MODELS="KEY=LOCATION,KEY=LOCATION"``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from huggingface_hub import hf_hub_download

from genhub.models import MODEL_CLASSES, GenhubModel

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ModelSpec:
    """Where a registry entry comes from, and how to make it when it is missing."""

    family: str
    location: str
    how_to_get: str = ""


#: key -> default. Local folders are relative to the project root.
DEFAULT_MODELS: dict[str, ModelSpec] = {
    "dcgan-faces": ModelSpec(
        "dcgan", "checkpoints/dcgan-faces-64",
        "make starter  (or: accelerate launch training/train_dcgan.py --dataset ../shared/data/faces_celeba "
        "--resolution 64 --mixed_precision bf16 --output_dir checkpoints/dcgan-faces-64)"),
}


@dataclass
class LoadedModel:
    """A registry entry after loading: the model (on the app's device) or the reason it is missing."""

    key: str
    spec: ModelSpec
    model: GenhubModel | None = None
    info: dict = field(default_factory=dict)  # the export's training_info.json
    error: str | None = None

    @property
    def missing_message(self) -> str:
        return (f"Model **{self.key}** is not available ({self.error}).\n\n"
                f"Get it with: `{self.spec.how_to_get}`, or point the app at another export with "
                f"`python app.py --model {self.key}=FOLDER_OR_REPO_ID`.")


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``["KEY=LOCATION", ...]`` (also comma-separated) -> {KEY: LOCATION}.

    Raises:
        ValueError: an item without ``=`` or with a key the registry does not know.
    """
    overrides = {}
    for item in (part.strip() for chunk in items for part in chunk.split(",")):
        if not item:
            continue
        key, sep, location = item.partition("=")
        if not sep or not location:
            raise ValueError(f"model override {item!r} is not KEY=LOCATION")
        if key not in DEFAULT_MODELS:
            raise ValueError(f"unknown model key {key!r}; known keys: {', '.join(DEFAULT_MODELS)}")
        overrides[key] = location
    return overrides


def resolve_registry(cli_overrides: list[str] | None = None) -> dict[str, ModelSpec]:
    """Defaults, then ``GENHUB_MODELS``, then command-line overrides (last wins)."""
    overrides = parse_overrides([os.environ.get("GENHUB_MODELS", "")] + list(cli_overrides or []))
    return {key: replace(spec, location=overrides.get(key, spec.location)) for key, spec in DEFAULT_MODELS.items()}


def _local_folder(location: str) -> Path | None:
    for candidate in (Path(location).expanduser(), PROJECT_ROOT / location):
        if candidate.is_dir():
            return candidate
    return None


def _read_info(location: str, revision: str | None) -> dict:
    folder = _local_folder(location)
    try:
        path = folder / "training_info.json" if folder else Path(
            hf_hub_download(location, "training_info.json", revision=revision))
        return json.loads(path.read_text())
    except Exception:  # an export without training facts still plays; only defaults are missing
        return {}


def device() -> torch.device:
    """CUDA when there is a GPU, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(key: str, spec: ModelSpec) -> LoadedModel:
    """Load one entry; never raises for a missing or broken model (the tab shows ``missing_message``)."""
    location, _, revision = spec.location.partition("@")
    folder = _local_folder(location)
    source = str(folder) if folder else location
    looks_local = location.startswith((".", "/", "~")) or location.count("/") != 1
    if folder is None and looks_local:
        return LoadedModel(key, spec, error=f"no folder {location}")
    try:
        model = MODEL_CLASSES[spec.family].from_pretrained(source, revision=revision or None)
    except Exception as error:
        return LoadedModel(key, spec, error=str(error))
    return LoadedModel(key, spec, model.to(device()).eval(), _read_info(source, revision or None))
