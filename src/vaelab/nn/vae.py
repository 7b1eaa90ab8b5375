"""The VAE as a plain ``nn.Module``: methods read like the maths.

x (N, *shape) ─encoder body─► h (N, H) ─linear heads─► q(z|x) = N(mu, diag(exp(logvar)))
z (..., N, L) ─decoder─► params (..., N, *shape) ─likelihood─► p(x|z);   prior p(z).

A conditional VAE concatenates one-hot labels to h (before the heads) and to z
(before the decoder). Files, validation and progress live above this module.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from torch import distributions as D
from torch import nn
from torch.nn import functional as F

from vaelab.nn.likelihoods import Likelihood
from vaelab.nn.priors import Prior, VampPrior, gaussian_log_prob


# (start, stop, total) while a data-parallel rank computes rows start:stop of a batch of total.
_BATCH_SHARD: contextvars.ContextVar[tuple[int, int, int] | None] = contextvars.ContextVar("batch_shard", default=None)


@contextlib.contextmanager
def batch_shard(start: int, stop: int, total: int) -> Iterator[None]:
    """Inside the block, the model sees rows start:stop of a batch of ``total`` examples.

    :meth:`VAEModule.rsample` then draws the noise of the whole batch and keeps these
    rows, so every example gets the draw it would get if the batch ran in one process
    (data-parallel training, :mod:`vaelab.distributed`).
    """
    token = _BATCH_SHARD.set((start, stop, total))
    try:
        yield
    finally:
        _BATCH_SHARD.reset(token)


class Loss(NamedTuple):
    """A minibatch objective: the scalar to minimise and its parts (batch means, nats)."""

    loss: torch.Tensor
    reconstruction: torch.Tensor  # E_q log p(x|z)
    kl: torch.Tensor  # KL(q(z|x) || p(z))


class LogLikelihood(NamedTuple):
    """Per-example estimates, each (N,), in nats (see :meth:`VAEModule.log_likelihood`)."""

    log_px: torch.Tensor  # IWAE-K estimate log (1/K) Σ_k w_k
    log_px_stderr: torch.Tensor  # its Monte Carlo standard error (delta method)
    elbo: torch.Tensor  # reconstruction - kl
    reconstruction: torch.Tensor  # E_q log p(x|z): An & Cho's (2015) reconstruction probability
    kl: torch.Tensor  # KL(q(z|x) || p(z)): closed form where the prior allows, else Monte Carlo


def rsample(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int | None = None) -> torch.Tensor:
    """Reparameterised draws z = mu + sigma * eps: (N, L), or (S, N, L) when n_samples is given.

    Inside :func:`batch_shard` the noise of the whole batch is drawn and this rank's rows kept.
    """
    shape = mu.shape if n_samples is None else (n_samples, *mu.shape)
    shard = _BATCH_SHARD.get()
    if shard is None:
        return mu + torch.exp(0.5 * logvar) * torch.randn(shape, dtype=mu.dtype, device=mu.device)
    start, stop, total = shard  # draw for the whole batch (..., total, L), keep this rank's rows
    eps = torch.randn((*shape[:-2], total, shape[-1]), dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps[..., start:stop, :]


# Bounds of q(z|x)'s log-variance as an importance proposal (see importance_log_likelihood): SDs from
# e^-15 to e^10 in latent units, far outside what a trained encoder gives its training data.
PROPOSAL_LOGVAR_MIN, PROPOSAL_LOGVAR_MAX = -30.0, 20.0


@torch.no_grad()
def importance_log_likelihood(
    encode: Callable[[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]],
    decode: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    likelihood: Likelihood,
    prior: Prior,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    n_samples: int = 1000,
    chunk_size: int = 4096,
    noise: Callable[[int], torch.Tensor] | None = None,
) -> LogLikelihood:
    """Importance-sampled log p(x) per example with K = n_samples draws from q(z|x).

    log p(x) ≈ log (1/K) Σ_k w_k,  w_k = p(x|z_k) p(z_k) / q(z_k|x)  (Burda et al. 2016).
    ``encode`` gives (mu, logvar) of q(z|x) and ``decode`` p(x|z)'s parameters for z
    (K, N, L): a :class:`VAEModule`'s own, or any model's (:mod:`vaelab.model`). The encoder
    runs once; draws are decoded ``chunk_size // N`` at a time, so memory is bounded by the
    chunk, not by K. Running sums (float64, rescaled to the running
    max of log w) give the estimate and, by the delta method, its standard error
    SE ≈ sd(w) / (sqrt(K) mean(w)). The error is trustworthy when q(z|x) is at least as
    wide as the true posterior; when q is much narrower the weights are heavy-tailed and
    the estimate and its error both run low (raise K, or train with --iw-samples).

    ``noise(k)`` gives the standard normals (k, N, L) of the next k draws, z = mu + sigma * noise
    (:mod:`vaelab.analysis.likelihood` passes each example's own stream); by default torch's RNG.
    """
    mu, logvar = encode(x, y)  # (N, L), once per example
    # The proposal's log-variance is kept within [PROPOSAL_LOGVAR_MIN, PROPOSAL_LOGVAR_MAX]: an input hundreds of
    # training SDs out drives an encoder's log-variance to ±100 or more, and exp() of that overflows float32
    # (z ~ 1e29, then (x - mu)^2 is inf: a series window with one value 100 SD out was refused instead of
    # flagged). Any proposal with full support gives an unbiased estimate of p(x) when the weights use that same
    # proposal, so the estimate stays what it says; inside the bounds (every ordinary input) nothing changes.
    logvar = logvar.clamp(PROPOSAL_LOGVAR_MIN, PROPOSAL_LOGVAR_MAX)
    n = x.shape[0]
    per_chunk = max(1, chunk_size // max(n, 1))
    f64 = dict(dtype=torch.float64, device=mu.device)
    top = torch.full((n,), -math.inf, **f64)  # running max of log w
    s1, s2 = torch.zeros(n, **f64), torch.zeros(n, **f64)  # Σ w/e^top, Σ (w/e^top)^2
    rec_sum, kl_sum = torch.zeros(n, **f64), torch.zeros(n, **f64)
    done = 0
    while done < n_samples:
        k = min(per_chunk, n_samples - done)
        z = rsample(mu, logvar, k) if noise is None else mu + torch.exp(0.5 * logvar) * noise(k).to(mu.dtype)  # (k, N, L)
        rec = likelihood.log_prob(x, decode(z, y)).double()  # (k, N)
        kl = (gaussian_log_prob(z, mu, logvar) - prior.log_prob(z)).double()  # (k, N)
        log_w = rec - kl
        new_top = torch.maximum(top, log_w.max(0).values)
        shrink = torch.exp(top - new_top)  # 0 on the first chunk (top = -inf)
        r = torch.exp(log_w - new_top)
        s1 = s1 * shrink + r.sum(0)
        s2 = s2 * shrink**2 + (r**2).sum(0)
        top = new_top
        rec_sum += rec.sum(0)
        kl_sum += kl.sum(0)
        done += k
    K = n_samples
    log_px = top + torch.log(s1) - math.log(K)
    mean_r = s1 / K
    var_r = (s2 / K - mean_r**2).clamp_min(0) * (K / (K - 1) if K > 1 else math.nan)
    stderr = torch.sqrt(var_r / K) / mean_r
    rec = rec_sum / K
    kl = prior.kl(mu, logvar, None).double() if prior.analytic_kl else kl_sum / K
    return LogLikelihood(log_px, stderr, rec - kl, rec, kl)


class VAEModule(nn.Module):
    """A variational autoencoder.

    Parameters
    ----------
    encoder : nn.Module mapping x (N, *shape) to features (N, encoder_dim).
    encoder_dim : width of the encoder's output.
    decoder : nn.Module mapping (N, latent_dim + n_classes) to (N, *shape) likelihood parameters.
    likelihood, prior : see :mod:`vaelab.nn.likelihoods` and :mod:`vaelab.nn.priors`.
    n_classes : > 0 makes the model conditional on one-hot labels.
    """

    def __init__(
        self,
        encoder: nn.Module,
        encoder_dim: int,
        decoder: nn.Module,
        likelihood: Likelihood,
        prior: Prior,
        latent_dim: int,
        n_classes: int = 0,
    ):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        self.latent_dim = latent_dim
        self.n_classes = n_classes
        self.shape = likelihood.shape
        # Linear heads: mu and logvar must be free to take any sign.
        self.mu_head = nn.Linear(encoder_dim + n_classes, latent_dim)
        self.logvar_head = nn.Linear(encoder_dim + n_classes, latent_dim)
        if isinstance(prior, VampPrior):
            prior.bind(self.encode_params)

    # ----------------------------------------------------------------- labels
    def _onehot(self, y: torch.Tensor | None, n: int) -> torch.Tensor | None:
        if not self.n_classes:
            return None
        if y is None:
            raise ValueError(f"This VAE is conditional on {self.n_classes} classes: pass labels y.")
        if tuple(y.shape) not in ((n,), (n, self.n_classes)):
            raise ValueError(f"Expected labels of shape ({n},) or ({n}, {self.n_classes}); got {tuple(y.shape)}.")
        if y.dim() == 1:  # integer codes (N,)
            y = F.one_hot(y.long(), self.n_classes)
        return y.to(self.mu_head.weight.dtype)

    # ---------------------------------------------------------------- encoder
    def encode_params(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """mu, logvar of q(z|x), each (N, L)."""
        h = self.encoder(x)  # (N, H)
        c = self._onehot(y, x.shape[0])
        if c is not None:
            h = torch.cat([h, c], dim=-1)
        return self.mu_head(h), self.logvar_head(h)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> D.Normal:
        """q(z|x) as a Normal with batch shape (N, L)."""
        mu, logvar = self.encode_params(x, y)
        return D.Normal(mu, torch.exp(0.5 * logvar))

    # ---------------------------------------------------------------- decoder
    def decode_params(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Likelihood parameters for z (..., N, L): (..., N, *shape)."""
        lead = z.shape[:-1]
        z2 = z.reshape(-1, z.shape[-1])  # the decoder sees one flat batch of all samples
        c = self._onehot(y, lead[-1]) if self.n_classes else None
        if c is not None:
            c = c.expand(*lead, self.n_classes).reshape(-1, self.n_classes)
            z2 = torch.cat([z2, c], dim=-1)
        return self.decoder(z2).reshape(*lead, *self.shape)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> D.Distribution:
        """p(x|z) with batch shape z.shape[:-1] and event shape ``shape``."""
        return self.likelihood.dist(self.decode_params(z, y))

    # --------------------------------------------------------------- sampling
    rsample = staticmethod(rsample)  # the module-level function: z = mu + sigma * eps

    # -------------------------------------------------------------- objectives
    def elbo_terms(
        self, x: torch.Tensor, y: torch.Tensor | None = None, n_samples: int = 1, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example E_q log p(x|z) and KL(q(z|x)||p(z)), each (N,), averaged over n_samples draws
        (with ``eps`` (S, N, L), z = mu + sigma * eps: the caller's standard normals)."""
        mu, logvar = self.encode_params(x, y)
        z = self.rsample(mu, logvar, n_samples) if eps is None else mu + torch.exp(0.5 * logvar) * eps  # (S, N, L)
        rec = self.likelihood.log_prob(x, self.decode_params(z, y))  # (S, N)
        kl = self.prior.kl(mu, logvar, z)  # (N,) closed form or (S, N) Monte Carlo
        return rec.mean(0), (kl.mean(0) if kl.dim() == 2 else kl)

    def elbo(self, x: torch.Tensor, y: torch.Tensor | None = None, n_samples: int = 1) -> torch.Tensor:
        """ELBO = E_q log p(x|z) - KL(q(z|x)||p(z)), per example (N,)."""
        rec, kl = self.elbo_terms(x, y, n_samples)
        return rec - kl

    def log_weights(self, x: torch.Tensor, y: torch.Tensor | None = None, n_samples: int = 1, beta: float = 1.0):
        """log w_k = log p(x|z_k) + beta (log p(z_k) - log q(z_k|x)), z_k ~ q(z|x): (K, N), plus
        the per-draw reconstruction and KL terms (K, N). The encoder runs once for all K draws."""
        mu, logvar = self.encode_params(x, y)
        z = self.rsample(mu, logvar, n_samples)  # (K, N, L)
        rec = self.likelihood.log_prob(x, self.decode_params(z, y))  # (K, N)
        kl = gaussian_log_prob(z, mu, logvar) - self.prior.log_prob(z)  # (K, N)
        return rec - beta * kl, rec, kl

    def iwae(self, x: torch.Tensor, y: torch.Tensor | None = None, n_samples: int = 5) -> torch.Tensor:
        """IWAE-K bound log (1/K) Σ_k p(x, z_k)/q(z_k|x) per example (N,) (Burda et al. 2016)."""
        log_w, _, _ = self.log_weights(x, y, n_samples)
        return torch.logsumexp(log_w, 0) - math.log(n_samples)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, beta: float = 1.0, iw_samples: int = 1) -> Loss:
        """The training objective: -(rec - beta KL) or, for iw_samples > 1, -IWAE-K with
        beta tempering log p(z)/q(z|x) inside the weights (beta = 1 is the IWAE bound)."""
        if iw_samples == 1:
            rec, kl = self.elbo_terms(x, y)
            return Loss(-(rec - beta * kl).mean(), rec.mean(), kl.mean())
        log_w, rec, kl = self.log_weights(x, y, iw_samples, beta)
        bound = torch.logsumexp(log_w, 0) - math.log(iw_samples)
        return Loss(-bound.mean(), rec.mean(), kl.mean())

    def log_likelihood(
        self, x: torch.Tensor, y: torch.Tensor | None = None, n_samples: int = 1000, chunk_size: int = 4096
    ) -> LogLikelihood:
        """Importance-sampled log p(x) per example (see :func:`importance_log_likelihood`)."""
        return importance_log_likelihood(self.encode_params, self.decode_params, self.likelihood, self.prior,
                                         x, y, n_samples, chunk_size)  # fmt: skip

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, mean: bool = True) -> torch.Tensor:
        """n draws z ~ p(z) decoded to E[x|z] (mean=True) or to a draw from p(x|z): (n, *shape)."""
        z = self.prior.sample(n)
        params = self.decode_params(z, y)
        return self.likelihood.mean(params) if mean else self.likelihood.dist(params).sample()
