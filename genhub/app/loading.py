"""Loading the app's models (local export or Hub repo, with clear failures) and their held-out data.

:func:`load_model` never raises for a missing or broken model: the tab shows
:attr:`LoadedModel.missing_message` instead, and the other tabs work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from huggingface_hub import hf_hub_download, is_offline_mode

from genhub.app.registry import ModelSpec, resolve_registry
from genhub.data import DataError, ImageDataset, load_split
from genhub.hub.info import TRAINING_INFO, data_spec, read_training_info
from genhub.models import MODEL_CLASSES, GenhubModel
from genhub.paths import PROJECT_ROOT, located


@dataclass
class LoadedModel:
    """A registry entry after loading: the model (on the app's device, in eval mode) or the reason it is missing."""

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


def device() -> torch.device:
    """CUDA when there is a GPU, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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


def load_models(keys: list[str] | tuple[str, ...] | None = None,
                overrides: list[str] | None = None) -> dict[str, LoadedModel]:
    """Load the registry entries ``keys`` (default: all, in registry order), after ``GENHUB_MODELS`` and
    ``overrides`` (see :func:`genhub.app.registry.resolve_registry`).

    Raises:
        ValueError: a malformed override, or a key the registry does not know.
    """
    registry = resolve_registry(overrides)
    unknown = [key for key in keys or () if key not in registry]
    if unknown:
        raise ValueError(f"unknown model key {unknown[0]!r}; known keys: {', '.join(registry)}")
    return {key: load_model(key, registry[key]) for key in (keys or registry)}


def held_out(loaded: LoadedModel, key: str | None = None, source: str | None = None) -> ImageDataset:
    """The ``test`` split of the data ``loaded`` was trained on (:func:`genhub.hub.info.data_spec` of its
    ``training_info.json``), only the images of item ``key`` (default: the first, e.g. ``pixel_values``;
    ``real_A`` is a pix2pix export's input and a CycleGAN's domain A), at the training resolution and channels.

    ``source`` replaces the training dataset (its image column found afresh). Relative dataset paths are
    resolved by :func:`genhub.paths.located`.

    Raises:
        DataError: the export names no dataset; it cannot be loaded; a missing column, domain or ``key``.
    """
    try:
        spec = data_spec(loaded.info)
    except DataError as error:
        raise DataError(f"{loaded.key}: {error}") from None
    if source is not None:
        spec = spec.with_source(source)
    return load_split(located(spec), "test", key=key or next(iter(spec.columns)))
