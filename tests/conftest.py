"""Shared fixtures: small slices of ../shared/data (or scikit-image's faces on a machine without it),
and one tiny trained export reused by the app and quiz tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network; set before any HF import
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GENHUB_STATS_DIR", __import__("tempfile").mkdtemp(prefix="genhub-stats-"))  # not the repo

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))
SHARED_DATA = ROOT.parent / "shared" / "data"


def write_parquet_slice(source: Path, target: Path, rows: dict[str, int]) -> Path:
    """Copy the first N rows of each split of a Hub-layout parquet folder (schema metadata kept)."""
    target.mkdir(parents=True, exist_ok=True)
    for split, count in rows.items():
        table = pq.read_table(next(source.glob(f"{split}-*.parquet")))
        pq.write_table(table.slice(0, count), target / f"{split}-00000-of-00001.parquet")
    return target


def _faces_from_skimage(target: Path, rows: dict[str, int]) -> Path:
    import datasets
    from skimage.data import lfw_subset

    faces = (lfw_subset()[:100] * 255).astype(np.uint8)
    target.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, count in rows.items():
        images = [np.repeat(face[:, :, None], 3, axis=2) for face in faces[start:start + count]]
        start += count
        table = datasets.Dataset.from_dict({"image": images}, features=datasets.Features({"image": datasets.Image()}))
        table.to_parquet(str(target / f"{split}-00000-of-00001.parquet"))
    return target


@pytest.fixture(scope="session")
def faces_dir(tmp_path_factory) -> Path:
    """A parquet folder in the Hub's layout: 64 train + 16 test faces (64x64 RGB)."""
    target = tmp_path_factory.mktemp("faces")
    rows = {"train": 64, "test": 16}
    if (SHARED_DATA / "faces_celeba").is_dir():
        return write_parquet_slice(SHARED_DATA / "faces_celeba", target, rows)
    return _faces_from_skimage(target, rows)


def tiny_dcgan_args(dataset: Path | str, output_dir: Path, *extra: str) -> list[str]:
    """Flags for a DCGAN small enough to train in a second on two cores."""
    return ["--dataset", str(dataset), "--output_dir", str(output_dir), "--resolution", "32", "--ngf", "8",
            "--ndf", "8", "--latent_dim", "16", "--train_batch_size", "8", "--num_grid_images", "4",
            "--save_images_steps", "5", *extra]


@pytest.fixture(scope="session")
def tiny_export(faces_dir, tmp_path_factory) -> Path:
    """A DCGAN export trained for 6 steps through the real training entry point."""
    import train_dcgan

    output = tmp_path_factory.mktemp("export") / "dcgan"
    train_dcgan.main(train_dcgan.parse_args(tiny_dcgan_args(faces_dir, output, "--max_train_steps", "6")))
    return output
