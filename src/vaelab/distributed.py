"""Data-parallel training over several processes (torch.distributed + DistributedDataParallel).

``torchrun --nproc_per_node=N -m vaelab train DATA --out RUN`` starts N processes with
WORLD_SIZE, RANK and LOCAL_RANK set. :func:`vaelab.train.fit` then joins a process group
for the fit (NCCL when training on CUDA, each rank on ``cuda:LOCAL_RANK``; gloo on CPU),
trains the module wrapped in ``DistributedDataParallel`` and leaves the group at the end.
Nothing happens at import, and one process (no WORLD_SIZE, or 1) trains exactly as before.

Global batches. Every rank draws the same per-epoch permutation (same per-epoch seed)
and walks the same global batches of ``batch_size`` examples; rank r trains on its
contiguous slice of each one (:meth:`World.part`). Its mean loss is weighted by its share
of the batch, so DDP's average of the ranks' gradients is the gradient of the global
batch mean, whatever the slice sizes. Random draws are made for the whole global batch
on every rank and sliced: dynamic binarization in the trainer, the reparameterization
noise through :func:`vaelab.nn.vae.batch_shard`. Each example therefore sees the draws it
would see in one process, and N processes compute what one process fed the same global
batches computes, up to floating-point rounding. Validation sums losses and example
counts over the ranks' slices, so early stopping decides the same on every rank.

Files: only rank 0 writes the run (the estimator and run.py ask :func:`world`); the
checkpoint holds nothing rank-specific, so a run resumes with any number of processes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from vaelab.errors import ConfigError

CPU = torch.device("cpu")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0  # rank on this machine: picks the GPU
    device: torch.device = CPU  # where collectives run: the rank's GPU under NCCL, else the CPU

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    def part(self, n: int) -> tuple[int, int, int]:
        """This rank's contiguous slice start:stop of n examples, and how many examples it holds.

        Slices differ in size by at most one. A rank left without examples (n < size) gets
        example 0 with count 0: it still runs the forward and backward pass DDP expects of
        every rank, and its loss is weighted by zero.
        """
        q, r = divmod(n, self.size)
        start = self.rank * q + min(self.rank, r)
        count = q + (1 if self.rank < r else 0)
        return (start, start + count, count) if count else (0, 1, 0)

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` summed over the ranks, as rank 0 holds it (so every rank decides alike)."""
        if not self.active:
            return t
        import torch.distributed as dist

        buf = t.detach().to(self.device, copy=True)
        dist.all_reduce(buf)
        dist.broadcast(buf, src=0)
        return buf.to(t.device)

    def sum_fast(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` summed over the ranks with one all-reduce (for per-step statistics)."""
        if not self.active:
            return t
        import torch.distributed as dist

        buf = t.detach().to(self.device, copy=True)
        dist.all_reduce(buf)
        return buf.to(t.device)


def _env_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ConfigError(f"WORLD_SIZE is set but {name} is not; start data-parallel training with torchrun.")
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"The environment variable {name} must be an integer (torchrun sets it); got {value!r}.") from None


def world() -> World:
    """This process's :class:`World`, read from torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK)."""
    size = _env_int("WORLD_SIZE", 1)
    if size <= 1:
        return World()
    rank = _env_int("RANK")
    local_rank = _env_int("LOCAL_RANK", rank)
    if not 0 <= rank < size:
        raise ConfigError(f"RANK must lie in 0..{size - 1} (WORLD_SIZE {size}); got {rank}.")
    return World(rank, size, local_rank)


def local_device(device: torch.device) -> torch.device:
    """Under torchrun each rank trains on its own GPU, ``cuda:LOCAL_RANK``; other devices are kept."""
    w = world()
    if not w.active or device.type != "cuda":
        return device
    if w.local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"Local rank {w.local_rank} has no GPU: this machine has {torch.cuda.device_count()}. Start at most "
            "that many processes per machine (--nproc_per_node), or train on the CPU with --device cpu."
        )
    device = torch.device("cuda", w.local_rank)
    torch.cuda.set_device(device)
    return device


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[World]:
    """Join torchrun's process group for the block and leave it afterwards (one process: nothing to do).

    The backend follows the device: NCCL for CUDA, gloo otherwise. A group the caller
    already started is used as it is and left open. DDP wrappers made in the block
    (:func:`data_parallel`) are released before the group goes.
    """
    w = world()
    if not w.active:
        yield w
        return
    import torch.distributed as dist

    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 asks for data-parallel training, but this PyTorch has no torch.distributed.")
    cuda = device.type == "cuda"
    w = dataclasses.replace(w, device=device if cuda else CPU)
    if dist.is_initialized():
        try:
            yield w
        finally:
            _release_wrappers()
        return
    dist.init_process_group("nccl" if cuda else "gloo", rank=w.rank, world_size=w.size)
    try:
        yield w
        # Leave together (after rank 0's last write): a rank that closes its connections
        # early can break the group for the others. After an error torchrun stops them all.
        dist.barrier(device_ids=[w.device.index]) if cuda else dist.barrier()
    finally:
        _release_wrappers()
        dist.destroy_process_group()


class _Objective(nn.Module):
    """DDP synchronises gradients of what runs through ``forward``: here, the training loss."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, beta: float, iw_samples: int):
        return self.module.loss(x, y, beta, iw_samples)


class _Wrapper:
    """Holds the DDP object for the trainer, so that :func:`process_group` can drop it.

    DDP objects sit in reference cycles: left to the garbage collector they keep their
    gradient hooks on the module's parameters and may outlive the process group, or be
    destroyed while the interpreter shuts down (which can abort the process).
    """

    def __init__(self, ddp: nn.Module):
        self.ddp: nn.Module | None = ddp

    def __call__(self, *args):
        return self.ddp(*args)


_WRAPPERS: list[_Wrapper] = []


def _release_wrappers() -> None:
    if not _WRAPPERS:
        return
    for wrapper in _WRAPPERS:
        wrapper.ddp = None
    _WRAPPERS.clear()
    gc.collect()  # the DDP objects go now, while the process group is still there


def data_parallel(module: nn.Module, w: World) -> _Wrapper:
    """The module's loss behind DistributedDataParallel: calling it returns ``module.loss(...)``.

    Parameters and buffers are broadcast from rank 0 once; the buffers are constants here,
    so they are not re-broadcast at every step. Call it inside :func:`process_group`,
    which releases the wrapper when the block ends.
    """
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    ids = [w.device.index] if w.device.type == "cuda" else None
    # Newer PyTorch renamed broadcast_buffers (deprecated, with a warning) to forward_sync_buffers.
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    no_sync = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
    wrapper = _Wrapper(DistributedDataParallel(_Objective(module), device_ids=ids, **no_sync))
    _WRAPPERS.append(wrapper)
    return wrapper
