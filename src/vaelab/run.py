"""A training run: data source → seeded split → VAE → run directory → test metrics.

This is what ``vaelab train`` and ``vaelab demo`` call; the estimator does the
training, :class:`RunDir` the files. A resumed run reloads the same data, checks
its fingerprint and reuses the stored split.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vaelab import distributed
from vaelab.checkpoint import MODEL, SPLIT, STATE, RunConfig, RunDir, make_folder
from vaelab.config import DataConfig
from vaelab.data.dataset import Dataset
from vaelab.data.rows import is_parquet_backed, read_npy_cache, write_npy_cache
from vaelab.data.sources import load_dataset
from vaelab.data.split import indices, split_assignment
from vaelab.errors import ConfigError, RunError
from vaelab.estimator import VAE, settings_from_config, training_summary

# Settings a resumed run may change: how long and where it trains, not what it trains.
RESUMABLE = frozenset({"epochs", "patience", "device", "precision", "verbose"})
CACHE = "cache"  # RUN/cache/data.npy: a float32 copy of a Parquet source, to draw shuffled batches from


@dataclass
class RunResult:
    run: RunDir
    model: VAE
    dataset: Dataset
    split: np.ndarray  # split code per example
    metrics: dict[str, Any]


def evaluate_split(model: VAE, dataset: Dataset, split: np.ndarray, name: str = "test") -> dict[str, Any] | None:
    """Mean ELBO, reconstruction and KL on one split, with the standard error of the ELBO."""
    idx = indices(split, name)
    if idx.size == 0:
        return None
    part = dataset.view(idx)  # a memory-mapped or streamed split is scored block by block
    # Labels go in by name (codes would be read as names: wrong unless the classes are 0..C-1).
    y = np.asarray(dataset.classes)[part.y] if model.classes_ is not None else None
    rec, kl = model.elbo_terms(part.X, y)
    elbo = rec - kl
    stderr = float(elbo.std(ddof=1) / math.sqrt(elbo.size)) if elbo.size > 1 else math.nan
    return {
        "split": name,
        "n_examples": int(elbo.size),
        "elbo": float(elbo.mean()),
        "elbo_stderr": stderr,
        "reconstruction": float(rec.mean()),
        "kl": float(kl.mean()),
        # -ELBO / (D ln 2) bounds bits/dim from above (the NLL is at most -ELBO).
        "bits_per_dim_bound": float(-elbo.mean() / (dataset.n_features * math.log(2))),
        "elbo_samples": 8,
    }


def load_run_data(run: RunDir, config: RunConfig, lazy: bool = False) -> tuple[Dataset, np.ndarray]:
    """The data a run was trained on, checked against its fingerprint, and its split codes.

    With ``lazy`` a large file stays where it is (``load_dataset(lazy=True)``), and a Parquet
    source is read from the run's cache of it when that is still current.
    """
    data_cfg = config.data
    if data_cfg is None or data_cfg.source == "array":
        raise RunError(
            f"{run.path} was saved from Python (VAE.save), so it has no data source or split of its own; "
            "pass the data explicitly."
        )
    if data_cfg.kind == "table":
        from vaelab.tabular import table_dataset

        dataset = table_dataset(run, data_cfg)
    elif data_cfg.kind == "series":
        from vaelab.series import series_dataset

        dataset = series_dataset(run, data_cfg)
    else:
        dataset = load_dataset(data_cfg.source, labels=data_cfg.labels, label_column=data_cfg.label_column, lazy=lazy)
    if dataset.fingerprint() != data_cfg.fingerprint:
        raise RunError(
            f"The data at {data_cfg.source} has changed since {run.path} was trained (its fingerprint differs); "
            "its split no longer applies. Start a new run."
        )
    if is_parquet_backed(dataset.X):
        cached = read_npy_cache(run.file(CACHE), _cache_key(dataset, data_cfg.fingerprint), dataset.X.shape)
        dataset = dataset if cached is None else dataclasses.replace(dataset, X=cached)
    return dataset, run.read_split(dataset.n_examples)


def _cache_key(dataset: Dataset, fingerprint: str) -> dict[str, Any]:
    """What a cached copy of a Parquet source must match to be used: the file as it is now."""
    stat = os.stat(dataset.source)
    return {"source": dataset.source, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "fingerprint": fingerprint}


def _train_from_cache(dataset: Dataset, fingerprint: str, folder: Path) -> Dataset:
    """A Parquet-backed dataset rewired to a float32 memory map of it in ``folder`` (written
    once, row group by row group; reused while the file's size, mtime and fingerprint match):
    shuffled batches need random access, which Parquet does not give."""
    if not is_parquet_backed(dataset.X):
        return dataset
    return dataclasses.replace(dataset, X=write_npy_cache(dataset.X, folder, _cache_key(dataset, fingerprint)))


def _never_started(run: RunDir) -> bool:
    """A folder a run was killed in before config.json: at most split.npy and temporary files."""
    if not run.path.is_dir() or run.exists():
        return False
    temps = set(run.temp_files())
    return all(p.name == SPLIT or p in temps or (p.name == CACHE and p.is_dir()) for p in run.path.iterdir())


def check_fresh_folder(run: RunDir) -> None:
    """A new run may be written to a missing or empty folder, or one a run was killed in before it began."""
    if run.exists():
        raise RunError(f"{run.path} already holds a run. Pass --resume to continue it, or choose another --out.")
    if run.path.exists() and not _never_started(run):
        raise RunError(f"{run.path} exists and is not an empty folder; choose another --out.")


def train_run(
    source: str | os.PathLike | None,
    out: str | os.PathLike,
    settings: dict[str, Any] | None = None,
    *,
    labels: str | None = None,
    label_column: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    resume: bool = False,
    progress: Callable[[str, dict], None] | None = None,
) -> RunResult:
    """Train a VAE on ``source`` and write the run to ``out`` (or continue it with ``resume``).

    Under torchrun every rank calls this: all read the data (and, resuming, the run),
    all train, and only rank 0 writes the run and measures the test split; the other
    ranks return with empty ``metrics``.
    """
    run = RunDir(out)
    settings = dict(settings or {})
    main = distributed.world().main  # the other ranks neither check nor write the output folder
    if resume:
        if main and _never_started(run):
            raise RunError(
                f"{run.path} has no config.json: its training was stopped before it began, so there "
                f"is nothing to resume. Start it again with: vaelab train DATA --out {run.path} (without --resume)"
            )
        config = run.read_config()
        fixed = sorted(k for k, v in settings.items() if k not in RESUMABLE and settings_from_config(config).get(k, v) != v)
        if fixed:
            raise ConfigError(
                f"--resume continues {run.path} with its own settings; {', '.join(fixed)} cannot change. "
                "Drop those options, or start a new run with another --out."
            )
        dataset, split = load_run_data(run, config, lazy=True)
        data_cfg = config.data
        if source is not None and str(source) != data_cfg.source and os.path.abspath(source) != data_cfg.source:
            raise ConfigError(f"--resume: {run.path} was trained on {data_cfg.source}, not {source}.")
        model = VAE(**{**settings_from_config(config), **settings})
        if main:
            run.remove_temp_files()  # left by writes that a kill cut short
        # Killed before its first epoch ended: nothing was saved to resume from, so start afresh
        # (the same seeded start as the first attempt). A missing state beside weights stays an error.
        resume = run.file(STATE).is_file() or run.file(MODEL).is_file()
    else:
        if source is None:
            raise ConfigError("Name the data to train on: a built-in (mnist5k, digits) or a file or folder.")
        if main:
            check_fresh_folder(run)
        dataset = load_dataset(source, labels=labels, label_column=label_column, lazy=True)
        model = VAE(**settings)
        if model.conditional and dataset.y is None:
            raise ConfigError("--conditional needs labels: a built-in with labels, --labels FILE or --label-column COL.")
        split = split_assignment(dataset.n_examples, val_fraction, test_fraction, model.seed)
        data_cfg = DataConfig(
            source=dataset.source, labels=None if labels is None else os.path.abspath(labels),
            label_column=label_column, val_fraction=val_fraction, test_fraction=test_fraction,
            n_examples=dataset.n_examples, fingerprint=dataset.fingerprint(), classes=dataset.classes,
        )  # fmt: skip
        if main:
            make_folder(run.path)
            run.remove_temp_files()
            run.write_split(split)

    with contextlib.ExitStack() as scratch:
        # Only rank 0 writes the run folder; other ranks cache a Parquet source in a folder of their own.
        folder = run.file(CACHE) if main else Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="vaelab-")))
        dataset = _train_from_cache(dataset, data_cfg.fingerprint, folder)
        # Views, not copies: a memory-mapped split is read batch by batch while training.
        train, val = dataset.view(indices(split, "train")), dataset.view(indices(split, "val"))
        labelled = model.conditional
        state = model._fit(train.X, train.y if labelled else None, val.X, val.y if labelled else None, data_cfg,
                           run=run, resume=resume, progress=progress)  # fmt: skip
    if not main:
        return RunResult(run, model, dataset, split, {})
    if resume:
        # Each epoch writes train_state first, then the files derived from it. A run killed in
        # between after its last epoch has nothing left to train, so nothing would rewrite them:
        # write them here (the same bytes when nothing was lost).
        if state.best_weights is not None:
            run.write_weights(state.best_weights)
        run.write_history(state.history)
        run.update_metrics(training=training_summary(state))
    test = evaluate_split(model, dataset, split, "test")
    metrics = run.update_metrics(test=test) if test else run.read_metrics()
    return RunResult(run, model, dataset, split, metrics)
