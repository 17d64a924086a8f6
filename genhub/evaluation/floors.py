"""Floors: what "shows its family's idea" means, in genhub-evaluate's numbers, one row per family in :data:`FLOORS`
(images) and :data:`VOICE_FLOORS` (audio).

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

#: The feature space the image bounds are stated in (metric names carry it: "face check, genhub-face-features v3").
SPACE = f"{NAME} v{VERSION}"
FACE_CHECK, PRECISION = f"face check, {SPACE}", f"precision, {SPACE}"


@dataclass(frozen=True)
class Bound:
    """Every metric whose name starts with ``metric`` must be >= ``at_least`` and <= ``at_most`` (None: no bound).
    With ``relative_to``, the bounds are on its ratio to the metric named the same plus that suffix (e.g. a
    conversion's distance to the target over the unconverted clip's), and the suffixed metrics are not bounded."""

    metric: str
    at_least: float | None = None
    at_most: float | None = None
    relative_to: str | None = None

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
    # 16 px grey samples: judged since v3, whose face check holds at 16 px and in grey (issue 28's target: >= 80%)
    "pixelcnn": (Bound(FACE_CHECK, at_least=0.8),),
}
#: family -> its floor on audio (a voice CycleGAN): each direction's log-mel distance to the true clip of the target
#: voice (after DTW) at most 0.8 of the unconverted clip's, i.e. the conversion goes a fifth of the way or more.
VOICE_FLOORS: dict[str, tuple[Bound, ...]] = {
    "cyclegan": (Bound("dtw_l1 ", at_most=0.8, relative_to=" unconverted"),),
}


@dataclass(frozen=True)
class Verdict:
    """A floor checked against an export's metrics: ``passed`` None when a bounded metric was not measured."""

    passed: bool | None
    lines: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"passed": self.passed, "checks": list(self.lines), "space": SPACE}


def _floor(family: str, modality: str) -> tuple[Bound, ...] | None:
    return (VOICE_FLOORS if modality == "audio" else FLOORS if modality == "image" else {}).get(family)


def declared(family: str, modality: str = "image") -> bool:
    """Whether ``family`` has a floor for data of ``modality`` ("image": :data:`FLOORS`, "audio":
    :data:`VOICE_FLOORS`)."""
    return _floor(family, modality) is not None


def _measured(bound: Bound, metrics: dict[str, float]) -> dict[str, tuple[float, str]]:
    """name -> (the bounded value, how it reads) of every metric ``bound`` covers."""
    found = {}
    for name, value in metrics.items():
        if not name.startswith(bound.metric) or (bound.relative_to and name.endswith(bound.relative_to)):
            continue
        if bound.relative_to is None:
            found[name] = (float(value), f"{float(value):.3g}")
        else:
            base = float(metrics.get(name + bound.relative_to, math.nan))
            ratio = float(value) / base if base > 0 else math.nan
            found[name] = (ratio, f"{float(value):.3g} = {ratio:.2f} x the{bound.relative_to} {base:.3g}")
    return found


def check(family: str, metrics: dict[str, float], modality: str = "image") -> Verdict | None:
    """``family``'s floor for ``modality`` against ``metrics`` (name -> value): one line per bounded metric ("name =
    value (bound): passed" or "FAILED", or "name (bound): not measured"); None when none is :func:`declared`."""
    floor = _floor(family, modality)
    if floor is None:
        return None
    lines, verdicts = [], []
    for bound in floor:
        found = _measured(bound, metrics)
        if not found:
            lines.append(f"{bound.metric.strip()} ({bound.limits}): not measured")
            verdicts.append(None)
        for name, (value, reads) in found.items():
            holds = bound.holds(value)
            lines.append(f"{name} = {reads} ({bound.limits}): {'passed' if holds else 'FAILED'}")
            verdicts.append(holds)
    passed = False if False in verdicts else (None if None in verdicts else True)
    return Verdict(passed, tuple(lines))


def recorded(info: dict) -> dict | None:
    """The floor verdict an export records (``training_info.json``'s ``floor``), if it is of this version's space."""
    floor = info.get("floor")
    return floor if isinstance(floor, dict) and floor.get("space") == SPACE else None
