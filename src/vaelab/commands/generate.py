"""Generation from a run folder: ``vaelab compare-samplers`` and ``vaelab sample``.

Every sampler draws codes z (the prior, posteriors of given inputs, or a density
fitted to the training codes); the decoder turns them into data. The comparison
measures each sampler's samples against the run's held-out test split in one
feature space — a domain classifier trained on the run's labelled training split
(cached in ``RUN/classifier.safetensors``), or PCA when there are no labels — and
says which sampler to use for this model. ``sample`` writes generated data in the
user's units, as the run's kind writes it (arrays, table rows, series windows).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

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
from vaelab.analysis.samplers import SAMPLERS, generate
from vaelab.errors import ConfigError, DataError, RunError
from vaelab.runs.base import check_count
from vaelab.runs.run import Run, Specs

CLASSIFIER = "classifier.safetensors"
METRICS = ("frechet", "precision", "recall", "density", "coverage")  # the contract of the samplers block
MIN_TEST = 10  # test examples a sampler comparison needs


def feature_space(run: Run, parts: dict, seed: int = 0) -> FeatureSpace:
    """The run's domain classifier (trained once on the labelled training split, then read
    from the run), or PCA of the training split when there are no labels."""
    train, test = parts["train"], parts["test"]
    if train.y is None:
        return FeatureSpace(pca_features(train.X, seed=seed))
    if run.dir.file(CLASSIFIER).is_file():
        try:
            arrays, metadata = run.dir.read_arrays(CLASSIFIER)
            return FeatureSpace(load_classifier(arrays, metadata))
        except RunError:
            pass  # a damaged cache is trained again and overwritten
    clf, _ = train_classifier(train.X, train.y, test.X, test.y, train.n_classes, seed=seed)
    tensors, metadata = classifier_state(clf)
    run.dir.write_arrays(CLASSIFIER, {k: v.detach().cpu().numpy() for k, v in tensors.items()}, metadata)
    return FeatureSpace(clf)


def comparison_splits(run: Run) -> dict:
    """The run's splits, refused when the test split is too small to compare samplers on."""
    parts = run.splits()
    if parts["test"].n_examples < MIN_TEST:
        raise DataError(f"Comparing samplers needs a test split of at least {MIN_TEST} examples; this run has "
                        f"{parts['test'].n_examples}.")  # fmt: skip
    return parts


def compare_samplers(run_path: str | os.PathLike, *, samplers: tuple[str, ...] = SAMPLERS, n: int | None = None,
                     seed: int = 0, progress=None, specs: Specs | None = None) -> dict[str, Any]:
    """Every sampler x every metric against the run's test split; writes the ``samplers`` block."""
    for name in samplers:
        if name not in SAMPLERS:
            raise ConfigError(f"Unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}.")
    run = Run(run_path, specs)
    model = run.model
    parts = comparison_splits(run)
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
        y_gen = rng.choice(run.model_labels(test), size=n, replace=True)

    block: dict[str, Any] = {}
    grids: dict[str, np.ndarray] = {}
    for name in samplers:
        if progress:
            progress(name)
        sampler = run.sampler(name, seed)
        X_gen = generate(model, sampler, n, y=y_gen, mean=True, seed=seed)
        entry = quality_report(real, features.transform(X_gen))
        entry["memorization"] = memorization(flat_train, flat_test, X_gen.reshape(n, -1))
        if features.kind == "classifier":
            entry["classes"] = class_distribution(features.predict(X_gen), test.y, test.n_classes)
        entry["sampler"] = sampler.to_dict()
        block[name] = entry
        grids[name] = X_gen[:64]
    metrics = run.dir.read_metrics()
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
                   label: str | None = None, draw: bool = False, seed: int = 0, specs: Specs | None = None,
                   given: Any = None) -> Path:  # fmt: skip
    """Write n generated examples in the user's units, as the run's kind writes them: .npy, a .png
    grid or .csv for arrays; .csv or .parquet for table rows; a long table or .npy for series windows.
    ``given`` fixes columns of a table run's rows (``["region=north"]``); see :func:`sample_given`."""
    return sample_given(run_path, n, out, sampler=sampler, label=label, draw=draw, seed=seed, specs=specs,
                        given=given)[0]  # fmt: skip


def sample_given(run_path: str | os.PathLike, n: int, out: str | os.PathLike, *, sampler: str = "prior",
                 label: str | None = None, draw: bool = False, seed: int = 0, specs: Specs | None = None,
                 given: Any = None) -> tuple[Path, dict[str, Any] | None]:  # fmt: skip
    """:func:`sample_to_file`, and for rows with fixed values how they were made (the generator, its draws)
    and how each other column matches the real training rows that hold the same values: the KS complement
    (numeric, dates) or TV complement (categories, booleans) per column, as SDMetrics computes them."""
    check_count("--n", n)
    out = Path(out)
    run = Run(run_path, specs)
    run.kind.check_output(out)  # a file the kind cannot write is refused before any work
    data = run.synthesize(n, sampler=sampler, seed=seed, draw=draw, label=label, given=given)
    generation = getattr(data, "attrs", {}).get("generation")  # set by a table run's kind for fixed values
    if generation is not None:
        generation = {**generation, "columns": run.kind.given_fidelity(run, data, generation["given"])}
    title = f"{n} samples from {sampler}" + (f", class {label}" if label else "")
    return run.kind.write(data, out, title=title), generation


def forecast_to_file(run_path: str | os.PathLike, past: str | os.PathLike, draws: int, out: str | os.PathLike, *,
                     seed: int = 0) -> tuple[Path, Path | None]:  # fmt: skip
    """``draws`` futures given the last rows of ``past`` (series runs; see the series kind's ``forecast``)."""
    run = Run(run_path)
    return run.kind.forecast(run, past, draws, Path(out), seed=seed)
