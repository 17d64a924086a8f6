"""The checkout genhub runs from: relative paths in registries and exports (``checkpoints/...``,
``../shared/data/...``) that do not exist from the working directory are looked for under it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from genhub.data import DataSpec

#: The repository root (the folder holding ``genhub/``, ``app.py`` and ``checkpoints/``).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def locate(path: str | Path) -> Path:
    """``path`` as given when it exists or is absolute, else the same relative path under :data:`PROJECT_ROOT`."""
    path = Path(path).expanduser()
    return path if path.exists() or path.is_absolute() else PROJECT_ROOT / path


def located(spec: DataSpec) -> DataSpec:
    """``spec`` with each local source folder that exists only under :data:`PROJECT_ROOT` named from there;
    Hub ids, shipped sources and paths that exist as given are unchanged."""

    def found(source: str | None) -> str | None:
        if source is None or Path(source).expanduser().exists() or not (PROJECT_ROOT / source).exists():
            return source
        return str(PROJECT_ROOT / source)

    return replace(spec, source=found(spec.source), source_b=found(spec.source_b))
