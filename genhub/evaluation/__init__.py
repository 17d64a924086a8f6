"""Measuring exports: ``genhub-evaluate`` / ``python -m genhub.evaluation`` (:mod:`~genhub.evaluation.cli`).

- :mod:`~genhub.evaluation.evaluate`: :func:`~genhub.evaluation.evaluate.evaluate`, one export -> its report;
- :mod:`~genhub.evaluation.exports`: an export's model, facts and the data to measure it on;
- :mod:`~genhub.evaluation.features`: the feature space (Inception-v3 FID weights or genhub's face network);
- :mod:`~genhub.evaluation.families`: what is measured per family (``EVALUATORS``);
- :mod:`~genhub.evaluation.floors`: what each family must reach to show its idea (``FLOORS``), checked per export;
- :mod:`~genhub.evaluation.known_answers`: the metrics on inputs whose ranking is known (faces, blurred, non-faces);
- :mod:`~genhub.evaluation.report`: the JSON report, the export's card update, the printed table;
- :mod:`~genhub.evaluation.metrics`: FID, KID, precision/recall, detectability, memorisation, PSNR;
- :mod:`~genhub.evaluation.intervals`: the Wilson interval;
- :mod:`~genhub.evaluation.latent`: a VAE's latent space measured at export;
- :mod:`~genhub.evaluation.outlier`: the VAE outlier score and its AUROC (``genhub-outlier``).
"""
