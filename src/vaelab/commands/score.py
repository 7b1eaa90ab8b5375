"""``vaelab score``: log p(x) of every example, placed among the validation scores.

Data is named by a spec (:meth:`vaelab.runs.run.Run.resolve`): ``train``, ``val`` or
``test`` for the run's own split, or anything :func:`load_dataset` reads. Thresholds
are calibrated on the run's validation split; those reference scores are cached in
``RUN/calibration.safetensors`` (keyed by K, seed, the data's fingerprint and a hash of
the model's weights) so scoring many files estimates them once, and a retrained or
resumed model never reuses another's.
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
from vaelab.checkpoint import CALIBRATION
from vaelab.config import check_choice, check_count, check_number
from vaelab.errors import ConfigError, RunError
from vaelab.files import atomic_write
from vaelab.runs.run import Run, Specs, is_split
from vaelab.runtime import most_in_memory

Progress = Callable[[int, int], None] | None
# Importance samples per example: beyond this the Monte Carlo error (falling as 1/sqrt(K)) is far below
# the error over examples, and the time is wasted.
MAX_SAMPLES = 100_000
SAMPLES_WHY = "more importance samples than this change no estimate measurably (the error falls as 1/sqrt(K))"


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


def check_flag_rule(threshold: float | None, band: tuple[float, float] | None) -> float:
    """The flag rule, checked before any scoring: a threshold percentile in (0, 100), or a band
    0 <= low < high <= 100; not both. Returns the threshold (1 when neither is given)."""
    if band is not None:
        if threshold is not None:
            raise ConfigError("Give --threshold PCT (flag the low tail) or --band LOW HIGH (flag outside a band), "
                              "not both: a band replaces the threshold.")  # fmt: skip
        if not isinstance(band, (tuple, list)) or len(band) != 2:
            raise ConfigError(f"--band takes two percentiles LOW HIGH; got {band!r:.80}.")
        low = check_number("--band LOW", band[0], 0, 100, unit=" (a percentile)")
        high = check_number("--band HIGH", band[1], 0, 100, unit=" (a percentile)")
        if not low < high:
            raise ConfigError(f"--band LOW HIGH needs LOW < HIGH; got {low:g} {high:g}.")
        return 1.0
    if threshold is None:
        return 1.0
    return check_number("--threshold", threshold, 0, 100, low_open=True, high_open=True, unit=" (a percentile)")


def calibration(run: Run, n_samples: int, progress: Progress = None) -> Calibration | None:
    """Validation-split reference scores, from the cache or estimated now; None without a split."""
    model, data = run.model, run.config.data
    if data is None or data.source == "array" or data.val_fraction == 0:
        return None
    key = {"n_samples": str(n_samples), "seed": str(model.seed), "fingerprint": data.fingerprint,
           "weights": run.weights_digest()}
    if run.dir.file(CALIBRATION).is_file():
        try:
            arrays, metadata = run.dir.read_arrays(CALIBRATION)
            if all(metadata.get(k) == v for k, v in key.items()) and set(SCORES) <= set(arrays):
                return Calibration({k: arrays[k] for k in SCORES}, n_samples)
        except RunError:
            pass  # a damaged cache (a failed checksum too) is estimated again and overwritten
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
    threshold: float | None = None,
    band: tuple[float, float] | None = None,
    labels: str | None = None,
    label_column: str | None = None,
    chunk_size: int | None = None,
    out: str | os.PathLike | None = None,
    progress: Progress = None,
    specs: Specs | None = None,
) -> Scored:
    """Score every example of ``spec``; write ``out`` (CSV) and, for the test split, metrics.json.

    Flags: scores below the ``threshold`` percentile (default 1) of the validation scores, or with
    ``band=(low, high)`` outside that band; the two are exclusive."""
    check_choice("score", score, SCORES)
    threshold = check_flag_rule(threshold, band)
    check_count("--n-samples", n_samples, MAX_SAMPLES, SAMPLES_WHY)
    run = Run(run_path, specs)
    if chunk_size is not None:  # (sample, example) pairs decoded at once: each holds one decoded example
        check_count("--chunk-size", chunk_size, most_in_memory(16 * run.n_features), "the decoder's "
                    "outputs for that many (sample, example) pairs would not fit in memory")  # fmt: skip
    if out is not None:
        out = run.check_output(out)
    X, y = run.resolve(spec, labels, label_column, lazy=True)  # scored block by block
    options = {} if chunk_size is None else {"chunk_size": chunk_size}
    result = log_likelihood(run.model, X, y, n_samples, progress=progress, **options)
    cal = calibration(run, n_samples, progress)
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
    if spec == "test":
        summary = result.summary()
        run.update_metrics(likelihood={
            "test_nll": summary["nll"], "test_nll_stderr": summary["nll_stderr"],
            "test_nll_mc_stderr": summary["nll_mc_stderr"], "bits_per_dim": summary["bits_per_dim"],
            "n_samples": n_samples, "elbo": summary["elbo"], "n_examples": summary["n_examples"],
        })  # fmt: skip
    return scored
