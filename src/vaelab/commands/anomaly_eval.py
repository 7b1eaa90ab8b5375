"""``vaelab anomaly-eval``: how well each score separates known outliers from inliers."""
from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from vaelab.analysis.anomaly import anomaly_eval, auroc_reading
from vaelab.analysis.reconstruction_error import ERROR_SCORES, RECONSTRUCTION_MSE_WHAT
from vaelab.commands.score import MAX_SAMPLES, SAMPLES_WHY, Progress, plain_options
from vaelab.config import check_count
from vaelab.data.table_transformer import CONDITION_FALLBACK
from vaelab.data.timeseries import FILLED
from vaelab.errors import DataError
from vaelab.progress import named_pass
from vaelab.runs.run import Run, Specs


def evaluate_anomalies(
    run_path: str | os.PathLike,
    inliers: str = "test",
    outliers: str | None = None,
    *,
    n_samples: int | None = None,
    outlier_labels: str | None = None,
    outlier_label_column: str | None = None,
    inlier_labels: str | None = None,
    inlier_label_column: str | None = None,
    progress: Progress = None,
    specs: Specs | None = None,
) -> dict[str, Any]:
    """AUROC/AUPRC of each score for inliers vs outliers; written to metrics.json as ``anomaly``. ``n_samples``:
    K per example (default 1000). A plain autoencoder (a deterministic encoder) has one score, its reconstruction
    error ``reconstruction_mse`` (high is anomalous), and takes no ``n_samples``."""
    if outliers is None:
        raise DataError("Name the outliers: --outliers DATA (a file, folder or built-in of the same shape).")
    if n_samples is not None:
        check_count("--n-samples", n_samples, MAX_SAMPLES, SAMPLES_WHY)
    run = Run(run_path, specs)
    plain = plain_options(run, None, n_samples, None) in ERROR_SCORES
    n_samples = None if plain else 1000 if n_samples is None else n_samples
    for which, lab, col in (("inlier", inlier_labels, inlier_label_column), ("outlier", outlier_labels, outlier_label_column)):
        run.refuse_unused_labels(lab, col, (f"--{which}-labels", f"--{which}-label-column"))
    # a conditional model scores each example given its label: a file's come from the options named after it
    datasets = [_said_of(f"--{which}s", lambda: run.dataset_of(spec, lab, col, lazy=True,
                                                               flags=(f"--{which}-labels", f"--{which}-label-column")))
                for spec, lab, col, which in ((inliers, inlier_labels, inlier_label_column, "inlier"),
                                              (outliers, outlier_labels, outlier_label_column, "outlier"))]  # fmt: skip
    # both shapes before either is scored (an outliers file of another shape was refused after the inliers' pass)
    for d, which in zip(datasets, ("--inliers", "--outliers")):
        _said_of(which, lambda: run.model.needs_reshape(d.X.shape[1:]))
    # each pass under its own name (both bars read "scoring": an audit); a large file is read as it is scored
    def scores(d: Any, which: str) -> Any:  # a plain autoencoder's reconstruction errors, else log p(x) and its kin
        bar = named_pass(progress, f"scoring {which}")
        return run.reconstruction_error(d, progress=bar) if plain else run.log_likelihood(d, n_samples, progress=bar)

    results = [_said_of(f"--{which}", lambda: scores(d, which)) for d, which in zip(datasets, ("inliers", "outliers"))]
    # Rows of a table file with cells the run could not encode are scored without them (Dataset.observed).
    left_out = tuple(0 if d.observed is None else int((~np.asarray(d.observed).all(axis=1)).sum()) for d in datasets)
    # Windows of a series file with missing or unreadable values are scored on values interpolated in time.
    filled = tuple(sum(FILLED in r for r in (d.reasons or ())) for d in datasets)
    # Rows of a conditional table run whose condition values no training row holds are scored given another one.
    given = tuple(sum(CONDITION_FALLBACK in r for r in (d.reasons or ())) for d in datasets)
    block = {
        "inliers": inliers, "outliers": outliers, "n_inliers": len(results[0]), "n_outliers": len(results[1]),
        "n_samples": n_samples, "scores": anomaly_eval(*results),
        # AUPRC's chance level: the share of outliers among the examples scored (a random ranking's AUPRC)
        "auprc_chance": len(results[1]) / (len(results[0]) + len(results[1])),
        # a plain autoencoder's one score, a squared error: not a log-likelihood, and said so where it is read
        **({"scores_what": {name: RECONSTRUCTION_MSE_WHAT for name in ERROR_SCORES}} if plain else {}),
    }  # fmt: skip
    notes = [f"{which}: {remark}" for which, d in zip(("inliers", "outliers"), datasets) for remark in d.remarks]
    wide = {k: v["design_effect"] for k, v in block["scores"].items() if v.get("design_effect", 1.0) > 1.0}
    if wide:  # overlapping windows: the intervals count fewer independent examples, and say how many fewer
        notes.append("the windows overlap, so their scores move together: each AUROC interval counts the inliers and "
                     "outliers as fewer independent windows, by its design effect ("
                     + ", ".join(f"{k} {v:.1f}" for k, v in wide.items()) + "; DeLong's variance with the windows' "
                     "autocovariances against the independent one, and at least a class's windows over those of "
                     "them that share no step)")  # fmt: skip
    excess = {k: v["delong_excess"] for k, v in block["scores"].items()
              if max(v.get("delong_excess", {}).values(), default=1.0) > 1.0}  # fmt: skip
    if excess:  # the intervals are wider than Hanley & McNeil's formula gives, and say why
        notes.append("the scores' own spread makes the AUROC vary more than Hanley & McNeil's formula assumes, so each "
                     "interval counts a class as that many times fewer examples (DeLong's variance over the formula's: "
                     + "; ".join(f"{k} outliers {e['outliers']:.2f}, inliers {e['inliers']:.2f}"
                                 for k, e in excess.items()) + ")")  # fmt: skip
    if notes:
        block["notes"] = notes
    if any(left_out):
        block["rows_with_cells_left_out"] = {"inliers": left_out[0], "outliers": left_out[1]}
    if any(filled):
        block["windows_with_values_filled"] = {"inliers": filled[0], "outliers": filled[1]}
    if any(given):
        block["rows_given_other_condition"] = {"inliers": given[0], "outliers": given[1]}
    # what an AUROC below 0.5 says, with its interval, and what rows scored on fewer terms, filled values or another
    # condition do to it
    block["reading"] = auroc_reading(block["scores"], left_out, filled, given)
    run.update_metrics(anomaly=block)
    return block


def _said_of(option: str, read: Callable[[], Any]) -> Any:
    """``read()``, its data errors said of the option that named the data ("--outliers: x.csv holds ..."): the same
    checks read both files, and their words named only the file (an audit, s14)."""
    try:
        return read()
    except DataError as e:
        raise type(e)(f"{option}: {e}", setting=e.setting) from None
