"""A run folder opened once: :class:`Run`, what every command works on.

``Run(path)`` reads and checks config.json and finds the run's kind in the registry;
the model, the kind's state, the data and its splits are read when first asked for, once.
Data are named by specs (:meth:`Run.resolve`): ``train``, ``val`` or ``test`` for the
run's own split, or a file vaelab reads; single examples by :meth:`Run.example`'s specs.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vaelab.adopt import load_adopted
from vaelab.analysis.samplers import Sampler, fit_sampler, generate
from vaelab.checkpoint import CONFIG, RunConfig, RunDir
from vaelab.data.dataset import Dataset
from vaelab.data.rows import is_parquet_backed, read_npy_cache
from vaelab.data.sources import IMAGE_SUFFIXES, read_image
from vaelab.data.split import SPLITS, indices
from vaelab.errors import DataError, RunError
from vaelab.estimator import load
from vaelab.model import Model
from vaelab.runs.base import CACHE, RunKind, cache_key
from vaelab.runs.kinds import kind_of
from vaelab.specs import resolve

EXAMPLE_HELP = ("an example: N (test split index), SPLIT:N (train, val or test), an image file, "
                "or FILE[:N] (any data file vaelab reads)")  # fmt: skip


@dataclass(frozen=True)
class Specs:
    """How to open a run whose model is code (custom networks, adopted PyTorch halves): the SPECs
    the user names (:mod:`vaelab.specs`), or ``trust`` to import the ones an adopted run records."""

    encoder: str | None = None
    decoder: str | None = None
    trust: bool = False


@dataclass
class Example:
    x: np.ndarray  # (1, *input_shape) as the model takes it
    label: str | None  # label name, where the data has labels
    spec: str


class Run:
    """One run folder: its config, kind, model, data and splits, each read once."""

    def __init__(self, path: str | os.PathLike, specs: Specs | None = None):
        self.dir = RunDir(path)
        self.specs = specs or Specs()
        self.config: RunConfig = self.dir.read_config()
        self.kind_class: type[RunKind] = kind_of(self.config.data, self.dir.file(CONFIG))
        self._kind: RunKind | None = None
        self._model: Model | None = None
        self._data: dict[bool, tuple[Dataset, np.ndarray]] = {}

    @property
    def path(self) -> Path:
        return self.dir.path

    @property
    def kind(self) -> RunKind:
        """The run's kind with its stored state (a table's transformer, a series' scaler)."""
        if self._kind is None:
            self._kind = self.kind_class.load(self.dir)
        return self._kind

    @property
    def model(self) -> Model:
        """The fitted model: a :class:`vaelab.VAE`, or an adopted model (:mod:`vaelab.adopt`)."""
        if self._model is None:
            s = self.specs
            if self.config.model.arch == "adopted":
                self._model = load_adopted(self.dir.path, encoder=s.encoder, decoder=s.decoder, trust=s.trust)
            else:  # custom networks of a vaelab run: the user's modules, named by SPEC
                halves = {k: None if v is None else resolve(v, k) for k, v in (("encoder", s.encoder), ("decoder", s.decoder))}
                self._model = load(self.dir.path, **halves)
        return self._model

    # ------------------------------------------------------------------ data
    def data(self, lazy: bool = False) -> tuple[Dataset, np.ndarray]:
        """The data the run was trained on, checked against its fingerprint, and its split codes.

        With ``lazy`` a large file stays where it is (a memory map, a streamed Parquet file), and
        a Parquet source is read from the run's cache of it while that is current."""
        if lazy not in self._data:
            data = self.config.data
            if data is None or data.source == "array":
                raise RunError(f"{self.path} was saved from Python (VAE.save), so it has no data source or split of "
                               "its own; pass the data explicitly.")  # fmt: skip
            dataset = self.kind.dataset(data, lazy=lazy)
            if dataset.fingerprint() != data.fingerprint:
                raise RunError(f"The data at {data.source} has changed since {self.path} was trained (its fingerprint "
                               "differs); its split no longer applies. Start a new run.")  # fmt: skip
            if is_parquet_backed(dataset.X):
                cached = read_npy_cache(self.dir.file(CACHE), cache_key(dataset, data.fingerprint), dataset.X.shape)
                dataset = dataset if cached is None else dataclasses.replace(dataset, X=cached)
            self._data[lazy] = dataset, self.dir.read_split(dataset.n_examples)
        return self._data[lazy]

    def split(self, name: str, lazy: bool = False) -> Dataset:
        """One of the run's splits (in memory; a view of a large file with ``lazy``)."""
        dataset, codes = self.data(lazy)
        idx = indices(codes, name)
        if idx.size == 0:
            raise DataError(f"The run's {name} split is empty; use another split or a file, or train with a "
                            f"{name} fraction > 0.")  # fmt: skip
        return dataset.view(idx) if lazy else dataset.subset(idx)

    def splits(self) -> dict[str, Dataset]:
        """train, val and test, in memory (empty ones included)."""
        dataset, codes = self.data()
        return {name: dataset.subset(indices(codes, name)) for name in SPLITS}

    def model_labels(self, part: Dataset) -> np.ndarray | None:
        """Labels (names) to pass to the model: only conditional models take them."""
        return part.label_names() if self.model.classes_ is not None else None

    def dataset_of(self, spec: str, labels: str | None = None, label_column: str | None = None,
                   lazy: bool = False) -> Dataset:  # fmt: skip
        """The examples a data spec names: one of the run's splits, or a file read as the run's kind reads new
        data (a series run cuts it into windows with its stored coder and flags what is out of the ordinary)."""
        if spec in SPLITS and not Path(spec).exists():
            return self.split(spec, lazy=lazy)
        dataset = self.kind.read(spec, labels, label_column, lazy)
        if self.model.classes_ is not None and dataset.y is None:
            raise DataError(f"This model is conditional: give the labels of {spec} with --labels or --label-column.")
        return dataset

    def resolve(self, spec: str, labels: str | None = None, label_column: str | None = None,
                with_labels: bool = False, lazy: bool = False) -> tuple[Any, np.ndarray | None]:  # fmt: skip
        """(X, y) for a data spec. y holds label names; it is given for conditional models (which
        need it) and, with ``with_labels``, whenever the data has labels. With ``lazy`` a large
        file (or the run's split of one) comes as a memory map or :class:`vaelab.data.rows.Rows`."""
        dataset = self.dataset_of(spec, labels, label_column, lazy)
        if dataset.y is None or not (with_labels or self.model.classes_ is not None):
            return dataset.X, None
        return dataset.X, dataset.label_names()  # names: a model maps them to its own codes

    def example(self, spec: str) -> Example:
        """One example named by a spec: ``12`` (test example 12), ``val:3``, an image file, ``FILE[:N]``."""
        spec = str(spec)
        head, _, tail = spec.rpartition(":")
        if spec.isdigit():
            source, index = "test", int(spec)
        elif head and tail.isdigit() and (head in SPLITS or Path(head).exists()):
            source, index = head, int(tail)
        else:
            source, index = spec, 0
        if source in SPLITS and not Path(source).exists():
            part = self.split(source)
        elif Path(source).is_file() and Path(source).suffix.lower() in IMAGE_SUFFIXES:
            return Example(self._shaped(read_image(source), spec), None, spec)
        elif Path(source).exists():
            part = self.kind.read(source)
        else:
            raise DataError(f"Example {spec!r} names neither a split index nor a file; expected {EXAMPLE_HELP}.")
        if not 0 <= index < part.n_examples:
            raise DataError(f"Example {spec!r}: index {index} is out of range; {source} has {part.n_examples} "
                            f"examples (0..{part.n_examples - 1}).")  # fmt: skip
        labels = part.label_names()
        return Example(self._shaped(part.X[index : index + 1], spec), None if labels is None else str(labels[index]), spec)

    def _shaped(self, x: np.ndarray, spec: str) -> np.ndarray:
        if x[0].size != self.model.n_features_in_:
            raise DataError(f"Example {spec!r} has shape {x.shape[1:]}; this model takes examples of shape "
                            f"{self.model.input_shape_}.")  # fmt: skip
        return x.reshape(1, *self.model.input_shape_).astype(np.float32)

    # ------------------------------------------------------------ generating
    def sampler(self, name: str, seed: int = 0) -> Sampler:
        """The sampler ``name`` fitted to this run's training split (validation codes select it)."""
        if name == "prior":
            return fit_sampler(name, self.model, seed=seed)  # reads no data
        parts = self.splits()
        return fit_sampler(name, self.model, parts["train"], parts["val"], seed)

    def generate(self, n: int, *, sampler: str = "prior", seed: int = 0, mean: bool = True,
                 label: Any = None) -> np.ndarray:  # fmt: skip
        """n examples as the model outputs them (n, *input_shape): z from ``sampler``, decoded to
        E[x|z] (``mean``) or a draw from p(x|z)."""
        y = None if label is None else np.full(n, str(label))
        return generate(self.model, self.sampler(sampler, seed), n, y=y, mean=mean, seed=seed)

    def synthesize(self, n: int, *, sampler: str = "prior", seed: int = 0, draw: bool = False,
                   label: Any = None) -> Any:  # fmt: skip
        """n new examples in the user's units, as the kind gives them back (arrays, table rows as a
        DataFrame, series windows (n, T, F)); decoder means unless ``draw`` or the kind draws."""
        mean = self.kind_class.decodes_mean and not draw
        return self.kind.to_user(self.generate(n, sampler=sampler, seed=seed, mean=mean, label=label))

    # --------------------------------------------------------------- writing
    def figure(self, name: str) -> Path:
        return self.dir.path / "figures" / name

    def update_metrics(self, **blocks: dict[str, Any]) -> dict[str, Any]:
        return self.dir.update_metrics(**blocks)
