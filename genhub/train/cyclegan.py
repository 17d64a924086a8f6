"""CycleGAN (Zhu et al. 2017) training on two unpaired image domains A and B.

    accelerate launch training/train_cyclegan.py --dataset ../shared/data/unpaired_celeba_eyeglasses \
        --domain_column domain --domain_a A --domain_b B --resolution 64 \
        --output_dir checkpoints/cyclegan-eyeglasses-64

or with one dataset per domain: ``--dataset FOLDER_A --dataset_b FOLDER_B``.

Defaults are the paper's (ResNet generators with 6 blocks up to 128 px and 9 above, ngf = ndf = 64,
70x70 PatchGANs, instance norm, LSGAN, lambda_cycle = 10, lambda_identity = 0.5, image pools of 50,
Adam 2e-4 / 0.5, batch 1, constant learning rate for the first half of the run and a linear decay to
zero over the second); narrower networks are flags. Only the CycleGAN flags, losses and step live here;
the loop, checkpoints, flips, EMA, export and push are genhub.train.trainer's.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from genhub.data import MODALITIES, DataSpec, load_split
from genhub.hub.card import CardText
from genhub.models import CycleGAN
from genhub.models.layers import NORMS
from genhub.train.args import add_training_args
from genhub.train.image_pool import ImagePool
from genhub.train.losses import GAN_MODES, gan_loss
from genhub.train.optim import adam
from genhub.train.trainer import Recipe, StepContext, Trainer, train

EVAL_BATCH = 16


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train CycleGAN with Accelerate.")
    add_training_args(parser)
    parser.set_defaults(resolution=256, train_batch_size=1, num_grid_images=16)
    data = parser.add_argument_group("CycleGAN data (one dataset with a domain column, or two datasets)")
    data.add_argument("--domain_column", default=None, help="column naming each row's domain in --dataset")
    data.add_argument("--domain_a", default="A", help="--domain_column value of domain A rows")
    data.add_argument("--domain_b", default="B", help="--domain_column value of domain B rows")
    data.add_argument("--dataset_b", default=None, help="a second dataset holding domain B (--dataset is then A)")
    data.add_argument("--image_column_b", default=None, help="image column of --dataset_b (default: --image_column)")
    data.add_argument("--domain_a_name", default=None, help="what domain A is, for the app and the model card")
    data.add_argument("--domain_b_name", default=None, help="what domain B is, for the app and the model card")
    data.add_argument("--channels", type=int, choices=[1, 3], default=3)
    data.add_argument("--modality", choices=MODALITIES, default="image",
                      help="audio: the domains are clips (an audio column, e.g. training/make_speech_domains.py's), "
                           "seen as log-mel windows of --resolution mel bands x frames, 1 channel (voice conversion)")
    model = parser.add_argument_group("CycleGAN model")
    model.add_argument("--ngf", type=int, default=64, help="ResNet generator width")
    model.add_argument("--ndf", type=int, default=64, help="PatchGAN width")
    model.add_argument("--n_blocks", type=int, default=None,
                       help="residual blocks per generator (default: the paper's 6 up to 128 px, 9 above)")
    model.add_argument("--n_layers", type=int, default=3, help="PatchGAN stride-2 layers (3 = 70x70 patches)")
    model.add_argument("--norm", choices=NORMS, default="instance")
    model.add_argument("--use_dropout", action=argparse.BooleanOptionalAction, default=False)
    loss = parser.add_argument_group("CycleGAN loss and schedule")
    loss.add_argument("--gan_mode", choices=GAN_MODES, default="lsgan")
    loss.add_argument("--lambda_cycle", type=float, default=10.0, help="weight of each cycle-consistency L1 term")
    loss.add_argument("--lambda_identity", type=float, default=0.5,
                      help="identity L1 weight relative to --lambda_cycle (0 turns the identity loss off)")
    loss.add_argument("--pool_size", type=int, default=50, help="past fakes shown to each discriminator (0: none)")
    loss.add_argument("--lr_decay_start", type=int, default=None,
                      help="optimisation step at which the linear learning-rate decay starts (default: half the run)")
    loss.add_argument("--lr_decay_steps", type=int, default=None,
                      help="optimisation steps over which the rate falls linearly to zero "
                           "(default: the rest of the run)")
    args = parser.parse_args(argv)
    if args.n_blocks is None:
        args.n_blocks = 6 if args.resolution <= 128 else 9
    if args.modality == "audio":
        if args.random_flip:
            parser.error("--random_flip mirrors images left-right: on a spectrogram that plays speech backwards")
        args.channels = 1  # a log-mel spectrogram has one channel
    args.data = DataSpec(args.dataset, args.resolution, args.channels,
                         {"real_A": args.image_column, "real_B": args.image_column_b or args.image_column},
                         args.domain_column, {"real_A": args.domain_a, "real_B": args.domain_b}, args.dataset_b,
                         args.seed, args.modality)
    return args


@dataclass(frozen=True)
class CycleGANHparams:
    """The losses of Zhu et al. 2017 (eq. 1-3, section 5.2)."""

    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    gan_mode: str = "lsgan"


def linear_decay(decay_start: int, decay_steps: int) -> Callable[[int], float]:
    """``LambdaLR`` factor after ``step`` optimisation steps (the trainer steps each scheduler once per
    optimisation step, on any number of processes): 1 until ``decay_start``, then
    1 - (step - decay_start) / decay_steps, floored at 0 (Zhu et al. 2017, section 4: constant for 100
    epochs, then linearly to zero over the next 100).

    Raises:
        ValueError: ``decay_steps`` < 1.
    """
    if decay_steps < 1:
        raise ValueError(f"decay_steps must be at least 1, got {decay_steps}")

    def factor(step: int) -> float:
        return max(0.0, 1.0 - max(0, step - decay_start) / decay_steps)

    return factor


def generator_losses(d_A_fake_A: torch.Tensor, d_B_fake_B: torch.Tensor, real_A: torch.Tensor,
                     real_B: torch.Tensor, images: dict[str, torch.Tensor], lambda_cycle: float,
                     lambda_identity: float, gan_mode: str = "lsgan") -> dict[str, torch.Tensor]:
    """The generators' terms of Zhu et al. 2017 (eq. 1-3 and section 5.2), each a float32 scalar:

    - ``gan_AB`` = L(D_B(G_AB(real_A)), real), ``gan_BA`` = L(D_A(G_BA(real_B)), real);
    - ``cycle_A`` = lambda_cycle * mean |rec_A - real_A|, ``cycle_B`` likewise (eq. 2);
    - with ``lambda_identity`` > 0, ``idt_A`` = lambda_cycle * lambda_identity * mean |G_BA(real_A) - real_A| and
      ``idt_B`` likewise (the authors' code weights identity by lambda_cycle * lambda_identity).

    Args:
        d_A_fake_A, d_B_fake_B: patch logits of the (frozen) discriminators on fake_A and fake_B.
        real_A, real_B: (B, C, H, W) in [-1, 1].
        images: the output of ``CycleGANGenerators.forward`` (fake_B, rec_A, fake_A, rec_B[, idt_A, idt_B]).
    """
    def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a.float() - b.float()).abs().mean()

    losses = {"gan_AB": gan_loss(d_B_fake_B, True, gan_mode), "gan_BA": gan_loss(d_A_fake_A, True, gan_mode),
              "cycle_A": lambda_cycle * l1(images["rec_A"], real_A),
              "cycle_B": lambda_cycle * l1(images["rec_B"], real_B)}
    if lambda_identity > 0:
        losses["idt_A"] = lambda_cycle * lambda_identity * l1(images["idt_A"], real_A)
        losses["idt_B"] = lambda_cycle * lambda_identity * l1(images["idt_B"], real_B)
    return losses


def training_step(ctx: StepContext, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: a generator update, then a discriminator update (the authors' order).

    Both generators take one step on the sum of :func:`generator_losses`, through the frozen
    discriminators (their gradients reach the generators only). Each discriminator then minimises
    0.5 * [L(D(real), real) + L(D(pooled fake), fake)], its fakes drawn through its :class:`ImagePool`.
    """
    hp = ctx.hparams
    real_A, real_B = batch["real_A"], batch["real_B"]
    images = ctx.networks["generators"](real_A, real_B, identity=hp.lambda_identity > 0)

    with ctx.frozen("discriminator_A", "discriminator_B") as (frozen_A, frozen_B):
        losses = generator_losses(frozen_A(images["fake_A"]), frozen_B(images["fake_B"]), real_A, real_B, images,
                                  hp.lambda_cycle, hp.lambda_identity, hp.gan_mode)
        loss_g = sum(losses.values())
        ctx.backward(loss_g)
    ctx.step("generators")

    logs = {"loss_g": loss_g.detach(), "loss_cycle": (losses["cycle_A"] + losses["cycle_B"]).detach()}
    if "idt_A" in losses:
        logs["loss_idt"] = (losses["idt_A"] + losses["idt_B"]).detach()
    for domain, real in (("A", real_A), ("B", real_B)):
        discriminator = ctx.networks[f"discriminator_{domain}"]
        fake = ctx.state[f"pool_{domain}"].query(images[f"fake_{domain}"])
        loss_real = 0.5 * gan_loss(discriminator(real), True, hp.gan_mode)
        ctx.backward(loss_real)
        loss_fake = 0.5 * gan_loss(discriminator(fake), False, hp.gan_mode)
        ctx.backward(loss_fake)
        logs[f"loss_d_{domain}"] = loss_real.detach() + loss_fake.detach()
    ctx.step("discriminators")
    return logs


def heldout_cycle_l1(held_out: dict[str, torch.utils.data.Dataset]) -> Callable[[CycleGAN, Path], dict[str, float]]:
    """The ``on_export`` hook: mean |rec - real| over each held-out domain, in [-1, 1] units."""

    def on_export(exported: CycleGAN, folder: Path) -> dict[str, float]:
        metrics = {}
        for domain, direction in (("A", "AB"), ("B", "BA")):
            part, total = held_out[f"real_{domain}"], 0.0
            for batch in torch.utils.data.DataLoader(part, batch_size=EVAL_BATCH):
                real = batch[f"real_{domain}"]
                total += (exported.cycle(real, direction)[1] - real).abs().mean(dim=(1, 2, 3)).sum().item()
            metrics[f"heldout_cycle_l1_{domain}"] = total / len(part)
        return metrics

    return on_export


#: What an audio model's card adds: how a clip becomes the images the networks see.
AUDIO_NOTE = (" Voice conversion: each clip is a log-mel spectrogram (16 kHz, 1024-sample STFT, hop 256, {r} mel bands "
              "scaled to [-1, 1]) cut into {r}-frame windows (about {seconds:.1f} s) that overlap by half; a whole "
              "clip is converted window by window, stitched back by overlap-add and turned into sound by "
              "Griffin-Lim (genhub.audio). The grid's images are spectrograms (low frequencies at the top).")


def card_text(names: dict[str, str], data: DataSpec) -> CardText:
    audio = AUDIO_NOTE.format(r=data.resolution, seconds=data.resolution * 256 / 16000) \
        if data.modality == "audio" else ""
    return CardText(
        f"CycleGAN: two ResNet generators translate between unpaired domains A ({names['A']}) and B "
        f"({names['B']}), both exported (with both PatchGAN discriminators). The grid shows held-out "
        "real_A | fake_B | rec_A, then real_B | fake_A | rec_B." + audio,
        usage='fake_B, rec_A = model.cycle(real_A, "AB")  # or model.translate(real_B, "BA"); (B, C, H, W) in [-1, 1]',
        metric_descriptions={
            f"heldout_cycle_l1_{x}": f"mean absolute error |rec_{x} - real_{x}| per pixel of the cycle {x} -> {y} -> "
                                     f"{x} over the held-out {x} images, in [-1, 1] units"
            for x, y in (("A", "B"), ("B", "A"))},
        domains=names)


def build(args: argparse.Namespace, trainer: Trainer) -> tuple[Recipe, torch.utils.data.Dataset]:
    """The recipe and training split of a run (see :func:`genhub.train.trainer.train`)."""
    dataset = load_split(args.data, "train")
    held_out = {key: load_split(args.data, "test", key) for key in ("real_A", "real_B")}
    model = CycleGAN(args.resolution, args.channels, args.ngf, args.ndf, args.n_blocks, args.n_layers, args.norm,
                     args.use_dropout)
    betas = (args.adam_beta1, args.adam_beta2)
    optimizers = {
        "generators": adam(model.generators.parameters(), args.learning_rate, betas),
        "discriminators": adam(itertools.chain(model.discriminator_A.parameters(), model.discriminator_B.parameters()),
                               args.learning_rate, betas),
    }
    steps = trainer.num_training_steps(dataset)
    decay_start = steps // 2 if args.lr_decay_start is None else args.lr_decay_start
    decay_steps = args.lr_decay_steps or max(1, steps - decay_start)
    factor = linear_decay(decay_start, decay_steps)
    trainer.accelerator.print(f"learning rate: constant for {decay_start} steps, then linearly to 0 over "
                              f"{decay_steps} steps (run: {steps} steps)")
    shown = max(1, args.num_grid_images // 2)
    grid = {key: torch.stack([part[i][key] for i in range(min(shown, len(part)))]) for key, part in held_out.items()}

    def sample(exported: CycleGAN) -> torch.Tensor:
        """One tile per held-out image: real_A | fake_B | rec_A, then real_B | fake_A | rec_B."""
        return torch.cat([torch.cat([grid["real_A"], *exported.cycle(grid["real_A"], "AB")], dim=-1),
                          torch.cat([grid["real_B"], *exported.cycle(grid["real_B"], "BA")], dim=-1)])

    recipe = Recipe(
        model=model,
        networks={"generators": model.generators, "discriminator_A": model.discriminator_A,
                  "discriminator_B": model.discriminator_B},
        optimizers=optimizers,
        training_step=training_step,
        sample=sample,
        hparams=CycleGANHparams(args.lambda_cycle, args.lambda_identity, args.gan_mode),
        flip_groups=(("real_A",), ("real_B",)),
        ema_network="generators",
        schedulers={name: torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
                    for name, optimizer in optimizers.items()},
        state={"pool_A": ImagePool(args.pool_size), "pool_B": ImagePool(args.pool_size)},
        on_export=heldout_cycle_l1(held_out),
        card=card_text({"A": args.domain_a_name or args.domain_a, "B": args.domain_b_name or args.domain_b},
                       args.data),
    )
    return recipe, dataset


def main(args: argparse.Namespace) -> Path | None:
    return train(args, build)
