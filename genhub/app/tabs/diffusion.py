"""Diffusion: sample a DDPM with the sampler of your choice, watch one sample form, noise a face with the forward
process, and invert faces to their DDIM latents x_T (reconstruction, spherical interpolation).

The math lives in :class:`genhub.models.DDPM` (:data:`~genhub.models.ddpm.SAMPLERS`, ``denoise``, ``q_sample``,
``invert``, ``reconstruct``); this module holds the pure functions behind each event (model in, PIL images and
markdown out) and the Gradio wiring. Faces come from an upload or the held-out split of the model's training data.
"""

# No `from __future__ import annotations`: Gradio reads the `gr.SelectData` hint of the gallery handler
# at run time, and postponed (string) annotations would hide it.

import math
import time
from types import SimpleNamespace
from typing import Callable, Iterator

import torch
from PIL import Image

from genhub.app import inputs
from genhub.app.loading import LoadedModel, held_out_images
from genhub.app.serving import handler, readable_upload
from genhub.app.tabs import kit
from genhub.evaluation.metrics import psnr
from genhub.images import (
    center_crop_resize,
    enlarge,
    make_grid,
    sanitize_image,
    scale_for,
    show,
    to_pil,
    to_pixel_values,
)
from genhub.models import DDPM
from genhub.models.ddpm import SAMPLERS

KEY = "ddpm-faces"
#: Longer side in pixels of what is shown (one face, a grid, a strip), as near as a whole enlargement factor gets.
FACE_SIZE = 256
GRID_SIZE = 512
STRIP_SIZE = 768
#: The UI's step range (the model accepts 1..T): the slider stops at T when T is smaller.
MIN_STEPS, MAX_STEPS = 10, 1000
#: T of the paper's DDPM: the step ranges the layout offers while no model is served.
PAPER_TIMESTEPS = 1000
#: Defaults sized for one CPU thread (the 32 px, 3 M-parameter ddpm-faces): 9 images, DDIM 25 steps ~3.3 s; DDIM
#: inversion + reconstruction of one face at 50 steps ~3 s (held-out PSNR 31 dB; 25 dB at 25 steps), an
#: 8-frame interpolation ~8 s.
DEFAULT_STEPS = 25
INVERSION_STEPS = 50
MAX_IMAGES = 16
DEFAULT_IMAGES = 9
FILM_FRAMES = 8
MAX_FRAMES = 16
NUM_EXAMPLES = 8
#: x_T is shown with this many standard deviations mapped to black and white.
LATENT_DISPLAY_SIGMAS = 3.0
#: ZeroGPU duration of a run: a fixed part plus one second per this many (UNet call x image), at most the cap.
#: An estimate for a 32 px UNet of 3 M parameters (no GPU here to measure it on).
GPU_BASE_SECONDS = 10
IMAGE_STEPS_PER_GPU_SECOND = 200
MAX_GPU_SECONDS = 120
#: Examples of the sampling settings: (seed, sampler, steps, eta, images).
PRESETS = [
    [0, "DDIM", 25, 0.0, 9],
    [1, "DPM-Solver++", 15, 0.0, 16],
    [2, "DDIM", 50, 1.0, 9],
    [3, "DDPM", 250, 0.0, 4],
]
STEPS_NOTE = ("DDIM and DPM-Solver++ need few steps (10–50). The DDPM sampler is the paper's ancestral chain, made "
              "for all T steps: with fewer (strided) its samples stay noisy — give it hundreds.")


# ------------------------------------------------------------------------------------------- helpers
def gpu_seconds(unet_image_calls) -> int:
    """ZeroGPU seconds for ``unet_image_calls`` (UNet calls x batch size): :data:`GPU_BASE_SECONDS` plus one per
    :data:`IMAGE_STEPS_PER_GPU_SECOND`, at most :data:`MAX_GPU_SECONDS`. ZeroGPU calls it before the handler runs:
    a value that is not a count asks for the cap (the handler itself then refuses it clearly)."""
    try:
        calls = max(0, int(unet_image_calls))
    except (TypeError, ValueError):
        return MAX_GPU_SECONDS
    return min(MAX_GPU_SECONDS, GPU_BASE_SECONDS + math.ceil(calls / IMAGE_STEPS_PER_GPU_SECOND))


def max_steps(model: DDPM) -> int:
    """The largest step count offered: :data:`MAX_STEPS`, or T when smaller."""
    return min(MAX_STEPS, model.noise_scheduler.config.num_train_timesteps)


def _steps(model: DDPM, value) -> int:
    return inputs.whole(value, "number of steps", 1, model.noise_scheduler.config.num_train_timesteps)


def _sampling(model: DDPM, seed, sampler: str, num_inference_steps, eta) -> tuple[int, int, float, str]:
    """(seed, steps, eta, label): the seed drawn when empty (:func:`genhub.app.inputs.seed`); eta 0 for samplers
    without it.

    Raises:
        ValueError: unknown sampler, steps outside 1..T, eta outside [0, 1] for DDIM.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"Pick a sampler: {', '.join(SAMPLERS)} (got {sampler!r}).")
    seed = inputs.seed(seed)
    steps = _steps(model, num_inference_steps)
    eta = inputs.number(eta or 0.0, "η", 0.0, 1.0) if SAMPLERS[sampler].uses_eta else 0.0
    label = f"{sampler} {steps} steps" + (f", η = {eta:g}" if SAMPLERS[sampler].uses_eta else "")
    return seed, steps, eta, label


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def prepare(model: DDPM, image) -> torch.Tensor:
    """Any image source (path, bytes, PIL, array) -> sanitised, centre-cropped ``pixel_values``
    float32 (channels, resolution, resolution) in [-1, 1].

    Raises:
        ValueError: no image. ImageError: unreadable, corrupt or too large (:func:`genhub.images.sanitize_image`).
    """
    if image is None:
        raise ValueError("Upload a face or click a held-out example first.")
    return to_pixel_values(center_crop_resize(sanitize_image(image, model.channels), model.resolution))


def latent_view(latents: torch.Tensor) -> torch.Tensor:
    """x_T (C, H, W) -> [-1, 1] for display: ±:data:`LATENT_DISPLAY_SIGMAS` map to black and white."""
    return (latents / LATENT_DISPLAY_SIGMAS).clamp(-1, 1)


def frame_indices(num_steps: int, num_frames: int = FILM_FRAMES) -> list[int]:
    """Step indices (0-based) of the film strip: ``num_frames`` evenly spaced, the first and last step included
    (every step when there are fewer)."""
    if num_steps <= num_frames:
        return list(range(num_steps))
    return sorted({round(k * (num_steps - 1) / (num_frames - 1)) for k in range(num_frames)})


# ------------------------------------------------------------------------------------------- actions
def sample_grid(model: DDPM, seed, sampler: str, num_inference_steps, eta, num_images
                ) -> tuple[Image.Image, str]:
    """A grid of ``num_images`` (1..:data:`MAX_IMAGES`) samples (:func:`show` at :data:`GRID_SIZE`) and a markdown
    note with the settings and the latency ("16 samples, DDIM 25 steps, η = 0: 3.1 s (seed 0)"). A seed that is
    empty is drawn at random; the same seed and settings give the same grid.

    Raises:
        ValueError: unknown sampler, steps outside 1..T, eta outside [0, 1], images outside 1..MAX_IMAGES.
    """
    seed, steps, eta, label = _sampling(model, seed, sampler, num_inference_steps, eta)
    count = inputs.whole(num_images, "number of images", 1, MAX_IMAGES)
    start = time.perf_counter()
    images = model.sample(count, _generator(seed), steps, sampler, eta)
    seconds = time.perf_counter() - start
    note = f"{count} sample{'s' if count > 1 else ''}, {label}: {seconds:.1f} s (seed {seed})."
    return show(make_grid(images.cpu()), GRID_SIZE), note


def film_strip(model: DDPM, seed, sampler: str, num_inference_steps, eta, num_frames: int = FILM_FRAMES,
               on_step: Callable[[int, int], None] | None = None) -> Iterator[tuple[Image.Image, str]]:
    """One sample as it forms: yields (strip so far, markdown note) each time a frame is taken, ``num_frames``
    (2..:data:`MAX_FRAMES`) times, evenly spaced over the steps (:func:`frame_indices`). Top row: the sample x after
    the step; bottom row: the x̂_0 the UNet predicted at that step's t. ``on_step(index, total)`` is called after
    every step (for a progress bar). Seeds as :func:`sample_grid`; the last frame is that sample, as
    ``model.sample(1, ...)`` returns it.

    Raises:
        ValueError: as :func:`sample_grid`; frames outside 2..MAX_FRAMES.
    """
    seed, steps, eta, label = _sampling(model, seed, sampler, num_inference_steps, eta)
    chosen = set(frame_indices(steps, inputs.whole(num_frames, "number of frames", 2, MAX_FRAMES)))
    tops, bottoms, times = [], [], []
    factor = scale_for(len(chosen) * (model.resolution + 2) + 2, STRIP_SIZE)  # of the whole strip, as it grows
    start = time.perf_counter()
    for step in model.denoise(1, _generator(seed), steps, sampler, eta):
        if on_step is not None:
            on_step(step.index, steps)
        if step.index not in chosen:
            continue
        tops.append(step.sample[0].clamp(-1, 1).cpu())
        bottoms.append(step.pred_original_sample[0].clamp(-1, 1).cpu())
        times.append(step.timestep)
        done = step.index == steps - 1
        state = f"done in {time.perf_counter() - start:.1f} s" if done else f"step {step.index + 1} of {steps}"
        note = (f"{label}, seed {seed}: {state}. Columns: the UNet at t = {', '.join(map(str, times))}. "
                "Top: the sample after that step; bottom: the x̂_0 predicted at that t.")
        strip = make_grid(torch.stack(tops + bottoms), nrow=len(tops))
        yield enlarge(strip, factor), note


def forward_process(model: DDPM, image, timestep, seed=0) -> tuple[Image.Image, Image.Image, str]:
    """The forward process q(x_t | x_0) on a face: (x_0 as the model sees it, x_t, markdown with alpha_bar_t and the
    mix), the images shown at :data:`FACE_SIZE`. ``seed`` draws eps (same seed: same noise; empty: random).

    Raises:
        ValueError: no image, t outside [0, T). ImageError: as :func:`prepare`.
    """
    pixel_values = prepare(model, image)
    last = model.noise_scheduler.config.num_train_timesteps - 1
    t = inputs.whole(timestep, "timestep t", 0, last)
    seed = inputs.seed(seed)
    noisy = model.q_sample(pixel_values[None], t, _generator(seed))[0].cpu()
    alpha_bar = float(model.noise_scheduler.alphas_cumprod[t])
    note = (f"t = {t} of T − 1 = {last}: ᾱ_t = {alpha_bar:.4f}, so x_t = {math.sqrt(alpha_bar):.3f} x_0 + "
            f"{math.sqrt(1 - alpha_bar):.3f} ε (ε ~ N(0, I), seed {seed}); signal-to-noise ratio ᾱ_t / (1 − ᾱ_t) = "
            f"{alpha_bar / (1 - alpha_bar):.3g}.")
    return show(to_pil(pixel_values), FACE_SIZE), show(to_pil(noisy), FACE_SIZE), note


def invert(model: DDPM, image, num_inference_steps) -> tuple[Image.Image, Image.Image, Image.Image, str]:
    """DDIM inversion of a face and its reconstruction: (x_0 as the model sees it, x_T (:func:`latent_view`), the
    DDIM (eta = 0) reconstruction from x_T with the same steps, markdown with the PSNR to x_0 and the time), the
    images shown at :data:`FACE_SIZE`. Deterministic: the same face gives the same x_T.

    Raises:
        ValueError: no image, steps outside 1..T. ImageError: as :func:`prepare`.
    """
    pixel_values = prepare(model, image)
    steps = _steps(model, num_inference_steps)
    start = time.perf_counter()
    latents = model.invert(pixel_values[None], steps)
    reconstruction = model.reconstruct(latents, steps)[0].cpu()
    seconds = time.perf_counter() - start
    mse = float(((reconstruction - pixel_values) / 2).pow(2).mean())  # on pixels in [0, 1]
    note = (f"{steps} DDIM steps up to x_T and {steps} back (η = 0): PSNR {psnr(mse):.1f} dB to the input "
            f"({model.resolution}×{model.resolution}), {seconds:.1f} s. x_T is shown with "
            f"±{LATENT_DISPLAY_SIGMAS:g} σ as black and white; its standard deviation is {float(latents.std()):.2f}.")
    return (show(to_pil(pixel_values), FACE_SIZE), show(to_pil(latent_view(latents[0].cpu())), FACE_SIZE),
            show(to_pil(reconstruction), FACE_SIZE), note)


def interpolate(model: DDPM, first, second, num_frames, num_inference_steps) -> tuple[Image.Image, str]:
    """Both faces inverted to x_T, ``num_frames`` (2..:data:`MAX_FRAMES`) latents on the great circle between them
    (slerp), each decoded by DDIM (eta = 0): (the strip shown at :data:`STRIP_SIZE`, markdown note). The ends are
    the two reconstructions.

    Raises:
        ValueError: a missing image, frames outside 2..MAX_FRAMES, steps outside 1..T. ImageError: as
            :func:`prepare`.
    """
    faces = torch.stack([prepare(model, first), prepare(model, second)])
    frames = inputs.whole(num_frames, "number of frames", 2, MAX_FRAMES)
    steps = _steps(model, num_inference_steps)
    start = time.perf_counter()
    latents = model.invert(faces, steps)
    images = model.reconstruct(model.interpolate_latents(latents[0], latents[1], frames), steps)
    note = (f"{frames} faces decoded by DDIM ({steps} steps, η = 0) from x_T slerped between the two inverted faces: "
            f"{time.perf_counter() - start:.1f} s.")
    return show(make_grid(images.cpu(), nrow=frames), STRIP_SIZE), note


def examples(loaded: LoadedModel, count: int = NUM_EXAMPLES) -> list[Image.Image]:
    """Up to ``count`` held-out faces of the model's training data (full size): :func:`held_out_images`."""
    return held_out_images(loaded, count)


# ------------------------------------------------------------------------------------------- the tab
def build(demo, models: dict[str, LoadedModel], held_out_examples: bool = True) -> None:
    """Lay out the tab inside the current ``gr.Tab`` for ``models[KEY]`` (missing or not: it fills in when its export
    lands) and wire its events; it opens with the grid of the default settings. Public api names:
    ``diffusion_sample``, ``diffusion_film_strip`` (streams), ``diffusion_forward``, ``diffusion_invert``,
    ``diffusion_interpolate``.

    ``held_out_examples=False`` hides the held-out faces (e.g. on a public Space: CelebA's terms).
    """
    import gradio as gr

    loaded = models[KEY]
    status = kit.opening("Diffusion", "A DDPM (Ho et al. 2020) makes a face by denoising pure noise x_T step by step; "
                         "the forward process q(x_t | x_0) adds that noise to a real face.", loaded)
    # the held-out faces need the export's facts (its dataset): a model that lands after the start gets none (the
    # galleries and their private events exist only when it is there at build)
    faces, problem = kit.held_out(loaded, examples, held_out_examples) if loaded.model is not None else ([], "")
    top, last = _ranges(loaded.model)
    ui = SimpleNamespace(top=top, last=last, faces=faces, problem=problem)
    with gr.Tabs():
        with gr.Tab("Sampling"):
            _sampling_panel(ui)
        with gr.Tab("Forward process"):
            _forward_panel(ui)
        with gr.Tab("DDIM inversion"):
            _inversion_panel(ui)
    loaded.on_swap(lambda: _fitted(ui, loaded.model))  # the server's ranges follow the served export at once
    _wire(demo, loaded, ui)
    kit.live(demo, status, [loaded], lambda: _first_sample(kit.ready(loaded), ui),
             [ui.steps, ui.inversion_steps, ui.timestep, ui.presets, ui.grid, ui.grid_note], "diffusion_first_sample",
             gpu_seconds(DEFAULT_STEPS * DEFAULT_IMAGES))


def _ranges(model: DDPM | None) -> tuple[int, int]:
    """(the largest step count offered (:func:`max_steps`), the last timestep T - 1) of ``model``; while none is
    served, those of a DDPM of :data:`PAPER_TIMESTEPS` steps (the layout's until one lands)."""
    if model is None:
        return min(MAX_STEPS, PAPER_TIMESTEPS), PAPER_TIMESTEPS - 1
    return max_steps(model), model.noise_scheduler.config.num_train_timesteps - 1


def _presets(top: int) -> list[list]:
    """:data:`PRESETS` with their steps cut to ``top``."""
    return [[seed, sampler, min(steps, top), eta, images] for seed, sampler, steps, eta, images in PRESETS]


def _first_sample(model: DDPM, ui: SimpleNamespace) -> tuple:
    """What the tab shows when it opens (kit.live's outputs): the sliders and presets fitted to ``model``
    (:func:`_fitted`), then the grid of the default settings."""
    steps = min(DEFAULT_STEPS, max_steps(model))
    return *_fitted(ui, model), *sample_grid(model, 0, "DDIM", steps, 0.0, DEFAULT_IMAGES)


def _fitted(ui: SimpleNamespace, model: DDPM) -> list:
    """Fit the step sliders, the timestep slider and the presets to ``model``'s T (the layout's may be another T's):
    the sliders' ranges on the server, where Gradio checks each request against them, and, as the returned updates,
    on the page."""
    import gradio as gr

    top, last = _ranges(model)
    low = min(MIN_STEPS, top)
    return [kit.offer(ui.steps, min(DEFAULT_STEPS, top), minimum=low, maximum=top),
            kit.offer(ui.inversion_steps, min(INVERSION_STEPS, top), minimum=low, maximum=top),
            kit.offer(ui.timestep, last // 4, maximum=last), gr.update(samples=_presets(top))]


def _gallery(ui: SimpleNamespace, label: str):
    import gradio as gr

    if ui.problem:
        gr.Markdown(ui.problem)
    if not ui.faces:
        return None
    return gr.Gallery(ui.faces, label=label, columns=NUM_EXAMPLES, height=140, allow_preview=False, format="png")


def _face_input(label: str):
    import gradio as gr

    return readable_upload(gr.Image(label=label, sources=["upload", "clipboard"], type="filepath", image_mode=None,
                                    format="png", height=200))


def _sampling_panel(ui: SimpleNamespace) -> None:
    import gradio as gr

    top = ui.top
    with gr.Row():
        ui.seed = kit.seed_box(0)
        ui.sampler = gr.Radio(list(SAMPLERS), value="DDIM", label="sampler")
    with gr.Row():
        ui.steps = gr.Slider(min(MIN_STEPS, top), top, value=min(DEFAULT_STEPS, top), step=1,
                             label="number of steps", info=STEPS_NOTE)
        ui.eta = gr.Slider(0.0, 1.0, value=0.0, step=0.05, label="η (DDIM only)",
                           info="0: deterministic given x_T; 1: as random as DDPM's posterior")
        ui.num_images = gr.Slider(1, MAX_IMAGES, value=DEFAULT_IMAGES, step=1, label="number of images")
    ui.presets = gr.Dataset(components=[ui.seed, ui.sampler, ui.steps, ui.eta, ui.num_images],
                            samples=_presets(top),
                            headers=["seed", "sampler", "steps", "η", "images"], label="Examples", type="index")
    gr.Markdown("\n".join(f"- **{name}**: {entry.paper}." for name, entry in SAMPLERS.items()))
    with gr.Row():
        ui.sample_button = gr.Button("Sample a grid", variant="primary")
        ui.film_button = gr.Button(f"Film strip: watch one sample form ({FILM_FRAMES} frames)")
    ui.grid_note = gr.Markdown()
    ui.grid = gr.Image(label="samples", format="png", interactive=False, buttons=["download"], height=GRID_SIZE)
    ui.film_note = gr.Markdown()
    ui.film = gr.Image(label="film strip: x after the step (top), predicted x̂_0 (bottom)", format="png",
                       interactive=False, buttons=["download"])


def _forward_panel(ui: SimpleNamespace) -> None:
    import gradio as gr

    last = ui.last
    gr.Markdown("x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε: move t to add more noise (Ho et al. 2020, eq. 4). "
                "Upload a face or click a held-out one.")
    with gr.Row():
        with gr.Column():
            ui.forward_face = _face_input("face x_0")
            ui.timestep = gr.Slider(0, last, value=last // 4, step=1, label="t")
            ui.noise_seed = gr.Number(label="noise seed", value=0, precision=0)
            ui.forward_button = gr.Button("Add noise", variant="primary")
            ui.forward_gallery = _gallery(ui, "Held-out faces (click one)")
        with gr.Column():
            ui.forward_results = [
                gr.Image(label="x_0 as the model sees it", format="png", interactive=False, height=FACE_SIZE),
                gr.Image(label="x_t ~ q(x_t | x_0)", format="png", interactive=False, height=FACE_SIZE),
                gr.Markdown(),
            ]


def _inversion_panel(ui: SimpleNamespace) -> None:
    import gradio as gr

    top = ui.top
    gr.Markdown("DDIM inversion (Song et al. 2021) runs the deterministic sampler backwards: a face -> its x_T. "
                "DDIM from that x_T with the same steps gives the face back; slerp between two faces' x_T "
                "interpolates.")
    with gr.Row():
        ui.first_face = _face_input("face")
        ui.second_face = _face_input("second face (for the interpolation)")
    ui.target = None
    ui.invert_gallery = _gallery(ui, "Held-out faces (click one)")
    if ui.invert_gallery is not None:
        ui.target = gr.Radio(["face", "second face"], value="face", label="a clicked example goes to")
    with gr.Row():
        ui.inversion_steps = gr.Slider(min(MIN_STEPS, top), top, value=min(INVERSION_STEPS, top), step=1,
                                       label="DDIM steps", info="more steps: a closer reconstruction, slower")
        ui.frames = gr.Slider(2, MAX_FRAMES, value=FILM_FRAMES, step=1, label="interpolation frames")
    with gr.Row():
        ui.invert_button = gr.Button("Invert and reconstruct the face", variant="primary")
        ui.interpolate_button = gr.Button("Interpolate between the two faces")
    ui.inversion_results = [
        gr.Image(label="x_0 as the model sees it", format="png", interactive=False, height=FACE_SIZE),
        gr.Image(label="x_T (DDIM inversion)", format="png", interactive=False, height=FACE_SIZE),
        gr.Image(label="reconstruction from x_T", format="png", interactive=False, height=FACE_SIZE),
        gr.Markdown(),
    ]
    ui.strip_note = gr.Markdown()
    ui.strip = gr.Image(label="slerp between the two inverted faces", format="png", interactive=False)


def _wire(demo, loaded: LoadedModel, ui: SimpleNamespace) -> None:
    import gradio as gr

    @handler(gpu_seconds=None)  # fills the settings, runs no model
    def preset(index: int):
        seed, sampler, steps, eta, images = PRESETS[int(index)]
        return seed, sampler, min(steps, _ranges(loaded.model)[0]), eta, images

    @handler(gpu_seconds=lambda seed, sampler, steps, eta, images: gpu_seconds(_product(steps, images)))
    def sample(seed, sampler, steps, eta, images):
        return sample_grid(kit.ready(loaded), seed, sampler, steps, eta, images)

    bar = gr.Progress()  # Gradio finds it as a default value and reports to it per request, as for any default

    @handler(gpu_seconds=lambda seed, sampler, steps, eta, progress=None: gpu_seconds(steps))
    def film(seed, sampler, steps, eta, progress=bar):
        def on_step(index, total):
            progress((index + 1, total), desc="denoising")
        yield from film_strip(kit.ready(loaded), seed, sampler, steps, eta, on_step=on_step)

    @handler(gpu_seconds=GPU_BASE_SECONDS)
    def forward(image, timestep, seed):
        return forward_process(kit.ready(loaded), image, timestep, seed)

    @handler(gpu_seconds=GPU_BASE_SECONDS)  # puts the example in the face box and noises it
    def forward_example(timestep, seed, evt: gr.SelectData):
        face = ui.faces[evt.index]
        return face, *forward_process(kit.ready(loaded), face, timestep, seed)

    @handler(gpu_seconds=lambda image, steps: gpu_seconds(_product(steps, 2)))
    def invert_face(image, steps):
        return invert(kit.ready(loaded), image, steps)

    @handler(gpu_seconds=lambda first, second, frames, steps: gpu_seconds(_product(steps, 2, frames)))
    def interpolate_faces(first, second, frames, steps):
        return interpolate(kit.ready(loaded), first, second, frames, steps)

    @handler(gpu_seconds=None)  # puts the example in the chosen face box, runs no model
    def invert_example(target, evt: gr.SelectData):
        face = ui.faces[evt.index]
        return (face, gr.update()) if target == "face" else (gr.update(), face)

    settings = [ui.seed, ui.sampler, ui.steps, ui.eta]
    ui.presets.click(preset, ui.presets, [*settings, ui.num_images], api_name="diffusion_preset",
                     api_visibility="private")
    ui.sample_button.click(sample, [*settings, ui.num_images], [ui.grid, ui.grid_note], api_name="diffusion_sample")
    ui.film_button.click(film, settings, [ui.film, ui.film_note], api_name="diffusion_film_strip")
    gr.on([ui.forward_button.click, ui.timestep.release], forward, [ui.forward_face, ui.timestep, ui.noise_seed],
          ui.forward_results, api_name="diffusion_forward")
    if ui.forward_gallery is not None:
        ui.forward_gallery.select(forward_example, [ui.timestep, ui.noise_seed],
                                  [ui.forward_face, *ui.forward_results], api_name="diffusion_forward_example",
                                  api_visibility="private")
    ui.invert_button.click(invert_face, [ui.first_face, ui.inversion_steps], ui.inversion_results,
                           api_name="diffusion_invert")
    ui.interpolate_button.click(interpolate_faces, [ui.first_face, ui.second_face, ui.frames, ui.inversion_steps],
                                [ui.strip, ui.strip_note], api_name="diffusion_interpolate")
    if ui.invert_gallery is not None:
        ui.invert_gallery.select(invert_example, ui.target, [ui.first_face, ui.second_face],
                                 api_name="diffusion_invert_example", api_visibility="private")


def _product(*counts) -> int | None:
    """The product of the counts, or None when one is not a number (then :func:`gpu_seconds` asks for the cap)."""
    try:
        return math.prod(int(count) for count in counts)
    except (TypeError, ValueError):
        return None
