"""The aggregate posterior's estimators at scale: exact where nothing is subsampled, honest errors where it is."""
import math

import numpy as np
import pytest
import torch

from vaelab.analysis.aggregate import Mixture, jackknife_mean, log_aggregate, log_q, prior_hole_mass, subsample


def codes(n=2000, dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, dim, dtype=torch.float64, generator=g)
    logvar = torch.full((n, dim), math.log(0.3**2), dtype=torch.float64)
    return mu, logvar, g


@pytest.mark.parametrize("own", ["none", "exclude", "include"])
def test_an_exact_mixture_gives_log_aggregate(own):
    mu, logvar, g = codes(300)
    owner = np.arange(100)
    z = mu[:100] + 0.3 * torch.randn(100, 4, dtype=torch.float64, generator=g)
    mix = Mixture.of(mu, logvar, np.random.default_rng(0), max_codes=300)
    assert mix.exact and mix.groups == [slice(0, 300)]
    est, jack = log_q(z, mix, owner if own != "none" else None, own)
    ref = log_aggregate(z, mu, logvar, owner=torch.as_tensor(owner) if own == "exclude" else None)
    assert jack is None and torch.allclose(est, ref, rtol=0, atol=1e-12)
    per, _ = log_q(z, mix, owner, own, per_dim=True)
    assert torch.allclose(per, log_aggregate(z, mu, logvar, per_dim=True, owner=None), atol=1e-12) or own == "exclude"


def test_the_subsampled_mean_is_unbiased_and_its_se_matches_the_spread_over_fresh_subsamples():
    # One set of 2000 dense codes (4-D, posterior SD 0.3), 100 query points drawn near their codes;
    # 40 fresh subsamples of 200 components each. The bias-corrected mean log q̂ (own component and
    # nearest codes exact, the rest from the subsample) must centre on the exact value, and its SE
    # must describe how it moves from subsample to subsample. Without the nearest codes counted
    # exactly the bias was 0.34 nats, 3.7 times the spread; without the jackknife correction 0.037.
    mu, logvar, g = codes()
    owner = np.arange(0, 2000, 20)
    z = mu[owner] + 0.3 * torch.randn(owner.size, 4, dtype=torch.float64, generator=g)
    exact = log_aggregate(z, mu, logvar).mean().item()
    means, ses = [], []
    for seed in range(40):
        mix = Mixture(mu, logvar, subsample(2000, 200, np.random.default_rng(seed)))
        est, jack = log_q(z, mix, owner, "include")
        mean, se = jackknife_mean(est.numpy(), jack.numpy())
        means.append(mean)
        ses.append(se)
    means = np.array(means)
    assert 1 / 1.5 < means.std(ddof=1) / np.sqrt(np.mean(np.square(ses))) < 1.5
    assert abs(means.mean() - exact) < 3 * means.std(ddof=1) / np.sqrt(40)


def test_prior_hole_mass_of_a_covered_and_a_shifted_prior():
    # Codes whose aggregate posterior is N(shift, I): a prior N(0, I) is covered at shift 0 (about the
    # 1% real codes have by construction) and mostly in holes at shift 3.
    rng = np.random.default_rng(0)
    for shift, low, high in ((0.0, 0.0, 0.03), (3.0, 0.5, 1.0)):
        g = torch.Generator().manual_seed(1)
        mu = shift + math.sqrt(1 - 0.09) * torch.randn(1000, 2, dtype=torch.float64, generator=g)
        logvar = torch.full((1000, 2), math.log(0.09), dtype=torch.float64)
        z = (mu + 0.3 * torch.randn(8, 1000, 2, dtype=torch.float64, generator=g)).reshape(-1, 2)
        h = prior_hole_mass(mu, logvar, z, torch.arange(1000).repeat(8), torch.randn(3000, 2, dtype=torch.float64,
                            generator=g), 1.0, rng)  # fmt: skip
        assert low <= h.mass <= high and 0 < h.stderr < 0.1 and h.replicates.shape == (100,)
        exact_tau = np.percentile(log_aggregate(z, mu, logvar, owner=torch.arange(1000).repeat(8)).numpy(), 1.0)
        assert h.tau == pytest.approx(exact_tau, abs=1e-9)
