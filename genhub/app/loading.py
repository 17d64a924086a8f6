"""Loading the app's models (local export or Hub repo, with clear failures) and their held-out data.

:func:`load_model` never raises for a missing or broken model: the tab shows
:attr:`LoadedModel.missing_message` instead, and the other tabs work. A local export that appears or changes while
the app runs (the background trainer publishes one, a floor verdict lands) replaces the served one between requests:
:func:`watch` reloads it (:meth:`LoadedModel.refresh`), and every handler reads ``loaded.model`` when it runs.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from huggingface_hub import constants, hf_hub_download, is_offline_mode

from genhub.app.registry import ModelSpec, resolve_registry
from genhub.app.starters import STARTERS, shared_data
from genhub.data import DataError, ImageDataset, load_split
from genhub.evaluation.floors import recorded as recorded_floor
from genhub.hub.info import TRAINING_INFO, data_spec, read_training_info
from genhub.hub.reachable import hub_reachable
from genhub.models import MODEL_CLASSES, GenhubModel
from genhub.paths import locate, located

LOG = logging.getLogger("genhub")


@dataclass
class LoadedModel:
    """A registry entry after loading: the model (on the app's device, in eval mode) or the reason it is missing."""

    key: str
    spec: ModelSpec
    model: GenhubModel | None = None
    info: dict = field(default_factory=dict)  # the export's training_info.json
    error: str | None = None
    stamp: tuple | None = None  # a local export's identity on disk (export_stamp), when it was loaded
    swapped: list = field(default_factory=list, repr=False)  # called with no argument after each swap (on_swap)

    def on_swap(self, callback) -> None:
        """Call ``callback()`` after every export swapped in (:meth:`refresh`), e.g. to give a component the new
        model's choices on the server, where Gradio checks each request against them."""
        self.swapped.append(callback)

    @property
    def export_id(self) -> str:
        """Short id of the served export (8 hex digits of its :func:`export_stamp`, or the Hub revision): a quiz
        round records it, so figures of two exports are never mixed."""
        if self.stamp is None:
            return self.spec.location.partition("@")[2][:12] or "hub"
        return hashlib.sha1(repr(self.stamp).encode()).hexdigest()[:8]

    def refresh(self) -> bool:
        """Serve the local export again when it changed on disk (a new one published, a verdict written): it is loaded
        whole first and swapped in only when it loads, so a request sees the old model or the new one, never none;
        a folder being replaced, or broken, keeps the old one (the next call retries). Returns whether it swapped."""
        if not self.spec.local:
            return False
        stamp = export_stamp(locate(self.spec.location))
        if stamp is None or stamp == self.stamp:
            return False
        fresh = load_model(self.key, self.spec)
        if fresh.model is None or fresh.stamp != stamp:
            return False
        self.model, self.info, self.error, self.stamp = fresh.model, fresh.info, None, stamp
        for callback in self.swapped:
            callback()
        LOG.info("%s: now serving the export of %s (%s)", self.key, self.spec.location, self.export_id)
        return True

    @property
    def below_floor(self) -> bool:
        """Whether the export records a failed floor (:mod:`genhub.evaluation.floors`) of the current feature space."""
        floor = recorded_floor(self.info)
        return bool(floor) and floor["passed"] is False

    @property
    def floor_note(self) -> str | None:
        """Markdown, one line, for a model below its floor: the checks it failed and the reference model's command;
        None otherwise."""
        if not self.below_floor:
            return None
        failed = "; ".join(line for line in self.info["floor"]["checks"] if line.endswith("FAILED"))
        recipe = f" The reference model: `{self.spec.recipe}`" if self.spec.recipe else ""
        return f"**{self.key}** is below its family's floor ({failed}): it does not yet show the idea.{recipe}"

    @property
    def missing_message(self) -> str:
        """Markdown: what is missing and the commands that make or fetch it (never a path that does not exist)."""
        return (f"Model **{self.key}** is not available ({self.error}).\n\n{how_to_get(self.key, self.spec)}\n\n"
                f"Or point the app at another export: `python app.py --model {self.key}=FOLDER_OR_REPO_ID`.")


def how_to_get(key: str, spec: ModelSpec) -> str:
    """Markdown: the entry's own hint, else its starter (``genhub.app.starters``) and, when the shared data is
    present, the full reference recipe."""
    if spec.how_to_get:
        return f"Get it with: `{spec.how_to_get}`"
    if key not in STARTERS:
        return ""
    data = shared_data()
    starter = STARTERS[key]
    made_from = "the shared data" if data else "data shipped with scikit-image (no ../shared/data here)"
    text = (f"Make a starter with `python -m genhub.app.starters --keys {key}` (about "
            f"{starter.estimate(data):g} min on 2 CPU cores, on {made_from}; `make demo` makes every missing one).")
    if data and spec.recipe:
        text += f"\n\nThe full reference run: `{spec.recipe}`"
    return text


def device() -> torch.device:
    """CUDA when there is a GPU, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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

    A local location (``spec.local``) is a folder, relative to the working directory or the project root, and
    is never sent to the Hub. A repo id ``ORG/NAME[@revision]`` comes from the Hugging Face cache with no
    network, else from the Hub; offline (``HF_HUB_OFFLINE=1``, or the endpoint unreachable: see
    :func:`hub_reachable`) the error names the repo and the ``hf download`` command that fetches it.
    """
    cls = MODEL_CLASSES.get(spec.family)
    if cls is None:
        return LoadedModel(key, spec, error=f"unknown model family {spec.family!r}")
    stamp = export_stamp(locate(spec.location)) if spec.local else None
    try:
        model, info = _load_local(cls, spec) if spec.local else _load_repo(cls, spec)
    except _Missing as missing:
        return LoadedModel(key, spec, error=str(missing))
    except Exception as error:  # a broken export: its own message (CheckpointError says which file and why)
        return LoadedModel(key, spec, error=str(error))
    if spec.local and export_stamp(locate(spec.location)) != stamp:
        stamp = None  # replaced while it loaded: the watcher loads it again
    return LoadedModel(key, spec, model.to(device()).eval(), info, stamp=stamp)


def export_stamp(folder: Path) -> tuple | None:
    """A local export's identity on disk: the folder's inode (a published export is a new folder) and the change
    times of its weights and facts; None when it holds no weights."""
    try:
        weights = (folder / "model.safetensors").stat()
    except OSError:
        return None
    try:
        facts = (folder / TRAINING_INFO).stat().st_mtime_ns
    except OSError:
        facts = 0
    try:
        return folder.stat().st_ino, weights.st_ino, weights.st_mtime_ns, facts
    except OSError:
        return None


def watch(models: dict[str, "LoadedModel"], seconds: float = 3.0) -> threading.Thread:
    """Start a daemon thread that calls :meth:`LoadedModel.refresh` on each local model every ``seconds`` (a few
    stat calls each time), so exports published while the app runs are served without a restart."""
    def loop():
        while True:
            time.sleep(seconds)
            for loaded in models.values():
                try:
                    loaded.refresh()
                except Exception:  # noqa: BLE001 - a watcher that dies would freeze every model where it is
                    LOG.exception("%s: reloading its export failed; the served one stays", loaded.key)

    thread = threading.Thread(target=loop, name="genhub-export-watcher", daemon=True)
    thread.start()
    return thread


class _Missing(Exception):
    """The entry's location holds no model; the message says which folder or repo."""


def _load_local(cls: type[GenhubModel], spec: ModelSpec) -> tuple[GenhubModel, dict]:
    folder = locate(spec.location)
    if not folder.is_dir():
        raise _Missing(f"no folder `{spec.location}`")
    return cls.from_pretrained(folder), read_training_info(folder)


def _load_repo(cls: type[GenhubModel], spec: ModelSpec) -> tuple[GenhubModel, dict]:
    repo_id, _, revision = spec.location.partition("@")
    revision = revision or None
    try:
        return _from_hub(cls, repo_id, revision, local_files_only=True)
    except Exception:
        pass
    fetch = f"hf download {repo_id}" + (f" --revision {revision}" if revision else "")
    if is_offline_mode():
        raise _Missing(f"Hub repo {spec.location} is not in the Hugging Face cache and HF_HUB_OFFLINE=1 is set; "
                       f"fetch it online with `{fetch}`") from None
    if not hub_reachable():
        raise _Missing(f"Hub repo {spec.location} is not in the Hugging Face cache and {constants.ENDPOINT} cannot "
                       f"be reached from here; fetch it online with `{fetch}`") from None
    return _from_hub(cls, repo_id, revision, local_files_only=False)


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


def held_out_images(loaded: LoadedModel, count: int) -> list:
    """Up to ``count`` held-out images (PIL) of the training data of ``loaded`` (:func:`held_out`), full size.

    Raises:
        DataError: as :func:`held_out`.
    """
    images = held_out(loaded)
    return [images.image(index) for index in range(min(count, len(images)))]


def unavailable(loaded: LoadedModel, error: DataError) -> str:
    """What a page may say when ``loaded``'s held-out data cannot be read: the dataset's name only (a server
    path or the loader's own text would tell strangers about the machine). The full error goes to the log."""
    LOG.warning("%s: held-out data unavailable: %s", loaded.key, error)
    source = (loaded.info.get("data") or {}).get("source") or loaded.info.get("dataset") or ""
    name = f" (`{Path(source).name}`)" if source else ""
    return f"the held-out images of `{loaded.key}`'s training data{name} are not available on this server"
