"""Time series at the boundary: series, sliding windows, leak-free splits, scaling.

The conventions are those of TimeGAN (Yoon et al. 2019) and TimeVAE (Desai et al.
2021): a model sees fixed-length *windows* of ``T = n_past + n_future`` consecutive
steps over ``F`` features, an array ``X`` of shape (N, T, F). An unconditional
model generates whole windows; a conditional one generates the last ``n_future``
steps given the first ``n_past`` (:func:`split_past_future`).

The way through::

    frame = prepare_series(df, id_column="id", time_column="time")  # validated, sorted
    windows = make_windows(frame, n_past=24, n_future=8)              # X (N, T, F) float32
    codes = split_windows(windows)          # 0 train, 1 val, 2 test, -1 unused (dropped)
    scaler = SeriesScaler("standard").fit(windows.X, codes)           # training windows only
    X = scaler.transform(windows.X)

Split codes are those of :mod:`vaelab.data.split` (0 train, 1 val, 2 test) plus
:data:`UNUSED` = -1 for the windows dropped between splits so that no time step of
a validation or test window is also in a training window (see :func:`split_windows`).
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from vaelab.data.split import SPLITS
from vaelab.data.table_schema import written_index
from vaelab.errors import ConfigError, DataError, NotFittedError, RunError

TRAIN, VAL, TEST = (SPLITS.index(s) for s in ("train", "val", "test"))  # 0, 1, 2
UNUSED = -1  # split code of a window dropped at a split boundary (it would leak)

FILLS = (None, "interpolate")
SCALER_METHODS = ("standard", "minmax")
BUNDLED = ("macrodata", "co2", "sunspots")
_SCALER_KIND = "vaelab.SeriesScaler"
_SCALER_VERSION = 1


# ------------------------------------------------------------------ series


@dataclass(frozen=True, eq=False)
class SeriesFrame:
    """Validated series, each (T_i, F) float64 in time order, finite.

    ``series[i]`` belongs to ``ids[i]``; ``times[i]`` holds its sorted time stamps
    (None when the input had no time column). It unpacks as
    ``series, features, ids = prepare_series(...)``.
    """

    series: tuple[np.ndarray, ...]
    features: tuple[str, ...]
    ids: tuple[Any, ...]
    times: tuple[np.ndarray, ...] | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.series, self.features, self.ids))

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.series], dtype=np.int64)

    @property
    def n_features(self) -> int:
        return len(self.features)


def prepare_series(
    data: Any,
    *,
    id_column: str | None = None,
    time_column: str | None = None,
    features: Sequence[str] | str | None = None,
    fill: str | None = None,
) -> SeriesFrame:
    """Validate one series or a panel and return it as a :class:`SeriesFrame`.

    ``data`` is a pandas DataFrame (one long multivariate series, or a panel whose
    rows carry a series id in ``id_column``), a Series, or a NumPy array: (T, F) or
    (T,) for one series, (S, T, F) for S equal-length series; a list of such arrays
    is a panel of series of any lengths.

    - Series come out in sorted id order (first-appearance order if the ids do not
      sort); rows are sorted by ``time_column`` within each id when it is given
      (numeric, datetime, timedelta or ISO-8601 text), else kept in row order.
      Duplicate time stamps within a series are refused. Windows count rows, not
      clock time: irregular spacing is not resampled (a series run's train says where stamps are uneven:
      :func:`vaelab.runs.series.uneven_steps`).
    - ``features`` default to every numeric (or boolean) column except the id and
      time columns; non-numeric columns are skipped then. Naming a non-numeric
      column in ``features`` is a DataError.
    - Missing values (NaN, None, NA) inside a series are refused unless
      ``fill="interpolate"``: then each gap is filled by linear interpolation in
      time (in row position without a time column) and leading/trailing gaps take
      the nearest observed value. A feature with no observed value in a series,
      infinite values, and missing ids or times are refused either way.
    """
    if fill not in FILLS:
        raise ConfigError(f"fill must be one of {list(FILLS)}; got {fill!r}. Use fill='interpolate' to fill gaps linearly.")
    if isinstance(data, pd.Series):
        data = data.to_frame(name=str(data.name) if data.name is not None else "x0")
    if isinstance(data, pd.DataFrame):
        return _prepare_frame(data, id_column, time_column, features, fill)
    if id_column is not None or time_column is not None:
        # said in the words of each caller (the CLI's --time t): "Pass a pandas DataFrame" was no advice for a .npy
        # file given to vaelab train (an audit, s15)
        named = [(k, v) for k, v in (("id_column", id_column), ("time_column", time_column)) if v is not None]
        raise ConfigError(
            f"{' and '.join(f'{k}={v!r}' for k, v in named)} {'names a column' if len(named) == 1 else 'name columns'} "
            f"of a table (a DataFrame, or a CSV or Parquet file); got a {type(data).__name__} (an array, such as a .npy "
            "file), which has no columns: its rows are the time steps, in order. Leave "
            f"{'it' if len(named) == 1 else 'them'} out for an array, or give a table that holds "
            f"{'that column' if len(named) == 1 else 'those columns'}.",
            setting=tuple(k for k, _ in named),
        )
    return _prepare_arrays(data, features, fill)


def _prepare_arrays(data: Any, features, fill) -> SeriesFrame:
    if isinstance(data, (list, tuple)):
        if not data:
            raise DataError("Got an empty list of series; expected at least one (T, F) or (T,) array.")
        raws = [_as_series_array(a, f"series {i}") for i, a in enumerate(data)]
    else:
        arr = _as_numeric_array(data, "the array")
        if arr.ndim == 3:
            raws = [arr[i] for i in range(arr.shape[0])]
        else:
            raws = [_as_series_array(arr, "the array")]
        if not raws:
            raise DataError(f"The array holds no series (shape {arr.shape}).")
    widths = {r.shape[1] for r in raws}
    if len(widths) != 1:
        raise DataError(f"Every series needs the same number of features; got {sorted(widths)} across the list.")
    n_features = widths.pop()
    if features is None:
        names = tuple(f"x{j}" for j in range(n_features))
    else:
        names = _feature_names_for_array(features, n_features)
    series = []
    for i, r in enumerate(raws):
        where = "the series" if len(raws) == 1 else f"series {i}"
        series.append(_finish(r, names, where, np.arange(len(r), dtype=np.float64), fill))
    return SeriesFrame(tuple(series), names, tuple(range(len(series))), None)


def _as_numeric_array(data: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError) as e:
        raise DataError(f"{where} could not be read as an array: {e}.") from None
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{where}: expected numbers, got an array of dtype {arr.dtype}. Convert it to a numeric array first.")
    if arr.ndim not in (1, 2, 3):
        raise DataError(
            f"{where}: expected one series (T, F) or (T,), or a panel (S, T, F); got a {arr.ndim}-D array of shape {arr.shape}."
        )
    return arr


def _as_series_array(data: Any, where: str) -> np.ndarray:
    arr = _as_numeric_array(data, where)
    if arr.ndim == 3:
        raise DataError(f"{where}: expected (T, F) or (T,); got shape {arr.shape}. A list holds one 2-D array per series.")
    return arr[:, None] if arr.ndim == 1 else arr


def _feature_names_for_array(features, n_features: int) -> tuple[str, ...]:
    names = (features,) if isinstance(features, str) else tuple(features)
    if len(names) != n_features or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ConfigError(
            f"For an array, features names its columns: {n_features} distinct string(s); got {list(names)!r}. "
            "Leave features out to get the names x0, x1, ..."
        )
    return names


def _prepare_frame(df: pd.DataFrame, id_column, time_column, features, fill) -> SeriesFrame:
    if df.shape[0] == 0:
        raise DataError("The DataFrame has no rows; expected at least one time step.")
    columns = [c for c in df.columns]
    for what, col in (("id_column", id_column), ("time_column", time_column)):
        if col is not None and col not in df.columns:
            raise DataError(f"{what} {col!r} (--{what.split('_')[0]}) is not a column of the data; its columns are {_names(columns)}{_close(col, columns)}.")
    if id_column is not None and id_column == time_column:
        raise ConfigError(f"id_column and time_column must differ; both are {id_column!r}.",
                          setting=("id_column", "time_column"))
    reserved = {c for c in (id_column, time_column) if c is not None}
    names = _select_features(df, features, reserved)

    # Series membership: ids sorted when they sort, so the result ignores row order.
    if id_column is not None:
        id_values = df[id_column]
        if id_values.isna().any():
            row = int(np.flatnonzero(id_values.isna().to_numpy())[0])
            raise DataError(
                f"id_column {id_column!r} is missing in {int(id_values.isna().sum())} row(s), the first is row {row}. "
                "Every row needs a series id."
            )
        try:
            codes, uniques = pd.factorize(id_values, sort=True)
        except TypeError:
            codes, uniques = pd.factorize(id_values, sort=False)
        ids = tuple(u.item() if isinstance(u, np.generic) else u for u in uniques)
    else:
        codes, ids = np.zeros(len(df), dtype=np.int64), (0,)

    # Order: by id, then time (stable, so ties keep row order; ties are refused below).
    if time_column is not None:
        tkey = _time_key(df[time_column], time_column)
        order = np.lexsort((tkey, codes))
    else:
        tkey = None
        order = np.argsort(codes, kind="stable")
    codes = np.asarray(codes)[order]
    tkey = None if tkey is None else tkey[order]
    values = df[list(names)].to_numpy(dtype=np.float64, na_value=np.nan)[order]
    sorted_times = None if time_column is None else df[time_column].to_numpy()[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(codes)]])

    series, times = [], []
    for k, (a, b) in enumerate(zip(starts, ends)):
        label = f"series {ids[k]!r}" if id_column is not None else "the series"
        if tkey is not None:
            t = tkey[a:b]
            dup = np.flatnonzero(np.diff(t) == 0)
            if dup.size:
                raise DataError(
                    f"{label} has {dup.size} duplicate time stamp(s) in {time_column!r}, the first is "
                    f"{_shown(sorted_times[a + dup[0]])}. Each time step must appear once per series: aggregate or drop the duplicates."
                )
            x = t.astype(np.float64)
            times.append(sorted_times[a:b])
        else:
            x = np.arange(b - a, dtype=np.float64)

        def at(r: int, a: int = a) -> str:  # the stamp --time names, and the row (an audit: a step index only)
            when = f"{time_column} = {_shown(sorted_times[a + r])}" if time_column is not None else f"step {r}"
            return f"{when} (row {int(order[a + r])} of the data)"

        series.append(_finish(values[a:b], names, label, x, fill, at))
    return SeriesFrame(tuple(series), names, ids, tuple(times) if time_column is not None else None)


def _shown(value: Any) -> str:
    """A time stamp for a message as the user wrote it: 12 or '2001-03-31', not np.int64(12) (NumPy 2's repr)."""
    if isinstance(value, np.datetime64):
        return str(pd.Timestamp(value))
    return repr(value.item() if isinstance(value, np.generic) else value)


def _select_features(df: pd.DataFrame, features, reserved: set) -> tuple[str, ...]:
    def numeric(col) -> bool:
        t = df[col].dtype
        # booleans with a missing cell: object True/False/NaN as pandas reads a CSV's (an audit: one missing cell
        # left the column out of the features in silence, and --features refused it as "not numeric")
        return pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t) or (
            pd.api.types.is_object_dtype(t) and pd.api.types.infer_dtype(df[col], skipna=True) == "boolean")

    if features is None:
        # the row index to_csv() writes is no measurement (as a feature it trended perfectly: an audit)
        reserved = reserved | {written_index(df)} - {None}
        names = [c for c in df.columns if c not in reserved and numeric(c)]
        for c in (c for c in df.columns if c not in reserved and not numeric(c)):
            # A column of numbers with a few text cells would be left out in silence: say so, naming the first row
            # (the cell itself is not echoed: the data may be private).
            present = df[c].dropna()
            parsed = pd.to_numeric(present.astype(str), errors="coerce")
            if len(present) and parsed.notna().all():  # a Parquet string column of numbers: IndexError below (an audit)
                raise DataError(
                    f"Column {c!r} holds numbers written as text (all its {len(present)} filled cells); as text it "
                    "would not be a feature. Convert it (df[col] = pd.to_numeric(df[col])) to make it one, or name the "
                    "features you want (features=[COL, ...]).", setting="features"
                )
            if len(present) and parsed.notna().mean() >= 0.9:
                row = int(np.flatnonzero(df[c].notna().to_numpy())[np.flatnonzero(parsed.isna().to_numpy())[0]])
                raise DataError(
                    f"Column {c!r} holds numbers except {int(parsed.isna().sum())} text cell(s), the first at row {row}; "
                    "as it is it would not be a feature. Fix those cells (pd.to_numeric(..., errors='coerce') makes "
                    "them missing), or name the features you want (features=[COL, ...]).", setting="features"
                )
        if not names:
            others = [c for c in df.columns if c not in reserved]
            raise DataError(
                f"The DataFrame has no numeric feature column; its other columns {_names(others)} are not numbers. "
                "Convert them (e.g. pd.to_numeric) or encode them first."
            )
    else:
        names = [features] if isinstance(features, str) else list(features)
        if not names:
            raise ConfigError("features is empty; name at least one column, or leave it out to use every numeric column.",
                              setting="features")
        missing = [c for c in names if c not in df.columns]
        if missing:
            cols = list(df.columns)
            raise DataError(
                f"Feature column(s) {_names(missing)} are not in the DataFrame; its columns are {_names(cols)}{_close(missing[0], cols)}."
            )
        clash = [c for c in names if c in reserved]
        if clash:
            raise ConfigError(f"Feature column(s) {_names(clash)} are also the id/time column; a feature must be another column.")
        if len(set(names)) != len(names):
            raise ConfigError(f"features names a column more than once: {_names(names)}.", setting="features")
        bad = [c for c in names if not numeric(c)]
        if bad:
            kinds = ", ".join(f"{c!r} ({df[c].dtype})" for c in bad)
            raise DataError(
                f"Feature column(s) {kinds} are not numeric; a time-series VAE models numbers. "
                "Convert them (pd.to_numeric, one-hot encoding) or leave them out of features."
            )
    for c in names:
        if not isinstance(c, str):
            raise DataError(f"Feature columns need string names; got {c!r}. Rename the columns (df.columns = df.columns.astype(str)).")
    return tuple(names)


# How a scored window's reason says that values were filled in to score it (counted by anomaly-eval).
FILLED = "(interpolated to score the window)"


def iso_times(col: pd.Series, what: str) -> pd.Series:
    """A text (or other non-numeric) time column parsed as ISO-8601 dates; a DataError quoting the first cell that
    is not one (pandas' own message quoted a cell that was fine and advised arguments a CLI user cannot pass)."""
    try:
        return pd.to_datetime(col, format="ISO8601")
    except (TypeError, ValueError, OverflowError):
        pass
    # Offsets that change (+01:00 in winter, +02:00 in summer: a zoned column written to CSV) are instants, read
    # in UTC as a table's are (an audit: such a series was refused, "one offset throughout"); naive cells among them
    # are not
    text = col.astype(str).str.strip()
    if col.notna().all() and text.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True).all():
        try:
            return pd.to_datetime(col, format="ISO8601", utc=True)
        except (TypeError, ValueError, OverflowError):
            pass
    try:
        parsed = pd.to_datetime(col, format="ISO8601", errors="coerce")
        bad = np.flatnonzero(parsed.isna().to_numpy() & col.notna().to_numpy())
    except (TypeError, ValueError, OverflowError):  # mixed offsets, objects that are no text: check cell by cell
        bad = np.array([i for i, v in enumerate(col) if not _iso_cell(v)], dtype=int)
    where = (f"row {int(bad[0])} holds {col.iloc[int(bad[0])]!r}" + (f" ({len(bad) - 1} more row(s) do not parse)"
             if len(bad) > 1 else "")) if len(bad) else f"its values (such as {col.iloc[0]!r}) do not parse together"
    raise DataError(
        f"{what} must hold numbers or ISO-8601 dates in calendar form (2001-03-31, 2001-03, 2001, 2001-03-31T12:00, "
        f"with an offset in every cell or in none; week dates such as 2001-W13 and ordinal dates such as 2001-085 are "
        f"not read); {where}. Fix those cells, or convert the column first: a week date to its week's first day "
        "(2001-W13 -> 2001-03-26), or the column to numbers (e.g. days or periods)."
    )


def _iso_cell(v: Any) -> bool:
    try:
        return not pd.isna(pd.to_datetime(pd.Series([v]), format="ISO8601").iloc[0])
    except (TypeError, ValueError, OverflowError):
        return False


def _time_key(col: pd.Series, name: str) -> np.ndarray:
    """A sortable int64/float64 key per row: numbers as they are, times as integer ticks."""
    if col.isna().any():
        row = int(np.flatnonzero(col.isna().to_numpy())[0])
        raise DataError(
            f"time_column {name!r} is missing in {int(col.isna().sum())} row(s), the first is row {row}. Every row needs a time."
        )
    if pd.api.types.is_datetime64_any_dtype(col.dtype) or pd.api.types.is_timedelta64_dtype(col.dtype):
        return col.astype("int64").to_numpy()
    if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
        return iso_times(col, f"time_column {name!r}").astype("int64").to_numpy()
    return col.to_numpy(dtype=np.float64)


FLOAT32_MAX = float(np.finfo(np.float32).max)  # the windows' dtype: the model's
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # its smallest normal number


def _finish(values: np.ndarray, names: tuple[str, ...], where: str, x: np.ndarray, fill,
            at: Callable[[int], str] | None = None) -> np.ndarray:  # fmt: skip
    """float64 (T, F), finite; NaN filled by linear interpolation in x when fill='interpolate'. ``at(r)`` says where
    step r is in the data (its time stamp and row), for the errors; without it, "step r"."""
    at = at or (lambda r: f"step {r} (0-based, in time order)")
    values = np.array(values, dtype=np.float64)  # a copy: filling never touches the caller's data
    if values.shape[0] == 0:
        raise DataError(f"{where} has no time steps.")
    inf = np.isinf(values)
    if inf.any():
        r, c = np.argwhere(inf)[0]
        raise DataError(
            f"{where} holds {int(inf.sum())} infinite value(s), the first in feature {names[c]!r} at {at(int(r))}. Remove or replace them."
        )
    # Windows are float32, as the model is (make_windows): a value beyond its largest became inf there, and a feature
    # whose every value lies below its smallest normal number, 0 (a constant), where the error said the windows were
    # not finite, or nothing was said (an audit, s15)
    with np.errstate(invalid="ignore"):
        top = np.fmax.reduce(np.abs(values), axis=0, initial=0.0)
    for j in np.flatnonzero(top > FLOAT32_MAX):
        r = int(np.flatnonzero(np.abs(values[:, j]) > FLOAT32_MAX)[0])
        raise DataError(
            f"{where} holds values beyond float32's range (±3.4e38), in which series windows are modelled: the first "
            f"in feature {names[j]!r} at {at(r)} ({values[r, j]:.4g}). Rescale that feature first (e.g. divide it by "
            f"1e{int(np.log10(top[j]))})."
        )
    for j in np.flatnonzero((top > 0) & (top < FLOAT32_TINY)):
        raise DataError(
            f"Feature {names[j]!r} of {where} holds only values below float32's smallest normal number (1.2e-38; its "
            f"largest is {top[j]:.4g}), in which series windows are modelled: they would read as 0. Rescale that "
            f"feature first (e.g. multiply it by 1e{-int(np.floor(np.log10(top[j])))})."
        )
    nan = np.isnan(values)
    if not nan.any():
        return values
    if fill is None:
        per = {names[j]: int(nan[:, j].sum()) for j in np.flatnonzero(nan.any(axis=0))}
        r, c = np.argwhere(nan)[0]
        raise DataError(
            f"{where} has {int(nan.sum())} missing value(s) {per}; the first is feature {names[c]!r} at {at(int(r))}. "
            "Pass fill='interpolate' to fill gaps by linear interpolation in time, or impute them yourself first.",
            setting="fill",
        )
    for j in np.flatnonzero(nan.any(axis=0)):
        ok = ~nan[:, j]
        if not ok.any():
            raise DataError(
                f"Feature {names[j]!r} of {where} has no observed value; there is nothing to interpolate from. "
                "Drop that series or feature."
            )
        values[~ok, j] = np.interp(x[~ok], x[ok], values[ok, j])
    return values


def _names(cols: Sequence[Any], limit: int = 12) -> str:
    shown = [repr(c) for c in list(cols)[:limit]]
    more = f", ... ({len(cols) - limit} more)" if len(cols) > limit else ""
    return "[" + ", ".join(shown) + more + "]"


def _close(name: Any, cols: Sequence[Any]) -> str:
    match = difflib.get_close_matches(str(name), [str(c) for c in cols], n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


# ----------------------------------------------------------------- windows


@dataclass(frozen=True, eq=False)
class Windows:
    """Sliding windows over one or more series.

    ``X[i]`` (T, F) float32 equals ``frame.series[series[i]][start[i] : start[i] + T]``
    with ``T = n_past + n_future``. Windows come series by series, in time order
    within each series; they never cross from one series into the next.
    """

    X: np.ndarray  # (N, T, F) float32
    series: np.ndarray  # (N,) int64: index into ids / lengths
    start: np.ndarray  # (N,) int64: offset of the first step within its series
    n_past: int
    n_future: int
    features: tuple[str, ...]
    ids: tuple[Any, ...]  # one per input series, windowed or not
    lengths: np.ndarray  # (S,) int64: length of every input series
    stride: int = 1
    n_skipped: int = 0  # series shorter than T (no window)

    @property
    def window_length(self) -> int:
        return self.n_past + self.n_future

    @property
    def n_windows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[2])

    @property
    def past(self) -> np.ndarray:
        return self.X[:, : self.n_past]

    @property
    def future(self) -> np.ndarray:
        return self.X[:, self.n_past :]

    def subset(self, index: np.ndarray) -> "Windows":
        """The windows at ``index`` (integer positions or a boolean mask); the rest is kept."""
        return Windows(
            X=np.ascontiguousarray(self.X[index]), series=self.series[index], start=self.start[index],
            n_past=self.n_past, n_future=self.n_future, features=self.features, ids=self.ids,
            lengths=self.lengths, stride=self.stride, n_skipped=self.n_skipped,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The window settings, JSON-ready (no arrays): what a run records to rebuild the windows."""
        return {
            "n_past": self.n_past, "n_future": self.n_future, "stride": self.stride,
            "features": list(self.features), "n_series": len(self.ids), "n_windows": self.n_windows,
            "n_skipped": self.n_skipped,
        }  # fmt: skip


def make_windows(series: Any, n_past: int, n_future: int, stride: int = 1) -> Windows:
    """All windows of ``T = n_past + n_future`` consecutive steps, every ``stride`` steps.

    ``series`` is a :class:`SeriesFrame`, or an array / list of arrays that
    :func:`prepare_series` accepts. A series of length L gives
    ``ceil((L - T + 1) / stride)`` windows starting at 0, stride, 2*stride, ...
    Series shorter than T give none and are counted in ``n_skipped``; when no series
    gives a window the error lists the lengths.

    This is the windowing of TimeGAN (Yoon et al. 2019) and TimeVAE (Desai et al.
    2021): overlapping windows, stride 1 by default, each an independent example.
    """
    n_past = _positive_int(n_past, "n_past")
    n_future = _positive_int(n_future, "n_future")
    stride = _positive_int(stride, "stride")
    if isinstance(series, pd.DataFrame):
        raise DataError(
            "make_windows needs prepared series; got a DataFrame. Call prepare_series(df, id_column=..., "
            "time_column=...) first so a panel is not read as one series."
        )
    frame = series if isinstance(series, SeriesFrame) else prepare_series(series)
    T = n_past + n_future
    lengths = frame.lengths
    blocks, series_index, starts = [], [], []
    for i, s in enumerate(frame.series):
        if len(s) < T:
            continue
        start = np.arange(0, len(s) - T + 1, stride, dtype=np.int64)
        view = np.lib.stride_tricks.sliding_window_view(s, T, axis=0)  # (L - T + 1, F, T), no copy
        blocks.append(view[start].transpose(0, 2, 1).astype(np.float32))
        series_index.append(np.full(len(start), i, dtype=np.int64))
        starts.append(start)
    if not blocks:
        shown = lengths.tolist() if len(lengths) <= 20 else f"{lengths[:20].tolist()} ... (longest {int(lengths.max())})"
        raise DataError(
            f"No series is long enough for one window of n_past + n_future = {n_past} + {n_future} = {T} steps; "
            f"the series lengths are {shown}. Use shorter windows or longer series."
        )
    return Windows(
        X=np.ascontiguousarray(np.concatenate(blocks)), series=np.concatenate(series_index),
        start=np.concatenate(starts), n_past=n_past, n_future=n_future, features=frame.features,
        ids=frame.ids, lengths=lengths, stride=stride, n_skipped=int((lengths < T).sum()),
    )  # fmt: skip


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a whole number >= 1; got {value!r}.")
    return int(value)


# ------------------------------------------------------------------- split


def min_gap(window_length: int, stride: int = 1) -> int:
    """Fewest windows to drop between two splits so that they share no time step.

    Windows k apart start k*stride steps apart and overlap while k*stride < T, so
    ceil(T / stride) - 1 windows must go: T - 1 at stride 1.
    """
    return math.ceil(window_length / stride) - 1


def split_windows(windows: Windows, val_fraction: float = 0.1, test_fraction: float = 0.1, gap: int | None = None,
                  seed: int = 0) -> np.ndarray:  # fmt: skip
    """Split code per window, (N,) int8: 0 train, 1 val, 2 test, -1 unused; no leakage.

    Overlapping windows share time steps, so a random split (as for i.i.d. data)
    would put most of every validation window inside training windows. Here each
    series is split *in time*: its windows, in order, are cut into a first block
    for training, then validation, then test, and ``gap`` windows are dropped
    (code :data:`UNUSED`) at every boundary between two non-empty blocks. The
    default gap, ``ceil(T / stride) - 1`` (T - 1 at stride 1), is the smallest for
    which no time step of a validation or test window is in a training window and
    validation and test share none either; a larger gap leaves a margin for
    autocorrelation, a smaller one is refused.

    The fractions apply to the windows each series keeps (after the gaps), rounded
    to whole windows, with at least one validation / test window per series when
    asked for. A series too short for that (fewer than 1 + 1 + 1 windows plus the
    gaps) goes to training whole: it has no held-out block, so it cannot leak.
    Panels are split series by series the same way, so every series contributes
    its early part to training and its late part to validation and test.

    A panel of *short* series, none long enough to split in time (TimeGAN's sines: 10,000
    sequences of one window each), is split by series instead: whole series go to
    validation and test (the fractions of the series, at least one each when asked for,
    drawn with ``seed``). Different series share no time step, so this cannot leak either.
    """
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(f, bool) or not isinstance(f, (int, float, np.floating, np.integer)) or not 0.0 <= f < 1.0:
            raise ConfigError(f"{name} must be in [0, 1); got {f!r}.", setting=name)
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(f"val_fraction + test_fraction must be below 1 to leave training data; got {val_fraction} + "
                          f"{test_fraction}.", setting=("val_fraction", "test_fraction"))  # fmt: skip
    least = min_gap(windows.window_length, windows.stride)
    if gap is None:
        gap = least
    elif isinstance(gap, (bool, np.bool_)) or not isinstance(gap, (int, np.integer)) or gap < least:
        raise ConfigError(
            f"gap must be a whole number of windows >= {least} for windows of {windows.window_length} steps at stride "
            f"{windows.stride} (fewer would let validation/test windows share time steps with training ones); got {gap!r}."
        )
    gap = int(gap)
    want_val, want_test = val_fraction > 0, test_fraction > 0
    n_gaps = int(want_val) + int(want_test)

    codes = np.full(windows.n_windows, UNUSED, dtype=np.int8)
    order = np.lexsort((windows.start, windows.series))
    sorted_series = windows.series[order]
    bounds = np.flatnonzero(np.diff(sorted_series)) + 1
    for idx in np.split(order, bounds):
        n = len(idx)
        used = n - n_gaps * gap
        n_val = max(1, int(round(used * val_fraction))) if want_val else 0
        n_test = max(1, int(round(used * test_fraction))) if want_test else 0
        n_train = used - n_val - n_test
        if n_train < 1:  # too short to hold anything out without overlap: all training
            codes[idx] = TRAIN
            continue
        pos = 0
        for code, size in ((TRAIN, n_train), (VAL, n_val), (TEST, n_test)):
            if size == 0:
                continue
            if code != TRAIN:
                pos += gap  # these stay UNUSED
            codes[idx[pos : pos + size]] = code
            pos += size

    n_series = len(np.unique(windows.series))
    if (want_val or want_test) and not (codes != TRAIN).any() and n_series >= 1 + n_gaps:
        return _split_by_series(windows, val_fraction, test_fraction, seed)
    for code, wanted, name in ((VAL, want_val, "validation"), (TEST, want_test, "test")):
        if wanted and not (codes == code).any():
            per_series = np.bincount(windows.series, minlength=len(windows.lengths))
            raise DataError(
                f"No series is long enough to hold out {name} windows without overlap: a series needs at least "
                f"{1 + n_gaps + n_gaps * gap} windows ({n_gaps} gap(s) of {gap}); the most any series has is "
                f"{int(per_series.max())}. Use longer series or shorter windows, or set that fraction to 0 "
                f"(--{name[:3] if name == 'validation' else name}-fraction 0)."
            )
    return codes


def _split_by_series(windows: Windows, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """Whole series to train, validation and test (seeded), for panels of series too short to split in time."""
    ids = np.unique(windows.series)
    order = np.random.default_rng(seed).permutation(ids)
    n_val = max(1, int(round(len(ids) * val_fraction))) if val_fraction > 0 else 0
    n_test = max(1, int(round(len(ids) * test_fraction))) if test_fraction > 0 else 0
    n_val = min(n_val, len(ids) - 1 - n_test)
    code_of = np.full(int(ids.max()) + 1, TRAIN, dtype=np.int8)
    code_of[order[len(ids) - n_test - n_val : len(ids) - n_test]] = VAL
    code_of[order[len(ids) - n_test :]] = TEST
    return code_of[windows.series]


def split_stretches(frame: SeriesFrame, windows: Windows, codes: np.ndarray, code: int = TRAIN) -> list[np.ndarray]:
    """For each series, the steps its windows of split ``code`` cover, from the first to the last
    (L_i, F) float64: the training stretch a trend test reads."""
    out = []
    for k in np.unique(windows.series[codes == code]):
        starts = windows.start[(windows.series == k) & (codes == code)]
        out.append(frame.series[k][starts.min() : starts.max() + windows.window_length])
    return out


# ------------------------------------------------------------------ scaler


class SeriesScaler:
    """Per-feature scaling of (..., F) arrays, fitted on training windows only.

    ``method="standard"``: (x - mean) / sd (population sd); ``"minmax"``:
    (x - min) / (max - min), so training values land in [0, 1] (TimeGAN's
    normalization, Yoon et al. 2019) and held-out values may fall outside (no
    clipping, so ``inverse_transform`` is exact). Statistics pool every value of
    every training window, so a step covered by several overlapping windows counts
    several times. A constant feature gets scale 1.
    """

    def __init__(self, method: str = "standard"):
        if method not in SCALER_METHODS:
            raise ConfigError(f"method must be one of {list(SCALER_METHODS)}; got {method!r}.")
        self.method = method
        self.loc_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.features: tuple[str, ...] | None = None

    @property
    def is_fitted(self) -> bool:
        return self.loc_ is not None

    def fit(self, X: Windows | np.ndarray, split: np.ndarray | None = None) -> "SeriesScaler":
        """Fit on ``X`` (Windows or an (N, T, F) / (..., F) array).

        With ``split`` (the codes of :func:`split_windows`, one per window) only the
        training windows (code 0) are used; without it, all of ``X`` is, so pass
        training windows only.
        """
        if isinstance(X, Windows):
            self.features = X.features
            X = X.X
        X = np.asarray(X)
        if X.dtype.kind not in "biuf" or X.ndim < 1:
            raise DataError(f"SeriesScaler.fit expects a numeric (N, T, F) array; got dtype {X.dtype}, shape {X.shape}.")
        if split is not None:
            split = np.asarray(split)
            if split.shape != (X.shape[0],):
                raise DataError(f"split must hold one code per window: shape ({X.shape[0]},); got {split.shape}.")
            X = X[split == TRAIN]
        flat = X.reshape(-1, X.shape[-1]).astype(np.float64)
        if flat.shape[0] == 0:
            raise DataError("SeriesScaler.fit got no training values (no window has split code 0).")
        if not np.isfinite(flat).all():
            raise DataError("SeriesScaler.fit got NaN or infinite values; the windows must be finite.")
        if self.method == "standard":
            loc, scale = flat.mean(axis=0), flat.std(axis=0)
        else:
            loc = flat.min(axis=0)
            scale = flat.max(axis=0) - loc
        self.loc_ = loc
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def _check(self, X: Any, what: str) -> np.ndarray:
        if not self.is_fitted:
            raise NotFittedError(f"SeriesScaler.{what} needs a fitted scaler; call fit(training windows) first.")
        X = np.asarray(X)
        if X.dtype.kind not in "biuf" or X.ndim < 1 or X.shape[-1] != len(self.loc_):
            raise DataError(
                f"SeriesScaler.{what} expects numbers with {len(self.loc_)} feature(s) on the last axis; "
                f"got dtype {X.dtype}, shape {X.shape}."
            )
        return X

    @staticmethod
    def _dtype(X: np.ndarray):
        return X.dtype if X.dtype.kind == "f" else np.float64

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Scaled copy of X (..., F); float arrays keep their dtype."""
        X = self._check(X, "transform")
        return ((X - self.loc_) / self.scale_).astype(self._dtype(X), copy=False)

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """Back to data units: the inverse of :meth:`transform`."""
        X = self._check(X, "inverse_transform")
        return (X * self.scale_ + self.loc_).astype(self._dtype(X), copy=False)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-ready settings, float64 arrays ``loc`` and ``scale``) for the run directory."""
        if not self.is_fitted:
            raise NotFittedError("SeriesScaler.state needs a fitted scaler; call fit first.")
        meta = {
            "kind": _SCALER_KIND, "version": _SCALER_VERSION, "method": self.method,
            "n_features": int(len(self.loc_)), "features": None if self.features is None else list(self.features),
        }  # fmt: skip
        return meta, {"loc": self.loc_.copy(), "scale": self.scale_.copy()}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "SeriesScaler":
        """Rebuild a scaler from :meth:`state`'s output; a damaged state is a RunError."""
        try:
            if meta.get("kind") != _SCALER_KIND or meta.get("version") != _SCALER_VERSION:
                raise ValueError(f"kind/version {meta.get('kind')!r}/{meta.get('version')!r}, expected {_SCALER_KIND!r}/{_SCALER_VERSION}")
            scaler = cls(meta["method"])
            F = meta["n_features"]
            if isinstance(F, bool) or not isinstance(F, int) or F < 1:
                raise ValueError(f"n_features must be a positive integer, got {F!r}")
            loc = np.asarray(arrays["loc"], dtype=np.float64)
            scale = np.asarray(arrays["scale"], dtype=np.float64)
            if loc.shape != (F,) or scale.shape != (F,):
                raise ValueError(f"loc/scale have shapes {loc.shape}/{scale.shape}, expected ({F},)")
            if not (np.isfinite(loc).all() and np.isfinite(scale).all() and (scale > 0).all()):
                raise ValueError("loc/scale must be finite with scale > 0")
            features = meta.get("features")
            if features is not None and (not isinstance(features, list) or not all(isinstance(f, str) for f in features)):
                raise ValueError(f"features must be a list of names (strings), got {features!r}"[:200])
            if features is not None and len(features) != F:
                raise ValueError(f"{len(features)} feature names for {F} features")
        except (AttributeError, KeyError, TypeError, ValueError, ConfigError) as e:
            raise RunError(f"The stored SeriesScaler state is damaged ({type(e).__name__}: {e}); refit the scaler.") from None
        scaler.loc_, scaler.scale_ = loc.copy(), scale.copy()
        scaler.features = None if features is None else tuple(features)
        return scaler


# ------------------------------------------------------- conditional helpers


def split_past_future(X: Any, n_past: int) -> tuple[Any, Any]:
    """(past (N, n_past, F), future (N, T - n_past, F)): views of X (NumPy or torch).

    The conditional model reads ``past`` and generates ``future``.
    """
    shape = tuple(X.shape)
    if len(shape) != 3:
        raise DataError(f"split_past_future expects windows (N, T, F); got shape {shape}.")
    n_past = _positive_int(n_past, "n_past")
    if n_past >= shape[1]:
        raise ConfigError(f"n_past must be below the window length {shape[1]} so some future remains; got {n_past}.")
    return X[:, :n_past], X[:, n_past:]


def join_past_future(past: Any, future: Any) -> Any:
    """Whole windows (N, n_past + n_future, F) from their two parts (NumPy or torch)."""
    p, f = tuple(past.shape), tuple(future.shape)
    if len(p) != 3 or len(f) != 3 or p[0] != f[0] or p[2] != f[2]:
        raise DataError(
            f"join_past_future needs past (N, n_past, F) and future (N, n_future, F) with the same N and F; "
            f"got {p} and {f}."
        )
    if not isinstance(past, np.ndarray) or not isinstance(future, np.ndarray):
        import torch  # only when the caller works in tensors

        if isinstance(past, torch.Tensor) and isinstance(future, torch.Tensor):
            return torch.cat([past, future], dim=1)
    return np.concatenate([np.asarray(past), np.asarray(future)], axis=1)


# ---------------------------------------------------------------- examples


def make_sine_panel(n_series: int = 20, length: int = 200, n_features: int = 3, seed: int = 0, noise: float = 0.1) -> pd.DataFrame:
    """A panel of noisy sinusoids with known structure, for tests and docs.

    Series i, feature f: ``x[t] = sin(2*pi*frequency[i]*t + phase[i][f]) + noise*e``,
    e ~ N(0, 1), t = 0 .. length-1; frequency ~ U(1/50, 1/10) cycles per step (one
    per series, shared by its features), phase ~ U(0, 2*pi) per feature. Like
    TimeGAN's sine benchmark (Yoon et al. 2019), with a frequency per series.
    Columns: ``id`` (int), ``time`` (int), ``f0`` .. ``f{F-1}``; rows by id then
    time; ``df.attrs`` holds ``frequency``, ``phase`` and ``noise``.
    """
    for name, v in (("n_series", n_series), ("length", length), ("n_features", n_features)):
        _positive_int(v, name)
    if not noise >= 0:
        raise ConfigError(f"noise must be >= 0; got {noise!r}.")
    rng = np.random.default_rng(seed)
    frequency = rng.uniform(1 / 50, 1 / 10, size=n_series)
    phase = rng.uniform(0, 2 * np.pi, size=(n_series, n_features))
    t = np.arange(length, dtype=np.float64)
    clean = np.sin(2 * np.pi * frequency[:, None, None] * t[None, :, None] + phase[:, None, :])  # (S, L, F)
    values = clean + noise * rng.standard_normal(clean.shape)
    df = pd.DataFrame(values.reshape(-1, n_features), columns=[f"f{j}" for j in range(n_features)])
    df.insert(0, "time", np.tile(np.arange(length), n_series))
    df.insert(0, "id", np.repeat(np.arange(n_series), length))
    df.attrs.update(frequency=frequency.tolist(), phase=phase.tolist(), noise=float(noise))
    return df


def make_timegan_sines(n: int = 10_000, length: int = 24, n_features: int = 5, seed: int = 0) -> pd.DataFrame:
    """TimeGAN's sine benchmark (Yoon et al. 2019) as a panel: ``n`` sequences of ``length`` steps.

    Sequence i, feature f: ``x[t] = (sin(frequency * t + phase) + 1) / 2``, t = 0 .. length-1, with
    frequency ~ U(0, 0.1) and phase ~ U(0, 0.1) drawn per sequence and feature, so values lie in
    [0, 1] (the min-max range TimeGAN's scores assume). Columns ``id``, ``time``, ``f0`` ..
    ``f{F-1}``. Every sequence is one window: a series run splits such a panel by sequence
    (:func:`split_windows`).
    """
    for name, v in (("n", n), ("length", length), ("n_features", n_features)):
        _positive_int(v, name)
    rng = np.random.default_rng(seed)
    frequency = rng.uniform(0, 0.1, size=(n, 1, n_features))
    phase = rng.uniform(0, 0.1, size=(n, 1, n_features))
    t = np.arange(length, dtype=np.float64)[None, :, None]
    values = (np.sin(frequency * t + phase) + 1) / 2  # (n, length, F)
    df = pd.DataFrame(values.reshape(-1, n_features), columns=[f"f{j}" for j in range(n_features)])
    df.insert(0, "time", np.tile(np.arange(length), n))
    df.insert(0, "id", np.repeat(np.arange(n), length))
    return df


def load_bundled_series(name: str) -> pd.DataFrame:
    """A classic series shipped with statsmodels (no download), with a ``time`` column.

    - ``macrodata``: US quarterly macro data 1959-2009, 12 numeric columns; time is
      the first day of the quarter.
    - ``co2``: weekly Mauna Loa CO2 1958-2001, column ``co2``; it has missing weeks,
      so use ``prepare_series(df, time_column="time", fill="interpolate")``.
    - ``sunspots``: yearly sunspot activity 1700-2008, column ``SUNACTIVITY``.

    Use with ``prepare_series(df, time_column="time")``. Needs statsmodels
    (``pip install statsmodels``), which vaelab does not depend on.
    """
    if name not in BUNDLED:
        raise ConfigError(f"Unknown bundled series {name!r}; choose one of {list(BUNDLED)}{_close(name, BUNDLED)}.")
    try:
        from statsmodels import datasets  # optional: only these examples need statsmodels
    except ImportError:
        raise DataError(
            f"The bundled series {name!r} ships with statsmodels, which is not installed. "
            "Run `pip install statsmodels`, or use make_sine_panel() for a generated panel."
        ) from None
    if name == "macrodata":
        df = datasets.macrodata.load_pandas().data
        year, quarter = df["year"].astype(int), df["quarter"].astype(int)
        time = pd.to_datetime(pd.DataFrame({"year": year, "month": 3 * (quarter - 1) + 1, "day": 1}))
        df = df.drop(columns=["year", "quarter"])
    elif name == "co2":
        df = datasets.co2.load_pandas().data
        time = pd.Series(pd.to_datetime(df.index), index=df.index)
    else:
        df = datasets.sunspots.load_pandas().data
        time = df["YEAR"].astype(int)
        df = df.drop(columns=["YEAR"])
    df = df.reset_index(drop=True)
    df.insert(0, "time", time.to_numpy())
    return df
