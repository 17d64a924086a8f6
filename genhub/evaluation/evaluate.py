"""Quality evaluation of an export: numbers in a JSON report, the export's ``training_info.json`` and its
model card (``model-index``). The command line is :mod:`genhub.evaluation.cli` (``genhub-evaluate``).

FID, KID, precision and recall are measured in one feature space (:mod:`genhub.evaluation.features`):
Inception-v3 with the standard FID weights when ``inception_weights`` is given (the file's SHA-256 is
checked; only then are the numbers the published kind), else genhub's own face feature network, and then
every report says the numbers are not comparable with published FIDs. What is measured depends on the
family (:data:`genhub.evaluation.families.EVALUATORS`).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from genhub.evaluation.exports import evaluation_data, load_export
from genhub.evaluation.families import EVALUATORS, EvalContext
from genhub.evaluation.features import feature_space
from genhub.evaluation.report import build_report, update_export, write_report
from genhub.models.inception import STANDARD_SHA256
from genhub.paths import located


def evaluate(checkpoint: str | Path, dataset: str | None = None, split: str = "test",
             feature_network: str | Path | None = None, inception_weights: str | Path | None = None,
             inception_sha256: str = STANDARD_SHA256, output_dir: str | Path | None = None,
             num_samples: int | None = None, max_real: int | None = None, memorisation_samples: int = 64,
             batch_size: int = 64, seed: int = 0, update_card: bool = True) -> dict:
    """Evaluate an export folder and return the report (also written to ``output_dir/evaluation.json``).

    Args:
        checkpoint: export folder (``config.json``, ``model.safetensors``, ``training_info.json``).
        dataset: held-out data source (default: the export's training data, as its ``DataSpec`` names it;
            another source keeps the spec but finds its image columns afresh).
        split: the held-out split; the floor and memorisation use ``train``.
        feature_network: genhub face feature network export (default ``$GENHUB_FEATURE_NETWORK``, then
            ``checkpoints/face-features``); ignored when ``inception_weights`` is given.
        inception_weights, inception_sha256: the FID Inception weights file and its required SHA-256.
        output_dir: where ``evaluation.json`` and the memorisation gallery go (default
            ``runs/evaluation/<export name>``; not the export, whose files may be published).
        num_samples: fakes to draw (default: as many as held-out reals); ``max_real``: cap on held-out reals.
        memorisation_samples: fakes checked for copies of training images (0: none); ``batch_size``: per pass.
        seed: seeds sampling, subsets and classifiers (the global torch RNG is left as it was).
        update_card: also update the export's ``training_info.json``, ``evaluation.json`` and model card.

    Raises:
        CheckpointError: bad export, or no trained feature network / bad Inception weights.
        DataError: the dataset cannot be loaded or names no data.
    """
    started = time.perf_counter()
    folder = Path(checkpoint)
    model, info = load_export(folder, EVALUATORS)
    space = feature_space(feature_network, inception_weights, inception_sha256)
    spec = evaluation_data(info, model, dataset)
    out = Path(output_dir) if output_dir else Path("runs") / "evaluation" / folder.resolve().name
    ctx = EvalContext(model, located(spec), split, space, out, num_samples, max_real, memorisation_samples,
                      batch_size=batch_size, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        result = EVALUATORS[info["family"]](ctx)
    report = build_report(folder, info["family"], spec.source, split, space, result, seed, started, spec.modality)
    write_report(report, out)
    if update_card:
        update_export(folder, info, report)
    return report
