"""Assemble a self-contained folder, ready to push as a Hugging Face Space.

    python -m genhub.hub.space_bundle which-face-is-fake OUT   # or: hub, image-to-image, latent-explorer

The folder gets the Space's README.md (front matter) and app.py, a copy of the ``genhub`` package,
and the project's pinned requirements. Models are not copied: the app pulls them by Hub repo id
(set ``GENHUB_MODELS`` in the Space settings to use others). Push it with
``hf upload ORG/SPACE OUT --repo-type space``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from genhub.paths import PROJECT_ROOT

#: Space name -> folder holding its README.md and app.py ("hub" is the whole app, the repository root).
SPACES = {"hub": PROJECT_ROOT,
          **{p.name: p for p in sorted((PROJECT_ROOT / "spaces").iterdir()) if (p / "app.py").is_file()}}


def bundle(name: str, out: str | Path) -> Path:
    """Write the Space ``name`` into the empty or new folder ``out``; returns ``out``.

    Raises:
        ValueError: unknown Space name.
        FileExistsError: ``out`` exists and is not empty.
    """
    if name not in SPACES:
        raise ValueError(f"unknown Space {name!r}; choose one of {', '.join(SPACES)}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    for file in ("README.md", "app.py"):
        shutil.copy2(SPACES[name] / file, out / file)
    shutil.copytree(PROJECT_ROOT / "genhub", out / "genhub", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(PROJECT_ROOT / "requirements.txt", out / "requirements.txt")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=list(SPACES))
    parser.add_argument("out")
    args = parser.parse_args(argv)
    print(f"Space {args.name!r} assembled in {bundle(args.name, args.out)}")


if __name__ == "__main__":
    main()
