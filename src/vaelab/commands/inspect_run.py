"""``vaelab inspect``: the latent-space diagnostics of a run, with their figures.

Findings speak about the model only on data drawn like its training data: the run's own
splits, or a file the user says is (``representative=True``). On anything else (one class,
a subset, new data) the same numbers are worded about that data, and they are stored beside
the model's (``diagnostics_by_data``) instead of replacing them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vaelab.analysis.diagnostics import Diagnostics, diagnose
from vaelab.commands.score import data_slug
from vaelab.config import check_number, check_seed
from vaelab.data.table_transformer import CONDITION_FALLBACK
from vaelab.report.figures import png_bytes
from vaelab.runs.run import Run, Specs, is_split


def inspect_run(run_path: str | os.PathLike, spec: str = "test", *, labels: str | None = None,
                label_column: str | None = None, active_threshold: float = 0.01, seed: int = 0,
                representative: bool | None = None, specs: Specs | None = None) -> tuple[Diagnostics, list[Path]]:  # fmt: skip
    """Diagnose the run's latent space on ``spec``; write its block and figures.

    ``representative`` (default: whether ``spec`` names one of the run's splits) says the data is
    drawn like the training data. Then the block is metrics.json's ``diagnostics`` (the model's) and
    the figures are ``figures/NAME.png``; otherwise only ``diagnostics_by_data[spec]`` is written and
    the figures get the data's name (``figures/NAME_DATA.png``). Every spec's block is kept in
    ``diagnostics_by_data``.
    """
    check_number("--active-threshold", active_threshold, 0, unit=" (a variance of E_q[z_d] over the data)")
    check_seed(seed)
    run = Run(run_path, specs)
    run.check_folders()
    if representative is None:
        representative = is_split(spec)  # a split's name means the split, whatever is in this folder
    dataset = run.dataset_of(spec, labels, label_column, lazy=True)  # a large file is read in batches
    X, y = dataset.X, (None if dataset.y is None else dataset.label_names())
    # rows of a condition value no training row holds are given the most frequent trained one: counted as that class,
    # and said so (an audit, s12: "south (n = 20)" held 2 rows of 'east')
    other = None if dataset.reasons is None else np.array([CONDITION_FALLBACK in (r or "") for r in dataset.reasons])
    result = diagnose(run.model, X, y, active_threshold=active_threshold, seed=seed, representative=representative,
                      given_other=other)  # fmt: skip
    suffix = "" if representative else f"_{data_slug(spec)}"
    figures = {run.figure(f"{name}{suffix}.png"): png_bytes(fig) for name, fig in result.figures().items()}
    # the figures drawn with this block: one an earlier inspect drew of other data (its classes' scatter, where these
    # data have no labels) is not this block's, and the report leaves it out (an audit, s15)
    block = {"data": spec, **result.to_dict(), "figures": [f"figures/{p.name}" for p in figures]}
    # One locked write, the figures with it: other specs' blocks kept; the run's own block set too when X is
    # representative.
    run.merge_metrics("diagnostics_by_data", {spec: block}, files=figures,
                      **({"diagnostics": block} if representative else {}))  # fmt: skip
    return result, list(figures)
