"""genhub.voices: the two-voice speech dataset: deterministic for a seed, splits as specified (unpaired train and
test, a held-out paired split), Hub-layout parquet with an Audio column, the entry point, and espeak-ng itself."""

import shutil

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest

from genhub.audio import median_f0, read_audio
from genhub.voices import EspeakError, main, make_speech_domains, parse_args, plan, sentences

FILES = ("train-00000-of-00001.parquet", "test-00000-of-00001.parquet", "paired-00000-of-00001.parquet",
         "README.md")


def _rows(folder, split):
    return pq.read_table(folder / f"{split}-00000-of-00001.parquet").to_pylist()


def test_the_same_seed_gives_the_same_bytes(tmp_path):
    for name in ("first", "second"):
        make_speech_domains(tmp_path / name, num_train=4, num_test=2, num_paired=2, seed=3, synthetic=True)
    for file in FILES:
        assert (tmp_path / "first" / file).read_bytes() == (tmp_path / "second" / file).read_bytes(), file
    make_speech_domains(tmp_path / "other", num_train=4, num_test=2, num_paired=2, seed=4, synthetic=True)
    assert [row["text"] for row in _rows(tmp_path / "other", "train")] != \
        [row["text"] for row in _rows(tmp_path / "first", "train")]


def test_the_splits_are_unpaired_and_paired_as_specified(tmp_path):
    summary = make_speech_domains(tmp_path, num_train=6, num_test=3, num_paired=4, seed=0, synthetic=True)
    assert summary.rows == {"train": {"A": 6, "B": 6}, "test": {"A": 3, "B": 3}, "paired": {"A": 4, "B": 4}}
    rows = {split: _rows(tmp_path, split) for split in ("train", "test", "paired")}
    texts = {(split, voice): {row["text"] for row in rows[split] if row["voice"] == voice}
             for split in ("train", "test") for voice in "AB"}
    assert not texts["train", "A"] & texts["train", "B"]  # A and B never say the same training sentence
    assert not (texts["train", "A"] | texts["train", "B"]) & (texts["test", "A"] | texts["test", "B"])
    assert len(texts["train", "A"]) == 6
    pairs = {}
    for row in rows["paired"]:
        pairs.setdefault(row["utterance_id"], {})[row["voice"]] = row["text"]
    assert len(pairs) == 4 and all(set(pair) == {"A", "B"} and pair["A"] == pair["B"] for pair in pairs.values())
    held_out = {pair["A"] for pair in pairs.values()}
    assert not held_out & set().union(*texts.values())
    for split, audio_rows in rows.items():
        seconds = 0.0
        for row in audio_rows:
            waveform, note = read_audio(row["audio"]["bytes"])
            assert note.startswith("mono 16 kHz") and np.abs(waveform).max() > 0.4
            seconds += len(waveform) / 16000
        assert seconds == pytest.approx(summary.seconds[split], abs=1e-6)
    a_pitch = median_f0(read_audio(rows["paired"][0]["audio"]["bytes"])[0], 16000)
    b_pitch = median_f0(read_audio(rows["paired"][4]["audio"]["bytes"])[0], 16000)
    assert 100 * 0.95 < a_pitch < 140 * 1.05 and 200 * 0.95 < b_pitch < 260 * 1.05
    loaded = datasets.load_dataset("parquet", data_files={split: str(tmp_path / f"{split}-*.parquet")
                                                          for split in rows})
    assert loaded["train"].features["audio"] == datasets.Audio(sampling_rate=16000)
    assert loaded["paired"].column_names == ["audio", "voice", "text", "utterance_id"]
    card = (tmp_path / "README.md").read_text()
    assert "split: paired" in card and "| train | 6 | 6 |" in card and "synthetic_voice" in card


def test_sentences_and_the_plan():
    drawn = sentences(500, seed=0)
    assert len(set(drawn)) == 500 and drawn == sentences(500, seed=0) and drawn != sentences(500, seed=1)
    assert all(7 <= len(text.split()) <= 12 for text in drawn)
    rows = plan(num_train=2, num_test=1, num_paired=1, seed=0)
    assert [(row.split, row.voice.name, row.utterance_id) for row in rows] == [
        ("train", "A", "train-A-0000"), ("train", "A", "train-A-0001"), ("train", "B", "train-B-0000"),
        ("train", "B", "train-B-0001"), ("test", "A", "test-A-0000"), ("test", "B", "test-B-0000"),
        ("paired", "A", "paired-0000"), ("paired", "B", "paired-0000")]
    with pytest.raises(ValueError, match=">= 0"):
        plan(-1, 0, 0, 0)


def test_the_entry_point_prints_what_it_wrote(tmp_path, capsys):
    main(parse_args(["--output_dir", str(tmp_path), "--num_train", "2", "--num_test", "1", "--num_paired", "1",
                     "--synthetic"]))
    printed = capsys.readouterr().out
    assert " train: 2 voice A + 2 voice B" in printed and "paired: 1 voice A + 1 voice B" in printed
    assert f"wrote {tmp_path} (synthetic)" in printed and "s of audio in" in printed


def test_without_espeak_ng_the_error_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it
    with pytest.raises(EspeakError, match="apt-get install espeak-ng"):
        make_speech_domains(tmp_path / "out", 1, 0, 0)
    with pytest.raises(SystemExit) as stopped:
        main(parse_args(["--output_dir", str(tmp_path / "out")]))
    assert stopped.value.code == 2 and "--synthetic" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_espeak_ng_speaks_two_sentences_in_two_voices(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: `apt-get install espeak-ng` (or `make audio-tools` as root)")
    summary = make_speech_domains(tmp_path / "first", num_train=1, num_test=0, num_paired=0, seed=0)
    assert summary.engine.startswith("espeak-ng ") and summary.rows["train"] == {"A": 1, "B": 1}
    rows = _rows(tmp_path / "first", "train")
    pitch = {}
    for row in rows:
        waveform, note = read_audio(row["audio"]["bytes"])
        assert note.startswith("mono 16 kHz") and 1.0 < len(waveform) / 16000 < 8.0
        pitch[row["voice"]] = median_f0(waveform, 16000)
    assert pitch["A"] < 130 < 180 < pitch["B"]  # measured about 90 and 220 Hz
    make_speech_domains(tmp_path / "second", num_train=1, num_test=0, num_paired=0, seed=0)
    assert rows == _rows(tmp_path / "second", "train")  # espeak-ng is deterministic
