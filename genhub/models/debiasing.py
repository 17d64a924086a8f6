"""DB-VAE's adaptive resampling (Amini et al. 2019, algorithm 1): draw training faces with probability inversely
related to how common their latent code is, so rare kinds of faces (as the encoder sees them) are seen more.

Once per epoch every training face x is encoded to mu(x) in R^k. For each latent i a histogram of the faces'
mu_i with ``num_bins`` equal bins between the smallest and largest value gives Q_i(z_i), the fraction of faces in
z_i's bin (a probability mass, so alpha compares with 1 / num_bins whatever the latents' scale; codes outside the
training range fall in the first or last bin). A face's sampling weight is

    product (the paper):  W(x) ∝ prod_i 1 / (Q_i(mu_i(x)) + alpha),   computed as exp(-sum_i log(Q_i + alpha)),
    max (the course lab): W(x) ∝ max_i p_i(x),  p_i(x) = (1 / (Q_i(mu_i(x)) + alpha)) / sum_faces (same),

normalised over the faces. alpha is the debiasing knob: small alpha resamples hard, alpha -> inf gives uniform
weights (no debiasing; ``alpha=inf`` is exactly uniform).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

COMBINATIONS = ("product", "max")
RESAMPLING_FILE = "resampling.safetensors"


@dataclass
class LatentDensity:
    """The per-latent histograms of one epoch's face codes and the weights they give.

    Attributes:
        edges: float64 (k, num_bins + 1), each latent's bin edges.
        mass: float64 (k, num_bins), the fraction of training faces in each bin (each row sums to 1).
        alpha: the debiasing parameter (``math.inf``: uniform weights).
        combine: ``"product"`` or ``"max"``.
        normalisers: float64 (k,), for ``max``: sum over the training faces of 1 / (Q_i + alpha).
        log_scores: float64 (N,), :meth:`log_score` of each training face (their softmax is the weights).
    """

    edges: torch.Tensor
    mass: torch.Tensor
    alpha: float
    combine: str
    normalisers: torch.Tensor
    log_scores: torch.Tensor

    @classmethod
    def fit(cls, mu: torch.Tensor, alpha: float, num_bins: int = 10, combine: str = "product") -> "LatentDensity":
        """Histograms of the training faces' codes ``mu`` (float (N, k)) and each face's score.

        Raises:
            ValueError: alpha not positive, fewer than one bin, an unknown ``combine``, or no codes.
        """
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0 (math.inf for no debiasing), got {alpha}")
        if num_bins < 1 or combine not in COMBINATIONS or mu.ndim != 2 or len(mu) == 0:
            raise ValueError(f"need num_bins >= 1 (got {num_bins}), combine in {COMBINATIONS} (got {combine!r}) "
                             f"and codes (N, k) with N >= 1 (got {tuple(mu.shape)})")
        mu = mu.double()
        low, high = mu.min(0).values, mu.max(0).values
        high = torch.where(high > low, high, low + 1.0)  # a constant latent: one full bin, any width
        steps = torch.linspace(0.0, 1.0, num_bins + 1, dtype=torch.float64)
        edges = low[:, None] + (high - low)[:, None] * steps[None, :]
        density = cls(edges, torch.zeros(mu.shape[1], num_bins, dtype=torch.float64), float(alpha), combine,
                      torch.ones(mu.shape[1], dtype=torch.float64), torch.zeros(0, dtype=torch.float64))
        bins = density.bins(mu)
        density.mass = torch.stack([torch.bincount(column, minlength=num_bins) for column in bins.T]).double() / len(mu)
        density.normalisers = (1.0 / (density.bin_mass(mu) + density.alpha)).sum(0)
        density.log_scores = density.log_score(mu)
        return density

    def bins(self, z: torch.Tensor) -> torch.Tensor:
        """The bin of each latent of each code: z float (N, k) -> int64 (N, k) in [0, num_bins)."""
        num_bins = self.mass.shape[1]
        inner = self.edges[:, 1:-1].contiguous()  # (k, num_bins - 1): a value on an inner edge goes to the right bin
        found = torch.searchsorted(inner, z.double().T.contiguous(), right=True).T
        return found.clamp(0, num_bins - 1)

    def bin_mass(self, z: torch.Tensor) -> torch.Tensor:
        """Q_i(z_i): float64 (N, k), the fraction of training faces sharing each latent's bin."""
        return torch.gather(self.mass, 1, self.bins(z).T).T

    def log_score(self, z: torch.Tensor) -> torch.Tensor:
        """log of the unnormalised weight of codes z (float (N, k)) -> float64 (N,); 0 for every code when alpha is
        inf. Comparable with :attr:`log_scores` (e.g. an uploaded face's percentile among the training faces)."""
        if math.isinf(self.alpha):
            return torch.zeros(len(z), dtype=torch.float64)
        inverse = self.bin_mass(z) + self.alpha
        if self.combine == "product":
            return -inverse.log().sum(1)
        return (1.0 / (inverse * self.normalisers)).max(1).values.log()

    @property
    def weights(self) -> torch.Tensor:
        """The training faces' sampling probabilities: float64 (N,), summing to 1."""
        return torch.softmax(self.log_scores, 0)

    def effective_sample_size(self) -> float:
        """Kish's (sum w)^2 / sum w^2: how many equally weighted faces the weights are worth (N when uniform)."""
        weights = self.weights
        return float(1.0 / weights.pow(2).sum())

    def save(self, folder: str | Path) -> None:
        save_file({"edges": self.edges, "mass": self.mass, "normalisers": self.normalisers,
                   "log_scores": self.log_scores}, str(Path(folder) / RESAMPLING_FILE),
                  metadata={"alpha": repr(self.alpha), "combine": self.combine})

    @classmethod
    def load(cls, path: str | Path) -> "LatentDensity":
        """Read :data:`RESAMPLING_FILE` (a folder or the file itself) written by :meth:`save`.

        Raises:
            ValueError: the file lacks a tensor or its metadata.
        """
        path = Path(path)
        path = path / RESAMPLING_FILE if path.is_dir() else path
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
        missing = {"edges", "mass", "normalisers", "log_scores"} - set(tensors) or {"alpha", "combine"} - set(metadata)
        if missing:
            raise ValueError(f"{path}: not a resampling file (missing {sorted(missing)})")
        alpha = math.inf if metadata["alpha"] == "inf" else float(metadata["alpha"])
        return cls(tensors["edges"], tensors["mass"], alpha, metadata["combine"], tensors["normalisers"],
                   tensors["log_scores"])
