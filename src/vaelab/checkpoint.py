"""The run directory: the contract between vaelab commands.

RUN/config.json              settings + versions (validated field by field on load)
RUN/model.safetensors        the best weights; nothing is ever unpickled
RUN/history.csv              one row per epoch
RUN/metrics.json             one top-level key per analysis
RUN/split.npy                split code per example (0 train, 1 val, 2 test), int8
RUN/train_state.safetensors  last weights, best weights, Adam moments, counters: for --resume

Every file is written atomically: to a temporary file in the same folder, flushed
to disk, then renamed over the old one, so a reader (or a crash) never sees half
a file. The training state is one file, so a resumed run sees one consistent epoch.
metrics.json is read, changed and rewritten under a lock (RUN/.metrics.lock), so
commands running at once never lose each other's blocks. Every safetensors file
carries a SHA-256 of its tensors and metadata, checked on every read. Nothing is read
or written through a subfolder or a file link that leads outside the run (:meth:`RunDir.folder`,
:meth:`RunDir.file`).
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from vaelab import __version__
from vaelab.config import DataConfig, ModelConfig, TrainConfig, from_dict, to_dict
from vaelab.errors import ConfigError, RunError
from vaelab.files import (
    AGAIN,
    TEMP_FILE,
    LockHeld,
    atomic_write,
    being_written,
    lock_file,
    make_folder,
    read_json,
    safetensors_metadata,
    sorted_metadata,
)
from vaelab.metrics_schema import validate_blocks
from vaelab.train import HISTORY_COLUMNS, TrainState

FORMAT_VERSION = 1  # bump when the layout changes; older readers refuse newer runs
CONFIG, MODEL, HISTORY, METRICS = "config.json", "model.safetensors", "history.csv", "metrics.json"
SPLIT, STATE = "split.npy", "train_state.safetensors"
CALIBRATION, CLASSIFIER, REPORT = "calibration.safetensors", "classifier.safetensors", "report.html"
LOCK = ".metrics.lock"  # held while metrics.json is read, changed and rewritten
TRAIN_LOCK = ".train.lock"  # held while a training writes the run (it holds who: pid, host, since when)
# metrics.json's list of the blocks (and "block.entry"s) computed with weights that `train --resume` has since
# changed: the report says so; a command that writes one again takes it off the list.
STALE = "stale"
# The key, in every block (or entry) an analysis writes, of the SHA-256 of the model files it was measured with
# (RunDir.weights_digest): a result of weights the run no longer holds is stale whatever the order in which its
# command and a `train --resume` ended. Blocks written before it was recorded are judged by the list alone.
WEIGHTS_DIGEST = "weights_digest"
# metrics.json's map of the figures written with their blocks (files= of update_metrics/merge_metrics),
# "figures/NAME.png" to the SHA-256 of the bytes written: a figure that differs from it was written by a command stopped (a kill) between
# the figure's rename and its block's, beside the block of an earlier one; the report says so.
FIGURE_DIGESTS = "figure_sha256"
ONNX = ("encoder.onnx", "decoder.onnx")  # an adopted model's graphs
MODEL_FILES = (MODEL, "adopted.json", *ONNX)  # what a model is made of (an adopted one: its record and graphs too)
FIGURES, CACHE = "figures", "cache"  # the run's subfolders
# Every file vaelab itself writes at the top of a run folder (a kind's files are named by its kind).
RUN_FILES = frozenset({CONFIG, MODEL, HISTORY, METRICS, SPLIT, STATE, CALIBRATION, CLASSIFIER, REPORT, LOCK,
                       TRAIN_LOCK})
CHECKSUM = "vaelab_sha256"  # safetensors metadata: SHA-256 of the tensors and the other metadata


def _json_safe(value: Any) -> Any:
    """NaN/inf become null: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _dumps(value: Any) -> bytes:
    return (json.dumps(_json_safe(value), indent=2, allow_nan=False) + "\n").encode()


def checksum(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """SHA-256 over every tensor (name, dtype, shape, bytes) and every metadata item but the checksum."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(json.dumps(sorted((k, v) for k, v in metadata.items() if k != CHECKSUM)).encode())
    return h.hexdigest()


def tensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """Tensors and string metadata as safetensors bytes (the same bytes for the same input), with
    their :func:`checksum` in the metadata so a reader can tell a damaged file (a bit flip) from a good one."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = dict(metadata or {})
    metadata[CHECKSUM] = checksum(tensors, metadata)
    return sorted_metadata(st_save(tensors, metadata=metadata))


@dataclass(frozen=True)
class RunConfig:
    """What config.json holds."""

    model: ModelConfig
    train: TrainConfig
    data: DataConfig | None = None
    vaelab_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "vaelab_version": self.vaelab_version,
            "model": to_dict(self.model),
            "train": to_dict(self.train),
            "data": None if self.data is None else to_dict(self.data),
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "config.json") -> "RunConfig":
        if not isinstance(d, dict):
            raise RunError(f"{where} must hold a JSON object; it holds {type(d).__name__}.")
        version = d.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise RunError(f"{where} has no valid format_version; this is not a vaelab run config.")
        if version > FORMAT_VERSION or version < 1:
            raise RunError(
                f"{where} was written by vaelab {d.get('vaelab_version', '?')} in run format {version}; "
                f"this vaelab ({__version__}) reads format {FORMAT_VERSION}. Install the vaelab that wrote it."
            )
        unknown = sorted(set(d) - {"format_version", "vaelab_version", "model", "train", "data"})
        if unknown:
            raise RunError(f"{where} has unknown key(s) {unknown}.")
        try:
            model = from_dict(ModelConfig, d.get("model"), f"{where} 'model'")
            train = from_dict(TrainConfig, d.get("train"), f"{where} 'train'")
            data = None if d.get("data") is None else from_dict(DataConfig, d["data"], f"{where} 'data'")
        except ConfigError as e:
            raise RunError(str(e)) from None
        vaelab_version = d.get("vaelab_version", "unknown")
        if not isinstance(vaelab_version, str):
            raise RunError(f"{where} 'vaelab_version' must be a string; got {vaelab_version!r}.")
        return cls(model, train, data, vaelab_version)


# The model files' digests this process hashed (RunDir.weights_digest): run folder -> (their metadata, digest)
_DIGESTS: dict[str, tuple[tuple, str]] = {}
SETTLED_S = 2.0  # a file changed this long before its hashing began is cached by its metadata (timestamps are coarse)


class RunDir:
    """One run folder. Creating the object touches nothing; methods read or write one file each."""

    def __init__(self, path: str | os.PathLike, again: str = AGAIN):
        self.path = Path(path)
        self.again = again  # what a failed write advises once the disk is fixed (training: --resume)

    def file(self, name: str) -> Path:
        """RUN/NAME, the path every read and write of a run file goes through: refused when it is a
        symbolic link that leads outside the run (its contents are not the run's, and a write must not
        reach them). A link to a file inside the run is followed."""
        path = self.path / name
        if os.path.islink(path):
            target = os.path.realpath(path)
            if not Path(target).is_relative_to(os.path.realpath(self.path)):
                raise RunError(f"{path} is a link to {target}, outside the run folder; vaelab reads and writes only "
                               f"inside a run. Replace the link with the file itself (copy {target} to {path}), then "
                               "run the command again.")  # fmt: skip
        return path

    def exists(self) -> bool:
        return self.file(CONFIG).is_file()

    def hash_model(self, *hashes: Any) -> None:
        """Feed the files the model is made of (:data:`MODEL_FILES`, those present) to each of ``hashes``, in one
        read."""
        for name in MODEL_FILES:
            path = self.file(name)
            if path.is_file():
                with open(path, "rb") as f:
                    for h in hashes:
                        h.update(name.encode())
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        for h in hashes:
                            h.update(chunk)

    def model_files_key(self) -> tuple:
        """What the files the model is made of are, by their metadata (device, inode, size, mtime, ctime; absent):
        the key of :func:`remember_digest`'s cache."""
        key = []
        for name in MODEL_FILES:
            try:
                st = os.stat(self.file(name))
            except (FileNotFoundError, NotADirectoryError):
                st = None
            regular = st is not None and stat.S_ISREG(st.st_mode)
            key.append((name, *((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) if regular else ())))
        return tuple(key)

    def remember_digest(self, key: tuple, digest: str, started: float) -> None:
        """Keep ``digest`` (:meth:`weights_digest`, hashed from ``started``, time.time()) of the model files as
        ``key`` (:meth:`model_files_key`, taken before hashing) found them, for as long as they stay so: only when they
        are as they were and every file was last changed :data:`SETTLED_S` before the hashing began, so that a file
        rewritten within a timestamp's granularity (the same size and times) cannot keep the old digest."""
        settled = all(len(k) == 1 or max(k[4], k[5]) < (started - SETTLED_S) * 1e9 for k in key)
        if settled and self.model_files_key() == key:
            _DIGESTS[os.path.realpath(self.path)] = (key, digest)

    def weights_digest(self) -> str:
        """SHA-256 of the files the model is made of as they are now: what a block records it was measured with
        (:data:`WEIGHTS_DIGEST`). Hashed again only when their metadata changed (:meth:`remember_digest`): every
        write of an analysis judges it under the run's lock, a second for a large ONNX model (an audit, s14)."""
        key = self.model_files_key()
        cached = _DIGESTS.get(os.path.realpath(self.path))
        if cached is not None and cached[0] == key:
            return cached[1]
        started, h = time.time(), hashlib.sha256()
        self.hash_model(h)
        digest = h.hexdigest()
        self.remember_digest(key, digest, started)
        return digest

    def folder(self, name: str, create: bool = False) -> Path:
        """The run's subfolder ``name`` (figures, cache), refused when it leads outside the run
        (a symbolic link to another folder, or not a folder at all): vaelab reads, writes and
        deletes only inside a run. With ``create`` it is made if missing."""
        path = self.path / name  # its own check and message: a folder may be a link to a folder inside the run
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            target = os.path.realpath(path)
            inside = Path(target).is_relative_to(self.path.resolve()) and Path(target).is_dir()
            if not inside:
                what = f"a link to {target}" if path.is_symlink() else "not a folder"
                raise RunError(f"{path} is {what}, outside the run folder; vaelab reads and writes only inside a run. "
                               f"Replace it with a folder (remove {path}), then run the command again.")  # fmt: skip
        if create:
            make_folder(path)
        return path

    def _inside_folders(self) -> list[Path]:
        """The run folder and those of its subfolders that are real folders inside it."""
        out = [self.path] if self.path.is_dir() else []
        for name in (FIGURES, CACHE):
            p = self.path / name
            if p.is_dir() and not p.is_symlink():
                out.append(p)
        return out

    def temp_files(self) -> list[Path]:
        """Temporary files that writes killed midway (SIGKILL, power loss) left behind.

        Readers open files by their exact names, so these are never mistaken for data;
        they only waste space until :meth:`remove_temp_files`. Subfolders that are links are
        never looked into (their files are not the run's).
        """
        return [p for f in self._inside_folders() for p in f.iterdir()
                if TEMP_FILE.fullmatch(p.name) and p.is_file() and not p.is_symlink()]  # fmt: skip

    def remove_temp_files(self) -> list[Path]:
        """Delete :meth:`temp_files` whose writer no longer runs: a command writing the run meanwhile (an analysis
        while `train --resume` starts) keeps its own, which it is about to rename (an audit, s14: its write failed
        with "No such file or directory" and its block was lost)."""
        removed = []
        for p in self.temp_files():
            if being_written(p.name):
                continue
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
        return removed

    @contextlib.contextmanager
    def training(self, what: str = "vaelab train") -> Iterator[None]:
        """Hold the run's training lock (:data:`TRAIN_LOCK`) for the block; another training of the run holding it is
        refused at once, in one line that names it (an audit, s14: two `train --resume` of one run at once were not
        refused, and each wrote its epochs over the other's). The kernel releases the lock when its holder dies, so a
        killed training never blocks the run; the file is left, naming its last holder."""
        path = self.file(TRAIN_LOCK)
        held = contextlib.ExitStack()
        try:
            fd = held.enter_context(lock_file(path, wait=False))
        except LockHeld:
            try:
                holder = json.loads(path.read_text())
                who = (f"{holder['what']}, pid {int(holder['pid'])} on {holder['host']}, since "
                       f"{holder['since']}")  # fmt: skip
                stop = f" (kill {int(holder['pid'])} on {holder['host']})"
            except (OSError, ValueError, TypeError, KeyError):  # written a moment ago, not yet filled in
                who, stop = "another process", ""
            raise RunError(f"{self.path} is being trained by another process ({who}): two trainings of one run at "
                           "once overwrite each other's epochs. Wait for it to end, or stop it"
                           f"{stop}, then run the command again.") from None  # fmt: skip
        with held:
            if fd is not None:
                holder = {"what": what, "pid": os.getpid(), "host": socket.gethostname(),
                          "since": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}  # fmt: skip
                with contextlib.suppress(OSError):  # who holds it, for the refusal's words only
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, json.dumps(holder).encode(), 0)
            yield

    def check_save(self, own: frozenset[str], what: str) -> None:
        """Where a Python ``save`` may write: a missing or empty folder, or one that holds only the files an earlier
        save of ``what`` wrote, which this one replaces. Anything else there (a run that vaelab train or adopt wrote:
        its metrics, split, figures, a kind's files; a save of another kind of model; other files) is refused: saving
        beside it would leave a folder whose files describe two models (an audit, s13: an adopted model saved into a
        table run kept that run's metrics.json, split and table.json beside its config.json)."""
        if not self.path.exists() and not self.path.is_symlink():
            return
        if not self.path.is_dir():
            raise RunError(f"{self.path} is not a folder; save writes a run folder: name a new one.")
        others = sorted(p.name for p in self.path.iterdir() if p.name not in own and not TEMP_FILE.fullmatch(p.name))
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            raise RunError(f"{self.path} holds {shown}, which {what} does not write: a run that vaelab train or adopt "
                           "wrote, a save of another kind of model, or other files, which this model's files would be "
                           "mixed with. Save to a new folder, or empty this one first.")  # fmt: skip

    def check(self) -> None:
        """Fail clearly unless this is a readable vaelab run folder."""
        if not self.path.exists():
            raise RunError(f"Run folder {self.path} does not exist. Train one with: vaelab train DATA --out {self.path}")
        if not self.path.is_dir():
            raise RunError(
                f"{self.path} is a file, not a run folder. vaelab runs are folders written by `vaelab train` or "
                "`vaelab adopt`; vaelab never loads pickled files such as .pt/.pth/.pkl. For a model trained "
                "elsewhere: save its state_dict with safetensors and adopt it (vaelab adopt, or vaelab.adopt)."
            )
        if not self.exists():
            raise RunError(f"{self.path} is not a vaelab run: it has no {CONFIG}. Runs are made by `vaelab train DATA --out RUN`.")

    # ----------------------------------------------------------------- config
    def write_config(self, config: RunConfig) -> None:
        make_folder(self.path)
        atomic_write(self.file(CONFIG), _dumps(config.to_dict()), self.again)

    def read_config(self) -> RunConfig:
        self.check()
        d = read_json(self.file(CONFIG), "the run is damaged")
        return RunConfig.from_dict(d, str(self.file(CONFIG)))

    # ---------------------------------------------------------------- weights
    def write_weights(self, state_dict: dict[str, torch.Tensor]) -> None:
        atomic_write(self.file(MODEL), tensors_bytes(state_dict, {"format": "pt", "vaelab_version": __version__}), self.again)

    def read_tensors(self, name: str, adopted: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """The tensors and metadata of a safetensors file of the run, its checksum verified (files
        written before checksums were stored are read unverified). ``adopted``: the run holds a model trained
        elsewhere (vaelab adopt), which the messages say to adopt again, not to retrain."""
        path = self.file(name)
        again = "adopt the model again" if adopted else "retrain"
        if not path.is_file():
            raise RunError(f"{path} is missing; the run is incomplete "
                           + ("(adopt wrote it before config.json, so it was removed since): adopt the model again."
                              if adopted else "(was training interrupted before the first epoch ended?)."))  # fmt: skip
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise RunError(f"{path} could not be read ({e.strerror or e}); check the file's permissions.") from None
        try:
            tensors = st_load(raw)
            metadata = safetensors_metadata(raw)
        except (SafetensorError, ValueError, json.JSONDecodeError, RecursionError) as e:
            raise RunError(
                f"{path} is damaged (truncated or not a safetensors file): {str(e)[:200]}. {again.capitalize()}, or "
                "restore the file from a copy."
            ) from None
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise RunError(f"{path} is damaged (its metadata is not a map of strings). {again.capitalize()}, or restore the file.")
        stored = metadata.get(CHECKSUM)
        if stored is not None and stored != checksum(tensors, metadata):
            raise RunError(f"{path} failed its checksum: its contents changed after vaelab wrote it (a flipped bit, a "
                           f"damaged disk or an edit). Restore the file from a copy, or {again}.")  # fmt: skip
        return tensors, metadata

    def read_weights(self, adopted: bool = False) -> dict[str, torch.Tensor]:
        """The model's weights, refused when any is NaN or infinite (a diverged or damaged model). ``adopted``:
        an adopted model's (:meth:`read_tensors`)."""
        weights = self.read_tensors(MODEL, adopted)[0]
        bad = [k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v.float()).all())]
        if bad:
            raise RunError(f"{self.file(MODEL)} holds NaN or infinite weights ({', '.join(bad[:3])}"
                           f"{', ...' if len(bad) > 3 else ''}): "
                           + ("the adopted weights held them or the file is damaged. Restore the file from a copy, or "
                              "adopt the model again from finite weights." if adopted else
                              "the model diverged or the file is damaged. Retrain with a lower --lr, or restore the file "
                              "from a copy."))  # fmt: skip
        return weights

    def write_arrays(self, name: str, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
        """Named NumPy arrays in a safetensors file (caches such as calibration scores)."""
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
        atomic_write(self.file(name), tensors_bytes(tensors, metadata), self.again)

    def read_arrays(self, name: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        tensors, metadata = self.read_tensors(name)
        try:
            return {k: v.numpy() for k, v in tensors.items()}, metadata
        except TypeError as e:  # e.g. bfloat16 or float8 tensors, which NumPy cannot hold
            raise RunError(f"{self.file(name)} holds tensors NumPy cannot read ({e}); vaelab writes float and integer "
                           "arrays only. Delete the file (caches are rebuilt) or retrain.") from None

    # ------------------------------------------------------- history, metrics
    def write_history(self, rows: list[dict]) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        atomic_write(self.file(HISTORY), buf.getvalue().encode(), self.again)

    def read_metrics(self) -> dict[str, Any]:
        """metrics.json as stored: every block, checked or not (writers keep what they do not own)."""
        path = self.file(METRICS)
        if not path.is_file():
            if os.path.lexists(path) and not path.is_symlink():  # a folder or a FIFO is no file to replace
                raise RunError(f"{path} is not a regular file; delete it (the analyses write it again).")
            return {}
        d = read_json(path, "delete it and rerun the analyses")
        if not isinstance(d, dict):
            raise RunError(f"{path} must hold a JSON object.")
        return d

    def read_blocks(self) -> tuple[dict[str, Any], list[str]]:
        """metrics.json's blocks checked against their schemas (:mod:`vaelab.metrics_schema`): a damaged
        block (or explore entry) is left out, as if its analysis had not run, with a note saying so."""
        return validate_blocks(self.read_metrics())

    def _rewrite_metrics(self, change: Callable[[dict[str, Any]], None],
                         files: dict[Path, bytes] | None = None) -> dict[str, Any]:  # fmt: skip
        """metrics.json read, changed in place by ``change`` and written back atomically, all under
        the run's lock: commands writing other blocks at the same time keep theirs. ``files`` (path: bytes, the
        figures a block names) are written first under the same lock, so two commands writing the same block at once
        never leave the figure of one beside the block of the other."""
        with lock_file(self.file(LOCK)):
            for path, content in (files or {}).items():
                make_folder(path.parent)
                atomic_write(path, content, self.again)
            metrics = self.read_metrics()
            change(metrics)
            if files:  # what each figure holds, with the block that names it (FIGURE_DIGESTS)
                old = metrics.get(FIGURE_DIGESTS)
                metrics[FIGURE_DIGESTS] = {**(old if isinstance(old, dict) else {}),
                                           **{_relative(path, self.path): hashlib.sha256(content).hexdigest()
                                              for path, content in files.items()}}  # fmt: skip
            atomic_write(self.file(METRICS), _dumps(metrics), self.again)
        return metrics

    def update_metrics(self, files: dict[Path, bytes] | None = None, **blocks: dict[str, Any]) -> dict[str, Any]:
        """Set the given top-level blocks of metrics.json, keeping the others; ``files``: the figures they name, written
        with them (:meth:`_rewrite_metrics`)."""

        def change(metrics: dict[str, Any]) -> None:
            metrics.update(blocks)
            _freshen(metrics, blocks, self.weights_digest)

        return self._rewrite_metrics(change, files)

    def merge_metrics(self, block: str, entries: dict[str, Any], files: dict[Path, bytes] | None = None,
                      **blocks: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        """Set ``entries`` inside the block ``block`` of metrics.json, keeping its other entries (a
        damaged block, not a JSON object, is replaced), and any top-level ``blocks`` as
        :meth:`update_metrics` does (``files`` too), in one write."""

        def change(metrics: dict[str, Any]) -> None:
            metrics.update(blocks)
            old = metrics.get(block)
            metrics[block] = {**(old if isinstance(old, dict) else {}), **entries}
            _freshen(metrics, {**blocks, **{f"{block}.{key}": value for key, value in entries.items()}},
                     self.weights_digest)  # fmt: skip

        return self._rewrite_metrics(change, files)

    def mark_stale(self, names: list[str], changed: bool = True) -> dict[str, Any]:
        """Add to metrics.json's list of results computed with earlier weights those of ``names`` (blocks, or
        "block.entry") and of the analyses' results it holds now (:func:`measured_results`) that were measured on
        weights other than the run's: a result that records its weights (:data:`WEIGHTS_DIGEST`) when they differ
        from the run's now, one that does not (written before vaelab recorded them) when ``changed`` (the weights
        changed since it could have been measured). Judged under the lock, so a result another command writes at the
        same time is judged on what it records."""

        def change(metrics: dict[str, Any]) -> None:
            now = self.weights_digest()
            older = []
            for name in {*names, *measured_results(metrics)}:
                recorded = _measured_with(_result(metrics, name)) if name.partition(".")[0] in metrics else set()
                if recorded is None and changed or recorded and recorded != {now}:
                    older.append(name)
            if older:
                metrics[STALE] = sorted({*stale_names(metrics), *older})

        return self._rewrite_metrics(change)

    def stale_results(self, metrics: dict[str, Any]) -> list[str]:
        """metrics.json's list of results computed with earlier weights (:func:`stale_names`), and every result that
        records weights (:data:`WEIGHTS_DIGEST`) other than the run's now: a `train --resume` stopped (Ctrl-C, a
        kill) after it changed the weights never listed them (an audit, s14: the report showed them as current)."""
        names, now = stale_names(metrics), None
        for name in measured_results(metrics):
            recorded = _measured_with(_result(metrics, name))
            if recorded and name not in names:
                now = now or self.weights_digest()
                if recorded != {now}:
                    names.append(name)
        return names

    # ------------------------------------------------------------------ split
    def write_split(self, codes: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, np.asarray(codes, dtype=np.int8), allow_pickle=False)
        atomic_write(self.file(SPLIT), buf.getvalue(), self.again)

    def read_split(self, n_examples: int) -> np.ndarray:
        path = self.file(SPLIT)
        try:
            if not path.is_file():  # missing, or a FIFO that np.load would wait on forever
                raise OSError("not a regular file")
            codes = np.load(path, allow_pickle=False)
        except Exception as e:  # np.load parses a damaged header with Python's tokenizer: it can fail in any way
            raise RunError(f"{path} is missing or damaged ({e}); the run's data split cannot be recovered.") from None
        if codes.shape != (n_examples,) or codes.dtype != np.int8 or codes.min(initial=0) < 0 or codes.max(initial=0) > 2:
            raise RunError(f"{path} does not describe a split of {n_examples} examples; the run is damaged.")
        return codes

    # ------------------------------------------------------------ train state
    def write_train_state(self, state: TrainState, module: torch.nn.Module) -> None:
        """Everything --resume needs, in one file (so it is never half-updated)."""
        tensors = {f"current.{k}": v for k, v in module.state_dict().items()}
        if state.best_weights is not None:
            tensors.update({f"best.{k}": v for k, v in state.best_weights.items()})
        optim_meta: dict[str, Any] = {"param_groups": [], "state": {}}
        if state.optimizer is not None:
            optim_meta["param_groups"] = state.optimizer["param_groups"]
            for pid, slots in state.optimizer["state"].items():
                optim_meta["state"][str(pid)] = []
                for key, value in slots.items():
                    tensors[f"optim.{pid}.{key}"] = value
                    optim_meta["state"][str(pid)].append(key)
        counters = {
            "epoch": state.epoch, "step": state.step, "best_epoch": state.best_epoch,
            "best_loss": state.best_loss, "bad_epochs": state.bad_epochs,
            "stopped_early": state.stopped_early,
        }  # fmt: skip
        meta = {"counters": counters, "history": state.history, "optimizer": optim_meta}
        # JSON keeps NaN/inf as bare words; Python's json reads them back exactly.
        atomic_write(self.file(STATE), tensors_bytes(tensors, {"vaelab_state": json.dumps(meta)}), self.again)

    def read_train_state(self) -> tuple[TrainState, dict[str, torch.Tensor]]:
        """The state to resume from and the module's weights at that point."""
        tensors, metadata = self.read_tensors(STATE)
        try:
            meta = json.loads(metadata["vaelab_state"])
            _check_state_meta(meta)
            c = meta["counters"]
            optim = meta["optimizer"]
            optimizer = None
            if optim["param_groups"]:
                optimizer = {
                    "param_groups": optim["param_groups"],
                    "state": {int(pid): {k: tensors[f"optim.{pid}.{k}"] for k in keys} for pid, keys in optim["state"].items()},
                }
            best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
            state = TrainState(
                epoch=int(c["epoch"]), step=int(c["step"]), best_epoch=int(c["best_epoch"]),
                best_loss=float(c["best_loss"]), bad_epochs=int(c["bad_epochs"]),
                stopped_early=bool(c["stopped_early"]), history=list(meta["history"]),
                best_weights=best or None, optimizer=optimizer,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as e:
            raise RunError(f"{self.file(STATE)} is damaged ({type(e).__name__}: {e}); the run cannot be resumed.") from None
        current = {k[8:]: v for k, v in tensors.items() if k.startswith("current.")}
        return state, current


def _check_state_meta(meta: Any) -> None:
    """The JSON part of train_state.safetensors, field by field (a ValueError names the first bad one):
    what torch's optimizer and the training loop would otherwise fail on mid-resume."""

    def number(v, low=-math.inf):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v) and v >= low

    def count(v):
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 2**63 - 1

    c = meta["counters"]
    bad = [k for k in ("epoch", "step", "best_epoch", "bad_epochs") if not count(c[k])]
    bad += [] if number(c["best_loss"]) else ["best_loss"]
    bad += [] if isinstance(c["stopped_early"], bool) else ["stopped_early"]
    if bad:
        raise ValueError(f"counters {bad} must be non-negative integers (best_loss a number, stopped_early a bool)")
    history = meta["history"]
    if not isinstance(history, list) or not all(
        isinstance(row, dict) and {"epoch", "seconds"} <= set(row) <= set(HISTORY_COLUMNS)
        and all(v is None or number(v) or (isinstance(v, float) and math.isnan(v)) for v in row.values())
        for row in history
    ):  # fmt: skip
        raise ValueError(f"history must be a list of rows with numeric columns among {list(HISTORY_COLUMNS)}")
    optim = meta["optimizer"]
    groups, state = optim["param_groups"], optim["state"]
    if not isinstance(groups, list) or len(groups) > 1 or not isinstance(state, dict):
        raise ValueError("the optimizer must hold at most one parameter group and a state object")
    for g in groups:
        ok = isinstance(g, dict) and all(number(g.get(k), 0) for k in ("lr", "eps", "weight_decay"))
        ok = ok and isinstance(g.get("betas"), list) and len(g["betas"]) == 2 and all(number(b, 0) for b in g["betas"])
        ok = ok and isinstance(g.get("params"), list) and all(count(p) for p in g["params"])
        if not ok:
            raise ValueError("the optimizer's parameter group needs numbers lr, eps, weight_decay, two betas and params")
    ids = {p for g in groups for p in g["params"]}
    if not all(isinstance(pid, str) and pid.isdecimal() and int(pid) in ids and isinstance(keys, list)
               and all(isinstance(k, str) for k in keys) for pid, keys in state.items()):  # fmt: skip
        raise ValueError("the optimizer state must map parameter ids of its group to lists of slot names")




def _relative(path: Path, run: Path) -> str:
    """A file of the run as :data:`FIGURE_DIGESTS` names it: its path inside the run folder, with "/"."""
    return Path(os.path.relpath(path, run)).as_posix()


def figure_digest(metrics: dict[str, Any], name: str) -> str | None:
    """The SHA-256 metrics.json records for RUN/figures/NAME (:data:`FIGURE_DIGESTS`), or None (a figure written
    by itself, or before vaelab recorded them)."""
    digests = metrics.get(FIGURE_DIGESTS)
    digest = digests.get(f"{FIGURES}/{name}") if isinstance(digests, dict) else None
    return digest if isinstance(digest, str) else None


def stale_names(metrics: dict[str, Any]) -> list[str]:
    """metrics.json's list of results computed with weights a resumed training has since changed (a damaged list:
    none)."""
    names = metrics.get(STALE)
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


# Blocks train writes itself (training, the test split, a table's temperature, a series' spread of generated windows)
TRAIN_BLOCKS = frozenset({"training", "test", "temperature", "generated_spread", STALE})
# Blocks that record no measurement of their own: no result, never stale
NOT_RESULTS = TRAIN_BLOCKS | {FIGURE_DIGESTS}
# Blocks whose entries are measured one by one (one per explore action, one per data inspected): each is a result
ENTRY_RESULTS = ("explore", "diagnostics_by_data")


def measured_results(metrics: dict[str, Any]) -> list[str]:
    """The blocks of metrics.json that analyses wrote (an explore figure's entry by itself: "explore.traverse", and an
    inspected data's: "diagnostics_by_data.test")."""
    names = []
    for block, value in metrics.items():
        if block in NOT_RESULTS:
            continue
        if block in ENTRY_RESULTS and isinstance(value, dict):
            # entry by entry, as their commands write them (an audit, s12: "diagnostics_by_data" stayed stale after
            # vaelab inspect measured each of its data again)
            names += [f"{block}.{key}" for key in value]
        else:
            names.append(block)
    return names


def _result(metrics: dict[str, Any], name: str) -> Any:
    """The block, or the entry ("block.entry"), a result's name names (None where there is none)."""
    block, _, entry = name.partition(".")
    value = metrics.get(block)
    return (value.get(entry) if isinstance(value, dict) else None) if entry else value


def _measured_with(value: Any) -> set[str] | None:
    """The weights a result records it was measured with (:data:`WEIGHTS_DIGEST`): a block's or an entry's, a block
    of entries' (``samplers``) its ``_summary``'s, else those of all its entries; None when one records none (written
    before they were)."""
    if isinstance(value, dict) and isinstance(value.get(WEIGHTS_DIGEST), str):
        return {value[WEIGHTS_DIGEST]}
    if isinstance(value, dict) and _measured_with(value.get("_summary")):
        # a comparison's summary, written with the entries it compares: what the report shows (entries of an earlier
        # comparison are not, and cannot make it stale)
        return _measured_with(value["_summary"])
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        inner = [_measured_with(v) for v in value.values()]
        return None if any(d is None for d in inner) else set().union(*inner)
    return None


def _freshen(metrics: dict[str, Any], written: dict[str, Any], current: Callable[[], str]) -> None:
    """Take what was just written (name: value; a block: with its entries) off the list of stale results, unless it
    records weights (:data:`WEIGHTS_DIGEST`) other than the run's now (``current()``): its command loaded the model
    before a `train --resume` replaced it, and it goes on the list (an audit, s13: shown as current)."""
    recorded = {n: v[WEIGHTS_DIGEST] for n, v in written.items()
                if isinstance(v, dict) and isinstance(v.get(WEIGHTS_DIGEST), str)}  # fmt: skip
    now = current() if recorded else None
    older = {n for n, d in recorded.items() if d != now}
    if STALE not in metrics and not older:
        return
    fresh = set(written) - older
    # A block whose "_summary" entry was written was measured again as a whole: compare-samplers writes its samplers'
    # entries and the summary that says which of them the comparison holds (an audit, s12: "samplers" stayed stale,
    # and the report said to run compare-samplers again, after it had)
    fresh |= {name.partition(".")[0] for name in fresh if name.partition(".")[2] == "_summary"}
    left = [n for n in stale_names(metrics) if n not in fresh and n.split(".")[0] not in fresh]
    # named as measured_results names them: an explore action's or inspected data's entry, else the block
    left += sorted({n if n.partition(".")[0] in ENTRY_RESULTS else n.partition(".")[0] for n in older} - set(left))
    if left:
        metrics[STALE] = left
    else:
        del metrics[STALE]
