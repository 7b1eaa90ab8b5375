"""A plain autoencoder's anomaly score: its reconstruction error, which is no log-likelihood (a VAE's too, on
request: ``vaelab score --score reconstruction_mse``, z its posterior mean).

log p(x) is estimated by importance sampling from q(z|x) (:mod:`vaelab.analysis.likelihood`), which
needs q's variance; a deterministic encoder (a plain autoencoder, ``Model.deterministic_``) gives a
point. What such a model scores is how well it reconstructs an example: ``reconstruction_mse``, the
mean over the example's features of (x - E[x|z])², with z the encoder's code and E[x|z] the
likelihood's mean of the decoder's output (H2O's ``anomaly()`` and Alibi Detect's ``OutlierAE`` score
the same mean squared error). *Higher* is more unusual, the opposite of log p(x), and its units are
the data's squared: it is not a density, has no nats and no bits/dim, and says nothing about p(x).

The examples are scored as the model is evaluated on them (:meth:`Model.model_input` with
``evaluation``: a model adopted with ``--binarize`` reconstructs the fixed binarization of a grey
example, drawn from the example's own content), one block at a time; there are no random draws, so an
example's error depends on the example alone.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from vaelab.analysis.likelihood import overlapping, window_stderr
from vaelab.errors import DataError
from vaelab.model import Model, check_model
from vaelab.runtime import EVAL_BATCH

RECONSTRUCTION_MSE = "reconstruction_mse"
ERROR_SCORES = (RECONSTRUCTION_MSE,)  # scores where a *high* value is unusual (flagged in the upper tail)
# What the score is, in the words the CLI, metrics.json and the report use
RECONSTRUCTION_MSE_WHAT = ("reconstruction_mse: the mean over an example's features of (x − E[x|z])², z the encoder's "
                           "code; a squared error in the data's units squared, higher is more unusual; not a "
                           "log-likelihood")  # fmt: skip
# ... of a VAE (``--score reconstruction_mse``): z is the posterior mean, and the model has a log p(x) besides
RECONSTRUCTION_MSE_WHAT_VAE = ("reconstruction_mse: the mean over an example's features of (x − E[x|z])², z the "
                               "posterior mean E_q[z|x] (no draws); a squared error in the data's units squared, higher "
                               "is more unusual; not a log-likelihood (log_px is the model's)")  # fmt: skip


def reconstruction_mse_what(deterministic: bool) -> str:
    """What reconstruction_mse is, for a plain autoencoder (``deterministic``) or a VAE."""
    return RECONSTRUCTION_MSE_WHAT if deterministic else RECONSTRUCTION_MSE_WHAT_VAE


@dataclass
class ReconstructionResult:
    """Per-example reconstruction errors (N,) of a plain autoencoder, and what they were computed with."""

    reconstruction_mse: np.ndarray
    n_features: int
    serial: tuple[np.ndarray, int] | None = None  # overlapping examples (series windows): Dataset.serial
    score_names = ERROR_SCORES  # the scores this result holds (LikelihoodResult's are SCORES)

    def __len__(self) -> int:
        return int(self.reconstruction_mse.shape[0])

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({RECONSTRUCTION_MSE: self.reconstruction_mse})

    def summary(self) -> dict[str, Any]:
        """The mean reconstruction error with its standard error over examples."""
        n = len(self)
        values = np.asarray(self.reconstruction_mse, dtype=np.float64)
        se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        method, approximate = "over examples", ""
        if overlapping(self.serial) and n > 1:  # series windows: the fixed-b SE, as the NLL's and the ELBO's
            se, method, approximate = window_stderr(values, *self.serial)
        return {"reconstruction_mse": float(values.mean()), "reconstruction_mse_stderr": se,
                "reconstruction_mse_stderr_method": method, "n_examples": n,
                **({"reconstruction_mse_stderr_approximate": approximate} if approximate else {})}  # fmt: skip


def reconstruction_error(model: Model, X: Any, y: Any = None, *,
                         progress: Callable[[int, int], None] | None = None) -> ReconstructionResult:  # fmt: skip
    """``reconstruction_mse`` of every example of X (see the module docstring): the mean over features of
    (x - E[x|z])², z the encoder's code (its posterior mean for a model with a variance). ``y``: labels, for a
    conditional model (one per example, or one for all). ``progress``: called with (examples done, total)."""
    model = check_model(model, "reconstruction_error")
    n = len(X)
    if n == 0:
        raise DataError("reconstruction_error needs at least one example to score; got none (an empty array, or a "
                        "file with a header and no rows).")  # fmt: skip
    out = np.empty(n, dtype=np.float64)
    with torch.no_grad():
        for start in range(0, n, EVAL_BATCH):
            x = model.model_input(X[start : start + EVAL_BATCH], evaluation=True)
            yb = model.label_codes(None if y is None else np.asarray(y)[start : start + x.shape[0]], x.shape[0])
            xd = x.to(model.device_)
            yd = None if yb is None else yb.to(model.device_)
            mean = model.px_z_.mean(model.decode(model.encode(xd, yd)[0], yd))
            out[start : start + x.shape[0]] = ((xd - mean) ** 2).flatten(1).mean(1).double().cpu().numpy()
            if progress:
                progress(min(start + EVAL_BATCH, n), n)
    bad = ~np.isfinite(out)
    if bad.any():
        raise DataError(f"The model reconstructs {int(bad.sum())} of {n} examples as NaN or infinite values (the "
                        f"first is example {int(np.flatnonzero(bad)[0])}): check those inputs, and the model where it "
                        "was trained (its halves on them).")  # fmt: skip
    return ReconstructionResult(out, model.n_features_in_)
