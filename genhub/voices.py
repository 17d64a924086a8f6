"""Two speech domains for CycleGAN voice conversion, made offline: sentences from a seed, spoken by two voices.

Voice A is espeak-ng's ``en-us+m3`` (a male variant) lowered to pitch 30, voice B ``en-us+f4`` (a female variant)
raised to pitch 70, both at 150 words per minute (:data:`VOICES`). Each split is a parquet file in the Hub's
layout with the columns ``audio`` (a ``datasets.Audio`` feature holding 16 kHz mono 16-bit WAV bytes), ``voice``
("A" / "B"), ``text`` and ``utterance_id``:

- ``train`` and ``test``: unpaired. Every utterance has its own sentence: A and B never say the same sentence, and
  no test sentence is a training one.
- ``paired``: held-out sentences said by both voices, the pair sharing its ``utterance_id``: for evaluation only
  (log-mel L1 after DTW against the real other voice, F0 shift).

The sentences come from :func:`sentences` (built-in word lists and templates, no download). espeak-ng's output is
deterministic (same bytes for the same text and flags, checked with espeak-ng 1.51), so a seed gives the same
parquet bytes. ``synthetic=True`` speaks with :func:`genhub.audio.synthetic_voice` instead (vowels only; A at
100-140 Hz with natural formants, B at 200-260 Hz with formants x 1.15), for tests and machines without
espeak-ng.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import soundfile
from tqdm.auto import tqdm

from genhub.audio import read_audio, synthetic_voice

SAMPLE_RATE = 16000
SPLITS = ("train", "test", "paired")
_PLAIN_FEATURES = datasets.Features({"audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
                                     "voice": datasets.Value("string"), "text": datasets.Value("string"),
                                     "utterance_id": datasets.Value("string")})


class EspeakError(RuntimeError):
    """espeak-ng is not installed or failed; the message says how to install it or what it printed."""


@dataclass(frozen=True)
class Voice:
    """One speech domain.

    Parameters:
        name: the ``voice`` column's value.
        espeak_voice: espeak-ng's ``-v`` (language + variant; ``espeak-ng --voices=variant`` lists variants).
        espeak_pitch: ``-p``, 0-99 (espeak-ng's default 50).
        espeak_speed: ``-s``, words per minute (default 175).
        synthetic_pitch_hz: the range of :func:`synthetic_voice`'s F0 in Hz, one draw per utterance.
        synthetic_formant_shift: :func:`synthetic_voice`'s formant multiplier.
    """

    name: str
    espeak_voice: str
    espeak_pitch: int
    espeak_speed: int
    synthetic_pitch_hz: tuple[float, float]
    synthetic_formant_shift: float

    def espeak_command(self, wav_path: Path) -> list[str]:
        """The espeak-ng command that speaks UTF-8 text from stdin into a 22.05 kHz mono 16-bit WAV file."""
        return ["espeak-ng", "-v", self.espeak_voice, "-p", str(self.espeak_pitch), "-s", str(self.espeak_speed),
                "-b", "1", "--stdin", "-w", str(wav_path)]


VOICES = (Voice("A", "en-us+m3", 30, 150, (100.0, 140.0), 1.0),
          Voice("B", "en-us+f4", 70, 150, (200.0, 260.0), 1.15))

_WORDS = {
    "adj": "quiet old small bright cold warm green heavy gentle quick tired happy sudden narrow wooden silver "
           "empty busy careful distant golden humble loud plain round simple soft strange tall wild young".split(),
    "noun": "river garden window teacher farmer basket candle kitchen village letter mountain station bridge "
            "doctor engine pencil blanket market orchard sailor harbour ladder lantern meadow painter rabbit "
            "shepherd tower wagon violin".split(),
    "plural": "boats apples birds stones coins horses shells clocks books chairs ships lamps roses bells "
              "keys cups".split(),
    "past": "carried found painted followed opened watched mended counted pulled cleaned built visited "
            "gathered lifted noticed remembered".split(),
    "verb": "carry find paint follow open watch mend count pull clean build visit gather lift notice".split(),
    "place": "past the old mill|across the field|under the bridge|near the harbour|behind the station|"
             "along the river|beside the road|over the hill|into the forest|around the square".split("|"),
    "time": "this morning|last winter|before dinner|after the rain|every evening|at noon|on sunday|"
            "in the spring|late at night|early today".split("|"),
    "name": "anna peter maria john lucy thomas clara david helen robert emma oliver sarah george alice "
            "henry".split(),
    "number": "two three four five six seven eight nine ten twelve".split(),
}
_TEMPLATES = (
    "the {adj} {noun} {past} {number} {plural} {place}",
    "{name} {past} the {adj} {noun} {time}",
    "please {verb} the {adj} {plural} {place}",
    "{time} the {noun} {past} a {adj} {noun}",
    "{name} and {name} {past} {number} {adj} {plural}",
    "why did the {adj} {noun} {verb} the {plural} {time}",
    "we will {verb} the {noun} {place} {time}",
    "a {adj} {noun} {past} the {plural} {place}",
)


def sentences(count: int, seed: int) -> list[str]:
    """``count`` different English sentences of 7-12 words, drawn from built-in templates and word lists.

    Deterministic for a seed (numpy's PCG64 stream); a template's slots are filled independently, so the
    lists allow millions of sentences and a few thousand draws are almost all new.

    Raises:
        ValueError: ``count`` outside 0..100,000 (beyond that, repeats would make the draws slow to find new ones).
    """
    if not 0 <= count <= 100_000:
        raise ValueError(f"count must be between 0 and 100,000, got {count}")
    rng = np.random.default_rng(seed)
    found: dict[str, None] = {}  # an ordered set
    while len(found) < count:
        text = _TEMPLATES[rng.integers(len(_TEMPLATES))]
        while "{" in text:  # fill slot by slot, so "{name} and {name}" draws two names
            slot = text[text.index("{") + 1:text.index("}")]
            text = text.replace("{" + slot + "}", _WORDS[slot][rng.integers(len(_WORDS[slot]))], 1)
        found[text] = None
    return list(found)


def espeak_version() -> str:
    """espeak-ng's version, e.g. "1.51" (from ``espeak-ng --version``).

    Raises:
        EspeakError: espeak-ng is not on PATH.
    """
    if shutil.which("espeak-ng") is None:
        raise EspeakError("espeak-ng is not installed: install it with `apt-get install espeak-ng` (Debian/Ubuntu; "
                          "`make audio-tools` does it as root), or pass --synthetic for vowel-only synthetic voices.")
    line = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"text-to-speech:\s*(\S+)", line)
    return found.group(1) if found else line.strip()


def speak(text: str, voice: Voice, folder: Path) -> np.ndarray:
    """``text`` spoken by ``voice`` through espeak-ng, as float32 (n,) in [-1, 1] at 16 kHz (soxr resampling
    from espeak-ng's 22.05 kHz); ``folder`` holds the intermediate WAV file.

    Raises:
        EspeakError: espeak-ng failed (its message included).
    """
    wav_path = folder / f"{voice.name}.wav"
    result = subprocess.run(voice.espeak_command(wav_path), input=text, capture_output=True, text=True)
    if result.returncode != 0:
        raise EspeakError(f"espeak-ng failed for voice {voice.espeak_voice}: {result.stderr.strip()}")
    return read_audio(wav_path, SAMPLE_RATE, max_seconds=60.0)[0]


def synthesize(text: str, voice: Voice, seed: int) -> np.ndarray:
    """``text`` said by ``voice``'s synthetic counterpart: float32 (n,) at 16 kHz, peak 0.5, its pitch drawn
    from ``voice.synthetic_pitch_hz`` by ``seed`` and the text."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{voice.name}:{text}".encode())])
    pitch = float(rng.uniform(*voice.synthetic_pitch_hz))
    return synthetic_voice(text, pitch, voice.synthetic_formant_shift, sample_rate=SAMPLE_RATE, seed=seed)


def _wav_bytes(waveform: np.ndarray) -> bytes:
    """16 kHz mono 16-bit PCM WAV bytes of a float waveform in [-1, 1] (deterministic: no time stamps)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@dataclass(frozen=True)
class Utterance:
    """One row to be: the split, the voice, the sentence and the id (shared by the two rows of a pair)."""

    split: str
    voice: Voice
    text: str
    utterance_id: str


def plan(num_train: int, num_test: int, num_paired: int, seed: int) -> list[Utterance]:
    """Every row of the three splits, without audio: ``num_train`` and ``num_test`` utterances per voice, each with
    its own sentence, and ``num_paired`` sentences each said by both voices. Deterministic for a seed.

    Raises:
        ValueError: a negative count.
    """
    if min(num_train, num_test, num_paired) < 0:
        raise ValueError("num_train, num_test and num_paired must be >= 0")  # sentences() bounds the total
    texts = iter(sentences(len(VOICES) * (num_train + num_test) + num_paired, seed))
    rows = [Utterance(split, voice, next(texts), f"{split}-{voice.name}-{index:04d}")
            for split, count in (("train", num_train), ("test", num_test))
            for voice in VOICES for index in range(count)]
    paired = [(next(texts), f"paired-{index:04d}") for index in range(num_paired)]
    return rows + [Utterance("paired", voice, text, utterance_id) for voice in VOICES for text, utterance_id in paired]


@dataclass(frozen=True)
class SpeechDomains:
    """What :func:`make_speech_domains` wrote.

    Parameters:
        output_dir: the folder with the parquet files and README.md.
        rows: rows per split and voice, e.g. ``{"train": {"A": 400, "B": 400}, ...}``.
        seconds: seconds of audio per split.
        engine: "espeak-ng <version>" or "synthetic".
        wall_seconds: how long making it took.
    """

    output_dir: Path
    rows: dict[str, dict[str, int]]
    seconds: dict[str, float]
    engine: str
    wall_seconds: float


def speech_splits(num_train: int = 400, num_test: int = 40, num_paired: int = 40, seed: int = 0,
                  synthetic: bool = False) -> tuple[datasets.DatasetDict, dict[str, float], str]:
    """Speak every row of :func:`plan`: the splits ``train``, ``test`` and ``paired`` as a ``DatasetDict`` in memory
    (columns ``audio`` (16 kHz WAV bytes, ``datasets.Audio``), ``voice``, ``text``, ``utterance_id``), the seconds
    of audio per split and the engine ("espeak-ng <version>" or "synthetic").

    Raises:
        EspeakError: espeak-ng is missing (the message says how to install it) or failed, unless ``synthetic``.
        ValueError: a negative count.
    """
    utterances = plan(num_train, num_test, num_paired, seed)
    engine = "synthetic" if synthetic else f"espeak-ng {espeak_version()}"
    columns: dict[str, dict[str, list]] = {split: {"audio": [], "voice": [], "text": [], "utterance_id": []}
                                           for split in SPLITS}
    seconds = dict.fromkeys(SPLITS, 0.0)
    with tempfile.TemporaryDirectory(prefix="genhub-voices-") as folder:
        for row in tqdm(utterances, desc="speaking", unit="utterance", disable=None):
            waveform = synthesize(row.text, row.voice, seed) if synthetic else speak(row.text, row.voice, Path(folder))
            split = columns[row.split]
            split["audio"].append({"bytes": _wav_bytes(waveform), "path": f"{row.utterance_id}-{row.voice.name}.wav"})
            split["voice"].append(row.voice.name)
            split["text"].append(row.text)
            split["utterance_id"].append(row.utterance_id)
            seconds[row.split] += len(waveform) / SAMPLE_RATE
    # built as plain bytes and cast: datasets' Audio encoder needs torchcodec, its cast does not
    splits = datasets.DatasetDict({
        split: datasets.Dataset.from_dict(columns[split], features=_PLAIN_FEATURES).cast_column(
            "audio", datasets.Audio(sampling_rate=SAMPLE_RATE)) for split in SPLITS})
    return splits, seconds, engine


def make_speech_domains(output_dir: str | Path, num_train: int = 400, num_test: int = 40, num_paired: int = 40,
                        seed: int = 0, synthetic: bool = False) -> SpeechDomains:
    """:func:`speech_splits`, written as ``{train,test,paired}-00000-of-00001.parquet`` and a dataset card README.md
    into ``output_dir`` (created; those four files are replaced).

    Raises:
        EspeakError, ValueError: as :func:`speech_splits`.
    """
    started = time.monotonic()
    splits, seconds, engine = speech_splits(num_train, num_test, num_paired, seed, synthetic)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for split, table in splits.items():
        table.to_parquet(str(output_dir / f"{split}-00000-of-00001.parquet"))
    rows = {split: {voice.name: list(splits[split]["voice"]).count(voice.name) for voice in VOICES}
            for split in SPLITS}
    summary = SpeechDomains(output_dir, rows, seconds, engine, time.monotonic() - started)
    (output_dir / "README.md").write_text(dataset_card(summary, seed, synthetic))
    return summary


def dataset_card(summary: SpeechDomains, seed: int, synthetic: bool) -> str:
    """The dataset card (YAML metadata + how it was made) for a folder :func:`make_speech_domains` wrote; the
    same for the same seed and counts (no time stamps)."""
    table = "\n".join(f"| {split} | {rows['A']} | {rows['B']} | {summary.seconds[split]:.1f} |"
                      for split, rows in summary.rows.items())
    if synthetic:
        how = ("Spoken by `genhub.audio.synthetic_voice`, a vowel-only source-filter model (glottal pulse train + "
               "Peterson & Barney formants), one vowel per word:\n"
               + "\n".join(f"- voice {v.name}: F0 drawn from {v.synthetic_pitch_hz[0]:g}-{v.synthetic_pitch_hz[1]:g}"
                           f" Hz per utterance, formants x {v.synthetic_formant_shift:g}" for v in VOICES))
    else:
        how = (f"Spoken by {summary.engine} (text on stdin, 22.05 kHz output resampled to 16 kHz with soxr HQ):\n"
               + "\n".join(f"- voice {v.name}: `{' '.join(v.espeak_command(Path('out.wav')))}`" for v in VOICES))
    split_files = "\n".join(f"  - split: {split}\n    path: {split}-*.parquet" for split in SPLITS)
    return f"""---
configs:
- config_name: default
  data_files:
{split_files}
dataset_info:
  features:
  - name: audio
    dtype:
      audio:
        sampling_rate: {SAMPLE_RATE}
  - name: voice
    dtype: string
  - name: text
    dtype: string
  - name: utterance_id
    dtype: string
language:
- en
task_categories:
- audio-to-audio
tags:
- voice-conversion
- synthetic
- genhub
---

# Two synthetic voices for voice conversion

Made by `genhub.voices.make_speech_domains` (`python training/make_speech_domains.py`) with seed {seed}: English
sentences from genhub's built-in templates and word lists, each spoken by one of two voices, stored as 16 kHz mono
16-bit WAV in a `datasets.Audio` column.

{how}

| split | voice A | voice B | seconds of audio |
| --- | --- | --- | --- |
{table}

- `train`, `test`: unpaired. Every row has its own sentence: A and B never say the same sentence, and no test
  sentence is a training sentence. For training a CycleGAN on `voice` A vs B.
- `paired`: held-out sentences said by both voices; the two rows of a pair share `utterance_id`. For evaluation
  only (e.g. log-mel L1 after DTW between a conversion and the real other voice).

The same seed and counts give the same bytes. To read the audio without torchcodec (which `datasets` decodes with),
cast to `datasets.Audio(decode=False)` and decode the WAV bytes, e.g. with `genhub.audio.read_audio`.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of training/make_speech_domains.py."""
    parser = argparse.ArgumentParser(prog="make_speech_domains.py",
                                     description="Make the two-voice speech dataset for CycleGAN voice conversion "
                                                 "(espeak-ng voices A = en-us+m3 low, B = en-us+f4 high).")
    parser.add_argument("--output_dir", required=True, help="folder for the parquet files and README.md")
    parser.add_argument("--num_train", type=int, default=400, help="training utterances per voice")
    parser.add_argument("--num_test", type=int, default=40, help="test utterances per voice")
    parser.add_argument("--num_paired", type=int, default=40, help="held-out sentences said by both voices")
    parser.add_argument("--seed", type=int, default=0, help="chooses the sentences (and synthetic pitches)")
    parser.add_argument("--synthetic", action="store_true",
                        help="vowel-only synthetic voices instead of espeak-ng (no apt package needed)")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> SpeechDomains:
    """Make the dataset and print what was written; exits 2 with the reason when espeak-ng is missing or fails."""
    datasets.disable_progress_bars()  # one "Creating parquet" bar per split says nothing here
    try:
        summary = make_speech_domains(args.output_dir, args.num_train, args.num_test, args.num_paired, args.seed,
                                      args.synthetic)
    except EspeakError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    for split, rows in summary.rows.items():
        print(f"{split:>6}: {rows['A']} voice A + {rows['B']} voice B, {summary.seconds[split]:.1f} s of audio")
    print(f"wrote {summary.output_dir} ({summary.engine}): {sum(summary.seconds.values()):.1f} s of audio in "
          f"{summary.wall_seconds:.1f} s")
    return summary
