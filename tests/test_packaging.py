"""What ``pip install genhub[app]`` gets: every third-party module that genhub imports is declared in pyproject.toml,
so an installed package never fails on first use of a tab (the voice tab's librosa once did)."""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules() -> set[str]:
    names = set()
    for source in (ROOT / "genhub").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"genhub"}


def _declared() -> dict[str, set[str]]:
    """Normalised distribution names per group: "" for the dependencies, else the extra's name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    return {group: {re.split(r"[<>=!~\[; ]", requirement)[0].lower().replace("_", "-") for requirement in requirements}
            for group, requirements in groups.items()}


def test_every_third_party_import_is_declared_and_the_app_extra_brings_audio():
    declared = _declared()
    everything = set().union(*declared.values())
    distributions = importlib.metadata.packages_distributions()
    imported = _imported_modules()
    assert {"torch", "gradio", "librosa", "soundfile"} <= imported  # the scan sees the package's imports
    missing = {module: distributions.get(module) for module in imported
               if not {name.lower().replace("_", "-") for name in distributions.get(module, [module])} & everything}
    assert missing == {}
    assert {"librosa", "soundfile", "soxr", "scipy"} <= declared["audio"] and "genhub" in declared["app"]
