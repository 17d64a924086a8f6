"""training_info.json: the DataSpec a run records, and exports written before it was recorded."""

import json

import pytest

from genhub.data import DataError, DataSpec, load_split
from genhub.hub.info import data_spec, read_training_info, save_training_info


def test_a_run_records_its_spec_and_the_spec_reopens_its_data(tiny_export, faces_dir):
    info = read_training_info(tiny_export)
    spec = data_spec(info)
    assert spec == DataSpec(str(faces_dir), 32, 3, {"pixel_values": None})
    assert info["data"] == spec.to_dict() and DataSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    held_out = load_split(spec, "test")
    assert len(held_out) == 16 and held_out[0]["pixel_values"].shape == (3, 32, 32)


LEGACY = {"dataset": "some/folder", "resolution": 64, "image_column": "image",
          "args": {"channels": 3, "seed": 2, "input_column": "input", "target_column": "target",
                   "domain_column": "domain", "domain_a": "A", "domain_b": "B", "dataset_b": None}}


@pytest.mark.parametrize("family, expected", [
    ("dcgan", DataSpec("some/folder", 64, 3, {"pixel_values": "image"}, seed=2)),
    ("vae", DataSpec("some/folder", 64, 3, {"pixel_values": "image"}, seed=2)),
    ("pix2pix", DataSpec("some/folder", 64, 3, {"real_A": "input", "real_B": "target"}, seed=2)),
    ("cyclegan", DataSpec("some/folder", 64, 3, {"real_A": None, "real_B": None}, "domain",
                          {"real_A": "A", "real_B": "B"}, None, 2)),
])
def test_exports_from_before_the_spec_get_one_rebuilt(family, expected):
    assert data_spec({**LEGACY, "family": family}) == expected


def test_no_dataset_is_a_clear_error():
    with pytest.raises(DataError, match="names no training dataset"):
        data_spec({"family": "dcgan"})


def test_a_legacy_info_still_renders_its_card(tiny_export, tmp_path):
    info = read_training_info(tiny_export)
    legacy = {k: v for k, v in info.items() if k not in ("data", "in_app", "paper_url")}
    legacy.update(registry_key="dcgan-faces", image_column=None)  # fields the old trainer wrote
    save_training_info(tmp_path, legacy)
    card = (tmp_path / "README.md").read_text()
    assert "# " in card and "DCGAN" in card and "| optimisation steps | 6 |" in card
    assert read_training_info(tmp_path) == legacy


def test_the_card_says_whether_the_model_passes_its_floor(tiny_export, tmp_path):
    from genhub.evaluation import floors

    info = read_training_info(tiny_export)
    metrics = {floors.FACE_CHECK: 0.4, floors.PRECISION: 0.7}
    verdict = floors.check("dcgan", metrics)
    save_training_info(tmp_path, {**info, "metrics": metrics, "floor": verdict.as_dict()})
    card = (tmp_path / "README.md").read_text()
    assert "This model is **below** its family's floor" in card and f"in {floors.SPACE}" in card
    assert f"- {floors.FACE_CHECK} = 0.4 (>= 0.95): FAILED" in card
