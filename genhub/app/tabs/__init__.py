"""The app's tabs: one module per tab, each with pure functions and ``build(demo, models, **options)``, and
:data:`TABS`, the one table that ``app.py``, every Space and the tests build from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Sequence

from genhub.app.loading import LoadedModel
from genhub.app.registry import DEFAULT_MODELS
from genhub.app.serving import DELETE_CACHE, expire_cache_under_load
from genhub.app.tabs import (
    autoregressive,
    conditional,
    diffusion,
    fairness,
    latent,
    models,
    quiz,
    style_mixing,
    translate,
    voice,
)


@dataclass(frozen=True)
class Tab:
    """One entry of :data:`TABS`.

    Parameters:
        name: short id; Spaces pick their entry by it (:func:`tab`).
        title: the tab's label in the app.
        module: its module, whose ``build(demo, models, **options)`` lays it out inside the current container.
        keys: the registry keys it uses, in order; only these are loaded for it and passed to ``build``.
        api_names: its public endpoints when every model loads with the default options (kept stable: the
            README and ``examples/api_client.py`` call them).
        options: keyword options for ``build``.
    """

    name: str
    title: str
    module: ModuleType
    keys: tuple[str, ...]
    api_names: tuple[str, ...]
    options: dict = field(default_factory=dict)

    def with_options(self, **options) -> "Tab":
        """The same entry with ``options`` added to (or replacing) its build options."""
        return replace(self, options={**self.options, **options})

    def build(self, demo, models: dict[str, LoadedModel]) -> None:
        """Lay the tab out in the current container with its models (``models`` must hold its :attr:`keys`); a model
        below its floor gets one line in the tab's status (:func:`genhub.app.tabs.kit.waiting`)."""
        self.module.build(demo, {key: models[key] for key in self.keys}, **self.options)


def _latent_api(key: str, vae: bool) -> tuple[str, ...]:
    actions = ("random_face", "edit", "encode", "held_out_face", "interpolate") if vae else (
        "random_face", "edit", "interpolate")
    return tuple(f"{key.replace('-', '_')}_{action}" for action in actions)


TABS: tuple[Tab, ...] = (
    Tab("quiz", "Which face is fake?", quiz, quiz.game.KEYS, ("new_round", "guess_left", "guess_right", "everyone")),
    Tab("translate", "Image-to-image", translate, ("pix2pix-sketch2face", "cyclegan-eyeglasses"),
        ("select_model", "translate", "translate_sketch")),
    Tab("latent", "Latent explorer", latent, ("vae-faces", "dcgan-faces", "autoencoder-faces"),
        _latent_api("vae-faces", vae=True) + _latent_api("dcgan-faces", vae=False)
        + tuple(f"ae_vs_vae_{action}" for action in ("prior_draws", "reconstruct", "held_out_face",
                                                      "random_held_out_face", "interpolate", "histogram"))),
    Tab("diffusion", "Diffusion", diffusion, ("ddpm-faces",),
        ("diffusion_sample", "diffusion_film_strip", "diffusion_forward", "diffusion_invert", "diffusion_interpolate")),
    Tab("conditional", "Conditional GAN", conditional, (conditional.KEY,),
        ("cgan_generate", "cgan_flips", "cgan_grid")),
    Tab("style", "Style mixing", style_mixing, (style_mixing.KEY,),
        ("style_mixing", "style_growth", "style_truncation", "style_direction")),
    Tab("autoregressive", "Autoregressive", autoregressive, (autoregressive.KEY, *autoregressive.COMPARED),
        ("pixelcnn_sample", "pixelcnn_complete", "pixelcnn_surprise", "pixelcnn_outliers")),
    Tab("voice", "Voice conversion", voice, (voice.KEY,), ("voice_convert", "voice_held_out")),
    Tab("fairness", "Fairness", fairness, fairness.KEYS, ("fairness_table", "fairness_galleries", "fairness_score")),
    Tab("models", "Models", models, tuple(DEFAULT_MODELS), ()),
)


def tab(name: str, **options) -> Tab:
    """The :data:`TABS` entry ``name`` with ``options`` added.

    Raises:
        ValueError: no entry has that name.
    """
    for entry in TABS:
        if entry.name == name:
            return entry.with_options(**options)
    raise ValueError(f"unknown tab {name!r}; known tabs: {', '.join(entry.name for entry in TABS)}")


def model_keys(tabs: Sequence[Tab]) -> list[str]:
    """The registry keys the tabs use, each once, in order of first use."""
    return list(dict.fromkeys(key for entry in tabs for key in entry.keys))


def assemble(tabs: Sequence[Tab], models: dict[str, LoadedModel], title: str, header: str = ""):
    """A ``gr.Blocks`` titled ``title``: ``header`` (markdown) then the tabs, each in its own ``gr.Tab``
    (a single tab fills the page). ``models`` must hold every key of :func:`model_keys`. Its cached files
    expire (``delete_cache``: :data:`genhub.app.serving.DELETE_CACHE`, kept working by
    :func:`~genhub.app.serving.expire_cache_under_load`)."""
    import gradio as gr

    expire_cache_under_load()
    with gr.Blocks(title=title, delete_cache=DELETE_CACHE) as demo:
        if header:
            gr.Markdown(header)
        if len(tabs) == 1:
            tabs[0].build(demo, models)
        else:
            for entry in tabs:
                with gr.Tab(entry.title):
                    entry.build(demo, models)
    return demo
