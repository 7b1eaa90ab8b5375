"""Latent-space diagnostics: why the latent space behaves as it does, measured on the user's model.

Per dimension: the average KL(q(z_d|x) || p(z_d)), active units (Burda et al. 2016:
Cov_x(E_q[z_d]) > 0.01) and the spread of posterior SDs against the prior's.
Collapse: inactive dimensions, and a decoder that ignores z. ELBO surgery (Hoffman &
Johnson 2016): E_x KL(q(z|x)||p(z)) = I(x;z) + KL(q(z)||p(z)), q(z) the aggregate
posterior over the data. Aggregate posterior against the prior: moments, total
correlation, prior-hole mass (DESIGN.md). Labels: class occupancy and clustering.
Head lint: encoders whose mean or log-variance cannot go negative.

Everything is returned as a :class:`Diagnostics` with plain-language findings; nothing
here reads or writes files.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from vaelab.analysis.aggregate import (
    HOLE_BOOTSTRAP,
    MAX_CODES,
    Mixture,
    check_measurable,
    jackknife_mean,
    kde_logvar,
    log_q,
    marginal_kl,
    prior_hole_mass,
    subsample,
)
from vaelab.config import check_seed
from vaelab.data.arrays import encode_labels
from vaelab.errors import DataError
from vaelab.model import Model, check_model
from vaelab.nn.priors import gaussian_log_prob
from vaelab.nn.vae import rsample
from vaelab.runtime import Z95, seeded

SEVERITY = {"problem": 0, "warning": 1, "info": 2}  # order of the findings
LOWER_BOUNDED = (nn.ReLU, nn.ReLU6, nn.Softplus, nn.Sigmoid, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU, nn.Hardsigmoid)
HOLE_QUANTILE = 1.0  # τ is this percentile of log q(z) for z ~ q(z) (DESIGN.md)
HOLE_COVERED = 0.05  # a prior-hole mass at most this is "covered" (5x the 1% real codes have by construction)
# What to do about collapse in a model trained elsewhere: vaelab train's options do not reach it (an audit).
COLLAPSE_ELSEWHERE = ("This model was trained elsewhere: retrain it there with a KL warm-up, a smaller beta, a weaker "
                      "decoder or for longer, then adopt it again; for Gaussian likelihoods check the observation noise "
                      "it was trained with (a large fixed sigma invites collapse).")
CLASS_CODES = 1024  # codes per class its KL to the prior is estimated on (beyond: a seeded subsample)
# An inactive dimension whose KL exceeds this (nats) has posteriors away from the prior, the same way for every x (an
# SD under 0.4 or over 2.2 times the prior's, say): said so, not called "the prior" (trained ones carry about 0.1)
INACTIVE_KL = 0.5
COLLAPSE_MARGIN = 0.5  # nats per example: a gap (posterior against prior reconstructions) below it is collapse


@dataclass
class Finding:
    """One observation in plain words, with the numbers behind it and what to do."""

    key: str  # stable identifier, e.g. "inactive_dimensions"
    severity: str  # problem | warning | info
    title: str
    detail: str
    advice: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "severity": self.severity, "title": self.title, "detail": self.detail,
                "advice": self.advice, "evidence": self.evidence}  # fmt: skip

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}: {self.detail}" + (f" What to do: {self.advice}" if self.advice else "")


@dataclass
class Diagnostics:
    """The result of :func:`diagnose`; ``to_dict()`` is the ``diagnostics`` block of metrics.json."""

    per_dim: dict[str, list]  # each a list over latent dimensions, in model order (None: does not apply)
    order: list[int]  # dimensions sorted by KL (deterministic encoders: by the codes' variance), largest first
    collapse: dict[str, Any]
    surgery: dict[str, Any] | None  # None for a deterministic encoder
    aggregate: dict[str, Any]
    clustering: dict[str, Any]
    classes: dict[str, Any] | None
    lint: dict[str, Any]
    findings: list[Finding]
    n_examples: int
    # Kept for the figures; not part of to_dict().
    mu: np.ndarray = field(repr=False, default=None)
    sd: np.ndarray = field(repr=False, default=None)
    labels: np.ndarray | None = field(repr=False, default=None)
    class_names: list[str] | None = field(repr=False, default=None)
    deterministic: bool = False  # a plain autoencoder's codes: what needs q(z|x)'s variance does not apply
    per_channel: dict[str, Any] | None = None  # a spatial latent's channels (C, h, w): pooled over positions
    # "model": the data is drawn like the training data, so findings speak about the model; "data": any other
    # data (a subset, one class, new data), so findings speak about that data only.
    scope: str = "model"
    trained_elsewhere: bool = False  # an adopted model: advice names no option of vaelab train (it cannot reach it)
    classes_too_few: list[str] | None = None  # classes of the data with one example: no KL of their own codes

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "n_examples": self.n_examples,
            "deterministic": self.deterministic,
            "not_applicable": dict(NOT_APPLICABLE) if self.deterministic else {},
            "per_dimension": self.per_dim,
            "order_by_kl": self.order,  # the key's name is a contract; "order_by" says what it is ordered by
            # a plain autoencoder has no KL: its dimensions are ordered by the variance of their codes (an audit)
            "order_by": "code_variance" if self.deterministic else "kl",
            "active_units": int(sum(self.per_dim["active"])),
            "collapse": self.collapse,
            "surgery": self.surgery,
            "aggregate": self.aggregate,
            "clustering": self.clustering,
            "classes": self.classes,
            **({"classes_too_few": self.classes_too_few} if self.classes_too_few else {}),
            "head_lint": self.lint,
            "per_channel": self.per_channel,
            "findings": [f.to_dict() for f in self.findings],
        }

    def figures(self) -> dict:
        from vaelab.report.diagnostics_figures import diagnostics_figures

        return diagnostics_figures(self)


# What a deterministic encoder (a plain autoencoder) cannot be asked, and why.
NOT_APPLICABLE = {
    "kl_per_dimension": "KL(q(z_d|x) || p(z_d)) needs q(z|x)'s variance; a deterministic encoder gives a point",
    "posterior_sd": "a deterministic encoder's q(z|x) has no spread",
    "elbo_surgery": "the split of the average KL into I(x;z) and KL(q(z)||p(z)) needs the per-example KL",
    "log_px": "importance-sampled log p(x) draws from q(z|x), which is a point here",
}
DETERMINISTIC_NOTE = ("the aggregate posterior is a kernel density of the codes (Gaussian kernels, Scott's "
                      "bandwidth): ex-post density estimation as in Ghosh et al. (2020)")


# ---------------------------------------------------------------- estimators
def _mean_se(values: np.ndarray) -> tuple[float, float]:
    n = values.shape[0]
    return float(values.mean()), (float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan)


def _log_prior(model: Model, z: torch.Tensor) -> torch.Tensor:
    """log p(z) in float64 on the CPU, whatever the model's dtype and device."""
    return model.prior_.log_prob(z.float().to(model.device_)).double().cpu()


def _mean_se_sub(values: np.ndarray, replicates: np.ndarray | None) -> tuple[float, float]:
    """Mean and SE over examples (N,); when q(z) was evaluated on a subsample of its components
    (``replicates`` (G, N): the values with each jackknife group left out), the mean corrected for
    the subsampling's bias and the SE widened by its noise (:func:`jackknife_mean`)."""
    return _jackknifed(*_mean_se(values), values, replicates)


def _jackknifed(mean: float, se: float, values: np.ndarray, replicates: np.ndarray | None) -> tuple[float, float]:
    """``mean`` and ``se`` of ``values`` (N,), corrected and widened by the subsampled components' jackknife
    (``replicates`` (G, N); None: as they are)."""
    if replicates is None:
        return mean, se
    corrected, se_sub = jackknife_mean(values, replicates)
    return corrected, math.hypot(se, se_sub)


def _mc_mean_se(draws: np.ndarray, n_total: int, replicates: np.ndarray | None = None) -> tuple[float, float]:
    """The average over ``n_total`` examples of a per-example expectation, estimated from ``draws``
    (S, Q): S draws z ~ q(z|x) for each of Q of the examples; its mean and standard error as an
    estimate of that average over these examples, not of a population's: the draws' Monte Carlo
    noise (independent across examples: Σ Var_n / S / Q²), plus, when Q < n_total codes were used,
    the sampling of the codes (finite-population corrected). The spread between examples is no
    noise of it (the exact average KL over the same examples has SE 0); counted in, it made
    I(x;z)'s SE 1.7 times its estimate's spread over seeds (an audit, s13). One draw per example
    cannot tell the two apart: then the SE over examples, which is larger. ``replicates``: as for
    :func:`_mean_se_sub`, the subsampled components' jackknife."""
    s, q = draws.shape
    per = draws.mean(0)
    if s < 2:
        return _mean_se_sub(per, replicates)
    mc = float(draws.var(0, ddof=1).sum()) / s / q**2
    sampling = (1 - q / n_total) * float(per.var(ddof=1)) / q if q > 1 else 0.0
    return _jackknifed(float(per.mean()), math.sqrt(mc + sampling), per, replicates)


# What the surgery's and the classes' standard errors cover (metrics.json and the finding say it).
SURGERY_STDERR = ("Monte Carlo noise of the estimate over these examples (draws per example, and the sampling of codes "
                  "and components of q(z) where a subsample was used), not the spread between examples")


def _surgery(model: Model, mu, logvar, mix: Mixture, idx: np.ndarray, n_draws: int) -> dict:
    """ELBO surgery terms on the codes ``idx`` with standard errors of their estimates over these
    examples (:func:`_mc_mean_se`: Monte Carlo noise, and the subsampling of codes and of q(z)'s
    components, when they were subsampled)."""
    n = mu.shape[0]
    mu_q, lv_q = mu[idx], logvar[idx]
    m = mu_q.shape[0]
    z = mu_q + torch.exp(0.5 * lv_q) * torch.randn((n_draws, m, mu.shape[1]), dtype=mu.dtype)  # (S, Q, L)
    flat = z.reshape(-1, z.shape[-1])
    est, jack = log_q(flat, mix, np.tile(idx, n_draws), own="include")
    log_qz = est.reshape(n_draws, m)
    log_qzx = gaussian_log_prob(z, mu_q, lv_q)
    log_pz = _log_prior(model, flat).reshape(n_draws, m)
    mi_d = (log_qzx - log_qz).numpy()  # (S, Q) per draw: contributions to I(x;z)
    agg_d = (log_qz - log_pz).numpy()  # ... to KL(q(z)||p(z))
    mi_j = agg_j = None
    if jack is not None:
        jack = jack.reshape(-1, n_draws, m)  # (G, S, Q)
        mi_j, agg_j = (log_qzx - jack).mean(1).numpy(), (jack - log_pz).mean(1).numpy()
    if model.prior_.analytic_kl:
        kl_d = np.broadcast_to(model.prior_.kl(mu_q, lv_q, None).numpy(), mi_d.shape)  # closed form, in float64
        exact = True
    else:  # independent draws, so the identity is a real check and not true by construction
        z2 = mu_q + torch.exp(0.5 * lv_q) * torch.randn((n_draws, m, mu.shape[1]), dtype=mu.dtype)
        kl_d = (gaussian_log_prob(z2, mu_q, lv_q) - _log_prior(model, z2)).numpy()
        exact = False
    avg_kl, avg_kl_se = _mc_mean_se(kl_d, n)  # exact over all the examples: 0
    mi, mi_se = _mc_mean_se(mi_d, n, mi_j)
    agg, agg_se = _mc_mean_se(agg_d, n, agg_j)
    kl_n = kl_d.mean(0)
    residual, residual_se = _mc_mean_se(kl_d - mi_d - agg_d, n, None if mi_j is None else kl_n - mi_j - agg_j)
    block = {
        "avg_kl": avg_kl, "avg_kl_stderr": avg_kl_se if not (exact and m == n) else 0.0, "avg_kl_exact": exact,
        "stderr_covers": SURGERY_STDERR,
        "mutual_information": mi, "mutual_information_stderr": mi_se,
        "kl_aggregate_prior": agg, "kl_aggregate_prior_stderr": agg_se,
        "residual": residual, "residual_stderr": residual_se, "log_n": math.log(n), "n_draws": n_draws,
        "n_codes": m, "n_components": mix.n_used,
    }  # fmt: skip
    return block


def _per_channel(shape, mu: np.ndarray, sd: np.ndarray | None, kl: np.ndarray | None,
                 prior_sd: np.ndarray) -> dict[str, Any] | None:
    """A spatial latent (C, h, w) channel by channel, pooled over positions and examples: total KL, and
    the aggregate posterior's mean and SD next to the prior's. The SD ratio is what a latent scaling
    factor corrects (Stable Diffusion multiplies its VAE's latents by 0.18215 so they have unit SD
    under the diffusion model's N(0, I); Rombach et al. 2022)."""
    if shape is None or len(shape) < 2:
        return None
    n, L = mu.shape
    groups = np.arange(L).reshape(shape).reshape(shape[0], -1)  # the flat dimensions of each channel
    second = mu**2 if sd is None else mu**2 + sd**2  # E[z²] under q(z|x), per example and dimension
    mean = np.array([mu[:, g].mean() for g in groups])
    agg_sd = np.sqrt(np.maximum(np.array([second[:, g].mean() for g in groups]) - mean**2, 0.0))
    prior = np.array([float(np.sqrt((prior_sd[g] ** 2).mean())) for g in groups])
    return {
        "shape": [int(s) for s in shape], "kl": None if kl is None else [float(kl[g].sum()) for g in groups],
        "aggregate_mean": mean.tolist(), "aggregate_sd": agg_sd.tolist(), "prior_sd": prior.tolist(),
        "scaling_factor": (prior / np.maximum(agg_sd, 1e-12)).tolist(),  # multiply z by this to match the prior's SD
    }  # fmt: skip


def _total_correlation(z: torch.Tensor, mix: Mixture, idx: np.ndarray) -> tuple[float, float]:
    """TC = E_q(z)[log q(z) - Σ_d log q(z_d)], one draw per code ``idx`` (rows of z), SE over them
    (and over the subsampled components)."""
    joint, joint_j = log_q(z, mix, idx, own="include")
    marg, marg_j = log_q(z, mix, idx, own="include", per_dim=True)
    tc = (joint - marg.sum(-1)).numpy()
    return _mean_se_sub(tc, None if joint_j is None else (joint_j - marg_j.sum(-1)).numpy())


def _clustering(mu: np.ndarray, labels: np.ndarray | None, seed: int) -> dict[str, Any]:
    # One OpenMP thread: for latent codes (small N x L) scikit-learn's threads mostly spin
    # against torch's and each other; measured 100x slower on 2 busy cores.
    with threadpool_limits(limits=1, user_api="openmp"):
        return _cluster(mu, labels, seed)


def _cluster(mu: np.ndarray, labels: np.ndarray | None, seed: int) -> dict[str, Any]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import (adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score,
                                 silhouette_score)
    from sklearn.mixture import GaussianMixture

    n = mu.shape[0]
    if labels is not None:
        k = int(np.unique(labels).size)
        if k < 2 or n <= k:
            return {}
        km = KMeans(k, n_init=10, random_state=seed).fit_predict(mu)
        gm = GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-4).fit(mu).predict(mu)
        # NMI is not corrected for chance: random groups of 60 codes into 10 score about 0.3 (an audit); AMI
        # (Vinh et al. 2010) is, as ARI is: 0 at chance.
        scores = lambda found: {"ari": float(adjusted_rand_score(labels, found)),  # noqa: E731
                                "nmi": float(normalized_mutual_info_score(labels, found)),
                                "ami": float(adjusted_mutual_info_score(labels, found))}  # fmt: skip
        return {
            "k": k,
            "kmeans": {**scores(km), "silhouette": float(silhouette_score(mu, km)) if np.unique(km).size > 1 else math.nan},
            "gmm": scores(gm),
        }  # fmt: skip
    best = {}
    for k in range(2, min(10, n - 1) + 1):
        km = KMeans(k, n_init=4, random_state=seed).fit_predict(mu)
        if np.unique(km).size < 2:
            continue
        sil = float(silhouette_score(mu, km, sample_size=min(n, 2000), random_state=seed))
        if not best or sil > best["silhouette"]:
            best = {"k": k, "silhouette": sil}
    return {"kmeans": best} if best else {}


def _head_lint(model: Model, mu: np.ndarray, logvar: np.ndarray | None,
               representative: bool = True) -> tuple[dict[str, Any], list[Finding]]:  # fmt: skip
    """Heads must be linear: mu and logvar need every real value. Seen from the modules where the
    model shows its heads (:meth:`Model.heads`), and from the outputs over the data for any model
    (on data not drawn like the training data, the outputs speak about that data only)."""
    structural = {}
    for name, head in model.heads().items():
        last = list(head.modules())[-1] if isinstance(head, nn.Module) else None
        if isinstance(last, LOWER_BOUNDED):
            structural[name] = type(last).__name__
    mu_min, logvar_min = float(mu.min()), (None if logvar is None else float(logvar.min()))
    stuck_mu = mu_min >= 0.0  # every code in the positive orthant
    stuck_var = logvar_min is not None and logvar_min >= 0.0  # no posterior ever narrower than N(., 1)
    orthant = 2.0 ** -mu.shape[1]  # the prior mass of one orthant (a standard normal prior: exactly)
    lint = {"structural": structural, "min_mu": mu_min, "min_logvar": logvar_min,
            "codes_in_one_orthant": stuck_mu, "variances_at_least_one": stuck_var,
            "orthant_prior_mass": orthant}  # fmt: skip
    findings = []
    if structural or stuck_mu or stuck_var:
        where = "over the data" if representative else "over this data"
        what = []
        if structural:
            what.append("the encoder ends its " + " and ".join(f"{k} with {v}" for k, v in structural.items()))
        if stuck_var:
            what.append(f"every log-variance {where} is ≥ 0 (min {logvar_min:.3g}), so no q(z|x) is ever "
                        "narrower than the prior: the posterior cannot say much about any x")  # fmt: skip
        if stuck_mu:
            what.append(f"every posterior mean {where} is ≥ 0 (min {mu_min:.3g}): the means sit in one orthant, which "
                        f"holds a fraction 2^-L = {orthant:.2g} of the prior's mass (a prior draw has all their signs that "
                        f"rarely; how much of the prior q(z) still covers, through the posteriors' spread, is the "
                        f"prior-hole mass)")  # fmt: skip
        # Outputs over a subset (all codes of one class on one side, say) are no evidence about the heads.
        severity = "problem" if (structural or representative) else "info"
        findings.append(Finding(
            "head_lint", severity, "The encoder's heads cannot output negative values" if structural or representative
            else "On this data, the encoder's outputs never go negative", "; ".join(what) + ".",
            "Make the mean and log-variance layers plain linear maps (no ReLU, softplus or sigmoid after them): "
            "mu and log σ² must be free to take any real value. Put non-linearities before the heads, not after."
            if structural or representative else "Check on data drawn like the training data (vaelab inspect RUN test): "
            "on a subset, codes on one side of zero can be what the data is.",
            lint,
        ))  # fmt: skip
    return lint, findings


# ---------------------------------------------------------------- the analysis
@torch.no_grad()
def diagnose(
    model: Model,
    X: Any,
    y: Any = None,
    *,
    active_threshold: float = 0.01,
    n_draws: int = 8,
    n_prior_draws: int = 5000,
    seed: int = 0,
    representative: bool = True,
    given_other: Any = None,
) -> Diagnostics:
    """Measure a fitted model's latent space on data X (the test split, typically).

    Parameters
    ----------
    model : a fitted :class:`vaelab.VAE`, or any :class:`vaelab.model.Model`.
    X : array-like of examples the model accepts.
    y : labels; used for class occupancy and clustering scores, and required by conditional models.
    active_threshold : unit d is active when Var_x(E_q[z_d]) exceeds it (Burda et al. 2016: 0.01).
    n_draws : z draws per example for the Monte Carlo terms.
    n_prior_draws : draws from p(z) for the prior-hole mass.
    seed : the Monte Carlo draws and the clustering are seeded: same seed, same numbers.
    representative : X is drawn like the training data (a held-out split), so the findings may speak about
        the model (inactive dimensions the decoder does not use, holes of the prior, which sampler to use).
        False for anything else (one class, a subset, new data): the same numbers, worded about X only.
    given_other : optional, one bool per example: it is given the label in ``y`` in place of its own, which the model
        never trained on (a conditional table run's condition value only held-out rows hold). Such examples are
        counted as the class they are given; the classes and the clustering say how many they are.
    """
    model = check_model(model, "diagnose")
    check_seed(seed)  # NumPy's "expected non-negative integer" at seed=-1, after the encoding pass (an audit, s14)
    x = model.model_rows(X, evaluation=True)  # a memory map is read one batch at a time
    n, L = x.shape[0], model.latent_dim_
    if n < 2:
        raise DataError(f"diagnose needs at least 2 examples; got {n}.")
    codes = model.label_codes(y, n) if model.classes_ is not None else None
    labels = class_names = None
    if y is not None:
        labels, names = encode_labels(np.asarray(y), n, "y")
        class_names = list(names)

    other = None
    if given_other is not None and labels is not None:
        other = np.asarray(given_other, dtype=bool).reshape(-1)
        if other.size != n:
            raise DataError(f"given_other holds {other.size} entries for {n} examples; give one per example.")
    det = model.deterministic_
    # Everything built on q(z) (surgery, total correlation, prior holes, the collapse check, clustering)
    # uses at most MAX_CODES codes: all of them up to that, else a seeded subsample (linear in N).
    rng = np.random.default_rng(seed)
    idx = subsample(n, MAX_CODES, rng)
    sub = idx.size < n
    with seeded(seed):
        params = model.map_batches(lambda xb, cb: torch.stack(model.encode(xb, cb), 1), x, codes)  # (N, 2, L)
        mu, logvar = params[:, 0].double(), params[:, 1].double()
        del params
        check_measurable(mu, None if model.deterministic_ else logvar, then="inspect data drawn like the "
                         "training data")  # a plain autoencoder's is -inf: a point
        means, logvars, log_w = (t.detach().cpu().double() for t in model.prior_.mixture())
        # What the aggregate posterior q(z) is made of: the posteriors, or for a deterministic
        # encoder Gaussian kernels around the codes.
        lv_agg = kde_logvar(mu) if det else logvar

        # 1. per dimension
        kl_dim = None if det else marginal_kl(mu, logvar, means, logvars, log_w, n_draws).mean(0).numpy()
        var_mu = mu.var(0, unbiased=False).numpy()
        active = var_mu > active_threshold
        sd = None if det else torch.exp(0.5 * logvar).numpy()
        w = log_w.exp()[:, None]
        prior_mean = (w * means).sum(0)
        prior_sd = torch.sqrt((w * (torch.exp(logvars) + means**2)).sum(0) - prior_mean**2).numpy()
        agg_mean = mu.mean(0).numpy()
        agg_var = var_mu if det else (sd**2).mean(0) + var_mu
        quantile = (lambda f: None) if det else (lambda f: f(sd).tolist())
        per_dim = {
            "kl": None if det else kl_dim.tolist(), "var_mean": var_mu.tolist(), "active": active.tolist(),
            "sd_p10": quantile(lambda a: np.percentile(a, 10, 0)), "sd_median": quantile(lambda a: np.median(a, 0)),
            "sd_p90": quantile(lambda a: np.percentile(a, 90, 0)), "prior_sd": prior_sd.tolist(),
            "prior_mean": prior_mean.numpy().tolist(), "aggregate_mean": agg_mean.tolist(),
            "aggregate_var": agg_var.tolist(),
        }  # fmt: skip
        order = [int(i) for i in np.argsort(-(var_mu if det else kl_dim), kind="stable")]
        per_channel = _per_channel(model.latent_shape_, mu.numpy(), sd, kl_dim, prior_sd)

        # 2. collapse: reconstruction with z from q(z|x) against z from p(z), on the codes idx
        rec_q, rec_p = [], []
        for s in range(0, idx.size, 1000):
            rows = idx[s : s + 1000] if sub else slice(s, s + 1000)
            xb = x[rows].to(model.device_)
            cb = None if codes is None else codes[rows].to(model.device_)
            mb = mu[rows].float().to(model.device_)  # a deterministic encoder's q(z|x) is its code
            zq = mb.expand(4, *mb.shape) if det else rsample(mb, logvar[rows].float().to(model.device_), 4)
            zp = model.prior_.sample(4 * xb.shape[0]).reshape(4, xb.shape[0], L).to(model.device_)
            rec_q.append(model.px_z_.log_prob(xb, model.decode(zq, cb)).mean(0).double().cpu())
            rec_p.append(model.px_z_.log_prob(xb, model.decode(zp, cb)).mean(0).double().cpu())
        rec_q, rec_p = torch.cat(rec_q).numpy(), torch.cat(rec_p).numpy()
        gap, gap_se = _mean_se(rec_q - rec_p)
        # Collapse is called when the gap is below the margin by 2 SE, ruled out when above it by 2 SE; between,
        # the examples cannot tell (an audit: 8 examples of a model whose gap is 1.3 nats read "the decoder ignores
        # z" on a gap of 1.01 ± 0.57). One example has no SE: its gap alone decides.
        spread = 2 * gap_se if math.isfinite(gap_se) else 0.0
        collapsed, ruled_out = gap + spread < COLLAPSE_MARGIN, gap - spread >= COLLAPSE_MARGIN
        collapse = {
            "reconstruction_posterior": float(rec_q.mean()), "reconstruction_prior": float(rec_p.mean()),
            "gap": gap, "gap_stderr": gap_se, "collapsed": bool(collapsed),
            "verdict": "collapsed" if collapsed else "not collapsed" if ruled_out else "too few examples to tell",
            "margin": COLLAPSE_MARGIN,
            "inactive_dimensions": [int(d) for d in np.flatnonzero(~active)], "active_threshold": active_threshold,
            "n_codes": int(idx.size),
        }  # fmt: skip

        # 3. ELBO surgery, and 4. the aggregate posterior against the prior
        mix = Mixture(mu, lv_agg, idx)
        surgery = None if det else _surgery(model, mu, logvar, mix, idx, n_draws)
        z_one = mu[idx] + torch.exp(0.5 * lv_agg[idx]) * torch.randn((idx.size, L), dtype=mu.dtype)
        tc, tc_se = _total_correlation(z_one, mix, idx)
        # τ: the low percentile of real codes' log q(z), each judged by the *other* codes (leave
        # one out), as a prior draw is; with its own component a real code always looks typical.
        # On a subsample the whole estimator is that of the subsample's codes (τ included).
        mu_h = mu[idx]
        lv_h = (kde_logvar(mu_h) if det else logvar[idx]) if sub else lv_agg
        owner = torch.arange(idx.size).repeat(n_draws)
        z_loo = (mu_h + torch.exp(0.5 * lv_h) * torch.randn((n_draws, idx.size, L), dtype=mu.dtype)).reshape(-1, L)
        z_prior = model.prior_.sample(n_prior_draws).double().cpu()
        holes = prior_hole_mass(mu_h, lv_h, z_loo, owner, z_prior, HOLE_QUANTILE, rng)
        aggregate = {
            "total_correlation": tc, "total_correlation_stderr": tc_se,
            "prior_hole_mass": holes.mass, "prior_hole_mass_stderr": holes.stderr,
            "prior_hole_mass_stderr_method": f"bootstrap over codes and prior draws ({HOLE_BOOTSTRAP} replicates)",
            "hole_threshold_log_qz": holes.tau, "hole_quantile_percent": HOLE_QUANTILE, "n_prior_draws": n_prior_draws,
            "density": "kernel density of the codes" if det else "mixture of the posteriors",
            "n_codes": int(idx.size), "n_examples": n,
        }  # fmt: skip

        # 5. classes
        classes, too_few = None, []
        if labels is not None:
            classes = {}
            for c, name in enumerate(class_names):
                members = np.flatnonzero(labels == c)
                if members.size < 2:  # said, not dropped without a word (an audit, s12)
                    too_few += [str(name)] if members.size else []
                    continue
                mu_c = mu[members]
                lv_c = kde_logvar(mu_c) if det else logvar[members]
                pick = subsample(members.size, CLASS_CODES, rng)
                zc = mu_c[pick] + torch.exp(0.5 * lv_c[pick]) * torch.randn((n_draws, pick.size, L), dtype=mu.dtype)
                flat = zc.reshape(-1, L)
                est, jack = log_q(flat, Mixture(mu_c, lv_c, pick), np.tile(pick, n_draws), own="include")
                log_p = _log_prior(model, flat)
                kl_c = (est - log_p).reshape(n_draws, -1).numpy()
                kl_j = None if jack is None else (jack - log_p).reshape(jack.shape[0], n_draws, -1).mean(1).numpy()
                kl_mean, kl_se = _mc_mean_se(kl_c, members.size, kl_j)  # the class's codes' KL: its estimate's noise
                classes[name] = {"n": int(members.size), "mean": mu_c.mean(0).numpy().tolist(),
                                 "kl_to_prior": kl_mean, "kl_to_prior_stderr": kl_se, "n_codes": int(pick.size)}  # fmt: skip
                if other is not None and other[members].any():  # rows given this class in place of their own
                    classes[name]["n_given_other"] = int(other[members].sum())
    active_dims = np.flatnonzero(active)
    mu_np = mu.numpy()
    labels_sub = None if labels is None else labels[idx]
    clustering = _clustering(mu_np[idx][:, active_dims] if active_dims.size else mu_np[idx], labels_sub, seed)
    if clustering:
        clustering["n_codes"] = int(idx.size)
        if other is not None and other[idx].any():
            clustering["n_given_other"] = int(other[idx].sum())
    lint, lint_findings = _head_lint(model, mu_np, None if det else logvar.numpy(), representative)

    # The figures get the codes idx (all of them up to MAX_CODES).
    result = Diagnostics(per_dim, order, collapse, surgery, aggregate, clustering, classes, lint, [], n,
                         mu_np[idx], None if sd is None else sd[idx], labels_sub, class_names, det, per_channel,
                         "model" if representative else "data", bool(getattr(model, "trained_elsewhere", False)),
                         too_few if labels is not None else None)  # fmt: skip
    result.findings = sorted(lint_findings + _findings(result, L), key=lambda f: SEVERITY[f.severity])
    return result


def _interval(value: float, se: float, digits: int = 2) -> str:
    """'0.12 ± 0.30 (95% interval -0.47 to 0.71)': an estimate, its SE and what they allow."""
    if se is None or not math.isfinite(se):
        return f"{value:.{digits}f} (no standard error)"
    return f"{value:.{digits}f} ± {se:.{digits}f} (95% interval {value - Z95 * se:.{digits}f} to {value + Z95 * se:.{digits}f})"


def _findings(d: Diagnostics, L: int) -> list[Finding]:
    """Turn the numbers into sentences a user can act on. On data not drawn like the training data
    (``d.scope == "data"``) the sentences speak about that data only: which dimensions vary, where
    its codes lie; what that means for the model is for data like the training data to say."""
    out = []
    model_scope = d.scope == "model"
    on = "" if model_scope else "On this data, "
    check = ("To judge the model, inspect data drawn like its training data: vaelab inspect RUN test."
             if not model_scope else "")  # fmt: skip
    active = np.asarray(d.per_dim["active"])
    kl = None if d.deterministic else np.asarray(d.per_dim["kl"])
    c, s = d.collapse, d.surgery
    if d.deterministic:
        out.append(Finding(
            "deterministic_encoder", "info", "A deterministic encoder (a plain autoencoder): some measures do not apply",
            "Each input has one code, not a distribution q(z|x), so " + "; ".join(NOT_APPLICABLE.values())
            + f". What applies is measured on the codes: activity (their variance per dimension), collapse, "
            f"clustering, classes and prior holes, where {DETERMINISTIC_NOTE}.",
            "To generate, sample from a density fitted to the codes (vaelab compare-samplers: aggregate-gmm, "
            "aggregate-flow), not from N(0, I), which an autoencoder was never trained to match.",
            {"not_applicable": list(NOT_APPLICABLE)},
        ))  # fmt: skip
    if c["collapsed"]:
        out.append(Finding(
            "posterior_collapse", "problem" if model_scope else "warning",
            "The decoder ignores z (posterior collapse)" if model_scope else
            "On this data, the decoder ignores z (posterior collapse)",
            f"Reconstructions are about as good with z drawn from the prior as from q(z|x): "
            f"{c['reconstruction_prior']:.2f} vs {c['reconstruction_posterior']:.2f} nats, a gap of "
            f"{_interval(c['gap'], c['gap_stderr'])} nats per example, below the {COLLAPSE_MARGIN:g}-nat margin collapse "
            "is called at (by 2 standard errors). The latent code carries no information the decoder uses"
            + ("." if model_scope else " for these examples."),
            (COLLAPSE_ELSEWHERE if d.trained_elsewhere else
             "Use a KL warm-up (--warmup-epochs 10), a smaller beta, a weaker decoder, or train longer; "
             "for Gaussian likelihoods check the observation noise (a large fixed sigma invites collapse).")
            if model_scope else check,
            {k: c[k] for k in ("reconstruction_prior", "reconstruction_posterior", "gap", "gap_stderr")},
        ))  # fmt: skip
    elif c.get("verdict") == "too few examples to tell":
        out.append(Finding(
            "posterior_collapse", "info", "Too few examples to tell whether the decoder ignores z"
            + ("" if model_scope else " on this data"),
            f"Reconstructions with z drawn from q(z|x) against z from the prior: {c['reconstruction_posterior']:.2f} vs "
            f"{c['reconstruction_prior']:.2f} nats, a gap of {_interval(c['gap'], c['gap_stderr'])} nats per example. "
            f"Collapse is called when the gap is below the {COLLAPSE_MARGIN:g}-nat margin by 2 standard errors, and "
            f"ruled out when above it by 2; this gap is within 2 standard errors of it, so these {c['n_codes']} "
            "examples cannot tell.",
            "Inspect more examples (vaelab inspect RUN test, or train).",
            {k: c[k] for k in ("reconstruction_prior", "reconstruction_posterior", "gap", "gap_stderr")},
        ))  # fmt: skip
    inactive = c["inactive_dimensions"]
    threshold = c.get("active_threshold", 0.01)
    var = np.asarray(d.per_dim["var_mean"])
    if inactive and len(inactive) < L:
        largest = float(var[inactive].max())
        if model_scope:
            title = f"{len(inactive)} of {L} latent dimensions are inactive"
            paid = [d for d in inactive if kl is not None and kl[d] > INACTIVE_KL]
            detail = (f"Dimensions {inactive} have Var_x(E[z_d|x]) ≤ {threshold:g} (largest {largest:.2g}): their codes "
                      "barely move with x, so the decoder cannot use them." if kl is None else
                      f"Dimensions {inactive} have Var_x(E_q[z_d]) ≤ {threshold:g} (largest {largest:.2g}) and KL "
                      f"{kl[inactive].sum():.3f} nats in total: "
                      + (f"their posterior means barely move with x, so they tell the decoder almost nothing about x, yet "
                         f"the posteriors of {paid} sit away from the prior (KL above {INACTIVE_KL:g} nats each), the "
                         "same way for every x: KL paid for no information." if paid else
                         "their posteriors are the prior for every x and the decoder does not use them.")
                      + f" {int(active.sum())} active dimensions carry {kl[active].sum():.2f} nats.")  # fmt: skip
            advice = ("Dimensions that carry no information should cost no KL: check the encoder's log-variance head "
                      "(one that cannot reach the prior's variance, bounded or fixed, pays this on every example) and "
                      "the prior." if paid else
                      "Nothing is broken: the model found it needs fewer dimensions. If you need more, lower beta or "
                      "use a KL warm-up; if not, a smaller latent_dim trains the same model faster.")  # fmt: skip
        else:
            title = f"On this data, {len(inactive)} of {L} latent dimensions do not vary"
            detail = (f"Across these {d.n_examples} examples, dimensions {inactive} have Var(E[z_d|x]) ≤ {threshold:g} "
                      f"(largest {largest:.2g})" + ("" if kl is None else f" and KL {kl[inactive].sum():.3f} nats in total")
                      + ": these examples' codes do not move along them. That says where this data sits, not whether "
                      "the model uses those dimensions for other data.")  # fmt: skip
            advice = check
        out.append(Finding(
            "inactive_dimensions", "warning" if (len(inactive) > L // 2 and model_scope) else "info", title, detail,
            advice, {"inactive": inactive, "largest_variance": largest, "threshold": threshold,
                     "kl_inactive": None if kl is None else float(kl[inactive].sum())},
        ))  # fmt: skip
    elif not inactive:
        out.append(Finding("all_active", "info", f"All {L} latent dimensions are active" if model_scope
                           else f"On this data, all {L} latent dimensions vary",
                           f"Each varies with x (smallest Var(E[z_d|x]) {float(var.min()):.2g} > {threshold:g})"
                           + ("." if kl is None else f"; total KL {kl.sum():.2f} nats per example."),
                           "If reconstructions are still poor, a larger latent_dim may help." if model_scope else check,
                           {"smallest_variance": float(var.min()), "threshold": threshold}))  # fmt: skip
    if s is not None:
        out.append(Finding(
            "elbo_surgery", "info", "Why the per-example KL is not wrong (ELBO surgery)" + ("" if model_scope else ", on this data"),
            f"The average KL(q(z|x)||p(z)) = {s['avg_kl']:.2f} nats splits into the information z keeps about x, "
            f"I(x;z) = {s['mutual_information']:.2f} ± {s['mutual_information_stderr']:.2f} (at most log N = "
            f"{s['log_n']:.2f}), and the mismatch of the whole population of codes with the prior, "
            f"KL(q(z)||p(z)) = {s['kl_aggregate_prior']:.2f} ± {s['kl_aggregate_prior_stderr']:.2f} "
            f"(residual {s['residual']:.3f} ± {s['residual_stderr']:.3f}; each ± one standard error of the Monte "
            f"Carlo estimate over these {d.n_examples} examples, not the spread between them"
            + ("" if s.get("avg_kl_stderr") else ", the average KL being exact") + "). The KL term pulls each q(z|x) towards "
            f"the prior, but only the second part is about the population matching the prior; the first is the "
            f"price of encoding x at all." + ("" if model_scope else " Here the population is this data's codes: a "
            "subset (one class, say) is not meant to match the prior; only all the data together is."),
            "Nothing to fix." + (
                f" Note: I(x;z) is at its bound log N = {s['log_n']:.2f}, so with {d.n_examples} examples the split is "
                "saturated (each code is far from all others); diagnose more examples (e.g. the training split) to "
                "measure it." if s["mutual_information"] > 0.95 * s["log_n"] else ""
            ),
            {k: s[k] for k in ("avg_kl", "mutual_information", "kl_aggregate_prior", "residual", "residual_stderr")},
        ))  # fmt: skip
    out.append(_prior_holes(d))
    pc = d.per_channel
    if pc is not None:
        ratio = np.asarray(pc["aggregate_sd"]) / np.asarray(pc["prior_sd"])
        off = (ratio > 2) | (ratio < 0.5)
        sds = ", ".join(f"{v:.3g}" for v in pc["aggregate_sd"])
        factors = ", ".join(f"{v:.3g}" for v in pc["scaling_factor"])
        out.append(Finding(
            "latent_scale", "warning" if (off.any() and model_scope) else "info",
            on + (f"{'t' if on else 'T'}he latent's channels have SDs far from the prior's ({int(off.sum())} of "
                  f"{len(ratio)} channels)" if off.any() else f"{'t' if on else 'T'}he latent's channels have about the "
                  "prior's scale"),
            f"Pooled over positions, the aggregate posterior's SD per channel is {sds} against the prior's "
            f"{pc['prior_sd'][0]:.3g} (a factor outside 0.5 to 2 counts as far); a model trained on these latents "
            f"with an N(0, I) prior would see them scaled by 1/SD.",
            (f"Multiply the latents by a scaling factor before modelling them with N(0, I) (per channel: {factors}); "
             "Stable Diffusion's VAE uses one factor, 0.18215, for the same reason." if off.any() else "")
            if model_scope else check,
            {"aggregate_sd": pc["aggregate_sd"], "scaling_factor": pc["scaling_factor"]},
        ))  # fmt: skip
    if d.clustering.get("kmeans", {}).get("ari") is not None:
        km, gm = d.clustering["kmeans"], d.clustering["gmm"]
        out.append(Finding(
            "clustering", "info", "How well the classes separate in latent space",
            f"Clustering the posterior means into {d.clustering['k']} groups recovers the labels with "
            f"ARI {km['ari']:.2f} / AMI {km['ami']:.2f} / NMI {km['nmi']:.2f} (k-means) and ARI {gm['ari']:.2f} / "
            f"AMI {gm['ami']:.2f} / NMI {gm['nmi']:.2f} (Gaussian mixture); 1 is perfect. ARI and AMI are 0 at "
            "chance; NMI is not corrected for chance and stays above 0 for random groups, the more so the fewer "
            "codes per group." + _given_other(d.clustering.get('n_given_other')), "", dict(d.clustering),
        ))  # fmt: skip
    if d.classes:
        out.append(_class_finding(d))
    for f in out:
        f.evidence = {**f.evidence, "scope": d.scope}
    return out


def _prior_holes(d: Diagnostics) -> Finding:
    """How much of the prior lies where the codes never are: about the model on data drawn like the training
    data (whether to sample from the prior: covered, holes, or too uncertain to tell, the 95% interval of the
    mass against HOLE_COVERED), about this data's codes otherwise."""
    a, lint = d.aggregate, d.lint
    hole, se, n = a["prior_hole_mass"], a["prior_hole_mass_stderr"], a.get("n_codes", d.n_examples)
    lo, hi = max(0.0, hole - Z95 * se), min(1.0, hole + Z95 * se)
    amount = (f"{hole:.3f} ± {se:.3f} (95% interval {lo:.3f} to {hi:.3f}; SE by bootstrap over the {n} codes it was "
              "measured on and the prior draws)")  # fmt: skip
    rule = (f"log q(z) below the {HOLE_QUANTILE:g}st percentile of real codes, each judged by the others; for real "
            f"codes this is {HOLE_QUANTILE / 100:.2f} by construction")  # fmt: skip
    evidence = {"prior_hole_mass": hole, "stderr": se, "interval": [lo, hi], "covered_below": HOLE_COVERED,
                "n_codes": n}  # fmt: skip
    orthant = ""
    if lint.get("codes_in_one_orthant"):
        # The head lint's 2^-L is the prior mass among the means' signs; the hole mass counts q(z) with the
        # posteriors' spread. Both true; said together so they do not read as a contradiction.
        orthant = (f" The posterior means all sit in one orthant (head lint), which holds only "
                   f"{lint.get('orthant_prior_mass', 2.0 ** -len(d.order)):.2g} of the prior's mass: what covers the "
                   "rest is the posteriors' spread, not the codes themselves.")  # fmt: skip
    if d.scope == "data":
        return Finding(
            "prior_holes", "info", f"On this data, {100 * hole:.1f}% of prior samples fall outside its codes",
            f"A draw z ~ p(z) lands where the codes of these {d.n_examples} examples almost never are ({rule}) with "
            f"probability {amount}. That measures how much of the prior this data occupies (one class occupies a "
            "part by design), not whether the model has holes." + orthant,
            "To judge sampling from the prior, inspect data drawn like the training data: vaelab inspect RUN test.",
            evidence,
        )  # fmt: skip
    if hi <= HOLE_COVERED:
        return Finding(
            "prior_holes", "info", f"The prior is covered: {100 * hole:.1f}% of prior samples fall into holes",
            f"A draw z ~ p(z) lands where real codes almost never are ({rule}) with probability {amount}; even the "
            f"upper end is below {HOLE_COVERED:.2f}." + orthant,
            "Sampling from the prior is reasonable for this model." if not orthant else
            "Sampling from the prior reaches codes the decoder saw; still compare samplers (vaelab compare-samplers).",
            evidence,
        )  # fmt: skip
    if lo > HOLE_COVERED:
        return Finding(
            "prior_holes", "warning" if hole > 2 * HOLE_COVERED else "info",
            f"{100 * hole:.1f}% of prior samples fall into holes of the aggregate posterior",
            f"A draw z ~ p(z) lands where the codes of real data almost never are ({rule}) with probability {amount}: "
            "the decoder never trained there, so such samples often decode to junk." + orthant,
            # an adopted model takes no learned prior (adopt's --prior is normal only): only the first remedy reaches it
            "Sample from the aggregate posterior instead (fit a density to the codes: vaelab compare-samplers, "
            "aggregate-gmm or aggregate-flow)." if d.trained_elsewhere else
            "Sample from the aggregate posterior instead (fit a density to the codes, e.g. a GMM), or train with a "
            "learned prior (--prior mog or --prior vamp).",
            evidence,
        )  # fmt: skip
    return Finding(
        "prior_holes", "info", "Too few examples to tell whether the prior is covered",
        f"The prior-hole mass is {amount}: the interval reaches both sides of {HOLE_COVERED:.2f}, so it cannot say "
        f"whether prior samples avoid the holes of the aggregate posterior. The threshold τ is set by the most "
        f"isolated codes, and with {n} codes which ones the data happened to hold moves it a lot." + orthant,
        "Diagnose more examples (e.g. vaelab inspect RUN train), or compare the samplers directly "
        "(vaelab compare-samplers).",
        evidence,
    )  # fmt: skip


def _given_other(count: Any) -> str:
    """What the clustering's labels are where some examples are given a class in place of their own (an audit, s12:
    a row of 'east', a value no training row holds, was counted as 'south', the condition it is scored given)."""
    if not count:
        return ""
    return (f" {count} of the codes are of examples given a class in place of their own (a condition value no "
            "training row holds): they count as the class they are given.")


def _too_few(names: list[str] | None) -> str:
    """" (left out, one example each: 4, 8)": the classes of the data too small for a KL of their codes."""
    return f" (left out, one example each: {', '.join(names)})" if names else ""


def _class_finding(d: Diagnostics) -> Finding:
    """Each class's codes against the prior: KL(q_c(z) || p(z)), the number the question "shouldn't the
    1s' codes be N(0, I)?" needs (they should not: only all classes together should match the prior)."""
    rows = sorted(d.classes.items(), key=lambda kv: -kv[1]["kl_to_prior"])
    text = "; ".join(f"{name} {_interval(v['kl_to_prior'], v['kl_to_prior_stderr'])} (n = {v['n']}"
                     + (f", {v['n_given_other']} of them given {name} in place of a condition value no training row "
                        "holds" if v.get("n_given_other") else "") + ")" for name, v in rows)  # fmt: skip
    return Finding(
        "classes", "info", "Each class's codes against the prior",
        f"KL(q_c(z) || p(z)) in nats, the codes of one class against the prior: {text}{_too_few(d.classes_too_few)} "
        "(each ± the standard error of the Monte Carlo estimate over that class's examples here). "
        "A class is not meant to "
        "look like N(0, I): each occupies its own part of the latent space, and only the mixture of all classes, "
        "q(z), is pulled towards the prior.",
        "", {"kl_to_prior": {k: v["kl_to_prior"] for k, v in d.classes.items()}},
    )  # fmt: skip
