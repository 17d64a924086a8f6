"""The one training loop every model family shares, built on Hugging Face Accelerate.

A family's module builds its model and hands the trainer a :class:`Recipe`: which submodules to
train, their optimizers, one ``training_step`` (the family's loss), and how to draw a sample
grid. The step sees only a :class:`StepContext`. The trainer owns everything else: mixed precision,
gradient accumulation, distribution, random flips, EMA, exact checkpoint/resume, progress, logging,
sample grids, export and ``--push_to_hub``; and the speed levers that change no update rule (``--channels_last``,
``--compile``, reading the losses only every ``--logging_steps``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import os
import re
import shutil
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, parse_flag_from_env, set_seed
from PIL import Image
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from genhub.data import random_hflip
from genhub.hardware import describe as describe_hardware
from genhub.hub.card import CardText
from genhub.hub.info import save_training_info
from genhub.hub.publish import push_export
from genhub.images import make_grid
from genhub.models.base import GenhubModel
from genhub.train.precision import resolve_precision
from genhub.train.progress import write_progress

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
SAMPLE_GRID = "samples.png"
#: The progress bar and the export's ``final_losses`` show each loss's mean over this many recent steps.
RECENT_STEPS = 50


@dataclass
class StepContext:
    """Everything a family's ``training_step`` may use, and nothing else.

    Attributes:
        networks: name -> the network prepared by Accelerate (wrapped in DDP on several processes): use it
            for the forward passes whose gradients train it.
        unwrapped: name -> the same network, unwrapped: for passes through a network that must not train
            (see :meth:`frozen`).
        optimizers: name -> its (prepared) optimizer.
        state: the recipe's extra checkpointed objects (e.g. image pools).
        hparams: the family's own hyper-parameters (a frozen dataclass, e.g. the loss weights).
        backward: ``loss -> None``, Accelerate's backward (scales for fp16, syncs on the last micro-batch).
        global_step: optimisation steps finished before this micro-batch (the same for every micro-batch of one
            step; restored on resume), for schedules that are pure functions of the step (e.g. progressive growing).
    """

    networks: dict[str, torch.nn.Module]
    unwrapped: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    state: dict[str, Any]
    hparams: Any
    backward: Callable[[torch.Tensor], None]
    global_step: int = 0

    @contextlib.contextmanager
    def frozen(self, *names: str) -> Iterator[Any]:
        """Within the block the named unwrapped networks take no gradient (yields the network, or a tuple
        of them for several names): a generator loss through a frozen discriminator trains the generator
        only, and skips D's weight gradients (~8% fewer FLOPs for a DCGAN step)."""
        modules = tuple(self.unwrapped[name] for name in names)
        for module in modules:
            module.requires_grad_(False)
        try:
            yield modules[0] if len(modules) == 1 else modules
        finally:
            for module in modules:
                module.requires_grad_(True)

    def step(self, *names: str) -> None:
        """``step()`` then ``zero_grad(set_to_none=True)`` on the named optimizers (Accelerate makes both
        no-ops while gradients are accumulating)."""
        for name in names:
            self.optimizers[name].step()
            self.optimizers[name].zero_grad(set_to_none=True)


@dataclass
class Recipe:
    """What a model family gives the trainer.

    Attributes:
        model: the exportable composite (e.g. ``DCGAN``); saved with ``save_pretrained`` at the end.
        networks: name -> submodule of ``model`` trained here; each is prepared (and, on several
            processes, wrapped in DDP) by Accelerate.
        optimizers: name -> optimizer over those networks' parameters.
        training_step: ``(StepContext, batch) -> {name: scalar tensor}``, one micro-batch: forward, losses,
            ``ctx.backward``, ``ctx.step``. Returned values are logged.
        sample: ``model -> images`` (B, C, H, W) in [-1, 1] for the grid; called on a copy of the
            model with EMA weights, in eval mode, without gradients. Must not use the global RNG.
        card: the run's text for the model card (the family's static facts come from the model class).
        hparams: the family's hyper-parameters, handed to the step as ``ctx.hparams``.
        flip_groups: with ``--random_flip``, each group of batch keys is mirrored left-right together
            (e.g. pix2pix's input and target), groups independently, in this order, on the torch RNG
            (so a resumed run flips the same images). Default: ``pixel_values`` alone.
        ema_network: name (a key of ``networks``) of the network to average, or a tuple of names averaged as one
            (e.g. a VAE's ``("encoder", "decoder")``); the network may be the model itself; None: no EMA.
        schedulers: name -> LR scheduler, stepped once per optimisation step (build them with
            :meth:`Trainer.num_training_steps`).
        state: name -> extra object with ``state_dict``/``load_state_dict`` saved in checkpoints
            (e.g. image pools); the step sees it as ``ctx.state``.
        on_export: ``(model, folder) -> {metric: value}``, called once on the exported (EMA) model before
            the card is written: write extra files (e.g. latent directions) and measure held-out metrics;
            the returned numbers go to ``training_info.json`` ("metrics") and the model card.
        on_epoch: ``epoch -> None``, called before the first batch of each epoch (e.g. DB-VAE's resampling
            weights); not for an epoch a resumed run re-enters mid-way, whose state (checkpointed in ``state``)
            is already that epoch's. It must leave the global RNGs alone, or a resumed run diverges.
        grid_columns: images per row of the sample grid (None: about a square).
        on_step: ``(global_step, export_model) -> None``, called on the main process after each optimisation step,
            before that step's checkpoint: e.g. save a snapshot of the model at the end of a growth stage.
            ``export_model()`` is :meth:`Trainer.export_model` (the EMA copy). It must leave the RNGs alone, and
            should write atomically: a killed run repeats the steps after its last checkpoint.
        channels_last_precisions: the precisions (Accelerate's ``mixed_precision``: "no", "bf16", ...) in which the
            family's default for ``--channels_last`` is on (networks and 4-D batch tensors in channels-last memory
            order). Convolutions pick other kernels in that order, per precision and per CPU, so it can help or hurt:
            each family lists the precisions where bench/bench_training.py measured it clearly faster on the CPU
            kind that ``auto`` trains in them (fp32 on a CPU without native bf16, bf16 on one with it; the runs and
            the rule are in README, Benchmarks).
    """

    model: GenhubModel
    networks: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    training_step: Callable[[StepContext, dict], dict[str, torch.Tensor]]
    sample: Callable[[GenhubModel], torch.Tensor]
    card: CardText
    hparams: Any = None
    flip_groups: tuple[tuple[str, ...], ...] = (("pixel_values",),)
    ema_network: str | tuple[str, ...] | None = "generator"
    schedulers: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    on_export: Callable[[GenhubModel, Path], dict[str, float]] | None = None
    on_epoch: Callable[[int], None] | None = None
    grid_columns: int | None = None
    on_step: Callable[[int, Callable[[], GenhubModel]], None] | None = None
    channels_last_precisions: tuple[str, ...] = ()


def flip_batch(batch: dict[str, torch.Tensor], groups: tuple[tuple[str, ...], ...]) -> dict[str, torch.Tensor]:
    """Mirror half of the batch left-right: one coin per image per group, keys of a group flipped together
    (``genhub.data.random_hflip`` on their channel concatenation)."""
    batch = dict(batch)
    for keys in groups:
        sizes = [batch[key].shape[1] for key in keys]
        flipped = random_hflip(torch.cat([batch[key] for key in keys], dim=1)).split(sizes, dim=1)
        batch.update(zip(keys, flipped))
    return batch


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
        args: the parsed flags of :func:`genhub.train.args.add_training_args` plus the family's own, with
            ``args.data`` the :class:`~genhub.data.DataSpec` the family's parser made.
        command: how to reproduce the run, for the card (default: ``accelerate launch`` + this script's argv).
    """

    def __init__(self, args: argparse.Namespace, command: str | None = None):
        self.args = args
        self.command = command or (" ".join(["accelerate launch", *sys.argv]) if sys.argv[0].endswith(".py") else None)
        self.output_dir = Path(args.output_dir)
        self.precision = resolve_precision(args.mixed_precision, cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
        self.accelerator = Accelerator(
            mixed_precision=self.precision.mixed_precision,
            gradient_accumulation_steps=args.gradient_accumulation_steps,
            log_with=None if args.report_to == "none" else args.report_to,
            project_config=ProjectConfiguration(project_dir=str(self.output_dir),
                                                logging_dir=str(self.output_dir / "logs")),
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed),
        )
        set_seed(args.seed)
        self.accelerator.print(f"mixed precision: {self.precision.mixed_precision} ({self.precision.reason})")
        self.progress = _Progress()
        self._stop_requested = False
        self._checkpointed_step: int | None = None  # the step this run last saved or resumed from
        self.first_step_seconds: float | None = None  # this run's first step here (with --compile: compiling)

    # ----------------------------------------------------------------------------- main loop
    def num_training_steps(self, dataset: torch.utils.data.Dataset) -> int:
        """Optimisation steps the run will take on ``dataset``, known before :meth:`fit` (e.g. for LR
        schedules): ``--max_train_steps``, else epochs x steps per epoch, counting full batches only,
        sharded over the processes, ``--gradient_accumulation_steps`` micro-batches per step."""
        args = self.args
        return args.max_train_steps or args.num_epochs * self._steps_per_epoch(len(self._subset(dataset)))

    def _steps_per_epoch(self, num_examples: int) -> int:
        batches = num_examples // (self.args.train_batch_size * self.accelerator.num_processes)
        return math.ceil(batches / self.args.gradient_accumulation_steps)

    def _subset(self, dataset: torch.utils.data.Dataset) -> torch.utils.data.Dataset:
        limit = self.args.max_train_samples
        return torch.utils.data.Subset(dataset, range(min(limit, len(dataset)))) if limit else dataset

    def fit(self, recipe: Recipe, dataset: torch.utils.data.Dataset,
            on_step: Callable[[int], None] | None = None) -> Path | None:
        """Train, checkpoint, export. Returns the export folder, or None when stopped by a signal.

        SIGINT/SIGTERM finish the current optimisation step, save ``checkpoint-N`` and return, so
        ``--resume_from_checkpoint latest`` continues without losing a step. ``on_step(global_step)`` is
        called after every optimisation step (progress displays, benchmarks); what it raises stops the run
        unsaved and propagates.

        Raises:
            ValueError: the dataset holds fewer images than one batch; ``--resume_from_checkpoint`` names a checkpoint
                of a differently configured model.
        """
        args, accelerator = self.args, self.accelerator
        self.recipe, self.model = recipe, recipe.model
        max_steps = self.num_training_steps(dataset)
        loader = self._prepare(recipe, self._subset(dataset))
        self._resume()
        if accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            if args.report_to != "none":
                accelerator.init_trackers("genhub", config={k: v for k, v in vars(args).items()
                                                            if isinstance(v, (int, float, str, bool))})
        batch_images = args.train_batch_size * accelerator.num_processes * args.gradient_accumulation_steps
        self.batch_images, self.max_steps = batch_images, max_steps
        previous_handlers = self._install_signal_handlers()
        try:
            recent = self._loop(loader, max_steps, batch_images, on_step)
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
        if recent is None:
            return None
        if self.progress.global_step % args.checkpointing_steps:
            self.save_checkpoint()
        summary = {k: round(v, 4) for k, v in recent_means(recent).items()}
        return self._export(summary, batch_images)

    def _prepare(self, recipe: Recipe, dataset: torch.utils.data.Dataset) -> torch.utils.data.DataLoader:
        """Build the loader, prepare networks/optimizers/schedulers/loader, the EMA and the step context."""
        args, accelerator = self.args, self.accelerator
        # The loader gets its own generator: each new iterator draws a worker seed from it, and drawing
        # from the global RNG instead would make a resumed run (one extra iterator) diverge.
        loader = torch.utils.data.DataLoader(dataset, batch_size=args.train_batch_size, shuffle=True, drop_last=True,
                                             num_workers=args.dataloader_num_workers,
                                             generator=torch.Generator().manual_seed(args.seed))
        if len(loader) == 0:
            raise ValueError(f"{len(dataset)} training images are fewer than one batch of {args.train_batch_size}")
        names, optimizer_names = list(recipe.networks), list(recipe.optimizers)
        self.channels_last = (self.precision.mixed_precision in recipe.channels_last_precisions
                              if args.channels_last is None else args.channels_last)
        if self.channels_last:  # in place: the optimizers keep their parameter objects
            for network in recipe.networks.values():
                network.to(memory_format=torch.channels_last)
        prepared = accelerator.prepare(*recipe.networks.values(), *recipe.optimizers.values(),
                                       *recipe.schedulers.values(), loader)
        self.networks = dict(zip(names, prepared[: len(names)]))
        if args.compile:
            # Not Accelerator(dynamo_backend=...): its setting is process-wide, fixed by the first Accelerator of the
            # process. Checkpoints stay as they are: Accelerate saves the prepared, uncompiled modules.
            self.networks = {name: torch.compile(network) for name, network in self.networks.items()}
        optimizers = dict(zip(optimizer_names, prepared[len(names): len(names) + len(optimizer_names)]))
        self.context = StepContext(self.networks, dict(recipe.networks), optimizers, recipe.state, recipe.hparams,
                                   accelerator.backward)
        self.ema = None
        if args.use_ema and recipe.ema_network:
            self.ema = AveragedModel(self._ema_source(lambda name: self.model.get_submodule(self._module_path(name))),
                                     multi_avg_fn=ema_with_warmup(args.ema_decay), use_buffers=True)
        accelerator.register_for_checkpointing(self.progress, *filter(None, [self.ema]), *recipe.state.values())
        return prepared[-1]

    def _loop(self, loader, max_steps: int, batch_images: int, on_step) -> dict[str, deque] | None:
        """Run steps until ``max_steps``; the recent losses (detached tensors), or None when a signal stopped the
        run."""
        accelerator, accumulation = self.accelerator, self.args.gradient_accumulation_steps
        steps_per_epoch = math.ceil(len(loader) / accumulation)
        first_epoch, skip = divmod(self.progress.global_step, steps_per_epoch)
        recent: dict[str, deque] = {}
        if self.progress.global_step >= max_steps or self._out_of_time():  # resumed from the run's last checkpoint
            return recent  # (killed while exporting): no step beyond it
        start = time.perf_counter() - self.progress.wall_time
        budget = self.args.max_train_minutes
        # under a time budget the step count is the machine's: no total, so no made-up time left
        with tqdm(total=None if budget else max_steps, initial=self.progress.global_step, unit="step",
                  desc=f"training ({budget:g} min budget)" if budget else "training",
                  disable=not accelerator.is_local_main_process, dynamic_ncols=True) as bar:
            for epoch in range(first_epoch, math.ceil(max_steps / steps_per_epoch)):
                if self.recipe.on_epoch is not None and not (epoch == first_epoch and skip):
                    self.recipe.on_epoch(epoch)
                loader.set_epoch(epoch)
                epoch_start = time.perf_counter()
                batches = accelerator.skip_first_batches(loader, skip * accumulation) if epoch == first_epoch and skip \
                    else loader
                for batch in batches:
                    with accelerator.accumulate(*self.networks.values()), accelerator.autocast():
                        logs = self._run_step(batch)
                    if not accelerator.sync_gradients:
                        continue
                    self._after_step(recent, logs, start)
                    if self.first_step_seconds is None:  # the run's first step: since its epoch's start
                        self._first_step_done(time.perf_counter() - epoch_start)
                    if on_step is not None:
                        on_step(self.progress.global_step)
                    bar.update(1)
                    if self.progress.global_step % self.args.logging_steps == 0:
                        self._log(bar, recent, logs, batch_images)
                        self._write_progress()
                    if self._stop_requested:
                        self.save_checkpoint()
                        accelerator.print(f"stopped at step {self.progress.global_step}; resume with "
                                          f"--resume_from_checkpoint latest")
                        return None
                    if self.progress.global_step >= max_steps or self._out_of_time():
                        return recent
        return recent

    def _out_of_time(self) -> bool:
        """The time budget is spent, and the run has seen ``--min_train_images`` (when given)."""
        budget, need = self.args.max_train_minutes, self.args.min_train_images or 0
        return (budget is not None and self.progress.wall_time >= 60 * budget
                and self.progress.global_step * self.batch_images >= need)

    def _run_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One micro-batch: the random flips (``Recipe.flip_groups``), the memory format, then the family's step.

        Raises:
            RuntimeError: ``--compile`` and torch.compile's backend failed (e.g. no working C++ compiler).
        """
        self.context.global_step = self.progress.global_step
        if self.args.random_flip:
            batch = flip_batch(batch, self.recipe.flip_groups)
        if self.channels_last:
            batch = {key: value.contiguous(memory_format=torch.channels_last) if value.dim() == 4 else value
                     for key, value in batch.items()}
        try:
            return self.recipe.training_step(self.context, batch)
        except torch._dynamo.exc.BackendCompilerFailed as error:
            raise RuntimeError(f"--compile: torch.compile could not compile the networks on this machine "
                               f"({str(error).strip().splitlines()[0]}); run without --compile") from error

    def _first_step_done(self, seconds: float) -> None:
        self.first_step_seconds = seconds
        if self.args.compile:
            self.accelerator.print(f"--compile: the first step took {seconds:.1f} s (compilation included)")

    def _log(self, bar: tqdm, recent: dict[str, deque], logs: dict[str, torch.Tensor], batch_images: int) -> None:
        """Read the losses, which waits for the device: the recent means on the progress bar, this step's values to
        the tracker."""
        progress = self.progress
        bar.set_postfix(**{k: f"{v:.3f}" for k, v in recent_means(recent).items()},
                        img_s=f"{progress.global_step * batch_images / progress.wall_time:.0f}")
        if self.args.report_to != "none":
            self.accelerator.log({k: float(v) for k, v in logs.items()}, step=progress.global_step)

    def _write_progress(self) -> None:
        """The run's ``progress.json`` (:mod:`genhub.train.progress`): what a watcher shows while it trains."""
        if self.accelerator.is_main_process:
            step, args = self.progress.global_step, self.args
            write_progress(self.output_dir, {
                "global_step": step, "images_seen": step * self.batch_images,
                "wall_time_seconds": round(self.progress.wall_time, 1), "max_steps": self.max_steps,
                "max_train_minutes": args.max_train_minutes, "min_train_images": args.min_train_images})

    def _after_step(self, recent: dict, logs: dict, start: float) -> None:
        args = self.args
        for scheduler in self.recipe.schedulers.values():
            scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self._ema_source(
                lambda name: self.accelerator.unwrap_model(self.networks[name], keep_torch_compile=False)))
        self.progress.global_step += 1
        self.progress.wall_time = time.perf_counter() - start
        for k, v in logs.items():  # kept as tensors: reading them waits for the device (see _log)
            recent.setdefault(k, deque(maxlen=RECENT_STEPS)).append(v.detach())
        step = self.progress.global_step
        if self.recipe.on_step is not None and self.accelerator.is_main_process:
            self.recipe.on_step(step, self.export_model)
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
        so a run killed while saving never leaves a half-written checkpoint that ``latest`` would pick).
        A state this run has already saved, or resumed from, is not saved again: replacing it would delete
        the checkpoint first, and a kill then would leave a half-deleted one for ``latest``."""
        accelerator = self.accelerator
        final = self.output_dir / f"checkpoint-{self.progress.global_step}"
        if self._checkpointed_step == self.progress.global_step and final.is_dir():
            return final
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
        self._checkpointed_step = self.progress.global_step
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
        try:
            self.accelerator.load_state(str(path))
        except RuntimeError as error:  # torch's size / key mismatch: the flags built another model
            raise ValueError(f"{path} was saved by a run with another model configuration, so it cannot resume "
                             f"this one (use the same model flags, or another --output_dir): "
                             f"{str(error).splitlines()[0]}") from None
        self._checkpointed_step = self.progress.global_step
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
        """A copy of the model with the EMA weights swapped in, on CPU, in eval mode, in contiguous memory order
        (whatever ``--channels_last`` trained) and in fp32 (whatever ``--mixed_precision`` trained), as a loaded
        export is: its metrics and samples are what ``genhub-evaluate`` and the app get from the saved files."""
        model = copy.deepcopy(self.accelerator.unwrap_model(self.model)).cpu().eval()
        for module in model.modules():  # prepare() wrapped each network's forward in autocast: unwrap the copies
            if "_original_forward" in vars(module):
                self.accelerator.unwrap_model(module, keep_fp32_wrapper=False)
        if self.ema is not None:
            self._ema_source(lambda name: model.get_submodule(self._module_path(name))).load_state_dict(
                self.ema.module.state_dict())
        return model.to(memory_format=torch.contiguous_format)

    def _module_path(self, name: str) -> str:
        """Where ``recipe.networks[name]`` sits inside the model: its ``named_modules`` path ("" for the model)."""
        target = self.recipe.networks[name]
        for path, module in self.model.named_modules():
            if module is target:
                return path
        raise ValueError(f"network {name!r} is not a submodule of the recipe's model")

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
        return make_grid(self.recipe.sample(self.export_model()), nrow=self.recipe.grid_columns)

    def _export(self, losses: dict, batch_images: int) -> Path:
        """Write the export folder: extra files and metrics (``Recipe.on_export``), ``training_info.json`` and
        the card rendered from it (written once, here), the sample grid, then weights and config."""
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            model = self.export_model()
            with torch.no_grad():
                metrics = self.recipe.on_export(model, self.output_dir) if self.recipe.on_export else {}
            save_training_info(self.output_dir, self._run_facts(model, losses, metrics, batch_images))
            self.sample_grid().save(self.output_dir / SAMPLE_GRID)
            model.save_pretrained(self.output_dir)  # keeps the card above: the mixin never overwrites README.md
            if self.args.push_to_hub:
                push_export(self.output_dir, self.args.hub_model_id, private=self.args.hub_private)
        self.accelerator.wait_for_everyone()
        self.accelerator.end_training()
        return self.output_dir

    def _run_facts(self, model: GenhubModel, losses: dict, metrics: dict, batch_images: int) -> dict:
        """``training_info.json``: the family's static facts, the run's card text, data, numbers and command."""
        args, progress = self.args, self.progress
        return {
            **model.card_facts(),
            **self.recipe.card.to_dict(),
            "dataset": args.data.source,
            "data": args.data.to_dict(),
            "resolution": args.data.resolution,
            "config": model.config,
            "global_step": progress.global_step,
            "stopped_by_time_budget": self._out_of_time(),
            "images_seen": progress.global_step * batch_images,
            "wall_time_seconds": round(progress.wall_time, 1),
            "images_per_second": round(progress.global_step * batch_images / max(progress.wall_time, 1e-9), 1),
            "final_losses": losses,
            "metrics": metrics,
            "ema": bool(self.ema),
            "mixed_precision": self.precision.mixed_precision,
            "precision_reason": self.precision.reason,
            "channels_last": self.channels_last,
            "first_step_seconds": None if self.first_step_seconds is None else round(self.first_step_seconds, 3),
            "num_processes": self.accelerator.num_processes,
            "hardware": describe_hardware(),
            "command": self.command,
            "args": {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool, type(None)))},
        }


def train(args: argparse.Namespace,
          build: Callable[[argparse.Namespace, "Trainer"], tuple[Recipe, torch.utils.data.Dataset]],
          command: str | None = None) -> Path | None:
    """Run a family end to end: a :class:`Trainer` (created first: it seeds every RNG), the family's
    ``build(args, trainer) -> (recipe, training split)``, then :meth:`Trainer.fit`. ``command``: the shell
    command recorded in the card as the way to reproduce the run (default: this process's own)."""
    trainer = Trainer(args, command)
    return trainer.fit(*build(args, trainer))


def recent_means(recent: dict[str, deque]) -> dict[str, float]:
    """Each loss's mean over its recent steps (detached scalar tensors): one read from the device per loss."""
    return {k: sum(values) / len(values) for k, values in ((k, torch.stack(list(v)).tolist()) for k, v in
                                                            recent.items())}


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
