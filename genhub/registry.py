"""The app's models: an explicit registry of key -> (family, location), and loading with clear failures.

A location is a local export folder or a Hub repo id (``org/name`` or ``org/name@revision``).
Override any entry with ``python app.py --model KEY=LOCATION`` or
``GENHUB_MODELS="KEY=LOCATION,KEY=LOCATION"``.

To serve a default from the Hub once it is published (``python -m genhub.publish``), set its
location to the repo id pinned to the published commit, ``ModelSpec("dcgan", "ORG/NAME@<commit sha>",
...)``: a pinned sha never changes under the app, and once cached it loads offline. See
:func:`load_model` for the resolution order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from huggingface_hub import hf_hub_download, is_offline_mode

from genhub.card import TRAINING_INFO, read_training_info
from genhub.data import DataError, ImageDataset, image_columns, load_source
from genhub.models import MODEL_CLASSES, GenhubModel

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ModelSpec:
    """Where a registry entry comes from, and how to make it when it is missing.

    ``location`` is a local export folder or a Hub repo id, optionally pinned to a revision:
    ``ORG/NAME@<commit sha>`` (a branch or tag name also works, but a cached branch is not refreshed).
    """

    family: str
    location: str
    how_to_get: str = ""


#: key -> default. Local folders are relative to the project root.
DEFAULT_MODELS: dict[str, ModelSpec] = {
    "dcgan-faces": ModelSpec(
        "dcgan", "checkpoints/dcgan-faces-64",
        "make starter  (or: accelerate launch training/train_dcgan.py --dataset ../shared/data/faces_celeba "
        "--resolution 64 --mixed_precision bf16 --output_dir checkpoints/dcgan-faces-64)"),
    "vae-faces": ModelSpec(
        "vae", "checkpoints/vae-faces-64",
        "accelerate launch --cpu --num_processes 1 training/train_vae.py --dataset ../shared/data/faces_celeba "
        "--resolution 64 --latent_dim 128 --hidden_channels 32 --beta 1.0 --random_flip --num_epochs 15 "
        "--outlier_dataset ../shared/data/nonface_flowers_128 "
        "--output_dir checkpoints/vae-faces-64"),
    "pix2pix-sketch2face": ModelSpec(
        "pix2pix", "checkpoints/pix2pix-sketch2face-128",
        "accelerate launch --cpu --num_processes 1 training/train_pix2pix.py --dataset "
        "../shared/data/sketch2face_celeba_128 --input_column input --target_column target --input_name sketch "
        "--target_name face --resolution 128 "
        "--ngf 32 --ndf 32 --train_batch_size 8 --random_flip --mixed_precision bf16 --max_train_steps 6000 "
        "--output_dir checkpoints/pix2pix-sketch2face-128"),
    "cyclegan-eyeglasses": ModelSpec(
        "cyclegan", "checkpoints/cyclegan-eyeglasses-64",
        "accelerate launch --cpu --num_processes 1 training/train_cyclegan.py --dataset "
        "../shared/data/unpaired_celeba_eyeglasses --domain_column domain --domain_a A --domain_b B "
        "--domain_a_name no_eyeglasses --domain_b_name eyeglasses --resolution 64 --ngf 32 --ndf 32 "
        "--n_blocks 6 --train_batch_size 4 --random_flip --mixed_precision bf16 --max_train_steps 5000 "
        "--output_dir checkpoints/cyclegan-eyeglasses-64"),
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


def _from_hub(cls: type[GenhubModel], repo_id: str, revision: str | None,
              local_files_only: bool) -> tuple[GenhubModel, dict]:
    """The model and its training facts from the Hub repo, or only from the Hugging Face cache."""
    model = cls.from_pretrained(repo_id, revision=revision, local_files_only=local_files_only)
    try:
        path = hf_hub_download(repo_id, TRAINING_INFO, revision=revision, local_files_only=local_files_only)
    except Exception:
        if local_files_only:
            raise  # fetch both from the Hub rather than pair a cached model with no facts
        return model, {}
    return model, read_training_info(Path(path).parent)


def device() -> torch.device:
    """CUDA when there is a GPU, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(key: str, spec: ModelSpec) -> LoadedModel:
    """Load one entry; never raises for a missing or broken model (the tab shows ``missing_message``).

    Resolution order: a local folder named ``location`` (relative to the working directory or the
    project root); else the Hub repo ``ORG/NAME[@revision]`` from the Hugging Face cache, with no
    network; else downloaded from the Hub, unless offline (``HF_HUB_OFFLINE=1``), in which case the
    error names the repo and the ``hf download`` command that fetches it.
    """
    location, _, revision = spec.location.partition("@")
    revision = revision or None
    cls = MODEL_CLASSES.get(spec.family)
    if cls is None:
        return LoadedModel(key, spec, error=f"unknown model family {spec.family!r}")
    folder = _local_folder(location)
    if folder is not None:
        try:
            model, info = cls.from_pretrained(folder), read_training_info(folder)
        except Exception as error:
            return LoadedModel(key, spec, error=str(error))
        return LoadedModel(key, spec, model.to(device()).eval(), info)
    if location.startswith((".", "/", "~")) or location.count("/") != 1:
        return LoadedModel(key, spec, error=f"no folder {location}")
    try:
        model, info = _from_hub(cls, location, revision, local_files_only=True)
    except Exception:
        if is_offline_mode():
            fetch = f"hf download {location}" + (f" --revision {revision}" if revision else "")
            return LoadedModel(key, spec, error=f"Hub repo {spec.location} is not in the Hugging Face cache and "
                                                f"HF_HUB_OFFLINE=1 is set; fetch it online with `{fetch}`")
        try:
            model, info = _from_hub(cls, location, revision, local_files_only=False)
        except Exception as error:
            return LoadedModel(key, spec, error=str(error))
    return LoadedModel(key, spec, model.to(device()).eval(), info)


def load_models(keys: list[str] | None = None, overrides: list[str] | None = None) -> dict[str, LoadedModel]:
    """Load the registry entries ``keys`` (default: all), after ``GENHUB_MODELS`` and ``overrides``, for serving.

    On CPU this also sets torch to one thread: requests then run side by side on the cores instead of
    fighting over them (a 64x64 VAE decode under load: p90 1.5 ms with 1 thread, 290 ms with 2).
    """
    if device().type == "cpu":
        torch.set_num_threads(1)
    registry = resolve_registry(overrides)
    return {key: load_model(key, registry[key]) for key in (keys or registry)}


def dataset_path(source: str) -> str:
    """A dataset named in an export: a relative folder that exists under the project root is taken from
    there (exports record the path they were trained with), anything else is returned unchanged."""
    return str(PROJECT_ROOT / source) if not source.startswith("/") and (PROJECT_ROOT / source).exists() else source


def held_out_images(loaded: LoadedModel, dataset: str | None = None, column: str | None = None,
                    resolution: int | None = None, channels: int | None = None) -> ImageDataset:
    """The ``test`` split of ``dataset`` (default: the export's training dataset) at ``resolution`` and
    ``channels`` (default: the model's own).

    ``column`` defaults to the export's image column, else the first image column.

    Raises:
        DataError: no dataset is known, it cannot be loaded, or it has no image column.
    """
    source = dataset or loaded.info.get("dataset")
    if not source:
        raise DataError(f"{loaded.key}: its export names no training dataset")
    source = dataset_path(source)
    table = load_source(source)["test"]
    column = column or loaded.info.get("image_column") or (image_columns(table) or [None])[0]
    if column is None:
        raise DataError(f"dataset {source!r} has no image column")
    return ImageDataset(table, {"pixel_values": column}, resolution or loaded.model.resolution,
                        channels or loaded.model.channels, source)
