"""Latent spaces: what an export knows about its z (slider ranking, attribute directions, held-out
scores), how it is measured and stored, and the geometry the explorer uses (interpolation, SeFa).

Files written beside ``model.safetensors`` (safetensors only, float32):

- ``latent_stats.safetensors``: ``kl_per_dim`` (latent_dim,), the mean KL(q(z_j|x) || N(0, 1)) of each
  dimension over the held-out split, in nats; ``heldout_neg_elbo`` (N,), the sorted negative ELBO of
  every held-out image, in nats (the reference distribution of the outlier score).
- ``directions.safetensors``: one (latent_dim,) tensor per attribute name (e.g. ``"Smiling"``), the mean
  posterior mean of training images with the attribute minus that of images without it; the metadata
  key ``counts`` holds ``{name: [positives, negatives]}`` as JSON. Absent when the data has no labels.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

STATS_FILE = "latent_stats.safetensors"
DIRECTIONS_FILE = "directions.safetensors"
#: Burda et al. 2016 (Importance Weighted Autoencoders, section 5.2): a unit is active when the variance
#: of its posterior mean over the data exceeds this.
ACTIVE_UNIT_THRESHOLD = 0.01
#: An attribute gets a direction only when at least this many labelled images have it and lack it.
MIN_ATTRIBUTE_COUNT = 10
INTERPOLATION_MODES = ("spherical", "linear")


@dataclass
class LatentSpace:
    """Facts about a trained VAE's latent space, measured at export (see :func:`measure_latent_space`).

    Parameters:
        kl_per_dim: float32 (latent_dim,), mean KL to the prior per dimension on held-out data, nats, >= 0.
        heldout_neg_elbo: float32 (N,), negative ELBO of each held-out image in nats, sorted ascending.
        directions: attribute name -> float32 (latent_dim,) direction (difference of mean posterior means).
        counts: attribute name -> (images with it, images without it) used for its direction.
    """

    kl_per_dim: torch.Tensor
    heldout_neg_elbo: torch.Tensor
    directions: dict[str, torch.Tensor] = field(default_factory=dict)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def latent_dim(self) -> int:
        return int(self.kl_per_dim.shape[0])

    def slider_order(self) -> torch.Tensor:
        """Dimension indices (latent_dim,) int64, most informative first: descending ``kl_per_dim``,
        ties broken by the lower index, so the ranking is a pure function of the stored numbers."""
        return torch.argsort(self.kl_per_dim, descending=True, stable=True)

    def save(self, folder: str | Path) -> None:
        """Write ``latent_stats.safetensors`` and, when there are directions, ``directions.safetensors``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        save_file({"kl_per_dim": self.kl_per_dim.float().contiguous(),
                   "heldout_neg_elbo": self.heldout_neg_elbo.float().contiguous()},
                  folder / STATS_FILE, metadata={"format": "genhub-latent-stats"})
        (folder / DIRECTIONS_FILE).unlink(missing_ok=True)
        if self.directions:
            save_file({name: vector.float().contiguous() for name, vector in self.directions.items()},
                      folder / DIRECTIONS_FILE,
                      metadata={"counts": json.dumps({name: list(count) for name, count in self.counts.items()})})

    @classmethod
    def load(cls, location: str | Path, revision: str | None = None, **download_kwargs) -> "LatentSpace | None":
        """Read the files from a local export folder or a Hub repo id; None when there are none.

        ``download_kwargs`` go to ``huggingface_hub.hf_hub_download`` (cache_dir, token, ...).
        """
        from safetensors import safe_open

        stats, directions = (_export_file(location, name, revision, download_kwargs)
                             for name in (STATS_FILE, DIRECTIONS_FILE))
        if stats is None:
            return None
        with safe_open(str(stats), "pt") as file:
            space = cls(file.get_tensor("kl_per_dim"), file.get_tensor("heldout_neg_elbo"))
        if directions is not None:
            with safe_open(str(directions), "pt") as file:
                counts = json.loads((file.metadata() or {}).get("counts", "{}"))
                space.directions = {name: file.get_tensor(name) for name in file.keys()}
                space.counts = {name: tuple(count) for name, count in counts.items()}
        return space


def _export_file(location: str | Path, name: str, revision: str | None, download_kwargs: dict) -> Path | None:
    folder = Path(location)
    if folder.is_dir():
        return folder / name if (folder / name).is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(str(location), name, revision=revision, **download_kwargs))
    except EntryNotFoundError:
        return None


# ------------------------------------------------------------------------------------------- measuring
@torch.no_grad()
def encode_dataset(model, dataset: torch.utils.data.Dataset, batch_size: int = 256,
                   keys: tuple[str, ...] = ("neg_elbo", "reconstruction", "kl", "mu")) -> dict[str, torch.Tensor]:
    """Run ``model.negative_elbo`` (see :class:`genhub.models.VAE`) over a dataset of ``pixel_values``,
    in order, and concatenate the requested outputs (float32, first axis = rows). Asking only for
    ``mu``/``logvar`` runs the encoder alone."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    parts: dict[str, list[torch.Tensor]] = {key: [] for key in keys}
    encoder_only = set(keys) <= {"mu", "logvar"}
    for batch in loader:
        if encoder_only:
            mu, logvar = model.encode(batch["pixel_values"].to(next(model.parameters()).device))
            out = {"mu": mu.float(), "logvar": logvar.float()}
        else:
            out = model.negative_elbo(batch["pixel_values"])
        for key in keys:
            parts[key].append(out[key].cpu())
    return {key: torch.cat(values) for key, values in parts.items()}


def attribute_labels(table) -> tuple[list[str], np.ndarray]:
    """The binary attribute columns of a ``datasets.Dataset`` and their values.

    An attribute column is an integer ``Value`` column whose non-null values are all 0 or 1 (like
    CelebA's 40 attributes in ``faces_celeba``); null means unknown.

    Returns:
        (names, labels): labels float32 (rows, len(names)) with 1.0, 0.0 or NaN.
    """
    import datasets
    import pyarrow.compute as pc

    integer = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
    candidates = [name for name, feature in table.features.items()
                  if isinstance(feature, datasets.Value) and feature.dtype in integer]
    if not candidates:
        return [], np.zeros((len(table), 0), np.float32)
    arrow = table.select_columns(candidates).with_format("arrow")[:]
    names = []
    for name in candidates:
        values = pc.unique(arrow.column(name).drop_null()).to_pylist()
        if values and set(values) <= {0, 1}:
            names.append(name)
    labels = np.stack([arrow.column(name).to_numpy(zero_copy_only=False).astype(np.float32) for name in names], 1) \
        if names else np.zeros((len(table), 0), np.float32)
    return names, labels


def attribute_directions(mu: torch.Tensor, labels: np.ndarray, names: list[str], min_count: int = MIN_ATTRIBUTE_COUNT
                         ) -> tuple[dict[str, torch.Tensor], dict[str, tuple[int, int]]]:
    """Direction of each attribute: mean posterior mean of images with it minus images without it.

    Moving a code by +1 x the direction moves it, on average, from the "without" group's centre to the
    "with" group's (the attribute vectors of White 2016, "Sampling Generative Networks", arXiv:1609.04468).

    Args:
        mu: float (N, latent_dim), posterior means.
        labels: float (N, A) with 1, 0 or NaN (unknown), columns in the order of ``names``.
        min_count: attributes with fewer positives or negatives than this get no direction.

    Returns:
        (directions {name: float32 (latent_dim,)}, counts {name: (positives, negatives)}).
    """
    directions, counts = {}, {}
    mu = mu.float()
    for column, name in enumerate(names):
        positive = torch.from_numpy(labels[:, column] == 1)
        negative = torch.from_numpy(labels[:, column] == 0)
        count = (int(positive.sum()), int(negative.sum()))
        if min(count) < min_count:
            continue
        directions[name] = mu[positive].mean(0) - mu[negative].mean(0)
        counts[name] = count
    return directions, counts


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Burda et al. 2016: the number of dimensions u with Cov_x(E_q(u|x)[u]) > threshold; mu float (N, D)."""
    return int((mu.double().var(0, unbiased=True) > threshold).sum())


@torch.no_grad()
def measure_latent_space(model, held_out: torch.utils.data.Dataset, train=None, batch_size: int = 256,
                         min_count: int = MIN_ATTRIBUTE_COUNT, num_ranked: int = 8
                         ) -> tuple[LatentSpace, dict[str, float]]:
    """Measure an exported VAE: held-out metrics, slider ranking, outlier reference, attribute directions.

    Args:
        model: a ``VAE`` in eval mode.
        held_out: the test split as a :class:`genhub.data.ImageDataset` (``pixel_values`` in [-1, 1]).
        train: the training split as an ``ImageDataset``; its binary attribute columns (see
            :func:`attribute_labels`) give the directions. None or no labels: no directions.
        num_ranked: how many top-ranked dimensions get their KL in the metrics.

    Returns:
        (the :class:`LatentSpace`, metrics). Metrics (floats): ``heldout_mse`` (mean squared error of the
        reconstruction from z = mu, on pixels scaled to [0, 1]), ``heldout_psnr_db`` (10 log10(1 / that)),
        ``heldout_neg_elbo_nats`` and ``heldout_kl_nats`` (means per image), ``active_units``,
        ``attribute_directions`` (how many), and ``kl_nats/z<j>`` for the ``num_ranked`` highest dims.
    """
    held = encode_dataset(model, held_out, batch_size)
    pixels = model.channels * model.resolution ** 2
    mse = float(held["reconstruction"].double().sum() / (len(held["reconstruction"]) * pixels) / 4.0)
    space = LatentSpace(held["kl"].double().mean(0).float(), held["neg_elbo"].sort().values)
    if train is not None:
        names, labels = attribute_labels(train.table)
        rows = np.flatnonzero(~np.isnan(labels).all(1)) if names else np.zeros(0, np.int64)
        if len(rows):
            mu = encode_dataset(model, torch.utils.data.Subset(train, rows.tolist()), batch_size, keys=("mu",))["mu"]
            space.directions, space.counts = attribute_directions(mu, labels[rows], names, min_count)
    metrics = {
        "heldout_images": float(len(held_out)),
        "heldout_mse": mse,
        "heldout_psnr_db": 10.0 * math.log10(1.0 / max(mse, 1e-12)),
        "heldout_neg_elbo_nats": float(held["neg_elbo"].double().mean()),
        "heldout_kl_nats": float(held["kl"].double().sum(1).mean()),
        "active_units": float(active_units(held["mu"])),
        "attribute_directions": float(len(space.directions)),
    }
    for index in space.slider_order()[:num_ranked].tolist():
        metrics[f"kl_nats/z{index}"] = float(space.kl_per_dim[index])
    return space, metrics


# ------------------------------------------------------------------------------------------- geometry
def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation: a, b (D,), t (N,) in [0, 1] -> (N, D) = (1 - t) a + t b."""
    t = t.to(a.dtype).view(-1, 1)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985), recommended for Gaussian latents by White 2016.

    a, b (D,), t (N,) in [0, 1] -> (N, D) = sin((1-t) w)/sin(w) a + sin(t w)/sin(w) b, w the angle between
    a and b; falls back to :func:`lerp` when they are (anti)parallel within 1e-6 rad or one is zero.
    """
    a64, b64 = a.double(), b.double()
    norms = a64.norm() * b64.norm()
    if norms < 1e-12:
        return lerp(a, b, t)
    omega = torch.arccos((a64 @ b64 / norms).clamp(-1.0, 1.0))
    if omega < 1e-6 or torch.pi - omega < 1e-6:
        return lerp(a, b, t)
    t64 = t.double().view(-1, 1)
    out = (torch.sin((1 - t64) * omega) * a64 + torch.sin(t64 * omega) * b64) / torch.sin(omega)
    return out.to(a.dtype)


def interpolate(a: torch.Tensor, b: torch.Tensor, num_frames: int, mode: str = "spherical") -> torch.Tensor:
    """``num_frames`` (>= 2) codes (num_frames, D) from a to b inclusive, evenly spaced in t.

    Raises:
        ValueError: fewer than 2 frames or an unknown mode (see :data:`INTERPOLATION_MODES`).
    """
    if num_frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames, got {num_frames}")
    if mode not in INTERPOLATION_MODES:
        raise ValueError(f"mode must be one of {INTERPOLATION_MODES}, got {mode!r}")
    t = torch.linspace(0.0, 1.0, num_frames)
    return (slerp if mode == "spherical" else lerp)(a, b, t)


def sefa(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form factorization of a generator's first layer (SeFa; Shen & Zhou 2021, "Closed-Form
    Factorization of Latent Semantics in GANs", CVPR).

    For a first layer y = A z, the unit directions n maximising ||A n||^2 are the eigenvectors of A^T A,
    ranked by eigenvalue. As in the authors' code, each output unit's weights are first scaled to unit norm.

    Args:
        weight: float (latent_dim, out_features): row i is how z_i feeds every output unit (i.e. A^T).

    Returns:
        (eigenvalues float32 (latent_dim,) descending, directions float32 (latent_dim, latent_dim) whose
        rows are orthonormal unit directions in z, in the same order).
    """
    w = weight.detach().double().cpu()
    w = w / w.norm(dim=0, keepdim=True).clamp_min(1e-12)
    values, vectors = torch.linalg.eigh(w @ w.T)
    order = torch.argsort(values, descending=True, stable=True)
    return values[order].float(), vectors[:, order].T.contiguous().float()


def axis_directions(indices: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """One-hot unit directions (K, latent_dim) along the given dimensions."""
    return torch.eye(latent_dim)[indices]


def compose(base: torch.Tensor, directions: torch.Tensor, values: torch.Tensor,
            offsets: torch.Tensor | None = None, amounts: torch.Tensor | None = None) -> torch.Tensor:
    """The code a set of slider positions stands for.

    z = base - sum_k <base, d_k> d_k + sum_k s_k d_k + sum_a alpha_a v_a: the sliders (values s_k) set
    the coordinates of ``base`` along orthonormal ``directions`` d_k; attribute sliders (amounts alpha_a)
    add multiples of their direction vectors v_a (``offsets``).

    Args:
        base: float (D,). directions: float (K, D), orthonormal rows. values: float (K,).
        offsets: float (A, D) or None. amounts: float (A,) or None.

    Returns:
        float32 (D,).
    """
    base, directions, values = base.float(), directions.float(), values.float()
    z = base - directions.T @ (directions @ base) + directions.T @ values
    if offsets is not None and len(offsets):
        z = z + offsets.float().T @ amounts.float()
    return z


def coordinates(code: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Slider positions (K,) of a code (D,) along orthonormal directions (K, D): <code, d_k>."""
    return directions.float() @ code.float()
