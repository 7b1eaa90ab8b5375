"""Series that trend: detecting non-stationarity, and representing windows so a model can learn them.

A window model learns the windows of the training period. When a series trends (GDP in
levels, CO2), the validation and test windows lie at levels no training window reached, so a
model of raw (globally scaled) windows generates the past's levels and its forecasts start from
the wrong place. Two questions, two parts of this module:

**Detection** (:func:`detect_trend`), on each series' training stretch only, per feature:

- the augmented Dickey-Fuller test (Said & Dickey 1984) with a constant, its lag order chosen
  by AIC from 0 to ceil(12 (n/100)^(1/4)) as statsmodels' ``adfuller(x, regression="c",
  autolag="AIC")`` does, compared with MacKinnon's (2010) 5% critical value for n
  observations. The test is written here in NumPy (vaelab does not depend on statsmodels;
  the tests check it against statsmodels where that is installed);
- the *level drift*: how far the mean of the last third of the stretch is from the mean of
  its first third, in units of the typical SD inside one window. A model sees windows, so
  this is what decides whether later windows leave the range the earlier ones covered.

A feature trends when a unit root is not rejected in the majority of the series long enough
to test (two windows and 25 steps) *and* the median drift exceeds :data:`DRIFT_LIMIT`.

**Handling** (:class:`WindowCoder`): how a window (T, F) in data units becomes the model's
row and back. ``none``: each feature standardized with training statistics (the rows vaelab
always used). ``difference``: the window's first differences (T - 1 steps), standardized,
plus the window's first value as a standardized level. ``window``: the window relative to
its own past, (x - mean of the past) / SD of the past per feature (the instance
normalization of RevIN, Kim et al. 2022), plus that mean and the log of that SD as
standardized extras. In both the model learns the *shape* of windows, which stays in range
when levels move, and forecasts are put back at the level and scale of the past they
continue. ``auto`` picks ``none`` unless a trend is detected, then the handling whose
representation of the late training windows stays closest to the early ones
(:func:`choose_handling`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from vaelab.errors import ConfigError, DataError, NotFittedError, RunError

TRENDS = ("auto", "none", "difference", "window")
HANDLINGS = TRENDS[1:]
DRIFT_LIMIT = 1.0  # level drift (window SDs) above which a series with a unit root is said to trend
MIN_TEST_STEPS = 25  # shortest training stretch the ADF test is run on
ADF_LEVEL = 0.05
# MacKinnon (2010), Table 4, N = 1, constant, no trend: the 5% critical value is
# b0 + b1/n + b2/n^2 + b3/n^3 for n observations in the test regression.
_ADF_CRIT_5 = (-2.86154, -2.8903, -4.234, -40.040)
_CODER_KIND = "vaelab.WindowCoder"
_CODER_VERSION = 1
ROW_RANGE = ("row_lo", "row_hi", "row_sd")  # the training rows' range per column (coders stored before it lack them)


# ------------------------------------------------------------------ the ADF test


def _ols(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Least squares: coefficients, their standard errors, the residual sum of squares."""
    beta, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    ssr = float(resid @ resid)
    dof = max(len(y) - X.shape[1], 1)
    if rank < X.shape[1]:
        return beta, np.full(X.shape[1], np.nan), ssr
    cov = np.linalg.inv(X.T @ X) * (ssr / dof)
    return beta, np.sqrt(np.maximum(np.diag(cov), 0.0)), ssr


def _adf_design(x: np.ndarray, lags: int, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Δx_t on [1, x_{t-1}, Δx_{t-1} .. Δx_{t-lags}] for t from ``start`` (an index into Δx) on."""
    dx = np.diff(x)
    rows = np.arange(start, len(dx))
    cols = [np.ones(len(rows)), x[rows]]  # x[t] is the level before Δx[t] = x[t+1] - x[t]
    cols += [dx[rows - i] for i in range(1, lags + 1)]
    return dx[rows], np.column_stack(cols)


@dataclass(frozen=True)
class ADFResult:
    """The augmented Dickey-Fuller test of one series (constant, AIC lag order)."""

    statistic: float  # t-statistic of x_{t-1}; more negative = stronger evidence against a unit root
    critical_5: float  # MacKinnon's 5% critical value for n_obs
    lags: int  # lagged differences in the regression
    n_obs: int  # observations in the regression

    @property
    def unit_root(self) -> bool:
        """True when a unit root is *not* rejected at 5% (the series may be non-stationary)."""
        return not self.statistic < self.critical_5


def adf_test(x: Any, max_lags: int | None = None) -> ADFResult:
    """Augmented Dickey-Fuller test with a constant (Said & Dickey 1984).

    Regresses Δx_t on a constant, x_{t-1} and p lagged differences; p is chosen by AIC among
    0..``max_lags`` (default ceil(12 (n/100)^(1/4)), at most n/2 - 2) on a common sample,
    then the regression is refitted on every observation p allows, as statsmodels'
    ``adfuller(x, regression="c", autolag="AIC")`` does. The statistic is compared with
    MacKinnon's (2010) 5% critical value for that many observations.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    n = len(x)
    if n < 8 or not np.isfinite(x).all():
        raise DataError(f"The ADF test needs at least 8 finite values; got {n}.")
    if max_lags is None:
        max_lags = math.ceil(12 * (n / 100) ** 0.25)
    max_lags = int(max(0, min(max_lags, n // 2 - 2)))
    best, best_aic = 0, math.inf
    for p in range(max_lags + 1):
        y, X = _adf_design(x, p, max_lags)
        _, _, ssr = _ols(y, X)
        aic = len(y) * math.log(max(ssr, 1e-300) / len(y)) + 2 * X.shape[1]
        if aic < best_aic - 1e-12:
            best, best_aic = p, aic
    y, X = _adf_design(x, best, best)
    beta, se, _ = _ols(y, X)
    stat = float(beta[1] / se[1]) if se[1] > 0 else (-math.inf if beta[1] < 0 else math.inf)
    m = len(y)
    b0, b1, b2, b3 = _ADF_CRIT_5
    return ADFResult(stat, b0 + b1 / m + b2 / m**2 + b3 / m**3, best, m)


# ------------------------------------------------------------------ detection


@dataclass(frozen=True)
class FeatureTrend:
    """One feature's evidence over the series long enough to test."""

    feature: str
    tested: int  # series whose training stretch was long enough for the ADF test
    unit_root: int  # of those, how many did not reject a unit root at 5%
    adf_median: float  # median ADF statistic (NaN when none was tested)
    critical_5: float  # the 5% critical value at the median series' length
    drift: float  # median level drift over the tested series, in within-window SDs
    trending: bool

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


@dataclass(frozen=True)
class TrendReport:
    """What :func:`detect_trend` found, per feature."""

    features: tuple[FeatureTrend, ...]
    note: str = ""  # why nothing could be tested, when so

    @property
    def detected(self) -> bool:
        return any(f.trending for f in self.features)

    @property
    def trending(self) -> list[str]:
        return [f.feature for f in self.features if f.trending]

    def describe(self) -> str:
        """One sentence: which features trend and the evidence."""
        if self.note:
            return self.note
        if not self.detected:
            return (f"no trend detected (a unit root rejected, or level drift at most {DRIFT_LIMIT:g} window SD, "
                    f"in every feature)")  # fmt: skip
        parts = [f"{f.feature} (ADF {f.adf_median:.2f} vs 5% critical {f.critical_5:.2f}, unit root kept in "
                 f"{f.unit_root} of {f.tested} series; level drift {f.drift:.1f} window SDs)"
                 for f in self.features if f.trending]  # fmt: skip
        return "trend detected in " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"detected": self.detected, "features": [f.to_dict() for f in self.features], "note": self.note,
                "drift_limit": DRIFT_LIMIT, "adf_level": ADF_LEVEL}  # fmt: skip


def level_drift(stretch: np.ndarray, window: int) -> np.ndarray:
    """|mean of the last third - mean of the first third| per feature of one stretch (L, F), in units
    of the root-mean variance of the values inside windows of ``window`` steps (floored at 1e-12)."""
    L = len(stretch)
    third = max(1, L // 3)
    shift = np.abs(stretch[-third:].mean(0) - stretch[:third].mean(0))
    views = np.lib.stride_tricks.sliding_window_view(stretch, min(window, L), axis=0)  # (k, F, window)
    within = np.sqrt(views.var(axis=-1).mean(0))
    return shift / np.maximum(within, 1e-12)


def detect_trend(stretches: Sequence[np.ndarray], features: Sequence[str], window: int) -> TrendReport:
    """Per feature: ADF tests and level drift over each series' training stretch (L_i, F).

    Stretches shorter than two windows or :data:`MIN_TEST_STEPS` steps are not tested (a panel
    of short series, such as TimeGAN's sines, holds windows that do not follow one another in
    time); when none is long enough the report says so and detects nothing.
    """
    for i, s in enumerate(stretches):  # a 1-D stretch ended in an IndexError from deep inside (an audit)
        shape = np.shape(s)
        if len(shape) != 2 or shape[1] != len(features):
            raise DataError(f"detect_trend needs each stretch as (steps, {len(features)} features), one column per "
                            f"name in features; stretch {i} has shape {shape}. Give a 1-D series as x[:, None].")  # fmt: skip
    long = [np.asarray(s, dtype=np.float64) for s in stretches if len(s) >= max(2 * window, MIN_TEST_STEPS)]
    if not long:
        note = (f"not tested for a trend: no series has a training stretch of {max(2 * window, MIN_TEST_STEPS)} "
                f"steps (two windows of {window} steps, and at least {MIN_TEST_STEPS})")  # fmt: skip
        empty = tuple(FeatureTrend(f, 0, 0, math.nan, math.nan, math.nan, False) for f in features)
        return TrendReport(empty, note)
    out = []
    drifts = np.stack([level_drift(s, window) for s in long])  # (S, F)
    for j, name in enumerate(features):
        tests = [adf_test(s[:, j]) for s in long if np.ptp(s[:, j]) > 0]
        stats = np.array([t.statistic for t in tests])
        roots = sum(t.unit_root for t in tests)
        drift = float(np.median(drifts[:, j]))
        median_n = int(np.median([t.n_obs for t in tests])) if tests else 0
        crit = _ADF_CRIT_5[0] + sum(b / median_n ** (k + 1) for k, b in enumerate(_ADF_CRIT_5[1:])) if tests else math.nan
        trending = bool(tests) and roots * 2 > len(tests) and drift > DRIFT_LIMIT
        out.append(FeatureTrend(name, len(tests), int(roots), float(np.median(stats)) if tests else math.nan,
                                float(crit), drift, trending))  # fmt: skip
    return TrendReport(tuple(out))


# ------------------------------------------------------------------ handling


def _sd(a: np.ndarray, axis: Any) -> np.ndarray:
    """Population SD, 1 where it is 0 (a constant feature)."""
    sd = a.std(axis=axis)
    return np.where(sd > 0, sd, 1.0)


@dataclass
class WindowCoder:
    """Windows (N, T, F) in data units ↔ the model's rows (N, D), and the forecaster's parts.

    A row is the window's *shape* (S steps × F features, S = T, or T - 1 for ``difference``),
    flattened, followed by the handling's extras (``window``: the past's mean and log SD per
    feature; ``difference``: the first value per feature), each standardized with the
    training windows' statistics. The forecaster reads the shape's first ``past_steps`` steps
    and generates its last ``n_future`` (see :meth:`encode_past`, :meth:`decode_future`).
    Fit on training windows only.
    """

    handling: str
    n_past: int
    stats: dict[str, np.ndarray] = field(default_factory=dict)  # fitted statistics, float64 (F,) each

    def __post_init__(self) -> None:
        if self.handling not in HANDLINGS:
            raise ConfigError(f"trend handling must be one of {list(HANDLINGS)}; got {self.handling!r}.")
        if self.handling == "difference" and self.n_past < 2:
            raise ConfigError("trend 'difference' needs --window N_PAST >= 2 (the past's differences condition the "
                              f"forecaster); got {self.n_past}. Use --trend window.")  # fmt: skip

    # ---------------------------------------------------------- sizes
    @property
    def is_fitted(self) -> bool:
        return bool(self.stats)

    def steps(self, window: int) -> int:
        """Time steps of a row's shape part for windows of ``window`` steps."""
        return window - 1 if self.handling == "difference" else window

    @property
    def past_steps(self) -> int:
        """Time steps of the shape that hold the past (the forecaster's condition)."""
        return self.n_past - 1 if self.handling == "difference" else self.n_past

    def n_extra(self, n_features: int) -> int:
        return {"none": 0, "difference": 1, "window": 2}[self.handling] * n_features

    # ---------------------------------------------------------- fitting
    def fit(self, X: np.ndarray) -> "WindowCoder":
        """Statistics of the training windows X (N, T, F), data units."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3 or X.shape[0] == 0 or X.shape[1] <= self.n_past:
            raise DataError(f"WindowCoder.fit needs training windows (N, T > n_past = {self.n_past}, F); got {X.shape}.")
        if not np.isfinite(X).all():
            raise DataError("WindowCoder.fit got NaN or infinite values; the windows must be finite.")
        flat = X.reshape(-1, X.shape[-1])
        stats = {"loc": flat.mean(0), "scale": _sd(flat, 0)}  # the "none" scaling, and every level's
        if self.handling == "difference":
            d = np.diff(X, axis=1).reshape(-1, X.shape[-1])
            stats.update(diff_loc=d.mean(0), diff_scale=_sd(d, 0))
        elif self.handling == "window":
            past_sd = X[:, : self.n_past].std(axis=1)  # (N, F)
            median = np.median(past_sd, axis=0)
            # A flat past (SD 0) would blow its future up: floor the SD at a tenth of the typical one.
            # Pasts flat as a rule (one step: --window 1) have no SD to go by: the floor is then every window's scale,
            # so it is the typical SD of a whole window (1e-3 of the global SD left shapes 30 to 50 wide on a random
            # walk, and the forecaster's 90% band held 9% of the futures: an audit).
            whole = np.median(X.std(axis=1), axis=0)
            stats["floor"] = np.where(median > 0, 0.1 * median, np.where(whole > 0, whole, 1e-3 * stats["scale"]))
            level, log_sd = self._level_scale(X, stats["floor"])
            stats.update(level_loc=level.mean(0), level_scale=_sd(level, 0),
                         logsd_loc=log_sd.mean(0), logsd_scale=_sd(log_sd, 0))  # fmt: skip
        self.stats = stats
        rows = self.encode(X).astype(np.float64)  # the range of the model's inputs, for flagging new windows
        self.stats.update(row_lo=rows.min(0), row_hi=rows.max(0), row_sd=_sd(rows, 0))
        return self

    # ---------------------------------------------------------- new windows
    @property
    def constant_features(self) -> np.ndarray:
        """(F,) bool: features every training window held the same way (each of their row columns took one value:
        a feature constant in training). Decoded at that value; any other value is out of range. All False for a
        coder stored before the range was kept."""
        F = len(self.stats["loc"])
        if "row_lo" not in self.stats:
            return np.zeros(F, dtype=bool)
        return (self.stats["row_lo"] == self.stats["row_hi"]).reshape(-1, F).all(0)

    def beyond_range(self, rows: np.ndarray) -> np.ndarray | None:
        """How far each value of rows (N, D) lies outside the training rows' range, in the training rows' SD
        of that column (0 inside; inf where a constant feature's column holds another value, since its SD was 0);
        None for a coder stored before the range was kept. Rows narrower than the model's are its first D columns
        (a past's steps)."""
        if "row_lo" not in self.stats:
            return None
        rows = np.asarray(rows, dtype=np.float64)
        s, d = self.stats, rows.shape[-1]
        lo, hi, sd = s["row_lo"][:d], s["row_hi"][:d], s["row_sd"][:d]
        far = np.maximum(np.maximum(lo - rows, rows - hi), 0.0)
        fixed = np.tile(self.constant_features, len(s["row_lo"]) // len(s["loc"]))[:d]
        # The SD of a constant feature's column was 0 (stored as 1): any difference beyond float noise is out.
        return np.where(fixed, np.where(far > 1e-6 * np.maximum(1.0, np.abs(lo)), np.inf, 0.0), far / sd)

    def column_parts(self, window: int, n_features: int) -> list[tuple[str, int, int | None]]:
        """What each column of a row holds: (part, feature index, step or None). Parts: "value" (a step's value,
        standardized or relative to the past), "change" (a step's difference from the one before), and the
        extras "level", "log SD" (the past's) and "first value"."""
        F, S = n_features, self.steps(window)
        part = "change" if self.handling == "difference" else "value"
        out = [(part, f, t + (1 if self.handling == "difference" else 0)) for t in range(S) for f in range(F)]
        extras = {"none": (), "difference": ("first value",), "window": ("level", "log SD")}[self.handling]
        return out + [(e, f, None) for e in extras for f in range(F)]

    def log_jacobian(self, window: int) -> float | None:
        """log |det d row / d window| of :meth:`encode`, the same for every window of ``window`` steps: added to the
        model's log p(row) it gives log p(window) in the data's units. ``none`` scales each value; ``difference``
        maps a window to its first value and first differences (triangular, unit diagonal) and scales those.
        None for ``window``: its row is no change of variables of the window (the shape relative to the past holds
        2F constraints, and the past's level and log SD come beside it), so no density in the data's units follows."""
        s = self.stats
        if self.handling == "none":
            return float(-window * np.log(s["scale"]).sum())
        if self.handling == "difference":
            return float(-((window - 1) * np.log(s["diff_scale"]).sum() + np.log(s["scale"]).sum()))
        return None

    def _level_scale(self, X: np.ndarray, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The past's mean and log SD per window and feature, (..., F) each."""
        past = X[..., : self.n_past, :]
        return past.mean(axis=-2), np.log(np.maximum(past.std(axis=-2), floor))

    def _check(self, X: Any, what: str) -> np.ndarray:
        if not self.is_fitted:
            raise NotFittedError(f"WindowCoder.{what} needs a fitted coder; call fit(training windows) first.")
        X = np.asarray(X, dtype=np.float64)
        if X.shape[-1] != len(self.stats["loc"]):
            raise DataError(f"WindowCoder.{what} expects {len(self.stats['loc'])} feature(s) on the last axis; "
                            f"got shape {X.shape}.")  # fmt: skip
        # Windows of another length than the training ones (or a past of another length than n_past) were coded
        # without a word, and decoded back into windows of the wrong steps (an audit).
        if what == "encode" and (X.ndim != 3 or X.shape[1] <= self.n_past
                                 or ("row_lo" in self.stats and X.shape[1] != self.window)):  # fmt: skip
            raise DataError(f"WindowCoder.encode expects windows (N, {self.window or f'T > {self.n_past}'}, "
                            f"{X.shape[-1]}); got shape {X.shape}.")  # fmt: skip
        if what == "encode_past" and (X.ndim < 2 or X.shape[-2] != self.n_past):
            raise DataError(f"WindowCoder.encode_past expects pasts (..., n_past = {self.n_past}, {X.shape[-1]}); "
                            f"got shape {X.shape}.")  # fmt: skip
        return X

    @property
    def window(self) -> int | None:
        """Steps of the training windows, from the stored width of the training rows (None before it was kept)."""
        if "row_lo" not in self.stats:
            return None
        F = len(self.stats["loc"])
        S = len(self.stats["row_lo"]) // F - self.n_extra(F) // F
        return S + 1 if self.handling == "difference" else S

    # ---------------------------------------------------------- windows <-> rows
    def encode(self, X: np.ndarray) -> np.ndarray:
        """Windows (N, T, F), data units → rows (N, S·F + extras) float32."""
        X = self._check(X, "encode")
        s = self.stats
        N = X.shape[0]
        if self.handling == "none":
            return ((X - s["loc"]) / s["scale"]).astype(np.float32).reshape(N, -1)
        if self.handling == "difference":
            shape = (np.diff(X, axis=1) - s["diff_loc"]) / s["diff_scale"]
            extras = [(X[:, 0] - s["loc"]) / s["scale"]]
        else:
            level, log_sd = self._level_scale(X, s["floor"])
            shape = (X - level[:, None]) / np.exp(log_sd)[:, None]
            extras = [(level - s["level_loc"]) / s["level_scale"], (log_sd - s["logsd_loc"]) / s["logsd_scale"]]
        return np.concatenate([shape.reshape(N, -1), *extras], axis=1).astype(np.float32).reshape(N, -1)

    def shape(self, rows: np.ndarray, window: int) -> np.ndarray:
        """The shape part of rows (N, D) as (N, S, F): what is left of a window once level (and scale) are
        taken out; the space in which windows of a trending series can be compared."""
        rows = np.asarray(rows)
        F = len(self.stats["loc"])
        S = self.steps(window)
        return rows[:, : S * F].reshape(len(rows), S, F)

    def decode(self, rows: np.ndarray, window: int) -> np.ndarray:
        """Rows (N, D) → windows (N, T, F) float32 in data units: the inverse of :meth:`encode`."""
        if not self.is_fitted:
            raise NotFittedError("WindowCoder.decode needs a fitted coder; call fit(training windows) first.")
        rows = np.array(rows, dtype=np.float64)
        s, F = self.stats, len(self.stats["loc"])
        if rows.ndim != 2 or rows.shape[1] != self.steps(window) * F + self.n_extra(F):
            raise DataError(f"WindowCoder.decode expects rows (N, {self.steps(window) * F + self.n_extra(F)}) for windows "
                            f"of {window} steps; got shape {rows.shape}.")  # fmt: skip
        fixed = self.constant_features
        if fixed.any() and rows.shape[1] == len(s["row_lo"]):  # a constant feature comes back exactly, not with noise
            rows.reshape(len(rows), rows.shape[1] // F, F)[:, :, fixed] = s["row_lo"].reshape(-1, F)[:, fixed]
        shape = self.shape(rows, window)
        # the counts given, not -1: no rows (an empty test split) could not be reshaped and evaluate-synthetic ended in
        # a ValueError traceback (an audit, s15)
        extras = rows[:, shape.shape[1] * F :].reshape(len(rows), self.n_extra(F) // F, F)
        if self.handling == "none":
            X = shape * s["scale"] + s["loc"]
        elif self.handling == "difference":
            start = extras[:, 0] * s["scale"] + s["loc"]  # (N, F)
            steps = shape * s["diff_scale"] + s["diff_loc"]
            X = np.concatenate([start[:, None], start[:, None] + np.cumsum(steps, axis=1)], axis=1)
        else:
            level = extras[:, 0] * s["level_scale"] + s["level_loc"]
            sd = np.maximum(np.exp(extras[:, 1] * s["logsd_scale"] + s["logsd_loc"]), s["floor"])
            X = shape * sd[:, None] + level[:, None]
        return X.astype(np.float32)

    # ---------------------------------------------------------- the forecaster's parts
    def encode_past(self, past: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """A past (..., n_past, F) in data units → the condition (..., past_steps, F) float32 and
        what :meth:`decode_future` needs to put a future back in data units."""
        past = self._check(past, "encode_past")
        s = self.stats
        if self.handling == "none":
            return ((past - s["loc"]) / s["scale"]).astype(np.float32), {}
        if self.handling == "difference":
            cond = (np.diff(past, axis=-2) - s["diff_loc"]) / s["diff_scale"]
            return cond.astype(np.float32), {"last": past[..., -1, :]}
        level, log_sd = self._level_scale(past, s["floor"])
        sd = np.exp(log_sd)
        return ((past - level[..., None, :]) / sd[..., None, :]).astype(np.float32), {"level": level, "sd": sd}

    def decode_future(self, future: np.ndarray, context: dict[str, np.ndarray]) -> np.ndarray:
        """Futures (..., draws, n_future, F) in model units → data units, continuing the past of
        ``context`` (one per leading index, broadcast over draws)."""
        future = np.array(future, dtype=np.float64)
        s = self.stats
        fixed = self.constant_features
        if fixed.any():  # a constant feature continues as the training windows' shapes held it
            F = len(s["loc"])
            shape_lo = s["row_lo"][: len(s["row_lo"]) - self.n_extra(F)].reshape(-1, F)
            future[..., fixed] = shape_lo[-future.shape[-2]:, fixed]
        if self.handling == "none":
            out = future * s["scale"] + s["loc"]
        elif self.handling == "difference":
            last = context["last"][..., None, None, :]
            out = last + np.cumsum(future * s["diff_scale"] + s["diff_loc"], axis=-2)
        else:
            out = future * context["sd"][..., None, None, :] + context["level"][..., None, None, :]
        return out.astype(np.float32)

    # ---------------------------------------------------------- state
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if not self.is_fitted:
            raise NotFittedError("WindowCoder.state needs a fitted coder; call fit first.")
        meta = {"kind": _CODER_KIND, "version": _CODER_VERSION, "handling": self.handling, "n_past": self.n_past}
        return meta, {f"coder_{k}": v.copy() for k, v in self.stats.items()}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "WindowCoder":
        """Rebuild a coder from :meth:`state`; a damaged state is a RunError."""
        try:
            if meta.get("kind") != _CODER_KIND or meta.get("version") != _CODER_VERSION:
                raise ValueError(f"kind/version {meta.get('kind')!r}/{meta.get('version')!r}, expected "
                                 f"{_CODER_KIND!r}/{_CODER_VERSION}")  # fmt: skip
            n_past = meta["n_past"]
            if isinstance(n_past, bool) or not isinstance(n_past, int) or n_past < 1:
                raise ValueError(f"n_past must be a positive integer, got {n_past!r}")
            coder = cls(meta["handling"], n_past)
            need = {"none": (), "difference": ("diff_loc", "diff_scale"),
                    "window": ("floor", "level_loc", "level_scale", "logsd_loc", "logsd_scale")}[coder.handling]  # fmt: skip
            stats = {k: np.asarray(arrays[f"coder_{k}"], dtype=np.float64) for k in ("loc", "scale", *need)}
            ranges = {k: np.asarray(arrays[f"coder_{k}"], dtype=np.float64) for k in ROW_RANGE if f"coder_{k}" in arrays}
            if ranges and (len(ranges) < len(ROW_RANGE) or any(v.ndim != 1 or v.shape != ranges["row_lo"].shape
                                                                 or not np.isfinite(v).all() for v in ranges.values())
                           or not (ranges["row_sd"] > 0).all()):  # fmt: skip
                raise ValueError("the training rows' range (row_lo, row_hi, row_sd) must be three finite vectors of "
                                 "one length, the SD positive")  # fmt: skip
            F = stats["loc"].shape
            if len(F) != 1 or F[0] < 1:
                raise ValueError(f"loc must hold one value per feature, got shape {F}")
            for k, v in stats.items():
                if v.shape != F or not np.isfinite(v).all():
                    raise ValueError(f"{k} must be finite with shape {F}, got {v.shape}")
                if (k.endswith("scale") or k == "floor") and not (v > 0).all():
                    raise ValueError(f"{k} must be positive")
        except (AttributeError, KeyError, TypeError, ValueError, ConfigError) as e:
            raise RunError(f"The stored window coder is damaged ({type(e).__name__}: {e}); train the run again.") from None
        coder.stats = {**stats, **ranges}  # runs stored before the range was kept have none
        return coder


def choose_handling(X: np.ndarray, series: np.ndarray, start: np.ndarray, n_past: int) -> tuple[str, dict[str, float]]:
    """The handling whose shapes drift least from the early training windows to the late ones.

    Each series' training windows (X (N, T, F) in data units, with their ``series`` and
    ``start``) are cut in time into an early two thirds and a late third; each candidate
    coder is fitted on the early windows, and the late windows' shapes are compared with the
    early ones per feature: |Δ mean| / SD + |log of the SD ratio|, the largest over features.
    Returns the handling with the smallest drift and every candidate's drift.
    """
    late = np.zeros(len(X), dtype=bool)
    for k in np.unique(series):
        idx = np.flatnonzero(series == k)
        idx = idx[np.argsort(start[idx], kind="stable")]
        late[idx[(2 * len(idx)) // 3 :]] = True
    drift: dict[str, float] = {}
    candidates = ("window", "difference") if n_past >= 2 else ("window",)
    if late.all() or not late.any():
        return candidates[0], drift
    T = X.shape[1]
    for handling in candidates:
        coder = WindowCoder(handling, n_past).fit(X[~late])
        early_shape = coder.shape(coder.encode(X[~late]), T).reshape(-1, X.shape[-1]).astype(np.float64)
        late_shape = coder.shape(coder.encode(X[late]), T).reshape(-1, X.shape[-1]).astype(np.float64)
        sd_e, sd_l = _sd(early_shape, 0), _sd(late_shape, 0)
        per = np.abs(late_shape.mean(0) - early_shape.mean(0)) / sd_e + np.abs(np.log(sd_l / sd_e))
        drift[handling] = float(per.max())
    return min(drift, key=lambda h: (drift[h], candidates.index(h))), drift
