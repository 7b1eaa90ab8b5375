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
from vaelab.analysis.aggregate import subsample
from vaelab.commands.score import MAX_SAMPLES, SAMPLES_WHY
from vaelab.config import check_count, check_number, check_seed
from vaelab.data.rows import blocks
from vaelab.data.split import indices
from vaelab.errors import ConfigError, DataError
from vaelab.report.explore_figures import (
    EXPLORE_FIGURES,
    arithmetic_figure,
    grid_figure,
    interpolation_figure,
    traversal_figure,
)
from vaelab.report.figures import png_bytes
from vaelab.report.series_figures import (
    WindowView,
    arithmetic_windows_figure,
    grid_windows_figure,
    interpolation_windows_figure,
    traversal_windows_figure,
)
from vaelab.report.table_figures import (
    arithmetic_rows_figure,
    column_rows,
    grid_columns_figure,
    interpolation_columns_figure,
    traversal_columns_figure,
)
from vaelab.runs.run import EXAMPLE_HELP, Example, Run, Specs
from vaelab.runtime import memory_budget

FIGURES = EXPLORE_FIGURES
# Values along one axis of a figure (steps of a traversal or a path, a grid's side, traversal rows):
# beyond this a figure outgrows what matplotlib draws (65,536 pixels a side) and what anyone reads.
MAX_STEPS = 200
MAX_GRID = 100  # a grid's side: n x n decoded examples
MAX_SPAN = 100.0  # prior SDs; the prior holds no mass beyond (P(|z| > 100 SD) < 1e-2000)
FIGURE_WHY = "a figure cannot show more"


def _check_steps(name: str, steps: int, most: int = MAX_STEPS) -> int:
    steps = check_count(name, steps, most, FIGURE_WHY)
    if steps < 2:
        raise ConfigError(f"{name} must be at least 2 (the two ends); got {steps}.")
    return steps


def _check_decoded(run: Run, count: int, what: str) -> None:
    """Refuse, before any work, ``count`` decoded examples that would not fit in memory."""
    need = count * run.n_features * 8  # float32 values, and a copy while the figure is drawn
    if need > memory_budget():
        raise ConfigError(f"{what} would decode {count:,} examples of {run.n_features:,} values ({need / 2**30:.1f} GiB), "
                          f"more than this machine's memory allows ({memory_budget() / 2**30:.1f} GiB); ask for fewer.")  # fmt: skip


MAX_REFERENCE_EXAMPLES = 5000  # test examples whose log p(x) the arithmetic's percentiles are taken among
__all__ = ["EXAMPLE_HELP", "FIGURES", "default_pair", "run_arithmetic", "run_grid", "run_interpolate", "run_traverse"]


def _activity(run: Run):
    """KL per dimension on the test split (the validation split when there is no test split, the training split
    when neither is there: a run adopted or trained with both fractions 0 was refused, "the run's val split is
    empty", by a traversal that needs only codes). Its ``split`` says which."""
    _, codes = run.data()
    name = next((n for n in ("test", "val") if indices(codes, n).size), "train")
    part = run.kind.given_trained(run.split(name))  # as score gives them
    activity = latent_activity(run.model, part.X, run.model_labels(part))
    activity.split = name
    return activity


def _aggregate(run: Run, seed: int = 0) -> AggregatePosterior:
    part = run.split("train", lazy=True)  # a large file stays where it is: only the codes kept are read
    return AggregatePosterior.fit(run.model, part.X, run.model_labels(part), seed=seed)


def _codes_used(agg: AggregatePosterior) -> dict[str, int]:
    """How many training codes q(z) and the typicality percentiles were computed from (a seeded
    subsample beyond AggregatePosterior's MAX_REFERENCE_CODES)."""
    return {"n_codes": agg.n_codes, "n_train": agg.n_total}


def _data_range(X) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's smallest and largest value in X (the training split), read block by block: data-space a ± b
    is clipped to them, not to one range over all features, which is loose where features differ in scale (an
    audit)."""
    lo = hi = None
    for _, block in blocks(X):
        flat = np.asarray(block, dtype=np.float64).reshape(len(block), -1)
        if not len(flat):
            continue
        low, high = flat.min(0), flat.max(0)
        lo, hi = (low, high) if lo is None else (np.minimum(lo, low), np.maximum(hi, high))
    if lo is None:
        raise DataError("The run's training split is empty: data-space a ± b has no range to be clipped to.")
    return lo, hi


def _class_for(run: Run, label: Any, *examples: Example, option: bool = False) -> Any:
    """The class a conditional model decodes with (and encodes an example without a label with: :func:`_own_class`):
    the one asked for (``option``: the command has --class), else the examples' own, else (None) the model's first.
    An example without a label (a file's) is refused: it was encoded as the model's first class and called "a's
    class", whatever its own (an audit). A class no training example holds (a conditional table run's condition value
    only held-out rows hold) is refused when asked for and passed over by default, as ``sample`` does (an audit, s11
    c: explore decoded with such an untrained class, the model's first by default)."""
    if run.model.classes_ is None:
        return label
    untrained = run.kind.untrained_labels
    if label is not None:
        label = run.kind.class_label(label)  # a table run's --class in the spellings --given takes (true, 1.0: an audit)
        if str(label) in untrained:
            trained = [str(c) for c in run.model.classes_ if str(c) not in untrained]
            raise DataError(f"--class {label!r}: no training row holds it (only held-out rows do), so the decoder "
                            f"never learned it; the training rows' classes are {trained[:20]}.")  # fmt: skip
        return label
    for e in examples:
        if e.label is None:
            raise DataError(f"Example {e.spec!r} comes without a label, and this model is conditional: it would be "
                            f"encoded as the model's first class {str(run.model.classes_[0])!r}, which need not be its "
                            "own. Name an example of the run's splits (N, or SPLIT:N), whose labels are stored"
                            + (", or give its class with --class." if option else "."))  # fmt: skip
    label = next((e.label for e in examples), None)
    if label is None and untrained:
        label = next(str(c) for c in run.model.classes_ if str(c) not in untrained)
    return label


def _own_class(example: Example | None, label: Any) -> Any:
    """The class a centre example is encoded with: its own where it has one (a split's row, a table file's row), else
    ``label`` (--class, given for a file's example without labels). --class picks the class decoded with; the centre
    was encoded with it too, which is not the example's code (an audit, s12 f)."""
    return label if example is None or example.label is None else example.label


def _write(run: Run, what: str, fig, entry: dict[str, Any]) -> Path:
    path = run.figure(FIGURES[what])
    # Only this action's entry changes, under the run's lock: explorations run at once keep each other's. The figure
    # is written with it, so two of the same action at once leave one's figure and entry (an audit, s13 g).
    run.merge_metrics("explore", {what: {**entry, "figure": f"figures/{FIGURES[what]}"}}, files={path: png_bytes(fig)})
    return path


def _windows(run: Run, decoded: np.ndarray) -> WindowView | None:
    """Decoder means (m, ...) as windows in the data's units (a series run), else None."""
    got = run.kind.window_view(np.asarray(decoded).reshape(len(decoded), -1))
    return None if got is None else WindowView(*got)


def _views(run: Run, decoded: np.ndarray, parts: int) -> list[list[Any]] | None:
    """Decoder means (parts * m, ...) in the run's columns, split into ``parts`` views of m rows (tables); None for
    runs whose examples are their features."""
    flat = decoded.reshape(decoded.shape[0], -1)
    if run.kind.column_view(flat[:1]) is None:
        return None
    return [run.kind.column_view(chunk) for chunk in np.split(flat, parts)]


def run_traverse(run_path: str | os.PathLike, *, dims=None, span: float = 3.0, steps: int = 11,
                 centre: str | None = None, label: Any = None, specs: Specs | None = None, per: str = "auto"):  # fmt: skip
    check_number("--span", span, 0, MAX_SPAN, low_open=True, unit=" SDs (prior SDs; a plain autoencoder's codes' SDs)")
    steps = _check_steps("--steps", steps)
    if dims is not None:
        dims = list(dims)
        if not dims or len(dims) > MAX_STEPS:
            raise ConfigError(f"--dims takes 1 to {MAX_STEPS} dimensions (rows of the figure); got {len(dims)}.")
    r = Run(run_path, specs)
    r.check_folders()
    _check_decoded(r, (len(dims) if dims is not None else min(r.config.model.latent_dim, MAX_STEPS)) * steps,
                   "This traversal")  # fmt: skip
    ref = r.example(centre) if centre is not None else None
    lab = _class_for(r, label, *([ref] if ref else []), option=True)
    # a deterministic encoder's offsets are in its codes' SDs, measured on the split (an audit)
    activity = _activity(r) if dims is None or r.model.deterministic_ else None
    result = traverse(r.model, dims=dims, span=span, steps=steps, reference=None if ref is None else ref.x,
                      reference_label=_own_class(ref, lab), label=lab, per=per, activity=activity)  # fmt: skip
    if result.scale == "codes":  # the split the codes' scale was measured on
        result.codes_from = getattr(activity, "split", None)
    entry = {**result.to_dict(), "centre": centre}
    views = _views(r, result.decoded.reshape(-1, *result.decoded.shape[2:]), len(result.dims))
    if views is not None:  # a table: each dimension's ends in the columns' own terms
        entry["columns"] = [{"dim": d, "low": column_rows(v, 0), "centre": column_rows(v, len(result.offsets) // 2),
                             "high": column_rows(v, -1)} for d, v in zip(result.dims, views)]  # fmt: skip
    windows = _windows(r, result.decoded.reshape(-1, *result.decoded.shape[2:]))
    fig = (traversal_columns_figure(result, views) if views is not None else
           traversal_windows_figure(result, windows) if windows is not None else
           traversal_figure(result, r.kind.feature_names()))  # fmt: skip
    return result, _write(r, "traverse", fig, entry)


def run_grid(run_path: str | os.PathLike, *, dims=None, n: int = 15, centre: str | None = None, label: Any = None,
             specs: Specs | None = None):
    n = _check_steps("--n", n, MAX_GRID)
    r = Run(run_path, specs)
    r.check_folders()
    _check_decoded(r, n * n, "This grid")
    ref = r.example(centre) if centre is not None else None
    lab = _class_for(r, label, *([ref] if ref else []), option=True)
    activity = _activity(r) if (dims is None and r.model.latent_dim_ > 2) or r.model.deterministic_ else None
    result = manifold_grid(r.model, dims=dims, n=n, reference=None if ref is None else ref.x,
                           reference_label=_own_class(ref, lab), label=lab, activity=activity)  # fmt: skip
    if result.scale == "codes":
        result.codes_from = getattr(activity, "split", None)
    views = _views(r, result.decoded.reshape(-1, *result.decoded.shape[2:]), 1)
    windows = _windows(r, result.decoded.reshape(-1, *result.decoded.shape[2:]))
    fig = (grid_columns_figure(result, views[0]) if views is not None else
           grid_windows_figure(result, windows) if windows is not None else
           grid_figure(result, r.kind.feature_names()))  # fmt: skip
    return result, _write(r, "grid", fig, {**result.to_dict(), "centre": centre})


def run_interpolate(run_path: str | os.PathLike, a: str, b: str, *, steps: int = 10, seed: int = 0,
                    specs: Specs | None = None):
    steps = _check_steps("--steps", steps)
    check_seed(seed)
    r = Run(run_path, specs)
    r.check_folders()
    _check_decoded(r, 4 * steps, "This interpolation")
    ea, eb = r.example(a), r.example(b)
    y_a, y_b = _class_for(r, None, ea), _class_for(r, None, eb)
    agg = _aggregate(r, seed)
    result = interpolate(r.model, ea.x, eb.x, aggregate=agg, steps=steps, y_a=y_a, y_b=y_b)
    if result.scale == "codes":  # the spherical path's centre: the mean of the aggregate's (training) codes
        result.codes_from = "train"
    entry = {"a": a, "b": b, "label_a": ea.label, "label_b": eb.label, **result.to_dict(), **_codes_used(agg)}
    views = {k: v[0] for k, v in ((k, _views(r, d, 1)) for k, d in result.decoded.items()) if v is not None}
    ends = _windows(r, result.endpoints)
    if views:
        fig = interpolation_columns_figure(result, views)
    elif ends is not None:
        fig = interpolation_windows_figure(result, {k: _windows(r, d) for k, d in result.decoded.items()}, ends)
    else:
        fig = interpolation_figure(result, r.kind.feature_names())
    return result, _write(r, "interpolate", fig, entry)


def run_arithmetic(run_path: str | os.PathLike, a: str, b: str, *, n_samples: int | None = None, seed: int = 0,
                   specs: Specs | None = None):
    """``n_samples``: importance samples for each log p(x) (default 200); a plain autoencoder has no log p(x) and
    refuses it."""
    asked, n_samples = n_samples is not None, 200 if n_samples is None else n_samples
    check_count("--n-samples", n_samples, MAX_SAMPLES, SAMPLES_WHY)
    check_seed(seed)
    r = Run(run_path, specs)
    r.check_folders()
    model = r.model
    if asked and model.deterministic_:  # it was ignored without a word (an audit, s14), as score refuses it
        raise ConfigError(f"--n-samples sets how log p(x) is estimated by importance sampling; the model of {r.dir.path} "
                          "is a plain autoencoder (a deterministic encoder, no q(z|x) variance), which has no log p(x), "
                          "so the arithmetic's verdicts read the latent typicality alone and draw nothing. Drop it.")  # fmt: skip
    if n_samples < 2:  # before any work: the percentiles' intervals need each log p(x)'s standard error (after the plain
        # autoencoder's refusal, which has no log p(x) for this to be said of: an audit, s15)
        raise ConfigError("--n-samples 1 gives each log p(x) no standard error, and the arithmetic's verdicts rest on "
                          "the 95% interval of its percentile; give at least 2 (default 200).")  # fmt: skip
    ea, eb = r.example(a), r.example(b)
    y_a, y_b = _class_for(r, None, ea), _class_for(r, None, eb)
    train = r.split("train", lazy=True)
    if model.deterministic_:  # no log p(x), so no reference: the test split is not needed (an audit, s12: a plain
        # autoencoder run without one was refused, "use another split or a file", which arithmetic has no option for)
        reference, n_test = None, int(indices(r.data(lazy=True)[1], "test").size)
    else:
        _, codes = r.data(lazy=True)
        if not indices(codes, "test").size:
            raise DataError("The run's test split is empty: explore arithmetic places each result's log p(x) among the "
                            "test split's (its percentile verdicts), and there is none. Train with a test fraction > "
                            "0; traverse, grid and interpolate need no test split.")  # fmt: skip
        test_all = r.kind.given_trained(r.split("test", lazy=True))  # as score's
        # The percentiles' reference: the test split's log p(x), on a seeded subsample beyond MAX_REFERENCE_EXAMPLES.
        test = test_all.subset(subsample(test_all.n_examples, MAX_REFERENCE_EXAMPLES, np.random.default_rng(seed)))
        # In the data's own units, as `vaelab score` gives them (a table's change of units included), the results too.
        reference, n_test = r.log_likelihood(test, n_samples, seed=seed).log_px, test_all.n_examples
    agg = _aggregate(r, seed)
    result = arithmetic(model, ea.x, eb.x, aggregate=agg, reference_log_px=reference,
                        data_range=_data_range(train.X), n_samples=n_samples,
                        y_a=y_a, y_b=y_b, seed=seed,
                        log_jacobian=r.kind.log_jacobian)  # fmt: skip
    result.units = r.kind.density_units  # an audit: explore's log p(x) came without what it is a density of
    views = _views(r, np.stack([x.image for x in result.results]), 1)
    if views is not None:  # a table: a ± b of two rows' encodings (one-hot and mode parts) is no row of any table
        for x in result.results:
            if x.space == "data":
                x.verdict = (f"Not a row: {x.name} combines the two rows' encodings (one-hot categories, modes and "
                             "offsets), which no table row holds, so its log p(x) and typicality say nothing about "
                             "the model; read the latent rows.")  # fmt: skip
    entry = {"a": a, "b": b, "label_a": ea.label, "label_b": eb.label, **result.to_dict(), **_codes_used(agg),
             "n_test": n_test}  # fmt: skip
    if views is not None:
        for i, row in enumerate(entry["results"]):
            row["decoded"] = column_rows(views[0], i)
    scored = _windows(r, np.stack([x.scored for x in result.results]))
    anchors = np.stack([x.scored for x in result.results[:2]]).reshape(2, -1)  # rows a and b themselves
    inputs = None if views is None else r.kind.column_view(anchors)
    fig = (arithmetic_rows_figure(result, views[0], inputs) if views is not None else
           arithmetic_windows_figure(result, scored, _windows(r, np.stack([x.image for x in result.results])))
           if scored is not None else arithmetic_figure(result))  # fmt: skip
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
