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

from vaelab.analysis.anomaly import Calibration, false_flag_share
from vaelab.analysis.likelihood import BINARIZATIONS, SCORES, LikelihoodResult, log_likelihood
from vaelab.config import check_choice
from vaelab.data.split import SPLITS
from vaelab.errors import RunError
from vaelab.files import atomic_write
from vaelab.report.figures import save_png, score_histogram
from vaelab.runs.run import Run, Specs

CALIBRATION = "calibration.safetensors"
DRAWS = "per-example-streams"  # how scores draw their randomness (vaelab.data.streams); part of the cache key
Progress = Callable[[int, int], None] | None


@dataclass
class Scored:
    """Per-example scores of one data set, placed among the validation scores."""

    name: str  # the data spec, as given
    result: LikelihoodResult
    percentile: np.ndarray | None  # None when the run has no validation split
    flag: np.ndarray | None
    score: str
    false_flag_share: float | None = None  # the share of valid data the flag rule flags by construction
    rule: str = ""  # the flag rule in words
    figure: Path | None = None  # the histogram of the scores with the rule's cut-offs

    def to_frame(self):
        frame = self.result.to_frame()
        frame["bits_per_dim"] = self.result.bits_per_dim
        frame["percentile"] = self.percentile if self.percentile is not None else np.nan
        frame["flag"] = self.flag if self.flag is not None else False
        return frame


def calibration(run: Run, n_samples: int, progress: Progress = None,
                binarizations: int = BINARIZATIONS) -> Calibration | None:  # fmt: skip
    """Validation-split reference scores, from the cache or estimated now; None without a split."""
    model, data = run.model, run.config.data
    if data is None or data.source == "array" or data.val_fraction == 0:
        return None
    # "draws" names how the random draws are made: caches from before per-example streams are stale.
    key = {"n_samples": str(n_samples), "seed": str(model.seed), "fingerprint": data.fingerprint,
           "binarizations": str(binarizations), "draws": DRAWS}  # fmt: skip
    if run.dir.file(CALIBRATION).is_file():
        try:
            arrays, metadata = run.dir.read_arrays(CALIBRATION)
            if all(metadata.get(k) == v for k, v in key.items()) and set(SCORES) <= set(arrays):
                return Calibration({k: arrays[k] for k in SCORES}, n_samples)
        except RunError:
            pass  # a damaged cache is estimated again and overwritten
    X, y = run.resolve("val", lazy=True)
    cal = Calibration.from_result(log_likelihood(model, X, y, n_samples, progress=progress, binarizations=binarizations))
    run.dir.write_arrays(CALIBRATION, cal.scores, key)
    return cal


def score(
    run_path: str | os.PathLike,
    spec: str = "test",
    *,
    n_samples: int = 1000,
    binarizations: int = BINARIZATIONS,
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
    X, y = run.resolve(spec, labels, label_column, lazy=True)  # scored block by block
    options = {} if chunk_size is None else {"chunk_size": chunk_size}
    result = log_likelihood(run.model, X, y, n_samples, progress=progress, binarizations=binarizations, **options)
    cal = calibration(run, n_samples, progress, binarizations)
    values = getattr(result, score)
    rule = (f"outside the {band[0]:g}-{band[1]:g} percentile band" if band else f"below percentile {threshold:g}") + \
        " of the validation split"
    scored = Scored(
        spec, result,
        None if cal is None else cal.percentile(score, values),
        None if cal is None else cal.flags(score, values, threshold, band),
        score, None if cal is None else false_flag_share(threshold, band), f"{score} {rule}",
    )  # fmt: skip
    cut = () if cal is None else cal.cut_offs(score, threshold, band)
    fig = score_histogram(values, None if cal is None else cal.scores[score], score, cut, scored.rule,
                          f"{score} of {spec}" + ("" if result.normalized else " (not a density: a cross-entropy)"))
    scored.figure = save_png(fig, run.figure(f"score_{data_slug(spec)}.png"))
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
            "normalized": summary["normalized"], "binarizations": summary["binarizations"],
            "flag_rule": scored.rule if cal is not None else None, "false_flag_share": scored.false_flag_share,
            "flagged_share": None if scored.flag is None else float(scored.flag.mean()),
            "figure": f"figures/{scored.figure.name}",
        })  # fmt: skip
    return scored


def data_slug(spec: str) -> str:
    """A file-name part for a data spec: the split's name, or the file's stem in safe characters."""
    name = spec if spec in SPLITS and not Path(spec).exists() else Path(spec).stem
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60] or "data"
