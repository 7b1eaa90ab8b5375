"""Exploration figures of a series run, in the data's units: decoded windows drawn over their time steps, one panel
per feature (matplotlib object API, no pyplot).

A window model's row is its values in model units, feature by feature within each step (``temp@0, sales@0, temp@1,
…``), standardized, and for a trending series with the window's level and scale beside them. Drawn as plain
features, that row is a zigzag in units nobody reads; these figures take the kind's windows (n, T, F) in data units
(:meth:`vaelab.runs.base.RunKind.window_view`) and draw each feature over time, the past and the future split by a
dotted line.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from vaelab.report.explore_figures import typicality_panel

MAX_FEATURES = 4  # features drawn (the first ones); a note says how many more there are
MAX_GRID_FEATURES = 2  # the grid draws n x n windows per feature


@dataclass
class WindowView:
    """Decoded windows in the data's units: ``windows`` (n, T, F), the features' names and the past's length."""

    windows: np.ndarray
    features: Sequence[str]
    n_past: int

    def shown(self, most: int = MAX_FEATURES) -> list[int]:
        return list(range(min(most, len(self.features))))

    def more(self, most: int = MAX_FEATURES) -> str:
        extra = len(self.features) - most
        return f" (first {most} of {len(self.features)} features)" if extra > 0 else ""


def _time_axis(ax, view: WindowView, label: bool = True) -> None:
    if 0 < view.n_past < view.windows.shape[1]:
        ax.axvline(view.n_past - 0.5, color="grey", ls=":", lw=1)
    if label:
        ax.set_xlabel("step (dotted: past | future)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.grid(alpha=0.3)


def traversal_windows_figure(tr, view: WindowView) -> Figure:
    """Each latent dimension (row) and feature (column): the decoded window at every offset, coloured from the lowest
    offset (blue) to the highest (red)."""
    n_dims, steps = tr.decoded.shape[:2]
    w = view.windows.reshape(n_dims, steps, *view.windows.shape[1:])
    feats = view.shown()
    fig = Figure(figsize=(2.8 * len(feats) + 0.8, 1.9 * n_dims + 0.8), layout="constrained")
    axes = fig.subplots(n_dims, len(feats), squeeze=False)
    cmap, norm = colormaps["coolwarm"], Normalize(float(tr.offsets[0]), float(tr.offsets[-1]))
    unit = "channel" if getattr(tr, "unit", "dimension") == "channel" else "z"
    t = np.arange(w.shape[2])
    for i, d in enumerate(tr.dims):
        for j, f in enumerate(feats):
            ax = axes[i, j]
            for s, off in enumerate(tr.offsets):
                ax.plot(t, w[i, s, :, f], color=cmap(norm(off)), lw=1)
            ax.set_title(f"{unit}{d}: {view.features[f]}", fontsize=8)
            _time_axis(ax, view, label=i == n_dims - 1)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="offset (prior SD)", shrink=0.6)
    around = "the input's code" if tr.centred else "the prior mean"
    fig.suptitle(f"traversals: decoded windows in the data's units as one latent {unit} moves around {around}"
                 + view.more(), fontsize=9)  # fmt: skip
    return fig


def grid_windows_figure(g, view: WindowView) -> Figure:
    """The n x n grid of decoded windows, one small window per cell (z_h across, z_v up), one panel per feature;
    each feature's values are scaled to its cells' range, given in the title."""
    n = g.quantiles.size
    h, v = g.dims
    w = view.windows.reshape(n, n, *view.windows.shape[1:])  # rows: z_v from the top (largest first)
    feats = view.shown(MAX_GRID_FEATURES)
    fig = Figure(figsize=(5.2 * len(feats), 5.4))
    T = w.shape[2]
    x = 0.08 + 0.84 * np.arange(T) / max(T - 1, 1)
    for ax, f in zip(np.atleast_1d(fig.subplots(1, len(feats))), feats):
        lo, hi = float(w[..., f].min()), float(w[..., f].max())
        span = hi - lo if hi > lo else 1.0
        for r in range(n):
            for c in range(n):
                y = (n - 1 - r) + 0.08 + 0.84 * (w[r, c, :, f] - lo) / span
                ax.plot(c + x, y, color="tab:blue", lw=0.8)
        if 0 < view.n_past < T:
            ax.vlines(np.arange(n) + x[view.n_past - 1] + 0.42 / max(T - 1, 1), 0, n, color="grey", ls=":", lw=0.5)
        ax.set_xticks(np.arange(n) + 0.5, [f"{q:+.1f}" for q in g.values[0]], fontsize=6, rotation=90)
        ax.set_yticks(np.arange(n) + 0.5, [f"{q:+.1f}" for q in g.values[1]], fontsize=6)
        ax.set_xlim(0, n)
        ax.set_ylim(0, n)
        ax.set_xlabel(f"z{h}", fontsize=8)
        ax.set_ylabel(f"z{v}", fontsize=8)
        ax.set_title(f"{view.features[f]}: each cell one window, {lo:.4g} (cell bottom) to {hi:.4g} (top)", fontsize=8)
    fig.suptitle(f"E[window|z] over z{h} (across) and z{v} (up) at prior quantiles, in the data's units"
                 + view.more(MAX_GRID_FEATURES), fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def interpolation_windows_figure(ip, views: dict[str, WindowView], ends: WindowView) -> Figure:
    """The linear path's decoded windows coloured by t (the spherical path's dashed), inputs a and b in black; below,
    the codes' typicality along each path."""
    names = list(ip.z)
    feats = ends.shown()
    fig = Figure(figsize=(max(7.0, 3.0 * len(feats)), 5.2), layout="constrained")
    grid = fig.add_gridspec(2, len(feats), height_ratios=[1.4, 1])
    cmap, norm = colormaps["viridis"], Normalize(0.0, 1.0)
    t = np.arange(ends.windows.shape[1])
    for j, f in enumerate(feats):
        ax = fig.add_subplot(grid[0, j])
        for k in names:
            for s, tt in enumerate(ip.t):
                ax.plot(t, views[k].windows[s, :, f], color=cmap(norm(tt)), lw=1, ls="-" if k == "linear" else "--",
                        alpha=0.9)  # fmt: skip
        ax.plot(t, ends.windows[0, :, f], color="black", lw=1.6, label="a (input)")
        ax.plot(t, ends.windows[1, :, f], color="black", lw=1.6, ls=":", label="b (input)")
        ax.set_title(ends.features[f], fontsize=8)
        _time_axis(ax, ends)
        if j == 0:
            ax.legend(fontsize=6)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=fig.axes, label="t (0 = a, 1 = b)", shrink=0.5)
    typicality_panel(fig.add_subplot(grid[1, :]), ip, names)
    fig.suptitle("interpolation: decoded windows in the data's units along the linear (solid) and spherical (dashed) "
                 "paths" + ends.more(), fontsize=9)  # fmt: skip
    return fig


def arithmetic_windows_figure(ar, scored: WindowView, decoded: WindowView) -> Figure:
    """One column per result, one row per feature: the scored window (an input, or the decoded one) and E[x|z]."""
    rows = ar.results
    feats = scored.shown(3)
    fig = Figure(figsize=(2.2 * len(rows), 1.8 * len(feats) + 1.0))
    axes = fig.subplots(len(feats), len(rows), squeeze=False)
    t = np.arange(scored.windows.shape[1])
    for j, r in enumerate(rows):
        for i, f in enumerate(feats):
            ax = axes[i, j]
            if r.scored_what == "input":
                ax.plot(t, scored.windows[j, :, f], color="black", lw=1, label="input")
            ax.plot(t, decoded.windows[j, :, f], color="tab:orange", lw=1, label="E[x|z]")
            _time_axis(ax, scored, label=i == len(feats) - 1)
            if i == 0:
                pct = "" if math.isnan(r.log_px_percentile) else f"\np(x) pct {r.log_px_percentile:.1f}"
                ax.set_title(f"{r.name}\nq(z) pct {r.latent_percentile:.1f}{pct}", fontsize=7)
            if j == 0:
                ax.set_ylabel(scored.features[f], fontsize=7)
                if i == 0:
                    ax.legend(fontsize=6)
    fig.suptitle("latent arithmetic on windows, in the data's units: percentiles of log q(z) among training codes and "
                 "of log p(x) among test windows" + scored.more(3), fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig
