"""Priors p(z): standard normal, a learned mixture of Gaussians, and the VampPrior.

Each gives ``log_prob(z)`` (summed over latent dimensions, any leading shape),
``sample(n)`` and ``kl(mu, logvar, z)``: KL(q(z|x) || p(z)) per example, in closed
form where it exists and otherwise the one-sample Monte Carlo estimate
log q(z|x) - log p(z) at the given draw z ~ q(z|x).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(-1)


def mixture_log_prob(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
    """log Σ_k w_k N(z; m_k, diag(exp(v_k))); z (..., L), means/logvars (K, L), log_weights (K,)."""
    per_component = gaussian_log_prob(z.unsqueeze(-2), means, logvars)  # (..., K)
    return torch.logsumexp(per_component + log_weights, dim=-1)


def _sample_mixture(n: int, means, logvars, log_weights, generator=None) -> torch.Tensor:
    k = torch.multinomial(log_weights.softmax(-1), n, replacement=True, generator=generator)
    eps = torch.randn(n, means.shape[-1], generator=generator, device=means.device, dtype=means.dtype)
    return means[k] + torch.exp(0.5 * logvars[k]) * eps


class Prior(nn.Module):
    """Base class. ``analytic_kl`` says whether :meth:`kl` is exact or a one-sample estimate."""

    analytic_kl = False

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(z, mu, logvar) - self.log_prob(z)

    def mixture(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The prior as a mixture of diagonal Gaussians: means (K, L), logvars (K, L), log weights (K,).

        Every prior here is one (K = 1 for the standard normal); diagnostics use it for
        per-dimension marginals, which are 1-D mixtures with the same weights.
        """
        raise NotImplementedError


class StandardNormal(Prior):
    """p(z) = N(0, I)."""

    analytic_kl = True

    def __init__(self, latent_dim: int):
        super().__init__(latent_dim)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # tracks the device

    def log_prob(self, z):
        return -0.5 * (LOG_2PI + z**2).sum(-1)

    def sample(self, n, generator=None):
        return torch.randn(n, self.latent_dim, generator=generator, device=self._anchor.device, dtype=self._anchor.dtype)

    def mixture(self):
        zeros = torch.zeros(1, self.latent_dim, dtype=self._anchor.dtype, device=self._anchor.device)
        return zeros, zeros, torch.zeros(1, dtype=zeros.dtype, device=zeros.device)

    def kl(self, mu, logvar, z=None):
        # KL(N(mu, s^2) || N(0, 1)) = 0.5 (mu^2 + s^2 - 1 - log s^2), summed over dimensions.
        return 0.5 * (mu**2 + torch.exp(logvar) - 1.0 - logvar).sum(-1)  # (N,)


class MixtureOfGaussians(Prior):
    """A learned mixture of K diagonal Gaussians; the means start spread as N(0, I) draws."""

    def __init__(self, latent_dim: int, n_components: int = 10):
        super().__init__(latent_dim)
        self.means = nn.Parameter(torch.randn(n_components, latent_dim))
        self.logvars = nn.Parameter(torch.zeros(n_components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(n_components))

    def log_prob(self, z):
        return mixture_log_prob(z, *self.mixture())

    def sample(self, n, generator=None):
        return _sample_mixture(n, *self.mixture(), generator)

    def mixture(self):
        return self.means, self.logvars, self.logits.log_softmax(-1)


class VampPrior(Prior):
    """p(z) = 1/K Σ_k q(z | u_k) with K learned pseudo-inputs u_k (Tomczak & Welling 2018).

    The prior needs the encoder; the VAE hands it over with :meth:`bind` (kept out
    of the module tree so the encoder's weights are stored once).
    """

    def __init__(self, latent_dim: int, shape: tuple[int, ...], n_components: int = 10):
        super().__init__(latent_dim)
        # Small noise around 0.5: mid-range for [0, 1] data; init_from_data does better.
        self.pseudo_inputs = nn.Parameter(0.5 + 0.01 * torch.randn(n_components, *shape))
        self._encode: Callable | None = None

    def bind(self, encode_params: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> None:
        object.__setattr__(self, "_encode", encode_params)

    @torch.no_grad()
    def init_from_data(self, X: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Start the pseudo-inputs at K random training examples."""
        k = self.pseudo_inputs.shape[0]
        idx = torch.randint(0, X.shape[0], (k,), generator=generator)
        self.pseudo_inputs.copy_(X[idx].to(self.pseudo_inputs))

    def mixture(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._encode is None:
            raise RuntimeError("VampPrior is not bound to an encoder; build it through VAEModule.")
        mu, logvar = self._encode(self.pseudo_inputs)
        k = mu.shape[0]
        return mu, logvar, torch.full((k,), -math.log(k), device=mu.device, dtype=mu.dtype)

    def log_prob(self, z):
        return mixture_log_prob(z, *self.mixture())

    def sample(self, n, generator=None):
        return _sample_mixture(n, *self.mixture(), generator)
