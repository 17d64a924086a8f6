"""The checkpoint format every genhub model shares: ``config.json`` + ``model.safetensors``.

Built on ``huggingface_hub.PyTorchModelHubMixin``; loading is stricter than the mixin's:
safetensors only (never a pickle such as ``pytorch_model.bin``), strict key and shape checks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import safetensors.torch
import torch
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.constants import CONFIG_NAME, SAFETENSORS_SINGLE_FILE


class CheckpointError(ValueError):
    """A checkpoint is missing, not safetensors, or does not fit the model; the message says which."""


class GenhubModel(
    torch.nn.Module,
    PyTorchModelHubMixin,
    library_name="genhub",
    repo_url="https://github.com/genhub/genhub",
):
    """Base class: ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` with safe loading.

    ``from_pretrained(location)`` takes a local folder or a Hub repo id (``revision=`` pins it),
    and raises :class:`CheckpointError` when there is no ``config.json`` or ``model.safetensors``,
    or when a tensor is missing, unexpected or of the wrong shape.

    A family declares its static facts once, on its class: ``family`` (the name in registries and
    ``training_info.json``), ``paper`` (the citation for the card), ``in_app``, and through the mixin's class
    arguments ``pipeline_tag``, ``tags`` and ``paper_url``; :meth:`card_facts` gathers them.
    """

    family: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    #: Whether the genhub app plays this family (a feature network, for one, is only measured with).
    in_app: ClassVar[bool] = True

    @classmethod
    def card_facts(cls) -> dict:
        """The family's static facts for its card: family, model_class, library_name (the mixin's class argument:
        "genhub", or e.g. "diffusers" for a family whose export is also that library's format), pipeline_tag,
        tags, paper, paper_url, in_app."""
        info = cls._hub_mixin_info
        tags = [tag for tag in info.model_card_data.tags or [] if tag != "model_hub_mixin"]
        return {"family": cls.family, "model_class": cls.__name__,
                "library_name": info.model_card_data.library_name or "genhub",
                "pipeline_tag": info.model_card_data.pipeline_tag,
                "tags": tags, "paper": cls.paper, "paper_url": info.paper_url, "in_app": cls.in_app}

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision, cache_dir, force_download, local_files_only, token,
                         map_location: str = "cpu", strict: bool = True, **model_kwargs):
        if os.path.isdir(model_id):
            folder = Path(model_id)
            if not (folder / CONFIG_NAME).is_file():
                raise CheckpointError(f"{model_id}: no {CONFIG_NAME}; not a genhub export folder")
            weights = folder / SAFETENSORS_SINGLE_FILE
            if not weights.is_file():
                found = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
                raise CheckpointError(
                    f"{model_id}: no {SAFETENSORS_SINGLE_FILE}"
                    + (f" (found {found}: pickle checkpoints are refused, convert them to safetensors)"
                       if found else "")
                )
        else:
            try:
                weights = hf_hub_download(model_id, SAFETENSORS_SINGLE_FILE, revision=revision, cache_dir=cache_dir,
                                          force_download=force_download, token=token,
                                          local_files_only=local_files_only)
            except Exception as error:
                raise CheckpointError(f"{model_id}: cannot fetch {SAFETENSORS_SINGLE_FILE}: {error}") from error
        model = cls(**model_kwargs)
        try:
            safetensors.torch.load_model(model, str(weights), strict=strict, device=map_location)
        except (RuntimeError, safetensors.SafetensorError) as error:
            raise CheckpointError(f"{model_id}: weights do not fit {cls.__name__}{model.config}: {error}") from error
        download = {"cache_dir": cache_dir, "force_download": force_download, "local_files_only": local_files_only,
                    "token": token}
        model._load_extras(lambda name: export_file(model_id, name, revision, download))
        return model.eval()

    def _load_extras(self, find) -> None:
        """Read the family's extra files (beside the weights) after loading; ``find(name)`` is the file's local
        path (downloaded from the Hub when the export is a repo id) or None when the export has none. Default:
        nothing to read."""

    @property
    def config(self) -> dict:
        """The JSON-able ``__init__`` arguments, as written to ``config.json``."""
        return dict(self._hub_mixin_config)


#: The attribute directions of a GAN's latent space (InterFaceGAN, ``python -m genhub.evaluation.directions``), beside
#: its weights: attribute name -> unit vector.
BOUNDARIES_FILE = "attribute_boundaries.safetensors"


def read_boundaries(find, size: int) -> dict[str, torch.Tensor]:
    """The export's :data:`BOUNDARIES_FILE` (``find`` as in :meth:`GenhubModel._load_extras`): name -> float32 (size,);
    vectors of another size are left out, no file gives {}."""
    found = find(BOUNDARIES_FILE)
    if found is None:
        return {}
    return {name: vector.float() for name, vector in safetensors.torch.load_file(str(found)).items()
            if vector.shape == (size,)}


def export_file(location: str | Path, name: str, revision: str | None = None, download_kwargs: dict | None = None
                ) -> Path | None:
    """An extra file ``name`` of an export (beside its weights): from a local folder, or downloaded from a Hub repo
    id (``download_kwargs`` go to ``hf_hub_download``); None when the export has no such file."""
    folder = Path(location)
    if folder.is_dir():
        return folder / name if (folder / name).is_file() else None
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(str(location), name, revision=revision, **(download_kwargs or {})))
    except EntryNotFoundError:
        return None
