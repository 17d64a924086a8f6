"""The fairness audit of a face detector (DB-VAE or the standard CNN): face-detection recall per group of held-out
faces, each with its 95% Wilson interval and N, the variance of recall across groups (Amini et al. 2019's measure
of bias), the false-positive rate on held-out non-faces, and recall on a domain-shifted face set.

Groups come from CelebA's attribute labels on the labelled rows of the held-out split (:data:`GROUPS`). CelebA has
**no skin-tone label**: ``Pale_Skin`` is a weak, noisy proxy, and the paper's benchmark (PPB, Buolamwini & Gebru
2018) is not available offline, so these numbers are not PPB numbers and must not be quoted as such.

    python -m genhub.evaluation.fairness checkpoints/face-cnn-64 checkpoints/dbvae-faces-alpha-0.01 \
        [--domain_shift_dataset ../shared/data/faces_lfw_gray] [--json runs/fairness.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from genhub.data import DataError, DataSpec, ImageDataset, load_split
from genhub.evaluation.exports import load_export
from genhub.evaluation.intervals import wilson_interval
from genhub.hub.info import data_spec
from genhub.models.base import CheckpointError
from genhub.paths import located

THRESHOLD = 0.5
PROXY_NOTE = ("CelebA has no skin-tone label: Pale_Skin is a weak, noisy proxy for it (459 of 10,271 labelled faces). "
              "These are not the paper's PPB numbers.")


@dataclass(frozen=True)
class Group:
    """Held-out faces whose attribute labels all match ``conditions`` (column -> 0 or 1)."""

    name: str
    conditions: dict[str, int]


#: The audit's groups; the first four (sex x the Pale_Skin proxy) are the ones whose recall variance is the bias.
GROUPS: tuple[Group, ...] = (
    Group("male, pale skin", {"Male": 1, "Pale_Skin": 1}),
    Group("male, not pale skin", {"Male": 1, "Pale_Skin": 0}),
    Group("female, pale skin", {"Male": 0, "Pale_Skin": 1}),
    Group("female, not pale skin", {"Male": 0, "Pale_Skin": 0}),
    Group("eyeglasses", {"Eyeglasses": 1}),
    Group("wearing hat", {"Wearing_Hat": 1}),
    Group("bald", {"Bald": 1}),
    Group("mustache", {"Mustache": 1}),
    Group("young", {"Young": 1}),
    Group("not young", {"Young": 0}),
)
BIAS_GROUPS = 4


@dataclass(frozen=True)
class Rate:
    """``hits`` of ``n`` images called faces (P(face) >= :data:`THRESHOLD`), with the 95% Wilson interval."""

    name: str
    n: int
    hits: int
    rate: float
    low: float
    high: float

    @classmethod
    def of(cls, name: str, called_face: torch.Tensor) -> "Rate":
        n, hits = len(called_face), int(called_face.sum())
        low, high = wilson_interval(hits, n)
        return cls(name, n, hits, hits / n if n else float("nan"), low, high)


@torch.no_grad()
def face_probabilities(model, dataset: torch.utils.data.Dataset, batch_size: int = 256) -> torch.Tensor:
    """``model.face_probability`` of every item of a one-image dataset, in order: float32 (N,) in [0, 1]."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    found = [model.face_probability(next(iter(batch.values()))) for batch in loader]
    return torch.cat(found) if found else torch.zeros(0)


def group_rows(table, group: Group) -> list[int]:
    """Rows of a CelebA-style table with attribute labels (``has_attributes``) matching every condition; [] when
    the table has no such columns."""
    columns = ["has_attributes", *group.conditions]
    if any(column not in table.column_names for column in columns):
        return []
    values = table.select_columns(columns).to_dict()
    return [row for row, labelled in enumerate(values["has_attributes"]) if labelled
            and all(values[column][row] == wanted for column, wanted in group.conditions.items())]


def audit(model, faces: ImageDataset, nonfaces: ImageDataset, domain_shift: ImageDataset | None = None,
          domain_shift_name: str = "domain shift") -> dict:
    """The audit of one detector.

    Args:
        model: has ``face_probability(images) -> (B,)`` (e.g. :class:`~genhub.models.DBVAE`), eval mode.
        faces: held-out faces; its ``table`` gives the groups (see :func:`group_rows`).
        nonfaces: held-out non-faces (the false-positive rate). domain_shift: more faces from elsewhere, or None.

    Returns:
        ``{"groups": [Rate...] (all faces first, then each group with at least one face, then the domain-shifted
        set), "false_positive": Rate, "bias_variance": population variance of recall over the first
        :data:`BIAS_GROUPS` groups (None unless all four have faces), "threshold", "note"}``, Rates as dicts.
    """
    called = face_probabilities(model, faces) >= THRESHOLD
    rates = [Rate.of("all held-out faces", called)]
    bias = []
    for index, group in enumerate(GROUPS):
        rows = group_rows(faces.table, group)
        if rows:
            rates.append(Rate.of(group.name, called[rows]))
            if index < BIAS_GROUPS:
                bias.append(rates[-1].rate)
    if domain_shift is not None:
        rates.append(Rate.of(domain_shift_name, face_probabilities(model, domain_shift) >= THRESHOLD))
    false_positive = Rate.of("held-out non-faces called faces", face_probabilities(model, nonfaces) >= THRESHOLD)
    variance = float(torch.tensor(bias).var(unbiased=False)) if len(bias) == BIAS_GROUPS else None
    return {"groups": [asdict(rate) for rate in rates], "false_positive": asdict(false_positive),
            "bias_variance": variance, "threshold": THRESHOLD, "note": PROXY_NOTE}


def audit_metrics(report: dict) -> dict[str, float]:
    """The audit as flat card metrics: ``recall: <group> (N=...)`` for each group, the false-positive rate and the
    bias variance."""
    metrics = {f"recall: {rate['name']} (N={rate['n']})": rate["rate"] for rate in report["groups"]}
    fp = report["false_positive"]
    metrics[f"false-positive rate on non-faces (N={fp['n']})"] = fp["rate"]
    if report["bias_variance"] is not None:
        metrics["recall variance across sex x Pale_Skin groups (bias)"] = report["bias_variance"]
    return metrics


def held_out_sets(spec: DataSpec, domain_shift_dataset: str | None = None) -> tuple[ImageDataset, ImageDataset,
                                                                                     ImageDataset | None]:
    """The held-out faces and non-faces a DB-VAE export's data spec names, and the domain-shifted faces (or None)."""
    faces, nonfaces = load_split(spec, "test", "pixel_values"), load_split(spec, "test", "nonface_values")
    shifted = None
    if domain_shift_dataset:
        shifted = load_split(DataSpec(domain_shift_dataset, spec.resolution, spec.channels), "test")
    return faces, nonfaces, shifted


def format_table(reports: dict[str, dict]) -> str:
    """A markdown table: one row per group, one column per model: recall [95% interval]; N in the group column."""
    names = list(reports)
    first = reports[names[0]]
    lines = ["| group (N) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for index, rate in enumerate(first["groups"] + [first["false_positive"]]):
        cells = []
        for name in names:
            row = (reports[name]["groups"] + [reports[name]["false_positive"]])[index]
            cells.append(f"{row['rate']:.3f} [{row['low']:.3f}, {row['high']:.3f}]")
        lines.append(f"| {rate['name']} ({rate['n']}) | " + " | ".join(cells) + " |")
    variances = [reports[name]["bias_variance"] for name in names]
    lines.append("| recall variance, sex x Pale_Skin (bias) | " + " | ".join(
        "n/a" if value is None else f"{value:.2e}" for value in variances) + " |")
    return "\n".join(lines) + f"\n\n{PROXY_NOTE}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Per-group face-detection recall of DB-VAE / CNN exports.")
    parser.add_argument("exports", nargs="+", help="export folders of family dbvae")
    parser.add_argument("--domain_shift_dataset", default=None, help="more held-out faces, e.g. faces_lfw_gray")
    parser.add_argument("--json", default=None, help="write the reports here")
    args = parser.parse_args(argv)
    reports = {}
    try:
        for folder in args.exports:
            model, info = load_export(Path(folder), ("dbvae",))
            spec = located(data_spec(info))
            reports[Path(folder).name] = audit(model, *held_out_sets(spec, args.domain_shift_dataset),
                                               domain_shift_name=Path(args.domain_shift_dataset or "").name)
    except (CheckpointError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(reports, indent=2))
    print(format_table(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
