"""pix2pix (Isola et al. 2017) training on paired images: a U-Net maps each input to its target.

    accelerate launch training/train_pix2pix.py --dataset ../shared/data/sketch2face_celeba_128 \
        --input_column input --target_column target --resolution 128 \
        --output_dir checkpoints/pix2pix-sketch2face-128

Defaults are the paper's (U-Net with a 1x1 bottleneck, ngf = ndf = 64, 70x70 PatchGAN, batch norm,
dropout, lambda_l1 = 100, vanilla GAN loss, Adam 2e-4 / 0.5, batch 1); narrower networks are flags.
Only the pix2pix flags, loss and step live here; the loop, checkpoints, flips (input and target
together), EMA, export and push are genhub.train.trainer's.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from genhub.data import DataSpec, load_split
from genhub.hub.card import CardText
from genhub.models import Pix2Pix
from genhub.models.layers import NORMS
from genhub.train.args import add_training_args
from genhub.train.losses import GAN_MODES, gan_loss
from genhub.train.optim import gan_optimizers
from genhub.train.trainer import Recipe, StepContext, Trainer, train

EVAL_BATCH = 16


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train pix2pix with Accelerate.")
    add_training_args(parser)
    parser.set_defaults(resolution=256, train_batch_size=1, num_grid_images=9)
    data = parser.add_argument_group("pix2pix data")
    data.add_argument("--input_column", default=None, help="input image column (default: the first image column)")
    data.add_argument("--target_column", default=None, help="target image column (default: the second image column)")
    data.add_argument("--input_name", default=None, help="what the inputs are, for the app and the model card "
                      "(default: the input column's name)")
    data.add_argument("--target_name", default=None, help="what the targets are (default: the target column's name)")
    data.add_argument("--channels", type=int, choices=[1, 3], default=3,
                      help="channels of input and target (a grayscale sketch is repeated to 3)")
    model = parser.add_argument_group("pix2pix model")
    model.add_argument("--ngf", type=int, default=64, help="U-Net width")
    model.add_argument("--ndf", type=int, default=64, help="PatchGAN width")
    model.add_argument("--num_downs", type=int, default=None,
                       help="U-Net levels (default: as many as the resolution allows; a power of two gets the "
                            "paper's 1x1 bottleneck, e.g. 8 = U-Net-256)")
    model.add_argument("--n_layers", type=int, default=3, help="PatchGAN stride-2 layers (3 = 70x70 patches)")
    model.add_argument("--norm", choices=NORMS, default="batch")
    model.add_argument("--use_dropout", action=argparse.BooleanOptionalAction, default=True,
                       help="dropout 0.5 in the U-Net's inner decoder levels")
    loss = parser.add_argument_group("pix2pix loss")
    loss.add_argument("--lambda_l1", type=float, default=100.0, help="weight of the L1 term (the paper: 100)")
    loss.add_argument("--gan_mode", choices=GAN_MODES, default="vanilla")
    args = parser.parse_args(argv)
    if args.num_downs is None:
        args.num_downs = (args.resolution & -args.resolution).bit_length() - 1  # log2 of its largest power-of-2 factor
    args.data = DataSpec(args.dataset, args.resolution, args.channels,
                         {"real_A": args.input_column, "real_B": args.target_column})
    return args


@dataclass(frozen=True)
class Pix2PixHparams:
    """The loss of Isola et al. 2017, eq. 4: weight of the L1 term and the adversarial loss's form."""

    lambda_l1: float = 100.0
    gan_mode: str = "vanilla"


def generator_loss(fake_logits: torch.Tensor, fake_B: torch.Tensor, real_B: torch.Tensor, lambda_l1: float,
                   gan_mode: str = "vanilla") -> tuple[torch.Tensor, torch.Tensor]:
    """The generator's two terms of Isola et al. 2017, eq. 4: (L_cGAN, lambda_l1 * L_L1).

    Args:
        fake_logits: the discriminator's patch logits for (real_A, fake_B), any shape.
        fake_B, real_B: (B, C, H, W) in [-1, 1].
        lambda_l1: weight of the mean absolute error ||real_B - fake_B||_1 (eq. 3).
        gan_mode: ``"vanilla"`` (-log D, the non-saturating form) or ``"lsgan"``.

    Returns:
        Two float32 scalars: the adversarial term and the weighted L1 term.
    """
    return gan_loss(fake_logits, True, gan_mode), lambda_l1 * (fake_B.float() - real_B.float()).abs().mean()


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: a discriminator update, then a generator update (the authors' order).

    D minimises 0.5 * [L(D(x, y), real) + L(D(x, G(x)), fake)] (halved, as the paper does, to slow D);
    G minimises L(D(x, G(x)), real) + lambda_l1 * |y - G(x)|. The generator step goes through the
    frozen discriminator: its gradients reach G only.
    """
    hp, discriminator = ctx.hparams, ctx.networks["discriminator"]
    real_A, real_B = batch["real_A"], batch["real_B"]
    fake_B = ctx.networks["generator"](real_A)

    loss_d_real = 0.5 * gan_loss(discriminator(torch.cat([real_A, real_B], dim=1)), True, hp.gan_mode)
    ctx.backward(loss_d_real)
    loss_d_fake = 0.5 * gan_loss(discriminator(torch.cat([real_A, fake_B.detach()], dim=1)), False, hp.gan_mode)
    ctx.backward(loss_d_fake)
    ctx.step("discriminator")

    with ctx.frozen("discriminator") as frozen:
        loss_gan, loss_l1 = generator_loss(frozen(torch.cat([real_A, fake_B], dim=1)), fake_B, real_B, hp.lambda_l1,
                                           hp.gan_mode)
        ctx.backward(loss_gan + loss_l1)
    ctx.step("generator")
    return {"loss_d": loss_d_real.detach() + loss_d_fake.detach(), "loss_g_gan": loss_gan.detach(),
            "loss_g_l1": loss_l1.detach()}


def heldout_l1(held_out: torch.utils.data.Dataset) -> Callable[[Pix2Pix, Path], dict[str, float]]:
    """The ``on_export`` hook: mean |fake_B - real_B| over the whole held-out split, in [-1, 1] units."""

    def on_export(exported: Pix2Pix, folder: Path) -> dict[str, float]:
        total = 0.0
        for batch in torch.utils.data.DataLoader(held_out, batch_size=EVAL_BATCH):
            total += (exported.generator(batch["real_A"]) - batch["real_B"]).abs().mean(dim=(1, 2, 3)).sum().item()
        return {"heldout_l1": total / len(held_out)}

    return on_export


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and training split of a run (see :func:`genhub.train.trainer.train`)."""
    dataset, held_out = load_split(args.data, "train"), load_split(args.data, "test")
    model = Pix2Pix(args.resolution, args.channels, args.channels, args.ngf, args.ndf, args.num_downs, args.n_layers,
                    args.norm, args.use_dropout)
    networks, optimizers = gan_optimizers(model, dict.fromkeys(("generator", "discriminator"), args.learning_rate),
                                          (args.adam_beta1, args.adam_beta2))
    shown = [held_out[i] for i in range(min(args.num_grid_images, len(held_out)))]
    grid_A, grid_B = (torch.stack([item[key] for item in shown]) for key in ("real_A", "real_B"))
    input_name = args.input_name or dataset.columns["real_A"]
    target_name = args.target_name or dataset.columns["real_B"]
    recipe = Recipe(
        model=model,
        networks=networks,
        optimizers=optimizers,
        training_step=training_step,
        # one tile per held-out pair: input | output | target
        sample=lambda exported: torch.cat([grid_A, exported.generator(grid_A), grid_B], dim=-1),
        hparams=Pix2PixHparams(args.lambda_l1, args.gan_mode),
        flip_groups=(("real_A", "real_B"),),
        on_export=heldout_l1(held_out),
        card=CardText(
            f"pix2pix: a U-Net generator translates an input ({input_name}) into its paired target ({target_name}); "
            "a conditional PatchGAN (also exported) judges (input, output) patches. The grid shows held-out "
            "input | output | target.",
            usage="fake_B = model.translate(real_A)  # (B, C, H, W) in [-1, 1] -> same shape",
            metric_descriptions={"heldout_l1": "mean absolute error |G(input) - target| per pixel over the whole "
                                               "held-out split, in [-1, 1] units (0 = exact, 2 = opposite)"},
            domains={"A": input_name, "B": target_name}),
    )
    return recipe, dataset


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
