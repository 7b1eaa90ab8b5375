"""Figures for :class:`vaelab.analysis.diagnostics.Diagnostics` (matplotlib object API, no pyplot)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle


def kl_per_dimension(d) -> Figure:
    """KL per dimension (sorted) and Var_x(E_q[z_d]) against the active-unit threshold."""
    order = d.order
    var = np.asarray(d.per_dim["var_mean"])[order]
    active = np.asarray(d.per_dim["active"])[order]
    det = d.deterministic  # a plain autoencoder: no KL, dimensions sorted by the codes' variance
    fig = Figure(figsize=(5.5 if det else 10, 3.4))
    ax1, ax2 = (None, fig.add_subplot()) if det else fig.subplots(1, 2)
    colors = np.where(active, "tab:blue", "tab:gray")
    labels = [str(i) for i in order]
    by = "variance" if det else "KL"
    if not det:
        ax1.bar(labels, np.asarray(d.per_dim["kl"])[order], color=colors)
        ax1.set_title("average KL(q(z_d|x) ‖ p(z_d)) per dimension (grey: inactive)", fontsize=9)
        ax1.set_xlabel("latent dimension (sorted by KL)")
        ax1.set_ylabel("nats")
    ax2.bar(labels, np.maximum(var, 1e-6), color=colors)
    ax2.set_yscale("log")
    ax2.axhline(0.01, color="tab:red", lw=1, ls="--", label="active-unit threshold 0.01")
    ax2.set_title("Var_x(E[z_d|x]): how much the code moves with x" + (" (deterministic encoder: no KL)" if det else ""),
                  fontsize=9)  # fmt: skip
    ax2.set_xlabel(f"latent dimension (sorted by {by})")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def posterior_sd(d) -> Figure:
    """Posterior SDs (10th-90th percentile and median over examples) against the prior SD."""
    order = d.order
    med = np.asarray(d.per_dim["sd_median"])[order]
    lo, hi = np.asarray(d.per_dim["sd_p10"])[order], np.asarray(d.per_dim["sd_p90"])[order]
    prior = np.asarray(d.per_dim["prior_sd"])[order]
    x = np.arange(len(order))
    fig = Figure(figsize=(6.5, 3.4))
    ax = fig.add_subplot()
    ax.errorbar(x, med, yerr=[med - lo, hi - med], fmt="o", capsize=3, label="posterior SD (median, 10-90%)")
    ax.plot(x, prior, "_", color="tab:red", markersize=18, mew=2, label="prior SD")
    ax.set_xticks(x, [str(i) for i in order])
    ax.set_yscale("log")
    ax.set_xlabel("latent dimension (sorted by KL)")
    ax.set_title("A traversal of ±2 posterior SD moves z by this little; the prior spans ±2 prior SD", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def latent_scatter(d) -> Figure:
    """Posterior means on the two dimensions with the largest KL, coloured by class, with prior SD circles."""
    dims = d.order[:2] if len(d.order) >= 2 else [d.order[0], d.order[0]]
    fig = Figure(figsize=(5.6, 5))
    ax = fig.add_subplot()
    if d.labels is not None:
        for c, name in enumerate(d.class_names):
            m = d.labels == c
            ax.scatter(d.mu[m, dims[0]], d.mu[m, dims[1]], s=6, alpha=0.7, label=name)
        ax.legend(fontsize=7, markerscale=2, ncol=2, title="class", title_fontsize=8)
    else:
        ax.scatter(d.mu[:, dims[0]], d.mu[:, dims[1]], s=6, alpha=0.6)
    sd = np.asarray(d.per_dim["prior_sd"])
    for k in (1, 2, 3):
        ax.add_patch(Circle((0, 0), k * float(np.mean(sd[dims])), fill=False, ls=":", color="grey"))
    ax.set_xlabel(f"z{dims[0]}  (E_q[z|x])")
    ax.set_ylabel(f"z{dims[1]}  (E_q[z|x])")
    # by KL, as chosen: the dimensions with the largest KL need not be active (Var_x E[z_d] > 0.01): an audit
    by = "variance of the codes" if getattr(d, "deterministic", False) else "KL"  # a plain autoencoder's order
    ax.set_title(f"posterior means on the two dimensions with the largest {by}\n(dotted: 1, 2, 3 prior SD)", fontsize=9)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig


def class_scatter(d, max_classes: int = 12) -> Figure | None:
    """One panel per class (up to ``max_classes``): its codes on the two dimensions with the largest KL over all
    codes (grey), with the prior's 1-3 SD circles and the class's KL(q_c(z) || p(z)) in the title."""
    if d.labels is None or not d.classes:
        return None
    names = [n for n in d.class_names if n in d.classes][:max_classes]
    dims = d.order[:2] if len(d.order) >= 2 else [d.order[0], d.order[0]]
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(2.6 * cols, 2.6 * rows + 0.3))
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    radius = float(np.mean(np.asarray(d.per_dim["prior_sd"])[dims]))
    for ax, name in zip(axes, names):
        c = d.class_names.index(name)
        m = d.labels == c
        ax.scatter(d.mu[:, dims[0]], d.mu[:, dims[1]], s=3, color="0.85")
        ax.scatter(d.mu[m, dims[0]], d.mu[m, dims[1]], s=5, color="tab:blue")
        for k in (1, 2, 3):
            ax.add_patch(Circle((0, 0), k * radius, fill=False, ls=":", color="grey"))
        v = d.classes[name]
        ax.set_title(f"{name}: KL {v['kl_to_prior']:.2f} ± {v['kl_to_prior_stderr']:.2f} (n {v['n']})", fontsize=8)
        ax.set_aspect("equal", adjustable="box")  # shared axes: the box adjusts, not the limits
    for ax in axes[len(names):]:
        ax.set_axis_off()
    fig.suptitle(f"each class's codes on z{dims[0]}, z{dims[1]} and KL(q_c(z) ‖ p(z)) in nats", fontsize=9)
    fig.tight_layout()
    return fig


def aggregate_vs_prior(d) -> Figure:
    """Per-dimension mean ± SD of the aggregate posterior q(z) against the prior's."""
    order = d.order
    x = np.arange(len(order))
    fig = Figure(figsize=(6.5, 3.4))
    ax = fig.add_subplot()
    agg_m = np.asarray(d.per_dim["aggregate_mean"])[order]
    agg_s = np.sqrt(np.asarray(d.per_dim["aggregate_var"])[order])
    pm = np.asarray(d.per_dim["prior_mean"])[order]
    ps = np.asarray(d.per_dim["prior_sd"])[order]
    ax.errorbar(x - 0.12, agg_m, yerr=agg_s, fmt="o", capsize=3, label="aggregate posterior q(z): mean ± SD")
    ax.errorbar(x + 0.12, pm, yerr=ps, fmt="s", capsize=3, color="tab:red", label="prior p(z): mean ± SD")
    ax.set_xticks(x, [str(i) for i in order])
    ax.set_xlabel("latent dimension (sorted by " + ("variance" if d.deterministic else "KL") + ")")
    ax.set_title(f"q(z) against p(z); prior-hole mass {d.aggregate['prior_hole_mass']:.3f}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def diagnostics_figures(d) -> dict[str, Figure]:
    figures = {
        "kl_per_dimension": kl_per_dimension(d),
        "posterior_sd": None if d.deterministic else posterior_sd(d),  # a point has no spread
        "latent_scatter": latent_scatter(d),
        "aggregate_vs_prior": aggregate_vs_prior(d),
        "class_scatter": class_scatter(d),
    }
    return {k: f for k, f in figures.items() if f is not None}
