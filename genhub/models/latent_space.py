"""What an export knows about a VAE's latent space, stored beside ``model.safetensors`` (safetensors
only, float32); measured at export by :func:`genhub.evaluation.latent.measure_latent_space`.

- ``latent_stats.safetensors``: ``kl_per_dim`` (latent_dim,), the mean KL(q(z_j|x) || N(0, 1)) of each
  dimension over the held-out split, in nats; ``heldout_neg_elbo`` (N,), the sorted negative ELBO of
  every held-out image, in nats (the reference distribution of the outlier score).
- ``directions.safetensors``: one (latent_dim,) tensor per attribute name (e.g. ``"Smiling"``), the mean
  posterior mean of training images with the attribute minus that of images without it; the metadata
  key ``counts`` holds ``{name: [positives, negatives]}`` as JSON. Absent when the data has no labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

STATS_FILE = "latent_stats.safetensors"
DIRECTIONS_FILE = "directions.safetensors"


@dataclass
class LatentSpace:
    """Facts about a trained VAE's latent space, measured at export
    (see :func:`genhub.evaluation.latent.measure_latent_space`).

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
    def load(cls, find: Callable[[str], Path | None]) -> "LatentSpace | None":
        """Read the files of an export; None when it has none. ``find(name)`` gives an export file's local path or
        None (see :meth:`genhub.models.base.GenhubModel._load_extras`)."""
        from safetensors import safe_open

        stats, directions = find(STATS_FILE), find(DIRECTIONS_FILE)
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
