"""The VAE module: shapes for every variant, and the ELBO / IWAE against exact answers.

The exact answers come from a linear-Gaussian VAE (hidden=(), gaussian-fixed likelihood,
normal prior), where p(x) = N(x; b, W W^T + sigma^2 I) and, for W with orthogonal
columns, the true posterior is a diagonal Gaussian the encoder can represent exactly.
"""
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import distributions as D
from torch import nn

from vaelab.config import ModelConfig
from vaelab.errors import ConfigError
from vaelab.nn import Loss, VAEModule, build_vae
from vaelab.nn.priors import MixtureOfGaussians, StandardNormal, VampPrior

LATENT = 2
SHAPES = {"mlp": (6,), "conv": (1, 6, 5)}


def _data(shape, likelihood, n=4):
    x = torch.rand(n, *shape)
    return torch.bernoulli(x) if likelihood == "bernoulli" else x


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "gaussian-fixed"])
@pytest.mark.parametrize("prior", ["normal", "mog", "vamp"])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_output_shapes(arch, prior, likelihood):
    torch.manual_seed(0)
    shape = SHAPES[arch]
    cfg = ModelConfig(
        input_shape=shape, latent_dim=LATENT, arch=arch, hidden=(8,), likelihood=likelihood, prior=prior,
        n_components=2,
    )
    module = build_vae(cfg)
    assert isinstance(module, VAEModule)
    n = 4
    x = _data(shape, likelihood, n)

    mu, logvar = module.encode_params(x)
    assert mu.shape == (n, LATENT) and logvar.shape == (n, LATENT)
    qz = module.encode(x)
    assert isinstance(qz, D.Normal) and qz.batch_shape == (n, LATENT)
    torch.testing.assert_close(qz.mean, mu)
    torch.testing.assert_close(qz.stddev, torch.exp(0.5 * logvar))

    z = qz.rsample()
    assert module.decode_params(z).shape == (n, *shape)
    assert module.decode_params(torch.randn(3, n, LATENT)).shape == (3, n, *shape)
    px_z = module.decode(z)
    assert px_z.batch_shape == (n,) and px_z.event_shape == shape
    assert module.decode(torch.randn(3, n, LATENT)).batch_shape == (3, n)

    for value in (module.elbo(x), module.elbo(x, n_samples=3), module.iwae(x, n_samples=4)):
        assert value.shape == (n,) and torch.isfinite(value).all()

    for out in (module.loss(x), module.loss(x, beta=0.5), module.loss(x, iw_samples=3)):
        assert isinstance(out, Loss)
        assert all(t.shape == () and torch.isfinite(t) for t in out)

    for mean in (True, False):
        xs = module.sample(5, mean=mean)
        assert xs.shape == (5, *shape) and not xs.requires_grad
    if likelihood == "bernoulli":
        m = module.sample(5)
        assert ((m >= 0) & (m <= 1)).all()
        b = module.sample(5, mean=False)
        assert ((b == 0) | (b == 1)).all()

    # every parameter gets a gradient from the training loss
    module.loss(x).loss.backward()
    missing = [name for name, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize(
    "prior, cls", [("normal", StandardNormal), ("mog", MixtureOfGaussians), ("vamp", VampPrior)]
)
def test_build_picks_prior(prior, cls):
    torch.manual_seed(1)
    module = build_vae(ModelConfig(input_shape=(1, 4, 4), arch="conv", hidden=(), prior=prior, latent_dim=3))
    assert isinstance(module.prior, cls)
    if prior == "vamp":
        assert module.prior.pseudo_inputs.shape == (10, 1, 4, 4)  # default n_components
        assert module.prior.log_prob(torch.randn(5, 3)).shape == (5,)


# ---------------------------------------------------------- linear maps
def _linear_gaussian(d=4, latent=2, sigma=0.5, seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(
        input_shape=(d,), latent_dim=latent, hidden=(), likelihood="gaussian-fixed", sigma=sigma, prior="normal"
    )
    return build_vae(cfg).double()


def test_hidden_empty_gives_affine_decoder_and_encoder():
    module = _linear_gaussian(d=5, latent=3, seed=2)
    assert not any(isinstance(m, nn.ReLU) for m in module.modules())
    z, z2 = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    mean = lambda z: module.decode(z).mean  # noqa: E731
    torch.testing.assert_close(mean((z + z2) / 2), (mean(z) + mean(z2)) / 2)
    torch.testing.assert_close(mean(3 * z - 2 * z2), 3 * mean(z) - 2 * mean(z2))  # affine combination
    x, x2 = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    for a, b, c in zip(module.encode_params(x), module.encode_params(x2), module.encode_params((x + x2) / 2)):
        torch.testing.assert_close(c, (a + b) / 2)


def test_hidden_layers_break_midpoint_linearity():
    # the check above can fail: a ReLU network is not affine
    torch.manual_seed(3)
    module = build_vae(ModelConfig(input_shape=(5,), latent_dim=3, hidden=(16,), likelihood="gaussian")).double()
    z, z2 = 3 * torch.randn(8, 3, dtype=torch.float64), 3 * torch.randn(8, 3, dtype=torch.float64)
    mean = lambda z: module.decode(z).mean  # noqa: E731
    assert (mean((z + z2) / 2) - (mean(z) + mean(z2)) / 2).abs().max() > 1e-3


def _set_linear_model(module, sigma, exact_posterior=True, seed=0):
    """Give the linear model orthogonal decoder columns and (optionally) the exact posterior.

    Returns (W, b, Sigma_diag). Decoder: x = W z + b + sigma eps. Posterior:
    Sigma = (I + W^T W / sigma^2)^-1 (diagonal), mean = Sigma W^T (x - b) / sigma^2.
    """
    g = torch.Generator().manual_seed(seed)
    d, latent = module.shape[0], module.latent_dim
    q, _ = torch.linalg.qr(torch.randn(d, latent, generator=g, dtype=torch.float64))
    W = q * torch.tensor([1.5, 0.7], dtype=torch.float64)[:latent]
    b = torch.randn(d, generator=g, dtype=torch.float64)
    sigma_diag = 1.0 / (1.0 + (W**2).sum(0) / sigma**2)
    A = sigma_diag[:, None] * W.T / sigma**2
    with torch.no_grad():
        lin = module.decoder[0]
        lin.weight.copy_(W)
        lin.bias.copy_(b)
        if exact_posterior:
            module.mu_head.weight.copy_(A)
            module.mu_head.bias.copy_(-A @ b)
            module.logvar_head.weight.zero_()
            module.logvar_head.bias.copy_(torch.log(sigma_diag))
        else:  # a deliberately poor but fixed encoder
            module.mu_head.weight.copy_(0.5 * A)
            module.mu_head.bias.copy_(-0.5 * A @ b + 0.3)
            module.logvar_head.weight.zero_()
            module.logvar_head.bias.copy_(torch.log(sigma_diag) + 0.8)
    return W, b, sigma_diag


def _log_px(x, W, b, sigma):
    cov = (W @ W.T).numpy() + sigma**2 * np.eye(W.shape[0])
    return stats.multivariate_normal(b.numpy(), cov).logpdf(x.numpy())


def _exact_elbo(module, x, W, b, sigma):
    """Closed-form ELBO of the linear-Gaussian model for the module's (linear) encoder."""
    mu, logvar = module.encode_params(x)
    resid = x - mu @ W.T - b
    expected_sq = (resid**2).sum(-1) + (torch.exp(logvar) * (W**2).sum(0)).sum(-1)
    d = x.shape[-1]
    rec = -0.5 * d * math.log(2 * math.pi * sigma**2) - expected_sq / (2 * sigma**2)
    kl = 0.5 * (mu**2 + torch.exp(logvar) - 1 - logvar).sum(-1)
    return (rec - kl).detach()


def test_iwae_and_elbo_equal_log_px_under_exact_posterior():
    sigma = 0.5
    module = _linear_gaussian(sigma=sigma, seed=4)
    W, b, _ = _set_linear_model(module, sigma)
    torch.manual_seed(5)
    x = torch.randn(6, 4, dtype=torch.float64) * 2
    log_px = _log_px(x, W, b, sigma)
    # With q = p(z|x), every importance weight is p(x): log w is the same for every z.
    # (rtol 1e-7: GaussianFixed keeps log sigma^2 in float32 even in a float64 model.)
    log_w, rec, kl = module.log_weights(x, n_samples=7)
    assert log_w.shape == rec.shape == kl.shape == (7, 6)
    np.testing.assert_allclose(log_w.detach().numpy(), np.broadcast_to(log_px, (7, 6)), rtol=1e-7)
    assert rec.std(0).min() > 1e-3  # the parts vary with z; only their sum is constant
    for k in (1, 3, 50):
        np.testing.assert_allclose(module.iwae(x, n_samples=k).detach().numpy(), log_px, rtol=1e-7)
    # the ELBO's closed form equals log p(x) too, and the MC estimate's mean approaches it
    np.testing.assert_allclose(_exact_elbo(module, x, W, b, sigma).numpy(), log_px, rtol=1e-9)
    m = 4000
    est = module.elbo(x.repeat(m, 1)).detach().reshape(m, 6)
    mc, se = est.mean(0).numpy(), est.std(0).numpy() / math.sqrt(m)
    np.testing.assert_array_less(np.abs(mc - log_px), 4 * se + 1e-9)
    # elbo(n_samples=S) averages S draws: its spread shrinks
    est_many = module.elbo(x.repeat(500, 1), n_samples=16).detach().reshape(500, 6)
    assert (est_many.std(0) < est.std(0) / 2).all()


def test_iwae_is_at_least_elbo_and_rises_with_k():
    sigma = 0.5
    module = _linear_gaussian(sigma=sigma, seed=6)
    W, b, _ = _set_linear_model(module, sigma, exact_posterior=False)
    torch.manual_seed(7)
    x = torch.randn(3, 4, dtype=torch.float64) * 2
    log_px = torch.as_tensor(_log_px(x, W, b, sigma))
    elbo = _exact_elbo(module, x, W, b, sigma)
    assert (log_px - elbo > 0.5).all()  # the encoder is poor enough to leave a visible gap
    m = 2000
    xs = x.repeat(m, 1)
    means, ses = [], []
    with torch.no_grad():
        for k in (1, 5, 50):
            est = module.iwae(xs, n_samples=k).reshape(m, 3)
            means.append(est.mean(0))
            ses.append(est.std(0) / math.sqrt(m))
    # IWAE-1 is the ELBO in expectation
    assert ((means[0] - elbo).abs() < 4 * ses[0]).all(), (means[0], elbo, ses[0])
    # ELBO <= IWAE-5 <= IWAE-50 <= log p(x), each gap well beyond the MC error
    for lo, hi, se_lo, se_hi in zip(means, means[1:], ses, ses[1:]):
        assert (hi - lo > 4 * torch.sqrt(se_lo**2 + se_hi**2)).all(), (lo, hi)
    assert (means[-1] < log_px + 4 * ses[-1]).all()
    assert (means[1] < log_px).all()


def test_iwae_k1_equals_elbo_in_expectation_nonlinear_model():
    torch.manual_seed(8)
    module = build_vae(ModelConfig(input_shape=(6,), latent_dim=2, hidden=(16,))).double()
    x = torch.bernoulli(torch.full((3, 6), 0.5, dtype=torch.float64))
    m = 5000
    with torch.no_grad():
        elbo = module.elbo(x.repeat(m, 1)).reshape(m, 3)
        iw1 = module.iwae(x.repeat(m, 1), n_samples=1).reshape(m, 3)
        iw10 = module.iwae(x.repeat(m, 1), n_samples=10).reshape(m, 3)
    se = torch.sqrt(elbo.var(0) / m + iw1.var(0) / m)
    assert ((elbo.mean(0) - iw1.mean(0)).abs() < 4 * se).all()
    se10 = torch.sqrt(iw10.var(0) / m + iw1.var(0) / m)
    assert (iw10.mean(0) - iw1.mean(0) > 4 * se10).all()


@pytest.mark.parametrize("prior", ["mog", "vamp"])
def test_elbo_with_monte_carlo_kl_is_the_k1_log_weight(prior):
    # With no closed-form KL, one ELBO draw is log p(x|z) + log p(z) - log q(z|x): IWAE-1 at the same z.
    cfg = ModelConfig(input_shape=(6,), latent_dim=2, hidden=(8,), prior=prior, n_components=3)
    torch.manual_seed(9)
    module = build_vae(cfg).double()
    x = torch.bernoulli(torch.full((5, 6), 0.5, dtype=torch.float64))
    torch.manual_seed(10)
    elbo = module.elbo(x)
    torch.manual_seed(10)
    iw1 = module.iwae(x, n_samples=1)
    torch.testing.assert_close(elbo, iw1)


# -------------------------------------------------------------------- loss
@pytest.mark.parametrize("prior", ["normal", "mog"])
def test_loss_parts_and_beta(prior):
    torch.manual_seed(11)
    module = build_vae(ModelConfig(input_shape=(6,), latent_dim=2, hidden=(8,), prior=prior)).double()
    x = torch.bernoulli(torch.full((5, 6), 0.5, dtype=torch.float64))
    out0 = module.loss(x, beta=0.0)
    torch.testing.assert_close(out0.loss, -out0.reconstruction)
    assert out0.kl > 0  # the KL is still reported
    for beta in (1.0, 2.5):
        out = module.loss(x, beta=beta)
        torch.testing.assert_close(out.loss, -(out.reconstruction - beta * out.kl))
    # beta=1, one sample: the loss is minus the mean ELBO at the same draw
    torch.manual_seed(12)
    out = module.loss(x)
    torch.manual_seed(12)
    torch.testing.assert_close(out.loss, -module.elbo(x).mean())


def test_loss_with_iw_samples_is_minus_iwae():
    torch.manual_seed(13)
    module = build_vae(ModelConfig(input_shape=(6,), latent_dim=2, hidden=(8,))).double()
    x = torch.bernoulli(torch.full((5, 6), 0.5, dtype=torch.float64))
    torch.manual_seed(14)
    out = module.loss(x, iw_samples=4)
    torch.manual_seed(14)
    torch.testing.assert_close(out.loss, -module.iwae(x, n_samples=4).mean())
    # beta=0 inside the weights: log w = log p(x|z), the bound is log mean_k p(x|z_k)
    torch.manual_seed(15)
    out0 = module.loss(x, beta=0.0, iw_samples=4)
    torch.manual_seed(15)
    _, rec, _ = module.log_weights(x, n_samples=4)
    torch.testing.assert_close(out0.loss, -(torch.logsumexp(rec, 0) - math.log(4)).mean())


# ------------------------------------------------------------- conditional
def _conditional(seed=16):
    torch.manual_seed(seed)
    return build_vae(ModelConfig(input_shape=(6,), latent_dim=2, hidden=(8,), n_classes=3)).double()


def test_conditional_outputs_depend_on_label():
    module = _conditional()
    x = torch.rand(4, 6, dtype=torch.float64)
    z = torch.randn(4, 2, dtype=torch.float64)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    assert (module.encode_params(x, y0)[0] - module.encode_params(x, y1)[0]).abs().max() > 1e-4
    assert (module.decode_params(z, y0) - module.decode_params(z, y1)).abs().max() > 1e-4
    # integer codes and one-hot rows mean the same thing
    y = torch.tensor([0, 2, 1, 2])
    onehot = nn.functional.one_hot(y, 3).double()
    torch.testing.assert_close(module.decode_params(z, y), module.decode_params(z, onehot))
    torch.testing.assert_close(module.encode_params(x, y)[0], module.encode_params(x, onehot)[0])
    # with a sample dimension each draw is decoded with its own example's label
    zs = torch.randn(3, 4, 2, dtype=torch.float64)
    out = module.decode_params(zs, y)
    assert out.shape == (3, 4, 6)
    for s in range(3):
        torch.testing.assert_close(out[s], module.decode_params(zs[s], y))
    # the objectives and sampling take labels
    assert module.elbo(x, y).shape == (4,) and module.iwae(x, y, n_samples=3).shape == (4,)
    assert torch.isfinite(module.loss(x, y).loss)
    assert module.sample(4, y).shape == (4, 6)


def test_conditional_without_labels_raises():
    module = _conditional()
    x = torch.rand(4, 6, dtype=torch.float64)
    z = torch.randn(4, 2, dtype=torch.float64)
    for call in (
        lambda: module.encode_params(x),
        lambda: module.decode_params(z),
        lambda: module.elbo(x),
        lambda: module.loss(x),
        lambda: module.sample(4),
    ):
        with pytest.raises(ValueError, match="conditional on 3 classes: pass labels y"):
            call()


def test_conditional_wrong_label_shape_raises():
    module = _conditional()
    x = torch.rand(4, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"Expected labels of shape \(4,\) or \(4, 3\)"):
        module.encode_params(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"Expected labels of shape \(4,\) or \(4, 3\); got \(4, 2\)"):
        module.encode_params(x, torch.zeros(4, 2))


def test_conditional_wrong_label_count_names_what_arrived():
    module = _conditional()
    x = torch.rand(4, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"got \(3,\)"):
        module.encode_params(x, torch.tensor([0, 1, 2]))


# ------------------------------------------------------ custom networks
def test_custom_encoder_and_decoder():
    torch.manual_seed(17)
    cfg = ModelConfig(input_shape=(6,), latent_dim=2, likelihood="gaussian")
    encoder = nn.Sequential(nn.Linear(6, 5), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(2, 7), nn.Tanh(), nn.Linear(7, 6))
    module = build_vae(cfg, encoder=encoder, decoder=decoder)
    assert module.encoder is encoder
    assert module.mu_head.in_features == 5 and module.logvar_head.in_features == 5
    x = torch.randn(4, 6)
    z = torch.randn(3, 4, 2)
    assert module.decode_params(z).shape == (3, 4, 6)
    torch.testing.assert_close(module.decode_params(z[0]), decoder(z[0]))
    torch.testing.assert_close(module.encode_params(x)[0], module.mu_head(encoder(x)))
    assert module.elbo(x).shape == (4,)
    module.loss(x).loss.backward()
    assert all(p.grad is not None for p in list(encoder.parameters()) + list(decoder.parameters()))


@pytest.mark.parametrize("image_output", [False, True])
def test_custom_decoder_for_images(image_output):
    torch.manual_seed(18)
    cfg = ModelConfig(input_shape=(1, 4, 4), latent_dim=2, arch="custom")
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 7))
    decoder = nn.Sequential(nn.Linear(2, 16), *([nn.Unflatten(1, (1, 4, 4))] if image_output else []))
    module = build_vae(cfg, encoder=encoder, decoder=decoder)
    x = torch.bernoulli(torch.full((3, 1, 4, 4), 0.5))
    assert module.decode_params(torch.randn(2, 3, 2)).shape == (2, 3, 1, 4, 4)
    assert module.elbo(x).shape == (3,)
    assert module.sample(5).shape == (5, 1, 4, 4)


def test_custom_conditional_decoder_gets_labels():
    torch.manual_seed(19)
    cfg = ModelConfig(input_shape=(6,), latent_dim=2, n_classes=3)
    module = build_vae(cfg, encoder=nn.Linear(6, 4), decoder=nn.Linear(5, 6))
    assert module.mu_head.in_features == 4 + 3
    assert module.elbo(torch.rand(2, 6), torch.tensor([0, 2])).shape == (2,)
    with pytest.raises(ConfigError, match=r"custom decoder failed on input of shape \(2, 5\) \(latent_dim \+ n_classes\)"):
        build_vae(cfg, encoder=nn.Linear(6, 4), decoder=nn.Linear(2, 6))


def test_custom_decoder_wrong_size_raises():
    torch.manual_seed(20)
    cfg = ModelConfig(input_shape=(6,), latent_dim=2)
    with pytest.raises(ConfigError, match=r"custom decoder must return \(N, 6\) or \(N, 6\).*returned \(2, 5\)"):
        build_vae(cfg, encoder=nn.Linear(6, 4), decoder=nn.Linear(2, 5))
    img = ModelConfig(input_shape=(1, 4, 4), latent_dim=2)
    with pytest.raises(ConfigError, match=r"\(N, 16\) or \(N, 1, 4, 4\).*returned \(2, 15\)"):
        build_vae(img, encoder=nn.Flatten(), decoder=nn.Linear(2, 15))


def test_custom_network_errors():
    torch.manual_seed(21)
    cfg = ModelConfig(input_shape=(6,), latent_dim=2)
    with pytest.raises(ConfigError, match="both a custom encoder and a custom decoder"):
        build_vae(cfg, encoder=nn.Linear(6, 4))
    with pytest.raises(ConfigError, match="both a custom encoder and a custom decoder"):
        build_vae(cfg, decoder=nn.Linear(2, 6))
    with pytest.raises(ConfigError, match=r"custom encoder failed on input of shape \(2, 6\)"):
        build_vae(cfg, encoder=nn.Linear(5, 4), decoder=nn.Linear(2, 6))
    with pytest.raises(ConfigError, match=r"custom encoder must return a tensor \(N, H\).*\(2, 1, 6\)"):
        build_vae(cfg, encoder=nn.Unflatten(1, (1, 6)), decoder=nn.Linear(2, 6))
    with pytest.raises(ConfigError, match="pass them"):
        build_vae(ModelConfig(input_shape=(6,), arch="custom"))


def test_custom_decoder_with_other_shape_is_rejected():
    # Right number of features but neither (N, D) nor (N, *input_shape): rejected at build time,
    # not left to fail inside decode.
    torch.manual_seed(22)
    cfg = ModelConfig(input_shape=(6,), latent_dim=2)
    decoder = nn.Sequential(nn.Linear(2, 6), nn.Unflatten(1, (2, 3)))
    with pytest.raises(ConfigError, match=r"custom decoder must return \(N, 6\).*returned \(2, 2, 3\)"):
        build_vae(cfg, encoder=nn.Linear(6, 4), decoder=decoder)


@pytest.mark.parametrize("prior", ["normal", "mog", "vamp"])
def test_sample_from_double_model(prior):
    # z ~ p(z) must come out in the module's dtype, or a .double() decoder rejects it
    torch.manual_seed(23)
    module = build_vae(ModelConfig(input_shape=(6,), latent_dim=2, hidden=(8,), prior=prior)).double()
    assert module.prior.sample(3).dtype == torch.float64
    for mean in (True, False):
        assert module.sample(3, mean=mean).dtype == torch.float64
