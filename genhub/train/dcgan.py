"""DCGAN (Radford et al. 2016) training: the family's flags, loss and step; the loop, checkpoints, EMA,
export and push are :mod:`genhub.train.trainer`'s.

    accelerate launch training/train_dcgan.py --dataset ../shared/data/faces_celeba \
        --resolution 64 --output_dir checkpoints/dcgan-faces-64
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from genhub.data import DataSpec, load_split
from genhub.hub.card import CardText
from genhub.models import DCGAN
from genhub.train.args import add_training_args
from genhub.train.losses import gan_loss
from genhub.train.trainer import Recipe, StepContext, Trainer, train


@dataclass(frozen=True)
class DCGANHparams:
    """The step's own hyper-parameter: the size of z ~ N(0, I)."""

    latent_dim: int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The shared flags plus the DCGAN's; ``args.data`` is the run's :class:`~genhub.data.DataSpec`."""
    parser = argparse.ArgumentParser(description="Train a DCGAN with Accelerate.")
    add_training_args(parser)
    model = parser.add_argument_group("DCGAN")
    model.add_argument("--latent_dim", type=int, default=100)
    model.add_argument("--ngf", type=int, default=64, help="generator width")
    model.add_argument("--ndf", type=int, default=64, help="discriminator width")
    model.add_argument("--channels", type=int, choices=[1, 3], default=3)
    args = parser.parse_args(argv)
    args.data = DataSpec(args.dataset, args.resolution, args.channels, {"pixel_values": args.image_column})
    return args


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: a discriminator update, then a generator update (Goodfellow et al. 2014, alg. 1).

    D maximises log D(x) + log(1 - D(G(z))); G maximises log D(G(z)) (the non-saturating loss).
    The generator step goes through the frozen discriminator: its gradients reach G only.
    """
    generator, discriminator = ctx.networks["generator"], ctx.networks["discriminator"]
    real = batch["pixel_values"]
    z = torch.randn(real.shape[0], ctx.hparams.latent_dim, device=real.device)
    fake = generator(z)

    loss_d_real = gan_loss(discriminator(real), True)
    ctx.backward(loss_d_real)
    loss_d_fake = gan_loss(discriminator(fake.detach()), False)
    ctx.backward(loss_d_fake)
    ctx.step("discriminator")

    with ctx.frozen("discriminator") as frozen:
        loss_g = gan_loss(frozen(fake), True)
        ctx.backward(loss_g)
    ctx.step("generator")
    return {"loss_d": loss_d_real.detach() + loss_d_fake.detach(), "loss_g": loss_g.detach()}


def make_recipe(args: argparse.Namespace) -> Recipe:
    model = DCGAN(args.resolution, args.latent_dim, args.channels, args.ngf, args.ndf)
    betas = (args.adam_beta1, args.adam_beta2)
    fixed_z = torch.randn(args.num_grid_images, args.latent_dim, generator=torch.Generator().manual_seed(args.seed))
    return Recipe(
        model=model,
        networks={"generator": model.generator, "discriminator": model.discriminator},
        optimizers={name: torch.optim.Adam(getattr(model, name).parameters(), lr=args.learning_rate, betas=betas)
                    for name in ("generator", "discriminator")},
        training_step=training_step,
        sample=lambda exported: exported.generator(fixed_z),
        hparams=DCGANHparams(args.latent_dim),
        card=CardText("A deep convolutional GAN: the generator maps z ~ N(0, I) to an image; the discriminator "
                      "(also exported) scores images as real or fake."),
    )


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and training split of a run (see :func:`genhub.train.trainer.train`)."""
    return make_recipe(args), load_split(args.data, "train")


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
