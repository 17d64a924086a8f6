"""Publishing to the Hub and pulling back, against the local Hub-compatible server of tests/hub_server.py.

Everything that talks to the server runs in a fresh interpreter (see the docstring of hub_server.py for
why): the real ``python -m genhub.hub.publish`` and training CLIs, and small scripts that pull. Scripts
get their parameters as JSON in ``sys.argv[1]`` and print their results as JSON on the last line.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hub_server import HubServer
from huggingface_hub import metadata_load
from safetensors.torch import load_file, save_file

from conftest import ROOT, tiny_dcgan_args
from genhub.app.loading import load_model
from genhub.app.registry import ModelSpec
from genhub.hub.card import write_model_card
from genhub.hub.publish import PublishError, push_export
from genhub.models import DCGAN

EXPORT_FILES = {"config.json", "model.safetensors", "README.md", "samples.png", "training_info.json"}
METRICS = {"heldout_real_probability": 0.4375}
METRIC_DESCRIPTIONS = {"heldout_real_probability": "The discriminator's mean P(real) on the held-out faces."}


def run(command: list[str], env: dict[str, str], cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=cwd,
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, f"{command} failed:\n{result.stderr[-5000:]}"
    return result


def run_python(code: str, env: dict[str, str], cwd: Path = ROOT, **params) -> dict:
    """Run ``code`` in a fresh interpreter with ``params`` as JSON in argv[1]; returns its last line, parsed."""
    result = run([sys.executable, "-c", textwrap.dedent(code), json.dumps(params, default=str)], env, cwd)
    return json.loads(result.stdout.strip().splitlines()[-1])


def publish(hub: HubServer, folder: Path, repo_id: str, home: Path) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "genhub.hub.publish", str(folder), "--hub_model_id", repo_id], hub.env(home))


def perturbed_copy(source: Path, target: Path, delta: float) -> Path:
    """A copy of an export whose weights are shifted by ``delta`` (a different, still loadable model)."""
    shutil.copytree(source, target)
    weights = {k: v + delta if v.is_floating_point() else v for k, v in load_file(source / "model.safetensors").items()}
    save_file(weights, target / "model.safetensors", metadata={"format": "pt"})
    return target


def assert_same_weights(saved: Path, export: Path) -> None:
    """``saved``: a state dict written by a pulling script; ``export``: the folder it should equal."""
    expected, pulled = DCGAN.from_pretrained(export).state_dict(), load_file(saved)
    assert expected.keys() == pulled.keys()
    assert all(torch.equal(expected[k], pulled[k]) for k in expected)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = HubServer(tmp_path_factory.mktemp("hub")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def export(tiny_export, tmp_path_factory) -> Path:
    """The tiny export with held-out metrics (as a family's ``on_export`` adds them) and, beside it,
    training state of every kind that must never be uploaded."""
    folder = tmp_path_factory.mktemp("publish") / "dcgan"
    shutil.copytree(tiny_export, folder)
    info = json.loads((folder / "training_info.json").read_text())
    info.update(metrics=METRICS, metric_descriptions=METRIC_DESCRIPTIONS)
    (folder / "training_info.json").write_text(json.dumps(info, indent=2))
    write_model_card(folder, info)
    (folder / "logs").mkdir()
    (folder / "logs" / "events.out.tfevents.1").write_bytes(b"tensorboard")
    (folder / ".partial-checkpoint-9").mkdir()
    shutil.copy(folder / "model.safetensors", folder / ".partial-checkpoint-9" / "model.safetensors")
    for name in ("optimizer.bin", "random_states_0.pkl", "scheduler.bin"):
        (folder / name).write_bytes(b"state")
    assert (folder / "checkpoint-6" / "optimizer.bin").is_file() and any((folder / "samples").glob("*.png"))
    return folder


@pytest.fixture(scope="module")
def published(hub, export, tmp_path_factory) -> str:
    """The export pushed once through the real CLI; the repo id."""
    result = publish(hub, export, "genhub-test/dcgan", tmp_path_factory.mktemp("hf-home"))
    assert f"published {export} to {hub.url}/genhub-test/dcgan/commit/" in result.stdout
    return "genhub-test/dcgan"


def test_publish_uploads_the_export_and_no_training_state(hub, export, published):
    files = hub.files(published)
    assert set(files) == EXPORT_FILES  # no checkpoint-*, samples/, logs/, .partial-*, optimizer or RNG state
    assert all(files[name] == (export / name).read_bytes() for name in EXPORT_FILES)
    assert len(hub.history(published)) == 2  # the repo's initial commit + one upload


PULL = """
    import json, sys, torch
    from huggingface_hub import ModelCard, hf_hub_download, metadata_load
    from safetensors.torch import save_file
    from genhub.models import DCGAN

    p = json.loads(sys.argv[1])
    model = DCGAN.from_pretrained(p["repo"])
    images = model.sample(4, generator=torch.Generator().manual_seed(0))
    save_file({"images": images, "p_real": model.real_probability(images)}, p["outputs"])
    save_file(model.state_dict(), p["weights"])
    card = ModelCard.load(p["repo"])
    card.validate()  # POST /api/validate-yaml
    print(json.dumps({"card": card.data.to_dict(), "metadata": metadata_load(hf_hub_download(p["repo"], "README.md"))}))
"""


def test_pulled_model_is_bit_identical_and_its_card_parses(hub, export, published, tmp_path):
    result = run_python(PULL, hub.env(tmp_path / "hf"), repo=published, outputs=tmp_path / "outputs.safetensors",
                        weights=tmp_path / "weights.safetensors")
    assert_same_weights(tmp_path / "weights.safetensors", export)
    local = DCGAN.from_pretrained(export)
    images = local.sample(4, generator=torch.Generator().manual_seed(0))
    pulled = load_file(tmp_path / "outputs.safetensors")
    assert torch.equal(pulled["images"], images) and torch.equal(pulled["p_real"], local.real_probability(images))

    card = result["card"]
    assert card == result["metadata"] == metadata_load(export / "README.md")
    assert card["library_name"] == "genhub" and card["pipeline_tag"] == "unconditional-image-generation"
    assert {"genhub", "dcgan", "gan"} <= set(card["tags"]) and card["license"] == "other"
    assert "datasets" not in card  # trained on a local folder, not a Hub dataset
    (entry,) = card["model-index"]
    assert entry["name"] == "dcgan"
    assert {m["type"]: m["value"] for r in entry["results"] for m in r["metrics"]} == METRICS
    text = (export / "README.md").read_text()
    assert METRIC_DESCRIPTIONS["heldout_real_probability"] in text and "samples.png" in text
    assert "DCGAN.from_pretrained(" in text and "python app.py --model KEY=" in text  # no registry key in training
    assert "a registry entry of family `dcgan`" in text


APP = """
    import json, sys
    import gradio as gr
    import app
    from genhub.app.loading import load_model
    from genhub.app.registry import resolve_registry
    from genhub.app.tabs.quiz import game as quiz

    p = json.loads(sys.argv[1])
    demo = app.build_demo([f"dcgan-faces={p['repo']}"])
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    loaded = load_model("dcgan-faces", resolve_registry([f"dcgan-faces={p['repo']}"])["dcgan-faces"])
    game = quiz.load_game(loaded)
    left, right, state = game.new_round(quiz.QuizState())
    verdict, state = game.guess(state, 0)
    print(json.dumps({"texts": texts, "error": loaded.error, "info": loaded.info, "played": state.played,
                      "sizes": [left.size, right.size]}))
"""


def test_app_loads_the_repo_id_and_plays_its_quiz(hub, export, published, tmp_path):
    result = run_python(APP, hub.env(tmp_path / "hf"), repo=published)
    assert result["error"] is None and result["info"] == json.loads((export / "training_info.json").read_text())
    assert any(text.startswith("## Which face is fake?") for text in result["texts"])
    assert not any("dcgan-faces** is not available" in text for text in result["texts"])
    assert result["played"] == 1 and result["sizes"] == [[32, 32]] * 2  # the model's resolution: the page enlarges


LOAD = """
    import json, shutil, sys
    from safetensors.torch import save_file
    from genhub.app.loading import load_model
    from genhub.app.registry import ModelSpec

    p = json.loads(sys.argv[1])
    errors = []
    for location, out, local_copy in p["steps"]:
        if local_copy:
            shutil.copytree(local_copy, location.split("@")[0])
        loaded = load_model("dcgan-faces", ModelSpec("dcgan", location))
        errors.append(loaded.error)
        if loaded.model is not None:
            save_file(loaded.model.state_dict(), out)
    print(json.dumps(errors))
"""


def test_second_push_updates_the_repo_and_a_pinned_revision_keeps_the_old_weights(hub, export, tmp_path):
    repo, home = "genhub-test/versions", tmp_path / "hf"
    publish(hub, export, repo, home)
    first = hub.history(repo)[0]
    second_export = perturbed_copy(export, tmp_path / "second", 0.5)
    publish(hub, second_export, repo, home)

    history = hub.history(repo)
    assert len(history) == 3 and history[1] == first
    old, new = hub.files(repo, first), hub.files(repo)
    assert new["model.safetensors"] == (second_export / "model.safetensors").read_bytes()
    assert old["model.safetensors"] == (export / "model.safetensors").read_bytes()
    assert {name for name in new if new[name] != old[name]} == {"model.safetensors"}

    steps = [(f"{repo}@{first}", tmp_path / "pinned.safetensors", None), (repo, tmp_path / "main.safetensors", None)]
    assert run_python(LOAD, hub.env(tmp_path / "fresh-hf"), steps=steps) == [None, None]
    assert_same_weights(tmp_path / "pinned.safetensors", export)
    assert_same_weights(tmp_path / "main.safetensors", second_export)


def test_resolution_order_is_local_folder_then_cache_then_hub(hub, export, tmp_path):
    repo, home, work = "genhub-test/order", tmp_path / "hf", tmp_path / "work"
    work.mkdir()
    hub.upload(repo, export)
    assert run_python(LOAD, hub.env(home), steps=[(repo, tmp_path / "hub.safetensors", None)]) == [None]
    assert_same_weights(tmp_path / "hub.safetensors", export)  # nothing local, nothing cached: the Hub

    newer = hub.upload(repo, perturbed_copy(export, tmp_path / "newer", 0.5))
    local = perturbed_copy(export, tmp_path / "local", -0.5)
    steps = [(repo, tmp_path / "cached.safetensors", None),
             (f"{repo}@{newer}", tmp_path / "pinned.safetensors", None),
             (repo, tmp_path / "local.safetensors", local)]
    assert run_python(LOAD, hub.env(home), cwd=work, steps=steps) == [None, None, None]
    assert_same_weights(tmp_path / "cached.safetensors", export)  # the cache wins over the Hub's newer main
    assert_same_weights(tmp_path / "pinned.safetensors", tmp_path / "newer")  # not cached: from the Hub
    assert_same_weights(tmp_path / "local.safetensors", local)  # a local folder wins over the cache


def test_offline_and_not_cached_says_how_to_fetch_it():
    spec = ModelSpec("dcgan", "genhub-test/never-published@0123abcd", "make starter")
    loaded = load_model("dcgan-faces", spec)  # this process is offline (tests/conftest.py)
    assert loaded.model is None
    assert "genhub-test/never-published@0123abcd is not in the Hugging Face cache" in loaded.error
    assert "hf download genhub-test/never-published --revision 0123abcd" in loaded.error
    assert "make starter" in loaded.missing_message


def test_push_to_hub_at_the_end_of_training(hub, faces_dir, tmp_path):
    out, repo = tmp_path / "run", "genhub-test/trained"
    run([sys.executable, "training/train_dcgan.py",
         *tiny_dcgan_args(faces_dir, out, "--max_train_steps", "2", "--save_images_steps", "1",
                          "--push_to_hub", "--hub_model_id", repo)], hub.env(tmp_path / "hf"))
    assert (out / "checkpoint-2").is_dir() and (out / "samples").is_dir()
    files = hub.files(repo)
    assert set(files) == EXPORT_FILES
    assert all(files[name] == (out / name).read_bytes() for name in EXPORT_FILES)
    info = json.loads(files["training_info.json"])
    assert info["global_step"] == 2 and info["command"].startswith("accelerate launch training/train_dcgan.py")
    assert f'DCGAN.from_pretrained("{repo}")' in files["README.md"].decode()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_unreachable_hub_fails_cleanly_and_keeps_the_export(export, tmp_path):
    before = _snapshot(export)
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}", "HF_HUB_OFFLINE": "0", "HF_TOKEN": "token",
           "HF_HOME": str(tmp_path / "hf")}
    result = run([sys.executable, "-m", "genhub.hub.publish", str(export), "--hub_model_id", "genhub-test/x"], env,
                 check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: could not publish {export} to genhub-test/x")
    assert "The export is intact" in result.stderr and "--hub_model_id genhub-test/x" in result.stderr
    assert _snapshot(export) == before


def test_publish_errors_in_process(export, tmp_path):
    before = _snapshot(export)
    with pytest.raises(PublishError, match="(?s)could not publish .* The export is intact"):
        push_export(export, "genhub-test/offline")  # this process is offline
    assert _snapshot(export) == before
    with pytest.raises(PublishError, match="holds no export"):
        push_export(tmp_path, "genhub-test/empty")
    with pytest.raises(PublishError, match="needs --hub_model_id"):
        push_export(export, None)
