"""DDPM (Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models", arXiv:2006.11239): a
``diffusers.UNet2DModel`` that predicts the noise in x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
(eq. 4), with the forward process of a ``diffusers.DDPMScheduler`` built from the same config.

Sampling runs one loop (:meth:`DDPM.trajectory`) over any scheduler of :data:`SAMPLERS` (DDPM, DDIM,
DPM-Solver++), yielding x_t and the predicted x̂_0 per step; the same loop runs DDIM inversion
(images -> x_T) with diffusers' ``DDIMInverseScheduler``.

The export folder is both a genhub checkpoint (``config.json`` + ``model.safetensors``, loaded safely by
:meth:`GenhubModel.from_pretrained`) and a ``diffusers.DDPMPipeline`` (``model_index.json``, ``unet/``,
``scheduler/``) that ``diffusers.DiffusionPipeline.from_pretrained(folder)`` loads with no genhub import.
The UNet's weights are stored twice (once per format; ~12 MB at the default size).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from diffusers import (
    DDIMInverseScheduler,
    DDIMScheduler,
    DDPMPipeline,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    UNet2DModel,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from genhub.geometry import interpolate
from genhub.models.base import GenhubModel


@dataclass(frozen=True)
class Sampler:
    """One entry of :data:`SAMPLERS`: a diffusers scheduler class, the config values it sets, and its source."""

    scheduler_class: type[SchedulerMixin]
    paper: str
    options: dict = field(default_factory=dict)
    uses_eta: bool = False


#: The reverse processes offered, by name. Each is built ``from_config(model.noise_scheduler.config)``
#: (:meth:`DDPM.scheduler`), so it shares the trained T, betas and prediction type.
SAMPLERS: dict[str, Sampler] = {
    "DDPM": Sampler(DDPMScheduler, "Ho, Jain & Abbeel 2020, alg. 2: ancestral sampling of p(x_{t-1} | x_t); "
                                   "stochastic, made for all T steps (fewer are strided and noisier)"),
    "DDIM": Sampler(DDIMScheduler, "Song, Meng & Ermon 2021, eq. 12: eta = 0 deterministic given x_T, eta = 1 "
                                   "the DDPM posterior variance; good in 20-50 steps", uses_eta=True),
    "DPM-Solver++": Sampler(DPMSolverMultistepScheduler, "Lu et al. 2022 (arXiv:2211.01095): a second-order "
                                                         "multistep solver of the diffusion ODE on x_0; good in 10-25 "
                                                         "steps", {"algorithm_type": "dpmsolver++"}),
}
#: DDIM inversion and its reconstruction run unclipped: clipping x̂_0 to [-1, 1] is not invertible.
_INVERTIBLE = {"clip_sample": False}


@dataclass(frozen=True)
class DenoisingStep:
    """One step of :meth:`DDPM.trajectory`: ``index`` (0-based), ``timestep`` t (int, in [0, T)) the UNet saw, and
    float32 (B, C, H, W) tensors: ``sample``, the scheduler's output after the step (x at the next timestep; the
    final images after the last step), and ``pred_original_sample``, x̂_0 predicted from x_t (unclipped, except
    where the scheduler's ``clip_sample`` clips it)."""

    index: int
    timestep: int
    sample: torch.Tensor
    pred_original_sample: torch.Tensor


class DDPM(GenhubModel, library_name="diffusers", tags=["ddpm", "diffusion", "diffusers"],
           pipeline_tag="unconditional-image-generation", paper_url="https://arxiv.org/abs/2006.11239"):
    """A noise-predicting UNet and its noise schedule, saved as genhub weights and as a diffusers pipeline.

    The default is CPU-sized (3.0 M parameters at 32 px; ~28 img/s per training step on one EPYC core).
    The paper's 32x32 model (35.7 M parameters) is
    ``block_out_channels=[128, 256, 256, 256], layers_per_block=2, attention_levels=[1], norm_num_groups=32``
    (attention at 16x16), trained with ``--train_batch_size 128 --learning_rate 2e-4`` for 800k steps.

    Parameters:
        resolution: image side in pixels, 32 or 64 (any multiple of 2**(levels - 1) works).
        channels: image channels, 3 (RGB) or 1.
        block_out_channels: UNet width per resolution level, highest resolution first.
        layers_per_block: residual blocks per level (the paper uses 2).
        attention_levels: indices of the levels (0 = full resolution) whose blocks add self-attention.
        norm_num_groups: GroupNorm groups; divides every entry of ``block_out_channels``.
        num_train_timesteps: T, the length of the forward process (the paper: 1000).
        beta_schedule: ``"linear"`` (the paper: beta_1 = 1e-4 ... beta_T = 0.02) or ``"squaredcos_cap_v2"``.
        prediction_type: what the UNet predicts: ``"epsilon"`` (the paper's eq. 14), ``"v_prediction"`` or
            ``"sample"``.

    Raises:
        ValueError: ``attention_levels`` names a level the UNet does not have.
    """

    family = "ddpm"
    paper = "Ho, Jain & Abbeel 2020, Denoising Diffusion Probabilistic Models (arXiv:2006.11239)."

    def __init__(self, resolution: int = 32, channels: int = 3, block_out_channels: list[int] | None = None,
                 layers_per_block: int = 1, attention_levels: list[int] | None = None, norm_num_groups: int = 16,
                 num_train_timesteps: int = 1000, beta_schedule: str = "linear", prediction_type: str = "epsilon"):
        super().__init__()
        widths = list(block_out_channels or [32, 64, 64, 128])
        attention = set([2] if attention_levels is None else attention_levels)
        if not attention <= set(range(len(widths))):
            raise ValueError(f"attention_levels {sorted(attention)}: the UNet has levels 0..{len(widths) - 1}")
        self.resolution, self.channels = resolution, channels
        self.unet = UNet2DModel(
            sample_size=resolution, in_channels=channels, out_channels=channels, layers_per_block=layers_per_block,
            block_out_channels=tuple(widths), norm_num_groups=norm_num_groups,
            down_block_types=tuple("AttnDownBlock2D" if i in attention else "DownBlock2D" for i in range(len(widths))),
            up_block_types=tuple("AttnUpBlock2D" if i in attention else "UpBlock2D"
                                 for i in reversed(range(len(widths)))))
        self.noise_scheduler = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule,
                                             prediction_type=prediction_type)

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """noisy x_t: float (B, C, H, W), timesteps: int (B,) in [0, T) -> the UNet's prediction (B, C, H, W)
        (eps for ``prediction_type="epsilon"``)."""
        return self.unet(noisy, timesteps).sample

    # ------------------------------------------------------------------------------- sampling
    def scheduler(self, sampler: str = "DDIM", **overrides) -> SchedulerMixin:
        """A fresh scheduler of :data:`SAMPLERS` entry ``sampler``, ``from_config(self.noise_scheduler.config)``
        (same T and betas as training) with the entry's and then ``overrides``' config values. Fresh because a
        scheduler is stateful (``set_timesteps``, DPM-Solver's history): one per run, never shared.

        Raises:
            ValueError: unknown ``sampler``.
        """
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
        entry = SAMPLERS[sampler]
        return entry.scheduler_class.from_config(self.noise_scheduler.config, **{**entry.options, **overrides})

    @torch.no_grad()
    def trajectory(self, scheduler: SchedulerMixin, sample: torch.Tensor, num_inference_steps: int,
                   generator: torch.Generator | None = None, eta: float = 0.0) -> Iterator[DenoisingStep]:
        """The one loop over a scheduler's timesteps (sampling and DDIM inversion alike), one
        :class:`DenoisingStep` per UNet call.

        Args:
            scheduler: fresh, e.g. from :meth:`scheduler` or a ``DDIMInverseScheduler`` built from the same config.
            sample: the start, float (B, channels, resolution, resolution): x_T ~ N(0, I) to sample, images in
                [-1, 1] to invert. Moved to the model's device.
            num_inference_steps: number of steps, 1..T.
            generator: draws the noise of stochastic schedulers (DDPM, DDIM with eta > 0), on CPU.
            eta: DDIM's eta (Song et al. 2021, eq. 16), passed to schedulers whose ``step`` takes it.

        Raises:
            ValueError: ``num_inference_steps`` outside 1..T.
        """
        num_train_timesteps = self.noise_scheduler.config.num_train_timesteps
        if not 1 <= int(num_inference_steps) <= num_train_timesteps:
            raise ValueError(f"the number of steps must be between 1 and T = {num_train_timesteps}, "
                             f"got {num_inference_steps}")
        scheduler.set_timesteps(int(num_inference_steps))
        sample = sample.to(next(self.parameters()).device, torch.float32)
        accepts = inspect.signature(scheduler.step).parameters
        extra = {key: value for key, value in (("generator", generator), ("eta", eta)) if key in accepts}
        for index, t in enumerate(scheduler.timesteps):
            prediction = self.unet(scheduler.scale_model_input(sample, t), t).sample
            out = scheduler.step(prediction, t, sample, **extra)
            original = getattr(out, "pred_original_sample", None)
            if original is None:  # DPM-Solver++ returns only prev_sample
                original = self.pred_original_sample(prediction, int(t), sample)
            sample = out.prev_sample
            yield DenoisingStep(index, int(t), sample, original)

    def pred_original_sample(self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor) -> torch.Tensor:
        """x̂_0 from the UNet's output at x_t (float (B, C, H, W)), by the closed form of the forward process
        x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (Ho et al. 2020, eq. 4; eq. 15 for eps):
        ``epsilon``: (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t); ``v_prediction`` (Salimans & Ho 2022):
        sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v; ``sample``: the output itself. Not clipped.

        Raises:
            ValueError: ``timestep`` outside [0, T).
        """
        alpha_bar = self._alpha_bar(timestep).to(sample.device)
        kind = self.noise_scheduler.config.prediction_type
        if kind == "epsilon":
            return (sample - (1 - alpha_bar).sqrt() * model_output) / alpha_bar.sqrt()
        if kind == "v_prediction":
            return alpha_bar.sqrt() * sample - (1 - alpha_bar).sqrt() * model_output
        return model_output  # "sample" (the constructor's choices)

    def denoise(self, num_images: int, generator: torch.Generator | None = None, num_inference_steps: int = 50,
                sampler: str = "DDIM", eta: float = 0.0) -> Iterator[DenoisingStep]:
        """:meth:`trajectory` from x_T ~ N(0, I) (B = ``num_images``, drawn on CPU by ``generator``): the same
        ``generator`` seed gives the same pictures. See :data:`SAMPLERS` for ``sampler`` (and the steps each
        needs); ``eta`` >= 0 is DDIM's only.

        Raises:
            ValueError: unknown sampler, ``num_images`` < 1, steps outside 1..T, ``eta`` < 0 or set for a
                sampler without it.
        """
        scheduler = self.scheduler(sampler)
        if int(num_images) < 1:
            raise ValueError(f"the number of images must be at least 1, got {num_images}")
        if eta < 0 or (eta and not SAMPLERS[sampler].uses_eta):
            raise ValueError(f"eta must be >= 0 and is DDIM's only; got {eta} for {sampler}")
        shape = (int(num_images), self.channels, self.resolution, self.resolution)
        noise = torch.randn(shape, generator=generator) * scheduler.init_noise_sigma
        return self.trajectory(scheduler, noise, num_inference_steps, generator, eta)

    def sample(self, num_images: int, generator: torch.Generator | None = None, num_inference_steps: int = 50,
               sampler: str = "DDIM", eta: float = 0.0) -> torch.Tensor:
        """``num_images`` images float32 (B, channels, resolution, resolution) in [-1, 1]: the last sample of
        :meth:`denoise` (same arguments and errors), clamped. The default is DDIM (Song et al. 2021) with 50
        steps, deterministic given x_T at ``eta=0``; "DDPM" (the paper's alg. 2) needs ``num_inference_steps=T``
        to match training.
        """
        *_, last = self.denoise(num_images, generator, num_inference_steps, sampler, eta)
        return last.sample.clamp(-1, 1)

    # ------------------------------------------------------------------------------- forward process, inversion
    def q_sample(self, pixel_values: torch.Tensor, timestep: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """The forward process q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) (Ho et al. 2020, eq. 4):
        ``pixel_values`` x_0 float (B, C, H, W) in [-1, 1] -> x_t, same shape, float32, on the model's device;
        eps ~ N(0, I) drawn on CPU by ``generator`` (``noise_scheduler.add_noise``).

        Raises:
            ValueError: ``timestep`` outside [0, T).
        """
        self._alpha_bar(timestep)
        device = next(self.parameters()).device
        noise = torch.randn(pixel_values.shape, generator=generator).to(device)
        timesteps = torch.full((pixel_values.shape[0],), int(timestep), dtype=torch.long, device=device)
        return self.noise_scheduler.add_noise(pixel_values.to(device, torch.float32), noise, timesteps)

    def invert(self, pixel_values: torch.Tensor, num_inference_steps: int = 50) -> torch.Tensor:
        """DDIM inversion (Song et al. 2021, sec. 4.3 and 5.4: the eta = 0 update, eq. 13, run from t = 0 up):
        images x_0 float (B, C, H, W) in [-1, 1] -> the latents x_T float32, same shape, deterministically, with
        diffusers' ``DDIMInverseScheduler`` ("x_T" is x at the sampler's first timestep, e.g. 980 of T = 1000 at 50
        steps). :meth:`reconstruct` with the same steps maps them back up to the discretisation: going up, a step
        evaluates eps_theta on the x it starts from, the sampler on the x it ends at; more steps, closer.

        Raises:
            ValueError: steps outside 1..T.
        """
        scheduler = DDIMInverseScheduler.from_config(self.noise_scheduler.config, **_INVERTIBLE)
        *_, last = self.trajectory(scheduler, pixel_values, num_inference_steps)
        return last.sample

    def reconstruct(self, latents: torch.Tensor, num_inference_steps: int = 50) -> torch.Tensor:
        """DDIM with eta = 0 from given x_T (e.g. :meth:`invert`'s) float (B, C, H, W) -> images float32 in
        [-1, 1], same shape. Raises: ValueError: steps outside 1..T."""
        *_, last = self.trajectory(self.scheduler("DDIM", **_INVERTIBLE), latents, num_inference_steps)
        return last.sample.clamp(-1, 1)

    @staticmethod
    def interpolate_latents(first: torch.Tensor, second: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Spherical interpolation of two latents x_T (C, H, W) -> (num_frames, C, H, W), both ends included: how
        DDIM interpolates (Song et al. 2021, sec. 5.3), as x_T lies near a sphere of radius sqrt(C H W).

        Raises:
            ValueError: fewer than 2 frames.
        """
        return interpolate(first.flatten(), second.flatten(), int(num_frames), "spherical").view(-1, *first.shape)

    def _alpha_bar(self, timestep: int) -> torch.Tensor:
        alphas_cumprod = self.noise_scheduler.alphas_cumprod
        if not 0 <= int(timestep) < len(alphas_cumprod):
            raise ValueError(f"t must be in [0, {len(alphas_cumprod)}), got {timestep}")
        return alphas_cumprod[int(timestep)]

    def pipeline(self) -> DDPMPipeline:
        """This model as a ``diffusers.DDPMPipeline`` (shares the UNet; the scheduler is a copy)."""
        return DDPMPipeline(unet=self.unet, scheduler=DDPMScheduler.from_config(self.noise_scheduler.config))

    def _save_pretrained(self, save_directory: Path) -> None:
        super()._save_pretrained(save_directory)
        self.pipeline().save_pretrained(save_directory)
