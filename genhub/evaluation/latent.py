"""Measuring a trained VAE's latent space at export: held-out reconstruction and KL, slider ranking,
active units, attribute directions and the outlier reference (stored by
:class:`genhub.models.latent_space.LatentSpace`)."""

from __future__ import annotations

import numpy as np
import torch

from genhub.evaluation.metrics import psnr
from genhub.models.latent_space import LatentSpace

#: Burda et al. 2016 (Importance Weighted Autoencoders, section 5.2): a unit is active when the variance
#: of its posterior mean over the data exceeds this.
ACTIVE_UNIT_THRESHOLD = 0.01
#: An attribute gets a direction only when at least this many labelled images have it and lack it.
MIN_ATTRIBUTE_COUNT = 10


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


@torch.no_grad()
def reconstruction_errors(model, dataset: torch.utils.data.Dataset, batch_size: int = 256) -> torch.Tensor:
    """Each image's ||x - model.reconstruct(x)||^2 (:func:`genhub.models.vae.reconstruction_error`) over a dataset
    of ``pixel_values`` in [-1, 1], in order: float32 (N,). The reconstruction term of every autoencoder family
    (the VAE's from z = mu, as ``VAE.negative_elbo``'s)."""
    from genhub.models.vae import reconstruction_error

    device = next(model.parameters()).device
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    return torch.cat([reconstruction_error(model.reconstruct(batch["pixel_values"]), batch["pixel_values"].to(device))
                      .cpu() for batch in loader])


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


def reconstruction_quality(reconstruction: torch.Tensor, pixels: int) -> tuple[float, float]:
    """A VAE's held-out reconstruction MSE and PSNR: the one definition behind both the export's
    ``heldout_mse`` / ``heldout_psnr_db`` (:func:`measure_latent_space`) and ``genhub-evaluate``'s
    "reconstruction MSE" / "reconstruction PSNR (dB)".

    The reconstruction is the model's float decode of z = mu (``VAE.negative_elbo``), not 8-bit quantised: it is
    the error the model is trained on and that ranks images for the outlier score, and rounding to 8 bits would
    add at most (1/255)^2 / 12 ~ 1.3e-6 to the MSE (under 0.01 dB at the PSNRs a VAE reaches).

    Args:
        reconstruction: float (N,), N >= 1, each image's sum of squared errors on pixels in [-1, 1] (the
            ``reconstruction`` output of ``VAE.negative_elbo``).
        pixels: values per image, channels * height * width.

    Returns:
        (mse, psnr_db): mean squared error per pixel value with pixels scaled to [0, 1], pooled over all images,
        and its PSNR in dB (:func:`genhub.evaluation.metrics.psnr`: of the pooled MSE, not a mean of per-image PSNRs).
    """
    mse = float(reconstruction.double().sum() / (len(reconstruction) * pixels) / 4.0)
    return mse, psnr(mse)


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
        (the :class:`LatentSpace`, metrics). Metrics (floats): ``heldout_images``, ``heldout_mse`` and
        ``heldout_psnr_db`` (see :func:`reconstruction_quality`), ``heldout_neg_elbo_nats`` and
        ``heldout_kl_nats`` (means per image), ``active_units``, ``attribute_directions`` (how many), and
        ``kl_nats/z<j>`` for the ``num_ranked`` highest dims.
    """
    held = encode_dataset(model, held_out, batch_size)
    mse, psnr_db = reconstruction_quality(held["reconstruction"], model.channels * model.resolution ** 2)
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
        "heldout_psnr_db": psnr_db,
        "heldout_neg_elbo_nats": float(held["neg_elbo"].double().mean()),
        "heldout_kl_nats": float(held["kl"].double().sum(1).mean()),
        "active_units": float(active_units(held["mu"])),
        "attribute_directions": float(len(space.directions)),
    }
    for index in space.slider_order()[:num_ranked].tolist():
        metrics[f"kl_nats/z{index}"] = float(space.kl_per_dim[index])
    return space, metrics
