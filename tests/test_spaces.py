"""Space folders: valid front matter, apps that build, and self-contained bundles."""

import importlib.util
import os
import subprocess
import sys

import gradio as gr
import pytest
from huggingface_hub import SpaceCard

from conftest import ROOT
from genhub.app.registry import DEFAULT_MODELS
from genhub.app.tabs import tab
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


#: Space -> (its entry of genhub.app.tabs.TABS, the options it adds, public endpoints with only the DCGAN present:
#: the quiz plays it alone, its VAE and DDPM named as missing).
#: Space -> (its tab, its build options, its public API): the tab's whole API, its models there or not (a Space of
#: public data shows no held-out photos, so the latent explorer's held-out-face events are not there).
SPACE_TABS = {
    "which-face-is-fake": ("quiz", {"stats"}, set(tab("quiz").api_names)),
    "image-to-image": ("translate", set(), set(tab("translate").api_names)),
    "latent-explorer": ("latent", {"held_out_examples"}, set(tab("latent").api_names) - {
        "vae_faces_held_out_face", "ae_vs_vae_held_out_face", "ae_vs_vae_random_held_out_face",
        "ae_vs_vae_interpolate"}),
    "diffusion": ("diffusion", {"held_out_examples"}, set(tab("diffusion").api_names)),
    "autoregressive": ("autoregressive", {"held_out_examples"}, set(tab("autoregressive").api_names)),
    "style-mixing": ("style", set(), set(tab("style").api_names)),
    "voice-conversion": ("voice", set(), set(tab("voice").api_names)),
}


def test_every_space_folder_is_in_the_table():
    assert set(SPACE_TABS) == set(SPACES) - {"hub"}


@pytest.mark.parametrize("name", sorted(set(SPACES) - {"hub"}))
def test_space_app_builds_its_demo(name, tiny_export, monkeypatch, tmp_path):
    # only the DCGAN, whatever checkpoints/ holds: every other key points at a folder that does not exist
    absent = [f"{key}={tmp_path / key}" for key in DEFAULT_MODELS if key != "dcgan-faces"]
    monkeypatch.setenv("GENHUB_MODELS", ",".join([f"dcgan-faces={tiny_export}", *absent]))
    spec = importlib.util.spec_from_file_location(f"space_{name.replace('-', '_')}", SPACES[name] / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entry, options, api = SPACE_TABS[name]
    assert (module.TAB.name, module.TAB.keys, set(module.TAB.options)) == (entry, tab(entry).keys, options)
    assert module.demo.config["title"] == module.TAB.title
    api_names = {fn.api_name for fn in module.demo.fns.values() if fn.api_visibility == "public"}
    assert api_names == api and api_names <= set(module.TAB.api_names)
    texts = [block.value or "" for block in module.demo.blocks.values() if isinstance(block, gr.Markdown)]
    missing = {key for key in module.TAB.keys if any(f"Model **{key}** is not available" in t for t in texts)}
    # the autoregressive tab names only its PixelCNN: the other two models only join its outlier comparison
    assert missing == ({"pixelcnn-faces"} if name == "autoregressive" else set(module.TAB.keys) - {"dcgan-faces"})
    if name == "latent-explorer":  # a public Space shows no held-out photos (the face data's terms)
        assert module.TAB.options["held_out_examples"] is False


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
