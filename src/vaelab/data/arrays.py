"""Validation shared by every input: files (via :mod:`vaelab.data.sources`) and in-memory
arrays or DataFrames handed to :class:`vaelab.VAE`. One set of rules, one set of messages."""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from vaelab.errors import DataError, DataTypeError


def as_examples(raw: np.ndarray, where: str, lazy: bool = False) -> np.ndarray:
    """Apply the shape rules and return C-contiguous float32, (N, D) or (N, C, H, W).

    With ``lazy``, a memory map that needs converting (uint8, float64, channels-last, ...)
    comes back as :class:`vaelab.data.rows.Rows`, converted block by block when read."""
    if raw.dtype.kind == "c":
        raise DataError(f"{where}: Complex data not supported (got dtype {raw.dtype}); vaelab models real numbers. "
                        "Split it into real and imaginary parts, e.g. np.concatenate([X.real, X.imag], axis=1).")
    if raw.dtype.kind not in "biuf":
        raise DataError(f"{where}: expected numbers, got an array of dtype {raw.dtype}. Save a numeric array instead.")
    if raw.ndim == 3:
        raw = raw[:, None]  # (N, H, W) -> (N, 1, H, W); a view, so a memory map stays one
    elif raw.ndim == 4 and raw.shape[1] not in (1, 3):
        if raw.shape[3] not in (1, 3):
            raise DataError(
                f"{where}: a 4-D array must be images (N, C, H, W) or (N, H, W, C) with C = 1 or 3 "
                f"channels; got shape {raw.shape}. Reshape it to one of these, or to (N, D) vectors."
            )
        raw = raw.transpose(0, 3, 1, 2)  # channels-last (N, H, W, C) -> (N, C, H, W)
    elif raw.ndim not in (2, 4):
        hint = (" A 1-D array looks like labels: pass it with --labels next to the data. Reshape your data "
                "otherwise: X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one example.") if raw.ndim == 1 else ""
        raise DataError(
            f"{where}: expected (N, D) vectors or (N, H, W) / (N, C, H, W) images; got a {raw.ndim}-D "
            f"array of shape {raw.shape}.{hint}"
        )
    if raw.shape[0] == 0 or 0 in raw.shape[1:]:
        what = "sample(s)" if raw.shape[0] == 0 else "feature(s)"  # scikit-learn's wording, which its checks match
        raise DataError(
            f"{where} holds no data (shape {raw.shape}): found 0 {what} (shape={raw.shape}) while a minimum of 1 is "
            "required; expected at least one example with at least one value."
        )
    if raw.dtype == np.float32 and (not isinstance(raw, np.ndarray) or raw.flags.c_contiguous):
        return raw  # already what we need (or Rows, read on demand): keep a memory map mapped instead of copying it
    if lazy and isinstance(raw, np.memmap):  # convert rows when they are read: the file is never copied whole
        from vaelab.data.rows import Rows

        return Rows(raw)
    with np.errstate(over="ignore"):  # values beyond float32's range become inf; check_finite reports them
        X = np.ascontiguousarray(raw, dtype=np.float32)
    if raw.dtype == np.uint8:
        X /= np.float32(255)  # X is a fresh copy here (the dtype changed), so in place is safe
    return X


def check_finite(X: np.ndarray, where: str) -> None:
    """Raise a DataError with the NaN and inf counts and the first bad example."""
    d = max(1, int(np.prod(X.shape[1:])))
    rows = max(1, (1 << 22) // d)  # blocks of ~16 MB: a memory map (or Rows) is never read whole
    n_nan = n_inf = 0
    first = None
    for start in range(0, X.shape[0], rows):
        block = np.asarray(X[start : start + rows])
        block = block.reshape(block.shape[0], -1)
        bad = ~np.isfinite(block)
        if bad.any():
            nan = int(np.isnan(block).sum())
            n_nan, n_inf = n_nan + nan, n_inf + int(bad.sum()) - nan
            if first is None:
                first = start + int(np.flatnonzero(bad.any(axis=1))[0])
    if first is not None:
        raise DataError(
            f"{where} holds {n_nan} NaN and {n_inf} infinite value(s); the first is in example {first} "
            "(0-based). Every value must be a finite number within float32's range (+-3.4e38): remove or "
            "impute these entries first."
        )


def encode_labels(values, n: int, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes 0..C-1 (int64) in sorted order of the distinct values, and their names."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataError(f"Labels in {where} must be 1-D (one per example); got shape {values.shape}.")
    if len(values) != n:
        raise DataError(f"Labels in {where}: expected {n} labels (one per example), got {len(values)}.")
    if values.dtype.kind in "OUS":
        texts = []
        for i, v in enumerate(values):
            try:
                text = v.decode().strip() if isinstance(v, bytes) else ("" if pd.isna(v) else str(v).strip())
            except UnicodeDecodeError as err:
                raise DataError(f"Label of example {i} in {where} is not UTF-8 text ({err}); save the labels as text.") from None
            if not text:
                raise DataError(
                    f"Label of example {i} in {where} is missing (empty or NaN); "
                    "every example needs a label."
                )
            texts.append(text)
        # Integer names sort numerically ("10" after "9"); anything else sorts as text.
        all_ints = all(re.fullmatch(r"[+-]?\d+", t) for t in texts)
        values = np.array([int(t) for t in texts] if all_ints else texts)
    elif values.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise DataError(f"Label of example {bad[0]} in {where} is missing (NaN); every example needs a label.")
        # Beyond 2**53 a float no longer holds every integer (and int64 ends at 2**63): not a class code.
        fractional = np.flatnonzero((values != np.round(values)) | (np.abs(values) >= 2.0**53))
        if fractional.size:
            i = fractional[0]
            raise DataError(
                f"Labels in {where} must be class names or integers; example {i} has {values[i]}. "
                "Labels name classes; they are not regression targets."
            )
        values = values.astype(np.int64)
    elif values.dtype.kind not in "biu":
        raise DataError(f"Labels in {where} have dtype {values.dtype}; expected integers or strings.")
    uniques, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), tuple(str(u) for u in uniques)


def to_examples(X: Any, what: str = "X") -> np.ndarray:
    """An array-like or DataFrame as writable float32 examples (N, D) or (N, C, H, W), finite."""
    if isinstance(X, pd.DataFrame):
        non_numeric = [str(c) for c, t in X.dtypes.items() if not (pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t))]
        if non_numeric:
            raise DataError(
                f"{what} has non-numeric column(s) {non_numeric}; vaelab needs numbers here. "
                "Encode or drop them (labels go in y)."
            )
        X = X.to_numpy()
    if sparse.issparse(X):
        raise DataError(f"{what} is a sparse {type(X).__name__}; vaelab needs dense input (sparse input is not "
                        "supported): pass X.toarray().")  # fmt: skip
    try:
        raw = np.asarray(X)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what} could not be read as an array: {e}.") from None
    if raw.dtype == object:  # numbers held as Python objects are numbers; anything else is refused
        try:
            raw = raw.astype(np.float64)
        except TypeError as e:
            raise DataTypeError(f"{what} holds values that are not numbers ({e}); every value must be a number.") from None
        except ValueError as e:
            raise DataError(f"{what} holds values that are not numbers ({e}); every value must be a number.") from None
    arr = as_examples(raw, what)
    if not arr.flags.writeable:  # e.g. a read-only memory map: torch wants memory it may write
        arr = arr.copy()
    check_finite(arr, what)
    return arr
