"""Conditional GAN: choose what to generate. A conditional DCGAN (Mirza & Osindero 2014, projection discriminator of
Miyato & Koyama 2018) draws a face from z and a set of attributes; with z fixed, toggling an attribute shows what the
label controls and what z does (z vs y disentanglement). The model lives in :mod:`genhub.models.cgan`.
"""

from types import SimpleNamespace

import torch
from PIL import Image

from genhub.app import inputs
from genhub.app.loading import LoadedModel
from genhub.app.serving import handler
from genhub.app.tabs import kit
from genhub.images import make_grid, show, to_pil
from genhub.models.cgan import CGAN
from genhub.models.face_features import CELEBA_ATTRIBUTES

KEY = "cgan-faces"
#: What an attribute may be called before the model lands: CelebA's 40, and the shipped recipe's ``is_face``.
ANY_ATTRIBUTE = (*CELEBA_ATTRIBUTES, "is_face")
MAX_ROWS = 8
DISPLAY = 256
GRID_DISPLAY = 768
GPU_SECONDS = 10


def _z(model: CGAN, seed: int, count: int = 1) -> torch.Tensor:
    return torch.randn(count, model.latent_dim, generator=torch.Generator().manual_seed(seed))


def _decode(model: CGAN, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    device = next(model.parameters()).device
    with torch.no_grad():
        return model.generator(z.to(device), labels.to(device)).cpu()


def generate(model: CGAN, seed, chosen: list[str] | None) -> tuple[Image.Image, str]:
    """One face for z from ``seed`` and the ``chosen`` attributes (the others absent): (image, note).

    Raises:
        ValueError: a bad seed or an attribute the model does not know.
    """
    seed, chosen = inputs.seed(seed), list(chosen or [])
    image = _decode(model, _z(model, seed), model.labels(dict.fromkeys(chosen, True)))[0]
    return show(to_pil(image), DISPLAY), f"z from seed {seed}; attributes: {', '.join(chosen) or 'none'}."


def flips(model: CGAN, seed, chosen: list[str] | None) -> tuple[Image.Image, str]:
    """Same z, one attribute flipped at a time: the chosen face, then for each attribute the face with only that
    label changed. Returns (strip, note naming the columns).

    Raises:
        ValueError: as :func:`generate`.
    """
    seed, chosen = inputs.seed(seed), set(chosen or [])
    base = model.labels(dict.fromkeys(chosen, True))
    settings = [base[0]] + [base[0].clone().index_fill_(0, torch.tensor([i]), 1.0 - float(base[0, i]))
                            for i in range(len(model.attributes))]
    z = _z(model, seed).expand(len(settings), -1)
    strip = make_grid(_decode(model, z, torch.stack(settings)), nrow=len(settings))
    columns = ["as chosen"] + [("without " if name in chosen else "with ") + name for name in model.attributes]
    return show(strip, GRID_DISPLAY), f"z from seed {seed}. Columns: {', '.join(columns)}."


def grid(model: CGAN, seed, rows) -> tuple[Image.Image, str]:
    """Seeds x attribute combinations: ``rows`` (1..:data:`MAX_ROWS`) z from seeds seed, seed + 1, ...; columns no
    attribute, then each attribute alone. Returns (grid, note).

    Raises:
        ValueError: a bad seed or row count.
    """
    seed = inputs.seed(seed)
    try:
        rows = int(rows)
    except (TypeError, ValueError):
        raise ValueError(f"rows must be a whole number from 1 to {MAX_ROWS}") from None
    if not 1 <= rows <= MAX_ROWS:
        raise ValueError(f"rows must be a whole number from 1 to {MAX_ROWS}, got {rows}")
    count = len(model.attributes)
    settings = torch.cat([torch.zeros(1, count), torch.eye(count)])
    z = torch.cat([_z(model, seed + row) for row in range(rows)]).repeat_interleave(len(settings), 0)
    images = _decode(model, z, settings.repeat(rows, 1))
    return show(make_grid(images, nrow=len(settings)), GRID_DISPLAY), (
        f"Rows: seeds {seed}..{seed + rows - 1}. Columns: no attribute, then {', '.join(model.attributes)} alone.")


# ------------------------------------------------------------------------------------------- the tab
def build(demo, models: dict[str, LoadedModel]) -> None:
    """Lay out the tab for ``models[KEY]`` (missing or not: it fills in when its export lands); it opens with seed 0's
    face. Public api names: ``cgan_generate``, ``cgan_flips``, ``cgan_grid``."""
    loaded = models[KEY]
    status = kit.opening("Conditional GAN", "A DCGAN that takes attributes as well as z (Mirza & Osindero 2014; "
                         "projection discriminator, Miyato & Koyama 2018): keep z, change the attributes.", loaded)
    ui = _layout()
    if loaded.model is not None:
        attribute_boxes(ui.chosen, loaded.model)
    else:  # hidden until it lands; every name a model may have, so that an API call gets the model's own answer
        ui.chosen.choices, ui.chosen.visible = [(name, name) for name in ANY_ATTRIBUTE], False
    loaded.on_swap(lambda: attribute_boxes(ui.chosen, loaded.model))
    _wire(demo, loaded, ui)
    kit.live(demo, status, [loaded], lambda: (attribute_boxes(ui.chosen, kit.ready(loaded)),
                                              *generate(kit.ready(loaded), 0, [])),
             [ui.chosen, ui.face, ui.face_note], "cgan_first_face", GPU_SECONDS)


def attribute_boxes(boxes, model: CGAN):
    """Give the attribute boxes ``model``'s attributes: on the server (Gradio checks every request's value against
    them) and, as the returned update, on the page; they are laid out before a model may have landed."""
    return kit.offer(boxes, [], choices=[(name, name) for name in model.attributes], visible=True)


def _layout() -> SimpleNamespace:
    import gradio as gr

    ui = SimpleNamespace()
    with gr.Row():
        ui.seed = gr.Number(label="seed (z)", value=0, precision=0)
        ui.chosen = gr.CheckboxGroup([], label="attributes present", value=[])
    with gr.Row():
        ui.face = gr.Image(label="face", format="png", interactive=False, height=DISPLAY)
        ui.face_note = gr.Markdown()
    ui.flip_button = gr.Button("Same z, flip one attribute at a time")
    ui.strip = gr.Image(label="one attribute flipped per column", format="png", interactive=False)
    ui.strip_note = gr.Markdown()
    with gr.Row():
        ui.rows = gr.Slider(1, MAX_ROWS, value=4, step=1, label="seeds (rows)")
        ui.grid_button = gr.Button("Grid: seeds x attributes")
    ui.grid_image = gr.Image(label="seeds x attributes", format="png", interactive=False)
    ui.grid_note = gr.Markdown()
    return ui


def _wire(demo, loaded: LoadedModel, ui: SimpleNamespace) -> None:
    import gradio as gr

    @handler(gpu_seconds=GPU_SECONDS)
    def on_generate(seed_value, chosen_value):
        return generate(kit.ready(loaded), seed_value, chosen_value)

    @handler(gpu_seconds=GPU_SECONDS)
    def on_flips(seed_value, chosen_value):
        return flips(kit.ready(loaded), seed_value, chosen_value)

    @handler(gpu_seconds=GPU_SECONDS)
    def on_grid(seed_value, rows_value):
        return grid(kit.ready(loaded), seed_value, rows_value)

    gr.on([ui.seed.change, ui.chosen.change], on_generate, [ui.seed, ui.chosen], [ui.face, ui.face_note],
          api_name="cgan_generate", trigger_mode="always_last")
    ui.flip_button.click(on_flips, [ui.seed, ui.chosen], [ui.strip, ui.strip_note], api_name="cgan_flips")
    ui.grid_button.click(on_grid, [ui.seed, ui.rows], [ui.grid_image, ui.grid_note], api_name="cgan_grid")
