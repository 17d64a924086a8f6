"""Autoregressive: a Gated PixelCNN (van den Oord et al. 2016) draws a face pixel by pixel, completes a hidden part of
a face, and says how surprised it is by each pixel of yours; and likelihood as an outlier score, beside the VAE's
ELBO and the autoencoder's reconstruction error (faces vs flowers, AUROC each).

Sampling is sequential (one network pass per pixel): the image streams as rows fill in, and every answer says how
long it took on this server. Math lives in :mod:`genhub.models.pixelcnn` and :mod:`genhub.evaluation.outlier`.
"""

# No `from __future__ import annotations`: Gradio reads the `gr.SelectData` hint of the gallery handler at run time,
# and postponed (string) annotations would hide it.

import functools
import threading
import time
from types import SimpleNamespace
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image

from genhub.app import inputs
from genhub.app.loading import LoadedModel, held_out, held_out_images, unavailable
from genhub.app.serving import handler, readable_upload
from genhub.app.starters import shared_data
from genhub.app.tabs import kit
from genhub.data import DataError, load_split
from genhub.evaluation.outlier import SCORES, auroc, score_dataset
from genhub.hub.info import data_spec
from genhub.images import center_crop_resize, make_grid, sanitize_image, show, to_pil, to_pixel_values
from genhub.models.pixelcnn import PixelCNN, dequantize, quantize
from genhub.paths import located

KEY = "pixelcnn-faces"
#: The other models of the outlier comparison (registry keys), when they load.
COMPARED = ("vae-faces", "autoencoder-faces")
OUTLIERS = "nonface_flowers_128"  # a folder of the shared data: the non-faces of the comparison
MAX_IMAGES = 8
DEFAULT_IMAGES = 4
NUM_EXAMPLES = 8
DISPLAY = 512
GPU_SECONDS = 60


def _temperature(value) -> float:
    return inputs.number(value, "temperature", 0.1, 2.0)


def _generator(seed) -> tuple[int, torch.Generator]:
    seed = inputs.seed(seed)
    return seed, torch.Generator().manual_seed(seed)


def picture(model: PixelCNN, levels: torch.Tensor, unknown: torch.Tensor | None = None) -> torch.Tensor:
    """levels (B, C, H, W) -> pixel_values in [-1, 1] for display; ``unknown`` positions (bool, broadcastable) are
    mid-grey (not drawn yet, or hidden)."""
    pixels = dequantize(levels.cpu(), model.num_levels)
    return pixels if unknown is None else torch.where(unknown.cpu(), torch.zeros(()), pixels)


#: region name -> (H, W) -> bool (H, W) mask of what is hidden and completed.
REGIONS: dict[str, Callable[[int, int], torch.Tensor]] = {
    "lower half": lambda h, w: torch.arange(h)[:, None].expand(h, w) >= h // 2,
    "right half": lambda h, w: torch.arange(w)[None, :].expand(h, w) >= w // 2,
    "centre square": lambda h, w: (
        (torch.arange(h)[:, None] - h // 4 >= 0) & (torch.arange(h)[:, None] < h - h // 4)
        & (torch.arange(w)[None, :] - w // 4 >= 0) & (torch.arange(w)[None, :] < w - w // 4)),
}


def prepare(model: PixelCNN, image) -> torch.Tensor:
    """Any image source -> levels int64 (1, C, resolution, resolution): sanitised, centre-cropped, quantised.

    Raises:
        ValueError: no image. ImageError: unreadable, corrupt or too large (:func:`genhub.images.sanitize_image`).
    """
    if image is None:
        raise ValueError("Upload a face or click a held-out example first.")
    pixels = to_pixel_values(center_crop_resize(sanitize_image(image, model.channels), model.resolution))
    return quantize(pixels[None], model.num_levels)


def sample_rows(model: PixelCNN, seed, temperature, num_images) -> Iterator[tuple[Image.Image, str]]:
    """Draw ``num_images`` (1..:data:`MAX_IMAGES`) faces at ``temperature`` (0.1..2), yielding (grid, note) after each
    row; the last note gives the wall time. Seeded: the same seed gives the same faces.

    Raises:
        ValueError: a setting out of range.
    """
    count, temperature = inputs.whole(num_images, "number of images", 1, MAX_IMAGES), _temperature(temperature)
    seed, generator = _generator(seed)
    side = model.resolution
    blank = torch.zeros(count, model.channels, side, side, dtype=torch.long)
    rows = torch.arange(side).view(1, 1, side, 1)
    start = time.perf_counter()
    for row, levels in model.fill(blank, torch.ones_like(blank, dtype=torch.bool), temperature, generator):
        grid = show(make_grid(picture(model, levels, rows > row)), DISPLAY)
        done = row == side - 1
        state = (f"done in {time.perf_counter() - start:.1f} s ({count} x {side}x{side} pixels, one network pass "
                 f"per pixel, on this server)") if done else f"row {row + 1} of {side}"
        yield grid, f"Seed {seed}, temperature {temperature:g}: {state}."


def complete(model: PixelCNN, image, region: str, num_completions, temperature, seed
             ) -> Iterator[tuple[Image.Image, str]]:
    """Hide ``region`` (a key of :data:`REGIONS`) of a face and draw ``num_completions`` (1..:data:`MAX_IMAGES`)
    completions in one batch, yielding (grid, note) after each row: the face as the model sees it, the visible
    part, then the completions. Visible pixels are never changed.

    Raises:
        ValueError: an unknown region, a setting out of range, no image. ImageError: as :func:`prepare`.
    """
    if region not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}")
    count = inputs.whole(num_completions, "number of completions", 1, MAX_IMAGES)
    temperature = _temperature(temperature)
    seed, generator = _generator(seed)
    face = prepare(model, image)
    side = model.resolution
    hidden = REGIONS[region](side, side).view(1, 1, side, side)
    rows = torch.arange(side).view(1, 1, side, 1)
    start = time.perf_counter()
    for row, levels in model.fill(face.expand(count, -1, -1, -1), hidden, temperature, generator):
        shown = torch.cat([picture(model, face), picture(model, face, hidden),
                           picture(model, levels, hidden & (rows > row))])
        state = f"row {row + 1} of {side}"
        if row == int(hidden.nonzero()[:, 2].max()):
            state = (f"done in {time.perf_counter() - start:.1f} s ({count} completions of {int(hidden.sum())} "
                     "pixels each, in one batch)")
        yield show(make_grid(shown, nrow=count + 2), DISPLAY), (
            f"Seed {seed}, temperature {temperature:g}: {state}. Left to right: the face as the model sees it "
            f"({side}x{side}, {model.num_levels} levels), what it is shown ({region} hidden), its completions.")


def heat(values: np.ndarray) -> Image.Image:
    """A heat map of non-negative values (H, W): black (0) -> red -> yellow -> white (the maximum)."""
    scaled = values / max(float(values.max()), 1e-12)
    stops = np.array([[0, 0, 0], [200, 30, 30], [255, 210, 0], [255, 255, 255]], dtype=np.float64)
    position = scaled * (len(stops) - 1)
    low = np.floor(position).clip(0, len(stops) - 2).astype(int)
    fraction = (position - low)[..., None]
    colours = stops[low] * (1 - fraction) + stops[low + 1] * fraction
    return Image.fromarray(colours.round().astype(np.uint8), "RGB")


def surprise_map(model: PixelCNN, image, heldout_bits: float | None = None) -> tuple[Image.Image, Image.Image, str]:
    """How surprised the model is by each pixel of a face: (the face as the model sees it, a heat map of
    -log2 p(x_i | x_<i) per pixel summed over channels, note with the bits/dim beside the held-out mean).

    Raises:
        ValueError: no image. ImageError: as :func:`prepare`.
    """
    levels = prepare(model, image)
    bits = model.surprise(levels.to(next(model.parameters()).device))[0].cpu()
    total = float(bits.mean())
    reference = f" (held-out faces: {heldout_bits:.2f} on average)" if heldout_bits is not None else ""
    note = (f"**{total:.2f} bits/dim**{reference}; the brightest pixel costs {float(bits.sum(0).max()):.1f} bits. "
            "Bright = the model did not expect that value there, given everything above and to the left.")
    return show(to_pil(picture(model, levels)[0]), DISPLAY // 2), show(heat(bits.sum(0).numpy()), DISPLAY // 2), note


def outlier_rows(models: dict[str, LoadedModel], outliers: str) -> list[list[str]]:
    """One row per loaded model: [model, score, AUROC faces vs ``outliers``, N faces, N outliers]; each model on its
    own held-out faces and on the outlier set's test split in its own format (resolution, channels).

    Raises:
        DataError: a dataset cannot be loaded.
    """
    rows = []
    for key, loaded in models.items():
        model = loaded.model
        faces = held_out(loaded)
        others = load_split(located(data_spec(loaded.info).with_source(outliers)), "test")
        inlier, outlier = score_dataset(model, faces), score_dataset(model, others)
        rows.append([key, SCORES[model.family][1], f"{auroc(inlier, outlier):.3f}", str(len(inlier)),
                     str(len(outlier))])
    return rows


def examples(loaded: LoadedModel, count: int = NUM_EXAMPLES) -> list[Image.Image]:
    """Up to ``count`` held-out faces of the model's training data (full size): :func:`held_out_images`."""
    return held_out_images(loaded, count)


# ------------------------------------------------------------------------------------------- the tab
def build(demo, models: dict[str, LoadedModel], held_out_examples: bool = True) -> None:
    """Lay out the tab for ``models[KEY]`` (missing or not: it fills in when its export lands; the outlier comparison
    adds the ones of :data:`COMPARED` served when it is asked for): it opens with the default settings' samples.
    Public api names: ``pixelcnn_sample`` (streams), ``pixelcnn_complete`` (streams), ``pixelcnn_surprise``,
    ``pixelcnn_outliers``."""
    loaded = models[KEY]
    status = kit.opening("Autoregressive", "A Gated PixelCNN (van den Oord et al. 2016) writes p(x) = ∏ p(x_i | x_<i): "
                         "each pixel from a softmax over intensity levels given every pixel above and to its left.",
                         loaded)
    # the held-out faces need the export's facts (its dataset): a model that lands after the start gets none (the
    # gallery and its private event exist only when it is there at build)
    faces, problem = kit.held_out(loaded, examples, held_out_examples) if loaded.model is not None else ([], "")
    compared = {KEY: loaded, **{key: models[key] for key in COMPARED if key in models}}
    ui = _layout(faces, problem)
    _wire(loaded, compared, faces, ui)
    kit.live(demo, status, [loaded], lambda: list(sample_rows(kit.ready(loaded), 0, 1.0, DEFAULT_IMAGES))[-1],
             [ui.grid, ui.sample_note], "pixelcnn_first_sample", GPU_SECONDS)


def _layout(faces: list, problem: str) -> SimpleNamespace:
    import gradio as gr

    ui = SimpleNamespace()
    with gr.Tab("Sample"):
        with gr.Row():
            ui.seed = kit.seed_box(0)
            ui.temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="temperature",
                                       info="< 1: likelier, smoother pixels; > 1: noisier")
            ui.count = gr.Slider(1, MAX_IMAGES, value=DEFAULT_IMAGES, step=1, label="number of images")
        ui.sample_button = gr.Button("Draw pixel by pixel", variant="primary")
        ui.sample_note = gr.Markdown()
        ui.grid = gr.Image(label="samples (grey: not drawn yet)", format="png", interactive=False)
    with gr.Tab("Complete"):
        with gr.Row():
            ui.face = readable_upload(gr.Image(label="face", sources=["upload", "clipboard"], type="filepath",
                                               image_mode=None, format="png", height=200))
            with gr.Column():
                ui.region = gr.Radio(list(REGIONS), value="lower half", label="hide")
                ui.completions = gr.Slider(1, MAX_IMAGES, value=DEFAULT_IMAGES, step=1, label="completions")
                ui.complete_temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="temperature")
                ui.complete_seed = kit.seed_box(0)
        if problem:
            gr.Markdown(problem)
        ui.gallery = gr.Gallery(faces, label="Held-out faces (click one)", columns=NUM_EXAMPLES, height=120,
                                allow_preview=False, format="png") if faces else None
        with gr.Row():
            ui.complete_button = gr.Button("Complete", variant="primary")
            ui.surprise_button = gr.Button("Surprise map of this face")
        ui.complete_note = gr.Markdown()
        ui.completed = gr.Image(label="completions", format="png", interactive=False)
        with gr.Row():
            ui.seen = gr.Image(label="the face as the model sees it", format="png", interactive=False)
            ui.surprise = gr.Image(label="surprise: -log2 p per pixel", format="png", interactive=False)
        ui.surprise_note = gr.Markdown()
    with gr.Tab("Likelihood as an outlier score"):
        gr.Markdown("Each model scores its own held-out faces and held-out flowers (higher = more unusual): "
                    "PixelCNN NLL, VAE negative ELBO, autoencoder reconstruction error. Likelihood models can rate "
                    "out-of-distribution images as *more* likely (Nalisnick et al. 2019): this is what they do here.")
        ui.outliers_button = gr.Button("Measure (AUROC faces vs flowers)")
        ui.outliers_table = gr.Dataframe(headers=["model", "score", "AUROC", "N faces", "N flowers"],
                                         interactive=False)
    return ui


def _wire(loaded: LoadedModel, compared: dict[str, LoadedModel], faces: list, ui: SimpleNamespace) -> None:
    import gradio as gr

    outliers = _outliers_of(compared)

    @handler(gpu_seconds=GPU_SECONDS)
    def draw(seed_value, temperature_value, count_value):
        yield from sample_rows(kit.ready(loaded), seed_value, temperature_value, count_value)

    @handler(gpu_seconds=GPU_SECONDS)
    def fill_in(image, region_name, number, temperature_value, seed_value):
        yield from complete(kit.ready(loaded), image, region_name, number, temperature_value, seed_value)

    @handler(gpu_seconds=10)
    def surprised(image):
        model = kit.ready(loaded)
        return surprise_map(model, image, (loaded.info.get("metrics") or {}).get("heldout_bits_per_dim"))

    @handler(gpu_seconds=GPU_SECONDS)
    def measure():
        kit.ready(loaded)
        data = shared_data()
        if data is None or not (data / OUTLIERS).is_dir():
            raise ValueError(f"the comparison needs the shared data's {OUTLIERS} folder, not on this server")
        try:
            return outliers(str(data / OUTLIERS))
        except DataError as error:
            raise gr.Error(unavailable(loaded, error)) from None

    @handler(gpu_seconds=None)  # puts the example in the face box, runs no model
    def pick(evt: gr.SelectData):
        return faces[evt.index]

    ui.sample_button.click(draw, [ui.seed, ui.temperature, ui.count], [ui.grid, ui.sample_note],
                           api_name="pixelcnn_sample")
    ui.complete_button.click(fill_in, [ui.face, ui.region, ui.completions, ui.complete_temperature, ui.complete_seed],
                             [ui.completed, ui.complete_note], api_name="pixelcnn_complete")
    ui.surprise_button.click(surprised, ui.face, [ui.seen, ui.surprise, ui.surprise_note],
                             api_name="pixelcnn_surprise")
    ui.outliers_button.click(measure, None, ui.outliers_table, api_name="pixelcnn_outliers")
    if ui.gallery is not None:
        ui.gallery.select(pick, None, ui.face, api_name="pixelcnn_pick_example", api_visibility="private")


def _outliers_of(compared: dict[str, LoadedModel]) -> Callable[[str], list[list[str]]]:
    """A function of the outlier folder that returns :func:`outlier_rows` for those of ``compared`` served now,
    measured once per set of exports (a model that lands, or a newer export, measures again), one at a time. It
    raises DataError as :func:`outlier_rows` does (and measures again on the next call)."""
    lock = threading.Lock()

    @functools.lru_cache(maxsize=1)
    def measured(keys: tuple, exports: tuple, outliers: str) -> list[list[str]]:
        return outlier_rows({key: compared[key] for key in keys}, outliers)

    def rows(outliers: str) -> list[list[str]]:
        served = [key for key, entry in compared.items() if entry.model is not None]
        with lock:
            return measured(tuple(served), kit.exports([compared[key] for key in served]), outliers)

    return rows
