"""The validated, in-memory form every source is turned into."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Dataset:
    """Examples as float32 plus optional integer labels.

    X has shape (N, D) for vectors or (N, C, H, W) for images; it is finite and
    float32 (it may be a read-only memory map, or :class:`vaelab.data.rows.Rows` read block by
    block: see ``load_dataset(lazy=True)``). ``y`` holds label codes
    0..n_classes-1 (int64, shape (N,)) and ``classes`` their original names.
    """

    X: np.ndarray
    y: np.ndarray | None = None
    classes: tuple[str, ...] | None = None
    source: str = "array"
    # New examples read from a file by a run's kind: for a table run's rows (CheckedRows) the cells left out
    # of the likelihood where False (None: all observed); for any kind (a table's rows, a series run's windows)
    # per example what is new or out of the ordinary about it ("" when nothing; None: not checked).
    observed: np.ndarray | None = None
    reasons: tuple[str, ...] | None = None
    # Per example what is worth saying about it without flagging it (a trending series' level past the training
    # levels); "" when nothing, None: nothing to say.
    notes: tuple[str, ...] | None = None
    # What is worth saying about the file as a whole (a table file's columns the run does not model).
    remarks: tuple[str, ...] = ()
    # Per example, values that say which one it is, written beside its scores (a series file's windows: their
    # series and the time stamps of their first and last steps); None: the example's number says it.
    keys: dict[str, tuple] | None = None
    # Consecutive examples that overlap (a series run's windows): the series of each example, in time order within
    # each, and how many examples apart two still share a step; means over them take Newey-West standard errors
    # (vaelab.analysis.likelihood.LikelihoodResult.summary). None: examples are independent.
    serial: tuple[np.ndarray, int] | None = None

    @property
    def n_examples(self) -> int:
        return int(self.X.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example: (D,) or (C, H, W)."""
        return tuple(int(s) for s in self.X.shape[1:])

    @property
    def n_features(self) -> int:
        return int(np.prod(self.shape))

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    @property
    def n_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)

    def label_names(self) -> np.ndarray | None:
        """Each example's label by name (what a conditional model is given), or None without labels."""
        return None if self.y is None else np.asarray(self.classes)[self.y]

    def subset(self, index: np.ndarray) -> "Dataset":
        return Dataset(
            X=np.ascontiguousarray(self.X[index]),
            y=None if self.y is None else self.y[index],
            classes=self.classes,
            source=self.source,
            observed=None if self.observed is None else self.observed[index],
            reasons=None if self.reasons is None else tuple(np.asarray(self.reasons, dtype=object)[index]),
            notes=None if self.notes is None else tuple(np.asarray(self.notes, dtype=object)[index]),
            remarks=self.remarks,
            keys=None if self.keys is None else {k: tuple(np.asarray(v, dtype=object)[index]) for k, v in self.keys.items()},
            serial=None if self.serial is None else (np.asarray(self.serial[0])[index], self.serial[1]),
        )

    def view(self, index: np.ndarray) -> "Dataset":
        """The examples at ``index``, as :meth:`subset`, except that a memory-mapped or streamed X
        (:func:`vaelab.data.rows.is_lazy`) is not copied: the view's X reads its rows when used."""
        from vaelab.data.rows import as_rows, is_lazy

        if (not is_lazy(self.X) or self.observed is not None or self.reasons is not None or self.notes is not None
                or self.keys is not None):  # fmt: skip
            return self.subset(index)
        return Dataset(
            X=as_rows(self.X).take(index),
            y=None if self.y is None else self.y[index],
            classes=self.classes,
            source=self.source,
            remarks=self.remarks,
            serial=None if self.serial is None else (np.asarray(self.serial[0])[index], self.serial[1]),
        )

    def fingerprint(self) -> str:
        """SHA-256 of the examples and labels: a later command checks it sees the same data."""
        h = hashlib.sha256()
        h.update(str(self.X.shape).encode())
        # Hash in blocks so a memory-mapped array is never copied whole.
        rows = max(1, (1 << 24) // max(1, self.n_features * 4))
        for start in range(0, self.n_examples, rows):
            h.update(np.ascontiguousarray(self.X[start : start + rows], dtype=np.float32).tobytes())
        if self.y is not None:
            h.update(np.ascontiguousarray(self.y, dtype=np.int64).tobytes())
        return h.hexdigest()
