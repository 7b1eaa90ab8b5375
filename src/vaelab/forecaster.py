"""The forecaster of series runs: p(future | past), a conditional VAE on windows.

Its encoder and decoder see the flattened, scaled past through the conditional VAE's
label input as a float vector (the conditional-VAE forecaster of TimeVAE-style work;
Desai et al. 2021), so it is trained by the same trainer as every other model. Several
draws per past give an uncertainty band. A series run keeps it in ``forecast.safetensors``.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import torch

from vaelab import distributed
from vaelab.checkpoint import RunDir, tensors_bytes
from vaelab.config import ModelConfig, from_dict, to_dict
from vaelab.errors import ConfigError, RunError
from vaelab.files import atomic_write
from vaelab.nn.build import build_vae
from vaelab.runtime import resolve_device, seeded
from vaelab.train import fit

FORECAST = "forecast.safetensors"


def flat(X: np.ndarray) -> np.ndarray:
    """Windows (N, T, F) as contiguous float32 rows (N, T·F)."""
    return np.ascontiguousarray(X.reshape(X.shape[0], -1), dtype=np.float32)


class Forecaster:
    """p(future | past): a VAE whose encoder and decoder see the flattened, scaled past."""

    def __init__(self, module, config: ModelConfig, n_past: int, n_future: int, n_features: int):
        self.module, self.config = module, config
        self.n_past, self.n_future, self.n_features = n_past, n_future, n_features

    @classmethod
    def train(cls, X: np.ndarray, X_val: np.ndarray, n_past: int, model, progress=None) -> "Forecaster":
        """Fit on scaled windows X (N, T, F) with the main model's (a :class:`vaelab.VAE`'s) settings,
        seeded with its seed + 1. Under torchrun every process calls it and trains data-parallel."""
        N, T, F = X.shape
        timevae = model.arch == "timevae"  # the main model's network, on the future's steps
        cfg = ModelConfig(input_shape=((T - n_past) * F,), latent_dim=model.latent_dim, hidden=tuple(model.hidden),
                          likelihood="gaussian", n_classes=n_past * F, arch="timevae" if timevae else "mlp",
                          time_layout=(T - n_past, F) if timevae else ())  # fmt: skip
        tcfg = model.train_config()
        device = distributed.local_device(resolve_device(tcfg.device))
        with seeded(tcfg.seed + 1, device):
            module = build_vae(cfg).to(device)
        past, future = (torch.from_numpy(flat(a)).to(device) for a in (X[:, :n_past], X[:, n_past:]))
        vp = vf = None
        if len(X_val):
            vp, vf = (torch.from_numpy(flat(a)).to(device) for a in (X_val[:, :n_past], X_val[:, n_past:]))
        fit(module, dataclasses.replace(tcfg, seed=tcfg.seed + 1), future, past, vf, vp, progress=progress)
        module.eval()
        return cls(module, cfg, n_past, T - n_past, F)

    def save(self, run: RunDir) -> None:
        meta = {"config": json.dumps(to_dict(self.config)),
                "shape": json.dumps([self.n_past, self.n_future, self.n_features])}  # fmt: skip
        atomic_write(run.file(FORECAST), tensors_bytes(self.module.state_dict(), meta))

    @classmethod
    def load(cls, run: RunDir) -> "Forecaster":
        path = run.file(FORECAST)
        if not path.is_file():
            raise RunError(f"{run.path} has no forecaster ({FORECAST}); it was trained without --horizon.")
        weights, meta = run.read_tensors(FORECAST)  # a damaged file (truncated, a flipped bit) is a RunError
        try:
            cfg = from_dict(ModelConfig, json.loads(meta["config"]), f"{FORECAST} config")
            n_past, n_future, n_features = json.loads(meta["shape"])
            module = build_vae(cfg)
            module.load_state_dict(weights)
        except (KeyError, TypeError, ValueError, RuntimeError, RecursionError, ConfigError) as err:
            raise RunError(f"{path} is damaged ({str(err)[:200]}); train the run again.") from None
        module.eval()
        return cls(module, cfg, int(n_past), int(n_future), int(n_features))

    @torch.no_grad()
    def sample(self, past: np.ndarray, draws: int, seed: int = 0, mean: bool = False,
               seeds: Any = None) -> np.ndarray:
        """``draws`` futures (draws, n_future, F) for one scaled past (n_past, F): z ~ p(z), x ~ p(x|z, past).
        A batch of pasts (M, n_past, F) gives (M, draws, n_future, F).

        Each past's draws come from a generator of their own, seeded with ``seed`` (or ``seeds[i]``, one per past of
        a batch), and are decoded apart, so a past's draws are the same alone and in any batch: drawn for the whole
        batch at once, a window's futures depended on its place in it (an audit: evaluate-synthetic's band of a test
        window differed from ``sample --past`` of that window with the same seed)."""
        past = np.asarray(past)
        batch = past.ndim == 3
        pasts = past if batch else past[None]
        seeds = [int(seed)] * len(pasts) if seeds is None else [int(s) for s in np.ravel(seeds)]
        if len(seeds) != len(pasts):
            raise ValueError(f"seeds must hold one seed per past ({len(pasts)}); got {len(seeds)}.")
        dev = next(self.module.parameters()).device
        out = np.empty((len(pasts), draws, self.n_future, self.n_features), dtype=np.float32)
        for i, (one, s) in enumerate(zip(pasts, seeds)):
            c = torch.from_numpy(flat(np.repeat(one[None], draws, 0))).to(dev)  # (draws, n_past·F): the past each time
            with seeded(s, dev):
                z = self.module.prior.sample(draws).to(dev)
                params = self.module.decode_params(z, c)
                x = self.module.likelihood.mean(params) if mean else self.module.likelihood.dist(params).sample()
            out[i] = x.cpu().numpy().reshape(draws, self.n_future, self.n_features)
        return out if batch else out[0]
