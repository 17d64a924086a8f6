"""README.md says what the code does: the registry keys, the tabs, the public endpoints, the Spaces and each
family's reference command are the code's own (the generated blocks are rewritten by
``python tests/test_readme.py --write``), the Space front matter stays valid, and the page stays short.

    python tests/test_readme.py --write     # after a registry, tab or endpoint change: rewrite README's blocks
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: README is read top to bottom by a newcomer: it stays this short (the details live in docs/ and bench/).
MAX_LINES = 250
WIDTH = 118


def _wrap(command: str) -> str:
    """A shell command broken at flag boundaries into lines of at most :data:`WIDTH` characters."""
    lines, line = [], ""
    for part in re.split(r" (?=--)| && ", command):
        piece = part if not line else f"{line} {part}"
        if line and len(piece) > WIDTH - 2:
            lines.append(line)
            line = "    " + part
        else:
            line = piece
    lines.append(line)
    return " \\\n".join(lines)


def _commands() -> str:
    """One reference command per family and modality, as the registry's ``recipe`` says: the first key of each,
    a family's own model before its ``--baseline`` (the DB-VAE before the plain CNN)."""
    from genhub.app.registry import DEFAULT_MODELS

    specs = sorted(DEFAULT_MODELS.values(), key=lambda spec: "--baseline" in spec.recipe)
    chosen: dict[tuple[str, bool], str] = {}
    for spec in specs:
        chosen.setdefault((spec.family, "--modality audio" in spec.recipe), spec.recipe)
    order = [spec.recipe for spec in DEFAULT_MODELS.values() if spec.recipe in chosen.values()]
    return "```bash\n" + "\n".join(_wrap(step) for recipe in order for step in recipe.split(" && ")) + "\n```"


def _endpoints() -> str:
    from genhub.app.tabs import TABS

    rows = [f"- **{entry.title}**: " + ", ".join(f"`/{name}`" for name in entry.api_names)
            for entry in TABS if entry.api_names]
    return "\n".join(rows)


def _spaces() -> str:
    names = sorted(path.name for path in (ROOT / "spaces").iterdir() if (path / "app.py").is_file())
    return ", ".join(f"`{name}`" for name in names)


BLOCKS = {"commands": _commands, "endpoints": _endpoints, "spaces": _spaces}


def _block(text: str, name: str) -> re.Match:
    match = re.search(rf"<!-- {name} -->\n?(.*?)\n?<!-- /{name} -->", text, re.S)
    assert match, f"README.md has no <!-- {name} --> block"
    return match


def write() -> None:
    text = README.read_text()
    for name, render in BLOCKS.items():
        match = _block(text, name)
        text = text[:match.start(1)] + render() + text[match.end(1):]
    README.write_text(text)


def test_the_generated_blocks_are_the_codes():
    text = README.read_text()
    for name, render in BLOCKS.items():
        stale = f"README's {name} block is stale: python tests/test_readme.py --write"
        assert _block(text, name).group(1) == render(), stale


def test_every_registry_key_and_tab_is_named_and_the_page_is_short():
    from genhub.app.registry import DEFAULT_MODELS
    from genhub.app.tabs import TABS

    text = README.read_text()
    table = text[text.index("## The families"):text.index("## Two commands")]
    assert all(f"`{key}`" in table or f"`-{key.partition('-faces-')[2]}`" in table for key in DEFAULT_MODELS)
    assert all(entry.title in text for entry in TABS)
    assert len(text.splitlines()) <= MAX_LINES


def test_the_space_front_matter_stays_valid():
    import yaml

    front = yaml.safe_load(README.read_text().split("---\n")[1])
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py" and (ROOT / front["app_file"]).is_file()
    assert front["sdk_version"] == __import__("gradio").__version__


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit(__doc__)
    sys.path.insert(0, str(ROOT))
    write()
