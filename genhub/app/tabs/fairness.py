"""Fairness: does debiasing (DB-VAE, Amini et al. 2019) change who a face detector misses?

The table compares the standard CNN with DB-VAEs at several alpha (inf = no resampling): face-detection recall
per group of held-out faces with its 95% Wilson interval and N, the variance of recall across the sex x Pale_Skin
groups (the paper's bias measure), recall on a domain-shifted face set when the shared data has one, and the
false-positive rate on held-out non-faces (:mod:`genhub.evaluation.fairness`). Galleries show the training faces
a DB-VAE's final resampling weights favour most and least; an upload gets every model's P(face) and, per DB-VAE,
where its resampling weight falls among the training faces'. CelebA has no skin-tone label: Pale_Skin is a weak
proxy, and none of this is the paper's PPB benchmark.
"""

from __future__ import annotations

import copy
import math
import threading
from types import SimpleNamespace

import torch
from PIL import Image

from genhub.app.families import DBVAE_FLAGS
from genhub.app.loading import LoadedModel, held_out, unavailable
from genhub.app.serving import handler, readable_upload, served_png
from genhub.app.starters import shared_data
from genhub.app.tabs import kit
from genhub.data import DataError, DataSpec, ImageDataset, load_split
from genhub.evaluation.fairness import PROXY_NOTE, THRESHOLD, audit
from genhub.images import center_crop_resize, sanitize_image, to_pil, to_pixel_values
from genhub.paths import located

#: The models compared, baseline first (registry keys).
KEYS = tuple(DBVAE_FLAGS)
DOMAIN_SHIFT = "faces_lfw_gray"  # a folder of the shared data: grayscale LFW faces, another camera and crop
GALLERY_SIZE = 8
THUMBNAIL = 96


def table(reports: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows for the comparison: a row per group (name and N), a cell per model ``recall [low, high]``,
    then the false-positive rate and the bias variance. ``reports``: key -> :func:`genhub.evaluation.fairness.audit`.
    Rows follow the first model's groups; a model without a group (other data) shows "n/a"."""
    keys = list(reports)
    names = [rate["name"] for rate in reports[keys[0]]["groups"]] + ["false positives: non-faces called faces"]

    def rates(report: dict) -> dict[str, dict]:
        found = {rate["name"]: rate for rate in report["groups"]}
        return {**found, names[-1]: report["false_positive"]}

    by_key = {key: rates(report) for key, report in reports.items()}
    rows = []
    for name in names:
        first = by_key[keys[0]][name]
        cells = [f"{by_key[k][name]['rate']:.3f} [{by_key[k][name]['low']:.3f}, {by_key[k][name]['high']:.3f}]"
                 if name in by_key[k] else "n/a" for k in keys]
        rows.append([f"{name} (N={first['n']})", *cells])
    rows.append(["recall variance across sex x Pale_Skin (bias)",
                 *("n/a" if reports[k]["bias_variance"] is None else f"{reports[k]['bias_variance']:.2e}"
                   for k in keys)])
    return ["group (N)", *keys], rows


def extremes(weights: torch.Tensor, count: int = GALLERY_SIZE) -> tuple[list[int], list[int]]:
    """Indices of the ``count`` largest and ``count`` smallest weights (float (N,)), each from the extreme inward."""
    order = weights.argsort(descending=True).tolist()
    count = min(count, len(order) // 2)
    return order[:count], order[::-1][:count]


def prepare(model, image) -> torch.Tensor:
    """Any image source -> sanitised ``pixel_values`` (1, C, H, W) at the model's resolution, in [-1, 1].

    Raises:
        ValueError: no image. ImageError: unreadable, corrupt or too large (:func:`genhub.images.sanitize_image`).
    """
    if image is None:
        raise ValueError("Upload a photo first.")
    return to_pixel_values(center_crop_resize(sanitize_image(image, model.channels), model.resolution))[None]


def weight_percentile(model, images: torch.Tensor) -> float | None:
    """Where an image's resampling weight falls among the DB-VAE's training faces': the percentage of training faces
    whose weight is at most the image's (0-100), or None without resampling weights (baseline, alpha = inf)."""
    density = getattr(model, "resampling", None)
    if density is None or math.isinf(density.alpha):
        return None
    with torch.no_grad():
        score = density.log_score(model.encode(images.to(next(model.parameters()).device))[1].float().cpu())
    return 100.0 * float((density.log_scores <= score[0]).double().mean())


def score_upload(models: dict[str, LoadedModel], image) -> list[list[str]]:
    """Rows ``[model, P(face), called a face?, resampling-weight percentile]`` for an uploaded photo.

    Raises:
        ValueError, ImageError: as :func:`prepare`.
    """
    rows = []
    for key, loaded in models.items():
        images = prepare(loaded.model, image)
        probability = float(loaded.model.face_probability(images)[0])
        percentile = weight_percentile(loaded.model, images)
        faces = "" if percentile is None else f" of {len(loaded.model.resampling.log_scores)} training faces"
        rows.append([key, f"{probability:.3f}", "yes" if probability >= THRESHOLD else "no",
                     "n/a (no resampling)" if percentile is None else f"{percentile:.1f}%{faces}"])
    return rows


def weighted(models: dict[str, LoadedModel]) -> list[str]:
    """The DB-VAEs of ``models`` with resampling weights (a finite α): a served one by its weights, a missing one by
    its training flag (:data:`DBVAE_FLAGS`)."""
    def has_weights(loaded: LoadedModel) -> bool:
        if loaded.model is None:
            flag = DBVAE_FLAGS.get(loaded.key, "")
            return flag.startswith("--alpha") and flag.split()[-1] != "inf"
        density = getattr(loaded.model, "resampling", None)
        return density is not None and not math.isinf(density.alpha)

    return [key for key, loaded in models.items() if has_weights(loaded)]


def served(models: dict[str, LoadedModel]) -> dict[str, LoadedModel]:
    """The models of ``models`` served now, each read once for the request (a newer export may land meanwhile).

    Raises:
        ValueError: none is; the message says what each is waiting for (:func:`kit.waiting`).
    """
    present = {key: copy.copy(loaded) for key, loaded in models.items() if loaded.model is not None}
    if not present:
        raise kit.not_served(list(models.values()), "no model to compare yet.\n\n")
    return present


class Audits:
    """The audit of each served model of ``models``, computed once per export (thread-safe) and kept while that export
    is served."""

    def __init__(self, models: dict[str, LoadedModel]):
        self.models = models
        self._kept: dict[str, tuple[str, dict]] = {}  # key -> (the export audited, its audit)
        self._lock = threading.Lock()

    def reports(self) -> dict[str, dict]:
        """key -> :func:`~genhub.evaluation.fairness.audit` of each model served now (the missing ones left out).

        Raises:
            DataError: a model's held-out data is not on this server.
        """
        with self._lock:
            return {key: self._report(key, copy.copy(loaded)) for key, loaded in self.models.items()
                    if loaded.model is not None}

    def _report(self, key: str, loaded: LoadedModel) -> dict:
        if self._kept.get(key, (None,))[0] != loaded.export_id:
            self._kept[key] = loaded.export_id, self._audit(loaded)
        return self._kept[key][1]

    @staticmethod
    def _audit(loaded: LoadedModel) -> dict:
        model = loaded.model
        shifted, name = None, DOMAIN_SHIFT
        data = shared_data()
        if data is not None and (data / DOMAIN_SHIFT).is_dir():
            shifted = load_split(DataSpec(str(data / DOMAIN_SHIFT), model.resolution, model.channels), "test")
        return audit(model, held_out(loaded, "pixel_values"), held_out(loaded, "nonface_values"), shifted, name)


def training_faces(loaded: LoadedModel) -> ImageDataset:
    """The training faces of a DB-VAE export, in the order of its resampling weights."""
    from genhub.hub.info import data_spec

    return load_split(located(data_spec(loaded.info)), "train", "pixel_values")


def galleries(loaded: LoadedModel) -> tuple[list[tuple[Image.Image, str]], list[tuple[Image.Image, str]]]:
    """The most up-weighted and most down-weighted training faces of a DB-VAE, captioned with their weight as a
    multiple of the uniform weight 1/N.

    Raises:
        ValueError: the model has no resampling weights. DataError: its training data is not on this server.
    """
    density = loaded.model.resampling
    if density is None or math.isinf(density.alpha):
        raise ValueError(f"{loaded.key} has no resampling weights (the baseline, or alpha = inf: uniform)")
    faces, weights = training_faces(loaded), density.weights
    if len(faces) != len(weights):
        raise DataError(f"{loaded.key}: {len(weights)} weights for {len(faces)} training faces: not its data")
    up, down = extremes(weights)

    def shown(index: int) -> tuple[Image.Image, str]:
        image = to_pil(faces[index]["pixel_values"]).resize((THUMBNAIL, THUMBNAIL), Image.Resampling.NEAREST)
        return image, f"#{index}: {float(weights[index]) * len(weights):.2f}x uniform"

    return [shown(i) for i in up], [shown(i) for i in down]


# ------------------------------------------------------------------------------------------- the tab
def build(demo, models: dict[str, LoadedModel]) -> None:
    """Lay out the tab for ``models`` (keys of :data:`KEYS`), served or not: each request compares the ones served
    when it runs, and the page fills in when their exports land. Public api names: ``fairness_table``,
    ``fairness_galleries``, ``fairness_score``."""
    status = kit.opening("Fairness: debiasing a face detector",
                         "The standard CNN and DB-VAEs (Amini et al. 2019) at several α (∞ = uniform sampling, no "
                         "debiasing), on held-out faces grouped by CelebA's attribute labels. A face counts as "
                         f"detected when P(face) ≥ {THRESHOLD}. **{PROXY_NOTE}**", *models.values())
    ui, audits = _layout(models), Audits(models)
    _wire(models, audits, ui)
    kit.live(demo, status, list(models.values()), lambda: _first_table(models, audits), [ui.results, ui.which],
             "fairness_first_table", gpu_seconds=60, partial=True)


def _measured(models: dict[str, LoadedModel], audits: Audits) -> dict:
    """The table of the models served now, headers included (they change as exports land). Raises: as
    :func:`served` and :meth:`Audits.reports`."""
    served(models)
    headers, rows = table(audits.reports())
    return {"headers": headers, "data": rows}


def _first_table(models: dict[str, LoadedModel], audits: Audits) -> tuple:
    """What the tab opens with (kit.live: once a model is served): the table of those served, and the DB-VAEs that
    have weights."""
    import gradio as gr

    choices = weighted(served(models))
    try:
        shown = _measured(models, audits)
    except DataError:
        shown = []  # the button says why
    return shown, gr.update(choices=choices, value=choices[-1] if choices else None)


def _layout(models: dict[str, LoadedModel]) -> SimpleNamespace:
    import gradio as gr

    ui = SimpleNamespace(weighted=weighted(models))  # what the gallery menu accepts (kit.live narrows it when served)
    with gr.Row():
        ui.show = gr.Button("Measure every model again (recall per group, 95% intervals)", variant="primary")
    ui.results = gr.Dataframe(headers=["group (N)", *models], label="recall [95% Wilson interval]; N per group",
                              interactive=False, wrap=True)
    with gr.Row():
        ui.which = gr.Dropdown(ui.weighted, value=ui.weighted[-1] if ui.weighted else None, label="DB-VAE")
        ui.gallery_button = gr.Button("Show its most and least up-weighted training faces")
    ui.gallery_note = gr.Markdown()
    with gr.Row():
        ui.up = gr.Gallery(label="most up-weighted (rarest in its latent space)", columns=GALLERY_SIZE,
                           height=150, format="png", allow_preview=False)
        ui.down = gr.Gallery(label="most down-weighted (most common)", columns=GALLERY_SIZE, height=150,
                             format="png", allow_preview=False)
    with gr.Row():
        ui.upload = readable_upload(gr.Image(label="a photo", sources=["upload", "clipboard"], type="filepath",
                                             image_mode=None, format="png", height=200))
        ui.scores = gr.Dataframe(headers=["model", "P(face)", "face?", "resampling-weight percentile"],
                                 label="each model on your photo", interactive=False)
    return ui


def _wire(models: dict[str, LoadedModel], audits: Audits, ui: SimpleNamespace) -> None:
    import gradio as gr

    @handler(gpu_seconds=60)
    def measure():
        try:
            return _measured(models, audits)
        except DataError as error:
            raise gr.Error(unavailable(next(iter(served(models).values())), error)) from None

    @handler(gpu_seconds=10)
    def score(image):
        return score_upload(served(models), image)

    @handler(gpu_seconds=None)
    def show_galleries(key):
        if key not in ui.weighted:
            raise ValueError(f"choose one of {ui.weighted}")
        loaded = copy.copy(models[key])
        kit.ready(loaded)
        try:
            most, least = galleries(loaded)
        except DataError as error:
            raise gr.Error(unavailable(loaded, error)) from None
        density = loaded.model.resampling
        note = (f"{len(density.log_scores)} training faces; the weights' effective sample size (Kish) is "
                f"{density.effective_sample_size():.0f} (α = {density.alpha:g}, {density.combine}).")
        return [(served_png(image), caption) for image, caption in most], [
            (served_png(image), caption) for image, caption in least], note

    ui.show.click(measure, None, ui.results, api_name="fairness_table")
    ui.upload.upload(score, ui.upload, ui.scores, api_name="fairness_score")
    ui.gallery_button.click(show_galleries, ui.which, [ui.up, ui.down, ui.gallery_note], api_name="fairness_galleries")
