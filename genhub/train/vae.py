"""VAE (Kingma & Welling 2014) / beta-VAE (Higgins et al. 2017, --beta > 1) training.

    accelerate launch training/train_vae.py --dataset ../shared/data/faces_celeba \
        --resolution 64 --latent_dim 128 --beta 1.0 --output_dir checkpoints/vae-faces-64

Only the VAE loss and step, and what the export measures, live here; the loop, checkpoints, flips, EMA
(of encoder and decoder together), export and push are genhub.train.trainer's. At export the held-out
(test) split gives the reconstruction MSE/PSNR, KL per dimension, active units, the slider ranking
and the outlier-score reference; the training split's attribute labels, if any, give the attribute
directions (see genhub.evaluation.latent); ``--outlier_dataset`` adds the faces-vs-others AUROC.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from genhub.data import DataSpec, ImageDataset, load_split
from genhub.evaluation.latent import MIN_ATTRIBUTE_COUNT, measure_latent_space
from genhub.evaluation.outlier import auroc_metric_name, evaluate_auroc
from genhub.hub.card import CardText
from genhub.models import VAE
from genhub.models.vae import kl_divergence, reconstruction_error, reparameterize, split_posterior
from genhub.train.args import add_training_args
from genhub.train.optim import adam
from genhub.train.trainer import Recipe, StepContext, Trainer, train


@dataclass(frozen=True)
class VAEHparams:
    """The step's own hyper-parameter: the KL weight (1: VAE; > 1: beta-VAE)."""

    beta: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a VAE or beta-VAE with Accelerate.")
    add_training_args(parser)
    parser.set_defaults(learning_rate=5e-4, adam_beta1=0.9)  # Adam's usual betas; the GAN default is 0.5
    model = add_autoencoder_args(parser, "VAE")
    model.add_argument("--beta", type=float, default=1.0,
                       help="KL weight: 1 is the VAE, > 1 a beta-VAE (Higgins et al. 2017)")
    export = parser.add_argument_group("export")
    export.add_argument("--min_attribute_count", type=int, default=MIN_ATTRIBUTE_COUNT,
                        help="an attribute gets a direction when at least N labelled images have it and lack it")
    export.add_argument("--outlier_dataset", default=None,
                        help="images unlike the training data (e.g. ../shared/data/nonface_flowers_128): "
                             "the outlier score's AUROC on its test split goes to the card")
    args = parser.parse_args(argv)
    args.data = DataSpec(args.dataset, args.resolution, args.channels, {"pixel_values": args.image_column})
    return args


def add_autoencoder_args(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """The networks' flags of the autoencoder families (genhub.models.backbones), in a group named ``title``,
    which is returned for the family's own flags."""
    model = parser.add_argument_group(title)
    model.add_argument("--latent_dim", type=int, default=128)
    model.add_argument("--hidden_channels", type=int, default=32,
                       help="encoder's first / decoder's last stage width, doubled per stage")
    model.add_argument("--channels", type=int, choices=[1, 3], default=3)
    return model


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch of the negative beta-ELBO, averaged over the batch (genhub.models.vae):

    loss = mean_x [ ||x - decoder(z)||^2 + beta * KL(q(z|x) || N(0, I)) ],  z = mu + sigma * eps.
    """
    images = batch["pixel_values"]
    mu, logvar = split_posterior(ctx.networks["encoder"](images))
    reconstruction = reconstruction_error(ctx.networks["decoder"](reparameterize(mu, logvar)), images).mean()
    kl = kl_divergence(mu, logvar).sum(1).mean()
    loss = reconstruction + ctx.hparams.beta * kl
    ctx.backward(loss)
    ctx.step("vae")
    return {"loss": loss.detach(), "reconstruction": reconstruction.detach(), "kl": kl.detach()}


def grid_images(args: argparse.Namespace, test: ImageDataset):
    """The sample grid of an autoencoder family: decodes of fixed z ~ N(0, I) (seeded by ``--seed``), then pairs of
    (held-out image, ``model.reconstruct`` of it), ``--num_grid_images`` in all."""
    pairs = min(args.num_grid_images // 4, len(test))
    fixed_z = torch.randn(args.num_grid_images - 2 * pairs, args.latent_dim,
                          generator=torch.Generator().manual_seed(args.seed))
    held_out = torch.stack([test[i]["pixel_values"] for i in range(pairs)]) if pairs else torch.zeros(
        0, args.channels, args.resolution, args.resolution)

    def sample(model) -> torch.Tensor:
        pairs = torch.stack([held_out, model.reconstruct(held_out)], 1).flatten(0, 1)
        return torch.cat([model.decode(fixed_z), pairs])

    return sample


def export_measurements(args: argparse.Namespace, train: ImageDataset, test: ImageDataset):
    """The ``on_export`` hook: measures the latent space (saved beside the weights by ``save_pretrained``)
    and returns the metrics."""

    def on_export(model: VAE, folder: Path) -> dict[str, float]:
        space, metrics = measure_latent_space(model, test, train, min_count=args.min_attribute_count)
        model.latent_space = space
        if args.outlier_dataset:
            outliers = load_split(args.data.with_source(args.outlier_dataset), "test")
            metrics[auroc_metric_name(args.outlier_dataset)] = evaluate_auroc(model, test, outliers)["outlier_auroc"]
        return metrics

    return on_export


DESCRIPTION = (
    "A convolutional {beta_}VAE (beta = {beta:g}): the encoder maps an image to q(z|x) = N(mu, diag(sigma^2)), the "
    "decoder maps z to an image; prior N(0, I). Loss per image: ||x - decoder(z)||^2 on pixels in [-1, 1] (a "
    "Gaussian decoder with variance 1/2, without its constant) + beta * KL(q(z|x) || N(0, I)) in closed form. The "
    "grid shows samples from fixed z ~ N(0, I), then pairs of held-out images and their reconstructions from "
    "z = mu. `latent_stats.safetensors` holds the KL per dimension (slider ranking) and the held-out negative "
    "ELBOs (outlier-score reference); `directions.safetensors`, when the data has attribute labels, one direction "
    "per attribute (mean mu with it minus without it, training split). Held-out metrics use z = mu; MSE is on "
    "pixels scaled to [0, 1]; an active unit has Var_x(mu_j) > 0.01 (Burda et al. 2016).")


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and training split of a run (see :func:`genhub.train.trainer.train`)."""
    dataset, test = load_split(args.data, "train"), load_split(args.data, "test")
    model = VAE(args.resolution, args.latent_dim, args.channels, args.hidden_channels)
    recipe = Recipe(
        model=model,
        networks={"encoder": model.encoder, "decoder": model.decoder},
        optimizers={"vae": adam(model.parameters(), args.learning_rate, (args.adam_beta1, args.adam_beta2))},
        training_step=training_step,
        sample=grid_images(args, test),
        hparams=VAEHparams(args.beta),
        ema_network=("encoder", "decoder"),
        on_export=export_measurements(args, dataset, test),
        card=CardText(DESCRIPTION.format(beta_="beta-" if args.beta != 1 else "", beta=args.beta)),
        channels_last_precisions=("no",),  # README, Benchmarks: the channels_last lever per CPU kind
    )
    return recipe, dataset


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
