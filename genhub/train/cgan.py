"""Conditional DCGAN training (Mirza & Osindero 2014, projection discriminator of Miyato & Koyama 2018) on the
labelled rows of a face dataset: the family's flags, loss and step.

    accelerate launch training/train_cgan.py --dataset ../shared/data/faces_celeba --resolution 64 \
        --attributes Male Smiling Eyeglasses Young Blond_Hair Bald --output_dir checkpoints/cgan-faces-64

Fakes are conditioned on the labels of the batch's real faces, shuffled: the generator learns the attributes'
joint distribution as it is in the data (a bald blond woman is as rare as in CelebA).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from genhub.data import DataSpec, LabelledImageDataset, load_split
from genhub.hub.card import CardText
from genhub.models.cgan import CGAN
from genhub.train.args import add_training_args
from genhub.train.losses import gan_loss
from genhub.train.optim import gan_optimizers
from genhub.train.trainer import Recipe, StepContext, Trainer, train

DEFAULT_ATTRIBUTES = ("Male", "Smiling", "Eyeglasses", "Young", "Blond_Hair", "Bald")


@dataclass(frozen=True)
class CGANHparams:
    """The step's own hyper-parameter: the size of z ~ N(0, I)."""

    latent_dim: int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a conditional DCGAN on face attributes with Accelerate.")
    add_training_args(parser)
    model = parser.add_argument_group("conditional GAN")
    model.add_argument("--attributes", nargs="+", default=list(DEFAULT_ATTRIBUTES),
                       help="the conditioning label columns (0/1; rows with an unknown label are left out)")
    model.add_argument("--latent_dim", type=int, default=100)
    model.add_argument("--ngf", type=int, default=64, help="generator width")
    model.add_argument("--ndf", type=int, default=64, help="discriminator width")
    model.add_argument("--channels", type=int, choices=[1, 3], default=3)
    args = parser.parse_args(argv)
    if len(set(args.attributes)) != len(args.attributes):
        parser.error(f"--attributes has a repeated name: {args.attributes}")
    args.data = DataSpec(args.dataset, args.resolution, args.channels, {"pixel_values": args.image_column})
    return args


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: D on (real, its labels) and (G(z, y'), y') with y' the batch's labels shuffled, then G through
    the frozen D (non-saturating loss), as the DCGAN's step."""
    generator, discriminator = ctx.networks["generator"], ctx.networks["discriminator"]
    real, labels = batch["pixel_values"], batch["labels"]
    z = torch.randn(real.shape[0], ctx.hparams.latent_dim, device=real.device)
    fake_labels = labels[torch.randperm(labels.shape[0]).to(labels.device)]
    fake = generator(z, fake_labels)

    loss_d_real = gan_loss(discriminator(real, labels), True)
    ctx.backward(loss_d_real)
    loss_d_fake = gan_loss(discriminator(fake.detach(), fake_labels), False)
    ctx.backward(loss_d_fake)
    ctx.step("discriminator")

    with ctx.frozen("discriminator") as frozen:
        loss_g = gan_loss(frozen(fake, fake_labels), True)
        ctx.backward(loss_g)
    ctx.step("generator")
    return {"loss_d": loss_d_real.detach() + loss_d_fake.detach(), "loss_g": loss_g.detach()}


def grid_settings(attributes: list[str]) -> torch.Tensor:
    """The grid's columns: no attribute, then each attribute alone (at most 7 of them): (columns, A) in {0, 1}."""
    rows = [torch.zeros(len(attributes))] + [torch.eye(len(attributes))[i] for i in range(min(7, len(attributes)))]
    return torch.stack(rows)


def grid_sample(args: argparse.Namespace):
    """Rows of fixed z, columns :func:`grid_settings`: the same face with each attribute switched on alone."""
    settings = grid_settings(args.attributes)
    rows = max(1, args.num_grid_images // len(settings))
    z = torch.randn(rows, args.latent_dim, generator=torch.Generator().manual_seed(args.seed))

    def sample(model: CGAN) -> torch.Tensor:
        zs = z.repeat_interleave(len(settings), 0)
        return model.generator(zs, settings.repeat(rows, 1))

    return sample


DESCRIPTION = (
    "A conditional DCGAN: the generator maps z ~ N(0, I) and multi-hot attributes y ({attributes}) to a face; a "
    "projection discriminator scores (image, y). Trained on the {rows:,} training rows with every label known "
    "(present: {share}). The grid: each row one z; columns no attribute, then each attribute alone.")
USAGE = 'labels = model.labels({"Smiling": True}, 4)  # (4, A) in {0, 1}\nimages = model.sample(4, labels=labels)'


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and the labelled training rows of a run (see :func:`genhub.train.trainer.train`)."""
    dataset = LabelledImageDataset(load_split(args.data, "train"), args.attributes)
    model = CGAN(args.resolution, args.attributes, args.latent_dim, args.channels, args.ngf, args.ndf)
    networks, optimizers = gan_optimizers(model, dict.fromkeys(("generator", "discriminator"), args.learning_rate),
                                          (args.adam_beta1, args.adam_beta2))
    share = ", ".join(f"{name} {float(dataset.labels[:, i].mean()):.0%}" for i, name in enumerate(args.attributes))
    recipe = Recipe(
        model=model,
        networks=networks,
        optimizers=optimizers,
        training_step=training_step,
        sample=grid_sample(args),
        grid_columns=len(grid_settings(args.attributes)),
        hparams=CGANHparams(args.latent_dim),
        card=CardText(DESCRIPTION.format(attributes=", ".join(args.attributes), rows=len(dataset), share=share),
                      usage=USAGE),
    )
    return recipe, dataset


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
