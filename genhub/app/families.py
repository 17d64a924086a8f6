"""Each registry key declared once: where its model lives (:class:`ModelSpec`, with the reference model's full
training command) and how its starter trains (:class:`Starter`), one :data:`ENTRIES` row per key. The registry
(:data:`genhub.app.registry.DEFAULT_MODELS`) and the starters (:data:`genhub.app.starters.STARTERS`) are read off
this table; a new family adds its rows here (ARCHITECTURE.md's checklist).

What the lower layers declare per family stays with them: the model class (``genhub.models.MODEL_CLASSES``), the
evaluator (``genhub.evaluation.families.EVALUATORS``) and the floor (``genhub.evaluation.floors.FLOORS``);
``genhub-evaluate`` uses those without the app.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from genhub.paths import PROJECT_ROOT, locate

#: Where the project's shared data sits next to a checkout (see ../shared/data/DATA.md).
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
#: Where the voice starter's speech is made (``training/make_speech_domains.py``'s folder, README's), once.
SPEECH_DATA = PROJECT_ROOT / "data" / "voices"


#: A location starting with one of these is always a local folder, existing or not.
LOCAL_PREFIXES = ("./", "../", "/", "~")


def is_local(location: str) -> bool:
    """Whether a user-given location means a local folder: it exists on disk (as given or under the project
    root) or starts with ``./``, ``../``, ``/`` or ``~``. Anything else is a Hub repo id (``ORG/NAME[@rev]``):
    ``checkpoints/vae-faces-64`` reads as ``org/name`` too, so the shape alone cannot tell."""
    path = location.partition("@")[0]
    return location.startswith(LOCAL_PREFIXES) or locate(path).exists()


@dataclass(frozen=True)
class ModelSpec:
    """Where a registry entry comes from, and how to make it when it is missing.

    Parameters:
        family: the model family (a key of ``genhub.models.MODEL_CLASSES``).
        location: a local export folder (relative to the project root or absolute), or a Hub repo id, optionally
            pinned: ``ORG/NAME@<commit sha>`` (a branch or tag name also works, but a cached branch is not
            refreshed).
        local: True: a folder, never sent to the Hub; False: a repo id. None (the default): decided by
            :func:`is_local`. The registry's defaults say it explicitly.
        recipe: the full training command of the reference model (shown when the shared data is present).
        how_to_get: a custom hint shown when the model is missing, instead of the starter and the recipe.
    """

    family: str
    location: str
    how_to_get: str = ""
    local: bool | None = None
    recipe: str = ""

    def __post_init__(self):
        if self.local is None:
            object.__setattr__(self, "local", is_local(self.location))


@dataclass(frozen=True)
class Starter:
    """One registry entry's starter recipe.

    Parameters:
        family: the ``genhub.train`` module that trains it.
        shared: flags when :data:`SHARED_DATA` exists (or, for ``speech``, when espeak-ng does); ``{data}`` stands
            for that folder, ``{speech}`` for :data:`SPEECH_DATA`.
        shipped: flags on the data that ships inside a package (see :mod:`genhub.shipped`).
        minutes: wall time of the shared recipe in a lane of one thread (two lanes on 2 cores of the bf16 kind,
            its floor evaluation included) and of the shipped one on 2 threads, as measured: the progress
            estimate.
        speech: the first recipe converts espeak-ng's speech (made into :data:`SPEECH_DATA` before it trains) and
            needs espeak-ng instead of the shared data.
    """

    family: str
    shared: tuple[str, ...]
    shipped: tuple[str, ...]
    minutes: tuple[float, float]
    speech: bool = False

    def first(self, shared_data: Path | None) -> bool:
        """Whether this machine trains the first recipe (``shared``) rather than the shipped one."""
        return espeak_installed() if self.speech else shared_data is not None

    def flags(self, shared_data: Path | None) -> list[str]:
        """The training flags (without ``--output_dir``) for this machine's data; folders are named relative to the
        working directory (``../shared/data`` from the checkout), as README's commands do."""
        if not self.first(shared_data):
            return list(self.shipped)
        return [flag.format(data=os.path.relpath(shared_data or SHARED_DATA), speech=os.path.relpath(SPEECH_DATA))
                for flag in self.shared]

    def estimate(self, shared_data: Path | None) -> float:
        return self.minutes[0 if self.first(shared_data) else 1]


QUIET = ("--checkpointing_steps", "250", "--checkpoints_total_limit", "1", "--save_images_steps", "250")


def _budget(minutes: float) -> tuple[str, ...]:
    """Stop after ``minutes`` of training (or at a recipe's own step cap, when it has one, if that comes first)."""
    return ("--max_train_minutes", str(minutes))


#: For the recipes that stop at their budget alone: the trainer's default of 10 epochs is 60 steps of the 100
#: shipped images, so it would stop them in seconds (measured: the shipped StyleGAN ended in its 4 px stage).
_EPOCHS = ("--num_epochs", "100000")


def _need(minutes: float, images: int) -> tuple[str, ...]:
    """A shared-data recipe's stop rule: ``images`` is what the family needed to show its idea (what it saw in
    ``minutes`` on 2 threads of the bf16 kind, bench/README.md), so a lane of one thread or a slower CPU trains until
    it has seen them; a faster machine trains on to ``minutes``. No step cap (10 epochs would be one on a GPU)."""
    return ("--max_train_minutes", str(minutes), "--min_train_images", str(images), *_EPOCHS)


#: The DDPM starter's recipe: v-prediction (Salimans & Ho 2022) with min-SNR-5 weighting (Hang et al. 2023) at 1e-3
#: after 100 warm-up steps.
_DDPM_RECIPE = ("--prediction_type", "v_prediction", "--snr_gamma", "5", "--learning_rate", "1e-3",
                "--lr_warmup_steps", "100")


#: The style-based GAN starter's recipe: stages of 300 steps at alpha 1 and 150 fading in, no style-mixing
#: regularisation (the tab mixes styles all the same; at 5 minutes mixing cost 6.5 FID† and a tenth of the faces).
_STYLEGAN_RECIPE = ("--stage_steps", "300", "--fade_steps", "150", "--style_mixing_prob", "0")
#: ... on the shared data with a 16 px stage of 1,200 steps: the growth strip's 16 px stage then draws faces (86.9%
#: of its samples to the judge, against 3.5% after 300 steps; bench/README.md).
_STYLEGAN_SHARED = ("--stage_steps", "300", "300", "1200", "--fade_steps", "150", "--style_mixing_prob", "0")


def _dbvae(*flags: str) -> Starter:
    """A DB-VAE (or, with ``--baseline``, CNN) starter: faces vs flowers at 32 px, or LFW faces vs patches."""
    return Starter(
        "dbvae",
        ("--dataset", "{data}/faces_celeba", "--nonface_dataset", "{data}/nonface_flowers_128",
         "--domain_shift_dataset", "{data}/faces_lfw_gray", "--resolution", "32", "--latent_dim", "32",
         "--hidden_channels", "32", "--train_batch_size", "32", "--random_flip", "--num_epochs", "1",
         *flags, *_budget(1.5), *QUIET),
        ("--dataset", "lfw-subset-faces-vs-patches", "--domain_column", "domain", "--resolution", "32", "--latent_dim",
         "16", "--hidden_channels", "16", "--train_batch_size", "16", "--random_flip", "--num_epochs", "20", *flags,
         *_budget(0.5), *QUIET),
        (0.7, 0.3))


@dataclass(frozen=True)
class Entry:
    """One registry key: its default model (``spec``) and its starter."""

    spec: ModelSpec
    starter: Starter


#: The DB-VAE comparison's shared flags (README's main job): same data, size and budget for every alpha and the CNN.
_DBVAE_RECIPE = ("--dataset ../shared/data/faces_celeba --nonface_dataset ../shared/data/nonface_flowers_128 "
                 "--domain_shift_dataset ../shared/data/faces_lfw_gray --resolution 32 --latent_dim 32 "
                 "--hidden_channels 32 --train_batch_size 32 --random_flip --num_epochs 2")
#: The comparison's registry keys -> their training flag: the standard CNN, then DB-VAE at each alpha.
DBVAE_FLAGS = {"face-cnn": "--baseline", **{f"dbvae-faces-alpha-{alpha}": f"--alpha {alpha}"
                                            for alpha in ("inf", "1", "0.1", "0.01")}}


def _dbvae_spec(key: str, flag: str) -> ModelSpec:
    location = f"checkpoints/{key}-32"
    return ModelSpec("dbvae", location, local=True, recipe=f"accelerate launch training/train_dbvae.py {flag} "
                                                           f"{_DBVAE_RECIPE} --output_dir {location}")


def espeak_installed() -> bool:
    """Whether espeak-ng is on PATH (the voice starter then converts speech; ``make audio-tools`` installs it)."""
    return shutil.which("espeak-ng") is not None


#: registry key -> its model and starter: local export folders made by ``make demo`` when missing (CPU-sized
#: starters, a few minutes each, measured: bench/README.md); ``recipe`` is the reference run of README.md.
ENTRIES: dict[str, Entry] = {
    "dcgan-faces": Entry(
        ModelSpec(
            "dcgan", "checkpoints/dcgan-faces-64", local=True,
            # the 2016 recipe at batch 12 with DiffAugment: the best FID† at 10 min in bench/bench_quality.py, better
            # than the 2016 reference's at 30 (README, time to quality)
            recipe="accelerate launch training/train_dcgan.py --dataset ../shared/data/faces_celeba --resolution 64 "
                   "--random_flip --train_batch_size 12 --diffaugment color,translation,cutout --num_epochs 10 "
                   "--output_dir checkpoints/dcgan-faces-64"),
        Starter(
            "dcgan",
            # the 2016 recipe at batch 12 with DiffAugment: the best FID† at every mark in bench/bench_quality.py;
            # 24,000 images (14,000 read 91.8% faces and precision 0.46 in a lane, below the floor; 24,000: 99%, 0.77)
            ("--dataset", "{data}/faces_celeba", "--resolution", "64", "--ngf", "32", "--ndf", "32", "--random_flip",
             "--diffaugment", "color,translation,cutout", "--train_batch_size", "12", *_need(2.6, 24_000), *QUIET),
            ("--dataset", "lfw-subset", "--resolution", "32", "--ngf", "32", "--ndf", "32", "--random_flip",
             "--train_batch_size", "16", "--max_train_steps", "1500", *_budget(1.0), *QUIET),
            (3.3, 1.0))),
    "vae-faces": Entry(
        ModelSpec(
            "vae", "checkpoints/vae-faces-64", local=True,
            recipe="accelerate launch training/train_vae.py --dataset ../shared/data/faces_celeba --resolution 64 "
                   "--latent_dim 128 --hidden_channels 32 --beta 1.0 --random_flip --num_epochs 15 "
                   "--outlier_dataset ../shared/data/nonface_flowers_128 --output_dir checkpoints/vae-faces-64"),
        Starter(
            "vae",
            # batch 16: precision 0.65 in the v3 space where batch 64 read 0.455, below the quiz floor (same 32,000
            # images; bench/README.md)
            ("--dataset", "{data}/faces_celeba", "--resolution", "64", "--latent_dim", "128", "--hidden_channels", "32",
             "--random_flip", "--train_batch_size", "16", "--outlier_dataset", "{data}/nonface_flowers_128",
             *_need(1.5, 32_000), *QUIET),
            ("--dataset", "lfw-subset", "--resolution", "32", "--latent_dim", "32", "--hidden_channels", "16",
             "--random_flip", "--train_batch_size", "16", "--max_train_steps", "1500", "--min_attribute_count", "2",
             *_budget(0.6), *QUIET),
            (2.6, 0.4))),
    "autoencoder-faces": Entry(
        ModelSpec(
            "autoencoder", "checkpoints/autoencoder-faces-64", local=True,
            recipe="accelerate launch training/train_autoencoder.py --dataset ../shared/data/faces_celeba "
                   "--resolution 64 --latent_dim 128 --hidden_channels 32 --random_flip --num_epochs 15 "
                   "--output_dir checkpoints/autoencoder-faces-64"),
        Starter(
            "autoencoder",
            ("--dataset", "{data}/faces_celeba", "--resolution", "64", "--latent_dim", "128", "--hidden_channels", "32",
             "--random_flip", "--train_batch_size", "64", *_need(1.5, 32_000), *QUIET),
            ("--dataset", "lfw-subset", "--resolution", "32", "--latent_dim", "32", "--hidden_channels", "16",
             "--random_flip", "--train_batch_size", "16", "--max_train_steps", "1500", *_budget(0.6), *QUIET),
            (2.2, 0.8))),
    **{key: Entry(_dbvae_spec(key, flag), _dbvae(*flag.split())) for key, flag in DBVAE_FLAGS.items()},
    "cgan-faces": Entry(
        ModelSpec(
            "cgan", "checkpoints/cgan-faces-64", local=True,
            recipe="accelerate launch training/train_cgan.py --dataset ../shared/data/faces_celeba --resolution 64 "
                   "--attributes Male Smiling Eyeglasses Young Blond_Hair Bald --ngf 32 --ndf 32 --random_flip "
                   "--num_epochs 20 --max_train_minutes 45 --output_dir checkpoints/cgan-faces-64"),
        Starter(
            "cgan",
            # batch 16 (the DCGAN's lever): at batch 64 (375 steps) its discriminator won and it drew one grey
            # texture for every z and label (v3's face check: 0%; v2 had called it 100% faces); 1,500 steps at 16
            # draw faces that follow their labels (bench/README.md)
            ("--dataset", "{data}/faces_celeba", "--resolution", "64", "--attributes", "Male", "Smiling", "Eyeglasses",
             "Young", "Blond_Hair", "Bald", "--ngf", "32", "--ndf", "32", "--random_flip", "--train_batch_size", "16",
             *_need(1.6, 24_000), *QUIET),
            ("--dataset", "lfw-subset-faces-vs-patches", "--resolution", "32", "--attributes", "is_face", "--ngf", "32",
             "--ndf", "32", "--random_flip", "--train_batch_size", "16", "--max_train_steps", "1000", *_budget(1.0),
             *QUIET),
            (3.0, 1.6))),
    "stylegan-faces": Entry(
        ModelSpec(
            "stylegan", "checkpoints/stylegan-faces-32", local=True,
            recipe="accelerate launch training/train_stylegan.py --dataset ../shared/data/faces_celeba --resolution 32 "
                   "--random_flip --stage_steps 600 --fade_steps 600 --max_train_steps 100000 --max_train_minutes 45 "
                   "--output_dir checkpoints/stylegan-faces-32"),
        Starter(
            "stylegan",
            # style-based, batch 16, no mixing regularisation, a long 16 px stage (bench/README.md): 82,400 images
            # in 8.1 lane-minutes read 98.8% faces and precision 0.88 (judge v3), where batch 32 took 160,000 images
            # and 15 minutes to 98.2% and 0.91
            ("--dataset", "{data}/faces_celeba", "--resolution", "32", "--random_flip", *_STYLEGAN_SHARED,
             "--train_batch_size", "16", *_need(4.5, 82_400), "--num_grid_images", "16", *QUIET),
            ("--dataset", "lfw-subset", "--resolution", "32", "--random_flip", "--train_batch_size", "16",
             *_STYLEGAN_RECIPE, *_EPOCHS, *_budget(2.0), "--num_grid_images", "16", *QUIET),
            (8.6, 2.2))),
    "pixelcnn-faces": Entry(
        ModelSpec(
            "pixelcnn", "checkpoints/pixelcnn-faces-32", local=True,
            recipe="accelerate launch training/train_pixelcnn.py --dataset ../shared/data/faces_lfw_gray "
                   "--resolution 32 --num_levels 16 --hidden_channels 32 --num_layers 8 --random_flip "
                   "--max_train_minutes 40 --outlier_dataset ../shared/data/nonface_flowers_128 "
                   "--output_dir checkpoints/pixelcnn-faces-32"),
        Starter(
            "pixelcnn",
            # CelebA's aligned faces in grayscale at 16 px, 5x5 kernels (13 rows of context, most of the image): faces
            # in 3 min (bench/README.md) where LFW at 32 px with 3x3 kernels (7 rows) drew gray textures; no step cap
            ("--dataset", "{data}/faces_celeba", "--channels", "1", "--resolution", "16", "--num_levels", "16",
             "--hidden_channels", "32", "--num_layers", "6", "--kernel_size", "5", "--random_flip",
             "--train_batch_size", "32", "--outlier_dataset", "{data}/nonface_flowers_128", "--num_grid_images", "8",
             *_need(3.0, 52_000), *QUIET),
            ("--dataset", "lfw-subset", "--resolution", "16", "--num_levels", "16", "--hidden_channels", "32",
             "--num_layers", "6", "--kernel_size", "5", "--random_flip", "--train_batch_size", "16", *_EPOCHS,
             "--num_grid_images", "8", *_budget(1.0), *QUIET),
            (4.8, 1.1))),
    "pix2pix-sketch2face": Entry(
        ModelSpec(
            "pix2pix", "checkpoints/pix2pix-sketch2face-128", local=True,
            recipe="accelerate launch training/train_pix2pix.py --dataset ../shared/data/sketch2face_celeba_128 "
                   "--input_column input --target_column target --input_name sketch --target_name face "
                   "--resolution 128 --ngf 32 --ndf 32 --train_batch_size 8 --random_flip --max_train_steps 6000 "
                   "--output_dir checkpoints/pix2pix-sketch2face-128"),
        Starter(
            "pix2pix",
            ("--dataset", "{data}/sketch2face_celeba_128", "--input_column", "input", "--target_column", "target",
             "--input_name", "sketch", "--target_name", "face", "--resolution", "64", "--ngf", "32", "--ndf", "32",
             "--train_batch_size", "8", "--random_flip", *_need(1.5, 5_000), *QUIET),
            ("--dataset", "lfw-subset-sketch", "--input_column", "input", "--target_column", "target",
             "--input_name", "sketch", "--target_name", "face", "--resolution", "64", "--ngf", "32", "--ndf", "32",
             "--train_batch_size", "8", "--random_flip", "--max_train_steps", "600", *_budget(1.5), *QUIET),
            (2.0, 1.5))),
    "cyclegan-eyeglasses": Entry(
        ModelSpec(
            "cyclegan", "checkpoints/cyclegan-eyeglasses-64", local=True,
            recipe="accelerate launch training/train_cyclegan.py --dataset ../shared/data/unpaired_celeba_eyeglasses "
                   "--domain_column domain --domain_a A --domain_b B --domain_a_name no_eyeglasses "
                   "--domain_b_name eyeglasses --resolution 64 --ngf 32 --ndf 32 --n_blocks 6 --train_batch_size 4 "
                   "--random_flip --max_train_steps 5000 --output_dir checkpoints/cyclegan-eyeglasses-64"),
        Starter(
            "cyclegan",
            ("--dataset", "{data}/unpaired_celeba_eyeglasses", "--domain_column", "domain", "--domain_a", "A",
             "--domain_b", "B", "--domain_a_name", "no_eyeglasses", "--domain_b_name", "eyeglasses", "--resolution",
             "64", "--ngf", "16", "--ndf", "16", "--n_blocks", "4", "--train_batch_size", "1", "--random_flip",
             *_need(3.0, 1_800), *QUIET),
            ("--dataset", "lfw-subset-faces-vs-patches", "--domain_column", "domain", "--domain_a", "A", "--domain_b",
             "B", "--domain_a_name", "face", "--domain_b_name", "texture_patch", "--resolution", "32", "--ngf", "16",
             "--ndf", "16", "--n_blocks", "4", "--train_batch_size", "4", "--random_flip", "--max_train_steps", "600",
             *_budget(1.0), *QUIET),
            (4.2, 1.0))),
    "cyclegan-voices": Entry(
        ModelSpec(
            "cyclegan", "checkpoints/cyclegan-voices-64", local=True,
            recipe="python training/make_speech_domains.py --output_dir data/voices && accelerate launch "
                   "training/train_cyclegan.py --dataset data/voices --domain_column voice --modality audio "
                   "--domain_a_name 'low voice' --domain_b_name 'high voice' --resolution 64 --ngf 16 --ndf 16 "
                   "--n_blocks 6 --train_batch_size 4 --max_train_steps 3000 --max_train_minutes 45 "
                   "--output_dir checkpoints/cyclegan-voices-64"),
        Starter(
            "cyclegan",
            # espeak-ng's two voices where it is installed (speech: 2 min took the log-mel distance to the true clip 38%
            # and 51% of the way, bench/README.md); genhub's vowel-only numpy voices where it is not
            *[("--dataset", dataset, "--domain_column", "voice", "--modality", "audio", "--domain_a_name", "low voice",
               "--domain_b_name", "high voice", "--resolution", "64", "--ngf", "8", "--ndf", "8", "--n_blocks", "2",
               "--train_batch_size", "4", *stop, *QUIET)
              for dataset, stop in (("{speech}", _need(1.5, 2_800)), ("synthetic-voices", (*_EPOCHS, *_budget(1.0))))],
            (3.7, 1.1), speech=True)),
    "ddpm-faces": Entry(
        ModelSpec(
            "ddpm", "checkpoints/ddpm-faces-32", local=True,
            recipe="accelerate launch training/train_ddpm.py --dataset ../shared/data/faces_celeba --resolution 32 "
                   "--train_batch_size 32 --learning_rate 2e-4 --lr_warmup_steps 200 --max_train_steps 3600 "
                   "--max_train_minutes 55 --random_flip --output_dir checkpoints/ddpm-faces-32"),
        Starter(
            "ddpm",
            # min-SNR-weighted v-prediction at a 5x learning rate (bench/README.md, time to quality): faces in 4 min
            # where the epsilon recipe at 2e-4 drew colour noise; no step cap, so a faster machine buys more steps
            ("--dataset", "{data}/faces_celeba", "--resolution", "32", "--random_flip", "--train_batch_size", "32",
             *_DDPM_RECIPE, *_need(4.0, 19_200), "--num_grid_images", "16", *QUIET),
            ("--dataset", "lfw-subset", "--resolution", "32", "--random_flip", "--train_batch_size", "16",
             *_DDPM_RECIPE, *_EPOCHS, *_budget(1.5), "--num_grid_images", "16", *QUIET),
            (8.5, 1.6))),
}
