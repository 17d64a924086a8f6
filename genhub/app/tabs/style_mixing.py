"""Style mixing and progressive growing: what a style-based generator's layers control, and how the model grew.

- **Style mixing** (Karras, Laine & Aila 2019, fig. 3, in NVIDIA's layout): row seeds x column seeds; each cell is its
  row's face with the chosen layer range (coarse: 4-8 px, middle: 16 px, fine: the last stage) of styles w taken from
  its column's face, with the truncation trick w' = w_avg + psi (w - w_avg), a noise mode and per-layer noise.
- **Growth strip**: the same z decoded by the generator of each finished stage (the export's ``stages/<r>px``), then
  the final one; each image enlarged to the final size, so the strip shows what every stage added.
- **Truncation strip**: one z at psi = 1 -> 0, ending at G(w_avg), the "average face".
- **Directions in w**: SeFa (Shen & Zhou 2021) on the style layers' weights and the InterFaceGAN attribute boundaries
  of the export (``python -m genhub.evaluation.directions``); an attribute can be conditioned on others
  (n1 - (n1^T n2) n2, :func:`genhub.geometry.condition`). Amounts are in standard deviations of w along the direction.

The math lives in :mod:`genhub.models.stylegan`; this module holds pure functions and the Gradio wiring.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from PIL import Image

from genhub.app import inputs
from genhub.app.loading import LoadedModel
from genhub.app.serving import handler
from genhub.app.tabs import kit
from genhub.evaluation.directions import ATTRIBUTES
from genhub.geometry import condition, sefa
from genhub.images import make_grid, show
from genhub.models.stylegan import NOISE_MODES, StyleGAN, layer_groups, mix_styles, stage_resolution

KEY = "stylegan-faces"
MAX_SEEDS = 6
GRID_DISPLAY = 768
STRIP_DISPLAY = 896
PSI_RANGE = (-1.0, 2.0)
TRUNCATION_STEPS = (1.0, 0.75, 0.5, 0.25, 0.0)
DIRECTION_AMOUNTS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
NUM_SEFA = 8
#: codes sampled once per model to measure the spread of w along each direction
SPREAD_SAMPLES = 2000
GPU_SECONDS = 10
#: The mixing grid the tab opens with: its row and column seeds and ψ (the layout's defaults).
ROW_SEEDS, COLUMN_SEEDS, DEFAULT_PSI = "1, 2, 3", "10, 11, 12, 13", 0.7
#: The side of the registry's style-based model (``stylegan-faces``), whose layers the layout shows while none is
#: served.
REFERENCE_RESOLUTION = 32


def _z(model: StyleGAN, seeds: list[int]) -> torch.Tensor:
    return torch.cat([model.latents(1, torch.Generator().manual_seed(seed)) for seed in seeds])


def _images(model: StyleGAN, ws: torch.Tensor, noise_mode: str = "const",
            noise_layers: list[bool] | None = None) -> torch.Tensor:
    with torch.no_grad():
        return model.synthesis(ws, noise_mode=noise_mode, noise_layers=noise_layers).clamp(-1, 1).float().cpu()


def noise_layer_labels(model: StyleGAN) -> list[str]:
    """One label per style layer, for the per-layer noise toggle: "0: 4 px", "1: 4 px", "2: 8 px", ..."""
    labels, index = [], 0
    for stage, block in enumerate(model.synthesis.blocks):
        for _ in block:
            labels.append(f"{index}: {stage_resolution(stage)} px")
            index += 1
    return labels


def group_labels(model: StyleGAN) -> dict[str, str]:
    """coarse / middle / fine -> "coarse (layers 0-3: 4-8 px)" for the layer-range choice (empty groups left out)."""
    labels = noise_layer_labels(model)
    found = {}
    for name, layers in layer_groups(model.num_layers).items():
        if len(layers):
            sizes = sorted({labels[i].split(": ")[1] for i in layers}, key=lambda s: int(s.split()[0]))
            found[name] = f"{name} (layers {layers[0]}-{layers[-1]}: {', '.join(sizes)})"
    return found


def _require_styles(model: StyleGAN) -> None:
    if not model.style_based:
        raise ValueError("this is a progressive GAN (ProGAN) without a mapping network: it has no styles to mix; "
                         "the growth strip works")


def mixing_grid(model: StyleGAN, row_seeds, column_seeds, group: str, psi, noise_mode: str = "const",
                noise_layers: list[str] | None = None) -> tuple[Image.Image, str]:
    """NVIDIA's style-mixing figure: top row the column sources, left column the row sources, cell (i, j) row i's ws
    with the ``group`` layers (coarse / middle / fine) from column j. ``noise_layers``: labels of
    :func:`noise_layer_labels` that get noise (None: all). Returns (grid, note).

    Raises:
        ValueError: a progressive GAN, bad seeds, an unknown group or noise mode, ψ out of range.
    """
    _require_styles(model)
    rows, columns = inputs.seeds(row_seeds, MAX_SEEDS), inputs.seeds(column_seeds, MAX_SEEDS)
    psi = inputs.number(psi, "ψ", *PSI_RANGE)
    groups = layer_groups(model.num_layers)
    if group not in groups or not len(groups[group]):
        raise ValueError(f"choose a layer range among {', '.join(group_labels(model))}, got {group!r}")
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
    labels = noise_layer_labels(model)
    flags = None if noise_layers is None else [label in set(noise_layers) for label in labels]
    with torch.no_grad():
        ws_rows, ws_columns = model.styles(_z(model, rows), psi), model.styles(_z(model, columns), psi)
    cells = [mix_styles(ws_rows[i:i + 1].expand(len(columns), -1, -1), ws_columns, groups[group])
             for i in range(len(rows))]
    sources = _images(model, torch.cat([ws_columns, ws_rows]), noise_mode, flags)
    mixed = _images(model, torch.cat(cells), noise_mode, flags)
    blank = torch.ones(1, *sources.shape[1:])
    tiles = [blank, sources[: len(columns)]]
    for i in range(len(rows)):
        tiles += [sources[len(columns) + i: len(columns) + i + 1], mixed[i * len(columns): (i + 1) * len(columns)]]
    grid = make_grid(torch.cat(tiles), nrow=len(columns) + 1)
    return show(grid, GRID_DISPLAY), (
        f"Rows: seeds {', '.join(map(str, rows))}; columns: seeds {', '.join(map(str, columns))}. Each cell is its "
        f"row's face with the {group_labels(model)[group]} styles of its column's face; ψ = {psi:g}, "
        f"noise {noise_mode}.")


def growth_strip(model: StyleGAN, seed) -> tuple[Image.Image, str]:
    """The same z (from ``seed``) decoded by each finished stage's generator, then the final one, each enlarged to
    the final resolution (nearest neighbour, so a 4 px stage shows its 16 pixels). Returns (strip, note).

    Raises:
        ValueError: a bad seed.
    """
    seed = inputs.seed(seed)
    generators = [model.stages[size] for size in sorted(model.stages)] + [model]
    z = model.latents(1, torch.Generator().manual_seed(seed)).cpu()
    images = []
    with torch.no_grad():  # the stages stay on the CPU (tiny); the final model on the app's device
        for generator in generators:
            image = generator(z.to(generator._device()), noise_mode="const").clamp(-1, 1).float().cpu()
            images.append(F.interpolate(image, size=model.resolution, mode="nearest"))
    sizes = [f"{g.resolution} px" for g in generators]
    missing = "" if model.stages else (" This export has no stages/ folders (trained before per-stage exports, or "
                                       "a single stage): only the final generator is shown.")
    return show(make_grid(torch.cat(images), nrow=len(images)), STRIP_DISPLAY), (
        f"z from seed {seed}, decoded by the generator as it was at the end of each stage: {' → '.join(sizes)}."
        + missing)


def truncation_strip(model: StyleGAN, seed) -> tuple[Image.Image, str]:
    """One z at ψ = 1, 0.75, 0.5, 0.25, 0: from the sample towards G(w_avg). Returns (strip, note).

    Raises:
        ValueError: a progressive GAN or a bad seed.
    """
    _require_styles(model)
    seed = inputs.seed(seed)
    z = _z(model, [seed]).expand(len(TRUNCATION_STEPS), -1)
    with torch.no_grad():
        ws = torch.cat([model.styles(z[:1], psi) for psi in TRUNCATION_STEPS])
    strip = make_grid(_images(model, ws), nrow=len(TRUNCATION_STEPS))
    return show(strip, STRIP_DISPLAY), (f"z from seed {seed} at ψ = {', '.join(f'{p:g}' for p in TRUNCATION_STEPS)}: "
                                        "the last column is G(w_avg), the same for every seed.")


# ----------------------------------------------------------------------------------- directions in w
@dataclass(frozen=True)
class WDirections:
    """Unit directions in w (name -> float32 (w_dim,)): SeFa's first :data:`NUM_SEFA` on the style layers' weights,
    then the export's attribute boundaries; ``spread``: the standard deviation of w along each over
    :data:`SPREAD_SAMPLES` mapped codes (an amount's unit)."""

    vectors: dict[str, torch.Tensor]
    spread: dict[str, float]
    attributes: tuple[str, ...]


def w_directions(model: StyleGAN) -> WDirections:
    """Compute :class:`WDirections` once per model (about a second on a CPU core).

    Raises:
        ValueError: a progressive GAN.
    """
    _require_styles(model)
    # SeFa for StyleGAN: the styles y = A_l w of every layer, stacked (Shen & Zhou 2021, sec. 3.2)
    weight = torch.cat([layer.adain.style.weight.detach().float().cpu()
                        for block in model.synthesis.blocks for layer in block]).T
    vectors = {f"SeFa {k + 1}": direction for k, direction in enumerate(sefa(weight)[1][:NUM_SEFA])}
    known = [name for name in ATTRIBUTES if name in model.boundaries]  # the usual order, Smiling first
    attributes = known + sorted(set(model.boundaries) - set(known))
    vectors.update({name: model.boundaries[name] / model.boundaries[name].norm() for name in attributes})
    with torch.no_grad():
        w = model.mapping(model.latents(SPREAD_SAMPLES, torch.Generator().manual_seed(0))).float().cpu()
    spread = {name: float((w @ vector).std()) for name, vector in vectors.items()}
    return WDirections(vectors, spread, tuple(attributes))


def direction_strip(model: StyleGAN, directions: WDirections, seed, name: str, conditions: list[str] | None = None,
                    psi=1.0) -> tuple[Image.Image, str]:
    """One face (z from ``seed``, ψ) moved along direction ``name`` by -3..3 standard deviations of w along it;
    an attribute direction is first conditioned on the attributes in ``conditions`` (their components removed,
    InterFaceGAN eq. 4), so they should stay as they are. Returns (strip, note).

    Raises:
        ValueError: a bad seed or ψ, an unknown direction, a condition that is not an attribute or is ``name``.
    """
    seed, psi = inputs.seed(seed), inputs.number(psi, "ψ", *PSI_RANGE)
    if name not in directions.vectors:
        raise ValueError(f"unknown direction {name!r}; choose one of {', '.join(directions.vectors)}")
    conditions = list(conditions or [])
    bad = [c for c in conditions if c not in directions.attributes or c == name]
    if bad:
        raise ValueError(f"can only condition on other attributes ({', '.join(directions.attributes) or 'none'}), "
                         f"got {', '.join(bad)}")
    vector = directions.vectors[name]
    if conditions:
        vector = condition(vector, *(directions.vectors[c] for c in conditions))
    unit = directions.spread[name]
    with torch.no_grad():
        w = model.styles(_z(model, [seed]), psi)[:, 0].float().cpu()
    steps = torch.tensor(DIRECTION_AMOUNTS).view(-1, 1) * unit
    ws = (w + steps * vector).to(model._device()).unsqueeze(1).expand(-1, model.num_layers, -1)
    strip = make_grid(_images(model, ws), nrow=len(DIRECTION_AMOUNTS))
    held = f", conditioned on {', '.join(conditions)}" if conditions else ""
    return show(strip, STRIP_DISPLAY), (
        f"Seed {seed}, ψ = {psi:g}, moved along {name}{held}: {', '.join(f'{a:+g}' for a in DIRECTION_AMOUNTS)} × "
        f"{unit:.2f} (one standard deviation of w along it).")


@functools.lru_cache(maxsize=1)
def directions_of(model: StyleGAN) -> WDirections:
    """:func:`w_directions` of ``model``, kept while it is served (a newer export is a new model: computed again).

    Raises:
        ValueError: a progressive GAN.
    """
    return w_directions(model)


# ------------------------------------------------------------------------------------------- the tab
def build(demo, models: dict[str, LoadedModel]) -> None:
    """Lay out the tab for ``models[KEY]`` (missing or not: it fills in when its export lands): it opens with the
    default mixing grid. Public api names: ``style_mixing``, ``style_growth``, ``style_truncation``,
    ``style_direction``."""
    loaded = models[KEY]
    status = kit.opening("Style mixing", "A style-based generator (StyleGAN, Karras et al. 2019) grown progressively "
                         "(ProGAN, Karras et al. 2018): every layer reads its own style w, so the layers of one face "
                         "can take the styles of another.", loaded)
    ui = _layout(_facts(loaded.model))
    loaded.on_swap(lambda: _fitted(ui, _facts(loaded.model)))  # the server's choices follow the served export at once
    _wire(loaded, ui)
    kit.live(demo, status, [loaded], lambda: _first_grid(kit.ready(loaded), ui),
             [*_fitted_outputs(ui), ui.grid, ui.grid_note], "style_first_grid", GPU_SECONDS)


@functools.cache
def _reference() -> StyleGAN:
    """A stand-in with the layers of the registry's :data:`REFERENCE_RESOLUTION` px style-based model (tiny widths):
    what the layout shows while no model is served."""
    return StyleGAN(REFERENCE_RESOLUTION, "style", latent_dim=8, w_dim=8, mapping_layers=1, channel_base=32,
                    max_channels=4)


def _facts(model: StyleGAN | None) -> SimpleNamespace:
    """What the layout shows of ``model``: whether it has styles, its layer ranges and noise layers, its directions'
    names and attributes; while none is served, :func:`_reference`'s, with every attribute of
    :data:`~genhub.evaluation.directions.ATTRIBUTES` (a served export's replace them: :func:`_fitted`)."""
    shape = _reference() if model is None else model
    directions = directions_of(model) if model is not None and model.style_based else None
    attributes = directions.attributes if directions else ATTRIBUTES if model is None else ()
    names = list(directions.vectors) if directions else [f"SeFa {k + 1}" for k in range(NUM_SEFA)] + list(attributes)
    return SimpleNamespace(style_based=shape.style_based, groups=group_labels(shape),
                           labels=noise_layer_labels(shape), attributes=tuple(attributes), names=names)


def _first_grid(model: StyleGAN, ui: SimpleNamespace) -> tuple:
    """What the tab shows when it opens (kit.live's outputs): the layout fitted to ``model`` (:func:`_fitted`), then
    the mixing grid of the default settings (none for a progressive GAN)."""
    facts = _facts(model)
    grid = (mixing_grid(model, ROW_SEEDS, COLUMN_SEEDS, next(iter(facts.groups)), DEFAULT_PSI, "const", facts.labels)
            if facts.style_based else (None, ""))
    return *_fitted(ui, facts), *grid


def _fitted_outputs(ui: SimpleNamespace) -> list:
    return [ui.mixing, ui.group, ui.noise_layers, ui.truncation_button, ui.directions, ui.direction_heading,
            ui.direction, ui.conditions]


def _fitted(ui: SimpleNamespace, facts: SimpleNamespace) -> list:
    """Fit :func:`_fitted_outputs` to ``facts`` (the layout's may be another model's): the choices on the server,
    where Gradio checks each request against them, and, as the returned updates, on the page."""
    import gradio as gr

    return [gr.update(visible=facts.style_based),
            kit.offer(ui.group, next(iter(facts.groups)), choices=_group_choices(facts)),
            kit.offer(ui.noise_layers, facts.labels, choices=[(label, label) for label in facts.labels]),
            gr.update(interactive=facts.style_based), gr.update(visible=facts.style_based),
            gr.update(value=_direction_heading(facts)),
            kit.offer(ui.direction, (facts.attributes or facts.names)[0], choices=[(n, n) for n in facts.names]),
            kit.offer(ui.conditions, [], choices=[(name, name) for name in facts.attributes])]


def _group_choices(facts: SimpleNamespace) -> list[tuple[str, str]]:
    return [(label, name) for name, label in facts.groups.items()]


def _direction_heading(facts: SimpleNamespace) -> str:
    return "### Directions in w\nSeFa directions of the style layers" + (
        ", and attribute directions fitted with genhub's face-attribute network (InterFaceGAN)"
        if facts.attributes else " (this export has no attribute directions: `python -m "
                                 "genhub.evaluation.directions EXPORT` fits them)") + "."


def _layout(facts: SimpleNamespace) -> SimpleNamespace:
    ui = SimpleNamespace()
    _mixing_panel(ui, facts)
    _growth_panel(ui, facts)
    _direction_panel(ui, facts)
    return ui


def _mixing_panel(ui: SimpleNamespace, facts: SimpleNamespace) -> None:
    import gradio as gr

    with gr.Column(visible=facts.style_based) as ui.mixing:  # a progressive GAN has no styles to mix
        with gr.Row():
            ui.row_seeds = gr.Textbox(ROW_SEEDS, label=f"row seeds (up to {MAX_SEEDS})")
            ui.column_seeds = gr.Textbox(COLUMN_SEEDS, label=f"column seeds (up to {MAX_SEEDS})")
        with gr.Row():
            ui.group = gr.Radio(_group_choices(facts), value=next(iter(facts.groups)),
                                label="styles taken from the column")
            ui.mix_psi = gr.Slider(*PSI_RANGE, value=DEFAULT_PSI, step=0.05, label="ψ (truncation)")
        with gr.Row():
            ui.noise_mode = gr.Radio(list(NOISE_MODES), value="const", label="noise")
            ui.noise_layers = gr.CheckboxGroup(facts.labels, value=facts.labels, label="layers that get noise")
        ui.mix_button = gr.Button("Mix styles", variant="primary")
        ui.grid = gr.Image(label="style mixing", format="png", interactive=False)
        ui.grid_note = gr.Markdown()


def _growth_panel(ui: SimpleNamespace, facts: SimpleNamespace) -> None:
    import gradio as gr

    gr.Markdown("### Growth strip and truncation")
    with gr.Row():
        ui.strip_seed = gr.Number(label="seed (z)", value=0, precision=0)
        ui.growth_button = gr.Button("Growth strip: the same z at every stage")
        ui.truncation_button = gr.Button("Truncation strip: ψ from 1 to 0", interactive=facts.style_based)
    ui.strip = gr.Image(label="strip", format="png", interactive=False)
    ui.strip_note = gr.Markdown()


def _direction_panel(ui: SimpleNamespace, facts: SimpleNamespace) -> None:
    import gradio as gr

    with gr.Column(visible=facts.style_based) as ui.directions:  # a progressive GAN has no w
        ui.direction_heading = gr.Markdown(_direction_heading(facts))
        with gr.Row():
            ui.direction_seed = gr.Number(label="seed (z)", value=0, precision=0)
            ui.direction = gr.Dropdown(facts.names, value=(facts.attributes or facts.names)[0], label="direction")
            ui.conditions = gr.CheckboxGroup(list(facts.attributes), label="keep these attributes (condition on)")
            ui.direction_psi = gr.Slider(*PSI_RANGE, value=DEFAULT_PSI, step=0.05, label="ψ (truncation)")
        ui.direction_button = gr.Button("Move along the direction")
        ui.direction_strip = gr.Image(label="-3 … +3 standard deviations", format="png", interactive=False)
        ui.direction_note = gr.Markdown()


def _wire(loaded: LoadedModel, ui: SimpleNamespace) -> None:
    @handler(gpu_seconds=GPU_SECONDS)
    def on_mix(rows, columns, group_value, psi_value, mode, layers):
        return mixing_grid(kit.ready(loaded), rows, columns, group_value, psi_value, mode, layers)

    @handler(gpu_seconds=GPU_SECONDS)
    def on_growth(seed_value):
        return growth_strip(kit.ready(loaded), seed_value)

    @handler(gpu_seconds=GPU_SECONDS)
    def on_truncation(seed_value):
        return truncation_strip(kit.ready(loaded), seed_value)

    @handler(gpu_seconds=GPU_SECONDS)
    def on_direction(seed_value, name_value, conditions_value, psi_value):
        model = kit.ready(loaded)
        return direction_strip(model, directions_of(model), seed_value, name_value, conditions_value, psi_value)

    ui.mix_button.click(on_mix, [ui.row_seeds, ui.column_seeds, ui.group, ui.mix_psi, ui.noise_mode, ui.noise_layers],
                        [ui.grid, ui.grid_note], api_name="style_mixing")
    ui.growth_button.click(on_growth, [ui.strip_seed], [ui.strip, ui.strip_note], api_name="style_growth")
    ui.truncation_button.click(on_truncation, [ui.strip_seed], [ui.strip, ui.strip_note], api_name="style_truncation")
    ui.direction_button.click(on_direction, [ui.direction_seed, ui.direction, ui.conditions, ui.direction_psi],
                              [ui.direction_strip, ui.direction_note], api_name="style_direction")
