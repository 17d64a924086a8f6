"""Voice conversion: CycleGAN on spectrograms (Zhu et al. 2017; the MIT lecture's "transforming speech"). A clip
(recorded, uploaded or a held-out one) becomes a log-mel spectrogram, is translated window by window by the
export's generator and stitched back (overlap-add), and turned into sound by Griffin-Lim; the cycle (back to the
first voice) shows what the two generators keep. The audio math lives in :mod:`genhub.audio` (imported on first use:
librosa is slow to load).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image, ImageDraw

from genhub.app.loading import LoadedModel, held_out
from genhub.app.serving import handler
from genhub.app.tabs import kit
from genhub.images import to_pil

KEY = "cyclegan-voices"
#: Longest clip accepted, in seconds (Griffin-Lim and the generators both grow with the length).
MAX_SECONDS = 20.0
DIRECTIONS = ("AB", "BA")
GRIFFIN_LIM_ITERATIONS = 32
SPECTROGRAM_DISPLAY = 1024
BAND_PIXELS = 2
GPU_SECONDS = 30


def _direction(value: str) -> str:
    if value not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {value!r}")
    return value


def read_clip(source, spec) -> tuple[np.ndarray, str]:
    """Any clip a user gives (a path, bytes or Gradio's ``(rate, samples)``) -> mono float32 at the spec's rate and a
    note of what was done.

    Raises:
        ValueError: "Cannot use this audio: ..." (unreadable, empty, too short, longer than :data:`MAX_SECONDS`).
    """
    from genhub.audio import AudioError, read_audio

    if source is None:
        raise ValueError("Record or upload a clip first (or pick a held-out one).")
    try:
        return read_audio(source, spec.sample_rate, max_seconds=MAX_SECONDS)
    except AudioError as error:
        raise ValueError(f"Cannot use this audio: {error}") from None


def _sound(waveform: np.ndarray, rate: int) -> tuple[int, np.ndarray]:
    """(rate, int16 samples): what ``gr.Audio`` plays, without a float-to-int warning."""
    return rate, (np.clip(waveform, -1, 1) * 32767).astype(np.int16)


def spectrogram_panel(images: list[torch.Tensor], labels: list[str]) -> Image.Image:
    """The spectrograms (1, n_mels, T) stacked top to bottom, each flipped so that low frequencies are at the bottom
    (the usual display) and labelled: :data:`SPECTROGRAM_DISPLAY` pixels wide whatever the clip's length, each mel
    band :data:`BAND_PIXELS` high (nearest neighbour: the model's values, unsmoothed)."""
    rows = [to_pil(image.flip(-2)).resize((SPECTROGRAM_DISPLAY, image.shape[-2] * BAND_PIXELS),
                                          Image.Resampling.NEAREST) for image in images]
    width, band = SPECTROGRAM_DISPLAY, 16
    panel = Image.new("RGB", (width, sum(row.height + band for row in rows)), "white")
    top, draw = 0, ImageDraw.Draw(panel)
    for row, label in zip(rows, labels):
        draw.text((4, top + 2), label, fill="black")
        panel.paste(row.convert("RGB"), (0, top + band))
        top += row.height + band
    return panel


def convert(model, source, direction: str, names: dict[str, str]):
    """Convert one clip: returns (input, conversion, cycle reconstruction) as ``(rate, int16)`` audio, the three
    spectrograms as one image, and a note (what was done to the clip, the lengths, the direction).

    Raises:
        ValueError: a bad clip (see :func:`read_clip`) or direction.
    """
    from genhub.audio import square_spec, translate_clip

    direction = _direction(direction)
    spec = square_spec(model.resolution)
    waveform, done = read_clip(source, spec)
    device = next(model.parameters()).device

    def through(image, way):
        return translate_clip(image, lambda w: model.translate(w.to(device), way), spec.frames)

    mel = spec.mel(waveform)
    converted = through(mel, direction)
    cycled = through(converted, direction[::-1])
    sounds = [waveform] + [spec.waveform(image, n_iter=GRIFFIN_LIM_ITERATIONS) for image in (converted, cycled)]
    x, y = names[direction[0]], names[direction[1]]
    panel = spectrogram_panel([mel, converted, cycled], [f"input ({x})", f"converted to {y}", f"back to {x}"])
    note = (f"Clip: {done}. Converted {x} → {y} in {mel.shape[-1]} frames ({spec.frames}-frame windows, half "
            f"overlapping), then back; sound by Griffin-Lim ({GRIFFIN_LIM_ITERATIONS} iterations), so expect some "
            "phasiness.")
    return (*[_sound(sound, spec.sample_rate) for sound in sounds], panel, note)


def held_out_clips(loaded: LoadedModel) -> dict:
    """The export's held-out clips per voice, ``{"A": SpectrogramWindows, "B": ...}`` (the tab reads them once per
    export).

    Raises:
        DataError: they are not on this server.
    """
    return {domain: held_out(loaded, f"real_{domain}") for domain in "AB"}


def held_out_clip(clips: dict, direction: str, row) -> tuple[tuple[int, np.ndarray], str]:
    """Row ``row`` (wrapped around) of the held-out clips (:func:`held_out_clips`) of the direction's source voice:
    ((rate, int16), note).

    Raises:
        ValueError: a bad direction or row.
    """
    direction = _direction(direction)
    try:
        index = int(row)
    except (TypeError, ValueError):
        raise ValueError("the held-out clip number must be a whole number") from None
    clips = clips[direction[0]]
    index %= len(clips.table)
    waveform = clips.clip(index)
    text = clips.table[index]["text"] if "text" in clips.table.column_names else ""
    return _sound(waveform, clips.spec.sample_rate), f"Held-out clip {index} of voice {direction[0]}: “{text}”"


def _names(info: dict) -> dict[str, str]:
    """The voices' names in an export's facts (``info``: its training_info.json; {}: the names shown before)."""
    domains = info.get("domains") or {}
    return {"A": domains.get("A", "voice A"), "B": domains.get("B", "voice B")}


def _choices(names: dict[str, str]) -> list[tuple[str, str]]:
    return [(f"{names[d[0]]} → {names[d[1]]}", d) for d in DIRECTIONS]


def _clips_of(loaded: LoadedModel):
    """A function that returns (the held-out clips of the served export or None, "" or why there are none), read
    once per export (a newer one reads them again)."""
    @functools.lru_cache(maxsize=1)
    def read(exports: tuple) -> tuple[dict | None, str]:
        clips, problem = kit.held_out(loaded, held_out_clips)
        if problem or not all(len(part.table) for part in clips.values()):
            return None, problem or f"No held-out clips: `{loaded.key}`'s held-out split is empty."
        return clips, ""

    return lambda: read(kit.exports([loaded]))


# ------------------------------------------------------------------------------------------- the tab
def build(demo, models: dict[str, LoadedModel]) -> None:
    """Lay out the tab for ``models[KEY]`` (missing or not: it fills in when its export lands); it opens with held-out
    clip 0 of the first voice converted (when the held-out clips are on this server). Public api names:
    ``voice_convert``, ``voice_held_out``."""
    loaded = models[KEY]
    status = kit.opening("Voice conversion", "CycleGAN on spectrograms: a clip in one voice becomes the other voice "
                         "(Zhu et al. 2017), window by window; listen to the conversion and to the cycle back.", loaded)
    ui = _layout()
    clips = _clips_of(loaded)
    _wire(loaded, clips, ui)
    kit.live(demo, status, [loaded], lambda: _first_conversion(loaded, clips),
             [ui.direction, ui.row, ui.pick, ui.clip, *ui.results], "voice_first_conversion", GPU_SECONDS)


def _first_conversion(loaded: LoadedModel, clips) -> tuple:
    """What the tab opens with: the served voices' names, and held-out clip 0 of the first voice converted (or, with
    no held-out clips, the held-out controls hidden and the note saying why)."""
    import gradio as gr

    model, names = kit.ready(loaded), _names(loaded.info)
    found, problem = clips()
    shown = [gr.update(choices=_choices(names)), gr.update(visible=found is not None),
             gr.update(visible=found is not None)]
    if found is None:
        return *shown, *[gr.update()] * 5, problem  # the clip, the three sounds and the panel stay
    clip, _ = held_out_clip(found, "AB", 0)
    return *shown, clip, *convert(model, clip, "AB", names)


def _layout() -> SimpleNamespace:
    import gradio as gr

    ui = SimpleNamespace()
    with gr.Row():
        ui.clip = gr.Audio(sources=["upload", "microphone"], type="filepath",
                           label=f"your clip (≤ {MAX_SECONDS:g} s)")
        with gr.Column():  # the voices' names come with the export (kit.live)
            ui.direction = gr.Radio(_choices(_names({})), value="AB", label="direction")
            ui.row = gr.Number(value=0, precision=0, label="held-out clip number")
            ui.pick = gr.Button("Use a held-out clip of the source voice")
            ui.button = gr.Button("Convert", variant="primary")
    with gr.Row():
        ui.heard = gr.Audio(label="input (as the model hears it: mono 16 kHz)", interactive=False)
        ui.converted = gr.Audio(label="converted", interactive=False)
        ui.cycled = gr.Audio(label="cycle: back to the first voice", interactive=False)
    ui.panel = gr.Image(label="spectrograms (low frequencies at the bottom)", format="png", interactive=False)
    ui.note = gr.Markdown()
    ui.results = [ui.heard, ui.converted, ui.cycled, ui.panel, ui.note]
    return ui


def _wire(loaded: LoadedModel, clips, ui: SimpleNamespace) -> None:
    @handler(gpu_seconds=GPU_SECONDS)
    def on_convert(source, way):
        return convert(kit.ready(loaded), source, way, _names(loaded.info))

    @handler(gpu_seconds=None)
    def on_pick(way, number):
        kit.ready(loaded)
        found, problem = clips()
        if found is None:
            raise ValueError(problem)
        return held_out_clip(found, way, number)

    ui.button.click(on_convert, [ui.clip, ui.direction], ui.results, api_name="voice_convert")
    ui.pick.click(on_pick, [ui.direction, ui.row], [ui.clip, ui.note], api_name="voice_held_out")
