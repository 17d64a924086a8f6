"""Voice conversion measured on the paired held-out split (the same sentences in both voices, never trained on):

- ``dtw_l1 X->Y``: mean L1 between the log-mel spectrogram of each converted X clip and the true Y clip of the same
  sentence, after DTW alignment (:func:`genhub.audio.dtw_l1`), in [-1, 1] units; beside it the same distance for the
  unconverted X clip (``... unconverted``): a conversion that moves towards voice Y shrinks it.
- ``median F0``: of the converted clips (Griffin-Lim audio, pYIN), of the target voice's true clips and of the source
  voice's, in Hz (the median over clips of each clip's median F0).
- ``cycle L1 X``: mean |X->Y->X - X| of the spectrograms, in [-1, 1] units.

The spectrogram is the export's :func:`genhub.audio.square_spec`; clips are converted window by window
(:func:`genhub.audio.translate_clip`).
"""

from __future__ import annotations

import numpy as np

from genhub.data import DataError, DataSpec, SpectrogramWindows, load_source, select_domain

PAIRED_SPLIT = "paired"
GRIFFIN_LIM_ITERATIONS = 32


def paired_clips(spec: DataSpec, split: str = PAIRED_SPLIT, max_pairs: int | None = None
                 ) -> tuple[SpectrogramWindows, SpectrogramWindows, list[tuple[int, int]]]:
    """The two voices' rows of the paired split and the (row in A, row in B) of each sentence said by both, in
    utterance-id order.

    Raises:
        DataError: no such split, no ``utterance_id`` column, or no sentence in both voices.
    """
    splits = load_source(spec.source)
    if split not in splits:
        raise DataError(f"dataset {spec.source!r} has no {split!r} split (the same sentences in both voices); "
                        "make one with training/make_speech_domains.py")
    parts = {}
    for key in ("real_A", "real_B"):
        table = select_domain(splits[split], spec.domain_column, spec.domains[key], spec.source)
        column = spec.columns.get(key) or "audio"
        parts[key] = SpectrogramWindows(table, column, key, spec.resolution, f"{spec.source} ({split})")
    if "utterance_id" not in parts["real_A"].table.column_names:
        raise DataError(f"the {split!r} split has no utterance_id column to pair the voices' clips")
    rows_b = {uid: row for row, uid in enumerate(parts["real_B"].table["utterance_id"])}
    pairs = [(row, rows_b[uid]) for row, uid in enumerate(parts["real_A"].table["utterance_id"]) if uid in rows_b]
    if not pairs:
        raise DataError(f"no utterance of the {split!r} split is in both voices")
    return parts["real_A"], parts["real_B"], pairs[:max_pairs]


def voice_metrics(model, spec: DataSpec, max_pairs: int | None = None) -> dict[str, float]:
    """The measurements of the module docstring for both directions, keyed as in the README's table.

    Raises:
        DataError: as :func:`paired_clips`.
    """
    from genhub.audio import dtw_l1, median_f0, translate_clip

    clips_a, clips_b, pairs = paired_clips(spec, max_pairs=max_pairs)
    audio_spec = clips_a.spec
    device = next(model.parameters()).device

    def convert(image, direction: str):
        return translate_clip(image, lambda w: model.translate(w.to(device), direction), audio_spec.frames)

    # each paired clip's spectrogram and F0 once, for both directions
    mels = {"A": [], "B": []}
    for row_a, row_b in pairs:
        for voice, clips, row in (("A", clips_a, row_a), ("B", clips_b, row_b)):
            clip = clips.clip(row)
            mels[voice].append((audio_spec.mel(clip), median_f0(clip, audio_spec.sample_rate)))
    unconverted = float(np.mean([dtw_l1(a, b) for (a, _), (b, _) in zip(mels["A"], mels["B"])]))
    metrics: dict[str, float] = {f"median F0 {voice} (Hz)": float(np.nanmedian([f0 for _, f0 in mels[voice]]))
                                 for voice in "AB"}
    for direction in ("AB", "BA"):
        x, y = direction
        converted_dtw, cycle, f0_converted = [], [], []
        for (mel_source, _), (mel_target, _) in zip(mels[x], mels[y]):
            converted = convert(mel_source, direction)
            rec = convert(converted, direction[::-1])
            converted_dtw.append(dtw_l1(converted, mel_target))
            cycle.append(float((rec - mel_source).abs().mean()))
            sound = audio_spec.waveform(converted, n_iter=GRIFFIN_LIM_ITERATIONS)
            f0_converted.append(median_f0(sound, audio_spec.sample_rate))
        metrics[f"dtw_l1 {x}->{y}"] = float(np.mean(converted_dtw))
        metrics[f"dtw_l1 {x}->{y} unconverted"] = unconverted  # DTW distance is symmetric
        metrics[f"cycle L1 {x}"] = float(np.mean(cycle))
        metrics[f"median F0 {x}->{y} (Hz)"] = float(np.nanmedian(f0_converted))
    metrics["paired sentences"] = float(len(pairs))
    return metrics
