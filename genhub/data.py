"""One entry point for image datasets: Hub ids, local parquet folders, image folders, ``lfw-subset``; and for the
audio of voice conversion, as log-mel spectrogram windows (:class:`SpectrogramWindows`, ``DataSpec.modality``).

Images are decoded by :func:`genhub.images.sanitize_image` and clips by :func:`genhub.audio.read_audio` (not by
``datasets``), so a corrupt row gives an error that names the source and the row instead of a crash deep in a
worker.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import torch

from genhub.images import ImageError, center_crop_resize, sanitize_image, to_pixel_values
from genhub.shipped import SHIPPED, load_shipped

#: The embedded default: 100 LFW faces (25x25 grayscale) shipped inside scikit-image (see genhub.shipped).
LFW_SUBSET = "lfw-subset"
#: Fraction of rows held out when a source has no ``test`` split of its own.
HELD_OUT_FRACTION = 0.1
#: ImageDataset keeps its prepared images (8-bit PIL, at the model's resolution) in memory when they fit in
#: this many bytes, so only the first epoch decodes: bench/bench_data.py measured a 64x64 VAE step
#: waiting 16% of its time on JPEG decoding + Lanczos resizing without it.
CACHE_LIMIT_BYTES = 2 * 1024**3
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
#: A parquet shard in the Hub's layout names its split: ``paired-00000-of-00001.parquet`` is split ``paired``.
_SHARD = re.compile(r"^([A-Za-z]\w*?)-\d{5}-of-\d{5}\.parquet$")
MODALITIES = ("image", "audio")


class DataError(ValueError):
    """A dataset source cannot be used; the message names the source and the reason."""


def _load_local(path: Path) -> datasets.DatasetDict:
    parquet = sorted(path.rglob("*.parquet"))
    if not parquet:
        return datasets.load_dataset("imagefolder", data_dir=str(path))
    splits: dict[str, list[str]] = {}
    for file in parquet:
        shard = _SHARD.match(file.name)
        split = shard.group(1) if shard else re.split(r"[-_.]", file.name)[0]
        known = shard or split in ("train", "test", "validation")
        splits.setdefault(split if known else "train", []).append(str(file))
    for split, files in splits.items():
        if sum(pq.ParquetFile(file).metadata.num_rows for file in files) == 0:
            raise DataError(f"dataset {str(path)!r}: split {split!r} is empty")
    return datasets.load_dataset("parquet", data_files=splits)


def load_source(source: str) -> datasets.DatasetDict:
    """Load a source into a ``DatasetDict`` with at least ``train`` and ``test`` splits.

    A shipped source, and a local parquet folder whose files (paths, sizes, modification times) have not changed,
    is loaded once per process: the app reads the same faces for many tabs, and every ``datasets.load_dataset``
    call resolves and fingerprints the files again (~0.1 s each on 2 cores).

    Args:
        source: a shipped source (``"lfw-subset"``, see :mod:`genhub.shipped`); a local folder of parquet
            files in the Hub's layout (``train-*.parquet``, ``test-*.parquet``); a local folder of images
            (``imagefolder``); or a Hugging Face Hub dataset id such as ``"huggan/CelebA-faces"``.

    Returns:
        The splits. A source without a ``test`` split gets a deterministic held-out 10% of
        ``train`` (seed 0); ``validation`` is used as ``test`` when there is no ``test``.

    Raises:
        DataError: the folder does not exist, the Hub cannot be reached, or a split is empty.
    """
    content = _content(source)
    splits = _load_source(source) if content is None else _load_unchanged(source, content)
    return datasets.DatasetDict(splits)  # a new dict each time: what a caller changes stays its own


def _content(source: str) -> tuple | None:
    """What identifies the content of a source for :func:`_load_unchanged`, or None (not kept: image folders, Hub
    ids, datasets' own cache applies)."""
    if source in SHIPPED:
        return (source,)
    path = Path(source).expanduser()
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else []
    return tuple((str(file.resolve()), *_size_and_time(file)) for file in files) or None


def _size_and_time(file: Path) -> tuple[int, int]:
    status = file.stat()
    return status.st_size, status.st_mtime_ns


@functools.lru_cache(maxsize=16)
def _load_unchanged(source: str, content: tuple) -> datasets.DatasetDict:
    """:func:`_load_source`, kept per (source, content): a changed file is a new key."""
    return _load_source(source)


def _load_source(source: str) -> datasets.DatasetDict:
    path = Path(source).expanduser()
    try:
        if source in SHIPPED:
            splits = load_shipped(source)
        elif path.is_dir():
            splits = _load_local(path)
        elif path.exists() or not _HUB_ID.match(source) or source.startswith((".", "/", "~")):
            raise DataError(f"dataset {source!r}: no such folder (expected a folder, a Hub id or one of "
                            f"{sorted(SHIPPED)})")
        else:
            splits = datasets.load_dataset(source)
    except DataError:
        raise
    except Exception as error:  # datasets raises many types; all mean "this source is unusable"
        hint = " (the Hub is unreachable offline: use a local folder)" if not path.exists() else ""
        raise DataError(f"dataset {source!r} could not be loaded{hint}: {error}") from error
    if "test" not in splits and "validation" in splits:
        splits["test"] = splits.pop("validation")
    if "train" not in splits:
        raise DataError(f"dataset {source!r} has no train split (splits: {sorted(splits)})")
    if "test" not in splits:
        if len(splits["train"]) < 2:
            raise DataError(f"dataset {source!r} has {len(splits['train'])} rows: too few to hold any out")
        held_out = splits["train"].train_test_split(test_size=HELD_OUT_FRACTION, seed=0)
        splits = datasets.DatasetDict({"train": held_out["train"], "test": held_out["test"]})
    for name, split in splits.items():
        if len(split) == 0:
            raise DataError(f"dataset {source!r}: split {name!r} is empty")
    return splits


def image_columns(table: datasets.Dataset) -> list[str]:
    """Names of the columns whose feature is ``datasets.Image``, in table order."""
    return [name for name, feature in table.features.items() if isinstance(feature, datasets.Image)]


def audio_columns(table: datasets.Dataset) -> list[str]:
    """Names of the columns whose feature is ``datasets.Audio``, in table order."""
    return [name for name, feature in table.features.items() if isinstance(feature, datasets.Audio)]


class SpectrogramWindows(torch.utils.data.Dataset):
    """The clips of a table's audio column as log-mel windows, the 1-channel "images" of a voice CycleGAN: item i is
    ``{key: float32 (1, resolution, resolution) in [-1, 1]}`` (mel bands x frames; -1 is silence).

    Every clip is read by :func:`genhub.audio.read_audio` (mono, resampled to 16 kHz), turned into a log-mel
    spectrogram by :func:`genhub.audio.square_spec` ``(resolution)`` and cut by :func:`genhub.audio.windows` into
    windows that overlap by half; all on first use of the windows (``len``, an item), then kept in memory (16 KB a
    window at 64 x 64). Reading one clip (:meth:`clip`) needs none of that (librosa is slow to import).

    Parameters:
        table: the rows. column: the audio column. key: the item key (e.g. ``"real_A"``).
        resolution: mel bands = frames per window. source: the dataset's name, used in error messages.

    Raises:
        DataError: no such column, or a row whose clip cannot be read (the row and the reason).
    """

    def __init__(self, table: datasets.Dataset, column: str, key: str, resolution: int, source: str = "dataset"):
        from genhub import audio  # librosa and numba load only for audio data

        if column not in table.column_names:
            raise DataError(f"dataset {source!r} has no column {column!r}; its audio columns are "
                            f"{audio_columns(table)}")
        self.table = table.cast_column(column, datasets.Audio(decode=False))
        self.column, self.key, self.source, self.spec = column, key, source, audio.square_spec(resolution)

    @functools.cached_property
    def windows(self) -> torch.Tensor:
        """Every clip's windows, float32 (N, 1, resolution, resolution), in row order."""
        from genhub import audio

        return torch.cat([audio.windows(self.spec.mel(self.clip(row)), self.spec.frames)
                          for row in range(len(self.table))])

    def clip(self, row: int):
        """Row ``row``'s clip: float32 numpy (samples,) in [-1, 1], mono, at the spec's sample rate.

        Raises:
            DataError: the clip cannot be read.
        """
        from genhub.audio import AudioError, read_audio

        value = self.table[int(row)][self.column]
        try:
            return read_audio(value["bytes"] if value.get("bytes") is not None else value["path"],
                              self.spec.sample_rate)[0]
        except AudioError as error:
            raise DataError(f"dataset {self.source!r}, row {row}, column {self.column!r}: {error}") from error

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {self.key: self.windows[index]}


class ImageDataset(torch.utils.data.Dataset):
    """Rows of a ``datasets.Dataset`` as tensors ready for a model.

    Each item is a dict mapping every key of ``columns`` to a float32 tensor of shape
    (channels, resolution, resolution) with values in [-1, 1]: the image is sanitised, the
    largest centred square is cropped and resized with Lanczos. Grayscale images are repeated
    to 3 channels only when ``channels=3``. Prepared images are kept in memory (uint8) when the whole
    split fits in :data:`CACHE_LIMIT_BYTES` (as 8-bit pixels), so later epochs skip decoding.

    Parameters:
        table: the rows.
        columns: output key -> image column, e.g. ``{"pixel_values": "image"}``.
        resolution: output side length in pixels.
        channels: 1 or 3.
        source: the dataset's name, used in error messages.
    """

    def __init__(self, table: datasets.Dataset, columns: dict[str, str], resolution: int, channels: int = 3,
                 source: str = "dataset"):
        missing = [column for column in columns.values() if column not in table.column_names]
        if missing:
            raise DataError(
                f"dataset {source!r} has no column {missing[0]!r}; its image columns are {image_columns(table)}"
            )
        for column in columns.values():
            if isinstance(table.features[column], datasets.Image):
                table = table.cast_column(column, datasets.Image(decode=False))
        self.table, self.columns, self.resolution, self.channels, self.source = (
            table, columns, resolution, channels, source)
        size = len(table) * len(columns) * resolution * resolution * channels
        self._cache: dict[int, dict] | None = {} if size <= CACHE_LIMIT_BYTES else None

    def __len__(self) -> int:
        return len(self.table)

    def image(self, index: int, column: str | None = None):
        """Row ``index`` of ``column`` (default: the first) as a sanitised, full-size PIL image."""
        column = column or next(iter(self.columns.values()))
        value = self.table[int(index)][column]
        if isinstance(value, dict):  # an undecoded datasets.Image: {"bytes": ..., "path": ...}
            value = value["bytes"] if value.get("bytes") is not None else value["path"]
        try:
            return sanitize_image(value, self.channels)
        except ImageError as error:
            raise DataError(f"dataset {self.source!r}, row {index}, column {column!r}: {error}") from error

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        prepared = self._cache.get(index) if self._cache is not None else None
        if prepared is None:
            prepared = {key: center_crop_resize(self.image(index, column), self.resolution)
                        for key, column in self.columns.items()}
            if self._cache is not None:
                self._cache[index] = prepared
        return {key: to_pixel_values(image) for key, image in prepared.items()}


class LabelledImageDataset(torch.utils.data.Dataset):
    """The rows of an :class:`ImageDataset` whose attribute labels are all known, with those labels: item i is
    ``{"pixel_values": ..., "labels": float32 (A,) in {0, 1}}`` (CelebA's 1 = present, 0 = absent).

    Parameters:
        images: the split, one image per row (key ``pixel_values``).
        attributes: the label columns, in order (integer 0/1 columns; null = unknown, such rows are left out).

    Raises:
        DataError: a missing attribute column, or no row with every label known.
    """

    def __init__(self, images: ImageDataset, attributes: list[str] | tuple[str, ...]):
        missing = [name for name in attributes if name not in images.table.column_names]
        if missing:
            raise DataError(f"dataset {images.source!r} has no attribute column {missing[0]!r}")
        values = images.table.select_columns(list(attributes)).to_dict()
        rows = [row for row in range(len(images)) if all(values[name][row] is not None for name in attributes)]
        if not rows:
            raise DataError(f"dataset {images.source!r}: no row has every label of {list(attributes)}")
        self.images = ImageDataset(images.table.select(rows), images.columns, images.resolution, images.channels,
                                   images.source)
        self.labels = torch.tensor([[float(values[name][row]) for name in attributes] for row in rows])
        self.attributes = list(attributes)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.images[index]["pixel_values"], "labels": self.labels[index]}


def select_domain(table: datasets.Dataset, column: str, value: str, source: str = "dataset") -> datasets.Dataset:
    """The rows of ``table`` whose ``column`` equals ``value`` (compared as text, so ``"1"`` matches 1).

    Raises:
        DataError: no such column, or no row has that value (the message lists the values found).
    """
    if column not in table.column_names:
        raise DataError(f"dataset {source!r} has no column {column!r} (columns: {table.column_names})")
    values = [str(v) for v in table[column]]
    rows = [index for index, v in enumerate(values) if v == str(value)]
    if not rows:
        raise DataError(f"dataset {source!r}: no row has {column} == {value!r} (values: {sorted(set(values))})")
    return table.select(rows)


class UnpairedImageDataset(torch.utils.data.Dataset):
    """Two unpaired image domains as one dataset, for CycleGAN: item i is ``{"real_A": ..., "real_B": ...}``.

    The length is that of the larger domain. Item i holds A[i % len(A)] and B[order[i] % len(B)], where
    ``order`` is a permutation of range(len) drawn once from ``seed``: the pairing is a fixed function of
    the seed (so an interrupted and resumed run sees the same batches), the loader's per-epoch shuffle
    changes which pairs share a batch, and every image of the smaller domain recurs about equally often.
    A fixed pairing loses nothing: CycleGAN's losses for the A image and the B image of an item do not
    interact (instance norm keeps samples independent).

    Parameters:
        domain_a: an :class:`ImageDataset` whose item key is ``"real_A"``.
        domain_b: an :class:`ImageDataset` whose item key is ``"real_B"``.
        seed: seeds the pairing permutation.
    """

    def __init__(self, domain_a: ImageDataset, domain_b: ImageDataset, seed: int = 0):
        self.domain_a, self.domain_b = domain_a, domain_b
        length = max(len(domain_a), len(domain_b))
        self.order = torch.randperm(length, generator=torch.Generator().manual_seed(seed)).tolist()

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {**self.domain_a[index % len(self.domain_a)], **self.domain_b[self.order[index] % len(self.domain_b)]}


def random_hflip(pixel_values: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image of a batch (B, C, H, W) left-right with probability 1/2.

    Done on the batch with the torch RNG (not in the data workers) so that a resumed training
    run, whose RNG state is restored, flips exactly the same images.
    """
    flip = torch.rand(pixel_values.shape[0], generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1).to(pixel_values.device), pixel_values.flip(-1), pixel_values)


# ------------------------------------------------------------------------------------------------ spec
@dataclass(frozen=True)
class DataSpec:
    """What a family trains on, made once by its argument parser and saved in ``training_info.json`` as
    ``"data"``; :func:`load_split` opens any split of it for training, evaluation and the app's tabs.

    Parameters:
        source: see :func:`load_source`.
        resolution: side in pixels of every item image.
        channels: 1 or 3.
        columns: item key -> image column (None: the first image column no other key names, in table order).
            ``{"pixel_values": None}`` for one image per row; ``{"real_A": "input", "real_B": "target"}`` for
            pairs; for unpaired data each key is one domain.
        domain_column: unpaired data in one source: the column naming each row's domain.
        domains: unpaired data: item key -> its ``domain_column`` value, e.g. ``{"real_A": "A", "real_B": "B"}``.
        source_b: unpaired data in two sources: the second key's source (``source`` holds the first).
        seed: seeds the unpaired A/B pairing (see :class:`UnpairedImageDataset`).
        modality: ``"image"``, or ``"audio"``: unpaired clips as :class:`SpectrogramWindows` (``resolution`` mel
            bands x frames, ``channels`` 1; the columns are audio columns).
    """

    source: str
    resolution: int = 64
    channels: int = 3
    columns: dict[str, str | None] = field(default_factory=lambda: {"pixel_values": None})
    domain_column: str | None = None
    domains: dict[str, str] = field(default_factory=dict)
    source_b: str | None = None
    seed: int = 0
    modality: str = "image"

    @property
    def unpaired(self) -> bool:
        return self.domain_column is not None or self.source_b is not None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DataSpec":
        return cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})

    def with_source(self, source: str) -> "DataSpec":
        """The same spec on another source (its image columns found afresh)."""
        return replace(self, source=source, columns=dict.fromkeys(self.columns), source_b=None)


def _columns(table: datasets.Dataset, wanted: dict[str, str | None], source: str,
             modality: str = "image") -> dict[str, str]:
    found = audio_columns(table) if modality == "audio" else image_columns(table)
    if not found and None in wanted.values():
        raise DataError(f"dataset {source!r} has no {modality} column (columns: {table.column_names}); name the "
                        "column")
    free = [column for column in found if column not in wanted.values()]
    columns = {}
    for key, column in wanted.items():
        if column is None:
            if not free:
                raise DataError(f"dataset {source!r} has {len(found)} image column(s) {found} for {len(wanted)} "
                                f"image(s) per row ({list(wanted)}); name the columns")
            column = free.pop(0)
        columns[key] = column
    return columns


def _domain_table(spec: DataSpec, split: str, key: str, index: int) -> tuple[datasets.Dataset, str]:
    if spec.source_b is not None:
        source = spec.source if index == 0 else spec.source_b
        return load_source(source)[split], source
    if spec.domain_column is None:
        raise DataError("unpaired data needs either a domain column (one dataset holding both domains) or a "
                        "second dataset for domain B")
    table = load_source(spec.source)[split]
    return select_domain(table, spec.domain_column, spec.domains.get(key, "AB"[index]), spec.source), spec.source


def load_split(spec: DataSpec, split: str = "train", key: str | None = None) -> torch.utils.data.Dataset:
    """One split of the data a spec names, ready for a model.

    Items map each key of ``spec.columns`` to float32 (channels, resolution, resolution) in [-1, 1].
    Unpaired specs give an :class:`UnpairedImageDataset` (each key from its own domain); others an
    :class:`ImageDataset` over rows. With ``key``, only that key's images: an :class:`ImageDataset` of one
    column or one domain, whose item key is ``key``.

    Raises:
        DataError: as :func:`load_source`; a missing column or domain; too few image columns; both a domain
            column and a second source; an unknown ``key``; audio that is not unpaired; an unknown modality.
    """
    if spec.modality not in MODALITIES:
        raise DataError(f"modality must be one of {MODALITIES}, got {spec.modality!r}")
    if spec.modality == "audio" and not spec.unpaired:
        raise DataError("audio data is for unpaired voice conversion: name its --domain_column (or a second dataset)")
    if key is not None and key not in spec.columns:
        raise DataError(f"no images {key!r} in this data (keys: {list(spec.columns)})")
    if spec.domain_column is not None and spec.source_b is not None:
        raise DataError("unpaired data needs either a domain column or a second dataset for domain B, not both")
    if not spec.unpaired:
        table = load_source(spec.source)[split]
        columns = _columns(table, spec.columns, spec.source)
        if key is not None:
            columns = {key: columns[key]}
        return ImageDataset(table, columns, spec.resolution, spec.channels, spec.source)
    parts = {}
    for index, (name, column) in enumerate(spec.columns.items()):
        if key is not None and name != key:
            continue
        table, source = _domain_table(spec, split, name, index)
        label = spec.domains.get(name, "AB"[index])
        found = _columns(table, {name: column}, source, spec.modality)
        where = f"{source} (domain {label})"
        parts[name] = (SpectrogramWindows(table, found[name], name, spec.resolution, where)
                       if spec.modality == "audio" else
                       ImageDataset(table, found, spec.resolution, spec.channels, where))
    if key is not None:
        return parts[key]
    return UnpairedImageDataset(*parts.values(), seed=spec.seed)
