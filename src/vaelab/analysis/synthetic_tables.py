"""Fidelity, utility and privacy of synthetic tables.

Tables (pandas DataFrames, one row per record), scored the way the SDMetrics library
(DataCebo) and the TVAE/CTGAN paper (Xu et al. 2019) do it:

- Column shapes: KS complement (1 - two-sample Kolmogorov-Smirnov statistic) for numeric and
  datetime columns, TV complement (1 - total variation distance of category frequencies) for
  categorical and boolean ones (SDMetrics ``KSComplement`` / ``TVComplement``).
- Column pair trends: correlation similarity 1 - |rho_real - rho_synth| / 2 for numeric and
  datetime pairs, contingency similarity (1 - TV distance of the normalized 2-D contingency
  tables) for every other pair, a numeric column discretized into quantile bins fitted on the
  real column (SDMetrics ``CorrelationSimilarity`` / ``ContingencySimilarity``; SDMetrics cuts
  10 equal-width bins instead, stricter where values are few and uneven: BENCHMARKS.md
  compares the two, and SDMetrics' QualityReport also leaves out some weakly associated pairs).
- Fidelity: the mean of the two averages above (SDMetrics' Quality Report score), with bootstrap
  standard errors of it and of both averages that resample the real and the synthetic rows,
  each table on its own (Efron & Tibshirani 1993, the two-sample bootstrap).
- Machine-learning efficacy: train on synthetic, test on real (TSTR) against train on real,
  test on real, with the same gradient-boosting model (Xu et al. 2019; Esteban et al. 2017).
- Privacy: distance to closest record (DCR) of synthetic rows to the training rows, judged
  against the DCR of real held-out rows that the generator never saw.

Column kinds are the strings ``"numeric"``, ``"categorical"``, ``"boolean"`` and
``"datetime"``; functions taking ``kinds`` infer the kinds of the columns it does not name
(:func:`infer_kind`). Missing values (NaN, None, NaT, pd.NA) never make a metric fail:
single-column metrics compare the non-missing values and report the missing-share similarity
1 - |share_real - share_synth| beside; pair metrics drop rows with a missing value in either
column. Everything here is a pure function: no files, no printing, results hold plain Python
values (floats, ints, strings, lists, dicts) ready for JSON.

Synthetic time-series windows are scored in :mod:`vaelab.analysis.synthetic_series`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats
from threadpoolctl import threadpool_limits

from vaelab.analysis.comparison import wilson_interval
from vaelab.data.table_transformer import mean_sd, scale_of
from vaelab.errors import ConfigError, DataError
from vaelab.runtime import Z95

KINDS = ("numeric", "categorical", "boolean", "datetime")
CONTINUOUS = ("numeric", "datetime")  # kinds compared with KS and correlations
CORRELATION_METHODS = ("pearson", "spearman")
TASKS = ("auto", "classification", "regression")
AUTO_MAX_CLASSES = 10  # task="auto": an integer-valued numeric target with at most this many values is a label
MAX_ONEHOT = 100  # ml_efficacy: one-hot columns per categorical feature (its most frequent real-train categories)
EXACT_DISTANCE = 1e-8  # DCR below this is an exact copy
HOLDOUT_PERCENTILE = 5.0  # "close" means a DCR below the holdout's DCR of this percentile (an order statistic's rank)
DENSE_WIDTH = 512  # DCR: encoded tables up to this many columns are searched dense, wider ones sparse
NS_PER_SECOND = 1_000_000_000


# ---------------------------------------------------------------- kinds and input checks
def infer_kind(values: Any) -> str:
    """Column kind from a pandas dtype: bool -> boolean, datetime64 -> datetime, numeric -> numeric.

    Everything else (pandas Categorical, object, string, timedelta...) is categorical; a
    Categorical is categorical even when its categories are numbers or booleans.
    """
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        dtype = np.asarray(values).dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "numeric"
    return "categorical"


def infer_kinds(df: pd.DataFrame) -> dict[str, str]:
    """{column: kind} for every column of ``df``, by :func:`infer_kind`."""
    _frame("df", df)
    return {c: infer_kind(df[c]) for c in df.columns}


def _frame(name: str, df: Any) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{name} must be a pandas DataFrame (one row per record); got {type(df).__name__}.")
    if df.shape[0] == 0:
        raise DataError(f"{name} holds no rows; pass at least one record.")
    if df.columns.has_duplicates:
        dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise DataError(f"{name} has duplicate column names {dup}; give every column a unique name.")
    return df


def _same_columns(ref_name: str, ref: pd.DataFrame, name: str, df: pd.DataFrame) -> None:
    missing = [c for c in ref.columns if c not in df.columns]
    extra = [c for c in df.columns if c not in ref.columns]
    if missing or extra:
        parts = [f"lacks {missing}" if missing else "", f"has extra {extra}" if extra else ""]
        raise DataError(
            f"{name} must have the same columns as {ref_name}; it {' and '.join(p for p in parts if p)}. "
            f"Select the same columns in both (e.g. {name}[{ref_name}.columns])."
        )


def _resolve_kinds(df: pd.DataFrame, kinds: dict[str, str] | None) -> dict[Any, str]:
    """Kind of every column of df: those named in ``kinds``, the rest inferred from df's dtypes."""
    if kinds is None:
        kinds = {}
    if not isinstance(kinds, dict):
        raise ConfigError(f"kinds must be a dict {{column: kind}} or None; got {type(kinds).__name__}.")
    unknown_cols = [c for c in kinds if c not in df.columns]
    if unknown_cols:
        raise ConfigError(
            f"kinds names columns the data lacks: {unknown_cols}; the columns are {list(df.columns)}. "
            "Name only existing columns (or drop the entry)."
        )
    bad = {c: k for c, k in kinds.items() if k not in KINDS}
    if bad:
        raise ConfigError(f"kinds holds unknown kinds {bad}; each kind must be one of {list(KINDS)}.")
    return {c: kinds.get(c, infer_kind(df[c])) for c in df.columns}


def check_int(name: str, value: Any, minimum: int, what: str = "") -> int:
    """``value`` as an int when it is an integer (not a bool) >= ``minimum``; else a ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}{what}; got {value!r}.")
    return int(value)


def _series(values: Any, name: str) -> pd.Series:
    """values (Series, Index, 1-D array or list) as a Series with a fresh 0..N-1 index."""
    if isinstance(values, pd.DataFrame):
        raise DataError(f"{name} must be one column (a Series or 1-D array); got a DataFrame. Pass df[column].")
    if isinstance(values, (pd.Series, pd.Index)):
        return pd.Series(values.array, name=values.name)
    arr = np.asarray(values, dtype=object) if isinstance(values, (list, tuple)) else np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one column (1-D); got shape {arr.shape}.")
    if isinstance(values, (list, tuple)):
        return pd.Series(list(values)).infer_objects()
    return pd.Series(arr)


# ---------------------------------------------------------------- column encodings
def _to_float(s: pd.Series, name: str) -> np.ndarray:
    """A numeric column as float64, NaN where missing."""
    dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        ns, missing = _to_ns(s, name)
        out = ns.astype(np.float64)
        out[missing] = np.nan
        return out
    if pd.api.types.is_timedelta64_dtype(dtype):
        out = s.to_numpy(dtype="timedelta64[ns]").view(np.int64).astype(np.float64)
        out[s.isna().to_numpy()] = np.nan
        return out
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return s.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    if isinstance(dtype, pd.CategoricalDtype) or dtype == object or not pd.api.types.is_numeric_dtype(dtype):
        s = s.astype(object)
    try:
        num = pd.to_numeric(s, errors="raise")
        return num.to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError) as exc:
        bad = _first_bad(s, lambda v: float(v))
        raise DataError(
            f"column {name!r} is treated as numeric but holds {bad!r}, which is not a number. "
            f"Clean the column, or pass kinds={{{name!r}: 'categorical'}}."
        ) from exc


def _to_ns(s: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A datetime column as int64 nanoseconds since 1970 (UTC for tz-aware values; 0 where missing), missing mask."""
    try:
        if not pd.api.types.is_datetime64_any_dtype(s.dtype):
            with warnings.catch_warnings():  # "could not infer format": parsing each value alone is what we want
                warnings.simplefilter("ignore", UserWarning)
                s = pd.to_datetime(s.astype(object), errors="raise", utc=True)  # offsets read, in UTC
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        s = s.dt.as_unit("ns")
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(
            f"column {name!r} is treated as datetime but could not be read as dates ({exc}). "
            f"Convert it with pd.to_datetime first, or pass kinds={{{name!r}: 'categorical'}}."
        ) from exc
    missing = s.isna().to_numpy(dtype=bool)
    ns = s.to_numpy(dtype="datetime64[ns]").view(np.int64).copy()
    ns[missing] = 0
    return ns, missing


def _first_bad(s: pd.Series, convert: Any) -> Any:
    for v in s:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        try:
            convert(v)
        except (ValueError, TypeError):
            return v
    return None


@dataclass
class _Column:
    """One column ready for the metrics: its kind, missing mask and non-missing-friendly values.

    ``values`` is float64 (NaN at missing) for numeric, int64 nanoseconds (0 at missing) for
    datetime, and an object array of labels for categorical and boolean columns.
    """

    kind: str
    values: np.ndarray
    missing: np.ndarray

    @property
    def present(self) -> np.ndarray:
        return self.values[~self.missing]

    def floats(self) -> np.ndarray:
        """Continuous values as float64 with NaN at missing (datetimes in nanoseconds)."""
        out = self.values.astype(np.float64)
        out[self.missing] = np.nan
        return out

    @property
    def missing_share(self) -> float:
        return float(self.missing.mean()) if self.missing.size else math.nan


def _prepare(values: Any, kind: str, name: str) -> _Column:
    s = _series(values, name)
    if kind == "numeric":
        vals = _to_float(s, name)
        return _Column(kind, vals, np.isnan(vals))
    if kind == "datetime":
        ns, missing = _to_ns(s, name)
        return _Column(kind, ns, missing)
    missing = s.isna().to_numpy(dtype=bool)
    return _Column(kind, s.to_numpy(dtype=object), missing)


def _continuous_kind(*values: Any) -> str:
    """'datetime' when any of the columns has a datetime dtype, else 'numeric'."""
    return "datetime" if any(infer_kind(_series(v, "column")) == "datetime" for v in values) else "numeric"


# ---------------------------------------------------------------- single-column metrics
def _ks(real: _Column, synth: _Column) -> float:
    a, b = real.present, synth.present
    if a.size == 0 or b.size == 0:
        return math.nan
    # Only the statistic is used; "asymp" keeps scipy from computing an exact p-value (slow for big samples).
    with np.errstate(divide="ignore", invalid="ignore"):  # scipy's p-value of tiny samples divides by zero; unused
        return 1.0 - float(stats.ks_2samp(a, b, method="asymp").statistic)


def _tv(a: np.ndarray, b: np.ndarray) -> float:
    """1 - total variation distance between the label frequencies of a and b (non-missing labels)."""
    if a.size == 0 or b.size == 0:
        return math.nan
    codes, uniques = pd.factorize(np.concatenate([a, b]))
    k = len(uniques)
    p = np.bincount(codes[: a.size], minlength=k) / a.size
    q = np.bincount(codes[a.size :], minlength=k) / b.size
    return 1.0 - 0.5 * float(np.abs(p - q).sum())


def _missing_similarity(real: _Column, synth: _Column) -> float:
    return 1.0 - abs(real.missing_share - synth.missing_share)


def ks_complement(real: Any, synth: Any) -> float:
    """1 - the two-sample Kolmogorov-Smirnov statistic of two numeric or datetime columns.

    SDMetrics' ``KSComplement``: 1 when the empirical CDFs coincide, 0 when the two samples
    do not overlap at all. Missing values are left out (see :func:`column_shapes` for the
    missing-share similarity); datetimes are compared as int64 nanoseconds (tz-aware values in
    UTC). Returns NaN when either column has no non-missing value.

    Examples
    --------
    >>> ks_complement([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
    >>> ks_complement([1.0, 2.0], [10.0, 20.0])
    0.0
    """
    kind = _continuous_kind(real, synth)
    return _ks(_prepare(real, kind, "real"), _prepare(synth, kind, "synth"))


def tv_complement(real: Any, synth: Any) -> float:
    """1 - the total variation distance between the category frequencies of two columns.

    SDMetrics' ``TVComplement``: with p and q the shares of each category (over the union of
    categories, non-missing values only), TV = 1/2 sum |p - q|. 1 for identical frequencies,
    0 for disjoint categories; NaN when either column has no non-missing value.

    Examples
    --------
    >>> tv_complement(["a", "b"], ["a", "a"])  # 50/50 against 100/0
    0.5
    """
    return _tv(_prepare(real, "categorical", "real").present, _prepare(synth, "categorical", "synth").present)


# ---------------------------------------------------------------- pair metrics
def _correlation(x: np.ndarray, y: np.ndarray, method: str) -> float:
    """Pearson or Spearman correlation over the rows where both are finite; NaN when undefined."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2:
        return math.nan
    if method == "spearman":
        x, y = stats.rankdata(x), stats.rankdata(y)
    x, y = x - x.mean(), y - y.mean()
    # each scaled by a power of two (exact, and the correlation is scale-free): squares of values near 1e300
    # overflowed to inf and those near 1e-300 underflowed to 0, and the pair was left out as undefined (an audit, s15)
    x, y = x / (scale_of(x) or 1.0), y / (scale_of(y) or 1.0)
    den = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    if den == 0.0 or not math.isfinite(den):
        return math.nan  # a constant column: the correlation is undefined
    return float(np.clip((x * y).sum() / den, -1.0, 1.0))


def _check_method(method: Any) -> str:
    if method not in CORRELATION_METHODS:
        raise ConfigError(f"method must be one of {list(CORRELATION_METHODS)}; got {method!r}.")
    return method


def _check_lengths(name_a: str, a: _Column, name_b: str, b: _Column) -> None:
    if a.values.shape[0] != b.values.shape[0]:
        raise DataError(
            f"{name_a} and {name_b} are two columns of one table and must have the same length; "
            f"got {a.values.shape[0]} and {b.values.shape[0]} rows."
        )


def _correlation_pair(ra: _Column, rb: _Column, sa: _Column, sb: _Column, method: str) -> tuple[float, float, float]:
    rho_r = _correlation(ra.floats(), rb.floats(), method)
    rho_s = _correlation(sa.floats(), sb.floats(), method)
    return 1.0 - abs(rho_r - rho_s) / 2.0, rho_r, rho_s


def correlation_similarity(real_a: Any, real_b: Any, synth_a: Any, synth_b: Any, method: str = "pearson") -> float:
    """1 - |rho_real - rho_synth| / 2 for a pair of numeric (or datetime) columns.

    SDMetrics' ``CorrelationSimilarity``: rho is Pearson's (or Spearman's, ``method=
    "spearman"``) correlation of columns a and b, computed on the rows where both are
    present (and finite). 1 when the correlations agree, 0 when they are +1 and -1. Returns
    NaN when a correlation is undefined (fewer than two complete rows or a constant column).

    Examples
    --------
    >>> x = np.arange(10.0)
    >>> correlation_similarity(x, x, x, -x)
    0.0
    """
    method = _check_method(method)
    cols = []
    for name, v in (("real_a", real_a), ("real_b", real_b), ("synth_a", synth_a), ("synth_b", synth_b)):
        cols.append(_prepare(v, _continuous_kind(v), name))
    ra, rb, sa, sb = cols
    _check_lengths("real_a", ra, "real_b", rb)
    _check_lengths("synth_a", sa, "synth_b", sb)
    return _correlation_pair(ra, rb, sa, sb, method)[0]


def _bin_edges(real: _Column, bins: int) -> np.ndarray | None:
    """Inner edges of ``bins`` quantile bins of the real column's non-missing values (None if it has none); a column of
    at most ``bins`` distinct values gets one bin per value, cut halfway between neighbours."""
    present = real.present.astype(np.float64)
    present = present[np.isfinite(present)]
    if present.size == 0:
        return None
    values = np.unique(present)
    if values.size <= bins:
        # A bin per value, cut halfway between them: tied quantiles merge an atom with the values above it, so a 0/1
        # column (or one of -0.0 and 1.5, half each) was one bin, "constant", its pairs left out (an audit, s13)
        return (values[:-1] + values[1:]) / 2
    edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, bins + 1)))
    return edges[1:-1]  # values below the first inner edge fall in bin 0, above the last in the top bin


def _discrete(col: _Column, edges: np.ndarray | None) -> np.ndarray | None:
    """Labels for a contingency table: the bin index of a continuous column, the label itself otherwise."""
    if col.kind not in CONTINUOUS:
        return col.values
    if edges is None:
        return None
    return np.searchsorted(edges, col.values.astype(np.float64), side="right").astype(object)


def _contingency(ra: np.ndarray | None, rb: np.ndarray | None, sa: np.ndarray | None, sb: np.ndarray | None,
                 keep_real: np.ndarray, keep_synth: np.ndarray) -> float:
    """1 - TV distance between the normalized contingency tables of (a, b), real against synthetic."""
    if ra is None or rb is None or sa is None or sb is None or not keep_real.any() or not keep_synth.any():
        return math.nan
    n_r = int(keep_real.sum())
    codes_a, ua = pd.factorize(np.concatenate([ra[keep_real], sa[keep_synth]]))
    codes_b, ub = pd.factorize(np.concatenate([rb[keep_real], sb[keep_synth]]))
    cells = codes_a.astype(np.int64) * len(ub) + codes_b
    k = len(ua) * len(ub)
    p = np.bincount(cells[:n_r], minlength=k) / n_r
    q = np.bincount(cells[n_r:], minlength=k) / (cells.size - n_r)
    return 1.0 - 0.5 * float(np.abs(p - q).sum())


def _contingency_pair(ra: _Column, rb: _Column, sa: _Column, sb: _Column, bins: int) -> float:
    edges_a = _bin_edges(ra, bins) if ra.kind in CONTINUOUS else None
    edges_b = _bin_edges(rb, bins) if rb.kind in CONTINUOUS else None
    return _contingency(
        _discrete(ra, edges_a), _discrete(rb, edges_b), _discrete(sa, edges_a), _discrete(sb, edges_b),
        ~(ra.missing | rb.missing), ~(sa.missing | sb.missing),
    )


def contingency_similarity(
    real_a: Any, real_b: Any, synth_a: Any, synth_b: Any, bins: int = 10, *, kinds: tuple[str, str] | None = None
) -> float:
    """1 - the total variation distance between the normalized 2-D contingency tables of a pair of columns.

    SDMetrics' ``ContingencySimilarity``: count every (a, b) combination in the real and in the
    synthetic table (rows with a missing value in either column left out), divide by the row
    count, and take 1 - 1/2 sum |p - q| over the union of cells. A numeric or datetime column is
    first cut into ``bins`` quantile bins fitted on the REAL column (tied quantiles merge bins; a column of at most
    ``bins`` real values gets a bin per value, cut halfway between them; synthetic values outside the real range fall
    into the outer bins). ``kinds`` = (kind of a,
    kind of b) overrides the kinds inferred from the dtypes (:func:`infer_kind`). Returns NaN
    when a table is empty.

    Examples
    --------
    >>> contingency_similarity(["x", "y"], ["u", "v"], ["x", "y"], ["v", "u"])
    0.0
    """
    bins = check_int("bins", bins, 1, " (quantile bins per numeric column)")
    if kinds is None:
        kinds = (infer_kind(_series(real_a, "real_a")), infer_kind(_series(real_b, "real_b")))
    if not isinstance(kinds, (tuple, list)) or len(kinds) != 2 or any(k not in KINDS for k in kinds):
        raise ConfigError(f"kinds must be a pair (kind of a, kind of b), each one of {list(KINDS)}; got {kinds!r}.")
    ra, sa = _prepare(real_a, kinds[0], "real_a"), _prepare(synth_a, kinds[0], "synth_a")
    rb, sb = _prepare(real_b, kinds[1], "real_b"), _prepare(synth_b, kinds[1], "synth_b")
    _check_lengths("real_a", ra, "real_b", rb)
    _check_lengths("synth_a", sa, "synth_b", sb)
    return _contingency_pair(ra, rb, sa, sb, int(bins))


# ---------------------------------------------------------------- table reports
def _prepared_tables(real_df: Any, synth_df: Any, kinds: dict[str, str] | None) -> tuple[list[Any], dict, dict, dict]:
    real_df, synth_df = _frame("real_df", real_df), _frame("synth_df", synth_df)
    _same_columns("real_df", real_df, "synth_df", synth_df)
    resolved = _resolve_kinds(real_df, kinds)
    cols = list(real_df.columns)
    real = {c: _prepare(real_df[c], resolved[c], str(c)) for c in cols}
    synth = {c: _prepare(synth_df[c], resolved[c], str(c)) for c in cols}
    return cols, resolved, real, synth


def _shape_rows(cols: list[Any], kinds: dict, real: dict, synth: dict) -> list[dict[str, Any]]:
    rows = []
    for c in cols:
        r, s = real[c], synth[c]
        continuous = kinds[c] in CONTINUOUS
        score = _ks(r, s) if continuous else _tv(r.present, s.present)
        rows.append({
            "column": c, "kind": kinds[c], "metric": "KSComplement" if continuous else "TVComplement",
            "score": float(score), "missing_similarity": float(_missing_similarity(r, s)),
            "missing_real": r.missing_share, "missing_synthetic": s.missing_share,
        })  # fmt: skip
    return rows


def column_shapes(real_df: pd.DataFrame, synth_df: pd.DataFrame, kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """How well each column's marginal distribution is reproduced: one row per column.

    Columns: ``column``, ``kind``, ``metric`` ("KSComplement" for numeric and datetime
    columns, "TVComplement" for categorical and boolean ones; see :func:`ks_complement`,
    :func:`tv_complement`), ``score`` in [0, 1] (1 = same distribution; NaN when a side has
    no non-missing value), ``missing_similarity`` = 1 - |share_real - share_synth| of missing
    values, and the two missing shares ``missing_real`` / ``missing_synthetic``.

    Both tables must have the same columns; ``kinds`` names the kind of some or all columns
    (the rest are inferred from real_df's dtypes).
    """
    cols, resolved, real, synth = _prepared_tables(real_df, synth_df, kinds)
    return pd.DataFrame(_shape_rows(cols, resolved, real, synth),
                        columns=["column", "kind", "metric", "score", "missing_similarity", "missing_real",
                                 "missing_synthetic"])


def _pairs(n_cols: int, max_pairs: int | None, seed: int) -> list[tuple[int, int]]:
    pairs = [(i, j) for i in range(n_cols) for j in range(i + 1, n_cols)]
    if max_pairs is not None and len(pairs) > max_pairs:
        keep = np.sort(np.random.default_rng(seed).choice(len(pairs), size=max_pairs, replace=False))
        pairs = [pairs[k] for k in keep]
    return pairs


def _one_label(labels: np.ndarray | None, missing: np.ndarray) -> bool:
    """Whether a column's real labels (a numeric column's contingency bins) take at most one value: a pair with it
    has no trend to reproduce, and its contingency score would be the other column's shape score again."""
    return labels is not None and pd.unique(labels[~missing]).size <= 1


def constant_columns(real_df: pd.DataFrame, kinds: dict[str, str] | None = None, *, bins: int = 10) -> list[Any]:
    """The columns whose real values fall in one category (a numeric column: in one of its ``bins`` quantile bins),
    missing values aside: their contingency pairs are left out of :func:`column_pair_trends`' mean (NaN), as a
    constant column's correlation is, and as SDMetrics' QualityReport leaves them out (their association with any
    column is undefined): each such pair's score would count the other column's shape score a second time. That holds
    whatever the synthetic column does, as in SDMetrics (its ``ContingencySimilarity``, given the QualityReport's
    ``real_association_threshold``, is NaN where the real contingency table has fewer than two rows or columns, before
    the synthetic rows are looked at); a synthetic column that varies where the real one does not is penalised by its
    column shape alone."""
    bins = check_int("bins", bins, 1, " (quantile bins per numeric column)")
    real_df = _frame("real_df", real_df)
    resolved = _resolve_kinds(real_df, kinds)
    real = {c: _prepare(real_df[c], resolved[c], str(c)) for c in real_df.columns}
    return _constant(list(real_df.columns), resolved, real, bins)


def _constant(cols: list[Any], kinds: dict, real: dict, bins: int) -> list[Any]:
    edges = {c: _bin_edges(real[c], bins) for c in cols if kinds[c] in CONTINUOUS}
    return [c for c in cols if _one_label(_discrete(real[c], edges.get(c)), real[c].missing)]


def _pair_rows(cols: list[Any], kinds: dict, real: dict, synth: dict, max_pairs: int | None, seed: int,
               bins: int) -> list[dict[str, Any]]:
    # Bin edges depend on the real column only: fit them once per column, not once per pair.
    edges = {c: _bin_edges(real[c], bins) for c in cols if kinds[c] in CONTINUOUS}
    labels_real = {c: _discrete(real[c], edges.get(c)) for c in cols}
    labels_synth = {c: _discrete(synth[c], edges.get(c)) for c in cols}
    # a column of one real value (or bin) has no trend with any other: its pairs are left out (constant_columns)
    constant = {c for c in cols if _one_label(labels_real[c], real[c].missing)}
    rows = []
    for i, j in _pairs(len(cols), max_pairs, seed):
        a, b = cols[i], cols[j]
        if kinds[a] in CONTINUOUS and kinds[b] in CONTINUOUS:
            score, rho_r, rho_s = _correlation_pair(real[a], real[b], synth[a], synth[b], "pearson")
            metric, rv, sv = "CorrelationSimilarity", float(rho_r), float(rho_s)
        else:
            score = math.nan if a in constant or b in constant else _contingency(
                labels_real[a], labels_real[b], labels_synth[a], labels_synth[b],
                ~(real[a].missing | real[b].missing), ~(synth[a].missing | synth[b].missing))  # fmt: skip
            metric, rv, sv = "ContingencySimilarity", None, None
        rows.append({"column_a": a, "column_b": b, "kind_a": kinds[a], "kind_b": kinds[b], "metric": metric,
                     "score": float(score), "real_value": rv, "synthetic_value": sv})
    return rows


PAIR_COLUMNS = ["column_a", "column_b", "kind_a", "kind_b", "metric", "score", "real_value", "synthetic_value"]


def column_pair_trends(
    real_df: pd.DataFrame,
    synth_df: pd.DataFrame,
    kinds: dict[str, str] | None = None,
    max_pairs: int | None = None,
    seed: int = 0,
    *,
    bins: int = 10,
) -> pd.DataFrame:
    """How well the relation of every pair of columns is reproduced: one row per pair.

    Columns: ``column_a``, ``column_b`` (in real_df's column order), ``kind_a``, ``kind_b``,
    ``metric`` ("CorrelationSimilarity", Pearson, when both columns are numeric or datetime;
    "ContingencySimilarity" otherwise, numeric columns cut into ``bins`` quantile bins of the
    real column; see :func:`correlation_similarity`, :func:`contingency_similarity`),
    ``score`` in [0, 1] (NaN when undefined: a constant column's correlation, and any pair with a column whose real
    values fall in one category or bin, left out as SDMetrics' QualityReport leaves them: :func:`constant_columns`),
    ``real_value`` and ``synthetic_value`` (the two correlations; NaN for contingency pairs).

    ``max_pairs`` keeps a seeded random subset of the pairs when there are more (wide tables:
    the pair count grows as columns²/2).
    """
    if max_pairs is not None:
        max_pairs = check_int("max_pairs", max_pairs, 1, " or None (all pairs)")
    bins = check_int("bins", bins, 1, " (quantile bins per numeric column)")
    cols, resolved, real, synth = _prepared_tables(real_df, synth_df, kinds)
    rows = _pair_rows(cols, resolved, real, synth, max_pairs, int(seed), bins)
    return pd.DataFrame(rows, columns=PAIR_COLUMNS).astype({"real_value": "float64", "synthetic_value": "float64"})


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


# ---------------------------------------------------------------- fidelity's standard errors
FIDELITY_BOOTSTRAP = 100  # resamples behind the standard errors of fidelity, column shapes and column pair trends
PAIR_CELLS = 65_536  # fidelity's bootstrap: two categorical columns with more possible label pairs have theirs coded


def _joint_codes(real: _Column, synth: _Column) -> tuple[np.ndarray, np.ndarray, int]:
    """A column's labels in both tables as integer codes 1..k in one numbering, 0 where missing, and k."""
    codes, uniques = pd.factorize(np.concatenate([real.values, synth.values]))
    codes = np.where(np.concatenate([real.missing, synth.missing]), 0, codes + 1)
    return codes[: real.values.shape[0]], codes[real.values.shape[0] :], max(len(uniques), 1)


def batch_counts(codes: np.ndarray, k: int) -> np.ndarray:
    """(B, k): how often each code 1..k occurs in each row of ``codes`` (B, n); 0 (missing) is not counted."""
    flat = codes + (k + 1) * np.arange(codes.shape[0])[:, None]
    return np.bincount(flat.ravel(), minlength=codes.shape[0] * (k + 1)).reshape(codes.shape[0], k + 1)[:, 1:]


def _batch_pair_counts(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> np.ndarray:
    """(B, ka * kb): the contingency table of the codes of a (1..ka) and b (1..kb) in each row, rows where either is
    0 (missing) left out."""
    rows, cells = a.shape[0], (ka + 1) * (kb + 1)
    flat = a * (kb + 1) + b + cells * np.arange(rows)[:, None]
    counts = np.bincount(flat.ravel(), minlength=rows * cells).reshape(rows, ka + 1, kb + 1)
    return counts[:, 1:, 1:].reshape(rows, ka * kb)


def batch_similarity(counts_real: np.ndarray, counts_synth: np.ndarray, ks: bool) -> np.ndarray:
    """Per row: 1 - TV distance of the two frequency tables (B, k), or with ``ks`` 1 - the KS statistic, the codes
    being sorted distinct values (the largest gap between the cumulative shares: what scipy's ks_2samp computes).
    NaN where a side counts nothing.

    Shares are taken of whole counts (cumulative ones for KS: each side's last is n / n = 1 exactly), and TV's
    similarity as the sum of the smaller share of each value, so that sets apart score 0 exactly and sets alike 1:
    the cumulative sum of share differences left float noise, and a bootstrap SE of "0.000 ± 3e-15" (an audit)."""
    n_r, n_s = counts_real.sum(axis=1), counts_synth.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if ks:
            cum_r, cum_s = np.cumsum(counts_real, axis=1), np.cumsum(counts_synth, axis=1)
            out = 1.0 - np.abs(cum_r / n_r[:, None] - cum_s / n_s[:, None]).max(axis=1)
        else:
            out = np.minimum(counts_real / n_r[:, None], counts_synth / n_s[:, None]).sum(axis=1)
    return np.where((n_r == 0) | (n_s == 0), np.nan, out)


def _batch_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's correlation of each row pair of x and y (B, n), over the entries where both are finite, as
    :func:`_correlation` computes it; NaN where undefined."""
    ok = np.isfinite(x) & np.isfinite(y)
    n = ok.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = np.where(ok, x - (np.where(ok, x, 0.0).sum(axis=1) / n)[:, None], 0.0)
        yc = np.where(ok, y - (np.where(ok, y, 0.0).sum(axis=1) / n)[:, None], 0.0)
        return _rho((xc * yc).sum(axis=1), (xc * xc).sum(axis=1), (yc * yc).sum(axis=1), n)


def _rho(xy: np.ndarray, xx: np.ndarray, yy: np.ndarray, n: Any) -> np.ndarray:
    """Correlations from centred cross and square sums, NaN where undefined (fewer than 2 rows, a constant column)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        den = np.sqrt(xx * yy)
        rho = np.clip(xy / den, -1.0, 1.0)
    return np.where((np.asarray(n) < 2) | (den == 0) | ~np.isfinite(den), np.nan, rho)


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's linear interpolation of quantiles (numpy.lib._function_base_impl._lerp), to the last bit."""
    return np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)


class _ContinuousColumn:
    """A numeric or datetime column of the real and the synthetic table as codes 1..k of their distinct present
    values, sorted (0 where missing): resampled rows counted per code give both empirical CDFs (KS) and the quantiles
    fidelity's contingency bins are cut at (:func:`_bin_edges`), without sorting again."""

    def __init__(self, real: _Column, synth: _Column) -> None:
        values = np.concatenate([real.values, synth.values])
        missing = np.concatenate([real.missing, synth.missing])
        uniques, inverse = np.unique(values[~missing], return_inverse=True)  # exact: dates stay int64 nanoseconds
        codes = np.zeros(values.shape[0], dtype=np.int64)
        codes[~missing] = inverse + 1
        self.real, self.synth = codes[: real.values.shape[0]], codes[real.values.shape[0] :]
        self.k = max(uniques.size, 1)
        self.values = uniques.astype(np.float64)  # as _bin_edges and _discrete read them
        self.finite = np.isfinite(self.values)
        # for correlations only, which are scale-free: both tables' values over one power of two of the column
        # (exact), so that the resamples' squares neither overflow (values near 1e300) nor underflow (near 1e-300)
        scale = scale_of(self.values[self.finite]) or 1.0
        self.floats = real.floats() / scale, synth.floats() / scale
        self.dense = tuple(bool(np.isfinite(f).all()) for f in self.floats)  # no missing or infinite value

    def bin_labels(self, counts_real: np.ndarray, bins: int) -> np.ndarray | None:
        """(B, k + 1): per resample, the contingency bin + 1 of every code (0 for code 0, missing), the bins being
        ``bins`` quantile bins of that resample's real values as :func:`_bin_edges` cuts them (a bin per value where
        it holds at most ``bins`` values; ties merged, values
        beyond the ends in the outer bins); a resample that holds no finite real value has no bins, its row all 0 (as
        if missing: its pairs score NaN, as in fidelity), and None where none holds one."""
        rows, u = counts_real.shape[0], self.values.size
        counts = np.where(self.finite, counts_real[:, :u], 0)
        m = counts.sum(axis=1)
        if u == 0 or not m.any():
            return None
        if not m.all():  # binned on their own: the others' bins are theirs whatever resamples share the batch
            table = np.zeros((rows, u + 1), dtype=np.int64)
            table[m > 0] = self.bin_labels(counts_real[m > 0], bins)
            return table
        few = (counts > 0).sum(axis=1) <= bins  # resamples of at most `bins` values: a bin per value, as _bin_edges
        if few.any():
            table = np.zeros((rows, u + 1), dtype=np.int64)
            for r in np.flatnonzero(few):
                held = self.values[counts[r] > 0]
                table[r, 1:] = np.searchsorted((held[:-1] + held[1:]) / 2, self.values, side="right") + 1
            if not few.all():
                table[~few] = self.bin_labels(counts_real[~few], bins)
            return table
        # The value at sorted position r of each resample: the first code whose cumulative count exceeds r, found in
        # one search over the rows' cumulative counts laid end to end (each row offset by the largest count + 1).
        step = int(m.max()) + 1
        cum = (np.cumsum(counts, axis=1) + step * np.arange(rows)[:, None]).ravel()
        vi = (m[:, None] - 1) * np.linspace(0.0, 1.0, bins + 1)[None, :]  # numpy's "linear" quantile positions
        prev = np.floor(vi)
        top = vi >= (m - 1)[:, None]  # numpy takes the last value there
        lo = np.where(top, m[:, None] - 1, prev).astype(np.int64)
        hi = np.where(top, lo, lo + 1)

        def at(rank: np.ndarray) -> np.ndarray:
            code = np.searchsorted(cum, (rank + step * np.arange(rows)[:, None]).ravel(), side="right")
            return self.values[code.reshape(rank.shape) - u * np.arange(rows)[:, None]]

        edges = _lerp(at(lo), at(hi), vi - prev)  # (B, bins + 1), ascending
        inner = np.zeros(edges.shape, dtype=bool)  # np.unique(edges)[1:-1]: distinct, between the first and last
        inner[:, 1:] = (edges[:, 1:] != edges[:, :-1]) & (edges[:, 1:] > edges[:, :1]) & (edges[:, 1:] < edges[:, -1:])
        # a value's bin: the inner edges at or below it (searchsorted side="right"), tabled over the codes
        first = np.searchsorted(self.values, edges.ravel(), side="left").reshape(edges.shape) + 1
        hits = np.bincount((first + (u + 1) * np.arange(rows)[:, None])[inner], minlength=rows * (u + 1))
        table = np.cumsum(hits.reshape(rows, u + 1), axis=1) + 1
        table[:, 0] = 0
        return table


class _FidelityResampler:
    """Column shapes, column pair trends and fidelity recomputed on many resamples of the rows at once, every column
    coded once as integers so that a resample costs a few bincounts (fidelity's own functions, on the same rows,
    give the same scores: tests/analysis/test_synthetic_tables.py checks it)."""

    def __init__(self, cols: list[Any], kinds: dict, real: dict, synth: dict, pairs: list[tuple[int, int]],
                 bins: int, n_real: int, n_synth: int, apart: tuple = ()) -> None:  # fmt: skip
        self.cols, self.pairs, self.bins, self.n_real, self.n_synth = cols, pairs, bins, n_real, n_synth
        self.apart = set(apart)  # columns whose shapes stay out of the column shapes' mean (fidelity's given_columns)
        self.continuous = {c: _ContinuousColumn(real[c], synth[c]) for c in cols if kinds[c] in CONTINUOUS}
        self.labels = {c: _joint_codes(real[c], synth[c]) for c in cols if kinds[c] not in CONTINUOUS}
        # A pair of two labelled columns with more possible cells than PAIR_CELLS (ids) has its cells coded once, as
        # many as it holds; the others are counted from their two labels, which keeps a wide table's memory to its
        # columns (coding every pair held one array of all rows per pair).
        self.cells, widest = {}, 1
        for i, j in pairs:
            a, b = cols[i], cols[j]
            if a in self.labels and b in self.labels:
                (ra, sa, ka), (rb, sb, kb) = self.labels[a], self.labels[b]
                if (ka + 1) * (kb + 1) <= PAIR_CELLS:
                    widest = max(widest, (ka + 1) * (kb + 1))
                    continue
                raw = np.concatenate([ra, sa]) * (kb + 1) + np.concatenate([rb, sb])
                gone = (np.concatenate([ra, sa]) == 0) | (np.concatenate([rb, sb]) == 0)
                codes, uniques = pd.factorize(raw[~gone])
                full = np.zeros(raw.shape[0], dtype=np.int64)
                full[~gone] = codes + 1
                self.cells[(a, b)] = (full[:n_real], full[n_real:], max(len(uniques), 1))
        widest = max([widest, (bins + 1) ** 2] + [c.k + 1 for c in self.continuous.values()]
                     + [k + 1 for *_, k in self.cells.values()] + [(bins + 1) * (k + 1) for *_, k in self.labels.values()])  # fmt: skip
        self.chunk = max(1, 1_000_000 // max(n_real, n_synth, widest))  # resamples at once: arrays of ~1M entries

    def scores(self, i_real: np.ndarray, i_synth: np.ndarray) -> np.ndarray:
        """(B, 3): fidelity, column shapes and column pair trends of the real rows ``i_real`` (B, n_real) against the
        synthetic rows ``i_synth`` (B, n_synth), row by row; numeric columns' bins fitted again on each resample's
        real values, as fidelity fits them."""
        rows = i_real.shape[0]
        shapes, labels, floats, centred, one = {}, {}, {}, {}, {}
        for c, col in self.continuous.items():
            code_r, code_s = col.real[i_real], col.synth[i_synth]
            counts_r = batch_counts(code_r, col.k)
            shapes[c] = batch_similarity(counts_r, batch_counts(code_s, col.k), ks=True)
            table = col.bin_labels(counts_r, self.bins)
            if table is not None:
                flat, offset = table.ravel(), table.shape[1] * np.arange(rows)[:, None]
                labels[c] = (flat[code_r + offset], flat[code_s + offset], self.bins)
                one[c] = (batch_counts(labels[c][0], self.bins) > 0).sum(axis=1) <= 1
            floats[c] = col.floats[0][i_real], col.floats[1][i_synth]
        for c, (r, s, k) in self.labels.items():
            labels[c] = (r[i_real], s[i_synth], k)
            counts = batch_counts(labels[c][0], k)
            one[c] = (counts > 0).sum(axis=1) <= 1  # a column of one real label: its pairs left out, as in fidelity
            shapes[c] = batch_similarity(counts, batch_counts(labels[c][1], k), ks=False)

        def centre(c: Any, side: int) -> tuple[np.ndarray, np.ndarray]:  # a column without missing values, once
            if (c, side) not in centred:
                x = floats[c][side]
                x = x - x.mean(axis=1)[:, None]
                centred[(c, side)] = x, (x * x).sum(axis=1)
            return centred[(c, side)]

        pairs = []
        for i, j in self.pairs:
            a, b = self.cols[i], self.cols[j]
            if a in self.continuous and b in self.continuous:
                rho = []
                for side, n in ((0, self.n_real), (1, self.n_synth)):
                    if self.continuous[a].dense[side] and self.continuous[b].dense[side]:
                        (xa, ssa), (xb, ssb) = centre(a, side), centre(b, side)
                        rho.append(_rho((xa * xb).sum(axis=1), ssa, ssb, n))
                    else:
                        rho.append(_batch_correlation(floats[a][side], floats[b][side]))
                pairs.append(1.0 - np.abs(rho[0] - rho[1]) / 2.0)
            elif (a, b) in self.cells:
                r, s, k = self.cells[(a, b)]
                score = batch_similarity(batch_counts(r[i_real], k), batch_counts(s[i_synth], k), ks=False)
                pairs.append(np.where(one[a] | one[b], np.nan, score))
            elif a in labels and b in labels:
                (ra, sa, ka), (rb, sb, kb) = labels[a], labels[b]
                score = batch_similarity(_batch_pair_counts(ra, rb, ka, kb), _batch_pair_counts(sa, sb, ka, kb), ks=False)
                pairs.append(np.where(one[a] | one[b], np.nan, score))
            else:  # a numeric column without a finite real value: no bins, as in fidelity
                pairs.append(np.full(rows, np.nan))
        shape_mean = _rows_nanmean([shapes[c] for c in self.cols if c not in self.apart], rows)
        pair_mean = _rows_nanmean(pairs, rows)
        return np.stack([_rows_nanmean([shape_mean, pair_mean], rows), shape_mean, pair_mean], axis=1)


def _rows_nanmean(columns: list[np.ndarray], rows: int) -> np.ndarray:
    """Per row, the mean of the finite entries of the columns (NaN where none): :func:`_nanmean` row by row."""
    if not columns:
        return np.full(rows, np.nan)
    stacked = np.stack(columns, axis=1)
    ok = np.isfinite(stacked)
    with np.errstate(invalid="ignore"):
        return np.where(ok.any(axis=1), np.where(ok, stacked, 0.0).sum(axis=1) / ok.sum(axis=1), np.nan)


def _fidelity_stderr(resampler: _FidelityResampler, resamples: int, seed: int) -> dict[str, Any]:
    """Bootstrap standard errors of fidelity and its two parts (Efron & Tibshirani 1993, "An Introduction to the
    Bootstrap", ch. 6 and 8: the two-sample bootstrap). The real rows and the synthetic rows are two samples, each
    resampled with replacement on its own, and every score is recomputed whole (quantile bins refitted), so the SE
    covers the sampling of both; the generator's own training (a model fitted on other real rows) is not in it."""
    rng = np.random.default_rng(seed)
    draws = []
    for start in range(0, resamples, resampler.chunk):
        rows = min(resampler.chunk, resamples - start)
        i_real = rng.integers(0, resampler.n_real, (rows, resampler.n_real))
        i_synth = rng.integers(0, resampler.n_synth, (rows, resampler.n_synth))
        draws.append(resampler.scores(i_real, i_synth))
    draws = np.concatenate(draws)
    se = [float(np.std(d[np.isfinite(d)], ddof=1)) if np.isfinite(d).sum() > 1 else math.nan for d in draws.T]
    return {"fidelity_stderr": se[0], "column_shapes_stderr": se[1], "column_pair_trends_stderr": se[2],
            "fidelity_stderr_over": f"the {resampler.n_real} real and {resampler.n_synth} synthetic rows, each "
                                    f"table resampled on its own ({resamples} bootstrap resamples)"}  # fmt: skip


def fidelity(
    real_df: pd.DataFrame,
    synth_df: pd.DataFrame,
    kinds: dict[str, str] | None = None,
    *,
    max_pairs: int | None = None,
    seed: int = 0,
    bins: int = 10,
    resamples: int = FIDELITY_BOOTSTRAP,
    given_columns: tuple = (),
) -> dict[str, Any]:
    """SDMetrics-style quality score of a synthetic table: column shapes and column pair trends.

    ``given_columns``: columns the generator does not generate but draws at the real rows' frequencies (a conditional
    model's condition columns): their shapes are listed in ``columns`` but left out of ``column_shapes``' mean (a
    marginal copied from the real rows would raise it without anything learned), and out of ``missing_similarity``'s
    mean, named in ``shapes_left_out``;
    their pairs stay in ``column_pair_trends`` (how the generated columns follow them).

    Returns
    -------
    dict with ``column_shapes`` (mean score of :func:`column_shapes`), ``column_pair_trends``
    (mean score of :func:`column_pair_trends`), ``fidelity`` (the mean of those two:
    SDMetrics' Quality Score), ``missing_similarity`` (mean over columns, ``given_columns`` left out as in
    ``column_shapes``), ``columns`` and
    ``pairs`` (the rows of the two tables as lists of dicts; a contingency pair has
    ``real_value`` = ``synthetic_value`` = None), and ``n_columns``, ``n_pairs``,
    ``n_real``, ``n_synthetic``; with ``resamples`` > 0 (the default, FIDELITY_BOOTSTRAP) also
    ``fidelity_stderr``, ``column_shapes_stderr`` and ``column_pair_trends_stderr``: bootstrap
    standard errors over that many resamples (seeded by ``seed``) of the real rows and the
    synthetic rows, each resampled on its own, so they cover the sampling of both tables (not a
    new fit of the generator), and ``fidelity_stderr_over``, which says so.

    Undefined scores (NaN: a column with no non-missing value, a constant column's
    correlation, a pair with a column of one real value or bin, whose contingency score would be
    the other column's shape score again) are left out of the means; ``constant_columns`` names
    the columns of one real value or bin (:func:`constant_columns`), whose pairs SDMetrics'
    QualityReport leaves out too. A mean is NaN only when all its scores are
    undefined or there is nothing to average (one column has no pairs); ``fidelity`` is then
    the other mean alone, and NaN only when both are.
    """
    if max_pairs is not None:
        max_pairs = check_int("max_pairs", max_pairs, 1, " or None (all pairs)")
    bins = check_int("bins", bins, 1, " (quantile bins per numeric column)")
    resamples = check_int("resamples", resamples, 0, " (bootstrap resamples behind the standard errors; 0: none)")
    if resamples == 1:
        raise ConfigError("resamples must be 0 (no standard errors) or at least 2 (a spread needs two); got 1.")
    cols, resolved, real, synth = _prepared_tables(real_df, synth_df, kinds)
    given = (given_columns,) if isinstance(given_columns, str) else tuple(given_columns)
    unknown = [c for c in given if c not in cols]
    if unknown:
        raise ConfigError(f"given_columns names columns the data lacks: {unknown}; the columns are {list(cols)}.")
    apart = [c for c in cols if c in given]
    shapes = _shape_rows(cols, resolved, real, synth)
    pairs = _pair_rows(cols, resolved, real, synth, max_pairs, int(seed), bins)
    shape_mean = _nanmean([r["score"] for r in shapes if r["column"] not in apart])
    pair_mean = _nanmean([r["score"] for r in pairs])
    stderr = {}
    if resamples and min(real_df.shape[0], synth_df.shape[0]) < 2:  # resamples of one row are that row
        stderr = {"fidelity_stderr": math.nan, "column_shapes_stderr": math.nan, "column_pair_trends_stderr": math.nan,
                  "fidelity_stderr_over": "none: a table of one row gives no spread to resample"}  # fmt: skip
    elif resamples:
        resampler = _FidelityResampler(cols, resolved, real, synth, _pairs(len(cols), max_pairs, int(seed)), bins,
                                       int(real_df.shape[0]), int(synth_df.shape[0]), tuple(apart))  # fmt: skip
        stderr = _fidelity_stderr(resampler, resamples, int(seed))
    return {
        "fidelity": _nanmean([shape_mean, pair_mean]),
        "column_shapes": shape_mean,
        "column_pair_trends": pair_mean,
        # over the generated columns, as column_shapes: a condition column is never missing, and its 1.0 counted (s13)
        "missing_similarity": _nanmean([r["missing_similarity"] for r in shapes if r["column"] not in apart]),
        "columns": shapes,
        "pairs": pairs,
        # their pairs have no score: left out of column_pair_trends (an audit: each counted the other column's shape)
        "constant_columns": _constant(cols, resolved, real, bins),
        "shapes_left_out": apart,
        "n_columns": len(cols), "n_pairs": len(pairs),
        "n_real": int(real_df.shape[0]), "n_synthetic": int(synth_df.shape[0]), **stderr,
    }  # fmt: skip


# ---------------------------------------------------------------- ML efficacy (train on synthetic, test on real)
@dataclass
class _FeatureEncoder:
    """Features for gradient boosting, fitted on the real training table.

    numeric: the value (NaN kept; HistGradientBoosting routes missing values itself);
    datetime: seconds since 1970 (NaN for NaT); categorical and boolean: one-hot over the
    (at most MAX_ONEHOT most frequent) categories seen in the real training table, plus a
    missing indicator when that table has missing values. Unseen categories are all zeros.
    """

    columns: list[Any]
    kinds: dict[Any, str]
    categories: dict[Any, list[Any]]
    missing_flag: dict[Any, bool]

    @classmethod
    def fit(cls, df: pd.DataFrame, columns: list[Any], kinds: dict[Any, str]) -> _FeatureEncoder:
        categories, flags = {}, {}
        for c in columns:
            if kinds[c] in CONTINUOUS:
                continue
            col = _prepare(df[c], kinds[c], str(c))
            counts = pd.Series(col.present).value_counts(sort=True)
            categories[c] = list(counts.index[:MAX_ONEHOT])
            flags[c] = bool(col.missing.any())
        return cls(columns, kinds, categories, flags)

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        blocks = []
        for c in self.columns:
            col = _prepare(df[c], self.kinds[c], str(c))
            if col.kind == "numeric":
                blocks.append(col.floats()[:, None])
            elif col.kind == "datetime":
                blocks.append((col.floats() / NS_PER_SECOND)[:, None])
            else:
                cats = self.categories[c]
                idx = pd.Index(cats, dtype=object).get_indexer(pd.Index(col.values, dtype=object))
                idx[col.missing] = -1
                onehot = np.zeros((col.values.shape[0], len(cats) + int(self.missing_flag[c])))
                rows = np.flatnonzero(idx >= 0)
                onehot[rows, idx[rows]] = 1.0
                if self.missing_flag[c]:
                    onehot[col.missing, -1] = 1.0
                blocks.append(onehot)
        return np.hstack(blocks) if blocks else np.zeros((df.shape[0], 0))


def _auto_task(col: _Column) -> str:
    if col.kind in ("categorical", "boolean"):
        return "classification"
    if col.kind == "numeric":
        v = col.present
        v = v[np.isfinite(v)]
        if v.size and np.all(v == np.round(v)) and np.unique(v).size <= AUTO_MAX_CLASSES:
            return "classification"
    return "regression"


def _fit_predict(task: str, X: np.ndarray, y: np.ndarray, X_test: np.ndarray,
                 seed: int) -> tuple[np.ndarray, str | None]:
    """Predictions of a HistGradientBoosting model trained on (X, y); a note when the model could not be trained."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    # A feature missing in every training row tells the model nothing, and sklearn's binning fails on it
    # ("window shape cannot be larger than input array shape"): a few synthetic rows can have one.
    usable = ~np.isnan(X).all(axis=0)
    X, X_test = X[:, usable], X_test[:, usable]
    if task == "classification":
        classes = np.unique(y)
        if classes.size == 1:
            return np.full(X_test.shape[0], classes[0]), "single class: every test row predicted as that class"
        if X.shape[1] == 0:
            values, counts = np.unique(y, return_counts=True)
            return np.full(X_test.shape[0], values[counts.argmax()]), "no feature has a value: the majority class"
        model = HistGradientBoostingClassifier(random_state=seed)
    elif X.shape[1] == 0:
        return np.full(X_test.shape[0], float(np.mean(y))), "no feature has a value: the mean predicted"
    else:
        model = HistGradientBoostingRegressor(random_state=seed)
    # One OpenMP thread: boosting's threads spin against other work on busy machines (see quality._knn_sq_radii).
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(X, y)
        return model.predict(X_test), None


def ml_efficacy(
    real_train: pd.DataFrame,
    synth_train: pd.DataFrame,
    real_test: pd.DataFrame,
    target: Any,
    task: str = "auto",
    seed: int = 0,
    *,
    kinds: dict[str, str] | None = None,
    predictions: bool = False,
) -> dict[str, Any]:
    """Machine-learning efficacy: train on synthetic, test on real (TSTR), beside train on real.

    The same scikit-learn model (HistGradientBoostingClassifier or -Regressor, default
    settings, ``random_state=seed``) is trained once on ``real_train`` and once on
    ``synth_train`` to predict ``target`` from the other columns, and both are scored on
    ``real_test`` (Xu et al. 2019, TVAE/CTGAN; SDMetrics' ML efficacy metrics). Features are
    encoded by one encoder fitted on real_train: numeric as is (missing values passed through),
    datetimes as seconds, categorical and boolean columns one-hot over the categories seen in
    real_train (the MAX_ONEHOT most frequent; unseen ones become all zeros).

    ``task``: "classification" (macro F1, plus accuracy), "regression" (R², plus MAE) or
    "auto": classification when the target is categorical or boolean, or integer-valued
    numeric with at most AUTO_MAX_CLASSES distinct values in real_train; regression otherwise.
    Rows whose target is missing are left out.

    Returns
    -------
    dict with ``task``, ``target``, ``metric`` ("f1_macro" or "r2"), ``real`` and
    ``synthetic`` (that metric for the two models), ``ratio`` = synthetic / real (NaN when
    real <= 0, where a ratio means nothing), ``real_se``, ``synthetic_se``, ``difference``
    (synthetic - real) and ``difference_se`` (a paired bootstrap over the real test rows, which
    ``se_over`` names; the synthetic sample's and the models' own randomness are not in them) and
    ``outcome`` ("lower", "higher" or "no clear difference": the difference against its 2 SE),
    ``identical_predictions`` (whether the two models predict every test row alike, so the difference is 0),
    with ``predictions``, also ``test_truth`` and ``test_predictions`` ({"real": ..., "synthetic": ...}: arrays
    over the scored test rows, for paired comparisons of generators on the same rows; not JSON), the secondary
    metric as ``real_accuracy`` / ``synthetic_accuracy`` or ``real_mae`` / ``synthetic_mae``, the row counts, and ``note``
    (None, or why a model could not be trained, e.g. a synthetic target with a single class:
    that model then predicts the class for every row, and its score is what that earns).
    """
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score

    frames = {"real_train": real_train, "synth_train": synth_train, "real_test": real_test}
    for name, df in frames.items():
        _frame(name, df)
        if target not in df.columns:
            raise DataError(
                f"target column {target!r} is not in {name}; its columns are {list(df.columns)}. "
                "Pass the name of the column to predict."
            )
    if task not in TASKS:
        raise ConfigError(f"task must be one of {list(TASKS)}; got {task!r}.")
    _same_columns("real_train", real_train, "synth_train", synth_train)
    _same_columns("real_train", real_train, "real_test", real_test)
    features = [c for c in real_train.columns if c != target]
    if not features:
        raise DataError(f"real_train has no column besides the target {target!r}; ML efficacy needs features.")
    resolved = _resolve_kinds(real_train, kinds)
    target_kind = resolved.pop(target)
    targets = {name: _prepare(df[target], target_kind, f"{name}[{target!r}]") for name, df in frames.items()}
    if task == "auto":
        task = _auto_task(targets["real_train"])
    if task == "regression" and target_kind not in CONTINUOUS:
        raise DataError(
            f"task='regression' needs a numeric target, but {target!r} is {target_kind}. "
            "Use task='classification', or pass kinds={target: 'numeric'} if its values are numbers."
        )
    kept = {}
    for name, df in frames.items():
        keep = ~targets[name].missing
        if not keep.any():
            raise DataError(f"every value of the target {target!r} in {name} is missing; nothing to train or test on.")
        kept[name] = keep

    encoder = _FeatureEncoder.fit(real_train.loc[kept["real_train"]], features, resolved)
    X = {name: encoder.transform(df.loc[kept[name]]) for name, df in frames.items()}
    unit = 1.0  # a regression target's power of two, below
    if task == "classification":
        raw = [targets[name].values[kept[name]] for name in frames]
        if target_kind in CONTINUOUS:
            raw = [r.astype(np.float64) for r in raw]
        codes, _ = pd.factorize(np.concatenate([np.asarray(r, dtype=object) for r in raw]))
        splits = np.cumsum([r.size for r in raw])[:-1]
        y = dict(zip(frames, np.split(codes, splits)))
    else:
        scale = NS_PER_SECOND if target_kind == "datetime" else 1
        y = {name: targets[name].floats()[kept[name]] / scale for name in frames}
        # over a power of two of the real training target (exact; R² is scale-free, the MAE is scaled back): boosting
        # fits float32 gradients, inf for a target beyond 3.4e38, and R²'s squares overflowed near 1e300, where a
        # table run models numbers of any size (an audit, s15)
        unit = scale_of(y["real_train"][np.isfinite(y["real_train"])]) or 1.0
        y = {name: v / unit for name, v in y.items()}

    metric = "f1_macro" if task == "classification" else "r2"
    result: dict[str, Any] = {"task": task, "target": target, "metric": metric}
    if task == "regression" and target_kind == "datetime":
        result["target_unit"] = "seconds"  # the MAE of a date target
    notes, preds = [], {}
    truth = y["real_test"]
    for side, train in (("real", "real_train"), ("synthetic", "synth_train")):
        pred, note = _fit_predict(task, X[train], y[train], X["real_test"], int(seed))
        preds[side] = pred
        if note:
            notes.append(f"{train}: {note}")
        if task == "classification":
            result[side] = float(f1_score(truth, pred, average="macro", zero_division=0))
            result[f"{side}_accuracy"] = float(accuracy_score(truth, pred))
        else:
            result[side] = float(r2_score(truth, pred)) if truth.size > 1 else math.nan
            result[f"{side}_mae"] = float(mean_absolute_error(truth, pred)) * unit
    real_score = result["real"]
    result["ratio"] = result["synthetic"] / real_score if real_score > 0 else math.nan
    result.update(_test_rows_bootstrap(task, truth, preds, result, int(seed)))
    if predictions:
        if task == "regression":  # in the target's units
            truth, preds = truth * unit, {k: p * unit for k, p in preds.items()}
        result.update(test_truth=truth, test_predictions=preds)
    result.update({
        "n_real_train": int(kept["real_train"].sum()), "n_synthetic_train": int(kept["synth_train"].sum()),
        "n_test": int(kept["real_test"].sum()), "n_features": int(X["real_test"].shape[1]),
        "note": "; ".join(notes) if notes else None,
    })  # fmt: skip
    if task == "classification":
        result["n_classes"] = int(np.unique(np.concatenate(list(y.values()))).size)
    return result


def compare(difference: float, se: float, z: float = 2.0) -> str:
    """"lower" or "higher" when ``difference`` (a - b) is at least ``z`` standard errors from 0,
    else "no clear winner"."""
    if not math.isfinite(difference) or not math.isfinite(se):
        return "no clear winner"
    if difference + z * se < 0:
        return "lower"
    if difference - z * se > 0:
        return "higher"
    return "no clear winner"


ML_BOOTSTRAP = 200  # resamples of the real test rows behind ML efficacy's standard errors


def bootstrap_scores(task: str, truth: np.ndarray, groups: list[list[np.ndarray]], resamples: int,
                     seed: int) -> np.ndarray:  # fmt: skip
    """ML efficacy's metric (macro F1, or R²) on ``resamples`` resamples of the test rows: per resample and group, the
    mean score of the group's predictions of the same rows (a paired bootstrap), as an array (resamples, groups). A
    group is one model's predictions, or several (fits, samples) whose mean score is compared (bench/tabular.py)."""
    from sklearn.metrics import f1_score, r2_score

    score = ((lambda t, p: f1_score(t, p, average="macro", zero_division=0)) if task == "classification"
             else r2_score)  # fmt: skip
    rng = np.random.default_rng(seed)
    draws = np.empty((resamples, len(groups)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a resample with one target value: R² undefined there (NaN, left out)
        for b in range(resamples):
            i = rng.integers(0, truth.size, truth.size)
            draws[b] = [np.mean([score(truth[i], p[i]) for p in group]) for group in groups]
    return draws


def _test_rows_bootstrap(task: str, truth: np.ndarray, preds: dict[str, np.ndarray], result: dict[str, Any],
                         seed: int) -> dict[str, Any]:  # fmt: skip
    """Standard errors of both models' scores and of their difference over the real test rows (a paired bootstrap:
    both models' predictions of the same resampled rows), and whether the synthetic rows' model is clearly below
    or above the real rows' (2 SE). It covers the test rows' sampling, not the synthetic sample's or the models'
    own randomness (a new sample or seed moves the score too: bench/tabular.py repeats both)."""
    n = truth.size
    if n < 2:
        return {}
    draws = bootstrap_scores(task, truth, [[preds["real"]], [preds["synthetic"]]], ML_BOOTSTRAP, seed)
    diff = result["synthetic"] - result["real"]
    diff_se = float(np.nanstd(draws[:, 1] - draws[:, 0], ddof=1))
    outcome = {"lower": "lower", "higher": "higher"}.get(compare(diff, diff_se), "no clear difference")
    return {"real_se": float(np.nanstd(draws[:, 0], ddof=1)), "synthetic_se": float(np.nanstd(draws[:, 1], ddof=1)),
            "difference": float(diff), "difference_se": diff_se, "outcome": outcome,
            "se_over": f"the {n} real test rows; {ML_BOOTSTRAP} paired bootstrap resamples",
            # "+0.000 ± 0.000 … no clear difference" was all it said of two models that predict alike (an audit, s14)
            "identical_predictions": bool(np.array_equal(preds["real"], preds["synthetic"]))}  # fmt: skip


# ---------------------------------------------------------------- privacy: distance to closest record
def _encode_for_distance(frames: list[pd.DataFrame], train: pd.DataFrame, kinds: dict[Any, str]) -> list[Any]:
    """Rows of every frame as vectors where Euclidean distance means something, all in one space.

    numeric/datetime: (x - mean) / sd with real_train's statistics (sd 0 -> 1); a missing value
    becomes 0 plus a 0/1 missing indicator (only for columns with a missing value somewhere).
    categorical/boolean: one-hot over the categories of all frames (missing is a category of
    its own), each entry scaled by 1/sqrt(2), so rows with different categories are exactly 1
    apart in that column: one category mismatch weighs as much as numeric values 1 SD apart.
    """
    sizes = [f.shape[0] for f in frames]
    splits = np.cumsum(sizes)[:-1]
    dense: list[np.ndarray] = []
    onehots: list[sparse.csr_matrix] = []
    for c, kind in kinds.items():
        cols = [_prepare(f[c], kind, str(c)) for f in frames]
        if kind in CONTINUOUS:
            ref = _prepare(train[c], kind, str(c)).floats()
            ref = ref[np.isfinite(ref)]
            # mean and SD on values over a power of two (exact): ref.std() overflowed to inf for values near 1e300
            # and underflowed to 0 near 1e-300, and the fallback SD of 1 left every distance inf, or that column
            # out of it (an audit, s15)
            vals = np.concatenate([col.floats() for col in cols])
            missing = ~np.isfinite(vals)
            scale = scale_of(np.r_[ref, vals[~missing]]) or 1.0
            mean, sd = mean_sd(ref / scale) if ref.size else (0.0, 0.0)
            sd = sd if ref.size > 1 and sd > 0 and math.isfinite(sd) else 1.0 / scale
            z = np.where(missing, 0.0, (np.where(missing, mean, vals / scale) - mean) / sd)
            dense.append(z[:, None])
            if missing.any():
                dense.append(missing[:, None].astype(np.float64))
        else:
            labels = np.concatenate([col.values for col in cols])
            missing = np.concatenate([col.missing for col in cols])
            codes, uniques = pd.factorize(np.where(missing, None, labels))  # None -> code -1
            codes = np.where(codes < 0, len(uniques), codes)
            width = len(uniques) + int(missing.any())
            n = codes.size
            onehots.append(sparse.csr_matrix((np.full(n, 1 / math.sqrt(2)), (np.arange(n), codes)), shape=(n, width)))
    n_total = sum(sizes)
    blocks = [sparse.csr_matrix(np.hstack(dense))] if dense else []
    matrix = sparse.hstack(blocks + onehots, format="csr") if blocks or onehots else sparse.csr_matrix((n_total, 0))
    out = matrix.toarray() if matrix.shape[1] <= DENSE_WIDTH else matrix
    return [out[a:b] for a, b in zip(np.r_[0, splits], np.r_[splits, n_total])]


def _subsample(df: pd.DataFrame, n: int | None, rng: np.random.Generator) -> pd.DataFrame:
    if n is None or df.shape[0] <= n:
        return df
    return df.iloc[np.sort(rng.choice(df.shape[0], size=n, replace=False))]


def distance_to_closest_record(
    real_train: pd.DataFrame,
    synth: pd.DataFrame,
    real_holdout: pd.DataFrame,
    kinds: dict[str, str] | None = None,
    sample: int | None = 2000,
    seed: int = 0,
    *,
    train_sample: int | None = None,
) -> dict[str, Any]:
    """Privacy: are synthetic rows closer to the training rows than fresh real rows are?

    Each synthetic row's distance to its closest real_train row (DCR) is set against the DCR
    of real_holdout rows, which the generator never saw: what "new data" looks like. Rows are
    encoded so Euclidean distance treats columns alike (real_train's mean and SD standardize
    numeric and datetime columns; a missing value is 0 plus a missing indicator; categorical and
    boolean columns are one-hot scaled by 1/sqrt(2), so a category mismatch counts 1, like
    numeric values 1 SD apart; missing is a category of its own). ``synth`` and ``real_holdout``
    are subsampled (seeded) to ``sample`` rows each; real_train, the reference, is kept whole
    unless ``train_sample`` caps it (a cap makes copies of left-out rows look new).

    Returns
    -------
    dict with ``dcr_synthetic_median``, ``dcr_synthetic_p5``, ``dcr_holdout_median``,
    ``dcr_holdout_p5``; ``median_ratio`` (synthetic / holdout median; ≈ 1 for new data, ≪ 1 for
    copies; NaN when the holdout median is 0); ``share_closer_than_holdout``, the share of
    synthetic DCRs strictly below ``dcr_holdout_cut``, the ``holdout_cut_rank``-th smallest of the m
    holdout DCRs, k = round(0.05 (m + 1)) (at least 1), so that for synthetic rows as new as fresh real
    rows the share's expectation is exactly ``share_closer_expected`` = k / (m + 1) (≈ 0.05; an
    order statistic's share under exchangeability, for distances without ties: an interpolated 5th
    percentile of 40 rows set about 0.07; with other holdout distances equal to the cut,
    ``holdout_cut_tied``, or tied distances above 0 at or below it, ``ties_at_or_below_cut``, it is at most that),
    near 1 when they copy training rows (with ties at 0, as in
    all-categorical tables, it can be 0 even for copies: read ``exact_copies`` then);
    ``exact_copies`` and ``holdout_exact_copies``, the shares of DCRs below 1e-8 (real rows
    can repeat in tables of few distinct values, so compare the two), each with its 95% Wilson
    interval over its rows (``exact_copies_interval``, ``holdout_exact_copies_interval``: a share of
    0 of 40 rows is not a share of 0); ``share_closer_stderr`` and
    ``median_ratio_stderr``, bootstrap SEs over the synthetic and the holdout rows (the training
    rows held fixed; ``stderr_over`` says so; absent when either has a single row); and the counts.
    """
    frames = {"real_train": real_train, "synth": synth, "real_holdout": real_holdout}
    for name, df in frames.items():
        _frame(name, df)
    _same_columns("real_train", real_train, "synth", synth)
    _same_columns("real_train", real_train, "real_holdout", real_holdout)
    if sample is not None:
        sample = check_int("sample", sample, 1, " or None (all rows)")
    if train_sample is not None:
        train_sample = check_int("train_sample", train_sample, 1, " or None (all rows)")
    resolved = _resolve_kinds(real_train, kinds)
    rng = np.random.default_rng(int(seed))
    tr = _subsample(real_train, train_sample, rng)
    sy = _subsample(synth, sample, rng)
    ho = _subsample(real_holdout, sample, rng)
    cols = list(real_train.columns)
    enc_tr, enc_sy, enc_ho = _encode_for_distance([tr[cols], sy[cols], ho[cols]], tr[cols], resolved)
    d_sy, d_ho = _nearest(enc_sy, enc_tr), _nearest(enc_ho, enc_tr)
    rank = cut_rank(d_ho.size)
    cut = float(np.partition(d_ho, rank - 1)[rank - 1])
    med_sy, med_ho = float(np.median(d_sy)), float(np.median(d_ho))
    copies, holdout_copies = float((d_sy < EXACT_DISTANCE).mean()), float((d_ho < EXACT_DISTANCE).mean())
    return {
        "dcr_synthetic_median": med_sy, "dcr_synthetic_p5": float(np.percentile(d_sy, HOLDOUT_PERCENTILE)),
        "dcr_holdout_median": med_ho, "dcr_holdout_p5": float(np.percentile(d_ho, HOLDOUT_PERCENTILE)),
        "median_ratio": med_sy / med_ho if med_ho > 0 else math.nan,
        "share_closer_than_holdout": float((d_sy < cut).mean()),
        "dcr_holdout_cut": cut, "holdout_cut_rank": rank, "share_closer_expected": rank / (d_ho.size + 1),
        # other holdout distances equal to the cut (all-categorical tables): new rows' expected share is then at most that
        "holdout_cut_tied": bool((d_ho == cut).sum() > 1),
        "ties_at_or_below_cut": _ties_at_or_below(d_ho, d_sy, cut),
        "exact_copies": copies, "exact_copies_interval": list(wilson_interval(copies, d_sy.size, Z95)),
        "holdout_exact_copies": holdout_copies,
        "holdout_exact_copies_interval": list(wilson_interval(holdout_copies, d_ho.size, Z95)),
        "n_train": int(tr.shape[0]), "n_synthetic": int(sy.shape[0]), "n_holdout": int(ho.shape[0]),
        "n_features": int(enc_tr.shape[1]), **_dcr_stderr(d_sy, d_ho, rng),
    }  # fmt: skip


def _ties_at_or_below(d_ho: np.ndarray, d_sy: np.ndarray, cut: float) -> bool:
    """Whether distances tie where a tie moves the share: two holdout distances above 0 and at or below the cut equal
    (distances that take a value more than once, so the cut's may be one a new row takes too), or a synthetic distance
    equal to the cut (not "closer" by the strict test, though it ties). The k / (m + 1) of new rows below the k-th
    smallest holdout distance is exact unless a new row's distance can equal the cut: the strict "closer" then loses the
    rows that tie with it, and it is an upper bound (an audit, s13: a tie below the cut went unseen). Ties at 0 alone
    (held-out rows that repeat a training row) do not: below a cut above 0, a new row at 0 is closer all the same (an
    audit, s14: they made the text say "at most" of a share that is exact, 5.05% ± 0.14% of 24,878 simulated new rows
    against k / (m + 1) = 4.95%, where 3% of distances were 0 and the rest continuous)."""
    low = d_ho[(d_ho > 0) & (d_ho <= cut)]
    return bool(np.unique(low).size < low.size or (d_sy == cut).any())


PRIVACY_BOOTSTRAP = 200  # resamples behind the SEs of the share of synthetic rows closer than the holdout's and the ratio


def cut_rank(m: int) -> int:
    """The rank k of the holdout DCR that "close" is measured against, for m holdout rows: k / (m + 1), the share of new
    rows expected below the k-th smallest of m exchangeable DCRs (without ties), as near HOLDOUT_PERCENTILE % as a rank
    gets (at least 1: below 19 rows, 1 / (m + 1) is more than 5%)."""
    return max(1, min(int(m), int(round(HOLDOUT_PERCENTILE / 100 * (m + 1)))))


def _dcr_stderr(d_sy: np.ndarray, d_ho: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """Bootstrap SEs of ``share_closer_than_holdout`` and ``median_ratio`` (Efron & Tibshirani 1993, the two-sample
    bootstrap): the synthetic rows' and the holdout rows' distances resampled each on their own, the holdout's cut (its
    :func:`cut_rank`-th smallest DCR) taken again on each resample; the training rows, the reference, are held fixed. A share of 9.7% against
    the 5% of new rows said nothing of its noise (an audit, s11 a: 40 holdout rows set that percentile)."""
    if d_sy.size < 2 or d_ho.size < 2:
        return {}
    s = d_sy[rng.integers(0, d_sy.size, (PRIVACY_BOOTSTRAP, d_sy.size))]
    h = d_ho[rng.integers(0, d_ho.size, (PRIVACY_BOOTSTRAP, d_ho.size))]
    rank = cut_rank(d_ho.size)
    share = (s < np.partition(h, rank - 1, axis=1)[:, rank - 1][:, None]).mean(axis=1)
    med_h = np.median(h, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(med_h > 0, np.median(s, axis=1) / med_h, np.nan)
    ratio = ratio[np.isfinite(ratio)]
    defined = np.median(d_ho) > 0 and ratio.size > 1  # the ratio itself is NaN where the holdout's median is 0
    return {"share_closer_stderr": float(share.std(ddof=1)),
            "median_ratio_stderr": float(ratio.std(ddof=1)) if defined else math.nan,
            "stderr_over": f"the {d_sy.size} synthetic and {d_ho.size} holdout rows, each resampled on its own, the "
                           f"training rows held fixed; {PRIVACY_BOOTSTRAP} bootstrap resamples"}  # fmt: skip


def _nearest(query: Any, reference: Any) -> np.ndarray:
    """Distance of each query row to its nearest reference row (dense or sparse rows)."""
    from sklearn.neighbors import NearestNeighbors

    if reference.shape[1] == 0:
        return np.zeros(query.shape[0])
    algorithm = "brute" if sparse.issparse(reference) else "auto"
    with threadpool_limits(limits=1, user_api="openmp"):  # see quality._knn_sq_radii
        dist, _ = NearestNeighbors(n_neighbors=1, algorithm=algorithm).fit(reference).kneighbors(query)
    return np.maximum(dist[:, 0], 0.0)
