"""Outlier score: how unlike the training data an image is, judged by a VAE's negative ELBO.

An image's score is its deterministic negative ELBO (``VAE.negative_elbo``, nats); it is read
against the same score on every held-out image of the training dataset, stored with the export
(``LatentSpace.heldout_neg_elbo``): a z-score, a percentile and a verdict in plain words. Whether
the score separates faces from non-faces is measured as an AUROC (faces = negatives, others =
positives), written to the model card:

    genhub-outlier checkpoints/vae-faces-64 --outliers ../shared/data/nonface_flowers_128
    python -m genhub.evaluation.outlier ...   # the same

Caveat: likelihood-based scores can rank simple, smooth images as *more* typical than the
training data (Nalisnick et al. 2019, "Do Deep Generative Models Know What They Don't Know?");
the AUROC on real non-faces is the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

#: (upper percentile bound, verdict); above every held-out image: "not like the training data".
VERDICTS = ((75.0, "typical face"), (95.0, "a little unusual"), (100.0, "unusual: rarer than 95% of held-out faces"))
NOT_LIKE = "not like the training data"


@dataclass
class OutlierScore:
    """One image's outlier score against the held-out reference.

    Attributes:
        neg_elbo: the image's negative ELBO, nats.
        zscore: (neg_elbo - mean) / std of the held-out scores.
        percentile: % of held-out images whose score is at most this one's, in [0, 100].
        verdict: plain words (see :data:`VERDICTS`).
    """

    neg_elbo: float
    zscore: float
    percentile: float
    verdict: str

    def markdown(self) -> str:
        return (f"**Outlier score: {self.verdict}.** Negative ELBO {self.neg_elbo:,.0f} nats: "
                f"z = {self.zscore:+.2f}, higher than {self.percentile:.1f}% of held-out faces.")


class OutlierReference:
    """The held-out score distribution an image is compared with.

    Parameters:
        scores: float (N,), N >= 2, the negative ELBO of each held-out image (any order).

    Raises:
        ValueError: fewer than 2 scores or a non-finite one.
    """

    def __init__(self, scores: torch.Tensor | np.ndarray):
        scores = np.sort(np.asarray(scores, dtype=np.float64).ravel())
        if len(scores) < 2 or not np.isfinite(scores).all():
            raise ValueError(f"an outlier reference needs at least 2 finite held-out scores, got {len(scores)}")
        self.scores = scores
        self.mean, self.std = float(scores.mean()), float(scores.std(ddof=1))

    def score(self, neg_elbo: float) -> OutlierScore:
        """Place one negative ELBO (nats) in the held-out distribution."""
        rank = int(np.searchsorted(self.scores, neg_elbo, side="right"))
        percentile = 100.0 * rank / len(self.scores)
        if rank == len(self.scores) and neg_elbo > self.scores[-1]:
            verdict = NOT_LIKE
        else:
            verdict = next(text for bound, text in VERDICTS if percentile <= bound)
        return OutlierScore(float(neg_elbo), (float(neg_elbo) - self.mean) / max(self.std, 1e-12), percentile,
                            verdict)


def auroc(inlier_scores: torch.Tensor, outlier_scores: torch.Tensor) -> float:
    """Area under the ROC curve of telling outliers (positives) from inliers by score (higher = outlier).

    1.0: every outlier scores above every inlier; 0.5: chance; ties count one half. Computed with
    ``torchmetrics.functional.classification.binary_auroc`` on the scores' dense ranks scaled to [0, 1]
    (the AUROC depends only on the order; raw scores outside [0, 1] would be squashed by a sigmoid there).
    """
    from torchmetrics.functional.classification import binary_auroc

    inlier, outlier = (torch.as_tensor(scores).double().ravel() for scores in (inlier_scores, outlier_scores))
    scores = torch.cat([inlier, outlier])
    levels, ranks = torch.unique(scores, return_inverse=True)
    preds = ranks.double() / max(len(levels) - 1, 1)
    target = torch.cat([torch.zeros(len(inlier)), torch.ones(len(outlier))]).long()
    return float(binary_auroc(preds, target))


def evaluate_auroc(model, inliers: torch.utils.data.Dataset, outliers: torch.utils.data.Dataset,
                   batch_size: int = 256) -> dict[str, float]:
    """Score two datasets of ``pixel_values`` with a VAE.

    Returns:
        ``outlier_auroc`` (see :func:`auroc`), the mean scores ``inlier_neg_elbo_nats`` and
        ``outlier_neg_elbo_nats``, and the counts ``inlier_images`` and ``outlier_images``.
    """
    from genhub.evaluation.latent import encode_dataset

    inlier = encode_dataset(model, inliers, batch_size, keys=("neg_elbo",))["neg_elbo"]
    outlier = encode_dataset(model, outliers, batch_size, keys=("neg_elbo",))["neg_elbo"]
    return {"outlier_auroc": auroc(inlier, outlier), "inlier_neg_elbo_nats": float(inlier.double().mean()),
            "outlier_neg_elbo_nats": float(outlier.double().mean()), "inlier_images": float(len(inlier)),
            "outlier_images": float(len(outlier))}


def _neg_elbo(model, images: torch.Tensor) -> torch.Tensor:
    return model.negative_elbo(images)["neg_elbo"]


def _reconstruction_error(model, images: torch.Tensor) -> torch.Tensor:
    from genhub.models.vae import reconstruction_error

    return reconstruction_error(model.reconstruct(images), images.to(next(model.parameters()).device))


def _nll_bits(model, images: torch.Tensor) -> torch.Tensor:
    from genhub.models.pixelcnn import quantize

    return model.nll_bits(quantize(images.to(next(model.parameters()).device), model.num_levels))


#: family -> (outlier score of images (B, C, H, W) in [-1, 1] -> float (B,), higher = more unusual; its name).
SCORES = {
    "vae": (_neg_elbo, "negative ELBO (nats)"),
    "autoencoder": (_reconstruction_error, "reconstruction error ||x - x_hat||^2"),
    "pixelcnn": (_nll_bits, "negative log-likelihood (bits/dim)"),
}


@torch.no_grad()
def score_dataset(model, dataset: torch.utils.data.Dataset, batch_size: int = 128) -> torch.Tensor:
    """The family's outlier score (:data:`SCORES`) of every item's ``pixel_values``, in order: float32 (N,) on CPU.

    Raises:
        KeyError: the model's family has no score.
    """
    score = SCORES[model.family][0]
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    found = [score(model, batch["pixel_values"]).float().cpu() for batch in loader]
    return torch.cat(found) if found else torch.zeros(0)


def auroc_metric_name(outliers: str) -> str:
    """The metric's name in ``training_info.json`` and the card, naming the outlier data set."""
    return f"outlier_auroc_vs_{Path(str(outliers).rstrip('/')).name}"


def evaluate_export(folder: str | Path, outliers: str, inliers: str | None = None, split: str = "test",
                    update_card: bool = True) -> dict[str, float]:
    """:func:`evaluate_auroc` of an export's own training data (or ``inliers``) against ``outliers``, both on
    ``split``. The data come from the export's :class:`~genhub.data.DataSpec` (see
    :func:`genhub.evaluation.exports.evaluation_data`); the outliers are the same spec on their own source.

    With ``update_card``, the AUROC is added to ``training_info.json`` ("metrics", under
    :func:`auroc_metric_name`) and the model card is rewritten.

    Raises:
        genhub.data.DataError: a data set cannot be loaded, or no inlier data set is given or named by the
            export (a ``ValueError``). CheckpointError: no such folder, or not a VAE export.
    """
    from genhub.data import load_split
    from genhub.evaluation.exports import evaluation_data
    from genhub.hub.info import read_training_info, save_training_info
    from genhub.models import VAE, CheckpointError
    from genhub.paths import located

    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such export folder")
    model = VAE.from_pretrained(folder)
    info = read_training_info(folder)
    spec = evaluation_data(info, model, inliers)
    metrics = evaluate_auroc(model, load_split(located(spec), split),
                             load_split(located(spec.with_source(outliers)), split))
    if update_card and info:
        info["metrics"] = {**info.get("metrics", {}), auroc_metric_name(outliers): metrics["outlier_auroc"]}
        save_training_info(folder, info)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """``genhub-outlier``: print :func:`evaluate_export`'s metrics as JSON; returns the exit code (0, or 2 with the
    reason on stderr when the export or a data set cannot be used)."""
    from genhub.data import DataError
    from genhub.models.base import CheckpointError

    parser = argparse.ArgumentParser(prog="genhub-outlier",
                                     description="AUROC of a VAE export's outlier score: faces vs non-faces.")
    parser.add_argument("export", help="VAE export folder")
    parser.add_argument("--outliers", required=True, help="dataset of non-training-like images")
    parser.add_argument("--inliers", default=None, help="default: the export's training dataset")
    parser.add_argument("--split", default="test")
    parser.add_argument("--no_update_card", action="store_true")
    args = parser.parse_args(argv)
    try:
        metrics = evaluate_export(args.export, args.outliers, args.inliers, args.split, not args.no_update_card)
    except (CheckpointError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
