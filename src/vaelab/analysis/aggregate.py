"""The aggregate posterior q(z) = 1/N Σ_n q(z|x_n) and the per-dimension KL to the prior's
marginals: the estimators the diagnostics and the exploration share.

Both take the posterior parameters of some data, mu and logvar (N, L) as float64 CPU
tensors, and the prior's mixture form where needed (``Prior.mixture()``); nothing here
knows about models or files.
"""
from __future__ import annotations

import math

import torch


def log_aggregate(z, mu, logvar, per_dim: bool = False, owner: torch.Tensor | None = None, chunk: int = 512):
    """log q(z) = log 1/N Σ_n q(z|x_n) for rows z (M, L); per_dim gives log q(z_d) (M, L).

    ``owner`` (M,) names the example each row was drawn from; its own component is then
    left out (log 1/(N-1) Σ_{n≠owner} q(z|x_n)), which judges a real code by the other
    codes exactly as a prior draw is judged.
    """
    n = mu.shape[0]
    prec = torch.exp(-logvar)  # (N, L)
    # Summed over dimensions, log N(z; mu_n, σ_n²) is a quadratic form in z: two matrix
    # products instead of an (m, N, L) tensor.
    const = -0.5 * (mu.shape[1] * math.log(2 * math.pi) + logvar.sum(1) + (mu**2 * prec).sum(1))  # (N,)
    out = []
    for s in range(0, z.shape[0], chunk):
        zc = z[s : s + chunk]
        if per_dim:
            per = -0.5 * (math.log(2 * math.pi) + logvar + (zc[:, None, :] - mu) ** 2 * prec)  # (m, N, L)
        else:
            per = const - 0.5 * (zc**2) @ prec.T + zc @ (mu * prec).T  # (m, N)
        if owner is not None:
            per[torch.arange(per.shape[0]), owner[s : s + chunk]] = -math.inf
        out.append(torch.logsumexp(per, dim=1) - math.log(n - (owner is not None)))
    return torch.cat(out)


def kde_logvar(mu: torch.Tensor) -> torch.Tensor:
    """Per-dimension log-variances (N, L) that make :func:`log_aggregate` a Gaussian kernel density
    of the codes ``mu``: bandwidth h_d = σ_d · N^(-1/(L+4)) (Scott's rule; Scott 1992, Multivariate
    Density Estimation, eq. 6.42). For a deterministic encoder q(z|x) is a point, so q(z) is a sum of
    points; its density is estimated after the fact from the codes (ex-post density estimation,
    Ghosh et al. 2020, "From variational to deterministic autoencoders")."""
    n, L = mu.shape
    sd = mu.std(0, unbiased=True) if n > 1 else torch.ones(L, dtype=mu.dtype)
    h = torch.clamp(sd, min=1e-6) * n ** (-1.0 / (L + 4))
    return (2 * torch.log(h)).expand(n, L).clone()


def marginal_kl(mu, logvar, means, logvars, log_w, n_draws: int) -> torch.Tensor:
    """Per-example, per-dimension KL(q(z_d|x) || p(z_d)) (N, L): closed form for one Gaussian,
    Monte Carlo (n_draws) for a mixture prior, whose marginals are 1-D mixtures."""
    if means.shape[0] == 1:
        m, v = means[0], logvars[0]
        return 0.5 * (v - logvar + (torch.exp(logvar) + (mu - m) ** 2) * torch.exp(-v) - 1)
    z = mu + torch.exp(0.5 * logvar) * torch.randn((n_draws, *mu.shape), dtype=mu.dtype)  # (S, N, L)
    log_q = -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 * torch.exp(-logvar))
    per = -0.5 * (math.log(2 * math.pi) + logvars + (z[..., None, :] - means) ** 2 * torch.exp(-logvars))  # (S,N,K,L)
    log_p = torch.logsumexp(per + log_w[:, None], dim=-2)
    return (log_q - log_p).mean(0)
