"""Train pix2pix (Isola et al. 2017) on paired images: a U-Net maps each input to its target.

    accelerate launch training/train_pix2pix.py --dataset ../shared/data/sketch2face_celeba_128 \
        --input_column input --target_column target --resolution 128 \
        --output_dir checkpoints/pix2pix-sketch2face-128

Defaults are the paper's (U-Net with a 1x1 bottleneck, ngf = ndf = 64, 70x70 PatchGAN, batch norm,
dropout, lambda_l1 = 100, vanilla GAN loss, Adam 2e-4 / 0.5, batch 1); narrower networks are flags.
Only the pix2pix loss and step live here; the loop, checkpoints, EMA, export and push are genhub.trainer's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from genhub.data import DataError, ImageDataset, image_columns, load_source, random_hflip  # noqa: E402
from genhub.losses import GAN_MODES, gan_loss  # noqa: E402
from genhub.models import Pix2Pix  # noqa: E402
from genhub.models.patchgan import NORMS  # noqa: E402
from genhub.trainer import Recipe, Trainer, add_training_args  # noqa: E402

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
    return args


def load_pairs(args: argparse.Namespace, split: str) -> ImageDataset:
    """One split of the paired dataset: items {"real_A": input, "real_B": target}, each
    float32 (channels, resolution, resolution) in [-1, 1].

    Raises:
        DataError: as ``genhub.data.load_source``, or the columns are missing / not two image columns.
    """
    table = load_source(args.dataset)[split]
    found = image_columns(table)
    input_column = args.input_column or (found[0] if found else None)
    target_column = args.target_column or next((c for c in found if c != input_column), None)
    if input_column is None or target_column is None:
        raise DataError(f"dataset {args.dataset!r} needs an input and a target image column (image columns: "
                        f"{found}); pass --input_column and --target_column")
    args.input_name, args.target_name = args.input_name or input_column, args.target_name or target_column
    return ImageDataset(table, {"real_A": input_column, "real_B": target_column}, args.resolution, args.channels,
                        args.dataset)


def flip_pairs(real_A: torch.Tensor, real_B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror each (input, target) pair of a batch left-right together, with probability 1/2
    (``genhub.data.random_hflip`` on the torch RNG, so a resumed run flips the same pairs)."""
    both = random_hflip(torch.cat([real_A, real_B], dim=1))
    return both[:, : real_A.shape[1]], both[:, real_A.shape[1]:]


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


def pix2pix_step(trainer: Trainer, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: a discriminator update, then a generator update (the authors' order).

    D minimises 0.5 * [L(D(x, y), real) + L(D(x, G(x)), fake)] (halved, as the paper does, to slow D);
    G minimises L(D(x, G(x)), real) + lambda_l1 * |y - G(x)|. The generator step goes through the
    unwrapped, frozen discriminator: its gradients reach G only.
    """
    args = trainer.args
    generator, discriminator = trainer.networks["generator"], trainer.networks["discriminator"]
    opt_g, opt_d = trainer.optimizers["generator"], trainer.optimizers["discriminator"]
    real_A, real_B = batch["real_A"], batch["real_B"]
    if args.random_flip:
        real_A, real_B = flip_pairs(real_A, real_B)
    fake_B = generator(real_A)

    loss_d_real = 0.5 * gan_loss(discriminator(torch.cat([real_A, real_B], dim=1)), True, args.gan_mode)
    trainer.accelerator.backward(loss_d_real)
    loss_d_fake = 0.5 * gan_loss(discriminator(torch.cat([real_A, fake_B.detach()], dim=1)), False, args.gan_mode)
    trainer.accelerator.backward(loss_d_fake)
    opt_d.step()
    opt_d.zero_grad(set_to_none=True)

    frozen = trainer.model.discriminator
    frozen.requires_grad_(False)
    loss_gan, loss_l1 = generator_loss(frozen(torch.cat([real_A, fake_B], dim=1)), fake_B, real_B, args.lambda_l1,
                                       args.gan_mode)
    trainer.accelerator.backward(loss_gan + loss_l1)
    frozen.requires_grad_(True)
    opt_g.step()
    opt_g.zero_grad(set_to_none=True)
    return {"loss_d": loss_d_real.detach() + loss_d_fake.detach(), "loss_g_gan": loss_gan.detach(),
            "loss_g_l1": loss_l1.detach()}


def main(args: argparse.Namespace) -> Path | None:
    trainer = Trainer(args)
    dataset, held_out = load_pairs(args, "train"), load_pairs(args, "test")
    model = Pix2Pix(args.resolution, args.channels, args.channels, args.ngf, args.ndf, args.num_downs, args.n_layers,
                    args.norm, args.use_dropout)
    betas = (args.adam_beta1, args.adam_beta2)
    shown = [held_out[i] for i in range(min(args.num_grid_images, len(held_out)))]
    grid_A, grid_B = (torch.stack([item[key] for item in shown]) for key in ("real_A", "real_B"))

    def heldout_l1(exported: Pix2Pix, folder: Path) -> dict[str, float]:
        """Mean |fake_B - real_B| over the whole held-out split, in [-1, 1] units (the L1 term's)."""
        total = 0.0
        for start in range(0, len(held_out), EVAL_BATCH):
            items = [held_out[i] for i in range(start, min(start + EVAL_BATCH, len(held_out)))]
            real_A, real_B = (torch.stack([item[key] for item in items]) for key in ("real_A", "real_B"))
            total += (exported.generator(real_A) - real_B).abs().mean(dim=(1, 2, 3)).sum().item()
        return {"heldout_l1": total / len(held_out)}

    recipe = Recipe(
        model=model,
        networks={"generator": model.generator, "discriminator": model.discriminator},
        optimizers={
            "generator": torch.optim.Adam(model.generator.parameters(), lr=args.learning_rate, betas=betas),
            "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=args.learning_rate, betas=betas),
        },
        training_step=pix2pix_step,
        # one tile per held-out pair: input | output | target
        sample=lambda exported: torch.cat([grid_A, exported.generator(grid_A), grid_B], dim=-1),
        on_export=heldout_l1,
        card={
            "family": "pix2pix",
            "model_class": "Pix2Pix",
            "registry_key": "pix2pix-sketch2face",
            "pipeline_tag": "image-to-image",
            "tags": ["pix2pix", "gan", "image-to-image"],
            "domains": {"A": args.input_name, "B": args.target_name},
            "description": f"pix2pix: a U-Net generator translates an input ({args.input_name}) into its paired "
                           f"target ({args.target_name}); a conditional PatchGAN (also exported) judges (input, "
                           "output) patches. The grid shows held-out input | output | target.",
            "usage": "fake_B = model.translate(real_A)  # (B, C, H, W) in [-1, 1] -> same shape",
            "metric_descriptions": {"heldout_l1": "mean absolute error |G(input) - target| per pixel over the "
                                                  "whole held-out split, in [-1, 1] units (0 = exact, 2 = opposite)"},
            "paper": "Isola, Zhu, Zhou & Efros 2017, Image-to-Image Translation with Conditional Adversarial "
                     "Networks (arXiv:1611.07004).",
        },
    )
    return trainer.fit(recipe, dataset)


if __name__ == "__main__":
    main(parse_args())
