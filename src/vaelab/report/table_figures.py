"""Latent exploration of table runs in column space (matplotlib object API, no pyplot).

Decoder means are shown as each column's expected value in its own units (dates on a date
axis) or as its categories' probabilities, labelled by category
(:meth:`vaelab.data.table_transformer.TableTransformer.column_view`); the columns shown are
those that change most.
"""
from __future__ import annotations

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from vaelab.data.table_transformer import ColumnValues
from vaelab.report.explore_figures import typicality_panel

MAX_COLUMNS = 5  # columns per traversal row / interpolation
MAX_LABELS = 5  # categories drawn per categorical column (the most probable somewhere along the path)
MAX_DIMS = 8  # traversed dimensions drawn (the first ones: by default those with the largest KL)


def most_changing(views: list[list[ColumnValues]], k: int = MAX_COLUMNS) -> list[int]:
    """Indices of the k columns that change most in any of the views (each view: one list of columns)."""
    change = np.max([[c.change() for c in view] for view in views], axis=0)
    return [int(i) for i in np.argsort(-change, kind="stable")[:k]]


def _draw(ax, x: np.ndarray, col: ColumnValues, style: str = "-", tag: str = "") -> None:
    """One column along x: a line in its units, or its categories' probabilities as lines labelled by category."""
    if col.probs is None:
        ax.plot(x, col.values, style, marker=".", ms=3, label=tag or None)
        ax.set_ylabel(col.name, fontsize=7)
        return
    order = np.argsort(-col.probs.max(0), kind="stable")[:MAX_LABELS]
    for k in order:  # a category keeps its colour in every panel (C0 for the first category, ...)
        ax.plot(x, col.probs[:, k], style, marker=".", ms=3, color=f"C{k % 10}", label=f"{tag}{col.labels[k]}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(f"P({col.name} = ·)", fontsize=7)
    ax.legend(fontsize=5, loc="best")


def traversal_columns_figure(tr, views: list[list[ColumnValues]]) -> Figure:
    """Rows: the traversed latent dimensions; columns: the table's columns that change most, in their units."""
    views = views[:MAX_DIMS]
    cols = most_changing(views)
    n_dims = len(views)
    fig = Figure(figsize=(2.8 * len(cols), 2.1 * n_dims + 0.6))
    axes = np.atleast_2d(fig.subplots(n_dims, len(cols), squeeze=False))
    for i, view in enumerate(views):
        kl = tr.kl[i]
        for j, c in enumerate(cols):
            ax = axes[i, j]
            _draw(ax, tr.offsets, view[c])
            ax.set_title(f"z{tr.dims[i]}" + ("" if kl is None else f" (KL {kl:.2f})") + f": {view[c].name}", fontsize=8)
            ax.tick_params(labelsize=6)
            ax.grid(alpha=0.3)
            if i == n_dims - 1:
                ax.set_xlabel("offset (prior SD)", fontsize=7)
    around = "the input's code" if tr.centred else "the prior mean"
    more = f" (the first {n_dims} of {len(tr.dims)} dimensions)" if len(tr.dims) > n_dims else ""
    cols_text = f"the {len(cols)} columns that change most"
    fig.suptitle(f"traversals in column space{more}: E[column|z] in its units (categories: their probabilities)\n"
                 f"as one latent dimension moves around {around}; {cols_text}", fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def grid_columns_figure(g, view: list[ColumnValues]) -> Figure:
    """E[column|z] over the grid of two latent dimensions, for the columns that change most: a value map in the
    column's units, or the most probable category."""
    n = g.quantiles.size
    cols = most_changing([view], 4)
    h, v = g.dims
    fig = Figure(figsize=(3.4 * len(cols), 3.3))
    extent = (g.values[0][0], g.values[0][-1], g.values[1][0], g.values[1][-1])
    for ax, c in zip(np.atleast_1d(fig.subplots(1, len(cols))), cols):
        col = view[c]
        if col.probs is None:
            values = col.values.astype("datetime64[D]").astype(np.float64) if col.kind == "datetime" else col.values
            im = ax.imshow(values.reshape(n, n), cmap="viridis", extent=extent, aspect="auto")
            bar = fig.colorbar(im, ax=ax)
            if col.kind == "datetime":  # days since 1970 on the scale, labelled as dates (inside the colours' range)
                ticks = [t for t in bar.get_ticks() if im.norm.vmin <= t <= im.norm.vmax]
                bar.set_ticks(ticks)
                bar.set_ticklabels([str(np.datetime64(int(t), "D")) for t in ticks], fontsize=6)
            ax.set_title(f"E[{col.name}|z]", fontsize=9)
        else:
            k = col.probs.argmax(1).reshape(n, n)
            shown = sorted(set(k.ravel().tolist()))  # one colour slot per category on the map, in its own colour
            slot = np.searchsorted(shown, k)
            im = ax.imshow(slot, cmap=ListedColormap([f"C{c % 10}" for c in shown]),
                           norm=BoundaryNorm(np.arange(len(shown) + 1) - 0.5, len(shown)), extent=extent,
                           aspect="auto", interpolation="nearest")  # fmt: skip
            bar = fig.colorbar(im, ax=ax, ticks=range(len(shown)))
            bar.set_ticklabels([col.labels[i] for i in shown], fontsize=6)
            ax.set_title(f"most probable {col.name}", fontsize=9)
        ax.set_xlabel(f"z{h}", fontsize=8)
        ax.set_ylabel(f"z{v}", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("E[x|z] over two latent dimensions at prior quantiles, in column space; other dimensions fixed",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def interpolation_columns_figure(ip, views: dict[str, list[ColumnValues]]) -> Figure:
    """The columns that change most along each path, in their units, and the path's typicality below."""
    names = list(views)
    cols = most_changing(list(views.values()), 4)
    fig = Figure(figsize=(max(7.0, 2.9 * len(cols)), 5.2))
    top = fig.subplots(2, len(cols), squeeze=False)
    for j, c in enumerate(cols):
        ax = top[0, j]
        for k in names:
            _draw(ax, ip.t, views[k][c], "-" if k == "linear" else "--", "" if len(names) == 1 else f"{k}: ")
        ax.set_title(views[names[0]][c].name, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    gs = top[1, 0].get_gridspec()
    for ax in top[1]:
        ax.remove()
    typicality_panel(fig.add_subplot(gs[1, :]), ip, names)
    fig.suptitle("interpolation in column space: E[column|z] in its units (categories: their probabilities)", fontsize=9)
    fig.tight_layout()
    return fig


def arithmetic_rows_figure(ar, view: list[ColumnValues], inputs: list[ColumnValues] | None = None) -> Figure:
    """Each arithmetic result's decoded row (the columns that change most across results) and its percentiles; first
    the rows a and b themselves (``inputs``: the view of the scored inputs, whose first two are a and b). The data-space
    results combine two rows' encodings, which no table holds: their percentiles are not shown."""
    cols = most_changing([view], 6)
    rows = ar.results
    cells = [[view[c].shown(i) for c in cols] + (["—", "—"] if r.space == "data" else
                                                 [f"{r.latent_percentile:.1f}", f"{r.log_px_percentile:.1f}"])
             for i, r in enumerate(rows)]  # fmt: skip
    names = [f"{r.name}: E[x|z]" if r.space == "input" else r.name for r in rows]
    if inputs is not None:
        by_name = {c.name: c for c in inputs}
        cells = [[by_name[view[c].name].shown(i) for c in cols] + ["", ""] for i in range(2)] + cells
        names = ["a (the row)", "b (the row)"] + names
    fig = Figure(figsize=(1.7 * (len(cols) + 3), 0.45 * len(names) + 1.2))
    ax = fig.add_subplot()
    ax.axis("off")
    table = ax.table(cellText=cells, rowLabels=names,
                     colLabels=[view[c].name for c in cols] + ["q(z) pct", "p(x) pct"], loc="center")  # fmt: skip
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1, 1.3)
    ax.set_title("latent arithmetic in column space: E[x|z] of each result (categories: the most probable, with its "
                 "probability); percentiles of log q(z) among training codes and of log p(x) among test rows "
                 "(— for a ± b of two rows' encodings, which is no row)", fontsize=8)  # fmt: skip
    return fig


def column_rows(view: list[ColumnValues], index: int) -> dict[str, str]:
    """One decoded row of a view as {column: text}, for metrics.json."""
    return {c.name: c.shown(index) for c in view}
