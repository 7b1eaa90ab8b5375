"""The schema of a mixed-type table, for a tabular VAE (TVAE-style).

:func:`infer_schema` reads a :class:`pandas.DataFrame` and says, per column, what
kind it is (``numeric``, ``categorical``, ``boolean``, ``datetime``) plus the facts
needed to give values back in their original form (dtype, categories and their
order, integer-ness, range, missing share). The result is a :class:`TableSchema`
of :class:`ColumnSpec`; :meth:`TableSchema.to_dict` and :meth:`TableSchema.from_dict`
write it to and read it back from JSON, checking every field.

Read top-down: the checks shared with :mod:`vaelab.data.table_transformer`, the
schema itself and its describe table, reading a column's values (numbers, dates as
seconds, booleans as 0/1), then inference.
"""
from __future__ import annotations

import difflib
import math
import shlex
import warnings
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd

from vaelab.errors import ConfigError, DataError

__all__ = [
    "KINDS",
    "ColumnSpec",
    "TableSchema",
    "infer_schema",
]

KINDS = ("numeric", "categorical", "boolean", "datetime")
CATEGORY_TYPES = ("int", "float", "bool", "str")  # the types of object categories given back (ColumnSpec.category_types)
MAX_DECIMALS = 6  # numeric values with more decimals than this are not rounded back
NORMALIZATIONS = ("mode", "standard")

# Time units a datetime column is counted in: the coarsest one that divides every
# value seen (daily dates are counted in days). Counting in units keeps dates exact
# through float32, which holds only ~7 significant digits.
DATETIME_UNITS: dict[str, int] = {"D": 86400, "h": 3600, "min": 60, "s": 1}

ID_MIN_ROWS = 50  # a text column with one distinct value per row and more rows than this is an ID
DATETIME_MIN_PARSED = 0.95  # share of a text column that must parse for it to count as dates
SHOWN_CELLS = 3  # cells quoted when a column of numbers holds text in a few of them
JUNK_MIN_NUMBERS = 20  # more distinct numbers than this beside a minority of text cells: numbers with junk, not codes

_SCHEMA_FORMAT = "vaelab.TableSchema"
TABLE_FORMAT_VERSION = 1  # of the schema's and the transformer's JSON
_TEXT_NUMBER_KINDS = ("integer", "floating", "mixed-integer-float", "decimal")


# ----------------------------------------------------------------------- checks


# The settings a schema's problems name (``ignore=['id']``): DataError.setting, which the CLI says as the flags typed.
SCHEMA_SETTINGS = ("ignore", "categorical", "missing_values")


class ColumnProblem(Exception):
    """A column that cannot be modelled. infer_schema and fit collect these to report all at once;
    transform turns one into a DataError. Never escapes the table modules (this one and
    vaelab.data.table_transformer)."""


def check_version(version: Any, where: str) -> None:
    """ConfigError unless ``version`` is the table format version this vaelab reads."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise ConfigError(f"{where}: 'version' must be an integer; got {version!r}.")
    if version != TABLE_FORMAT_VERSION:
        raise ConfigError(f"{where} is format version {version}; this vaelab reads version {TABLE_FORMAT_VERSION}.")


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings; got {value!r:.80}.")
    return value


def is_real(v: Any) -> bool:
    """Whether ``v`` is a plain number (an int or float, not a bool), as read from JSON."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_dtype_text(text: Any, where: str) -> None:
    if not isinstance(text, str):
        raise ConfigError(f"{where} must be a pandas dtype name such as 'int64' or 'category'; got {text!r}.")
    try:
        pd.api.types.pandas_dtype(text)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {text!r} is not a pandas dtype this pandas knows ({err}).") from None


def _check_names(names: Iterable[str], real: tuple[str, ...], what: str) -> None:
    unknown = [n for n in names if n not in real]
    if unknown:
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(str(n), [str(r) for r in real], n=1)
            if close:
                hints.append(f"{n!r} -> did you mean {close[0]!r}?")
        hint = (" " + " ".join(hints)) if hints else ""
        raise ConfigError(
            f"{what} names column(s) {unknown} that the table does not have; its columns are {list(real)}.{hint}"
        )


def check_frame(df: Any) -> None:
    """DataError unless ``df`` is a non-empty DataFrame whose column names are distinct strings."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"Expected a pandas DataFrame; got {type(df).__name__}. Wrap arrays with pd.DataFrame(...).")
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise DataError(
            f"The table is empty ({df.shape[0]} rows x {df.shape[1]} columns); "
            "expected at least one row and one column."
        )
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        raise DataError(
            f"Column names must be strings; got {bad[:5]!r}. Rename them, e.g. df.columns = df.columns.astype(str)."
        )
    if not df.columns.is_unique:
        dup = sorted(set(df.columns[df.columns.duplicated()]))
        raise DataError(f"Column names must be distinct; {dup} appear more than once.")


# ======================================================================= schema


@dataclass(frozen=True)
class ColumnSpec:
    """What one column is, and what it takes to give its values back unchanged.

    Attributes
    ----------
    name : str
        The column name.
    kind : str
        One of ``numeric``, ``categorical``, ``boolean``, ``datetime``.
    dtype : str
        The original pandas dtype as text (``str(series.dtype)``), e.g. ``"int64"``,
        ``"category"``, ``"object"``, ``"str"``, ``"boolean"``, ``"datetime64[ns]"``.
    categories : tuple of str or None
        Categorical only: the category labels (``str`` of each value) in a stable
        order: a pandas Categorical's own order, else sorted (numerically for
        numeric columns). ``None`` for other kinds (and for a kind set by
        :meth:`TableSchema.override` until the transformer is fitted).
    ordered : bool
        Whether a pandas Categorical was ordered.
    has_missing : bool
        Whether the column has missing values; such a column gets a missing flag.
    missing_share : float
        Share of missing values in the data the schema was inferred on.
    integer : bool
        Numeric only: every value seen was a whole number; decoded values are rounded.
    min, max : float or None
        Numeric: the range seen; datetime: the range in seconds since 1970-01-01 UTC.
        Decoded values are clipped to it.
    category_dtype : str or None
        Categorical only: the dtype of the category values (``"int64"`` for integer
        codes, ``"str"``/``"object"`` for text) used to turn labels back into values.
    datetime_unit : str or None
        Datetime only: ``"D"``, ``"h"``, ``"min"`` or ``"s"``, the coarsest unit that
        divides every time seen; the column is modelled as a count of these units.
    datetime_format : str or None
        Datetime held as text only: the strftime format it was parsed with (and is
        written back with).
    object_missing : str or None
        Object-dtype columns with missing values only: ``"None"`` if every missing
        entry was ``None``, else ``"nan"``; decoded missing entries are written so.
    decimals : int or None
        Numeric, non-integer columns whose values all have at most 6 decimals: that
        number; decoded values are rounded to it, as the data was (a survey's ages in
        half years come back as 17.5 or 22.0, not 21.99). None: no rounding.
    category_types : tuple of str or None
        Categorical columns of ``object`` values only, where some are not text: per
        category, the type its value had (``"int"``, ``"float"``, ``"bool"`` or
        ``"str"``), so that a column holding 1 and "two" gives back 1, not "1". None:
        every category is given back as ``category_dtype`` says.
    """

    name: str
    kind: str
    dtype: str
    categories: tuple[str, ...] | None = None
    ordered: bool = False
    has_missing: bool = False
    missing_share: float = 0.0
    integer: bool = False
    min: float | None = None
    max: float | None = None
    category_dtype: str | None = None
    datetime_unit: str | None = None
    datetime_format: str | None = None
    object_missing: str | None = None
    decimals: int | None = None  # numeric, not integer: every value seen had at most this many decimals
    category_types: tuple[str, ...] | None = None  # object categories that were not all text: each one's type

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"Column {self.name!r}: kind must be one of {KINDS}; got {self.kind!r}.")
        if self.categories is not None and not isinstance(self.categories, tuple):
            object.__setattr__(self, "categories", tuple(self.categories))
        if self.category_types is not None and not isinstance(self.category_types, tuple):
            object.__setattr__(self, "category_types", tuple(self.category_types))

    @property
    def complete(self) -> bool:
        """Whether the data-derived facts this kind needs are known (False after a kind override)."""
        if self.kind == "categorical":
            return self.categories is not None and self.category_dtype is not None
        if self.kind == "numeric":
            return self.min is not None and self.max is not None
        if self.kind == "datetime":
            return self.min is not None and self.max is not None and self.datetime_unit is not None
        return True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["categories"] = None if self.categories is None else list(self.categories)
        d["category_types"] = None if self.category_types is None else list(self.category_types)
        return d


def _column_from_dict(d: Any, where: str) -> ColumnSpec:
    if not isinstance(d, dict):
        raise ConfigError(f"{where} must be an object with name, kind, dtype, ...; got {type(d).__name__}.")
    known = {f.name for f in fields(ColumnSpec)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {unknown}; known keys: {sorted(known)}.")
    for key in ("name", "kind", "dtype"):
        if key not in d:
            raise ConfigError(f"{where} lacks the required key {key!r}.")
    name = d["name"]
    if not isinstance(name, str):
        raise ConfigError(f"{where}: 'name' must be a string; got {name!r}.")
    where = f"{where} ({name!r})"
    kind = d["kind"]
    if kind not in KINDS:
        raise ConfigError(f"{where}: 'kind' must be one of {KINDS}; got {kind!r}.")
    _check_dtype_text(d["dtype"], f"{where} 'dtype'")
    out: dict[str, Any] = {"name": name, "kind": kind, "dtype": d["dtype"]}
    for key in ("ordered", "has_missing", "integer"):
        if key in d:
            if not isinstance(d[key], bool):
                raise ConfigError(f"{where}: {key!r} must be true or false; got {d[key]!r}.")
            out[key] = d[key]
    if "missing_share" in d:
        v = d["missing_share"]
        if not is_real(v) or not 0.0 <= v <= 1.0:
            raise ConfigError(f"{where}: 'missing_share' must be a number in [0, 1]; got {v!r}.")
        out["missing_share"] = float(v)
    for key in ("min", "max"):
        v = d.get(key)
        if v is not None and (not is_real(v) or not math.isfinite(v)):
            raise ConfigError(f"{where}: {key!r} must be a finite number or null; got {v!r}.")
        out[key] = None if v is None else float(v)
    if out["min"] is not None and out["max"] is not None and out["min"] > out["max"]:
        raise ConfigError(f"{where}: 'min' ({out['min']}) is larger than 'max' ({out['max']}).")
    cats = d.get("categories")
    if cats is not None:
        if not isinstance(cats, list) or not cats or not all(isinstance(c, str) for c in cats):
            raise ConfigError(f"{where}: 'categories' must be a non-empty list of strings or null; got {cats!r:.80}.")
        if len(set(cats)) != len(cats):
            raise ConfigError(f"{where}: 'categories' must be distinct; {cats!r:.80} repeats some.")
        out["categories"] = tuple(cats)
    if d.get("category_dtype") is not None:
        _check_dtype_text(d["category_dtype"], f"{where} 'category_dtype'")
        out["category_dtype"] = d["category_dtype"]
    unit = d.get("datetime_unit")
    if unit is not None and unit not in DATETIME_UNITS:
        raise ConfigError(f"{where}: 'datetime_unit' must be one of {list(DATETIME_UNITS)} or null; got {unit!r}.")
    out["datetime_unit"] = unit
    fmt = d.get("datetime_format")
    if fmt is not None and not isinstance(fmt, str):
        raise ConfigError(f"{where}: 'datetime_format' must be a strftime string or null; got {fmt!r}.")
    out["datetime_format"] = fmt
    dec = d.get("decimals")
    if dec is not None and (isinstance(dec, bool) or not isinstance(dec, int) or not 0 <= dec <= MAX_DECIMALS):
        raise ConfigError(f"{where}: 'decimals' must be an integer in 0..{MAX_DECIMALS} or null; got {dec!r}.")
    if dec is not None and kind != "numeric":
        raise ConfigError(f"{where}: only numeric columns have 'decimals'; this one is {kind}.")
    out["decimals"] = dec
    na = d.get("object_missing")
    if na not in (None, "None", "nan"):
        raise ConfigError(f"{where}: 'object_missing' must be \"None\", \"nan\" or null; got {na!r}.")
    out["object_missing"] = na
    if kind != "categorical" and out.get("categories") is not None:
        raise ConfigError(f"{where}: only categorical columns have 'categories'; this one is {kind}.")
    if kind == "categorical" and (out.get("categories") is None) != (out.get("category_dtype") is None):
        raise ConfigError(f"{where}: 'categories' and 'category_dtype' must be given together (or both null).")
    types = d.get("category_types")
    if types is not None:
        if (not isinstance(types, list) or not all(t in CATEGORY_TYPES for t in types)
                or len(types) != len(out.get("categories") or ())):  # fmt: skip
            raise ConfigError(f"{where}: 'category_types' must be null or a list of {list(CATEGORY_TYPES)}, one per "
                              f"category; got {types!r:.80}.")  # fmt: skip
        out["category_types"] = tuple(types)
    return ColumnSpec(**out)


# ------------------------------------------------------------------- describing


def missing_text(c: ColumnSpec) -> str:
    """The describe table's missing cell: the missing share in percent, or "-" if none."""
    return f"{100 * c.missing_share:.1f}%" if c.has_missing else "-"


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def detail_text(c: ColumnSpec) -> str:
    """The describe table's details cell: the categories or range, or what is read at fit."""
    if c.kind == "categorical":
        if c.categories is None:
            return "categories read at fit"
        return f"{len(c.categories)} {'category' if len(c.categories) == 1 else 'categories'}" + (" (ordered)" if c.ordered else "")
    if c.kind == "numeric":
        if c.min is None:
            return "range read at fit"
        return ("integer " if c.integer else "") + f"{_fmt(c.min)} .. {_fmt(c.max)}"
    if c.kind == "datetime":
        if c.min is None:
            return "range read at fit"
        lo, hi = (instant_text(v, c) for v in (c.min, c.max))
        return f"{lo} .. {hi}, unit {c.datetime_unit}" + (f", text {c.datetime_format}" if c.datetime_format else "")
    return ""


def instant(seconds: float, c: ColumnSpec) -> pd.Timestamp:
    """A datetime column's value in seconds since 1970 UTC (:func:`datetime_seconds`) as the column shows it: in its own
    time zone, in UTC for text with offsets, else naive (an audit: Oslo's 2021-01-01 00:03 read "2020-12-31 23:03:41")."""
    t = pd.Timestamp(int(seconds), unit="s")
    tz = getattr(pd.api.types.pandas_dtype(c.dtype), "tz", None)
    if tz is not None:
        return t.tz_localize("UTC").tz_convert(tz)
    return t.tz_localize("UTC") if c.datetime_format is not None and "%z" in c.datetime_format else t


def own_format(c: ColumnSpec) -> str | None:
    """The text format a datetime column's times are shown in: the column's own where the schema stores one for naive
    text that writes no day (a month column's '%Y-%m', a year's '%Y': its range and fixed values read '2020-01', not the
    day '2020-01-01 00:00:00', an audit), else None (shown as :func:`instant` shows them: a dd/mm/YYYY column's days
    in ISO, which no reader takes for mm/dd)."""
    fmt = c.datetime_format
    if fmt is None or "%z" in fmt or getattr(pd.api.types.pandas_dtype(c.dtype), "tz", None) is not None:
        return None
    return None if any(d in fmt for d in _DAY_DIRECTIVES) else fmt


_DAY_DIRECTIVES = ("%d", "%-d", "%e", "%j", "%-j", "%a", "%A", "%w", "%u", "%H", "%I", "%M", "%S", "%c", "%x", "%F")


def instant_text(seconds: float, c: ColumnSpec) -> str:
    """A datetime column's value in seconds (:func:`datetime_seconds`) as text: in the column's own format
    (:func:`own_format`); a daily column's naive or UTC day as the ISO date its generated values and fixed values are
    written as (an audit, s15: a dd/mm/YYYY column's range and out-of-range reasons read '2035-01-01 00:00:00');
    else as :func:`instant` shows it."""
    fmt = own_format(c)
    if fmt is not None:
        return pd.Timestamp(int(seconds), unit="s").strftime(fmt)
    t = instant(seconds, c)
    return t.strftime("%Y-%m-%d") if c.datetime_unit == "D" and (t.tz is None or str(t.tz) == "UTC") else str(t)


def encoding_text(c: ColumnSpec, normalization: str, codec: dict[str, Any] | None) -> str:
    """The describe table's encoding cell; a fitted column's ``codec`` gives its number of modes."""
    if c.kind == "categorical":
        text = f"one-hot ({len(c.categories)})" if c.categories is not None else "one-hot"
    elif c.kind == "boolean":
        text = "0/1"
    elif normalization == "standard":
        text = "standardized scalar"
    else:
        k = f"{len(codec['means'])}" if codec is not None else "<=10"
        text = f"alpha + mode one-hot ({k})"
    return text + (" + missing flag" if c.has_missing else "")


def render_table(rows: list[tuple[str, ...]], notes: tuple[str, ...], ignored: tuple[str, ...]) -> str:
    """The describe table: header, rule, one row per column, then the ignored columns and the notes."""
    header = ("column", "kind", "dtype", "missing", "details", "encoding")
    table = [header] + [tuple(str(v) for v in r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if ignored:
        lines.append(f"ignored: {', '.join(ignored)}")
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


@dataclass(frozen=True)
class TableSchema:
    """The columns of a table, in order, with their kinds (see :class:`ColumnSpec`).

    ``notes`` are remarks made while inferring (e.g. text dates that did not parse);
    ``ignored`` the columns left out on request.
    """

    columns: tuple[ColumnSpec, ...]
    notes: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "ignored", tuple(self.ignored))
        names = [c.name for c in self.columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"A table schema needs distinct column names; {dup} appear more than once.")

    # ---------------------------------------------------------------- access
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def kinds(self) -> dict[str, str]:
        """Column name -> kind, in column order."""
        return {c.name: c.kind for c in self.columns}

    def __getitem__(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __iter__(self) -> Iterator[ColumnSpec]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    # --------------------------------------------------------------- changes
    def override(self, **kinds: str) -> "TableSchema":
        """A copy with the given columns' kinds changed, e.g. ``schema.override(region="categorical")``."""
        return self.with_kinds(kinds)

    def with_kinds(self, kinds: Mapping[str, str]) -> "TableSchema":
        """A copy with the kinds in ``kinds`` (name -> kind) changed.

        A column whose kind changes keeps its name, dtype and missingness; its
        kind-specific facts (categories, range, ...) are re-read from the data when a
        :class:`TableTransformer` is fitted with this schema.
        """
        if not isinstance(kinds, Mapping):
            raise ConfigError(f"with_kinds expects a mapping column -> kind; got {type(kinds).__name__}.")
        _check_names(kinds, self.names, "schema override")
        bad = {n: k for n, k in kinds.items() if k not in KINDS}
        if bad:
            raise ConfigError(f"Unknown kind(s) {bad}; a column kind is one of {KINDS}.")
        cols = []
        for c in self.columns:
            kind = kinds.get(c.name, c.kind)
            if kind == c.kind:
                cols.append(c)
            else:
                cols.append(ColumnSpec(c.name, kind, c.dtype, has_missing=c.has_missing, missing_share=c.missing_share))
        return TableSchema(tuple(cols), self.notes, self.ignored)

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; :meth:`from_dict` reads it back."""
        return {
            "format": _SCHEMA_FORMAT,
            "version": TABLE_FORMAT_VERSION,
            "columns": [c.to_dict() for c in self.columns],
            "notes": list(self.notes),
            "ignored": list(self.ignored),
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "table schema") -> "TableSchema":
        """Rebuild a schema from :meth:`to_dict`'s output, checking every field.

        Raises
        ------
        ConfigError
            If a field is missing, unknown or of the wrong type or value.
        """
        if not isinstance(d, dict):
            raise ConfigError(f"{where} must be a JSON object (dict); got {type(d).__name__}.")
        if d.get("format") != _SCHEMA_FORMAT:
            raise ConfigError(
                f"{where}: 'format' must be {_SCHEMA_FORMAT!r}; got {d.get('format')!r}. Is this a table schema?"
            )
        check_version(d.get("version"), where)
        unknown = sorted(set(d) - {"format", "version", "columns", "notes", "ignored"})
        if unknown:
            raise ConfigError(f"{where} has unknown key(s) {unknown}.")
        cols = d.get("columns")
        if not isinstance(cols, list) or not cols:
            raise ConfigError(f"{where}: 'columns' must be a non-empty list of column objects; got {cols!r:.80}.")
        columns = tuple(_column_from_dict(c, f"{where} column {i}") for i, c in enumerate(cols))
        notes = _str_list(d.get("notes", []), f"{where} 'notes'")
        ignored = _str_list(d.get("ignored", []), f"{where} 'ignored'")
        return cls(columns, tuple(notes), tuple(ignored))

    # ------------------------------------------------------------- describe
    def describe(self, normalization: str = "mode") -> str:
        """A readable table: column, kind, dtype, missing share, details, encoding."""
        if normalization not in NORMALIZATIONS:
            raise ConfigError(f"normalization must be one of {NORMALIZATIONS}; got {normalization!r}.")
        rows = [(c.name, c.kind, c.dtype, missing_text(c), detail_text(c), encoding_text(c, normalization, None))
                for c in self.columns]
        return render_table(rows, self.notes, self.ignored)


# ======================================================== reading column values


def numeric_values(s: pd.Series, name: str) -> np.ndarray:
    """float64 values, NaN where missing; ColumnProblem for text, complex numbers or infinities."""
    if pd.api.types.is_complex_dtype(s.dtype):  # float64 would keep the real parts and drop the rest (an audit)
        raise ColumnProblem(f"column {name!r} holds complex numbers ({s.dtype}); a table's numbers are real: split it "
                            f"into two columns, e.g. df['{name}_re'] = df[{name!r}].to_numpy().real and "
                            f"df['{name}_im'] = df[{name!r}].to_numpy().imag")  # fmt: skip
    if pd.api.types.is_bool_dtype(s.dtype) or (
        pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype)
    ):
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_datetime64_any_dtype(s.dtype):
        raise ColumnProblem(f"column {name!r} holds dates ({s.dtype}); it must be numeric. Declare it datetime instead")
    else:
        x, bad = _text_numbers(s)
        if bad.size:
            raise ColumnProblem(_not_numbers_text(name, s, bad) + "; declare it categorical if its values are labels"
                                if 2 * bad.size < int(s.notna().sum()) else
                                f"column {name!r} must hold numbers but row {int(bad[0])} holds text that is not a "
                                f"number ({bad.size} such rows); declare it categorical instead")  # fmt: skip
    if np.isinf(x).any():
        row = int(np.flatnonzero(np.isinf(x))[0])
        raise ColumnProblem(f"column {name!r} holds an infinite value at row {row}; replace infinities by NaN "
                            "(treated as missing) or drop those rows")
    return x


def _text_numbers(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values of a text column, NaN where missing or not a number; rows of its cells that are not numbers)."""
    numbers = pd.to_numeric(pd.Series(np.asarray(s, dtype=object)), errors="coerce")
    x = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    return x, np.flatnonzero(np.isnan(x) & s.notna().to_numpy())


def _not_numbers_text(name: str, s: pd.Series, bad: np.ndarray) -> str:
    """What to say of a column of numbers with text in a minority of its cells (rows ``bad``): which rows, what
    they hold (the first few: such cells are markers such as '?' or 'n.a.', rarely private), what to do."""
    values = np.asarray(s, dtype=object)
    shown = ", ".join(f"row {int(i)}: {str(values[i])[:20]!r}" for i in bad[:SHOWN_CELLS])
    more = f", and {bad.size - SHOWN_CELLS} more" if bad.size > SHOWN_CELLS else ""
    return (f"column {name!r} holds numbers except in {bad.size} of its {int(s.notna().sum())} filled rows "
            f"({shown}{more}); to model it as numeric, read those cells as missing "
            f"(missing_values={_marker_list(values[bad])}) or make them empty (pandas reads empty cells, 'NA', 'n/a' "
            "and 'null' as missing)")


# The texts pandas writes for a missing value when a column is turned into text (df[c].astype(str): NaN 'nan', None
# 'None', pd.NA '<NA>', NaT 'NaT'): cells of a Parquet file or a DataFrame that are categories, not missing values.
MISSING_AS_TEXT = ("nan", "NaN", "None", "<NA>", "NaT")


def _missing_as_text(s: pd.Series, spec: ColumnSpec) -> str:
    """A note where a categorical column of text holds :data:`MISSING_AS_TEXT` as categories ("" where it holds none):
    a Parquet file's text cells and a DataFrame's are values, so the slip df[c].astype(str) trains 'nan' as a category
    (an audit, s15: the schema showed it among the others without a word)."""
    found = [t for t in MISSING_AS_TEXT if t in (spec.categories or ())]
    if not found:
        return ""
    counts = ", ".join(f"{t!r} ({int((s == t).sum())} cells)" for t in found)
    return (f"column {spec.name!r} holds {counts} as categories, the text pandas' astype(str) writes for a missing "
            f"value; if they are missing values, read them so (missing_values={found!r} in Python, --missing-values "
            f"{' '.join(shlex.quote(t) for t in found)} on the command line)")


def _marker_list(cells: np.ndarray) -> str:
    """The distinct texts of the cells as a Python list (the first few), TableVAE's missing_values, which the CLI says
    as --missing-values (DataError.setting; an audit, s15: the advice named pandas' na_values and the CLI flag to
    every caller, as TableVAE took no missing_values)."""
    texts = list(dict.fromkeys(str(c) for c in cells))
    shown = repr(texts[:SHOWN_CELLS])
    return shown[:-1] + ", ...]" if len(texts) > SHOWN_CELLS else shown


def parse_text_dates(text: pd.Series, fmt: str) -> pd.Series:
    """Text in one date format as datetimes, NaT where a cell does not parse; a format with an offset (%z) is read
    in UTC, so cells with different offsets ("+01:00" in winter, "+02:00" in summer) make one column."""
    return pd.to_datetime(text, format=fmt, errors="coerce", utc="%z" in fmt)


def datetime_seconds(s: pd.Series, name: str, fmt: str | None) -> np.ndarray:
    """Seconds since 1970-01-01 UTC as float64 (whole seconds), NaN where missing or unparsed."""
    if s.isna().all():  # an all-empty column reads as float64 NaN: missing dates, not numbers
        return np.full(len(s), np.nan)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        t = s
    elif pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        raise ColumnProblem(f"column {name!r} holds numbers ({s.dtype}), not dates; convert them first, e.g. "
                            f"pd.to_datetime(df[{name!r}], unit='s') for seconds since 1970")
    elif fmt is not None:
        t = parse_text_dates(pd.Series(np.asarray(s, dtype=object)), fmt)
    else:
        try:
            with warnings.catch_warnings():  # "could not infer format": cells that are not dates are flagged below
                warnings.simplefilter("ignore", UserWarning)
                # utc=True: text with offsets is read as instants in UTC, as parse_text_dates reads it (a tz-aware
                # column written to CSV holds "+01:00" in winter and "+02:00" in summer); naive text stays as written.
                t = pd.to_datetime(pd.Series(np.asarray(s, dtype=object)), errors="coerce", utc=True)
        except (TypeError, ValueError) as err:
            raise ColumnProblem(f"column {name!r} cannot be read as dates ({err}); convert it with pd.to_datetime first")
        if not pd.api.types.is_datetime64_any_dtype(t.dtype):
            raise ColumnProblem(f"column {name!r} mixes time zones or holds non-dates; convert it with "
                                "pd.to_datetime(..., utc=True) first")
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    missing = t.isna().to_numpy()
    ints = t.to_numpy(dtype="datetime64[s]").astype(np.int64)  # whole seconds (sub-second parts are dropped)
    out = ints.astype(np.float64)
    out[missing] = np.nan
    return out


def dates_as_datetimes(df: pd.DataFrame, specs: Iterable[ColumnSpec]) -> pd.DataFrame:
    """``df`` with each datetime column of ``specs`` as datetime64 (UTC, naive; NaT where missing or unparsed),
    read with the column's stored text format: what compares real and synthetic dates. Parsed without it, day-first
    text ("25/07/2021") was read month-first from its first ambiguous value, and comparisons failed."""
    out = df.copy()
    for spec in specs:
        if spec.kind == "datetime" and spec.name in out.columns:
            secs = datetime_seconds(out[spec.name], spec.name, spec.datetime_format)
            out[spec.name] = pd.Series(pd.to_datetime(secs, unit="s"), index=out.index)  # NaN: NaT
    return out


PANDAS_INDEX = "Unnamed: 0"  # what pandas calls a CSV's first column under an empty header name


def written_index(df: pd.DataFrame) -> str | None:
    """The name of the first column when it is the row index ``DataFrame.to_csv()`` writes (an empty header name,
    which pandas reads back as 'Unnamed: 0', over distinct whole numbers: 0, 1, 2, ... or a shuffled frame's), else
    None. Taken as a numeric column, it was modelled as data, and a series run took it as a feature with a perfect
    trend (an audit)."""
    if len(df.columns) < 2 or df.columns[0] != PANDAS_INDEX:
        return None
    s = df.iloc[:, 0]
    if not pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype) or not s.is_unique:
        return None
    return PANDAS_INDEX


def unmodelled_columns(df: pd.DataFrame, modelled: Iterable[str], ignored: Iterable[str]) -> list[str]:
    """The columns of new rows ``df`` that a table model neither models (``modelled``: its columns, condition columns
    included) nor was told to leave out (``ignored``): not scored, so said."""
    known = {*modelled, *ignored}
    return [str(c) for c in df.columns if c not in known]


def category_values(categories: Iterable[str], category_dtype: str, types: Iterable[str] | None = None) -> pd.Index:
    """Category labels (``str`` of each value) turned back into values of ``category_dtype`` (of object categories,
    each of its type in ``types``: :attr:`ColumnSpec.category_types`); TypeError or ValueError where the labels do
    not read back as such values."""
    labels = pd.Series(list(categories), dtype=object)
    dtype = pd.api.types.pandas_dtype(category_dtype)
    if types is not None:
        read = {"int": int, "float": float, "bool": lambda v: v == "True", "str": str}
        return pd.Index([read[t](v) for v, t in zip(labels, types)], dtype=object)
    if pd.api.types.is_bool_dtype(dtype):
        values = labels.map({"True": True, "False": False}).astype(dtype)
    elif pd.api.types.is_numeric_dtype(dtype):
        values = pd.to_numeric(labels).astype(dtype)
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        values = pd.to_datetime(labels).astype(dtype)
    else:
        values = labels.astype(dtype)
    return pd.Index(values)


# The texts of a boolean cell (any case) in rows read for a boolean column: those --given takes (table_transformer's
# _TRUE and _FALSE; an audit: a scored file's 'yes'/'no' cells were "not a boolean value" though --given member=yes
# was taken). A column declared boolean takes no yes/no (bool_values' words): they would come back True/False.
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def bool_values(s: pd.Series, name: str, words: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(0/1 float64, missing mask); ColumnProblem unless values are True/False, yes/no or 0/1. ``words`` False: not
    yes/no, as a column is declared boolean (its rows are written back True/False, and would lose the spelling)."""
    missing = s.isna().to_numpy()
    if pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype):
        from vaelab.data.sources import PANDAS_MISSING  # here: sources reads files, this module does not

        # pandas' missing spellings ('NA', '') in a boolean column are missing, as a CSV's are and as a Parquet file's
        # column of 'True'/'False'/'NA' reads whole (an audit, s15: a file of one such row scored 'NA' as "not a boolean
        # value", the whole file as missing: a row's score hung on its neighbours)
        missing = missing | s.isin(PANDAS_MISSING).to_numpy()
    if pd.api.types.is_bool_dtype(s.dtype):
        # na_value False, of the column's own type: pyarrow's bool[pyarrow] refused the float 0.0 (an audit, s15: a
        # traceback for a DataFrame read with dtype_backend="pyarrow" that has a missing boolean)
        return s.to_numpy(dtype=object, na_value=False).astype(np.float64), missing
    values = np.asarray(s, dtype=object)[~missing]
    # Text "True"/"False", "yes"/"no" (any case) and "1"/"0": what a CSV column of booleans holds once one bad cell
    # makes pandas read it as text; judged one by one they were all refused, and a new row's bad cell flagged every row.
    texts = _BOOL_TEXT if words else {k: v for k, v in _BOOL_TEXT.items() if k not in ("yes", "no")}
    values = np.array([texts.get(v.strip().lower(), v) if isinstance(v, str) else v for v in values], dtype=object)
    out = np.zeros(len(s), dtype=np.float64)
    try:
        as_float = np.array([float(v) for v in values], dtype=np.float64) if values.size else np.zeros(0)
        ok = np.isin(as_float, (0.0, 1.0)) & np.array([isinstance(v, (bool, np.bool_, int, float, np.number))
                                                        for v in values], dtype=bool)
    except (TypeError, ValueError):
        ok = np.zeros(values.size, dtype=bool)
        as_float = np.zeros(values.size)
    if not ok.all():
        bad = values[~ok][:5]
        raise ColumnProblem(f"column {name!r} was taken as boolean but holds {list(bad)!r}; "
                            f"expected True/False{', yes/no' if words else ''} or 0/1. Declare it categorical instead")
    out[~missing] = as_float
    return out, missing


# ==================================================================== inference


def _category_types(values: Iterable[Any], labels: Iterable[str]) -> tuple[str, ...] | None:
    """:attr:`ColumnSpec.category_types` of object ``values`` with category ``labels``: each label's type, or None
    where every value is text."""
    types = _value_types(values)
    return tuple(types[c] for c in labels) if set(types.values()) != {"str"} else None


def _value_types(values: Iterable[Any]) -> dict[str, str]:
    """Label -> the type its value had (:data:`CATEGORY_TYPES`), for object values: bools, whole numbers and other
    numbers are given back as such, anything else as its text."""
    out: dict[str, str] = {}
    for v in values:
        t = ("bool" if isinstance(v, (bool, np.bool_)) else "int" if isinstance(v, (int, np.integer))
             else "float" if isinstance(v, (float, np.floating)) else "str")  # fmt: skip
        out.setdefault(str(v), t)
    return out


def _check_some_present(name: str, missing: np.ndarray) -> None:
    if missing.all():
        raise ColumnProblem(
            f"column {name!r} is entirely missing ({missing.size} rows); drop it or pass ignore=[{name!r}]"
        )


def _decimals(present: np.ndarray) -> int | None:
    """The fewest decimals (0..MAX_DECIMALS) that every value has, or None (more, or not decimal numbers)."""
    for d in range(MAX_DECIMALS + 1):
        rounded = np.round(present, d)
        # A value rounding to 0 keeps no digit: 1e-300 is not a number with d decimals (it was written back as 0.0)
        if np.allclose(rounded, present, rtol=0, atol=1e-9 * max(1.0, float(np.abs(present).max()))) \
                and not np.any((rounded == 0) & (present != 0)):
            return d
    return None


def guess_format(text: str, dayfirst: bool) -> str | None:
    """pandas' guess of the strftime format one date text is written in, or None."""
    try:
        from pandas.tseries.api import guess_datetime_format  # pandas >= 2.2
    except ImportError:  # pragma: no cover - older pandas
        from pandas._libs.tslibs.parsing import guess_datetime_format
    try:
        with warnings.catch_warnings():  # pandas warns when a guess contradicts `dayfirst`; both are tried
            warnings.simplefilter("ignore", UserWarning)
            return guess_datetime_format(text, dayfirst=dayfirst)
    except (ValueError, TypeError):  # pragma: no cover - defensive
        return None


def _text_datetime_format(present: pd.Series) -> str | None:
    """The one date format a text column is written in, or None if it is not dates.

    Candidate formats are guessed from the first 20 distinct values, day-first and
    month-first (``03/04/2021`` is ambiguous); the one that parses most values wins,
    if it parses at least 95 % of them.
    """
    values = pd.unique(np.asarray(present, dtype=object))
    if values.size == 0 or not all(isinstance(v, str) for v in values[:1000]):
        return None
    sample = pd.Series(values[:1000], dtype=object)
    if pd.to_numeric(sample, errors="coerce").notna().any():
        return None  # plain numbers ("2021", "20210304") are numbers, not dates
    candidates: list[str] = []
    for v in sample.iloc[:20]:
        for dayfirst in (False, True):
            fmt = guess_format(str(v).strip(), dayfirst)
            # Offsets ("+01:00", "Z") are read, the times converted to UTC (datetime_seconds) and written back in UTC
            # with a "+0000" offset; zone names ("CET") are left out: pandas reads few of them.
            if fmt is not None and "%Z" not in fmt and fmt not in candidates:
                candidates.append(fmt)
    best, best_share = None, 0.0
    for fmt in candidates:
        share = parse_text_dates(sample, fmt).notna().mean()
        if share > best_share:
            best, best_share = fmt, share
    if best is None or best_share < DATETIME_MIN_PARSED:
        return None
    full = parse_text_dates(pd.Series(values, dtype=object), best)
    return best if full.notna().mean() >= DATETIME_MIN_PARSED else None


def _infer_kind(s: pd.Series, max_integer_categories: int) -> str:
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_integer_dtype(dtype) and 0 < s.nunique() <= max_integer_categories:
            return "categorical"
        return "numeric"
    present = s.dropna()
    inferred = pd.api.types.infer_dtype(present, skipna=True)
    if inferred == "boolean":
        return "boolean"
    if inferred in _TEXT_NUMBER_KINDS:
        return "numeric"
    if inferred in ("datetime", "datetime64", "date"):
        return "datetime"
    if inferred == "string" and _text_datetime_format(present) is not None:
        return "datetime"
    return "categorical"


def column_spec(name: str, s: pd.Series, kind: str) -> tuple[ColumnSpec, str | None]:
    """Read a column's facts for ``kind``; raises ColumnProblem if it cannot be modelled."""
    dtype = str(s.dtype)
    n = len(s)
    note = None
    if kind == "numeric":
        x = numeric_values(s, name)
        missing = np.isnan(x)
        _check_some_present(name, missing)
        present = x[~missing]
        # Floats beyond 2**53 are all whole numbers: not a column of counts (an audit: 1e300s were called integers)
        integer = bool(np.all(present == np.rint(present))) and (
            pd.api.types.is_integer_dtype(s.dtype) or float(np.abs(present).max()) < 2.0**53)
        spec = ColumnSpec(
            name, kind, dtype, integer=integer,
            min=float(present.min()), max=float(present.max()), decimals=None if integer else _decimals(present),
        )
    elif kind == "datetime":
        fmt = None
        if not pd.api.types.is_datetime64_any_dtype(s.dtype) and s.notna().any():
            present = s.dropna()
            if pd.api.types.infer_dtype(present, skipna=True) == "string":
                fmt = _text_datetime_format(present)
                if fmt is None:
                    raise ColumnProblem(
                        f"column {name!r} was declared datetime but its text is not in one date format "
                        f"(e.g. {present.iloc[0]!r}); convert it with pd.to_datetime(df[{name!r}], format=...) first"
                        + ("; offsets in one format are read (in UTC), other zone forms are not: convert to UTC and "
                           f"drop the zone, e.g. pd.to_datetime(df[{name!r}], utc=True).dt.tz_localize(None)"
                           if present.astype(str).str.contains(r"[+-]\d\d:?\d\d$|Z$", regex=True).any() else "")
                    )
        secs = datetime_seconds(s, name, fmt)
        missing = np.isnan(secs)
        _check_some_present(name, missing)
        unparsed = int((missing & s.notna().to_numpy()).sum())
        if unparsed:
            note = (f"column {name!r}: {unparsed} of {n} entries are not dates in format {fmt!r} "
                    "and are treated as missing")
        if fmt is not None and "%z" in fmt:
            note = "; ".join(filter(None, (note, f"column {name!r}: times with offsets, read in UTC and written back "
                                                 "in UTC (+0000)")))
        present = secs[~missing]
        unit = next(u for u, size in DATETIME_UNITS.items() if np.all(np.mod(present, size) == 0))
        spec = ColumnSpec(name, kind, dtype, integer=True, min=float(present.min()), max=float(present.max()),
                          datetime_unit=unit, datetime_format=fmt)
    elif kind == "categorical":
        missing = s.isna().to_numpy()
        _check_some_present(name, missing)
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.cat.categories
            labels = [str(c) for c in cats]
            spec_extra = dict(ordered=bool(s.cat.ordered), category_dtype=str(cats.dtype))
            if cats.dtype == object:
                spec_extra["category_types"] = _category_types(cats, labels)
            try:  # generated rows give back values rebuilt from their labels (an audit: pd.cut's intervals failed
                category_values(labels, str(cats.dtype))  # after training, as "the schema is damaged")
            except (TypeError, ValueError):
                raise ColumnProblem(f"column {name!r} is a Categorical of {cats.dtype} values, which cannot be written "
                                    f"back from their text; make the categories text first: df[{name!r}] = "
                                    f"df[{name!r}].cat.rename_categories(str)") from None
        else:
            present = s[~missing]
            if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
                labels = [str(v) for v in np.sort(pd.unique(np.asarray(present, dtype=object)))]
            else:
                labels = sorted({str(v) for v in np.asarray(present, dtype=object)})
            spec_extra = dict(category_dtype=dtype)
            if s.dtype == object:
                spec_extra["category_types"] = _category_types(np.asarray(present, dtype=object), labels)
        if len(set(labels)) != len(labels):
            raise ColumnProblem(f"column {name!r} has categories that look the same as text ({labels[:10]})")
        spec = ColumnSpec(name, kind, dtype, categories=tuple(labels), **spec_extra)
    else:  # boolean
        _, missing = bool_values(s, name, words=False)
        _check_some_present(name, missing)
        spec = ColumnSpec(name, kind, dtype)
    share = float(missing.mean())
    object_missing = None
    if missing.any() and s.dtype == object:
        object_missing = "None" if all(v is None for v in s[s.isna()]) else "nan"
    spec = replace(spec, has_missing=bool(missing.any()), missing_share=share, object_missing=object_missing)
    return spec, note


def infer_schema(
    df: pd.DataFrame,
    *,
    categorical: Iterable[str] = (),
    numeric: Iterable[str] = (),
    boolean: Iterable[str] = (),
    datetime: Iterable[str] = (),
    ignore: Iterable[str] = (),
    max_integer_categories: int = 0,
) -> TableSchema:
    """Say what kind each column of ``df`` is, with what it takes to restore it.

    Rules, in order (the keyword overrides win over all of them):

    * ``bool`` / ``boolean`` dtype -> boolean;
    * ``datetime64`` (with or without a time zone) -> datetime;
    * pandas Categorical -> categorical;
    * numeric dtypes -> numeric; integer columns with at most
      ``max_integer_categories`` distinct values (0, the default, turns this off)
      -> categorical;
    * object / string columns: all True/False -> boolean; all numbers -> numeric;
      text in one date format where >= 95 % parses and no entry is a plain number
      -> datetime (entries that do not parse count as missing; a note says so);
      anything else -> categorical.

    Parameters
    ----------
    df : DataFrame
        The table; column names must be distinct strings.
    categorical, numeric, boolean, datetime : iterables of column names
        Columns to treat as that kind whatever their dtype (e.g. integer region
        codes as ``categorical=("region",)``).
    ignore : iterable of column names
        Columns to leave out (IDs, free text).
    max_integer_categories : int
        Integer columns with this many distinct values or fewer become categorical.

    Raises
    ------
    DataError
        If the frame is empty; if a column is entirely missing; if an inferred text
        column holds one distinct value per row (an ID) in more than 50 rows --
        pass it in ``ignore``, or declare it ``categorical`` if you mean it; or if a
        declared kind does not fit the data.
    ConfigError
        If an override names a column the frame does not have, or one column twice.
    """
    check_frame(df)
    if isinstance(max_integer_categories, bool) or not isinstance(max_integer_categories, (int, np.integer)) \
            or max_integer_categories < 0:
        raise ConfigError(f"max_integer_categories must be an integer >= 0; got {max_integer_categories!r}.")
    declared: dict[str, str] = {}
    groups = {"categorical": categorical, "numeric": numeric, "boolean": boolean, "datetime": datetime, "ignore": ignore}
    for kind, names in groups.items():
        names = (names,) if isinstance(names, str) else tuple(names)  # a bare string is one name
        _check_names(names, tuple(df.columns), f"{kind}=")
        for n in names:
            if n in declared and declared[n] != kind:
                raise ConfigError(f"Column {n!r} is given as both {declared[n]} and {kind}; choose one.")
            declared[n] = kind
    index = written_index(df)
    index = None if index in declared else index  # a declared kind keeps it
    if index is not None:  # the row numbers to_csv() writes: not a variable of the rows
        declared[index] = "ignore"
    ignored = tuple(n for n in df.columns if declared.get(n) == "ignore")
    kept = [n for n in df.columns if declared.get(n) != "ignore"]
    if not kept:
        raise DataError(f"Every column is ignored ({list(df.columns)}); keep at least one column to model.")
    specs, notes, problems = [], [], []
    if index is not None:
        notes.append(f"column {index!r} is left out: an empty header over {len(df)} distinct whole numbers is the row "
                     f"index pandas writes with to_csv() (declare its kind, e.g. numeric=[{index!r}] in Python, --numeric "
                     f"{shlex.quote(index)} on the command line, to model it)")  # fmt: skip
    for name in kept:
        s = df[name]
        kind = declared.get(name) or _infer_kind(s, int(max_integer_categories))
        if pd.api.types.is_timedelta64_dtype(s.dtype) and declared.get(name) != "categorical":
            # Durations are numbers of seconds, but no kind writes them back as durations: they were taken as
            # categories, one per distinct duration (an audit: 274 categories for 300 rows of seconds)
            problems.append(f"column {name!r} holds durations ({s.dtype}), which a table run does not model; convert "
                            f"them to numbers, e.g. df[{name!r}] = df[{name!r}].dt.total_seconds(), or pass "
                            f"categorical=[{name!r}] if its few values are labels")  # fmt: skip
            continue
        try:
            spec, note = column_spec(name, s, kind)
        except ColumnProblem as p:
            problems.append(str(p))
            continue
        if name not in declared and kind == "categorical" and spec.dtype != "category":
            n_present = int(s.notna().sum())
            # Read as numbers only where it can matter: more categories than JUNK_MIN_NUMBERS (a pass over the column)
            numbers, not_numbers = (_text_numbers(s) if len(spec.categories) > JUNK_MIN_NUMBERS
                                    else (np.empty(0), np.empty(0, dtype=int)))  # fmt: skip
            if n_present > ID_MIN_ROWS and len(spec.categories) == n_present:
                if 0 < 2 * not_numbers.size < n_present:  # numbers with a few junk cells ('?'), not an ID
                    problems.append(_not_numbers_text(name, s, not_numbers) + f", or pass ignore=[{name!r}] to leave it "
                                    "out if it is an ID")  # fmt: skip
                    continue
                if numbers.size and not not_numbers.size:  # every cell a number written as text ('0.5', '12.25')
                    # an audit (s15): a Parquet column of decimals stored as text was "an ID?", with no word of numeric
                    problems.append(f"column {name!r} holds numbers written as text, a different one in each of its "
                                    f"{n_present} rows; pass numeric=[{name!r}] to model them as numbers, "
                                    f"ignore=[{name!r}] to leave it out if it is an ID, or categorical=[{name!r}] to "
                                    "model it anyway")  # fmt: skip
                    continue
                problems.append(
                    f"column {name!r} holds a different value in each of its {n_present} rows (an ID?); "
                    f"pass ignore=[{name!r}] to leave it out, or categorical=[{name!r}] to model it anyway"
                )
                continue
            # Numbers with text in a minority of cells ('?', 'n.a.'), however often a marker or a number repeats (an
            # audit: three '?' cells among 400 numbers were trained as 398 categories): not labels, unless the
            # numbers are few codes (1, 2, 3 beside 'other').
            if 0 < 2 * not_numbers.size < n_present and np.unique(numbers[~np.isnan(numbers)]).size > JUNK_MIN_NUMBERS:
                problems.append(_not_numbers_text(name, s, not_numbers) + f", or pass categorical=[{name!r}] if its "
                                "values are labels")  # fmt: skip
                continue
            if not_numbers.size == 0 and numbers.size and not s.dropna().astype(str).str.match(r"[+-]?0[0-9]").any():
                # every cell a number written as text, many of them, none a code with leading zeros: a CSV of the same
                # rows is numeric (an audit, s15: a Parquet column of 79 decimals as text became 79 categories unsaid)
                notes.append(f"column {name!r} holds numbers written as text ({len(spec.categories)} distinct), "
                             "modelled as categories; to model them as numbers, declare them numeric "
                             f"(numeric=[{name!r}] in Python, --numeric {shlex.quote(name)} on the command "
                             "line)")  # fmt: skip
        specs.append(spec)
        if note:
            notes.append(note)
        if spec.kind == "categorical" and (slip := _missing_as_text(s, spec)):
            notes.append(slip)
    if problems:
        # in Python terms (ignore=['id']), which the CLI says as the flags typed (--ignore id): each said both, inline
        text = "Cannot build a table schema: " + "; ".join(problems) + "."
        # numeric only where said as numeric=[...]: the CLI would say a bare "as numeric" as its flag
        raise DataError(text, setting=SCHEMA_SETTINGS + (("numeric",) if "numeric=[" in text else ()))
    return TableSchema(tuple(specs), tuple(notes), ignored)
