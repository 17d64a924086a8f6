"""Space folders: valid front matter, apps that build, and self-contained bundles."""

import importlib.util
import os
import subprocess
import sys

import gradio as gr
import pytest
from huggingface_hub import SpaceCard

from conftest import ROOT
from genhub.hub.space_bundle import SPACES, bundle

REQUIRED = {"title", "sdk", "sdk_version", "app_file", "models", "tags", "short_description", "license"}


@pytest.mark.parametrize("name", sorted(SPACES))
def test_front_matter_is_a_valid_gradio_space(name):
    card = SpaceCard.load(SPACES[name] / "README.md")
    data = card.data.to_dict()
    assert REQUIRED <= set(data), REQUIRED - set(data)
    assert data["sdk"] == "gradio" and data["sdk_version"] == gr.__version__
    assert (SPACES[name] / data["app_file"]).is_file()
    assert len(data["short_description"]) <= 60
    assert data["models"] and all("/" in model for model in data["models"])


@pytest.mark.parametrize("name", sorted(set(SPACES) - {"hub"}))
def test_space_folders_are_thin_and_have_no_init(name):
    folder = SPACES[name]
    assert not (folder / "__init__.py").exists()  # the PyPI package `spaces` must stay importable
    assert (folder / "requirements.txt").read_text().strip() == "-r ../../requirements.txt"
    assert len((folder / "app.py").read_text().splitlines()) < 40


@pytest.mark.parametrize("name", sorted(set(SPACES) - {"hub"}))
def test_space_app_builds_its_demo(name, tiny_export, monkeypatch):
    monkeypatch.setenv("GENHUB_MODELS", f"dcgan-faces={tiny_export}")
    spec = importlib.util.spec_from_file_location(f"space_{name.replace('-', '_')}", SPACES[name] / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.demo, gr.Blocks)
    api_names = {dep.get("api_name") for dep in module.demo.config["dependencies"]}
    expected = {"which-face-is-fake": "new_round", "latent-explorer": "dcgan_faces_random_face"}
    assert name not in expected or expected[name] in api_names  # models missing here: image-to-image says so


def test_bundle_is_self_contained(tmp_path, tiny_export):
    out = bundle("which-face-is-fake", tmp_path / "space")
    assert {p.name for p in out.iterdir()} == {"README.md", "app.py", "genhub", "requirements.txt"}
    assert "torch==2.13.0" in (out / "requirements.txt").read_text()
    assert not list(out.rglob("__pycache__"))
    probe = "import app, genhub; print(type(app.demo).__name__, genhub.__file__)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=out, capture_output=True, text=True, timeout=300,
                            env={**env, "GENHUB_MODELS": f"dcgan-faces={tiny_export}"})
    assert result.returncode == 0, result.stderr[-2000:]
    kind, package = result.stdout.split()[-2:]
    assert kind == "Blocks" and package.startswith(str(out)) and not package.startswith(str(ROOT / "genhub"))


def test_bundle_refuses_unknown_names_and_non_empty_folders(tmp_path):
    with pytest.raises(ValueError, match="unknown Space"):
        bundle("nope", tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        bundle("hub", tmp_path / "full")
