"""The app's models: an explicit registry of key -> (family, location), with overrides.

A location is a local export folder or a Hub repo id (``org/name`` or ``org/name@revision``).
Override any entry with ``python app.py --model KEY=LOCATION`` or
``GENHUB_MODELS="KEY=LOCATION,KEY=LOCATION"``. Loading an entry is :mod:`genhub.app.loading`'s.

To serve a default from the Hub once it is published (``python -m genhub.hub.publish``), set its
location to the repo id pinned to the published commit, ``ModelSpec("dcgan", "ORG/NAME@<commit sha>",
...)``: a pinned sha never changes under the app, and once cached it loads offline. See
:func:`genhub.app.loading.load_model` for the resolution order.
"""

from __future__ import annotations

import os
from dataclasses import replace

from genhub.app.families import ENTRIES, ModelSpec, is_local  # noqa: F401 (is_local: the registry's rule, tested)

#: key -> default: local export folders, relative to the project root, made by ``make demo`` (genhub.app.starters)
#: when missing; ``recipe`` is the reference run of README.md. Declared with each key's starter in
#: :data:`genhub.app.families.ENTRIES`.
DEFAULT_MODELS: dict[str, ModelSpec] = {key: entry.spec for key, entry in ENTRIES.items()}


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
    return {key: replace(spec, location=overrides[key], local=None) if key in overrides else spec
            for key, spec in DEFAULT_MODELS.items()}

