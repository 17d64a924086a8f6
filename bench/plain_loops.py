"""Textbook training loops, the baseline bench_training.py sets the genhub trainer against: for each family of
benchlib.FAMILIES, the loop a user would write by hand from the standard tutorial, on the same networks (built by
the family's ``build``) with the same loss. Plain ``torch.optim`` Adam / AdamW with torch's defaults (never fused;
on CPU torch's default is its single-tensor loop, foreach only on GPUs) and the family's learning rates and betas,
``zero_grad()``, ``loss.backward()``, ``optimizer.step()``, every loss read with ``.item()`` every step, contiguous
memory, no Accelerate, no EMA, no learning-rate schedule (a schedule step is a few Python operations). bf16 runs put
the step under ``torch.autocast(device, torch.bfloat16)``, as Accelerate does for the trainer.

| family | loop | textbook |
| --- | --- | --- |
| dcgan | written out | the PyTorch DCGAN tutorial (1), with the 2016 loss (the bench's configuration) |
| cgan | family step (2) | the DCGAN tutorial's order (1); a copy would repeat the fakes' label shuffling |
| stylegan | family step (2) | the DCGAN tutorial's order (1); a copy would repeat growth, mixing, w_avg and lazy R1 |
| dbvae | family step (2) | MIT 6.S191's debiasing lab; a copy would repeat the face / non-face labels and loss mask |
| pix2pix | written out | junyanz/pytorch-CycleGAN-and-pix2pix, ``Pix2PixModel.optimize_parameters`` (3) |
| cyclegan | written out | the same repository's ``CycleGANModel.optimize_parameters`` (3), D on pooled fakes |
| vae | written out | pytorch/examples ``vae/main.py``, with the family's beta-ELBO |
| autoencoder | written out | the obvious loop around the family's ``autoencoder_loss`` |
| ddpm | written out | diffusers ``train_unconditional.py`` (4) |
| pixelcnn | written out | the obvious loop: cross-entropy of the logits against the quantised pixels |

(1) D on real, backward; D on fake.detach(), backward; D step; G's loss through D, not frozen (D's weight gradients
are computed, and thrown away by the next ``netD.zero_grad()``); G step.
(2) The family's own ``training_step`` in a :class:`PlainContext`: a :class:`~genhub.train.trainer.StepContext`
whose ``backward`` is ``loss.backward()`` and whose ``frozen()`` freezes nothing, after every optimizer's
``zero_grad()``: the tutorial's order and gradients (1).
(3) D frozen with ``set_requires_grad`` for the generator's step: junyanz's code does freeze.
(4) Noise, timesteps, ``noise_scheduler.add_noise``, MSE on the UNet's prediction of the noise; without the script's
gradient clipping, which genhub's DDPM does not do either.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from genhub.models.pixelcnn import quantize
from genhub.models.vae import kl_divergence, reconstruction_error, reparameterize, split_posterior
from genhub.train.autoencoder import autoencoder_loss
from genhub.train.cyclegan import generator_losses
from genhub.train.losses import gan_loss
from genhub.train.pix2pix import generator_loss
from genhub.train.trainer import Recipe, StepContext

#: the hyper-parameters of an Adam / AdamW parameter group the plain optimizers copy from the recipe's
ADAM_SETTINGS = ("lr", "betas", "eps", "weight_decay")


@dataclass
class PlainRun:
    """What a plain loop works on: the recipe's networks, textbook optimizers, its hyper-parameters and state (e.g.
    image pools), and the optimisation steps finished so far; ``losses`` holds the last step's ``.item()`` values."""

    networks: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    hparams: Any
    state: dict
    training_step: Callable[[StepContext, dict], dict[str, torch.Tensor]]
    global_step: int = 0
    losses: dict[str, float] | None = None

    def record(self, **losses: torch.Tensor) -> None:
        """Read every loss, as the tutorials' logging does each step."""
        self.losses = {name: value.item() for name, value in losses.items()}


def plain_optimizers(recipe: Recipe) -> dict[str, torch.optim.Optimizer]:
    """Each recipe optimizer rebuilt as torch's default Adam / AdamW (no ``fused``/``foreach`` argument) over the same
    parameter groups with the same learning rate, betas, eps and weight decay."""
    return {name: type(optimizer)([{"params": group["params"], **{key: group[key] for key in ADAM_SETTINGS}}
                                   for group in optimizer.param_groups])
            for name, optimizer in recipe.optimizers.items()}


def set_requires_grad(networks: list[torch.nn.Module], requires_grad: bool) -> None:
    """junyanz's ``BaseModel.set_requires_grad``."""
    for network in networks:
        for parameter in network.parameters():
            parameter.requires_grad = requires_grad


# ------------------------------------------------------------------------------------------ the loops
def dcgan(run: PlainRun, batch: dict) -> None:
    generator, discriminator = run.networks["generator"], run.networks["discriminator"]
    optimizer_g, optimizer_d = run.optimizers["generator"], run.optimizers["discriminator"]
    real = batch["pixel_values"]
    discriminator.zero_grad()
    loss_d_real = gan_loss(discriminator(real), True)
    loss_d_real.backward()
    fake = generator(torch.randn(len(real), run.hparams.latent_dim, device=real.device))
    loss_d_fake = gan_loss(discriminator(fake.detach()), False)
    loss_d_fake.backward()
    optimizer_d.step()
    generator.zero_grad()
    loss_g = gan_loss(discriminator(fake), True)
    loss_g.backward()
    optimizer_g.step()
    run.record(loss_d=loss_d_real + loss_d_fake, loss_g=loss_g)


def pix2pix(run: PlainRun, batch: dict) -> None:
    hp, generator, discriminator = run.hparams, run.networks["generator"], run.networks["discriminator"]
    optimizer_g, optimizer_d = run.optimizers["generator"], run.optimizers["discriminator"]
    real_A, real_B = batch["real_A"], batch["real_B"]
    fake_B = generator(real_A)
    set_requires_grad([discriminator], True)
    optimizer_d.zero_grad()
    loss_d_fake = gan_loss(discriminator(torch.cat([real_A, fake_B], 1).detach()), False, hp.gan_mode)
    loss_d_real = gan_loss(discriminator(torch.cat([real_A, real_B], 1)), True, hp.gan_mode)
    loss_d = (loss_d_fake + loss_d_real) * 0.5
    loss_d.backward()
    optimizer_d.step()
    set_requires_grad([discriminator], False)
    optimizer_g.zero_grad()
    loss_gan, loss_l1 = generator_loss(discriminator(torch.cat([real_A, fake_B], 1)), fake_B, real_B, hp.lambda_l1,
                                       hp.gan_mode)
    (loss_gan + loss_l1).backward()
    optimizer_g.step()
    run.record(loss_d=loss_d, loss_g_gan=loss_gan, loss_g_l1=loss_l1)


def cyclegan(run: PlainRun, batch: dict) -> None:
    hp, networks = run.hparams, run.networks
    discriminators = [networks["discriminator_A"], networks["discriminator_B"]]
    real_A, real_B = batch["real_A"], batch["real_B"]
    images = networks["generators"](real_A, real_B, identity=hp.lambda_identity > 0)
    set_requires_grad(discriminators, False)
    run.optimizers["generators"].zero_grad()
    losses = generator_losses(networks["discriminator_A"](images["fake_A"]), networks["discriminator_B"](
        images["fake_B"]), real_A, real_B, images, hp.lambda_cycle, hp.lambda_identity, hp.gan_mode)
    loss_g = sum(losses.values())
    loss_g.backward()
    run.optimizers["generators"].step()
    set_requires_grad(discriminators, True)
    run.optimizers["discriminators"].zero_grad()
    losses_d = {}
    for domain, real in (("A", real_A), ("B", real_B)):
        discriminator = networks[f"discriminator_{domain}"]
        fake = run.state[f"pool_{domain}"].query(images[f"fake_{domain}"])
        loss_d = (gan_loss(discriminator(real), True, hp.gan_mode) +
                  gan_loss(discriminator(fake.detach()), False, hp.gan_mode)) * 0.5
        loss_d.backward()
        losses_d[f"loss_d_{domain}"] = loss_d
    run.optimizers["discriminators"].step()
    run.record(loss_g=loss_g, **losses_d)


def vae(run: PlainRun, batch: dict) -> None:
    images, optimizer = batch["pixel_values"], run.optimizers["vae"]
    optimizer.zero_grad()
    mu, logvar = split_posterior(run.networks["encoder"](images))
    reconstruction = run.networks["decoder"](reparameterize(mu, logvar))
    loss = reconstruction_error(reconstruction, images).mean() + run.hparams.beta * kl_divergence(mu, logvar).sum(
        1).mean()
    loss.backward()
    optimizer.step()
    run.record(loss=loss)


def autoencoder(run: PlainRun, batch: dict) -> None:
    optimizer = run.optimizers["autoencoder"]
    optimizer.zero_grad()
    loss = autoencoder_loss(run.networks["encoder"], run.networks["decoder"], batch["pixel_values"],
                            run.hparams.noise_std)
    loss.backward()
    optimizer.step()
    run.record(loss=loss)


def ddpm(run: PlainRun, batch: dict) -> None:
    """Raises ValueError: a prediction type other than the noise (train_unconditional's default)."""
    noise_scheduler, optimizer = run.hparams.noise_scheduler, run.optimizers["unet"]
    if run.hparams.prediction_type != "epsilon":
        raise ValueError("the plain DDPM loop predicts the noise (--prediction_type epsilon)")
    clean_images = batch["pixel_values"]
    noise = torch.randn(clean_images.shape, device=clean_images.device)
    timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (clean_images.shape[0],),
                              device=clean_images.device).long()
    noisy_images = noise_scheduler.add_noise(clean_images, noise, timesteps)
    model_output = run.networks["unet"](noisy_images, timesteps).sample
    loss = F.mse_loss(model_output.float(), noise)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    run.record(loss=loss)


def pixelcnn(run: PlainRun, batch: dict) -> None:
    optimizer = run.optimizers["pixelcnn"]
    optimizer.zero_grad()
    levels = quantize(batch["pixel_values"], run.hparams.num_levels)
    loss = F.cross_entropy(run.networks["pixelcnn"](levels).float(), levels)
    loss.backward()
    optimizer.step()
    run.record(loss=loss)


class PlainContext(StepContext):
    """The trainer's step context without the trainer: ``backward`` is ``loss.backward()`` and :meth:`frozen` freezes
    nothing (the networks' gradients are computed, as in the DCGAN tutorial's generator step)."""

    @contextlib.contextmanager
    def frozen(self, *names: str) -> Iterator[Any]:
        modules = tuple(self.unwrapped[name] for name in names)
        yield modules[0] if len(modules) == 1 else modules


def family_step(run: PlainRun, batch: dict) -> None:
    """The family's own ``training_step`` in a :class:`PlainContext`, after every optimizer's ``zero_grad()`` (which
    throws away the discriminator gradients the previous generator loss left, like the tutorial's
    ``netD.zero_grad()``)."""
    for optimizer in run.optimizers.values():
        optimizer.zero_grad()
    context = PlainContext(run.networks, run.networks, run.optimizers, run.state, run.hparams,
                           lambda loss: loss.backward(), run.global_step)
    run.record(**run.training_step(context, batch))


#: family -> its plain loop ``(run, batch) -> None`` (the table at the top of this file)
LOOPS: dict[str, Callable[[PlainRun, dict], None]] = {
    "dcgan": dcgan, "vae": vae, "pix2pix": pix2pix, "cyclegan": cyclegan, "autoencoder": autoencoder, "ddpm": ddpm,
    "pixelcnn": pixelcnn, "stylegan": family_step, "cgan": family_step, "dbvae": family_step,
}


def make_loop(family: str, recipe: Recipe, precision: str, device: torch.device) -> Callable[[dict], None]:
    """``batch -> None``: one optimisation step of ``family``'s plain loop on the recipe's networks (moved to
    ``device``, in train mode), under bf16 autocast when ``precision`` is "bf16".

    Raises:
        KeyError: a family without a plain loop.
    """
    loop = LOOPS[family]
    for network in recipe.networks.values():
        network.to(device).train()
    run = PlainRun(recipe.networks, plain_optimizers(recipe), recipe.hparams, recipe.state, recipe.training_step)

    def step(batch: dict) -> None:
        batch = {key: value.to(device) for key, value in batch.items()}
        with torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16"):
            loop(run, batch)
        run.global_step += 1

    return step
