"""``vaelab inspect``: the latent-space diagnostics of a run, with their figures."""
from __future__ import annotations

import os
from pathlib import Path

from vaelab.analysis.diagnostics import Diagnostics, diagnose
from vaelab.report.figures import save_png
from vaelab.runs.run import Run, Specs


def inspect_run(run_path: str | os.PathLike, spec: str = "test", *, labels: str | None = None,
                label_column: str | None = None, active_threshold: float = 0.01,
                seed: int = 0, specs: Specs | None = None) -> tuple[Diagnostics, list[Path]]:  # fmt: skip
    """Diagnose the run's latent space on ``spec``; write the ``diagnostics`` block and the figures."""
    run = Run(run_path, specs)
    X, y = run.resolve(spec, labels, label_column, with_labels=True, lazy=True)  # a large file is read in batches
    result = diagnose(run.model, X, y, active_threshold=active_threshold, seed=seed)
    run.update_metrics(diagnostics={"data": spec, **result.to_dict()})
    paths = [save_png(fig, run.figure(f"{name}.png")) for name, fig in result.figures().items()]
    return result, paths
