"""``vaelab score``: log p(x) of every example, placed among the validation scores.

Data is named by a spec (:meth:`vaelab.runs.run.Run.resolve`): ``train``, ``val`` or
``test`` for the run's own split, or anything :func:`load_dataset` reads. Thresholds
are calibrated on the run's validation split; those reference scores are cached in
``RUN/calibration.safetensors`` (keyed by K, seed and the data's fingerprint) so scoring
many files estimates them once.
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaelab.analysis.anomaly import Calibration
from vaelab.analysis.likelihood import SCORES, LikelihoodResult, log_likelihood
from vaelab.config import check_choice
from vaelab.errors import RunError
from vaelab.files import atomic_write
from vaelab.runs.run import Run, Specs

CALIBRATION = "calibration.safetensors"
Progress = Callable[[int, int], None] | None


@dataclass
class Scored:
    """Per-example scores of one data set, placed among the validation scores."""

    name: str  # the data spec, as given
    result: LikelihoodResult
    percentile: np.ndarray | None  # None when the run has no validation split
    flag: np.ndarray | None  # the threshold's flags, and every example with a reason
    score: str
    reason: list[str] | None = None  # per example: why it is flagged ("" when it is not)
    new: np.ndarray | None = None  # per example: it holds what training never had (a missing value, a value out of range)

    def to_frame(self):
        frame = self.result.to_frame()
        frame["bits_per_dim"] = self.result.bits_per_dim
        frame["percentile"] = self.percentile if self.percentile is not None else np.nan
        frame["flag"] = self.flag if self.flag is not None else False
        frame["reason"] = self.reason if self.reason is not None else ""
        return frame


def calibration(run: Run, n_samples: int, progress: Progress = None) -> Calibration | None:
    """Validation-split reference scores, from the cache or estimated now; None without a split."""
    model, data = run.model, run.config.data
    if data is None or data.source == "array" or data.val_fraction == 0:
        return None
    key = {"n_samples": str(n_samples), "seed": str(model.seed), "fingerprint": data.fingerprint}
    if run.dir.file(CALIBRATION).is_file():
        try:
            arrays, metadata = run.dir.read_arrays(CALIBRATION)
            if all(metadata.get(k) == v for k, v in key.items()) and set(SCORES) <= set(arrays):
                return Calibration({k: arrays[k] for k in SCORES}, n_samples)
        except RunError:
            pass  # a damaged cache is estimated again and overwritten
    X, y = run.resolve("val", lazy=True)
    cal = Calibration.from_result(log_likelihood(model, X, y, n_samples, progress=progress))
    run.dir.write_arrays(CALIBRATION, cal.scores, key)
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
    specs: Specs | None = None,
) -> Scored:
    """Score every example of ``spec``; write ``out`` (CSV) and, for the test split, metrics.json."""
    check_choice("score", score, SCORES)
    run = Run(run_path, specs)
    dataset = run.dataset_of(spec, labels, label_column, lazy=True)  # scored block by block
    options = {} if chunk_size is None else {"chunk_size": chunk_size}
    result = log_likelihood(run.model, dataset.X, run.model_labels(dataset), n_samples, progress=progress, **options)
    cal = calibration(run, n_samples, progress)
    values = getattr(result, score)
    percentile = None if cal is None else cal.percentile(score, values)
    flag = None if cal is None else cal.flags(score, values, threshold, band)
    rule = f"outside the {band[0]:g}-{band[1]:g} band" if band else f"below {threshold:g}"
    reason = [""] * len(result) if dataset.reasons is None else list(dataset.reasons)
    new = np.array([bool(r) for r in reason], dtype=bool)
    for i in np.flatnonzero(flag) if flag is not None else ():
        scored_as = f"{score} at percentile {percentile[i]:.1f} of the validation split ({rule})"
        reason[i] = scored_as + ("; " + reason[i] if reason[i] else "")
    if new.any():  # what the run's data never held (a missing value, a value out of range) is flagged whatever its score
        flag = new if flag is None else flag | new
    scored = Scored(spec, result, percentile, flag, score, reason, new)
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
