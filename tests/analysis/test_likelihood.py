"""log p(x) estimation against known answers: closed form (probabilistic PCA) and direct summation."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from vaelab.config import ModelConfig
from vaelab.nn import build_vae

SIGMA = 0.5


def ppca(exact_posterior: bool, seed: int = 0):
    """A linear-Gaussian VAE: x = W z + b + N(0, SIGMA^2 I), z ~ N(0, I); exact log p(x) is
    log N(x; b, W W^T + SIGMA^2 I). W has orthogonal columns, so the true posterior
    N(M^-1 W^T (x - b), SIGMA^2 M^-1), M = W^T W + SIGMA^2 I, is diagonal and the encoder
    can represent it exactly."""
    torch.manual_seed(seed)
    D, L = 5, 2
    m = build_vae(ModelConfig(input_shape=(D,), latent_dim=L, hidden=(), likelihood="gaussian-fixed", sigma=SIGMA))
    m = m.double()
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    W = Q[:, :L] * np.array([1.5, 0.8])
    b = rng.normal(size=D)
    M_inv = np.diag(1 / (np.diag(W.T @ W) + SIGMA**2))
    A = M_inv @ W.T
    with torch.no_grad():
        m.decoder[0].weight.copy_(torch.from_numpy(W))
        m.decoder[0].bias.copy_(torch.from_numpy(b))
        m.mu_head.weight.copy_(torch.from_numpy(A))
        m.mu_head.bias.copy_(torch.from_numpy(-A @ b))
        m.logvar_head.weight.zero_()
        m.logvar_head.bias.copy_(torch.from_numpy(np.log(SIGMA**2 * np.diag(M_inv))))
        if not exact_posterior:  # a worse q: shifted means, wider than the posterior
            m.mu_head.bias.add_(0.3)
            m.logvar_head.bias.add_(0.5)
    x = torch.from_numpy(rng.multivariate_normal(b, W @ W.T + SIGMA**2 * np.eye(D), size=200))
    exact = multivariate_normal(b, W @ W.T + SIGMA**2 * np.eye(D)).logpdf(x.numpy())
    return m, x, exact


def test_exact_posterior_gives_exact_log_px_for_any_k():
    m, x, exact = ppca(exact_posterior=True)
    torch.manual_seed(1)
    for K in (1, 7, 100):
        out = m.log_likelihood(x, n_samples=K)
        # With q = p(z|x) every weight equals p(x), whatever z was drawn.
        np.testing.assert_allclose(out.log_px.numpy(), exact, atol=1e-8)
        if K > 1:
            assert out.log_px_stderr.max() < 1e-6
    # The ELBO is tight in expectation (its reconstruction term is a Monte Carlo average).
    assert abs(out.elbo.numpy().mean() - exact.mean()) < 0.05


def test_estimate_converges_to_the_closed_form_and_bounds_order():
    m, x, exact = ppca(exact_posterior=False)
    torch.manual_seed(2)
    errors, bounds = [], []
    for K in (1, 10, 100, 2000):
        out = m.log_likelihood(x, n_samples=K, chunk_size=50_000)
        errors.append(float(np.abs(out.log_px.numpy() - exact).mean()))
        bounds.append(float(out.log_px.mean()))
        elbo = out.elbo.numpy()
    # The IWAE bound rises with K towards log p(x), and the ELBO stays below it.
    assert bounds == sorted(bounds)
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.05 * errors[0]
    assert elbo.mean() < exact.mean() - 0.5
    # At K = 2000 the error of each estimate is within a few of its own standard errors.
    z = (out.log_px.numpy() - exact) / out.log_px_stderr.numpy()
    assert np.abs(z).mean() < 2.0
    assert abs(bounds[-1] - exact.mean()) < 4 * math.sqrt((out.log_px_stderr.numpy() ** 2).sum()) / len(exact) + 0.02


def test_standard_error_matches_the_spread_of_repeated_estimates():
    # Holds when q(z|x) is at least as wide as the posterior; a q much narrower gives
    # heavy-tailed weights, and then the delta-method error (like the estimate) runs low.
    m, x, _ = ppca(exact_posterior=False)
    torch.manual_seed(3)
    x1 = x[:1].expand(400, -1)  # one example, 400 independent estimates
    out = m.log_likelihood(x1, n_samples=200)
    spread = float(out.log_px.std())
    reported = float(out.log_px_stderr.mean())
    assert 0.7 < reported / spread < 1.4


def quadrature_log_px(m, x, grid=np.linspace(-9, 9, 36001)):
    """log ∫ p(x|z) p(z) dz by direct summation over a fine 1-D grid (trapezoid weights)."""
    z = torch.from_numpy(grid)[:, None]  # (G, 1)
    with torch.no_grad():
        log_joint = m.likelihood.log_prob(x, m.decode_params(z[:, None, :].expand(-1, x.shape[0], -1))) + m.prior.log_prob(z)[:, None]
    h = grid[1] - grid[0]
    return (torch.logsumexp(log_joint, 0) + math.log(h)).numpy()


@pytest.mark.parametrize("prior", ["normal", "mog"])
def test_bernoulli_with_a_one_dimensional_latent_matches_direct_summation(prior):
    torch.manual_seed(4)
    m = build_vae(ModelConfig(input_shape=(8,), latent_dim=1, hidden=(6,), prior=prior, n_components=3)).double()
    with torch.no_grad():
        for p in m.decoder.parameters():
            p.mul_(3.0)  # a decoder that really depends on z
        if prior == "mog":
            m.prior.means.copy_(torch.tensor([[-2.0], [0.0], [2.5]]))
    x = torch.bernoulli(torch.full((40, 8), 0.5, dtype=torch.float64))
    exact = quadrature_log_px(m, x)
    out = m.log_likelihood(x, n_samples=20000)
    err = out.log_px.numpy() - exact
    z = err / out.log_px_stderr.numpy()
    # Each estimate within its own Monte Carlo error (the worst of 40 within 4.5 SE), and
    # the errors on average of the size the standard errors say.
    assert np.abs(z).max() < 4.5 and np.abs(err).max() < 0.1
    assert np.abs(z).mean() < 2.0
    assert (out.elbo.numpy() < exact + 1e-6).all()


def test_conditional_model_scores_log_p_x_given_y():
    torch.manual_seed(5)
    m = build_vae(ModelConfig(input_shape=(6,), latent_dim=2, hidden=(8,), n_classes=3))
    x = torch.bernoulli(torch.full((10, 6), 0.5))
    a = m.log_likelihood(x, torch.zeros(10, dtype=torch.long), n_samples=50)
    b = m.log_likelihood(x, torch.full((10,), 2, dtype=torch.long), n_samples=50)
    assert a.log_px.shape == (10,) and not torch.allclose(a.log_px, b.log_px)


def test_chunk_size_changes_memory_not_the_answer():
    m, x, exact = ppca(exact_posterior=False)
    torch.manual_seed(6)
    small = m.log_likelihood(x, n_samples=1000, chunk_size=1000)  # 5 draws per pass
    large = m.log_likelihood(x, n_samples=1000, chunk_size=10**6)  # all draws in one pass
    se = np.sqrt(small.log_px_stderr.numpy() ** 2 + large.log_px_stderr.numpy() ** 2)
    assert np.abs((small.log_px - large.log_px).numpy() / se).mean() < 2.0


# ------------------------------------------------------------ issue 15, item 1: position independence
@pytest.fixture(scope="module")
def grey_bernoulli(digits):
    """A Bernoulli model of the grey digits, scored on binarizations of them."""
    from tests.conftest import FAST
    import vaelab

    X, _ = digits
    return vaelab.VAE(**{**FAST, "latent_dim": 4, "hidden": [32], "epochs": 5}).fit(X[:250]), X


def test_an_example_scored_alone_gets_its_score_within_a_batch(grey_bernoulli):
    """Before: the binarization a row got depended on its row index, so scoring image i alone instead of
    inside X[:50] moved log p(x) by several nats (the SE said 0.4). Now every draw made for an example
    comes from its own content-seeded stream: alone, in a batch, shuffled, the same number."""
    vae, X = grey_bernoulli
    batch = X[250:300]
    whole = vae.log_likelihood(batch, n_samples=50)
    alone = np.array([vae.log_likelihood(batch[i : i + 1], n_samples=50).log_px[0] for i in range(0, 50, 7)])
    np.testing.assert_allclose(alone, whole.log_px[::7], atol=1e-4)
    order = np.random.default_rng(0).permutation(50)
    np.testing.assert_allclose(vae.log_likelihood(batch[order], n_samples=50).log_px, whole.log_px[order], atol=1e-4)
    # The per-example ELBO (scikit-learn's score_samples) too.
    np.testing.assert_allclose(vae.score_samples(batch[order]), vae.score_samples(batch)[order], atol=1e-4)


def test_the_standard_error_of_a_grey_example_covers_other_binarizations(grey_bernoulli):
    """The estimand is E_b log p(b) over binarizations b of a grey image: the reported SE holds the spread
    between binarizations, so estimates with other binarization seeds agree within it (z-scores ~ N(0, 1))."""
    vae, X = grey_bernoulli
    batch = X[250:290]
    a = vae.log_likelihood(batch, n_samples=50, binarizations=8)
    assert a.binarizations == 8
    mc_only = vae.log_likelihood(batch, n_samples=50, binarizations=1)
    # One binarization's estimate spreads (SE * sqrt(J)) far more than its Monte Carlo error says.
    assert np.median(a.log_px_stderr * np.sqrt(8)) > 3 * np.median(mc_only.log_px_stderr)
    vae.set_params(seed=vae.seed + 100)  # other binarizations and other z draws
    try:
        b = vae.log_likelihood(batch, n_samples=50, binarizations=8)
    finally:
        vae.set_params(seed=vae.seed - 100)
    z = (a.log_px - b.log_px) / np.sqrt(a.log_px_stderr**2 + b.log_px_stderr**2)
    assert np.mean(np.abs(z) < 2) > 0.85
    # With one binarization the SE is the Monte Carlo part alone, which other binarizations do not respect.
    vae.set_params(seed=vae.seed + 100)
    try:
        c = vae.log_likelihood(batch, n_samples=50, binarizations=1)
    finally:
        vae.set_params(seed=vae.seed - 100)
    z1 = (mc_only.log_px - c.log_px) / np.sqrt(mc_only.log_px_stderr**2 + c.log_px_stderr**2)
    assert np.mean(np.abs(z1) < 2) < 0.5


def test_binary_examples_are_scored_once(grey_bernoulli):
    vae, X = grey_bernoulli
    binary = (X[250:270] > 0.5).astype(np.float32)
    res = vae.log_likelihood(binary, n_samples=30, binarizations=4)
    assert res.binarizations == 1  # binarizing a binary image changes nothing: no spread to average
    one = vae.log_likelihood(binary, n_samples=30, binarizations=1)
    np.testing.assert_array_equal(res.log_px, one.log_px)


def test_binary_examples_of_a_mixed_file_keep_their_effective_sample_size(grey_bernoulli):
    """A file of grey and binary examples scored with J = 4 binarizations: the grey ones' SE holds the spread
    between binarizations (ESS NaN), but the binary ones are scored once, their SE the Monte Carlo part alone, so
    their ESS is known and score's few-draws warning must see it (it was NaN for every row: an audit)."""
    vae, X = grey_bernoulli
    grey = X[250:260]
    binary = (X[260:270] > 0.5).astype(np.float32)
    mixed = vae.log_likelihood(np.concatenate([grey, binary]), n_samples=30, binarizations=4)
    assert mixed.binarizations == 4
    ess = mixed.effective_sample_size()
    assert np.isnan(ess[:10]).all()
    alone = vae.log_likelihood(binary, n_samples=30, binarizations=4).effective_sample_size()
    assert np.isfinite(alone).all()
    np.testing.assert_allclose(ess[10:], alone, rtol=1e-6)
    # A change of units keeps which examples were averaged.
    np.testing.assert_array_equal(np.isnan(mixed.shifted(np.zeros(20), "x").effective_sample_size()), np.isnan(ess))


# ------------------------------------------------------------ issue 15, item 2: densities on [0, 1]
def test_a_bernoulli_on_grey_values_is_not_called_a_density(digits):
    from tests.conftest import FAST
    import vaelab

    X, _ = digits
    vae = vaelab.VAE(**FAST, likelihood="bernoulli", binarize="none").fit(X[:200])
    res = vae.log_likelihood(X[200:230], n_samples=5)
    assert not res.normalized and np.isnan(res.bits_per_dim).all() and res.summary()["bits_per_dim"] is None
    cb = vaelab.VAE(**FAST, likelihood="continuous-bernoulli").fit(X[:200])
    res = cb.log_likelihood(X[200:230], n_samples=5)
    assert res.normalized and np.isfinite(res.bits_per_dim).all() and res.binarizations == 1
    # Values outside [0, 1], which training refuses, were scored as well: a "cross-entropy" of x = 2 under a
    # Bernoulli, a finite log-density where the continuous Bernoulli's is 0 (an audit). Refused, saying what came.
    from vaelab.errors import DataError

    for model in (vae, cb):
        with pytest.raises(DataError, match=r"must lie in \[0, 1\]; it holds values from 0 to 2"):
            model.log_likelihood(np.clip(X[200:210] * 2, 0, 2), n_samples=5)


def test_examples_with_no_neighbour_of_their_group_take_their_standard_error_over_examples():
    """An audit: a split can keep one window per series of a file whose windows overlap (serial set, lag 9); its
    NLL's SE was still called "over overlapping windows (autocovariances to lag 9)", though no covariance could
    enter, and took the long-run variance's n in place of the SD's n - 1."""
    from vaelab.analysis.likelihood import LikelihoodResult

    v = -np.random.default_rng(0).gamma(2.0, 3.0, size=6)
    result = LikelihoodResult(v, np.zeros_like(v), v - 1, v - 2, np.ones_like(v), n_samples=10, n_features=4,
                              serial=(np.arange(6), 9))  # fmt: skip
    summary = result.summary()
    assert summary["nll_stderr_method"] == "over examples"
    assert summary["nll_stderr"] == pytest.approx(v.std(ddof=1) / np.sqrt(6))
    from vaelab.analysis.likelihood import overlapping

    assert not overlapping(None) and not overlapping((np.array([0, 0, 1]), 0))
    together = LikelihoodResult(v, np.zeros_like(v), v - 1, v - 2, np.ones_like(v), n_samples=10, n_features=4,
                                serial=(np.array([0, 0, 0, 1, 1, 1]), 9))  # fmt: skip
    assert together.summary()["nll_stderr_method"] == ("over overlapping windows (Bartlett weights to lag 9, scaled "
                                                       "to Kiefer & Vogelsang's fixed-b 95% interval)")


def test_the_mean_nll_of_few_overlapping_windows_has_a_fixed_b_standard_error():
    """An audit (s14): the mean NLL's (and train's test ELBO's) SE over a series run's overlapping windows was the
    truncated kernel's (serial_stderr), far too small on few windows: on 31 windows of 16 steps of one persistent
    series, about half of the ± 1.96 SE intervals held the true mean. It is now the fixed-b SE the forecaster's
    verdict takes (overlap_stderr), and the summary says where the windows are too few for a firm interval."""
    from vaelab.analysis.likelihood import LikelihoodResult, serial_stderr
    from vaelab.analysis.synthetic_series import overlap_stderr
    from vaelab.runtime import Z95

    rng = np.random.default_rng(0)
    T, n, reps, phi = 16, 31, 400, 0.5
    e = rng.standard_normal((reps, n + T - 1 + 50))
    x = np.zeros_like(e)
    for t in range(1, e.shape[1]):  # an AR(1) series, stationary after a burn-in of 50 steps
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    steps = np.cumsum(np.pad(x[:, 50:], ((0, 0), (1, 0))), axis=1)
    nll = 10 + (steps[:, T:] - steps[:, :-T]) / T  # a score per window: its steps' mean, true mean 10
    groups = np.zeros(n, dtype=np.int64)
    old = new = 0
    for v in nll:
        result = LikelihoodResult(-v, np.zeros_like(v), -v, -v, np.zeros_like(v), n_samples=10, n_features=4,
                                  serial=(groups, T - 1))  # fmt: skip
        summary = result.summary()
        new += abs(summary["nll"] - 10) <= Z95 * summary["nll_stderr"]
        old += abs(v.mean() - 10) <= Z95 * serial_stderr(v, groups, T - 1)
    assert old / reps < 0.6 and new / reps > 0.7  # 47% and 78% (95% nominal; fixed-b is firmer with more windows)
    assert summary["nll_stderr"] == overlap_stderr(v, groups, T - 1)  # the forecaster's verdict's SE
    assert "fixed-b" in summary["nll_stderr_method"]
    # 31 windows, each sharing steps with 15 either side: fewer than 4 x 16, said
    assert summary["nll_stderr_approximate"].startswith("the interval is approximate: the 31 scored windows")
    many = np.tile(nll[0], 3)  # 93 windows: enough, no caveat
    assert "nll_stderr_approximate" not in LikelihoodResult(-many, np.zeros_like(many), -many, -many,
                                                            np.zeros_like(many), n_samples=10, n_features=4,
                                                            serial=(np.zeros(93, dtype=int), T - 1)).summary()


def test_one_importance_sample_averaged_over_binarizations_has_the_spread_between_them_as_its_se(grey_bernoulli):
    """K = 1 has no Monte Carlo SE of its own, but J binarizations give J independent estimates of each grey example,
    whose spread is its SE; it was NaN (the unmeasurable floor propagated) and score said "not measurable from K = 1
    draw per example" (an audit, s12 g). A binary example, scored once, still has none."""
    vae, X = grey_bernoulli
    batch = np.r_[X[250:270], (X[270:272] > 0.5).astype(np.float32)]
    res = vae.log_likelihood(batch, n_samples=1, binarizations=8)
    assert np.isfinite(res.log_px_stderr[:20]).all() and (res.log_px_stderr[:20] > 0).all()
    assert np.isnan(res.log_px_stderr[20:]).all()
    vae.set_params(seed=vae.seed + 100)  # other binarizations and z draws: within the SE
    try:
        other = vae.log_likelihood(batch[:20], n_samples=1, binarizations=8)
    finally:
        vae.set_params(seed=vae.seed - 100)
    z = (res.log_px[:20] - other.log_px) / np.hypot(res.log_px_stderr[:20], other.log_px_stderr)
    assert np.mean(np.abs(z) < 2.5) > 0.8
    assert np.isfinite(vae.log_likelihood(batch[:20], n_samples=1, binarizations=8).summary()["nll_mc_stderr"])
