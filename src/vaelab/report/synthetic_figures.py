"""Figures for synthetic tables and series (matplotlib object API, no pyplot)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.figure import Figure

REAL, SYNTH = "tab:blue", "tab:orange"


def _numbers(s: pd.Series, kind: str) -> np.ndarray:
    if kind == "datetime":  # matplotlib's date numbers (days since its epoch), drawn on a date axis
        t = pd.to_datetime(s, errors="coerce", utc=True).dropna()  # text with offsets too
        if getattr(t.dt, "tz", None) is not None:
            t = t.dt.tz_convert("UTC").dt.tz_localize(None)
        return mdates.date2num(t.to_numpy(dtype="datetime64[ns]"))
    return pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=float)


def date_axis(axis) -> None:
    """Tick labels of an axis of matplotlib date numbers as dates."""
    locator = mdates.AutoDateLocator()
    axis.set_major_locator(locator)
    axis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def column_marginals(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str], max_columns: int = 16) -> Figure:
    """Real vs synthetic marginal of every column: histograms or category frequencies."""
    cols = list(real.columns)[:max_columns]
    ncols = min(4, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    fig = Figure(figsize=(3.4 * ncols, 2.6 * nrows + 0.4))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, c in zip(axes, cols):
        kind = kinds.get(c, "numeric")
        if kind in ("numeric", "datetime"):
            r, s = _numbers(real[c], kind), _numbers(synth[c], kind)
            both = np.concatenate([r, s])
            if both.size:
                bins = np.histogram_bin_edges(both, bins=30)
                # a side without a value draws nothing (numpy's density of no values divides 0 by 0 and warned on
                # stderr during evaluate-synthetic: an audit, s11 a); the title says it is all missing
                for values, color, label in ((r, REAL, "real"), (s, SYNTH, "synthetic")):
                    if values.size:
                        ax.hist(values, bins=bins, density=True, alpha=0.55, color=color, label=label)
            if kind == "datetime":
                date_axis(ax.xaxis)
            ax.set_xlabel("date" if kind == "datetime" else "value", fontsize=7)
        else:
            rf = real[c].astype(str).where(real[c].notna(), "(missing)").value_counts(normalize=True)
            sf = synth[c].astype(str).where(synth[c].notna(), "(missing)").value_counts(normalize=True)
            cats = list(rf.index[:12])
            x = np.arange(len(cats))
            ax.bar(x - 0.2, [rf.get(k, 0) for k in cats], 0.4, color=REAL, label="real")
            ax.bar(x + 0.2, [sf.get(k, 0) for k in cats], 0.4, color=SYNTH, label="synthetic")
            ax.set_xticks(x)
            ax.set_xticklabels(cats, rotation=45, ha="right", fontsize=7)
        miss = f"missing {100 * real[c].isna().mean():.0f}% / {100 * synth[c].isna().mean():.0f}%"
        ax.set_title(f"{c} ({kind}); {miss}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(cols) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle("real (training rows) vs synthetic: each column's distribution", fontsize=9)
    fig.tight_layout()
    return fig


MAX_FEATURES = 4  # the series figures draw the first few features; their title says so where there are more


def first_features(features) -> str:
    """" (the first 4 of 7 features)" where a series figure leaves features out, else "": the figures drew the first 4
    and said nothing of the rest (an audit, s14)."""
    return f" (the first {MAX_FEATURES} of {len(features)} features)" if len(features) > MAX_FEATURES else ""


def real_vs_generated(real: np.ndarray, synth: np.ndarray, features, n_show: int = 6) -> Figure:
    """A few real test windows beside a few generated ones, one panel per feature (the first 4; the title says so
    where there are more)."""
    F = min(MAX_FEATURES, real.shape[2])
    fig = Figure(figsize=(3.4 * F, 4.4))
    axes = np.atleast_2d(fig.subplots(2, F, squeeze=False))
    rng = np.random.default_rng(0)
    for row, (X, name, color) in enumerate(((real, "real test windows", REAL), (synth, "generated windows", SYNTH))):
        pick = rng.choice(len(X), min(n_show, len(X)), replace=False)
        for f in range(F):
            ax = axes[row, f]
            for i in pick:
                ax.plot(X[i, :, f], color=color, alpha=0.7, lw=1)
            ax.set_title(f"{name}: {features[f]}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    for f in range(F):  # same y range for real and generated
        lo = min(axes[0, f].get_ylim()[0], axes[1, f].get_ylim()[0])
        hi = max(axes[0, f].get_ylim()[1], axes[1, f].get_ylim()[1])
        axes[0, f].set_ylim(lo, hi)
        axes[1, f].set_ylim(lo, hi)
    if first_features(features):
        fig.suptitle(f"real test windows vs generated windows{first_features(features)}", fontsize=9)
    fig.tight_layout()
    return fig


def forecast_band(window: np.ndarray, draws: np.ndarray, n_past: int, features, times=None) -> Figure:
    """One real window: its past, its true future and the forecaster's 50% and 90% bands and median;
    against the window's time stamps (T,) when given, else against steps; the first 4 features (the title says so
    where there are more)."""
    T, F = window.shape
    F = min(MAX_FEATURES, F)
    fig = Figure(figsize=(3.6 * F, 3.0))
    axes = np.atleast_1d(fig.subplots(1, F))
    x = np.arange(T) if times is None else np.asarray(times)
    unit = "time"
    if x.dtype.kind == "m":  # durations since a start: matplotlib plots no timedelta64, so they go as days
        x, unit = x / np.timedelta64(1, "D"), "time (days)"
    steps = x[n_past:]
    q = {p: np.percentile(draws, p, axis=0) for p in (5, 25, 50, 75, 95)}
    for f, ax in enumerate(axes):
        ax.plot(x, window[:, f], color="black", lw=1.2, label="real")
        ax.fill_between(steps, q[5][:, f], q[95][:, f], color=SYNTH, alpha=0.25, label="90% band")
        ax.fill_between(steps, q[25][:, f], q[75][:, f], color=SYNTH, alpha=0.45, label="50% band")
        ax.plot(steps, q[50][:, f], color=SYNTH, lw=1.2, label="median")
        ax.axvline(x[n_past - 1] + (x[n_past] - x[n_past - 1]) / 2, color="grey", ls="--", lw=0.8)
        ax.set_title(f"{features[f]}: {len(draws)} draws given the past", fontsize=8)
        ax.set_xlabel("step" if times is None else unit, fontsize=7)
        if times is not None:
            ax.tick_params(axis="x", labelrotation=30)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    if first_features(features):
        fig.suptitle(f"the forecaster's bands{first_features(features)}", fontsize=9)
    fig.tight_layout()
    return fig
