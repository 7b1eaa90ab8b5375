"""One training pipeline for every kind of run: ``vaelab train`` and ``vaelab demo`` call it.

source → the kind that claims it (:func:`vaelab.runs.kinds.detect`) → :meth:`RunKind.prepare`
(split, the kind's state fitted on the training rows) → split.npy and the kind's files →
:meth:`vaelab.VAE.fit_splits` (the run folder written after every epoch) → the kind's
``after_fit`` → test metrics. ``--resume`` opens the run (:class:`vaelab.runs.run.Run`),
re-derives its data with the stored state and takes the same path from there, so a
resumed run of any kind ends bitwise equal to an uninterrupted one. Under torchrun every
process runs this in one process group; only rank 0 writes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vaelab import distributed
from vaelab.analysis.likelihood import bits_per_dim_scale, overlapping, window_stderr
from vaelab.checkpoint import CONFIG, HISTORY, METRICS, MODEL, REPORT, STATE, RunDir, measured_results
from vaelab.data.dataset import Dataset
from vaelab.data.rows import is_parquet_backed, write_npy_cache
from vaelab.data.split import indices
from vaelab.errors import ConfigError, RunError, TrainingError
from vaelab.estimator import VAE, settings_from_config, training_summary
from vaelab.files import make_folder
from vaelab.runs.base import (
    CACHE,
    Request,
    RunKind,
    RunResult,
    cache_key,
    check_fresh_folder,
    flag,
    never_started,
)
from vaelab.runs.kinds import KIND_FILES, detect, given_options
from vaelab.runs.run import Run
from vaelab.runtime import resolve_device

# Settings a resumed run may change: how long and where it trains, not what it trains.
RESUMABLE = frozenset({"epochs", "patience", "device", "precision", "verbose", "save_every"})
DEFAULT_FRACTION = 0.1  # the validation and the test share of a new run unless given
# What a failed write during training advises once the disk is fixed.
RESUME_ADVICE = ("then run the command again (`vaelab train --resume --out RUN` continues a run from its last "
                 "saved epoch)")  # fmt: skip


def evaluate_split(model: VAE, dataset: Dataset, split: np.ndarray, name: str = "test",
                   kind: RunKind | None = None) -> dict[str, Any] | None:  # fmt: skip
    """Mean ELBO, reconstruction and KL on one split, with the standard error of the ELBO; in the data's own
    units where the kind changes them (a table: the log-Jacobian of its encoding, ``units`` says so)."""
    idx = indices(split, name)
    if idx.size == 0:
        return None
    part = dataset.view(idx)  # a memory-mapped or streamed split is scored block by block
    given = part if kind is None else kind.given_trained(part)  # as score gives them (a condition no training row has)
    moved = 0 if given.y is None or given is part else int((given.y != part.y).sum())
    part = given
    # Labels go in by name (codes would be read as names: wrong unless the classes are 0..C-1).
    y = part.label_names() if model.classes_ is not None else None
    rec, kl = model.elbo_terms(part.X, y)
    jacobian = None if kind is None else kind.log_jacobian(part.X)
    if jacobian is not None:
        rec = rec + jacobian
    elbo = rec - kl
    bad = ~np.isfinite(elbo)
    if bad.any():  # a diverged model is no success: its checkpoint stays, and the run says so
        raise TrainingError(
            f"The {name} ELBO is NaN or infinite for {int(bad.sum())} of {elbo.size} {name} examples (the first is "
            f"example {int(np.flatnonzero(bad)[0])} of the split): the model's weights diverged, or these examples lie "
            "far outside the training data, where the likelihood overflows. The run keeps its last saved epoch; "
            "retrain with a lower --lr, tighter --grad-clip or a KL warm-up (--warmup-epochs), or check the data."
        )
    stderr = float(elbo.std(ddof=1) / math.sqrt(elbo.size)) if elbo.size > 1 else math.nan
    method, approximate = "over examples", ""
    if overlapping(part.serial) and elbo.size > 1:  # overlapping series windows move together: the fixed-b SE
        stderr, method, approximate = window_stderr(elbo, *part.serial, what=f"{name} windows")
    normalized = model.is_density_on(part.X)
    dims = (kind.data_dims if kind is not None else None) or dataset.n_features
    return {
        "split": name,
        "n_examples": int(elbo.size),
        "elbo": float(elbo.mean()),
        "elbo_stderr": stderr,
        "elbo_stderr_method": method,
        # few windows against the span they share: the ± 1.96 SE interval is approximate (approximate_interval)
        **({"elbo_stderr_approximate": approximate} if approximate else {}),
        "reconstruction": float(rec.mean()),
        "kl": float(kl.mean()),
        # -ELBO / (D ln 2) bounds bits/dim from above (the NLL is at most -ELBO); only for a density. D counts the
        # data's own dimensions where the kind has them (a table's modelled columns, as score's bits/dim does).
        "bits_per_dim_bound": float(-elbo.mean() / (dims * math.log(2))) if normalized else None,
        "normalized": normalized,
        "elbo_samples": 8,
        # an image model with a continuous likelihood: bits of a density of pixel values in [0, 1] (an audit)
        **({"bits_per_dim_scale": scale} if normalized and (scale := bits_per_dim_scale(model)) else {}),
        # a conditional model's ELBO bounds log p(x|y), each example given its label: not log p(x) (an audit)
        "conditional": model.classes_ is not None,
        **({} if jacobian is None else {"units": kind.density_units or ""}),
        # rows scored given the most frequent trained condition: theirs only held-out rows hold (every conditional table
        # run says how many, 0 too; other runs have no conditions to move)
        **({"n_given_other_condition": moved} if moved or getattr(kind, "condition", ()) else {}),
    }


def _train_from_cache(dataset: Dataset, fingerprint: str, folder: Path) -> Dataset:
    """A Parquet-backed dataset rewired to a float32 memory map of it in ``folder`` (written
    once, row group by row group; reused while the file's size, mtime and fingerprint match):
    shuffled batches need random access, which Parquet does not give."""
    if not is_parquet_backed(dataset.X):
        return dataset
    return dataclasses.replace(dataset, X=write_npy_cache(dataset.X, folder, cache_key(dataset, fingerprint)))


def train_run(
    source: str | os.PathLike | None,
    out: str | os.PathLike,
    settings: dict[str, Any] | None = None,
    *,
    options: dict[str, Any] | None = None,
    labels: str | None = None,
    label_column: str | None = None,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
    resume: bool = False,
    progress=None,
    on_prepared=None,
) -> RunResult:
    """Train a VAE on ``source`` and write the run to ``out`` (or continue it with ``resume``).

    ``options`` are the kinds' training options by name (``table``, ``categorical``, ...,
    ``window``, ``horizon``, ``id_column``, ...: see each kind's ``options``); the source and
    they choose the kind. ``on_prepared(text)`` is shown what the kind found before training
    (a table's schema). Under torchrun every rank calls this: all read the data (and,
    resuming, the run), all train, and only rank 0 writes the run and measures the test split;
    the other ranks return with empty ``metrics``. Another training of the same run (``train`` or ``--resume``) running
    meanwhile is refused (:meth:`RunDir.training`).
    """
    with contextlib.ExitStack() as held:  # the run's training lock, from where it is taken to the end
        return _train_run(source, out, settings, options=options, labels=labels, label_column=label_column,
                          val_fraction=val_fraction, test_fraction=test_fraction, resume=resume, progress=progress,
                          on_prepared=on_prepared, held=held)  # fmt: skip


def _train_run(source, out, settings, *, options, labels, label_column, val_fraction, test_fraction, resume, progress,
               on_prepared, held: contextlib.ExitStack) -> RunResult:  # fmt: skip
    run = RunDir(out, again=RESUME_ADVICE)
    settings = dict(settings or {})
    options = dict(options or {})
    main = distributed.world().main  # the other ranks neither check nor write the output folder
    measured: list[str] = []  # resuming: what analyses measured on the weights before it (see measured_results)
    if resume:
        if main and never_started(run, KIND_FILES):
            raise RunError(
                f"{run.path} has no config.json: its training was stopped before it began, so there "
                f"is nothing to resume. Start it again with: vaelab train DATA --out {run.path} (without --resume)"
            )
        if main and run.exists():  # before any work (a missing run is refused by Run below)
            held.enter_context(run.training("vaelab train --resume"))
        opened = Run(run.path)
        opened.check_folders()  # nothing is written or deleted through a link that leads outside
        config, data = opened.config, opened.config.data
        # each named as the flag typed (an audit, s14: "latent_dim, val-fraction cannot change" said a setting by its
        # Python name and a data option by its flag's)
        fixed = sorted(flag(k) for k, v in settings.items()
                       if k not in RESUMABLE and settings_from_config(config).get(k, v) != v)  # fmt: skip
        # an option repeated with the run's own value is taken (an audit: --condition region again was refused)
        fixed += [flag(k) for k in given_options(options) if not opened.kind.trained_with(k, options[k])]
        # the labels too: another file or column was ignored without a word, the run's own read (an audit, s12 f)
        if data is not None and labels is not None and not _same_file(labels, data.labels):
            fixed.append("--labels")
        if data is not None and label_column is not None and label_column != data.label_column:
            fixed.append("--label-column")
        fixed += [name for name, given, own in (("--val-fraction", val_fraction, getattr(data, "val_fraction", None)),
                                                ("--test-fraction", test_fraction, getattr(data, "test_fraction", None)))
                  if data is not None and given is not None and given != own]  # fmt: skip
        if fixed:
            raise ConfigError(
                f"--resume continues {run.path} with its own settings; {', '.join(fixed)} cannot change. "
                "Drop those options (or give them the values the run was trained with), or start a new run with "
                "another --out."
            )
        if data is None or data.source == "array":
            raise RunError(f"{run.path} was saved from Python (VAE.save); only runs trained with vaelab train resume.")
        if source is not None and str(source) != data.source and os.path.abspath(source) != data.source:
            raise ConfigError(f"--resume: {run.path} was trained on {data.source}, not {source}.")
        kind = opened.kind
        dataset, split = opened.data(lazy=True)
        model = VAE(**{**settings_from_config(config), **settings})
        if main:
            run.remove_temp_files()  # left by writes that a kill cut short
        # Killed before its first epoch ended: nothing was saved to resume from, so start afresh
        # (the same seeded start as the first attempt). A missing state beside weights stays an error.
        resume = run.file(STATE).is_file() or run.file(MODEL).is_file()
        if resume and main:  # what the analyses measured on the weights this training may change
            measured, weights = measured_results(run.read_metrics()), run.weights_digest()
    else:
        if source is None:
            raise ConfigError("Name the data to train on: a built-in (mnist5k, digits) or a file or folder.")
        # a run that never saved an epoch is started again
        again = main and check_fresh_folder(run, KIND_FILES, restart=True)
        shares = [DEFAULT_FRACTION if f is None else f for f in (val_fraction, test_fraction)]
        request = Request(source, options, labels, label_column, *shares)
        kind_class = detect(request)
        model = VAE(**{**kind_class.default_settings, **settings})
        model.train_config()  # the training settings, before the kind prepares (a negative seed splits nothing)
        if "likelihood" not in settings and "likelihood" in kind_class.default_reasons:
            model.likelihood_reason_ = kind_class.default_reasons["likelihood"]  # reported instead of "set explicitly"
        prepared = kind_class.prepare(request, model)
        kind, dataset, split, data = prepared.kind, prepared.dataset, prepared.split, prepared.data
        # Every setting, before anything is written.
        model.check_settings(dataset.shape, len(data.classes) if model.conditional and data.classes else 0)
        if main:
            if on_prepared is not None and prepared.summary:
                on_prepared(prepared.summary)
            make_folder(run.path)
            held.enter_context(run.training())
            # again under the lock: a training of this folder that ended meanwhile left a run to keep
            again = check_fresh_folder(run, KIND_FILES, restart=True)
            run.remove_temp_files()
            if again:  # config.json first: a kill from here on leaves a folder that never started
                for name in (CONFIG, HISTORY, METRICS, REPORT, *sorted(KIND_FILES)):  # another kind's files too
                    run.file(name).unlink(missing_ok=True)
            run.write_split(split)
            kind.save(run)

    device = distributed.local_device(resolve_device(model.device))
    with contextlib.ExitStack() as scratch:
        # One process group for the model and what the kind trains after it (a series' forecaster).
        scratch.enter_context(distributed.process_group(device))
        # Only rank 0 writes the run folder; other ranks cache a Parquet source in a folder of their own.
        folder = run.folder(CACHE) if main else Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="vaelab-")))
        dataset = _train_from_cache(dataset, data.fingerprint, folder)
        # Views, not copies: a memory-mapped split is read batch by batch while training.
        # The validation rows as score gives them: a condition value no training row holds is given a trained one.
        train, val = dataset.view(indices(split, "train")), kind.given_trained(dataset.view(indices(split, "val")))
        labelled = model.conditional
        state = model.fit_splits(train.X, train.y if labelled else None, val.X, val.y if labelled else None, data,
                                 run=run, resume=resume, progress=progress)  # fmt: skip
        kind.after_fit(run, model, dataset, split, main)
    if not main:
        return RunResult(run, model, dataset, split, {})
    if resume:
        # Each epoch writes train_state first, then the files derived from it. A run killed in
        # between after its last epoch has nothing left to train, so nothing would rewrite them:
        # write them here (the same bytes when nothing was lost).
        if state.best_weights is not None:
            run.write_weights(state.best_weights)
        run.write_history(state.history)
        run.update_metrics(training=training_summary(state, getattr(model, "likelihood_choice_", None)))
    test = evaluate_split(model, dataset, split, "test", kind)
    metrics = run.update_metrics(test=test) if test else run.read_metrics()
    if resume and (measured or measured_results(metrics)):  # the report says which are of earlier weights
        # with the blocks written while the training ran too: another command measured weights since changed (an
        # audit, s13: only those listed when training started were marked); each judged on the weights it records
        # (an audit, s13: a block of the old weights written after the training ended was shown as current)
        metrics = run.mark_stale(measured, changed=run.weights_digest() != weights)
    return RunResult(run, model, dataset, split, metrics)


def _same_file(given: str | os.PathLike, stored: str | None) -> bool:
    """Whether a file named on the command line is the one a run stored (its absolute path)."""
    if stored is None:
        return False
    if os.path.abspath(given) == stored:
        return True
    try:
        return os.path.samefile(given, stored)
    except OSError:
        return False
