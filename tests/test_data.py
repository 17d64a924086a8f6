import io

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from genhub.data import LFW_SUBSET, DataError, DataSpec, load_source, load_split, random_hflip


def _check_batch_item(item, channels, resolution):
    pixel_values = item["pixel_values"]
    assert pixel_values.shape == (channels, resolution, resolution)
    assert pixel_values.dtype == torch.float32
    assert -1.0 <= pixel_values.min() < pixel_values.max() <= 1.0


def test_parquet_folder_uses_its_own_test_split(faces_dir):
    splits = load_source(str(faces_dir))
    assert len(splits["train"]) == 64 and len(splits["test"]) == 16
    dataset = load_split(DataSpec(str(faces_dir), 32), "test")
    assert len(dataset) == 16
    _check_batch_item(dataset[3], 3, 32)


def test_grayscale_source_is_one_or_three_channels(faces_dir):
    gray = load_split(DataSpec(str(faces_dir), 16, 1))[0]["pixel_values"]
    rgb = load_split(DataSpec(str(faces_dir), 16, 3))[0]["pixel_values"]
    assert gray.shape == (1, 16, 16) and rgb.shape == (3, 16, 16)


def test_lfw_subset_is_the_embedded_default():
    splits = load_source(LFW_SUBSET)
    assert len(splits["train"]) == 90 and len(splits["test"]) == 10  # 100 faces, 10% held out
    gray_face = load_split(DataSpec(LFW_SUBSET, 32, 3))[0]["pixel_values"]
    _check_batch_item({"pixel_values": gray_face}, 3, 32)
    assert torch.equal(gray_face[0], gray_face[1])  # grayscale repeated, not tinted


def test_image_folder_without_test_split_gets_a_deterministic_held_out_part(tmp_path):
    for index in range(20):
        Image.new("RGB", (40, 30), (index * 10, 0, 0)).save(tmp_path / f"{index}.png")
    first, second = load_source(str(tmp_path)), load_source(str(tmp_path))
    assert len(first["train"]) == 18 and len(first["test"]) == 2
    assert first["test"][0]["image"].tobytes() == second["test"][0]["image"].tobytes()
    _check_batch_item(load_split(DataSpec(str(tmp_path), 8))[0], 3, 8)


def test_missing_folder_is_named():
    with pytest.raises(DataError, match="no such folder"):
        load_source("../definitely/not/here")


def test_unreachable_hub_id_says_so():
    with pytest.raises(DataError, match="nobody/no-such-dataset.*could not be loaded"):
        load_source("nobody/no-such-dataset")


def test_empty_dataset_is_refused(tmp_path):
    table = datasets.Dataset.from_dict({"image": []}, features=datasets.Features({"image": datasets.Image()}))
    table.to_parquet(str(tmp_path / "train-00000-of-00001.parquet"))
    table.to_parquet(str(tmp_path / "test-00000-of-00001.parquet"))
    with pytest.raises(DataError, match="is empty"):
        load_source(str(tmp_path))


def test_no_image_column_is_refused(tmp_path):
    datasets.Dataset.from_dict({"text": ["a", "b", "c"]}).to_parquet(str(tmp_path / "train-0.parquet"))
    with pytest.raises(DataError, match="has no image column"):
        load_split(DataSpec(str(tmp_path), 64))
    with pytest.raises(DataError, match="no column 'picture'"):
        load_split(DataSpec(str(tmp_path), 64, 3, {"pixel_values": "picture"}))


def test_unreadable_image_names_source_and_row(tmp_path):
    good = io.BytesIO()
    Image.new("RGB", (8, 8)).save(good, format="PNG")
    rows = [{"bytes": good.getvalue(), "path": None}, {"bytes": b"garbage", "path": None}] * 3
    features = datasets.Features({"image": datasets.Image()})
    datasets.Dataset.from_dict({"image": rows}, features=features).to_parquet(str(tmp_path / "train-0.parquet"))
    dataset = load_split(DataSpec(str(tmp_path), 8))
    dataset[0]
    bad_row = next(i for i in range(len(dataset)) if dataset.table[i]["image"]["bytes"] == b"garbage")
    with pytest.raises(DataError, match=rf"row {bad_row}, column 'image': it is not an image file genhub can read"):
        dataset[bad_row]


def _write_texts(folder, texts):
    for split in ("train", "test"):
        datasets.Dataset.from_dict({"text": texts}).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))


def test_an_unchanged_parquet_folder_is_read_once_and_a_changed_one_again(tmp_path, monkeypatch):
    _write_texts(tmp_path, ["a", "b"])
    calls = []
    real = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: calls.append(args) or real(*args, **kwargs))
    first = load_source(str(tmp_path))
    first["extra"] = first.pop("test")  # a caller's change to its dict stays its own
    second = load_source(str(tmp_path))
    assert len(calls) == 1 and sorted(second) == ["test", "train"] and second["train"]["text"] == ["a", "b"]
    _write_texts(tmp_path, ["a", "b", "c"])
    assert load_source(str(tmp_path))["train"]["text"] == ["a", "b", "c"] and len(calls) == 2


def test_random_hflip_mirrors_about_half_and_is_reproducible():
    batch = torch.arange(16.0).view(1, 1, 1, 16).repeat(200, 3, 4, 1)
    flipped = random_hflip(batch, torch.Generator().manual_seed(1))
    mirrored = (flipped[:, 0, 0, 0] == 15).sum().item()
    assert 70 < mirrored < 130
    assert torch.equal(flipped, random_hflip(batch, torch.Generator().manual_seed(1)))
    assert all(torch.equal(f, b) or torch.equal(f, b.flip(-1)) for f, b in zip(flipped, batch))


def test_prepared_images_are_cached_and_identical(faces_dir, monkeypatch):
    dataset = load_split(DataSpec(str(faces_dir), 16))
    first = dataset[5]["pixel_values"]
    monkeypatch.setattr(dataset, "image", lambda *args: pytest.fail("decoded again"))
    assert torch.equal(dataset[5]["pixel_values"], first)


def test_no_cache_when_the_split_would_not_fit(faces_dir, monkeypatch):
    import genhub.data

    monkeypatch.setattr(genhub.data, "CACHE_LIMIT_BYTES", 100)
    dataset = load_split(DataSpec(str(faces_dir), 16))
    first = dataset[2]["pixel_values"]
    assert torch.equal(dataset[2]["pixel_values"], first) and dataset._cache is None


def test_shipped_pairs_and_domains_serve_pix2pix_and_cyclegan_without_any_data():
    pairs = load_split(DataSpec("lfw-subset-sketch", 32, 3, {"real_A": "input", "real_B": "target"}))
    item = pairs[0]
    assert len(pairs) == 90 and item["real_A"].shape == item["real_B"].shape == (3, 32, 32)
    drawing = load_source("lfw-subset-sketch")["train"][0]["input"]
    assert drawing.mode == "L" and set(np.unique(np.asarray(drawing))) == {0, 255}
    assert 0.5 < (np.asarray(drawing) == 255).mean() < 0.97  # mostly white paper, some black lines
    domains = load_split(DataSpec("lfw-subset-faces-vs-patches", 32, 3, {"real_A": None, "real_B": None}, "domain",
                                  {"real_A": "A", "real_B": "B"}))
    assert len(domains.domain_a) + len(domains.domain_b) == 180
    assert set(domains.domain_a.table["domain_name"]) == {"face"}


def test_xdog_draws_black_lines_on_white_where_the_image_has_edges():
    from PIL import Image

    from genhub.images import xdog_sketch

    square = Image.new("L", (64, 64), 230)
    square.paste(40, (16, 16, 48, 48))
    drawing = np.asarray(xdog_sketch(square))
    assert drawing.shape == (64, 64) and set(np.unique(drawing)) <= {0, 255}
    assert drawing[2, 2] == 255 and drawing[32, 32] == 0  # bright paper stays white; the dark square is inked
    assert (drawing[:, 10] == 255).all()  # far from the edge: no line
