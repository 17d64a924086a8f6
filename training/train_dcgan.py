"""Train a DCGAN (Radford et al. 2016) on an image dataset.

    accelerate launch training/train_dcgan.py --dataset ../shared/data/faces_celeba \
        --resolution 64 --mixed_precision bf16 --output_dir checkpoints/dcgan-faces-64

Only the DCGAN loss and step live here; the loop, checkpoints, EMA, export and push are
genhub.trainer's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from genhub.data import load_image_dataset, random_hflip  # noqa: E402
from genhub.losses import gan_loss  # noqa: E402
from genhub.models import DCGAN  # noqa: E402
from genhub.trainer import Recipe, Trainer, add_training_args  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a DCGAN with Accelerate.")
    add_training_args(parser)
    model = parser.add_argument_group("DCGAN")
    model.add_argument("--latent_dim", type=int, default=100)
    model.add_argument("--ngf", type=int, default=64, help="generator width")
    model.add_argument("--ndf", type=int, default=64, help="discriminator width")
    model.add_argument("--channels", type=int, choices=[1, 3], default=3)
    return parser.parse_args(argv)


def dcgan_step(trainer: Trainer, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: a discriminator update, then a generator update (Goodfellow et al. 2014, alg. 1).

    D maximises log D(x) + log(1 - D(G(z))); G maximises log D(G(z)) (the non-saturating loss).
    The generator step goes through the unwrapped, frozen discriminator: its gradients reach G only.
    """
    generator, discriminator = trainer.networks["generator"], trainer.networks["discriminator"]
    opt_g, opt_d = trainer.optimizers["generator"], trainer.optimizers["discriminator"]
    real = batch["pixel_values"]
    if trainer.args.random_flip:
        real = random_hflip(real)
    z = torch.randn(real.shape[0], trainer.args.latent_dim, device=real.device)
    fake = generator(z)

    loss_d_real = gan_loss(discriminator(real), True)
    trainer.accelerator.backward(loss_d_real)
    loss_d_fake = gan_loss(discriminator(fake.detach()), False)
    trainer.accelerator.backward(loss_d_fake)
    opt_d.step()
    opt_d.zero_grad(set_to_none=True)

    frozen = trainer.model.discriminator
    frozen.requires_grad_(False)
    loss_g = gan_loss(frozen(fake), True)
    trainer.accelerator.backward(loss_g)
    frozen.requires_grad_(True)
    opt_g.step()
    opt_g.zero_grad(set_to_none=True)
    return {"loss_d": loss_d_real.detach() + loss_d_fake.detach(), "loss_g": loss_g.detach()}


def main(args: argparse.Namespace) -> Path | None:
    trainer = Trainer(args)
    dataset = load_image_dataset(args.dataset, "train", args.resolution, args.channels, args.image_column)
    model = DCGAN(args.resolution, args.latent_dim, args.channels, args.ngf, args.ndf)
    betas = (args.adam_beta1, args.adam_beta2)
    fixed_z = torch.randn(args.num_grid_images, args.latent_dim, generator=torch.Generator().manual_seed(args.seed))
    recipe = Recipe(
        model=model,
        networks={"generator": model.generator, "discriminator": model.discriminator},
        optimizers={
            "generator": torch.optim.Adam(model.generator.parameters(), lr=args.learning_rate, betas=betas),
            "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=args.learning_rate, betas=betas),
        },
        training_step=dcgan_step,
        sample=lambda exported: exported.generator(fixed_z),
        card={
            "family": "dcgan",
            "model_class": "DCGAN",
            "registry_key": "dcgan-faces",
            "pipeline_tag": "unconditional-image-generation",
            "tags": ["dcgan", "gan"],
            "description": "A deep convolutional GAN: the generator maps z ~ N(0, I) to an image; the "
                           "discriminator (also exported) scores images as real or fake.",
            "paper": "Radford, Metz & Chintala 2016, Unsupervised Representation Learning with Deep "
                     "Convolutional Generative Adversarial Networks (arXiv:1511.06434); Goodfellow et al. "
                     "2014, Generative Adversarial Nets.",
        },
    )
    return trainer.fit(recipe, dataset)


if __name__ == "__main__":
    main(parse_args())
