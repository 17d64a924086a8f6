"""Quality evaluation of an export: numbers in a JSON file, the export's ``training_info.json`` and its
model card (``model-index``).

    python -m genhub.evaluate checkpoints/dcgan-faces-64 [--dataset ../shared/data/faces_celeba] [--split test]
        [--feature_network checkpoints/face-features]
        [--inception_weights pt_inception-2015-12-05-6726825d.pth [--inception_sha256 HEX]]

FID, KID, precision and recall are measured in one feature space: Inception-v3 with the standard FID
weights when ``--inception_weights`` is given (the file's SHA-256 is checked; only then are the numbers
the published kind), else genhub's own face feature network (``training/train_face_features.py``), and
then every report says the numbers are not comparable with published FIDs. There is no fallback to an
untrained network: without either, evaluation stops with the command that trains one.

What is measured depends on the family (:data:`EVALUATORS`, one function per family):

- ``dcgan``: FID/KID/precision/recall of fresh samples against the held-out split, FID of an equally large
  sample of *training* images against the same held-out split (the floor a perfect model would reach at
  this sample size), detectability (a small CNN on pixels and a logistic probe on features), and the
  memorisation check (nearest training image of each of a sample of fakes; gallery PNG);
- ``vae``: reconstruction MSE/PSNR of held-out images (z = mu), and the sample metrics above but
  detectability and memorisation;
- ``pix2pix``: L1 / PSNR / SSIM of translations against their held-out targets, and FID/KID of translations
  against the targets;
- ``cyclegan``: FID/KID of translations A->B against held-out B (and B->A against A).

A new family adds one function ``(EvalContext) -> Evaluation`` to :data:`EVALUATORS`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from genhub import metrics as M
from genhub.card import read_training_info, save_training_info
from genhub.data import DataError, ImageDataset, image_columns, load_source, load_unpaired_dataset
from genhub.images import to_uint8
from genhub.models.base import CheckpointError, GenhubModel
from genhub.models.inception import STANDARD_SHA256, FIDInceptionV3, sha256_file

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FEATURE_NETWORK = "checkpoints/face-features"
REPORT_FILE = "evaluation.json"
GALLERY_FILE = "memorisation_gallery.png"


# ------------------------------------------------------------------------------------ feature spaces
def inception_space(path: str | Path, sha256: str = STANDARD_SHA256) -> M.FeatureSpace:
    """Inception-v3 FID features from a local weights file whose SHA-256 must equal ``sha256``; the space is
    "standard" only when that is :data:`~genhub.models.inception.STANDARD_SHA256`.

    Raises:
        CheckpointError: missing file, hash mismatch, or weights that do not fit.
    """
    network = FIDInceptionV3.from_weights(path, sha256)
    return M.FeatureSpace(network, "inception-v3-fid", "2015-12-05", sha256.lower(),
                          standard=sha256.lower() == STANDARD_SHA256)


def face_feature_space(location: str | Path) -> M.FeatureSpace:
    """genhub's trained face feature network (never comparable with published FIDs).

    Raises:
        CheckpointError: not a trained feature-network export (see ``load_feature_network``).
    """
    from genhub.models.face_features import load_feature_network

    folder = _resolve(location)
    network = load_feature_network(folder)

    class Features(torch.nn.Module):  # the penultimate layer, as torchmetrics' ``feature`` module expects
        def __init__(self):
            super().__init__()
            self.net, self.num_features = network, network.num_features

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.net.features(images)

    return M.FeatureSpace(Features(), network.name, network.version, sha256_file(folder / "model.safetensors"))


def _resolve(location: str | Path) -> Path:
    path = Path(location).expanduser()
    return path if path.exists() or path.is_absolute() else PROJECT_ROOT / path


# ------------------------------------------------------------------------------------ context
@dataclass
class EvalContext:
    """Everything a family's evaluator needs. ``source``/``split``: the held-out data; ``train_split``:
    the split memorisation is checked against; ``num_samples``: fakes to draw (None: as many as reals)."""

    model: GenhubModel
    info: dict
    source: str
    split: str
    space: M.FeatureSpace
    output_dir: Path
    num_samples: int | None = None
    max_real: int | None = None
    memorisation_samples: int = 64
    train_split: str = "train"
    batch_size: int = 64
    seed: int = 0

    @property
    def args(self) -> dict:
        return self.info.get("args") or {}

    def generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + offset)


@dataclass
class Evaluation:
    """A family evaluator's result: flat metrics (name -> float), how each is measured, and details."""

    metrics: dict[str, float] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def add(self, name: str, value: float, description: str) -> None:
        self.metrics[name], self.descriptions[name] = float(value), description


def quantise(images: torch.Tensor) -> torch.Tensor:
    """Round images (B, C, H, W) in [-1, 1] to the 8-bit values a saved PNG would hold, as real photos are."""
    return torch.from_numpy(to_uint8(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def stack(dataset: torch.utils.data.Dataset, key: str, limit: int | None = None, batch_size: int = 256) -> torch.Tensor:
    """The first ``limit`` (default: all) items' ``key`` of a dataset as one tensor (N, C, H, W)."""
    if limit is not None and limit < len(dataset):
        dataset = torch.utils.data.Subset(dataset, range(limit))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size)
    return torch.cat([batch[key] for batch in loader])


def _batches(images: torch.Tensor, size: int):
    return images.split(size)


@torch.no_grad()
def _generate(make: Callable[[int, torch.Generator], torch.Tensor], count: int, ctx: EvalContext) -> torch.Tensor:
    generator = ctx.generator()
    return torch.cat([quantise(make(min(ctx.batch_size, count - start), generator).cpu())
                      for start in range(0, count, ctx.batch_size)])


def _space_name(ctx: EvalContext) -> str:
    return "" if ctx.space.standard else f", {ctx.space.name} v{ctx.space.version}"


def distribution_metrics(ctx: EvalContext, result: Evaluation, real_features: torch.Tensor,
                         fake_features: torch.Tensor, what: str = "", against: str = "held-out images") -> None:
    """FID, KID, precision and recall of ``fake_features`` against ``real_features``, added to ``result``."""
    label = ctx.space.label
    suffix = f"{_space_name(ctx)}{f' ({what})' if what else ''}"
    comparable = "" if ctx.space.standard else " (not comparable with published FIDs)"
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


def _image_dataset(ctx: EvalContext, split: str, channels: int) -> ImageDataset:
    table = load_source(ctx.source)[split]
    column = ctx.info.get("image_column")
    if column not in table.column_names:  # not named at training, or another dataset than the training one
        column = (image_columns(table) or [None])[0]
    if column is None:
        raise DataError(f"dataset {ctx.source!r} has no image column")
    return ImageDataset(table, {"pixel_values": column}, ctx.model.resolution, channels, ctx.source)


# ------------------------------------------------------------------------------------ families
def sample_quality(ctx: EvalContext, sample: Callable[[int, torch.Generator], torch.Tensor],
                   result: Evaluation, detect_and_memorise: bool = True) -> None:
    """Sample metrics of an unconditional generator ``sample(count, generator) -> (count, C, H, W)``."""
    channels = ctx.model.channels
    held_out = _image_dataset(ctx, ctx.split, channels)
    real = stack(held_out, "pixel_values", ctx.max_real)
    fake = _generate(sample, ctx.num_samples or len(real), ctx)
    real_features = ctx.space.features(_batches(real, ctx.batch_size))
    fake_features = ctx.space.features(_batches(fake, ctx.batch_size))
    distribution_metrics(ctx, result, real_features, fake_features)

    train = _image_dataset(ctx, ctx.train_split, channels)
    floor_order = torch.randperm(len(train), generator=ctx.generator(1))[: len(real)].tolist()
    floor = stack(torch.utils.data.Subset(train, floor_order), "pixel_values")
    result.add(f"FID{_space_name(ctx)}, training vs held-out images (floor)",
               M.fid(real_features, ctx.space.features(_batches(floor, ctx.batch_size))),
               f"FID of {len(floor)} random training images vs the {len(real)} held-out images: what a model that "
               f"reproduced the data distribution would score at this sample size; features: {ctx.space.label}.")
    if not detect_and_memorise:
        return

    for kind, (real_input, fake_input) in {"cnn": (real, fake), "linear": (real_features, fake_features)}.items():
        found = M.detectability(real_input, fake_input, kind, seed=ctx.seed)
        what = ("a small CNN on pixels" if kind == "cnn"
                else f"a logistic-regression probe on features ({ctx.space.name} v{ctx.space.version})")
        result.add(f"detectability ({'pixel CNN' if kind == 'cnn' else 'feature probe'})", found.accuracy,
                   f"held-out accuracy of {what} trained on {found.train_images} images (half real, half fake) and "
                   f"tested on {found.trials} others; 95% Wilson interval {found.low:.3f}–{found.high:.3f}. "
                   "0.5 = fakes indistinguishable; lower = harder to spot.")
        result.details[f"detectability_{kind}"] = found.as_dict()

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


def evaluate_unconditional(ctx: EvalContext) -> Evaluation:
    """GANs: sample metrics, floor, detectability, memorisation."""
    result = Evaluation()
    sample_quality(ctx, lambda count, generator: ctx.model.sample(count, generator=generator), result)
    return result


@torch.no_grad()
def evaluate_vae(ctx: EvalContext) -> Evaluation:
    """VAE: reconstruction MSE / PSNR of held-out images from z = mu, then sample metrics."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    result = Evaluation()
    real = stack(_image_dataset(ctx, ctx.split, ctx.model.channels), "pixel_values", ctx.max_real)
    decoded = torch.cat([quantise(ctx.model.decode(ctx.model.encode(x)[0]).cpu())
                         for x in _batches(real, ctx.batch_size)])
    # pixels scaled to [0, 1] for MSE and PSNR, the usual convention
    mse = ((decoded - real) / 2).pow(2).mean(dim=(1, 2, 3))
    psnr = peak_signal_noise_ratio((decoded + 1) / 2, (real + 1) / 2, data_range=1.0, dim=(1, 2, 3))
    result.add("reconstruction MSE", mse.mean(), f"mean squared error per pixel (pixels in [0, 1]) of {len(real)} "
               "held-out images decoded from z = mu, 8-bit quantised.")
    result.add("reconstruction PSNR (dB)", psnr, "mean over held-out images of each image's PSNR, pixels in [0, 1].")
    sample_quality(ctx, lambda count, generator: ctx.model.sample(count, generator=generator), result,
                   detect_and_memorise=False)
    return result


@torch.no_grad()
def evaluate_paired(ctx: EvalContext) -> Evaluation:
    """pix2pix: L1 / PSNR / SSIM of G(input) against the held-out targets; FID/KID of G(input) vs targets."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    table = load_source(ctx.source)[ctx.split]
    found = image_columns(table)
    input_column = ctx.args.get("input_column") or (found[0] if found else None)
    target_column = ctx.args.get("target_column") or next((c for c in found if c != input_column), None)
    if input_column is None or target_column is None:
        raise DataError(f"dataset {ctx.source!r} needs an input and a target image column (found {found})")
    pairs = ImageDataset(table, {"real_A": input_column, "real_B": target_column}, ctx.model.resolution,
                         ctx.args.get("channels", 3), ctx.source)
    real_A, real_B = stack(pairs, "real_A", ctx.max_real), stack(pairs, "real_B", ctx.max_real)
    fake_B = torch.cat([quantise(ctx.model.translate(x).cpu()) for x in _batches(real_A, ctx.batch_size)])
    result = Evaluation()
    unit = (fake_B + 1) / 2, (real_B + 1) / 2
    result.add("L1 to target", (fake_B - real_B).abs().mean(), f"mean |G(input) - target| over {len(real_B)} held-out "
               "pairs, pixels in [-1, 1] (the units of pix2pix's L1 loss).")
    result.add("PSNR to target (dB)", peak_signal_noise_ratio(*unit, data_range=1.0, dim=(1, 2, 3)),
               "mean per-image PSNR of G(input) against the target, pixels in [0, 1].")
    result.add("SSIM to target", structural_similarity_index_measure(*unit, data_range=1.0),
               "mean SSIM (Wang et al. 2004; Gaussian window 11, sigma 1.5) of G(input) against the target.")
    distribution_metrics(ctx, result, ctx.space.features(_batches(real_B, ctx.batch_size)),
                         ctx.space.features(_batches(fake_B, ctx.batch_size)), "translations",
                         "held-out targets")
    return result


@torch.no_grad()
def evaluate_unpaired(ctx: EvalContext) -> Evaluation:
    """CycleGAN: FID/KID/precision/recall of A->B translations against held-out B images, and of B->A against A."""
    a = ctx.args
    domains = load_unpaired_dataset(ctx.source, ctx.split, ctx.model.resolution, a.get("channels", 3),
                                    a.get("image_column"), a.get("domain_column"), a.get("domain_a", "A"),
                                    a.get("domain_b", "B"), a.get("dataset_b"), a.get("image_column_b"))
    real = {"A": stack(domains.domain_a, "real_A", ctx.max_real), "B": stack(domains.domain_b, "real_B", ctx.max_real)}
    result = Evaluation()
    for direction in ("AB", "BA"):
        source, target = real[direction[0]], real[direction[1]]
        fake = torch.cat([quantise(ctx.model.translate(x, direction).cpu()) for x in _batches(source, ctx.batch_size)])
        distribution_metrics(ctx, result, ctx.space.features(_batches(target, ctx.batch_size)),
                             ctx.space.features(_batches(fake, ctx.batch_size)), f"{direction[0]}->{direction[1]}",
                             f"held-out domain-{direction[1]} images")
    return result


#: family (``training_info.json`` "family") -> its evaluator. Add a family here.
EVALUATORS: dict[str, Callable[[EvalContext], Evaluation]] = {
    "dcgan": evaluate_unconditional,
    "vae": evaluate_vae,
    "pix2pix": evaluate_paired,
    "cyclegan": evaluate_unpaired,
}


# ------------------------------------------------------------------------------------ entry point
def load_export(checkpoint: str | Path) -> tuple[GenhubModel, dict]:
    """The model of an export folder and its ``training_info.json``.

    Raises:
        CheckpointError: no folder, no training_info.json, or a family without a model class or evaluator.
    """
    from genhub.models import MODEL_CLASSES

    folder = Path(checkpoint)
    info = read_training_info(folder)
    if not info:
        raise CheckpointError(f"{folder}: no training_info.json; not a genhub export folder")
    family = info.get("family")
    if family not in EVALUATORS or family not in MODEL_CLASSES:
        raise CheckpointError(f"{folder}: family {family!r} has no evaluator (known: {', '.join(EVALUATORS)})")
    return MODEL_CLASSES[family].from_pretrained(str(folder)).eval(), info


def update_export(folder: Path, info: dict, report: dict) -> None:
    """Merge the report's metrics into ``training_info.json`` (replacing those of an earlier evaluation), write
    ``evaluation.json`` (numbers only) beside it, and rewrite the model card (table and ``model-index``)."""
    previous = (info.get("evaluation") or {}).get("metric_names", [])
    metrics = {k: v for k, v in (info.get("metrics") or {}).items() if k not in previous}
    descriptions = {k: v for k, v in (info.get("metric_descriptions") or {}).items() if k not in previous}
    info["metrics"] = {**metrics, **report["metrics"]}
    info["metric_descriptions"] = {**descriptions, **report["metric_descriptions"]}
    info["evaluation"] = {"metric_names": list(report["metrics"]), "report": REPORT_FILE,
                          "feature_space": report["feature_space"], "split": report["split"],
                          "dataset": report["dataset"], "evaluated_at": report["evaluated_at"]}
    public = {k: v for k, v in report.items() if k != "details"}
    public["details"] = {k: v for k, v in report["details"].items() if k != "memorisation"}
    (folder / REPORT_FILE).write_text(json.dumps(public, indent=2))
    save_training_info(folder, info)


def evaluate(checkpoint: str | Path, dataset: str | None = None, split: str = "test",
             feature_network: str | Path | None = None, inception_weights: str | Path | None = None,
             inception_sha256: str = STANDARD_SHA256, output_dir: str | Path | None = None,
             num_samples: int | None = None, max_real: int | None = None, memorisation_samples: int = 64,
             batch_size: int = 64, seed: int = 0, update_card: bool = True) -> dict:
    """Evaluate an export folder and return the report (also written to ``output_dir/evaluation.json``).

    Args:
        checkpoint: export folder (``config.json``, ``model.safetensors``, ``training_info.json``).
        dataset: held-out data source (default: the export's training dataset).
        split: the held-out split; memorisation is checked against ``train``.
        feature_network: genhub face feature network export (default ``checkpoints/face-features``);
            ignored when ``inception_weights`` is given.
        inception_weights, inception_sha256: the FID Inception weights file and its required SHA-256.
        output_dir: where ``evaluation.json`` and the memorisation gallery go (default
            ``runs/evaluation/<export name>``; not the export, whose files may be published).
        num_samples: fakes to draw (default: as many as held-out reals); ``max_real``: cap on held-out reals.
        update_card: also update the export's ``training_info.json``, ``evaluation.json`` and model card.

    Raises:
        CheckpointError: bad export, or no trained feature network / bad Inception weights.
        DataError: the dataset cannot be loaded.
    """
    started = time.perf_counter()
    folder = Path(checkpoint)
    model, info = load_export(folder)
    if inception_weights:
        space = inception_space(inception_weights, inception_sha256)
    else:
        space = face_feature_space(feature_network or os.environ.get("GENHUB_FEATURE_NETWORK", DEFAULT_FEATURE_NETWORK))
    source = dataset or info.get("dataset")
    if not source:
        raise DataError(f"{folder}: its training_info.json names no dataset; pass --dataset")
    if not Path(source).is_absolute() and not Path(source).exists() and (PROJECT_ROOT / source).exists():
        source = str(PROJECT_ROOT / source)
    out = Path(output_dir) if output_dir else Path("runs") / "evaluation" / folder.resolve().name
    ctx = EvalContext(model, info, source, split, space, out, num_samples, max_real, memorisation_samples,
                      batch_size=batch_size, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        result = EVALUATORS[info["family"]](ctx)
    report = {
        "export": str(folder), "family": info["family"], "dataset": str(dataset or info.get("dataset")),
        "split": split, "feature_space": space.describe(), "metrics": result.metrics,
        "metric_descriptions": result.descriptions, "details": result.details, "seed": seed,
        "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_time_seconds": round(time.perf_counter() - started, 1),
        "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2))
    if update_card:
        update_export(folder, info, report)
    return report


def format_report(report: dict) -> str:
    """The report as a plain-text table, with the feature space's label on top."""
    lines = [f"{report['family']} export {report['export']} on {report['dataset']} ({report['split']})",
             f"features: {report['feature_space']['label']}", ""]
    width = max(len(name) for name in report["metrics"])
    lines += [f"{name:<{width}}  {value:.4g}" for name, value in report["metrics"].items()]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Evaluate a genhub export (FID/KID/precision/recall, detectability, "
                                                 "memorisation; per family).")
    parser.add_argument("checkpoint", help="export folder")
    parser.add_argument("--dataset", default=None, help="held-out data (default: the export's training dataset)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--feature_network", default=None,
                        help=f"genhub face feature network export (default: $GENHUB_FEATURE_NETWORK or "
                             f"{DEFAULT_FEATURE_NETWORK})")
    parser.add_argument("--inception_weights", default=None,
                        help="pt_inception-2015-12-05-6726825d.pth: standard, comparable FID/KID")
    parser.add_argument("--inception_sha256", default=STANDARD_SHA256, help="required SHA-256 of the weights file")
    parser.add_argument("--output_dir", default=None, help="report and gallery folder (default runs/evaluation/NAME)")
    parser.add_argument("--num_samples", type=int, default=None, help="fakes to draw (default: as many as reals)")
    parser.add_argument("--max_real", type=int, default=None, help="use at most N held-out reals")
    parser.add_argument("--memorisation_samples", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no_update_card", dest="update_card", action="store_false",
                        help="leave the export's training_info.json and model card alone")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = evaluate(args.checkpoint, args.dataset, args.split, args.feature_network, args.inception_weights,
                          args.inception_sha256, args.output_dir, args.num_samples, args.max_real,
                          args.memorisation_samples, args.batch_size, args.seed, args.update_card)
    except (CheckpointError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
