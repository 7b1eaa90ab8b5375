"""``vaelab evaluate-synthetic RUN``: fidelity, utility and privacy of a run's synthetic data.

Tables (SDMetrics conventions): synthetic rows as many as the training split, scored
against the real training rows (column shapes, column-pair trends, their average),
machine-learning efficacy (train on synthetic, test on the real test split, against
train on real), and distance to closest record against the test split as holdout.

Series (TimeGAN conventions): synthetic windows as many as the test windows; the
discriminative score (a classifier telling real test windows from synthetic ones) and
the predictive score (a forecaster trained on synthetic windows, tested on real ones);
per-feature KS complements of the window values; and the forecaster's coverage: the
share of real test futures inside its 90% band.

Writes the ``synthetic`` block of ``metrics.json`` and figures.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from vaelab.checkpoint import RunDir
from vaelab.errors import ConfigError, RunError


def _kind(run: RunDir) -> str:
    run.check()
    data = run.read_config().data
    kind = "array" if data is None else data.kind
    if kind not in ("table", "series"):
        raise RunError(f"{run.path} is not a table or series run; evaluate-synthetic scores synthetic tables and "
                       "series (for images, use vaelab compare-samplers).")  # fmt: skip
    return kind


def _default_target(real: pd.DataFrame, kinds: dict[str, str]) -> str:
    """The last categorical or boolean column (a classification task), else the last column."""
    discrete = [c for c in real.columns if kinds.get(c) in ("categorical", "boolean")]
    return discrete[-1] if discrete else str(real.columns[-1])


def evaluate_synthetic(run_path: str | os.PathLike, *, n: int | None = None, target: str | None = None,
                       sampler: str = "prior", seed: int = 0) -> dict[str, Any]:  # fmt: skip
    run = RunDir(run_path)
    if _kind(run) == "table":
        block, figures = _evaluate_table(run, n, target, sampler, seed)
    else:
        block, figures = _evaluate_series(run, n, sampler, seed)
    from vaelab.report.figures import save_png

    paths = [save_png(fig, run.path / "figures" / f"{name}.png") for name, fig in figures.items()]
    block["figures"] = [f"figures/{p.name}" for p in paths]
    run.update_metrics(synthetic=block)
    return block


def _evaluate_table(run: RunDir, n, target, sampler, seed):
    from vaelab.analysis.synthetic_tables import distance_to_closest_record, fidelity, ml_efficacy
    from vaelab.report.synthetic_figures import column_marginals
    from vaelab.tabular import generate_table, load_table_run, real_rows

    _, transformer = load_table_run(run.path)
    kinds = dict(transformer.schema.kinds)
    train, test = real_rows(run.path, "train", "test")
    n = n or len(train)
    synth = generate_table(run.path, n, sampler=sampler, seed=seed)
    fid = fidelity(train, synth, kinds, seed=seed)
    target = target or _default_target(train, kinds)
    if target not in train.columns:
        raise ConfigError(f"--target {target!r} is not a column of this table; its columns are {list(train.columns)}.")
    block: dict[str, Any] = {
        "kind": "table", "sampler": sampler, "n_synthetic": int(n), "n_real_train": len(train), "n_real_test": len(test),
        "fidelity": fid["fidelity"], "column_shapes": fid["column_shapes"],
        "column_pair_trends": fid["column_pair_trends"], "missing_similarity": fid.get("missing_similarity"),
        "columns": fid["columns"], "pairs": fid["pairs"],
    }  # fmt: skip
    if len(test) >= 2:
        block["ml_efficacy"] = ml_efficacy(train, synth, test, target, seed=seed, kinds=kinds)
        block["privacy"] = distance_to_closest_record(train, synth, test, kinds, seed=seed)
    return block, {"synthetic_columns": column_marginals(train, synth, kinds)}


def _evaluate_series(run: RunDir, n, sampler, seed):
    from vaelab.analysis.synthetic_series import discriminative_score, predictive_score
    from vaelab.analysis.synthetic_tables import ks_complement
    from vaelab.data.split import indices
    from vaelab.estimator import load
    from vaelab.report.synthetic_figures import forecast_band, real_vs_generated
    from vaelab.run import load_run_data
    from vaelab.series import Forecaster, generate_windows, load_series

    _, settings, scaler = load_series(run.path)
    model = load(run.path)
    dataset, codes = load_run_data(run, model.config_)
    T, F = settings.window, len(settings.features)
    real = {name: scaler.inverse_transform(dataset.X[indices(codes, name)].reshape(-1, T, F)) for name in ("train", "test")}
    test = real["test"]
    if len(test) < 4:
        raise RunError(f"{run.path} has {len(test)} test windows; evaluating synthetic series needs at least 4.")
    n = n or len(test)
    synth = generate_windows(run.path, n, sampler=sampler, seed=seed)
    shapes = {f: ks_complement(test[:, :, i].ravel(), synth[:, :, i].ravel()) for i, f in enumerate(settings.features)}
    block: dict[str, Any] = {
        "kind": "series", "sampler": sampler, "n_synthetic": int(n), "n_real_test": len(test),
        "window": T, "n_past": settings.n_past, "n_future": settings.n_future, "features": list(settings.features),
        "column_shapes": float(np.mean(list(shapes.values()))), "ks_complement": shapes,
        "discriminative": discriminative_score(test, synth, seed=seed),
        "predictive": predictive_score(test, synth, settings.n_past, seed=seed),
    }  # fmt: skip
    # The forecaster: how often real futures fall inside its 90% band, and its error against a naive forecast.
    forecaster = Forecaster.load(run)
    scaled = dataset.X[indices(codes, "test")].reshape(-1, T, F)
    pick = np.unique(np.linspace(0, len(test) - 1, min(50, len(test))).astype(int))
    inside, err, naive = [], [], []
    for i in pick:
        draws = scaler.inverse_transform(forecaster.sample(scaled[i, : settings.n_past], 100, seed=seed + int(i)))
        lo, hi = np.percentile(draws, 5, axis=0), np.percentile(draws, 95, axis=0)
        truth = test[i, settings.n_past :]
        inside.append(((truth >= lo) & (truth <= hi)).mean())
        err.append(np.abs(np.median(draws, 0) - truth).mean())
        naive.append(np.abs(test[i, settings.n_past - 1][None] - truth).mean())
    block["forecast"] = {"windows": int(len(pick)), "draws": 100, "coverage_90": float(np.mean(inside)),
                         "mae_median": float(np.mean(err)), "mae_last_value": float(np.mean(naive))}  # fmt: skip
    i = int(pick[len(pick) // 2])
    draws = scaler.inverse_transform(forecaster.sample(scaled[i, : settings.n_past], 100, seed=seed))
    figures = {"series_windows": real_vs_generated(test, synth, settings.features),
               "forecast_band": forecast_band(test[i], draws, settings.n_past, settings.features)}  # fmt: skip
    return block, figures


def summary_lines(block: dict[str, Any]) -> list[str]:
    """The block in a few lines for stdout."""
    if block["kind"] == "table":
        lines = [f"fidelity {block['fidelity']:.3f} (column shapes {block['column_shapes']:.3f}, "
                 f"column pair trends {block['column_pair_trends']:.3f}; SDMetrics conventions) "
                 f"on {block['n_synthetic']} synthetic vs {block['n_real_train']} real training rows"]  # fmt: skip
        ml = block.get("ml_efficacy")
        if ml:
            lines.append(f"ML efficacy ({ml['task']}, target {ml['target']}, {ml['metric']} on the real test split): "
                         f"train on real {ml['real']:.3f}, train on synthetic {ml['synthetic']:.3f}")  # fmt: skip
        pr = block.get("privacy")
        if pr:
            lines.append(f"privacy: median distance to closest training record {pr['dcr_synthetic_median']:.3f} "
                         f"(real holdout {pr['dcr_holdout_median']:.3f}); {100 * pr['share_closer_than_holdout']:.1f}% "
                         f"of synthetic rows closer than the holdout's 5th percentile; "
                         f"exact copies {100 * pr['exact_copies']:.1f}%")  # fmt: skip
        return lines
    d, p, f = block["discriminative"], block["predictive"], block["forecast"]
    return [
        f"discriminative score {d['score']:.3f} (0 = indistinguishable; classifier accuracy {d['accuracy']:.3f})",
        f"predictive score: MAE {p['mae_synthetic']:.4f} trained on synthetic vs {p['mae_real']:.4f} on real",
        f"value distributions: mean KS complement {block['column_shapes']:.3f} over {len(block['features'])} features",
        f"forecaster: {100 * f['coverage_90']:.0f}% of real future values inside the 90% band; MAE of the median "
        f"{f['mae_median']:.4f} vs {f['mae_last_value']:.4f} for repeating the last value",
    ]


__all__ = ["evaluate_synthetic", "summary_lines"]
