"""log p(x) per example by importance sampling, streamed over the data in blocks.

Examples are read, validated and scored one block at a time, so a memory-mapped
``.npy`` larger than memory is scored in constant memory. Within a block the
module draws the K samples in chunks (:meth:`VAEModule.log_likelihood`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from vaelab.errors import ConfigError, DataError
from vaelab.model import Model, check_model
from vaelab.nn.likelihoods import Mixed
from vaelab.nn.vae import importance_log_likelihood
from vaelab.runtime import seeded

SCORES = ("log_px", "elbo", "reconstruction")  # scores an anomaly threshold may use
DEFAULT_CHUNK = 4096  # (sample, example) pairs per decoder pass: bounds memory; 4096 keeps a
# pass in cache (16384 was 1.7x slower on a 32 MiB-L3 CPU: bench/nll_speed.py)


@dataclass
class LikelihoodResult:
    """Per-example estimates in nats, each shape (N,), plus what they were computed with."""

    log_px: np.ndarray
    log_px_stderr: np.ndarray  # Monte Carlo standard error of each log_px
    elbo: np.ndarray
    reconstruction: np.ndarray
    kl: np.ndarray
    n_samples: int
    n_features: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.log_px.shape[0])

    @property
    def bits_per_dim(self) -> np.ndarray:
        """-log p(x) / (D ln 2) per example."""
        return -self.log_px / (self.n_features * math.log(2))

    def shifted(self, offset: np.ndarray, units: str) -> "LikelihoodResult":
        """The densities moved by ``offset`` (N,) nats per example (a change of units: the log-Jacobian of a
        transform of the data), which ``units`` names; the KL term does not change."""
        offset = np.asarray(offset, dtype=np.float64)
        return LikelihoodResult(self.log_px + offset, self.log_px_stderr, self.elbo + offset,
                                self.reconstruction + offset, self.kl, self.n_samples, self.n_features,
                                {**self.extra, "units": units})  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({name: getattr(self, name) for name in ("log_px", "log_px_stderr", "elbo", "reconstruction", "kl")})

    def summary(self) -> dict[str, float]:
        """Mean NLL with its standard error over examples (which already holds the Monte Carlo
        noise of each estimate), the mean Monte Carlo part alone, bits/dim and the ELBO."""
        n = len(self)
        nll = -self.log_px
        se = float(nll.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        return {
            "nll": float(nll.mean()),
            "nll_stderr": se,
            "nll_mc_stderr": float(math.sqrt(float((self.log_px_stderr**2).sum())) / n),
            "bits_per_dim": float(nll.mean() / (self.n_features * math.log(2))),
            "elbo": float(self.elbo.mean()),
            "reconstruction": float(self.reconstruction.mean()),
            "kl": float(self.kl.mean()),
            "n_examples": n,
            "n_samples": self.n_samples,
        }


def log_likelihood(
    model: Model,
    X: Any,
    y: Any = None,
    n_samples: int = 1000,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    observed: np.ndarray | None = None,
) -> LikelihoodResult:
    """Estimate log p(x) (or log p(x|y) for a conditional model) for every example of X.

    Parameters
    ----------
    model : a fitted :class:`vaelab.VAE` or any :class:`vaelab.model.Model`.
    X : array-like (N, ...) — a NumPy memory map is read block by block.
    n_samples : K, the importance samples per example (more: tighter, slower).
    chunk_size : at most this many (sample, example) pairs go through the decoder at once.
    seed : seed of the draws (default: the model's seed): same seed, same estimates.
    progress : called with (examples done, total) after each block.
    observed : (N, D) bool, mixed likelihoods (tables) only: features to leave out of p(x|z) where False
        (cells of new rows that could not be encoded: :meth:`TableTransformer.check_rows`).
    """
    model = check_model(model, "log_likelihood")
    if model.deterministic_:
        raise DataError("log p(x) is estimated by importance sampling from q(z|x), which needs its variance; a "
                        "deterministic encoder (a plain autoencoder) has none, so log p(x), the ELBO and their "
                        "percentiles do not apply to this model. Its latent space, samplers and sample quality do: "
                        "vaelab inspect, compare-samplers, explore.")  # fmt: skip
    for name, value in (("n_samples", n_samples), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be a positive integer; got {value!r}.")
    n = len(X)
    if observed is not None:
        if not isinstance(model.px_z_, Mixed):
            raise DataError("observed= leaves cells of table rows out of a mixed likelihood; this model's "
                            f"likelihood is {type(model.px_z_).__name__}.")  # fmt: skip
        observed = np.asarray(observed, dtype=bool).reshape(n, -1)
    # Examples per block: enough for the chunk to hold up to 128 draws of each.
    block = max(1, min(n, chunk_size // min(n_samples, 128)))
    table = np.empty((n, 5))  # the per-example results: the only memory that grows with N
    binarizer = None  # one stream across blocks, as if the whole set were binarized at once
    if model.evaluation_seed() is not None:
        binarizer = np.random.default_rng(model.evaluation_seed())
    dev = model.device_
    with seeded(model.seed if seed is None else seed, dev), torch.no_grad():
        for start in range(0, n, block):
            x = model.model_input(X[start : start + block], evaluation=True, binarizer=binarizer).to(dev)
            yb = model.label_codes(None if y is None else np.asarray(y)[start : start + block], x.shape[0])
            px_z = model.px_z_
            if observed is not None:
                px_z = px_z.restricted(torch.from_numpy(observed[start : start + x.shape[0]]).to(dev))
            out = importance_log_likelihood(model.encode, model.decode, px_z, model.prior_, x,
                                            None if yb is None else yb.to(dev), n_samples, chunk_size)  # fmt: skip
            table[start : start + x.shape[0]] = torch.stack(list(out), 1).cpu().numpy()
            if progress:
                progress(min(start + block, n), n)
    return LikelihoodResult(*(table[:, i] for i in range(5)), n_samples=int(n_samples), n_features=model.n_features_in_)
