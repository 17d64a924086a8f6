"""Known answers: the metrics on inputs whose ranking a person would give at a glance, so a feature space that
cannot tell noise from faces is caught before its numbers are believed.

Held-out faces are split in two halves: the first is the reference, the second plays the generator, then the
same faces blurred, then non-faces made from them (:mod:`genhub.nonfaces`). A sound space ranks them

    other held-out faces < blurred faces < phase-scrambled, patch-shuffled, colour blobs, pixel noise

in FID and KID (lower is better), the reverse in precision, and the face check calls the first two faces and the
non-faces not. ``bench/bench_metrics.py`` prints the table for the trained network; the test suite checks the
ordering with margins on a briefly trained one.
"""

from __future__ import annotations

import torch

from genhub.evaluation import metrics as M
from genhub.evaluation.features import face_rate
from genhub.nonfaces import NONFACE_MAKERS, gaussian_blur

#: The probe that plays a perfect generator, and the blurred one; the non-face probes follow them.
REAL, BLURRED = "other held-out faces", "blurred faces"
#: The blur of :data:`BLURRED`: sigma as a share of the side (2 px at 64 px, a VAE's blur).
BLUR_SHARE = 2 / 64
#: How far precision may move by chance between two sets of ~128 images (its binomial standard deviation near 0.9
#: is 0.027): the tolerance of "other faces >= blurred faces".
PRECISION_NOISE = 0.05


def probes(faces: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """faces: float (N, C, H, W) in [-1, 1], N >= 4 -> (the reference half, {probe name: images of the other half's
    size}), with :data:`REAL` and :data:`BLURRED` first and then one entry per :data:`~genhub.nonfaces.NONFACE_MAKERS`
    kind, all quantised to 8 bits as saved images are."""
    from genhub.images import quantise

    half = len(faces) // 2
    reference, other = faces[:half], faces[half:2 * half]
    generator = torch.Generator().manual_seed(seed)
    made = {REAL: other, BLURRED: gaussian_blur(other, BLUR_SHARE * other.shape[-1])}
    made.update({kind: make(other, generator) for kind, make in NONFACE_MAKERS.items()})
    return reference, {name: quantise(images) for name, images in made.items()}


def score(space: M.FeatureSpace, faces: torch.Tensor, seed: int = 0, batch_size: int = 128
          ) -> dict[str, dict[str, float]]:
    """FID, KID, precision and recall of each probe of :func:`probes` against the reference half, in ``space``;
    in genhub's face feature space also the share of each probe the face check calls faces
    (:func:`~genhub.evaluation.features.face_rate`).

    Returns: {probe name: {"FID": ..., "KID": ..., "precision": ..., "recall": ...[, "face rate": ...]}}.
    """
    reference, made = probes(faces, seed)
    real = space.features(reference.split(batch_size))
    table = {}
    for name, images in made.items():
        fake = space.features(images.split(batch_size))
        precision, recall = M.precision_recall(real, fake)
        row = {"FID": M.fid(real, fake), "KID": M.kid(real, fake, seed=seed)[0], "precision": precision,
               "recall": recall}
        rate = face_rate(space, fake)
        if rate is not None:
            row["face rate"] = rate
        table[name] = row
    return table


def ranking_errors(table: dict[str, dict[str, float]], margin: float = 1.5, blur: bool = True) -> list[str]:
    """What a table of :func:`score` gets wrong: each line names a probe pair out of order. FID and KID must grow
    by ``margin`` times from :data:`REAL` to :data:`BLURRED` and from :data:`BLURRED` to every non-face; precision
    must not rise from :data:`REAL` to :data:`BLURRED` by more than :data:`PRECISION_NOISE` (blurred faces are still
    faces: both sit near 0.9 in a briefly trained space) and every non-face's must be below half the blurred faces';
    face rates (when measured) must be >= 0.9 for faces and
    <= 0.1 for non-faces. ``blur=False`` leaves out the two checks of blurred against other faces (FID/KID growth
    and precision), for a briefly trained space that does not see a 1 px blur yet. An empty list: the space ranks
    the known answers as a person does."""
    errors = []
    nonfaces = [name for name in table if name not in (REAL, BLURRED)]
    for metric in ("FID", "KID"):
        real, blurred = table[REAL][metric], table[BLURRED][metric]
        if blur and not blurred > margin * max(real, 0.0):
            errors.append(f"{metric}: blurred faces {blurred:.4g} not above {margin} x other faces' {real:.4g}")
        errors += [f"{metric}: {name} {table[name][metric]:.4g} not above {margin} x blurred faces' {blurred:.4g}"
                   for name in nonfaces if not table[name][metric] > margin * blurred]
    blurred_precision = table[BLURRED]["precision"]
    if blur and not table[REAL]["precision"] >= blurred_precision - PRECISION_NOISE:
        errors.append(f"precision: other faces {table[REAL]['precision']:.3f} below blurred faces' "
                      f"{blurred_precision:.3f} - {PRECISION_NOISE}")
    errors += [f"precision: {name} {table[name]['precision']:.3f} not below half the blurred faces' "
               f"{blurred_precision:.3f}" for name in nonfaces if not table[name]["precision"] < blurred_precision / 2]
    if all("face rate" in row for row in table.values()):
        errors += [f"face check: {name} called faces {table[name]['face rate']:.0%} (< 90%)"
                   for name in (REAL, BLURRED) if table[name]["face rate"] < 0.9]
        errors += [f"face check: {name} called faces {table[name]['face rate']:.0%} (> 10%)"
                   for name in nonfaces if table[name]["face rate"] > 0.1]
    return errors
