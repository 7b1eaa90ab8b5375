"""Generation from a run folder: ``vaelab sample`` and ``vaelab compare-samplers``.

Every sampler draws codes z (the prior, posteriors of given inputs, or a density
fitted to the training codes); the decoder turns them into data. The comparison
measures each sampler's samples against the run's held-out test split in one
feature space — a domain classifier trained on the run's labelled training split
(cached in ``RUN/classifier.safetensors``), or PCA when there are no labels — and
says which sampler to use for this model.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaelab.analysis.quality import (
    FeatureSpace,
    class_distribution,
    classifier_state,
    load_classifier,
    memorization,
    pca_features,
    quality_report,
    train_classifier,
)
from vaelab.analysis.samplers import SAMPLERS, generate, make_sampler, posterior_codes
from vaelab.checkpoint import RunDir, atomic_write
from vaelab.data.split import indices
from vaelab.errors import ConfigError, DataError, RunError
from vaelab.estimator import VAE, load
from vaelab.run import load_run_data

CLASSIFIER = "classifier.safetensors"
METRICS = ("frechet", "precision", "recall", "density", "coverage")  # the contract of the samplers block


def _run_splits(run: RunDir, model: VAE):
    dataset, split = load_run_data(run, model.config_)
    parts = {name: dataset.subset(indices(split, name)) for name in ("train", "val", "test")}
    if parts["test"].n_examples < 10:
        raise DataError(f"Comparing samplers needs a test split of at least 10 examples; this run has {parts['test'].n_examples}.")
    return dataset, parts


def feature_space(run: RunDir, parts: dict, seed: int = 0) -> FeatureSpace:
    """The run's domain classifier (trained once on the labelled training split, then read
    from the run), or PCA of the training split when there are no labels."""
    train, test = parts["train"], parts["test"]
    if train.y is None:
        return FeatureSpace(pca_features(train.X, seed=seed))
    if run.file(CLASSIFIER).is_file():
        try:
            arrays, metadata = run.read_arrays(CLASSIFIER)
            return FeatureSpace(load_classifier(arrays, metadata))
        except RunError:
            pass  # a damaged cache is trained again and overwritten
    clf, _ = train_classifier(train.X, train.y, test.X, test.y, train.n_classes, seed=seed)
    tensors, metadata = classifier_state(clf)
    run.write_arrays(CLASSIFIER, {k: v.detach().cpu().numpy() for k, v in tensors.items()}, metadata)
    return FeatureSpace(clf)


def fit_sampler(name: str, model: VAE, parts: dict, seed: int = 0):
    """A fitted sampler: density samplers see the training codes (validation codes for selection);
    the posterior sampler draws from q(z|x) of training inputs."""
    if name == "posterior":
        # Shuffled (seeded): the sampler cycles over its inputs, and files are often sorted by class.
        order = np.random.default_rng(seed).permutation(parts["train"].n_examples)
        train = parts["train"].subset(order)
        return make_sampler(name, X=train.X, y=_names(train, model)).fit(model)
    if name == "prior":
        return make_sampler(name).fit(model)
    train_codes = posterior_codes(model, parts["train"].X, _names(parts["train"], model))
    val_codes = posterior_codes(model, parts["val"].X, _names(parts["val"], model)) if parts["val"].n_examples else None
    return make_sampler(name, seed=seed).fit(model, train_codes, val_codes)


def _names(part, model: VAE):
    """Label names of a split, for conditional models (which need them)."""
    if model.classes_ is None or part.y is None:
        return None
    return np.asarray(part.classes)[part.y]


def compare_samplers(run_path: str | os.PathLike, *, samplers: tuple[str, ...] = SAMPLERS, n: int | None = None,
                     seed: int = 0, progress=None) -> dict[str, Any]:
    """Every sampler x every metric against the run's test split; writes the ``samplers`` block."""
    for name in samplers:
        if name not in SAMPLERS:
            raise ConfigError(f"Unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}.")
    run = RunDir(run_path)
    model = load(run_path)
    _, parts = _run_splits(run, model)
    test = parts["test"]
    n = n or test.n_examples
    features = feature_space(run, parts, seed)
    real = features.transform(test.X)
    flat_train = parts["train"].X.reshape(parts["train"].n_examples, -1)
    flat_test = test.X.reshape(test.n_examples, -1)
    # Conditional models generate class by class in the test split's proportions.
    y_gen = None
    if model.classes_ is not None:
        rng = np.random.default_rng(seed)
        y_gen = rng.choice(_names(test, model), size=n, replace=True)

    block: dict[str, Any] = {}
    grids: dict[str, np.ndarray] = {}
    for name in samplers:
        if progress:
            progress(name)
        sampler = fit_sampler(name, model, parts, seed)
        X_gen = generate(model, sampler, n, y=y_gen, mean=True, seed=seed)
        entry = quality_report(real, features.transform(X_gen))
        entry["memorization"] = memorization(flat_train, flat_test, X_gen.reshape(n, -1))
        if features.kind == "classifier":
            entry["classes"] = class_distribution(features.predict(X_gen), test.y, test.n_classes)
        entry["sampler"] = sampler.to_dict()
        block[name] = entry
        grids[name] = X_gen[:64]
    metrics = run.read_metrics()
    hole = metrics.get("diagnostics", {}).get("aggregate", {}).get("prior_hole_mass")
    summary = {
        "features": features.kind, "classifier_test_accuracy": features.test_accuracy, "n_samples": n,
        "n_real": test.n_examples, "prior_hole_mass": hole, "verdict": verdict(block, hole),
    }  # fmt: skip
    run.update_metrics(samplers={**block, "_summary": summary})
    return {"samplers": block, "summary": summary, "grids": grids, "model": model}


def verdict(block: dict[str, dict], hole: float | None) -> str:
    """One line: which sampler to use for this model, and why."""
    density_samplers = [k for k in block if k != "posterior"]  # posterior draws re-decode training inputs
    pool = density_samplers or list(block)
    best = min(pool, key=lambda k: block[k]["frechet"])
    b = block[best]
    why = f"its samples are closest to held-out data (Fréchet {b['frechet']:.2f}"
    if "prior" in block and best != "prior":
        why += f" vs {block['prior']['frechet']:.2f} for the prior"
    why += f"; precision {b['precision']:.2f}, recall {b['recall']:.2f})"
    if hole is not None and best != "prior" and hole > 0.05:
        why += f", and {100 * hole:.1f}% of prior draws fall into holes of the aggregate posterior"
    elif hole is not None and best != "prior":
        why += f"; the prior is mostly covered (hole mass {100 * hole:.1f}%), the gain is in matching the codes' shape"
    return f"For this model, sample from {best}, because {why}."


def markdown_table(block: dict[str, dict], summary: dict) -> str:
    """Every sampler x every metric, for stdout."""
    hole = summary.get("prior_hole_mass")
    head = "| sampler | Fréchet ↓ | precision ↑ | recall ↑ | density ↑ | coverage ↑ | class TV ↓ | nearest-train ratio |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in block.items():
        tv = m.get("classes", {}).get("total_variation")
        ratio = m["memorization"].get("ratio")
        lines.append(
            f"| {name} | {m['frechet']:.2f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['density']:.3f} | "
            f"{m['coverage']:.3f} | {'-' if tv is None else f'{tv:.3f}'} | {'-' if ratio is None else f'{ratio:.2f}'} |"
        )
    note = [f"features: {summary['features']}"]
    if summary.get("classifier_test_accuracy") is not None:
        note.append(f"classifier test accuracy {summary['classifier_test_accuracy']:.3f}")
    note.append(f"{summary['n_samples']} samples per sampler vs {summary['n_real']} test examples")
    note.append("prior-hole mass " + ("not measured (run vaelab inspect)" if hole is None else f"{hole:.3f}"))
    return "\n".join(lines) + "\n" + "; ".join(note)


def sample_to_file(run_path: str | os.PathLike, n: int, out: str | os.PathLike, *, sampler: str = "prior",
                   label: str | None = None, draw: bool = False, seed: int = 0) -> Path:
    """Write n generated examples: .npy (always possible), .png (a grid, images) or .csv (vectors)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"--n must be a positive integer; got {n!r}.")
    out = Path(out)
    suffix = out.suffix.lower()
    run = RunDir(run_path)
    run.check()
    data = run.read_config().data
    kind = data.kind if data else "array"
    if kind == "table":
        return _table_to_file(run_path, n, out, sampler, seed)
    if kind == "series":
        return _windows_to_file(run_path, n, out, sampler, draw, seed)
    if suffix not in (".npy", ".png", ".csv"):
        raise ConfigError(f"--out must end in .npy, .png or .csv; got {out.name!r}.")
    model = load(run_path)
    if model.classes_ is not None and label is None:
        raise ConfigError(f"This model is conditional: choose a class with --class (one of {model.classes_.tolist()}).")
    if model.classes_ is None and label is not None:
        raise ConfigError("--class needs a conditional model (trained with --conditional).")
    parts = None if sampler == "prior" else _run_splits(run, model)[1]
    fitted = fit_sampler(sampler, model, parts, seed)
    X = generate(model, fitted, n, y=None if label is None else np.full(n, str(label)), mean=not draw, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, X.astype(np.float32), allow_pickle=False)
        atomic_write(out, buf.getvalue())
    elif suffix == ".png":
        if X.ndim != 4:
            raise ConfigError("A .png grid needs an image model; write .npy or .csv for vector data.")
        from vaelab.report.figures import image_grid, save_png

        save_png(image_grid(X, min(10, n), f"{n} samples from {sampler}" + (f", class {label}" if label else "")), out)
    else:
        frame = pd.DataFrame(X.reshape(n, -1))
        atomic_write(out, frame.to_csv(index=False, float_format="%.6g").encode())
    return out


def _write_frame(frame: pd.DataFrame, out: Path) -> Path:
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        atomic_write(out, frame.to_csv(index=False).encode())
    elif suffix in (".parquet", ".pq"):
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False, engine="pyarrow")
        atomic_write(out, buf.getvalue())
    else:
        raise ConfigError(f"--out must end in .csv or .parquet for this run; got {out.name!r}.")
    return out


def _table_to_file(run_path, n: int, out: Path, sampler: str, seed: int) -> Path:
    """Synthetic rows with the table's own columns, dtypes and categories (.csv, or .parquet to keep dtypes)."""
    from vaelab.tabular import generate_table

    return _write_frame(generate_table(run_path, n, sampler=sampler, seed=seed), out)


def _windows_to_file(run_path, n: int, out: Path, sampler: str, draw: bool, seed: int) -> Path:
    """New windows in the data's units: a long table (window, step, features) or an (n, T, F) .npy."""
    from vaelab.series import generate_windows, load_series, windows_frame

    X = generate_windows(run_path, n, sampler=sampler, draw=draw, seed=seed)
    if out.suffix.lower() == ".npy":
        buf = io.BytesIO()
        np.save(buf, X.astype(np.float32), allow_pickle=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, buf.getvalue())
        return out
    return _write_frame(windows_frame(X, load_series(run_path)[1].features), out)


def forecast_to_file(run_path, past: str | os.PathLike, draws: int, out: str | os.PathLike, *,
                     seed: int = 0) -> tuple[Path, Path | None]:  # fmt: skip
    """``draws`` futures given the last n_past rows of ``past``: a long table (draw, step, features) or an
    (draws, n_future, F) .npy; beside a table, a PNG of the past with the 50%/90% bands."""
    from vaelab.report.figures import save_png
    from vaelab.report.synthetic_figures import forecast_band
    from vaelab.series import forecast, forecast_frame, load_series, read_past

    out = Path(out)
    _, settings, _ = load_series(run_path)
    hist = read_past(past, settings)
    futures = forecast(run_path, hist, draws, seed=seed)
    if out.suffix.lower() == ".npy":
        buf = io.BytesIO()
        np.save(buf, futures.astype(np.float32), allow_pickle=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, buf.getvalue())
        return out, None
    _write_frame(forecast_frame(futures, settings.features, settings.n_past), out)
    window = np.concatenate([hist, np.full((settings.n_future, hist.shape[1]), np.nan)])
    png = save_png(forecast_band(window, futures, settings.n_past, settings.features), out.with_suffix(".png"))
    return out, png
