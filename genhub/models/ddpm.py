"""DDPM (Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models", arXiv:2006.11239): a
``diffusers.UNet2DModel`` that predicts the noise in x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
(eq. 4), with the forward process of a ``diffusers.DDPMScheduler`` built from the same config.

The export folder is both a genhub checkpoint (``config.json`` + ``model.safetensors``, loaded safely by
:meth:`GenhubModel.from_pretrained`) and a ``diffusers.DDPMPipeline`` (``model_index.json``, ``unet/``,
``scheduler/``) that ``diffusers.DiffusionPipeline.from_pretrained(folder)`` loads with no genhub import.
The UNet's weights are stored twice (once per format; ~12 MB at the default size).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
from diffusers import DDIMScheduler, DDPMPipeline, DDPMScheduler, UNet2DModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from genhub.models.base import GenhubModel


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
    in_app = False  # no registry entry or tab plays it yet (the Diffusion tab of issue 12)
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

    @torch.no_grad()
    def sample(self, num_images: int, generator: torch.Generator | None = None, num_inference_steps: int = 50,
               scheduler: SchedulerMixin | None = None, eta: float = 0.0) -> torch.Tensor:
        """``num_images`` images (B, channels, resolution, resolution) in [-1, 1], denoised from x_T ~ N(0, I).

        ``scheduler``: any diffusers scheduler made ``from_config(model.noise_scheduler.config)``; the default
        is DDIM (Song et al. 2021) with ``num_inference_steps`` steps, deterministic given x_T when ``eta=0``.
        ``DDPMScheduler`` (the paper's ancestral sampler, alg. 2) needs ``num_inference_steps=T`` to match
        training. ``generator`` draws x_T (and the noise of stochastic samplers) on CPU.
        """
        scheduler = scheduler or DDIMScheduler.from_config(self.noise_scheduler.config)
        scheduler.set_timesteps(num_inference_steps)
        device = next(self.parameters()).device
        shape = (num_images, self.channels, self.resolution, self.resolution)
        images = torch.randn(shape, generator=generator).to(device) * scheduler.init_noise_sigma
        accepts = inspect.signature(scheduler.step).parameters
        extra = {key: value for key, value in (("generator", generator), ("eta", eta)) if key in accepts}
        for t in scheduler.timesteps:
            prediction = self.unet(scheduler.scale_model_input(images, t), t).sample
            images = scheduler.step(prediction, t, images, **extra).prev_sample
        return images.clamp(-1, 1)

    def pipeline(self) -> DDPMPipeline:
        """This model as a ``diffusers.DDPMPipeline`` (shares the UNet; the scheduler is a copy)."""
        return DDPMPipeline(unet=self.unet, scheduler=DDPMScheduler.from_config(self.noise_scheduler.config))

    def _save_pretrained(self, save_directory: Path) -> None:
        super()._save_pretrained(save_directory)
        self.pipeline().save_pretrained(save_directory)
