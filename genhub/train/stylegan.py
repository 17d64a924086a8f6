"""Progressive GAN / StyleGAN training (Karras et al. 2018; Karras, Laine & Aila 2019): the family's flags, growth
schedule, loss and step.

    accelerate launch training/train_stylegan.py --dataset ../shared/data/faces_celeba --resolution 32 \
        --stage_steps 600 --fade_steps 600 --max_train_minutes 45 --output_dir checkpoints/stylegan-faces-32

The images are loaded once at ``--resolution`` and average-pooled to the stage's; while a stage fades in, the real
images are faded the same way as the generator's (ProGAN sec. 3 / appendix A.1). Stage and fade-in alpha are pure
functions of the global step (:class:`GrowthSchedule`), so a resumed run is bit-identical across stage changes. At the
end of every stage but the last the EMA generator is exported to ``stages/<r>px/`` (the app's growth strip).
Loss: the non-saturating logistic loss, optional lazy R1 on reals (Mescheder et al. 2018, eq. 9; StyleGAN2 sec. 4),
style-mixing regularisation (StyleGAN sec. 3.1) and the w_avg running mean (beta 0.995) for the truncation trick.
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from genhub.data import DataSpec, load_split
from genhub.hub.card import CardText
from genhub.models.stylegan import GENERATOR_TYPES, STAGES_FOLDER, StyleGAN, num_stages, stage_resolution
from genhub.train.args import add_training_args
from genhub.train.losses import gan_loss, r1_penalty
from genhub.train.optim import adam
from genhub.train.trainer import Recipe, StepContext, Trainer, train


@dataclass(frozen=True)
class GrowthSchedule:
    """Stage and fade-in alpha as pure functions of the optimisation step.

    Stage 0 (4 px) trains for its ``stage_steps``; every later stage fades in over ``fade_steps`` (alpha 0 -> 1,
    linear) and then trains at alpha 1 for its ``stage_steps``; the last stage then stays until the run ends.
    ``stage_steps``: one count for every stage, or one per stage (the last one given repeats for later stages).
    """

    num_stages: int
    stage_steps: int | tuple[int, ...]
    fade_steps: int

    def steps_at_full_alpha(self, stage: int) -> int:
        """Steps ``stage`` trains at alpha 1 (the last stage's: until the run ends, not counted here)."""
        steps = (self.stage_steps,) if isinstance(self.stage_steps, int) else tuple(self.stage_steps)
        return steps[min(stage, len(steps) - 1)]

    def at(self, step: int) -> tuple[int, float]:
        """(stage, alpha) in effect for the step that starts after ``step`` finished steps."""
        if step < self.stage_end(0):
            return 0, 1.0
        stage = 1
        while stage < self.num_stages - 1 and step >= self.stage_end(stage):
            stage += 1
        into = step - self.stage_end(stage - 1)
        return stage, (min(1.0, into / self.fade_steps) if self.fade_steps else 1.0)

    def stage_end(self, stage: int) -> int:
        """The step count at which ``stage`` (not the last) has finished training at alpha 1."""
        return sum(self.steps_at_full_alpha(s) for s in range(stage + 1)) + stage * self.fade_steps

    def growth_steps(self) -> int:
        """Steps until the last stage has faded in."""
        return self.stage_end(self.num_stages - 2) + self.fade_steps if self.num_stages > 1 else 0


@dataclass(frozen=True)
class StyleGANHparams:
    """The step's hyper-parameters (see the flags)."""

    schedule: GrowthSchedule
    latent_dim: int
    style_mixing_prob: float
    r1_gamma: float
    r1_interval: int
    w_avg_beta: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a progressive GAN or a style-based GAN with Accelerate.")
    add_training_args(parser)
    parser.set_defaults(resolution=32, learning_rate=1e-3, adam_beta1=0.0, adam_beta2=0.99, train_batch_size=32)
    model = parser.add_argument_group("progressive / style-based GAN")
    model.add_argument("--generator_type", choices=GENERATOR_TYPES, default="style",
                       help="style: StyleGAN's mapping network, constant input, AdaIN and noise; progressive: ProGAN")
    model.add_argument("--latent_dim", type=int, default=128)
    model.add_argument("--w_dim", type=int, default=128)
    model.add_argument("--mapping_layers", type=int, default=4, help="StyleGAN uses 8 (of 512); 4 of 128 on a CPU")
    model.add_argument("--channel_base", type=int, default=512,
                       help="feature maps at r px: min(max_channels, channel_base / r)")
    model.add_argument("--max_channels", type=int, default=128)
    model.add_argument("--channels", type=int, choices=[1, 3], default=3)
    grow = parser.add_argument_group("growth schedule")
    grow.add_argument("--stage_steps", type=int, nargs="+", default=[600],
                      help="steps at alpha 1 per stage, one count or one per stage (the last given repeats; the last "
                           "stage trains for the rest)")
    grow.add_argument("--fade_steps", type=int, default=600, help="steps over which a new stage fades in")
    loss = parser.add_argument_group("regularisation")
    loss.add_argument("--style_mixing_prob", type=float, default=0.9, help="StyleGAN: 0.9; 0 turns it off")
    loss.add_argument("--r1_gamma", type=float, default=None,
                      help="R1 weight (0: off); default StyleGAN2-ADA's heuristic 0.0002 * resolution^2 / batch")
    loss.add_argument("--r1_interval", type=int, default=16, help="lazy R1: every N steps, weighted by N")
    loss.add_argument("--w_avg_beta", type=float, default=0.995, help="decay of the running mean of w")
    args = parser.parse_args(argv)
    num_stages(args.resolution)  # validates
    if min(args.stage_steps) < 1 or args.fade_steps < 0 or args.r1_interval < 1:
        parser.error("--stage_steps and --r1_interval must be >= 1, --fade_steps >= 0")
    if not 0.0 <= args.style_mixing_prob <= 1.0:
        parser.error(f"--style_mixing_prob must be in [0, 1], got {args.style_mixing_prob}")
    if args.r1_gamma is None:
        args.r1_gamma = 0.0002 * args.resolution ** 2 / args.train_batch_size
    args.data = DataSpec(args.dataset, args.resolution, args.channels, {"pixel_values": args.image_column})
    return args


def real_at_stage(images: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
    """Real images (B, C, R, R) -> stage ``stage``'s resolution by average pooling, faded in like the generator's
    output: lerp(upsample(pool(x)), x, alpha) while alpha < 1 (ProGAN appendix A.1)."""
    size = stage_resolution(stage)
    x = F.adaptive_avg_pool2d(images, size) if images.shape[-1] != size else images
    if stage and alpha < 1.0:
        x = torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), x, float(alpha))
    return x


def generate(ctx: StepContext, batch_size: int, stage: int, device: torch.device, alpha: float) -> torch.Tensor:
    """Fakes at the stage: z -> (mapping, style mixing with a second z at a random crossover among the stage's
    layers, w_avg update on the first z's w) -> synthesis."""
    hp = ctx.hparams
    z = torch.randn(batch_size, hp.latent_dim, device=device)
    synthesis = ctx.networks["synthesis"]
    if "mapping" not in ctx.networks:
        return synthesis(z, stage, alpha)
    num_layers = ctx.unwrapped["synthesis"].num_layers
    mixing = hp.style_mixing_prob > 0 and float(torch.rand(())) < hp.style_mixing_prob
    zs = torch.cat([z, torch.randn_like(z)]) if mixing else z
    w = ctx.networks["mapping"](zs)  # one call through DDP for both codes
    ctx.unwrapped["mapping"].update_w_avg(w[:batch_size], hp.w_avg_beta)
    ws = w[:batch_size].unsqueeze(1).repeat(1, num_layers, 1)
    if mixing:
        active = min(num_layers, 2 * (stage + 1))
        crossover = int(torch.randint(1, active, ())) if active > 1 else active
        ws = torch.cat([ws[:, :crossover], w[batch_size:].unsqueeze(1).expand(-1, num_layers - crossover, -1)], 1)
    return synthesis(ws, stage, alpha)


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch at the schedule's (stage, alpha): D on reals and fakes (+ lazy R1), then G through the frozen
    D, both with the non-saturating logistic loss."""
    hp = ctx.hparams
    stage, alpha = hp.schedule.at(ctx.global_step)
    discriminator = ctx.networks["discriminator"]
    real = real_at_stage(batch["pixel_values"], stage, alpha)
    fake = generate(ctx, real.shape[0], stage, real.device, alpha)

    loss_d = gan_loss(discriminator(real, stage, alpha), True) + gan_loss(discriminator(fake.detach(), stage, alpha),
                                                                        False)
    ctx.backward(loss_d)
    logs = {"loss_d": loss_d.detach()}
    if hp.r1_gamma > 0 and ctx.global_step % hp.r1_interval == 0:
        penalty = r1_penalty(discriminator, real, stage, alpha)
        ctx.backward(penalty * (hp.r1_gamma / 2 * hp.r1_interval))
        logs["r1"] = penalty.detach()
    ctx.step("discriminator")

    with ctx.frozen("discriminator") as frozen:
        loss_g = gan_loss(frozen(fake, stage, alpha), True)
        ctx.backward(loss_g)
    ctx.step("generator")
    logs["loss_g"] = loss_g.detach()
    return logs


def save_stage(model: StyleGAN, folder: Path) -> None:
    """Write ``model`` (config + safetensors) to ``folder`` atomically: into a temporary sibling, then renamed."""
    partial = folder.with_name(f".partial-{folder.name}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(partial, folder)


def stage_snapshots(schedule: GrowthSchedule, output_dir: Path) -> Callable:
    """``Recipe.on_step``: at the end of each stage but the last, the EMA model grown to that stage goes to
    ``<output_dir>/stages/<r>px``."""
    ends = {schedule.stage_end(stage): stage for stage in range(schedule.num_stages - 1)}

    def on_step(step: int, export_model: Callable[[], StyleGAN]) -> None:
        if step in ends:
            size = stage_resolution(ends[step])
            save_stage(export_model().at_resolution(size), output_dir / STAGES_FOLDER / f"{size}px")

    return on_step


def grid_sample(args: argparse.Namespace):
    """The grid's fixed z, full resolution, constant noise, no truncation."""
    z = torch.randn(args.num_grid_images, args.latent_dim, generator=torch.Generator().manual_seed(args.seed))

    def sample(model: StyleGAN) -> torch.Tensor:
        return model(z.to(model._device()), noise_mode="const").clamp(-1, 1)

    return sample


DESCRIPTION = (
    "A {kind} grown progressively from 4x4 to {resolution}x{resolution} ({stages}: {stage_steps} steps per stage, "
    "{fade_steps} steps of fade-in), equalised learning rate, minibatch standard deviation in the discriminator"
    "{extra}. "
    "The generator of each finished stage is in stages/<r>px/ (the app's growth strip).")
STYLE_EXTRA = (", a {mapping_layers}-layer mapping network to w ({w_dim} d), AdaIN, per-layer noise, style mixing "
               "with probability {style_mixing_prob} and R1 gamma {r1_gamma:g}")
USAGE = ("images = model.sample(4, truncation_psi=0.7)  # (4, 3, H, W) in [-1, 1]\n"
         "ws = model.styles(model.latents(4))  # (4, num_layers, w_dim): one w per layer, for style mixing")


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and the training split of a run (see :func:`genhub.train.trainer.train`)."""
    dataset = load_split(args.data, "train")
    model = StyleGAN(args.resolution, args.generator_type, args.latent_dim, args.w_dim, args.mapping_layers,
                     args.channels, args.channel_base, args.max_channels)
    schedule = GrowthSchedule(model.num_stages, tuple(args.stage_steps), args.fade_steps)
    generator_parts = ["mapping", "synthesis"] if model.style_based else ["synthesis"]
    networks = {name: getattr(model, name) for name in [*generator_parts, "discriminator"]}
    betas = (args.adam_beta1, args.adam_beta2)
    generator_parameters = [p for name in generator_parts for p in networks[name].parameters()]
    kind = "style-based generator (StyleGAN)" if model.style_based else "progressive GAN (ProGAN)"
    extra = STYLE_EXTRA.format(**vars(args)) if model.style_based else ""
    recipe = Recipe(
        model=model,
        networks=networks,
        optimizers={"generator": adam(generator_parameters, args.learning_rate, betas),
                    "discriminator": adam(model.discriminator.parameters(), args.learning_rate, betas)},
        training_step=training_step,
        sample=grid_sample(args),
        ema_network=tuple(generator_parts) if len(generator_parts) > 1 else generator_parts[0],
        hparams=StyleGANHparams(schedule, args.latent_dim, args.style_mixing_prob, args.r1_gamma, args.r1_interval,
                                args.w_avg_beta),
        on_step=stage_snapshots(schedule, Path(args.output_dir)),
        card=CardText(DESCRIPTION.format(kind=kind, resolution=args.resolution, extra=extra,
                                         stages=" -> ".join(f"{stage_resolution(s)}" for s in
                                                            range(model.num_stages)),
                                         stage_steps=" / ".join(map(str, args.stage_steps)),
                                         fade_steps=args.fade_steps), usage=USAGE),
        channels_last_precisions=("bf16",),  # README, Benchmarks: the channels_last lever per CPU kind
    )
    trainer.accelerator.print(f"growth: {schedule.num_stages} stages, last stage from step {schedule.growth_steps()}")
    return recipe, dataset


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
