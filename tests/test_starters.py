"""First run on any machine: a starter for every registry entry, local locations never sent to the Hub, and a
fast, single answer when the Hub cannot be reached."""

import importlib
import json
import shlex
import shutil
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import one_torch_thread
from genhub.app import families, loading, starters
from genhub.app.loading import load_model
from genhub.app.registry import DEFAULT_MODELS, ModelSpec, is_local, resolve_registry
from genhub.app.starters import STARTERS, missing
from genhub.hub.info import read_training_info
from genhub.models import MODEL_CLASSES
from genhub.models.face_features import VERSION


def test_every_registry_entry_has_a_starter():
    assert set(STARTERS) == set(DEFAULT_MODELS)
    for key, starter in STARTERS.items():
        assert starter.family == DEFAULT_MODELS[key].family.replace("-", "_")
        assert all(minutes > 0 for minutes in starter.minutes)


def test_the_plan_puts_each_job_in_the_lane_that_frees_first():
    assert starters.makespan([5, 3, 2, 2], 2) == 7 and starters.makespan([5, 3, 2, 2], 1) == 12
    assert starters.makespan([], 2) == 0


@pytest.mark.parametrize("key", sorted(DEFAULT_MODELS))
def test_the_registry_recipe_and_both_starter_recipes_are_valid_commands_of_the_family(key):
    """Every flag of the README's reference run and of the starters is one the family's script takes (a renamed
    flag would otherwise surface only when a user runs the command)."""
    starter = STARTERS[key]
    parse_args = importlib.import_module(f"genhub.train.{starter.family}").parse_args
    recipe = shlex.split(DEFAULT_MODELS[key].recipe.rpartition("&& ")[2])  # the training, after any data step
    assert recipe[:3] == ["accelerate", "launch", f"training/train_{starter.family}.py"]
    for argv in (recipe[3:], [*starter.flags(Path("data")), "--output_dir", "x"],
                 [*starter.flags(None), "--output_dir", "x"]):
        parse_args(argv)  # argparse exits on an unknown flag or a bad value


def test_registry_defaults_are_explicitly_local_and_overrides_follow_the_rule(tmp_path, monkeypatch):
    assert all(spec.local is True for spec in DEFAULT_MODELS.values())
    (tmp_path / "export").mkdir()
    monkeypatch.chdir(tmp_path)
    assert is_local("./anything") and is_local("../x/y") and is_local("/abs/path") and is_local("~/models/m")
    assert is_local("export")  # exists on disk
    assert not is_local("org/name") and not is_local("org/name@0123abc")
    assert not is_local("checkpoints/vae-faces-64-not-here")  # reads as org/name: a repo id unless it exists
    registry = resolve_registry(["dcgan-faces=org/name@abc", "vae-faces=./mine"])
    assert (registry["dcgan-faces"].local, registry["vae-faces"].local) == (False, True)
    assert registry["pix2pix-sketch2face"].local is True  # the default's own, explicit


@pytest.fixture
def no_network(monkeypatch):
    """Every TCP connection attempt fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_a_missing_local_folder_fails_at_once_without_any_network_call(no_network, monkeypatch):
    monkeypatch.setattr(loading, "is_offline_mode", lambda: False)  # even online, a folder is never a repo id
    start = time.perf_counter()
    absent = replace(DEFAULT_MODELS["vae-faces"], location="checkpoints/no-such-vae-64")  # whatever this checkout has
    loaded = load_model("vae-faces", absent)
    assert time.perf_counter() - start < 0.5
    assert loaded.model is None and loaded.error == "no folder `checkpoints/no-such-vae-64`"
    message = loaded.missing_message
    assert "python -m genhub.app.starters --keys vae-faces" in message and "make demo" in message


def test_an_unreachable_hub_is_asked_once_and_named(monkeypatch):
    calls = []

    def unreachable(address, timeout=None):
        calls.append(address)
        raise OSError("network is unreachable")

    loading.hub_reachable.cache_clear()
    monkeypatch.setattr(loading, "is_offline_mode", lambda: False)
    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    try:
        first = load_model("dcgan-faces", ModelSpec("dcgan", "genhub-test/not-cached", local=False))
        second = load_model("vae-faces", ModelSpec("vae", "genhub-test/other", local=False))
    finally:
        loading.hub_reachable.cache_clear()
    assert len(calls) == 1  # one probe for the whole process
    assert "cannot be reached from here" in first.error and "hf download genhub-test/not-cached" in first.error
    assert second.model is None and "cannot be reached" in second.error


def test_missing_lists_only_local_entries_without_an_export(tiny_export, tmp_path):
    registry = {"dcgan-faces": ModelSpec("dcgan", str(tiny_export)),
                "vae-faces": ModelSpec("vae", str(tmp_path / "none"), local=True),
                "pix2pix-sketch2face": ModelSpec("pix2pix", "org/name", local=False)}
    assert missing(registry) == ["vae-faces"]


@pytest.mark.parametrize("key", sorted(STARTERS))
def test_a_shipped_starter_run_for_a_few_steps_exports_a_loadable_folder(key, tmp_path, monkeypatch):
    """The recipe a machine without ../shared/data trains, cut to 3 steps, through the real starter runner."""
    monkeypatch.setattr(starters, "SHARED_DATA", tmp_path / "no-shared-data")
    monkeypatch.setattr(families, "espeak_installed", lambda: False)  # speech: its own test
    monkeypatch.setattr(starters, "JUDGE_FOLDER", str(tmp_path / "no-judge"))  # judged: the next test
    starter = STARTERS[key]
    short = starters.Starter(starter.family, starter.shared, (*starter.shipped, "--max_train_steps", "3"),
                             starter.minutes)
    monkeypatch.setitem(STARTERS, key, short)
    spec = ModelSpec(DEFAULT_MODELS[key].family, str(tmp_path / key), local=True)
    monkeypatch.setattr(starters, "resolve_registry", lambda: {key: spec})
    with one_torch_thread():
        assert starters.main(["--keys", key, "--lanes", "1"]) == 0
    info = read_training_info(tmp_path / key)
    assert info["global_step"] == 3 and info["command"].startswith(f"accelerate launch training/train_{starter.family}")
    model = MODEL_CLASSES[spec.family].from_pretrained(tmp_path / key)
    assert model.resolution == info["resolution"]
    assert load_model(key, spec).error is None
    assert starters.missing({key: spec}) == []


def test_with_espeak_ng_the_voice_starter_speaks_its_data_first_and_converts_speech(tmp_path, monkeypatch, capsys):
    """Where espeak-ng is installed, the voice starter makes the speech folder once (here 6 sentences a voice) and
    trains on it (cut to 3 steps); without espeak-ng it would train on the vowel-only voices."""
    import genhub.voices
    from genhub.voices import espeak_version, make_speech_domains

    try:
        espeak_version()
    except genhub.voices.EspeakError:
        pytest.skip("espeak-ng is not installed (make audio-tools)")
    made = []
    monkeypatch.setattr(genhub.voices, "make_speech_domains",
                        lambda folder: made.append(make_speech_domains(folder, num_train=6, num_test=2, num_paired=2)))
    monkeypatch.setattr(starters, "SPEECH_DATA", tmp_path / "voices")
    monkeypatch.setattr(families, "SPEECH_DATA", tmp_path / "voices")
    monkeypatch.setattr(starters, "SHARED_DATA", tmp_path / "no-shared-data")  # speech needs espeak-ng, not ../shared
    monkeypatch.setattr(starters, "JUDGE_FOLDER", str(tmp_path / "no-judge"))  # no judge: no floor evaluation here
    starter = STARTERS["cyclegan-voices"]
    assert starter.first(None) and "{speech}" in starter.shared and starter.estimate(None) == starter.minutes[0]
    assert not STARTERS["dcgan-faces"].first(None)  # the image starters still need the shared data
    short = replace(starter, shared=(*starter.shared, "--max_train_steps", "3"))
    monkeypatch.setitem(STARTERS, "cyclegan-voices", short)
    spec = ModelSpec("cyclegan", str(tmp_path / "voices-export"), local=True)
    monkeypatch.setattr(starters, "resolve_registry", lambda: {"cyclegan-voices": spec})
    with one_torch_thread():
        assert starters.main(["--keys", "cyclegan-voices", "--lanes", "1"]) == 0
        shutil.rmtree(tmp_path / "voices-export")
        assert starters.main(["--keys", "cyclegan-voices", "--lanes", "1"]) == 0  # the speech is made once
    info = read_training_info(tmp_path / "voices-export")
    assert len(made) == 1 and made[0].engine.startswith("espeak-ng")
    assert Path(info["dataset"]).resolve() == (tmp_path / "voices").resolve() and info["global_step"] == 3
    assert "speaking the voice starter's clips with espeak-ng" in capsys.readouterr().out


def test_with_the_shared_data_the_judge_trains_beside_a_starter_and_each_starter_records_its_floor(
        tmp_path, monkeypatch, capsys):
    """The first run trains the feature network and a starter in two lanes (processes), then evaluates the starter
    for its floor (recipes cut to 3 steps; the judge's tiny)."""
    from conftest import SHARED_DATA
    from genhub.evaluation.floors import SPACE

    if not (SHARED_DATA / "faces_celeba").is_dir():
        pytest.skip("the judge trains on ../shared/data")
    judge = starters.Starter("face_features", ("--dataset", "{data}/faces_celeba", "--nonface_dataset",
                                               "{data}/nonface_flowers_128", "--resolution", "32", "--width", "4",
                                               "--train_batch_size", "16", "--max_train_steps", "3"), (), (0.1, 0.0))
    monkeypatch.setattr(starters, "JUDGE", judge)
    monkeypatch.setattr(starters, "JUDGE_FOLDER", str(tmp_path / "face-features"))
    monkeypatch.setattr(starters, "EVALUATION_IMAGES", 16)
    dcgan = STARTERS["dcgan-faces"]
    monkeypatch.setitem(STARTERS, "dcgan-faces", replace(dcgan, shared=(*dcgan.shared, "--max_train_steps", "3")))
    spec = ModelSpec("dcgan", str(tmp_path / "dcgan-faces"), local=True)
    monkeypatch.setattr(starters, "resolve_registry", lambda: {"dcgan-faces": spec})
    monkeypatch.setattr(starters, "LOGS", tmp_path / "logs")
    assert starters.main(["--keys", "dcgan-faces", "--lanes", "2"]) == 0  # two processes of one thread each
    assert read_training_info(tmp_path / "face-features")["global_step"] == 3
    assert "training" in (tmp_path / "logs" / "dcgan-faces.train.log").read_text()  # its progress bar
    floor = read_training_info(tmp_path / "dcgan-faces")["floor"]
    assert floor["space"] == SPACE and floor["passed"] in (True, False) and len(floor["checks"]) == 2
    out = capsys.readouterr().out
    assert "first the judge of every floor" in out
    assert "dcgan-faces: trained in" in out and ("passes its floor: face check" in out or "BELOW its floor" in out)
    # a verdict of another judge's space is judged again, without training: in one lane here
    info_file = tmp_path / "dcgan-faces" / "training_info.json"
    info_file.write_text(json.dumps({**json.loads(info_file.read_text()), "floor": {**floor, "space": "v2"}}))
    assert starters.main(["--keys", "dcgan-faces", "--lanes", "1"]) == 0
    assert read_training_info(tmp_path / "dcgan-faces")["floor"] == floor
    out = capsys.readouterr().out
    assert "judged again in the current judge's space: dcgan-faces" in out and "trained in" not in out


def test_a_judge_of_another_version_is_set_aside_and_not_used(tmp_path, capsys):
    folder = tmp_path / "face-features"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "config.json").write_text(json.dumps({"version": "2"}))
    assert not starters.judge_current(folder)
    starters.set_aside_old_judge(folder)
    assert not folder.exists() and (tmp_path / "face-features-v2" / "model.safetensors").is_file()
    assert "face-features-v2" in capsys.readouterr().out
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "config.json").write_text(json.dumps({"version": VERSION}))
    assert starters.judge_current(folder)
    stopped = tmp_path / "stopped"  # a judge's training stopped before its export: it resumes, in place
    (stopped / "checkpoint-250").mkdir(parents=True)
    starters.set_aside_old_judge(stopped)
    assert (stopped / "checkpoint-250").is_dir() and not starters.judge_current(stopped)


def test_an_export_without_a_verdict_of_this_judge_is_judged_again(tiny_export, tiny_pixelcnn_export, tmp_path):
    from genhub.evaluation.floors import SPACE

    def export(name: str, family: str, source: Path, floor: dict | None) -> ModelSpec:
        folder = shutil.copytree(source, tmp_path / name)
        info = json.loads((folder / "training_info.json").read_text())
        (folder / "training_info.json").write_text(json.dumps({**info, "floor": floor}))
        return ModelSpec(family, str(folder), local=True)

    v2 = {"passed": True, "checks": [], "space": "genhub-face-features v2"}
    registry = {"old": export("old", "dcgan", tiny_export, v2),
                "never": export("never", "pixelcnn", tiny_pixelcnn_export, None),  # a floor since v3
                "judged": export("judged", "dcgan", tiny_export, {"passed": False, "checks": [], "space": SPACE}),
                "absent": ModelSpec("dcgan", str(tmp_path / "absent"), local=True)}
    assert starters.unjudged(registry) == ["old", "never"]
