"""The one training loop every model family shares, built on Hugging Face Accelerate.

A family's script builds its model and hands the trainer a :class:`Recipe`: which submodules to
train, their optimizers, one ``training_step`` (the family's loss), and how to draw a sample
grid. The trainer owns everything else: mixed precision, gradient accumulation, distribution,
EMA, exact checkpoint/resume, progress, logging, sample grids, export and ``--push_to_hub``.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import platform
import re
import shutil
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from PIL import Image
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from genhub.card import save_training_info
from genhub.images import make_grid
from genhub.models.base import GenhubModel
from genhub.publish import push_export

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
SAMPLE_GRID = "samples.png"


def add_training_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags every training script shares (diffusers' names where they exist)."""
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="lfw-subset",
                      help="Hub dataset id, local parquet folder, local image folder, or 'lfw-subset'")
    data.add_argument("--image_column", default=None, help="image column (default: the first image column)")
    data.add_argument("--resolution", type=int, default=64, help="square side in pixels")
    data.add_argument("--random_flip", action="store_true", help="mirror half of each batch left-right")
    data.add_argument("--max_train_samples", type=int, default=None, help="use only the first N training rows")
    data.add_argument("--dataloader_num_workers", type=int, default=0)
    run = parser.add_argument_group("optimisation")
    run.add_argument("--train_batch_size", type=int, default=64, help="per process")
    run.add_argument("--gradient_accumulation_steps", type=int, default=1)
    run.add_argument("--learning_rate", type=float, default=2e-4)
    run.add_argument("--adam_beta1", type=float, default=0.5)
    run.add_argument("--adam_beta2", type=float, default=0.999)
    run.add_argument("--num_epochs", type=int, default=10)
    run.add_argument("--max_train_steps", type=int, default=None, help="overrides --num_epochs")
    run.add_argument("--mixed_precision", choices=["no", "fp16", "bf16"], default="no",
                     help="bf16 is about 1.6x faster on a recent CPU")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--use_ema", action=argparse.BooleanOptionalAction, default=True,
                     help="export an exponential moving average of the generator")
    run.add_argument("--ema_decay", type=float, default=0.999)
    out = parser.add_argument_group("output")
    out.add_argument("--output_dir", required=True, help="export folder; checkpoints go in checkpoint-N inside")
    out.add_argument("--checkpointing_steps", type=int, default=500)
    out.add_argument("--checkpoints_total_limit", type=int, default=None, help="keep only the newest N")
    out.add_argument("--resume_from_checkpoint", default=None, help="'latest' or a checkpoint-N folder")
    out.add_argument("--save_images_steps", type=int, default=250, help="sample grid every N steps")
    out.add_argument("--num_grid_images", type=int, default=64)
    out.add_argument("--report_to", choices=["none", "tensorboard"], default="none")
    out.add_argument("--push_to_hub", action="store_true")
    out.add_argument("--hub_model_id", default=None, help="ORG/NAME on the Hub")
    out.add_argument("--hub_private", action="store_true")
    return parser


@dataclass
class Recipe:
    """What a model family gives the trainer.

    Attributes:
        model: the exportable composite (e.g. ``DCGAN``); saved with ``save_pretrained`` at the end.
        networks: name -> submodule of ``model`` trained here; each is prepared (and, on several
            processes, wrapped in DDP) by Accelerate. ``trainer.networks[name]`` is the prepared one.
        optimizers: name -> optimizer over those networks' parameters.
        training_step: ``(trainer, batch) -> {name: scalar tensor}``, one micro-batch: forward, losses,
            ``trainer.accelerator.backward``, ``optimizer.step`` and ``zero_grad`` (Accelerate makes
            the last two no-ops while accumulating). Returned values are logged.
        sample: ``model -> images`` (B, C, H, W) in [-1, 1] for the grid; called on a copy of the
            model with EMA weights, in eval mode, without gradients. Must not use the global RNG.
        ema_network: name of the network to average, or a tuple of names averaged as one (e.g. a VAE's
            ``("encoder", "decoder")``); None: no EMA.
        schedulers: name -> LR scheduler, stepped once per optimisation step.
        state: name -> extra object with ``state_dict``/``load_state_dict`` saved in checkpoints
            (e.g. image pools).
        card: family facts for the model card and ``training_info.json`` (family, paper, ...).
        on_export: ``(model, folder) -> {metric: value}``, called once on the exported (EMA) model after
            it is saved: write extra files (e.g. latent directions) and measure held-out metrics; the
            returned numbers go to ``training_info.json`` ("metrics") and the model card.
    """

    model: GenhubModel
    networks: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    training_step: Callable[["Trainer", dict], dict[str, torch.Tensor]]
    sample: Callable[[GenhubModel], torch.Tensor]
    ema_network: str | tuple[str, ...] | None = "generator"
    schedulers: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    card: dict = field(default_factory=dict)
    on_export: Callable[[GenhubModel, Path], dict[str, float]] | None = None


class _Progress:
    """Step counter and timing, saved in every checkpoint so a resumed run reports true totals."""

    def __init__(self):
        self.global_step, self.wall_time = 0, 0.0

    def state_dict(self) -> dict:
        return {"global_step": self.global_step, "wall_time": self.wall_time}

    def load_state_dict(self, state: dict) -> None:
        self.global_step, self.wall_time = state["global_step"], state["wall_time"]


class Trainer:
    """Runs a :class:`Recipe` on a dataset. Create it first (it seeds every RNG), then build the model.

    Args:
        args: the parsed flags of :func:`add_training_args` plus the family's own.
    """

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.output_dir = Path(args.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=args.mixed_precision,
            gradient_accumulation_steps=args.gradient_accumulation_steps,
            log_with=None if args.report_to == "none" else args.report_to,
            project_config=ProjectConfiguration(project_dir=str(self.output_dir),
                                                logging_dir=str(self.output_dir / "logs")),
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed),
        )
        set_seed(args.seed)
        self.progress = _Progress()
        self._stop_requested = False

    # ----------------------------------------------------------------------------- main loop
    def fit(self, recipe: Recipe, dataset: torch.utils.data.Dataset) -> Path | None:
        """Train, checkpoint, export. Returns the export folder, or None when stopped by a signal.

        SIGINT/SIGTERM finish the current optimisation step, save ``checkpoint-N`` and return, so
        ``--resume_from_checkpoint latest`` continues without losing a step.
        """
        args, accelerator = self.args, self.accelerator
        self.recipe, self.model = recipe, recipe.model
        if args.max_train_samples:
            dataset = torch.utils.data.Subset(dataset, range(min(args.max_train_samples, len(dataset))))
        # The loader gets its own generator: each new iterator draws a worker seed from it, and drawing
        # from the global RNG instead would make a resumed run (one extra iterator) diverge.
        loader = torch.utils.data.DataLoader(dataset, batch_size=args.train_batch_size, shuffle=True, drop_last=True,
                                             num_workers=args.dataloader_num_workers,
                                             generator=torch.Generator().manual_seed(args.seed))
        if len(loader) == 0:
            raise ValueError(f"{len(dataset)} training images are fewer than one batch of {args.train_batch_size}")
        names, optimizer_names = list(recipe.networks), list(recipe.optimizers)
        prepared = accelerator.prepare(*recipe.networks.values(), *recipe.optimizers.values(),
                                       *recipe.schedulers.values(), loader)
        self.networks = dict(zip(names, prepared[: len(names)]))
        self.optimizers = dict(zip(optimizer_names, prepared[len(names): len(names) + len(optimizer_names)]))
        loader = prepared[-1]
        self.ema = None
        if args.use_ema and recipe.ema_network:
            self.ema = AveragedModel(self._ema_source(lambda name: getattr(self.model, name)),
                                     multi_avg_fn=ema_with_warmup(args.ema_decay), use_buffers=True)
        accelerator.register_for_checkpointing(self.progress, *filter(None, [self.ema]), *recipe.state.values())

        steps_per_epoch = math.ceil(len(loader) / args.gradient_accumulation_steps)
        max_steps = args.max_train_steps or args.num_epochs * steps_per_epoch
        self._resume()
        first_epoch, skip = divmod(self.progress.global_step, steps_per_epoch)
        if accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            if args.report_to != "none":
                accelerator.init_trackers("genhub", config={k: v for k, v in vars(args).items()
                                                            if isinstance(v, (int, float, str, bool))})
        batch_images = args.train_batch_size * accelerator.num_processes * args.gradient_accumulation_steps
        bar = tqdm(total=max_steps, initial=self.progress.global_step, desc="training", unit="step",
                   disable=not accelerator.is_local_main_process, dynamic_ncols=True)
        recent: dict[str, deque] = {}
        previous_handlers = self._install_signal_handlers()
        start = time.perf_counter() - self.progress.wall_time
        try:
            for epoch in range(first_epoch, math.ceil(max_steps / steps_per_epoch)):
                loader.set_epoch(epoch)
                batches = loader
                if epoch == first_epoch and skip:
                    batches = accelerator.skip_first_batches(loader, skip * args.gradient_accumulation_steps)
                for batch in batches:
                    with accelerator.accumulate(*self.networks.values()), accelerator.autocast():
                        logs = recipe.training_step(self, batch)
                    if not accelerator.sync_gradients:
                        continue
                    self._after_step(recent, logs, start)
                    bar.update(1)
                    bar.set_postfix(**{k: f"{sum(v) / len(v):.3f}" for k, v in recent.items()},
                                    img_s=f"{self.progress.global_step * batch_images / self.progress.wall_time:.0f}")
                    if self._stop_requested:
                        self.save_checkpoint()
                        accelerator.print(f"stopped at step {self.progress.global_step}; resume with "
                                          f"--resume_from_checkpoint latest")
                        return None
                    if self.progress.global_step >= max_steps:
                        break
                if self.progress.global_step >= max_steps:
                    break
        finally:
            bar.close()
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
        if self.progress.global_step % args.checkpointing_steps:
            self.save_checkpoint()
        summary = {k: round(sum(v) / len(v), 4) for k, v in recent.items()}
        return self._export(summary, batch_images)

    def _after_step(self, recent: dict, logs: dict, start: float) -> None:
        args = self.args
        for scheduler in self.recipe.schedulers.values():
            scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(
                self._ema_source(lambda name: self.accelerator.unwrap_model(self.networks[name])))
        self.progress.global_step += 1
        self.progress.wall_time = time.perf_counter() - start
        values = {k: float(v) for k, v in logs.items()}
        for k, v in values.items():
            recent.setdefault(k, deque(maxlen=50)).append(v)
        if args.report_to != "none":
            self.accelerator.log(values, step=self.progress.global_step)
        step = self.progress.global_step
        if step % args.checkpointing_steps == 0:
            self.save_checkpoint()
        if step % args.save_images_steps == 0 and self.accelerator.is_main_process:
            (self.output_dir / "samples").mkdir(parents=True, exist_ok=True)
            self.sample_grid().save(self.output_dir / "samples" / f"step-{step:07d}.png")

    # ---------------------------------------------------------------------- checkpoints
    def checkpoints(self) -> list[Path]:
        """Complete ``checkpoint-N`` folders in the output folder, oldest first."""
        if not self.output_dir.is_dir():
            return []
        found = [p for p in self.output_dir.iterdir() if p.is_dir() and CHECKPOINT_PATTERN.match(p.name)]
        return sorted(found, key=lambda p: int(CHECKPOINT_PATTERN.match(p.name).group(1)))

    def save_checkpoint(self) -> Path:
        """Save the full training state as ``checkpoint-N`` (written to a temporary folder, then renamed,
        so a run killed while saving never leaves a half-written checkpoint that ``latest`` would pick)."""
        accelerator = self.accelerator
        final = self.output_dir / f"checkpoint-{self.progress.global_step}"
        partial = self.output_dir / f".partial-checkpoint-{self.progress.global_step}"
        if accelerator.is_main_process and partial.exists():
            shutil.rmtree(partial)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(partial))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            if final.exists():
                shutil.rmtree(final)
            os.replace(partial, final)
            limit = self.args.checkpoints_total_limit
            if limit:
                for old in self.checkpoints()[:-limit]:
                    shutil.rmtree(old)
        accelerator.wait_for_everyone()
        return final

    def _resume(self) -> None:
        choice = self.args.resume_from_checkpoint
        if not choice:
            return
        if choice == "latest":
            found = self.checkpoints()
            if not found:
                self.accelerator.print(f"no checkpoint in {self.output_dir}: starting a new run")
                return
            path = found[-1]
        else:
            path = Path(choice)
            if not path.is_dir():
                raise FileNotFoundError(f"--resume_from_checkpoint {choice}: no such checkpoint folder")
        self.accelerator.load_state(str(path))
        self.accelerator.print(f"resumed from {path} at step {self.progress.global_step}")

    def _install_signal_handlers(self) -> dict:
        def request_stop(signum, frame):
            self._stop_requested = True

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, request_stop)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return previous

    # ------------------------------------------------------------------------- export
    def export_model(self) -> GenhubModel:
        """A copy of the model with the EMA weights swapped in, on CPU, in eval mode."""
        model = copy.deepcopy(self.accelerator.unwrap_model(self.model)).cpu().eval()
        if self.ema is not None:
            self._ema_source(lambda name: getattr(model, name)).load_state_dict(self.ema.module.state_dict())
        return model

    def _ema_source(self, network: Callable[[str], torch.nn.Module]) -> torch.nn.Module:
        """What the EMA averages: the one network named by ``recipe.ema_network``, or a ``ModuleDict``
        holding (not copying) each network of a tuple of names; ``network`` maps a name to its module."""
        names = self.recipe.ema_network
        if isinstance(names, str):
            return network(names)
        return torch.nn.ModuleDict({name: network(name) for name in names})

    @torch.no_grad()
    def sample_grid(self) -> Image.Image:
        """The recipe's samples from the exported (EMA) model, tiled; also saved as the export's grid."""
        return make_grid(self.recipe.sample(self.export_model()))

    def _export(self, losses: dict, batch_images: int) -> Path:
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            args, progress = self.args, self.progress
            model = self.export_model()
            model.save_pretrained(self.output_dir)
            self.sample_grid().save(self.output_dir / SAMPLE_GRID)
            with torch.no_grad():
                metrics = self.recipe.on_export(model, self.output_dir) if self.recipe.on_export else {}
            info = {
                **self.recipe.card,
                "dataset": args.dataset,
                "image_column": args.image_column,
                "resolution": args.resolution,
                "config": model.config,
                "global_step": progress.global_step,
                "images_seen": progress.global_step * batch_images,
                "wall_time_seconds": round(progress.wall_time, 1),
                "images_per_second": round(progress.global_step * batch_images / max(progress.wall_time, 1e-9), 1),
                "final_losses": losses,
                "metrics": metrics,
                "ema": bool(self.ema),
                "mixed_precision": args.mixed_precision,
                "num_processes": self.accelerator.num_processes,
                "hardware": _hardware(),
                "command": " ".join(["accelerate launch", *sys.argv]) if sys.argv and sys.argv[0].endswith(".py")
                else None,
                "args": {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool, type(None)))},
            }
            save_training_info(self.output_dir, info)
            if args.push_to_hub:
                push_export(self.output_dir, args.hub_model_id, private=args.hub_private)
        self.accelerator.wait_for_everyone()
        self.accelerator.end_training()
        return self.output_dir


def ema_with_warmup(decay: float) -> Callable:
    """EMA update for ``AveragedModel`` whose decay ramps up as min(decay, (1 + n) / (10 + n)) after n
    updates, so early sample grids show the model being trained rather than its random start."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        n = float(num_averaged)
        weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        if torch.is_floating_point(averaged[0]):
            torch._foreach_lerp_(averaged, current, weight)
        else:  # integer buffers (batch-norm counters) just follow the model
            for average, value in zip(averaged, current):
                average.copy_(value)

    return update


def _hardware() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
