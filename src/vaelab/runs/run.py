"""A run folder opened once: :class:`Run`, what every command works on.

``Run(path)`` reads and checks config.json and finds the run's kind in the registry;
the model, the kind's state, the data and its splits are read when first asked for, once.
Data are named by specs (:meth:`Run.resolve`): ``train``, ``val`` or ``test`` for the
run's own split, or a file vaelab reads; single examples by :meth:`Run.example`'s specs.
A split's name always means the split: a file or folder of that name is ``./test``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vaelab.adopt import ADOPTED, load_adopted
from vaelab.analysis.likelihood import LikelihoodResult, log_likelihood
from vaelab.analysis.reconstruction_error import ReconstructionResult, reconstruction_error
from vaelab.analysis.samplers import Sampler, fit_sampler, generate
from vaelab.checkpoint import CACHE, CONFIG, FIGURES, ONNX, RUN_FILES, WEIGHTS_DIGEST, RunConfig, RunDir
from vaelab.config import AUTO, check_seed
from vaelab.data.dataset import Dataset
from vaelab.data.rows import is_parquet_backed, read_npy_cache
from vaelab.data.sources import IMAGE_SUFFIXES, TABLE_SUFFIXES, read_image
from vaelab.data.split import SPLITS, indices
from vaelab.data.table_transformer import CONDITION_FALLBACK
from vaelab.data.timeseries import FILLED
from vaelab.errors import ConfigError, DataError, RunError
from vaelab.estimator import load
from vaelab.files import TEMP_FILE, check_output_file, read_json, write_error
from vaelab.forecaster import FORECAST
from vaelab.model import Model
from vaelab.runs.base import RunKind, cache_key, is_run_folder
from vaelab.runs.kinds import KIND_FILES, kind_of
from vaelab.specs import is_onnx, resolve

# Every file vaelab writes at the top of a run folder, of any kind: --out never names one of them.
OWNED = RUN_FILES | KIND_FILES | {FORECAST, ADOPTED, *ONNX}
EXAMPLE_HELP = ("an example: N (test split index), SPLIT:N (train, val or test), an image file, "
                "or FILE[:N] (any data file vaelab reads)")  # fmt: skip


@dataclass(frozen=True)
class Specs:
    """How to open a run whose model is code (custom networks, adopted PyTorch halves): the SPECs
    the user names (:mod:`vaelab.specs`), or ``trust`` to import the ones an adopted run records."""

    encoder: str | None = None
    decoder: str | None = None
    trust: bool = False
    # the encoder's SPEC came as --model (a library's whole model): its errors name that option (an audit, s13: they
    # said --encoder, an option never typed). Out of the repr, which keys the caches on the model.
    whole: bool = dataclasses.field(default=False, repr=False)


def is_split(spec: str) -> bool:
    """Whether a data spec names the run's own split (``train``, ``val``, ``test``); a file or folder of
    that name in the current folder is named as a path (``./test``)."""
    return spec in SPLITS


def ambiguous(spec: str) -> bool:
    """A split's name that also names a file or folder here (the split is used)."""
    return is_split(spec) and os.path.lexists(spec)


def check_output(out: str | os.PathLike, allow: frozenset[str] = frozenset(),
                 own: str | os.PathLike | None = None) -> Path:  # fmt: skip
    """``--out`` as a file vaelab may write: not a folder, FIFO or device, in a folder that can be made
    (:func:`check_output_file`); not one of the files of a run folder (config, weights, metrics, split, a
    kind's state; anything in figures/ or cache/), which writing it would break; and nowhere inside another
    run's folder than ``own`` (the run the command works on), whose files are that run's. ``allow`` names run
    files a command owns (``report`` writes report.html)."""
    out = check_output_file(out)
    own_real = None if own is None else os.path.realpath(own)
    for path in {Path(os.path.abspath(out)), Path(os.path.realpath(out))}:
        folder = path.parent
        if (folder / CONFIG).is_file() and path.name in OWNED - allow:
            raise DataError(f"--out {out} is the file {path.name} of the vaelab run {folder}; writing it would break "
                            "the run. Choose another name or folder.")  # fmt: skip
        if folder.name in (FIGURES, CACHE) and (folder.parent / CONFIG).is_file():
            raise DataError(f"--out {out} is inside the {folder.name}/ folder of the vaelab run {folder.parent}, "
                            "which vaelab manages; choose a file outside it.")  # fmt: skip
        for above in path.parents:
            if os.path.realpath(above) != own_real and is_run_folder(above):
                raise DataError(f"--out {out} is inside the vaelab run {above}, not the run this command works on; "
                                "writing there would change that run's files. Choose a file outside it.")  # fmt: skip
    return out


def remove_run(path: str | os.PathLike) -> None:
    """Empty a folder that provably holds a vaelab run, file by file (``vaelab demo`` replaces its
    old run). The folder must hold a valid config.json and only files vaelab writes (its own names,
    PNGs in figures/, the Parquet cache, temporary files); anything else is refused, before
    anything is deleted. Links are removed, never followed; nothing is deleted recursively."""
    folder = Path(path)
    if not os.path.lexists(folder):
        return
    if folder.is_symlink() or not folder.is_dir():
        raise RunError(f"{folder} is not a folder vaelab wrote; choose another --out.")
    entries = list(folder.iterdir())
    if not entries:
        return
    run = RunDir(folder)
    if not run.exists():  # said once (it read "dd is not a vaelab run (dd is not a vaelab run: it has no config.json ...)")
        raise RunError(f"{folder} is not a vaelab run: it has no {CONFIG}; vaelab replaces only its own runs. Choose "
                       "another --out.")  # fmt: skip
    try:
        run.read_config()
    except RunError as err:
        said = " ".join(str(err).split())[:200].rstrip(".")
        raise RunError(f"{folder} is not a vaelab run vaelab can read ({said}); vaelab replaces only its own runs. "
                       "Choose another --out.") from None  # fmt: skip
    inner_names = {FIGURES: lambda n: n.endswith(".png"), CACHE: lambda n: n in ("data.npy", "data.json")}

    def ours(p: Path, named: Callable[[str], bool]) -> bool:  # a file (or a link, never followed) vaelab writes
        return (p.is_symlink() or p.is_file()) and (named(p.name) or bool(TEMP_FILE.fullmatch(p.name)))

    files, folders, foreign = [], [], []
    for p in entries:
        if p.is_dir() and not p.is_symlink() and p.name in inner_names:
            inner = list(p.iterdir())
            foreign += [q for q in inner if not ours(q, inner_names[p.name])]
            files += [q for q in inner if ours(q, inner_names[p.name])]
            folders.append(p)
        elif ours(p, OWNED.__contains__):
            files.append(p)
        else:
            foreign.append(p)
    if foreign:
        names = ", ".join(str(q.relative_to(folder)) + ("/" if q.is_dir() and not q.is_symlink() else "") for q in foreign[:5])
        raise RunError(f"{folder} holds a vaelab run but also files vaelab did not write ({names}"
                       f"{', ...' if len(foreign) > 5 else ''}); vaelab replaces only what it wrote. Move them, or "
                       "choose another --out.")  # fmt: skip
    try:
        # under the run's training lock: a training of it running meanwhile (a train --resume, another demo) is refused
        # first, never emptied under it (an audit, s15: its epochs went on into the folder the demo trained)
        with run.training("vaelab demo"):
            for p in sorted(files, key=lambda q: q.name == CONFIG):  # config.json last: until then it is still a run
                p.unlink()
            for p in folders:
                p.rmdir()
    except OSError as e:
        raise write_error(f"replace the run in {folder}", folder, e, "part of the old run may remain") from None


@dataclass
class Example:
    x: np.ndarray  # (1, *input_shape) as the model takes it
    label: str | None  # label name, where the data has labels
    spec: str


class Run:
    """One run folder: its config, kind, model, data and splits, each read once.

    ``Run(RUN)`` opens a folder ``vaelab train`` or ``vaelab adopt`` wrote; a run whose model is code (custom
    networks, adopted PyTorch halves) needs ``specs=Specs(encoder=SPEC, decoder=SPEC)`` (a pythae or diffusers model
    whole: ``Specs(encoder=SPEC)``; or ``Specs(trust=True)``), as
    the commands' ``--encoder``/``--decoder``/``--trust-run``. ``Run(RUN).synthesize(n)`` draws new examples in the
    data's units (a table's rows as a DataFrame, ``given={"region": "north"}`` fixing columns); ``log_likelihood``,
    ``sampler``, ``generate``, ``split`` and ``dataset_of`` serve the commands."""

    def __init__(self, path: str | os.PathLike, specs: Specs | None = None):
        self.dir = RunDir(path)
        self.specs = specs or Specs()
        self.config: RunConfig = self.dir.read_config()
        self.kind_class: type[RunKind] = kind_of(self.config.data, self.dir.file(CONFIG))
        self._kind: RunKind | None = None
        self._model: Model | None = None
        self._model_digest = self._weights_digest = ""
        self._data: dict[bool, tuple[Dataset, np.ndarray]] = {}

    @property
    def path(self) -> Path:
        return self.dir.path

    @property
    def n_features(self) -> int:
        """Values per example (from config.json: known before the model is loaded)."""
        return math.prod(self.config.model.input_shape)

    def check_output(self, out: str | os.PathLike, allow: frozenset[str] = frozenset(),
                     inputs: tuple[str | os.PathLike, ...] = ()) -> Path:  # fmt: skip
        """:func:`check_output` (this run's folder is its own), and not the run's own data or labels file (which
        would change its fingerprint), nor a file the command reads (``inputs``: the file scored, the past)."""
        out = check_output(out, allow, own=self.path)
        for source in inputs:  # an audit: score f.csv --out f.csv and sample --past f.csv --out f.csv replaced f.csv
            if os.path.isfile(source) and os.path.exists(out) and os.path.samefile(source, out):
                raise DataError(f"--out {out} is the file this command reads ({source}); writing it would replace "
                                "that data. Choose another file.")  # fmt: skip
        d = self.config.data
        for source in ((d.source, d.labels) if d is not None else ()):
            if not source or source == "array" or not os.path.exists(source):
                continue
            same = os.path.exists(out) and os.path.samefile(source, out)
            inside = os.path.isdir(source) and Path(os.path.realpath(out)).is_relative_to(os.path.realpath(source))
            if same or inside:  # a file written into an image folder joins the data just the same
                raise DataError(f"--out {out} is {'inside ' if inside else ''}the data this run was trained on "
                                f"({source}); writing it would change the data and break the run. Choose another "
                                "file.")  # fmt: skip
        return out

    def check_folders(self) -> None:
        """Refuse, before any work, a run whose figures/ or cache/ leads outside it (:meth:`RunDir.folder`):
        commands that write figures call this first."""
        self.dir.folder(FIGURES)
        self.dir.folder(CACHE)

    def weights_digest(self) -> str:
        """SHA-256 of what the model is made of (its weights, an adopted model's record and graphs, and
        the SPECs named for its code): caches computed with the model are keyed on it."""
        h = hashlib.sha256(repr(self.specs).encode())
        self.dir.hash_model(h)
        return h.hexdigest()

    def model_digest(self) -> str:
        """:meth:`weights_digest` of the files :attr:`model` was loaded from (read before them): the key of caches
        computed with the model."""
        self.model
        return self._model_digest

    def code_digest(self) -> str | None:
        """SHA-256 of the user's code :attr:`model` runs: the source files of the classes of its modules that are
        neither torch's nor vaelab's (an adopted model's PyTorch halves, a custom network); None where it runs none.
        A SPEC names code by where it is, and the code there can change while the SPEC and the weights stay: caches
        computed with the model are keyed on it too (an audit, s14: score reused the validation reference of a
        decoder since edited, and placed the new model's scores among the old one's)."""
        import inspect

        from torch import nn

        files = set()
        for part in vars(self.model).values():
            for module in part.modules() if isinstance(part, nn.Module) else ():
                cls = type(module)
                if cls.__module__.partition(".")[0] in ("torch", "vaelab"):
                    continue
                try:
                    source = inspect.getsourcefile(cls)
                except (TypeError, OSError):
                    source = None
                files.add(source or f"{cls.__module__}.{cls.__qualname__}")
        if not files:
            return None
        h = hashlib.sha256()
        for name in sorted(files):
            h.update(name.encode())
            path = Path(name)
            if path.is_file():
                h.update(path.read_bytes())
        return h.hexdigest()

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
            # hashed before the files are read, so weights replaced in between (train --resume) never key a cache to
            # weights it was not computed with (an audit, s13): a stale key only misses
            # and the files alone, in the same read: what the results of this model record (measured_with)
            named, files = hashlib.sha256(repr(self.specs).encode()), hashlib.sha256()
            key, started = self.dir.model_files_key(), time.time()
            self.dir.hash_model(named, files)
            self._model_digest, self._weights_digest = named.hexdigest(), files.hexdigest()
            self.dir.remember_digest(key, self._weights_digest, started)  # judged again under the lock: not rehashed
            s = self.specs
            first = "model" if s.whole else "encoder"  # the option the encoder's SPEC was given as
            if self.config.model.arch == "adopted":
                python = s.whole and s.encoder is not None and not is_onnx(s.encoder)
                encoder = resolve(s.encoder, first) if python else s.encoder
                self._model = load_adopted(self.dir.path, encoder=encoder, decoder=s.decoder, trust=s.trust)
            else:  # custom networks of a vaelab run: the user's modules, named by SPEC
                halves = {k: None if v is None else resolve(v, o) for k, o, v in (("encoder", first, s.encoder),
                                                                                  ("decoder", "decoder", s.decoder))}
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
                # "pass the data explicitly" was said by compare-samplers and explore too, which take no data (an
                # audit, s14): what can take a file, and what needs a run of vaelab train, is said
                raise RunError(f"{self.path} was saved from Python (VAE.save), so it has no data source or split of "
                               "its own, which this needs. Give a file where a command takes one (vaelab score RUN "
                               "FILE, inspect RUN FILE, anomaly-eval RUN --inliers FILE --outliers FILE); sample and "
                               "report need none; compare-samplers and explore need a run written by vaelab train "
                               "(or adopt).")  # fmt: skip
            try:
                dataset = self.kind.dataset(data, lazy=lazy)
            except DataError as err:  # an audit: what the reader said of the changed file hid what had happened
                if not Path(data.source).exists():
                    raise RunError(f"The data {self.path} was trained on, {data.source}, is no longer there, and this "
                                   "needs the run's rows (its splits; for sample, the aggregate-gmm and posterior "
                                   "samplers fit the training rows' codes). Put the file back where it was; vaelab "
                                   "sample RUN --sampler prior needs no data (a table run's with --temperature T too: "
                                   "auto is chosen on the validation rows).") from None  # fmt: skip
                raise RunError(f"The data at {data.source} has changed since {self.path} was trained: it no longer "
                               f"reads as it did then ({str(err).rstrip('.')}). Its split no longer applies; start a "
                               "new run on the file as it is, or put the old file back.") from None  # fmt: skip
            if dataset.fingerprint() != data.fingerprint:
                raise RunError(f"The data at {data.source} has changed since {self.path} was trained (its fingerprint "
                               "differs); its split no longer applies. Start a new run.")  # fmt: skip
            if is_parquet_backed(dataset.X):
                cached = read_npy_cache(self.dir.folder(CACHE), cache_key(dataset, data.fingerprint), dataset.X.shape)
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

    def splits(self, lazy: bool = False) -> dict[str, Dataset]:
        """train, val and test, in memory (empty ones included); views of a large file with ``lazy``."""
        dataset, codes = self.data(lazy)
        take = dataset.view if lazy else dataset.subset
        return {name: take(indices(codes, name)) for name in SPLITS}

    def model_labels(self, part: Dataset) -> np.ndarray | None:
        """Labels (names) to pass to the model: only conditional models take them."""
        return part.label_names() if self.model.classes_ is not None else None

    def dataset_of(self, spec: str, labels: str | None = None, label_column: str | None = None,
                   lazy: bool = False, flags: tuple[str, str] = ("--labels", "--label-column")) -> Dataset:  # fmt: skip
        """The examples a data spec names: one of the run's splits, or a file read as the run's kind reads new
        data (a table run encodes its rows with the stored encodings and flags what is new in them; a series run cuts
        it into windows with its stored coder and flags what is out of the ordinary). ``flags``: the options that
        gave ``labels`` and ``label_column``, as the messages name them."""
        if is_split(spec):
            if labels is not None or label_column is not None:
                raise ConfigError(f"{flags[0]} and {flags[1]} give the labels of a file; the run's {spec} split has "
                                  f"its own (stored at training). Drop them, or name a file (./{spec} for one named "
                                  f"{spec}).")  # fmt: skip
            return self.kind.split_dataset(self, spec, self.split(spec, lazy=lazy))
        dataset = self.kind.read(spec, labels, label_column, lazy)
        if len(dataset.X) == 0:
            raise DataError(f"{Path(spec).name} has no rows (a header only?); give a file with at least one example.")
        try:  # the file's examples against the model's, in the words of what was passed (an audit, s15: "X has 7
            self.model.needs_reshape(dataset.X.shape[1:])  # features, but VAE is expecting 12" reached the CLI)
        except DataError:
            shape, want, name = tuple(dataset.X.shape[1:]), tuple(self.model.input_shape_), Path(spec).name
            if name.lower().endswith(TABLE_SUFFIXES) and len(shape) == 1:  # a CSV/Parquet file of numbers: its columns
                said, wanted, give = (f"has {shape[0]} column{'' if shape[0] == 1 else 's'} of numbers",
                                      f"{math.prod(want)} values per example", f"{math.prod(want)} columns")  # fmt: skip
            else:
                said, wanted, give = (f"holds examples of shape {shape} ({math.prod(shape)} values each)",
                                      f"examples of shape {want} ({math.prod(want)} values each)",
                                      "examples of that shape")  # fmt: skip
            raise DataError(f"{name} {said}; the model of {self.dir.path} takes {wanted}, as the data it was trained "
                            f"on held. Give a file of {give}.") from None  # fmt: skip
        if self.model.classes_ is not None and dataset.y is None:
            raise DataError(f"This model is conditional: give the labels of {spec} with {flags[0]} or {flags[1]}.")
        return dataset

    def refuse_unused_labels(self, labels: str | None, label_column: str | None,
                             flags: tuple[str, str] = ("--labels", "--label-column")) -> None:  # fmt: skip
        """Labels given to a command that uses them only to condition the model (score, anomaly-eval): refused, not
        ignored, for an unconditional model (an audit). Said of its scores: a plain autoencoder's are no log p(x)."""
        if (labels is not None or label_column is not None) and self.model.classes_ is None:
            given = flags[0] if labels is not None else flags[1]
            raise ConfigError(f"{given} gives a conditional model the labels of a file; the model of {self.dir.path} is "
                              "not conditional (fitted without labels), so its scores take none and they would be "
                              "ignored. Drop it.")  # fmt: skip

    def resolve(self, spec: str, labels: str | None = None, label_column: str | None = None,
                with_labels: bool = False, lazy: bool = False) -> tuple[Any, np.ndarray | None]:  # fmt: skip
        """(X, y) for a data spec. y holds label names; it is given for conditional models (which
        need it) and, with ``with_labels``, whenever the data has labels. With ``lazy`` a large
        file (or the run's split of one) comes as a memory map or :class:`vaelab.data.rows.Rows`."""
        dataset = self.dataset_of(spec, labels, label_column, lazy)
        if dataset.y is None or not (with_labels or self.model.classes_ is not None):
            return dataset.X, None
        return dataset.X, dataset.label_names()  # names: a model maps them to its own codes

    def log_likelihood(self, dataset: Dataset, n_samples: int = 1000, **options: Any) -> LikelihoodResult:
        """log p(x) of a dataset of this run (:meth:`dataset_of`), in the data's own units: cells the kind
        could not encode are left out, and the kind's change of units (a table's scaling) is included."""
        result = log_likelihood(self.model, dataset.X, self.model_labels(dataset), n_samples,
                                observed=dataset.observed, **options)  # fmt: skip
        if dataset.serial is not None:  # overlapping windows: their mean's SE takes their autocovariances
            result = dataclasses.replace(result, serial=dataset.serial)
        jacobian = self.kind.log_jacobian(dataset.X, dataset.observed)
        return result if jacobian is None else result.shifted(jacobian, self.kind.density_units or "", self.kind.data_dims)

    def reconstruction_error(self, dataset: Dataset, **options: Any) -> ReconstructionResult:
        """A plain autoencoder's reconstruction errors of a dataset of this run (:meth:`dataset_of`): its score
        where there is no log p(x) (:mod:`vaelab.analysis.reconstruction_error`). ``options``: ``progress``."""
        result = reconstruction_error(self.model, dataset.X, self.model_labels(dataset), **options)
        return result if dataset.serial is None else dataclasses.replace(result, serial=dataset.serial)

    def example(self, spec: str) -> Example:
        """One example named by a spec: ``12`` (test example 12), ``val:3``, an image file, ``FILE[:N]``."""
        spec = str(spec)
        head, _, tail = spec.rpartition(":")
        if spec.isdigit():
            source, index = "test", int(spec)
        elif head and tail.isdigit() and (is_split(head) or Path(head).exists()):
            source, index = head, int(tail)
        else:
            source, index = spec, 0
        if is_split(source):
            part = self.kind.given_trained(self.split(source, lazy=True))  # one row is read, not the whole file
        elif Path(source).is_file() and Path(source).suffix.lower() in IMAGE_SUFFIXES:
            return Example(self._shaped(read_image(source), spec), None, spec)
        elif Path(source).exists():
            part = self.kind.read(source)
        else:
            raise DataError(f"Example {spec!r} names neither a split index nor a file; expected {EXAMPLE_HELP}.")
        if not 0 <= index < part.n_examples:
            raise DataError(f"Example {spec!r}: index {index} is out of range; {source} has {part.n_examples} "
                            f"examples (0..{part.n_examples - 1}).")  # fmt: skip
        if part.observed is not None and not np.asarray(part.observed[index]).all():
            # A table row with a cell the run cannot encode (a new category, a date that is not one): its code would
            # be that of a row without the cell, and explore would call the row typical without a word.
            why = part.reasons[index] if part.reasons and part.reasons[index] else "cells the run cannot encode"
            raise DataError(f"Example {spec!r} holds what training never had ({why}); its code would leave those "
                            "cells out. Score it instead (vaelab score RUN FILE flags it with its reason), or name a "
                            "row the run can encode whole.")  # fmt: skip
        if part.reasons and CONDITION_FALLBACK in (part.reasons[index] or ""):
            # A conditional table run's row whose condition values training never had: its label would be the most
            # frequent one, and explore would encode and decode it as that without a word (an audit, s10 d).
            raise DataError(f"Example {spec!r} holds what training never had ({part.reasons[index]}); explored, it "
                            "would be taken as a row of that condition. Score it instead (vaelab score RUN FILE flags "
                            "it with its reason), or name a row whose condition values training had.")  # fmt: skip
        if part.reasons and FILLED in (part.reasons[index] or ""):
            # A series window with missing or unreadable values is scored on values interpolated in time; explored,
            # it would be called typical or not on values that never arrived, without a word (an audit).
            raise DataError(f"Example {spec!r} holds values that are not there ({part.reasons[index]}); its code would "
                            "be that of the interpolated window. Score it instead (vaelab score RUN FILE flags it with "
                            "its reason), or name a window whose values are all present.")  # fmt: skip
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
        parts = self.splits(lazy=True)  # only the examples a sampler uses are read
        return fit_sampler(name, self.model, parts["train"], self.kind.given_trained(parts["val"]), seed)

    def generate(self, n: int, *, sampler: str = "prior", seed: int = 0, mean: bool = True,
                 label: Any = None) -> np.ndarray:  # fmt: skip
        """n examples as the model outputs them (n, *input_shape): z from ``sampler``, decoded to
        E[x|z] (``mean``) or a draw from p(x|z)."""
        y = None if label is None else np.full(n, str(label))
        return generate(self.model, self.sampler(sampler, seed), n, y=y, mean=mean, seed=seed)

    def synthesize(self, n: int, *, sampler: str | None = None, seed: int = 0, draw: bool = False,
                   label: Any = None, given: Any = None, temperature: float | str = AUTO) -> Any:  # fmt: skip
        """n new examples in the user's units, as the kind gives them back (arrays, table rows as a
        DataFrame, series windows (n, T, F)); decoder means unless ``draw`` or the kind draws. ``given``
        fixes columns of a table's rows (``{"region": "north"}`` or ``["region=north"]``); the rows'
        ``attrs["generation"]`` then says how (:mod:`vaelab.analysis.table_generation`). ``sampler`` None is the
        kind's default (aggregate-gmm for tables, else prior). ``temperature`` < 1 draws a table's categories and
        booleans sharper (:func:`vaelab.analysis.samplers.check_temperature`); "auto", a table run's default, is
        the temperature chosen on its validation rows (``attrs["temperature"]`` says which and why)."""
        return self.kind.synthesize(self, n, sampler=sampler, seed=check_seed(seed, "seed"), draw=draw, label=label,
                                    given=given, temperature=temperature)  # fmt: skip

    # --------------------------------------------------------------- writing
    def figure(self, name: str) -> Path:
        """RUN/figures/NAME, refused when figures/ leads outside the run (:meth:`RunDir.folder`)."""
        return self.dir.folder(FIGURES) / name

    def measured_with(self, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` (a block or an entry of metrics.json) with the weights it was measured with
        (:data:`vaelab.checkpoint.WEIGHTS_DIGEST`: the SHA-256 of the files :attr:`model` was loaded from), when the
        model was loaded: a `train --resume` that replaces them makes it stale, whenever it ends."""
        return result if self._model is None else {**result, WEIGHTS_DIGEST: self._weights_digest}

    def update_metrics(self, files: dict[Path, bytes] | None = None, **blocks: dict[str, Any]) -> dict[str, Any]:
        """:meth:`RunDir.update_metrics` (``files``: the figures the blocks name, written with them under the run's
        lock), each block recording the weights it was measured with (:meth:`measured_with`)."""
        return self.dir.update_metrics(files, **{name: self.measured_with(block) for name, block in blocks.items()})

    def merge_metrics(self, block: str, entries: dict[str, Any], files: dict[Path, bytes] | None = None,
                      **blocks: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        """:meth:`RunDir.merge_metrics`, each entry and block recording the weights it was measured with."""
        return self.dir.merge_metrics(block, {key: self.measured_with(entry) for key, entry in entries.items()}, files,
                                      **{name: self.measured_with(value) for name, value in blocks.items()})  # fmt: skip
