"""The run layer's base: what a kind of run is (:class:`RunKind`), and what every kind shares.

A kind of run is one way of turning a user's source into the matrix a :class:`vaelab.VAE`
models and back: arrays and images (:mod:`vaelab.runs.array`), mixed-type tables
(:mod:`vaelab.runs.table`), windows of time series (:mod:`vaelab.runs.series`). A kind

* says whether it should read a source (:meth:`RunKind.claims`);
* prepares a fresh run (:meth:`RunKind.prepare`): reads the source, splits it, fits its state
  (a table's encodings, a series' scaler) on the training rows only → :class:`Prepared`;
* saves and loads that state in the run folder (:meth:`RunKind.save`, :meth:`RunKind.load`);
* re-derives the model's matrix from the source with the stored state (:meth:`RunKind.dataset`);
* trains what it needs beside the model (:meth:`RunKind.after_fit`: a series' forecaster);
* turns model outputs back into the user's units and writes them (:meth:`RunKind.to_user`,
  :meth:`RunKind.write`).

Kinds import this module and nothing else of ``vaelab.runs``; :mod:`vaelab.runs.kinds`
is the one module that names them all. The hooks that take ``run`` get the
:class:`vaelab.runs.run.Run` handle of an opened run folder.
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd

from vaelab.checkpoint import (
    CACHE,
    CONFIG,
    FIGURES,
    HISTORY,
    LOCK,
    METRICS,
    MODEL,
    REPORT,
    SPLIT,
    STATE,
    TRAIN_LOCK,
    RunDir,
)
from vaelab.config import AUTO, DataConfig
from vaelab.data.dataset import Dataset
from vaelab.data.sources import load_dataset
from vaelab.errors import ConfigError, DataError, RunError
from vaelab.files import atomic_write, make_folder, read_json

T = TypeVar("T")
# RUN/cache/data.npy (CACHE): a float32 copy of a Parquet source, to draw shuffled batches from.
FRAME_SUFFIXES = (".csv", ".parquet", ".pq")
# CLI flags whose names differ from the option's (the rest: --name-with-dashes).
FLAGS = {"id_column": "--id", "time_column": "--time"}


def flag(option: str) -> str:
    """The command-line flag of a training option, for messages."""
    return FLAGS.get(option, "--" + option.replace("_", "-"))


@dataclass(frozen=True)
class Request:
    """What ``vaelab train`` was asked: the source, the kinds' options and the split."""

    source: str | os.PathLike
    options: Mapping[str, Any] = field(default_factory=dict)
    labels: str | None = None
    label_column: str | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.1

    @property
    def labelled(self) -> bool:
        return self.labels is not None or self.label_column is not None

    def option(self, name: str, default: Any = None) -> Any:
        value = self.options.get(name, default)
        return default if value is None else value


@dataclass
class Prepared:
    """A fresh run, ready to train: the kind with its fitted state, the model's matrix, the split."""

    kind: "RunKind"
    dataset: Dataset  # X (N, ...) float32, as the model takes it (may be a memory map or streamed)
    split: np.ndarray  # split code per example (0 train, 1 val, 2 test)
    data: DataConfig  # config.json's data block
    summary: str | None = None  # what the user should see before training starts (a table's schema)


@dataclass
class RunResult:
    run: RunDir
    model: Any  # the fitted vaelab.VAE
    dataset: Dataset
    split: np.ndarray  # split code per example
    metrics: dict[str, Any]


class RunKind:
    """One kind of run. Subclasses set the class attributes and override the hooks they need.

    The class is the kind; an instance holds a run's state (none for arrays). Hooks with
    defaults here work for any kind whose outputs are plain arrays.
    """

    name: ClassVar[str]  # config.json's data.kind
    description: ClassVar[str]  # "a table run": how messages and the report name a run of this kind
    files: ClassVar[tuple[str, ...]] = ()  # the kind's own files in the run folder, written before config.json
    options: ClassVar[dict[str, Any]] = {}  # training options this kind reads, with their defaults
    default_settings: ClassVar[dict[str, Any]] = {}  # VAE settings the kind chooses unless the user does
    data_dims: int | None = None  # an example's dimensions in the data's units, when not the model's features (bits/dim)
    default_reasons: ClassVar[dict[str, str]] = {}  # why, for the settings whose choice training reports (likelihood)
    decodes_mean: ClassVar[bool] = True  # synthetic data are decoder means E[x|z] unless a draw is asked for
    report_sections: ClassVar[frozenset[str]] = frozenset()  # the report's kind-only sections it fills
    density_units: ClassVar[str | None] = None  # what log p(x) is a density of, when log_jacobian changes units
    default_sampler: ClassVar[str] = "prior"  # where z comes from when sample / evaluate-synthetic name no sampler
    untrained_labels: tuple[str, ...] = ()  # labels of the model's classes no training example holds (given_trained)

    # ------------------------------------------------------------ training
    @classmethod
    def claims(cls, request: Request) -> bool:
        """Whether ``vaelab train`` should read ``request.source`` as this kind."""
        raise NotImplementedError

    @classmethod
    def prepare(cls, request: Request, model: Any) -> Prepared:
        """Read the source, split it with ``model.seed``, fit the state on the training rows.

        ``model`` is the unfitted :class:`vaelab.VAE`; a kind may set settings it owns on it
        (a table's likelihood blocks)."""
        raise NotImplementedError

    def save(self, run: RunDir) -> None:
        """Write the kind's state (:attr:`files`) into the run folder."""

    def class_label(self, label: Any) -> Any:
        """``--class`` (label=) as the model's class: a table run's in the spellings ``--given`` takes for its
        condition columns; any other kind's as given."""
        return label

    def trained_with(self, name: str, value: Any) -> bool:
        """Whether kind option ``name`` set to ``value`` describes the run as its state has it: ``vaelab train
        --resume`` takes an option repeated with the run's own value and refuses any other."""
        return False

    @classmethod
    def load(cls, run: RunDir) -> "RunKind":
        """The kind with the state a run folder holds."""
        return cls()

    def dataset(self, data: DataConfig, lazy: bool = False) -> Dataset:
        """The model's matrix re-derived from the run's source with the stored state."""
        raise NotImplementedError

    def read(self, source: str | os.PathLike, labels: str | None = None, label_column: str | None = None,
             lazy: bool = False) -> Dataset:  # fmt: skip
        """A file of new examples as the model takes them (``score RUN FILE``, ``anomaly-eval``, ``inspect RUN FILE``, examples
        ``FILE:N``). A kind may flag what it cannot encode or what is out of the ordinary instead of refusing it (``Dataset.reasons``)."""
        return load_dataset(source, labels=labels, label_column=label_column, lazy=lazy)

    def split_dataset(self, run: Any, name: str, dataset: Dataset) -> Dataset:
        """The run's split ``name`` as a data spec gives it to score, anomaly-eval and inspect: a kind may say what is
        out of the ordinary about its examples, as :meth:`read` does for a file (a series' test period beyond the
        training range). By default the split as it is."""
        return dataset

    def given_trained(self, part: Dataset) -> Dataset:
        """Examples of the run's own splits as the model is given them wherever they are scored or encoded (score,
        anomaly-eval, inspect, explore, training's validation loss and test ELBO, the samplers' fits): a conditional
        table run gives its rows whose condition values no training row holds the most frequent trained ones and flags
        them, as :meth:`read` does for a file's rows. By default as they are."""
        return part

    def log_jacobian(self, X: Any, observed: np.ndarray | None = None) -> np.ndarray | None:
        """log |d model input / d data| per example, when the model sees the data through a change of units
        (a table's scaling): added to log p(x) to give it in the data's own units. None: none needed."""
        return None

    def after_fit(self, run: RunDir, model: Any, dataset: Dataset, split: np.ndarray, main: bool) -> None:
        """What the kind trains beside the model, after every fit (a resumed run too). Under torchrun
        every process calls it inside the run's process group; only ``main`` writes."""

    # --------------------------------------------------------- generating
    def synthesize(self, run: Any, n: int, *, sampler: str | None = None, seed: int = 0, draw: bool = False,
                   label: Any = None, given: Any = None, temperature: float | str = AUTO) -> Any:  # fmt: skip
        """n new examples in the user's units (:meth:`to_user`): decoder means unless ``draw`` or the kind
        draws (:attr:`decodes_mean`); z from ``sampler`` (None: :attr:`default_sampler`). ``given`` (fixed
        columns) and a ``temperature`` other than "auto" or 1 are a table's; other kinds refuse them."""
        classes = run.model.classes_
        sampler = sampler or self.default_sampler
        if temperature not in (AUTO, 1):
            raise ConfigError(f"--temperature (temperature=) sharpens the categories and booleans of a table run's rows; "
                              f"{run.dir.path} is {self.description}. Drop it.")  # fmt: skip
        if given:
            raise ConfigError(f"--given (given=) fixes columns of a table run's rows; {run.dir.path} is "
                              f"{self.description}" + (" (pick a class with --class, label=)." if classes is not None
                                                       else "."))  # fmt: skip
        # the posterior sampler decodes each draw with its input's own class when none is chosen, as compare-samplers
        # does (an audit, s12: --class was required, and decoded every input's code as that one class)
        if classes is not None and label is None and sampler != "posterior":
            raise ConfigError(f"This model is conditional: choose a class with --class (label=; one of "
                              f"{classes.tolist()}), or draw with --sampler posterior, whose draws are decoded "
                              "with their inputs' own classes.")  # fmt: skip
        if classes is None and label is not None:
            raise ConfigError("--class (label=) needs a conditional model (trained or adopted with --conditional).")
        mean = self.decodes_mean and not draw
        return self.to_user(run.generate(n, sampler=sampler, seed=seed, mean=mean, label=label))

    def to_user(self, X: np.ndarray) -> Any:
        """Model outputs (n, *input_shape) in the user's units."""
        return X

    def feature_names(self) -> list[str] | None:
        """A name for each of the model's features, for figures that plot them one by one; None: ``x0``, ``x1``..."""
        return None

    def column_view(self, X: np.ndarray) -> list[Any] | None:
        """Decoder means (N, D) in the user's columns (a table's values in their units, categories' probabilities:
        :class:`vaelab.data.table_transformer.ColumnValues`), for exploration figures; None: show the features."""
        return None

    def window_view(self, X: np.ndarray) -> tuple[np.ndarray, tuple[str, ...], int] | None:
        """Decoder means (N, D) as windows (N, T, F) in the data's units, with the features' names and the past's
        length, for exploration figures drawn over time (a series run); None: not windows."""
        return None

    def check_output(self, out: Path) -> None:
        """Refuse, before any work, a file :meth:`write` cannot write."""

    def write(self, data: Any, out: Path, title: str = "") -> Path:
        """Write :meth:`to_user`'s output to ``out``; returns the path."""
        raise NotImplementedError

    def forecast(self, run: Any, past: str | os.PathLike, draws: int, out: Path,
                 seed: int = 0) -> tuple[Path, Path | None, str]:  # fmt: skip
        raise RunError(f"{run.dir.path} is not a series run (it is {self.description}); --past forecasts the future "
                       "of a series run, trained with --window and --horizon.")  # fmt: skip

    def evaluate_synthetic(self, run: Any, *, n: int | None, target: str | None, sampler: str,
                           seed: int, draw: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """The ``synthetic`` block and its figures (name → matplotlib figure). ``draw``: generate draws from p(x|z)
        where the kind decodes means (:attr:`decodes_mean`), as ``sample --draw`` does."""
        raise RunError(f"{run.dir.path} is {self.description}; evaluate-synthetic scores the synthetic data of table "
                       "and series runs (for images and vectors, use vaelab compare-samplers).")  # fmt: skip

    def summary_lines(self, block: dict[str, Any]) -> list[str]:
        """The ``synthetic`` block in a few lines for stdout."""
        return []

    def report_tables(self, run: RunDir) -> tuple[dict[str, Any], ...]:
        """Tables the report adds to the kind's sections (a table's schema)."""
        return ()


# ------------------------------------------------------------ a kind's state
def save_state(run: RunDir, kind: RunKind, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """A kind's state as its two files (:attr:`RunKind.files`): JSON, then its arrays as safetensors."""
    json_name, arrays_name = kind.files
    run.write_arrays(arrays_name, {k: np.asarray(v) for k, v in arrays.items()}, {})
    atomic_write(run.file(json_name), json.dumps(meta, indent=2).encode())


def load_state(run: RunDir, kind: type[RunKind], parse: Callable[[Any, dict[str, np.ndarray]], T]) -> T:
    """``parse(meta, arrays)`` of a kind's two files; a missing or damaged file is one clear error."""
    json_name, arrays_name = kind.files
    path = run.file(json_name)
    if not path.is_file():
        raise RunError(f"{run.path} is {kind.description} but has no {json_name}; it is damaged. Train it again.")
    meta = read_json(path, "train the run again")
    # read apart: its own errors name it (missing, damaged, linked outside the run); under the try they said the JSON
    # file was damaged and advised training again (an audit, s13)
    arrays, _ = run.read_arrays(arrays_name)
    try:
        return parse(meta, arrays)
    except (KeyError, TypeError, ValueError, RecursionError, ConfigError, DataError) as err:
        raise RunError(f"{path} is damaged ({str(err)[:200]}); train the run again.") from None


# ------------------------------------------------------------ fresh folders
def _holds_only(run: RunDir, names: set[str]) -> bool:
    """Whether the run folder holds nothing but ``names``, temporary files, the training lock and the cache and figures
    folders."""
    temps = set(run.temp_files())
    return all(p.name in names or p.name == TRAIN_LOCK or p in temps or (p.name in (CACHE, FIGURES) and p.is_dir())
               for p in run.path.iterdir())  # fmt: skip


def never_started(run: RunDir, kind_files: frozenset[str] = frozenset()) -> bool:
    """A folder a run was killed in before config.json: at most split.npy, a kind's state files,
    the Parquet cache (figures/: left by a run that never saved an epoch and was started again) and temporary files."""
    return run.path.is_dir() and not run.exists() and _holds_only(run, {SPLIT, *kind_files})


def never_trained(run: RunDir, kind_files: frozenset[str] = frozenset()) -> bool:
    """A folder whose run never saved an epoch (its training failed or was stopped in its first epoch): its
    config.json and state, but no weights and no training state, and nothing else a user could lose (a report of
    it may have been written: an audit)."""
    if not run.exists() or run.file(STATE).exists() or run.file(MODEL).exists():
        return False
    return _holds_only(run, {CONFIG, SPLIT, HISTORY, METRICS, REPORT, LOCK, *kind_files})


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a vaelab run: a config.json that is a JSON object with a format_version (a
    project's own config.json is not a run's)."""
    config = folder / CONFIG
    if not config.is_file():
        return False
    try:
        d = read_json(config, "")
    except RunError:
        return False
    return isinstance(d, dict) and "format_version" in d


def check_fresh_folder(run: RunDir, kind_files: frozenset[str] = frozenset(), restart: bool = False) -> bool:
    """A new run may be written to a missing or empty folder, or one a run was killed in before it began; with
    ``restart`` (train) also one whose run never saved an epoch (an audit: a first epoch that failed left a folder
    neither train nor --resume could use again with other settings). Returns whether the folder holds such a run,
    whose files the new one replaces. Never a folder inside another run (its cache/ or figures/, or deeper), whose
    files are that run's (an audit, s13: score, sample and report refused such an --out; train and adopt nested one run
    in another)."""
    places = {Path(os.path.abspath(run.path)), Path(os.path.realpath(run.path))}
    for above in dict.fromkeys(a for place in sorted(places) for a in place.parents):
        if is_run_folder(above):
            raise RunError(f"--out {run.path} is inside the vaelab run {above}; a run written there would change that "
                           "run's files. Choose a folder outside it.")  # fmt: skip
    if run.exists():
        if restart and never_trained(run, kind_files):
            return True
        # only train resumes (restart is train's); adopt has no --resume to pass (an audit)
        again = "Pass --resume to continue it, or choose another --out." if restart else "Choose another --out."
        raise RunError(f"{run.path} already holds a run. {again}")
    if run.path.exists() and not never_started(run, kind_files):
        raise RunError(f"{run.path} exists and is not an empty folder; choose another --out.")
    return False


def cache_key(dataset: Dataset, fingerprint: str) -> dict[str, Any]:
    """What a cached copy of a Parquet source must match to be used: the file as it is now."""
    stat = os.stat(dataset.source)
    return {"source": dataset.source, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "fingerprint": fingerprint}


def refuse_labels(request: Request, description: str) -> None:
    """Labels belong to image and vector runs."""
    if request.labelled:
        raise ConfigError(f"--labels and --label-column are for image and vector runs; {description} models every "
                          "column it is given. Drop them (or --ignore a label column of a table).")  # fmt: skip


# ----------------------------------------------------------------- writers
def write_npy(X: np.ndarray, out: Path) -> Path:
    """An array as float32 .npy, written atomically (no pickles)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(X, dtype=np.float32), allow_pickle=False)
    make_folder(out.parent)
    atomic_write(out, buf.getvalue())
    return out


def check_frame_output(out: Path, also: tuple[str, ...] = ()) -> None:
    if out.suffix.lower() not in (*FRAME_SUFFIXES, *also):
        ends = ", ".join((*also, ".csv")) + " or .parquet"
        raise ConfigError(f"--out must end in {ends} for this run; got {out.name!r}.")


def write_frame(frame: pd.DataFrame, out: Path, float_format: str | None = None) -> Path:
    """A DataFrame as .csv or .parquet (which keeps dtypes), written atomically."""
    check_frame_output(out)
    make_folder(out.parent)
    if out.suffix.lower() == ".csv":
        atomic_write(out, frame.to_csv(index=False, float_format=float_format).encode())
    else:
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False, engine="pyarrow")
        atomic_write(out, buf.getvalue())
    return out
