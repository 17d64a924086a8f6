"""Voice conversion: spectrogram windows as CycleGAN data, the paired split, the measurements, and the Voice tab's
pure functions and events through gradio_client with hostile clips. Exact resume for the audio configuration is
tests/test_resume.py's second ``cyclegan`` row."""

import io
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from conftest import served_tab
from genhub.app.loading import load_model
from genhub.app.registry import ModelSpec
from genhub.app.tabs import tab, voice
from genhub.audio import square_spec, synthetic_voice, translate_clip, windows
from genhub.data import DataSpec, load_source, load_split
from genhub.evaluation.voice import paired_clips, voice_metrics
from genhub.hub.info import data_spec

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


def voices_spec(folder) -> DataSpec:
    return DataSpec(str(folder), 64, 1, {"real_A": None, "real_B": None}, "voice", {"real_A": "A", "real_B": "B"},
                    modality="audio")


def test_clips_become_half_overlapping_log_mel_windows(voices_dir):
    train = load_split(voices_spec(voices_dir), "train")
    assert sorted(load_source(str(voices_dir))) == ["paired", "test", "train"]  # the paired split stays apart
    item = train[0]
    assert set(item) == {"real_A", "real_B"} and item["real_A"].shape == (1, 64, 64)
    assert item["real_A"].min() >= -1 and item["real_A"].max() <= 1
    first = train.domain_a
    expected = windows(first.spec.mel(first.clip(0)), 64)
    assert torch.equal(first.windows[: len(expected)], expected)
    with pytest.raises(Exception, match="unpaired voice conversion"):
        load_split(DataSpec(str(voices_dir), 64, 1, modality="audio"), "train")


def test_a_clip_is_translated_window_by_window_to_its_exact_length():
    spec = square_spec(64)
    mel = spec.mel(synthetic_voice("a short test of the windows", seconds=1.7))
    assert torch.allclose(translate_clip(mel, lambda w: w, 64), mel, atol=1e-6)  # identity: the clip itself
    shifted = translate_clip(mel, lambda w: w * 0.5, 64)
    assert shifted.shape == mel.shape and torch.allclose(shifted, mel * 0.5, atol=1e-6)


class _Identity(torch.nn.Module):
    """A "CycleGAN" whose generators change nothing: conversion distance = the unconverted distance."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def translate(self, images, direction="AB"):
        return images


def test_the_measurements_compare_conversion_with_the_unconverted_clip(voices_dir):
    spec = voices_spec(voices_dir)
    clips_a, clips_b, pairs = paired_clips(spec)
    assert len(pairs) == 2
    assert [clips_a.table[a]["utterance_id"] for a, _ in pairs] == [clips_b.table[b]["utterance_id"] for _, b in pairs]
    assert clips_a.table[pairs[0][0]]["text"] == clips_b.table[pairs[0][1]]["text"]
    metrics = voice_metrics(_Identity(), spec)
    assert metrics["dtw_l1 A->B"] == pytest.approx(metrics["dtw_l1 A->B unconverted"], abs=1e-6)
    assert metrics["cycle L1 A"] == pytest.approx(0.0, abs=1e-6) and metrics["paired sentences"] == 2
    assert metrics["median F0 B (Hz)"] > 1.4 * metrics["median F0 A (Hz)"]  # the synthetic voices' pitches


@pytest.fixture(scope="module")
def loaded(tiny_voice_export):
    return load_model(voice.KEY, ModelSpec("cyclegan", str(tiny_voice_export)))


def wav(tmp_path, name: str, seconds: float, rate: int = 16000, channels: int = 1):
    samples = synthetic_voice("hello there", seconds=seconds, sample_rate=rate)
    if channels > 1:
        samples = np.stack([samples] * channels, axis=1)
    path = tmp_path / name
    soundfile.write(path, samples, rate)
    return path


def test_convert_returns_the_three_clips_their_spectrograms_and_a_note(loaded, tmp_path):
    heard, converted, cycled, panel, note = voice.convert(loaded.model, str(wav(tmp_path, "a.wav", 1.5, 44100, 2)),
                                                          "AB", {"A": "low voice", "B": "high voice"})
    assert heard[0] == converted[0] == cycled[0] == 16000 and heard[1].dtype == np.int16
    frames = 1 + len(heard[1]) // 256
    assert len(converted[1]) == len(cycled[1]) == 256 * (frames - 1)  # the clip's length, to the STFT hop
    assert "stereo 44.1 kHz → mono 16 kHz" in note and "low voice → high voice" in note
    assert panel.size == (voice.SPECTROGRAM_DISPLAY, 3 * (64 * voice.BAND_PIXELS + 16))  # three, labelled
    with pytest.raises(ValueError, match="Cannot use this audio: .*short"):
        voice.convert(loaded.model, str(wav(tmp_path, "b.wav", 0.1)), "AB", {"A": "a", "B": "b"})
    with pytest.raises(ValueError, match="direction"):
        voice.convert(loaded.model, str(wav(tmp_path, "c.wav", 1.0)), "AC", {"A": "a", "B": "b"})


def test_a_held_out_clip_of_the_source_voice(loaded):
    # row 3 wraps around the 2 held-out clips of voice B
    (rate, samples), note = voice.held_out_clip(voice.held_out_clips(loaded), "BA", 3)
    assert rate == 16000 and len(samples) > 16000 and "Held-out clip 1 of voice B" in note
    assert data_spec(loaded.info).modality == "audio"


@pytest.fixture(scope="module")
def served(loaded):
    with served_tab(voice, {voice.KEY: loaded}) as served_demo:
        yield served_demo


def test_every_event_through_gradio_client_with_hostile_clips(served, tmp_path):
    demo, client = served
    events = {fn.api_name: fn for fn in demo.fns.values()}
    assert {name for name, fn in events.items() if fn.api_visibility == "public"} == set(tab("voice").api_names)
    # the conversion it opens with, and the voices' names and held-out controls of the served export
    direction, row, pick, (_, clip), (_, heard), (_, converted), _, panel, note, _ = events[
        "voice_first_conversion"].fn(None)
    assert len(heard) == len(clip) and len(converted) > 0 and "Converted" in note and Path(panel).is_file()
    assert [value for _, value in direction["choices"]] == ["AB", "BA"] and row["visible"] and pick["visible"]
    *_, note = client.predict(handle_file(str(wav(tmp_path, "ok.wav", 1.2))), "AB", api_name="/voice_convert")
    assert "mono 16 kHz, 1.2 s" in note
    *_, note = client.predict(handle_file(str(wav(tmp_path, "stereo.wav", 1.0, 44100, 2))), "BA",
                              api_name="/voice_convert")
    assert "stereo 44.1 kHz → mono 16 kHz" in note
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" + bytes(100))
    long_clip = io.BytesIO()
    soundfile.write(long_clip, np.zeros(16000 * 25, dtype=np.float32), 16000, format="WAV")
    (tmp_path / "long.wav").write_bytes(long_clip.getvalue())
    for name, message in (("corrupt.wav", "Cannot use this audio"), ("long.wav", "longer than|20 s"),
                          (wav(tmp_path, "tiny.wav", 0.1).name, "short")):
        with pytest.raises(AppError, match=message):
            client.predict(handle_file(str(tmp_path / name)), "AB", api_name="/voice_convert")
    path, note = client.predict("AB", 0, api_name="/voice_held_out")
    assert "Held-out clip 0 of voice A" in note and soundfile.info(path).samplerate == 16000


def test_a_missing_model_keeps_every_endpoint_and_says_why(tmp_path):
    missing = load_model(voice.KEY, ModelSpec("cyclegan", str(tmp_path / "absent")))
    with gr.Blocks() as demo:
        voice.build(demo, {voice.KEY: missing})
    events = {fn.api_name: fn for fn in demo.fns.values()}
    assert set(tab("voice").api_names) <= set(events)  # the API exists before the model lands
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("Model **cyclegan-voices** is not available" in text for text in texts)
    for name, arguments in (("voice_convert", (None, "AB")), ("voice_held_out", ("AB", 0))):
        with pytest.raises(gr.Error, match=r"Model \*\*cyclegan-voices\*\* is not available"):
            events[name].fn(*arguments)
    assert events["voice_first_conversion"].fn(None) == (*[gr.skip()] * 9, None)  # nothing to show yet


def test_without_held_out_clips_their_controls_hide_and_the_note_says_why(tiny_voice_export, tmp_path):
    import json
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(tiny_voice_export, moved)
    info = json.loads((moved / "training_info.json").read_text())
    info["data"]["source"] = info["dataset"] = "/srv/private/secret-voices"
    (moved / "training_info.json").write_text(json.dumps(info))
    with gr.Blocks() as demo:
        voice.build(demo, {voice.KEY: load_model(voice.KEY, ModelSpec("cyclegan", str(moved)))})
    events = {fn.api_name: fn for fn in demo.fns.values()}
    _, row, pick, *_, note, _ = events["voice_first_conversion"].fn(None)
    assert not row["visible"] and not pick["visible"] and "`secret-voices`" in note and "/srv" not in note
    with pytest.raises(gr.Error, match="No held-out examples"):
        events["voice_held_out"].fn("AB", 0)
