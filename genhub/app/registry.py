"""The app's models: an explicit registry of key -> (family, location), with overrides.

A location is a local export folder or a Hub repo id (``org/name`` or ``org/name@revision``).
Override any entry with ``python app.py --model KEY=LOCATION`` or
``GENHUB_MODELS="KEY=LOCATION,KEY=LOCATION"``. Loading an entry is :mod:`genhub.app.loading`'s.

To serve a default from the Hub once it is published (``python -m genhub.hub.publish``), set its
location to the repo id pinned to the published commit, ``ModelSpec("dcgan", "ORG/NAME@<commit sha>",
...)``: a pinned sha never changes under the app, and once cached it loads offline. See
:func:`genhub.app.loading.load_model` for the resolution order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from genhub.paths import locate

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


#: key -> default: local export folders, relative to the project root, made by ``make demo`` (genhub.app.starters)
#: when missing; ``recipe`` is the reference run of README.md.
DEFAULT_MODELS: dict[str, ModelSpec] = {
    "dcgan-faces": ModelSpec(
        "dcgan", "checkpoints/dcgan-faces-64", local=True,
        # the 2016 recipe at batch 12 with DiffAugment: the best FID† at 10 min in bench/bench_quality.py, better
        # than the 2016 reference's at 30 (README, time to quality)
        recipe="accelerate launch training/train_dcgan.py --dataset ../shared/data/faces_celeba --resolution 64 "
               "--random_flip --train_batch_size 12 --diffaugment color,translation,cutout --num_epochs 10 "
               "--output_dir checkpoints/dcgan-faces-64"),
    "vae-faces": ModelSpec(
        "vae", "checkpoints/vae-faces-64", local=True,
        recipe="accelerate launch training/train_vae.py --dataset ../shared/data/faces_celeba --resolution 64 "
               "--latent_dim 128 --hidden_channels 32 --beta 1.0 --random_flip --num_epochs 15 "
               "--outlier_dataset ../shared/data/nonface_flowers_128 --output_dir checkpoints/vae-faces-64"),
    "autoencoder-faces": ModelSpec(
        "autoencoder", "checkpoints/autoencoder-faces-64", local=True,
        recipe="accelerate launch training/train_autoencoder.py --dataset ../shared/data/faces_celeba --resolution 64 "
               "--latent_dim 128 --hidden_channels 32 --random_flip --num_epochs 15 "
               "--output_dir checkpoints/autoencoder-faces-64"),
    **{key: _dbvae_spec(key, flag) for key, flag in DBVAE_FLAGS.items()},
    "cgan-faces": ModelSpec(
        "cgan", "checkpoints/cgan-faces-64", local=True,
        recipe="accelerate launch training/train_cgan.py --dataset ../shared/data/faces_celeba --resolution 64 "
               "--attributes Male Smiling Eyeglasses Young Blond_Hair Bald --ngf 32 --ndf 32 --random_flip "
               "--num_epochs 20 --max_train_minutes 45 --output_dir checkpoints/cgan-faces-64"),
    "stylegan-faces": ModelSpec(
        "stylegan", "checkpoints/stylegan-faces-32", local=True,
        recipe="accelerate launch training/train_stylegan.py --dataset ../shared/data/faces_celeba --resolution 32 "
               "--random_flip --stage_steps 600 --fade_steps 600 --max_train_steps 100000 --max_train_minutes 45 "
               "--output_dir checkpoints/stylegan-faces-32"),
    "pixelcnn-faces": ModelSpec(
        "pixelcnn", "checkpoints/pixelcnn-faces-32", local=True,
        recipe="accelerate launch training/train_pixelcnn.py --dataset ../shared/data/faces_lfw_gray --resolution 32 "
               "--num_levels 16 --hidden_channels 32 --num_layers 8 --random_flip --max_train_minutes 40 "
               "--outlier_dataset ../shared/data/nonface_flowers_128 --output_dir checkpoints/pixelcnn-faces-32"),
    "pix2pix-sketch2face": ModelSpec(
        "pix2pix", "checkpoints/pix2pix-sketch2face-128", local=True,
        recipe="accelerate launch training/train_pix2pix.py --dataset ../shared/data/sketch2face_celeba_128 "
               "--input_column input --target_column target --input_name sketch --target_name face --resolution 128 "
               "--ngf 32 --ndf 32 --train_batch_size 8 --random_flip --max_train_steps 6000 "
               "--output_dir checkpoints/pix2pix-sketch2face-128"),
    "cyclegan-eyeglasses": ModelSpec(
        "cyclegan", "checkpoints/cyclegan-eyeglasses-64", local=True,
        recipe="accelerate launch training/train_cyclegan.py --dataset ../shared/data/unpaired_celeba_eyeglasses "
               "--domain_column domain --domain_a A --domain_b B --domain_a_name no_eyeglasses "
               "--domain_b_name eyeglasses --resolution 64 --ngf 32 --ndf 32 --n_blocks 6 --train_batch_size 4 "
               "--random_flip --max_train_steps 5000 --output_dir checkpoints/cyclegan-eyeglasses-64"),
    "cyclegan-voices": ModelSpec(
        "cyclegan", "checkpoints/cyclegan-voices-64", local=True,
        recipe="python training/make_speech_domains.py --output_dir data/voices && accelerate launch "
               "training/train_cyclegan.py --dataset data/voices --domain_column voice --modality audio "
               "--domain_a_name 'low voice' --domain_b_name 'high voice' --resolution 64 --ngf 16 --ndf 16 "
               "--n_blocks 6 --train_batch_size 4 --max_train_steps 3000 --max_train_minutes 45 "
               "--output_dir checkpoints/cyclegan-voices-64"),
    "ddpm-faces": ModelSpec(
        "ddpm", "checkpoints/ddpm-faces-32", local=True,
        recipe="accelerate launch training/train_ddpm.py --dataset ../shared/data/faces_celeba --resolution 32 "
               "--train_batch_size 32 --learning_rate 2e-4 --lr_warmup_steps 200 --max_train_steps 3600 "
               "--max_train_minutes 55 --random_flip --output_dir checkpoints/ddpm-faces-32"),
}


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``["KEY=LOCATION", ...]`` (also comma-separated) -> {KEY: LOCATION}.

    Raises:
        ValueError: an item without ``=`` or with a key the registry does not know.
    """
    overrides = {}
    for item in (part.strip() for chunk in items for part in chunk.split(",")):
        if not item:
            continue
        key, sep, location = item.partition("=")
        if not sep or not location:
            raise ValueError(f"model override {item!r} is not KEY=LOCATION")
        if key not in DEFAULT_MODELS:
            raise ValueError(f"unknown model key {key!r}; known keys: {', '.join(DEFAULT_MODELS)}")
        overrides[key] = location
    return overrides


def resolve_registry(cli_overrides: list[str] | None = None) -> dict[str, ModelSpec]:
    """Defaults, then ``GENHUB_MODELS``, then command-line overrides (last wins)."""
    overrides = parse_overrides([os.environ.get("GENHUB_MODELS", "")] + list(cli_overrides or []))
    return {key: replace(spec, location=overrides[key], local=None) if key in overrides else spec
            for key, spec in DEFAULT_MODELS.items()}

