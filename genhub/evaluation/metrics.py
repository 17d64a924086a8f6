"""Sample-quality metrics for generative models, all on tensors:

- FID (Heusel et al. 2017, eq. 6) and KID (Bińkowski et al. 2018, section 3) with ``torchmetrics``, in the
  feature space of a :class:`FeatureSpace` (features are extracted once and handed to torchmetrics
  through an identity ``feature`` module, so FID, KID and precision/recall share one extraction);
- precision and recall of Kynkäänniemi et al. 2019 ("Improved Precision and Recall Metric for Assessing
  Generative Models", section 3: k-NN hyperspheres, k = 3);
- detectability: accuracy of a small real-vs-fake classifier trained on one half of the images and
  tested on the other half, with a 95% Wilson interval;
- memorisation: each fake's nearest training image (or mirror image) in pixel space;
- PSNR of a mean squared error (:func:`psnr`, the one definition every family's report uses).

A :class:`FeatureSpace` says whether its numbers are the standard ones (Inception-v3 with the standard
FID weights) or not; :attr:`FeatureSpace.label` is what every report prints next to FID and KID.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Iterable

import torch
from torch import nn

from genhub.evaluation.intervals import wilson_interval
from genhub.images import make_grid

NOT_COMPARABLE = "not comparable with published FIDs"
#: k of the k-NN manifold estimate (Kynkäänniemi et al. 2019 use k = 3).
PR_NEIGHBOURS = 3


@dataclass
class FeatureSpace:
    """A trained network mapping images to features, and its identity.

    Attributes:
        network: module taking float (B, C, H, W) in [-1, 1] to float (B, d).
        name, version: the network's name and version (e.g. ``genhub-face-features``, ``1``).
        weights_sha256: SHA-256 of the weights file the network was loaded from.
        standard: True only for Inception-v3 with the standard FID weights: then FID/KID are the
            published kind; otherwise they compare only with numbers from the same weights.
    """

    network: nn.Module
    name: str
    version: str
    weights_sha256: str
    standard: bool = False

    @property
    def label(self) -> str:
        """How reports name the space, e.g. "genhub-face-features v1 (weights 1a2b3c4d5e6f): not comparable ..."."""
        space = f"{self.name} v{self.version} (weights sha256 {self.weights_sha256[:12]})"
        return f"{space}: standard FID/KID" if self.standard else f"{space}: {NOT_COMPARABLE}"

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "weights_sha256": self.weights_sha256,
                "standard": self.standard, "label": self.label}

    @torch.no_grad()
    def features(self, batches: Iterable[torch.Tensor]) -> torch.Tensor:
        """Features of every image in ``batches`` (each float (B, C, H, W) in [-1, 1]) -> float64 (N, d) on CPU."""
        self.network.eval()
        return torch.cat([self.network(batch).double().cpu() for batch in batches])


class _Precomputed(nn.Module):
    """torchmetrics' ``feature`` module for features that are already extracted: the identity."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, d) and (M, d), N, M >= 2:
    ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)), via ``torchmetrics.image.fid``."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]))
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (unbiased MMD^2 with the cubic polynomial kernel) over ``subsets`` random
    subsets of ``min(subset_size, N, M)`` features each, via ``torchmetrics.image.kid``: (mean, std).
    The subsets are drawn from a private RNG seeded with ``seed``."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=_Precomputed(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def _kth_neighbour_radii(features: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point (N,)."""
    radii = [torch.cdist(block, features).kthvalue(k + 1, dim=1).values for block in features.split(chunk)]
    return torch.cat(radii)


def _covered(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """For each query, whether it lies in at least one ball (centre, radius): bool (Q,)."""
    return torch.cat([(torch.cdist(block, centres) <= radii[None, :]).any(dim=1) for block in queries.split(chunk)])


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = PR_NEIGHBOURS) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019, eq. 1-2: the real manifold is the union of balls around each real feature
    with radius its distance to its k-th nearest real neighbour (likewise for fakes).

    precision = fraction of fakes inside the real manifold; recall = fraction of reals inside the fake
    manifold. Both in [0, 1]. Needs more than k points in each set.
    """
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} real and fake features, "
                         f"got {len(real)} and {len(fake)}")
    real, fake = real.double(), fake.double()
    precision = _covered(fake, real, _kth_neighbour_radii(real, k)).double().mean()
    recall = _covered(real, fake, _kth_neighbour_radii(fake, k)).double().mean()
    return float(precision), float(recall)


# ------------------------------------------------------------------------------------ pixel fidelity
#: Floor on the MSE in :func:`psnr`, so a perfect reconstruction scores 120 dB instead of infinity.
MIN_MSE = 1e-12


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB of a mean squared error on pixels scaled to [0, 1]: 10 log10(1 / mse).

    genhub's one PSNR (VAE reconstructions, pix2pix translations): the PSNR of the MSE *pooled over every pixel
    of every image*, not the mean of per-image PSNRs. Why: it is a function of the MSE reported beside it, so
    the two numbers never disagree; a mean of per-image PSNRs (a mean of logarithms) is never below the pooled
    one (Jensen), is pulled up by the easiest images and is infinite once one image is reproduced exactly. It
    equals torchmetrics' ``peak_signal_noise_ratio(preds, target, data_range=1.0)`` with its default
    ``dim=None`` (reduction over everything). ``mse`` is floored at :data:`MIN_MSE` (at most 120 dB).
    """
    return 10.0 * math.log10(1.0 / max(float(mse), MIN_MSE))


# ------------------------------------------------------------------------------------ detectability
@dataclass
class Detectability:
    """Held-out accuracy of a real-vs-fake classifier: ``correct`` of ``trials`` test images, 95% Wilson interval.
    0.5 means the classifier cannot tell fakes from reals; lower bound above 0.5 means it can."""

    classifier: str
    accuracy: float
    correct: int
    trials: int
    low: float
    high: float
    train_images: int

    def as_dict(self) -> dict:
        return asdict(self)


class _SmallCNN(nn.Module):
    """Three stride-2 convs (16, 32, 64 channels, LeakyReLU), global average pool, one logit."""

    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, 16, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(16, 32, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def _halves(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator):
    """Balanced train/test halves: n = min(len(real), len(fake)) of each, shuffled, split in two."""
    n = min(len(real), len(fake))
    if n < 4:
        raise ValueError(f"detectability needs at least 4 real and 4 fake images, got {len(real)} and {len(fake)}")
    real = real[torch.randperm(len(real), generator=generator)[:n]]
    fake = fake[torch.randperm(len(fake), generator=generator)[:n]]
    half = n // 2
    x_train = torch.cat([real[:half], fake[:half]])
    y_train = torch.cat([torch.ones(half), torch.zeros(half)])
    x_test = torch.cat([real[half:], fake[half:]])
    y_test = torch.cat([torch.ones(n - half), torch.zeros(n - half)])
    return x_train, y_train, x_test, y_test


def detectability(real: torch.Tensor, fake: torch.Tensor, classifier: str = "cnn", seed: int = 0,
                  epochs: int | None = None, batch_size: int = 64) -> Detectability:
    """Train a real-vs-fake classifier on one half of ``real`` and ``fake`` and test it on the other half.

    Args:
        real, fake: the same kind of input for both: images float (N, C, H, W) in [-1, 1] for
            ``classifier="cnn"`` (a small CNN trained from scratch, random mirror augmentation), or
            features (N, d) for ``classifier="linear"`` (logistic regression on standardised features).
            Fakes must be quantised to 8 bits like the reals, or the classifier learns the quantisation.
        seed: seeds the split, the initialisation and the batches (the result is deterministic).
        epochs: passes over the training half (default 30 for the CNN, 300 full-batch steps for linear).

    Returns:
        :class:`Detectability` on the held-out half (``trials`` = 2 * (n - n // 2), n = min(len(real), len(fake))).

    Raises:
        ValueError: unknown classifier or fewer than 4 images of either kind.
    """
    if classifier not in ("cnn", "linear"):
        raise ValueError(f"classifier must be 'cnn' or 'linear', got {classifier!r}")
    generator = torch.Generator().manual_seed(seed)
    x_train, y_train, x_test, y_test = _halves(real.float(), fake.float(), generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if classifier == "cnn":
            model = _SmallCNN(x_train.shape[1])
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            for _ in range(epochs or 30):
                order = torch.randperm(len(x_train), generator=generator)
                for index in order.split(batch_size):
                    x = x_train[index]
                    flip = torch.rand(len(x), generator=generator) < 0.5
                    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
                    loss = nn.functional.binary_cross_entropy_with_logits(model(x), y_train[index])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        else:
            mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
            x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
            model = nn.Linear(x_train.shape[1], 1)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
            for _ in range(epochs or 300):
                loss = nn.functional.binary_cross_entropy_with_logits(model(x_train).flatten(), y_train)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    with torch.no_grad():
        logits = torch.cat([model(x).flatten() for x in x_test.split(256)])
    correct = int(((logits > 0).float() == y_test).sum())
    low, high = wilson_interval(correct, len(y_test))
    return Detectability(classifier, correct / len(y_test), correct, len(y_test), low, high, len(x_train))


# ------------------------------------------------------------------------------------ memorisation
@dataclass
class Neighbours:
    """Each query's nearest reference image: RMS pixel distance (in [-1, 1] units, so 0 = identical and
    2 = opposite), its index in the references, and whether the match is the reference's mirror image."""

    distances: torch.Tensor  # float64 (Q,)
    indices: torch.Tensor  # int64 (Q,)
    mirrored: torch.Tensor  # bool (Q,)


def nearest_neighbours(queries: torch.Tensor, references: Iterable[torch.Tensor], mirror: bool = True) -> Neighbours:
    """Nearest reference image of each query by root-mean-square pixel difference.

    Args:
        queries: float (Q, C, H, W) in [-1, 1].
        references: batches of float (B, C, H, W) in [-1, 1] (an iterable, so a whole training set can
            stream through without being held in memory); indices count across the batches.
        mirror: also compare with each reference flipped left-right (training often mirrors images).

    Returns:
        :class:`Neighbours`.
    """
    flat = queries.double().flatten(1)
    squared = flat.pow(2).sum(1, keepdim=True)
    best = torch.full((len(flat),), math.inf, dtype=torch.float64)
    indices = torch.zeros(len(flat), dtype=torch.long)
    mirrored = torch.zeros(len(flat), dtype=torch.bool)
    offset = 0
    for batch in references:
        for flipped in ((False, True) if mirror else (False,)):
            ref = (batch.flip(-1) if flipped else batch).double().flatten(1)
            distance = (squared + ref.pow(2).sum(1)[None, :] - 2 * flat @ ref.T).clamp_min(0)
            value, index = distance.min(dim=1)
            better = value < best
            best = torch.where(better, value, best)
            indices = torch.where(better, index + offset, indices)
            mirrored = torch.where(better, torch.full_like(mirrored, flipped), mirrored)
        offset += len(batch)
    return Neighbours((best / flat.shape[1]).sqrt(), indices, mirrored)


def memorisation_summary(fakes: Neighbours, held_out: Neighbours) -> dict:
    """Distances of fakes to their nearest training image, read against held-out reals' distances.

    A held-out real face is by construction not a copy of a training face, so the smallest held-out
    distance is the yardstick: a fake closer to a training image than every held-out real is listed as a
    suspected copy (look at it in the gallery).
    """
    floor = float(held_out.distances.min())
    suspects = torch.nonzero(fakes.distances < floor).flatten()
    return {
        "fakes_checked": len(fakes.distances),
        "fake_min_distance": float(fakes.distances.min()),
        "fake_median_distance": float(fakes.distances.median()),
        "held_out_reals_checked": len(held_out.distances),
        "held_out_min_distance": floor,
        "held_out_median_distance": float(held_out.distances.median()),
        "suspected_copies": len(suspects),
        "suspected_copy_indices": suspects.tolist(),
        "distance_unit": "RMS pixel difference in [-1, 1] units (0 = identical), mirror images included",
    }


def memorisation_gallery(fakes: torch.Tensor, neighbours: torch.Tensor, distances: torch.Tensor, count: int = 16):
    """A grid of the ``count`` fakes closest to a training image, each followed by that training image
    (two images per pair, four pairs per row), closest first. Returns a PIL image."""
    order = distances.argsort()[:count]
    pairs = torch.stack([torch.stack([fakes[i], neighbours[i]]) for i in order.tolist()]).flatten(0, 1)
    return make_grid(pairs, nrow=min(8, len(pairs)))
