"""Sample-quality metrics with their uncertainty, and which sampler to use with how sure it is.

Every metric of :func:`vaelab.analysis.quality.quality_report` is a function of two finite
samples (held-out data and generated data); another draw of either moves it. The interval
here comes from half-sampling (the delete-half jackknife, Shao & Wu 1989): the metric is
recomputed on random halves of both sets, drawn without replacement (so no sample is
duplicated, which would shrink k-nearest-neighbour radii as a with-replacement bootstrap
does). For a statistic whose variance falls as 1/n, the spread of the half-sample values
estimates the full-sample standard error directly (delete-d jackknife with d = n/2: the
factor (n - d)/d is 1). The interval is the estimate ± z·SE.

The metric functions are called as they are, on the resampled feature sets; nothing here
knows how they are computed.
"""
from __future__ import annotations

import hashlib
import math
import threading
from typing import Any

import numpy as np
from scipy.special import ndtri
from threadpoolctl import threadpool_limits

from vaelab.analysis.quality import quality_report, real_summary
from vaelab.errors import ConfigError

CACHE_LOCK = "lock"  # the cache's entry that serializes its computations (setdefault is atomic)
REPLICATES = 10  # half-samples per interval: SE within ~25% at a tenth of the cost of 100
LEVEL = 0.95
METHOD = "half-sampling (delete-half jackknife) over the held-out and the generated samples"
# Where each metric lives: intervals are clipped to it.
RANGES = {"frechet": (0.0, math.inf), "precision": (0.0, 1.0), "recall": (0.0, 1.0), "density": (0.0, math.inf),
          "coverage": (0.0, 1.0)}  # fmt: skip
LOWER_IS_BETTER = {"frechet": True, "precision": False, "recall": False, "density": False, "coverage": False}


def quality_with_intervals(real: np.ndarray, fake: np.ndarray, *, replicates: int = REPLICATES, level: float = LEVEL,
                           seed: int = 0, k_pr: int = 3, k_dc: int = 5,
                           cache: dict | None = None) -> dict[str, Any]:  # fmt: skip
    """:func:`quality_report` of ``real`` (N, F) against ``fake`` (M, F), plus for every metric its
    standard error (``stderr``) and ``level`` interval (``intervals``: [low, high]) by half-sampling
    with ``replicates`` random halves of both sets (seeded). Too few samples for a half to hold a
    k-NN ball give no interval (None), never a made-up one.

    ``cache``: a dict kept across calls with the same ``real`` (several samplers against one test
    set): what the metrics compute from the real samples alone (k-NN radii, mean, covariance), of
    the whole set and of each half, is computed once and read back (keyed by the half's content,
    so a different real set never reads it)."""
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) or replicates < 2:
        raise ConfigError(f"replicates must be an integer >= 2 (half-samples per interval); got {replicates!r}.")
    if not 0 < level < 1:
        raise ConfigError(f"level must be between 0 and 1 (e.g. 0.95); got {level!r}.")
    # NumPy's and SciPy's BLAS on one thread: the covariances and eigendecompositions here are small
    # (features x features) and one thread does them fastest, while OpenBLAS threads spinning
    # beside torch's slow both (4 samplers against 5,000 test features, 2 cores: 13.7 s with one
    # BLAS thread, 20.8 s with two; a 128-feature eigh 27 ms per call with two). torch's products
    # keep every core.
    with threadpool_limits(limits=1, user_api="blas"):
        return _with_intervals(real, fake, replicates, level, seed, k_pr, k_dc, cache)


def _with_intervals(real: np.ndarray, fake: np.ndarray, replicates: int, level: float, seed: int, k_pr: int,
                    k_dc: int, cache: dict | None) -> dict[str, Any]:  # fmt: skip
    summary = (lambda x: None) if cache is None else (lambda x: _cached_summary(cache, x, k_pr, k_dc))
    point = quality_report(real, fake, k_pr=k_pr, k_dc=k_dc, real_summary=summary(real))
    n, m = len(real), len(fake)
    half_n, half_m = n // 2, m // 2
    if min(half_n, half_m) <= max(k_pr, k_dc) + 1:
        return {**point, "stderr": {k: None for k in point}, "intervals": {k: None for k in point}}
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(int(replicates)):
        i, j = rng.choice(n, half_n, replace=False), rng.choice(m, half_m, replace=False)
        half = real[np.sort(i)]
        reps.append(quality_report(half, fake[np.sort(j)], k_pr=k_pr, k_dc=k_dc, real_summary=summary(half)))
    z = float(ndtri(0.5 + level / 2))
    stderr, intervals = {}, {}
    for key, value in point.items():
        se = float(np.std([r[key] for r in reps], ddof=1))
        low, high = RANGES[key]
        interval = [max(low, value - z * se), min(high, value + z * se)]
        if key in SHARE_OF:  # a share of points: never surer than a proportion of that many would be
            count = n if SHARE_OF[key] == "real" else m
            floor_low, floor_high = wilson_interval(value, count, z)
            interval = [min(interval[0], floor_low), max(interval[1], floor_high)]
            se = max(se, binomial_floor(value, count))
        stderr[key] = se
        intervals[key] = interval
    return {**point, "stderr": stderr, "intervals": intervals}


# Metrics that are shares of the real or the generated points (Kynkäänniemi et al. 2019; Naeem et al. 2020): every
# half-sample of a small set can give the same share (all 10 real points covered), and their spread, 0, made the
# interval "0.975 [0.975, 0.975]" (an audit). A binomial proportion of that many points is a floor on its spread.
SHARE_OF = {"precision": "fake", "recall": "real", "coverage": "real"}


def wilson_interval(share: float, count: int, z: float) -> tuple[float, float]:
    """Wilson's (1927) score interval of a proportion ``share`` of ``count`` trials: it stays open at 0 and 1."""
    p, k = float(share), max(int(count), 1)
    centre = (p + z * z / (2 * k)) / (1 + z * z / k)
    half = z * math.sqrt(p * (1 - p) / k + z * z / (4 * k * k)) / (1 + z * z / k)
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_floor(share: float, count: int) -> float:
    """The SE of a proportion of ``count`` trials at Agresti & Coull's (1998) adjusted share, (x + 2) / (n + 4):
    above 0 at shares of 0 and 1, where p(1 - p) / n is 0."""
    k = max(int(count), 1)
    adjusted = (float(share) * k + 2) / (k + 4)
    return math.sqrt(adjusted * (1 - adjusted) / (k + 4))


def _cached_summary(cache: dict, real: np.ndarray, k_pr: int, k_dc: int) -> dict[str, Any] | None:
    """:func:`vaelab.analysis.quality.real_summary` of the real set, from ``cache`` or computed into
    it; None (left to quality_report, which also checks the input) for sets it would refuse."""
    arr = np.asarray(real)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating) or arr.shape[0] <= max(k_pr, k_dc):
        return None
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    key = (hashlib.blake2b(arr.tobytes(), digest_size=16).hexdigest(), arr.shape, k_pr, k_dc)
    # One computation per entry when samplers are compared on several threads: the others wait for it.
    with cache.setdefault(CACHE_LOCK, threading.Lock()):
        if key not in cache:
            if not np.isfinite(arr).all():
                return None
            cache[key] = real_summary(arr, k_pr, k_dc)
    return cache[key]


def interval_settings(replicates: int = REPLICATES, level: float = LEVEL) -> dict[str, Any]:
    """How the intervals were made, for the metrics block."""
    return {"method": METHOD, "replicates": int(replicates), "level": float(level)}


def overlaps(a: list[float] | None, b: list[float] | None) -> bool:
    """Whether two intervals share a point; a missing interval overlaps everything (no evidence)."""
    return a is None or b is None or (a[0] <= b[1] and b[0] <= a[1])


def best_of(block: dict[str, dict], names: list[str], metric: str = "frechet") -> tuple[str, list[str]]:
    """The best of ``names`` on ``metric`` and those whose intervals overlap the best's: the names that
    the data cannot tell from it (an empty list: a clear winner)."""
    sign = 1.0 if LOWER_IS_BETTER[metric] else -1.0
    best = min(names, key=lambda k: sign * block[k][metric])
    lead = block[best].get("intervals", {}) or {}
    tied = [k for k in names if k != best
            and overlaps(lead.get(metric), (block[k].get("intervals", {}) or {}).get(metric))]  # fmt: skip
    return best, tied


def fmt_interval(entry: dict[str, Any], metric: str, digits: int = 2) -> str:
    """'5.49 [4.10, 6.88]' (the estimate and its interval), or the estimate alone when there is none."""
    value = entry[metric]
    interval = (entry.get("intervals") or {}).get(metric)
    if interval is None:
        return f"{value:.{digits}f} (no interval)"
    return f"{value:.{digits}f} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"
