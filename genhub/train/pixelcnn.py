"""Gated PixelCNN training (van den Oord et al. 2016): maximum likelihood, reported in bits per dimension.

    accelerate launch training/train_pixelcnn.py --dataset ../shared/data/faces_lfw_gray --resolution 32 \
        --output_dir checkpoints/pixelcnn-faces-32

Grayscale by default (``--channels 3``: R, G, B predicted in order within each pixel); ``--num_levels`` intensities
per channel (16 by default: 4-bit; 256 is the paper's 8-bit). At export the held-out split gives the negative
log-likelihood in bits/dim (at ``num_levels`` levels, and its 8-bit equivalent with a uniform density inside each
level: + log2(256 / L)), and ``--outlier_dataset`` the AUROC of that likelihood as an outlier score.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from genhub.data import DataSpec, ImageDataset, load_split
from genhub.evaluation.outlier import auroc, auroc_metric_name, score_dataset
from genhub.hub.card import CardText
from genhub.models.pixelcnn import PixelCNN, quantize
from genhub.train.args import add_training_args
from genhub.train.optim import adam
from genhub.train.trainer import Recipe, StepContext, Trainer, train


@dataclass(frozen=True)
class PixelCNNHparams:
    """The step's own hyper-parameter: the number of intensity levels the images are quantised to."""

    num_levels: int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a Gated PixelCNN with Accelerate.")
    add_training_args(parser)
    parser.set_defaults(resolution=32, learning_rate=1e-3, adam_beta1=0.9, train_batch_size=32, num_grid_images=16,
                        save_images_steps=1000)
    model = parser.add_argument_group("PixelCNN")
    model.add_argument("--channels", type=int, choices=[1, 3], default=1)
    model.add_argument("--num_levels", type=int, default=16, help="intensity levels per channel, 2..256")
    model.add_argument("--hidden_channels", type=int, default=64)
    model.add_argument("--num_layers", type=int, default=8)
    model.add_argument("--kernel_size", type=int, default=3)
    model.add_argument("--outlier_dataset", default=None,
                       help="images unlike the training data (e.g. ../shared/data/nonface_flowers_128): the AUROC "
                            "of the held-out likelihood as an outlier score goes to the card")
    args = parser.parse_args(argv)
    if not 2 <= args.num_levels <= 256:
        parser.error(f"--num_levels must be in 2..256, got {args.num_levels}")
    args.data = DataSpec(args.dataset, args.resolution, args.channels, {"pixel_values": args.image_column})
    return args


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch of the negative log-likelihood: mean over sub-pixels of -log p(x_i | x_<i) (nats); logged
    in bits/dim too."""
    levels = quantize(batch["pixel_values"], ctx.hparams.num_levels)
    loss = F.cross_entropy(ctx.networks["pixelcnn"](levels).float(), levels)
    ctx.backward(loss)
    ctx.step("pixelcnn")
    return {"loss": loss.detach(), "bits_per_dim": loss.detach() / math.log(2)}


def export_measurements(args: argparse.Namespace, test: ImageDataset):
    """The ``on_export`` hook: held-out bits/dim and, with ``--outlier_dataset``, the likelihood's outlier AUROC."""

    def on_export(model: PixelCNN, folder: Path) -> dict[str, float]:
        bits = score_dataset(model, test)
        metrics = {"heldout_bits_per_dim": float(bits.double().mean()),
                   "heldout_bits_per_dim_8bit_equivalent": float(bits.double().mean()) + math.log2(
                       256 / model.num_levels),
                   "heldout_images": float(len(test))}
        if args.outlier_dataset:
            outliers = load_split(args.data.with_source(args.outlier_dataset), "test")
            metrics[auroc_metric_name(args.outlier_dataset)] = auroc(bits, score_dataset(model, outliers))
        return metrics

    return on_export


DESCRIPTION = (
    "A Gated PixelCNN (vertical and horizontal stacks, gated activations, mask A then B; {layers} layers of "
    "{hidden} features, {kernel}x{kernel} kernels) modelling {channels} images at {resolution}x{resolution} as a "
    "product of categorical softmaxes over {levels} intensity levels, pixel by pixel in raster order{order}. "
    "Loss: the negative log-likelihood. Held-out NLL is in bits per dimension at {levels} levels; the 8-bit "
    "equivalent adds log2(256 / {levels}) (a uniform density inside each level), the number to set beside "
    "8-bit results. The grid shows samples drawn pixel by pixel at temperature 1.")


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and training split of a run (see :func:`genhub.train.trainer.train`)."""
    dataset, test = load_split(args.data, "train"), load_split(args.data, "test")
    model = PixelCNN(args.resolution, args.channels, args.num_levels, args.hidden_channels, args.num_layers,
                     args.kernel_size)
    recipe = Recipe(
        model=model,
        networks={"pixelcnn": model},
        optimizers={"pixelcnn": adam(model.parameters(), args.learning_rate, (args.adam_beta1, args.adam_beta2))},
        training_step=training_step,
        sample=lambda exported: exported.sample(args.num_grid_images, torch.Generator().manual_seed(args.seed)),
        hparams=PixelCNNHparams(args.num_levels),
        ema_network="pixelcnn",
        on_export=export_measurements(args, test),
        card=CardText(DESCRIPTION.format(
            layers=args.num_layers, hidden=args.hidden_channels, kernel=args.kernel_size, resolution=args.resolution,
            channels="grayscale" if args.channels == 1 else "RGB", levels=args.num_levels,
            order="" if args.channels == 1 else ", R then G then B within a pixel"),
            usage="images = model.sample(4)  # (4, C, H, W) in [-1, 1], pixel by pixel\n"
                  "bits = model.nll_bits(quantize(pixel_values, model.num_levels))  # (B,) bits/dim"),
    )
    return recipe, dataset


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
