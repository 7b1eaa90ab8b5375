"""``vaelab inspect``: the latent-space diagnostics of a run, with their figures."""
from __future__ import annotations

import os
from pathlib import Path

from vaelab.analysis.diagnostics import Diagnostics, diagnose
from vaelab.config import check_number, check_seed
from vaelab.report.figures import save_png
from vaelab.runs.run import Run, Specs


def inspect_run(run_path: str | os.PathLike, spec: str = "test", *, labels: str | None = None,
                label_column: str | None = None, active_threshold: float = 0.01,
                seed: int = 0, specs: Specs | None = None) -> tuple[Diagnostics, list[Path]]:  # fmt: skip
    """Diagnose the run's latent space on ``spec``; write the ``diagnostics`` block and the figures."""
    check_number("--active-threshold", active_threshold, 0, unit=" (a variance of E_q[z_d] over the data)")
    check_seed(seed)
    run = Run(run_path, specs)
    run.check_folders()
    X, y = run.resolve(spec, labels, label_column, with_labels=True)
    result = diagnose(run.model, X, y, active_threshold=active_threshold, seed=seed)
    run.update_metrics(diagnostics={"data": spec, **result.to_dict()})
    paths = [save_png(fig, run.figure(f"{name}.png")) for name, fig in result.figures().items()]
    return result, paths
