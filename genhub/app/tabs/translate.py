"""Image-to-image: translate an uploaded, pasted, webcam or drawn image with a pix2pix or CycleGAN model.

Every translation model of the registry is offered, a CycleGAN once per direction. Any image works:
it is sanitised (:func:`genhub.images.sanitize_image`), its centre square is cropped (or it is padded
to a square with white), resized to the model's resolution, translated, and the output is sent at the model's
resolution (cropped back to the input's aspect ratio when padded) for the page to enlarge; the note under the result
says what was done. Examples come from the held-out split of the dataset named in the export's
``training_info.json``.
"""

# No `from __future__ import annotations`: Gradio reads the `gr.SelectData` hint of the gallery handler
# at run time, and postponed (string) annotations would hide it.

import copy
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from types import SimpleNamespace

import torch
from PIL import Image

from genhub.app.loading import LoadedModel, held_out, unavailable
from genhub.app.serving import DISPLAY_SIZE, ENLARGED, enlargement_style, handler, readable_upload
from genhub.app.tabs import kit
from genhub.data import DataError
from genhub.images import ImageError, center_crop_resize, sanitize_image, to_pil, to_pixel_values
from genhub.shipped import ABOUT

FAMILIES = ("pix2pix", "cyclegan")
#: Shortest input side accepted, in pixels.
MIN_SIDE = 16
#: Largest accepted ratio of the longer to the shorter side.
MAX_ASPECT = 10.0
FITS = {"crop": "Centre crop", "pad": "Pad to a square"}
NUM_EXAMPLES = 8
#: Sketch-pad drawings are binarised like the training sketches (pixel > 200 -> white, else black).
SKETCH_THRESHOLD = 200
#: ZeroGPU seconds a translation may hold a GPU (a 256 px ResNet-9 with its cycle: ~0.7 s on CPU).
GPU_SECONDS = 20


@dataclass(frozen=True)
class Direction:
    """One entry of the model menu: a pix2pix model, or one direction ("AB" or "BA") of a CycleGAN."""

    loaded: LoadedModel
    direction: str | None = None

    @property
    def value(self) -> str:
        """The menu value: the registry key, plus ``:AB`` / ``:BA`` for a CycleGAN."""
        return f"{self.loaded.key}:{self.direction}" if self.direction else self.loaded.key

    @property
    def domains(self) -> tuple[str, str]:
        """(source, target) names from the export's ``training_info.json``, e.g. ("sketch", "face") or
        ("eyeglasses", "no_eyeglasses") for a CycleGAN's "BA"."""
        names = self.loaded.info.get("domains") or (
            {"A": "input", "B": "target"} if self.direction is None else {"A": "A", "B": "B"})
        direction = self.direction or "AB"
        return names[direction[0]], names[direction[1]]

    @property
    def label(self) -> str:
        """The menu label, of the export served now ("not trained yet" while its model is missing)."""
        source, target = self.domains
        size = "not trained yet" if self.loaded.model is None else f"{self.resolution} px"
        return f"{self.loaded.key}: {source} → {target} ({self.loaded.spec.family}, {size})"

    @property
    def resolution(self) -> int:
        return self.loaded.model.resolution

    @property
    def channels(self) -> int:
        model = self.loaded.model
        return model.in_channels if self.direction is None else model.channels


def directions(models: dict[str, LoadedModel], missing: bool = False) -> list[Direction]:
    """Menu entries for every loaded translation model (both directions of each CycleGAN), in registry order; with
    ``missing``, for the ones still missing too."""
    entries = []
    for loaded in models.values():
        if (loaded.model is None and not missing) or loaded.spec.family not in FAMILIES:
            continue
        entries += [Direction(loaded)] if loaded.spec.family == "pix2pix" else [Direction(loaded, "AB"),
                                                                                 Direction(loaded, "BA")]
    return entries


def prepare(image, resolution: int, channels: int = 3, fit: str = "crop") -> tuple[Image.Image, tuple, str]:
    """Turn any image into the model's input.

    Args:
        image: anything :func:`genhub.images.sanitize_image` reads (path, bytes, PIL, numpy).
        resolution: the model's side in pixels.
        channels: the model's input channels.
        fit: ``"crop"`` keeps the largest centred square; ``"pad"`` pads the shorter side with white.

    Returns:
        (the model input: a ``resolution`` x ``resolution`` PIL image; the box (left, top, right, bottom)
        of the picture inside it, in model pixels; a sentence saying what was done).

    Raises:
        ImageError: unreadable, too large (see ``MAX_PIXELS``), shorter side below :data:`MIN_SIDE`, or
            aspect ratio beyond :data:`MAX_ASPECT`; the message says what to do.
        ValueError: unknown ``fit``.
    """
    if fit not in FITS:
        raise ValueError(f"Pick a fit: {' or '.join(map(repr, FITS))} (got {fit!r}).")
    picture = sanitize_image(image, channels)
    width, height = picture.size
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"it is {width}×{height} pixels; it needs at least {MIN_SIDE} pixels on each side. "
                         "Upload a bigger picture.")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageError(f"it is {width}×{height} pixels, an aspect ratio beyond {MAX_ASPECT:g}:1. Crop it "
                         "closer to a square and upload it again.")
    side = min(width, height) if fit == "crop" else max(width, height)
    steps, box = [], (0, 0, resolution, resolution)
    if width != height and fit == "crop":
        steps.append(f"centre-cropped to {side}×{side}")
    elif width != height:
        square = Image.new(picture.mode, (side, side), "white")
        offset = ((side - width) // 2, (side - height) // 2)
        square.paste(picture, offset)
        picture, scale = square, resolution / side
        box = (round(offset[0] * scale), round(offset[1] * scale), round((offset[0] + width) * scale),
               round((offset[1] + height) * scale))
        steps.append(f"padded with white to {side}×{side}")
    if side != resolution:
        steps.append(f"resized to {resolution}×{resolution}, the model's resolution")
    done = (f"Your {width}×{height} image was {' and '.join(steps)}." if steps
            else f"Your {width}×{height} image is already at the model's resolution.")
    return center_crop_resize(picture, resolution), box, done


def for_display(image: Image.Image, box: tuple | None = None) -> Image.Image:
    """Crop ``box`` (default: all), at the model's resolution: the page enlarges it
    (:data:`~genhub.app.serving.ENLARGED`)."""
    return image if box is None else image.crop(box)


def binarise(image: Image.Image) -> Image.Image:
    """Black lines on white: every channel > :data:`SKETCH_THRESHOLD` -> 255, else 0 (same mode)."""
    return image.point(lambda value: 255 if value > SKETCH_THRESHOLD else 0)


@torch.no_grad()
def run(entry: Direction, model_input: Image.Image) -> tuple[Image.Image, Image.Image | None, float]:
    """Translate a model-sized PIL image: (output, cycle reconstruction or None, seconds taken)."""
    pixel_values = to_pixel_values(model_input).unsqueeze(0)
    start = time.perf_counter()
    if entry.direction is None:
        output, reconstruction = entry.loaded.model.translate(pixel_values), None
    else:
        output, reconstruction = entry.loaded.model.cycle(pixel_values, entry.direction)
    seconds = time.perf_counter() - start
    return to_pil(output[0]), None if reconstruction is None else to_pil(reconstruction[0]), seconds


def translate(entry: Direction, image, fit: str = "crop", sketch: bool = False
              ) -> tuple[Image.Image, Image.Image, Image.Image | None, str]:
    """The whole tab action: (model input, translation, cycle reconstruction or None, markdown note), the
    images at display size; the translation and reconstruction cropped back to the picture when padded.

    Raises:
        ImageError: see :func:`prepare`; for a drawing (``sketch``), also an empty sketch pad.
    """
    model_input, box, done = prepare(image, entry.resolution, entry.channels, fit)
    if sketch:
        model_input = binarise(model_input)
        if model_input.getextrema() in ((255, 255), ((255, 255),) * len(model_input.getbands())):
            raise ImageError("the sketch pad is empty. Draw a face (black lines on white) first.")
        done += " The drawing was binarised to black lines on white, like the training sketches."
    output, reconstruction, seconds = run(entry, model_input)
    source, target = entry.domains
    cropped = box != (0, 0, entry.resolution, entry.resolution)
    note = (f"{done} {entry.loaded.key} translated it from *{source}* to *{target}* in {seconds * 1000:.0f} ms"
            + (" and back again (the cycle reconstruction)" if reconstruction is not None else "")
            + f". Sent at {entry.resolution} px, enlarged by your browser"
            + (", cropped back to your picture's aspect ratio." if cropped else "."))
    return (for_display(model_input), for_display(output, box),
            None if reconstruction is None else for_display(reconstruction, box), note)


def examples(entry: Direction, count: int = NUM_EXAMPLES) -> list[Image.Image]:
    """Up to ``count`` held-out inputs for ``entry``, full size: the ``test`` split of the export's training
    data, only the images the entry translates from (pix2pix: ``real_A``, its input; a CycleGAN's "AB": domain
    A, ``real_A``; its "BA": domain B, ``real_B``).

    Raises:
        DataError: the export names no dataset, or it cannot be loaded.
    """
    images = held_out(entry.loaded, key="real_B" if entry.direction == "BA" else "real_A")
    return [images.image(index) for index in range(min(count, len(images)))]


def describe(entry: Direction) -> str:
    """Markdown: what the model does and how it was trained."""
    info, source_target = entry.loaded.info, entry.domains
    facts = [f"**{entry.loaded.key}** ({entry.loaded.spec.family}) translates *{source_target[0]}* into "
             f"*{source_target[1]}* at {entry.resolution}×{entry.resolution} px."]
    if info.get("global_step"):
        facts.append(f"Trained for {info['global_step']:,} steps on `{info.get('dataset')}`.")
    if info.get("dataset") in ABOUT:
        facts.append(ABOUT[info["dataset"]])
    if entry.direction is not None:
        facts.append("The cycle reconstruction translates the result back: how much of your picture survives.")
    return " ".join(facts)


class Menu:
    """The tab's model menu: its :class:`Direction` entries by value, for every translation model of ``models`` served
    or not (a request for a missing one is refused: :meth:`entry`), and the held-out examples of each entry's served
    export (loaded on first use, then kept while that export is served)."""

    def __init__(self, models: dict[str, LoadedModel]):
        self.models = [loaded for loaded in models.values() if loaded.spec.family in FAMILIES]
        self.entries = {entry.value: entry for entry in directions(models, missing=True)}
        self._examples = lru_cache(maxsize=max(1, len(self.entries)))(self._load_examples)

    def choices(self) -> list[tuple[str, str]]:
        """The menu's (label, value) pairs, labelled from the exports served now."""
        return [(entry.label, value) for value, entry in self.entries.items()]

    def _load_examples(self, value: str, export_id: str) -> tuple[tuple[Image.Image, ...], str]:
        # export_id only keys the cache: a newer export reads its examples again
        try:
            return tuple(examples(self.entries[value])), ""
        except DataError as error:
            return (), f"No held-out examples: {unavailable(self.entries[value].loaded, error)}."

    def examples(self, value: str | None) -> tuple[tuple[Image.Image, ...], str]:
        """(the held-out examples of entry ``value``, "" or why there are none). Raises: as :meth:`entry`."""
        entry = self.entry(value)
        return self._examples(entry.value, entry.loaded.export_id)

    def entry(self, value: str | None) -> Direction:
        """Entry ``value`` as served now, its model read once for the request (a newer export may land meanwhile).

        Raises:
            ValueError: no such entry (the dropdown refuses other values: this is an empty one), or its model is
                missing (:func:`kit.ready`: the message says why).
        """
        if value not in self.entries:
            raise ValueError("Pick a model first.")
        entry = replace(self.entries[value], loaded=copy.copy(self.entries[value].loaded))
        kit.ready(entry.loaded)
        return entry

    def about(self, value: str) -> str:
        problem = self.examples(value)[1]
        return describe(self.entry(value)) + (f"\n\n{problem}" if problem else "")

    def translate(self, value: str | None, image, fit: str, sketch: bool = False):
        """:func:`translate` for the menu value ``value``. Raises: ValueError: no model or no image."""
        entry = self.entry(value)
        if image is None:
            raise ValueError("Draw something first." if sketch else "Upload, paste or take a picture first.")
        return translate(entry, image, fit, sketch)

    def first_example(self) -> tuple:
        """What the tab opens with: the menu labelled from the served exports, and its first served entry selected with
        its examples, its facts and its first held-out example translated (or no example: the facts say why)."""
        import gradio as gr

        first = next(value for value, entry in self.entries.items() if entry.loaded.model is not None)
        shown, _ = self.examples(first)
        translated = (shown[0], *self.translate(first, shown[0], "crop")) if shown else [gr.update()] * 5
        return gr.update(choices=self.choices(), value=first), list(shown), self.about(first), *translated


def build(demo, models: dict[str, LoadedModel]) -> None:
    """Lay out the tab inside the current ``gr.Tab`` for every translation model of ``models``, served or not (it
    fills in when their exports land), and wire its events (api names: ``select_model``, ``translate``,
    ``translate_sketch``)."""
    menu = Menu(models)
    status = kit.opening("Image-to-image", "Translate a picture with pix2pix (paired training) or CycleGAN (unpaired, "
                         "both directions). Any size works: the picture is centre-cropped or padded to a square and "
                         "resized to the model's resolution; the note under the result says what happened.",
                         *menu.models)
    ui = _layout(menu)
    _wire(menu, ui)
    kit.live(demo, status, menu.models, menu.first_example if menu.entries else None,
             [ui.choice, ui.gallery, ui.facts, ui.picture, *ui.results], "translate_first_example", GPU_SECONDS,
             partial=True)


def _layout(menu: Menu) -> SimpleNamespace:
    import gradio as gr

    ui = SimpleNamespace()
    first = next(iter(menu.entries.values()), None)
    with gr.Row():  # labelled from the exports served now; kit.live labels them again as exports land
        ui.choice = gr.Dropdown(menu.choices(), value=first and first.value, label="Model", scale=3)
        ui.fit = gr.Radio([(label, value) for value, label in FITS.items()], value="crop", label="Fit", scale=2)
    ui.facts = gr.Markdown()  # the first entry's facts and examples: kit.live, from its served export
    with gr.Row():
        with gr.Column():
            with gr.Tab("Picture"):
                ui.picture = readable_upload(gr.Image(
                    label="Upload, paste or take a picture", sources=["upload", "clipboard", "webcam"],
                    type="filepath", image_mode=None, format="png", height=320))
                ui.go = gr.Button("Translate", variant="primary")
            with gr.Tab("Draw"):
                gr.Markdown("Draw a face in black lines (for a sketch → face model).")
                ui.drawing = readable_upload(gr.Sketchpad(
                    type="filepath", canvas_size=(512, 512), label="Sketch pad",
                    placeholder="Pick the brush on the left, then draw",
                    brush=gr.Brush(default_size=4, colors=["#000000"], color_mode="fixed")))
                ui.go_sketch = gr.Button("Translate the drawing", variant="primary")
            ui.gallery = gr.Gallery([], label="Held-out examples (click one)",
                                    columns=NUM_EXAMPLES // 2, height=200, allow_preview=False, format="png")
        with gr.Column():
            enlargement_style()
            ui.results = [
                gr.Image(label="What the model saw", format="png", interactive=False, height=DISPLAY_SIZE,
                         elem_classes=ENLARGED),
                gr.Image(label="Translation", format="png", interactive=False, height=DISPLAY_SIZE,
                         elem_classes=ENLARGED),
                gr.Image(label="Cycle reconstruction", format="png", interactive=False, height=DISPLAY_SIZE,
                         elem_classes=ENLARGED,
                         visible=first is not None and first.direction is not None),
                gr.Markdown(),
            ]
    return ui


def _wire(menu: Menu, ui: SimpleNamespace) -> None:
    import gradio as gr

    @handler(gpu_seconds=None)  # reads the data, runs no model
    def select_model(value: str):
        entry = menu.entry(value)
        return list(menu.examples(value)[0]), menu.about(value), gr.update(visible=entry.direction is not None)

    @handler(gpu_seconds=GPU_SECONDS)
    def translate_image(value: str, image, fit: str):
        return menu.translate(value, image, fit)

    @handler(gpu_seconds=GPU_SECONDS)
    def translate_sketch(value: str, drawing, fit: str):  # drawing: as serving.readable_upload hands it over
        return menu.translate(value, None if drawing is None else drawing["composite"], fit, True)

    @handler(gpu_seconds=None)  # puts an example in the picture box; the .then() below translates it
    def pick_example(value: str, evt: gr.SelectData):
        return menu.examples(value)[0][evt.index]

    reconstruction = ui.results[2]
    ui.choice.change(select_model, ui.choice, [ui.gallery, ui.facts, reconstruction], api_name="select_model")
    ui.go.click(translate_image, [ui.choice, ui.picture, ui.fit], ui.results, api_name="translate")
    ui.go_sketch.click(translate_sketch, [ui.choice, ui.drawing, ui.fit], ui.results, api_name="translate_sketch")
    ui.gallery.select(pick_example, ui.choice, ui.picture, api_visibility="private").then(
        translate_image, [ui.choice, ui.picture, ui.fit], ui.results, api_visibility="private")
