"""Decoder likelihoods p(x|z) checked against scipy's densities (float64 throughout)."""
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.nn import functional as F

from vaelab.nn.likelihoods import Bernoulli, Gaussian, GaussianFixed


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# ----------------------------------------------------------------- Bernoulli
def test_bernoulli_log_prob_matches_scipy_per_example():
    torch.manual_seed(0)
    n, d = 5, 7
    x = torch.bernoulli(torch.full((n, d), 0.5, dtype=torch.float64))
    logits = 3 * torch.randn(n, d, dtype=torch.float64)
    got = Bernoulli((d,)).log_prob(x, logits)
    assert got.shape == (n,)
    want = stats.bernoulli.logpmf(x.numpy(), _sigmoid(logits.numpy())).sum(-1)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)


def test_bernoulli_log_prob_is_stable_for_large_logits():
    # -BCE-with-logits must not produce -inf/nan where sigmoid() would round to 0 or 1.
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    logits = torch.tensor([[-100.0, 100.0]], dtype=torch.float64)
    got = Bernoulli((2,)).log_prob(x, logits)
    assert torch.isfinite(got).all()
    np.testing.assert_allclose(got.numpy(), [-200.0], rtol=1e-12)


def test_bernoulli_broadcasts_sample_dimension():
    torch.manual_seed(1)
    s, n, d = 4, 3, 6
    x = torch.bernoulli(torch.full((n, d), 0.3, dtype=torch.float64))
    logits = torch.randn(s, n, d, dtype=torch.float64)
    got = Bernoulli((d,)).log_prob(x, logits)
    assert got.shape == (s, n)
    want = stats.bernoulli.logpmf(x.numpy()[None], _sigmoid(logits.numpy())).sum(-1)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    # each sample row is the plain (N,) computation on that row's parameters
    for k in range(s):
        torch.testing.assert_close(got[k], Bernoulli((d,)).log_prob(x, logits[k]))


def test_bernoulli_image_sums_over_all_event_dims():
    torch.manual_seed(2)
    shape = (2, 3, 4)
    x = torch.bernoulli(torch.full((5, *shape), 0.5, dtype=torch.float64))
    logits = torch.randn(5, *shape, dtype=torch.float64)
    got = Bernoulli(shape).log_prob(x, logits)
    assert got.shape == (5,)
    want = stats.bernoulli.logpmf(x.numpy(), _sigmoid(logits.numpy())).reshape(5, -1).sum(-1)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    # with a sample dimension in front: (S, N, C, H, W) -> (S, N)
    logits_s = torch.randn(3, 5, *shape, dtype=torch.float64)
    got_s = Bernoulli(shape).log_prob(x, logits_s)
    assert got_s.shape == (3, 5)
    want_s = stats.bernoulli.logpmf(x.numpy()[None], _sigmoid(logits_s.numpy())).reshape(3, 5, -1).sum(-1)
    np.testing.assert_allclose(got_s.numpy(), want_s, rtol=1e-10)


def test_bernoulli_dist_and_mean_agree_with_log_prob():
    torch.manual_seed(3)
    shape = (1, 2, 3)
    lik = Bernoulli(shape)
    logits = torch.randn(2, 4, *shape, dtype=torch.float64)
    x = torch.bernoulli(torch.full((4, *shape), 0.5, dtype=torch.float64))
    dist = lik.dist(logits)
    assert dist.batch_shape == (2, 4) and dist.event_shape == shape
    torch.testing.assert_close(dist.log_prob(x), lik.log_prob(x, logits))
    torch.testing.assert_close(dist.mean, lik.mean(logits))
    torch.testing.assert_close(lik.mean(logits), torch.sigmoid(logits))


# ------------------------------------------------------------------ Gaussians
# GaussianFixed stores log(sigma^2) in a float32 buffer made at construction, so even
# after .double() it carries float32 rounding (relative error ~1e-8): compare at 1e-7.
FIXED_RTOL = 1e-7


def _set_logvar(lik, logvar):
    """Set a Gaussian likelihood's per-feature log-variance (above the floor) by hand."""
    excess = logvar - lik.min_logvar  # > 0
    with torch.no_grad():
        lik.raw_logvar.copy_(excess + torch.log(-torch.expm1(-excess)))  # softplus^-1
    torch.testing.assert_close(lik.logvar.detach(), logvar.to(lik.logvar.dtype))


def test_gaussian_fixed_log_prob_matches_scipy():
    torch.manual_seed(4)
    sigma = 0.3
    lik = GaussianFixed((6,), sigma=sigma).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    mu = torch.randn(5, 6, dtype=torch.float64)
    got = lik.log_prob(x, mu)
    assert got.shape == (5,)
    want = stats.norm.logpdf(x.numpy(), mu.numpy(), sigma).sum(-1)
    np.testing.assert_allclose(got.numpy(), want, rtol=FIXED_RTOL)


def test_gaussian_fixed_broadcasts_and_images():
    torch.manual_seed(5)
    shape = (2, 3, 3)
    sigma = 2.0
    lik = GaussianFixed(shape, sigma=sigma).double()
    x = torch.randn(4, *shape, dtype=torch.float64)
    mu = torch.randn(3, 4, *shape, dtype=torch.float64)
    got = lik.log_prob(x, mu)
    assert got.shape == (3, 4)
    want = stats.norm.logpdf(x.numpy()[None], mu.numpy(), sigma).reshape(3, 4, -1).sum(-1)
    np.testing.assert_allclose(got.numpy(), want, rtol=FIXED_RTOL)


def test_gaussian_starts_with_unit_variance():
    lik = Gaussian((2, 3, 4))
    assert lik.logvar.shape == (2, 3, 4)
    torch.testing.assert_close(lik.logvar, torch.zeros(2, 3, 4), atol=1e-6, rtol=0)
    scale = lik.dist(torch.zeros(1, 2, 3, 4)).base_dist.scale
    torch.testing.assert_close(scale, torch.ones(1, 2, 3, 4), atol=1e-6, rtol=0)


def test_gaussian_learned_variance_log_prob_matches_scipy():
    torch.manual_seed(6)
    d = 5
    lik = Gaussian((d,)).double()
    _set_logvar(lik, torch.randn(d, dtype=torch.float64))  # distinct per-feature variances
    sd = torch.exp(0.5 * lik.logvar).detach().numpy()
    assert np.ptp(sd) > 0.1
    x = torch.randn(4, d, dtype=torch.float64)
    mu = torch.randn(3, 4, d, dtype=torch.float64)
    got = lik.log_prob(x, mu)
    assert got.shape == (3, 4)
    want = stats.norm.logpdf(x.numpy()[None], mu.numpy(), sd).sum(-1)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10)
    # the (N,) case too
    want_n = stats.norm.logpdf(x.numpy(), mu[0].numpy(), sd).sum(-1)
    np.testing.assert_allclose(lik.log_prob(x, mu[0]).detach().numpy(), want_n, rtol=1e-10)


def test_gaussian_logvar_is_learned():
    # the log-likelihood must have a gradient with respect to the variance parameters
    torch.manual_seed(7)
    lik = Gaussian((3,))
    x, mu = torch.randn(4, 3), torch.randn(4, 3)
    lik.log_prob(x, mu).sum().backward()
    assert lik.raw_logvar.grad is not None and (lik.raw_logvar.grad != 0).all()


@pytest.mark.parametrize("min_sd", [1e-3, 0.1])
def test_gaussian_variance_floor(min_sd):
    lik = Gaussian((4,), min_sd=min_sd)
    floor = 2 * math.log(min_sd)
    with torch.no_grad():
        lik.raw_logvar.fill_(-1e4)
    assert (lik.logvar >= floor - 1e-6).all()
    torch.testing.assert_close(lik.logvar, torch.full((4,), floor), atol=1e-5, rtol=0)
    # the floor is smooth: slightly above it for moderately negative raw values, never below
    lik.double()
    with torch.no_grad():
        lik.raw_logvar.copy_(torch.tensor([-10.0, -5.0, 0.0, 5.0]))
    lv = lik.logvar
    assert (lv > floor).all()
    assert (torch.diff(lv) > 0).all()
    # and the likelihood stays finite at a zero residual
    x = torch.zeros(2, 4, dtype=torch.float64)
    assert torch.isfinite(lik.log_prob(x, x)).all()


def test_gaussian_default_floor_value():
    lik = Gaussian((3,))
    assert lik.min_logvar == pytest.approx(2 * math.log(1e-3))
    with torch.no_grad():
        lik.raw_logvar.fill_(-1e6)
    assert (lik.logvar >= 2 * math.log(1e-3) - 1e-6).all()


@pytest.mark.parametrize("make", [lambda s: Gaussian(s), lambda s: GaussianFixed(s, sigma=0.5)])
def test_gaussian_dist_and_mean_agree_with_log_prob(make):
    torch.manual_seed(8)
    shape = (2, 2, 3)
    lik = make(shape).double()
    if isinstance(lik, Gaussian):
        _set_logvar(lik, torch.randn(shape, dtype=torch.float64))
    mu = torch.randn(3, 4, *shape, dtype=torch.float64)
    x = torch.randn(4, *shape, dtype=torch.float64)
    dist = lik.dist(mu)
    assert dist.batch_shape == (3, 4) and dist.event_shape == shape
    torch.testing.assert_close(dist.log_prob(x), lik.log_prob(x, mu))
    torch.testing.assert_close(dist.mean, lik.mean(mu))
    torch.testing.assert_close(lik.mean(mu), mu)
    # the SD the distribution uses is the one log_prob uses
    var = dist.base_dist.scale**2
    want = -0.5 * (math.log(2 * math.pi) + torch.log(var) + (x - mu) ** 2 / var)
    torch.testing.assert_close(lik.log_prob(x, mu), want.flatten(2).sum(-1))


def test_gaussian_fixed_sigma_is_used():
    x = torch.zeros(1, 3, dtype=torch.float64)
    mu = torch.ones(1, 3, dtype=torch.float64)
    a = GaussianFixed((3,), sigma=1.0).double().log_prob(x, mu)
    b = GaussianFixed((3,), sigma=2.0).double().log_prob(x, mu)
    np.testing.assert_allclose(a.numpy(), [3 * stats.norm.logpdf(1.0, 0, 1)], rtol=FIXED_RTOL)
    np.testing.assert_allclose(b.numpy(), [3 * stats.norm.logpdf(1.0, 0, 2)], rtol=FIXED_RTOL)


def test_bernoulli_equals_minus_bce():
    # The documented identity: on binary x, log_prob is minus the summed BCE-with-logits.
    torch.manual_seed(9)
    x = torch.bernoulli(torch.full((3, 8), 0.5))
    logits = torch.randn(3, 8)
    want = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    torch.testing.assert_close(Bernoulli((8,)).log_prob(x, logits), want)


def test_mixed_likelihood_sums_the_column_terms_and_skips_missing_values():
    import math

    import numpy as np
    from scipy.special import log_softmax
    from scipy.stats import norm

    from vaelab.nn.likelihoods import Mixed

    # columns: a gaussian value (masked by feature 5), a 3-way categorical, a boolean, the missing indicator
    blocks = (("gaussian", 0, 1, 5), ("categorical", 1, 3, -1), ("bernoulli", 4, 1, -1), ("bernoulli", 5, 1, -1))
    lik = Mixed((6,), blocks)
    params = torch.tensor([[0.3, 1.0, -0.5, 0.2, 0.7, -1.2]])
    sd = math.exp(0.5 * float(lik.logvar[0].detach()))
    logsig = lambda t, v: v * -np.log1p(np.exp(-t)) + (1 - v) * -np.log1p(np.exp(t))  # noqa: E731
    x = torch.tensor([[1.1, 0.0, 1.0, 0.0, 1.0, 0.0]])
    expected = (norm(0.3, sd).logpdf(1.1) + log_softmax([1.0, -0.5, 0.2])[1] + logsig(0.7, 1) + logsig(-1.2, 0))
    assert float(lik.log_prob(x, params).detach()) == pytest.approx(expected, rel=1e-5)
    # The value is missing: its Gaussian term drops out, the indicator's term counts it as missing.
    x_missing = torch.tensor([[0.0, 0.0, 1.0, 0.0, 1.0, 1.0]])
    expected_missing = log_softmax([1.0, -0.5, 0.2])[1] + logsig(0.7, 1) + logsig(-1.2, 1)
    assert float(lik.log_prob(x_missing, params).detach()) == pytest.approx(expected_missing, rel=1e-5)
    # Means: probabilities for categorical and Bernoulli blocks; draws are one-hot / 0-1.
    mean = lik.mean(params)[0]
    assert float(mean[1:4].sum()) == pytest.approx(1.0) and float(mean[4]) == pytest.approx(1 / (1 + math.exp(-0.7)))
    draw = lik.dist(params.expand(200, 6)).sample()
    assert torch.all(draw[:, 1:4].sum(1) == 1) and set(draw[:, 4].tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="exactly once"):
        Mixed((6,), blocks[:-1])



def test_mixed_draws_at_a_temperature_follow_softmax_of_the_logits_over_it():
    """Issue 17: a draw at temperature T picks category k with probability softmax(logits / T)_k and a 0/1
    feature with sigmoid(logit / T): p_k^(1/T) renormalized. Known answers, 200,000 draws (SE < 0.0012)."""
    import numpy as np

    from vaelab.nn.likelihoods import Mixed

    lik = Mixed((5,), (("gaussian", 0, 1, -1), ("categorical", 1, 3, -1), ("bernoulli", 4, 1, -1)))
    p, q = np.array([0.6, 0.3, 0.1]), 0.8
    params = torch.tensor([[0.0, *np.log(p), np.log(q / (1 - q))]], dtype=torch.float32).expand(200_000, 5)
    for t in (1.0, 0.5):
        torch.manual_seed(0)
        draw = lik.dist(params).sample(t).detach().double()
        expect = p ** (1 / t) / (p ** (1 / t)).sum()
        np.testing.assert_allclose(draw[:, 1:4].mean(0).numpy(), expect, atol=0.005)
        assert float(draw[:, 4].mean()) == pytest.approx(q ** (1 / t) / (q ** (1 / t) + (1 - q) ** (1 / t)), abs=0.005)
        sd = float(torch.exp(0.5 * lik.logvar[0].detach()))
        assert float(draw[:, 0].std()) == pytest.approx(sd, rel=0.02), "Gaussian features keep their noise"

# ----------------------------------------------------------------- continuous Bernoulli (issue 15, item 2)
@pytest.mark.parametrize("logit", [-60.0, -20.0, -3.0, -0.02, -0.005, 0.0, 1e-4, 0.5, 3.0, 20.0, 60.0])
def test_continuous_bernoulli_integrates_to_one_and_matches_its_closed_form(logit):
    """p(x|λ) = C(λ) λ^x (1-λ)^(1-x), C(λ) = 2 atanh(1-2λ)/(1-2λ) (Loaiza-Ganem & Cunningham 2019):
    a density on [0, 1] (numerical integration), its mean by integration, its value by the formula."""
    from scipy.integrate import quad

    from vaelab.nn.likelihoods import ContinuousBernoulli

    lik = ContinuousBernoulli((1,))
    params = torch.tensor([[logit]], dtype=torch.float64)

    def density(x):
        return math.exp(float(lik.log_prob(torch.tensor([[x]], dtype=torch.float64), params)))

    assert quad(density, 0, 1, limit=200)[0] == pytest.approx(1.0, abs=1e-9)
    assert float(lik.mean(params)) == pytest.approx(quad(lambda x: x * density(x), 0, 1, limit=200)[0], abs=1e-9)
    lam = float(_sigmoid(logit))
    if 1e-3 < lam < 1 - 1e-3 and abs(1 - 2 * lam) > 1e-3:  # where the textbook form is itself accurate
        closed = 2 * math.atanh(1 - 2 * lam) / (1 - 2 * lam) * lam**0.3 * (1 - lam) ** 0.7
        assert density(0.3) == pytest.approx(closed, rel=1e-9)


def test_continuous_bernoulli_is_stable_where_torch_clamps():
    """torch's ContinuousBernoulli clamps λ, so its density at logit 60 integrates to 0.60; ours to 1,
    in float32 too, with finite gradients at and near logit 0."""
    from vaelab.nn.likelihoods import ContinuousBernoulli

    lik = ContinuousBernoulli((3,))
    params = torch.tensor([[60.0, 0.0, -1e-3]], requires_grad=True)
    x = torch.tensor([[0.99, 0.5, 0.1]])
    out = lik.log_prob(x, params)
    out.backward()
    assert torch.isfinite(out).all() and torch.isfinite(params.grad).all()
    ref = lik.log_prob(x.double(), params.detach().double())
    assert float(out.detach()) == pytest.approx(float(ref), abs=1e-4)
    assert lik.is_density(x) and not Bernoulli((3,)).is_density(x) and Bernoulli((3,)).is_density((x > 0.5).float())
