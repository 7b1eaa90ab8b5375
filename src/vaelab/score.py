"""Scoring against a run folder: ``vaelab score`` and ``vaelab anomaly-eval``.

Data is named by a spec: ``train``, ``val`` or ``test`` for the run's own split
(the split stored in the run), or anything :func:`load_dataset` reads. Thresholds
are calibrated on the run's validation split; those reference scores are cached
in ``RUN/calibration.safetensors`` (keyed by K and seed) so scoring many files
estimates them once.
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vaelab.analysis.anomaly import Calibration, anomaly_eval
from vaelab.analysis.likelihood import SCORES, LikelihoodResult, log_likelihood
from vaelab.checkpoint import RunDir, atomic_write
from vaelab.config import check_choice
from vaelab.data.sources import load_dataset
from vaelab.data.split import SPLITS, indices
from vaelab.errors import DataError, RunError
from vaelab.estimator import VAE, load
from vaelab.run import load_run_data

CALIBRATION = "calibration.safetensors"
Progress = Callable[[int, int], None] | None


@dataclass
class Scored:
    """Per-example scores of one data set, placed among the validation scores."""

    name: str  # the data spec, as given
    result: LikelihoodResult
    percentile: np.ndarray | None  # None when the run has no validation split
    flag: np.ndarray | None
    score: str

    def to_frame(self):
        frame = self.result.to_frame()
        frame["bits_per_dim"] = self.result.bits_per_dim
        frame["percentile"] = self.percentile if self.percentile is not None else np.nan
        frame["flag"] = self.flag if self.flag is not None else False
        return frame


def resolve_data(run: RunDir, model: VAE, spec: str, labels: str | None = None, label_column: str | None = None,
                 with_labels: bool = False, lazy: bool = False):
    """(X, y) for a data spec. y holds label names; it is given for conditional models (which
    need it) and, with ``with_labels``, whenever the data has labels. With ``lazy`` a large
    file (or the run's split of one) comes as a memory map or :class:`vaelab.data.rows.Rows`,
    for code that reads it block by block."""
    if spec in SPLITS and not Path(spec).exists():
        dataset, split = load_run_data(run, model.config_, lazy=lazy)
        idx = indices(split, spec)
        if idx.size == 0:
            raise DataError(f"The run's {spec} split is empty; use a file instead, or train with a {spec} fraction > 0.")
        dataset = dataset.view(idx) if lazy else dataset.subset(idx)
    else:
        dataset = load_dataset(spec, labels=labels, label_column=label_column, lazy=lazy)
        if model.classes_ is not None and dataset.y is None:
            raise DataError(f"This model is conditional: give the labels of {spec} with --labels or --label-column.")
    if dataset.y is None or not (with_labels or model.classes_ is not None):
        return dataset.X, None
    return dataset.X, np.asarray(dataset.classes)[dataset.y]  # names: a model maps them to its own codes


def calibration(run: RunDir, model: VAE, n_samples: int, progress: Progress = None) -> Calibration | None:
    """Validation-split reference scores, from the cache or estimated now; None without a split."""
    data = model.config_.data
    if data is None or data.source == "array" or data.val_fraction == 0:
        return None
    key = {"n_samples": str(n_samples), "seed": str(model.seed), "fingerprint": data.fingerprint}
    if run.file(CALIBRATION).is_file():
        try:
            arrays, metadata = run.read_arrays(CALIBRATION)
            if all(metadata.get(k) == v for k, v in key.items()) and set(SCORES) <= set(arrays):
                return Calibration({k: arrays[k] for k in SCORES}, n_samples)
        except RunError:
            pass  # a damaged cache is estimated again and overwritten
    X, y = resolve_data(run, model, "val", lazy=True)
    cal = Calibration.from_result(log_likelihood(model, X, y, n_samples, progress=progress))
    run.write_arrays(CALIBRATION, cal.scores, key)
    return cal


def score(
    run_path: str | os.PathLike,
    spec: str = "test",
    *,
    n_samples: int = 1000,
    score: str = "log_px",
    threshold: float = 1.0,
    band: tuple[float, float] | None = None,
    labels: str | None = None,
    label_column: str | None = None,
    chunk_size: int | None = None,
    out: str | os.PathLike | None = None,
    progress: Progress = None,
) -> Scored:
    """Score every example of ``spec``; write ``out`` (CSV) and, for the test split, metrics.json."""
    check_choice("score", score, SCORES)
    run = RunDir(run_path)
    model = load(run_path)
    X, y = resolve_data(run, model, spec, labels, label_column, lazy=True)  # scored block by block
    options = {} if chunk_size is None else {"chunk_size": chunk_size}
    result = log_likelihood(model, X, y, n_samples, progress=progress, **options)
    cal = calibration(run, model, n_samples, progress)
    values = getattr(result, score)
    scored = Scored(
        spec, result,
        None if cal is None else cal.percentile(score, values),
        None if cal is None else cal.flags(score, values, threshold, band),
        score,
    )  # fmt: skip
    if out is not None:
        buf = io.StringIO()
        scored.to_frame().to_csv(buf, index_label="example", float_format="%.6g")
        atomic_write(Path(out), buf.getvalue().encode())
    if spec == "test" and not Path(spec).exists():
        summary = result.summary()
        run.update_metrics(likelihood={
            "test_nll": summary["nll"], "test_nll_stderr": summary["nll_stderr"],
            "test_nll_mc_stderr": summary["nll_mc_stderr"], "bits_per_dim": summary["bits_per_dim"],
            "n_samples": n_samples, "elbo": summary["elbo"], "n_examples": summary["n_examples"],
        })  # fmt: skip
    return scored


def evaluate_anomalies(
    run_path: str | os.PathLike,
    inliers: str = "test",
    outliers: str | None = None,
    *,
    n_samples: int = 1000,
    outlier_labels: str | None = None,
    outlier_label_column: str | None = None,
    progress: Progress = None,
) -> dict[str, Any]:
    """AUROC/AUPRC of each score for inliers vs outliers; written to metrics.json as ``anomaly``."""
    if outliers is None:
        raise DataError("Name the outliers: --outliers DATA (a file, folder or built-in of the same shape).")
    run = RunDir(run_path)
    model = load(run_path)
    results = []
    for spec, lab, col in ((inliers, None, None), (outliers, outlier_labels, outlier_label_column)):
        X, y = resolve_data(run, model, spec, lab, col, lazy=True)
        results.append(log_likelihood(model, X, y, n_samples, progress=progress))
    block = {
        "inliers": inliers, "outliers": outliers, "n_inliers": len(results[0]), "n_outliers": len(results[1]),
        "n_samples": n_samples, "scores": anomaly_eval(*results),
    }  # fmt: skip
    run.update_metrics(anomaly=block)
    return block


def inspect(run_path: str | os.PathLike, spec: str = "test", *, labels: str | None = None,
            label_column: str | None = None, active_threshold: float = 0.01, seed: int = 0):
    """Diagnose the run's latent space on ``spec``; write the ``diagnostics`` block and the figures."""
    from vaelab.analysis.diagnostics import diagnose
    from vaelab.report.figures import save_png

    run = RunDir(run_path)
    model = load(run_path)
    X, y = resolve_data(run, model, spec, labels, label_column, with_labels=True)
    result = diagnose(model, X, y, active_threshold=active_threshold, seed=seed)
    run.update_metrics(diagnostics={"data": spec, **result.to_dict()})
    paths = [save_png(fig, run.path / "figures" / f"{name}.png") for name, fig in result.figures().items()]
    return result, paths
