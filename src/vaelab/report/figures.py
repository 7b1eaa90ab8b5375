"""PNG figures of a run: training curves, reconstructions, samples from the prior.

Uses matplotlib's object API (Figure + Agg canvas), never pyplot, so nothing global
(backend, open figures) changes. Each PNG is written atomically into RUN/figures/.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vaelab.checkpoint import FIGURES, RunDir
from vaelab.data.split import indices
from vaelab.files import atomic_write, make_folder


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG, as :func:`save_png` writes it (a command that writes it with its metrics.json entry, under
    the run's lock, passes these)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def save_png(fig: Figure, path: Path) -> Path:
    png = png_bytes(fig)
    make_folder(path.parent)
    atomic_write(path, png)
    return path


def training_curves(history: list[dict]) -> Figure:
    """Loss, reconstruction and KL per epoch, training and validation."""
    fig = Figure(figsize=(10, 3.2))
    epochs = [r["epoch"] for r in history]
    for ax, key, title in zip(fig.subplots(1, 3), ("loss", "reconstruction", "kl"),
                              ("loss (training objective, nats)", "reconstruction E log p(x|z)", "KL(q(z|x) ‖ p(z))")):  # fmt: skip
        ax.plot(epochs, [r[f"train_{key}"] for r in history], label="train")
        val = [r[f"val_{key}"] for r in history]
        if any(v == v for v in val):
            ax.plot(epochs, val, label="validation")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.axes[0].legend()
    fig.tight_layout()
    return fig


def tile(images: np.ndarray, ncols: int, pad_value: float = 1.0) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] tiled row by row into one (rows*(H+1)-1, ncols*(W+1)-1, C) canvas;
    NaN images leave their cell blank."""
    n, c, h, w = images.shape
    nrows = math.ceil(n / ncols)
    canvas = np.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1, c), pad_value, dtype=np.float32)
    for i, img in enumerate(images):
        if np.isnan(img).all():
            continue
        r, k = divmod(i, ncols)
        canvas[r * (h + 1) : r * (h + 1) + h, k * (w + 1) : k * (w + 1) + w] = img.transpose(1, 2, 0)
    return canvas


def show_tiles(ax, images: np.ndarray, ncols: int, row_labels: list[str] | None = None,
               col_labels: list[str] | None = None) -> None:  # fmt: skip
    """Draw ``tile(images, ncols)`` on ax, with optional labels for rows (left) and columns (below)."""
    _, c, h, w = images.shape
    canvas = tile(images, ncols)
    ax.imshow(canvas.squeeze(-1) if c == 1 else canvas.clip(0, 1), cmap="gray" if c == 1 else None, vmin=0, vmax=1)
    nrows = math.ceil(len(images) / ncols)
    ax.set_xticks([(w + 1) * k + w / 2 for k in range(ncols)] if col_labels else [])
    if col_labels:
        ax.set_xticklabels(col_labels, fontsize=7)
    ax.set_yticks([(h + 1) * r + h / 2 for r in range(nrows)] if row_labels else [])
    if row_labels:
        ax.set_yticklabels(row_labels, fontsize=8)
    ax.tick_params(length=0)


def image_grid(images: np.ndarray, ncols: int, title: str = "", row_labels: list[str] | None = None,
               col_labels: list[str] | None = None) -> Figure:  # fmt: skip
    """Images (N, C, H, W) in [0, 1] tiled into one picture."""
    nrows = math.ceil(images.shape[0] / ncols)
    fig = Figure(figsize=(ncols * 0.45 + 0.8, nrows * 0.45 + 0.5 + (0.3 if col_labels else 0)))
    ax = fig.add_subplot()
    show_tiles(ax, images, ncols, row_labels, col_labels)
    ax.set_title(title, fontsize=10)
    return fig


def write_run_figures(result) -> list[Path]:
    """Training curves always; for image data, test reconstructions and prior samples."""
    figures = RunDir(result.run.path).folder(FIGURES)  # refused if it leads outside the run
    written = []
    if getattr(result.model, "history_", None):  # an adopted model was trained elsewhere: no history
        written.append(save_png(training_curves(result.model.history_), figures / "training_curves.png"))
    if not result.dataset.is_image:
        return written
    model, ds = result.model, result.dataset
    test = indices(result.split, "test")
    test = test if test.size else indices(result.split, "val")
    # Spread the picks over the split: files are often sorted by class.
    pick = test[np.unique(np.linspace(0, test.size - 1, min(12, test.size)).astype(int))] if test.size else test
    if pick.size:
        part = ds.subset(pick)
        y = part.label_names() if model.classes_ is not None else None  # the model takes names, not codes
        recon = model.inverse_transform(model.transform(part.X, y), y)
        grid = np.concatenate([part.X, recon])
        written.append(save_png(image_grid(grid, len(pick), "test images (top) and reconstructions E[x|z] (bottom)",
                                           ["data", "recon"]), figures / "reconstructions.png"))  # fmt: skip
    if model.classes_ is not None:
        per = 8
        labels = np.repeat(model.classes_, per)
        samples = model.sample(len(labels), y=labels)
        rows = [str(c) for c in model.classes_]
    else:
        samples, rows = model.sample(64), None
        per = 8
    written.append(save_png(image_grid(samples, per, "samples: z ~ p(z), decoded to E[x|z]", rows),
                            figures / "prior_samples.png"))  # fmt: skip
    return written


def sampler_figure(name: str) -> str:
    """The file name of a sampler's grid of samples in RUN/figures."""
    return f"samples_{name}.png"


def sampler_grids(grids: dict[str, np.ndarray]) -> dict[str, bytes]:
    """One PNG grid of samples per sampler (image runs only): file name (:func:`sampler_figure`) to its bytes, which
    ``compare_samplers`` writes with its ``samplers`` entries under the run's lock."""
    return {sampler_figure(name): png_bytes(image_grid(X, 8, f"sampler: {name} (decoder means)"))
            for name, X in grids.items() if X.ndim == 4 and len(X)}  # fmt: skip


def score_histogram(values: np.ndarray, reference: np.ndarray | None, score: str, cut: tuple[float, ...] = (),
                    rule: str = "", title: str = "", unit: str = "nats") -> Figure:  # fmt: skip
    """Histogram of per-example scores (``score``, in ``unit``: nats, or a plain autoencoder's squared error in
    the data's units squared) against the validation reference, with the flag rule's cut-off lines (one for a
    one-tailed threshold, two for a band)."""
    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.add_subplot()
    finite = values[np.isfinite(values)]
    ref = None if reference is None else reference[np.isfinite(reference)]
    both = finite if ref is None else np.concatenate([finite, ref])
    bins = np.histogram_bin_edges(both, bins=min(60, max(10, int(np.sqrt(both.size))))) if both.size else 10
    ax.hist(finite, bins=bins, density=True, alpha=0.6, label=f"scored data ({finite.size})")
    if ref is not None:
        ax.hist(ref, bins=bins, density=True, histtype="step", color="k", label=f"validation reference ({ref.size})")
    for c in cut:
        ax.axvline(c, color="tab:red", linestyle="--")
    if cut:
        ax.plot([], [], color="tab:red", linestyle="--", label=rule or "flag cut-off")
    ax.set_xlabel(f"{score} ({unit})")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
