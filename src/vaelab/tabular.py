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
dtypes and categories.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaelab.checkpoint import RunDir, atomic_write
from vaelab.config import DataConfig
from vaelab.data.dataset import Dataset
from vaelab.data.sources import _existing, _read_frame
from vaelab.data.split import indices, split_assignment
from vaelab.data.tabular import TableTransformer, infer_schema
from vaelab.errors import ConfigError, DataError, RunError
from vaelab.estimator import VAE

TABLE = "table.json"
TABLE_ARRAYS = "table.safetensors"
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(source: str | os.PathLike) -> pd.DataFrame:
    path = _existing(source, "table")
    if not path.name.lower().endswith(TABLE_SUFFIXES):
        raise DataError(f"{path.name}: a table must be a .csv or .parquet file.")
    return _read_frame(path)


def looks_like_table(source: Any) -> bool:
    """A CSV/Parquet file with a non-numeric column or a missing value: read it as a table, not a matrix."""
    if not isinstance(source, (str, os.PathLike)) or not str(source).lower().endswith(TABLE_SUFFIXES):
        return False
    if not Path(source).is_file():
        return False
    df = read_table(source)
    return bool(df.isna().to_numpy().any()) or not all(pd.api.types.is_numeric_dtype(df[c]) for c in df.columns)


def likelihood_blocks(transformer: TableTransformer) -> tuple[tuple[str, int, int, int], ...]:
    """The transformer's layout as the Mixed likelihood's blocks: (term, start, width, mask)."""
    missing = {b.column: b.start for b in transformer.blocks if b.role == "missing"}
    return tuple((b.kind, b.start, b.width, -1 if b.role == "missing" else missing.get(b.column, -1))
                 for b in transformer.blocks)  # fmt: skip


def _write_transformer(run: RunDir, transformer: TableTransformer) -> None:
    meta, arrays = transformer.state()
    run.write_arrays(TABLE_ARRAYS, {k: np.asarray(v) for k, v in arrays.items()}, {})
    atomic_write(run.file(TABLE), json.dumps(meta, indent=2).encode())


def load_transformer(run: RunDir) -> TableTransformer:
    path = run.file(TABLE)
    if not path.is_file():
        raise RunError(f"{run.path} is a table run but has no {TABLE}; it is damaged. Train it again.")
    try:
        meta = json.loads(path.read_text())
        arrays, _ = run.read_arrays(TABLE_ARRAYS)
        return TableTransformer.from_state(meta, arrays)
    except (ValueError, ConfigError, DataError) as err:
        raise RunError(f"{path} is damaged ({err}); train the run again.") from None


def table_dataset(run: RunDir, data: DataConfig) -> Dataset:
    """The run's table encoded with its stored transformer: what its VAE models."""
    return Dataset(load_transformer(run).transform(read_table(data.source)), source=data.source)


def train_table_run(
    source: str | os.PathLike,
    out: str | os.PathLike,
    settings: dict[str, Any] | None = None,
    *,
    categorical: tuple[str, ...] = (),
    numeric: tuple[str, ...] = (),
    boolean: tuple[str, ...] = (),
    datetime: tuple[str, ...] = (),
    ignore: tuple[str, ...] = (),
    normalization: str = "mode",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    progress: Callable[[str, dict], None] | None = None,
    on_schema: Callable[[str], None] | None = None,
):
    """Infer the schema, fit the transformer on the training rows, train the mixed-likelihood VAE."""
    from vaelab.run import RunResult, evaluate_split

    run = RunDir(out)
    if run.exists():
        raise RunError(f"{run.path} already holds a run; choose another --out.")
    if run.path.exists() and (not run.path.is_dir() or any(run.path.iterdir())):
        raise RunError(f"{run.path} exists and is not an empty folder; choose another --out.")
    df = read_table(source)
    schema = infer_schema(df, categorical=categorical, numeric=numeric, boolean=boolean, datetime=datetime,
                          ignore=ignore)  # fmt: skip
    model = VAE(**(settings or {}))
    if model.conditional:
        raise ConfigError("--conditional is for labelled images and vectors; a table run models every column jointly.")
    split = split_assignment(len(df), val_fraction, test_fraction, model.seed)
    train_rows = indices(split, "train")
    transformer = TableTransformer(normalization=normalization, seed=model.seed).fit(df.iloc[train_rows], schema)
    if on_schema:
        on_schema(transformer.describe())
    X = transformer.transform(df)
    path = str(Path(source).resolve())
    dataset = Dataset(X, source=path)
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_split(split)
    _write_transformer(run, transformer)
    model.set_params(blocks=likelihood_blocks(transformer))
    data_cfg = DataConfig(source=path, val_fraction=val_fraction, test_fraction=test_fraction, n_examples=len(df),
                          fingerprint=dataset.fingerprint(), kind="table")  # fmt: skip
    model._fit(X[train_rows], None, X[indices(split, "val")], None, data_cfg, run=run, progress=progress)
    test = evaluate_split(model, dataset, split, "test")
    metrics = run.update_metrics(test=test) if test else run.read_metrics()
    return RunResult(run, model, dataset, split, metrics)


def load_table_run(run_path) -> tuple[RunDir, TableTransformer]:
    run = RunDir(run_path)
    run.check()
    data = run.read_config().data
    if data is None or data.kind != "table":
        raise RunError(f"{run.path} is not a table run (train one on a CSV/Parquet table).")
    return run, load_transformer(run)


def real_rows(run_path, split_name: str) -> pd.DataFrame:
    """The run's raw rows of one split, as read from its source (the schema's columns only)."""
    run, transformer = load_table_run(run_path)
    data = run.read_config().data
    df = read_table(data.source)
    codes = run.read_split(len(df))
    return df.iloc[indices(codes, split_name)][list(transformer.schema.names)].reset_index(drop=True)


def generate_table(run_path, n: int, *, sampler: str = "prior", seed: int = 0) -> pd.DataFrame:
    """n synthetic rows: z from ``sampler``, a draw from p(x|z) (categories, booleans and
    missingness drawn from their probabilities), decoded to the original columns and dtypes."""
    from vaelab.analysis.samplers import generate
    from vaelab.estimator import load
    from vaelab.generate import _run_splits, fit_sampler

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"--n must be a positive integer; got {n!r}.")
    run, transformer = load_table_run(run_path)
    model = load(run_path)
    parts = None if sampler == "prior" else _run_splits(run, model)[1]
    X = generate(model, fit_sampler(sampler, model, parts, seed), n, mean=False, seed=seed)
    return transformer.inverse_transform(X)
