"""The feature space FID, KID, precision and recall are measured in (a
:class:`~genhub.evaluation.metrics.FeatureSpace`).

Two kinds, and no fallback to an untrained network:

- Inception-v3 with the FID weights (:mod:`genhub.models.inception`), from a local file whose SHA-256 is
  checked; "standard" (comparable with published FIDs) only when that hash is the published one;
- genhub's own face feature network (:class:`genhub.models.face_features.FaceFeatureNet`), from an export
  of ``training/train_face_features.py``; never comparable with published FIDs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from genhub.evaluation.metrics import FeatureSpace
from genhub.hub.info import read_training_info
from genhub.models.base import CheckpointError
from genhub.models.face_features import VERSION, FaceFeatureNet
from genhub.models.inception import STANDARD_SHA256, FIDInceptionV3, sha256_file
from genhub.paths import locate

#: Where the face feature network is looked for when none is named (relative to the project root).
DEFAULT_FEATURE_NETWORK = "checkpoints/face-features"
#: Environment variable naming the face feature network export, read when none is passed.
FEATURE_NETWORK_ENV = "GENHUB_FEATURE_NETWORK"


def train_command(folder: str | Path) -> str:
    """The command that trains the current version of the feature network into ``folder``."""
    return (f"accelerate launch training/train_face_features.py --dataset ../shared/data/faces_celeba "
            f"--nonface_dataset ../shared/data/nonface_flowers_128 --output_dir {folder}")


def network_version(folder: str | Path) -> str | None:
    """The feature-space version an exported face feature network names in its ``config.json``; None when the
    folder holds no readable config (nothing exported yet, e.g. a training stopped half-way)."""
    try:
        return json.loads((Path(folder) / "config.json").read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def load_feature_network(location: str | Path) -> FaceFeatureNet:
    """A trained face feature network of the current :data:`~genhub.models.face_features.VERSION` from an export
    folder, in eval mode.

    Refuses anything that is not the output of ``training/train_face_features.py`` (a folder whose
    ``training_info.json`` says family ``face-features`` and at least one optimisation step), so a
    random-weight network can never stand behind a reported number, and an export of another version, so figures
    of two versions are never mixed.

    Raises:
        CheckpointError: no such folder, not a trained feature-network export, another version, or bad weights.
    """
    folder = Path(location)
    info = read_training_info(folder)
    if not info:
        raise CheckpointError(f"feature network {folder}: no training_info.json; train one with `"
                              f"{train_command(folder)}` (or pass --inception_weights for the standard FID network)")
    if info.get("family") != "face-features" or not info.get("global_step"):
        raise CheckpointError(f"feature network {folder}: training_info.json is not that of a trained face feature "
                              f"network (family {info.get('family')!r}, {info.get('global_step', 0)} steps)")
    version = network_version(folder)
    if version != VERSION:
        raise CheckpointError(f"feature network {folder} is version {version}; genhub measures in version {VERSION} "
                              f"(figures of two versions never mix): train it again with `{train_command(folder)}`")
    return FaceFeatureNet.from_pretrained(str(folder)).eval()


def inception_space(path: str | Path, sha256: str = STANDARD_SHA256) -> FeatureSpace:
    """Inception-v3 FID features (float (B, 2048)) from a local weights file whose SHA-256 must equal ``sha256``;
    the space is "standard" only when that is :data:`~genhub.models.inception.STANDARD_SHA256`.

    Raises:
        CheckpointError: missing file, hash mismatch, or weights that do not fit.
    """
    network = FIDInceptionV3.from_weights(path, sha256)
    return FeatureSpace(network, "inception-v3-fid", "2015-12-05", sha256.lower(),
                        standard=sha256.lower() == STANDARD_SHA256)


class _Penultimate(nn.Module):
    """A :class:`FaceFeatureNet` as a feature extractor: images (B, C, H, W) in [-1, 1] -> its penultimate layer."""

    def __init__(self, network: FaceFeatureNet):
        super().__init__()
        self.net = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.features(images)


def face_feature_space(location: str | Path) -> FeatureSpace:
    """genhub's trained face feature network (float (B, num_features) features; never comparable with published
    FIDs). A relative ``location`` that does not exist is also looked for under the project root.

    Raises:
        CheckpointError: not a trained feature-network export (see :func:`load_feature_network`).
    """
    folder = locate(location)
    network = load_feature_network(folder)
    return FeatureSpace(_Penultimate(network), network.name, network.version,
                        sha256_file(folder / "model.safetensors"))


def attribute_network(space: FeatureSpace) -> FaceFeatureNet | None:
    """The face feature network behind a :func:`face_feature_space` (its attribute logits judge conditional
    samples), or None for another space."""
    network = space.network
    return network.net if isinstance(network, _Penultimate) else None


@torch.no_grad()
def face_rate(space: FeatureSpace, features: torch.Tensor) -> float | None:
    """The face check on features already extracted in a :func:`face_feature_space` (float (N, d)): the share of the
    images whose face head says P(face) > 0.5; None in another space (it has no face head)."""
    network = attribute_network(space)
    if network is None:
        return None
    return float((torch.sigmoid(network.face_logit_of_features(features)) > 0.5).float().mean())


def feature_space(feature_network: str | Path | None = None, inception_weights: str | Path | None = None,
                  inception_sha256: str = STANDARD_SHA256) -> FeatureSpace:
    """The space an evaluation measures in: Inception when ``inception_weights`` is given, else the face feature
    network ``feature_network`` (default: ``$GENHUB_FEATURE_NETWORK``, then :data:`DEFAULT_FEATURE_NETWORK`).

    Raises:
        CheckpointError: as :func:`inception_space` or :func:`face_feature_space`.
    """
    if inception_weights:
        return inception_space(inception_weights, inception_sha256)
    return face_feature_space(feature_network or os.environ.get(FEATURE_NETWORK_ENV, DEFAULT_FEATURE_NETWORK))
