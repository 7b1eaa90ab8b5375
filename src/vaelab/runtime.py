"""Where and how code runs: devices, seeded randomness, evaluation batch size.

The floor of the package (like :mod:`vaelab.config` and :mod:`vaelab.errors`): the
trainer, the estimator, the analyses and the run layer all import it, and it imports
nothing of vaelab but the errors.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from vaelab.errors import ConfigError

EVAL_BATCH = 1000  # examples per forward pass when evaluating (no gradients: memory is small)
Z95 = 1.959964  # the normal quantile of a two-sided 95% interval


def memory_budget() -> int:
    """Bytes a command may plan to hold at once: half of this machine's physical memory (8 GiB where
    it cannot be read). Counts whose arrays would not fit are refused before any work."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):  # not POSIX
        return 8 * 2**30


def most_in_memory(bytes_per_item: int) -> int:
    """How many items of ``bytes_per_item`` fit in :func:`memory_budget` (at least 1)."""
    return max(1, memory_budget() // max(1, bytes_per_item))


def resolve_device(name: str) -> torch.device:
    """``"auto"`` is CUDA where available, else the CPU; asking for CUDA without it is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but CUDA is not available here; use --device cpu or auto.")
    return torch.device(name)


def epoch_seed(seed: int, epoch: int) -> int:
    """Independent, reproducible seed for one epoch (NumPy's SeedSequence mixes the pair)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@contextlib.contextmanager
def one_thread(user_api: str | None = None) -> Iterator[None]:
    """This thread's OpenMP (torch's included) and BLAS work on one thread (threadpoolctl's limits;
    ``user_api`` "openmp" or "blas" for one of them). torch sets a thread's OpenMP threads to its own
    global count (once torch.set_num_threads has been called) at the thread's first parallel
    operation, which undid a limit set before it on a new thread: torch is asked first here, so
    its setup comes before the limit."""
    torch.get_num_threads()
    with threadpool_limits(limits=1, user_api=user_api):
        yield


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run a block under torch.manual_seed(seed) without disturbing the caller's RNG."""
    devices = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
