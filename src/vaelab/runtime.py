"""Where and how code runs: devices, seeded randomness, evaluation batch size.

The floor of the package (like :mod:`vaelab.config` and :mod:`vaelab.errors`): the
trainer, the estimator, the analyses and the run layer all import it, and it imports
nothing of vaelab but the errors.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from vaelab.errors import ConfigError

EVAL_BATCH = 1000  # examples per forward pass when evaluating (no gradients: memory is small)


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
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run a block under torch.manual_seed(seed) without disturbing the caller's RNG."""
    devices = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
