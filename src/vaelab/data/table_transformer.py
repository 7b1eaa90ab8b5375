"""A mixed-type table <-> a float32 matrix, for a tabular VAE (TVAE-style).

:class:`TableTransformer` turns a frame into a float32 matrix and back, column by
column as a :class:`vaelab.data.table_schema.TableSchema` says. Its
:attr:`TableTransformer.blocks` describe the matrix layout for a mixed likelihood:
each :class:`Block` is a contiguous run of features modelled by one Gaussian, one
categorical or one Bernoulli term.

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

import math
import re
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from vaelab.data.table_schema import (
    DATETIME_UNITS,
    NORMALIZATIONS,
    SCHEMA_SETTINGS,
    TABLE_FORMAT_VERSION,
    ColumnProblem,
    ColumnSpec,
    TableSchema,
    bool_values,
    category_values,
    check_frame,
    check_version,
    column_spec,
    datetime_seconds,
    detail_text,
    encoding_text,
    infer_schema,
    instant,
    instant_text,
    own_format,
    is_real,
    missing_text,
    numeric_values,
    render_table,
)
from vaelab.errors import ConfigError, DataError, NotFittedError

__all__ = [
    "GIVEN_KINDS",
    "ColumnValues",
    "condition_codes",
    "label_parts",
    "flag_conditions",
    "flag_labels",
    "training_label_counts",
    "require_condition_columns",
    "split_condition",
    "condition_labels",
    "label_values",
    "CheckedRows",
    "given_label",
    "value_labels",
    "DENSITY_UNITS",
    "LIKELIHOODS",
    "ROLES",
    "Block",
    "TableTransformer",
    "encode_table",
]

LIKELIHOODS = ("gaussian", "categorical", "bernoulli")
ROLES = ("value", "mode", "category", "boolean", "missing")

ALPHA_SCALE = 4.0  # alpha = (x - mu_k) / (4 sigma_k): TVAE/CTGAN's choice
MODE_MIN_WEIGHT = 0.005  # modes lighter than this are dropped (as in CTGAN)
MODE_FIT_MAX_ROWS = 5000  # the mixture is fitted on a seeded subsample of this many values
PROB_TOLERANCE = 1e-3  # probabilities given to inverse_transform may stray this far outside [0, 1]

_STATE_FORMAT = "vaelab.TableTransformer"


OUT_OF_RANGE = "out of range:"  # how a reason about a value beyond the training range starts
NOT_WHOLE = "not a whole number:"  # ... about a fraction in a column of whole numbers
NO_TRAINING_ROW = "in no training row:"  # ... about a category of the schema that no training row holds
SCORED_AS_IS = (OUT_OF_RANGE, NOT_WHOLE, NO_TRAINING_ROW)  # reasons whose cell is still encoded and scored
# An encoded value beyond this is left out of a scored row's likelihood: the float32 likelihood squares its distance
# over an SD as small as 0.01, and inf there ended the whole command ("NaN or infinite log p(x)"), where the README
# flags a value out of range in its row (an audit, s15). 1e15 encoded units are some 1e15 training SDs out.
TOO_FAR = 1e15
# What log p(row) is a density of once log_jacobian is added (scores, the likelihood block).
DENSITY_UNITS = ("the rows' own units: the log-Jacobian of the encoding is included (numeric columns per unit of "
                 "their values, dates per time unit; mode-specific normalization: through the mode each value is "
                 "assigned to, a lower bound on the model's density)")  # fmt: skip


@dataclass
class CheckedRows:
    """New rows encoded for scoring (:meth:`TableTransformer.check_rows`)."""

    X: np.ndarray  # (N, n_features) float32
    observed: np.ndarray | None  # (N, n_features) bool: False where a cell could not be encoded; None: all observed
    reasons: list[str]  # per row: what is new about it ("" when nothing), "column: what; column: what"


@dataclass
class ColumnValues:
    """One column of decoder means E[x|z] in the column's own terms (:meth:`TableTransformer.column_view`)."""

    name: str
    kind: str  # numeric, datetime, categorical, boolean
    values: np.ndarray | None = None  # numeric: (N,) expected value in its units; datetime: (N,) datetime64[s]
    labels: tuple[str, ...] | None = None  # categorical: the categories; boolean: ("False", "True")
    probs: np.ndarray | None = None  # categorical, boolean: (N, C) probability of each label
    sd: float = 1.0  # numeric, datetime: the column's training SD (in its units / time units), to compare changes

    def change(self) -> float:
        """How far the column moves over the rows: its range in training SDs, or the largest total variation
        distance between two rows' category probabilities."""
        if self.probs is not None:
            return float(0.5 * np.abs(self.probs[:, None, :] - self.probs[None, :, :]).sum(-1).max())
        v = self.values.astype("datetime64[s]").astype(np.float64) if self.kind == "datetime" else self.values
        return float((v.max() - v.min()) / self.sd) if v.size else 0.0

    def shown(self, i: int) -> str:
        """Row i as text: the value in its units, or the most probable label with its probability."""
        if self.probs is not None:
            k = int(np.argmax(self.probs[i]))
            return f"{self.labels[k]} ({self.probs[i, k]:.2f})"
        if self.kind == "datetime":  # a date alone where the time is midnight (a column of dates: 2019-01-06)
            if np.isnat(self.values[i]):
                return "NaT"
            ts = pd.Timestamp(self.values[i])
            return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat(sep=" ")
        return f"{self.values[i]:.4g}"


# ======================================================================= layout


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


# ----------------------------------------------------------------- mode fitting


def scale_of(x: np.ndarray) -> float:
    """The power of two at or below the largest magnitude in ``x`` (0 when all are 0): dividing by it is exact, so
    statistics computed on x / scale and scaled back are those of x, bit for bit, without overflow or underflow."""
    top = float(np.abs(x).max()) if x.size else 0.0
    return math.ldexp(1.0, math.frexp(top)[1] - 1) if top > 0 else 0.0


def mean_sd(x: np.ndarray) -> tuple[float, float]:
    """Mean and SD of finite float64 values, computed on the values scaled by :func:`scale_of`: squares of values
    near 1e300 overflowed to inf (NaN statistics) and those near 1e-300 underflowed to 0 (read as a constant)."""
    scale = scale_of(x)
    if scale == 0.0:
        return 0.0, 0.0
    z = x / scale
    return scale * float(z.mean()), scale * float(z.std())


def _assign_modes(
    x: np.ndarray, means: np.ndarray, sds: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Most probable mode of each value among those within 4 sigma (else overall); whether one was within."""
    with np.errstate(over="ignore"):  # a new value far out: d * d is inf, its log p -inf, which is what it is
        d = (x[:, None] - means[None, :]) / sds[None, :]
        logp = np.log(weights)[None, :] - np.log(sds)[None, :] - 0.5 * d * d
    within = np.abs(d) <= ALPHA_SCALE
    covered = within.any(axis=1)
    k = np.where(covered, np.argmax(np.where(within, logp, -np.inf), axis=1), np.argmax(logp, axis=1))
    return k, covered


def _encode_modes(x: np.ndarray, codec: dict[str, Any], clip: Any = True) -> tuple[np.ndarray, np.ndarray]:
    """Mode and offset alpha of each value; alpha clipped to [-1, 1] where ``clip`` (all rows by default)."""
    means, sds = codec["means"], codec["sds"]
    k, _ = _assign_modes(x, means, sds, codec["weights"])
    alpha = (x - means[k]) / (ALPHA_SCALE * sds[k])
    return k, np.where(clip, np.clip(alpha, -1.0, 1.0), alpha)


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

    m, s = mean_sd(x)
    if s == 0 or x.size < 2:
        return np.array([m]), np.array([1.0]), np.array([1.0])
    rng = np.random.default_rng(seed)
    sub = x if x.size <= MODE_FIT_MAX_ROWS else rng.choice(x, MODE_FIT_MAX_ROWS, replace=False)
    z = ((sub - m) / s).reshape(-1, 1)
    bgm = BayesianGaussianMixture(
        n_components=min(max_modes, z.shape[0]),
        # One dimension: "diag" is the same model as "full" (fits agree to 1e-13 on the wine and breast cancer
        # columns) without a Cholesky factorization per component and iteration: 3.5x faster.
        covariance_type="diag",
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


def _overflowing(name: str, present: np.ndarray, codec: dict[str, Any]) -> list[str]:
    """The problem with a column whose encoding overflows float64 (values near its largest, 1.8e308: their
    statistics, or the spans ALPHA_SCALE sigma_k that decode them, are inf), or none: such a column is refused when
    the transformer is fitted, before anything is written, and no non-finite statistic is ever stored."""
    stats = [np.asarray(v, dtype=np.float64) for k, v in codec.items() if k != "encoding"]
    # ALPHA_SCALE scales: a mode's span under mode normalization; a decoder's value that far out under standardization
    if codec["encoding"] == "standard":
        encoded = [ALPHA_SCALE * (abs(codec["mean"]) + codec["sd"]), (present - codec["mean"]) / codec["sd"]]
    else:
        encoded = [ALPHA_SCALE * codec["sds"], _encode_modes(present, codec)[1]]
    if all(np.isfinite(a).all() for a in stats + encoded):
        return []
    top = float(np.abs(present).max())
    return [f"column {name!r} holds values up to {top:.3g} in size, too large to encode in float64 (its statistics "
            f"overflow); divide it by a power of ten first (e.g. df[{name!r}] / 1e{int(np.log10(top))})"]


def _infinite(value: Any) -> bool:
    """Whether a cell holds an infinite number ("inf", "-Infinity", np.inf)."""
    try:
        return math.isinf(float(value))
    except (TypeError, ValueError):
        return False


def _pick(P: np.ndarray, sample: bool, rng: np.random.Generator) -> np.ndarray:
    """Index per row: argmax, or a draw from the row's clipped, renormalized probabilities."""
    if not sample:
        return np.argmax(P, axis=1)
    P = np.clip(P, 0.0, None)
    total = P.sum(axis=1, keepdims=True)
    P = np.where(total > 0, P / np.where(total > 0, total, 1.0), 1.0 / P.shape[1])  # all-zero row: uniform
    u = rng.random((P.shape[0], 1))
    return np.minimum((np.cumsum(P, axis=1) < u).sum(axis=1), P.shape[1] - 1)


# -------------------------------------------------------- reading column values


def _category_labels(s: pd.Series, spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray]:
    """(labels as an object array of str, '' where missing; missing mask). In a column whose categories were
    numbers, a value is its category if it equals it as a number (:func:`_category_label`)."""
    missing = s.isna().to_numpy()
    labels = np.full(len(s), "", dtype=object)
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat_labels = np.array([str(c) for c in s.cat.categories] + [""], dtype=object)
        labels = cat_labels[s.cat.codes.to_numpy()]  # code -1 (missing) picks the trailing ""
    elif (~missing).any():
        labels[~missing] = [str(v) for v in np.asarray(s, dtype=object)[~missing]]
    unmatched = np.flatnonzero(~missing & ~np.isin(labels, spec.categories))
    if unmatched.size and _numbered(spec):
        by_number = _categories_by_number(spec)
        found = {text: _number_category(by_number, text) for text in set(labels[unmatched].tolist())}
        labels[unmatched] = [found[text] for text in labels[unmatched]]
    elif unmatched.size:
        # A boolean read from text cells 'true'/'FALSE' (pandas reads a CSV column of only those as booleans, and
        # vaelab a Parquet one) is the category spelled so: the column was text where it held another value too, or
        # in a Parquet file read before such columns were booleans (an audit, s11 e: every row of a run's own
        # training file was flagged "category 'True' not seen in training")
        spelled = {c.lower(): c for c in spec.categories if c.lower() in ("true", "false")}
        found = {text: spelled.get(text.lower(), text) if text in ("True", "False") else text
                 for text in set(labels[unmatched].tolist())}  # fmt: skip
        labels[unmatched] = [found[text] for text in labels[unmatched]]
    return labels, missing


def _numbered(spec: ColumnSpec) -> bool:
    """Whether a categorical column's categories were numbers (integer or float codes)."""
    dtype = pd.api.types.pandas_dtype(spec.category_dtype)
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _categories_by_number(spec: ColumnSpec) -> dict[float, str]:
    """Number -> category, for a column whose categories were numbers."""
    out: dict[float, str] = {}
    for c in spec.categories:
        try:
            out.setdefault(float(c), c)
        except ValueError:  # pragma: no cover - the categories of numbers are numbers
            continue
    return out


def _number_category(by_number: dict[float, str], text: str) -> str:
    try:
        return by_number.get(float(text), text)
    except (TypeError, ValueError):
        return text


def _category_label(spec: ColumnSpec, text: str) -> str:
    """The category of numeric codes that ``text`` equals as a number, else ``text``: one missing cell makes pandas
    read a CSV column of integer codes as floats (1.0, 3.0), and "1.0" is the category "1" (and "1" the category
    "1.0" of float codes); a fraction such as "1.5" stays what it is, a category of its own."""
    if text in spec.categories or not _numbered(spec):
        return text
    return _number_category(_categories_by_number(spec), text)


# --------------------------------------------------------------- back to pandas


def _object_na(spec: ColumnSpec) -> Any:
    return None if spec.object_missing == "None" else np.nan


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
    whole = np.dtype(dtype.numpy_dtype) if isinstance(dtype, pd.api.extensions.ExtensionDtype) and hasattr(
        dtype, "numpy_dtype") else dtype  # fmt: skip
    if isinstance(whole, np.dtype) and whole.kind in "iu":
        # the float64 of a column's largest whole number can exceed the dtype's (2**63 - 1 is 2.0**63): cast as it is,
        # a value clipped to it wrapped around to -2**63 (an audit, s13); the dtype's own ends hold it
        info = np.iinfo(whole)
        top, bottom = x >= float(info.max), x <= float(info.min)
        ints = np.where(top | bottom | missing, 0, x).astype(whole)
        ints[top], ints[bottom] = info.max, info.min
        out = pd.Series(ints)
        return out.astype(dtype).mask(pd.Series(missing)) if missing.any() else out.astype(dtype)
    return pd.Series(x).astype(dtype)


def _datetime_out(units: np.ndarray, missing: np.ndarray, spec: ColumnSpec) -> pd.Series:
    size = DATETIME_UNITS[spec.datetime_unit]
    secs = np.clip(np.rint(units) * size, spec.min, spec.max)
    secs = np.where(missing, 0, secs).astype(np.int64)
    t = pd.Series(secs.astype("datetime64[s]"))
    t[missing] = pd.NaT
    if spec.datetime_format is not None:  # dates that were text are written back as text
        if "%z" in spec.datetime_format:  # read in UTC (table_schema.parse_text_dates): written with "+0000"
            t = t.dt.tz_localize("UTC")
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
    try:
        return category_values(spec.categories, spec.category_dtype, spec.category_types)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"Column {spec.name!r}: categories {list(spec.categories)[:5]} cannot be read back as "
                          f"{spec.category_dtype} ({err}); the schema is damaged.") from None


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


# ================================================================== transformer


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
        check_frame(df)
        if schema is None:
            schema = infer_schema(df)
        elif not isinstance(schema, TableSchema):
            raise ConfigError(f"schema must be a TableSchema (see infer_schema); got {type(schema).__name__}.")
        self._check_columns(df, schema)
        specs, problems = [], []
        for spec in schema.columns:
            if not spec.complete:
                try:
                    spec, _ = column_spec(spec.name, df[spec.name], spec.kind)
                except ColumnProblem as p:
                    problems.append(str(p))
                    continue
            specs.append(spec)
        if problems:
            raise DataError("Cannot fit the table transformer: " + "; ".join(problems) + ".", setting=SCHEMA_SETTINGS)
        schema = TableSchema(tuple(specs), schema.notes, schema.ignored)
        codecs: dict[str, dict[str, Any]] = {}
        for i, spec in enumerate(schema.columns):
            if spec.kind == "categorical":
                # Categories of the schema (inferred on every split, or a Categorical's unused ones) that no training
                # row holds: the model never learns them, so new rows holding one are flagged (an audit)
                held = set(_category_labels(df[spec.name], spec)[0].tolist())
                absent = [c for c in spec.categories if c not in held]
                codecs[spec.name] = {"encoding": "categorical", **({"absent": absent} if absent else {})}
                continue
            if spec.kind not in ("numeric", "datetime"):
                codecs[spec.name] = {"encoding": spec.kind}
                continue
            x = self._scalars(df[spec.name], spec)
            present = x[~np.isnan(x)]
            if present.size == 0:
                raise DataError(f"Cannot fit column {spec.name!r}: all {x.size} of its values are missing in "
                                "the rows given to fit; fit on rows where it has values.")
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught below, naming the column
                if self.normalization == "standard":
                    mean, sd = mean_sd(present)
                    codecs[spec.name] = {"encoding": "standard", "mean": mean, "sd": sd if sd > 0 else 1.0}
                else:
                    means, sds, weights = _fit_modes(present, self.max_modes, self.seed + i)
                    codecs[spec.name] = {"encoding": "mode", "means": means, "sds": sds, "weights": weights}
                problems += _overflowing(spec.name, present, codecs[spec.name])
        if problems:
            raise DataError("Cannot fit the table transformer: " + "; ".join(problems) + ".", setting=SCHEMA_SETTINGS)
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
            had no missing values at fit time. (:meth:`check_rows` flags such rows instead.)
        """
        return self._encode(df, None)

    def check_rows(self, df: pd.DataFrame) -> "CheckedRows":
        """Encode new rows for scoring, flagging instead of refusing what the training data never had.

        Per row, :attr:`CheckedRows.reasons` says what is new: a category not seen at fit time,
        a missing value in a column that had none, a value that is not of the column's kind, or
        a number (or date) outside the range seen when the schema was made. Cells that cannot
        be encoded (the first three) hold the neutral filler and are left out of the likelihood
        through :attr:`CheckedRows.observed` (the row's other columns are scored); a value out of
        range is encoded without clipping its mode offset, so its density is the model's own far
        out in the tail. Rows without problems are encoded exactly as :meth:`transform` does.
        """
        problems: list[tuple[int, str, str]] = []  # (row, column, what)
        X = self._encode(df, problems)
        observed = np.ones(X.shape, dtype=bool)
        reasons = [[] for _ in range(X.shape[0])]
        for row, column, what in problems:
            if not what.startswith(SCORED_AS_IS):
                for b in self.column_blocks(column).values():
                    if b.role != "missing":
                        observed[row, b.slice] = False
            reasons[row].append(f"{column}: {what}")
        values = np.ones(X.shape[1], dtype=bool)  # the features that hold values, not missing-value flags
        for b in self.blocks:
            if b.role == "missing":
                values[b.slice] = False
        for row in np.flatnonzero(~observed[:, values].any(axis=1)) if values.any() else ():
            reasons[row].append("no cell could be encoded: its log p(x) covers only which cells are missing and says "
                                "nothing of its values")  # fmt: skip
        return CheckedRows(X, observed if not observed.all() else None, ["; ".join(r) for r in reasons])

    def _encode(self, df: pd.DataFrame, problems: list[tuple[int, str, str]] | None) -> np.ndarray:
        """transform's work; with a ``problems`` list, new values are listed there instead of refused."""
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
            unreadable = np.zeros(n, dtype=bool)  # checking: values that are not of the column's kind
            if problems is not None and spec.kind != "categorical":
                s, unreadable = self._readable(s, spec, problems)
            if spec.kind in ("numeric", "datetime"):
                x = self._scalars(s, spec)
                missing = np.isnan(x)
                far = np.zeros(n, dtype=bool)
                if problems is not None:
                    far = self._out_of_range(x, spec, problems)
                codec = self._codecs[name]
                value = blocks[name, "value"].start
                with np.errstate(over="ignore", invalid="ignore"):
                    if codec["encoding"] == "standard":
                        alpha = np.where(missing, 0.0, (np.nan_to_num(x) - codec["mean"]) / codec["sd"])
                    else:
                        k, alpha = _encode_modes(np.where(missing, codec["means"][0], x), codec, clip=~far)
                        k[missing] = int(np.argmax(codec["weights"]))  # neutral filler: the heaviest mode, alpha 0
                        alpha[missing] = 0.0
                        out[np.arange(n), blocks[name, "mode"].start + k] = 1.0
                if problems is not None:  # a value too far for the float32 likelihood: left out (TOO_FAR), said
                    for i in np.flatnonzero(far & ~(np.abs(alpha) <= TOO_FAR)):
                        alpha[i] = 0.0
                        problems.append((int(i), name, "too far out for the model's float32 likelihood (its square "
                                         "overflows): left out of log p(x), the row scored on its other columns"))
                out[:, value] = alpha
            elif spec.kind == "categorical":
                labels, missing = _category_labels(s, spec)
                codes = pd.Index(spec.categories, dtype=object).get_indexer(labels)
                unseen = (codes < 0) & ~missing
                if unseen.any() and problems is not None:
                    problems.extend((int(i), name, f"category {labels[i]!r} not seen in training")
                                    for i in np.flatnonzero(unseen))  # fmt: skip
                elif unseen.any():
                    counts = pd.Series(labels[unseen]).value_counts()
                    shown = ", ".join(f"{v!r} ({c} rows)" for v, c in counts.head(10).items())
                    more = f" and {len(counts) - 10} more" if len(counts) > 10 else ""
                    raise DataError(
                        f"Column {name!r} holds categories not seen at fit time: {shown}{more}. Known: "
                        f"{list(spec.categories)[:20]}{' ...' if len(spec.categories) > 20 else ''}. Infer the "
                        "schema on all the data (infer_schema(full_df)) and fit with it, or drop those rows."
                    )
                rows = np.flatnonzero(~missing & ~unseen)  # an unseen category's one-hot stays all zero
                out[rows, blocks[name, "category"].start + codes[rows]] = 1.0
                absent = self._codecs[name].get("absent")
                if absent and problems is not None:  # known to the schema, never to the model: scored, and said
                    problems.extend((int(i), name, f"{NO_TRAINING_ROW} category {labels[i]!r} (a category of the column "
                                     "that no training row holds)") for i in rows[np.isin(labels[rows], absent)])  # fmt: skip
            else:
                try:
                    v, missing = bool_values(s, name)
                except ColumnProblem as p:
                    raise DataError(str(p) + ".") from None
                out[:, blocks[name, "boolean"].start] = v
            missing = missing & ~unreadable
            if missing.any():
                if not spec.has_missing and problems is not None:
                    problems.extend((int(i), name, "missing, and it had no missing values in training")
                                    for i in np.flatnonzero(missing))  # fmt: skip
                elif not spec.has_missing:
                    rows = np.flatnonzero(missing)
                    raise DataError(
                        f"Column {name!r} has {rows.size} missing value(s) (first at row {int(rows[0])}) but had none "
                        "when the schema was made, so it has no missing flag. Infer the schema on data that "
                        "includes missing values, or fill them first."
                    )
                else:
                    out[:, blocks[name, "missing"].start] = missing
        return out

    def _readable(self, s: pd.Series, spec: ColumnSpec,
                  problems: list[tuple[int, str, str]]) -> tuple[pd.Series, np.ndarray]:  # fmt: skip
        """The column with values that are not of its kind blanked (listed in ``problems``), and where they were."""

        def fits(values: pd.Series) -> np.ndarray:  # per value: True unless present and not of the column's kind
            if spec.kind == "boolean":
                bool_values(values, spec.name)
                return np.ones(len(values), dtype=bool)
            return ~(np.isnan(self._scalars(values, spec)) & values.notna().to_numpy())

        try:
            ok = fits(s)
        except (ColumnProblem, DataError):  # some value is not a number / not a boolean: judge them one by one
            ok = np.ones(len(s), dtype=bool)
            for i, v in enumerate(np.asarray(s, dtype=object)):
                try:
                    ok[i] = pd.isna(v) or bool(fits(pd.Series([v], dtype=object))[0])
                except (ColumnProblem, DataError):
                    ok[i] = False
        bad = ~ok
        if not bad.any():
            return s, bad
        values = np.asarray(s, dtype=object).copy()
        for i in np.flatnonzero(bad):
            problems.append((int(i), spec.name, f"{str(values[i])[:40]!r} is infinite" if _infinite(values[i])
                             else f"{str(values[i])[:40]!r} is not a {spec.kind} value"))  # fmt: skip
        values[bad] = None
        return pd.Series(values, dtype=object), bad

    def _out_of_range(self, x: np.ndarray, spec: ColumnSpec, problems: list[tuple[int, str, str]]) -> np.ndarray:
        """Values outside the range seen when the schema was made, listed in ``problems`` with their distance in SDs."""
        size = DATETIME_UNITS[spec.datetime_unit] if spec.kind == "datetime" else 1.0
        lo, hi = spec.min / size, spec.max / size
        with np.errstate(invalid="ignore"):
            far = (x < lo) | (x > hi)
        sd = self.column_sd(spec.name)
        for i in np.flatnonzero(far):
            side, edge = ("below", lo) if x[i] < lo else ("above", hi)
            shown = f"{x[i]:.6g}" if spec.kind == "numeric" else instant_text(x[i] * size, spec)
            unit = "" if spec.kind == "numeric" else f" (in {spec.datetime_unit})"
            if spec.min == spec.max:  # a constant has no SD to count in (its codec's sd of 1 is a stand-in: "1.0 SD")
                seen = f"{spec.min:.6g}" if spec.kind == "numeric" else instant_text(spec.min, spec)
                problems.append((int(i), spec.name, f"{OUT_OF_RANGE} {shown} is {side} the one value seen in "
                                 f"training ({seen})"))  # fmt: skip
                continue
            d = abs(x[i] - edge) / sd  # 1e300 SDs in fixed point wrote 300 digits
            problems.append((int(i), spec.name, f"{OUT_OF_RANGE} {shown} is {f'{d:.1f}' if d < 1e6 else f'{d:.3g}'} SD{unit} "
                             f"{side} the range seen in training"))  # fmt: skip
        if spec.kind == "numeric" and spec.integer:  # a fraction where training held whole numbers: said, and scored
            with np.errstate(invalid="ignore"):
                for i in np.flatnonzero(~far & np.isfinite(x) & (x != np.round(x))):
                    problems.append((int(i), spec.name, f"{NOT_WHOLE} {x[i]:.6g}, where every training value was "
                                     "whole (scored as it is)"))  # fmt: skip
        return far

    def column_sd(self, column: str) -> float:
        """The SD of a numeric or datetime column's training values (its mixture's, under mode normalization)."""
        codec = self._codecs[column]
        if codec["encoding"] == "standard":
            return float(codec["sd"])
        w, m, s = codec["weights"], codec["means"], codec["sds"]
        # the mixture's variance sum_k w_k (s_k^2 + (m_k - mean)^2), scaled first (scale_of): squares of values
        # near 1e300 overflow and those near 1e-300 underflow to 0
        d = m - w @ m
        scale = scale_of(np.concatenate([s, d]))
        return scale * float(np.sqrt(w @ ((s / scale) ** 2 + (d / scale) ** 2)))

    def log_jacobian(self, X: Any, observed: np.ndarray | None = None) -> np.ndarray:
        """log |d encoded / d data| per row of an encoded matrix: what turns the model's log-density of the
        encoded row into the log-density of the row in the data's own units, shape (N,).

        Each observed numeric or datetime value contributes -log(scale) of its encoding: the SD for
        standardization; 4 sigma_k of the mode it is assigned to under mode-specific normalization. The
        latter is the density of the encoded pair (mode k, offset alpha) carried to data units through the
        assigned mode alone, which is a lower bound on the model's density of the value (other modes whose
        range covers it would add theirs) and equal to it when the model puts the value's mass on its
        assigned mode. Datetime columns are counted in their time unit (a density per day for dates).
        Categories, booleans and missing flags are probabilities of discrete values and need none.
        ``observed`` (N, n_features) bool, from :meth:`check_rows`: cells left out of the likelihood
        are left out here too.
        """
        self._fitted()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise DataError(f"log_jacobian expects an encoded matrix (N, {self.n_features}); got shape {X.shape}.")
        out = np.zeros(X.shape[0])
        for spec in self._schema.columns:
            if spec.kind not in ("numeric", "datetime"):
                continue
            codec, blocks = self._codecs[spec.name], self.column_blocks(spec.name)
            if codec["encoding"] == "standard":
                scale = np.full(X.shape[0], codec["sd"])
            else:
                k = np.argmax(X[:, blocks["mode"].slice], axis=1)
                scale = ALPHA_SCALE * codec["sds"][k]
            present = X[:, blocks["missing"].start] < 0.5 if "missing" in blocks else np.ones(X.shape[0], dtype=bool)
            if observed is not None:
                present = present & observed[:, blocks["value"].start]
            out -= np.where(present, np.log(scale), 0.0)
        return out

    def _scalars(self, s: pd.Series, spec: ColumnSpec) -> np.ndarray:
        """The modelled scalar: the number itself, or the count of time units; NaN where missing."""
        try:
            if spec.kind == "numeric":
                return numeric_values(s, spec.name)
            secs = datetime_seconds(s, spec.name, spec.datetime_format)
        except ColumnProblem as p:
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
        # df[name] of a repeated name is a frame, not a column (an audit: AttributeError "'DataFrame' object has no
        # attribute 'dtype'" when scoring rows that held a column twice)
        repeated = sorted({str(c) for c in df.columns[df.columns.duplicated()] if c in schema.names})
        if repeated:
            raise DataError(f"The table holds column(s) {repeated} more than once; which one to read is not clear. "
                            "Keep one of each, e.g. df.loc[:, ~df.columns.duplicated()].")  # fmt: skip

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
                columns.append({k: codec[k] for k in ("encoding", "absent") if k in codec})
        meta = {
            "format": _STATE_FORMAT,
            "version": TABLE_FORMAT_VERSION,
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
        check_version(meta.get("version"), where)
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
                absent = c.get("absent")  # optional: runs written before it have every category in training rows
                if absent is not None:
                    if (spec.kind != "categorical" or not isinstance(absent, list)
                            or not set(absent) <= set(spec.categories)):  # fmt: skip
                        raise ConfigError(f"{w}: 'absent' must list categories of the column; got {absent!r:.80}.")
                    codecs[spec.name]["absent"] = list(absent)
            elif enc != tt.normalization:
                raise ConfigError(f"{w}: 'encoding' must be {tt.normalization!r} (the normalization); got {enc!r}.")
            elif enc == "standard":
                mean, sd = c.get("mean"), c.get("sd")
                if not (is_real(mean) and math.isfinite(mean) and is_real(sd) and math.isfinite(sd) and sd > 0):
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

    def column_view(self, X: Any) -> list[ColumnValues]:
        """Decoder means E[x|z] (N, n_features) as each column's expected value in its own units (dates as
        dates) or its categories' probabilities: what a traversal or an interpolation shows of a table.

        A mode-normalized value's expectation is sum_k p_k (mu_k + 4 sigma_k alpha) over the mode
        probabilities p_k, alpha being the decoder's mean offset (clipped to [-1, 1]); it is clipped to the
        range seen. Missing flags are left out: the values are those of a present value."""
        schema = self._fitted()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise DataError(f"column_view expects decoder means (N, {self.n_features}); got shape {X.shape}.")
        out = []
        for spec in schema.columns:
            blocks, codec = self.column_blocks(spec.name), self._codecs[spec.name]
            if spec.kind == "categorical":
                out.append(ColumnValues(spec.name, spec.kind, labels=spec.categories, probs=X[:, blocks["category"].slice]))
            elif spec.kind == "boolean":
                p = np.clip(X[:, blocks["boolean"].start], 0, 1)
                out.append(ColumnValues(spec.name, spec.kind, labels=("False", "True"), probs=np.stack([1 - p, p], 1)))
            else:
                if codec["encoding"] == "standard":
                    x = X[:, blocks["value"].start] * codec["sd"] + codec["mean"]
                else:
                    alpha = np.clip(X[:, blocks["value"].start], -1.0, 1.0)
                    p = X[:, blocks["mode"].slice]
                    p = p / np.maximum(p.sum(1, keepdims=True), 1e-12)
                    x = p @ codec["means"] + ALPHA_SCALE * alpha * (p @ codec["sds"])
                size = DATETIME_UNITS[spec.datetime_unit] if spec.kind == "datetime" else 1.0
                x = np.clip(x, spec.min / size, spec.max / size)
                if spec.kind == "datetime":
                    x = (np.rint(x) * size).astype(np.int64).astype("datetime64[s]")  # whole time units, as rows decode
                out.append(ColumnValues(spec.name, spec.kind, values=x, sd=self.column_sd(spec.name)
                                        * (size if spec.kind == "datetime" else 1.0)))  # fmt: skip
        return out

    # ------------------------------------------------------------- describe
    def absent_features(self) -> np.ndarray:
        """The one-hot features of categories that no training row holds (the schema's categories come from every
        split, and a Categorical's unused ones): draws never give them (:meth:`redraw_absent`)."""
        return np.asarray([feature for feature, _, _ in self._absent_slots()], dtype=np.int64)

    def _absent_slots(self) -> list[tuple[int, str, str]]:
        """(one-hot feature, column, category) of each category that no training row holds, in column order."""
        out = []
        for b in self._blocks:
            absent = self._codecs[b.column].get("absent") if b.role == "category" else None
            if absent:
                cats = list(self._schema[b.column].categories)
                out += [(b.start + cats.index(c), b.column, c) for c in absent]
        return out

    def absent_reasons(self, X: Any) -> list[str]:
        """Per row of encoded ``X`` (the run's own rows, encoded by :meth:`transform`), what :meth:`check_rows` says
        of a file's row holding a category that no training row holds ("" for none): a held-out row of the run's own
        table holding one is flagged as the same row read from the file is (an audit: ``vaelab score RUN`` did not
        flag it where ``vaelab score RUN FILE`` did)."""
        self._fitted()
        found = self._absent_slots()  # in column order, as check_rows lists them
        out = [[] for _ in range(len(X))]
        if found:
            features = np.asarray([f for f, _, _ in found], dtype=np.int64)
            for start in range(0, len(X), 65536):  # block by block: X may be a view of a large file
                for row, k in zip(*np.nonzero(np.asarray(X[start : start + 65536])[:, features] > 0.5)):
                    _, column, category = found[k]
                    out[start + row].append(f"{column}: {NO_TRAINING_ROW} category {category!r} (a category of the "
                                            "column that no training row holds)")  # fmt: skip
        return ["; ".join(r) for r in out]

    def absent_categories(self, name: str) -> tuple[str, ...]:
        """The categories of column ``name`` that no training row holds (none for other kinds of column)."""
        codec = self._codecs.get(name) or {}
        return tuple(codec.get("absent") or ())

    def redraw_absent(self, X: np.ndarray, probs: Callable[[np.ndarray], np.ndarray], temperature: float,
                      rng: np.random.Generator) -> np.ndarray:  # fmt: skip
        """Drawn rows ``X`` with every category that no training row holds drawn again from the row's other
        categories: p(category | z, not absent), at ``temperature`` (p^(1/T), renormalized), from ``probs(rows)``,
        the decoder's probabilities of those rows. The model learns such a category only as never seen, and its
        draws still gave one in 8% of the rows after 50 epochs (an audit: a Categorical's unused category)."""
        absent = self.absent_features()
        if not absent.size:
            return X
        bad = np.flatnonzero(X[:, absent].max(axis=1) > 0.5)
        if not bad.size:
            return X
        X, P = X.copy(), probs(bad)
        for b in self._blocks:
            cols = np.intersect1d(absent, np.arange(b.start, b.stop))
            if b.role != "category" or not cols.size:
                continue
            rows = np.flatnonzero(X[bad][:, cols].max(axis=1) > 0.5)
            if not rows.size:
                continue
            p = np.clip(P[rows, b.slice].astype(np.float64), 1e-300, None) ** (1.0 / temperature)
            p[:, cols - b.start] = 0.0
            k = _pick(p, True, rng)
            X[bad[rows], b.slice] = 0.0
            X[bad[rows], b.start + k] = 1.0
        return X

    def likelihood_blocks(self) -> tuple[tuple[str, int, int, int], ...]:
        """The layout as :class:`vaelab.nn.likelihoods.Mixed` takes it: (term, start, width, mask), the
        mask being the start of the column's missing flag (-1: none, or the block is the flag)."""
        missing = {b.column: b.start for b in self.blocks if b.role == "missing"}
        return tuple((b.kind, b.start, b.width, -1 if b.role == "missing" else missing.get(b.column, -1))
                     for b in self.blocks)  # fmt: skip

    def describe(self) -> str:
        """The schema table with each column's actual encoding (feature ranges included)."""
        schema = self._fitted()
        rows = []
        for c in schema.columns:
            bl = [b for b in self._blocks if b.column == c.name]
            enc = encoding_text(c, self._codecs[c.name]["encoding"], self._codecs[c.name])
            enc += f"  [{bl[0].start}:{bl[-1].stop}]"
            rows.append((c.name, c.kind, c.dtype, missing_text(c), detail_text(c), enc))
        return render_table(rows, schema.notes, schema.ignored) + f"\n{self.n_features} features in all."


# ------------------------------------------------------------- fixed values
GIVEN_KINDS = ("categorical", "boolean")  # plus whole-number numeric columns: values a draw can hit exactly
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")  # a boolean cell's texts too (table_schema.bool_values)


def given_label(spec: ColumnSpec, value: Any) -> str:
    """The label a fixed value ``COL=VALUE`` stands for in column ``spec``, checked: a category of a
    categorical column, True/False of a boolean one, a whole number in range of a whole-number column, a time in
    range and in whole units of a datetime column. Continuous values are refused: a draw hits one with probability 0."""
    text = str(value).strip()
    if spec.kind == "categorical":
        # A category is taken as written first: ' north' and 'north ' are categories of their own (an audit: the
        # stripped text was refused as "not a category", so a padded label could not be fixed)
        text = str(value) if str(value) in spec.categories else _category_label(spec, text)
        if text not in spec.categories:
            shown = list(spec.categories)[:20]
            raise ConfigError(f"{spec.name}={text!r}: not a category of {spec.name!r}; its categories are {shown}"
                              f"{' ...' if len(spec.categories) > 20 else ''}.")  # fmt: skip
        return text
    if spec.kind == "boolean":
        if text.lower() not in _TRUE + _FALSE:
            raise ConfigError(f"{spec.name}={text!r}: {spec.name!r} is boolean; give True or False (or one of "
                              f"{', '.join(_TRUE + _FALSE)}).")  # fmt: skip
        return "True" if text.lower() in _TRUE else "False"
    if spec.kind == "numeric" and spec.integer:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        # isfinite first: round() raises on NaN (an empty or "nan" value) and on infinity
        if not (math.isfinite(number) and number == round(number) and spec.min <= number <= spec.max):
            raise ConfigError(f"{spec.name}={text!r}: {spec.name!r} holds whole numbers from {spec.min:g} to "
                              f"{spec.max:g}; give one of them.")  # fmt: skip
        return str(int(number))
    if spec.kind == "datetime" and spec.datetime_unit in DATETIME_UNITS and spec.min is not None:
        # generated times are whole units of the column (_datetime_out): a day of a daily column is drawn as a whole
        # number is (an audit: --given date=2020-01-05 was refused as "continuous ... probability 0")
        secs, size = _given_seconds(spec, text), DATETIME_UNITS[spec.datetime_unit]
        fmt = own_format(spec)
        ok = math.isfinite(secs) and secs % size == 0 and spec.min <= secs <= spec.max
        label = str(_time_labels(np.array([secs]), spec)[0]) if ok else ""
        # in the column's own format a time it cannot write (the 15th of a '%Y-%m' column) is no value of it
        if ok and fmt is not None:
            ok = float(datetime_seconds(pd.Series([label], dtype=object), spec.name, fmt)[0]) == secs
        if not ok:
            first, last = _time_labels(np.array([spec.min, spec.max]), spec)
            written = (f" (or as the column writes them: {spec.datetime_format})"
                       if fmt is None and spec.datetime_format not in (None, _LABEL_FORMATS[spec.datetime_unit == "D"])
                       else "")  # fmt: skip
            held = f"times written {fmt}" if fmt is not None else _UNIT_WORDS[spec.datetime_unit]
            raise ConfigError(f"{spec.name}={text!r}: {spec.name!r} holds {held} from {first} to {last}; give one "
                              f"of them, e.g. {spec.name}={first}{written}.")  # fmt: skip
        return label
    raise ConfigError(f"{spec.name}={text!r}: {spec.name!r} is a continuous {spec.kind} column, and a generated value "
                      "equals a given one with probability 0. Fix categorical, boolean or whole-number columns.")  # fmt: skip


_UNIT_WORDS = {"D": "days", "h": "whole hours", "min": "whole minutes", "s": "whole seconds"}


def _given_seconds(spec: ColumnSpec, text: str) -> float:
    """The time a fixed value of a datetime column names, in the column's seconds (:func:`datetime_seconds`): read
    with the column's own text format, else as pandas reads a time (an ISO date); NaN where it is no time."""
    if spec.datetime_format is not None:
        secs = float(datetime_seconds(pd.Series([text], dtype=object), spec.name, spec.datetime_format)[0])
        if math.isfinite(secs):
            return secs
    try:
        t = pd.Timestamp(text)
        tz = getattr(pd.api.types.pandas_dtype(spec.dtype), "tz", None)
        if t.tzinfo is None and tz is not None:  # a zoned column's time as its zone writes it
            t = t.tz_localize(tz)
        if t.tzinfo is not None:
            t = t.tz_convert("UTC").tz_localize(None)
        return (t - pd.Timestamp(0)).total_seconds()
    except (TypeError, ValueError, OverflowError, AttributeError):  # no time (pd.NaT has no tzinfo to read)
        return math.nan


def _time_labels(secs: np.ndarray, spec: ColumnSpec) -> np.ndarray:
    """Seconds of a datetime column as fixed values' labels: 2020-01-05 (a daily column) or 2020-01-05 13:00:00; a
    zoned column's in its own zone with the offset (2020-01-05 00:00:00+0100), as :func:`instant` shows them, and
    text with offsets in UTC (+0000), as it is written back (an audit: Oslo's midnight of 2020-01-01 was labelled
    "2019-12-31 23:00:00", the UTC time, without a word)."""
    t = pd.Series(pd.to_datetime(secs, unit="s"))
    if own_format(spec) is not None:  # the column's own text format: a month column's '2020-01', not '2020-01-01'
        return np.asarray(t.dt.strftime(own_format(spec)), dtype=object)
    tz = getattr(pd.api.types.pandas_dtype(spec.dtype), "tz", None)
    if tz is None and spec.datetime_format is not None and "%z" in spec.datetime_format:
        tz = "UTC"
    daily = spec.datetime_unit == "D" and (tz is None or str(tz) == "UTC")  # a UTC day is a date
    if tz is not None:
        t = t.dt.tz_localize("UTC").dt.tz_convert(tz)
    fmt = _LABEL_FORMATS[daily] + ("%z" if tz is not None and not daily else "")
    return np.asarray(t.dt.strftime(fmt), dtype=object)


_LABEL_FORMATS = {True: "%Y-%m-%d", False: "%Y-%m-%d %H:%M:%S"}  # a daily column's labels, and the others'


def value_labels(s: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """Each value of a column as :func:`given_label` writes it ("" where missing), to match fixed values; a value
    that is not of the column's kind keeps its text (and so matches no label)."""
    if spec.kind == "categorical":
        return _category_labels(s, spec)[0]
    missing = s.isna().to_numpy()
    text = s.astype(str).str.strip()
    if spec.kind == "datetime":
        try:
            secs = datetime_seconds(s.reset_index(drop=True), spec.name, spec.datetime_format)
        except ColumnProblem:  # not dates at all: no label of the column
            secs = np.full(len(s), np.nan)
        out = text.to_numpy(dtype=object).copy()
        out[np.isfinite(secs)] = _time_labels(secs[np.isfinite(secs)], spec)
        out[missing] = ""
        return out
    if spec.kind == "boolean":
        low = text.str.lower()
        out = np.where(low.isin(_TRUE), "True", np.where(low.isin(_FALSE), "False", text)).astype(object)
    else:
        x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        # a whole-number column's values as float64 holds them, as given_label reads a given one (an audit, s13: past
        # 2**53 a training row's exact digits never matched the given value's float, "0 training rows hold" it)
        whole = np.isfinite(x) & ((np.abs(x) < 2.0**53) | bool(spec.integer)) & (x == np.round(x))
        out = text.to_numpy(dtype=object).copy()
        out[whole] = [str(int(v)) for v in x[whole]]
    out[missing] = ""
    return out


def label_values(labels: Any, spec: ColumnSpec) -> pd.Series:
    """Labels of a categorical or boolean column (as :func:`value_labels` writes them) as the column's own
    values and dtype; "" is missing."""
    labels = np.asarray(labels, dtype=object)
    missing = labels == ""
    if spec.kind == "boolean":
        return _boolean_out(labels == "True", missing, spec)
    codes = pd.Index(spec.categories, dtype=object).get_indexer(labels)
    if ((codes < 0) & ~missing).any():
        raise ConfigError(f"Column {spec.name!r}: labels {sorted(set(labels[(codes < 0) & ~missing]))[:5]} are not "
                          f"among its categories.")  # fmt: skip
    return _categorical_out(np.maximum(codes, 0), missing, spec)


def condition_labels(df: pd.DataFrame, specs: tuple[ColumnSpec, ...]) -> np.ndarray:
    """One label per row naming its values of the condition columns: the value itself for one column,
    ``a=x & b=y`` for several. The labels a conditional table model is trained and sampled with."""
    return _joined([value_labels(df[c.name], c) for c in specs], specs)


def _joined(parts: list[np.ndarray], specs: tuple[ColumnSpec, ...]) -> np.ndarray:
    """The condition labels of each condition column's value labels ``parts`` (see :func:`condition_labels`)."""
    if len(specs) == 1:
        return parts[0]
    return np.array([" & ".join(f"{c.name}={v}" for c, v in zip(specs, row)) for row in zip(*parts)], dtype=object)


def require_condition_columns(df: pd.DataFrame, condition: tuple[ColumnSpec, ...], rows: str) -> None:
    """Refuse new ``rows`` (what to call them in the message) lacking a condition column of the model."""
    absent = [c.name for c in condition if c.name not in df.columns]
    if absent:
        raise DataError(f"{rows} lack the condition column(s) {absent} the model is conditioned on; its columns are "
                        f"{list(df.columns)}.")  # fmt: skip
    repeated = sorted({str(c) for c in df.columns[df.columns.duplicated()] if c in {s.name for s in condition}})
    if repeated:
        raise DataError(f"{rows} hold the condition column(s) {repeated} more than once; keep one of each, e.g. "
                        "df.loc[:, ~df.columns.duplicated()].")  # fmt: skip


def split_condition(schema: TableSchema, names: tuple[str, ...]) -> tuple[tuple[ColumnSpec, ...], TableSchema]:
    """(The condition columns' specs, the schema of the modelled columns) for ``--condition``: categorical or
    boolean columns without missing values, at least one column left to model."""
    if not names:
        return (), schema
    unknown = [n for n in names if n not in schema]
    if unknown:
        raise ConfigError(f"condition= names {unknown}, which the table's modelled columns do not include; they are "
                          f"{list(schema.names)}.", setting="condition")  # fmt: skip
    if len(set(names)) != len(names):
        raise ConfigError(f"condition= names a column twice: {list(names)}.", setting="condition")
    specs = tuple(schema[n] for n in names)
    for c in specs:
        if c.kind not in ("categorical", "boolean"):
            raise ConfigError(f"condition={[c.name]!r}: {c.name!r} is {c.kind}; a table is conditioned on categorical "
                              f"or boolean columns (declare whole-number codes categorical={[c.name]!r}, or bin "
                              "continuous values into a new column).",
                              setting=("condition", "categorical"))  # fmt: skip
        if c.has_missing:
            raise ConfigError(f"condition={[c.name]!r}: {c.name!r} has missing values "
                              f"({100 * c.missing_share:.1f}%); a condition must be known for every row. Fill them "
                              "(e.g. as a category) or drop the rows.",
                              setting="condition")  # fmt: skip
    rest = tuple(c for c in schema.columns if c.name not in names)
    if not rest:
        raise ConfigError("condition= names every column; leave at least one column to generate.", setting="condition")
    return specs, TableSchema(rest, schema.notes, schema.ignored)


def condition_codes(df: pd.DataFrame, condition: tuple[ColumnSpec, ...]) -> tuple[np.ndarray | None, tuple[str, ...] | None]:
    """Label codes of each row's condition values (sorted labels), or (None, None) without condition columns."""
    if not condition:
        return None, None
    parts = [value_labels(df[c.name], c) for c in condition]
    labels = _joined(parts, condition)
    classes = tuple(sorted(set(labels.tolist())))
    if len(condition) > 1:  # every label must read back as the values it was made of
        for lab, vals in dict(zip(labels.tolist(), zip(*parts))).items():
            if tuple(label_parts(lab, condition)) != tuple(vals):
                raise ConfigError(f"{_condition_said(condition)}: the values {list(vals)} make the "
                                  f"label {lab!r}, which reads back otherwise (a value holds ' & ' followed by another "
                                  "condition column's name and '='). Rename that column or recode the value.",
                                  setting="condition")  # fmt: skip
    if len(classes) < 2:
        raise ConfigError(f"{_condition_said(condition)}: every row holds {classes[0]!r}; "
                          "a condition needs at least two values.", setting="condition")  # fmt: skip
    return np.searchsorted(np.asarray(classes, dtype=object), labels).astype(np.int64), classes


def training_label_counts(y: np.ndarray | None, classes: tuple[str, ...] | None, train: np.ndarray,
                          condition: tuple[ColumnSpec, ...]) -> dict[str, int]:  # fmt: skip
    """Training rows per condition label (0 for labels only held-out rows hold; {} without condition columns);
    refused when the training rows hold fewer than two, as :func:`condition_codes` refuses a table that does (an
    audit, s11 c: a second value only test rows held let through a model conditioned on nothing it could learn)."""
    if y is None or classes is None:
        return {}
    counts = {c: int(k) for c, k in zip(classes, np.bincount(y[train], minlength=len(classes)))}
    trained = [c for c, k in counts.items() if k > 0]
    if len(trained) < 2:
        others = [c for c, k in counts.items() if k == 0]
        raise ConfigError(f"{_condition_said(condition)}: every training row holds "
                          f"{trained[0] if trained else ''!r} ({', '.join(map(repr, others[:10]))} only held-out "
                          "rows hold); a condition needs at least two values among the training rows. Condition on "
                          "another column, or split otherwise (another seed, smaller held-out fractions).",
                          setting="condition")  # fmt: skip
    return counts


def _condition_said(condition: tuple[ColumnSpec, ...]) -> str:
    """"condition=['region', 'member']": the condition columns as TableVAE takes them, which the CLI says as the flag
    typed, --condition region member (ConfigError.setting; an audit, s15: TableVAE(condition=...) was told of
    "--condition region")."""
    return f"condition={[c.name for c in condition]!r}"


CONDITION_FALLBACK = "scored given the most frequent condition"  # a row's reason when its condition values are new


def flag_conditions(df: pd.DataFrame, condition: tuple[ColumnSpec, ...], label_counts: Mapping[str, int],
                    reasons: list[str]) -> np.ndarray:  # fmt: skip
    """New rows' condition labels for a conditional model's score: a row whose condition values training never had
    (or lacks) is scored given the most frequent condition, and ``reasons`` (one per row, changed in place) says so."""
    def missing(i: int) -> list[str]:
        return [c.name for c in condition if pd.isna(df[c.name].iloc[i])]

    return flag_labels(condition_labels(df, condition), condition, label_counts, reasons, missing)


def flag_labels(labels: np.ndarray, condition: tuple[ColumnSpec, ...], label_counts: Mapping[str, int],
                reasons: list[str], missing: Callable[[int], list[str]] | None = None) -> np.ndarray:  # fmt: skip
    """:func:`flag_conditions` on rows' condition ``labels`` (a copy is changed and returned); ``missing(i)`` names the
    condition columns row i lacks (none: every row holds them all, as a run's own rows do)."""
    labels = np.array(labels, dtype=object)
    fallback = max(label_counts, key=label_counts.get)
    # Labels only held-out rows hold (a count of 0) are the model's classes, but training never gave them to it: a
    # row holding one is flagged and scored as a new one is (an audit, s10 d: it was scored given an untrained label).
    trained = [lab for lab, count in label_counts.items() if count > 0]
    for i in np.flatnonzero(~np.isin(labels, trained)):
        absent = missing(int(i)) if missing is not None else []
        what = (f"condition {', '.join(absent)} missing" if absent else  # its label would read ''
                f"condition {'/'.join(c.name for c in condition)} = {labels[i]!r} not seen in training")
        note = f"{what}: {CONDITION_FALLBACK} {fallback!r}"
        reasons[i] = f"{reasons[i]}; {note}" if reasons[i] else note
        labels[i] = fallback
    return labels


def label_parts(label: str, condition: tuple[ColumnSpec, ...]) -> list[str]:
    """Each condition column's value label within a condition label (:func:`condition_labels`' format), read by
    the columns' names in order, so names holding "=" and values holding " & " ("R & D") are read whole;
    :func:`condition_codes` refuses the rare tables where that is still ambiguous."""
    if len(condition) == 1:
        return [label]
    pattern = " & ".join(f"{re.escape(c.name)}=(.*)" for c in condition)
    found = re.fullmatch(pattern, label, flags=re.DOTALL)
    if found is None:
        raise ConfigError(f"{label!r} is not a label of the condition columns {[c.name for c in condition]}; a "
                          "label reads " + " & ".join(f"{c.name}=VALUE" for c in condition) + ".")  # fmt: skip
    return list(found.groups())


def encode_table(df: pd.DataFrame, schema: TableSchema, normalization: str, seed: int,
                 train_rows: np.ndarray) -> tuple[TableTransformer, np.ndarray]:  # fmt: skip
    """The transformer fitted on the training rows only, and every row encoded: the step table
    runs and :class:`vaelab.TableVAE` share."""
    transformer = TableTransformer(normalization=normalization, seed=seed).fit(df.iloc[train_rows], schema)
    return transformer, transformer.transform(df)
