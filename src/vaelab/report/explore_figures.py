"""Figures for latent exploration (matplotlib object API, no pyplot).

Image data is drawn as image grids; other data (feature vectors) as line plots and heat
maps of the features that change most.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from vaelab.report.figures import show_tiles

MAX_FEATURES = 8  # non-image data: features drawn per panel (those that change most)
# Each exploration's figure in RUN/figures (the report embeds these names only).
EXPLORE_FIGURES = {"traverse": "traversals.png", "grid": "manifold_grid.png", "interpolate": "interpolation.png",
                   "arithmetic": "arithmetic.png"}  # fmt: skip


def _is_image(decoded: np.ndarray, lead: int) -> bool:
    """decoded has ``lead`` leading axes and then (C, H, W) for images or (D,) for vectors."""
    return decoded.ndim == lead + 3


def _name(names: Sequence[str] | None, f: int) -> str:
    """Feature f's name in a legend: the run kind's (a series run's ``gdp@3``), else ``x3``."""
    return names[f] if names is not None and f < len(names) else f"x{f}"


def _moving_features(values: np.ndarray, k: int = MAX_FEATURES) -> np.ndarray:
    """Indices of the k features with the largest range over the first axis (values: (S, D))."""
    span = values.max(0) - values.min(0)
    return np.argsort(-span, kind="stable")[:k]


def traversal_figure(tr, names: Sequence[str] | None = None) -> Figure:
    n_dims, steps = tr.decoded.shape[:2]
    offsets = [f"{o:+.1f}" for o in tr.offsets]
    sd = getattr(tr, "sd_name", "prior SD")  # a deterministic encoder's: its codes' SD
    around = "the input's code" if tr.centred else getattr(tr, "mean_name", "the prior's mean")
    channel = getattr(tr, "unit", "dimension") == "channel"
    what = "channel (all its positions)" if channel else "z_d"
    title = f"traversals: each row varies one {what} over {offsets[0]}..{offsets[-1]} {sd} around {around}"
    name = "channel " if channel else "z"
    rows = [f"{name}{d}" + ("" if k is None else f" (KL {k:.2f})") for d, k in zip(tr.dims, tr.kl)]
    if _is_image(tr.decoded, 2):
        fig = Figure(figsize=(steps * 0.5 + 1.6, n_dims * 0.5 + 0.9))
        ax = fig.add_subplot()
        show_tiles(ax, tr.decoded.reshape(-1, *tr.decoded.shape[2:]), steps, rows, offsets)
        ax.set_xlabel(f"offset in {sd}s", fontsize=8)
        ax.set_title(title, fontsize=9)
        return fig
    ncols = min(4, n_dims)
    nrows = math.ceil(n_dims / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.4 * nrows + 0.4))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        if i >= n_dims:
            ax.set_visible(False)
            continue
        vals = tr.decoded[i]  # (S, D)
        for f in _moving_features(vals):
            ax.plot(tr.offsets, vals[:, f], label=_name(names, f))
        ax.set_title(rows[i], fontsize=9)
        ax.set_xlabel(f"offset ({sd})", fontsize=8)
        ax.legend(fontsize=6, ncol=2)
        ax.grid(alpha=0.3)
    fig.suptitle(title + "; E[x|z] of the features that change most", fontsize=9)
    fig.tight_layout()
    return fig


def grid_figure(g, names: Sequence[str] | None = None) -> Figure:
    n = g.quantiles.size
    h, v = g.dims
    title = (f"E[x|z] over z{h} (across) and z{v} (up) at "
             + ("prior quantiles" if getattr(g, "scale", "prior") == "prior" else "quantiles of the codes' Gaussian")
             + "; other dimensions fixed")  # fmt: skip
    if _is_image(g.decoded, 2):
        fig = Figure(figsize=(n * 0.5 + 1.4, n * 0.5 + 1.0))
        ax = fig.add_subplot()
        show_tiles(ax, g.decoded.reshape(-1, *g.decoded.shape[2:]), n,
                   [f"{x:+.2f}" for x in g.values[1][::-1]], [f"{x:+.2f}" for x in g.values[0]])  # fmt: skip
        ax.set_xlabel(f"z{h}", fontsize=9)
        ax.set_ylabel(f"z{v}", fontsize=9)
        ax.tick_params(axis="x", labelrotation=90)
        ax.set_title(title, fontsize=9)
        return fig
    flat = g.decoded.reshape(n * n, -1)
    feats = _moving_features(flat, 4)
    fig = Figure(figsize=(3.2 * len(feats), 3.2))
    for ax, f in zip(np.atleast_1d(fig.subplots(1, len(feats))), feats):
        im = ax.imshow(g.decoded[:, :, f], cmap="viridis",
                       extent=(g.values[0][0], g.values[0][-1], g.values[1][0], g.values[1][-1]), aspect="auto")  # fmt: skip
        ax.set_title(f"E[{_name(names, f)}|z]", fontsize=9)
        ax.set_xlabel(f"z{h}", fontsize=8)
        ax.set_ylabel(f"z{v}", fontsize=8)
        fig.colorbar(im, ax=ax)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def interpolation_figure(ip, features: Sequence[str] | None = None) -> Figure:
    names = list(ip.z)
    steps = ip.t.size
    ticks = [f"{t:.2f}" for t in ip.t]
    fig = Figure(figsize=(max(7.0, steps * 0.55 + 1.6), 2.2 + (0.55 * (len(names) + 1) if _is_image(ip.decoded[names[0]], 1) else 2.6)))
    top, bottom = fig.subplots(2, 1, height_ratios=[1.4, 1])
    if _is_image(ip.decoded[names[0]], 1):
        blank = np.full_like(ip.endpoints[:1], np.nan)
        inputs = np.concatenate([ip.endpoints[:1], np.repeat(blank, steps - 2, 0), ip.endpoints[1:]])
        images = np.concatenate([inputs] + [ip.decoded[k] for k in names])
        show_tiles(top, images, steps, ["inputs a, b"] + names, ticks)
        top.set_title("interpolation between the codes of a and b, decoded to E[x|z]", fontsize=9)
    else:
        for k in names:
            feats = _moving_features(ip.decoded[k], 4)
            for f in feats:
                top.plot(ip.t, ip.decoded[k][:, f], ls="-" if k == "linear" else "--", label=f"{k} {_name(features, f)}")
        top.legend(fontsize=6, ncol=4)
        top.set_title("interpolation: E[x|z] of the features that change most", fontsize=9)
    typicality_panel(bottom, ip, names)
    fig.tight_layout()
    return fig


def typicality_panel(ax, ip, names: list[str]) -> None:
    """The typicality of an interpolation's codes along the path (log q(z) percentile among training
    codes), one line per path kind, with the 1st percentile marked."""
    for k in names:
        ax.plot(ip.t, ip.percentile[k], marker="o", ms=3, label=k)
    ax.axhline(1.0, color="tab:red", ls="--", lw=1, label="1st percentile")
    ax.set_ylim(-2, 102)
    ax.set_xlabel("t (0 = a, 1 = b)", fontsize=8)
    ax.set_ylabel("typicality: percentile\nof training codes", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def arithmetic_figure(ar) -> Figure:
    rows = ar.results
    image = rows[0].image.ndim == 3
    fig = Figure(figsize=(2.0 * len(rows), 4.6 if image else 3.6))
    axes = fig.subplots(2 if image else 1, len(rows), squeeze=False)
    for j, r in enumerate(rows):
        caption = f"q(z) pct {r.latent_percentile:.1f}\np(x) pct {r.log_px_percentile:.1f}"
        if image:
            shown = [(r.scored, "input"), (r.image, "encode-decode")] if r.space != "latent" else [(r.image, "decoded"), (None, "")]
            for i, (img, what) in enumerate(shown):
                ax = axes[i, j]
                ax.set_xticks([])
                ax.set_yticks([])
                if img is None:
                    ax.axis("off")
                    continue
                c = img.shape[0]
                ax.imshow(img[0] if c == 1 else img.transpose(1, 2, 0).clip(0, 1), cmap="gray" if c == 1 else None, vmin=0, vmax=1)
                if i == 0:
                    ax.set_title(f"{r.name}\n{what}", fontsize=8)
                else:
                    ax.set_xlabel(what, fontsize=8)
            axes[1, j].text(0.5, -0.2 if r.space != "latent" else 0.9, caption, ha="center", va="top",
                            transform=axes[1, j].transAxes, fontsize=8)  # fmt: skip
        else:
            ax = axes[0, j]
            ax.plot(r.scored, marker=".", label="scored")
            ax.plot(r.image, marker=".", label="E[x|z]")
            ax.set_title(f"{r.name}\n{caption}", fontsize=8)
            ax.legend(fontsize=6)
    fig.suptitle("latent arithmetic: percentiles of log q(z) among training codes and of log p(x) among test data",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig
