"""Mixed-type tables <-> float32 matrices, for a tabular VAE (TVAE-style).

Three pieces:

* :func:`infer_schema` reads a :class:`pandas.DataFrame` and says, per column, what
  kind it is (``numeric``, ``categorical``, ``boolean``, ``datetime``) plus the facts
  needed to give values back in their original form (dtype, categories and their
  order, integer-ness, range, missing share). The result is a :class:`TableSchema`.
* :class:`TableTransformer` turns a frame into a float32 matrix and back. Its
  :attr:`TableTransformer.blocks` describe the matrix layout for a mixed likelihood:
  each block is a contiguous run of features modelled by one Gaussian, one
  categorical or one Bernoulli term.
* :func:`make_mixed_table` generates a small table of known structure for tests
  and docs.

Numeric columns use either plain standardization or the *mode-specific
normalization* of TVAE/CTGAN (Xu, Skoularidou, Cuesta-Infante & Veeramachaneni,
"Modeling Tabular data using Conditional GAN", NeurIPS 2019, section 4.2): a
variational Gaussian mixture is fitted per column and a value is encoded as its
mode (one-hot) plus its offset alpha = (x - mu_k) / (4 sigma_k) inside that mode.

Nothing here is ever pickled: :meth:`TableTransformer.state` returns JSON-safe
metadata plus a dict of float64 NumPy arrays (safetensors-ready), and
:meth:`TableTransformer.from_state` rebuilds the transformer without refitting.

Layout of the matrix (in schema column order, each column's features contiguous):

==========  =========================  ===========================================
kind        features                   blocks (role, likelihood)
==========  =========================  ===========================================
numeric     standard: z                (value, gaussian) width 1
            mode: alpha, one-hot(K)    (value, gaussian) 1 + (mode, categorical) K
datetime    as numeric, on time units  same as numeric
categorical one-hot(C)                 (category, categorical) C
boolean     0/1                        (boolean, bernoulli) 1
any         + 0/1 missing flag         (missing, bernoulli) 1, only if has_missing
==========  =========================  ===========================================

Where a value is missing its own features hold a neutral filler: z = 0 (the mean),
alpha = 0 with the one-hot of the heaviest mode, an all-zero category one-hot, and
0 for a boolean; the missing flag is 1.
"""
from __future__ import annotations

import difflib
import math
import warnings
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd

from vaelab.errors import ConfigError, DataError, NotFittedError

__all__ = [
    "KINDS",
    "ColumnSpec",
    "TableSchema",
    "Block",
    "TableTransformer",
    "infer_schema",
    "make_mixed_table",
]

KINDS = ("numeric", "categorical", "boolean", "datetime")
MAX_DECIMALS = 6  # numeric values with more decimals than this are not rounded back
NORMALIZATIONS = ("mode", "standard")
LIKELIHOODS = ("gaussian", "categorical", "bernoulli")
ROLES = ("value", "mode", "category", "boolean", "missing")

# Time units a datetime column is counted in: the coarsest one that divides every
# value seen (daily dates are counted in days). Counting in units keeps dates exact
# through float32, which holds only ~7 significant digits.
DATETIME_UNITS: dict[str, int] = {"D": 86400, "h": 3600, "min": 60, "s": 1}

ALPHA_SCALE = 4.0  # alpha = (x - mu_k) / (4 sigma_k): TVAE/CTGAN's choice
MODE_MIN_WEIGHT = 0.005  # modes lighter than this are dropped (as in CTGAN)
MODE_FIT_MAX_ROWS = 5000  # the mixture is fitted on a seeded subsample of this many values
ID_MIN_ROWS = 50  # a text column with one distinct value per row and more rows than this is an ID
DATETIME_MIN_PARSED = 0.95  # share of a text column that must parse for it to count as dates
PROB_TOLERANCE = 1e-3  # probabilities given to inverse_transform may stray this far outside [0, 1]

_SCHEMA_FORMAT = "vaelab.TableSchema"
_STATE_FORMAT = "vaelab.TableTransformer"
_VERSION = 1
_TEXT_NUMBER_KINDS = ("integer", "floating", "mixed-integer-float", "decimal")


# ====================================================================== schema


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

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"Column {self.name!r}: kind must be one of {KINDS}; got {self.kind!r}.")
        if self.categories is not None and not isinstance(self.categories, tuple):
            object.__setattr__(self, "categories", tuple(self.categories))

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
        return d


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
            "version": _VERSION,
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
        _check_version(d.get("version"), where)
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
        rows = [(c.name, c.kind, c.dtype, _missing_text(c), _detail_text(c), _encoding_text(c, normalization, None))
                for c in self.columns]
        return _render(rows, self.notes, self.ignored)


def _check_version(version: Any, where: str) -> None:
    if not isinstance(version, int) or isinstance(version, bool):
        raise ConfigError(f"{where}: 'version' must be an integer; got {version!r}.")
    if version != _VERSION:
        raise ConfigError(f"{where} is format version {version}; this vaelab reads version {_VERSION}.")


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings; got {value!r:.80}.")
    return value


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
        if not _is_real(v) or not 0.0 <= v <= 1.0:
            raise ConfigError(f"{where}: 'missing_share' must be a number in [0, 1]; got {v!r}.")
        out["missing_share"] = float(v)
    for key in ("min", "max"):
        v = d.get(key)
        if v is not None and (not _is_real(v) or not math.isfinite(v)):
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
    return ColumnSpec(**out)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_dtype_text(text: Any, where: str) -> None:
    if not isinstance(text, str):
        raise ConfigError(f"{where} must be a pandas dtype name such as 'int64' or 'category'; got {text!r}.")
    try:
        pd.api.types.pandas_dtype(text)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {text!r} is not a pandas dtype this pandas knows ({err}).") from None


# ================================================================ inference


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
    _check_frame(df)
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
    ignored = tuple(n for n in df.columns if declared.get(n) == "ignore")
    kept = [n for n in df.columns if declared.get(n) != "ignore"]
    if not kept:
        raise DataError(f"Every column is ignored ({list(df.columns)}); keep at least one column to model.")
    specs, notes, problems = [], [], []
    for name in kept:
        s = df[name]
        kind = declared.get(name) or _infer_kind(s, int(max_integer_categories))
        try:
            spec, note = _column_spec(name, s, kind)
        except _ColumnProblem as p:
            problems.append(str(p))
            continue
        if name not in declared and kind == "categorical" and spec.dtype != "category":
            n_present = int(s.notna().sum())
            if n_present > ID_MIN_ROWS and len(spec.categories) == n_present:
                problems.append(
                    f"column {name!r} holds a different value in each of its {n_present} rows (an ID?); "
                    f"pass ignore=({name!r},) to leave it out, or categorical=({name!r},) to model it anyway"
                )
                continue
        specs.append(spec)
        if note:
            notes.append(note)
    if problems:
        raise DataError("Cannot build a table schema: " + "; ".join(problems) + ".")
    return TableSchema(tuple(specs), tuple(notes), ignored)


class _ColumnProblem(Exception):
    """A column that cannot be modelled. infer_schema and fit collect these to report all at once;
    transform turns one into a DataError. Never escapes this module."""


def _check_frame(df: Any) -> None:
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


def _guess_format(text: str, dayfirst: bool) -> str | None:
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
            fmt = _guess_format(str(v).strip(), dayfirst)
            # Time-zone offsets are left out: "+01:00" could not be written back as given.
            if fmt is not None and "%z" not in fmt and "%Z" not in fmt and fmt not in candidates:
                candidates.append(fmt)
    best, best_share = None, 0.0
    for fmt in candidates:
        share = pd.to_datetime(sample, format=fmt, errors="coerce").notna().mean()
        if share > best_share:
            best, best_share = fmt, share
    if best is None or best_share < DATETIME_MIN_PARSED:
        return None
    full = pd.to_datetime(pd.Series(values, dtype=object), format=best, errors="coerce")
    return best if full.notna().mean() >= DATETIME_MIN_PARSED else None


def _column_spec(name: str, s: pd.Series, kind: str) -> tuple[ColumnSpec, str | None]:
    """Read a column's facts for ``kind``; raises _ColumnProblem if it cannot be modelled."""
    dtype = str(s.dtype)
    n = len(s)
    note = None
    if kind == "numeric":
        x = _numeric_values(s, name)
        missing = np.isnan(x)
        _check_some_present(name, missing)
        present = x[~missing]
        integer = bool(np.all(present == np.rint(present)))
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
                    raise _ColumnProblem(
                        f"column {name!r} was declared datetime but its text is not in one date format "
                        f"(e.g. {present.iloc[0]!r}); convert it with pd.to_datetime(df[{name!r}], format=...) first"
                    )
        secs = _datetime_seconds(s, name, fmt)
        missing = np.isnan(secs)
        _check_some_present(name, missing)
        unparsed = int((missing & s.notna().to_numpy()).sum())
        if unparsed:
            note = (f"column {name!r}: {unparsed} of {n} entries are not dates in format {fmt!r} "
                    "and are treated as missing")
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
        else:
            present = s[~missing]
            if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
                labels = [str(v) for v in np.sort(pd.unique(np.asarray(present, dtype=object)))]
            else:
                labels = sorted({str(v) for v in np.asarray(present, dtype=object)})
            spec_extra = dict(category_dtype=dtype)
        if len(set(labels)) != len(labels):
            raise _ColumnProblem(f"column {name!r} has categories that look the same as text ({labels[:10]})")
        spec = ColumnSpec(name, kind, dtype, categories=tuple(labels), **spec_extra)
    else:  # boolean
        _, missing = _bool_values(s, name)
        _check_some_present(name, missing)
        spec = ColumnSpec(name, kind, dtype)
    share = float(missing.mean())
    object_missing = None
    if missing.any() and s.dtype == object:
        object_missing = "None" if all(v is None for v in s[s.isna()]) else "nan"
    spec = replace(spec, has_missing=bool(missing.any()), missing_share=share, object_missing=object_missing)
    return spec, note


def _check_some_present(name: str, missing: np.ndarray) -> None:
    if missing.all():
        raise _ColumnProblem(
            f"column {name!r} is entirely missing ({missing.size} rows); drop it or pass ignore=({name!r},)"
        )


# ======================================================== reading column values


def _numeric_values(s: pd.Series, name: str) -> np.ndarray:
    """float64 values, NaN where missing; DataError for text or infinities."""
    if pd.api.types.is_bool_dtype(s.dtype) or (
        pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype)
    ):
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_datetime64_any_dtype(s.dtype):
        raise _ColumnProblem(f"column {name!r} holds dates ({s.dtype}); it must be numeric. Declare it datetime instead")
    else:
        numbers = pd.to_numeric(pd.Series(np.asarray(s, dtype=object)), errors="coerce")
        x = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(np.isnan(x) & s.notna().to_numpy())
        if bad.size:
            examples = sorted({str(v) for v in np.asarray(s, dtype=object)[bad[:50]]})[:5]
            raise _ColumnProblem(f"column {name!r} must hold numbers but row {int(bad[0])} holds "
                             f"{s.iloc[bad[0]]!r} (others: {examples}); declare it categorical instead")
    if np.isinf(x).any():
        row = int(np.flatnonzero(np.isinf(x))[0])
        raise _ColumnProblem(f"column {name!r} holds an infinite value at row {row}; replace infinities by NaN "
                         "(treated as missing) or drop those rows")
    return x


def _datetime_seconds(s: pd.Series, name: str, fmt: str | None) -> np.ndarray:
    """Seconds since 1970-01-01 UTC as float64 (whole seconds), NaN where missing or unparsed."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        t = s
    elif pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        raise _ColumnProblem(f"column {name!r} holds numbers ({s.dtype}), not dates; convert them first, e.g. "
                         f"pd.to_datetime(df[{name!r}], unit='s') for seconds since 1970")
    elif fmt is not None:
        t = pd.to_datetime(pd.Series(np.asarray(s, dtype=object)), format=fmt, errors="coerce")
    else:
        try:
            t = pd.to_datetime(pd.Series(np.asarray(s, dtype=object)), errors="coerce")
        except (TypeError, ValueError) as err:
            raise _ColumnProblem(f"column {name!r} cannot be read as dates ({err}); convert it with pd.to_datetime first")
        if not pd.api.types.is_datetime64_any_dtype(t.dtype):
            raise _ColumnProblem(f"column {name!r} mixes time zones or holds non-dates; convert it with "
                             "pd.to_datetime(..., utc=True) first")
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    missing = t.isna().to_numpy()
    ints = t.to_numpy(dtype="datetime64[s]").astype(np.int64)  # whole seconds (sub-second parts are dropped)
    out = ints.astype(np.float64)
    out[missing] = np.nan
    return out


def _category_labels(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(labels as an object array of str, '' where missing; missing mask)."""
    missing = s.isna().to_numpy()
    labels = np.full(len(s), "", dtype=object)
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat_labels = np.array([str(c) for c in s.cat.categories] + [""], dtype=object)
        labels = cat_labels[s.cat.codes.to_numpy()]  # code -1 (missing) picks the trailing ""
    elif (~missing).any():
        labels[~missing] = [str(v) for v in np.asarray(s, dtype=object)[~missing]]
    return labels, missing


def _bool_values(s: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(0/1 float64, missing mask); DataError unless values are True/False or 0/1."""
    missing = s.isna().to_numpy()
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=0.0), missing
    values = np.asarray(s, dtype=object)[~missing]
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
        raise _ColumnProblem(f"column {name!r} was taken as boolean but holds {list(bad)!r}; "
                         "expected True/False or 0/1. Declare it categorical instead")
    out[~missing] = as_float
    return out, missing


# ================================================================ transformer


@dataclass(frozen=True)
class Block:
    """A contiguous run of features modelled by one likelihood term.

    ``kind`` is the likelihood: ``"gaussian"`` (one continuous scalar),
    ``"categorical"`` (a one-hot group: modes or categories) or ``"bernoulli"``
    (one 0/1 feature: a boolean or a missing flag). ``role`` says what the
    features are: ``"value"`` (standardized value or mode offset alpha),
    ``"mode"``, ``"category"``, ``"boolean"`` or ``"missing"``. Features
    ``start .. start + width - 1`` of the matrix belong to the block.
    """

    column: str
    kind: str
    role: str
    start: int
    width: int

    @property
    def stop(self) -> int:
        return self.start + self.width

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TableTransformer:
    """Reversible map between a mixed-type DataFrame and a float32 matrix.

    Parameters
    ----------
    normalization : {"mode", "standard"}
        How numeric and datetime columns are encoded. ``"standard"``: one scalar
        (x - mean) / sd. ``"mode"``: mode-specific normalization of TVAE/CTGAN
        (Xu et al. 2019): a Bayesian Gaussian mixture per column; a value becomes
        alpha = (x - mu_k) / (4 sigma_k) in [-1, 1] plus a one-hot of its mode k.
    max_modes : int
        Components of each column's mixture (modes lighter than 0.005 are dropped).
    seed : int
        Seeds the mixture fits and their subsamples: the same data and seed give the
        same transformer.

    Notes
    -----
    The mode of a value is chosen deterministically (not sampled as in CTGAN), so
    :meth:`transform` is a function: the most probable mode among those within 4
    sigma of the value. TVAE clips alpha and so loses far tails; here, after the
    mixture is fitted, a mode whose 4-sigma range misses fitted values that belong
    to it is widened, so every fitted value is encoded without clipping. Values
    outside every mode's range at :meth:`transform` time (new data) are clipped.

    Categories not seen at fit time raise a :class:`DataError` at :meth:`transform`
    (there is no "other" slot): build the schema on all the data you will transform
    (``infer_schema(full_df)``) and fit on the training rows.
    """

    def __init__(self, normalization: str = "mode", max_modes: int = 10, seed: int = 0):
        if normalization not in NORMALIZATIONS:
            raise ConfigError(f"normalization must be one of {NORMALIZATIONS}; got {normalization!r}.")
        if isinstance(max_modes, bool) or not isinstance(max_modes, (int, np.integer)) or max_modes < 1:
            raise ConfigError(f"max_modes must be an integer >= 1; got {max_modes!r}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"seed must be an integer >= 0; got {seed!r}.")
        self.normalization = normalization
        self.max_modes = int(max_modes)
        self.seed = int(seed)
        self._schema: TableSchema | None = None
        self._codecs: dict[str, dict[str, Any]] = {}
        self._blocks: tuple[Block, ...] = ()

    def __repr__(self) -> str:
        fitted = f", {len(self._schema)} columns -> {self.n_features} features" if self._schema else ", not fitted"
        return f"TableTransformer(normalization={self.normalization!r}, max_modes={self.max_modes}{fitted})"

    # ------------------------------------------------------------------ fit
    def fit(self, df: pd.DataFrame, schema: TableSchema | None = None) -> "TableTransformer":
        """Learn the encodings from ``df`` (the training rows).

        ``schema`` defaults to ``infer_schema(df)``. Its categories and ranges are
        used as given (so a schema inferred on all the data covers validation rows);
        columns whose kind was changed with :meth:`TableSchema.override` are re-read
        from ``df``. Columns of ``df`` not in the schema are ignored.
        """
        _check_frame(df)
        if schema is None:
            schema = infer_schema(df)
        elif not isinstance(schema, TableSchema):
            raise ConfigError(f"schema must be a TableSchema (see infer_schema); got {type(schema).__name__}.")
        self._check_columns(df, schema)
        specs, problems = [], []
        for spec in schema.columns:
            if not spec.complete:
                try:
                    spec, _ = _column_spec(spec.name, df[spec.name], spec.kind)
                except _ColumnProblem as p:
                    problems.append(str(p))
                    continue
            specs.append(spec)
        if problems:
            raise DataError("Cannot fit the table transformer: " + "; ".join(problems) + ".")
        schema = TableSchema(tuple(specs), schema.notes, schema.ignored)
        codecs: dict[str, dict[str, Any]] = {}
        for i, spec in enumerate(schema.columns):
            if spec.kind not in ("numeric", "datetime"):
                codecs[spec.name] = {"encoding": spec.kind}
                continue
            x = self._scalars(df[spec.name], spec)
            present = x[~np.isnan(x)]
            if present.size == 0:
                raise DataError(f"Cannot fit column {spec.name!r}: all {x.size} of its values are missing in "
                                "the rows given to fit; fit on rows where it has values.")
            if self.normalization == "standard":
                sd = float(present.std())
                codecs[spec.name] = {"encoding": "standard", "mean": float(present.mean()),
                                     "sd": sd if sd > 0 else 1.0}
            else:
                means, sds, weights = _fit_modes(present, self.max_modes, self.seed + i)
                codecs[spec.name] = {"encoding": "mode", "means": means, "sds": sds, "weights": weights}
        self._set(schema, codecs)
        return self

    def fit_transform(self, df: pd.DataFrame, schema: TableSchema | None = None) -> np.ndarray:
        return self.fit(df, schema).transform(df)

    def _set(self, schema: TableSchema, codecs: dict[str, dict[str, Any]]) -> None:
        blocks: list[Block] = []
        start = 0

        def add(column: str, kind: str, role: str, width: int) -> None:
            nonlocal start
            blocks.append(Block(column, kind, role, start, width))
            start += width

        for spec in schema.columns:
            codec = codecs[spec.name]
            if spec.kind == "categorical":
                add(spec.name, "categorical", "category", len(spec.categories))
            elif spec.kind == "boolean":
                add(spec.name, "bernoulli", "boolean", 1)
            else:
                add(spec.name, "gaussian", "value", 1)
                if codec["encoding"] == "mode":
                    add(spec.name, "categorical", "mode", len(codec["means"]))
            if spec.has_missing:
                add(spec.name, "bernoulli", "missing", 1)
        self._schema, self._codecs, self._blocks = schema, codecs, tuple(blocks)

    # ----------------------------------------------------------- properties
    def _fitted(self) -> TableSchema:
        if self._schema is None:
            raise NotFittedError("This TableTransformer is not fitted yet; call fit(df) or TableTransformer.from_state(...).")
        return self._schema

    @property
    def schema(self) -> TableSchema:
        """The complete schema the transformer was fitted with."""
        return self._fitted()

    @property
    def blocks(self) -> list[Block]:
        """The matrix layout: blocks in feature order, tiling 0..n_features exactly."""
        self._fitted()
        return list(self._blocks)

    @property
    def n_features(self) -> int:
        """D, the width of the matrix."""
        self._fitted()
        return self._blocks[-1].stop if self._blocks else 0

    @property
    def feature_names(self) -> list[str]:
        """One name per feature: ``col.value``, ``col.mode2``, ``col=label``, ``col``, ``col.missing``."""
        schema = self._fitted()
        names: list[str] = []
        for b in self._blocks:
            if b.role == "category":
                names += [f"{b.column}={c}" for c in schema[b.column].categories]
            elif b.role == "mode":
                names += [f"{b.column}.mode{k}" for k in range(b.width)]
            elif b.role == "boolean":
                names.append(b.column)
            else:
                names.append(f"{b.column}.{b.role}")
        return names

    def column_blocks(self, column: str) -> dict[str, Block]:
        """The blocks of one column, by role (e.g. ``{"value": ..., "mode": ..., "missing": ...}``)."""
        self._fitted()
        out = {b.role: b for b in self._blocks if b.column == column}
        if not out:
            raise ConfigError(f"No column {column!r}; the columns are {list(self._schema.names)}.")
        return out

    # ------------------------------------------------------------ transform
    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Encode ``df`` as a float32 matrix of shape (len(df), n_features).

        Rows are taken in order (the index is ignored); columns not in the schema
        are ignored.

        Raises
        ------
        DataError
            If a schema column is absent, a value does not fit its column's kind, a
            category was not seen at fit time, or a value is missing in a column that
            had no missing values at fit time.
        """
        schema = self._fitted()
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"Expected a pandas DataFrame; got {type(df).__name__}.")
        self._check_columns(df, schema)
        n = len(df)
        out = np.zeros((n, self.n_features), dtype=np.float32)
        blocks = {(b.column, b.role): b for b in self._blocks}
        for spec in schema.columns:
            s = df[spec.name]
            name = spec.name
            if spec.kind in ("numeric", "datetime"):
                x = self._scalars(s, spec)
                missing = np.isnan(x)
                codec = self._codecs[name]
                value = blocks[name, "value"].start
                if codec["encoding"] == "standard":
                    out[:, value] = np.where(missing, 0.0, (np.nan_to_num(x) - codec["mean"]) / codec["sd"])
                else:
                    k, alpha = _encode_modes(np.where(missing, codec["means"][0], x), codec)
                    k[missing] = int(np.argmax(codec["weights"]))  # neutral filler: the heaviest mode, alpha 0
                    alpha[missing] = 0.0
                    out[:, value] = alpha
                    out[np.arange(n), blocks[name, "mode"].start + k] = 1.0
            elif spec.kind == "categorical":
                labels, missing = _category_labels(s)
                codes = pd.Index(spec.categories, dtype=object).get_indexer(labels)
                unseen = (codes < 0) & ~missing
                if unseen.any():
                    counts = pd.Series(labels[unseen]).value_counts()
                    shown = ", ".join(f"{v!r} ({c} rows)" for v, c in counts.head(10).items())
                    more = f" and {len(counts) - 10} more" if len(counts) > 10 else ""
                    raise DataError(
                        f"Column {name!r} holds categories not seen at fit time: {shown}{more}. Known: "
                        f"{list(spec.categories)[:20]}{' ...' if len(spec.categories) > 20 else ''}. Infer the "
                        "schema on all the data (infer_schema(full_df)) and fit with it, or drop those rows."
                    )
                rows = np.flatnonzero(~missing)
                out[rows, blocks[name, "category"].start + codes[rows]] = 1.0
            else:
                try:
                    v, missing = _bool_values(s, name)
                except _ColumnProblem as p:
                    raise DataError(str(p) + ".") from None
                out[:, blocks[name, "boolean"].start] = v
            if missing.any():
                if not spec.has_missing:
                    rows = np.flatnonzero(missing)
                    raise DataError(
                        f"Column {name!r} has {rows.size} missing value(s) (first at row {int(rows[0])}) but had none "
                        "when the schema was made, so it has no missing flag. Infer the schema on data that "
                        "includes missing values, or fill them first."
                    )
                out[:, blocks[name, "missing"].start] = missing
        return out

    def _scalars(self, s: pd.Series, spec: ColumnSpec) -> np.ndarray:
        """The modelled scalar: the number itself, or the count of time units; NaN where missing."""
        try:
            if spec.kind == "numeric":
                return _numeric_values(s, spec.name)
            secs = _datetime_seconds(s, spec.name, spec.datetime_format)
        except _ColumnProblem as p:
            raise DataError(str(p) + ".") from None
        return secs / DATETIME_UNITS[spec.datetime_unit]

    @staticmethod
    def _check_columns(df: pd.DataFrame, schema: TableSchema) -> None:
        absent = [n for n in schema.names if n not in df.columns]
        if absent:
            raise DataError(
                f"The table lacks column(s) {absent} of the schema; it has {list(df.columns)}. "
                f"Expected columns: {list(schema.names)}."
            )

    # ---------------------------------------------------- inverse transform
    def inverse_transform(self, X: Any, sample: bool = False, seed: int = 0) -> pd.DataFrame:
        """Decode a matrix back into a DataFrame with the original columns and dtypes.

        Parameters
        ----------
        X : array-like (N, n_features)
            Either the output of :meth:`transform`, or the decoder's *means* of the
            likelihood: for ``"gaussian"`` blocks the values themselves (standardized
            value or alpha); for ``"categorical"`` blocks probabilities (softmax
            outputs, each in [0, 1]; rows need not sum exactly to 1); for
            ``"bernoulli"`` blocks probabilities (sigmoid outputs). Logits are refused.
            Torch tensors must be moved to the CPU first (``.detach().cpu().numpy()``).
        sample : bool
            False: take the most probable category / mode (argmax), booleans and
            missing flags where the probability is > 0.5. True: draw categories and
            modes from the (renormalized) probabilities and booleans and missing
            flags as Bernoulli draws. Gaussian blocks are never perturbed: add the
            likelihood's noise to X beforehand if you want it.
        seed : int
            Seeds the draws when ``sample`` is True.

        Returns
        -------
        DataFrame
            Schema columns in order, index 0..N-1, original dtypes (categories and
            their order included); missing values (NaN / NaT / pd.NA / None as the
            dtype holds them) where the missing flag says so. Numbers are clipped to
            the range seen and rounded if they were whole numbers; dates are rounded
            to their time unit.
        """
        schema = self._fitted()
        X = self._check_matrix(X)
        n = X.shape[0]
        rng = np.random.default_rng(seed)
        blocks = {(b.column, b.role): b for b in self._blocks}
        out: dict[str, Any] = {}
        for spec in schema.columns:
            name = spec.name
            if spec.has_missing:
                p = X[:, blocks[name, "missing"].start]
                missing = rng.random(n) < p if sample else p > 0.5
            else:
                missing = np.zeros(n, dtype=bool)
            if spec.kind in ("numeric", "datetime"):
                codec = self._codecs[name]
                v = X[:, blocks[name, "value"].start]
                if codec["encoding"] == "standard":
                    x = v * codec["sd"] + codec["mean"]
                else:
                    k = _pick(X[:, blocks[name, "mode"].slice], sample, rng)
                    x = ALPHA_SCALE * codec["sds"][k] * np.clip(v, -1.0, 1.0) + codec["means"][k]
                out[name] = (_numeric_out if spec.kind == "numeric" else _datetime_out)(x, missing, spec)
            elif spec.kind == "categorical":
                codes = _pick(X[:, blocks[name, "category"].slice], sample, rng)
                out[name] = _categorical_out(codes, missing, spec)
            else:
                p = X[:, blocks[name, "boolean"].start]
                v = rng.random(n) < p if sample else p > 0.5
                out[name] = _boolean_out(v, missing, spec)
        return pd.DataFrame(out, index=pd.RangeIndex(n), columns=list(schema.names))

    def _check_matrix(self, X: Any) -> np.ndarray:
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise DataError(
                f"inverse_transform expects a numeric array (N, {self.n_features}); could not read it ({err})."
            ) from None
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise DataError(
                f"inverse_transform expects an array of shape (N, {self.n_features}) (one row per example, "
                f"{self.n_features} features as in .blocks); got shape {X.shape}."
            )
        if not np.isfinite(X).all():
            row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
            raise DataError(f"inverse_transform got non-finite values (first in row {row}); expected finite numbers.")
        for b in self._blocks:
            if b.kind == "gaussian" or X.shape[0] == 0:
                continue
            part = X[:, b.slice]
            lo, hi = float(part.min()), float(part.max())
            if lo < -PROB_TOLERANCE or hi > 1 + PROB_TOLERANCE:
                raise DataError(
                    f"Features {b.start}..{b.stop - 1} ({b.column!r}, {b.role}) form a {b.kind} block and must hold "
                    f"probabilities in [0, 1]; they range over [{lo:.4g}, {hi:.4g}]. Pass the likelihood's means "
                    "(softmax / sigmoid of the logits), not the logits."
                )
        return X

    # ---------------------------------------------------------------- state
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-safe metadata, float64 arrays) from which :meth:`from_state` rebuilds this transformer.

        The arrays are keyed ``"<column index>.means"``, ``".sds"`` and ``".weights"``
        (mode-normalized columns only) and can be stored in safetensors.
        """
        schema = self._fitted()
        columns, arrays = [], {}
        for i, spec in enumerate(schema.columns):
            codec = self._codecs[spec.name]
            if codec["encoding"] == "standard":
                columns.append({"encoding": "standard", "mean": codec["mean"], "sd": codec["sd"]})
            elif codec["encoding"] == "mode":
                columns.append({"encoding": "mode", "n_modes": int(len(codec["means"]))})
                for key in ("means", "sds", "weights"):
                    arrays[f"{i}.{key}"] = np.array(codec[key], dtype=np.float64)
            else:
                columns.append({"encoding": codec["encoding"]})
        meta = {
            "format": _STATE_FORMAT,
            "version": _VERSION,
            "normalization": self.normalization,
            "max_modes": self.max_modes,
            "seed": self.seed,
            "schema": schema.to_dict(),
            "columns": columns,
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: Any, arrays: Mapping[str, Any]) -> "TableTransformer":
        """Rebuild a fitted transformer from :meth:`state`'s output, checking every field.

        Raises
        ------
        ConfigError
            If the metadata or arrays are damaged, missing or inconsistent.
        """
        where = "table transformer state"
        if not isinstance(meta, dict):
            raise ConfigError(f"{where}: the metadata must be a dict (JSON object); got {type(meta).__name__}.")
        if meta.get("format") != _STATE_FORMAT:
            raise ConfigError(f"{where}: 'format' must be {_STATE_FORMAT!r}; got {meta.get('format')!r}.")
        _check_version(meta.get("version"), where)
        unknown = sorted(set(meta) - {"format", "version", "normalization", "max_modes", "seed", "schema", "columns"})
        if unknown:
            raise ConfigError(f"{where} has unknown key(s) {unknown}.")
        if not isinstance(arrays, Mapping):
            raise ConfigError(f"{where}: arrays must be a dict name -> array; got {type(arrays).__name__}.")
        for key in ("normalization", "max_modes", "seed"):
            if key not in meta:
                raise ConfigError(f"{where} lacks {key!r}.")
        tt = cls(meta["normalization"], meta["max_modes"], meta["seed"])
        schema = TableSchema.from_dict(meta.get("schema"), f"{where} 'schema'")
        incomplete = [c.name for c in schema.columns if not c.complete]
        if incomplete:
            raise ConfigError(f"{where}: the schema lacks the fitted facts of column(s) {incomplete}.")
        cols = meta.get("columns")
        if not isinstance(cols, list) or len(cols) != len(schema):
            raise ConfigError(f"{where}: 'columns' must be a list of {len(schema)} entries, one per schema column; "
                              f"got {cols!r:.80}.")
        expected_keys = set()
        codecs: dict[str, dict[str, Any]] = {}
        for i, (spec, c) in enumerate(zip(schema.columns, cols)):
            w = f"{where} column {i} ({spec.name!r})"
            if not isinstance(c, dict):
                raise ConfigError(f"{w} must be an object; got {c!r:.80}.")
            enc = c.get("encoding")
            if spec.kind in ("categorical", "boolean"):
                if enc != spec.kind:
                    raise ConfigError(f"{w}: 'encoding' must be {spec.kind!r} for a {spec.kind} column; got {enc!r}.")
                codecs[spec.name] = {"encoding": enc}
            elif enc != tt.normalization:
                raise ConfigError(f"{w}: 'encoding' must be {tt.normalization!r} (the normalization); got {enc!r}.")
            elif enc == "standard":
                mean, sd = c.get("mean"), c.get("sd")
                if not (_is_real(mean) and math.isfinite(mean) and _is_real(sd) and math.isfinite(sd) and sd > 0):
                    raise ConfigError(f"{w}: needs a finite 'mean' and a positive finite 'sd'; got {mean!r}, {sd!r}.")
                codecs[spec.name] = {"encoding": enc, "mean": float(mean), "sd": float(sd)}
            else:
                k = c.get("n_modes")
                if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                    raise ConfigError(f"{w}: 'n_modes' must be an integer >= 1; got {k!r}.")
                codec: dict[str, Any] = {"encoding": "mode"}
                for key in ("means", "sds", "weights"):
                    akey = f"{i}.{key}"
                    expected_keys.add(akey)
                    if akey not in arrays:
                        raise ConfigError(f"{w}: the array {akey!r} is missing.")
                    try:
                        a = np.asarray(arrays[akey], dtype=np.float64)
                    except (TypeError, ValueError) as err:
                        raise ConfigError(f"{w}: the array {akey!r} is not numeric ({err}).") from None
                    if a.shape != (k,) or not np.isfinite(a).all():
                        raise ConfigError(f"{w}: the array {akey!r} must hold {k} finite numbers; got shape {a.shape}.")
                    if key != "means" and not (a > 0).all():
                        raise ConfigError(f"{w}: the array {akey!r} must be positive.")
                    codec[key] = a.copy()
                codecs[spec.name] = codec
        extra = sorted(set(arrays) - expected_keys)
        if extra:
            raise ConfigError(f"{where}: unexpected array(s) {extra}.")
        tt._set(schema, codecs)
        return tt

    # ------------------------------------------------------------- describe
    def describe(self) -> str:
        """The schema table with each column's actual encoding (feature ranges included)."""
        schema = self._fitted()
        rows = []
        for c in schema.columns:
            bl = [b for b in self._blocks if b.column == c.name]
            enc = _encoding_text(c, self._codecs[c.name]["encoding"], self._codecs[c.name])
            enc += f"  [{bl[0].start}:{bl[-1].stop}]"
            rows.append((c.name, c.kind, c.dtype, _missing_text(c), _detail_text(c), enc))
        return _render(rows, schema.notes, schema.ignored) + f"\n{self.n_features} features in all."


# ------------------------------------------------------------- mode fitting


def _fit_modes(x: np.ndarray, max_modes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Modes (means, sds, weights) of one column, as in TVAE/CTGAN (Xu et al. 2019).

    A Bayesian Gaussian mixture with a Dirichlet-process weight prior of
    concentration 1e-3 is fitted to (a seeded subsample of) the standardized values;
    modes with weight > 0.005 are kept and sorted by mean. Then every value is
    assigned as :func:`_encode_modes` will; a mode is widened until its 4-sigma
    range covers the values that fall to it, so fitted values are never clipped.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture

    m, s = float(x.mean()), float(x.std())
    if s == 0 or x.size < 2:
        return np.array([m]), np.array([1.0]), np.array([1.0])
    rng = np.random.default_rng(seed)
    sub = x if x.size <= MODE_FIT_MAX_ROWS else rng.choice(x, MODE_FIT_MAX_ROWS, replace=False)
    z = ((sub - m) / s).reshape(-1, 1)
    bgm = BayesianGaussianMixture(
        n_components=min(max_modes, z.shape[0]),
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=1e-3,
        n_init=1,
        max_iter=100,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm.fit(z)
    w = bgm.weights_
    keep = w > MODE_MIN_WEIGHT
    if not keep.any():  # pragma: no cover - the weights sum to 1, so some weight is > 0.005 for <= 200 modes
        keep = w == w.max()
    means = m + s * bgm.means_[keep, 0]
    sds = s * np.sqrt(bgm.covariances_[keep].reshape(-1))
    weights = w[keep] / w[keep].sum()
    order = np.argsort(means, kind="stable")
    means, sds, weights = means[order], sds[order], weights[order]
    k, covered = _assign_modes(x, means, sds, weights)
    for j in np.unique(k[~covered]):
        far = np.abs(x[(k == j) & ~covered] - means[j]).max()
        sds[j] = max(sds[j], far / ALPHA_SCALE * (1 + 1e-9))
    return means, sds, weights


def _assign_modes(
    x: np.ndarray, means: np.ndarray, sds: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Most probable mode of each value among those within 4 sigma (else overall); whether one was within."""
    d = (x[:, None] - means[None, :]) / sds[None, :]
    logp = np.log(weights)[None, :] - np.log(sds)[None, :] - 0.5 * d * d
    within = np.abs(d) <= ALPHA_SCALE
    covered = within.any(axis=1)
    k = np.where(covered, np.argmax(np.where(within, logp, -np.inf), axis=1), np.argmax(logp, axis=1))
    return k, covered


def _encode_modes(x: np.ndarray, codec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    means, sds = codec["means"], codec["sds"]
    k, _ = _assign_modes(x, means, sds, codec["weights"])
    alpha = np.clip((x - means[k]) / (ALPHA_SCALE * sds[k]), -1.0, 1.0)
    return k, alpha


def _pick(P: np.ndarray, sample: bool, rng: np.random.Generator) -> np.ndarray:
    """Index per row: argmax, or a draw from the row's clipped, renormalized probabilities."""
    if not sample:
        return np.argmax(P, axis=1)
    P = np.clip(P, 0.0, None)
    total = P.sum(axis=1, keepdims=True)
    P = np.where(total > 0, P / np.where(total > 0, total, 1.0), 1.0 / P.shape[1])  # all-zero row: uniform
    u = rng.random((P.shape[0], 1))
    return np.minimum((np.cumsum(P, axis=1) < u).sum(axis=1), P.shape[1] - 1)


# ----------------------------------------------------------- back to pandas


def _decimals(present: np.ndarray) -> int | None:
    """The fewest decimals (0..MAX_DECIMALS) that every value has, or None (more, or not decimal numbers)."""
    for d in range(MAX_DECIMALS + 1):
        if np.allclose(np.round(present, d), present, rtol=0, atol=1e-9 * max(1.0, float(np.abs(present).max()))):
            return d
    return None


def _numeric_out(x: np.ndarray, missing: np.ndarray, spec: ColumnSpec) -> pd.Series:
    x = np.clip(x, spec.min, spec.max)
    if spec.integer:
        x = np.rint(x)
    elif spec.decimals is not None:
        x = np.round(x, spec.decimals)
    x = x.astype(np.float64)
    x[missing] = np.nan
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype) \
            or isinstance(dtype, pd.CategoricalDtype):
        # Declared numeric over text: numbers come back as numbers.
        dtype = np.dtype("float64") if not spec.integer else pd.Int64Dtype() if missing.any() else np.dtype("int64")
    elif missing.any() and isinstance(dtype, np.dtype) and dtype.kind in "iu":
        dtype = pd.Int64Dtype()  # a NumPy integer column cannot hold missing values
    return pd.Series(x).astype(dtype)


def _datetime_out(units: np.ndarray, missing: np.ndarray, spec: ColumnSpec) -> pd.Series:
    size = DATETIME_UNITS[spec.datetime_unit]
    secs = np.clip(np.rint(units) * size, spec.min, spec.max)
    secs = np.where(missing, 0, secs).astype(np.int64)
    t = pd.Series(secs.astype("datetime64[s]"))
    t[missing] = pd.NaT
    if spec.datetime_format is not None:  # dates that were text are written back as text
        text = np.asarray(t.dt.strftime(spec.datetime_format), dtype=object)
        text[missing] = _object_na(spec)
        return pd.Series(text, dtype=object).astype(pd.api.types.pandas_dtype(spec.dtype))
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    tz = getattr(dtype, "tz", None)
    if tz is not None:
        t = t.dt.tz_localize("UTC").dt.tz_convert(tz)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return t.astype(dtype)
    return t.astype("datetime64[ns]")  # object columns of date objects come back as datetime64[ns]


def _typed_categories(spec: ColumnSpec) -> pd.Index:
    """The category labels turned back into values of the original type."""
    labels = pd.Series(spec.categories, dtype=object)
    dtype = pd.api.types.pandas_dtype(spec.category_dtype)
    try:
        if pd.api.types.is_bool_dtype(dtype):
            values = labels.map({"True": True, "False": False}).astype(dtype)
        elif pd.api.types.is_numeric_dtype(dtype):
            values = pd.to_numeric(labels).astype(dtype)
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            values = pd.to_datetime(labels).astype(dtype)
        else:
            values = labels.astype(dtype)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"Column {spec.name!r}: categories {list(spec.categories)[:5]} cannot be read back as "
                          f"{spec.category_dtype} ({err}); the schema is damaged.") from None
    return pd.Index(values)


def _categorical_out(codes: np.ndarray, missing: np.ndarray, spec: ColumnSpec) -> pd.Series:
    cats = _typed_categories(spec)
    codes = np.where(missing, -1, codes)
    if spec.dtype == "category":
        return pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(cats, ordered=spec.ordered)))
    values = np.asarray(cats, dtype=object)[np.where(missing, 0, codes)]
    values[missing] = _object_na(spec)
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    if missing.any() and isinstance(dtype, np.dtype) and dtype.kind in "iub":
        dtype = pd.api.types.pandas_dtype({"b": "boolean"}.get(dtype.kind, "Int64"))
    return pd.Series(values, dtype=object).astype(dtype)


def _boolean_out(v: np.ndarray, missing: np.ndarray, spec: ColumnSpec) -> pd.Series:
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    if pd.api.types.is_bool_dtype(dtype):
        if missing.any() or not isinstance(dtype, np.dtype):
            return pd.Series(pd.arrays.BooleanArray(v.astype(bool), missing.copy()))
        return pd.Series(v.astype(bool))
    if pd.api.types.is_numeric_dtype(dtype):  # 0/1 numbers declared boolean
        x = v.astype(np.float64)
        x[missing] = np.nan
        if missing.any() and isinstance(dtype, np.dtype) and dtype.kind in "iu":
            dtype = pd.Int64Dtype()
        return pd.Series(x).astype(dtype)
    values = v.astype(bool).astype(object)
    values[missing] = _object_na(spec)
    return pd.Series(values, dtype=object)


def _object_na(spec: ColumnSpec) -> Any:
    return None if spec.object_missing == "None" else np.nan


# ------------------------------------------------------------- describing


def _missing_text(c: ColumnSpec) -> str:
    return f"{100 * c.missing_share:.1f}%" if c.has_missing else "-"


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _detail_text(c: ColumnSpec) -> str:
    if c.kind == "categorical":
        if c.categories is None:
            return "categories read at fit"
        return f"{len(c.categories)} categories" + (" (ordered)" if c.ordered else "")
    if c.kind == "numeric":
        if c.min is None:
            return "range read at fit"
        return ("integer " if c.integer else "") + f"{_fmt(c.min)} .. {_fmt(c.max)}"
    if c.kind == "datetime":
        if c.min is None:
            return "range read at fit"
        lo, hi = (pd.Timestamp(int(v), unit="s") for v in (c.min, c.max))
        return f"{lo} .. {hi}, unit {c.datetime_unit}" + (f", text {c.datetime_format}" if c.datetime_format else "")
    return ""


def _encoding_text(c: ColumnSpec, normalization: str, codec: dict[str, Any] | None) -> str:
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


def _render(rows: list[tuple[str, ...]], notes: tuple[str, ...], ignored: tuple[str, ...]) -> str:
    header = ("column", "kind", "dtype", "missing", "details", "encoding")
    table = [header] + [tuple(str(v) for v in r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if ignored:
        lines.append(f"ignored: {', '.join(ignored)}")
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


# ================================================================ demo table


def make_mixed_table(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """A generated table of known structure, for tests and docs.

    Columns:

    * ``score`` float64: bimodal, 40 % N(-3, 0.7) and 60 % N(4, 1);
    * ``income`` float64: skewed positive (log-normal, 2 decimals), ~8 % missing;
    * ``age`` int64: whole numbers 18..90;
    * ``segment`` ordered Categorical low < mid < high (rises with income), ~6 % missing;
    * ``city`` object strings: Lyon/Paris mostly where score is high, Oslo/Bergen where low;
    * ``member`` bool: more often True where score is high;
    * ``joined`` datetime64[ns] on whole hours over 2019-2023, ~5 % missing.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be an integer >= 1; got {n!r}.")
    rng = np.random.default_rng(seed)
    high = rng.random(n) < 0.6
    score = np.where(high, rng.normal(4.0, 1.0, n), rng.normal(-3.0, 0.7, n))
    income = np.round(rng.lognormal(10.3, 0.6, n), 2)
    age = rng.integers(18, 91, n).astype(np.int64)
    level = np.clip(np.digitize(np.log(income) + rng.normal(0, 0.3, n), [10.0, 10.6]), 0, 2)
    segment = pd.Categorical.from_codes(np.where(rng.random(n) < 0.06, -1, level),
                                        categories=["low", "mid", "high"], ordered=True)
    swap = rng.random(n) < 0.1  # a little noise in the score-city link
    city = np.where(high ^ swap, rng.choice(["Lyon", "Paris"], n, p=[0.7, 0.3]),
                    rng.choice(["Oslo", "Bergen"], n, p=[0.5, 0.5])).astype(object)
    member = rng.random(n) < np.where(high, 0.7, 0.3)
    hours = rng.integers(0, 5 * 365 * 24, n)
    joined = pd.Series(np.datetime64("2019-01-01T00", "h") + hours.astype("timedelta64[h]")).astype("datetime64[ns]")
    joined[rng.random(n) < 0.05] = pd.NaT
    income[rng.random(n) < 0.08] = np.nan
    return pd.DataFrame({
        "score": score,
        "income": income,
        "age": age,
        "segment": segment,
        "city": pd.Series(city, dtype=object),
        "member": member,
        "joined": joined,
    })
