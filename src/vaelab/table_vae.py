"""``vaelab.TableVAE``: a VAE for a pandas DataFrame of mixed-type columns, in memory.

The in-memory counterpart of a table run (:mod:`vaelab.runs.table`): the same schema
inference, the same transformer fitted on the training rows (:func:`encode_table`), and a
:class:`vaelab.VAE` with the matching mixed likelihood; no run folder.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd

from vaelab.analysis.samplers import fit_sampler
from vaelab.analysis.table_generation import (
    CHOICE_SEED,
    TableModel,
    check_latent_rows,
    check_table_temperature,
    choose_temperature,
    condition_advice,
    latent_detail,
    resolve_temperature,
    sample_table,
)
from vaelab.config import AUTO, check_seed
from vaelab.data.dataset import Dataset
from vaelab.data.sources import check_missing_values, mark_missing
from vaelab.data.split import indices, split_assignment
from vaelab.data.table_schema import infer_schema, unmodelled_columns
from vaelab.data.table_transformer import (
    DENSITY_UNITS,
    condition_codes,
    condition_labels,
    encode_table,
    flag_conditions,
    flag_labels,
    require_condition_columns,
    split_condition,
    training_label_counts,
)
from vaelab.errors import ConfigError, DataError, NotFittedError
from vaelab.estimator import VAE


# VAE settings of table models unless the user sets them. The ELBO's KL weight (beta 1) leaves the weak links
# between columns out of z: on statsmodels' fair the codes held 2.1 nats in one dimension (15 of 16 collapsed)
# and the rows came out nearly independent given z; halving it (TVAE's loss weights reconstruction x2, the same
# thing) lifted SDMetrics' pair trends on anes96 from 0.41 to 0.76 and ML efficacy from 0.41 to 0.86
# (BENCHMARKS.md, "Why pair trends and ML efficacy trailed").
TABLE_SETTINGS = {"beta": 0.5}
# Where z comes from unless sample() is told: a Gaussian mixture fitted to the training rows' codes (see
# vaelab.runs.table.TableKind.default_sampler).
TABLE_SAMPLER = "aggregate-gmm"


class TableVAE:
    """A VAE for a pandas DataFrame of mixed-type columns, in memory (no run folder).

    >>> from vaelab.data.table_demo import make_mixed_table
    >>> df = make_mixed_table(300)
    >>> model = TableVAE(epochs=2, latent_dim=4, hidden=[32]).fit(df)
    >>> synth = model.sample(5)
    >>> list(synth.columns) == list(df.columns)
    True
    >>> north = model.sample(5, given={"city": "Oslo"})  # rows with a column fixed (rejection here)
    >>> set(north["city"]), north.attrs["generation"]["method"]
    ({'Oslo'}, 'rejection')

    Parameters: ``categorical``, ``numeric``, ``boolean``, ``datetime``, ``ignore`` override the
    inferred schema; ``missing_values`` names texts that mark a missing cell (``['?', 'n.a.']``, as
    ``vaelab train --missing-values``): a cell whose whole text is one is missing, in the frame given to fit and in
    every frame the model later reads (a text column that then holds only numbers is numeric; a marker such as
    '-999' also marks number cells equal to it); ``normalization`` is "mode" (TVAE's) or "standard"; ``condition`` names
    categorical or boolean columns the model is conditioned on (a conditional VAE: they are the
    decoder's input, not generated, and ``sample(given=...)`` fixes them exactly); any other keyword
    is a :class:`vaelab.VAE` setting (latent_dim, hidden, epochs, ...). ``validation_fraction`` of
    the rows are held out for early stopping; the encodings are fitted on the other rows.
    """

    def __init__(self, *, categorical=(), numeric=(), boolean=(), datetime=(), ignore=(),
                 normalization: str = "mode", condition=(), missing_values=(), **settings: Any):  # fmt: skip
        names = _column_names  # "region" is one column, not six
        self.overrides = {"categorical": names(categorical), "numeric": names(numeric), "boolean": names(boolean),
                          "datetime": names(datetime), "ignore": names(ignore)}  # fmt: skip
        self.normalization = normalization
        self.condition = names(condition)
        self.missing_values = check_missing_values(missing_values)  # texts read as missing cells in every frame
        # A misspelt setting (epoch=2) is refused here, not at fit with VAE's "unexpected keyword argument".
        unknown = sorted(set(settings) - set(inspect.signature(VAE.__init__).parameters) - {"self"})
        if unknown:
            raise ConfigError(f"TableVAE got unknown setting(s) {unknown}: besides categorical, numeric, boolean, "
                              "datetime, ignore, normalization, condition and missing_values it takes vaelab.VAE's "
                              "settings (latent_dim, hidden, epochs, lr, ...). Check the spelling.")  # fmt: skip
        self.settings = settings
        if "blocks" in settings or settings.get("likelihood", "auto") not in ("auto", "mixed"):
            raise ConfigError("TableVAE chooses its own likelihood (mixed, from the schema); leave likelihood and blocks out.")
        if settings.get("conditional"):
            raise ConfigError("TableVAE is conditioned on columns of the table: name them with condition=(...).")

    def fit(self, df: pd.DataFrame) -> "TableVAE":
        """Infer the schema on all of ``df``, fit the encodings on its training rows (all but a seeded
        ``validation_fraction``, which early stopping and ``temperature_`` use), train; returns self. The fitted parts:
        ``vae_`` (the :class:`vaelab.VAE`), ``transformer_``, ``columns_``, ``condition_``, ``temperature_``."""
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"TableVAE.fit expects a pandas DataFrame; got {type(df).__name__}.")
        df = self._read(df)
        condition, schema = split_condition(infer_schema(df, **self.overrides), self.condition)
        vae = VAE(**{**TABLE_SETTINGS, **self.settings})
        vae.train_config()  # the seed, before the encodings' fits take it
        split = split_assignment(len(df), vae.validation_fraction, 0.0, vae.seed)
        train = indices(split, "train")
        self.transformer_, X = encode_table(df, schema, self.normalization, vae.seed, train)
        y, classes = condition_codes(df, condition)
        counts = training_label_counts(y, classes, train, condition)  # two values among the training rows, before fitting
        if y is not None and min(counts.values()) == 0:
            # validation rows of a condition value only held-out rows hold are given the most frequent trained one, as
            # a run's are (RunKind.given_trained): the untrained class set the validation loss that picks the best
            # epoch (an audit, s11 c)
            y, val = y.copy(), indices(split, "val")
            labels = flag_labels(np.asarray(classes, dtype=object)[y[val]], condition, counts, [""] * len(val))
            y[val] = [classes.index(lab) for lab in labels]
        vae.set_params(blocks=self.transformer_.likelihood_blocks(), conditional=bool(condition))
        self.vae_ = vae.fit_coded(X, y, classes)  # the condition values as written: fit() strips label names
        self.condition_ = condition
        self.columns_ = tuple(c for c in df.columns if c not in schema.ignored)
        self.label_counts_ = counts
        # Kept for latent conditioning (when rejection keeps too few draws: the training rows' codes) and the samplers.
        # A copy: the caller's later edits to its frame changed what sample(seed=...) gave, and dropping rows broke it
        # (an audit). Under pandas' copy-on-write the copy costs nothing until either frame changes.
        self.data_ = df.copy()
        self.split_ = split
        self.temperature_ = self._choose(TABLE_SAMPLER)  # what sample(temperature="auto") draws at
        return self

    def _sampler(self, name: str, seed: int):
        """The sampler ``name`` fitted to the training rows' codes (the validation rows' select it)."""
        parts = [self.data_.iloc[indices(self.split_, s)] for s in ("train", "val")]
        labels = [self._labels(p) for p in parts]
        if labels[1] is not None:  # a condition value only held-out rows hold: the most frequent trained one, as fit
            labels[1] = flag_labels(labels[1], self.condition_, self.label_counts_, [""] * len(labels[1]))
        train, val = (Dataset(self.transformer_.transform(p), *_coded(lab)) for p, lab in zip(parts, labels))
        return fit_sampler(name, self.vae_, train, val if val.n_examples else None, seed)

    def _choose(self, sampler: str, fitted=None) -> dict[str, Any]:
        """The temperature "auto" stands for with ``sampler`` (:func:`choose_temperature`), as a dict with its reason."""
        train, val = (self.data_.iloc[indices(self.split_, s)][list(self.columns_)].reset_index(drop=True)
                      for s in ("train", "val"))  # fmt: skip
        fitted = fitted if fitted is not None else self._sampler(sampler, CHOICE_SEED)
        return choose_temperature(self.table_model(), fitted, train, val).to_dict()

    def _read(self, df: pd.DataFrame) -> pd.DataFrame:
        """The frame with its cells whose whole text is one of ``missing_values`` missing, as fit read its own (an
        audit, s15: TableVAE took no missing_values, so a Python caller cleaned every frame by hand)."""
        return mark_missing(df, self.missing_values) if isinstance(df, pd.DataFrame) else df

    @property
    def schema(self):
        self._check_fitted("schema")
        return self.transformer_.schema

    def _check_fitted(self, what: str) -> None:
        if not hasattr(self, "vae_"):  # an audit: sample() raised AttributeError: ... no attribute 'vae_'
            raise NotFittedError(f"TableVAE.{what} needs a fitted model; call fit(df) first.")

    def _labels(self, df: pd.DataFrame) -> np.ndarray | None:
        """A conditional model's labels of the rows (their condition values); None without condition columns."""
        if not self.condition_:
            return None
        require_condition_columns(df, self.condition_, "The rows")
        return condition_labels(df, self.condition_)

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Posterior means E_q[z|x] of the rows; a conditional model's given their condition values, or the most
        frequent trained ones where only held-out rows hold theirs (as :meth:`log_likelihood` scores such rows, its
        ``extra["reasons"]`` saying so). :meth:`check` gives each row's reasons, as `vaelab score` writes them."""
        self._check_fitted("transform")
        df = self._read(df)
        labels = self._labels(df)
        if labels is not None:
            self._check_known_conditions(df, labels)
            # the model's class, but never trained: the rule fit and log_likelihood follow (an audit, s12 f: such rows
            # were encoded with the untrained class); values no fitted row holds are refused, as before
            untrained = np.isin(labels, [lab for lab, count in self.label_counts_.items() if count == 0])
            if untrained.any():
                labels = labels.astype(object)
                labels[untrained] = flag_labels(labels[untrained], self.condition_, self.label_counts_,
                                                [""] * int(untrained.sum()))  # fmt: skip
        return self.vae_.transform(self.transformer_.transform(df), labels)

    def _check_known_conditions(self, df: pd.DataFrame, labels: np.ndarray) -> None:
        """Refuse rows whose condition values no fitted row holds, or that lack one, saying which and what to do (it
        was "Unknown label(s) ['']" for a missing value: an audit, s12 f)."""
        names = [c.name for c in self.condition_]
        bad = ~np.isin(labels, list(self.label_counts_)) | df[names].isna().any(axis=1).to_numpy()
        if not bad.any():
            return
        reasons = [""] * len(df)
        flag_conditions(df, self.condition_, self.label_counts_, reasons)
        first = int(np.flatnonzero(bad)[0])
        what = reasons[first].split(": ")[0]  # "condition region = 'east' not seen in training", "condition region missing"
        more = f" (and {int(bad.sum()) - 1} more row(s))" if bad.sum() > 1 else ""
        trained = [lab for lab, count in self.label_counts_.items() if count > 0]
        index = df.index[first].item() if isinstance(df.index[first], np.generic) else df.index[first]  # 7, not np.int64(7)
        raise DataError(f"TableVAE.transform encodes a row given its condition values; row {first} (index "
                        f"{index!r}){more}: {what}; the training rows' are {trained[:20]}. Fix or drop such "
                        "rows (log_likelihood scores them given the most frequent condition and says so in "
                        "extra['reasons']).")  # fmt: skip

    def check(self, df: pd.DataFrame) -> list[str]:
        """What training never had, per row of ``df``, as `vaelab score`'s ``reason`` column says it for a file's rows
        (which adds, once scored, a low log p(x)'s percentile) and :meth:`log_likelihood`'s ``extra["reasons"]``
        holds it; "" where nothing is new. A category or condition value no
        training row holds, a missing value in a column that had none, a value of another kind, a number or date
        outside the range seen in training; :meth:`transform` refuses the first three and encodes the others as they
        are (a condition value only held-out rows hold: given the most frequent trained one), so this says which of
        its rows that touches (an audit, s13: the Python API applied those rules without a word)."""
        self._check_fitted("check")
        return self._checked(self._read(df))[1]

    def _checked(self, df: pd.DataFrame):
        """(CheckedRows, reasons, labels): the rows encoded with what is new flagged per row, as `vaelab score` reads a
        file's (:meth:`vaelab.runs.table.TableKind.read`); labels are a conditional model's, new condition values
        given the most frequent trained ones (None without condition columns)."""
        require_condition_columns(df, self.condition_, "The rows")
        rows = self.transformer_.check_rows(df)
        reasons = list(rows.reasons)
        labels = None  # a conditional model's: new condition values flagged and scored as `vaelab score` does
        if self.condition_:
            labels = flag_conditions(df, self.condition_, self.label_counts_, reasons)
        return rows, reasons, labels

    def log_likelihood(self, df: pd.DataFrame, n_samples: int = 1000, **options: Any):
        """Importance-sampled log p(row) with standard errors (see vaelab.analysis.log_likelihood), in the
        rows' own units (the encoding's log-Jacobian included; ``result.extra["units"]`` says how); given the
        condition columns for a conditional model.

        Rows holding what training never had (a new category, a missing value where there were none, a
        value of another kind, a value out of range) are scored on the columns that can be encoded and
        listed in ``result.extra["reasons"]`` (one string per row, "" when nothing is new). Columns of ``df`` the
        model does not hold are not scored; ``result.extra["unscored_columns"]`` names them."""
        self._check_fitted("log_likelihood")
        df = self._read(df)
        rows, reasons, labels = self._checked(df)
        result = self.vae_.log_likelihood(rows.X, labels, n_samples=n_samples, observed=rows.observed,
                                          **options)  # fmt: skip
        result = result.shifted(self.transformer_.log_jacobian(rows.X, rows.observed), DENSITY_UNITS,
                                dims=len(self.transformer_.schema.names))  # bits per modelled column, not per feature
        result.extra["reasons"] = reasons
        result.extra["unscored_columns"] = unmodelled_columns(df, self.columns_, self.transformer_.schema.ignored)
        return result

    def table_model(self) -> TableModel:
        """The fitted model with its transformer and condition columns, as :mod:`vaelab.analysis.table_generation`
        takes it (``sample_table``)."""
        self._check_fitted("table_model")
        return TableModel(self.vae_, self.transformer_, self.columns_, self.condition_, self.label_counts_)

    def sample(self, n: int, seed: int = 0, given: dict[str, Any] | None = None, temperature: float | str = AUTO,
               sampler: str = TABLE_SAMPLER) -> pd.DataFrame:  # fmt: skip
        """n rows drawn from the model, with the original columns, dtypes and categories; z from ``sampler``
        (default: a Gaussian mixture fitted to the training rows' codes; "prior" for N(0, I)).

        ``given`` fixes columns, e.g. ``{"region": "north"}`` (categories, booleans, whole numbers): by
        the conditional decoder for condition columns, else by rejection, or by latent conditioning when
        rejection keeps fewer than 1% of draws; ``rows.attrs["generation"]`` says which and how many draws
        it took (see :mod:`vaelab.analysis.table_generation`). ``temperature`` < 1 draws categories, booleans and
        modes from softmax(logits / T): sharper links between columns, rarer rare values (1: the model's own
        draws; :func:`vaelab.analysis.samplers.check_temperature`); "auto" (the default) is the temperature chosen at
        fit on the validation rows (``temperature_``; :func:`vaelab.analysis.table_generation.choose_temperature`).
        ``rows.attrs["temperature"]`` says which was used, and why."""
        self._check_fitted("sample")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"n must be a positive integer; got {n!r}.")
        n, seed = int(n), check_seed(seed, "seed")
        check_table_temperature(temperature)
        tm = self.table_model()
        fitted = fit_sampler("prior", self.vae_, seed=seed) if sampler == "prior" else self._sampler(sampler, seed)
        chosen = resolve_temperature(temperature, sampler, seed, fitted, stored=lambda: self.temperature_,
                                     choose=self._choose)  # fmt: skip

        def latent(fixed: dict[str, str]):
            # The training rows only, as the CLI does (the validation rows chose the fit and the temperature).
            train = self.data_.iloc[indices(self.split_, "train")]
            hold = np.flatnonzero(tm.matches(train, fixed))
            # The advice names only columns condition= takes (an audit: "Fit with condition=(...)" for a whole number)
            check_latent_rows(hold.size, fixed, condition_advice(tm, fixed, first=True))
            part = train.iloc[hold]
            codes = Dataset(self.transformer_.transform(part), *_coded(self._labels(part)))
            fitted = fit_sampler("aggregate-gmm", self.vae_, codes, None, seed)
            return fitted, latent_detail(fitted, hold.size)

        rows = sample_table(tm, n, fitted, seed=seed, given=given, latent=latent, temperature=chosen["temperature"])
        rows.attrs["temperature"] = chosen
        return rows


def _column_names(value: Any) -> tuple[str, ...]:
    """Column names given to TableVAE: one name, or a sequence of them (an audit: "region" was read as six columns,
    and 5 raised a bare "'int' object is not iterable")."""
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise ConfigError(f"TableVAE takes column names as a name or a list of names; got {value!r}.") from None


def _coded(labels: np.ndarray | None) -> tuple[np.ndarray | None, tuple[str, ...] | None]:
    """(codes, names) of label names, for a Dataset."""
    if labels is None:
        return None, None
    names, codes = np.unique(labels.astype(str), return_inverse=True)
    return codes.astype(np.int64), tuple(names)
