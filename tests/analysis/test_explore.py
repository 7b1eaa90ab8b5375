"""Latent exploration against known answers: prior quantiles, linear decoders, slerp, q(z), verdicts."""
import re

import numpy as np
import pytest
import torch
from scipy.special import logsumexp, ndtr
from scipy.stats import multivariate_normal, norm

import vaelab
from vaelab.analysis.explore import (
    AggregatePosterior,
    LatentActivity,
    arithmetic,
    interpolate,
    latent_activity,
    manifold_grid,
    prior_marginals,
    slerp,
    traverse,
    verdict,
)
from vaelab.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def linear():
    """A VAE whose decoder mean is linear in z (no hidden layers), trained on 3-D latent-factor data."""
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(400, 3)) @ rng.normal(size=(3, 6)) + 0.1 * rng.normal(size=(400, 6))).astype(np.float32)
    model = vaelab.VAE(latent_dim=3, hidden=[], likelihood="gaussian", epochs=15, batch_size=50, device="cpu").fit(X)
    return model, X


@pytest.fixture(scope="module")
def mog():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    return vaelab.VAE(latent_dim=2, hidden=[8], prior="mog", n_components=3, likelihood="gaussian", epochs=2,
                      device="cpu").fit(X)  # fmt: skip


def _decode_mean(model, z):
    return model.inverse_transform(np.asarray(z, dtype=np.float32))


def test_standard_normal_marginals_and_quantiles(linear):
    marg = prior_marginals(linear[0])
    np.testing.assert_allclose(marg.mean, 0.0)
    np.testing.assert_allclose(marg.sd, 1.0)
    q = np.array([0.025, 0.5, 0.9])
    np.testing.assert_allclose(marg.ppf(q, 1), norm.ppf(q), atol=1e-12)
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        marg.ppf(np.array([0.0, 0.5]), 0)


def test_mixture_prior_marginals_match_the_mixture(mog):
    marg = prior_marginals(mog)
    z = mog.module_.prior.sample(200_000).detach().double().numpy()
    np.testing.assert_allclose(marg.mean, z.mean(0), atol=0.02)
    np.testing.assert_allclose(marg.sd, z.std(0), rtol=0.02)
    q = np.array([0.05, 0.3, 0.5, 0.95])
    for d in range(2):
        x = marg.ppf(q, d)
        cdf = (marg.weights[:, None] * ndtr((x[None, :] - marg.means[:, d, None]) / marg.sds[:, d, None])).sum(0)
        np.testing.assert_allclose(cdf, q, atol=1e-8)  # the inverse of the mixture's CDF
        np.testing.assert_allclose(np.quantile(z[:, d], q), x, atol=0.03)


def test_traversal_varies_one_dimension_over_the_prior_range(linear):
    model, _ = linear
    tr = traverse(model, dims=[2, 0], span=2.0, steps=5)
    np.testing.assert_allclose(tr.offsets, [-2, -1, 0, 1, 2])
    np.testing.assert_allclose(tr.values, np.tile(tr.offsets, (2, 1)))  # prior mean 0, SD 1
    assert not tr.centred and tr.dims == [2, 0]
    z = np.zeros((5, 3))
    z[:, 2] = tr.offsets
    np.testing.assert_allclose(tr.decoded[0], _decode_mean(model, z), atol=1e-6)
    # A linear decoder moves E[x|z] in equal steps: second differences vanish.
    np.testing.assert_allclose(np.diff(tr.decoded[1], 2, axis=0), 0.0, atol=1e-5)


def test_centred_traversal_passes_through_the_inputs_code(linear):
    model, X = linear
    tr = traverse(model, dims=[1], span=3.0, steps=7, reference=X[5])
    code = model.transform(X[5:6])[0]
    assert tr.centred
    np.testing.assert_allclose(tr.reference, code, atol=1e-6)
    np.testing.assert_allclose(tr.values[0], code[1] + np.linspace(-3, 3, 7), atol=1e-6)
    np.testing.assert_allclose(tr.decoded[0, 3], _decode_mean(model, code[None])[0], atol=1e-6)


def test_default_dimensions_are_the_active_ones_by_kl(linear):
    model, X = linear
    act = LatentActivity(kl=np.array([0.5, 0.001, 2.0]), var_mean=np.array([0.3, 0.0, 0.9]),
                         active=np.array([True, False, True]), n_examples=10)  # fmt: skip
    tr = traverse(model, activity=act)
    assert tr.dims == [2, 0] and tr.kl == [2.0, 0.5] and "active" in tr.chosen_by
    none_active = LatentActivity(act.kl, act.var_mean, np.zeros(3, bool), 10)
    assert traverse(model, activity=none_active).dims == [2, 0, 1]
    assert traverse(model).dims == [0, 1, 2]  # no data: every dimension in order
    measured = latent_activity(model, X)
    assert measured.kl.shape == (3,) and (measured.kl >= 0).all()
    assert traverse(model, X).dims == [d for d in measured.order if measured.active[d]]


def test_manifold_grid_uses_inverse_cdf_spacing(linear):
    model, _ = linear
    g = manifold_grid(model, dims=[0, 2], n=4)
    q = (np.arange(4) + 0.5) / 4
    np.testing.assert_allclose(g.quantiles, q)
    np.testing.assert_allclose(g.values, np.stack([norm.ppf(q), norm.ppf(q)]), atol=1e-12)
    # Row 0 is the top: the largest value of the vertical dimension; columns run left to right.
    z = np.zeros(3)
    z[0], z[2] = g.values[0][1], g.values[1][-1]
    np.testing.assert_allclose(g.decoded[0, 1], _decode_mean(model, z[None])[0], atol=1e-6)
    with pytest.raises(ConfigError, match="two different"):
        manifold_grid(model, dims=[1, 1])
    with pytest.raises(ConfigError, match="^dims must name latent dimensions in 0..2"):
        manifold_grid(model, dims=[0, 7])


def test_slerp_keeps_the_norm_on_a_great_circle():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    path = slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[0], a)
    np.testing.assert_allclose(path[-1], b)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0)
    np.testing.assert_allclose(path[2], [np.sqrt(0.5), np.sqrt(0.5)])
    # Parallel vectors: the straight line.
    np.testing.assert_allclose(slerp(a, 2 * a, np.array([0.5]))[0], 1.5 * a)


def test_aggregate_posterior_log_prob_is_the_mixture_density():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(50, 3)), rng.normal(-1, 0.3, size=(50, 3))
    agg = AggregatePosterior(torch.from_numpy(mu), torch.from_numpy(logvar))
    z = rng.normal(size=(7, 3))
    direct = np.stack([multivariate_normal(mu[n], np.diag(np.exp(logvar[n]))).logpdf(z) for n in range(50)])
    np.testing.assert_allclose(agg.log_prob(z), logsumexp(direct, axis=0) - np.log(50), rtol=1e-10)
    # The reference judges each training code by the other 49 (leave-one-out).
    loo = [logsumexp(np.delete(direct_n, n)) - np.log(49) for n, direct_n in
           enumerate(np.stack([multivariate_normal(mu[m], np.diag(np.exp(logvar[m]))).logpdf(mu) for m in range(50)]).T)]
    np.testing.assert_allclose(agg.reference, np.sort(loo), rtol=1e-10)
    assert agg.percentile(np.full((1, 3), 50.0))[0] == 0.0  # far from every code
    assert agg.percentile(mu.mean(0, keepdims=True))[0] > 50.0  # the centre of the codes


def test_interpolation_paths_and_typicality(linear):
    model, X = linear
    agg = AggregatePosterior.fit(model, X)
    ip = interpolate(model, X[0], X[1], aggregate=agg, steps=6)
    za, zb = model.transform(X[:2])
    for name in ("linear", "spherical"):
        np.testing.assert_allclose(ip.z[name][0], za, atol=1e-6)
        np.testing.assert_allclose(ip.z[name][-1], zb, atol=1e-6)
        assert ip.percentile[name].shape == (6,) and ((0 <= ip.percentile[name]) & (ip.percentile[name] <= 100)).all()
    np.testing.assert_allclose(ip.z["linear"][3], za + 0.6 * (zb - za), atol=1e-6)
    np.testing.assert_allclose(ip.decoded["linear"], _decode_mean(model, ip.z["linear"]), atol=1e-6)
    with pytest.raises(DataError, match="one example of shape"):
        interpolate(model, X[:3], X[1], aggregate=agg)


def test_arithmetic_codes_clipping_and_percentiles(linear):
    model, X = linear
    agg = AggregatePosterior.fit(model, X)
    lo, hi = float(X.min()), float(X.max())
    a, b = X[3], X[8]
    ref = model.log_likelihood(X[:100], n_samples=20).log_px
    ar = arithmetic(model, a, b, aggregate=agg, reference_log_px=ref, data_range=(lo, hi), n_samples=20)
    by = {r.name: r for r in ar.results}
    za, zb = model.transform(np.stack([a, b]))
    np.testing.assert_allclose(by["z_a + z_b"].z, za + zb, atol=1e-6)
    np.testing.assert_allclose(by["z_a − z_b"].z, za - zb, atol=1e-6)
    np.testing.assert_allclose(by["a + b (data space)"].scored, np.clip(a + b, lo, hi))
    np.testing.assert_allclose(by["a + b (data space)"].z, model.transform(np.clip(a + b, lo, hi)[None])[0], atol=1e-6)
    for r in ar.results:
        assert 0 <= r.latent_percentile <= 100 and 0 <= r.log_px_percentile <= 100 and r.verdict
    # Percentiles are taken among the reference: all-higher and all-lower references give 0 and 100.
    high = arithmetic(model, a, b, aggregate=agg, reference_log_px=np.full(5, 1e9), data_range=(lo, hi), n_samples=5)
    assert all(r.log_px_percentile == 0 for r in high.results)
    assert all("log p(x)" in r.verdict and "percentile 0.0 of the 5 test examples" in r.verdict for r in high.results)
    low = arithmetic(model, a, b, aggregate=agg, reference_log_px=np.full(5, -1e9), data_range=(lo, hi), n_samples=5)
    assert all(r.log_px_percentile == 100 for r in low.results)
    with pytest.raises(ConfigError, match="low < high"):
        arithmetic(model, a, b, aggregate=agg, reference_log_px=ref, data_range=(1.0, 1.0))


def test_arithmetic_refuses_one_importance_sample_whose_log_px_has_no_standard_error(linear):
    # n_samples=1: each log p(x)'s SE is NaN, which the percentile interval read as 0 ("95% interval 13.3 to
    # 13.3", "± nan nats"), and the verdicts rest on that interval.
    model, X = linear
    agg = AggregatePosterior.fit(model, X)
    ref = model.log_likelihood(X[:50], n_samples=1).log_px
    with pytest.raises(ConfigError, match="at least 2"):
        arithmetic(model, X[3], X[8], aggregate=agg, reference_log_px=ref,
                   data_range=(float(X.min()), float(X.max())), n_samples=1)  # fmt: skip


def test_verdicts_follow_the_percentiles():
    assert verdict(50, 50).startswith("Typical:")  # "Sensible" before: typicality is what is measured
    assert verdict(0.2, 50).startswith("Off the data in latent space")
    assert verdict(50, 0.5).startswith("Typical code, unlikely example")
    assert verdict(0.1, 0.1).startswith("Not meaningful")
    assert verdict(3, 60).startswith("Borderline")
    assert "this input" in verdict(50, 50, "input") and "the decoded example" in verdict(50, 50, "decoded")


def test_verdicts_give_their_numbers_and_intervals_and_never_contradict_themselves():
    """Issue 15 items 9, 10: "less typical than 100.0% of the training codes (log q(z) percentile 0.1)" came
    from rounding a percentile and its complement apart; a log p(x) whose interval straddles the 1st
    percentile is borderline, not "unlikely"."""
    line = verdict(0.05, 50, log_px=-40.0, log_px_stderr=0.5, log_px_interval=(45.0, 55.0), n_codes=2000, n_reference=30)
    assert "percentile 0.05 of the 2000 training codes (less typical than 99.95% of them)" in line
    assert "log p(x) of the decoded example = -40.00 ± 0.50 nats is at percentile 50.0 of the 30 test examples" in line
    assert "(95% interval 45.0 to 55.0)" in line
    assert "every one of the" in verdict(0.0, 50)
    assert verdict(50, 0.5, log_px_interval=(0.0, 0.9)).startswith("Typical code, unlikely example")
    assert verdict(50, 0.5, log_px_interval=(0.0, 3.0)).startswith("Borderline")  # the interval reaches past 1
    assert verdict(50, 20, log_px_interval=(4.0, 40.0)).startswith("Borderline")  # too close to the 5th to tell
    for p in (0.004, 0.05, 0.35, 12.0):
        match = re.search(r"percentile ([\d.]+) of the .* than ([\d.]+)%", verdict(p, 50))
        at, above = (float(v) for v in match.groups())
        assert at + above == pytest.approx(100.0)


def test_a_result_more_likely_than_every_test_example_is_called_atypically_likely():
    """A data-space a ± b at log p(x) percentile 100 (95% interval 100 to 100) was called "Typical: ... the model treats
    it like real data" (an audit, s12 h): more likely than every test example is atypical too (Nalisnick et al.
    2019), as the bottom tail is; an interval reaching above the 99th percentile is borderline."""
    top = verdict(50, 100.0, log_px=-10.0, log_px_stderr=0.1, log_px_interval=(100.0, 100.0), n_reference=30)
    assert top.startswith("Atypically likely") and "more likely than every test example" in top
    assert "like real data" not in top.replace("not like real data", "")
    assert verdict(50, 99.8, log_px_interval=(99.5, 100.0)).startswith("Atypically likely")
    edge = verdict(50, 99.5, log_px_interval=(97.0, 100.0))
    assert edge.startswith("Borderline") and "above the 99th percentile of log p(x)" in edge
    assert verdict(50, 90, log_px_interval=(80.0, 98.0)).startswith("Typical:")
    assert verdict(0.1, 100.0, log_px_interval=(100.0, 100.0)).startswith("Off the data in latent space")


def test_verdicts_of_a_deterministic_encoder_read_the_latent_side_alone():
    """Issue 15 item 10: the three readings without log p(x) (a plain autoencoder) reached, each with its numbers."""
    nan = float("nan")
    off = verdict(0.5, nan, n_codes=400)
    assert off.startswith("Off the data in latent space") and "percentile 0.5 of the 400 training codes" in off
    assert "less typical than 99.5% of them" in off and "does not apply to a deterministic encoder" in off
    edge = verdict(3.0, nan, n_codes=400)
    assert edge.startswith("Borderline") and "percentile 3.0 of the 400 training codes" in edge
    typical = verdict(40.0, nan, n_codes=400)
    assert typical.startswith("Typical in latent space") and "percentile 40.0" in typical
    assert all("log p(x) of" not in line for line in (off, edge, typical))


def test_conditional_models_decode_with_a_class(tmp_path, digits):
    X, y = digits
    model = vaelab.VAE(latent_dim=2, hidden=[16], epochs=1, conditional=True, device="cpu").fit(X, y)
    tr3 = traverse(model, dims=[0], steps=3, label="3")
    tr7 = traverse(model, dims=[0], steps=3, label="7")
    assert not np.allclose(tr3.decoded, tr7.decoded)
    with pytest.raises(DataError, match="Unknown label"):
        traverse(model, dims=[0], label="x")


def test_arithmetic_on_a_conditional_model_keeps_each_anchor_with_its_own_class(digits):
    """An audit (issue 17): on a conditional run, explore arithmetic encoded, decoded and scored anchor b under a's
    class, so b's log p(x) differed from what score gives the same example. Each anchor now keeps its own class; the
    results z_a ± z_b are decoded with a's."""
    X, y = digits
    model = vaelab.VAE(latent_dim=2, hidden=[16], epochs=2, conditional=True, device="cpu").fit(X, y)
    labels = np.asarray(model.classes_)[y] if np.issubdtype(np.asarray(y).dtype, np.integer) else np.asarray(y)
    i = 0
    j = int(np.flatnonzero(labels != labels[i])[0])
    a, b, ya, yb = X[i], X[j], str(labels[i]), str(labels[j])
    agg = AggregatePosterior.fit(model, X[:200], labels[:200])
    ref = model.log_likelihood(X[:50], labels[:50], n_samples=20).log_px
    ar = arithmetic(model, a, b, aggregate=agg, reference_log_px=ref, data_range=(float(X.min()), float(X.max())),
                    n_samples=20, y_a=ya, y_b=yb)  # fmt: skip
    by = {r.name: r for r in ar.results}
    np.testing.assert_allclose(by["b"].z, model.transform(b[None], np.array([yb]))[0], atol=1e-6)
    np.testing.assert_allclose(by["b"].image, model.inverse_transform(by["b"].z[None].astype(np.float32),
                                                                      np.array([yb]))[0], atol=1e-6)  # fmt: skip
    own = model.log_likelihood(np.stack([a, b]), np.array([ya, yb]), n_samples=20).log_px
    other = model.log_likelihood(np.stack([b]), np.array([ya]), n_samples=20).log_px
    assert abs(by["b"].log_px - own[1]) < abs(by["b"].log_px - other[0])
    np.testing.assert_allclose(by["a"].log_px, own[0], atol=3 * by["a"].log_px_stderr + 1e-6)


def test_repeated_dimensions_are_refused(linear):
    """An audit: `explore traverse --dims 1 1` drew the same row twice, and a grid over z1 against z1 is no grid."""
    model, _ = linear
    with pytest.raises(ConfigError, match="^dims must name distinct latent dimensions; got \\[1, 1\\]"):
        traverse(model, dims=[1, 1], steps=3)
    with pytest.raises(ConfigError, match="two different dimensions"):
        manifold_grid(model, dims=[0, 0], n=3)


def test_explore_refuses_an_unlabelled_file_example_on_a_conditional_run(tmp_path, digits, capsys):
    """An audit: on a conditional run an example named by a file (FILE:N, no labels) was encoded as the model's first
    class and the output said "decoded with a's class '0'", whatever its own class. It is refused, in one line,
    before any work; a split's example (labels stored) or traverse/grid with --class still run."""
    from tests.conftest import FAST
    from vaelab.cli import main
    from vaelab.runs.train import train_run

    X, y = digits
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    run = tmp_path / "run"
    train_run(tmp_path / "x.npy", run, {**FAST, "epochs": 1, "conditional": True}, labels=str(tmp_path / "y.npy"))
    file_example = f"{tmp_path / 'x.npy'}:5"  # a 5, not a 0
    for argv in (["arithmetic", "test:0", file_example], ["interpolate", file_example, "test:1"],
                 ["traverse", "--centre", file_example, "--steps", "3"], ["grid", "--centre", file_example, "--n", "3"]):
        assert main(["explore", str(run), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert "comes without a label" in err and err.count("\n") == 1, err
    assert main(["explore", str(run), "traverse", "--centre", file_example, "--class", "5", "--steps", "3"]) == 0
    assert "decoded with class '5'" in capsys.readouterr().out
    assert main(["explore", str(run), "interpolate", "test:0", "test:1", "--steps", "3"]) == 0


def test_a_labelled_centre_is_encoded_with_its_own_class_and_decoded_with_class(tmp_path, digits):
    """An audit (s12 f): explore traverse/grid --centre test:N --class C on a conditional run encoded the centre under
    C, not its own class, and said "around the code of test:N": q(z|x, C) is not that example's code. Its code is
    q(z|x, its class); --class picks the class decoded with (a file's unlabelled example is still encoded with it)."""
    from tests.conftest import FAST
    from vaelab.commands.explore import run_grid, run_traverse
    from vaelab.runs.run import Run
    from vaelab.runs.train import train_run

    X, y = digits
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    train_run(tmp_path / "x.npy", tmp_path / "run", {**FAST, "epochs": 2, "conditional": True},
              labels=str(tmp_path / "y.npy"))  # fmt: skip
    run = Run(tmp_path / "run")
    test = run.split("test")
    own, x = str(test.label_names()[0]), test.X[:1]
    other = next(c for c in run.model.classes_ if c != own)
    code, wrong = run.model.transform(x, [own])[0], run.model.transform(x, [other])[0]
    assert not np.allclose(code, wrong)
    tr, _ = run_traverse(tmp_path / "run", centre="test:0", label=other, steps=3)
    np.testing.assert_allclose(tr.reference, code, atol=1e-6)
    assert tr.decoded_with == other
    np.testing.assert_allclose(tr.decoded[0, 1], run.model.inverse_transform(code[None].astype(np.float32), [other])[0],
                               atol=1e-5)  # fmt: skip
    grid, _ = run_grid(tmp_path / "run", centre="test:0", label=other, n=3)
    np.testing.assert_allclose(grid.reference, code, atol=1e-6)
    # a file's example comes without a label: encoded with --class, as before
    tr, _ = run_traverse(tmp_path / "run", centre=f"{tmp_path / 'x.npy'}:0", label=other, steps=3)
    np.testing.assert_allclose(tr.reference, run.model.transform(X[:1], [other])[0], atol=1e-6)


def test_data_space_arithmetic_is_clipped_to_each_features_range(linear):
    """a ± b was clipped to one range over all features: with features on different scales, a feature the data
    holds in [0, 1] could reach the widest feature's range. Per feature (the CLI passes the training split's)."""
    model, X = linear
    agg = AggregatePosterior.fit(model, X)
    lo, hi = np.quantile(X, 0.2, 0), np.quantile(X, 0.8, 0)  # ranges that differ by feature, and bite
    a, b = X[3], X[8]
    assert not np.allclose(np.clip(a - b, lo, hi), np.clip(a - b, lo.min(), hi.max()))
    ref = model.log_likelihood(X[:50], n_samples=5).log_px
    ar = arithmetic(model, a, b, aggregate=agg, reference_log_px=ref, data_range=(lo, hi), n_samples=5)
    by = {r.name: r for r in ar.results}
    for name, x in (("a + b (data space)", a + b), ("a − b (data space)", a - b)):
        np.testing.assert_allclose(by[name].scored, np.clip(x, lo, hi))
        assert (by[name].scored >= lo).all() and (by[name].scored <= hi).all()
    assert ar.to_dict()["clipped"] == "per feature" and ar.data_range == (float(lo.min()), float(hi.max()))
    with pytest.raises(ConfigError, match="6 values"):
        arithmetic(model, a, b, aggregate=agg, reference_log_px=ref, data_range=(lo[:3], hi[:3]), n_samples=5)


def test_the_cli_clips_data_space_arithmetic_per_feature(tmp_path):
    """explore arithmetic on a vector run: a ± b stays in each feature's training range."""
    from vaelab.cli import main
    from vaelab.commands.explore import run_arithmetic
    from vaelab.runs.run import Run

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(120, 4)) * np.array([0.01, 1, 10, 1000])).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    assert main(["train", str(tmp_path / "x.npy"), "--out", str(tmp_path / "run"), "--epochs", "1", "--hidden", "8",
                 "--latent-dim", "2", "--device", "cpu", "--quiet"]) == 0  # fmt: skip
    result, _ = run_arithmetic(tmp_path / "run", "test:0", "test:1", n_samples=4)
    train = Run(tmp_path / "run").split("train").X.reshape(-1, 4)
    for r in result.results:
        if r.space == "data":
            assert (r.scored >= train.min(0) - 1e-6).all() and (r.scored <= train.max(0) + 1e-6).all(), r.scored
    metrics = __import__("json").loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["explore"]["arithmetic"]["clipped"] == "per feature"


def test_arithmetic_without_a_test_split_says_why_it_needs_one(tmp_path, digits, capsys):
    """A VAE's arithmetic places each log p(x) among the test split's: without a test split it was refused with "use
    another split or a file", which arithmetic has no option for (an audit, s12). It says why, in one line."""
    from tests.conftest import FAST
    from vaelab.cli import main
    from vaelab.runs.train import train_run

    X, _ = digits
    np.save(tmp_path / "x.npy", X[:200])
    run = tmp_path / "run"
    train_run(tmp_path / "x.npy", run, {**FAST, "epochs": 1}, test_fraction=0.0)
    assert main(["explore", str(run), "arithmetic", "train:0", "train:1", "--n-samples", "2"]) == 2
    err = capsys.readouterr().err
    assert "places each result's log p(x) among the test split's" in err and err.count("\n") == 1, err
    assert "use another split or a file" not in err



def test_percentiles_among_a_subsample_of_the_training_codes_say_so(tmp_path, monkeypatch, capsys):
    """An audit (s13): beyond MAX_REFERENCE_CODES the typicality percentiles are among a seeded subsample of the
    training codes (n_codes of n_train in metrics.json), but the CLI, the verdicts and the report's interpolation and
    arithmetic paragraphs said "the training codes", or "the 50 training codes" of a split of 96."""
    import json

    import vaelab.analysis.explore as explore
    from vaelab.cli import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(120, 4)).astype(np.float32))
    assert main(["train", str(tmp_path / "x.npy"), "--out", str(tmp_path / "run"), "--epochs", "1", "--hidden", "8",
                 "--latent-dim", "2", "--device", "cpu", "--quiet"]) == 0  # fmt: skip
    fit = explore.AggregatePosterior.fit
    monkeypatch.setattr(explore.AggregatePosterior, "fit", lambda *a, **k: fit(*a, **{**k, "max_codes": 50}))
    capsys.readouterr()
    assert main(["explore", str(tmp_path / "run"), "interpolate", "test:0", "test:1", "--steps", "3"]) == 0
    assert main(["explore", str(tmp_path / "run"), "arithmetic", "test:0", "test:1", "--n-samples", "4"]) == 0
    out = capsys.readouterr().out
    e = json.loads((tmp_path / "run" / "metrics.json").read_text())["explore"]
    n_train = e["interpolate"]["n_train"]
    assert e["interpolate"]["n_codes"] == e["arithmetic"]["n_codes"] == 50 < n_train
    words = f"50 training codes (a seeded subsample of the {n_train})"
    assert f"percentiles among 50 training codes, a seeded subsample of the {n_train}" in out
    assert all(words in r["verdict"] for r in e["arithmetic"]["results"]) and words in out
    assert main(["report", str(tmp_path / "run")]) == 0
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert f"as a percentile of {words}" in html and f"log q(z) percentiles are among {words}" in html
