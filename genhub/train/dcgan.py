"""DCGAN (Radford et al. 2016) training: the family's flags, loss and step; the loop, checkpoints, EMA,
export and push are :mod:`genhub.train.trainer`'s.

    accelerate launch training/train_dcgan.py --dataset ../shared/data/faces_celeba \
        --resolution 64 --output_dir checkpoints/dcgan-faces-64

The defaults are the 2016 recipe. Opt-in flags give a modern one: the hinge loss (``--gan_loss hinge``), a spectrally
normalised discriminator (``--spectral_norm``), two time-scale learning rates (``--learning_rate_d``), DiffAugment
(``--diffaugment``) and lazy R1 on reals (``--r1_gamma``, ``--r1_interval``), e.g. with SAGAN's rates and betas
(Zhang et al. 2019):

    accelerate launch training/train_dcgan.py --dataset ../shared/data/faces_celeba --resolution 64 \
        --gan_loss hinge --spectral_norm --learning_rate 1e-4 --learning_rate_d 4e-4 --adam_beta1 0 --adam_beta2 0.9 \
        --diffaugment color,translation,cutout --output_dir checkpoints/dcgan-modern-64
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
from genhub.train.diffaugment import diff_augment, parse_policy
from genhub.train.losses import gan_loss, hinge_loss, r1_penalty
from genhub.train.optim import gan_optimizers
from genhub.train.trainer import Recipe, StepContext, Trainer, train

GAN_LOSSES = ("vanilla", "hinge")


@dataclass(frozen=True)
class DCGANHparams:
    """The step's hyper-parameters: the size of z ~ N(0, I) and the recipe (see the flags; the defaults are the
    2016 DCGAN's)."""

    latent_dim: int
    gan_loss: str = "vanilla"
    diffaugment: str = ""
    r1_gamma: float = 0.0
    r1_interval: int = 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The shared flags plus the DCGAN's; ``args.data`` is the run's :class:`~genhub.data.DataSpec`."""
    parser = argparse.ArgumentParser(description="Train a DCGAN with Accelerate.")
    add_training_args(parser)
    model = parser.add_argument_group("DCGAN")
    model.add_argument("--latent_dim", type=int, default=100)
    model.add_argument("--ngf", type=int, default=64, help="generator width")
    model.add_argument("--ndf", type=int, default=64, help="discriminator width")
    model.add_argument("--channels", type=int, choices=[1, 3], default=3)
    recipe = parser.add_argument_group("modern recipe (all off by default: the 2016 DCGAN)")
    recipe.add_argument("--gan_loss", choices=GAN_LOSSES, default="vanilla",
                        help="vanilla: non-saturating logistic (Goodfellow et al. 2014); hinge: Lim & Ye 2017, SNGAN")
    recipe.add_argument("--spectral_norm", action="store_true",
                        help="spectrally normalised discriminator without batch norm (Miyato et al. 2018)")
    recipe.add_argument("--learning_rate_d", type=float, default=None,
                        help="discriminator learning rate, for the two time-scale update rule (Heusel et al. 2017); "
                             "default --learning_rate")
    recipe.add_argument("--diffaugment", default="",
                        help="DiffAugment policy (Zhao et al. 2020), e.g. color,translation,cutout; default off")
    recipe.add_argument("--r1_gamma", type=float, default=0.0,
                        help="R1 penalty weight on reals (Mescheder et al. 2018); 0: off")
    recipe.add_argument("--r1_interval", type=int, default=1, help="lazy R1: every N steps, weighted by N")
    args = parser.parse_args(argv)
    try:
        parse_policy(args.diffaugment)
    except ValueError as error:
        parser.error(f"--diffaugment: {error}")
    if args.r1_gamma < 0 or args.r1_interval < 1:
        parser.error("--r1_gamma must be >= 0 and --r1_interval >= 1")
    args.data = DataSpec(args.dataset, args.resolution, args.channels, {"pixel_values": args.image_column})
    return args


def adversarial_loss(logits: torch.Tensor, target_is_real: bool, kind: str,
                     for_discriminator: bool = True) -> torch.Tensor:
    """``kind`` "vanilla": :func:`~genhub.train.losses.gan_loss` (the same for D and the non-saturating G);
    "hinge": :func:`~genhub.train.losses.hinge_loss`. A scalar float32 tensor."""
    if kind == "hinge":
        return hinge_loss(logits, target_is_real, for_discriminator)
    return gan_loss(logits, target_is_real)


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: a discriminator update, then a generator update (Goodfellow et al. 2014, alg. 1).

    D minimises -log D(x) - log(1 - D(G(z))) or, with ``gan_loss`` "hinge", mean(relu(1 - D(x))) +
    mean(relu(1 + D(G(z)))); with lazy R1 (Mescheder et al. 2018, eq. 9) it adds gamma / 2 * E||grad_x D(x)||^2 every
    ``r1_interval`` steps, weighted by the interval (StyleGAN2, Karras et al. 2020, sec. 4). G minimises -log D(G(z))
    (non-saturating) or -mean(D(G(z))), through the frozen discriminator, so its gradients reach G only. With a
    DiffAugment policy every D call, in both updates and in R1, sees T(images) (Zhao et al. 2020).
    """
    hp = ctx.hparams
    generator, discriminator = ctx.networks["generator"], ctx.networks["discriminator"]
    real = batch["pixel_values"]
    z = torch.randn(real.shape[0], hp.latent_dim, device=real.device)
    fake = generator(z)

    def augment(images: torch.Tensor) -> torch.Tensor:
        return diff_augment(images, hp.diffaugment)

    if any(isinstance(m, torch.nn.BatchNorm2d) for m in ctx.unwrapped["discriminator"].modules()):
        # One pass each: in a mixed batch, batch norm would normalise reals and fakes with joint statistics. A
        # backward after each, as the 2016 recipe always did: accumulated gradients then stay bit-identical.
        loss_d_real = adversarial_loss(discriminator(augment(real)), True, hp.gan_loss)
        ctx.backward(loss_d_real)
        loss_d_fake = adversarial_loss(discriminator(augment(fake.detach())), False, hp.gan_loss)
        ctx.backward(loss_d_fake)
        loss_d = loss_d_real + loss_d_fake
    else:  # without it, the same logits from one call over both batches
        logits_real, logits_fake = discriminator(augment(torch.cat([real, fake.detach()]))).split(len(real))
        loss_d = adversarial_loss(logits_real, True, hp.gan_loss) + adversarial_loss(logits_fake, False, hp.gan_loss)
        ctx.backward(loss_d)
    logs = {"loss_d": loss_d.detach()}
    if hp.r1_gamma > 0 and ctx.global_step % hp.r1_interval == 0:
        # its own pass: the gradient is wrt the real pixels (through the augmentation), not the concatenation
        penalty = r1_penalty(lambda images: discriminator(augment(images)), real)
        ctx.backward(penalty * (hp.r1_gamma / 2 * hp.r1_interval))
        logs["r1"] = penalty.detach()
    ctx.step("discriminator")

    with ctx.frozen("discriminator") as frozen:
        loss_g = adversarial_loss(frozen(augment(fake)), True, hp.gan_loss, for_discriminator=False)
        ctx.backward(loss_g)
    ctx.step("generator")
    logs["loss_g"] = loss_g.detach()
    return logs


def make_recipe(args: argparse.Namespace) -> Recipe:
    model = DCGAN(args.resolution, args.latent_dim, args.channels, args.ngf, args.ndf, args.spectral_norm)
    betas = (args.adam_beta1, args.adam_beta2)
    learning_rate_d = args.learning_rate if args.learning_rate_d is None else args.learning_rate_d
    learning_rates = {"generator": args.learning_rate, "discriminator": learning_rate_d}
    networks, optimizers = gan_optimizers(model, learning_rates, betas)
    fixed_z = torch.randn(args.num_grid_images, args.latent_dim, generator=torch.Generator().manual_seed(args.seed))
    return Recipe(
        model=model,
        networks=networks,
        optimizers=optimizers,
        training_step=training_step,
        sample=lambda exported: exported.generator(fixed_z),
        hparams=DCGANHparams(args.latent_dim, args.gan_loss, args.diffaugment, args.r1_gamma, args.r1_interval),
        card=CardText("A deep convolutional GAN: the generator maps z ~ N(0, I) to an image; the discriminator "
                      "(also exported) scores images as real or fake."),
        channels_last_precisions=("no", "bf16"),  # README, Benchmarks: the channels_last lever per CPU kind
    )


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and training split of a run (see :func:`genhub.train.trainer.train`)."""
    return make_recipe(args), load_split(args.data, "train")


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
