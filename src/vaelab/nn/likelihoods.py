"""Decoder likelihoods p(x|z), each parameterised by the decoder output (N, *shape).

``log_prob`` sums over the features of one example and broadcasts over leading
sample dimensions: params (S, N, *shape) with x (N, *shape) gives (S, N).
"""
from __future__ import annotations

import math

import torch
from torch import distributions as D
from torch import nn
from torch.nn import functional as F

LOG_2PI = math.log(2 * math.pi)


def _sum_event(t: torch.Tensor, event_dims: int) -> torch.Tensor:
    return t.flatten(start_dim=t.dim() - event_dims).sum(-1)


class Likelihood(nn.Module):
    """Base class: subclasses give the distribution and its log-density in closed form."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def dist(self, params: torch.Tensor) -> D.Distribution:
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return self.dist(params).mean


class Bernoulli(Likelihood):
    """Independent Bernoulli pixels on logits. On grey values in [0, 1] the same formula is
    the cross-entropy, which is a likelihood only for binary data (hence binarization)."""

    def log_prob(self, x, params):
        # -BCE-with-logits is log Bernoulli(x; sigmoid(params)), computed stably.
        x = x.expand_as(params)
        return -_sum_event(F.binary_cross_entropy_with_logits(params, x, reduction="none"), len(self.shape))

    def dist(self, params):
        return D.Independent(D.Bernoulli(logits=params, validate_args=False), len(self.shape))

    def mean(self, params):
        return torch.sigmoid(params)


class _Gaussian(Likelihood):
    def _logvar(self, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, x, params):
        logvar = self._logvar(params)
        nll = 0.5 * (LOG_2PI + logvar + (x - params) ** 2 * torch.exp(-logvar))
        if nll.shape != params.shape:
            nll = nll.expand_as(params)
        return -_sum_event(nll, len(self.shape))

    def dist(self, params):
        scale = torch.exp(0.5 * self._logvar(params)).expand_as(params)
        return D.Independent(D.Normal(params, scale, validate_args=False), len(self.shape))

    def mean(self, params):
        return params


class Gaussian(_Gaussian):
    """Gaussian with the decoder giving the mean and one learned variance per feature.

    The log-variance is floored smoothly at log(min_sd^2): a feature that never
    varies (MNIST's border pixels) would otherwise drive its variance to 0 and the
    likelihood to infinity.
    """

    def __init__(self, shape: tuple[int, ...], min_sd: float = 1e-3):
        super().__init__(shape)
        self.min_logvar = 2 * math.log(min_sd)
        # softplus(raw) = -min_logvar at start, so every variance starts at 1.
        start = -self.min_logvar
        self.raw_logvar = nn.Parameter(torch.full(self.shape, start + math.log(-math.expm1(-start))))

    @property
    def logvar(self) -> torch.Tensor:
        return self.min_logvar + F.softplus(self.raw_logvar)

    def _logvar(self, params):
        return self.logvar


class GaussianFixed(_Gaussian):
    """Gaussian with the decoder giving the mean and a fixed SD ``sigma`` (sigma=1: a scaled MSE)."""

    def __init__(self, shape: tuple[int, ...], sigma: float = 1.0):
        super().__init__(shape)
        self.register_buffer("fixed_logvar", torch.tensor(2 * math.log(sigma)), persistent=False)

    def _logvar(self, params):
        return self.fixed_logvar
