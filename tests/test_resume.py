"""Exact resume, for every family through its real entry point: a run interrupted by SIGINT mid-epoch and
mid-accumulation (flips, EMA, schedulers, image pools in play), then resumed with
``--resume_from_checkpoint latest``, ends bit-identical to an uninterrupted run. A new family joins by
adding a row to ``CASES`` (a test fails while a family of ``MODEL_CLASSES`` has none)."""

import os
import signal
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import load_file

from conftest import (
    tiny_autoencoder_args,
    tiny_cgan_args,
    tiny_cyclegan_args,
    tiny_dbvae_args,
    tiny_dcgan_args,
    tiny_ddpm_args,
    tiny_feature_args,
    tiny_pix2pix_args,
    tiny_pixelcnn_args,
    tiny_stylegan_args,
    tiny_vae_args,
    tiny_voice_args,
    train_tiny,
)
from genhub.models import MODEL_CLASSES
from genhub.train.trainer import Trainer


@dataclass(frozen=True)
class ResumeCase:
    family: str  # the model class's ``family``; its training module is genhub.train.<family with _>
    data: str  # the fixture holding its data
    tiny_args: object  # (dataset, output_dir, *flags) -> argv
    flags: tuple[str, ...]
    interrupt_at: int  # the micro-batch (1-based) during which SIGINT arrives
    checkpoints: tuple[int, ...]  # what the interrupted run leaves behind


ACCUMULATE = ("--gradient_accumulation_steps", "2", "--random_flip")
CASES = [
    # 64 rows / (8 x 2) = 4 steps per epoch: 10 steps cross two epoch boundaries; stop in step 6
    ResumeCase("dcgan", "faces_dir", tiny_dcgan_args,
               ("--max_train_steps", "10", *ACCUMULATE, "--checkpointing_steps", "4"), 11, (4, 6)),
    # the modern recipe: DiffAugment's and the fakes' draws from the torch RNG, spectral norm's power-iteration vectors,
    # lazy R1 on even steps (the resumed run's first, 6, is one), one D pass over reals and fakes
    ResumeCase("dcgan", "faces_dir", tiny_dcgan_args,
               ("--max_train_steps", "10", *ACCUMULATE, "--checkpointing_steps", "4", "--gan_loss", "hinge",
                "--spectral_norm", "--diffaugment", "color,translation,cutout", "--r1_gamma", "1", "--r1_interval", "2",
                "--learning_rate_d", "4e-4"), 11, (4, 6)),
    ResumeCase("vae", "labelled_faces_dir", tiny_vae_args,
               ("--max_train_steps", "6", *ACCUMULATE, "--checkpointing_steps", "3"), 7, (3, 4)),
    # 16 pairs / (4 x 2) = 2 steps per epoch; dropout and batch-norm statistics in play
    ResumeCase("pix2pix", "sketch_dir", tiny_pix2pix_args,
               ("--max_train_steps", "5", *ACCUMULATE, "--checkpointing_steps", "2"), 7, (2, 4)),
    # 12 items / (2 x 2) = 3 steps per epoch; stop in the second epoch once the pools (size 3) swap, LR decaying
    ResumeCase("cyclegan", "eyeglasses_dir", tiny_cyclegan_args,
               ("--max_train_steps", "7", *ACCUMULATE, "--checkpointing_steps", "2", "--lr_decay_start", "3"), 9,
               (2, 4, 5)),
    ResumeCase("face-features", "labelled_faces_dir", tiny_feature_args,
               ("--max_train_steps", "6", *ACCUMULATE, "--checkpointing_steps", "3"), 7, (3, 4)),
    ResumeCase("autoencoder", "faces_dir", tiny_autoencoder_args,
               ("--max_train_steps", "6", *ACCUMULATE, "--checkpointing_steps", "3", "--noise_std", "0.1"), 7, (3, 4)),
    # 64 rows / (8 x 2) = 4 steps per epoch; timesteps and noise from the torch RNG, LR warming up then cosine
    ResumeCase("ddpm", "faces_dir", tiny_ddpm_args,
               ("--max_train_steps", "6", *ACCUMULATE, "--checkpointing_steps", "3"), 9, (3, 5)),
    # 16 items / (4 x 2) = 2 steps per epoch, faces redrawn from the resampling weights before each: the run stops
    # in step 5, after the third epoch's draw, and resumes mid-epoch from checkpoint-5 (its weights and generator)
    ResumeCase("dbvae", "faces_and_nonfaces", tiny_dbvae_args,
               ("--max_train_steps", "6", *ACCUMULATE, "--checkpointing_steps", "3", "--max_train_samples", "16",
                "--alpha", "0.1"), 9, (3, 5)),
    # 64 labelled rows / (8 x 2) = 4 steps per epoch; the fakes' labels are a permutation drawn from the torch RNG
    ResumeCase("cgan", "labelled_faces_dir", tiny_cgan_args,
               ("--max_train_steps", "6", *ACCUMULATE, "--checkpointing_steps", "3"), 9, (3, 5)),
    ResumeCase("pixelcnn", "faces_dir", tiny_pixelcnn_args,
               ("--max_train_steps", "6", *ACCUMULATE, "--checkpointing_steps", "3"), 9, (3, 5)),
    # stages of 2 steps, 2 steps of fade-in: stage 1 ends at step 6, so resuming from checkpoint-5 crosses into stage
    # 2's fade-in; style mixing (crossover from the torch RNG), per-layer noise and lazy R1 every 2 steps in play
    # the audio configuration: log-mel windows of synthetic voices (about 20 per voice: 5 steps per epoch), no flips
    ResumeCase("cyclegan", "voices_dir", tiny_voice_args,
               ("--max_train_steps", "7", "--gradient_accumulation_steps", "2", "--checkpointing_steps", "2"), 9,
               (2, 4, 5)),
    ResumeCase("stylegan", "faces_dir", tiny_stylegan_args,
               ("--max_train_steps", "8", *ACCUMULATE, "--checkpointing_steps", "3"), 9, (3, 5)),
]


def test_every_family_has_a_resume_case():
    assert {case.family for case in CASES} == set(MODEL_CLASSES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.family)
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(case, request, tmp_path, monkeypatch):
    data = request.getfixturevalue(case.data)

    def run(output, *extra):
        return train_tiny(case.family.replace("-", "_"), case.tiny_args(data, output, *case.flags, *extra))

    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    run(reference)
    calls, real_step = {"n": 0}, Trainer._run_step

    def step_then_interrupt(trainer, batch):
        calls["n"] += 1
        if calls["n"] == case.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(trainer, batch)

    monkeypatch.setattr(Trainer, "_run_step", step_then_interrupt)
    assert run(interrupted) is None
    assert sorted(p.name for p in interrupted.glob("checkpoint-*")) == [f"checkpoint-{n}" for n in case.checkpoints]
    assert not (interrupted / "model.safetensors").exists()

    monkeypatch.setattr(Trainer, "_run_step", real_step)
    run(interrupted, "--resume_from_checkpoint", "latest")
    expected, resumed = load_file(reference / "model.safetensors"), load_file(interrupted / "model.safetensors")
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name
