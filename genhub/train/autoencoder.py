"""Deterministic (optionally denoising) autoencoder training: reconstruction loss only.

    accelerate launch training/train_autoencoder.py --dataset ../shared/data/faces_celeba \
        --resolution 64 --latent_dim 128 --output_dir checkpoints/autoencoder-faces-64

The same networks and flags as the VAE (genhub.train.vae) without the KL term, so the two exports differ only
in what the VAE is for. At export the held-out split gives the reconstruction MSE/PSNR (the VAE's definition)
and how far the codes are from N(0, I), the distribution the VAE's samples are drawn from.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from genhub.data import DataSpec, ImageDataset, load_split
from genhub.evaluation.latent import reconstruction_errors, reconstruction_quality
from genhub.hub.card import CardText
from genhub.models.autoencoder import Autoencoder
from genhub.models.vae import reconstruction_error
from genhub.train.args import add_training_args
from genhub.train.optim import adam
from genhub.train.trainer import Recipe, StepContext, Trainer, train
from genhub.train.vae import add_autoencoder_args, grid_images


@dataclass(frozen=True)
class AutoencoderHparams:
    """The step's own hyper-parameter: the std of the Gaussian noise added to the input (0: plain autoencoder)."""

    noise_std: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a (denoising) autoencoder with Accelerate.")
    add_training_args(parser)
    parser.set_defaults(learning_rate=5e-4, adam_beta1=0.9)
    model = add_autoencoder_args(parser, "autoencoder")
    model.add_argument("--noise_std", type=float, default=0.0,
                       help="denoising: train to reconstruct x from x + noise_std * eps (pixels in [-1, 1])")
    args = parser.parse_args(argv)
    if args.noise_std < 0:
        parser.error(f"--noise_std must be >= 0, got {args.noise_std}")
    args.data = DataSpec(args.dataset, args.resolution, args.channels, {"pixel_values": args.image_column})
    return args


def autoencoder_loss(encoder, decoder, images: torch.Tensor, noise_std: float = 0.0) -> torch.Tensor:
    """mean_x ||x - decoder(encoder(x + noise_std * eps))||^2 (float32 scalar), eps ~ N(0, I) from the torch RNG;
    images float (B, C, H, W) in [-1, 1]. The noisy input is not clamped: the noise model is the Gaussian one."""
    noisy = images + noise_std * torch.randn_like(images) if noise_std > 0 else images
    return reconstruction_error(decoder(encoder(noisy)), images).mean()


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch of :func:`autoencoder_loss`: the loss is the reconstruction term, nothing else."""
    loss = autoencoder_loss(ctx.networks["encoder"], ctx.networks["decoder"], batch["pixel_values"],
                            ctx.hparams.noise_std)
    ctx.backward(loss)
    ctx.step("autoencoder")
    return {"loss": loss.detach()}


@torch.no_grad()
def encode_all(model: Autoencoder, dataset: ImageDataset, batch_size: int = 256) -> torch.Tensor:
    """Codes z of a dataset of ``pixel_values``, in order: float32 (N, latent_dim)."""
    device = next(model.parameters()).device
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    return torch.cat([model.encode(batch["pixel_values"].to(device)).float().cpu() for batch in loader])


#: Training images whose codes the export's Gaussian is fitted to (the first ones, in order: deterministic; 4,096
#: codes estimate a 128-dimensional covariance well and encode in seconds).
GAUSSIAN_FIT_IMAGES = 4096


def export_measurements(test: ImageDataset, train: ImageDataset):
    """The ``on_export`` hook: held-out reconstruction quality and the codes' distance from N(0, I); fits the
    Gaussian the export samples from (:meth:`Autoencoder.fit_latent_gaussian`) to the codes of the first
    :data:`GAUSSIAN_FIT_IMAGES` training images."""

    def on_export(model: Autoencoder, folder: Path) -> dict[str, float]:
        pixels = model.channels * model.resolution ** 2
        mse, psnr_db = reconstruction_quality(reconstruction_errors(model, test), pixels)
        fit = torch.utils.data.Subset(train, range(min(GAUSSIAN_FIT_IMAGES, len(train))))
        model.fit_latent_gaussian(encode_all(model, fit))
        z = encode_all(model, test)
        return {"heldout_mse": mse, "heldout_psnr_db": psnr_db,
                "latent_mean_abs": float(z.mean(0).abs().mean()), "latent_std_mean": float(z.std(0).mean())}

    return on_export


DESCRIPTION = (
    "A convolutional {denoising}autoencoder: the encoder maps an image to a code z, the decoder maps z back. Loss "
    "per image: ||x - decoder(encoder(x{noise}))||^2 on pixels in [-1, 1], nothing else: no prior, no KL. The grid "
    "shows decodes of fixed z ~ N(0, I) (the draws a VAE would decode; an autoencoder has no reason to make faces "
    "there), then pairs of held-out images and their reconstructions. latent_gaussian.safetensors is a Gaussian fitted "
    "to the codes of training images (Ghosh et al. 2020's ex-post density): decodes of its draws are the "
    "autoencoder's own samples. Held-out MSE is on pixels scaled to [0, 1]; "
    "latent_mean_abs and latent_std_mean are the mean |mean| and mean std of the held-out codes per dimension "
    "(N(0, I) would give 0 and 1).")


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and training split of a run (see :func:`genhub.train.trainer.train`)."""
    dataset, test = load_split(args.data, "train"), load_split(args.data, "test")
    model = Autoencoder(args.resolution, args.latent_dim, args.channels, args.hidden_channels)
    noise = f" + {args.noise_std:g} eps" if args.noise_std else ""
    recipe = Recipe(
        model=model,
        networks={"encoder": model.encoder, "decoder": model.decoder},
        optimizers={"autoencoder": adam(model.parameters(), args.learning_rate, (args.adam_beta1, args.adam_beta2))},
        training_step=training_step,
        sample=grid_images(args, test),
        hparams=AutoencoderHparams(args.noise_std),
        ema_network=("encoder", "decoder"),
        on_export=export_measurements(test, dataset),
        card=CardText(DESCRIPTION.format(denoising="denoising " if args.noise_std else "", noise=noise)),
        channels_last_precisions=("no", "bf16"),  # README, Benchmarks: the channels_last lever per CPU kind
    )
    return recipe, dataset


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
