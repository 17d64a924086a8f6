"""Autoencoder vs VAE: the same networks with and without the KL term, side by side (a view of the Latent explorer).

A deterministic autoencoder (:class:`~genhub.models.Autoencoder`) puts its codes wherever reconstruction likes them,
so decoding draws from N(0, I) mostly lands in "holes" its decoder never saw; the VAE (:class:`~genhub.models.VAE`)
is trained to keep its posterior near that prior, so the same draws decode to faces. Four comparisons:

1. the same z ~ N(0, I) (one seed, one tensor) decoded by both, and the autoencoder's draws from a Gaussian fitted
   to its codes (:func:`prior_draws`);
2. reconstructions of one face with their PSNR (:func:`compare_reconstructions`; the VAE decodes its posterior mean);
3. linear interpolation between two faces in each model's latent space (:func:`interpolation_strip`);
4. a histogram of one latent dimension over held-out faces against the N(0, 1) density (:func:`latent_histogram`).

The functions take models, tensors and PIL images and return PIL images, numbers and markdown; :class:`Comparison`
holds one pair of models, their held-out faces and the cached codes (one per pair of served exports:
:func:`served_comparison`); :func:`build` lays the view out, before the models are served (it fills in when they land).
"""

from __future__ import annotations

import functools
import math
import random
import threading
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from genhub.app import inputs
from genhub.app.loading import LoadedModel, held_out, unavailable
from genhub.app.serving import handler
from genhub.app.tabs import kit
from genhub.data import DataError, ImageDataset
from genhub.evaluation.latent import reconstruction_quality
from genhub.geometry import interpolate
from genhub.images import center_crop_resize, make_grid, sanitize_image, to_pil, to_pixel_values
from genhub.models import VAE, Autoencoder
from genhub.models.vae import reconstruction_error

AUTOENCODER_KEY, VAE_KEY = "autoencoder-faces", "vae-faces"
TITLE = "Autoencoder vs VAE"
#: Side in pixels of a face shown alone (original and reconstructions; Lanczos upscaling).
DISPLAY_SIZE = 256
DEFAULT_DRAWS, MAX_DRAWS = 8, 16
DEFAULT_FRAMES, MAX_FRAMES = 8, 16
#: The histogram encodes at most this many held-out faces per model, once (the first ones of the split).
HISTOGRAM_IMAGES = 512
HISTOGRAM_BINS = 40
#: The histogram's dimension slider before a pair is served (then: the smaller latent size of the two).
MAX_DIMENSION = 512
#: Every histogram spans at least [-PRIOR_SPAN, PRIOR_SPAN] (the prior's density is drawn over all of it).
PRIOR_SPAN = 4.0
ENCODE_BATCH = 128
#: ZeroGPU seconds: decoding at most 2 x 16 small faces; the histogram's first call encodes the held-out faces.
GPU_SECONDS = 10
HISTOGRAM_GPU_SECONDS = 30
PANEL_SIZE = (720, 260)
COLOURS = {"autoencoder": (230, 137, 60), "VAE": (66, 120, 200)}


# ------------------------------------------------------------------------------------------- helpers
def _device(model) -> torch.device:
    return next(model.parameters()).device


def display(pixel_values: torch.Tensor, size: int = DISPLAY_SIZE) -> Image.Image:
    """(C, H, W) in [-1, 1] -> PIL image upscaled (Lanczos) to ``size`` x ``size`` pixels."""
    return to_pil(pixel_values).resize((size, size), Image.Resampling.LANCZOS)


def prepare(model, source) -> torch.Tensor:
    """Any image source (upload path, bytes, PIL, array) -> sanitised (:func:`genhub.images.sanitize_image`),
    centre-cropped ``pixel_values`` float32 (model.channels, model.resolution, model.resolution) in [-1, 1].

    Raises:
        ValueError: no image (None). ImageError: unreadable, corrupt or too large.
    """
    if source is None:
        raise ValueError("Upload a photo first.")
    return to_pixel_values(center_crop_resize(sanitize_image(source, model.channels), model.resolution))


@torch.no_grad()
def encode(model, pixel_values: torch.Tensor, batch_size: int = ENCODE_BATCH
           ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Codes of images: float (N, C, H, W) in [-1, 1] -> (codes float32 (N, latent_dim) on CPU, variances).

    The codes are z = encoder(x) for the autoencoder and the posterior mean mu(x) for the VAE; variances are the VAE's
    posterior variances sigma^2(x) = exp(logvar), float32 (N, latent_dim), and None for the autoencoder.
    """
    codes, variances = [], []
    for batch in pixel_values.split(batch_size):
        out = model.encode(batch.to(_device(model)))
        if isinstance(model, VAE):
            codes.append(out[0].float().cpu())
            variances.append(out[1].float().exp().cpu())
        else:
            codes.append(out.float().cpu())
    return torch.cat(codes), (torch.cat(variances) if variances else None)


@torch.no_grad()
def decode(model, codes: torch.Tensor) -> torch.Tensor:
    """codes float (N, latent_dim) -> images float32 (N, C, H, W) in [-1, 1], on CPU."""
    return model.decode(codes.float().to(_device(model))).float().cpu()


def psnr_db(reconstruction: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of a reconstruction to its target, both float (C, H, W) in [-1, 1], on pixels scaled to [0, 1]:
    10 log10(1 / MSE) (:func:`genhub.evaluation.latent.reconstruction_quality`, the export's ``heldout_psnr_db``)."""
    error = reconstruction_error(reconstruction.cpu()[None], target.cpu()[None])
    return reconstruction_quality(error, target.numel())[1]


# ------------------------------------------------------------------------------------------- 1. prior draws
def prior_codes(autoencoder_dim: int, vae_dim: int, num_images: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """z ~ N(0, I) for both models from one seed: float32 (num_images, dim) each, the draws ``model.sample`` makes
    with ``torch.Generator().manual_seed(seed)``. Equal latent sizes: the very same tensor for both; different sizes:
    each its own draw from the same seed."""
    def draw(dim: int) -> torch.Tensor:
        return torch.randn(num_images, dim, generator=torch.Generator().manual_seed(int(seed)))

    shared = draw(autoencoder_dim)
    return shared, (shared if vae_dim == autoencoder_dim else draw(vae_dim))


def spread(images: torch.Tensor) -> float:
    """How different draws are from one another: the mean over pairs of the RMS difference of two images, float
    (N, C, H, W) in [-1, 1], on pixels scaled to [0, 1] (0: all the same picture; 0 for fewer than two images)."""
    count = len(images)
    if count < 2:
        return 0.0
    flat = (images.float().flatten(1) + 1) / 2
    distances = torch.cdist(flat, flat) / math.sqrt(flat.shape[1])
    return float(distances.sum() / (count * (count - 1)))


def prior_draws(autoencoder: Autoencoder, vae: VAE, num_images: int = DEFAULT_DRAWS, seed: int | None = None
                ) -> tuple[Image.Image, Image.Image | None, Image.Image, str]:
    """Decode the same z ~ N(0, I) (:func:`prior_codes`) with both decoders, and the autoencoder's own samples from
    the Gaussian fitted to its codes (:meth:`Autoencoder.sample` with ``fitted``, same seed): (the autoencoder's
    N(0, I) row, its fitted-Gaussian row or None when the export has no fitted Gaussian, the VAE's row, markdown
    note with each row's :func:`spread`). Each row is a :func:`genhub.images.make_grid` of ``num_images``
    (1..:data:`MAX_DRAWS`) faces at the model's resolution, width num_images * (resolution + 2) + 2 pixels.
    ``seed`` empty: drawn at random (:func:`genhub.app.inputs.seed`); the same seed gives the same rows.

    Raises:
        ValueError: ``num_images`` outside 1..MAX_DRAWS, or a bad seed.
    """
    count = inputs.whole(num_images, "number of draws", 1, MAX_DRAWS)
    seed = inputs.seed(seed)
    z_autoencoder, z_vae = prior_codes(autoencoder.latent_dim, vae.latent_dim, count, seed)
    decoded = {"autoencoder": decode(autoencoder, z_autoencoder), "VAE": decode(vae, z_vae)}
    if autoencoder.latent_gaussian is not None:
        decoded["fitted"] = autoencoder.sample(count, torch.Generator().manual_seed(seed), fitted=True).float()
    rows = {name: make_grid(images.cpu(), nrow=count) for name, images in decoded.items()}
    if z_autoencoder is z_vae:
        note = (f"{count} draws z ~ N(0, I) ({vae.latent_dim} dimensions, seed {seed}): the same tensor, decoded by "
                "each decoder.")
    else:
        note = (f"The latent sizes differ (autoencoder {autoencoder.latent_dim}, VAE {vae.latent_dim}): each model "
                f"drew its own {count} z ~ N(0, I) from the same seed {seed}.")
    note += (" The autoencoder was never asked to put its codes there: N(0, I) covers a small region inside the "
             "cloud of its codes, so its draws decode to nearly the same picture; the VAE's KL term keeps its codes "
             "near N(0, I), so its decoder makes different faces there. Fitted afterwards to the autoencoder's codes, "
             "a Gaussian (Ghosh et al. 2020) gives it samples of its own.")
    spreads = [f"{label} {spread(decoded[name]):.3f}" for name, label in
               (("autoencoder", "autoencoder N(0, I)"), ("fitted", "autoencoder fitted Gaussian"), ("VAE", "VAE"))
               if name in decoded]
    if count > 1:
        note += "\n\nHow different the draws are (mean RMS difference of two of them, pixels in [0, 1]): " + \
            ", ".join(spreads) + "."
    if "fitted" not in decoded:
        note += " This autoencoder export has no fitted Gaussian (latent_gaussian.safetensors): retrain it to see one."
    return rows["autoencoder"], rows.get("fitted"), rows["VAE"], note


# ------------------------------------------------------------------------------------------- 2. reconstructions
@dataclass
class Reconstruction:
    """One model's reconstruction of a face: ``original`` and ``reconstruction`` float32 (C, R, R) in [-1, 1] at the
    model's resolution R, on CPU, and ``psnr_db`` of the one to the other (:func:`psnr_db`, dB)."""

    original: torch.Tensor
    reconstruction: torch.Tensor
    psnr_db: float


def reconstruct(model, source) -> Reconstruction:
    """The face as ``model`` sees it (:func:`prepare`) and ``model.reconstruct`` of it: decoder(encoder(x)) for the
    autoencoder, decoder(mu(x)) for the VAE (deterministic), with its PSNR.

    Raises:
        ValueError: no image. ImageError: as :func:`prepare`.
    """
    original = prepare(model, source)
    reconstruction = model.reconstruct(original[None])[0].float().cpu()
    return Reconstruction(original, reconstruction, psnr_db(reconstruction, original))


def compare_reconstructions(autoencoder: Autoencoder, vae: VAE, source, size: int = DISPLAY_SIZE
                            ) -> tuple[Image.Image, Image.Image, Image.Image, str]:
    """(the face as the VAE sees it, the autoencoder's reconstruction, the VAE's reconstruction, markdown with each
    PSNR in dB), the images shown at ``size`` x ``size`` pixels.

    Raises:
        ValueError: no image. ImageError: unreadable, corrupt or too large.
    """
    ours = reconstruct(autoencoder, source)
    theirs = reconstruct(vae, source)
    note = (f"PSNR to the original (pixels in [0, 1], of the models' float output): **autoencoder "
            f"{ours.psnr_db:.2f} dB**, **VAE {theirs.psnr_db:.2f} dB** (from its posterior mean μ(x)).")
    if autoencoder.resolution != vae.resolution:
        note += (f" Each at its own resolution (autoencoder {autoencoder.resolution} px, VAE {vae.resolution} px); "
                 "the original is shown as the VAE sees it.")
    return (display(theirs.original, size), display(ours.reconstruction, size), display(theirs.reconstruction, size),
            note)


# ------------------------------------------------------------------------------------------- 3. interpolation
def interpolation_strip(model, first, second, num_frames: int = DEFAULT_FRAMES) -> Image.Image:
    """Encode two faces with ``model`` (:func:`encode`), take ``num_frames`` (2..:data:`MAX_FRAMES`) codes evenly
    spaced on the straight line between them (:func:`genhub.geometry.interpolate`, linear) and decode them: one
    :func:`genhub.images.make_grid` row, num_frames * (resolution + 2) + 2 pixels wide. The ends are the two
    reconstructions.

    Raises:
        ValueError: a missing image, frames outside 2..MAX_FRAMES. ImageError: as :func:`prepare`.
    """
    frames = inputs.whole(num_frames, "number of frames", 2, MAX_FRAMES)
    codes = encode(model, torch.stack([prepare(model, first), prepare(model, second)]))[0]
    return make_grid(decode(model, interpolate(codes[0], codes[1], frames, "linear")), nrow=frames)


# ------------------------------------------------------------------------------------------- 4. histogram
def normal_pdf(x: np.ndarray) -> np.ndarray:
    """The N(0, 1) density exp(-x^2 / 2) / sqrt(2 pi)."""
    return np.exp(-0.5 * np.square(x)) / math.sqrt(2 * math.pi)


def histogram(values: torch.Tensor, bins: int = HISTOGRAM_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ``values`` float (N,) in ``bins`` equal bins spanning [min(-PRIOR_SPAN, min), max(PRIOR_SPAN, max)]:
    every value falls in a bin, so the counts (int64 (bins,)) sum to N; and the bin edges (float64 (bins + 1,)),
    in the latent's units."""
    array = values.detach().double().cpu().numpy()
    low = min(-PRIOR_SPAN, float(array.min())) if array.size else -PRIOR_SPAN
    high = max(PRIOR_SPAN, float(array.max())) if array.size else PRIOR_SPAN
    counts, edges = np.histogram(array, bins=bins, range=(low, high))
    return counts.astype(np.int64), edges


def dimension_stats(values: torch.Tensor) -> tuple[int, float, float]:
    """(N, mean, standard deviation) of values float (N,), N >= 1; the std with divisor N (0 for one value)."""
    values = values.detach().double()
    return len(values), float(values.mean()), float(values.std(correction=0))


def _step(span: float, ticks: int) -> float:
    """A 1-2-5 step that cuts ``span`` into about ``ticks`` parts."""
    raw = max(span, 1e-12) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def histogram_panel(values: torch.Tensor, title: str, colour: tuple[int, int, int] = COLOURS["VAE"],
                    bins: int = HISTOGRAM_BINS, size: tuple[int, int] = PANEL_SIZE) -> Image.Image:
    """One histogram as an RGB PIL image of ``size`` (width, height): bars of the density count / (N * bin width) of
    ``values`` float (N,), N >= 1 (:func:`histogram`), the N(0, 1) density as a black curve, both axes with ticks,
    and ``title`` above."""
    counts, edges = histogram(values, bins)
    density = counts / (len(values) * np.diff(edges))
    xs = np.linspace(edges[0], edges[-1], 400)
    pdf = normal_pdf(xs)
    top = 1.1 * max(float(density.max()), float(pdf.max()))
    width, height = size
    left, right, upper, lower = 52, width - 14, 44, height - 30
    font = ImageFont.load_default(size=13)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)

    def px(x):
        return left + (x - edges[0]) / (edges[-1] - edges[0]) * (right - left)

    def py(y):
        return lower - y / top * (lower - upper)

    for count, value, start, end in zip(counts, density, edges[:-1], edges[1:]):
        if count:
            draw.rectangle([px(start), py(value), px(end), lower], fill=colour, outline=tuple(c // 2 for c in colour))
    draw.line(list(zip(px(xs).tolist(), py(pdf).tolist())), fill="black", width=2)
    draw.line([(left, upper), (left, lower), (right, lower)], fill="black")
    step = _step(float(edges[-1] - edges[0]), 8)
    for tick in np.arange(math.ceil(edges[0] / step) * step, edges[-1] + step / 1e6, step):
        x = px(tick)
        draw.line([(x, lower), (x, lower + 4)], fill="black")
        draw.text((x, lower + 6), f"{tick:g}", fill="black", font=font, anchor="ma")
    step = _step(top, 4)
    for tick in np.arange(0.0, top, step):
        y = py(tick)
        draw.line([(left - 4, y), (left, y)], fill="black")
        draw.text((left - 6, y), f"{tick:.2g}", fill="black", font=font, anchor="rm")
    draw.text((left, 6), title, fill="black", font=font)
    draw.text((right, 24), "bars: density of the codes, curve: N(0, 1)", fill=(90, 90, 90), font=font, anchor="ra")
    return image


def latent_histogram(autoencoder_codes: torch.Tensor, vae_codes: torch.Tensor, dimension: int,
                     vae_variances: torch.Tensor | None = None, bins: int = HISTOGRAM_BINS
                     ) -> tuple[Image.Image, str]:
    """Dimension ``dimension`` of both models' held-out codes against N(0, 1): (an RGB PIL image, 720 x 520 pixels,
    the autoencoder's :func:`histogram_panel` above the VAE's, each on its own x range; markdown with N, the mean
    and the std of each).

    Args:
        autoencoder_codes: float (N, D_ae), z = encoder(x). vae_codes: float (M, D_vae), posterior means mu(x).
        dimension: 0 <= dimension < min(D_ae, D_vae).
        vae_variances: float (M, D_vae), the VAE's sigma^2(x), or None; given, the note adds the aggregate
            posterior's variance Var(mu) + E[sigma^2] (what the KL term pulls towards the prior's 1).

    Raises:
        ValueError: ``dimension`` out of range, or no codes.
    """
    dims = min(autoencoder_codes.shape[1], vae_codes.shape[1])
    index = inputs.whole(dimension, "latent dimension", 0, dims - 1)
    if not len(autoencoder_codes) or not len(vae_codes):
        raise ValueError("no held-out codes to draw a histogram of")
    rows = ["| model | codes | N | mean | std |", "|---|---|---:|---:|---:|"]
    panels = []
    for name, codes, kind, plain in (("autoencoder", autoencoder_codes, "z = encoder(x)", "encoder(x)"),
                                     ("VAE", vae_codes, "posterior mean μ(x)", "mu(x)")):  # the font has no μ
        count, mean, std = dimension_stats(codes[:, index])
        rows.append(f"| {name} | {kind} | {count} | {mean:.3f} | {std:.3f} |")
        panels.append(histogram_panel(codes[:, index], f"{name}: coordinate {index} of {plain} over {count} held-out "
                                      f"faces: mean {mean:.2f}, std {std:.2f}", COLOURS[name], bins))
    figure = Image.new("RGB", (PANEL_SIZE[0], PANEL_SIZE[1] * len(panels)), "white")
    for row, panel in enumerate(panels):
        figure.paste(panel, (0, row * PANEL_SIZE[1]))
    note = "\n".join(rows) + "\n\nN(0, I), the prior the VAE samples from, has mean 0 and std 1 in every dimension."
    if vae_variances is not None:
        spread = float(vae_codes[:, index].double().var(correction=0))
        variance = float(vae_variances[:, index].double().mean())
        note += (f" The VAE's posteriors add their own spread: E[σ²] = {variance:.3f} on z{index}, so its aggregate "
                 f"posterior has variance Var(μ) + E[σ²] = {spread + variance:.3f}.")
    return figure, note


# ------------------------------------------------------------------------------------------- the pair
class Comparison:
    """One autoencoder and one VAE compared; methods return what the view shows.

    Parameters:
        autoencoder: an :class:`~genhub.models.Autoencoder`, in eval mode.
        vae: a :class:`~genhub.models.VAE`, in eval mode.
        faces: held-out faces (the picker, the interpolation ends and the histogram's codes), or None.
        max_encoded: how many of ``faces`` (the first ones) the histogram encodes, once per model.
        display_size: side in pixels of a face shown alone.

    Raises:
        TypeError: the models are not an Autoencoder and a VAE.
    """

    def __init__(self, autoencoder: Autoencoder, vae: VAE, faces: ImageDataset | None = None,
                 max_encoded: int = HISTOGRAM_IMAGES, display_size: int = DISPLAY_SIZE):
        if not isinstance(autoencoder, Autoencoder) or not isinstance(vae, VAE):
            raise TypeError(f"the comparison needs an Autoencoder and a VAE, got {type(autoencoder).__name__} and "
                            f"{type(vae).__name__}")
        self.autoencoder, self.vae, self.faces = autoencoder, vae, faces
        self.max_encoded, self.display_size = max_encoded, display_size
        self.dimensions = min(autoencoder.latent_dim, vae.latent_dim)
        self._codes: dict[str, tuple[torch.Tensor, torch.Tensor | None]] | None = None
        self._lock = threading.Lock()

    def _num_faces(self) -> int:
        if self.faces is None or len(self.faces) == 0:
            raise ValueError("no held-out faces are available on this server")
        return len(self.faces)

    def prior_draws(self, num_images: int = DEFAULT_DRAWS, seed: int | None = None):
        """:func:`prior_draws` of the pair."""
        return prior_draws(self.autoencoder, self.vae, num_images, seed)

    def reconstruct(self, source):
        """:func:`compare_reconstructions` of an uploaded image (path, bytes, PIL)."""
        return compare_reconstructions(self.autoencoder, self.vae, source, self.display_size)

    def held_out_face(self, index: int):
        """:meth:`reconstruct` held-out face ``index`` (wrapped around the split): (the index used, wrapped, then the
        :func:`compare_reconstructions` outputs).

        Raises:
            ValueError: no held-out faces.
        """
        index = int(index) % self._num_faces()
        return (index, *self.reconstruct(self.faces.image(index)))

    def random_held_out_face(self):
        """:meth:`held_out_face` of a random index."""
        return self.held_out_face(random.SystemRandom().randrange(self._num_faces()))

    def interpolate(self, first: int, second: int, num_frames: int = DEFAULT_FRAMES
                    ) -> tuple[Image.Image, Image.Image, str]:
        """:func:`interpolation_strip` of both models between held-out faces ``first`` and ``second`` (wrapped):
        (the autoencoder's strip, the VAE's, markdown note).

        Raises:
            ValueError: no held-out faces, frames outside 2..MAX_FRAMES.
        """
        count = self._num_faces()
        first, second = int(first) % count, int(second) % count
        start, end = self.faces.image(first), self.faces.image(second)
        strips = [interpolation_strip(model, start, end, num_frames) for model in (self.autoencoder, self.vae)]
        note = (f"Held-out faces {first} → {second}, {int(num_frames)} frames on the straight line between the two "
                "codes, in each model's own latent space (the VAE's codes are its posterior means μ(x)).")
        return strips[0], strips[1], note

    def held_out_codes(self) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """``{"autoencoder": (z (N, D_ae), None), "VAE": (mu (N, D_vae), sigma^2 (N, D_vae))}`` (:func:`encode`) of the
        first N = min(max_encoded, len(faces)) held-out faces, encoded on the first call and kept (thread-safe).

        Raises:
            ValueError: no held-out faces.
        """
        with self._lock:
            if self._codes is None:
                images = [self.faces.image(index) for index in range(min(self.max_encoded, self._num_faces()))]
                self._codes = {name: encode(model, torch.stack([prepare(model, image) for image in images]))
                               for name, model in (("autoencoder", self.autoencoder), ("VAE", self.vae))}
            return self._codes

    def histogram(self, dimension: int) -> tuple[Image.Image, str]:
        """:func:`latent_histogram` of the held-out codes (:meth:`held_out_codes`) at ``dimension``."""
        codes = self.held_out_codes()
        return latent_histogram(codes["autoencoder"][0], codes["VAE"][0], dimension, codes["VAE"][1])


def load_faces(models: Sequence[LoadedModel]) -> tuple[ImageDataset | None, str]:
    """The held-out split of the first of ``models`` whose training data loads (:func:`genhub.app.loading.held_out`),
    or (None, markdown saying what is not available, naming the first model's dataset only)."""
    problem = ""
    for loaded in models:
        try:
            return held_out(loaded), ""
        except DataError as error:
            problem = problem or f"No held-out faces: {unavailable(loaded, error)}."
    return None, problem


# ------------------------------------------------------------------------------------------- the view
def served_comparison(autoencoder: LoadedModel, vae: LoadedModel) -> Callable[[], tuple[Comparison, str]]:
    """A function returning (the :class:`Comparison` of the exports served now, with their held-out faces; the
    markdown of :func:`load_faces` saying why there are none, or ""): built once per pair of exports
    (:func:`genhub.app.tabs.kit.exports`), again when a newer one lands; it raises ValueError while one is missing."""
    @functools.lru_cache(maxsize=1)
    def of(ids: tuple) -> tuple[Comparison, str]:
        models = kit.ready(autoencoder), kit.ready(vae)
        faces, problem = load_faces([vae, autoencoder])
        return Comparison(*models, faces), problem

    return lambda: of(kit.exports([autoencoder, vae]))


def build(demo, autoencoder: LoadedModel, vae: LoadedModel, held_out_examples: bool = True) -> None:
    """Lay out the view inside the current container, its models served or not: it fills in when they land (the
    held-out faces' range, the histogram's dimensions); a request before then says what a model is waiting for.

    Api names: ``ae_vs_vae_prior_draws`` (num_images, seed), ``ae_vs_vae_reconstruct`` (upload),
    ``ae_vs_vae_histogram`` (dimension) and, unless ``held_out_examples=False`` (e.g. on a public Space: CelebA's
    terms; the histogram shows no face), ``ae_vs_vae_held_out_face`` (index), ``ae_vs_vae_random_held_out_face`` ()
    and ``ae_vs_vae_interpolate`` (first, second, num_frames). Those that need held-out faces say so when none load.
    """
    status = kit.opening(TITLE, f"The same encoder and decoder networks trained two ways: `{autoencoder.key}` only "
                         f"reconstructs (no prior), `{vae.key}` also keeps its codes near N(0, I) (the KL term).",
                         autoencoder, vae)
    ui = _layout(held_out_examples)
    pair = served_comparison(autoencoder, vae)
    _wire(ui, pair)
    kit.live(demo, status, [autoencoder, vae], lambda: _fill(ui, *pair()), _filled(ui), "ae_vs_vae_layout",
             GPU_SECONDS)


def _layout(held_out_examples: bool) -> SimpleNamespace:
    """Every component of the view, before its models may be served (:func:`_fill` fits them to the pair)."""
    ui = SimpleNamespace(show_faces=held_out_examples)
    _prior_panel(ui)
    _reconstruction_panel(ui)
    _interpolation_panel(ui)
    _histogram_panel(ui)
    return ui


def _filled(ui: SimpleNamespace) -> list:
    """The components :func:`_fill` updates, in its order."""
    faces = [ui.faces_column, ui.index, ui.faces_problem, ui.interpolation_row, ui.first, ui.second] if (
        ui.show_faces) else []
    return [ui.histogram_heading, ui.histogram_problem, ui.histogram_row, ui.dimension, *faces]


def _fill(ui: SimpleNamespace, comparison: Comparison, problem: str) -> list:
    """Updates that fit the laid-out view to ``comparison`` (for :func:`_filled`): the held-out faces' range, shown
    only when they load (else ``problem``), and the histogram's dimensions."""
    import gradio as gr

    faces = comparison.faces
    shown, last = faces is not None, (len(faces) - 1 if faces is not None else 0)
    updates = [gr.update(value=_histogram_heading(comparison)), gr.update(value=problem),
               gr.update(visible=shown), gr.update(maximum=comparison.dimensions - 1, value=0)]
    if ui.show_faces:
        updates += [gr.update(visible=shown), gr.update(label=f"held-out face (0–{last})"), gr.update(value=problem),
                    gr.update(visible=shown), gr.update(label=f"first held-out face (0–{last})"),
                    gr.update(label=f"second held-out face (0–{last})", value=min(1, last))]
    return updates


def _image(label: str, height: int | None = None):
    import gradio as gr

    return gr.Image(label=label, format="png", interactive=False, buttons=[], height=height)


def _prior_panel(ui: SimpleNamespace) -> None:
    import gradio as gr

    gr.Markdown("### The same z ~ N(0, I), decoded by both")
    with gr.Row():
        ui.draws = gr.Slider(1, MAX_DRAWS, value=DEFAULT_DRAWS, step=1, label="number of draws")
        ui.seed = kit.seed_box(0)
        ui.draw_button = gr.Button("Decode", variant="primary")
    ui.autoencoder_row = _image("autoencoder: decoder(z), z ~ N(0, I)")
    ui.fitted_row = _image("autoencoder: decoder(z), z from a Gaussian fitted to its codes")
    ui.vae_row = _image("VAE: decoder(z), z ~ N(0, I)")
    ui.draw_note = gr.Markdown()


def _reconstruction_panel(ui: SimpleNamespace) -> None:
    import gradio as gr

    gr.Markdown("### Reconstructions\nA photo is sanitised (orientation, colour mode, size) and centre-cropped; "
                "the VAE reconstructs from its posterior mean μ(x).")
    with gr.Row():
        ui.upload = gr.File(label="upload a photo", file_types=["image"], type="filepath")
        if ui.show_faces:
            with gr.Column() as ui.faces_column:
                ui.index = gr.Number(label="held-out face", value=0, precision=0)
                ui.face_button = gr.Button("Use this held-out face")
                ui.random_button = gr.Button("Random held-out face")
    with gr.Row():
        ui.reconstructions = [_image("original", DISPLAY_SIZE), _image("autoencoder", DISPLAY_SIZE),
                              _image("VAE", DISPLAY_SIZE)]
    ui.psnr = gr.Markdown()


def _interpolation_panel(ui: SimpleNamespace) -> None:
    import gradio as gr

    gr.Markdown("### Interpolation between two held-out faces\nEach model encodes both faces and decodes the "
                "straight line between the two codes.")
    if not ui.show_faces:
        gr.Markdown("Not on this server: it shows no held-out faces.")
        return
    ui.faces_problem = gr.Markdown()  # why there are no held-out faces, when none load
    with gr.Row() as ui.interpolation_row:
        ui.first = gr.Number(label="first held-out face", value=0, precision=0)
        ui.second = gr.Number(label="second held-out face", value=1, precision=0)
        ui.frames = gr.Slider(2, MAX_FRAMES, value=DEFAULT_FRAMES, step=1, label="frames")
        ui.interpolate_button = gr.Button("Interpolate")
    ui.autoencoder_strip = _image("autoencoder")
    ui.vae_strip = _image("VAE")
    ui.strip_note = gr.Markdown()


def _histogram_heading(comparison: Comparison | None = None) -> str:
    faces = comparison.faces if comparison is not None else None
    count = f" over {min(comparison.max_encoded, len(faces))} held-out faces" if faces is not None else ""
    return (f"### One latent dimension{count}\nThe histogram of one coordinate of the codes against the N(0, 1) "
            "density the VAE samples from (the faces are encoded on the first request).")


def _histogram_panel(ui: SimpleNamespace) -> None:
    import gradio as gr

    ui.histogram_heading = gr.Markdown(_histogram_heading())
    ui.histogram_problem = gr.Markdown()  # why there are no held-out faces, when none load
    with gr.Row() as ui.histogram_row:
        # the served pair's own range replaces this one on the page (a request is checked against it either way)
        ui.dimension = gr.Slider(0, MAX_DIMENSION - 1, value=0, step=1, label="latent dimension")
        ui.histogram_button = gr.Button("Histogram")
    ui.histogram = _image("histograms")
    ui.histogram_note = gr.Markdown()


def _wire(ui: SimpleNamespace, pair: Callable[[], tuple[Comparison, str]]) -> None:
    import gradio as gr

    def comparison() -> Comparison:
        return pair()[0]

    @handler(gpu_seconds=GPU_SECONDS)
    def prior_draws_event(num_images, seed_value):
        return comparison().prior_draws(num_images, seed_value)

    @handler(gpu_seconds=GPU_SECONDS)
    def reconstruct_event(source):
        return comparison().reconstruct(source)

    @handler(gpu_seconds=GPU_SECONDS)
    def held_out_face_event(row):
        return comparison().held_out_face(inputs.whole(row, "held-out face", 0, inputs.MAX_SEED - 1))

    @handler(gpu_seconds=GPU_SECONDS)
    def random_held_out_face_event():
        return comparison().random_held_out_face()

    @handler(gpu_seconds=GPU_SECONDS)
    def interpolate_event(first, second, num_frames):
        return comparison().interpolate(inputs.whole(first, "first held-out face", 0, inputs.MAX_SEED - 1),
                                        inputs.whole(second, "second held-out face", 0, inputs.MAX_SEED - 1),
                                        num_frames)

    @handler(gpu_seconds=HISTOGRAM_GPU_SECONDS)
    def histogram_event(dimension):
        return comparison().histogram(dimension)

    ui.draw_button.click(prior_draws_event, [ui.draws, ui.seed],
                         [ui.autoencoder_row, ui.fitted_row, ui.vae_row, ui.draw_note],
                         api_name="ae_vs_vae_prior_draws")
    outputs = [*ui.reconstructions, ui.psnr]
    ui.upload.upload(reconstruct_event, ui.upload, outputs, api_name="ae_vs_vae_reconstruct")
    if ui.show_faces:
        ui.face_button.click(held_out_face_event, ui.index, [ui.index, *outputs], api_name="ae_vs_vae_held_out_face")
        ui.random_button.click(random_held_out_face_event, None, [ui.index, *outputs],
                               api_name="ae_vs_vae_random_held_out_face")
        ui.interpolate_button.click(interpolate_event, [ui.first, ui.second, ui.frames],
                                    [ui.autoencoder_strip, ui.vae_strip, ui.strip_note],
                                    api_name="ae_vs_vae_interpolate")
    gr.on([ui.histogram_button.click, ui.dimension.release], histogram_event, ui.dimension,
          [ui.histogram, ui.histogram_note], api_name="ae_vs_vae_histogram", trigger_mode="always_last")
