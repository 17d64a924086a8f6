"""Latent explorer: walk a generator's latent space with sliders, attribute sliders, uploads and interpolation.

For a VAE the sliders are the K latent dimensions with the highest average KL to the prior on held-out data,
attribute sliders come from the export's ``directions.safetensors``, an uploaded photo is encoded (the sliders jump
to its code) and gets an outlier score. For the DCGAN the sliders are unsupervised directions found at load time by
SeFa (Shen & Zhou 2021) in the generator's first layer, and attribute sliders move z along the InterFaceGAN
boundaries of the export's ``attribute_boundaries.safetensors`` when it has them (``python -m
genhub.evaluation.directions``; unit directions, so an amount is in standard deviations of z); there is no encoder,
so no upload. With both ``autoencoder-faces`` and ``vae-faces``, a sub-tab compares the two
(:mod:`genhub.app.tabs.latent.ae_vs_vae`, beside this file). Math lives in :mod:`genhub.geometry` and
:mod:`genhub.evaluation.outlier`; this module holds the per-model :class:`Explorer` (one per served export:
:func:`served_explorer`) and the Gradio wiring, laid out before the models are served (they fill in when they land).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import torch
from PIL import Image

from genhub.app import inputs
from genhub.app.loading import LoadedModel, held_out
from genhub.app.serving import DISPLAY_SIZE, ENLARGED, enlargement_style, handler
from genhub.app.tabs import kit
from genhub.app.tabs.latent import ae_vs_vae
from genhub.data import DataError, ImageDataset
from genhub.evaluation.outlier import OutlierReference
from genhub.geometry import INTERPOLATION_MODES, axis_directions, compose, condition, coordinates, interpolate, sefa
from genhub.images import center_crop_resize, make_grid, sanitize_image, to_pil, to_pixel_values
from genhub.models import DCGAN, VAE
from genhub.models.face_features import CELEBA_ATTRIBUTES

#: Sliders per model (the K most informative directions) and their range, in standard deviations of the prior.
NUM_SLIDERS = 8
SLIDER_RANGE = 3.0
SLIDER_DECIMALS = 2  # the sliders' step is 0.01
#: Attribute sliders: multiples of the attribute's direction (1 = the average with-minus-without difference).
ATTRIBUTE_RANGE = 2.0
ATTRIBUTES = ("Smiling", "Eyeglasses", "Male", "Young", "Blond_Hair", "Black_Hair", "Bald", "Mustache",
              "Wearing_Hat", "Bangs", "Heavy_Makeup", "Pale_Skin")
MAX_ATTRIBUTE_SLIDERS = 8
#: The "keep unchanged" boxes an API call may name (a page offers only its model's attributes).
KEEP_CHOICES = tuple(dict.fromkeys((*ATTRIBUTES, *CELEBA_ATTRIBUTES)))
MAX_FRAMES = 16
#: ZeroGPU seconds an explorer event may hold a GPU (decoding at most MAX_FRAMES small faces).
GPU_SECONDS = 10
#: A sub-tab's idea, by the registry's model family.
IDEAS = {
    "vae": "A variational autoencoder (Kingma & Welling 2014): an encoder maps a photo to its code, a decoder maps "
           "any code back to a face.",
    "dcgan": "A DCGAN (Radford et al. 2016): a generator maps z ~ N(0, I) to a face; it has no encoder.",
}


@dataclass
class ExplorerState:
    """One session: ``base``, the code whose slider coordinates the sliders replace, and ``code``, the
    code on screen; both float32 (latent_dim,), or None before the first face."""

    base: torch.Tensor | None = None
    code: torch.Tensor | None = None


class Explorer:
    """The explorer for one model. Methods are pure in the session state they take and return.

    Parameters:
        model: a :class:`~genhub.models.VAE` or :class:`~genhub.models.DCGAN`, in eval mode.
        held_out: images the "held-out face" button encodes (VAE only), or None.
        num_sliders: K, how many slider directions.
        attributes: attribute names to offer, in order, when the VAE export has their directions
            (at most :data:`MAX_ATTRIBUTE_SLIDERS`; others the export has are offered after them).

    Faces are returned at the model's resolution; the page enlarges them (:data:`~genhub.app.serving.ENLARGED`).

    Raises:
        TypeError: a model family without a latent space to explore.
    """

    def __init__(self, model, held_out: ImageDataset | None = None, num_sliders: int = NUM_SLIDERS,
                 attributes: tuple[str, ...] = ATTRIBUTES):
        if not isinstance(model, (VAE, DCGAN)):
            raise TypeError(f"the latent explorer needs a VAE or a DCGAN, got {type(model).__name__}")
        self.model = model
        self.latent_dim, self.resolution, self.channels = model.latent_dim, model.resolution, model.channels
        self.device = next(model.parameters()).device
        self.can_encode = isinstance(model, VAE)
        self.held_out = held_out if self.can_encode else None
        space = model.latent_space if self.can_encode else None
        num_sliders = min(num_sliders, self.latent_dim)
        self.reference = OutlierReference(space.heldout_neg_elbo) if space is not None else None
        if space is not None:
            order = space.slider_order()[:num_sliders]
            self.directions = axis_directions(order, self.latent_dim)
            self.slider_labels = [f"z{j} (KL {float(space.kl_per_dim[j]):.2f} nats)" for j in order.tolist()]
            self.how = "the latent dimensions with the highest average KL to the prior on held-out faces"
        else:
            # SeFa on the first layer: the decoder's linear head (out, latent) or the DCGAN's
            # ConvTranspose2d(latent, width, 4) on a 1x1 input, i.e. a dense layer latent -> width*16.
            weight = model.decoder.head.weight.T if self.can_encode else model.generator.net[0].weight.flatten(1)
            self.directions = sefa(weight)[1][:num_sliders]
            self.slider_labels = [f"SeFa direction {k + 1}" for k in range(num_sliders)]
            self.how = "unsupervised directions from the first layer's weights (SeFa, Shen & Zhou 2021)"
        available = dict(space.directions) if space is not None else dict(getattr(model, "boundaries", {}))
        names = [n for n in attributes if n in available] + sorted(n for n in available if n not in attributes)
        self.attribute_names = names[:MAX_ATTRIBUTE_SLIDERS]
        self.attribute_vectors = (torch.stack([available[n].float() for n in self.attribute_names])
                                  if self.attribute_names else torch.zeros(0, self.latent_dim))

    # ------------------------------------------------------------------------------- helpers
    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes float (N, latent_dim) -> images float (N, C, H, W) in [-1, 1], on CPU."""
        codes = codes.float().to(self.device)
        images = self.model.decode(codes) if self.can_encode else self.model.generator(codes)
        return images.float().cpu()

    def display(self, pixel_values: torch.Tensor) -> Image.Image:
        """(C, H, W) in [-1, 1] -> PIL image at the model's resolution (the browser enlarges it)."""
        return to_pil(pixel_values)

    def _sliders_for(self, code: torch.Tensor) -> list[float]:
        """Slider positions of a code, rounded to the slider's step: a person reads -0.82, not -0.81581769."""
        values = coordinates(code, self.directions).clamp(-SLIDER_RANGE, SLIDER_RANGE).tolist()
        return [round(value, SLIDER_DECIMALS) for value in values]

    def _show(self, state: ExplorerState, code: torch.Tensor) -> tuple[Image.Image, list[float], list[float]]:
        state.base = state.code = code.float()
        return self.display(self.decode(code[None])[0]), self._sliders_for(code), [0.0] * len(self.attribute_names)

    # ------------------------------------------------------------------------------- actions
    def random_face(self, state: ExplorerState, seed: int | None = None):
        """z ~ N(0, I) from ``seed`` (empty: random, :func:`genhub.app.inputs.seed`). Returns (image, slider values,
        attribute values (all 0), seed used, state).

        Raises:
            ValueError: a bad seed.
        """
        seed = inputs.seed(seed)
        code = torch.randn(self.latent_dim, generator=torch.Generator().manual_seed(seed))
        image, values, amounts = self._show(state, code)
        return image, values, amounts, seed, state

    def edit(self, state: ExplorerState, values: list[float], amounts: list[float], keep: list[str] | None = None):
        """Decode the code the sliders stand for (see :func:`genhub.geometry.compose`). Returns (image, state).
        A slider still at the rounded position :meth:`_sliders_for` showed keeps the code's exact coordinate.
        ``keep``: attributes to hold fixed: every attribute slider then moves along its direction with the kept
        attributes' directions projected out (InterFaceGAN's conditional manipulation, eq. 4), same length.

        Raises:
            ValueError: wrong number of slider or attribute values; ``keep`` names an attribute without a slider.
        """
        if len(values) != len(self.directions) or len(amounts) != len(self.attribute_names):
            raise ValueError(f"expected {len(self.directions)} slider values and {len(self.attribute_names)} "
                             f"attribute values, got {len(values)} and {len(amounts)}")
        base = state.base if state.base is not None else torch.zeros(self.latent_dim)
        state.base = base
        exact = coordinates(base, self.directions)
        shown = torch.tensor(self._sliders_for(base), dtype=torch.float32)
        values = torch.where(torch.tensor(values, dtype=torch.float32) == shown, exact, torch.tensor(values))
        state.code = compose(base, self.directions, values.float(),
                             self.conditioned_attributes(keep), torch.tensor(amounts, dtype=torch.float32))
        return self.display(self.decode(state.code[None])[0]), state

    def conditioned_attributes(self, keep: list[str] | None = None) -> torch.Tensor:
        """The attribute vectors (A, latent_dim), each with the directions of the other ``keep`` attributes projected
        out (:func:`genhub.geometry.condition`) and its length restored.

        Raises:
            ValueError: an attribute without a slider.
        """
        keep = list(keep or [])
        unknown = [name for name in keep if name not in self.attribute_names]
        if unknown:
            raise ValueError(f"no attribute slider for {', '.join(unknown)}; attributes: "
                             f"{', '.join(self.attribute_names) or 'none'}")
        rows = []
        for name, vector in zip(self.attribute_names, self.attribute_vectors):
            others = [self.attribute_vectors[self.attribute_names.index(k)] for k in keep if k != name]
            rows.append(condition(vector, *others) * vector.norm() if others else vector)
        return torch.stack(rows) if rows else self.attribute_vectors

    def prepare(self, source) -> torch.Tensor:
        """Any image source (path, bytes, PIL, array) -> sanitised, centre-cropped ``pixel_values``
        (C, resolution, resolution) in [-1, 1].

        Raises:
            ImageError: unreadable, corrupt or too large (see :func:`genhub.images.sanitize_image`).
        """
        return to_pixel_values(center_crop_resize(sanitize_image(source, self.channels), self.resolution))

    def encode(self, state: ExplorerState, source):
        """Encode an image: returns (the sanitised crop, its reconstruction, slider values at its code,
        attribute values (all 0), outlier-score markdown, state). The code on screen becomes mu(x).

        Raises:
            ImageError: as :meth:`prepare`. ValueError: the model has no encoder.
        """
        if not self.can_encode:
            raise ValueError("this model has no encoder: only a VAE can encode a photo")
        pixel_values = self.prepare(source)
        out = self.model.negative_elbo(pixel_values[None])
        code = out["mu"][0].cpu()
        state.base = state.code = code
        verdict = self.reference.score(float(out["neg_elbo"][0])).markdown() if self.reference else (
            "No outlier score: this export has no held-out reference (latent_stats.safetensors).")
        return (self.display(pixel_values), self.display(out["decoded"][0].cpu()), self._sliders_for(code),
                [0.0] * len(self.attribute_names), verdict, state)

    def held_out_face(self, state: ExplorerState, index: int):
        """:meth:`encode` row ``index`` of the held-out split (wrapped around its length).

        Raises:
            ValueError: no held-out images are available.
        """
        if self.held_out is None or len(self.held_out) == 0:
            raise ValueError("no held-out faces are available for this model")
        return self.encode(state, self.held_out.image(int(index) % len(self.held_out)))

    def interpolate(self, state: ExplorerState, second=None, num_frames: int = 8, mode: str = "spherical",
                    seed: int | None = None) -> Image.Image:
        """A strip of ``num_frames`` (2..16) faces from the face on screen to a second face: ``second``
        encoded (VAE only), or z ~ N(0, I) from ``seed`` (empty: random).

        Raises:
            ValueError: no face on screen yet, a bad frame count, mode or seed, or ``second`` without an encoder.
            ImageError: ``second`` cannot be read.
        """
        if state.code is None:
            raise ValueError(("Make, upload or pick a face first" if self.can_encode else "Make a random face first")
                             + ": the strip starts at the face on screen.")
        num_frames = inputs.whole(num_frames, "frames", 2, MAX_FRAMES)
        if second is not None:
            if not self.can_encode:
                raise ValueError("this model has no encoder: interpolate to a random face instead")
            end = self.model.negative_elbo(self.prepare(second)[None])["mu"][0].cpu()
        else:
            end = torch.randn(self.latent_dim, generator=torch.Generator().manual_seed(inputs.seed(seed)))
        frames = self.decode(interpolate(state.code, end, num_frames, mode))
        return make_grid(frames, nrow=len(frames))


def load_explorer(loaded: LoadedModel, num_sliders: int = NUM_SLIDERS, held_out_examples: bool = True) -> Explorer:
    """The :class:`Explorer` of a loaded model; a VAE's gets the held-out faces of its training data when
    ``held_out_examples`` and they load (else none: the button is hidden).

    Raises:
        ValueError: the model is missing (:func:`genhub.app.tabs.kit.ready`).
    """
    model = kit.ready(loaded)
    images = None
    if held_out_examples and isinstance(model, VAE):
        try:
            images = held_out(loaded)
        except DataError:
            images = None
    return Explorer(model, images, num_sliders)


def served_explorer(loaded: LoadedModel, num_sliders: int = NUM_SLIDERS,
                    held_out_examples: bool = True) -> Callable[[], Explorer]:
    """A function returning the :func:`load_explorer` of the export served now for ``loaded``: built once per export
    (:func:`genhub.app.tabs.kit.exports`), again when a newer one lands; it raises ValueError while the model is
    missing."""
    @functools.lru_cache(maxsize=1)
    def of(ids: tuple) -> Explorer:
        return load_explorer(loaded, num_sliders, held_out_examples)

    return lambda: of(kit.exports([loaded]))


def build(demo, models: dict[str, LoadedModel], num_sliders: int = NUM_SLIDERS, held_out_examples: bool = True) -> None:
    """Lay out the tab inside the current ``gr.Tab``: one sub-tab per model of ``models`` but the autoencoder
    (``autoencoder-faces``), then, when ``models`` holds both ``autoencoder-faces`` and ``vae-faces``, the sub-tab
    "Autoencoder vs VAE" (:func:`genhub.app.tabs.latent.ae_vs_vae.build`: its api names start with ``ae_vs_vae_``).
    Every sub-tab is laid out and wired whether its models are served or not (it fills in when an export lands; a
    request before then says what the model is waiting for). Api names, with ``P`` the model key with ``-`` replaced
    by ``_``: ``P_random_face``, ``P_edit``, ``P_interpolate`` and, for a VAE (the registry's family), ``P_encode`` and
    ``P_held_out_face``. Each takes only what it uses: a VAE's ``P_interpolate`` takes (second photo or None, frames,
    path, seed), a DCGAN's (frames, path, seed), as it has no encoder. ``P_edit`` takes ``num_sliders`` slider values,
    :data:`MAX_ATTRIBUTE_SLIDERS` attribute amounts and the attributes to keep; values past the model's own sliders
    are ignored (their sliders are hidden), and ``P_random_face`` returns 0 for them.

    ``held_out_examples=False`` hides the held-out photos (e.g. on a public Space: CelebA's terms).
    """
    import gradio as gr

    gr.Markdown("## Latent explorer\nEvery image here is decoded from a point *z* in the model's latent space. "
                "Draw a random face, then move the sliders to move *z*.")
    with gr.Tabs():
        for key, loaded in models.items():
            if key == ae_vs_vae.AUTOENCODER_KEY:  # no explorer of its own: it is compared with the VAE below
                continue
            with gr.Tab(key):
                _explorer_tab(demo, loaded, num_sliders, held_out_examples)
        if ae_vs_vae.AUTOENCODER_KEY in models and ae_vs_vae.VAE_KEY in models:
            with gr.Tab(ae_vs_vae.TITLE):
                ae_vs_vae.build(demo, models[ae_vs_vae.AUTOENCODER_KEY], models[ae_vs_vae.VAE_KEY], held_out_examples)


def _explorer_tab(demo, loaded: LoadedModel, num_sliders: int, held_out_examples: bool) -> None:
    encodes = loaded.spec.family == "vae"  # the registry's family: known before the model is
    status = kit.opening(loaded.key, IDEAS.get(loaded.spec.family, ""), loaded)
    ui = _layout(encodes, num_sliders, held_out_examples and encodes)
    served = served_explorer(loaded, num_sliders, held_out_examples)
    prefix = loaded.key.replace("-", "_")
    _wire(served, prefix, ui)
    kit.live(demo, status, [loaded], lambda: (*_fill(served(), ui), kit.exports([loaded])), _filled(ui),
             f"{prefix}_layout", GPU_SECONDS)


def _layout(encodes: bool, num_sliders: int, held_out_row: bool) -> SimpleNamespace:
    """Every component of one model's sub-tab, before its model may be served: ``num_sliders`` direction sliders and
    :data:`MAX_ATTRIBUTE_SLIDERS` attribute sliders (:func:`_fill` labels them, hiding those the model lacks); the
    photo panel for a VAE (``encodes``), with the held-out face row when ``held_out_row``."""
    ui = _face_panel(num_sliders)
    ui.encodes, ui.index, ui.example_button = encodes, None, None
    if encodes:
        _photo_panel(ui, held_out_row)
    _interpolation_panel(ui)
    return ui


def _filled(ui: SimpleNamespace) -> list:
    """The components :func:`_fill` updates, in its order, then the export marker (the first face follows it)."""
    held_out_row = [ui.index, ui.example_button] if ui.index is not None else []
    return [ui.about, *ui.sliders, ui.attributes_heading, *ui.attributes, ui.keep, *held_out_row, ui.export]


def _fill(explorer: Explorer, ui: SimpleNamespace) -> list:
    """Updates that fit the laid-out sub-tab to ``explorer``'s model (:func:`_filled`'s components but the marker)."""
    import gradio as gr

    names = explorer.attribute_names
    updates = [gr.update(value=_about(explorer)), *_shown(explorer.slider_labels, ui.sliders),
               gr.update(visible=bool(names)), *_shown([name.replace("_", " ") for name in names], ui.attributes),
               gr.update(choices=names, value=[], visible=len(names) > 1)]
    if ui.index is not None:
        faces = explorer.held_out
        label = f"held-out face (0–{len(faces) - 1})" if faces is not None else "held-out face"
        updates += [gr.update(label=label, visible=faces is not None), gr.update(visible=faces is not None)]
    return updates


def _about(explorer: Explorer) -> str:
    size = explorer.resolution
    return (f"{size}×{size} faces, {explorer.latent_dim}-dimensional z. Sliders: {explorer.how}, each spanning "
            f"±{SLIDER_RANGE:g} standard deviations.")


def _shown(labels: list[str], sliders: list) -> list:
    """A slider per label, labelled; the sliders past them hidden."""
    import gradio as gr

    return [gr.update(label=labels[k], visible=True) if k < len(labels) else gr.update(visible=False)
            for k in range(len(sliders))]


def _padded(values: list[float], count: int) -> list[float]:
    """``values`` then zeros, ``count`` in all: a model with fewer sliders than laid out leaves the rest hidden at 0."""
    return [*values, *[0.0] * (count - len(values))]


def _face_panel(num_sliders: int) -> SimpleNamespace:
    import gradio as gr

    # the state is deep-copied per session; ``export`` is the served export a page shows (set by kit.live)
    ui = SimpleNamespace(state=gr.State(ExplorerState()), export=gr.State(None), about=gr.Markdown())
    with gr.Row():
        with gr.Column():
            enlargement_style()
            ui.face = gr.Image(label="face", format="png", interactive=False, buttons=[], height=DISPLAY_SIZE,
                               elem_classes=ENLARGED)
            with gr.Row():
                ui.random_button = gr.Button("Random face", variant="primary")
                ui.seed = kit.seed_box()
            ui.info = gr.Markdown()
        with gr.Column():
            ui.sliders = [gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0.0, step=10 ** -SLIDER_DECIMALS,
                                    label=f"direction {k + 1}") for k in range(num_sliders)]
        with gr.Column():
            _attribute_panel(ui)
    return ui


def _attribute_panel(ui: SimpleNamespace) -> None:
    import gradio as gr

    ui.attributes_heading = gr.Markdown("Attributes (directions from the training labels; 1 = the average difference "
                                        "between faces with and without)", visible=False)
    ui.attributes = [gr.Slider(-ATTRIBUTE_RANGE, ATTRIBUTE_RANGE, value=0.0, step=0.05, label=f"attribute {k + 1}",
                               visible=False) for k in range(MAX_ATTRIBUTE_SLIDERS)]
    # every name a model may have, so that an API call is checked by the model (the page shows the model's own)
    ui.keep = gr.CheckboxGroup(KEEP_CHOICES, value=[], visible=False, label="keep these unchanged (each slider "
                               "then moves with their directions projected out)")


def _photo_panel(ui: SimpleNamespace, held_out_row: bool) -> None:
    import gradio as gr

    gr.Markdown("### Your photo\nIt is sanitised (orientation, colour mode, size), centre-cropped, encoded "
                "to the mean of q(z|x); the sliders jump to its code so you can edit it.")
    with gr.Row():
        ui.upload = gr.File(label="upload a photo", file_types=["image"], type="filepath")
        ui.photo = gr.Image(label="your photo, as the model sees it", format="png", interactive=False,
                            buttons=[], height=DISPLAY_SIZE, elem_classes=ENLARGED)
        ui.reconstruction = gr.Image(label="reconstruction", format="png", interactive=False, buttons=[],
                                     height=DISPLAY_SIZE, elem_classes=ENLARGED)
    ui.outlier = gr.Markdown()
    if held_out_row:
        with gr.Row():
            ui.index = gr.Number(label="held-out face", value=0, precision=0)
            ui.example_button = gr.Button("Use a held-out face")


def _interpolation_panel(ui: SimpleNamespace) -> None:
    import gradio as gr

    gr.Markdown("### Interpolation\nFrom the face on screen to "
                + ("a second photo, or a random face when none is given." if ui.encodes else "a random face."))
    with gr.Row():
        if ui.encodes:
            ui.second = gr.File(label="second photo (optional)", file_types=["image"], type="filepath")
        with gr.Column():
            ui.frames = gr.Slider(2, MAX_FRAMES, value=8, step=1, label="frames")
            ui.mode = gr.Radio(list(INTERPOLATION_MODES), value=INTERPOLATION_MODES[0], label="path")
            ui.second_seed = kit.seed_box(label="random second face: seed")
            ui.interpolate_button = gr.Button("Interpolate")
    ui.strip = gr.Image(label="interpolation", format="png", interactive=False, buttons=[])


def _session(explorer: Explorer, current: ExplorerState) -> ExplorerState:
    """The session's state, or a fresh one when it holds a code of an earlier export of another latent size."""
    code = current.code if current.code is not None else current.base
    return ExplorerState() if code is not None and code.shape[-1] != explorer.latent_dim else current


def _wire(served: Callable[[], Explorer], prefix: str, ui: SimpleNamespace) -> None:
    import gradio as gr

    count, num_attributes = len(ui.sliders), len(ui.attributes)

    def controls_at(values, amounts) -> list[float]:
        return [*_padded(values, count), *_padded(amounts, num_attributes)]

    @handler(gpu_seconds=GPU_SECONDS)
    def random_face(current, seed_value):
        explorer = served()
        image, values, amounts, used, current = explorer.random_face(_session(explorer, current), seed_value)
        return image, *controls_at(values, amounts), f"z ~ N(0, I), seed {used}", current

    @handler(gpu_seconds=GPU_SECONDS)
    def edit(current, *values):
        explorer = served()
        sliders, amounts = values[:len(explorer.directions)], values[count: count + len(explorer.attribute_names)]
        return explorer.edit(_session(explorer, current), list(sliders), list(amounts), values[-1])

    @handler(gpu_seconds=GPU_SECONDS)
    def encode(current, source):
        if source is None:
            raise ValueError("Upload a photo first.")
        explorer = served()
        photo, reconstruction, values, amounts, verdict, current = explorer.encode(_session(explorer, current), source)
        return photo, reconstruction, reconstruction, *controls_at(values, amounts), verdict, current

    @handler(gpu_seconds=GPU_SECONDS)
    def held_out_face(current, row):
        explorer = served()
        photo, reconstruction, values, amounts, verdict, current = explorer.held_out_face(
            _session(explorer, current), int(row or 0))
        return photo, reconstruction, reconstruction, *controls_at(values, amounts), verdict, current

    @handler(gpu_seconds=GPU_SECONDS)
    def interpolate_to_photo(current, second_file, num_frames, path, seed_value):
        explorer = served()
        return explorer.interpolate(_session(explorer, current), second_file, num_frames, path, seed_value)

    @handler(gpu_seconds=GPU_SECONDS)
    def interpolate_to_random(current, num_frames, path, seed_value):
        explorer = served()
        return explorer.interpolate(_session(explorer, current), None, num_frames, path, seed_value)

    controls = [*ui.sliders, *ui.attributes]
    face_outputs = [ui.face, *controls, ui.info, ui.state]
    ui.random_button.click(random_face, [ui.state, ui.seed], face_outputs, api_name=f"{prefix}_random_face")
    @handler(gpu_seconds=GPU_SECONDS)
    def first_face(exports, current, seed_value):
        if not exports or None in exports:  # nothing served yet: the status line says why, no error pops up
            return [gr.skip()] * len(face_outputs)
        return random_face(current, seed_value)

    # the first face, per session: when the page learns which export is served (on open, and when a newer one lands)
    ui.export.change(first_face, [ui.export, ui.state, ui.seed], face_outputs, api_name=f"{prefix}_first_face",
                     api_visibility="private")
    gr.on([control.input for control in [*controls, ui.keep]], edit, [ui.state, *controls, ui.keep],
          [ui.face, ui.state], api_name=f"{prefix}_edit", trigger_mode="always_last", show_progress="hidden")
    if ui.encodes:
        encode_outputs = [ui.photo, ui.reconstruction, ui.face, *controls, ui.outlier, ui.state]
        ui.upload.upload(encode, [ui.state, ui.upload], encode_outputs, api_name=f"{prefix}_encode")
        if ui.example_button is not None:
            ui.example_button.click(held_out_face, [ui.state, ui.index], encode_outputs,
                                    api_name=f"{prefix}_held_out_face")
    settings = [ui.frames, ui.mode, ui.second_seed]  # an endpoint takes only what it uses: no photo without an encoder
    interpolate_faces, inputs = ((interpolate_to_photo, [ui.state, ui.second, *settings]) if ui.encodes
                                 else (interpolate_to_random, [ui.state, *settings]))
    ui.interpolate_button.click(interpolate_faces, inputs, ui.strip, api_name=f"{prefix}_interpolate")
