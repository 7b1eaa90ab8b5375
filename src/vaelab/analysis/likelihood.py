"""log p(x) per example by importance sampling, streamed over the data in blocks.

Examples are read, validated and scored one block at a time, so a memory-mapped
``.npy`` larger than memory is scored in constant memory. Within a block the
K samples are drawn in chunks (:func:`vaelab.nn.vae.importance_log_likelihood`), each
example's from a stream of its own, so its estimate never depends on the block.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from vaelab.data.split import binarize_fixed, is_binary
from vaelab.data.streams import IMPORTANCE, ExampleStreams
from vaelab.errors import ConfigError, DataError
from vaelab.model import Model, check_model, check_unit_interval
from vaelab.nn.likelihoods import Bernoulli, ContinuousBernoulli, Gaussian, GaussianFixed, GaussianMeanLogvar, Mixed
from vaelab.nn.vae import importance_log_likelihood
from vaelab.runtime import Z95, seeded

SCORES = ("log_px", "elbo", "reconstruction")  # scores an anomaly threshold may use
DEFAULT_CHUNK = 4096  # (sample, example) pairs per decoder pass: bounds memory; 4096 keeps a
# pass in cache (16384 was 1.7x slower on a 32 MiB-L3 CPU: bench/nll_speed.py)


BINARIZATIONS = 4  # binarizations averaged per grey example for a model that scores binarized data
NOT_A_DENSITY = ("a Bernoulli likelihood on grey values is a cross-entropy, not a density (its normalizer is "
                 "missing), so it is no NLL in nats and has no bits/dim; score binarized data (--binarize fixed "
                 "or dynamic) or train with --likelihood continuous-bernoulli")  # fmt: skip
# The same for a model trained elsewhere (vaelab adopt): train's options do not reach it (an audit).
NOT_A_DENSITY_ADOPTED = ("a Bernoulli likelihood on grey values is a cross-entropy, not a density (its normalizer is "
                         "missing), so it is no NLL in nats and has no bits/dim; score binarized data, or, if the model "
                         "was trained on binarized data, adopt it again with --binarize (a fixed binarization of the "
                         "evaluation data is then scored)")  # fmt: skip


# What the bits/dim of an image model with a continuous likelihood measure: a density of the pixel values as the model
# reads them, not the discrete 8-bit bits/dim of the literature (an audit: the output did not say which)
# The scaling is not the model's to know: vaelab divides 8-bit data by 255, scikit-learn's digits by 16, and takes a float
# array as it is (an audit, s13 f: the text said "divided by 255" of every image model, digits' included).
CONTINUOUS_PIXELS = ("a continuous density of the pixel values as the model reads them (vaelab divides 8-bit images, "
                     "uint8 arrays and mnist5k by 255, scikit-learn's digits by 16, and takes float arrays as they "
                     "are), not the discrete 8-bit bits/dim of the literature (log p of the integer levels 0..255, "
                     "dequantized), with which it cannot be compared")  # fmt: skip


def bits_per_dim_scale(model: Model) -> str | None:
    """What bits/dim measure for ``model``, where that needs saying: an image model (C, H, W) with a continuous
    likelihood gives bits of a density of pixel values in [0, 1] (:data:`CONTINUOUS_PIXELS`); None otherwise
    (binarized pixels are discrete; tables and series say their units)."""
    shape = tuple(getattr(model, "input_shape_", ()) or ())
    if len(shape) == 3 and isinstance(model.px_z_, (Gaussian, GaussianFixed, GaussianMeanLogvar, ContinuousBernoulli)):
        return CONTINUOUS_PIXELS
    return None


@dataclass
class LikelihoodResult:
    """Per-example estimates in nats, each shape (N,), plus what they were computed with."""

    log_px: np.ndarray
    log_px_stderr: np.ndarray  # standard error of each log_px: Monte Carlo and, for grey examples, binarization
    elbo: np.ndarray
    reconstruction: np.ndarray
    kl: np.ndarray
    n_samples: int
    n_features: int
    extra: dict[str, Any] = field(default_factory=dict)
    normalized: bool = True  # log p(x|z) is a normalized density on these data (bits/dim mean something)
    binarizations: int = 1  # binarizations averaged per grey example (1: none, or one fixed draw)
    serial: tuple[np.ndarray, int] | None = None  # overlapping examples (series windows): Dataset.serial
    averaged: np.ndarray | None = None  # (N,) binarizations averaged for each example (binary ones: 1); None: all
    # ``binarizations``

    def __len__(self) -> int:
        return int(self.log_px.shape[0])

    @property
    def bits_per_dim(self) -> np.ndarray:
        """-log p(x) / (D ln 2) per example; NaN when the likelihood is not a density on these data."""
        if not self.normalized:
            return np.full_like(self.log_px, np.nan)
        return -self.log_px / (self.n_features * math.log(2))

    def effective_sample_size(self) -> np.ndarray:
        """Kish's effective sample size of each example's K importance weights, (sum w)^2 / sum w^2, from the
        Monte Carlo SE the estimator reports (SE^2 = var(w) / (K mean(w)^2), var with K - 1): ESS = K / (1 + (K - 1)
        SE^2). Near 1, one draw carries the estimate: log p(x) then likely runs low and its SE, which cannot exceed
        about 1 nat, understates the error. NaN where the SE also holds the spread between binarizations (grey
        examples averaged over several); a binary example of the same file is scored once, and its ESS is given (it
        was NaN for the whole file, so score's few-draws warning missed those rows: an audit)."""
        K = self.n_samples
        if K < 2:
            return np.full_like(self.log_px, np.nan, dtype=np.float64)
        ess = K / (1.0 + (K - 1) * np.asarray(self.log_px_stderr, dtype=np.float64) ** 2)
        averaged = np.full(ess.shape, self.binarizations) if self.averaged is None else np.asarray(self.averaged)
        return np.where(averaged > 1, np.nan, ess)

    def shifted(self, offset: np.ndarray, units: str, dims: int | None = None) -> "LikelihoodResult":
        """The densities moved by ``offset`` (N,) nats per example (a change of units: the log-Jacobian of a
        transform of the data), which ``units`` names; the KL term does not change. ``dims``: the examples'
        dimensions in those units, for bits/dim (a table row's columns, not its encoded features)."""
        offset = np.asarray(offset, dtype=np.float64)
        return LikelihoodResult(self.log_px + offset, self.log_px_stderr, self.elbo + offset,
                                self.reconstruction + offset, self.kl, self.n_samples,
                                self.n_features if dims is None else int(dims),
                                {**self.extra, "units": units}, self.normalized, self.binarizations, self.serial,
                                self.averaged)  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({name: getattr(self, name) for name in ("log_px", "log_px_stderr", "elbo", "reconstruction", "kl")})

    def summary(self) -> dict[str, Any]:
        """Mean NLL with its standard error over examples (which already holds the Monte Carlo
        noise of each estimate), the mean Monte Carlo part alone, bits/dim (None when the
        likelihood is not a density on these data: see ``normalized``) and the ELBO."""
        n = len(self)
        nll = -self.log_px
        se = float(nll.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        method, approximate = "over examples", ""
        if overlapping(self.serial) and n > 1:
            se, method, approximate = window_stderr(nll, *self.serial, what="scored windows")
        return {
            "nll": float(nll.mean()),
            "nll_stderr": se,
            "nll_stderr_method": method,
            # few windows against the span they share: the ± 1.96 SE interval is approximate (approximate_interval)
            **({"nll_stderr_approximate": approximate} if approximate else {}),
            "nll_mc_stderr": float(math.sqrt(float((self.log_px_stderr**2).sum())) / n),
            "bits_per_dim": float(nll.mean() / (self.n_features * math.log(2))) if self.normalized else None,
            "normalized": self.normalized,
            "elbo": float(self.elbo.mean()),
            "reconstruction": float(self.reconstruction.mean()),
            "kl": float(self.kl.mean()),
            "n_examples": n,
            "n_samples": self.n_samples,
            "binarizations": self.binarizations,
        }


def overlapping(serial: tuple[Any, int] | None) -> bool:
    """Whether examples with ``serial`` (each one's group and the lag, :attr:`LikelihoodResult.serial`) hold two
    neighbours of one group within the lag: a split can keep one window per series of a file whose windows overlap,
    and its SE is then over examples, as it says (an audit: it was called "over overlapping windows")."""
    if serial is None or int(serial[1]) < 1:
        return False
    groups = np.asarray(serial[0])
    return bool(groups.size > 1 and (groups[1:] == groups[:-1]).any())


def window_stderr(values: Any, groups: Any, lag: int, what: str = "test windows") -> tuple[float, str, str]:
    """The SE of the mean of a score per overlapping window (``groups``: each window's series, in time order;
    ``lag``: how many windows apart two still share a step, :attr:`LikelihoodResult.serial`), the words that say
    what it is over, and the caveat of :func:`approximate_interval` ("" where the windows are enough): the fixed-b
    one of :func:`overlap_stderr`, as the forecaster's verdict takes. The truncated kernel of :func:`serial_stderr`
    fell far short on few windows: on windows of 16 steps of one series, 2-SE intervals held the true mean 30% of the
    time with 16 windows, 51% with 31 and 73% with 64, where this one held it 62%, 77% and 83% (an audit, s14: train's
    test ELBO and score's NLL)."""
    lag = int(lag)
    method = (f"over overlapping windows (Bartlett weights to lag {lag}, scaled to Kiefer & Vogelsang's fixed-b 95% "
              "interval)")
    return (overlap_stderr(values, groups, lag), method,
            approximate_interval(int(np.size(values)), lag, what, groups))


def serial_stderr(values: Any, groups: Any, lag: int) -> float:
    """The standard error of the mean of ``values`` taken in order within each of ``groups`` when neighbours up to
    ``lag`` apart are correlated, as overlapping windows are (windows k < T steps apart share T - k steps, so their
    scores move together: the plain SD / sqrt(n) was about 3 times too small, an audit). The long-run variance adds
    the autocovariances within each group up to ``lag`` with equal weights, the truncated kernel that Hansen &
    Hodrick (1980) and Diebold & Mariano (1995) use for overlapping observations; where that sum is not positive
    (it can fall below 0 on few windows) Newey & West's (1987) Bartlett weights 1 - k / (lag + 1) are used, which
    keep it positive. It is never taken below the variance of independent examples: overlapping windows share steps,
    so their scores move together, and a sum below that on few windows is noise (an audit). On scores that are moving
    averages of 16 draws, the AUROC interval built on it held the truth 93% of the time (1,000 windows) where Bartlett
    weights held it 88% (the design-effect test of test_anomaly.py)."""
    x = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups)
    n = x.size
    c = x - x.mean()
    gamma0 = float(c @ c) / n
    covs = []
    for k in range(1, min(int(lag), n - 1) + 1):
        same = groups[k:] == groups[:-k]
        covs.append(float((c[k:] * c[:-k])[same].sum()) / n)
    var = gamma0 + 2 * sum(covs)
    if var <= 0:
        var = gamma0 + 2 * sum((1 - k / (lag + 1)) * g for k, g in enumerate(covs, start=1))
    return math.sqrt(max(var, gamma0, 0.0) / n)


# Kiefer & Vogelsang (2005, "A new asymptotic theory for heteroskedasticity-autocorrelation robust tests",
# Econometrica 73), Bartlett kernel: the 97.5% quantile of the fixed-b t statistic is 1.96 + a1 b + a2 b^2 + a3 b^3
# (b = bandwidth / sample size). A Brownian-motion simulation of 20,000 draws here gave 2.52 at b = 0.2, 4.74 at b = 1.
KV_BARTLETT = (2.9694, 0.4160, -0.5324)


def overlap_stderr(d: Any, groups: Any, lag: int, positions: Any = None) -> float:
    """The standard error of the mean of ``d`` (one value per window, in time order within each of ``groups``) when
    windows up to ``lag`` apart share steps, scaled so that the mean ± Z95 of it is Kiefer & Vogelsang's (2005)
    fixed-b 95% interval: Newey & West's (1987) Bartlett weights 1 - k / (lag + 1) over the autocovariances within
    each series, times the fixed-b critical value / Z95 at b = (lag + 1) / the windows.

    Where the windows of a series are few against the lag (31 windows of 30 steps), the autocovariances taken about
    the sample mean shrink, and the plain SE fell far below the spread of the mean: a trained forecaster against
    repeating the last value on 200 fresh stretches of a random walk, 31 windows each, spread 0.80, the SE taken
    with lag n_future 0.42 (65% of 2-SE intervals held the truth), a data-driven lag (Andrews 1991) 0.37, this one
    0.63 (81%); on a seasonal series (spread 0.13) 0.60 before, 0.55 with this one (an audit, s13).

    ``positions``: each window's place in its series (increasing within it), in the units ``lag`` counts, where some
    windows were left out between others (a window with no observed future value); two windows are as far apart as
    their places, not their order in ``d`` (an audit, s14: the neighbours either side of a left-out stretch were taken
    as adjacent, sharing steps they do not share). None: windows consecutive, place = order.

    No floor at the independent windows' SE (:func:`serial_stderr` has one): on overlapping window means of AR(1)
    steps (16 to 200 windows) it bound in under 1% of 2,000 draws and changed no interval's coverage (an audit, s15)."""
    d = np.asarray(d, dtype=np.float64)
    groups = np.asarray(groups)
    n = d.size
    c = d - d.mean()
    lag = int(lag)
    place = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64)
    var = float(c @ c) / n
    reach = 0  # the most windows apart, in order, that two of one series sharing a step lie
    for k in range(1, min(lag, n - 1) + 1):  # places increase within a series: windows k apart in order are >= k apart
        apart = place[k:] - place[:-k]
        same = (groups[k:] == groups[:-k]) & (apart <= lag)
        if same.any():
            reach = k
        var += 2 * float(((1 - apart / (lag + 1)) * c[k:] * c[:-k])[same].sum()) / n
    # b over all the windows: the autocovariances are taken about the mean of all of them, whose error is what shrinks
    # them (and independent series' estimates average), so a panel of short series is not read as one short series
    # (and no longer a span than a series holds: windows each of their own series leave nothing to estimate)
    span = lag if positions is None else reach
    b = min(1.0, min(span + 1, int(np.unique(groups, return_counts=True)[1].max())) / n)
    cv = Z95 + sum(a * b**p for p, a in enumerate(KV_BARTLETT, start=1))
    return math.sqrt(max(var, 0.0) / n) * cv / Z95


APPROXIMATE_SPANS = 4  # fewer windows than this many spans of windows sharing a step: an approximate interval


APPROXIMATE_SAID = "the interval is approximate"  # how approximate_interval's words begin


def approximate_interval(n: int, lag: int, what: str = "evaluated windows", groups: Any = None) -> str:
    """Where ``n`` windows are fewer than :data:`APPROXIMATE_SPANS` spans of the windows that share a step (``lag`` + 1,
    or fewer where no series of ``groups``, each window's series, holds so many), the words that say a fixed-b interval
    over them (:func:`overlap_stderr`) is approximate; "" where they are not, or share no step. On a random walk, 31
    windows of 30 steps, the fixed-b interval held the truth about 80% of the time, 86-89% at 4-5 T (an audit, s13 a).
    One helper for every interval taken so: the forecaster's difference from repeating the last value, its band's
    coverage, the predictive score's test windows and the mean test ELBO and NLL of a series run (:func:`window_stderr`)
    (an audit, s14: only the first said it, and it said it of windows each of their own series, a short panel split by
    series, which share no step)."""
    span = lag + 1
    if groups is not None and np.size(groups):
        span = min(span, int(np.unique(np.asarray(groups), return_counts=True)[1].max()))
    if span <= 1 or n >= APPROXIMATE_SPANS * span:
        return ""
    return (f"{APPROXIMATE_SAID}: the {n} {what} are fewer than {APPROXIMATE_SPANS} × {span} (each shares "
            f"steps with those up to {span - 1} apart), too little independent information for a 95% interval, which "
            "may hold the truth less often; more test data (a longer test period or more series) makes it firmer")


def log_likelihood(
    model: Model,
    X: Any,
    y: Any = None,
    n_samples: int = 1000,
    *,
    binarizations: int = BINARIZATIONS,
    chunk_size: int = DEFAULT_CHUNK,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    observed: np.ndarray | None = None,
) -> LikelihoodResult:
    """Estimate log p(x) (or log p(x|y) for a conditional model) for every example of X.

    An example's estimate depends on the example alone, never on its neighbours or its position
    in X: every random draw made for it (its binarization, its z draws) comes from a stream
    seeded by ``seed`` and its content (:mod:`vaelab.data.streams`).

    A model that scores binarized data (:meth:`Model.evaluation_seed`) gets, for each grey
    example, the average of log p(b) over ``binarizations`` fixed binarizations b of it: an
    estimate of E_b log p(b), whose standard error holds the spread between binarizations (the
    sample SD over them / sqrt(J), never below the Monte Carlo part). Binary examples are
    scored once (binarizing leaves them unchanged).

    Parameters
    ----------
    model : a fitted :class:`vaelab.VAE` or any :class:`vaelab.model.Model`.
    X : array-like (N, ...) — a NumPy memory map is read block by block.
    y : labels (one per example, or one for all): required by a conditional model, which is scored given them.
    n_samples : K, the importance samples per example (and per binarization): more is tighter, slower.
    binarizations : J, binarizations averaged per grey example (models that score binarized data).
    chunk_size : at most this many (sample, example) pairs go through the decoder at once.
    seed : seed of the draws (default: the model's seed): same seed, same estimates.
    progress : called with (examples done, total) after each block.
    observed : (N, D) bool, mixed likelihoods (tables) only: features to leave out of p(x|z) where False
        (cells of new rows that could not be encoded: :meth:`TableTransformer.check_rows`).
    """
    model = check_model(model, "log_likelihood")
    if model.deterministic_:
        raise DataError("log p(x) is estimated by importance sampling from q(z|x), which needs its variance; a "
                        "deterministic encoder (a plain autoencoder) has none, so log p(x), the ELBO and their "
                        "percentiles do not apply to this model. Its reconstruction error does (not a log-likelihood: "
                        "vaelab.analysis.reconstruction_error; vaelab score and anomaly-eval use it), as do its latent "
                        "space, samplers and sample quality: vaelab inspect, compare-samplers, explore.")  # fmt: skip
    for name, value in (("n_samples", n_samples), ("chunk_size", chunk_size), ("binarizations", binarizations)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be a positive integer; got {value!r}.")
    n = len(X)
    if n == 0:  # a header-only file: nothing to score, and no mean or SE over no examples
        raise DataError("log p(x) needs at least one example to score; got none (an empty array, or a file with "
                        "a header and no rows).")  # fmt: skip
    if observed is not None:
        if not isinstance(model.px_z_, Mixed):
            raise DataError("observed= leaves cells of table rows out of a mixed likelihood; this model's "
                            f"likelihood is {type(model.px_z_).__name__}.")  # fmt: skip
        observed = np.asarray(observed, dtype=bool).reshape(n, -1)
    # Examples per block: enough for the chunk to hold up to 128 draws of each.
    block = max(1, min(n, chunk_size // min(n_samples, 128)))
    table = np.empty((n, 5))  # the per-example results: the only memory that grows with N
    seed = model.seed if seed is None else int(seed)
    binarize_seed = model.evaluation_seed()
    normalized, averaged = True, 1
    each = np.ones(n, dtype=np.int64)  # binarizations averaged per example
    with seeded(seed, model.device_), torch.no_grad():
        for start in range(0, n, block):
            x = model.model_input(X[start : start + block])  # as given: binarized below, draw by draw
            yb = model.label_codes(None if y is None else np.asarray(y)[start : start + block], x.shape[0])
            px_z = model.px_z_
            if observed is not None:  # cells of new table rows that could not be encoded are left out
                px_z = px_z.restricted(torch.from_numpy(observed[start : start + x.shape[0]]).to(model.device_))
            if binarize_seed is None:
                if isinstance(px_z, (Bernoulli, ContinuousBernoulli)):
                    # p(x|z) is defined on [0, 1] only, as training and adopt refused other data: a value outside
                    # was scored as a "cross-entropy" (a continuous Bernoulli's density there is 0) (an audit)
                    check_unit_interval(x.numpy())
                normalized = normalized and px_z.is_density(x)
                table[start : start + x.shape[0]] = _estimate(model, x, yb, n_samples, chunk_size, seed, px_z=px_z)
            else:
                check_unit_interval(x.numpy())
                out, j, grey = _binarized(model, x, yb, n_samples, chunk_size, seed, binarize_seed, binarizations)
                table[start : start + x.shape[0]] = out
                each[start + grey] = j
                averaged = max(averaged, j)
            if progress:
                progress(min(start + block, n), n)
    check_finite_scores(table, getattr(model, "trained_elsewhere", False))
    return LikelihoodResult(*(table[:, i] for i in range(5)), n_samples=int(n_samples), n_features=model.n_features_in_,
                            normalized=normalized, binarizations=averaged, averaged=each)  # fmt: skip


def check_finite_scores(table: np.ndarray, trained_elsewhere: bool = False) -> None:
    """Refuse scores that are NaN or infinite (table: (N, 5) as LikelihoodResult's columns; the
    Monte Carlo SE, column 1, may be NaN for K = 1): a percentile or flag computed from them means
    nothing, and a mean of them hides the cause. ``trained_elsewhere`` (an adopted model): the advice names no
    option of vaelab train, which cannot reach the model (an audit, s13: "Retrain with a lower --lr")."""
    bad = ~np.isfinite(table[:, [0, 2, 3, 4]]).all(1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"The model gives NaN or infinite log p(x) or ELBO for {int(bad.sum())} of {len(bad)} examples "
                        f"(the first is example {first}): its weights diverged, or these inputs lie far outside the "
                        "training data, where the decoder's likelihood overflows. "
                        + ("Check those inputs, and the model where it was trained (its halves on them)."
                           if trained_elsewhere else "Retrain with a lower --lr or --grad-clip, or check those inputs."))  # fmt: skip


def _estimate(model: Model, x: torch.Tensor, y: torch.Tensor | None, n_samples: int, chunk_size: int, seed: int,
              draw: int = 0, px_z: Any = None) -> np.ndarray:  # fmt: skip
    """(B, 5) log p(x), its Monte Carlo SE, ELBO, reconstruction, KL for the examples x (B, ...), each
    with z draws from its own stream (seed, ``draw``, its content); ``px_z`` replaces the model's
    likelihood (a table's, restricted to the cells observed)."""
    streams = ExampleStreams(x.numpy(), seed, IMPORTANCE, draw)
    dev, L = model.device_, model.latent_dim_
    out = importance_log_likelihood(model.encode, model.decode, model.px_z_ if px_z is None else px_z, model.prior_, x.to(dev),
                                    None if y is None else y.to(dev), n_samples, chunk_size,
                                    noise=lambda k: torch.from_numpy(streams.normal(k, L)).to(dev))  # fmt: skip
    return torch.stack(list(out), 1).cpu().numpy()


def _binarized(model: Model, x: torch.Tensor, y: torch.Tensor | None, n_samples: int, chunk_size: int, seed: int,
               binarize_seed: int, binarizations: int) -> tuple[np.ndarray, int, np.ndarray]:  # fmt: skip
    """:func:`_estimate` averaged over ``binarizations`` fixed binarizations of each grey example
    (binary ones once); the SE of log p(x) from the spread between binarizations. Also returns
    how many binarizations were averaged (1 when every example is binary) and the grey examples' positions."""
    out = _estimate(model, binarize_fixed(x, binarize_seed, 0), y, n_samples, chunk_size, seed, 0)
    grey = np.flatnonzero(~is_binary(x.numpy()))
    if binarizations == 1 or grey.size == 0:
        return out, 1, grey
    xg, yg = x[grey], None if y is None else y[grey]
    draws = np.stack([out[grey]] + [_estimate(model, binarize_fixed(xg, binarize_seed, j), yg, n_samples, chunk_size,
                                              seed, j) for j in range(1, binarizations)])  # (J, G, 5)  # fmt: skip
    mean = draws.mean(0)
    # The J estimates are independent draws of (binarization, z's): their sample variance holds both
    # noises. With few draws it can come out below the Monte Carlo variance alone, which is a floor; with
    # K = 1 that floor is not measurable (NaN) and the spread alone is the SE (np.fmax: it was NaN, an audit).
    spread = draws[:, :, 0].var(0, ddof=1) / binarizations
    mean[:, 1] = np.sqrt(np.fmax(spread, (draws[:, :, 1] ** 2).mean(0) / binarizations))
    out[grey] = mean
    return out, binarizations, grey
