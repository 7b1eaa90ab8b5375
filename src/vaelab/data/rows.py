"""Examples read when they are used: training, scoring and encoding data larger than memory.

A memory-mapped ``.npy`` and a Parquet file are never read whole. Three pieces:

* :class:`Rows` — a read-only, NumPy-like (N, ...) float32 view of examples that
  converts rows only when they are read: ``X[a:b]`` and ``X[int array]`` give fresh
  float32 arrays (uint8 scaled to [0, 1], any other dtype cast, exactly as
  :func:`vaelab.data.arrays.as_examples` converts a whole array), ``len(X)`` and
  ``X.shape`` work, and ``X.take(index)`` is a view of some rows (one split) that
  copies nothing. It wraps a memory map (or any NumPy array) or a :class:`ParquetMatrix`.
* :class:`ParquetMatrix` — the numeric columns of a Parquet file as an (N, D) array-like,
  decoded in record batches with a buffered reader, one row group at a time: memory is
  one batch plus, per column, the data page and dictionary page being decoded (Parquet's
  units of compression: at most 1 MB each by default) and the file's footer, however
  large the row groups.
* :class:`TensorRows` — what the trainer and the estimator index: ``X[idx]`` (a torch or
  NumPy index, e.g. a shuffled batch) and ``X[a:b]`` give float32 tensors on a device.
  With ``binarize_seed`` each row gets the fixed Bernoulli draw that
  :func:`vaelab.data.split.binarize_fixed` gives it (seeded by the row's content), so
  training and evaluation read lazily give bitwise the results of the same data in memory.

:func:`write_npy_cache` streams any of them into a float32 ``.npy`` (Parquet runs train
from such a copy: a shuffled batch needs random access). Memory held grows with the
batch, never with the file; what grows with N is per-example bookkeeping (the split
codes, index arrays, the epoch's shuffled order, per-example results) and a Parquet
file's footer (its metadata: a few hundred bytes per column per row group).
"""
from __future__ import annotations

import contextlib
import json
import mmap
import operator
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaelab.data.split import binarize_fixed

BLOCK_BYTES = 1 << 22  # rows decoded or copied per step: about 4 MB of float32
PARQUET_BUFFER = 1 << 16  # read buffer per column: a row group is never read whole
RELEASE_MARGIN = 1 << 21  # bytes before a read block whose mapped pages are also let go (a 2 MB folio)
_GATHER_SPAN = 8  # a Parquet gather reads spans of at most this many record batches


class Rows:
    """A read-only (N, ...) float32 view of ``base`` (a NumPy array or memory map, or a
    :class:`ParquetMatrix`), optionally of the rows ``index`` of it, converted when read."""

    dtype = np.dtype(np.float32)

    def __init__(self, base: Any, index: np.ndarray | None = None):
        if isinstance(base, Rows):  # a view of a view reads the same base
            index = base.index if index is None else (np.asarray(index) if base.index is None else base.index[index])
            base = base.base
        self.base = base
        self.index = None if index is None else np.asarray(index)
        if self.index is not None and self.index.dtype.kind not in "iu":
            raise TypeError(f"Rows index must hold integers; got dtype {self.index.dtype}.")
        n = base.shape[0] if self.index is None else self.index.shape[0]
        self.shape = (int(n), *(int(s) for s in base.shape[1:]))

    # ---------------------------------------------------------------- array-like
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return 4 * self.size

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        kind = type(self.base).__name__
        return f"Rows(shape={self.shape}, float32, of a {kind}{'' if self.index is None else ', indexed'})"

    def __array__(self, dtype=None, copy=None):
        """All rows in memory: for code that needs the whole array (it may be large)."""
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def take(self, index: Any) -> "Rows":
        """A view of the rows ``index`` (positions in this view); nothing is read or copied."""
        return Rows(self, self._positions(index, within_view=True))

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):  # X[rows, ...]: the rows first, then the rest on what was read
            head = self[key[0]]
            rest = key[1:]
            return head[rest] if head.ndim < self.ndim else head[(slice(None), *rest)]
        if isinstance(key, (int, np.integer)):
            i = operator.index(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"index {i} is out of bounds for {len(self)} examples")
            i %= len(self)
            return self[i : i + 1][0]
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if self.index is None and step == 1:
                return self._read(start, stop)
            positions = np.arange(start, stop, step) if self.index is None else self.index[start:stop:step]
            return self._gather(positions)
        return self._gather(self._positions(key, within_view=False))

    # --------------------------------------------------------------- internals
    def _positions(self, key: Any, within_view: bool) -> np.ndarray:
        """Positions in ``base`` of the rows ``key`` (in this view's numbering); with
        ``within_view`` the positions in this view instead (for :meth:`take`)."""
        if isinstance(key, torch.Tensor):
            key = key.detach().cpu().numpy()
        if isinstance(key, slice):
            key = np.arange(*key.indices(len(self)))
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (len(self),):
                raise IndexError(f"a boolean index must have shape ({len(self)},); got {key.shape}")
            key = np.flatnonzero(key)
        if key.dtype.kind not in "iu" or key.ndim != 1:
            raise IndexError(f"Rows are indexed by an integer, a slice or a 1-D integer array; got {key.dtype} {key.shape}")
        if key.size and (key.min() < -len(self) or key.max() >= len(self)):
            raise IndexError(f"index out of bounds for {len(self)} examples")
        if key.size and key.min() < 0:
            key = np.where(key < 0, key + len(self), key)
        if within_view or self.index is None:
            return key
        return self.index[key]

    def _gather(self, positions: np.ndarray) -> np.ndarray:
        """The rows at ``positions`` of base, in that order (read in ascending order, once each)."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size == 0:
            return np.empty((0, *self.shape[1:]), dtype=np.float32)
        steps = np.diff(positions)
        if (steps == 1).all():  # one contiguous run: a slice
            return self._read(int(positions[0]), int(positions[-1]) + 1)
        if (steps > 0).all():
            return self._release(self._convert(self.base[positions]), int(positions[0]), int(positions[-1]) + 1)
        unique, inverse = np.unique(positions, return_inverse=True)
        return self._release(self._convert(self.base[unique]), int(unique[0]), int(unique[-1]) + 1)[inverse.reshape(-1)]

    def _read(self, start: int, stop: int) -> np.ndarray:
        """Rows start:stop of base, converted; a memory map's pages for them are then let go."""
        return self._release(self._convert(self.base[start:stop]), start, stop)

    def _release(self, out: np.ndarray, start: int, stop: int) -> np.ndarray:
        """``out``, once a memory map's pages over rows start:stop are let go. A scattered read (a
        seeded subsample of a 1M-row file) faults in pages all over the file, and fault-around maps
        far more of them than the rows read (0.4 GB of a 784 MB file for 4,096 rows): the whole span goes."""
        if isinstance(self.base, np.memmap) and stop > start:
            release_pages(self.base, start, stop)
        return out

    @staticmethod
    def _convert(block: np.ndarray) -> np.ndarray:
        """A fresh, writable, C-contiguous float32 copy: as_examples' conversion, on one block."""
        if block.dtype == np.float32:
            fresh = block.base is None and block.flags.writeable and block.flags.c_contiguous
            if fresh and not isinstance(block, np.memmap):  # already a new array (a gather, a Parquet read)
                return block
            return np.array(block, dtype=np.float32, order="C")  # a copy: a view may be of a read-only map
        with np.errstate(over="ignore"):  # beyond float32's range: inf, which the finiteness check reports
            out = np.ascontiguousarray(block, dtype=np.float32)
        if block.dtype == np.uint8:
            out /= np.float32(255)
        return out


def release_pages(memmap: np.memmap, start: int, stop: int) -> None:
    """Unmap the pages of rows start:stop of a read-only memory map from this process.

    A page of a mapped file, once read, stays in the process's resident memory until the map is
    closed: streaming a 784 MB ``.npy`` through ``vaelab inspect`` left all 784 MB resident
    (peak RSS 2.3 GB at 1M rows). ``madvise(MADV_DONTNEED)`` drops them from the process; the
    kernel's page cache keeps the data, so reading the rows again is a minor fault, not a disk
    read, and the map stays valid. Only a read-only map (mode "r", what ``np.load(mmap_mode="r")``
    gives) is touched: a writable one could hold changes not yet written back. A no-op where the
    platform has no ``madvise`` or the array is not a plain C-ordered map of the file.
    """
    root = memmap
    while isinstance(root.base, np.memmap):  # a slice of a map: find the map of the file
        root = root.base
    region = root.base
    if (getattr(root, "mode", None) != "r" or not isinstance(region, mmap.mmap) or not hasattr(region, "madvise")
            or not hasattr(mmap, "MADV_DONTNEED") or not memmap.flags.c_contiguous or stop <= start):  # fmt: skip
        return
    # np.memmap maps from the offset rounded down to the allocation granularity: region[0] sits
    # that many bytes before the array's first byte.
    origin = root.ctypes.data - root.offset % mmap.ALLOCATIONGRANULARITY
    row = memmap.strides[0]
    first = memmap.ctypes.data + start * row - origin
    last = memmap.ctypes.data + stop * row - origin
    # A fault maps the pages around it too (fault-around; a large folio of the page cache whole),
    # so reading these rows may have mapped again pages of rows released before: go back that far.
    first = max(0, first - RELEASE_MARGIN)
    page = mmap.PAGESIZE
    first, last = first - first % page, min(len(region), -(-last // page) * page)
    if 0 <= first < last:
        region.madvise(mmap.MADV_DONTNEED, first, last - first)


def is_lazy(X: Any) -> bool:
    """True for examples that are read when used: a :class:`Rows` or a NumPy memory map."""
    return isinstance(X, (Rows, np.memmap))


def as_rows(X: Any) -> Rows:
    return X if isinstance(X, Rows) else Rows(X)


def blocks(X: Any, row_bytes: int | None = None):
    """(start, float32 block) pairs covering X in order, each about :data:`BLOCK_BYTES`."""
    n = len(X)
    per_row = row_bytes or 4 * max(1, int(np.prod(X.shape[1:])))
    step = max(1, BLOCK_BYTES // per_row)
    for start in range(0, n, step):
        yield start, np.asarray(X[start : start + step])


# ------------------------------------------------------------------- torch side


class TensorRows:
    """Rows as the trainer sees them: ``X[idx]`` and ``X[a:b]`` are float32 tensors on ``device``.

    ``shape`` reshapes each example (flat rows for an image model); ``binarize_seed`` binarizes
    each row with its fixed draw of :func:`vaelab.data.split.binarize_fixed`;
    ``check`` is called with every block read (it raises on bad data).
    """

    def __init__(self, rows: Any, device: str | torch.device = "cpu", *, binarize_seed: int | None = None,
                 shape: tuple[int, ...] | None = None, check=None):  # fmt: skip
        self.rows = as_rows(rows)
        self.device = torch.device(device)
        self.example_shape = tuple(shape) if shape is not None else tuple(self.rows.shape[1:])
        self.shape = torch.Size((len(self.rows), *self.example_shape))
        self.binarize_seed = binarize_seed
        self.check = check

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise IndexError("TensorRows slices must have step 1")
            block = self.rows[start:stop]
        else:
            block = self.rows[self.rows._positions(key, within_view=True)]
        if self.check is not None:
            self.check(block)
        if self.binarize_seed is not None:
            block = self._binarize(block)
        t = torch.from_numpy(block.reshape(block.shape[0], *self.example_shape))
        return t.to(self.device, non_blocking=True) if self.device.type != "cpu" else t

    def _binarize(self, block: np.ndarray) -> np.ndarray:
        """Each row's fixed draw of :func:`vaelab.data.split.binarize_fixed`: seeded by the row's
        content, so a row gets the same draw read here, in any batch, or with the whole set."""
        return binarize_fixed(torch.from_numpy(block), self.binarize_seed).numpy()


# ------------------------------------------------------------------- Parquet


def _pandas_index_columns(schema) -> set[str]:
    """Columns pandas stored its index in (read back as the index, not as data)."""
    meta = schema.pandas_metadata or {}
    return {c for c in meta.get("index_columns", []) if isinstance(c, str)}


class ParquetMatrix:
    """The named numeric columns of a Parquet file as a read-only (N, D) float32 array-like.

    Record batches are decoded with a buffered reader (``buffer_size``, no pre-buffering),
    so memory is one batch plus one page per column however large the row groups are.
    Slices read in order continue one reader; a slice elsewhere restarts at its row group. ``X[sorted int array]`` reads
    the spans that hold those rows. Values convert as pandas converts them (nulls → NaN).
    """

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, path: str | os.PathLike, columns: list[str]):
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.columns = list(columns)
        self._file = pq.ParquetFile(self.path, buffer_size=PARQUET_BUFFER, pre_buffer=False)
        meta = self._file.metadata
        self.shape = (int(meta.num_rows), len(self.columns))
        self._starts = np.cumsum([0] + [meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
        self.batch_rows = max(1, BLOCK_BYTES // (4 * len(self.columns)))
        self._reader = None
        self._reading = 0  # the row group the reader reads
        self._pos = 0  # row of the file the reader delivers next
        self._pending: np.ndarray | None = None  # rows at _pos already decoded

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"ParquetMatrix({self.path.name}, {self.shape[0]} rows x {self.shape[1]} columns)"

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return self[np.arange(start, stop, step)]
            return self._read(start, max(start, stop))
        positions = np.asarray(key, dtype=np.int64)
        if positions.ndim != 1 or (positions.size > 1 and (np.diff(positions) <= 0).any()):
            unique, inverse = np.unique(positions, return_inverse=True)
            return self[unique][inverse.reshape(-1)]
        out = np.empty((positions.size, self.shape[1]), dtype=np.float32)
        span = self.batch_rows * _GATHER_SPAN
        i = 0
        while i < positions.size:
            first = int(positions[i])
            j = int(np.searchsorted(positions, first + span, side="left"))
            block = self._read(first, int(positions[j - 1]) + 1)
            out[i:j] = block[positions[i:j] - first]
            i = j
        return out

    def _group(self, row: int) -> int:
        return int(np.searchsorted(self._starts, row, side="right")) - 1

    def _seek(self, row: int) -> None:
        self._open(self._group(row))
        self._pending = None

    def _open(self, group: int) -> None:
        """A reader of one row group (the previous one's pages go before the next one's come)."""
        self._reader = None
        self._reader = self._file.iter_batches(batch_size=self.batch_rows, row_groups=[group], columns=self.columns,
                                               use_threads=False, use_pandas_metadata=False)  # fmt: skip
        self._reading, self._pos = group, int(self._starts[group])

    def _next(self) -> np.ndarray:
        if self._pending is not None:
            out, self._pending = self._pending, None
            return out
        while True:
            batch = next(self._reader, None)
            if batch is not None:
                return self._convert(batch)
            if self._reading + 1 >= len(self._starts) - 1:
                raise IndexError(f"{self.path.name}: read past its last row ({len(self)})")
            self._open(self._reading + 1)

    def _read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.shape[1]), dtype=np.float32)
        if stop == start:
            return out
        if self._reader is None or start < self._pos or self._group(start) != self._group(self._pos):
            self._seek(start)
        filled = 0
        while filled < out.shape[0]:
            chunk = self._next()
            skip = min(len(chunk), start + filled - self._pos)  # rows before start: decoded, dropped
            take = min(len(chunk) - skip, out.shape[0] - filled)
            out[filled : filled + take] = chunk[skip : skip + take]
            filled += take
            if skip + take < len(chunk):
                self._pending = chunk[skip + take :]
            self._pos += skip + take
        if self._pos >= len(self) and self._pending is None:
            self._reader = None  # at the end: let the reader's pages and dictionaries go
        return out

    def _convert(self, batch) -> np.ndarray:
        import pyarrow as pa

        out = np.empty((batch.num_rows, len(self.columns)), dtype=np.float32)
        with np.errstate(over="ignore"):
            for j, column in enumerate(batch.columns):
                if column.null_count:  # pandas reads such a column as float64 with NaN for the nulls
                    column = column.cast(pa.float64())
                out[:, j] = column.to_numpy(zero_copy_only=False)
        return out


def _numeric(t) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def _feature_columns(pf) -> list[str] | None:
    """The columns pandas would read as data, or None for a layout left to pandas (duplicate names)."""
    schema = pf.schema_arrow
    names = [n for n in schema.names if n not in _pandas_index_columns(schema)]
    return names if len(set(names)) == len(names) else None


def parquet_width(path: Path) -> int | None:
    """How many columns pandas would read from a Parquet file (its schema only), or None."""
    import pyarrow.parquet as pq

    try:
        names = _feature_columns(pq.ParquetFile(path))
    except Exception:
        return None
    return None if names is None else len(names)


def parquet_rows(path: Path, label_column: str | None, labels_elsewhere: bool):
    """(Rows over the numeric feature columns, raw labels or None) read lazily, or None when the
    file is not a plain numeric matrix (then the eager reader reads it, or says what is wrong)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        names = _feature_columns(pf)
        if names is None or pf.metadata.num_rows == 0:
            return None
        y = None
        if label_column is not None:
            if label_column in names:
                names.remove(label_column)
                y = pf.read(columns=[label_column], use_threads=False).column(label_column).to_pandas().to_numpy()
            elif not labels_elsewhere:
                return None
        schema = pf.schema_arrow
        if not names or not all(_numeric(schema.field(n).type) for n in names):
            return None
        return Rows(ParquetMatrix(path, names)), y
    except Exception:  # pyarrow's errors on a damaged file are many kinds; the eager reader explains them
        return None


def parquet_looks_like_table(path: Path) -> bool | None:
    """Whether pandas would see a non-numeric column or a missing value (NaN or null) in the file,
    found by streaming it in record batches; None when that cannot be told this way."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path, buffer_size=PARQUET_BUFFER, pre_buffer=False)
        names = _feature_columns(pf)
        if names is None:
            return None
        schema = pf.schema_arrow
        if not all(_numeric(schema.field(n).type) for n in names):
            return True
        if not names:
            return False
        rows = max(1, BLOCK_BYTES // (8 * len(names)))
        for batch in pf.iter_batches(batch_size=rows, columns=names, use_threads=False, use_pandas_metadata=False):
            for column in batch.columns:
                if column.null_count:
                    return True
                if pa.types.is_floating(column.type) and pc.any(pc.is_nan(column)).as_py():
                    return True
        return False
    except Exception:
        return None


def is_parquet_backed(X: Any) -> bool:
    return isinstance(X, Rows) and isinstance(X.base, ParquetMatrix)


# ------------------------------------------------------------------- the cache


def write_npy_cache(X: Any, folder: Path, key: dict[str, Any], name: str = "data") -> np.memmap:
    """``folder/NAME.npy``: X as float32, written block by block and renamed into place, and
    ``folder/NAME.json`` with ``key``; an existing pair with the same key is reused. Returns
    the file memory-mapped (read-only)."""
    from vaelab.files import atomic_write, make_folder, write_error

    cached = read_npy_cache(folder, key, X.shape, name)
    if cached is not None:
        return cached
    npy, meta = folder / f"{name}.npy", folder / f"{name}.json"
    key = {**key, "shape": [int(s) for s in X.shape]}
    make_folder(folder)
    tmp = None
    try:
        with contextlib.suppress(FileNotFoundError):
            meta.unlink()  # the key goes first: a cut-off rewrite never passes for the old cache
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{npy.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                      "shape": tuple(int(s) for s in X.shape)}  # fmt: skip
            np.lib.format.write_array_header_1_0(f, header)
            for _, block in blocks(X):
                f.write(np.ascontiguousarray(block, dtype=np.float32).tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, npy)
        tmp = None
    except OSError as e:
        raise write_error(f"write the data cache {npy}", folder, e, "the source data is untouched") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    atomic_write(meta, json.dumps(key, indent=2).encode())
    return np.load(npy, mmap_mode="r", allow_pickle=False)


def read_npy_cache(folder: Path, key: dict[str, Any], shape: tuple[int, ...], name: str = "data") -> np.memmap | None:
    """The cache :func:`write_npy_cache` wrote for ``key``, or None when there is none that fits."""
    npy, meta = folder / f"{name}.npy", folder / f"{name}.json"
    key = {**key, "shape": [int(s) for s in shape]}
    with contextlib.suppress(OSError, ValueError):
        if json.loads(meta.read_text()) == key:
            cached = np.load(npy, mmap_mode="r", allow_pickle=False)
            if cached.dtype == np.float32 and list(cached.shape) == key["shape"]:
                return cached
    return None
