"""Validation of in-memory inputs (NumPy arrays, pandas DataFrames, lists) at the boundary."""
from __future__ import annotations

from typing import Any

import numpy as np

from vaelab.errors import DataError

BLOCK = 4096  # rows per block when scanning large (possibly memory-mapped) arrays


def check_finite(X: np.ndarray, what: str = "X") -> None:
    """Raise a DataError naming the first example with a NaN or infinite value."""
    flat = X.reshape(X.shape[0], -1)
    total, first = 0, -1
    for start in range(0, flat.shape[0], BLOCK):
        bad = ~np.isfinite(flat[start : start + BLOCK])
        count = int(bad.sum())
        if count and first < 0:
            first = start + int(np.flatnonzero(bad.any(axis=1))[0])
        total += count
    if total:
        raise DataError(
            f"{what} contains {total} NaN or infinite value(s), first in example {first}. "
            "Remove or impute them before training."
        )


def to_examples(X: Any, what: str = "X") -> np.ndarray:
    """X as float32 of shape (N, D) or (N, C, H, W): 3-D input (N, H, W) gains a channel axis."""
    if hasattr(X, "to_numpy") and hasattr(X, "columns"):  # a pandas DataFrame
        non_numeric = [str(c) for c, t in X.dtypes.items() if not np.issubdtype(t, np.number) and t != bool]
        if non_numeric:
            raise DataError(
                f"{what} has non-numeric column(s) {non_numeric}; vaelab needs numbers here. "
                "Encode or drop them (labels go in y)."
            )
        X = X.to_numpy()
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what} could not be read as an array: {e}.") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataError(f"{what} must be numeric; got an array of dtype {arr.dtype}.")
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim not in (2, 4):
        raise DataError(
            f"{what} must have shape (n_examples, n_features), (n_examples, H, W) or "
            f"(n_examples, C, H, W); got shape {arr.shape}."
        )
    if arr.shape[0] == 0 or arr[0].size == 0:
        raise DataError(f"{what} is empty (shape {arr.shape}); nothing to learn from.")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    check_finite(arr, what)
    return arr


def encode_labels(y: Any, n: int, what: str = "y") -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Labels as codes 0..C-1 (int64, shape (n,)), their names, and the original unique values."""
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise DataError(f"{what} must be one label per example, shape ({n},); got shape {arr.shape}.")
    if arr.shape[0] != n:
        raise DataError(f"Expected {n} labels (one per example), got {arr.shape[0]}.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataError(f"{what} has missing (NaN) labels; every example needs one.")
    uniques, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64), tuple(str(u) for u in uniques), uniques
