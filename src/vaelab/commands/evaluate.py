"""``vaelab evaluate-synthetic RUN``: fidelity, utility and privacy of a run's synthetic data.

The run's kind says what that means (:meth:`vaelab.runs.base.RunKind.evaluate_synthetic`).
Tables (SDMetrics' metrics; contingencies cut numeric columns into quantile bins where
SDMetrics cuts equal-width ones): synthetic rows as many as the training split, scored
against the real training rows (column shapes, column-pair trends, their average, each with a
bootstrap SE over both tables' rows),
machine-learning efficacy (train on synthetic, test on the real test split, against
train on real), and distance to closest record against the test split as holdout.
Series (TimeGAN's tests, in vaelab's settings): synthetic windows as many as the test
windows; the discriminative score and the train-on-synthetic forecast test (TimeGAN's own
settings are ``timegan_*`` in vaelab.analysis.synthetic_series, which bench/timeseries.py
prints); per-feature KS complements of the window values (with bootstrap SEs);
and the forecaster's coverage: the share of real test futures inside its 90% band.

Writes the ``synthetic`` block of ``metrics.json`` and figures.
"""
from __future__ import annotations

import os
from typing import Any

from vaelab.config import check_count, check_seed
from vaelab.report.figures import png_bytes
from vaelab.runs.run import Run
from vaelab.runtime import most_in_memory


def evaluate_synthetic(run_path: str | os.PathLike, *, n: int | None = None, target: str | None = None,
                       sampler: str | None = None, seed: int = 0, draw: bool = False) -> dict[str, Any]:  # fmt: skip
    """``sampler`` None: the run kind's default (aggregate-gmm for tables, else prior). ``draw``: a series run's
    synthetic windows are draws from p(x|z), not decoder means (as ``sample --draw``)."""
    check_seed(seed)
    run = Run(run_path)
    sampler = sampler or run.kind.default_sampler
    run.check_folders()
    if n is not None:  # 0 is no default: it is refused like any count below 1
        check_count("--n", n, most_in_memory(32 * run.n_features), "that many synthetic examples (and their copies "
                    "while they are measured) would not fit in memory")  # fmt: skip
    block, figures = run.kind.evaluate_synthetic(run, n=n, target=target, sampler=sampler, seed=seed, draw=bool(draw))
    files = {run.figure(f"{name}.png"): png_bytes(fig) for name, fig in figures.items()}
    block["figures"] = [f"figures/{p.name}" for p in files]
    run.update_metrics(files, synthetic=block)  # the figures with the block, under the run's lock
    return block


def summary_lines(run_path: str | os.PathLike, block: dict[str, Any]) -> list[str]:
    """The block in a few lines for stdout, as the run's kind puts it."""
    return Run(run_path).kind.summary_lines(block)
