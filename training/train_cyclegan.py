"""Train CycleGAN (Zhu et al. 2017) on two unpaired image domains A and B.

    accelerate launch training/train_cyclegan.py --dataset ../shared/data/unpaired_celeba_eyeglasses \
        --domain_column domain --domain_a A --domain_b B --resolution 64 \
        --output_dir checkpoints/cyclegan-eyeglasses-64

or with one dataset per domain: ``--dataset FOLDER_A --dataset_b FOLDER_B``.

Defaults are the paper's (ResNet generators with 6 blocks up to 128 px and 9 above, ngf = ndf = 64,
70x70 PatchGANs, instance norm, LSGAN, lambda_cycle = 10, lambda_identity = 0.5, image pools of 50,
Adam 2e-4 / 0.5, batch 1, constant learning rate for the first half of the run and a linear decay to
zero over the second); narrower networks are flags. Only the CycleGAN losses and step live here; the
loop, checkpoints, EMA, export and push are genhub.trainer's.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from genhub.data import UnpairedImageDataset, load_unpaired_dataset, random_hflip  # noqa: E402
from genhub.image_pool import ImagePool  # noqa: E402
from genhub.losses import GAN_MODES, gan_loss  # noqa: E402
from genhub.models import CycleGAN  # noqa: E402
from genhub.models.patchgan import NORMS  # noqa: E402
from genhub.trainer import Recipe, Trainer, add_training_args  # noqa: E402

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
    return args


def load_domains(args: argparse.Namespace, split: str) -> UnpairedImageDataset:
    """One split of both domains: items {"real_A", "real_B"}, each float32 (channels, resolution, resolution)
    in [-1, 1] (see ``genhub.data.load_unpaired_dataset``)."""
    return load_unpaired_dataset(args.dataset, split, args.resolution, args.channels, args.image_column,
                                 args.domain_column, args.domain_a, args.domain_b, args.dataset_b,
                                 args.image_column_b, args.seed)


def total_steps(args: argparse.Namespace, num_examples: int, num_processes: int) -> int:
    """Optimisation steps of the run, as the trainer counts them (drop_last batches, sharded over processes)."""
    if args.max_train_steps:
        return args.max_train_steps
    examples = min(num_examples, args.max_train_samples or num_examples)
    batches = examples // args.train_batch_size // num_processes
    return args.num_epochs * -(-batches // args.gradient_accumulation_steps)


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


def cyclegan_step(trainer: Trainer, batch: dict) -> dict[str, torch.Tensor]:
    """One micro-batch: a generator update, then a discriminator update (the authors' order).

    Both generators take one step on the sum of :func:`generator_losses`, through the unwrapped, frozen
    discriminators (their gradients reach the generators only). Each discriminator then minimises
    0.5 * [L(D(real), real) + L(D(pooled fake), fake)], its fakes drawn through its :class:`ImagePool`.
    """
    args = trainer.args
    generators = trainer.networks["generators"]
    opt_g, opt_d = trainer.optimizers["generators"], trainer.optimizers["discriminators"]
    pools = trainer.recipe.state
    real_A, real_B = batch["real_A"], batch["real_B"]
    if args.random_flip:
        real_A, real_B = random_hflip(real_A), random_hflip(real_B)
    images = generators(real_A, real_B, identity=args.lambda_identity > 0)

    frozen = (trainer.model.discriminator_A, trainer.model.discriminator_B)
    for network in frozen:
        network.requires_grad_(False)
    losses = generator_losses(frozen[0](images["fake_A"]), frozen[1](images["fake_B"]), real_A, real_B, images,
                              args.lambda_cycle, args.lambda_identity, args.gan_mode)
    loss_g = sum(losses.values())
    trainer.accelerator.backward(loss_g)
    for network in frozen:
        network.requires_grad_(True)
    opt_g.step()
    opt_g.zero_grad(set_to_none=True)

    logs = {"loss_g": loss_g.detach(), "loss_cycle": (losses["cycle_A"] + losses["cycle_B"]).detach()}
    if "idt_A" in losses:
        logs["loss_idt"] = (losses["idt_A"] + losses["idt_B"]).detach()
    for domain, real in (("A", real_A), ("B", real_B)):
        discriminator = trainer.networks[f"discriminator_{domain}"]
        fake = pools[f"pool_{domain}"].query(images[f"fake_{domain}"])
        loss_real = 0.5 * gan_loss(discriminator(real), True, args.gan_mode)
        trainer.accelerator.backward(loss_real)
        loss_fake = 0.5 * gan_loss(discriminator(fake), False, args.gan_mode)
        trainer.accelerator.backward(loss_fake)
        logs[f"loss_d_{domain}"] = loss_real.detach() + loss_fake.detach()
    opt_d.step()
    opt_d.zero_grad(set_to_none=True)
    return logs


def main(args: argparse.Namespace) -> Path | None:
    trainer = Trainer(args)
    dataset, held_out = load_domains(args, "train"), load_domains(args, "test")
    model = CycleGAN(args.resolution, args.channels, args.ngf, args.ndf, args.n_blocks, args.n_layers, args.norm,
                     args.use_dropout)
    betas = (args.adam_beta1, args.adam_beta2)
    optimizers = {
        "generators": torch.optim.Adam(model.generators.parameters(), lr=args.learning_rate, betas=betas),
        "discriminators": torch.optim.Adam(
            itertools.chain(model.discriminator_A.parameters(), model.discriminator_B.parameters()),
            lr=args.learning_rate, betas=betas),
    }
    steps = total_steps(args, len(dataset), trainer.accelerator.num_processes)
    decay_start = steps // 2 if args.lr_decay_start is None else args.lr_decay_start
    decay_steps = args.lr_decay_steps or max(1, steps - decay_start)
    factor = linear_decay(decay_start, decay_steps)
    trainer.accelerator.print(f"learning rate: constant for {decay_start} steps, then linearly to 0 over "
                              f"{decay_steps} steps (run: {steps} steps)")
    names = {"A": args.domain_a_name or args.domain_a, "B": args.domain_b_name or args.domain_b}
    shown = max(1, args.num_grid_images // 2)
    grid_A = torch.stack([held_out.domain_a[i]["real_A"] for i in range(min(shown, len(held_out.domain_a)))])
    grid_B = torch.stack([held_out.domain_b[i]["real_B"] for i in range(min(shown, len(held_out.domain_b)))])

    def sample(exported: CycleGAN) -> torch.Tensor:
        """One tile per held-out image: real_A | fake_B | rec_A, then real_B | fake_A | rec_B."""
        return torch.cat([torch.cat([grid_A, *exported.cycle(grid_A, "AB")], dim=-1),
                          torch.cat([grid_B, *exported.cycle(grid_B, "BA")], dim=-1)])

    def heldout_cycle_l1(exported: CycleGAN, folder: Path) -> dict[str, float]:
        """Mean |rec - real| over each held-out domain, in [-1, 1] units."""
        metrics = {}
        for domain, part, key in (("A", held_out.domain_a, "real_A"), ("B", held_out.domain_b, "real_B")):
            total = 0.0
            for start in range(0, len(part), EVAL_BATCH):
                real = torch.stack([part[i][key] for i in range(start, min(start + EVAL_BATCH, len(part)))])
                total += (exported.cycle(real, "AB" if domain == "A" else "BA")[1] - real).abs().mean(
                    dim=(1, 2, 3)).sum().item()
            metrics[f"heldout_cycle_l1_{domain}"] = total / len(part)
        return metrics

    recipe = Recipe(
        model=model,
        networks={"generators": model.generators, "discriminator_A": model.discriminator_A,
                  "discriminator_B": model.discriminator_B},
        optimizers=optimizers,
        training_step=cyclegan_step,
        sample=sample,
        ema_network="generators",
        schedulers={name: torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
                    for name, optimizer in optimizers.items()},
        state={"pool_A": ImagePool(args.pool_size), "pool_B": ImagePool(args.pool_size)},
        on_export=heldout_cycle_l1,
        card={
            "family": "cyclegan",
            "model_class": "CycleGAN",
            "registry_key": "cyclegan-eyeglasses",
            "pipeline_tag": "image-to-image",
            "tags": ["cyclegan", "gan", "image-to-image", "unpaired"],
            "domains": names,
            "description": f"CycleGAN: two ResNet generators translate between unpaired domains A ({names['A']}) "
                           f"and B ({names['B']}), both exported (with both PatchGAN discriminators). The grid "
                           "shows held-out real_A | fake_B | rec_A, then real_B | fake_A | rec_B.",
            "usage": 'fake_B, rec_A = model.cycle(real_A, "AB")  # or model.translate(real_B, "BA"); '
                     "(B, C, H, W) in [-1, 1]",
            "metric_descriptions": {
                f"heldout_cycle_l1_{x}": f"mean absolute error |rec_{x} - real_{x}| per pixel of the cycle "
                                         f"{x} -> {y} -> {x} over the held-out {x} images, in [-1, 1] units"
                for x, y in (("A", "B"), ("B", "A"))},
            "paper": "Zhu, Park, Isola & Efros 2017, Unpaired Image-to-Image Translation using Cycle-Consistent "
                     "Adversarial Networks (arXiv:1703.10593).",
        },
    )
    return trainer.fit(recipe, dataset)


if __name__ == "__main__":
    main(parse_args())
