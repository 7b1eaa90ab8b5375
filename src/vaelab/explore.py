"""Latent exploration of a run folder: ``vaelab explore RUN traverse | grid | interpolate A B | arithmetic A B``.

Each command computes its result with :mod:`vaelab.analysis.explore`, writes one figure
into ``RUN/figures/`` and its entry of the ``explore`` block of ``metrics.json``.
Examples (A, B, a centre) are named by a spec:

* ``12`` — example 12 of the run's test split;
* ``val:3``, ``train:0``, ``test:7`` — an example of one of the run's splits;
* ``digit.png`` — an image file; ``data.npy`` or ``data.npy:5`` — an example of any file
  vaelab reads (the first one without ``:INDEX``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
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
from vaelab.checkpoint import RunDir
from vaelab.data.sources import IMAGE_SUFFIXES, _stack_images, load_dataset
from vaelab.data.split import SPLITS, indices
from vaelab.errors import DataError
from vaelab.estimator import VAE, load
from vaelab.run import load_run_data

FIGURES = {"traverse": "traversals.png", "grid": "manifold_grid.png", "interpolate": "interpolation.png",
           "arithmetic": "arithmetic.png"}  # fmt: skip
EXAMPLE_HELP = ("an example: N (test split index), SPLIT:N (train, val or test), an image file, "
                "or FILE[:N] (any data file vaelab reads)")  # fmt: skip


@dataclass
class Example:
    x: np.ndarray  # (1, *input_shape) as the model takes it
    label: str | None  # label name, where the data has labels
    spec: str


class _Run:
    """A run folder with its model and (lazily) its data splits."""

    def __init__(self, path: str | os.PathLike):
        self.dir = RunDir(path)
        self.model: VAE = load(path)
        self._data = None

    @property
    def data(self):
        if self._data is None:
            self._data = load_run_data(self.dir, self.model.config_)
        return self._data

    def split(self, name: str):
        dataset, codes = self.data
        idx = indices(codes, name)
        if idx.size == 0:
            raise DataError(f"The run's {name} split is empty; name an example of another split or a file.")
        return dataset.subset(idx)

    def labels_of(self, part) -> np.ndarray | None:
        return None if part.y is None else np.asarray(part.classes)[part.y]

    def model_labels(self, part) -> np.ndarray | None:
        """Labels to pass to the model: only conditional models take them."""
        return self.labels_of(part) if self.model.classes_ is not None else None

    def example(self, spec: str) -> Example:
        spec = str(spec)
        head, _, tail = spec.rpartition(":")
        if spec.isdigit():
            source, index = "test", int(spec)
        elif head and tail.isdigit() and (head in SPLITS or Path(head).exists()):
            source, index = head, int(tail)
        else:
            source, index = spec, 0
        if source in SPLITS and not Path(source).exists():
            part = self.split(source)
        elif Path(source).is_file() and Path(source).suffix.lower() in IMAGE_SUFFIXES:
            x = _stack_images([Path(source)], Path(source).parent).astype(np.float32) / 255.0
            return Example(self._shaped(x, spec), None, spec)
        elif Path(source).exists():
            part = load_dataset(source)
        else:
            raise DataError(f"Example {spec!r} names neither a split index nor a file; expected {EXAMPLE_HELP}.")
        if not 0 <= index < part.n_examples:
            raise DataError(f"Example {spec!r}: index {index} is out of range; {source} has {part.n_examples} examples (0..{part.n_examples - 1}).")
        labels = self.labels_of(part)
        return Example(self._shaped(part.X[index : index + 1], spec), None if labels is None else str(labels[index]), spec)

    def _shaped(self, x: np.ndarray, spec: str) -> np.ndarray:
        if x[0].size != self.model.n_features_in_:
            raise DataError(f"Example {spec!r} has shape {x.shape[1:]}; this model takes examples of shape {self.model.input_shape_}.")
        return x.reshape(1, *self.model.input_shape_).astype(np.float32)

    def activity(self):
        """KL per dimension on the test split (the validation split when there is no test split)."""
        _, codes = self.data
        part = self.split("test" if indices(codes, "test").size else "val")
        return latent_activity(self.model, part.X, self.model_labels(part))

    def aggregate(self, seed: int = 0) -> AggregatePosterior:
        part = self.split("train")
        return AggregatePosterior.fit(self.model, part.X, self.model_labels(part), seed=seed)

    def write(self, what: str, fig, entry: dict[str, Any]) -> Path:
        from vaelab.report.figures import save_png

        path = save_png(fig, self.dir.path / "figures" / FIGURES[what])
        block = dict(self.dir.read_metrics().get("explore", {}))
        block[what] = {**entry, "figure": f"figures/{FIGURES[what]}"}
        self.dir.update_metrics(explore=block)
        return path


def _class_for(r: _Run, label: Any, *examples: Example) -> Any:
    """The class a conditional model decodes with: the one asked for, else the first example's."""
    if r.model.classes_ is None:
        return label
    return label if label is not None else next((e.label for e in examples if e.label is not None), None)


def run_traverse(run_path, *, dims=None, span: float = 3.0, steps: int = 11, centre: str | None = None,
                 label: Any = None):  # fmt: skip
    from vaelab.report.explore_figures import traversal_figure

    r = _Run(run_path)
    ref = r.example(centre) if centre is not None else None
    lab = _class_for(r, label, *([ref] if ref else []))
    result = traverse(r.model, dims=dims, span=span, steps=steps, reference=None if ref is None else ref.x,
                      reference_label=lab, label=lab, activity=r.activity() if dims is None else None)  # fmt: skip
    path = r.write("traverse", traversal_figure(result), {**result.to_dict(), "centre": centre})
    return result, path


def run_grid(run_path, *, dims=None, n: int = 15, centre: str | None = None, label: Any = None):
    from vaelab.report.explore_figures import grid_figure

    r = _Run(run_path)
    ref = r.example(centre) if centre is not None else None
    lab = _class_for(r, label, *([ref] if ref else []))
    L = r.model.module_.latent_dim
    result = manifold_grid(r.model, dims=dims, n=n, reference=None if ref is None else ref.x, reference_label=lab,
                           label=lab, activity=r.activity() if dims is None and L > 2 else None)  # fmt: skip
    path = r.write("grid", grid_figure(result), {**result.to_dict(), "centre": centre})
    return result, path


def run_interpolate(run_path, a: str, b: str, *, steps: int = 10, seed: int = 0):
    from vaelab.report.explore_figures import interpolation_figure

    r = _Run(run_path)
    ea, eb = r.example(a), r.example(b)
    result = interpolate(r.model, ea.x, eb.x, aggregate=r.aggregate(seed), steps=steps,
                         y_a=_class_for(r, None, ea), y_b=_class_for(r, None, eb))  # fmt: skip
    entry = {"a": a, "b": b, "label_a": ea.label, "label_b": eb.label, **result.to_dict()}
    return result, r.write("interpolate", interpolation_figure(result), entry)


def run_arithmetic(run_path, a: str, b: str, *, n_samples: int = 200, seed: int = 0):
    from vaelab.report.explore_figures import arithmetic_figure

    r = _Run(run_path)
    ea, eb = r.example(a), r.example(b)
    train, test = r.split("train"), r.split("test")
    reference = r.model.log_likelihood(test.X, r.model_labels(test), n_samples, seed=seed).log_px
    result = arithmetic(r.model, ea.x, eb.x, aggregate=r.aggregate(seed), reference_log_px=reference,
                        data_range=(float(train.X.min()), float(train.X.max())), n_samples=n_samples,
                        y_a=_class_for(r, None, ea), y_b=_class_for(r, None, eb), seed=seed)  # fmt: skip
    entry = {"a": a, "b": b, "label_a": ea.label, "label_b": eb.label, **result.to_dict()}
    return result, r.write("arithmetic", arithmetic_figure(result), entry)


def default_pair(run_path) -> tuple[str, str]:
    """Two test examples to explore between: the first one, and the first of another class."""
    r = _Run(run_path)
    test = r.split("test")
    if test.n_examples < 2:
        raise DataError("Exploring between two examples needs a test split of at least 2; name them as train:N.")
    if test.y is not None:
        other = np.flatnonzero(test.y != test.y[0])
        if other.size:
            return "test:0", f"test:{int(other[0])}"
    return "test:0", "test:1"
