"""Table runs: mixed-type columns through one VAE with a mixed likelihood.

``vaelab train table.csv --out RUN`` reads a CSV/Parquet table; when a column is not
numeric or values are missing (or with ``--table``) it becomes a table run:

* the schema (kind of each column) is inferred on the whole table, shown, and can be
  overridden (``--categorical COL ...``, ``--numeric``, ``--boolean``, ``--datetime``,
  ``--ignore``);
* a :class:`TableTransformer` is fitted on the *training rows* only: numeric and
  datetime columns by mode-specific normalization (TVAE, Xu et al. 2019) or
  standardization, categoricals one-hot, booleans 0/1, one missing-value indicator
  per column with missing values;
* the VAE's likelihood is :class:`vaelab.nn.likelihoods.Mixed`, the sum of the
  per-column terms with missing values masked, so ``score``, ``inspect`` and
  ``compare-samplers`` work on table runs unchanged.

The run keeps ``table.json`` (schema and encodings) and ``table.safetensors`` (their
arrays). Generated rows come back as a DataFrame with the original column names,
dtypes and categories; ``evaluate-synthetic`` scores them by SDMetrics' conventions.
"""
from __future__ import annotations

import dataclasses
import shlex
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaelab.analysis.samplers import fit_sampler
from vaelab.analysis.synthetic_tables import column_shapes, distance_to_closest_record, fidelity, ml_efficacy
from vaelab.analysis.table_generation import (
    CHOICE_SEED,
    TableModel,
    TemperatureChoice,
    check_latent_rows,
    class_label,
    choose_temperature,
    condition_advice,
    latent_detail,
    resolve_temperature,
    sample_table,
)
from vaelab.checkpoint import RunDir
from vaelab.config import AUTO, DataConfig, check_measured_count
from vaelab.data.dataset import Dataset
from vaelab.data.sources import (
    PANDAS_MISSING,
    check_missing_values,
    kept_spellings,
    looks_like_table,
    read_table,
    zero_padded_columns,
)
from vaelab.data.split import indices, split_assignment
from vaelab.data.table_schema import ColumnSpec, TableSchema, dates_as_datetimes, infer_schema, unmodelled_columns
from vaelab.data.table_transformer import (
    DENSITY_UNITS,
    TableTransformer,
    condition_codes,
    encode_table,
    flag_conditions,
    flag_labels,
    require_condition_columns,
    split_condition,
    training_label_counts,
)
from vaelab.errors import ConfigError, DataError
from vaelab.metrics_schema import (
    closer_text,
    condition_note,
    constant_note,
    exact_copies,
    fidelity_texts,
    ml_condition_target,
    ml_difference,
    ml_note,
    ml_secondary,
)
from vaelab.report.synthetic_figures import column_marginals
from vaelab.runs.base import (
    Prepared,
    Request,
    RunKind,
    check_frame_output,
    load_state,
    refuse_labels,
    save_state,
    write_frame,
)
from vaelab.table_vae import TABLE_SETTINGS

TABLE = "table.json"
TABLE_ARRAYS = "table.safetensors"
OVERRIDES = ("categorical", "numeric", "boolean", "datetime", "ignore")
MAX_NAMED = 10  # columns named in a note; the rest counted
CONDITION_KEYS = ("condition", "column_order", "label_counts")  # table.json of a conditional run, beside the transformer's
MISSING_KEY = "missing_values"  # table.json: the texts read as missing cells in every file of the run (--missing-values)


class TableKind(RunKind):
    name = "table"
    description = "a table run"
    files = (TABLE, TABLE_ARRAYS)
    # normalization None: mode; any value given, the default's name too, is refused by the other kinds
    options = {"table": False, **{k: () for k in OVERRIDES}, "normalization": None, "condition": (),
               "missing_values": ()}  # fmt: skip
    decodes_mean = False  # a row is a draw: categories, booleans and missingness drawn from their probabilities
    # z from a Gaussian mixture fitted to the training rows' codes: SDMetrics' pair trends above the prior's on
    # four of bench/tabular.py's five tables, and fair's ML efficacy 0.609 -> 0.627 (BENCHMARKS.md, third pass)
    default_sampler = "aggregate-gmm"
    report_sections = frozenset({"tabular"})
    default_settings = TABLE_SETTINGS

    def __init__(self, transformer: TableTransformer, condition: tuple[ColumnSpec, ...] = (),
                 columns: tuple[str, ...] | None = None, label_counts: dict[str, int] | None = None,
                 missing: tuple[str, ...] = ()):  # fmt: skip
        self.transformer = transformer
        self.missing = tuple(missing)  # texts read as missing cells (--missing-values), in every file the run reads
        self.condition = tuple(condition)  # columns the model is conditioned on (--condition), not modelled
        self.columns = tuple(columns) if columns else tuple(transformer.schema.names)  # the table's, in order
        self.label_counts = dict(label_counts or {})  # training rows per condition label (every label of the table)

    # ------------------------------------------------------------ training
    @classmethod
    def claims(cls, request: Request) -> bool:
        # Labels belong to image/vector data; a table models all its columns jointly.
        return bool(request.option("table")) or (not request.labelled and looks_like_table(request.source))

    @classmethod
    def prepare(cls, request: Request, model: Any) -> Prepared:
        refuse_labels(request, cls.description)
        names = tuple(request.option("condition", ()))
        if model.conditional and not names:
            raise ConfigError("A table run is conditioned on columns of its own: name them with --condition COL ... "
                              "(categorical or boolean), instead of --conditional.")  # fmt: skip
        missing = check_missing_values(request.option("missing_values", ()))
        declared = {k: tuple(request.option(k, ())) for k in OVERRIDES}
        # a CSV's digit codes with leading zeros ('00104') read as text, unless declared of another kind
        others = {c for k in ("numeric", "boolean", "datetime", "ignore") for c in declared[k]}
        codes = tuple(c for c in zero_padded_columns(request.source, missing) if c not in others)
        # a Parquet file's text cells are its values ('NA' is Namibia): only its nulls are missing, as in the
        # DataFrame pd.read_parquet gives TableVAE.fit; a CSV's 'NA', 'null', ... are missing, as pd.read_csv reads them
        df = read_table(request.source, missing, kept=PANDAS_MISSING, text={c: () for c in codes})
        schema = infer_schema(df, **declared)
        condition, schema = split_condition(schema, names)
        split = split_assignment(len(df), request.val_fraction, request.test_fraction, model.seed)
        train = indices(split, "train")
        transformer, X = encode_table(df, schema, request.option("normalization", "mode"), model.seed, train)
        model.set_params(blocks=transformer.likelihood_blocks(), conditional=bool(condition))
        y, classes = condition_codes(df, condition)
        # Training rows per condition label (0 for labels only other splits hold): what free conditions are drawn from.
        counts = training_label_counts(y, classes, train, condition)
        path = str(Path(request.source).resolve())
        dataset = Dataset(X, y, classes, source=path)
        data = DataConfig(source=path, val_fraction=request.val_fraction, test_fraction=request.test_fraction,
                          n_examples=len(df), fingerprint=dataset.fingerprint(), kind=cls.name, classes=classes)  # fmt: skip
        summary = ("schema (override with --categorical/--numeric/--boolean/--datetime COL ..., --ignore COL ...):\n"
                   + textwrap.indent(transformer.describe(), "  "))  # fmt: skip
        if condition:
            trained = sum(1 for k in counts.values() if k > 0)  # held-out rows' own combinations are not trained on
            held_out = (f"; {len(classes) - trained} more only in held-out rows, which the decoder never sees"
                        if trained < len(classes) else "")  # fmt: skip
            summary += (f"\nconditioned on {', '.join(c.name for c in condition)} ({trained} combinations in the "
                        f"training rows{held_out}): the decoder is given them; vaelab sample RUN --given COL=VALUE "
                        "fixes them exactly")  # fmt: skip
        if codes:
            cell = next(c for c in df[codes[0]].dropna() if c.startswith("0"))
            summary += (f"\n{', '.join(map(repr, codes))} read as text: digits with leading zeros ({cell!r}) are "
                        f"codes, not numbers (--numeric {shlex.quote(codes[0])} reads them as numbers)")  # fmt: skip
        if missing:
            summary += f"\ncells reading {', '.join(map(repr, missing))} are missing values (--missing-values)"
        return Prepared(cls(transformer, condition, tuple(df.columns.drop(list(schema.ignored))), counts, missing),
                        dataset, split, data, summary)  # fmt: skip

    def read_rows(self, source: Any) -> pd.DataFrame:
        """A table file read as the run reads every file: its --missing-values, and in Parquet the spellings of
        missing cells it holds as categories kept as text (:func:`vaelab.data.sources.kept_spellings`)."""
        specs = (*self.transformer.schema.columns, *self.condition)
        kept = kept_spellings(c for spec in specs if spec.kind == "categorical" for c in spec.categories or ())
        # a CSV's columns of text labels read as text, as the run holds them (zip codes '00104' are not 104)
        text = {spec.name: kept_spellings(spec.categories) for spec in specs if _text_labels(spec)}
        return read_table(source, self.missing, kept, text)

    def save(self, run: RunDir) -> None:
        meta, arrays = self.transformer.state()
        if self.condition:  # unconditional runs keep the transformer's own state as table.json
            meta = {**meta, "condition": TableSchema(self.condition).to_dict(), "column_order": list(self.columns),
                    "label_counts": self.label_counts}  # fmt: skip
        if self.missing:  # a run without markers keeps the table.json it always had
            meta = {**meta, MISSING_KEY: list(self.missing)}
        save_state(run, self, meta, arrays)

    def class_label(self, label: Any) -> Any:
        return label if label is None or not self.condition else class_label(self.condition, self.label_counts, label)

    def trained_with(self, name: str, value: Any) -> bool:
        listed = name not in ("table", "normalization")  # the others name columns or markers
        values = ((value,) if isinstance(value, str) else tuple(value)) if listed else value
        schema = self.transformer.schema
        if name in ("categorical", "numeric", "boolean", "datetime"):  # columns the run has of that kind
            kinds = {c.name: c.kind for c in (*schema.columns, *self.condition)}
            return all(kinds.get(c) == name for c in values)
        trained = {"table": True, "ignore": set(schema.ignored), "normalization": self.transformer.normalization,
                   "condition": tuple(c.name for c in self.condition), "missing_values": self.missing}  # fmt: skip
        if name == "ignore":
            return set(values) <= trained["ignore"]
        if name == "missing_values":  # markers in any order, each once or more
            return set(values) == set(self.missing)
        return name in trained and values == trained[name]

    @classmethod
    def load(cls, run: RunDir) -> "TableKind":
        def parse(meta: Any, arrays: dict[str, np.ndarray]) -> "TableKind":
            meta = dict(meta) if isinstance(meta, dict) else meta
            extra = {k: meta.pop(k) for k in CONDITION_KEYS if isinstance(meta, dict) and k in meta}
            missing = meta.pop(MISSING_KEY, []) if isinstance(meta, dict) else []
            if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
                raise ConfigError(f"{MISSING_KEY!r} must be a list of texts; got {missing!r:.80}.")
            transformer = TableTransformer.from_state(meta, arrays)
            if not extra:
                return cls(transformer, missing=tuple(missing))
            condition = TableSchema.from_dict(extra.get("condition"), "table.json 'condition'").columns
            columns, counts = extra.get("column_order"), extra.get("label_counts")
            expected = {*transformer.schema.names, *(c.name for c in condition)}
            if not isinstance(columns, list) or set(columns) != expected or len(columns) != len(expected):
                raise ConfigError(f"'column_order' must list the table's columns {sorted(expected)}; got {columns!r:.80}.")
            if not isinstance(counts, dict) or not all(isinstance(v, int) and v >= 0 for v in counts.values()):
                raise ConfigError(f"'label_counts' must map labels to counts; got {counts!r:.80}.")
            return cls(transformer, condition, tuple(columns), counts, tuple(missing))

        return load_state(run, cls, parse)

    def dataset(self, data: DataConfig, lazy: bool = False) -> Dataset:
        df = self.read_rows(data.source)
        # DataErrors, which Run.data says as a changed file (an audit, s11 c: a KeyError traceback without the column,
        # and "--condition region: every row holds 'north'" from score, which was given no --condition)
        require_condition_columns(df, self.condition, "The table's rows")
        try:
            y, classes = condition_codes(df, self.condition)
        except ConfigError as err:
            raise DataError(str(err), setting=err.setting) from None
        return Dataset(self.transformer.transform(df), y, classes, source=data.source)

    @property
    def untrained_labels(self) -> tuple[str, ...]:
        """The condition labels only held-out rows hold (a count of 0 in ``label_counts``)."""
        return tuple(lab for lab, count in self.label_counts.items() if count == 0) if self.condition else ()

    def split_dataset(self, run: Any, name: str, dataset: Dataset) -> Dataset:
        return self.given_trained(self.flag_absent(dataset))

    def flag_absent(self, part: Dataset) -> Dataset:
        """The run's own rows with those holding a category that no training row holds (a held-out row's) flagged in
        ``reasons``, as :meth:`read` flags a file's; they are scored as they are, as a file's are."""
        if part.n_examples == 0 or not self.transformer.absent_features().size:
            return part
        found = self.transformer.absent_reasons(part.X)
        if not any(found):
            return part
        before = list(part.reasons) if part.reasons is not None else [""] * part.n_examples
        reasons = [("; ".join(r for r in (a, b) if r)) for a, b in zip(before, found)]
        return dataclasses.replace(part, reasons=tuple(reasons))

    def given_trained(self, part: Dataset) -> Dataset:
        """The run's own rows with each condition label that only held-out rows hold (a count of 0 in
        ``label_counts``: the model's class, but never trained) replaced by the most frequent trained one, and flagged
        in ``reasons``, as :meth:`read` does for a file's rows (an audit, s11 c: the run's test split and test ELBO
        scored them given the untrained label, without a word). Rows of trained labels are left as they are."""
        if not self.untrained_labels or part.y is None or part.n_examples == 0:
            return part
        labels = part.label_names()
        if not np.isin(labels, self.untrained_labels).any():
            return part
        reasons = list(part.reasons) if part.reasons is not None else [""] * part.n_examples
        labels = flag_labels(labels, self.condition, self.label_counts, reasons)
        y = np.searchsorted(np.asarray(part.classes, dtype=object), labels).astype(np.int64)
        return dataclasses.replace(part, y=y, reasons=tuple(reasons))

    # ------------------------------------------------------------ new rows
    density_units = DENSITY_UNITS

    @property
    def data_dims(self) -> int:
        """Bits/dim per modelled column (the condition columns are given, not scored), not per encoded feature."""
        return len(self.transformer.schema.names)

    def read(self, source, labels=None, label_column=None, lazy=False) -> Dataset:
        """Rows of a CSV/Parquet file with the run's encodings; what training never had (a category, a
        missing value where there were none, a value of another kind, a value out of range) is flagged per
        row in ``reasons`` and, where it cannot be encoded, left out of the likelihood. A conditional run
        scores log p(row | its condition values); a row whose condition values training never had is scored
        given the most frequent ones, and says so."""
        if labels is not None or label_column is not None:
            raise ConfigError(f"--labels and --label-column are for image and vector runs; {self.description} "
                              "reads every column of its rows from the file.")  # fmt: skip
        path = str(Path(source).resolve())
        df = self.read_rows(source)
        require_condition_columns(df, self.condition, f"The rows of {Path(source).name}")
        rows = self.transformer.check_rows(df)
        reasons, y, classes = list(rows.reasons), None, None
        if self.condition:
            classes = tuple(sorted(self.label_counts))  # every label of the table, as the model's classes
            labels_ = flag_conditions(df, self.condition, self.label_counts, reasons)
            y = np.searchsorted(np.asarray(classes, dtype=object), labels_) if classes else None
        return Dataset(rows.X, y, classes, source=path, observed=rows.observed, reasons=tuple(reasons),
                       remarks=self.unmodelled(df))  # fmt: skip

    def unmodelled(self, df: pd.DataFrame) -> tuple[str, ...]:
        """A note on the columns of new rows the run does not model (it scores the columns it was trained on), or
        none; a column left out with --ignore at training is expected and not named."""
        extra = unmodelled_columns(df, self.columns, self.transformer.schema.ignored)
        if not extra:
            return ()
        shown = ", ".join(repr(c) for c in extra[:MAX_NAMED]) + (f" and {len(extra) - MAX_NAMED} more"
                                                                    if len(extra) > MAX_NAMED else "")
        return (f"{len(extra)} column{'s' if len(extra) > 1 else ''} of the file {'are' if len(extra) > 1 else 'is'} "
                f"not in the run's table and not scored: {shown} (log p(x) covers the {len(self.columns)} columns "
                "the run was trained on)",)  # fmt: skip

    def log_jacobian(self, X: Any, observed: np.ndarray | None = None) -> np.ndarray:
        return self.transformer.log_jacobian(X, observed)

    # --------------------------------------------------------- generating
    def to_user(self, X: np.ndarray) -> pd.DataFrame:
        return self.transformer.inverse_transform(X)

    def column_view(self, X: np.ndarray) -> list[Any]:
        return self.transformer.column_view(X)

    def table_model(self, run: Any) -> TableModel:
        """The run's model as table generation needs it (its condition columns included)."""
        return self._table_model(run.model)

    def _table_model(self, model: Any) -> TableModel:
        return TableModel(model, self.transformer, self.columns, self.condition, self.label_counts)

    def after_fit(self, run: RunDir, model: Any, dataset: Dataset, split: np.ndarray, main: bool) -> None:
        """The temperature "auto" draws at, chosen on the validation rows with the default sampler
        (:func:`vaelab.analysis.table_generation.choose_temperature`), into metrics.json's ``temperature``."""
        if main:
            run.update_metrics(temperature=self._choose(model, dataset, split, self.default_sampler).to_dict())

    def _choose(self, model: Any, dataset: Dataset, split: np.ndarray, sampler: str,
                fitted: Any = None) -> TemperatureChoice:  # fmt: skip
        df = self.read_rows(dataset.source)[list(self.columns)]
        train, val = indices(split, "train"), indices(split, "val")
        if fitted is None:
            fitted = fit_sampler(sampler, model, dataset.subset(train), self.given_trained(dataset.subset(val)),
                                 CHOICE_SEED)  # fmt: skip
        return choose_temperature(self._table_model(model), fitted, df.iloc[train].reset_index(drop=True),
                                  df.iloc[val].reset_index(drop=True))  # fmt: skip

    def synthesize(self, run: Any, n: int, *, sampler: str | None = None, seed: int = 0, draw: bool = False,
                   label: Any = None, given: Any = None, temperature: float | str = AUTO) -> pd.DataFrame:  # fmt: skip
        """n rows (draws of p(x|z): categories and missingness drawn, sharper at ``temperature`` < 1; "auto": the
        temperature chosen on the validation rows, stored by :meth:`after_fit` for the default sampler, else
        chosen now: :func:`vaelab.analysis.table_generation.resolve_temperature`), ``given`` columns fixed: by the
        conditional decoder, by rejection, or by latent conditioning (:mod:`vaelab.analysis.table_generation`).
        ``rows.attrs["temperature"]`` says which temperature was used, and why. ``draw`` is refused: the rows
        are always draws, so accepting it would change nothing the user asked for."""
        if draw:
            raise ConfigError(f"--draw (draw=True) asks for draws of p(x|z) instead of decoder means; {run.dir.path} is a table "
                              "run, whose rows are always draws (each category, boolean and missing cell drawn). "
                              "Drop --draw (--temperature T < 1 draws sharper).")  # fmt: skip
        tm = self.table_model(run)
        sampler = sampler or self.default_sampler
        fitted_sampler = run.sampler(sampler, seed)
        chosen = resolve_temperature(temperature, sampler, seed, fitted_sampler,
                                     stored=lambda: run.dir.read_blocks()[0].get("temperature"),
                                     choose=lambda s, f: self._choose(run.model, *run.data(), s, f).to_dict())  # fmt: skip

        def latent(fixed: dict[str, str]) -> tuple[Any, str]:
            (train,) = self.real_rows(run, "train")
            hold = np.flatnonzero(tm.matches(train, fixed))
            check_latent_rows(hold.size, fixed, condition_advice(tm, fixed, first=True))
            part = run.split("train").subset(hold)
            fitted = fit_sampler("aggregate-gmm", run.model, part, None, seed)
            return fitted, latent_detail(fitted, hold.size)

        rows = sample_table(tm, n, fitted_sampler, seed=seed, given=given, label=label, latent=latent,
                            temperature=chosen["temperature"])  # fmt: skip
        rows.attrs["temperature"] = chosen
        return rows

    def given_fidelity(self, run: Any, synth: pd.DataFrame, given: dict[str, str]) -> dict[str, Any]:
        """Rows generated with fixed values against the real training rows that hold them: per other column
        the KS complement (numeric, dates) or TV complement (categories, booleans), as SDMetrics computes them."""
        (train,) = self.real_rows(run, "train")
        real = train[self.table_model(run).matches(train, given)]
        free = [c for c in self.columns if c not in given]
        if len(real) < 2 or not free:  # other_columns says which: none left to compare, or too few real rows
            return {"n_real": int(len(real)), "scores": {}, "other_columns": free}
        real, synth = self.comparable(real[free].reset_index(drop=True), synth[free].reset_index(drop=True))
        shapes = column_shapes(real, synth, {c: self.kinds[c] for c in free})
        return {"n_real": int(len(real)), "other_columns": free,
                "scores": {str(r.column): {"metric": r.metric, "score": float(r.score)} for r in shapes.itertuples()}}  # fmt: skip

    def check_output(self, out: Path) -> None:
        check_frame_output(out)

    def write(self, data: pd.DataFrame, out: Path, title: str = "") -> Path:
        """Rows with the table's own columns, dtypes and categories (.csv, or .parquet to keep dtypes)."""
        return write_frame(data, out)

    def real_rows(self, run: Any, *split_names: str) -> list[pd.DataFrame]:
        """The run's raw rows of each named split, from one read of its source (the schema's columns only)."""
        run.data()  # the source checked against its fingerprint first: a changed file is said as such (an audit)
        df = self.read_rows(run.config.data.source)
        codes = run.dir.read_split(len(df))
        columns = list(self.columns)
        return [df.iloc[indices(codes, name)][columns].reset_index(drop=True) for name in split_names]

    def comparable(self, *frames: pd.DataFrame) -> list[pd.DataFrame]:
        """The frames with their date columns as datetimes, read with each column's stored text format
        (:func:`vaelab.data.table_schema.dates_as_datetimes`), for the metrics that compare real and synthetic rows."""
        specs = (*self.transformer.schema.columns, *self.condition)
        return [dates_as_datetimes(f, specs) for f in frames]

    @property
    def kinds(self) -> dict[str, str]:
        """Every column's kind, in the table's order (condition columns included)."""
        kinds = {**self.transformer.schema.kinds, **{c.name: c.kind for c in self.condition}}
        return {c: kinds[c] for c in self.columns}

    def evaluate_synthetic(self, run: Any, *, n: int | None, target: str | None, sampler: str,
                           seed: int, draw: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """SDMetrics' conventions: synthetic rows as many as the training split against the real training
        rows; ML efficacy on the real test split; distance to closest record with the test split as holdout. Rows
        are draws already, so ``draw`` is refused, as ``sample --draw`` of a table run is (it was taken and ignored:
        an audit, s15, by the README's rule that an option which cannot apply is refused)."""
        if draw:
            raise ConfigError(f"--draw (draw=True) scores draws of p(x|z) in place of decoder means, for a series run; "
                              f"{run.dir.path} is a table run, whose synthetic rows are always draws (each category, "
                              "boolean and missing cell drawn). Drop --draw.")  # fmt: skip
        kinds = self.kinds
        train, test = self.real_rows(run, "train", "test")
        target = _default_target(train, kinds) if target is None else target  # '' is no column: said, not replaced
        if target not in train.columns:
            raise ConfigError(f"--target {target!r} is not a column of this table; its columns are {list(train.columns)}.")
        n = len(train) if n is None else check_measured_count("--n", n, len(train))
        synth = run.synthesize(n, sampler=sampler, seed=seed)
        drawn = synth.attrs["temperature"]
        train, synth, test = self.comparable(train, synth, test)
        # condition columns are drawn at the training rows' frequencies, not generated: scored apart (an audit)
        fid = fidelity(train, synth, kinds, seed=seed, given_columns=tuple(c.name for c in self.condition))
        block: dict[str, Any] = {
            "kind": "table", "sampler": sampler, "temperature": drawn, "n_synthetic": int(n),
            "n_real_train": len(train), "n_real_test": len(test), "fidelity": fid["fidelity"],
            "column_shapes": fid["column_shapes"],
            "column_pair_trends": fid["column_pair_trends"], "missing_similarity": fid.get("missing_similarity"),
            "columns": fid["columns"], "pairs": fid["pairs"], "constant_columns": fid["constant_columns"],
            "condition_columns": fid["shapes_left_out"],
            # their bootstrap SEs over the real and the synthetic rows (new keys: blocks written before lack them)
            **{k: fid[k] for k in ("fidelity_stderr", "column_shapes_stderr", "column_pair_trends_stderr",
                                   "fidelity_stderr_over") if k in fid},
        }  # fmt: skip
        if len(test) < 2:  # said, not left out without a word (an audit: a 12-row table's output just lacked both lines)
            block["not_measured"] = (f"ML efficacy and privacy were not measured: they test on the real test split, "
                                     f"which has {len(test)} row{'' if len(test) == 1 else 's'} (at least 2 needed)")
            return block, {"synthetic_columns": column_marginals(train, synth, kinds)}
        # ML efficacy trains and tests on the rows that hold a target value: a mostly missing target scored 1.000 against
        # 0.000 on the one test row that held one, with no SE, and synthetic rows without one failed the whole command
        # (an audit, s11 a); privacy needs no target
        short = [f"{count} of the {where}" for where, count, least in
                 (("real test split's rows (at least 2 needed)", int(test[target].notna().sum()), 2),
                  ("real training rows (at least 1 needed)", int(train[target].notna().sum()), 1),
                  ("synthetic rows (at least 1 needed)", int(synth[target].notna().sum()), 1)) if count < least]  # fmt: skip
        if len(train.columns) < 2:  # a one-column table: nothing to predict its column from (a review: the whole
            # command failed, "no column besides the target", and fidelity and privacy were lost with it)
            block["not_measured"] = (f"ML efficacy was not measured: the table has one column ({target!r}), so there "
                                     "is no other column to predict it from")  # fmt: skip
        elif short:
            block["not_measured"] = (f"ML efficacy was not measured: the target {target!r} has a value in {short[0]}; "
                                     "name another column with --target")  # fmt: skip
        else:
            block["ml_efficacy"] = ml_efficacy(train, synth, test, target, seed=seed, kinds=kinds)
        block["privacy"] = distance_to_closest_record(train, synth, test, kinds, seed=seed)
        return block, {"synthetic_columns": column_marginals(train, synth, kinds)}

    def summary_lines(self, block: dict[str, Any]) -> list[str]:
        fid = fidelity_texts(block)
        lines = [f"fidelity {fid['fidelity']} (column shapes {fid['column_shapes']}, column pair trends "
                 f"{fid['column_pair_trends']}; SDMetrics' metrics, numeric columns in quantile bins, or a bin per value "
                 f"where they hold 10 or fewer, for contingencies) "
                 f"on {block['n_synthetic']} synthetic vs {block['n_real_train']} real training rows{fid['over']}"]  # fmt: skip
        if block.get("condition_columns"):
            lines.append(condition_note(block))
        if block.get("constant_columns"):
            lines.append(constant_note(block["constant_columns"]))
        drawn = block.get("temperature")
        if isinstance(drawn, dict) and "text" in drawn:
            lines.append(f"drawn with the {block['sampler']} sampler at {drawn['text']}")
        ml = block.get("ml_efficacy")
        if ml:
            name, values = ml_secondary(ml)
            also = {side: f" ({name} {values[side]:.3f})" if isinstance(values.get(side), (int, float)) else ""
                    for side in ("real", "synthetic")}  # fmt: skip
            lines.append(f"ML efficacy ({ml['task']}, target {ml['target']}, {ml['metric']} on the real test split): "
                         f"train on real {ml['real']:.3f}{also['real']}, train on synthetic "
                         f"{ml['synthetic']:.3f}{also['synthetic']}{ml_difference(ml)}{ml_note(ml)}"
                         f"{ml_condition_target(block)}")  # fmt: skip
        pr = block.get("privacy")
        if pr:
            lines.append(f"privacy: median distance to closest training record {pr['dcr_synthetic_median']:.3f} "
                         f"(real holdout {pr['dcr_holdout_median']:.3f}); {closer_text(pr)}; {exact_copies(pr)}")  # fmt: skip
        if block.get("not_measured"):
            lines.append(block["not_measured"])
        return lines

    def report_tables(self, run: RunDir) -> tuple[dict[str, Any], ...]:
        specs = {c.name: c for c in (*self.transformer.schema.columns, *self.condition)}
        on = {c.name for c in self.condition}
        return ({"caption": "schema (inferred, or as overridden at training)",
                 "header": ["column", "kind", "dtype", "missing"], "left": (0, 1, 2),
                 "rows": [[c.name, c.kind + (" (condition)" if c.name in on else ""), c.dtype,
                           f"{100 * c.missing_share:.1f}%"] for c in (specs[n] for n in self.columns)]},)  # fmt: skip


def _text_labels(spec: Any) -> bool:
    """Whether a categorical column's categories are text, given back as text (not numbers or booleans written out)."""
    return (spec.kind == "categorical" and spec.categories is not None and spec.category_types is None
            and str(spec.category_dtype) in ("str", "string", "object"))  # fmt: skip


def _default_target(real: pd.DataFrame, kinds: dict[str, str]) -> str:
    """The last categorical or boolean column (a classification task), else the last column, of those that hold two
    values or more in the real training rows: a column of one value has nothing to predict (an audit: a constant last
    column was the default target, and both models scored 1.000, "single class")."""
    varied = [c for c in real.columns if real[c].nunique(dropna=True) > 1] or list(real.columns)
    discrete = [c for c in varied if kinds.get(c) in ("categorical", "boolean")]
    return str(discrete[-1] if discrete else varied[-1])
