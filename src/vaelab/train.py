"""The training loop: Adam, KL warm-up, gradient clipping, validation, early stopping.

Files are not this module's business: after every epoch it hands a
:class:`TrainState` to ``on_epoch`` (the run directory writes it, every ``save_every``
seconds and after the last epoch: :meth:`vaelab.VAE.fit_splits`) and reports
progress through ``progress`` (the CLI draws a bar). Randomness is re-seeded at
the start of every epoch from (seed, epoch), so a run resumed at epoch k draws
exactly what an uninterrupted run would. Under torchrun the same loop trains
data-parallel: each rank takes its slice of every global batch (see
:mod:`vaelab.distributed`), so the result does not depend on the number of processes.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from vaelab import distributed
from vaelab.config import TrainConfig
from vaelab.errors import ConfigError, RunError, TrainingError
from vaelab.nn.vae import VAEModule, batch_shard
from vaelab.runtime import EVAL_BATCH, epoch_seed, seeded

# The finite checks of the loss and the gradient norm are kept on the device and read by the host
# only every CHECK_EVERY steps and at the end of every epoch: a read waits for the device to finish
# everything queued, which on a GPU would stall the loop at every step. A non-finite value is found
# at the next read; the epoch it happened in is never saved (on_epoch runs after the epoch's last
# read), and the module gets the last good epoch's weights back, as when each step was read.
CHECK_EVERY = 50

HISTORY_COLUMNS = (
    "epoch", "train_loss", "train_reconstruction", "train_kl",
    "val_loss", "val_reconstruction", "val_kl", "beta", "seconds", "threads",
)  # fmt: skip  # threads: torch's CPU threads that epoch (another count sums in another order: weights move ~1e-7)


@dataclass
class TrainState:
    """Everything needed to continue training exactly where it stopped."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    best_epoch: int = 0  # 1-based epoch of the best validation loss (0: none yet)
    best_loss: float = math.inf
    bad_epochs: int = 0  # epochs since the best one
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)
    best_weights: dict[str, torch.Tensor] | None = None  # copy of the best module state
    optimizer: dict | None = None  # Adam's state_dict, for resuming


def autocast(device: torch.device, precision: str):
    """The context training's forward pass and loss run in: bfloat16 autocast for ``bf16``."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def check_precision(device: torch.device, precision: str) -> None:
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"precision 'bf16' was asked for, but {torch.cuda.get_device_name(device)} has no bfloat16 "
                          "support; use --precision fp32.")  # fmt: skip


@torch.no_grad()
def evaluate(
    module: VAEModule,
    X: torch.Tensor,
    y: torch.Tensor | None,
    beta: float,
    iw_samples: int,
    world: distributed.World | None = None,
) -> dict[str, float]:
    """Mean loss, reconstruction and KL over a whole set, in batches, in eval mode.

    With an active ``world`` each rank scores its slice of every batch (with the noise the
    whole batch draws) and the sums are added over the ranks: every rank gets the same result.
    """
    was_training = module.training
    module.eval()
    totals = torch.zeros(3, dtype=torch.float64)
    for start in range(0, X.shape[0], EVAL_BATCH):
        xb = X[start : start + EVAL_BATCH]
        yb = None if y is None else y[start : start + EVAL_BATCH]
        if world is None or not world.active:
            out = module.loss(xb, yb, beta, iw_samples)
            totals += torch.stack([out.loss, out.reconstruction, out.kl]).double().cpu() * xb.shape[0]
            continue
        a, b, count = world.part(xb.shape[0])
        with batch_shard(a, b, xb.shape[0]):
            out = module.loss(xb[a:b], None if yb is None else yb[a:b], beta, iw_samples)
        totals += torch.stack([out.loss, out.reconstruction, out.kl]).double().cpu() * count
    module.train(was_training)
    if world is not None:
        totals = world.sum(totals)
    loss, rec, kl = (totals / X.shape[0]).tolist()
    return {"loss": loss, "reconstruction": rec, "kl": kl}


def _check_optimizer_state(module: VAEModule, saved: Any) -> None:
    """A resumed Adam state must fit the module: one entry per parameter, moments of its shape.
    torch checks only the parameter count, and a moment of the wrong shape fails deep in a step."""
    params = list(module.parameters())
    try:
        ids = [i for group in saved["param_groups"] for i in group["params"]]
        if len(ids) != len(params):
            raise ValueError(f"it has {len(ids)} parameters, the model {len(params)}")
        for i, p in zip(ids, params):
            entry = saved["state"].get(i, saved["state"].get(str(i)))
            for key in ("exp_avg", "exp_avg_sq"):
                if entry is not None and key in entry and tuple(entry[key].shape) != tuple(p.shape):
                    raise ValueError(f"{key} of parameter {i} has shape {tuple(entry[key].shape)}, not {tuple(p.shape)}")
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise RunError(
            f"train_state.safetensors is damaged: its optimizer state does not fit the model ({e}). "
            "Start the run again with a new --out."
        ) from None


def _diverged(module: VAEModule, cfg: TrainConfig, state: TrainState, epoch: int, what: str) -> TrainingError:
    """Put the best weights back into the module and say what to try next."""
    if state.best_weights is not None:
        module.load_state_dict(state.best_weights)
    kept = (
        f"the weights of epoch {state.best_epoch} (best so far) are kept"
        if state.best_weights is not None
        else "no epoch had finished, so there is nothing to keep"
    )
    return TrainingError(
        f"The {what} became NaN or infinite in epoch {epoch + 1}; {kept}. Try a lower learning rate "
        f"(--lr, now {cfg.lr:g}), tighter gradient clipping (--grad-clip, now {cfg.grad_clip:g}), a KL "
        f"warm-up (--warmup-epochs), or, for a Gaussian likelihood, standardised data or "
        f"--likelihood gaussian-fixed."
    )


def _first_bad(bad: torch.Tensor, value: torch.Tensor, code: int) -> torch.Tensor:
    """``code`` if ``value`` is not finite and nothing went wrong before, else ``bad``: on the device."""
    return torch.where((bad == 0) & ~torch.isfinite(value.detach()), code, bad)


def fit(
    module: VAEModule,
    cfg: TrainConfig,
    X: torch.Tensor,
    y: torch.Tensor | None = None,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    *,
    state: TrainState | None = None,
    dynamic_binarize: bool = False,
    on_epoch: Callable[[TrainState, VAEModule], None] | None = None,
    progress: Callable[[str, dict], None] | None = None,
) -> TrainState:
    """Train ``module`` in place and return the final state; the module ends with the best weights.

    X, y: training tensors, already on the module's device (X may be a
    :class:`vaelab.data.rows.TensorRows`: batches are then read when drawn). X_val/y_val: the
    validation set (None turns validation and early stopping off). With
    ``cfg.precision == "bf16"`` the forward pass and loss run under bfloat16 autocast
    (validation stays float32). ``state``
    continues a previous fit. ``progress(event, info)`` receives ``"start"``,
    ``"step"`` and ``"epoch"`` events.

    Under torchrun (WORLD_SIZE > 1) every process calls ``fit`` with the same data and
    settings: they join a process group for the fit, train data-parallel on slices of
    the same global batches (:mod:`vaelab.distributed`) and end with the same state.
    Each rank calls its own ``on_epoch`` and ``progress``; the caller passes them to
    the ranks that should write or draw.
    """
    with distributed.process_group(X.device) as world:
        return _train(module, cfg, X, y, X_val, y_val, state, dynamic_binarize, on_epoch, progress, world)


def _shard_loss(
    ddp: Callable, world: distributed.World, xb: torch.Tensor, yb: torch.Tensor | None, beta: float, iw_samples: int
):
    """This rank's part of one global batch: its loss, the loss to back-propagate, and the
    batch's (loss, reconstruction, KL) summed over all its examples (float64, every rank).

    DDP averages the ranks' gradients, so weighting this rank's mean loss by
    size * count / total makes that average the gradient of the global batch mean.
    """
    total = xb.shape[0]
    start, stop, count = world.part(total)
    with batch_shard(start, stop, total):
        out = ddp(xb[start:stop], None if yb is None else yb[start:stop], beta, iw_samples)
    objective = out.loss * (world.size * count / total)
    terms = torch.stack([out.loss.detach(), out.reconstruction.detach(), out.kl.detach()]).double() * count
    return out, objective, world.sum_fast(terms)


def _train(
    module: VAEModule,
    cfg: TrainConfig,
    X: torch.Tensor,
    y: torch.Tensor | None,
    X_val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    state: TrainState | None,
    dynamic_binarize: bool,
    on_epoch: Callable[[TrainState, VAEModule], None] | None,
    progress: Callable[[str, dict], None] | None,
    world: distributed.World,
) -> TrainState:
    state = state or TrainState()
    n = X.shape[0]
    n_batches = math.ceil(n / cfg.batch_size)
    optimizer = torch.optim.Adam(module.parameters(), lr=cfg.lr)
    if state.optimizer is not None:
        _check_optimizer_state(module, state.optimizer)
        optimizer.load_state_dict(state.optimizer)
    total_warmup = cfg.warmup_epochs * n_batches
    if progress:
        progress("start", {"epochs": cfg.epochs, "epoch": state.epoch, "batches": n_batches})

    module.train()
    device = X.device
    check_precision(device, cfg.precision)
    ddp = distributed.data_parallel(module, world) if world.active else None
    objective_fn = module.loss if ddp is None else ddp
    if cfg.compile:
        objective_fn = torch.compile(objective_fn)
    while state.epoch < cfg.epochs and not state.stopped_early:
        epoch, started = state.epoch, time.perf_counter()
        with seeded(epoch_seed(cfg.seed, epoch), device):
            order = torch.randperm(n, device=device)
            sums = torch.zeros(3, dtype=torch.float64, device=device)
            bad = torch.zeros((), dtype=torch.int64, device=device)  # first non-finite: 0 none, 1 loss, 2 gradient norm
            for b in range(n_batches):
                idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                xb = X[idx]
                if dynamic_binarize:  # drawn for the whole global batch on every rank
                    xb = torch.bernoulli(xb)
                beta = cfg.beta * min(1.0, (state.step + 1) / total_warmup) if total_warmup else cfg.beta
                # A compiled objective takes beta as a tensor: a new Python float every warm-up step would
                # be a new graph.
                beta_arg = torch.tensor(beta, device=device) if cfg.compile else beta
                yb = None if y is None else y[idx]
                with autocast(device, cfg.precision):
                    if ddp is None:
                        out = objective_fn(xb, yb, beta_arg, cfg.iw_samples)
                        objective, batch_sums = out.loss, None
                    else:
                        out, objective, batch_sums = _shard_loss(objective_fn, world, xb, yb, beta_arg, cfg.iw_samples)
                bad = _first_bad(bad, out.loss if batch_sums is None else batch_sums[0], 1)
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                if cfg.grad_clip > 0:
                    norm = torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip)
                    bad = _first_bad(bad, norm, 2)
                optimizer.step()
                state.step += 1
                if batch_sums is None:
                    sums += torch.stack([out.loss.detach(), out.reconstruction.detach(), out.kl.detach()]).float() * idx.shape[0]
                else:
                    sums += batch_sums
                if (b + 1) % CHECK_EVERY == 0 or b + 1 == n_batches:
                    code = int(bad)  # the host waits for the device here, and only here
                    if code:
                        raise _diverged(module, cfg, state, epoch, "training loss" if code == 1 else "gradient norm")
                if progress:
                    progress("step", {"batch": b + 1})
            train = dict(zip(("loss", "reconstruction", "kl"), (sums / n).tolist()))
            val = evaluate(module, X_val, y_val, cfg.beta, cfg.iw_samples, world) if X_val is not None else None
        if not math.isfinite(train["loss"]) or (val is not None and not math.isfinite(val["loss"])):
            raise _diverged(module, cfg, state, epoch, "validation loss" if val else "training loss")

        state.epoch = epoch + 1
        row = {"epoch": state.epoch, **{f"train_{k}": v for k, v in train.items()}}
        row.update({f"val_{k}": (val[k] if val else math.nan) for k in ("loss", "reconstruction", "kl")})
        row.update(beta=beta, seconds=time.perf_counter() - started, threads=torch.get_num_threads())
        state.history.append(row)
        # Without validation the latest epoch counts as the best one.
        score = val["loss"] if val else -state.epoch
        if score < state.best_loss:
            state.best_loss, state.best_epoch, state.bad_epochs = score, state.epoch, 0
            state.best_weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            state.bad_epochs += 1
        # Patience counts only once the KL weight is at full strength.
        if val and cfg.patience and state.bad_epochs >= cfg.patience and state.epoch >= cfg.warmup_epochs:
            state.stopped_early = True
        state.optimizer = optimizer.state_dict()
        if on_epoch:
            on_epoch(state, module)
        if progress:
            progress("epoch", row)

    if state.best_weights is not None:
        module.load_state_dict(state.best_weights)
    return state
