"""Latent samplers on small cases with known answers."""
import json

import numpy as np
import pytest
import torch

import vaelab
from vaelab.analysis.samplers import (
    SAMPLERS,
    PosteriorSampler,
    decode,
    generate,
    make_sampler,
    posterior_codes,
)
from vaelab.errors import ConfigError, DataError, NotFittedError

SMALL = dict(latent_dim=2, hidden=[16], epochs=2, device="cpu")
FAST_FLOW = dict(max_steps=40, hidden_features=(16, 16), transforms=2)  # shapes and seeds only


@pytest.fixture(scope="module")
def data(digits):
    return digits  # (300, 64) in [0, 1], labels 0-9


@pytest.fixture(scope="module")
def model(data):
    return vaelab.VAE(**SMALL).fit(data[0])


@pytest.fixture(scope="module")
def conditional(data):
    X, y = data
    return vaelab.VAE(**SMALL, conditional=True).fit(X, y)


def fitted(name, model, X):
    options = {"posterior": dict(X=X[:2]), "aggregate-flow": FAST_FLOW}.get(name, {})
    sampler = make_sampler(name, **options)
    return sampler.fit(model, posterior_codes(model, X[:200]), posterior_codes(model, X[200:]))


def ring(rng, n):
    """Codes on a circle of radius 2 with SD 0.1 across it: as far from one Gaussian as 2-D gets."""
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = 2 + 0.1 * rng.standard_normal(n)
    return np.c_[radius * np.cos(angle), radius * np.sin(angle)]


@pytest.mark.parametrize("name", SAMPLERS)
def test_each_sampler_gives_seeded_float32_draws(name, model, data):
    sampler = fitted(name, model, data[0])
    z = sampler.sample(7, seed=3)
    assert z.shape == (7, 2) and z.dtype == np.float32 and np.isfinite(z).all()
    np.testing.assert_array_equal(z, sampler.sample(7, seed=3))
    assert not np.allclose(z, sampler.sample(7, seed=4))
    log_p = sampler.log_prob(z)
    if name == "posterior":
        assert log_p is None
    else:
        assert log_p.shape == (7,) and np.isfinite(log_p).all()
    summary = json.loads(json.dumps(sampler.to_dict()))
    assert summary["name"] == name and summary["latent_dim"] == 2
    x = generate(model, sampler, 5, seed=1)
    assert x.shape == (5, 64) and np.isfinite(x).all()


def test_gmm_finds_the_three_components_of_a_separated_mixture_by_validation_bic():
    rng = np.random.default_rng(0)
    means = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 6.0, 3.0]])
    scales = np.diag([1.0, 0.5, 0.8])

    def draw(n):
        return means[rng.integers(0, 3, n)] + rng.standard_normal((n, 3)) @ scales

    train, val = draw(600), draw(300)
    gmm = make_sampler("aggregate-gmm").fit(None, train, val)
    assert gmm.n_components_ == 3
    summary = gmm.to_dict()
    assert summary["n_components"] == 3 and summary["validation"] == "given"
    assert min(summary["bic_validation"], key=summary["bic_validation"].get) == "3"
    assert summary["candidates_tried"][:3] == [1, 2, 3]  # larger ones may be skipped once BIC rises

    z = gmm.sample(20000, seed=0).astype(np.float64)
    np.testing.assert_allclose(z.mean(0), train.mean(0), atol=0.1)
    np.testing.assert_allclose(np.cov(z.T), np.cov(train.T), atol=0.25)  # entries of size 1-9


def test_flow_captures_a_ring_a_single_gaussian_cannot():
    rng = np.random.default_rng(1)
    train, val = ring(rng, 800), ring(rng, 400)
    flow = make_sampler("aggregate-flow", max_steps=150, hidden_features=(32, 32)).fit(None, train, val)

    # A single full-covariance Gaussian: the maximum-likelihood fit, scored on the same validation codes.
    mean, cov = train.mean(0), np.cov(train.T, bias=True)
    gauss = torch.distributions.MultivariateNormal(torch.tensor(mean), torch.tensor(cov))
    gauss_ll = gauss.log_prob(torch.tensor(val)).mean().item()
    flow_ll = flow.log_prob(val).mean()
    assert flow_ll > gauss_ll + 1.0  # known: ≈ -1.7 vs -3.5 nats
    assert flow.to_dict()["val_log_likelihood"] == pytest.approx(flow_ll, abs=1e-3)
    assert 1 <= flow.to_dict()["best_step"] <= 150

    radius = np.hypot(*flow.sample(2000, seed=0).T)
    assert abs(np.median(radius) - 2.0) < 0.1 and np.mean(np.abs(radius - 2) < 0.5) > 0.9


def test_posterior_draws_for_one_input_follow_its_q(model, data):
    x = data[0][5]  # one example, no batch axis
    with torch.no_grad():
        mu, logvar = model.module_.encode_params(torch.from_numpy(x[None]))
    mu, sd = mu[0].double().numpy(), torch.exp(0.5 * logvar[0]).double().numpy()
    sampler = make_sampler("posterior", X=x).fit(model)
    assert sampler.to_dict()["n_inputs"] == 1
    z = sampler.sample(4000, seed=0).astype(np.float64)
    assert np.all(np.abs(z.mean(0) - mu) < 4 * sd / np.sqrt(4000))
    np.testing.assert_allclose(z.std(0), sd, rtol=0.05)


def test_posterior_draws_cycle_over_several_inputs(model, data):
    sampler = PosteriorSampler(data[0][:3]).fit(model)
    z = sampler.sample(3000, seed=0)
    for k in range(3):  # draw i comes from input i mod 3
        np.testing.assert_allclose(z[k::3].mean(0), sampler.mu_[k], atol=4 * sampler.sd_[k].max() / np.sqrt(1000))
    assert sampler.to_dict()["n_inputs"] == 3


def test_prior_sampler_matches_a_mog_priors_moments(data):
    model = vaelab.VAE(**SMALL, prior="mog", n_components=3).fit(data[0])
    sampler = make_sampler("prior").fit(model)
    with torch.no_grad():
        means, logvars, log_w = (t.double().numpy() for t in model.module_.prior.mixture())
    w = np.exp(log_w)[:, None]
    mean = (w * means).sum(0)
    var = (w * (np.exp(logvars) + means**2)).sum(0) - mean**2
    z = sampler.sample(20000, seed=0).astype(np.float64)
    np.testing.assert_allclose(z.mean(0), mean, atol=4 * np.sqrt(var.max() / 20000))
    np.testing.assert_allclose(z.var(0), var, rtol=0.05)
    with torch.no_grad():
        expected = model.module_.prior.log_prob(torch.from_numpy(z[:50]).float()).double().numpy()
    np.testing.assert_allclose(sampler.log_prob(z[:50]), expected, rtol=1e-5)
    assert sampler.to_dict()["prior"] == "MixtureOfGaussians"


def test_decode_gives_the_mean_or_a_seeded_draw(model):
    z = np.random.default_rng(0).standard_normal((6, 2)).astype(np.float32)
    np.testing.assert_array_equal(decode(model, z), model.inverse_transform(z))
    draw = decode(model, z, mean=False, seed=2)
    assert draw.shape == (6, 64) and set(np.unique(draw)) <= {0.0, 1.0}  # Bernoulli pixels
    np.testing.assert_array_equal(draw, decode(model, z, mean=False, seed=2))
    assert not np.array_equal(draw, decode(model, z, mean=False, seed=3))
    # The prior sampler draws the z that VAE.sample decodes.
    prior = make_sampler("prior").fit(model)
    np.testing.assert_allclose(generate(model, prior, 5, seed=4), model.sample(5, seed=4))
    with pytest.raises(DataError, match="not conditional"):
        decode(model, z, y=1)


def test_conditional_generation_needs_y_and_follows_it(conditional, data):
    X, y = data
    codes = posterior_codes(conditional, X[:200], y[:200])
    for sampler in (make_sampler("prior").fit(conditional), make_sampler("aggregate-gmm").fit(conditional, codes)):
        with pytest.raises(DataError, match="conditional: pass y"):
            generate(conditional, sampler, 4)
        threes = generate(conditional, sampler, 4, y=3, seed=0)
        sevens = generate(conditional, sampler, 4, y=7, seed=0)
        assert threes.shape == (4, 64) and not np.allclose(threes, sevens)
        mixed = generate(conditional, sampler, 4, y=[3, 7, 3, 7], seed=0)
        np.testing.assert_allclose(mixed[::2], threes[::2], rtol=1e-5)
    # "More like this one": the posterior sampler decodes with its inputs' own labels by default.
    post = make_sampler("posterior", X=X[:2], y=y[:2]).fit(conditional)
    np.testing.assert_allclose(generate(conditional, post, 4), generate(conditional, post, 4, y=np.tile(y[:2], 2)))


def test_bad_names_options_and_calls_are_explained(model, data):
    with pytest.raises(ConfigError, match="'prior', 'posterior', 'aggregate-gmm', 'aggregate-flow'; got 'flowy'"):
        make_sampler("flowy")
    with pytest.raises(ConfigError, match=r"no option\(s\) \['n_steps'\].*max_steps"):
        make_sampler("aggregate-flow", n_steps=10)
    with pytest.raises(ConfigError, match="needs X="):
        make_sampler("posterior")
    with pytest.raises(NotFittedError, match="not fitted"):
        make_sampler("aggregate-gmm").sample(3)
    with pytest.raises(DataError, match="codes_train=posterior_codes"):
        make_sampler("aggregate-gmm").fit(model)
    with pytest.raises(DataError, match=r"shape \(n, 2\)"):
        make_sampler("aggregate-gmm").fit(model, np.zeros((50, 3)))
    with pytest.raises(ConfigError, match="candidates"):
        make_sampler("aggregate-gmm", candidates=(0, 2)).fit(None, np.zeros((50, 2)))
    with pytest.raises(ConfigError, match="n must be a positive integer"):
        make_sampler("prior").fit(model).sample(0)
    # Without codes_val, a seeded fifth of codes_train is held out for validation.
    gmm = make_sampler("aggregate-gmm").fit(model, posterior_codes(model, data[0]))
    assert (gmm.n_train_, gmm.n_val_) == (240, 60) and "held out" in gmm.to_dict()["validation"]
