"""Priors p(z): densities against scipy, KL against closed forms and Monte Carlo."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch import distributions as D

from vaelab.config import ModelConfig
from vaelab.nn import build_vae
from vaelab.nn.priors import (
    MixtureOfGaussians,
    StandardNormal,
    VampPrior,
    gaussian_log_prob,
)


def _set_mog(prior, means, logvars, weights):
    with torch.no_grad():
        prior.means.copy_(torch.as_tensor(means, dtype=prior.means.dtype))
        prior.logvars.copy_(torch.as_tensor(logvars, dtype=prior.logvars.dtype))
        prior.logits.copy_(torch.log(torch.as_tensor(weights, dtype=prior.logits.dtype)))


def _mog_logpdf_scipy(z, means, sds, weights):
    """log Σ_k w_k Π_d N(z_d; m_kd, s_kd), computed with scipy, z (N, L)."""
    comp = np.stack(
        [stats.norm.logpdf(z, means[k], sds[k]).sum(-1) + np.log(weights[k]) for k in range(len(weights))], -1
    )
    from scipy.special import logsumexp

    return logsumexp(comp, axis=-1)


# ------------------------------------------------------------- StandardNormal
def test_standard_normal_log_prob_matches_scipy():
    torch.manual_seed(0)
    z = torch.randn(2, 5, 3, dtype=torch.float64) * 2
    got = StandardNormal(3).log_prob(z)
    assert got.shape == (2, 5)
    want = stats.multivariate_normal(mean=np.zeros(3), cov=np.eye(3)).logpdf(z.numpy())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_standard_normal_kl_matches_torch_kl_divergence():
    torch.manual_seed(1)
    mu = torch.randn(6, 4, dtype=torch.float64)
    logvar = torch.randn(6, 4, dtype=torch.float64)
    got = StandardNormal(4).kl(mu, logvar)
    assert got.shape == (6,)
    q = D.Normal(mu, torch.exp(0.5 * logvar))
    p = D.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(got, D.kl_divergence(q, p).sum(-1))
    # KL is zero exactly at q = p and positive elsewhere
    zero = StandardNormal(4).kl(torch.zeros(1, 4), torch.zeros(1, 4))
    torch.testing.assert_close(zero, torch.zeros(1))
    assert (got > 0).all()


def test_standard_normal_kl_matches_monte_carlo():
    torch.manual_seed(2)
    n, latent, s = 3, 2, 200_000
    mu = torch.randn(n, latent, dtype=torch.float64)
    logvar = 0.5 * torch.randn(n, latent, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(s, n, latent, dtype=torch.float64)
    prior = StandardNormal(latent)
    log_ratio = gaussian_log_prob(z, mu, logvar) - prior.log_prob(z)  # (S, N)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(s)
    exact = prior.kl(mu, logvar)
    assert ((mc - exact).abs() < 4 * se).all(), (mc, exact, se)
    # the z argument, if given, is ignored: the closed form is exact
    torch.testing.assert_close(prior.kl(mu, logvar, z), exact)


def test_standard_normal_sample_shape_and_moments():
    torch.manual_seed(3)
    z = StandardNormal(3).sample(50_000)
    assert z.shape == (50_000, 3)
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=0.03, rtol=0)
    torch.testing.assert_close(z.var(0), torch.ones(3), atol=0.03, rtol=0)
    g = torch.Generator().manual_seed(7)
    a = StandardNormal(3).sample(4, generator=g)
    g = torch.Generator().manual_seed(7)
    torch.testing.assert_close(StandardNormal(3).sample(4, generator=g), a)


def test_standard_normal_sample_follows_module_dtype():
    assert StandardNormal(2).double().sample(3).dtype == torch.float64


# ------------------------------------------------------- MixtureOfGaussians
MEANS = [[-2.0, 1.0], [1.5, 0.0], [0.0, -3.0]]
LOGVARS = [[0.0, -1.0], [np.log(0.25), 0.5], [-0.5, 0.0]]
WEIGHTS = [0.2, 0.5, 0.3]


def test_mog_log_prob_matches_scipy():
    torch.manual_seed(4)
    prior = MixtureOfGaussians(2, n_components=3).double()
    _set_mog(prior, MEANS, LOGVARS, WEIGHTS)
    z = 2 * torch.randn(4, 7, 2, dtype=torch.float64)
    got = prior.log_prob(z)
    assert got.shape == (4, 7)
    sds = np.exp(0.5 * np.array(LOGVARS))
    want = _mog_logpdf_scipy(z.reshape(-1, 2).numpy(), np.array(MEANS), sds, WEIGHTS).reshape(4, 7)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10)
    # direct sum of weighted densities (no logsumexp) as a second check
    direct = sum(
        w * stats.multivariate_normal(m, np.diag(np.exp(lv))).pdf(z.reshape(-1, 2).numpy())
        for w, m, lv in zip(WEIGHTS, MEANS, LOGVARS)
    )
    np.testing.assert_allclose(got.detach().numpy().ravel(), np.log(direct), rtol=1e-10)


def test_mog_default_init_is_uniform_with_unit_variances():
    torch.manual_seed(5)
    prior = MixtureOfGaussians(3, n_components=4)
    assert prior.means.shape == (4, 3) and prior.logvars.shape == (4, 3) and prior.logits.shape == (4,)
    torch.testing.assert_close(prior.logits.softmax(-1), torch.full((4,), 0.25))
    torch.testing.assert_close(prior.logvars.detach(), torch.zeros(4, 3))
    assert {n for n, _ in prior.named_parameters()} == {"means", "logvars", "logits"}


def test_mog_sample_shape_and_moments():
    torch.manual_seed(6)
    prior = MixtureOfGaussians(2, n_components=3).double()
    _set_mog(prior, MEANS, LOGVARS, WEIGHTS)
    n = 200_000
    z = prior.sample(n).detach()
    assert z.shape == (n, 2) and z.dtype == torch.float64
    w, m, v = np.array(WEIGHTS), np.array(MEANS), np.exp(np.array(LOGVARS))
    mean = (w[:, None] * m).sum(0)
    var = (w[:, None] * (v + m**2)).sum(0) - mean**2
    zn = z.numpy()
    se_mean = np.sqrt(var / n)
    np.testing.assert_array_less(np.abs(zn.mean(0) - mean), 4 * se_mean)
    sq = (zn - zn.mean(0)) ** 2
    se_var = sq.std(0) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(zn.var(0) - var), 4 * se_var)


def test_mog_sample_uses_generator():
    prior = MixtureOfGaussians(2, n_components=3)
    a = prior.sample(5, generator=torch.Generator().manual_seed(3))
    b = prior.sample(5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)


def test_mog_with_one_standard_component_matches_standard_normal():
    torch.manual_seed(7)
    latent = 3
    mog = MixtureOfGaussians(latent, n_components=1).double()
    _set_mog(mog, np.zeros((1, latent)), np.zeros((1, latent)), [1.0])
    normal = StandardNormal(latent)
    z = torch.randn(5, latent, dtype=torch.float64)
    torch.testing.assert_close(mog.log_prob(z), normal.log_prob(z))
    # the base class's one-sample KL, averaged over many z ~ q, is the closed form
    n, s = 4, 100_000
    mu = torch.randn(n, latent, dtype=torch.float64)
    logvar = 0.5 * torch.randn(n, latent, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(s, n, latent, dtype=torch.float64)
    kl = mog.kl(mu, logvar, z).detach()
    assert kl.shape == (s, n)
    mc, se = kl.mean(0), kl.std(0) / math.sqrt(s)
    exact = normal.kl(mu, logvar)
    assert ((mc - exact).abs() < 4 * se).all(), (mc, exact, se)


def test_mog_monte_carlo_kl_matches_numerical_integral():
    # 1-D latent: KL(q || p) = ∫ q log q/p dz by quadrature, vs the mean of prior.kl(mu, logvar, z).
    torch.manual_seed(8)
    prior = MixtureOfGaussians(1, n_components=3).double()
    means, logvars, weights = [[-2.0], [0.5], [3.0]], [[0.0], [-1.5], [0.7]], [0.3, 0.3, 0.4]
    _set_mog(prior, means, logvars, weights)
    mu0, logvar0 = 0.8, math.log(0.6**2)
    sd0 = math.sqrt(math.exp(logvar0))

    def integrand(z):
        lq = stats.norm.logpdf(z, mu0, sd0)
        lp = _mog_logpdf_scipy(np.array([[z]]), np.array(means), np.exp(0.5 * np.array(logvars)), weights)[0]
        return np.exp(lq) * (lq - lp)

    exact, _ = integrate.quad(integrand, mu0 - 12 * sd0, mu0 + 12 * sd0, epsabs=1e-12)
    s = 200_000
    mu = torch.tensor([[mu0]], dtype=torch.float64)
    logvar = torch.tensor([[logvar0]], dtype=torch.float64)
    z = mu + sd0 * torch.randn(s, 1, 1, dtype=torch.float64)
    kl = prior.kl(mu, logvar, z).detach()[:, 0]
    mc, se = kl.mean().item(), kl.std().item() / math.sqrt(s)
    assert exact > 0.05  # not a degenerate case
    assert abs(mc - exact) < 4 * se, (mc, exact, se)


def test_mog_log_prob_has_gradients_for_all_parameters():
    torch.manual_seed(9)
    prior = MixtureOfGaussians(2, n_components=3)
    prior.log_prob(torch.randn(8, 2)).sum().backward()
    for p in prior.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


# ---------------------------------------------------------------- VampPrior
def _vamp_module(seed=10):
    torch.manual_seed(seed)
    cfg = ModelConfig(input_shape=(6,), prior="vamp", n_components=3, latent_dim=2, hidden=(8,))
    return build_vae(cfg).double()


def test_vamp_log_prob_is_mixture_of_encoded_pseudo_inputs():
    module = _vamp_module()
    prior = module.prior
    assert isinstance(prior, VampPrior) and prior.pseudo_inputs.shape == (3, 6)
    with torch.no_grad():  # spread the pseudo-inputs so the components differ
        prior.pseudo_inputs.copy_(torch.rand(3, 6, dtype=torch.float64) * 4 - 2)
    mu, logvar = module.encode_params(prior.pseudo_inputs)
    mu, sd = mu.detach().numpy(), np.exp(0.5 * logvar.detach().numpy())
    assert np.abs(mu[0] - mu[1]).max() > 1e-3
    z = torch.randn(2, 5, 2, dtype=torch.float64)
    got = prior.log_prob(z)
    assert got.shape == (2, 5)
    zn = z.reshape(-1, 2).numpy()
    want = np.log(
        sum(stats.multivariate_normal(mu[k], np.diag(sd[k] ** 2)).pdf(zn) for k in range(3)) / 3
    ).reshape(2, 5)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10)


def test_vamp_follows_encoder_changes():
    # The prior is defined through the encoder: changing encoder weights changes p(z).
    module = _vamp_module(11)
    z = torch.randn(4, 2, dtype=torch.float64)
    before = module.prior.log_prob(z).detach().clone()
    with torch.no_grad():
        module.mu_head.bias.add_(1.0)
    after = module.prior.log_prob(z).detach()
    assert (before - after).abs().max() > 1e-3


def test_vamp_sample_shape_and_gradients_reach_encoder():
    module = _vamp_module(12)
    z = module.prior.sample(7)
    assert z.shape == (7, 2)
    module.prior.log_prob(torch.randn(5, 2, dtype=torch.float64)).sum().backward()
    assert module.prior.pseudo_inputs.grad is not None and module.prior.pseudo_inputs.grad.abs().sum() > 0
    assert module.mu_head.weight.grad is not None and module.mu_head.weight.grad.abs().sum() > 0


def test_vamp_encoder_is_stored_once():
    module = _vamp_module(13)
    prior_keys = [k for k in module.state_dict() if k.startswith("prior.")]
    assert prior_keys == ["prior.pseudo_inputs"]


def test_vamp_sample_moments_match_mixture():
    module = _vamp_module(14)
    with torch.no_grad():
        module.prior.pseudo_inputs.copy_(torch.rand(3, 6, dtype=torch.float64) * 4 - 2)
        mu, logvar = module.encode_params(module.prior.pseudo_inputs)
        n = 100_000
        z = module.prior.sample(n, generator=torch.Generator().manual_seed(0))
    mean = mu.mean(0)
    var = (torch.exp(logvar) + mu**2).mean(0) - mean**2
    se = torch.sqrt(var / n)
    assert ((z.mean(0) - mean).abs() < 4 * se).all()


def test_unbound_vamp_prior_raises():
    torch.manual_seed(15)
    prior = VampPrior(2, (6,), n_components=3)
    with pytest.raises(RuntimeError, match="not bound to an encoder"):
        prior.log_prob(torch.zeros(1, 2))
    with pytest.raises(RuntimeError, match="not bound to an encoder"):
        prior.sample(2)


def test_vamp_init_from_data_copies_examples():
    torch.manual_seed(16)
    prior = VampPrior(2, (6,), n_components=3)
    X = torch.randn(20, 6)
    prior.init_from_data(X, generator=torch.Generator().manual_seed(0))
    for row in prior.pseudo_inputs:
        assert ((X - row).abs().sum(-1) == 0).any()
