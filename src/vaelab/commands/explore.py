"""``vaelab explore RUN traverse | grid | interpolate A B | arithmetic A B``.

Each command computes its result with :mod:`vaelab.analysis.explore`, writes one figure
into ``RUN/figures/`` and its entry of the ``explore`` block of ``metrics.json``.
Examples (A, B, a centre) are named by a spec (:meth:`vaelab.runs.run.Run.example`):
``12`` (test example 12), ``val:3``, ``train:0``, ``test:7``, an image file, or
``data.npy`` / ``data.npy:5`` (an example of any file vaelab reads).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from vaelab.analysis.explore import (
    AggregatePosterior,
    arithmetic,
    interpolate,
    latent_activity,
    manifold_grid,
    traverse,
)
from vaelab.analysis.likelihood import log_likelihood
from vaelab.data.split import indices
from vaelab.errors import DataError
from vaelab.report.explore_figures import arithmetic_figure, grid_figure, interpolation_figure, traversal_figure
from vaelab.report.figures import save_png
from vaelab.report.table_figures import (
    arithmetic_rows_figure,
    column_rows,
    grid_columns_figure,
    interpolation_columns_figure,
    traversal_columns_figure,
)
from vaelab.runs.run import EXAMPLE_HELP, Example, Run, Specs

FIGURES = {"traverse": "traversals.png", "grid": "manifold_grid.png", "interpolate": "interpolation.png",
           "arithmetic": "arithmetic.png"}  # fmt: skip
__all__ = ["EXAMPLE_HELP", "FIGURES", "default_pair", "run_arithmetic", "run_grid", "run_interpolate", "run_traverse"]


def _activity(run: Run):
    """KL per dimension on the test split (the validation split when there is no test split)."""
    _, codes = run.data()
    part = run.split("test" if indices(codes, "test").size else "val")
    return latent_activity(run.model, part.X, run.model_labels(part))


def _aggregate(run: Run, seed: int = 0) -> AggregatePosterior:
    part = run.split("train")
    return AggregatePosterior.fit(run.model, part.X, run.model_labels(part), seed=seed)


def _class_for(run: Run, label: Any, *examples: Example) -> Any:
    """The class a conditional model decodes with: the one asked for, else the first example's."""
    if run.model.classes_ is None:
        return label
    return label if label is not None else next((e.label for e in examples if e.label is not None), None)


def _write(run: Run, what: str, fig, entry: dict[str, Any]) -> Path:
    path = save_png(fig, run.figure(FIGURES[what]))
    block = dict(run.dir.read_metrics().get("explore", {}))
    block[what] = {**entry, "figure": f"figures/{FIGURES[what]}"}
    run.update_metrics(explore=block)
    return path


def _views(run: Run, decoded: np.ndarray, parts: int) -> list[list[Any]] | None:
    """Decoder means (parts * m, ...) in the run's columns, split into ``parts`` views of m rows (tables); None for
    runs whose examples are their features."""
    flat = decoded.reshape(decoded.shape[0], -1)
    if run.kind.column_view(flat[:1]) is None:
        return None
    return [run.kind.column_view(chunk) for chunk in np.split(flat, parts)]


def run_traverse(run_path: str | os.PathLike, *, dims=None, span: float = 3.0, steps: int = 11,
                 centre: str | None = None, label: Any = None, specs: Specs | None = None, per: str = "auto"):  # fmt: skip
    r = Run(run_path, specs)
    ref = r.example(centre) if centre is not None else None
    lab = _class_for(r, label, *([ref] if ref else []))
    result = traverse(r.model, dims=dims, span=span, steps=steps, reference=None if ref is None else ref.x,
                      reference_label=lab, label=lab, activity=_activity(r) if dims is None else None, per=per)  # fmt: skip
    entry = {**result.to_dict(), "centre": centre}
    views = _views(r, result.decoded.reshape(-1, *result.decoded.shape[2:]), len(result.dims))
    if views is not None:  # a table: each dimension's ends in the columns' own terms
        entry["columns"] = [{"dim": d, "low": column_rows(v, 0), "centre": column_rows(v, len(result.offsets) // 2),
                             "high": column_rows(v, -1)} for d, v in zip(result.dims, views)]  # fmt: skip
    fig = traversal_figure(result) if views is None else traversal_columns_figure(result, views)
    return result, _write(r, "traverse", fig, entry)


def run_grid(run_path: str | os.PathLike, *, dims=None, n: int = 15, centre: str | None = None, label: Any = None,
             specs: Specs | None = None):
    r = Run(run_path, specs)
    ref = r.example(centre) if centre is not None else None
    lab = _class_for(r, label, *([ref] if ref else []))
    result = manifold_grid(r.model, dims=dims, n=n, reference=None if ref is None else ref.x, reference_label=lab,
                           label=lab, activity=_activity(r) if dims is None and r.model.latent_dim_ > 2 else None)  # fmt: skip
    views = _views(r, result.decoded.reshape(-1, *result.decoded.shape[2:]), 1)
    fig = grid_figure(result) if views is None else grid_columns_figure(result, views[0])
    return result, _write(r, "grid", fig, {**result.to_dict(), "centre": centre})


def run_interpolate(run_path: str | os.PathLike, a: str, b: str, *, steps: int = 10, seed: int = 0,
                    specs: Specs | None = None):
    r = Run(run_path, specs)
    ea, eb = r.example(a), r.example(b)
    result = interpolate(r.model, ea.x, eb.x, aggregate=_aggregate(r, seed), steps=steps,
                         y_a=_class_for(r, None, ea), y_b=_class_for(r, None, eb))  # fmt: skip
    entry = {"a": a, "b": b, "label_a": ea.label, "label_b": eb.label, **result.to_dict()}
    views = {k: v[0] for k, v in ((k, _views(r, d, 1)) for k, d in result.decoded.items()) if v is not None}
    fig = interpolation_figure(result) if not views else interpolation_columns_figure(result, views)
    return result, _write(r, "interpolate", fig, entry)


def run_arithmetic(run_path: str | os.PathLike, a: str, b: str, *, n_samples: int = 200, seed: int = 0,
                   specs: Specs | None = None):
    r = Run(run_path, specs)
    model = r.model
    ea, eb = r.example(a), r.example(b)
    train, test = r.split("train"), r.split("test")
    reference = None if model.deterministic_ else log_likelihood(model, test.X, r.model_labels(test), n_samples, seed=seed).log_px
    result = arithmetic(model, ea.x, eb.x, aggregate=_aggregate(r, seed), reference_log_px=reference,
                        data_range=(float(train.X.min()), float(train.X.max())), n_samples=n_samples,
                        y_a=_class_for(r, None, ea), y_b=_class_for(r, None, eb), seed=seed)  # fmt: skip
    entry = {"a": a, "b": b, "label_a": ea.label, "label_b": eb.label, **result.to_dict()}
    views = _views(r, np.stack([x.image for x in result.results]), 1)
    if views is not None:
        for i, row in enumerate(entry["results"]):
            row["decoded"] = column_rows(views[0], i)
    fig = arithmetic_figure(result) if views is None else arithmetic_rows_figure(result, views[0])
    return result, _write(r, "arithmetic", fig, entry)


def default_pair(run_path: str | os.PathLike) -> tuple[str, str]:
    """Two test examples to explore between: the first one, and the first of another class."""
    test = Run(run_path).split("test")
    if test.n_examples < 2:
        raise DataError("Exploring between two examples needs a test split of at least 2; name them as train:N.")
    if test.y is not None:
        other = np.flatnonzero(test.y != test.y[0])
        if other.size:
            return "test:0", f"test:{int(other[0])}"
    return "test:0", "test:1"
