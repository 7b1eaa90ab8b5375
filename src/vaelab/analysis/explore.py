"""Latent exploration: traversals, the E[x|z] manifold grid, interpolations, latent arithmetic.

What a dimension does is shown over the *prior's* range (±3 prior SD by default): an
informative dimension has a posterior SD far below the prior's, so moving a code by
±2 *posterior* SD changes nothing visible.

Typicality of a code z is log q(z) under the aggregate posterior q(z) = 1/N Σ_n q(z|x_n)
of the training data, given as a percentile among the training codes' own values (their
posterior means, each judged leave-one-out: with its own component a training code would
always look typical). The latent space has a coordinate for anything, z_a + z_b included;
whether that coordinate means something depends on whether it is typical.

Every function takes a fitted model and arrays and returns a small result object with
``to_dict()``; nothing here reads or writes files.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

from vaelab.analysis.aggregate import check_measurable, kde_logvar, log_aggregate, marginal_kl
from vaelab.analysis.likelihood import log_likelihood
from vaelab.errors import ConfigError, DataError
from vaelab.metrics_schema import SCALE_NAMES, codes_words
from vaelab.model import Model, check_model
from vaelab.runtime import Z95, seeded

MAX_REFERENCE_CODES = 10_000  # training codes kept for q(z); beyond this a seeded subsample
LOW, BORDERLINE = 1.0, 5.0  # percentiles below which a result is atypical / borderline


def _one_example(model: Model, x: Any, name: str) -> np.ndarray:
    """One example as a batch of one, in the model's input shape."""
    arr = np.asarray(x, dtype=np.float32)
    if arr.shape == model.input_shape_ or arr.size == model.n_features_in_:
        return arr.reshape(1, *model.input_shape_)
    if arr.shape[:1] == (1,) and arr[0].size == model.n_features_in_:
        return arr.reshape(1, *model.input_shape_)
    raise DataError(f"{name} must be one example of shape {model.input_shape_}; got an array of shape {arr.shape}.")


def _label(model: Model, label: Any, n: int) -> np.ndarray | None:
    """Labels to decode with: None for unconditional models; conditional ones default to their first class."""
    if model.classes_ is None:
        if label is not None:
            raise DataError("A class was given, but this VAE is not conditional (fitted without labels).")
        return None
    name = _decoding_class(model, label)
    model.label_codes(np.full(n, name), n)  # an unknown class fails here, with the known ones named
    return np.full(n, name)


def _decoding_class(model: Model, label: Any) -> str | None:
    """The class a conditional model decodes with (the one given, else its first), said in the results; None for
    an unconditional model."""
    return None if model.classes_ is None else str(model.classes_[0] if label is None else label)


def _decode(model: Model, z: np.ndarray, label: Any) -> np.ndarray:
    return model.inverse_transform(z.astype(np.float32), _label(model, label, z.shape[0]))


# ------------------------------------------------------------------ the prior
@dataclass
class PriorMarginals:
    """Per-dimension marginals of p(z): 1-D Gaussian mixtures (one component for N(0, I))."""

    means: np.ndarray  # (K, L)
    sds: np.ndarray  # (K, L)
    weights: np.ndarray  # (K,)

    @property
    def mean(self) -> np.ndarray:
        return self.weights @ self.means

    @property
    def sd(self) -> np.ndarray:
        second = self.weights @ (self.sds**2 + self.means**2)
        return np.sqrt(np.maximum(second - self.mean**2, 0.0))

    def ppf(self, q: np.ndarray, d: int) -> np.ndarray:
        """Quantiles of dimension d's marginal (inverse CDF); closed form for one component."""
        q = np.asarray(q, dtype=np.float64)
        if np.any((q <= 0) | (q >= 1)):
            raise ConfigError(f"Prior quantiles must lie strictly between 0 and 1; got {q.min():g} to {q.max():g}.")
        m, s, w = self.means[:, d], self.sds[:, d], self.weights
        if m.size == 1:
            return m[0] + s[0] * ndtri(q)
        # A mixture's CDF has no closed-form inverse; it is monotone, so a bracketing root finder is exact.
        lo, hi = float((m - 12 * s).min()), float((m + 12 * s).max())
        return np.array([brentq(lambda z, qi=qi: float(w @ ndtr((z - m) / s)) - qi, lo, hi, xtol=1e-10) for qi in q])


def prior_marginals(model: Model) -> PriorMarginals:
    means, logvars, log_w = (t.detach().cpu().double() for t in check_model(model, "prior_marginals").prior_.mixture())
    return PriorMarginals(means.numpy(), torch.exp(0.5 * logvars).numpy(), torch.softmax(log_w, 0).numpy())




def _scale(model: Model, activity: "LatentActivity | None") -> tuple[PriorMarginals, str]:
    """What traversals and grids step in, per dimension: the prior's marginals, or for a deterministic encoder (a
    plain autoencoder, never fitted to the prior: its codes can sit far from N(0, I)) a Gaussian with its codes' mean
    and SD on the data measured (``activity``), so the figure stays where the codes are (an audit). "prior" or
    "codes" says which."""
    if model.deterministic_ and activity is not None and activity.mean is not None:
        sd = np.sqrt(np.maximum(np.asarray(activity.var_mean, dtype=np.float64), 0.0))
        return PriorMarginals(np.asarray(activity.mean, dtype=np.float64)[None], sd[None], np.ones(1)), "codes"
    return prior_marginals(model), "prior"


# --------------------------------------------------------- per-dimension activity
@dataclass
class LatentActivity:
    """Average KL(q(z_d|x) || p(z_d)) per dimension and which dimensions are active, on some data."""

    kl: np.ndarray | None  # (L,); None for a deterministic encoder (no q(z|x) to measure)
    var_mean: np.ndarray  # (L,) Var_x(E_q[z_d])
    active: np.ndarray  # (L,) bool
    n_examples: int
    mean: np.ndarray | None = None  # (L,) E_x(E_q[z_d]): with var_mean, the codes' scale (a deterministic encoder's)

    @property
    def measure(self) -> str:
        return "variance of the codes" if self.kl is None else "KL"

    @property
    def order(self) -> list[int]:
        """Dimensions sorted by KL (a deterministic encoder's: by the codes' variance), largest first."""
        key = self.var_mean if self.kl is None else self.kl
        return [int(d) for d in np.argsort(-key, kind="stable")]


def latent_activity(model: Model, X: Any, y: Any = None, *, active_threshold: float = 0.01, n_draws: int = 8,
                    seed: int = 0) -> LatentActivity:  # fmt: skip
    """KL per dimension and active units (Burda et al. 2016: Var_x(E_q[z_d]) > threshold) on X."""
    model = check_model(model, "latent_activity")
    x = model.model_input(X, evaluation=True)
    codes = model.label_codes(y, x.shape[0]) if model.classes_ is not None else None
    if x.shape[0] < 2:
        raise DataError(f"Measuring latent activity needs at least 2 examples; got {x.shape[0]}.")
    with seeded(seed):
        mu, logvar = (t.double() for t in _encode_params(model, x, codes))
        means, logvars, log_w = (t.detach().cpu().double() for t in model.prior_.mixture())
        kl = None if model.deterministic_ else marginal_kl(mu, logvar, means, logvars, log_w, n_draws).mean(0).numpy()
    var = mu.var(0, unbiased=False).numpy()
    return LatentActivity(kl, var, var > active_threshold, int(x.shape[0]), mu.mean(0).numpy())


def _encode_params(model: Model, x: torch.Tensor, codes: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    out = model.map_batches(lambda xb, yb: torch.stack(model.encode(xb, yb), 1), x, codes)  # (N, 2, L)
    return out[:, 0], out[:, 1]


# ------------------------------------------------------- the aggregate posterior
class AggregatePosterior:
    """q(z) = 1/N Σ_n q(z|x_n) over training inputs, and the training codes' typicality.

    ``reference`` holds log q(μ_n) for each training code μ_n = E_q[z|x_n], leave-one-out;
    :meth:`percentile` places any code among them (0: less typical than every training code).
    For a deterministic encoder q(z) is the codes' kernel density (:func:`kde_logvar`).
    """

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor, n_total: int | None = None):
        if mu.shape[0] < 2:
            raise DataError(f"The aggregate posterior needs at least 2 training codes; got {mu.shape[0]}.")
        self.mu, self.logvar = mu.double(), logvar.double()
        self.n_total = int(mu.shape[0] if n_total is None else n_total)  # training examples the codes were drawn from
        owner = torch.arange(mu.shape[0])
        self.reference = np.sort(log_aggregate(self.mu, self.mu, self.logvar, owner=owner).numpy())

    @classmethod
    def fit(cls, model: Model, X: Any, y: Any = None, *, max_codes: int = MAX_REFERENCE_CODES, seed: int = 0) -> "AggregatePosterior":
        model = check_model(model, "AggregatePosterior.fit")
        n = len(X)
        keep = np.sort(np.random.default_rng(seed).choice(n, max_codes, replace=False)) if n > max_codes else None
        if keep is not None:  # q(z) is a mean over inputs: a random subsample estimates it without bias
            X, y = X[keep], (None if y is None else np.asarray(y)[keep])
        x = model.model_input(X)
        codes = model.label_codes(y, x.shape[0]) if model.classes_ is not None else None
        mu, logvar = _encode_params(model, x, codes)
        return cls(mu, kde_logvar(mu.double()) if model.deterministic_ else logvar, n)

    @property
    def n_codes(self) -> int:
        return int(self.mu.shape[0])

    def log_prob(self, z: np.ndarray) -> np.ndarray:
        z = torch.as_tensor(np.atleast_2d(np.asarray(z, dtype=np.float64)))
        if z.shape[1] != self.mu.shape[1]:
            raise DataError(f"Codes must have {self.mu.shape[1]} dimensions; got {z.shape[1]}.")
        return log_aggregate(z, self.mu, self.logvar).numpy()

    def percentile(self, z: np.ndarray) -> np.ndarray:
        """Share of training codes (in %) whose log q is at or below each code's."""
        return _percentile(self.reference, self.log_prob(z))


def _percentile(sorted_reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    return 100.0 * np.searchsorted(sorted_reference, np.asarray(values), side="right") / sorted_reference.size


# ------------------------------------------------------------------ traversals
class _Scaled:
    """What a traversal's or grid's ``scale`` ("prior" or "codes") reads as: its SD unit, its centre, a grid's quantiles."""

    scale: str

    @property
    def sd_name(self) -> str:
        return SCALE_NAMES[self.scale][0]

    @property
    def mean_name(self) -> str:
        return SCALE_NAMES[self.scale][1]

    @property
    def quantiles_name(self) -> str:
        return SCALE_NAMES[self.scale][2]


@dataclass
class Traversal(_Scaled):
    """Decoded codes with one dimension (or one channel of a spatial latent) varied at a time over the
    prior's range."""

    dims: list[int]  # the varied dimensions, or channels when ``unit`` is "channel"
    kl: list[float | None]  # average KL of each shown dimension (a channel's: summed over its positions; None without data)
    active: list[bool | None]
    offsets: np.ndarray  # (S,) in prior SDs
    values: np.ndarray  # (n_dims, S) the code values of the varied dimension
    reference: np.ndarray  # (L,) the code the other dimensions keep
    centred: bool  # around a given input's code (True) or the prior's mean (the codes' mean: ``scale``)
    decoded: np.ndarray = field(repr=False)  # (n_dims, S, *input_shape)
    chosen_by: str = ""
    unit: str = "dimension"  # or "channel": every position of one channel of a (C, h, w) latent moves together
    decoded_with: str | None = None  # a conditional model's class (a table's condition values) it decodes with
    scale: str = "prior"  # offsets in prior SDs about the prior's mean, or ("codes") in the codes' SDs about their mean
    codes_from: str | None = None  # where scale "codes" was measured (the run's split, when a command knows it)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dims": self.dims, "kl": self.kl, "active": self.active, "span_sd": float(np.abs(self.offsets).max()),
            "steps": int(self.offsets.size), "centred": self.centred, "chosen_by": self.chosen_by,
            "values": self.values.round(4).tolist(), "reference": self.reference.round(4).tolist(), "unit": self.unit,
            "scale": self.scale, **({"codes_from": self.codes_from} if self.codes_from else {}),
            **({} if self.decoded_with is None else {"decoded_with": self.decoded_with}),
        }  # fmt: skip


def _check_span(span: float, steps: int) -> None:
    if not (isinstance(span, (int, float)) and math.isfinite(span) and span > 0):
        raise ConfigError(f"span must be a positive number of prior SDs (e.g. 3); got {span!r}.")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ConfigError(f"steps must be an integer of at least 2; got {steps!r}.")


def _check_dims(dims: Any, L: int, unit: str = "dimension", distinct: bool = True) -> list[int]:
    out = [int(d) for d in dims]
    bad = [d for d in out if not 0 <= d < L]
    if bad or not out:
        raise ConfigError(f"dims must name latent {unit}s in 0..{L - 1}; got {list(dims)}.", setting="dims")
    if distinct and len(set(out)) < len(out):  # a traversal's row twice (a grid says "two different" itself)
        raise ConfigError(f"dims must name distinct latent {unit}s; got {list(dims)}.", setting="dims")
    return out


def _traversal_units(model: Model, per: str) -> tuple[str, list[np.ndarray]]:
    """The groups of flat code dimensions a traversal moves together: one per dimension, or, for a
    spatial latent (C, h, w), one per channel (all its h·w positions shifted by the same number of
    prior SDs, which is how a channel's meaning shows in an image latent)."""
    shape = model.latent_shape_
    spatial = shape is not None and len(shape) >= 2
    if per not in ("auto", "dimension", "channel"):
        raise ConfigError(f"per must be 'auto', 'dimension' or 'channel'; got {per!r}.")
    if per == "channel" and not spatial:
        raise ConfigError("Traversals per channel need a latent with channels (e.g. 4 x h x w); this model's latent is "
                          f"flat ({model.latent_dim_} dimensions). Use per='dimension'.", setting="per")  # fmt: skip
    if per == "channel" or (per == "auto" and spatial):
        return "channel", list(np.arange(model.latent_dim_).reshape(shape[0], -1))
    return "dimension", [np.array([d]) for d in range(model.latent_dim_)]


def traverse(
    model: Model,
    X: Any = None,
    y: Any = None,
    *,
    dims: Any = None,
    span: float = 3.0,
    steps: int = 11,
    reference: Any = None,
    reference_label: Any = None,
    label: Any = None,
    activity: LatentActivity | None = None,
    per: str = "auto",
) -> Traversal:
    """Vary one latent dimension at a time over ±``span`` prior SDs and decode E[x|z].

    per : "dimension", or "channel" for a spatial latent (C, h, w): every position of one channel
        moves by the same number of prior SDs. "auto" (default): channels when the latent has them.
    dims : the dimensions (channels) to show; by default the active ones on X (all of them if none
        is active), sorted by average KL, largest first. Without X: every one in order.
    reference : one input; its code is the centre (``centred``) and holds the other
        dimensions. By default the prior's mean does.
    label : the class to decode with (conditional models; default: the reference's label or
        the first class).

    A deterministic encoder (a plain autoencoder) was never fitted to the prior: with X (or ``activity``) its
    offsets are in its codes' SDs about their mean (``scale`` "codes"), not the prior's.
    """
    model = check_model(model, "traverse")
    _check_span(span, steps)
    L = model.latent_dim_
    unit, groups = _traversal_units(model, per)
    if activity is None and X is not None:
        activity = latent_activity(model, X, y)
    kl_u = act_u = order = None
    if activity is not None:
        key = activity.var_mean if activity.kl is None else activity.kl
        kl_u = None if activity.kl is None else np.array([activity.kl[g].sum() for g in groups])
        act_u = np.array([bool(activity.active[g].any()) for g in groups])
        order = [int(u) for u in np.argsort(-np.array([key[g].sum() for g in groups]), kind="stable")]
    if dims is not None:
        dims, chosen = _check_dims(dims, len(groups), unit), "given"
    elif activity is None:
        dims, chosen = list(range(len(groups))), f"all {unit}s (no data to rank them by)"
    else:
        active = [u for u in order if act_u[u]]
        by = activity.measure
        dims, chosen = (active, f"active {unit}s, by {by}") if active else (order, f"all {unit}s by {by} (none is active)")
    marg, scale = _scale(model, activity)
    if reference is None:
        centre, centred = marg.mean.copy(), False
    else:
        centre = _code(model, reference, reference_label, "the centre (reference)")
        centred = True
    offsets = np.linspace(-span, span, steps)
    z = np.repeat(centre[None, :], len(dims) * steps, axis=0).reshape(len(dims), steps, L)
    values = np.empty((len(dims), steps))  # the varied dimension's value (a channel's: its mean over positions)
    for i, u in enumerate(dims):
        g = groups[u]
        z[i][:, g] = centre[None, g] + offsets[:, None] * marg.sd[None, g]
        values[i] = z[i][:, g].mean(1)
    lab = label if label is not None else reference_label
    decoded = _decode(model, z.reshape(-1, L), lab)
    kl = [None if kl_u is None else float(kl_u[u]) for u in dims]
    act = [None if act_u is None else bool(act_u[u]) for u in dims]
    return Traversal(dims, kl, act, offsets, values, centre, centred,
                     decoded.reshape(len(dims), steps, *decoded.shape[1:]), chosen, unit,
                     _decoding_class(model, lab), scale)  # fmt: skip


# ------------------------------------------------------------- manifold grid
@dataclass
class ManifoldGrid(_Scaled):
    """E[x|z] over a grid of two latent dimensions spaced by the prior's quantiles."""

    dims: tuple[int, int]  # (horizontal, vertical)
    quantiles: np.ndarray  # (n,)
    values: np.ndarray  # (2, n) code values along each axis
    reference: np.ndarray  # (L,) the other dimensions' values
    decoded: np.ndarray = field(repr=False)  # (n rows, n cols, *input_shape); row 0 is the top (largest vertical value)
    chosen_by: str = ""
    decoded_with: str | None = None  # a conditional model's class it decodes with
    scale: str = "prior"  # quantiles of the prior, or ("codes") of a Gaussian with the codes' mean and SD
    codes_from: str | None = None  # where scale "codes" was measured (the run's split, when a command knows it)

    def to_dict(self) -> dict[str, Any]:
        return {"dims": list(self.dims), "n": int(self.quantiles.size), "quantiles": self.quantiles.round(4).tolist(),
                "values": self.values.round(4).tolist(), "reference": self.reference.round(4).tolist(),
                "chosen_by": self.chosen_by, "scale": self.scale,
                **({"codes_from": self.codes_from} if self.codes_from else {}),
                **({} if self.decoded_with is None else {"decoded_with": self.decoded_with})}  # fmt: skip


def manifold_grid(
    model: Model,
    X: Any = None,
    y: Any = None,
    *,
    dims: Any = None,
    n: int = 15,
    reference: Any = None,
    reference_label: Any = None,
    label: Any = None,
    activity: LatentActivity | None = None,
) -> ManifoldGrid:
    """Decode E[x|z] on an n x n grid over two latent dimensions at the prior's quantiles
    (i + 0.5)/n, the inverse-CDF spacing of Kingma & Welling (2014, fig. 4): each cell
    covers equal prior mass. The other dimensions sit at the prior's mean or at the code of
    ``reference``. Default dimensions: the two with the largest KL on X (0 and 1 without X). A deterministic
    encoder's grid (with X or ``activity``) takes a Gaussian with its codes' mean and SD in place of the prior.
    """
    model = check_model(model, "manifold_grid")
    L = model.latent_dim_
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ConfigError(f"n (grid size) must be an integer of at least 2; got {n!r}.")
    if L < 2:
        raise ConfigError("A manifold grid needs a latent space of at least 2 dimensions; this model has 1. Use traverse.")
    if activity is None and X is not None and ((dims is None and L > 2) or model.deterministic_):
        activity = latent_activity(model, X, y)
    if dims is not None:
        dims, chosen = _check_dims(dims, L, distinct=False), "given"
        if len(dims) != 2 or dims[0] == dims[1]:
            raise ConfigError(f"dims must name two different dimensions for a manifold grid; got {dims}.", setting="dims")
    elif L == 2 or activity is None:
        dims, chosen = [0, 1], "the only two" if L == 2 else "the first two (no data to rank them by)"
    else:
        dims, chosen = activity.order[:2], f"the two with the largest {activity.measure}"
    marg, scale = _scale(model, activity)
    if reference is None:
        centre = marg.mean.copy()
    else:
        centre = _code(model, reference, reference_label, "the centre (reference)")
    q = (np.arange(n) + 0.5) / n
    h, v = marg.ppf(q, dims[0]), marg.ppf(q, dims[1])
    z = np.repeat(centre[None, :], n * n, axis=0).reshape(n, n, L)
    z[:, :, dims[0]] = h[None, :]
    z[:, :, dims[1]] = v[::-1, None]  # top row: the largest value, as on a plot's y axis
    lab = label if label is not None else reference_label
    decoded = _decode(model, z.reshape(-1, L), lab)
    return ManifoldGrid((dims[0], dims[1]), q, np.stack([h, v]), centre, decoded.reshape(n, n, *decoded.shape[1:]), chosen,
                        _decoding_class(model, lab), scale)  # fmt: skip


# ------------------------------------------------------------- interpolation
def slerp(z_a: np.ndarray, z_b: np.ndarray, t: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
    """Spherical interpolation about ``centre`` (White 2016, "Sampling generative networks"):
    sin((1-t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b with cos Ω = a·b / (|a||b|). Under a Gaussian
    prior typical codes lie near a sphere, which a straight line cuts through. Falls back to
    the straight line when a and b are (anti)parallel."""
    c = np.zeros_like(z_a) if centre is None else centre
    a, b = z_a - c, z_b - c
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    t = np.asarray(t, dtype=np.float64)[:, None]
    if na == 0 or nb == 0:
        return c + (1 - t) * a + t * b
    omega = math.acos(float(np.clip(a @ b / (na * nb), -1.0, 1.0)))
    if math.sin(omega) < 1e-6:
        return c + (1 - t) * a + t * b
    return c + (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / math.sin(omega)


@dataclass
class Interpolation:
    """Paths between two inputs' codes, decoded, with each point's typicality."""

    t: np.ndarray  # (S,)
    z: dict[str, np.ndarray]  # path -> (S, L)
    log_q: dict[str, np.ndarray]  # path -> (S,) log q(z) under the aggregate posterior
    percentile: dict[str, np.ndarray]  # path -> (S,) among the training codes
    decoded: dict[str, np.ndarray] = field(repr=False)  # path -> (S, *input_shape)
    endpoints: np.ndarray = field(repr=False, default=None)  # (2, *input_shape): the inputs a and b
    decoded_with: str | None = None  # a conditional model's class the whole path is decoded with (a's by default)
    class_b: str | None = None  # b's class: where it differs, the path's end is not b's reconstruction
    # the spherical path turns about the prior's mean, or ("codes") a deterministic encoder's about its training codes'
    # mean (the aggregate posterior's codes): a plain autoencoder was never fitted to the prior (an audit, s12)
    scale: str = "prior"
    codes_from: str | None = None  # where scale "codes" was measured (the run's split, when a command knows it)
    # the training codes the percentiles are among, and the training examples they were drawn from (a seeded
    # subsample beyond MAX_REFERENCE_CODES): said next to the percentiles
    n_codes: int | None = None
    n_train: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **({} if self.decoded_with is None else {"decoded_with": self.decoded_with, "class_b": self.class_b}),
            "scale": self.scale, **({"codes_from": self.codes_from} if self.codes_from else {}),
            "t": self.t.round(4).tolist(),
            "paths": {name: {"log_q": self.log_q[name].round(3).tolist(),
                             "percentile": self.percentile[name].round(2).tolist(),
                             "min_percentile": float(self.percentile[name].min())}
                      for name in self.z},
        }  # fmt: skip


def interpolate(
    model: Model,
    x_a: Any,
    x_b: Any,
    *,
    aggregate: AggregatePosterior,
    steps: int = 10,
    y_a: Any = None,
    y_b: Any = None,
    label: Any = None,
) -> Interpolation:
    """Linear and spherical paths between E_q[z|a] and E_q[z|b], decoded to E[x|z], with
    log q(z) of every point and its percentile among the training codes. The spherical path turns about
    the prior's mean; for a deterministic encoder (a plain autoencoder, never fitted to the prior) about
    the mean of ``aggregate``'s codes (``scale`` "codes")."""
    model = check_model(model, "interpolate")
    _check_span(1.0, steps)
    if not isinstance(aggregate, AggregatePosterior):
        raise ConfigError("aggregate must be an AggregatePosterior (AggregatePosterior.fit(model, X_train)).")
    za, zb = _codes(model, [(x_a, y_a, "a"), (x_b, y_b, "b")])
    t = np.linspace(0.0, 1.0, steps)
    codes = bool(model.deterministic_)  # its codes can sit far from N(0, I): turning about 0 leaves them
    centre = aggregate.mu.mean(0).numpy() if codes else prior_marginals(model).mean
    paths = {"linear": (1 - t)[:, None] * za + t[:, None] * zb, "spherical": slerp(za, zb, t, centre)}
    dec_label = label if label is not None else y_a
    decoded = {k: _decode(model, z, dec_label) for k, z in paths.items()}
    log_q = {k: aggregate.log_prob(z) for k, z in paths.items()}
    pct = {k: _percentile(aggregate.reference, v) for k, v in log_q.items()}
    ends = np.concatenate([_one_example(model, x_a, "a"), _one_example(model, x_b, "b")])
    return Interpolation(t, paths, log_q, pct, decoded, ends, _decoding_class(model, dec_label),
                         _decoding_class(model, y_b), "codes" if codes else "prior",
                         n_codes=aggregate.n_codes, n_train=aggregate.n_total)  # fmt: skip


def _codes(model: Model, items: list[tuple[Any, Any, str]]) -> list[np.ndarray]:
    return [_code(model, x, y, f"example {name}") for x, y, name in items]


def _code(model: Model, x: Any, y: Any, name: str) -> np.ndarray:
    """The posterior mean of one example (float64, (L,): what ``model.transform`` gives, from the same encoding),
    refused when its posterior is too wide to measure: a code of an input far outside the training data says nothing
    about the latent space around it."""
    x = _one_example(model, x, name)
    lab = None if model.classes_ is None else _label(model, y, 1)
    mu, logvar = _encode_params(model, model.model_input(x), None if lab is None else model.label_codes(lab, 1))
    check_measurable(mu, None if model.deterministic_ else logvar, name=name,
                     then="explore around inputs like the training data")  # fmt: skip
    return mu[0].numpy().astype(np.float64)


# ------------------------------------------------------------ latent arithmetic
@dataclass
class ArithmeticResult:
    name: str  # e.g. "z_a + z_b", "a + b (data space)"
    space: str  # latent | data | input
    z: np.ndarray  # (L,) the code
    image: np.ndarray = field(repr=False)  # what the code decodes to, E[x|z]
    scored: np.ndarray = field(repr=False)  # the example whose log p(x) is given
    scored_what: str = ""  # "decoded" (E[x|z]) or "input" (the data-space example itself)
    latent_percentile: float = math.nan
    log_q: float = math.nan
    log_px: float = math.nan
    log_px_stderr: float = math.nan
    log_px_percentile: float = math.nan
    log_px_percentile_interval: tuple[float, float] | None = None  # from log p(x) ± 1.96 SE
    verdict: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "space": self.space, "log_q": self.log_q, "latent_percentile": self.latent_percentile,
                "log_px": self.log_px, "log_px_stderr": self.log_px_stderr, "log_px_percentile": self.log_px_percentile,
                "log_px_percentile_interval": None if self.log_px_percentile_interval is None
                else list(self.log_px_percentile_interval),
                "scored": self.scored_what, "verdict": self.verdict}  # fmt: skip


@dataclass
class Arithmetic:
    results: list[ArithmeticResult]
    data_range: tuple[float, float]  # the smallest and largest value a ± b was clipped to (over all features)
    n_samples: int | None  # importance samples per log p(x); None: none drawn (a deterministic encoder has no log p(x))
    n_reference: int  # test examples the log p(x) percentiles are taken among
    decoded_with: str | None = None  # a conditional model's class the results are decoded with (a's; b keeps its own)
    units: str | None = None  # what log p(x) is a density of, where a run kind changes units (a table's, a series')
    clipped: str = "overall"  # "per feature": a ± b clipped to each feature's own range; "overall": to data_range

    def to_dict(self) -> dict[str, Any]:
        return {"data_range": list(self.data_range), "clipped": self.clipped, "n_samples": self.n_samples,
                "n_reference": self.n_reference,
                "results": [r.to_dict() for r in self.results],
                **({} if self.decoded_with is None else {"decoded_with": self.decoded_with}),
                **({} if self.units is None else {"units": self.units})}  # fmt: skip


def _percent_pair(p: float) -> tuple[str, str]:
    """A percentile and its complement, rounded alike: ("0.05", "99.95"), never ("0.1", "100.0")."""
    digits = 1 if (p >= 0.1 or p <= 0) else (2 if p >= 0.01 else 3)
    return f"{p:.{digits}f}", f"{100 - p:.{digits}f}"


def _latent_phrase(p: float, n_codes: int | None, n_train: int | None = None) -> str:
    codes = codes_words(n_codes, n_train)
    if p <= 0:
        return f"its code is less typical than every one of {codes} (log q(z) percentile 0)"
    at, above = _percent_pair(p)
    return f"its code's log q(z) is at percentile {at} of {codes} (less typical than {above}% of them)"


def verdict(latent_percentile: float, log_px_percentile: float, scored: str = "decoded", *,
            log_px: float = math.nan, log_px_stderr: float = math.nan,
            log_px_interval: tuple[float, float] | None = None, n_codes: int | None = None,
            n_reference: int | None = None, n_train: int | None = None) -> str:  # fmt: skip
    """A plain-language reading of a result's two typicality percentiles, with the numbers it rests on.

    Atypical: below the 1st percentile (``LOW``); borderline: below the 5th (``BORDERLINE``). For log p(x)
    the percentile's 95% interval (``log_px_interval``, from log p(x) ± 1.96 SE) decides: clearly low when
    all of it is below the 1st percentile, typical when all of it is at or above the 5th, borderline
    otherwise (the estimate cannot tell). The top tail is atypical too (Nalisnick et al. 2019: a model can give
    what is unlike its data a higher likelihood than the data): clearly high when all of the interval is above
    the 99th percentile (100 - ``LOW``), borderline when it reaches above it (it read "Typical … like real data"
    at percentile 100, an audit)."""
    what = "the decoded example" if scored == "decoded" else "this input"
    lat = _latent_phrase(latent_percentile, n_codes, n_train)
    if math.isnan(log_px_percentile):  # a deterministic encoder: no log p(x), the latent side alone
        if latent_percentile < LOW:
            return (f"Off the data in latent space: {lat}, where the decoder never trained, so what it decodes to is an "
                    "extrapolation (log p(x) does not apply to a deterministic encoder).")  # fmt: skip
        if latent_percentile < BORDERLINE:
            return f"Borderline: {lat}; it lies at the edge of the codes the model has seen."
        return f"Typical in latent space: {lat} (log p(x) does not apply to a deterministic encoder)."
    lo, hi = log_px_interval if log_px_interval is not None else (log_px_percentile, log_px_percentile)
    among = "the test split" if n_reference is None else f"the {n_reference} test examples"
    value = "" if math.isnan(log_px) else f" = {log_px:.2f} ± {log_px_stderr:.2f} nats"
    lik = (f"log p(x) of {what}{value} is at percentile {log_px_percentile:.1f} of {among} "
           f"(95% interval {lo:.1f} to {hi:.1f})")  # fmt: skip
    px_low, px_typical = hi < LOW, lo >= BORDERLINE and hi <= 100 - LOW
    px_high = lo > 100 - LOW
    if latent_percentile < LOW and px_low:
        return (f"Not meaningful: {lat}, where the decoder never trained, and {lik}. The latent space has a "
                "coordinate here, but it does not stand for anything like the data.")  # fmt: skip
    if latent_percentile < LOW:
        return (f"Off the data in latent space: {lat}, where the decoder never trained, so what it decodes to is an "
                f"extrapolation; {lik}.")  # fmt: skip
    if px_low:
        return (f"Typical code, unlikely example: {lik}, below almost all test data, although {lat}. The encoder "
                "maps it into the data's region; the example itself is not like the data.")  # fmt: skip
    if px_high:
        than = "every test example" if lo >= 100 else f"{100 - LOW:g}% of the test data"
        return (f"Atypically likely: {lik}, more likely than {than}, although {lat}. A likelihood above the data's "
                "is atypical too: models can give what is unlike their data a higher likelihood than the data "
                "(Nalisnick et al. 2019), so it is not like real data either.")  # fmt: skip
    if latent_percentile < BORDERLINE or not px_typical:
        edge = (f"above the {100 - LOW:g}th percentile of log p(x), or too close to it to tell" if hi > 100 - LOW
                and latent_percentile >= BORDERLINE and lo >= BORDERLINE else
                f"below the {BORDERLINE:g}th percentile, or too close to it to tell")  # fmt: skip
        return f"Borderline: {lat} and {lik}; it lies at the edge of what the model has seen ({edge})."
    return (f"Typical: {lat} and {lik}; by both measures the model treats it like real data (typicality is what "
            "is measured here, not whether it looks right).")  # fmt: skip


def arithmetic(
    model: Model,
    x_a: Any,
    x_b: Any,
    *,
    aggregate: AggregatePosterior,
    reference_log_px: np.ndarray | None,
    data_range: tuple[Any, Any],
    n_samples: int = 200,
    y_a: Any = None,
    y_b: Any = None,
    seed: int = 0,
    log_jacobian: Callable[[np.ndarray], np.ndarray | None] | None = None,
) -> Arithmetic:
    """decode(z_a ± z_b) next to encode-decode of the data-space a ± b (clipped to ``data_range``: (low, high),
    numbers, or arrays of one example's size for each feature's own range, e.g. the training data's per feature).

    Each result gets log q(z) of its code as a percentile among the training codes, and
    log p(x) (importance sampling, ``n_samples``) as a percentile of ``reference_log_px``
    (the test split's log p(x) at the same K). For latent results the decoded example is
    scored; for data-space results the clipped input a ± b itself. a and b are included as
    anchors. A deterministic encoder has no log p(x): pass ``reference_log_px=None``; the
    verdicts then read the latent typicality alone. ``log_jacobian(X)`` (a run kind's change of units, as
    :meth:`vaelab.runs.run.Run.log_likelihood` adds it) puts each log p(x) in the data's own units: pass it
    when ``reference_log_px`` is in those units, so that both are scored alike.
    """
    model = check_model(model, "arithmetic")
    ref = None
    if reference_log_px is not None and isinstance(n_samples, (int, np.integer)) and n_samples < 2:
        # its SE would be NaN, read as 0: "95% interval 13.3 to 13.3" (an audit)
        raise ConfigError(f"n_samples={n_samples!r}: the arithmetic places each log p(x) among the test split's with "
                          "a 95% interval from its standard error, and one importance sample per example gives none; "
                          "give at least 2 (default 200).", setting="n_samples")  # fmt: skip
    if reference_log_px is not None:
        ref = np.sort(np.asarray(reference_log_px, dtype=np.float64).ravel())
        if ref.size < 2:
            raise DataError(f"reference_log_px needs at least 2 scores (the test split's log p(x)); got {ref.size}.")
    elif not model.deterministic_:
        raise DataError("reference_log_px is needed: the test split's log p(x), to place each result's log p(x) among.")
    lo, hi = _clip_range(model, data_range)
    a, b = _one_example(model, x_a, "a"), _one_example(model, x_b, "b")
    za, zb = _codes(model, [(a, y_a, "a"), (b, y_b, "b")])
    lab = None if model.classes_ is None else _label(model, y_a, 1)
    # The anchors with their own classes (b was encoded, decoded and scored with a's); the results with a's.
    lab_b = None if model.classes_ is None else _label(model, y_b, 1)
    rows: list[ArithmeticResult] = [ArithmeticResult("a", "input", za, _decode(model, za[None], y_a)[0], a[0], "input"),
                                    ArithmeticResult("b", "input", zb, _decode(model, zb[None], y_b)[0], b[0], "input")]
    for sign, op in ((1.0, "+"), (-1.0, "−")):
        z = za + sign * zb
        img = _decode(model, z[None], y_a)[0]
        rows.append(ArithmeticResult(f"z_a {op} z_b", "latent", z, img, img, "decoded"))
    for sign, op in ((1.0, "+"), (-1.0, "−")):
        x = np.clip(a + sign * b, lo, hi).astype(np.float32)
        z = model.transform(x, lab)[0].astype(np.float64)
        rows.append(ArithmeticResult(f"a {op} b (data space)", "data", z, _decode(model, z[None], y_a)[0], x[0], "input"))
    Z = np.stack([r.z for r in rows])
    log_q = aggregate.log_prob(Z)
    lat_pct = _percentile(aggregate.reference, log_q)
    if ref is not None:
        scored = np.stack([r.scored for r in rows])
        labels = None if lab is None else np.array([lab[0], lab_b[0]] + [lab[0]] * (len(rows) - 2))
        lik = log_likelihood(model, scored, labels, n_samples, seed=seed)
        jacobian = None if log_jacobian is None else log_jacobian(scored)
        if jacobian is not None:
            lik = lik.shifted(jacobian, "")
        px_pct = _percentile(ref, lik.log_px)
        se = np.nan_to_num(lik.log_px_stderr, nan=0.0)
        px_lo, px_hi = _percentile(ref, lik.log_px - Z95 * se), _percentile(ref, lik.log_px + Z95 * se)
        for i, r in enumerate(rows):
            r.log_px, r.log_px_stderr, r.log_px_percentile = float(lik.log_px[i]), float(lik.log_px_stderr[i]), float(px_pct[i])
            r.log_px_percentile_interval = (float(px_lo[i]), float(px_hi[i]))
    for i, r in enumerate(rows):
        r.log_q, r.latent_percentile = float(log_q[i]), float(lat_pct[i])
        r.verdict = verdict(r.latent_percentile, r.log_px_percentile, r.scored_what, log_px=r.log_px,
                            log_px_stderr=r.log_px_stderr, log_px_interval=r.log_px_percentile_interval,
                            n_codes=aggregate.reference.size, n_reference=None if ref is None else int(ref.size),
                            n_train=aggregate.n_total)  # fmt: skip
    # no reference, no log p(x): nothing was drawn, and n_samples says so (it read 200 for a plain autoencoder: an audit)
    return Arithmetic(rows, (float(np.min(lo)), float(np.max(hi))), None if ref is None else int(n_samples),
                      0 if ref is None else int(ref.size),
                      _decoding_class(model, y_a), clipped="per feature" if np.ndim(lo) else "overall")  # fmt: skip


def _clip_range(model: Model, data_range: Any) -> tuple[Any, Any]:
    """``data_range`` as (low, high): two numbers, or two arrays in the model's input shape (each feature's range)."""
    try:
        lo, hi = (np.asarray(v, dtype=np.float64) for v in data_range)
    except (TypeError, ValueError):
        raise ConfigError(f"data_range must be (low, high); got {data_range!r:.80}.") from None
    if lo.ndim == 0 and hi.ndim == 0:
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"data_range must be (low, high) with low < high; got {data_range!r}.")
        return float(lo), float(hi)
    if lo.size != model.n_features_in_ or hi.size != model.n_features_in_:
        raise ConfigError(f"data_range per feature must be two arrays of {model.n_features_in_} values (one example's); "
                          f"got {lo.size} and {hi.size}.")  # fmt: skip
    if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo <= hi).all() and lo.min() < hi.max()):
        raise ConfigError("data_range per feature must be finite with low ≤ high for every feature (and not one value "
                          "for all); got otherwise.")  # fmt: skip
    return lo.reshape(1, *model.input_shape_), hi.reshape(1, *model.input_shape_)
