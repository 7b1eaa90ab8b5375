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

from vaelab.checkpoint import RunDir
from vaelab.files import atomic_write, make_folder, read_json
from vaelab.config import DataConfig
from vaelab.data.dataset import Dataset
from vaelab.data.sources import _existing, _read_frame
from vaelab.data.split import indices, split_assignment
from vaelab.data.table_schema import infer_schema
from vaelab.data.table_transformer import TableTransformer
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
    if not str(source).lower().endswith(".csv"):  # Parquet: the schema, then a streamed look for missing values
        from vaelab.data.rows import parquet_looks_like_table

        answer = parquet_looks_like_table(Path(source))
        if answer is not None:
            return answer
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
    meta = read_json(path, "train the run again")
    try:
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
    from vaelab.run import RunResult, check_fresh_folder, evaluate_split

    run = RunDir(out)
    check_fresh_folder(run)
    df = read_table(source)
    schema = infer_schema(df, categorical=categorical, numeric=numeric, boolean=boolean, datetime=datetime,
                          ignore=ignore)  # fmt: skip
    model = VAE(**(settings or {}))
    if model.conditional:
        raise ConfigError("--conditional is for labelled images and vectors; a table run models every column jointly.")
    split = split_assignment(len(df), val_fraction, test_fraction, model.seed)
    train_rows = indices(split, "train")
    transformer, X = _encode(df, schema, normalization, model, train_rows)
    if on_schema:
        on_schema(transformer.describe())
    path = str(Path(source).resolve())
    dataset = Dataset(X, source=path)
    make_folder(run.path)
    run.write_split(split)
    _write_transformer(run, transformer)
    data_cfg = DataConfig(source=path, val_fraction=val_fraction, test_fraction=test_fraction, n_examples=len(df),
                          fingerprint=dataset.fingerprint(), kind="table")  # fmt: skip
    model._fit(X[train_rows], None, X[indices(split, "val")], None, data_cfg, run=run, progress=progress)
    test = evaluate_split(model, dataset, split, "test")
    metrics = run.update_metrics(test=test) if test else run.read_metrics()
    return RunResult(run, model, dataset, split, metrics)


def _encode(df: pd.DataFrame, schema, normalization: str, model: VAE, train_rows: np.ndarray):
    """The transformer fitted on the training rows, every row encoded, and ``model`` given the
    matching mixed likelihood: the step table runs and :class:`TableVAE` share."""
    transformer = TableTransformer(normalization=normalization, seed=model.seed).fit(df.iloc[train_rows], schema)
    model.set_params(blocks=likelihood_blocks(transformer))
    return transformer, transformer.transform(df)


def load_table_run(run_path) -> tuple[RunDir, TableTransformer]:
    run = RunDir(run_path)
    run.check()
    data = run.read_config().data
    if data is None or data.kind != "table":
        raise RunError(f"{run.path} is not a table run (train one on a CSV/Parquet table).")
    return run, load_transformer(run)


def real_rows(run_path, *split_names: str) -> list[pd.DataFrame]:
    """The run's raw rows of each named split, from one read of its source (the schema's columns only)."""
    run, transformer = load_table_run(run_path)
    df = read_table(run.read_config().data.source)
    codes = run.read_split(len(df))
    columns = list(transformer.schema.names)
    return [df.iloc[indices(codes, name)][columns].reset_index(drop=True) for name in split_names]


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


class TableVAE:
    """A VAE for a pandas DataFrame of mixed-type columns, in memory (no run folder).

    >>> from vaelab.data.table_demo import make_mixed_table
    >>> df = make_mixed_table(300)
    >>> model = TableVAE(epochs=2, latent_dim=4, hidden=[32]).fit(df)
    >>> synth = model.sample(5)
    >>> list(synth.columns) == list(df.columns)
    True

    Parameters: ``categorical``, ``numeric``, ``boolean``, ``datetime``, ``ignore`` override the
    inferred schema; ``normalization`` is "mode" (TVAE's) or "standard"; any other keyword is a
    :class:`vaelab.VAE` setting (latent_dim, hidden, epochs, ...). ``validation_fraction`` of the
    rows are held out for early stopping; the encodings are fitted on the other rows.
    """

    def __init__(self, *, categorical=(), numeric=(), boolean=(), datetime=(), ignore=(),
                 normalization: str = "mode", **settings: Any):  # fmt: skip
        self.overrides = {"categorical": tuple(categorical), "numeric": tuple(numeric), "boolean": tuple(boolean),
                          "datetime": tuple(datetime), "ignore": tuple(ignore)}  # fmt: skip
        self.normalization = normalization
        self.settings = settings
        if "blocks" in settings or settings.get("likelihood", "auto") not in ("auto", "mixed"):
            raise ConfigError("TableVAE chooses its own likelihood (mixed, from the schema); leave likelihood and blocks out.")

    def fit(self, df: pd.DataFrame) -> "TableVAE":
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"TableVAE.fit expects a pandas DataFrame; got {type(df).__name__}.")
        schema = infer_schema(df, **self.overrides)
        vae = VAE(**self.settings)
        split = split_assignment(len(df), vae.validation_fraction, 0.0, vae.seed)
        self.transformer_, X = _encode(df, schema, self.normalization, vae, indices(split, "train"))
        self.vae_ = vae.fit(X)
        return self

    @property
    def schema(self):
        return self.transformer_.schema

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Posterior means E_q[z|x] of the rows."""
        return self.vae_.transform(self.transformer_.transform(df))

    def log_likelihood(self, df: pd.DataFrame, n_samples: int = 1000, **options: Any):
        """Importance-sampled log p(row) with standard errors (see vaelab.analysis.log_likelihood)."""
        return self.vae_.log_likelihood(self.transformer_.transform(df), n_samples=n_samples, **options)

    def sample(self, n: int, seed: int = 0) -> pd.DataFrame:
        """n rows drawn from the model, with the original columns, dtypes and categories."""
        from vaelab.analysis.samplers import decode

        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"n must be a positive integer; got {n!r}.")
        from vaelab.runtime import seeded

        with seeded(int(seed), self.vae_.device_):
            z = self.vae_.module_.prior.sample(n).detach().cpu().numpy()
        return self.transformer_.inverse_transform(decode(self.vae_, z, mean=False, seed=seed + 1))
