"""The conditional DCGAN: the projection discriminator uses the label, the generator follows it, labelled rows
and their labels, and training and export through the real entry point. Exact resume is tests/test_resume.py's
``cgan`` row; conditional accuracy is tests/test_evaluate.py's."""

import json

import pytest
import torch
from PIL import Image

from conftest import tiny_cgan_args, train_tiny
from genhub.data import DataError, DataSpec, LabelledImageDataset, load_split
from genhub.models import CGAN
from genhub.models.cgan import signed

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


def test_the_projection_discriminator_uses_the_label():
    torch.manual_seed(0)
    model = CGAN(32, ["Male", "Smiling"], 16, 3, 8, 8).eval()
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    with_male, without = model.labels({"Male": True}, 4), model.labels({}, 4)
    changed = model.discriminator(images, with_male) - model.discriminator(images, without)
    assert changed.abs().min() > 0
    # exactly the projection term: s(y)^T V pool(phi(x)) moves by 2 * <v_Male, pool(phi(x))>
    phi = model.discriminator.features(images).mean((2, 3))
    expected = 2 * phi @ model.discriminator.projection.weight[:, 0]
    assert torch.allclose(changed, expected, atol=1e-5)


def test_the_generator_follows_the_label_and_the_seed():
    model = CGAN(32, ["Male", "Smiling"], 16, 3, 8, 8).eval()
    smiling = model.sample(2, torch.Generator().manual_seed(1), labels=model.labels({"Smiling": True}, 2))
    plain = model.sample(2, torch.Generator().manual_seed(1), labels=model.labels({}, 2))
    assert smiling.shape == (2, 3, 32, 32) and smiling.abs().max() <= 1
    assert not torch.equal(smiling, plain)
    assert torch.equal(plain, model.sample(2, torch.Generator().manual_seed(1), labels=model.labels({}, 2)))
    assert signed(torch.tensor([[1.0, 0.0]])).tolist() == [[1.0, -1.0]]
    with pytest.raises(ValueError, match="unknown attribute"):
        model.labels({"Wings": True})
    with pytest.raises(ValueError, match="at least one attribute"):
        CGAN(32, [])


def test_labelled_rows_keep_only_known_labels(labelled_faces_dir, faces_dir):
    images = load_split(DataSpec(str(labelled_faces_dir), 32), "train")
    labelled = LabelledImageDataset(images, ["Male", "Smiling"])
    assert len(labelled) == len(images)  # this folder holds labelled rows only
    item = labelled[3]
    assert item["pixel_values"].shape == (3, 32, 32)
    assert item["labels"].tolist() == [float(images.table[3]["Male"]), float(images.table[3]["Smiling"])]
    with pytest.raises(DataError, match="no attribute column 'Wings'"):
        LabelledImageDataset(images, ["Wings"])
    mixed = load_split(DataSpec(str(faces_dir), 32), "train")  # rows with and (on CelebA) without labels
    if "Male" in mixed.table.column_names:
        known = [value is not None for value in mixed.table["Male"]]
        assert len(LabelledImageDataset(mixed, ["Male"])) == sum(known)
    with pytest.raises(DataError, match="no attribute column"):
        LabelledImageDataset(load_split(DataSpec("lfw-subset", 32), "train"), ["Male"])


def test_training_and_export_through_the_real_entry_point(labelled_faces_dir, tmp_path):
    folder = train_tiny("cgan", tiny_cgan_args(labelled_faces_dir, tmp_path / "out", "--max_train_steps", "3"))
    info = json.loads((folder / "training_info.json").read_text())
    assert info["family"] == "cgan" and info["config"]["attributes"] == ["Male", "Smiling"]
    assert "Trained on the 64 training rows" in info["description"]
    model = CGAN.from_pretrained(str(folder))
    assert model.attributes == ["Male", "Smiling"]
    grid = Image.open(folder / "samples.png")  # rows of one z; columns: none, Male, Smiling
    assert grid.size == (3 * (32 + 2) + 2, 2 * (32 + 2) + 2)
