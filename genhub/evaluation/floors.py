"""Floors: what "shows its family's idea" means, in genhub-evaluate's numbers, one row per family in :data:`FLOORS`.

A floor is a few bounds on an export's metrics (``training_info.json``'s ``metrics``, written by genhub-evaluate).
A bound names a metric by its start, so one bound covers every metric of that name: both directions of a CycleGAN,
every group of a fairness audit. Image bounds are in genhub's face feature space of the current version
(:data:`SPACE`): a figure of another version (or of Inception) never passes or fails a floor. genhub-evaluate
records the verdict in the export (``training_info.json``'s ``floor``); the quiz plays only face generators whose
recorded floor passed (:data:`QUIZ_FAMILIES` share one floor: a player must see faces), and each tab shows a model
below its floor with its numbers and the command that trains the reference model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from genhub.models.face_features import NAME, VERSION

#: The feature space the image bounds are stated in (metric names carry it: "face check, genhub-face-features v2").
SPACE = f"{NAME} v{VERSION}"
FACE_CHECK, PRECISION = f"face check, {SPACE}", f"precision, {SPACE}"


@dataclass(frozen=True)
class Bound:
    """Every metric whose name starts with ``metric`` must be >= ``at_least`` and <= ``at_most`` (None: no bound)."""

    metric: str
    at_least: float | None = None
    at_most: float | None = None

    @property
    def limits(self) -> str:
        """The bound without the metric's name, e.g. ">= 0.95" or ">= 0, <= 1"."""
        return ", ".join(f"{sign} {value:g}" for sign, value in ((">=", self.at_least), ("<=", self.at_most))
                         if value is not None)

    def holds(self, value: float) -> bool:
        return (math.isfinite(value) and (self.at_least is None or value >= self.at_least)
                and (self.at_most is None or value <= self.at_most))


#: Faces a quiz player must take for photos: nearly every sample called a face, and most inside the real faces'
#: manifold (the targets of issue 28: >= 95% faces, precision >= 0.5).
QUIZ_FLOOR = (Bound(FACE_CHECK, at_least=0.95), Bound(PRECISION, at_least=0.5))
QUIZ_FAMILIES = ("dcgan", "vae", "ddpm", "stylegan")

#: family -> its floor. A family without a row has no floor yet (its exports record none).
FLOORS: dict[str, tuple[Bound, ...]] = {
    **{family: QUIZ_FLOOR for family in QUIZ_FAMILIES},
    "cgan": (Bound(FACE_CHECK, at_least=0.9),),
    "autoencoder": (Bound("reconstruction PSNR (dB)", at_least=18.0),),
    "pix2pix": (Bound(FACE_CHECK, at_least=0.9),),
    "cyclegan": (Bound(FACE_CHECK, at_least=0.9),),
}


@dataclass(frozen=True)
class Verdict:
    """A floor checked against an export's metrics: ``passed`` None when a bounded metric was not measured."""

    passed: bool | None
    lines: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"passed": self.passed, "checks": list(self.lines), "space": SPACE}


def declared(family: str, modality: str = "image") -> bool:
    """Whether ``family`` has a floor for data of ``modality`` (the floors are those of images: a voice CycleGAN has
    none yet)."""
    return family in FLOORS and modality == "image"


def check(family: str, metrics: dict[str, float], modality: str = "image") -> Verdict | None:
    """``family``'s floor against ``metrics`` (name -> value): one line per bounded metric ("name = value (bound):
    passed" or "FAILED", or "name (bound): not measured"); None when none is :func:`declared`."""
    if not declared(family, modality):
        return None
    lines, verdicts = [], []
    for bound in FLOORS[family]:
        found = {name: value for name, value in metrics.items() if name.startswith(bound.metric)}
        if not found:
            lines.append(f"{bound.metric} ({bound.limits}): not measured")
            verdicts.append(None)
        for name, value in found.items():
            holds = bound.holds(float(value))
            lines.append(f"{name} = {float(value):.3g} ({bound.limits}): {'passed' if holds else 'FAILED'}")
            verdicts.append(holds)
    passed = False if False in verdicts else (None if None in verdicts else True)
    return Verdict(passed, tuple(lines))


def recorded(info: dict) -> dict | None:
    """The floor verdict an export records (``training_info.json``'s ``floor``), if it is of this version's space."""
    floor = info.get("floor")
    return floor if isinstance(floor, dict) and floor.get("space") == SPACE else None
