"""A newcomer's data: ../shared/data's folders made from pinned Hub datasets, through the local Hub-compatible
server (the real huggingface_hub client in a subprocess); offline, one clear line and the shipped recipes."""

import io
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
from hub_server import HubServer
from PIL import Image

from genhub.app import starters
from genhub.data import DataError, DataSpec, load_split
from genhub.hub_data import CELEBA, FLOWERS, held_out, make_hub_data
from genhub.models.face_features import CELEBA_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[1]
FACES_PER_SHARD = 8


def _parquet(columns: dict, features: dict) -> bytes:
    buffer = io.BytesIO()
    datasets.Dataset.from_dict(columns, features=datasets.Features(features)).to_parquet(buffer)
    return buffer.getvalue()


def _celeba_shard(shard: int) -> bytes:
    """A shard in the Hub copy's layout: 178 x 218 images, ``label``, ``image_id``, the attributes as -1/1."""
    rows = range(shard * FACES_PER_SHARD, (shard + 1) * FACES_PER_SHARD)
    rng = np.random.default_rng(shard)
    images = [Image.fromarray(rng.integers(0, 255, (218, 178, 3), dtype=np.uint8)) for _ in rows]
    attributes = {name: [1 if (name == "Eyeglasses" and row % 3 == 0) or (name == "Smiling" and row % 2) else -1
                         for row in rows] for name in CELEBA_ATTRIBUTES}
    return _parquet({"image": images, "label": [0] * len(rows), "image_id": [f"{row + 1:06d}.jpg" for row in rows],
                     **attributes},
                    {"image": datasets.Image(), "label": datasets.Value("int64"), "image_id": datasets.Value("string"),
                     **{name: datasets.Value("int64") for name in CELEBA_ATTRIBUTES}})


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = HubServer(tmp_path_factory.mktemp("hub")).start()
    yield server
    server.stop()


def test_the_folders_are_made_from_the_pinned_files_in_shared_datas_layout(hub, tmp_path):
    celeba_sha = hub.upload(CELEBA.repo_id, {name: _celeba_shard(shard) for shard, name in enumerate(CELEBA.files)},
                            kind="datasets")
    flowers = [Image.new("RGB", (300, 200), (200, 40 + 5 * k, 90)) for k in range(20)]
    flowers_sha = hub.upload(FLOWERS.repo_id, {FLOWERS.files[0]: _parquet(
        {"image": flowers, "label": [k % 3 for k in range(20)]},
        {"image": datasets.Image(), "label": datasets.Value("int64")})}, kind="datasets")
    hub.upload(CELEBA.repo_id, {CELEBA.files[0]: b"a later commit the recipe never reads"}, kind="datasets")
    script = (f"from dataclasses import replace\nfrom genhub.hub_data import CELEBA, FLOWERS, make_hub_data\n"
              f"make_hub_data({str(tmp_path / 'hub')!r}, replace(CELEBA, revision={celeba_sha!r}), "
              f"replace(FLOWERS, revision={flowers_sha!r}))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **hub.env(tmp_path / "home")})
    assert result.returncode == 0, result.stderr[-3000:]
    folder = tmp_path / "hub"
    ids = [f"{row + 1:06d}.jpg" for row in range(6 * FACES_PER_SHARD)]
    test_ids = [image_id for image_id in ids if held_out(image_id)]
    assert 0 < len(test_ids) < len(ids)  # both splits exist with these ids

    faces = datasets.load_dataset("parquet", data_files={
        split: str(folder / "faces_celeba" / f"{split}-00000-of-00001.parquet") for split in ("train", "test")})
    assert sorted(faces["test"]["image_id"]) == test_ids and len(faces["train"]) == len(ids) - len(test_ids)
    first = faces["train"][0]
    assert first["image"].size == (64, 64) and first["has_attributes"] is True
    row = int(first["image_id"][:6]) - 1
    assert first["Eyeglasses"] == int(row % 3 == 0) and first["Smiling"] == row % 2 and first["Male"] == 0  # -1 -> 0
    sketches = load_split(DataSpec(str(folder / "sketch2face_celeba_128"), 128, 3,
                                   {"real_A": "input", "real_B": "target"}), "train")
    assert len(sketches) == len(faces["train"]) and set(np.unique(np.asarray(sketches.image(0, "input")))) <= {0, 255}
    glasses = datasets.load_dataset("parquet", data_dir=str(folder / "unpaired_celeba_eyeglasses"))["train"]
    expected = ["B" if (int(i[:6]) - 1) % 3 == 0 else "A" for i in faces["train"]["image_id"]]
    assert glasses["domain"] == expected
    flowers_made = load_split(DataSpec(str(folder / "nonface_flowers_128"), 128), "train")
    assert flowers_made.image(0).size == (128, 128)
    lfw = datasets.load_dataset("parquet", data_dir=str(folder / "faces_lfw_gray"))
    assert (len(lfw["train"]), len(lfw["test"])) == (90, 10) and lfw["test"][0]["image"].size == (64, 64)
    card = (folder / "faces_celeba" / "README.md").read_text()
    assert celeba_sha in card and "non-commercial" in card
    assert not (tmp_path / "hub.partial").exists()

    again = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                                "HF_HOME": str(tmp_path / "empty-home")})
    assert again.returncode == 0, again.stderr[-2000:]  # complete already: nothing is fetched


def test_offline_nothing_is_made_and_the_first_run_says_it_uses_the_shipped_data(tmp_path, monkeypatch, capsys):
    with pytest.raises(DataError, match="could not be downloaded"):
        make_hub_data(tmp_path / "hub")  # conftest sets HF_HUB_OFFLINE=1
    assert not (tmp_path / "hub").exists()
    monkeypatch.setattr(starters, "SHARED_DATA", tmp_path / "no-shared-data")
    monkeypatch.setattr("genhub.hub_data.HUB_DATA", tmp_path / "hub")
    assert starters.fetch_hub_data() is None
    assert "the Hugging Face Hub cannot be reached: training on the data shipped with scikit-image" in \
        capsys.readouterr().out
