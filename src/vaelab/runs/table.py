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

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaelab.analysis.synthetic_tables import distance_to_closest_record, fidelity, ml_efficacy
from vaelab.checkpoint import RunDir
from vaelab.config import DataConfig
from vaelab.data.dataset import Dataset
from vaelab.data.sources import looks_like_table, read_table
from vaelab.data.split import indices, split_assignment
from vaelab.data.table_schema import infer_schema
from vaelab.data.table_transformer import DENSITY_UNITS, TableTransformer, encode_table
from vaelab.errors import ConfigError
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

TABLE = "table.json"
TABLE_ARRAYS = "table.safetensors"
OVERRIDES = ("categorical", "numeric", "boolean", "datetime", "ignore")


class TableKind(RunKind):
    name = "table"
    description = "a table run"
    files = (TABLE, TABLE_ARRAYS)
    options = {"table": False, **{k: () for k in OVERRIDES}, "normalization": "mode"}
    decodes_mean = False  # a row is a draw: categories, booleans and missingness drawn from their probabilities
    report_sections = frozenset({"tabular"})

    def __init__(self, transformer: TableTransformer):
        self.transformer = transformer

    # ------------------------------------------------------------ training
    @classmethod
    def claims(cls, request: Request) -> bool:
        # Labels belong to image/vector data; a table models all its columns jointly.
        return bool(request.option("table")) or (not request.labelled and looks_like_table(request.source))

    @classmethod
    def prepare(cls, request: Request, model: Any) -> Prepared:
        refuse_labels(request, cls.description)
        if model.conditional:
            raise ConfigError("--conditional is for labelled images and vectors; a table run models every column jointly.")
        df = read_table(request.source)
        schema = infer_schema(df, **{k: tuple(request.option(k, ())) for k in OVERRIDES})
        split = split_assignment(len(df), request.val_fraction, request.test_fraction, model.seed)
        transformer, X = encode_table(df, schema, request.option("normalization", "mode"), model.seed,
                                      indices(split, "train"))  # fmt: skip
        model.set_params(blocks=transformer.likelihood_blocks())
        path = str(Path(request.source).resolve())
        dataset = Dataset(X, source=path)
        data = DataConfig(source=path, val_fraction=request.val_fraction, test_fraction=request.test_fraction,
                          n_examples=len(df), fingerprint=dataset.fingerprint(), kind=cls.name)  # fmt: skip
        summary = ("schema (override with --categorical/--numeric/--boolean/--datetime COL ..., --ignore COL ...):\n"
                   + textwrap.indent(transformer.describe(), "  "))  # fmt: skip
        return Prepared(cls(transformer), dataset, split, data, summary)

    def save(self, run: RunDir) -> None:
        save_state(run, self, *self.transformer.state())

    @classmethod
    def load(cls, run: RunDir) -> "TableKind":
        return load_state(run, cls, lambda meta, arrays: cls(TableTransformer.from_state(meta, arrays)))

    def dataset(self, data: DataConfig, lazy: bool = False) -> Dataset:
        return Dataset(self.transformer.transform(read_table(data.source)), source=data.source)

    # ------------------------------------------------------------ new rows
    density_units = DENSITY_UNITS

    def read(self, source, labels=None, label_column=None, lazy=False) -> Dataset:
        """Rows of a CSV/Parquet file with the run's encodings; what training never had (a category, a
        missing value where there were none, a value of another kind, a value out of range) is flagged per
        row in ``reasons`` and, where it cannot be encoded, left out of the likelihood."""
        if labels is not None or label_column is not None:
            raise ConfigError(f"--labels and --label-column are for image and vector runs; {self.description} "
                              "reads every column of its rows from the file.")  # fmt: skip
        path = str(Path(source).resolve())
        rows = self.transformer.check_rows(read_table(source))
        return Dataset(rows.X, source=path, observed=rows.observed, reasons=tuple(rows.reasons))

    def log_jacobian(self, X: Any, observed: np.ndarray | None = None) -> np.ndarray:
        return self.transformer.log_jacobian(X, observed)

    # --------------------------------------------------------- generating
    def to_user(self, X: np.ndarray) -> pd.DataFrame:
        return self.transformer.inverse_transform(X)

    def check_output(self, out: Path) -> None:
        check_frame_output(out)

    def write(self, data: pd.DataFrame, out: Path, title: str = "") -> Path:
        """Rows with the table's own columns, dtypes and categories (.csv, or .parquet to keep dtypes)."""
        return write_frame(data, out)

    def real_rows(self, run: Any, *split_names: str) -> list[pd.DataFrame]:
        """The run's raw rows of each named split, from one read of its source (the schema's columns only)."""
        df = read_table(run.config.data.source)
        codes = run.dir.read_split(len(df))
        columns = list(self.transformer.schema.names)
        return [df.iloc[indices(codes, name)][columns].reset_index(drop=True) for name in split_names]

    def evaluate_synthetic(self, run: Any, *, n: int | None, target: str | None, sampler: str,
                           seed: int) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """SDMetrics' conventions: synthetic rows as many as the training split against the real training
        rows; ML efficacy on the real test split; distance to closest record with the test split as holdout."""
        kinds = dict(self.transformer.schema.kinds)
        train, test = self.real_rows(run, "train", "test")
        target = target or _default_target(train, kinds)
        if target not in train.columns:
            raise ConfigError(f"--target {target!r} is not a column of this table; its columns are {list(train.columns)}.")
        n = n or len(train)
        synth = run.synthesize(n, sampler=sampler, seed=seed)
        fid = fidelity(train, synth, kinds, seed=seed)
        block: dict[str, Any] = {
            "kind": "table", "sampler": sampler, "n_synthetic": int(n), "n_real_train": len(train),
            "n_real_test": len(test), "fidelity": fid["fidelity"], "column_shapes": fid["column_shapes"],
            "column_pair_trends": fid["column_pair_trends"], "missing_similarity": fid.get("missing_similarity"),
            "columns": fid["columns"], "pairs": fid["pairs"],
        }  # fmt: skip
        if len(test) >= 2:
            block["ml_efficacy"] = ml_efficacy(train, synth, test, target, seed=seed, kinds=kinds)
            block["privacy"] = distance_to_closest_record(train, synth, test, kinds, seed=seed)
        return block, {"synthetic_columns": column_marginals(train, synth, kinds)}

    def summary_lines(self, block: dict[str, Any]) -> list[str]:
        lines = [f"fidelity {block['fidelity']:.3f} (column shapes {block['column_shapes']:.3f}, "
                 f"column pair trends {block['column_pair_trends']:.3f}; SDMetrics conventions) "
                 f"on {block['n_synthetic']} synthetic vs {block['n_real_train']} real training rows"]  # fmt: skip
        ml = block.get("ml_efficacy")
        if ml:
            lines.append(f"ML efficacy ({ml['task']}, target {ml['target']}, {ml['metric']} on the real test split): "
                         f"train on real {ml['real']:.3f}, train on synthetic {ml['synthetic']:.3f}")  # fmt: skip
        pr = block.get("privacy")
        if pr:
            lines.append(f"privacy: median distance to closest training record {pr['dcr_synthetic_median']:.3f} "
                         f"(real holdout {pr['dcr_holdout_median']:.3f}); {100 * pr['share_closer_than_holdout']:.1f}% "
                         f"of synthetic rows closer than the holdout's 5th percentile; "
                         f"exact copies {100 * pr['exact_copies']:.1f}%")  # fmt: skip
        return lines

    def report_tables(self, run: RunDir) -> tuple[dict[str, Any], ...]:
        cols = self.transformer.schema.columns
        return ({"caption": "schema (inferred, or as overridden at training)",
                 "header": ["column", "kind", "dtype", "missing"], "left": (0, 1, 2),
                 "rows": [[c.name, c.kind, c.dtype, f"{100 * c.missing_share:.1f}%"] for c in cols]},)  # fmt: skip


def _default_target(real: pd.DataFrame, kinds: dict[str, str]) -> str:
    """The last categorical or boolean column (a classification task), else the last column."""
    discrete = [c for c in real.columns if kinds.get(c) in ("categorical", "boolean")]
    return discrete[-1] if discrete else str(real.columns[-1])
