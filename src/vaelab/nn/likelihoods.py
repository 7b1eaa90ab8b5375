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

    def is_density(self, x: torch.Tensor) -> bool:
        """Whether ``log_prob`` at x is a normalized log-density (or log-probability): bits/dim and
        comparisons with other models mean something only then."""
        return True


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

    def is_density(self, x: torch.Tensor) -> bool:
        """A probability only for binary x: on grey values the formula is a cross-entropy without the
        normalizer a density on [0, 1] needs (use the continuous Bernoulli for that)."""
        return bool(((x == 0) | (x == 1)).all())


def continuous_bernoulli_log_norm(logits: torch.Tensor) -> torch.Tensor:
    """log C(λ) of the continuous Bernoulli, λ = sigmoid(logits), elementwise.

    C(λ) = 2 atanh(1 - 2λ) / (1 - 2λ) (Loaiza-Ganem & Cunningham 2019, eq. 3), which in the
    logit η is η / tanh(η/2) = η (1 + e^-η) / (1 - e^-η): computed in that form for |η| ≥ 0.01
    and by its Taylor series log 2 + u²/3 - 7u⁴/90 (u = η/2) below. torch's own
    ``ContinuousBernoulli`` clamps λ to float precision, so for |η| ≳ 17 its density no longer
    integrates to 1 (0.60 at η = ±60; tests/nn/test_likelihoods.py).
    """
    a = logits.abs()
    small = a < 0.01
    a_safe = torch.where(small, torch.ones_like(a), a)
    exact = torch.log(a_safe) - torch.log(-torch.expm1(-a_safe)) + torch.log1p(torch.exp(-a_safe))
    u2 = (logits / 2) ** 2
    return torch.where(small, math.log(2.0) + u2 / 3 - 7 * u2**2 / 90, exact)


class ContinuousBernoulli(Likelihood):
    """The continuous Bernoulli on [0, 1] (Loaiza-Ganem & Cunningham 2019), on logits: a proper
    density for grey values, p(x|λ) = C(λ) λ^x (1-λ)^(1-x). The Bernoulli's cross-entropy on grey
    values lacks exactly the normalizer C(λ); with it, log p(x) is a density and bits/dim mean
    something. Its mean is not λ: E[x] = 1/2 + (coth(η/2) - 2/η)/2 (η the logit)."""

    def log_prob(self, x, params):
        x = x.expand_as(params)
        per = -F.binary_cross_entropy_with_logits(params, x, reduction="none") + continuous_bernoulli_log_norm(params)
        return _sum_event(per, len(self.shape))

    def dist(self, params):
        # Sampling by torch's inverse CDF (its clamping of λ moves a draw by at most float precision).
        return D.Independent(D.ContinuousBernoulli(logits=params, validate_args=False), len(self.shape))

    def mean(self, params):
        u = params / 2
        small = u.abs() < 0.01
        u_safe = torch.where(small, torch.ones_like(u), u)
        langevin = torch.where(small, u / 3 - u**3 / 45, 1 / torch.tanh(u_safe) - 1 / u_safe)  # coth(u) - 1/u
        return 0.5 + 0.5 * langevin

    def is_density(self, x: torch.Tensor) -> bool:
        return bool(((x >= 0) & (x <= 1)).all())


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


class GaussianMeanLogvar(Likelihood):
    """Gaussian with the decoder giving the mean *and* the log-variance of every feature, as many
    models trained elsewhere do. The parameters stack the two: (..., N, 2, *shape)."""

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        axis = params.dim() - len(self.shape) - 1
        return params.select(axis, 0), params.select(axis, 1)

    def log_prob(self, x, params):
        mean, logvar = self.split(params)
        nll = 0.5 * (LOG_2PI + logvar + (x - mean) ** 2 * torch.exp(-logvar))
        return -_sum_event(nll, len(self.shape))

    def dist(self, params):
        mean, logvar = self.split(params)
        return D.Independent(D.Normal(mean, torch.exp(0.5 * logvar), validate_args=False), len(self.shape))

    def mean(self, params):
        return self.split(params)[0]


# ------------------------------------------------------------- mixed-type rows
LIKELIHOOD_TERMS = ("gaussian", "categorical", "bernoulli")
START_SD = 0.1  # initial SD of the continuous features of a mixed row
# Floor of those SDs, as TVAE clamps its sigmas (Xu et al. 2019; ctgan's TVAE: clamp_(0.01, 1.0)). A column of few
# distinct values puts each on a mode of its own, so its offset alpha is always 0 and its SD fell to 1e-3: a
# decoder error of 0.01 in it then costs 50 nats, and those terms' gradients swamped the rest (statsmodels' fair:
# training stopped at epoch 58-86 and SDMetrics' pair trends were 0.938; with 0.01, 0.971 after 100 epochs).
MIXED_MIN_SD = 0.01


class _MixedDraw:
    """The distribution a :class:`Mixed` likelihood gives for some parameters: ``mean`` and ``sample()``."""

    def __init__(self, likelihood: "Mixed", params: torch.Tensor):
        self.likelihood, self.params = likelihood, params

    @property
    def mean(self) -> torch.Tensor:
        return self.likelihood.mean(self.params)

    def sample(self, temperature: float = 1.0) -> torch.Tensor:
        """One draw; ``temperature`` < 1 divides the logits of categories, modes and 0/1 features by it (sharper
        draws: 0 would be the most probable value); Gaussian features keep their noise."""
        lik, p = self.likelihood, self.params
        out = torch.empty_like(p)
        g = lik.gaussian_index
        if g.numel():
            sd = torch.exp(0.5 * lik.logvar)
            out[..., g] = p[..., g] + sd * torch.randn_like(p[..., g])
        b = lik.bernoulli_index
        if b.numel():
            out[..., b] = torch.bernoulli(torch.sigmoid(p[..., b] / temperature))
        for start, width in lik.categorical_blocks:
            logits = p[..., start : start + width] / temperature
            k = torch.distributions.Categorical(logits=logits, validate_args=False).sample()
            out[..., start : start + width] = F.one_hot(k, width).to(p.dtype)
        return out


class Mixed(Likelihood):
    """One likelihood for a row of mixed-type columns: the sum of per-block terms.

    ``blocks`` tile the feature vector: (term, start, width, mask), term one of
    gaussian (continuous scalars: the decoder gives the mean; one learned, floored
    variance per feature, as in :class:`Gaussian`), categorical (a one-hot group: the
    decoder gives logits) or bernoulli (0/1 features: logits). ``mask`` is the index of
    the column's missing-value indicator, or -1: where that indicator is 1 the block's
    term is left out (the value is missing; the indicator's own Bernoulli term models
    the missingness). So log p(x|z) = Σ_observed blocks + Σ_indicators, a proper
    likelihood of the observed values and the missingness pattern.
    """

    def __init__(self, shape: tuple[int, ...], blocks: tuple[tuple[str, int, int, int], ...],
                 min_sd: float = MIXED_MIN_SD):  # fmt: skip
        super().__init__(shape)
        if len(shape) != 1:
            raise ValueError(f"A mixed likelihood takes flat rows (D,); got shape {shape}.")
        d = shape[0]
        covered = torch.zeros(d, dtype=torch.long)
        gauss, bern, cat, masks = [], [], [], []
        for term, start, width, mask in blocks:
            if term not in LIKELIHOOD_TERMS or width < 1 or start < 0 or start + width > d or not -1 <= mask < d:
                raise ValueError(f"Bad likelihood block {(term, start, width, mask)} for {d} features.")
            covered[start : start + width] += 1
            idx = list(range(start, start + width))
            {"gaussian": gauss, "bernoulli": bern, "categorical": cat}[term].extend(idx if term != "categorical" else [(start, width)])
            masks.append((start, width, mask))
        if not bool((covered == 1).all()):
            raise ValueError(f"Likelihood blocks must cover each of the {d} features exactly once.")
        self.blocks = tuple(tuple(b) for b in blocks)
        self.categorical_blocks = tuple(cat)
        self.register_buffer("gaussian_index", torch.tensor(gauss, dtype=torch.long), persistent=False)
        self.register_buffer("bernoulli_index", torch.tensor(bern, dtype=torch.long), persistent=False)
        # feature -> the indicator that masks it (d: "never masked", an extra always-zero column)
        mask_of = torch.full((d,), d, dtype=torch.long)
        for start, width, mask in masks:
            if mask >= 0:
                mask_of[start : start + width] = mask
        self.register_buffer("mask_of", mask_of, persistent=False)
        self.min_logvar = 2 * math.log(min_sd)
        # Start every SD at 0.1, as TVAE does (Xu et al. 2019): the continuous features are
        # standardized values or mode offsets within [-1, 1], and Adam moves a log-variance by
        # about lr per step, so starting at SD 1 left the noise far too wide for thousands of
        # steps (bench/tabular.py: SD still 0.89 after 250 steps, synthetic spread 1.8x the real).
        start_val = 2 * math.log(START_SD) - self.min_logvar  # softplus(raw) must equal this
        self.raw_logvar = nn.Parameter(torch.full((len(gauss),), start_val + math.log(-math.expm1(-start_val))))

    @property
    def logvar(self) -> torch.Tensor:
        return self.min_logvar + F.softplus(self.raw_logvar)

    def _observed(self, x: torch.Tensor) -> torch.Tensor:
        """1 where a feature's value is observed (its column's missing indicator is 0), per feature."""
        padded = torch.cat([x, torch.zeros_like(x[..., :1])], dim=-1)
        return 1.0 - padded[..., self.mask_of]

    def log_prob(self, x, params, observed: torch.Tensor | None = None):
        """log p(x|z) of the observed features; ``observed`` (N, D) 0/1 leaves more of them out (cells
        of new rows that cannot be encoded), which marginalizes them: the terms are independent given z."""
        x = x.expand_as(params)
        per = torch.zeros_like(params)  # per-feature terms (categorical: on the block's first feature)
        g = self.gaussian_index
        if g.numel():
            lv = self.logvar
            per[..., g] = -0.5 * (LOG_2PI + lv + (x[..., g] - params[..., g]) ** 2 * torch.exp(-lv))
        b = self.bernoulli_index
        if b.numel():
            per[..., b] = -F.binary_cross_entropy_with_logits(params[..., b], x[..., b], reduction="none")
        for start, width in self.categorical_blocks:
            logp = F.log_softmax(params[..., start : start + width], dim=-1)
            per[..., start] = (x[..., start : start + width] * logp).sum(-1)
        keep = self._observed(x) if observed is None else self._observed(x) * observed.to(per.dtype)
        return (per * keep).sum(-1)

    def restricted(self, observed: torch.Tensor) -> "Likelihood":
        """This likelihood with the features where ``observed`` (N, D) is 0 left out, for N given rows."""
        return _Restricted(self, observed)

    def missing_flag_logits(self, feature_mean: torch.Tensor, floor: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
        """(The missing-value indicators' features, the logits at which their Bernoulli terms give the training
        rows' missing shares), from the rows' feature means (D,). A table model's decoder starts them there
        (:func:`vaelab.estimator.init_output_bias`): from the layer's own init every flag starts near 0.5, and on a
        table of 480 rows the CLI's 50 epochs still drew a 4.7%-missing column 15% missing (issue 17 audit).
        Only the flags: starting categories and modes at their frequencies too made the decoder keep them there
        instead of learning them from z (anes96: SDMetrics pair trends 0.917 -> 0.682, BENCHMARKS.md)."""
        index = self.missing_flags
        rate = feature_mean.detach().to(torch.float64)[index].clamp(floor, 1 - floor)
        return index, torch.log(rate) - torch.log1p(-rate)

    @property
    def missing_flags(self) -> torch.Tensor:
        """The features that are missing-value indicators (each masks its column's block), ascending."""
        return torch.tensor(sorted({m for _, _, _, m in self.blocks if m >= 0}), dtype=torch.long)

    def dist(self, params):
        return _MixedDraw(self, params)

    def mean(self, params):
        out = params.clone()
        b = self.bernoulli_index
        if b.numel():
            out[..., b] = torch.sigmoid(params[..., b])
        for start, width in self.categorical_blocks:
            out[..., start : start + width] = torch.softmax(params[..., start : start + width], dim=-1)
        return out


class _Restricted(Likelihood):
    """A :class:`Mixed` likelihood scoring only the observed features of N given rows (``Mixed.restricted``)."""

    def __init__(self, base: Mixed, observed: torch.Tensor):
        super().__init__(base.shape)
        self.base, self.observed = base, observed

    def log_prob(self, x, params):
        return self.base.log_prob(x, params, observed=self.observed)

    def dist(self, params):
        return self.base.dist(params)

    def mean(self, params):
        return self.base.mean(params)
