"""Datasets that ship inside a PyPI package (scikit-image's ``lfw_subset``), so that every family can be
trained on a machine with no data and no network. Small and low-resolution: starters, not reference runs.

- ``lfw-subset``: the 100 LFW faces (25x25 grayscale, upscaled by the loader); column ``image``.
- ``lfw-subset-sketch``: pairs for pix2pix: ``input``, an XDoG line drawing of each face
  (:func:`genhub.images.xdog_sketch`, the operator of genhub's CelebA sketch->face data, after an
  autocontrast), ``target``, the face.
- ``lfw-subset-faces-vs-patches``: unpaired domains for CycleGAN from the same package: ``domain`` ``"A"`` =
  the 100 faces, ``"B"`` = its 100 non-face patches of natural images (a toy pair: "face <-> texture"); ``is_face``
  (1/0) is the same split as a label (the DB-VAE's positives, a conditional GAN's one attribute).

- ``synthetic-voices``: two small unpaired "voices" for a voice CycleGAN starter, spoken by genhub's numpy
  source-filter voice (:func:`genhub.voices.speech_splits` with ``synthetic=True``: 60 clips per voice, vowels only, A
  low-pitched, B high-pitched with shifted formants), with its own ``test`` and ``paired`` splits; column ``audio``.

The image sources are one ``train`` split; :func:`genhub.data.load_source` holds out 10% as ``test``.
"""

from __future__ import annotations

import datasets
import numpy as np
from PIL import Image, ImageOps

from genhub.images import xdog_sketch

SKETCH_SIDE = 64  # the drawings are made at this side (upscaled from 25 px) so that lines stay visible


def lfw_images(part: slice) -> list[np.ndarray]:
    """scikit-image's ``lfw_subset`` images ``part`` as uint8 (25, 25) arrays (the first 100 are faces)."""
    from skimage.data import lfw_subset

    return list((lfw_subset()[part] * 255).round().astype(np.uint8))  # the first 100 are faces, the rest not


def _faces() -> datasets.Dataset:
    return datasets.Dataset.from_dict({"image": lfw_images(slice(0, 100))},
                                      features=datasets.Features({"image": datasets.Image()}))


def _sketches() -> datasets.Dataset:
    faces = [Image.fromarray(face).resize((SKETCH_SIDE, SKETCH_SIDE), Image.Resampling.LANCZOS)
             for face in lfw_images(slice(0, 100))]
    # LFW crops are darker and lower in contrast than CelebA's: stretched first, XDoG draws lines, not shadows
    drawings = [xdog_sketch(ImageOps.autocontrast(face, cutoff=2)) for face in faces]
    return datasets.Dataset.from_dict({"input": drawings, "target": faces},
                                      features=datasets.Features({"input": datasets.Image(),
                                                                  "target": datasets.Image()}))


def _faces_vs_patches() -> datasets.Dataset:
    images = lfw_images(slice(0, 200))
    return datasets.Dataset.from_dict(
        {"image": images, "domain": ["A"] * 100 + ["B"] * 100, "domain_name": ["face"] * 100 + ["patch"] * 100,
         "is_face": [1] * 100 + [0] * 100},
        features=datasets.Features({"image": datasets.Image(), "domain": datasets.Value("string"),
                                    "domain_name": datasets.Value("string"), "is_face": datasets.Value("int8")}))


def _synthetic_voices() -> datasets.DatasetDict:
    from genhub.voices import speech_splits  # librosa loads only for audio

    return speech_splits(num_train=60, num_test=6, num_paired=6, seed=0, synthetic=True)[0]


#: name -> builder of its train split (or of all its splits). A new shipped source adds one entry (and its line in
#: ABOUT).
SHIPPED = {"lfw-subset": _faces, "lfw-subset-sketch": _sketches, "lfw-subset-faces-vs-patches": _faces_vs_patches,
           "synthetic-voices": _synthetic_voices}
#: name -> what a model trained on it has learnt, for the tab that shows the model.
ABOUT = {
    "lfw-subset": "Trained on scikit-image's 100 LFW faces (25x25 grayscale, upscaled): expect blurry gray faces.",
    "lfw-subset-sketch": "Trained on XDoG drawings of scikit-image's 100 LFW faces (25x25 grayscale): a small "
                         "sketch -> face starter; point the app at a model trained on real sketch pairs for more.",
    "lfw-subset-faces-vs-patches": "A toy translation: face <-> texture patch, the only unpaired pair scikit-image "
                                   "ships (its 100 LFW faces and 100 non-face patches), not eyeglasses.",
    "synthetic-voices": "A toy voice conversion between two vowel-only numpy voices (low and high pitch): train on "
                        "espeak-ng speech (training/make_speech_domains.py) for real sentences.",
}


def load_shipped(name: str) -> datasets.DatasetDict:
    """The shipped source ``name`` (a key of :data:`SHIPPED`) as a ``DatasetDict``: its builder's splits, or one
    ``train`` split."""
    built = SHIPPED[name]()
    return built if isinstance(built, datasets.DatasetDict) else datasets.DatasetDict({"train": built})
