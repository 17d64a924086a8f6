"""DDPM (Ho, Jain & Abbeel 2020) training: the family's flags, loss and step; the loop, checkpoints, EMA,
export and push are :mod:`genhub.train.trainer`'s. Flag names follow diffusers' ``train_unconditional.py``.

    accelerate launch training/train_ddpm.py --dataset ../shared/data/faces_celeba \
        --resolution 32 --output_dir checkpoints/ddpm-faces-32

The paper's 32x32 UNet: ``--block_out_channels 128 256 256 256 --layers_per_block 2 --attention_levels 1
--norm_num_groups 32`` (far beyond two CPU cores).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.optimization import get_scheduler
from diffusers.training_utils import compute_snr

from genhub.data import DataSpec, load_split
from genhub.hub.card import CardText
from genhub.models import DDPM
from genhub.train.args import add_training_args
from genhub.train.optim import adam
from genhub.train.trainer import Recipe, StepContext, Trainer, train


@dataclass(frozen=True)
class DDPMHparams:
    """The step's own hyper-parameters: the forward process (q(x_t | x_0) and T) and what the UNet predicts."""

    noise_scheduler: DDPMScheduler
    prediction_type: str
    snr_gamma: float | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The shared flags plus the DDPM's; ``args.data`` is the run's :class:`~genhub.data.DataSpec`."""
    parser = argparse.ArgumentParser(description="Train a DDPM with Accelerate.")
    add_training_args(parser)
    parser.set_defaults(resolution=32, learning_rate=1e-4, adam_beta1=0.95, adam_beta2=0.999)
    model = parser.add_argument_group("DDPM")
    model.add_argument("--channels", type=int, choices=[1, 3], default=3)
    model.add_argument("--block_out_channels", type=int, nargs="+", default=[32, 64, 64, 128],
                       help="UNet width per level (the paper at 32 px: 128 256 256 256)")
    model.add_argument("--layers_per_block", type=int, default=1, help="residual blocks per level (the paper: 2)")
    model.add_argument("--attention_levels", type=int, nargs="*", default=[2],
                       help="levels with self-attention, 0 = full resolution (the paper at 32 px: 1)")
    model.add_argument("--norm_num_groups", type=int, default=16)
    model.add_argument("--ddpm_num_steps", type=int, default=1000, help="T")
    model.add_argument("--ddpm_beta_schedule", choices=["linear", "squaredcos_cap_v2"], default="linear")
    model.add_argument("--prediction_type", choices=["epsilon", "v_prediction", "sample"], default="epsilon")
    model.add_argument("--snr_gamma", type=float, default=None,
                       help="min-SNR-gamma loss weighting (Hang et al. 2023; 5 in the paper); default: unweighted")
    model.add_argument("--ddpm_num_inference_steps", type=int, default=20, help="DDIM steps for the sample grid")
    model.add_argument("--adam_weight_decay", type=float, default=1e-6)
    model.add_argument("--adam_epsilon", type=float, default=1e-8)
    model.add_argument("--lr_scheduler", choices=["constant", "constant_with_warmup", "cosine", "linear"],
                       default="cosine")
    model.add_argument("--lr_warmup_steps", type=int, default=500)
    args = parser.parse_args(argv)
    args.data = DataSpec(args.dataset, args.resolution, args.channels, {"pixel_values": args.image_column})
    return args


def denoising_loss(predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], noise_scheduler: DDPMScheduler,
                   clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor,
                   prediction_type: str = "epsilon", snr_gamma: float | None = None) -> torch.Tensor:
    """The simplified DDPM objective (Ho et al. 2020, eq. 14), a float32 scalar:

    mean || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2

    clean x_0 and noise eps: float (B, C, H, W); timesteps t: int (B,) in [0, T); ``predict(x_t, t)`` the
    network. ``prediction_type`` "v_prediction" targets v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0
    (Salimans & Ho 2022), "sample" targets x_0. With ``snr_gamma``, each image's error is weighted by min-SNR-gamma
    (Hang et al. 2023, eq. 10, with SNR(t) = alpha_bar_t / (1 - alpha_bar_t) from diffusers' ``compute_snr``):
    min(SNR, gamma) / SNR for eps, min(SNR, gamma) / (SNR + 1) for v, min(SNR, gamma) for x_0 -- the x_0 error's
    weight min(SNR, gamma) expressed in each target. The error is computed in float32 under any autocast.
    """
    noisy = noise_scheduler.add_noise(clean, noise, timesteps)
    prediction = predict(noisy, timesteps)
    if prediction_type == "epsilon":
        target = noise
    elif prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(clean, noise, timesteps)
    else:
        target = clean
    if snr_gamma is None:
        return F.mse_loss(prediction.float(), target.float())
    snr = compute_snr(noise_scheduler, timesteps)
    clipped = snr.clamp(max=snr_gamma)
    weight = {"epsilon": clipped / snr, "v_prediction": clipped / (snr + 1), "sample": clipped}[prediction_type]
    errors = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    return (errors * weight).mean()


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: t ~ U{0..T-1} and eps ~ N(0, I) from the torch RNG (checkpointed: resume is exact),
    then :func:`denoising_loss` on the UNet."""
    clean = batch["pixel_values"]
    unet, hparams = ctx.networks["unet"], ctx.hparams
    noise = torch.randn(clean.shape, device=clean.device)
    timesteps = torch.randint(0, hparams.noise_scheduler.config.num_train_timesteps, (clean.shape[0],),
                              device=clean.device)
    loss = denoising_loss(lambda noisy, t: unet(noisy, t).sample, hparams.noise_scheduler, clean, noise, timesteps,
                          hparams.prediction_type, hparams.snr_gamma)
    ctx.backward(loss)
    ctx.step("unet")
    return {"loss": loss.detach()}


USAGE = """images = model.sample(16, num_inference_steps=50)  # DDIM; (16, C, H, W) in [-1, 1]

# or, without genhub: the folder is a diffusers DDPMPipeline
from diffusers import DDIMScheduler, DiffusionPipeline
pipe = DiffusionPipeline.from_pretrained("REPO")
pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
pipe(batch_size=16, num_inference_steps=50).images  # PIL images"""


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and training split of a run (see :func:`genhub.train.trainer.train`)."""
    dataset = load_split(args.data, "train")
    model = DDPM(args.resolution, args.channels, args.block_out_channels, args.layers_per_block,
                 args.attention_levels, args.norm_num_groups, args.ddpm_num_steps, args.ddpm_beta_schedule,
                 args.prediction_type)
    optimizer = adam(model.unet.parameters(), args.learning_rate, (args.adam_beta1, args.adam_beta2),
                     weight_decay=args.adam_weight_decay, decoupled=True, eps=args.adam_epsilon)
    schedule = get_scheduler(args.lr_scheduler, optimizer, num_warmup_steps=args.lr_warmup_steps,
                             num_training_steps=trainer.num_training_steps(dataset))
    recipe = Recipe(
        model=model,
        networks={"unet": model.unet},
        optimizers={"unet": optimizer},
        training_step=training_step,
        sample=lambda exported: exported.sample(args.num_grid_images, torch.Generator().manual_seed(args.seed),
                                                num_inference_steps=args.ddpm_num_inference_steps),
        hparams=DDPMHparams(model.noise_scheduler, args.prediction_type, args.snr_gamma),
        ema_network="unet",
        schedulers={"unet": schedule},
        card=CardText(f"A denoising diffusion probabilistic model: a UNet trained to predict the noise added by the "
                      f"forward process (T = {args.ddpm_num_steps}, {args.ddpm_beta_schedule} betas). The grid is "
                      f"{args.ddpm_num_inference_steps}-step DDIM samples from fixed noise. The folder is also a "
                      "diffusers DDPMPipeline.", usage=USAGE),
    )
    return recipe, dataset


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
