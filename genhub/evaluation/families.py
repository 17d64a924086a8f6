"""What is measured for each family: one evaluator ``(EvalContext) -> Evaluation`` per family in :data:`EVALUATORS`.

- ``dcgan``: FID/KID/precision/recall of fresh samples against the held-out split, FID of an equally large
  sample of *training* images against the same held-out split (the floor a perfect model would reach at
  this sample size), detectability (a small CNN on pixels and a logistic probe on features), and the
  memorisation check (nearest training image of each of a sample of fakes; gallery PNG);
- ``stylegan``: the same as ``dcgan`` (samples at psi = 1, random noise);
- ``ddpm``: the same as ``dcgan``, on DDIM samples (:meth:`genhub.models.DDPM.sample`'s default, 50 steps, eta 0);
- ``vae`` and ``autoencoder``: reconstruction MSE/PSNR of held-out images (the VAE's from z = mu;
  :func:`genhub.evaluation.latent.reconstruction_quality`, the definition the export's card uses too), and the
  sample metrics above of decodes of z ~ N(0, I) but memorisation, so the quiz's leaderboard compares every face
  generator's detectability on one split and one feature space. Blurry decodes sit closer in RMS to *some*
  training face than sharp held-out photos do: the memorisation check flagged 63 of 64 prior draws of a starter
  VAE whose gallery shows the same few low-contrast faces as nearest neighbours and no copies, so it is not run
  for these families;
- ``pix2pix``: L1 / PSNR / SSIM of translations against their held-out targets, and FID/KID of translations
  against the targets;
- ``cyclegan``: FID/KID of translations A->B against held-out B (and B->A against A);
- ``pixelcnn``: held-out bits/dim (and the 8-bit equivalent); sample metrics only with ``num_samples`` set
  (pixel-by-pixel sampling is slow);
- ``cgan``: conditional accuracy per attribute (genhub's face feature network judges samples asked to show it or
  not), then the sample metrics above on fakes conditioned on the held-out faces' label vectors;
- ``dbvae``: the fairness audit of a face detector (:mod:`genhub.evaluation.fairness`): recall per group of held-out
  faces with N and 95% Wilson intervals, the across-group variance, the false-positive rate on held-out non-faces.

Every evaluator reads its data through :meth:`EvalContext.data`, i.e. :func:`genhub.data.load_split` of the
export's :class:`~genhub.data.DataSpec`: ``pixel_values`` (dcgan, ddpm, vae, autoencoder), ``real_A`` / ``real_B``
of one row (pix2pix) or of two domains (cyclegan). Fakes are quantised to 8 bits, as the real photos are.
A new family adds one function to :data:`EVALUATORS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from genhub.data import DataSpec, load_split
from genhub.evaluation import metrics as M
from genhub.evaluation.features import face_rate
from genhub.evaluation.latent import reconstruction_errors, reconstruction_quality
from genhub.images import quantise
from genhub.models.base import GenhubModel

#: The memorisation gallery's file name in the report folder (never in the export: it shows training images).
GALLERY_FILE = "memorisation_gallery.png"


# ------------------------------------------------------------------------------------ context
@dataclass
class EvalContext:
    """Everything a family's evaluator needs.

    Attributes:
        model: the export's model, eval mode.
        spec: the data to measure on (see :func:`genhub.evaluation.exports.evaluation_data`).
        split: the held-out split; ``train_split``: the split the floor and memorisation use.
        space: the feature space of FID/KID/precision/recall.
        output_dir: where the memorisation gallery goes.
        num_samples: fakes to draw (None: as many as held-out reals); ``max_real``: cap on held-out reals.
        memorisation_samples: fakes checked for copies (0: no check); ``batch_size``: images per forward pass.
        seed: seeds sampling, subsets and classifiers.
    """

    model: GenhubModel
    spec: DataSpec
    split: str
    space: M.FeatureSpace
    output_dir: Path
    num_samples: int | None = None
    max_real: int | None = None
    memorisation_samples: int = 64
    train_split: str = "train"
    batch_size: int = 64
    seed: int = 0
    _loaded: dict = field(default_factory=dict, repr=False)

    def data(self, split: str, key: str | None = None) -> torch.utils.data.Dataset:
        """``load_split(spec, split, key)``, loaded once per (split, key)."""
        if (split, key) not in self._loaded:
            self._loaded[split, key] = load_split(self.spec, split, key)
        return self._loaded[split, key]

    def generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + offset)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Features of images (N, C, H, W) in [-1, 1], ``batch_size`` at a time: float64 (N, d)."""
        return self.space.features(images.split(self.batch_size))


@dataclass
class Evaluation:
    """A family evaluator's result: flat metrics (name -> float), how each is measured, and details."""

    metrics: dict[str, float] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def add(self, name: str, value: float, description: str) -> None:
        self.metrics[name], self.descriptions[name] = float(value), description


def stack(dataset: torch.utils.data.Dataset, key: str, limit: int | None = None, batch_size: int = 256) -> torch.Tensor:
    """The first ``limit`` (default: all) items' ``key`` of a dataset as one tensor (N, C, H, W)."""
    if limit is not None and limit < len(dataset):
        dataset = torch.utils.data.Subset(dataset, range(limit))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size)
    return torch.cat([batch[key] for batch in loader])


@torch.no_grad()
def _generate(make: Callable[[int, torch.Generator], torch.Tensor], count: int, ctx: EvalContext) -> torch.Tensor:
    generator = ctx.generator()
    return torch.cat([quantise(make(min(ctx.batch_size, count - start), generator).cpu())
                      for start in range(0, count, ctx.batch_size)])


@torch.no_grad()
def _translate(ctx: EvalContext, images: torch.Tensor, *direction: str) -> torch.Tensor:
    return torch.cat([quantise(ctx.model.translate(x, *direction).cpu()) for x in images.split(ctx.batch_size)])


def _space_name(ctx: EvalContext) -> str:
    return "" if ctx.space.standard else f", {ctx.space.name} v{ctx.space.version}"


# ------------------------------------------------------------------------------------ shared measurements
def distribution_metrics(ctx: EvalContext, result: Evaluation, real_features: torch.Tensor,
                         fake_features: torch.Tensor, what: str = "", against: str = "held-out images") -> None:
    """FID, KID, precision and recall of ``fake_features`` against ``real_features`` (float (N, d), (M, d)),
    added to ``result``; names carry the space (and "not comparable ..." unless it is the standard one)."""
    label = ctx.space.label
    suffix = f"{_space_name(ctx)}{f' ({what})' if what else ''}"
    comparable = "" if ctx.space.standard else f" ({M.NOT_COMPARABLE})"
    kid_mean, kid_std = M.kid(real_features, fake_features, seed=ctx.seed)
    precision, recall = M.precision_recall(real_features, fake_features)
    n, m = len(real_features), len(fake_features)
    result.add(f"FID{suffix}{comparable}", M.fid(real_features, fake_features),
               f"Fréchet distance (Heusel et al. 2017) of {m} generated vs {n} {against}; features: {label}.")
    result.add(f"KID{suffix}{comparable}", kid_mean,
               f"Kernel Inception Distance (Bińkowski et al. 2018), mean of 100 subsets (std {kid_std:.3g}), "
               f"{m} generated vs {n} {against}; features: {label}.")
    result.add(f"precision{suffix}", precision,
               f"Kynkäänniemi et al. 2019 (k=3): share of generated images inside the manifold of {against}; "
               f"features: {label}.")
    result.add(f"recall{suffix}", recall,
               f"Kynkäänniemi et al. 2019 (k=3): share of {against} inside the manifold of generated images; "
               f"features: {label}.")
    rate = face_rate(ctx.space, fake_features)
    if rate is not None:
        result.add(f"face check{suffix}", rate,
                   f"share of the {m} generated images that the face head of {ctx.space.name} v{ctx.space.version} "
                   f"calls faces (P(face) > 0.5); {against}: {face_rate(ctx.space, real_features):.3f}.")


def _detectability(ctx: EvalContext, result: Evaluation, real: torch.Tensor, fake: torch.Tensor,
                   real_features: torch.Tensor, fake_features: torch.Tensor) -> None:
    for kind, (real_input, fake_input) in {"cnn": (real, fake), "linear": (real_features, fake_features)}.items():
        found = M.detectability(real_input, fake_input, kind, seed=ctx.seed)
        what = ("a small CNN on pixels" if kind == "cnn"
                else f"a logistic-regression probe on features ({ctx.space.name} v{ctx.space.version})")
        result.add(f"detectability ({'pixel CNN' if kind == 'cnn' else 'feature probe'})", found.accuracy,
                   f"held-out accuracy of {what} trained on {found.train_images} images (half real, half fake) and "
                   f"tested on {found.trials} others; 95% Wilson interval {found.low:.3f}–{found.high:.3f}. "
                   "0.5 = fakes indistinguishable; lower = harder to spot.")
        result.details[f"detectability_{kind}"] = found.as_dict()


def _memorisation(ctx: EvalContext, result: Evaluation, real: torch.Tensor, fake: torch.Tensor) -> None:
    train = ctx.data(ctx.train_split)
    count = min(ctx.memorisation_samples, len(fake), len(real))
    queries = torch.cat([fake[:count], real[:count]])
    loader = torch.utils.data.DataLoader(train, batch_size=512)
    found = M.nearest_neighbours(queries, (batch["pixel_values"] for batch in loader))
    fakes, held_out_reals = (M.Neighbours(found.distances[part], found.indices[part], found.mirrored[part])
                             for part in (slice(0, count), slice(count, 2 * count)))
    summary = M.memorisation_summary(fakes, held_out_reals)
    neighbours = torch.stack([train[i]["pixel_values"].flip(-1) if mirrored else train[i]["pixel_values"]
                              for i, mirrored in zip(fakes.indices.tolist(), fakes.mirrored.tolist())])
    gallery = ctx.output_dir / GALLERY_FILE
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    M.memorisation_gallery(fake[:count], neighbours, fakes.distances).save(gallery)
    summary["gallery"] = str(gallery)
    summary["nearest"] = [{"fake": i, "train_index": int(j), "mirrored": bool(k), "distance": float(d)}
                          for i, (j, k, d) in enumerate(zip(fakes.indices, fakes.mirrored, fakes.distances))]
    result.details["memorisation"] = summary
    result.add("memorisation: suspected copies", summary["suspected_copies"],
               f"of {count} fakes, how many are closer to a training image (or its mirror image) than every one of "
               f"{count} held-out real faces is (RMS pixel distance); each fake and its nearest training image are "
               "in the gallery, kept locally because it shows training images.")
    result.add("memorisation: median nearest-training distance", summary["fake_median_distance"],
               f"median RMS pixel distance ([-1, 1] units) from a fake to its nearest training image; held-out reals: "
               f"{summary['held_out_median_distance']:.4f}.")


def sample_quality(ctx: EvalContext, result: Evaluation, memorise: bool = True,
                   sample: Callable[[int, torch.Generator], torch.Tensor] | None = None) -> None:
    """Sample metrics of an unconditional generator (``model.sample(count, generator=...)`` ->
    (count, C, H, W) in [-1, 1], or ``sample(count, generator)``): distribution metrics, the training-data floor,
    detectability and, unless ``memorise`` is False, memorisation."""
    real = stack(ctx.data(ctx.split), "pixel_values", ctx.max_real)
    sample = sample or (lambda count, generator: ctx.model.sample(count, generator=generator))
    fake = _generate(sample, ctx.num_samples or len(real), ctx)
    real_features, fake_features = ctx.features(real), ctx.features(fake)
    distribution_metrics(ctx, result, real_features, fake_features)

    train = ctx.data(ctx.train_split)
    floor_order = torch.randperm(len(train), generator=ctx.generator(1))[: len(real)].tolist()
    floor = stack(torch.utils.data.Subset(train, floor_order), "pixel_values")
    result.add(f"FID{_space_name(ctx)}, training vs held-out images (floor)",
               M.fid(real_features, ctx.features(floor)),
               f"FID of {len(floor)} random training images vs the {len(real)} held-out images: what a model that "
               f"reproduced the data distribution would score at this sample size; features: {ctx.space.label}.")
    _detectability(ctx, result, real, fake, real_features, fake_features)
    if memorise and ctx.memorisation_samples > 0:  # 0: skipped (the starters' floor checks: 16 s a model)
        _memorisation(ctx, result, real, fake)


# ------------------------------------------------------------------------------------ families
def evaluate_unconditional(ctx: EvalContext) -> Evaluation:
    """Unconditional generators (DCGAN, StyleGAN, DDPM): sample metrics, floor, detectability, memorisation."""
    result = Evaluation()
    sample_quality(ctx, result)
    return result


def evaluate_autoencoder(ctx: EvalContext) -> Evaluation:
    """Autoencoder families: reconstruction MSE / PSNR of held-out images (``model.reconstruct``: the VAE's from
    z = mu), then the sample metrics of decodes of z ~ N(0, I) (no memorisation check: see the module's docstring)."""
    held_out = ctx.data(ctx.split)
    if ctx.max_real is not None and ctx.max_real < len(held_out):
        held_out = torch.utils.data.Subset(held_out, range(ctx.max_real))
    reconstruction = reconstruction_errors(ctx.model, held_out, ctx.batch_size)
    mse, psnr_db = reconstruction_quality(reconstruction, ctx.model.channels * ctx.model.resolution ** 2)
    result = Evaluation()
    result.add("reconstruction MSE", mse, f"mean squared error per pixel value (pixels in [0, 1]) of {len(held_out)} "
               "held-out images reconstructed (the VAE's decoded from z = mu; float decode), pooled over all images.")
    result.add("reconstruction PSNR (dB)", psnr_db, "10 log10(1 / reconstruction MSE): the PSNR of the pooled MSE "
               "(not a mean of per-image PSNRs), pixels in [0, 1]; the export's heldout_psnr_db is the same measure.")
    sample_quality(ctx, result, memorise=False)
    return result


def _predicted(classifier, images: torch.Tensor, name: str, batch_size: int) -> torch.Tensor:
    """The face feature network's call (logit > 0) on attribute ``name`` for images (N, C, H, W): bool (N,)."""
    column = classifier.attributes.index(name)
    with torch.no_grad():
        return torch.cat([classifier(batch)[:, column] > 0 for batch in images.split(batch_size)])


def conditional_accuracy(ctx: EvalContext, result: Evaluation, labelled, per_attribute: int = 256) -> None:
    """For each conditioning attribute the face feature network knows: ``per_attribute`` samples, half asked to show
    it and half not (the other labels from held-out faces), and how often the network sees what was asked, with the
    network's own accuracy on the held-out photos beside it (its ceiling)."""
    from genhub.evaluation.features import attribute_network
    from genhub.evaluation.intervals import wilson_interval

    classifier = attribute_network(ctx.space)
    if classifier is None:
        result.details["conditional_accuracy"] = "needs genhub's face feature network (not the Inception space)"
        return
    model, generator = ctx.model, ctx.generator(7)
    real = stack(labelled, "pixel_values")
    for index, name in enumerate(model.attributes):
        if name not in classifier.attributes:
            continue
        wanted = labelled.labels[torch.randint(len(labelled), (per_attribute,), generator=generator)].clone()
        wanted[:, index] = (torch.arange(per_attribute) < per_attribute // 2).float()
        fakes = torch.cat([quantise(model.sample(len(chunk), generator, labels=chunk).cpu())
                           for chunk in wanted.split(ctx.batch_size)])
        hits = int((_predicted(classifier, fakes, name, ctx.batch_size) == wanted[:, index].bool()).sum())
        low, high = wilson_interval(hits, per_attribute)
        ceiling = float((_predicted(classifier, real, name, ctx.batch_size)
                         == labelled.labels[:, index].bool()).float().mean())
        result.add(f"conditional accuracy: {name}", hits / per_attribute,
                   f"{per_attribute} samples, half asked for {name} and half not; share on which "
                   f"{ctx.space.name} agrees with the request (95% Wilson {low:.3f}-{high:.3f}). The network's own "
                   f"accuracy on {len(labelled)} held-out photos: {ceiling:.3f}.")
        result.details[f"conditional_accuracy_{name}"] = {"hits": hits, "n": per_attribute, "low": low,
                                                          "high": high, "real_accuracy": ceiling}


def evaluate_conditional(ctx: EvalContext) -> Evaluation:
    """Conditional GAN: conditional accuracy per attribute, then the sample metrics of fakes conditioned on the
    held-out faces' own label vectors (so the attributes' joint distribution is the data's)."""
    from genhub.data import LabelledImageDataset

    labelled = LabelledImageDataset(ctx.data(ctx.split), ctx.model.attributes)
    result = Evaluation()
    conditional_accuracy(ctx, result, labelled)
    pool = labelled.labels

    class _FromData:  # the model's sampler with label vectors cycled from the held-out faces
        def __init__(self):
            self.start = 0

        def __call__(self, count: int, generator=None):
            rows = torch.arange(self.start, self.start + count) % len(pool)
            self.start += count
            return ctx.model.sample(count, generator, labels=pool[rows])

    sample_quality(ctx, result, memorise=True, sample=_FromData())
    return result


def evaluate_likelihood(ctx: EvalContext) -> Evaluation:
    """PixelCNN: held-out negative log-likelihood in bits/dim (and its 8-bit equivalent); with ``num_samples`` set,
    also the sample metrics of that many samples drawn pixel by pixel (slow: one network pass per pixel)."""
    import math

    from genhub.evaluation.outlier import score_dataset

    held_out = ctx.data(ctx.split)
    if ctx.max_real is not None and ctx.max_real < len(held_out):
        held_out = torch.utils.data.Subset(held_out, range(ctx.max_real))
    bits = float(score_dataset(ctx.model, held_out, ctx.batch_size).double().mean())
    result = Evaluation()
    levels = ctx.model.num_levels
    result.add("bits/dim", bits, f"mean negative log2-likelihood per sub-pixel of {len(held_out)} held-out images "
               f"quantised to {levels} levels.")
    result.add("bits/dim, 8-bit equivalent", bits + math.log2(256 / levels), f"bits/dim + log2(256 / {levels}): "
               "the likelihood of the 8-bit image with a uniform density inside each level.")
    if ctx.num_samples:
        sample_quality(ctx, result, memorise=False)
    return result


def evaluate_detector(ctx: EvalContext) -> Evaluation:
    """DB-VAE and its CNN baseline: the fairness audit (:func:`genhub.evaluation.fairness.audit`) on the held-out
    faces (``pixel_values``) and non-faces (``nonface_values``): recall per group with N and Wilson intervals, the
    bias variance, the false-positive rate; the full report goes to ``details["fairness"]``."""
    from genhub.evaluation.fairness import PROXY_NOTE, audit, audit_metrics

    report = audit(ctx.model, ctx.data(ctx.split, "pixel_values"), ctx.data(ctx.split, "nonface_values"))
    result = Evaluation(details={"fairness": report})
    for name, value in audit_metrics(report).items():
        result.add(name, value, "share of the images called faces (P(face) >= 0.5); groups from CelebA attribute "
                   f"labels on the held-out split. {PROXY_NOTE}")
    return result


def evaluate_paired(ctx: EvalContext) -> Evaluation:
    """pix2pix: L1 / PSNR / SSIM of G(input) against the held-out targets; FID/KID of G(input) vs targets."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    pairs = ctx.data(ctx.split)
    real_A, real_B = stack(pairs, "real_A", ctx.max_real), stack(pairs, "real_B", ctx.max_real)
    fake_B = _translate(ctx, real_A)
    result = Evaluation()
    result.add("L1 to target", (fake_B - real_B).abs().mean(), f"mean |G(input) - target| over {len(real_B)} held-out "
               "pairs, pixels in [-1, 1] (the units of pix2pix's L1 loss).")
    result.add("PSNR to target (dB)", M.psnr(((fake_B - real_B) / 2).pow(2).mean()),
               "PSNR of G(input) (8-bit) against the target: 10 log10(1 / MSE), the MSE pooled over all pairs, "
               "pixels in [0, 1].")
    result.add("SSIM to target", structural_similarity_index_measure((fake_B + 1) / 2, (real_B + 1) / 2,
                                                                     data_range=1.0),
               "mean SSIM (Wang et al. 2004; Gaussian window 11, sigma 1.5) of G(input) against the target.")
    distribution_metrics(ctx, result, ctx.features(real_B), ctx.features(fake_B), "translations", "held-out targets")
    return result


def evaluate_unpaired(ctx: EvalContext) -> Evaluation:
    """CycleGAN: FID/KID/precision/recall of A->B translations against held-out B images, and of B->A against A; a
    voice CycleGAN (audio data): :func:`evaluate_voice`."""
    if ctx.spec.modality == "audio":
        return evaluate_voice(ctx)
    real = {key[-1]: stack(ctx.data(ctx.split, key), key, ctx.max_real) for key in ("real_A", "real_B")}
    result = Evaluation()
    for direction in ("AB", "BA"):
        source, target = real[direction[0]], real[direction[1]]
        distribution_metrics(ctx, result, ctx.features(target), ctx.features(_translate(ctx, source, direction)),
                             f"{direction[0]}->{direction[1]}", f"held-out domain-{direction[1]} images")
    return result


def evaluate_voice(ctx: EvalContext) -> Evaluation:
    """A voice CycleGAN on the paired held-out split: :func:`genhub.evaluation.voice.voice_metrics` (spectrogram DTW
    distance to the true target-voice clip, converted and not; median F0; cycle L1), at most ``max_real`` pairs."""
    from genhub.evaluation.voice import voice_metrics

    result = Evaluation()
    for name, value in voice_metrics(ctx.model, ctx.spec, ctx.max_real).items():
        result.add(name, value, next(text for prefix, text in VOICE_METRICS if name.startswith(prefix)))
    return result


#: What each voice measurement is (by the start of its name), for the report and the card.
VOICE_METRICS = (
    ("dtw_l1", "mean L1 (in [-1, 1] log-mel units) between the clip and the true clip of the same sentence in the "
               "target voice, after DTW alignment, over the paired held-out split"),
    ("cycle", "mean |X->Y->X - X| of the log-mel spectrograms, in [-1, 1] units"),
    ("median F0", "median over clips of each clip's median F0 (pYIN), Hz; converted clips through Griffin-Lim"),
    ("paired", "sentences of the paired held-out split, each said in both voices"),
)


#: family (``training_info.json`` "family") -> its evaluator. Add a family here.
EVALUATORS: dict[str, Callable[[EvalContext], Evaluation]] = {
    "dcgan": evaluate_unconditional,
    "ddpm": evaluate_unconditional,
    "stylegan": evaluate_unconditional,
    "vae": evaluate_autoencoder,
    "autoencoder": evaluate_autoencoder,
    "pix2pix": evaluate_paired,
    "cyclegan": evaluate_unpaired,
    "dbvae": evaluate_detector,
    "pixelcnn": evaluate_likelihood,
    "cgan": evaluate_conditional,
}
