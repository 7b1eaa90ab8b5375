"""Seeded train/validation/test splits and Bernoulli binarization."""
from __future__ import annotations

import numpy as np
import torch

from vaelab.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """Sizes of (train, val, test); val and test round to the nearest example."""
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise ConfigError(f"{name} must be in [0, 1); got {f}.")
    n_val = int(round(n * val_fraction))
    n_test = int(round(n * test_fraction))
    # A requested split never comes out empty just because the data is small.
    if val_fraction > 0:
        n_val = max(n_val, 1)
    if test_fraction > 0:
        n_test = max(n_test, 1)
    n_train = n - n_val - n_test
    if n_train < 2:
        raise DataError(
            f"Need at least 2 training examples after holding out validation and test "
            f"data; got {n} example(s) in all ({n_val} validation, {n_test} test). "
            f"Provide more data or lower --val-fraction/--test-fraction."
        )
    return n_train, n_val, n_test


def split_assignment(n: int, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    """Split code per example, shape (n,) int8: 0 train, 1 validation, 2 test.

    The permutation comes from NumPy's PCG64 with ``seed``; the run stores the
    resulting assignment so later commands never recompute it.
    """
    n_train, n_val, _ = split_sizes(n, val_fraction, test_fraction)
    order = np.random.default_rng(seed).permutation(n)
    codes = np.zeros(n, dtype=np.int8)
    codes[order[n_train : n_train + n_val]] = 1
    codes[order[n_train + n_val :]] = 2
    return codes


def indices(codes: np.ndarray, split: str) -> np.ndarray:
    """Indices (ascending) of the examples in ``split``."""
    return np.flatnonzero(codes == SPLITS.index(split))


def is_unit_interval(X: np.ndarray) -> bool:
    """True when every value lies in [0, 1] (checked in blocks for memory maps)."""
    for start in range(0, X.shape[0], 4096):
        block = np.asarray(X[start : start + 4096])  # a memory map or Rows is read block by block
        if block.size and (block.min() < 0.0 or block.max() > 1.0):
            return False
    return True


def binarize_fixed(X: torch.Tensor, rng: int | np.random.Generator) -> torch.Tensor:
    """One fixed Bernoulli draw per value: evaluation data for Bernoulli models.

    Values in [0, 1] are read as probabilities (the usual stochastic binarization of
    MNIST, Salakhutdinov & Murray 2008). ``rng`` is a seed or a NumPy Generator to
    continue: PCG64 doubles come one after another, so binarizing a set in blocks,
    in order, with one Generator gives exactly the draw of the whole set at once.
    """
    rng = np.random.default_rng(rng) if isinstance(rng, (int, np.integer)) else rng
    u = torch.from_numpy(rng.random(tuple(X.shape)))  # float64 uniforms, shape of X
    return (u.to(X.device) < X).to(X.dtype)
