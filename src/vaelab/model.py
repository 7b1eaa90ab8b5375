"""The model interface: what every analysis may use of a model, and all it may use.

An analysis (log p(x), diagnostics, samplers, exploration, the report) measures a
*fitted latent-variable model*: a map from data to the parameters of q(z|x), a map from
z to the parameters of p(x|z), a prior p(z), and how the user's data becomes the
model's input. :class:`Model` says exactly that. :class:`vaelab.VAE` implements it;
so does anything else that fills in its abstract parts (issue "bring your own model"),
and every analysis then works on it unchanged.

What an implementation provides (fitted attributes end in ``_``, scikit-learn style):

========================  =====================================================================
``input_shape_``          shape of one example as the model takes it, e.g. ``(1, 28, 28)``
``n_features_in_``        ``prod(input_shape_)``
``latent_dim_``           L, the size of z
``classes_``              label names of a conditional model (array of str), ``None`` if not conditional
``device_``               the ``torch.device`` the model computes on
``prior_``                p(z): ``sample(n)``, ``log_prob(z)``, ``mixture()`` (means, log-variances,
                          log-weights of a diagonal Gaussian mixture), ``kl(mu, logvar, z)``, ``analytic_kl``
                          (:class:`vaelab.nn.priors.Prior`)
``px_z_``                 the likelihood p(x|z) as a function of the decoder's output: ``log_prob(x, params)``
                          summed over an example's features, ``mean(params)``, ``dist(params)``
                          (:class:`vaelab.nn.likelihoods.Likelihood`)
``seed``                  the default seed of the model's estimates
``latent_shape_``         the latent's own shape when it has one, e.g. (4, 32, 32) for a spatial latent (None: flat);
                          z is always flat (N, L) in ``encode``/``decode``, the diagnostics report per channel
``deterministic_``        True for a deterministic encoder (a plain autoencoder): ``encode`` gives the code
                          as mu and a log-variance of -inf; analyses that need q(z|x)'s variance say
                          they do not apply, and the aggregate posterior is a kernel density of the codes
``encode(x, y)``          tensors on ``device_`` → ``(mu, logvar)`` of q(z|x), each (N, L)
``decode(z, y)``          z (..., N, L) → p(x|z)'s parameters (..., N, *input_shape_)
``evaluation_seed()``     the seed of the fixed binarization evaluation data gets, or None
``heads()``               the modules that output mu and logvar, where they are visible (for lint)
========================  =====================================================================

``y`` in ``encode``/``decode`` is a tensor of label codes (N,) from :meth:`Model.label_codes`,
or None for an unconditional model. On top of these the base class gives every model the
same public helpers: :meth:`model_input` and :meth:`model_rows` (data → input tensors, with
the evaluation binarization), :meth:`label_codes` (label names → codes), :meth:`map_batches`
(a function over batches, on the device, without gradients), :meth:`transform` (posterior
means) and :meth:`inverse_transform` (decoder means).
"""
from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from vaelab.data.arrays import as_examples, check_finite, to_examples
from vaelab.data.rows import Rows, TensorRows
from vaelab.data.split import binarize_fixed
from vaelab.errors import DataError, NotFittedError
from vaelab.nn.likelihoods import Likelihood
from vaelab.runtime import EVAL_BATCH


class Model(abc.ABC):
    """A fitted latent-variable model as the analyses see it (see the module docstring)."""

    # Declared for readers and type checkers; an implementation sets them when it is fitted.
    input_shape_: tuple[int, ...]
    n_features_in_: int
    latent_dim_: int
    classes_: np.ndarray | None
    device_: torch.device
    prior_: nn.Module
    px_z_: nn.Module
    seed: int
    deterministic_: bool = False  # a plain autoencoder: q(z|x) is a point (see the module docstring)
    latent_shape_: tuple[int, ...] | None = None  # a spatial latent's (C, h, w); z itself is always flat (N, L)
    # Trained outside vaelab (vaelab.adopt): advice names what can be done to it (adopt's options), not train's.
    trained_elsewhere: bool = False

    # ------------------------------------------------------------ what a model fills in
    @abc.abstractmethod
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """mu, logvar of q(z|x), each (N, L), for x (N, *input_shape_) on ``device_``."""

    @abc.abstractmethod
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """p(x|z)'s parameters (..., N, *input_shape_) for z (..., N, L) on ``device_``."""

    @abc.abstractmethod
    def evaluation_seed(self) -> int | None:
        """Seed of the fixed Bernoulli binarization that evaluation data gets (a model trained on
        binarized data scores binary data), or None when inputs are scored as they are."""

    def heads(self) -> dict[str, nn.Module]:
        """The modules whose outputs are mu and logvar, where the model exposes them (for the
        head lint of :func:`vaelab.analysis.diagnostics.diagnose`); none by default."""
        return {}

    # ------------------------------------------------------------------ checks
    def check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless the model is fitted (its ``prior_`` is set)."""
        if getattr(self, "prior_", None) is None:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(X) first, or vaelab.load(run).")

    def needs_reshape(self, shape: tuple[int, ...]) -> bool:
        """Whether examples of ``shape`` need reshaping to the model's; raise if they do not fit."""
        if tuple(shape) == tuple(self.input_shape_):
            return False
        if math.prod(shape) == self.n_features_in_:  # flat rows for an image model, or the reverse
            return True
        raise DataError(
            f"X has {math.prod(shape)} features, but {type(self).__name__} is expecting {self.n_features_in_} features "
            f"as input: X has examples of shape {tuple(shape)}; this model was fitted on shape {self.input_shape_}."
        )

    # ------------------------------------------------------------ data → model input
    def model_input(self, X: Any, *, evaluation: bool = False) -> torch.Tensor:
        """X as a float32 tensor (N, *input_shape_) on the CPU. With ``evaluation``, as the model
        scores it: binarized with :meth:`evaluation_seed` where the model asks for it, each example
        by its own content-seeded draw (:func:`vaelab.data.split.binarize_fixed`), so an example is
        binarized the same way alone or among others."""
        X = to_examples(X)
        if self.needs_reshape(X.shape[1:]):
            X = X.reshape(X.shape[0], *self.input_shape_)
        x = torch.from_numpy(X)
        seed = self.evaluation_seed() if evaluation else None
        if seed is not None:
            check_unit_interval(X)
            x = binarize_fixed(x, seed)
        return x

    def model_rows(self, X: Any, *, evaluation: bool = False) -> torch.Tensor | TensorRows:
        """X for :meth:`map_batches`: a tensor, or for a memory map / :class:`Rows` a
        :class:`TensorRows` that reads (and with ``evaluation`` binarizes, as :meth:`model_input`
        does) one batch at a time, so data larger than memory is never read whole."""
        lazy = lazy_examples(X)
        if lazy is None:
            return self.model_input(X, evaluation=evaluation)
        reshape = self.needs_reshape(lazy.shape[1:])
        seed = self.evaluation_seed() if evaluation else None
        return TensorRows(lazy, shape=self.input_shape_ if reshape else None, binarize_seed=seed,
                          check=check_unit_interval if seed is not None else None)  # fmt: skip

    def label_codes(self, y: Any, n: int) -> torch.Tensor | None:
        """Label names (one per example, or one for all) → codes (n,) of ``classes_``; None for an
        unconditional model. Missing or unknown labels are a :class:`DataError` naming the known ones."""
        if self.classes_ is None:
            return None
        if y is None:
            raise DataError(f"This {type(self).__name__} is conditional: pass y, labels among {self.classes_.tolist()}.")
        arr = np.asarray(y)
        if arr.ndim == 0:
            arr = np.full(n, arr.item())
        if arr.shape != (n,):
            raise DataError(f"Expected {n} labels (one per example), got shape {arr.shape}.")
        names = arr.astype(str)
        unknown = sorted(set(names.tolist()) - set(self.classes_.tolist()))
        if unknown:
            raise DataError(f"Unknown label(s) {unknown}; this model knows {self.classes_.tolist()}.")
        lookup = {c: i for i, c in enumerate(self.classes_)}
        return torch.tensor([lookup[c] for c in names], dtype=torch.long)

    def is_density_on(self, X: Any) -> bool:
        """Whether log p(x|z) on X, as evaluation scores it, is a normalized density: not for a
        Bernoulli on grey values that are scored unbinarized (a cross-entropy; no bits/dim)."""
        if self.evaluation_seed() is not None:  # binarized: binary data, where the Bernoulli is exact
            return True
        if type(self.px_z_).is_density is Likelihood.is_density:  # a density whatever x is: nothing to read
            return True
        x = self.model_rows(X)
        return all(self.px_z_.is_density(x[s : s + EVAL_BATCH]) for s in range(0, x.shape[0], EVAL_BATCH))

    # ------------------------------------------------------------------ helpers
    def map_batches(self, fn: Callable, *tensors: torch.Tensor | TensorRows | None) -> torch.Tensor:
        """fn over batches of the tensors (None passes through) on ``device_``, under no_grad;
        the outputs gathered on the CPU.

        The output is allocated once and filled batch by batch. Keeping each batch's output as a
        tensor of its own and concatenating at the end fragments glibc's heap on a long stream:
        every small kept output lands between the batch's large temporaries (the rows read, their
        binarization's uniforms), which glibc serves from the heap once its dynamic mmap threshold
        has risen, so the freed space cannot be given back. Encoding 1M memory-mapped digits held
        ~1.1 KB of heap per row that way (1.2 GB for 128 MB of codes); filled in place, the growth
        is the output's own size."""
        n = tensors[0].shape[0]
        out = None
        with torch.no_grad():
            for s in range(0, n, EVAL_BATCH):
                batch = [None if t is None else t[s : s + EVAL_BATCH].to(self.device_) for t in tensors]
                r = fn(*batch).cpu()
                if out is None:
                    out = torch.empty((n, *r.shape[1:]), dtype=r.dtype)
                out[s : s + r.shape[0]] = r
        return torch.empty(0) if out is None else out

    def transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Posterior means E_q[z|x], shape (n_samples, latent_dim): float64 for float64 input (scikit-learn's
        convention; the model computes in float32), float32 otherwise."""
        self.check_fitted()
        x = self.model_rows(X)
        yc = self.label_codes(y, x.shape[0])
        out = self.map_batches(lambda xb, yb: self.encode(xb, yb)[0], x, yc).numpy()
        return out.astype(np.float64) if _is_float64(X) else out

    def inverse_transform(self, Z: Any, y: Any = None) -> np.ndarray:
        """Decoder means E[x|z], shape (n_samples, *input_shape)."""
        self.check_fitted()
        z = np.asarray(Z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim_:
            raise DataError(f"Z must have shape (n_samples, {self.latent_dim_}); got {z.shape}.")
        zt = torch.from_numpy(np.ascontiguousarray(z))
        yc = self.label_codes(y, z.shape[0])
        return self.map_batches(lambda zb, yb: self.px_z_.mean(self.decode(zb, yb)), zt, yc).numpy()


def check_model(model: Any, what: str) -> Model:
    """``model`` if it implements :class:`Model` and is fitted; a clear error otherwise."""
    if not isinstance(model, Model):
        hint = (" For a model trained elsewhere: vaelab.adopt(encoder, decoder, likelihood=..., data=X) (a pythae "
                "model or a diffusers AutoencoderKL alone: vaelab.adopt(model, likelihood=..., data=X)).")  # fmt: skip
        raise DataError(f"{what} needs a fitted vaelab.VAE or another vaelab.model.Model (e.g. vaelab.load(run)); "
                        f"got {type(model).__name__}.{hint if hasattr(model, 'forward') or callable(model) else ''}")  # fmt: skip
    model.check_fitted()
    return model


def lazy_examples(X: Any) -> Rows | np.memmap | None:
    """X left where it is when it is a memory map (checked in blocks: shape rules, finite) or
    :class:`Rows` (checked when made); None for anything else, which :func:`to_examples` copies."""
    if isinstance(X, Rows):
        return X
    if isinstance(X, np.memmap):
        X = as_examples(X, "X", lazy=True)
        check_finite(X, "X")
        return X
    return None


def _is_float64(X: Any) -> bool:
    """Whether X holds float64 values (a DataFrame: every column; a list: what NumPy makes of it)."""
    if isinstance(X, pd.DataFrame):
        return bool(len(X.columns)) and all(t == np.float64 for t in X.dtypes)
    dtype = getattr(X, "dtype", None)
    if dtype is None and not isinstance(X, (Rows, TensorRows)):
        dtype = np.asarray(X).dtype
    return dtype == np.float64


def check_unit_interval(block: np.ndarray) -> None:
    """Data a Bernoulli model binarizes must lie in [0, 1]."""
    if block.size and (block.min() < 0 or block.max() > 1):
        raise DataError(f"This model has a Bernoulli likelihood: X must lie in [0, 1]; it holds values from "
                        f"{float(block.min()):.4g} to {float(block.max()):.4g}. Scale X as the model's training data "
                        "was (8-bit images: divide by 255).")  # fmt: skip
