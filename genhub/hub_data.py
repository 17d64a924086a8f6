"""A newcomer's data: the folders of this project's ``../shared/data``, made from public Hub datasets.

``../shared/data`` exists only on this project's machines. On a machine that has the Hub instead, the first run
downloads a few pinned files of two public datasets (:data:`CELEBA`, :data:`FLOWERS`; cached by huggingface_hub)
and derives from them the folders the starters name, in the same layout and columns (Parquet in the Hub's layout):

- ``faces_celeba``: 64 px faces (the 148 px centre square of CelebA's 178 x 218 aligned crops, Lanczos) with the 40
  attributes as 0/1 and ``has_attributes``; a deterministic 5% of image ids held out as ``test``.
- ``sketch2face_celeba_128``: XDoG drawings (:func:`genhub.images.xdog_sketch`) of 128 px faces -> the faces.
- ``unpaired_celeba_eyeglasses``: the same 64 px faces, domain A without eyeglasses, B with.
- ``nonface_flowers_128``: flower photos at 128 px, the non-faces.
- ``faces_lfw_gray``: scikit-image's 100 gray LFW faces at 64 px (the DB-VAE's other camera; no LFW on the Hub is
  pinned here).

Each folder's README.md names its source, revision and terms (CelebA: non-commercial research only), and the
model cards of CelebA-trained models repeat that. Unlike ``../shared/data`` the faces are split by image id, not
by identity (the Hub copy carries no identities). Nothing here runs without the Hub: :func:`make_hub_data` raises
:class:`~genhub.data.DataError` saying so, and the first run then trains on the shipped data.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import datasets
from PIL import Image

from genhub.data import DataError, image_columns
from genhub.images import xdog_sketch
from genhub.models.face_features import CELEBA_ATTRIBUTES
from genhub.paths import PROJECT_ROOT
from genhub.shipped import lfw_images

#: Where the folders are made (ignored by git, as all of data/).
HUB_DATA = PROJECT_ROOT / "data" / "hub"
#: Written last: a folder without it is an interrupted build (made again).
COMPLETE = "README.md"


@dataclass(frozen=True)
class HubFiles:
    """Files of one Hub dataset at one revision.

    Parameters:
        repo_id: the dataset's repo id.
        revision: the commit the files are read at (a full sha: the data never changes under a recipe).
        files: Parquet files in the repo.
        terms: the dataset's terms of use, as its cards state them (copied into each folder's README).
    """

    repo_id: str
    revision: str
    files: tuple[str, ...]
    terms: str


#: CelebA's aligned faces with the 40 attributes (columns ``image``, ``image_id`` and one int column per attribute),
#: the first 6 of its 132 shards (about 9,200 faces).
CELEBA = HubFiles(
    "huggan/CelebA-faces-with-attributes", "b47e27a7c6bc578361ce132da8c8dad573b98d9e",
    tuple(f"data/train-{shard:05d}-of-00132.parquet" for shard in range(6)),
    "CelebA (Liu, Luo, Wang & Tang, ICCV 2015): for non-commercial research purposes only (MMLab, CUHK).")
#: Oxford 102 Flowers photos (Nilsback & Zisserman 2008), one shard.
FLOWERS = HubFiles(
    "Shubbair/oxford_flowers_102", "39f5d5bb82fff94565469a7e30273779161a7195",
    ("data/train-00000-of-00001.parquet",),
    "Oxford 102 Category Flower Dataset (Nilsback & Zisserman 2008), as published by the Visual Geometry Group.")
#: CelebA's aligned crops are 178 x 218: the centre square of this side frames the face (../shared/data's crop).
CROP = 148
SKETCH_PAIRS = 1600
HELD_OUT_IN = 20  # one image id in 20 is held out


def download(source: HubFiles) -> datasets.Dataset:
    """``source``'s files (through the huggingface_hub cache) as one table.

    Raises:
        DataError: the Hub cannot be reached (the message says so) or a file is missing at that revision.
    """
    from huggingface_hub import hf_hub_download

    try:
        paths = [hf_hub_download(source.repo_id, name, repo_type="dataset", revision=source.revision)
                 for name in source.files]
    except Exception as error:  # offline mode, no network, a missing file: one meaning for the caller
        raise DataError(f"{source.repo_id}@{source.revision[:7]} could not be downloaded (the Hub is needed for "
                        f"this data): {error}") from error
    return datasets.load_dataset("parquet", data_files={"train": paths}, split="train")


def held_out(image_id: str) -> bool:
    """Whether an image id belongs to the test split (a stable hash, the same on every machine)."""
    return int(hashlib.sha256(image_id.encode()).hexdigest(), 16) % HELD_OUT_IN == 0


def square(image: Image.Image, side: int, crop: int | None = None) -> Image.Image:
    """The centre ``crop`` x ``crop`` square (default: the shorter side) in RGB, resized to ``side`` (Lanczos)."""
    image = image.convert("RGB")
    crop = min(crop or min(image.size), *image.size)
    left, top = (image.width - crop) // 2, (image.height - crop) // 2
    return image.crop((left, top, left + crop, top + crop)).resize((side, side), Image.Resampling.LANCZOS)


def _write(folder: Path, splits: dict[str, dict], features: dict, card: str) -> None:
    folder.mkdir(parents=True)
    for split, columns in splits.items():
        table = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
        table.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    (folder / COMPLETE).write_text(card)


def _card(title: str, sources: list[HubFiles], what: str) -> str:
    lines = [f"# {title}", "", what, "", "Made by genhub.hub_data from:"]
    lines += [f"- `{source.repo_id}` at `{source.revision}` ({', '.join(source.files)}). Terms: {source.terms}"
              for source in sources]
    return "\n".join(lines) + "\n"


def _faces(table: datasets.Dataset) -> dict:
    """The CelebA rows as 64 px and 128 px faces with 0/1 attributes, split by image id."""
    attributes = [name for name in CELEBA_ATTRIBUTES if name in table.column_names]
    if not attributes or "image" not in table.column_names:
        raise DataError(f"{CELEBA.repo_id}: expected an image column and CelebA's attributes, got {table.column_names}")
    ids = table["image_id"] if "image_id" in table.column_names else [f"{row:06d}" for row in range(len(table))]
    splits = {"train": [], "test": []}
    for row, image_id in enumerate(ids):
        example = table[row]
        face = square(example["image"], 128, CROP)
        labels = {name: int(int(example[name]) > 0) for name in attributes}  # CelebA writes -1/1; copies 0/1
        splits["test" if held_out(str(image_id)) else "train"].append((str(image_id), face, labels))
    return {"splits": splits, "attributes": attributes}


def make_hub_data(folder: str | Path = HUB_DATA, celeba: HubFiles = CELEBA, flowers: HubFiles = FLOWERS) -> Path:
    """Make the folders (see the module's docstring) in ``folder``, unless they are complete already; return it.

    Raises:
        DataError: the Hub cannot be reached or a file is not what is expected; nothing half-made is left.
    """
    folder = Path(folder)
    names = ("faces_celeba", "sketch2face_celeba_128", "unpaired_celeba_eyeglasses", "nonface_flowers_128",
             "faces_lfw_gray")
    if all((folder / name / COMPLETE).is_file() for name in names):
        return folder
    building = folder.with_name(folder.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    faces = _faces(download(celeba))
    flower_table = download(flowers)
    attributes = faces["attributes"]
    celeba_card = [celeba]
    image = datasets.Image()

    def face_columns(rows, side):
        return {"image": [face.resize((side, side), Image.Resampling.LANCZOS) for _, face, _ in rows],
                "image_id": [image_id for image_id, _, _ in rows], "has_attributes": [True] * len(rows),
                **{name: [labels[name] for _, _, labels in rows] for name in attributes}}

    attribute_features = {name: datasets.Value("int8") for name in attributes}
    _write(building / "faces_celeba", {split: face_columns(rows, 64) for split, rows in faces["splits"].items()},
           {"image": image, "image_id": datasets.Value("string"), "has_attributes": datasets.Value("bool"),
            **attribute_features},
           _card("faces_celeba (from the Hub)", celeba_card, "CelebA faces, 64 px, with the 40 attributes (0/1)."))
    pairs = {"train": faces["splits"]["train"][:SKETCH_PAIRS], "test": faces["splits"]["test"]}
    _write(building / "sketch2face_celeba_128",
           {split: {"input": [xdog_sketch(face) for _, face, _ in rows], "target": [face for _, face, _ in rows]}
            for split, rows in pairs.items()},
           {"input": image, "target": image},
           _card("sketch2face_celeba_128 (from the Hub)", celeba_card, "XDoG drawings of 128 px CelebA faces -> "
                 "the faces, for pix2pix."))
    _write(building / "unpaired_celeba_eyeglasses",
           {split: {"image": [face.resize((64, 64), Image.Resampling.LANCZOS) for _, face, _ in rows],
                    "domain": ["B" if labels.get("Eyeglasses") else "A" for _, _, labels in rows],
                    "domain_name": ["eyeglasses" if labels.get("Eyeglasses") else "no_eyeglasses"
                                    for _, _, labels in rows]}
            for split, rows in faces["splits"].items()},
           {"image": image, "domain": datasets.Value("string"), "domain_name": datasets.Value("string")},
           _card("unpaired_celeba_eyeglasses (from the Hub)", celeba_card, "64 px CelebA faces: A without "
                 "eyeglasses, B with (CelebA's Eyeglasses attribute, which includes sunglasses)."))
    column = image_columns(flower_table)[0]
    flower_rows = {"train": [], "test": []}
    for row in range(len(flower_table)):
        flower_rows["test" if held_out(f"flower-{row}") else "train"].append(
            square(flower_table[row][column], 128))
    _write(building / "nonface_flowers_128", {split: {"image": rows} for split, rows in flower_rows.items()},
           {"image": image}, _card("nonface_flowers_128 (from the Hub)", [flowers], "Flower photos, 128 px: "
                                   "non-faces for the face feature network, the DB-VAE and outlier scores."))
    _write_lfw(building / "faces_lfw_gray")
    if folder.exists():
        shutil.rmtree(folder)
    building.rename(folder)  # all or nothing: a killed build leaves only the .partial folder
    return folder


def _write_lfw(folder: Path) -> None:
    faces = [Image.fromarray(face).resize((64, 64), Image.Resampling.LANCZOS) for face in lfw_images(slice(0, 100))]
    _write(folder, {"train": {"image": faces[10:]}, "test": {"image": faces[:10]}}, {"image": datasets.Image()},
           "# faces_lfw_gray (shipped)\n\nscikit-image's 100 LFW faces (25 px, gray), upscaled to 64 px: the "
           "DB-VAE's other camera. LFW: Huang, Ramesh, Berg & Learned-Miller 2007, a public research benchmark.\n")
