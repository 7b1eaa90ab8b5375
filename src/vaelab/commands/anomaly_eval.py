"""``vaelab anomaly-eval``: how well each score separates known outliers from inliers."""
from __future__ import annotations

import os
from typing import Any

from vaelab.analysis.anomaly import anomaly_eval, auroc_reading
from vaelab.commands.score import MAX_SAMPLES, SAMPLES_WHY, Progress
from vaelab.config import check_count
from vaelab.errors import DataError
from vaelab.runs.run import Run, Specs


def evaluate_anomalies(
    run_path: str | os.PathLike,
    inliers: str = "test",
    outliers: str | None = None,
    *,
    n_samples: int = 1000,
    outlier_labels: str | None = None,
    outlier_label_column: str | None = None,
    progress: Progress = None,
    specs: Specs | None = None,
) -> dict[str, Any]:
    """AUROC/AUPRC of each score for inliers vs outliers; written to metrics.json as ``anomaly``."""
    if outliers is None:
        raise DataError("Name the outliers: --outliers DATA (a file, folder or built-in of the same shape).")
    check_count("--n-samples", n_samples, MAX_SAMPLES, SAMPLES_WHY)
    run = Run(run_path, specs)
    results = []
    for spec, lab, col in ((inliers, None, None), (outliers, outlier_labels, outlier_label_column)):
        results.append(run.log_likelihood(run.dataset_of(spec, lab, col, lazy=True), n_samples, progress=progress))
    block = {
        "inliers": inliers, "outliers": outliers, "n_inliers": len(results[0]), "n_outliers": len(results[1]),
        "n_samples": n_samples, "scores": anomaly_eval(*results),
    }  # fmt: skip
    block["reading"] = auroc_reading(block["scores"])  # what an AUROC below 0.5 says, with its interval
    run.update_metrics(anomaly=block)
    return block
