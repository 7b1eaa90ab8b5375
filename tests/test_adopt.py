"""vaelab.adopt: models trained elsewhere (PyTorch modules, ONNX graphs) under every analysis.

Known answers: a linear-Gaussian model with its exact posterior as the encoder (log p(x) in
closed form), and a vaelab VAE adopted through its two halves (the same numbers as the VAE).
"""
import json
import math
import textwrap

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import vaelab
from vaelab.analysis.explore import traverse
from vaelab.analysis.likelihood import log_likelihood
from vaelab.analysis.samplers import fit_sampler, generate
from vaelab.data.dataset import Dataset
from vaelab.errors import ConfigError, DataError, VaelabError

L = 4


class Encoder(nn.Module):
    """A plain PyTorch encoder, optionally with the mistake of a ReLU on its heads."""

    def __init__(self, relu_heads: bool = False, n_classes: int = 0):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64 + n_classes, 64), nn.Tanh())
        self.mu, self.logvar = nn.Linear(64, L), nn.Linear(64, L)
        self.relu_heads = relu_heads

    def forward(self, x, y=None):
        h = self.body(x.flatten(1) if y is None else torch.cat([x.flatten(1), y], 1))
        mu, logvar = self.mu(h), self.logvar(h)
        return (F.relu(mu), F.relu(logvar)) if self.relu_heads else (mu, logvar)


class Decoder(nn.Module):
    def __init__(self, n_classes: int = 0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(L + n_classes, 64), nn.Tanh(), nn.Linear(64, 64))

    def forward(self, z, y=None):
        return self.net(z if y is None else torch.cat([z, y], 1))  # Bernoulli logits


def train_outside(X: np.ndarray, relu_heads: bool, y: np.ndarray | None = None, epochs: int = 15):
    """An ELBO loop as a user would write it, outside vaelab."""
    torch.manual_seed(0)
    c = 0 if y is None else 10
    enc, dec = Encoder(relu_heads, c), Decoder(c)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=3e-3)
    x = torch.from_numpy(X)
    yy = None if y is None else F.one_hot(torch.from_numpy(y).long(), 10).float()
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(64):
            xb, yb = x[idx], None if yy is None else yy[idx]
            mu, logvar = enc(xb, yb)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            rec = -F.binary_cross_entropy_with_logits(dec(z, yb), xb, reduction="none").sum(1)
            kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
            loss = (kl - rec).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return enc.eval(), dec.eval()


@pytest.fixture(scope="module")
def relu_vae(digits):
    return train_outside(digits[0], relu_heads=True)


def test_an_outside_vae_with_relu_heads_is_flagged_in_words(digits, relu_vae):
    X, _ = digits
    model = vaelab.adopt(*relu_vae, likelihood="bernoulli", data=X)
    assert model.latent_dim_ == L and model.input_shape_ == (64,)
    d = vaelab.diagnose(model, X)
    lint = d.to_dict()["head_lint"]
    assert lint["variances_at_least_one"] and lint["min_logvar"] >= 0  # every posterior SD >= 1
    finding = next(f for f in d.findings if f.key == "head_lint")
    assert "log-variance" in finding.detail and "linear" in finding.advice
    result = traverse(model, dims=[0, 1], steps=5)
    assert result.decoded.shape == (2, 5, 64) and np.isfinite(result.decoded).all() and result.unit == "dimension"
    with pytest.raises(ConfigError, match="flat"):
        traverse(model, per="channel")
    # A healthy model of the same design is not flagged.
    healthy = vaelab.adopt(*train_outside(X, relu_heads=False), likelihood="bernoulli", data=X)
    assert not any(f.key == "head_lint" for f in vaelab.diagnose(healthy, X).findings)


def test_an_adopted_vaelab_module_gives_the_vaes_own_numbers(digits):
    """The VAE's two halves adopted from outside: log p(x) per example equals the VAE's."""
    X, _ = digits
    vae = vaelab.VAE(latent_dim=3, hidden=[32], epochs=3, device="cpu").fit(X)
    module = vae.module_
    adopted = vaelab.adopt(module.encode_params, module.decode_params, likelihood="bernoulli", data=X,
                           binarize=vae.evaluation_seed() is not None, seed=vae.seed)  # fmt: skip
    ours = vae.log_likelihood(X[:40], n_samples=30, seed=3)
    theirs = adopted.log_likelihood(X[:40], n_samples=30, seed=3)
    np.testing.assert_allclose(theirs.log_px, ours.log_px, rtol=0, atol=1e-4)
    np.testing.assert_allclose(adopted.transform(X[:5]), vae.transform(X[:5]), atol=1e-6)


def test_a_linear_gaussian_model_scores_its_closed_form_log_likelihood():
    """x = W z + b + e, e ~ N(0, s² I), W with orthogonal columns: q(z|x) below is the exact
    posterior, so importance sampling returns log N(x; b, W Wᵀ + s² I) exactly, for both
    Gaussian conventions (the decoder giving the mean only, or the mean and its log-variance)."""
    rng = np.random.default_rng(0)
    D, s = 6, 0.5
    Q, _ = np.linalg.qr(rng.normal(size=(D, L)))
    W = (Q * np.array([2.0, 1.5, 1.0, 0.7])).astype(np.float32)
    b = rng.normal(size=D).astype(np.float32)
    X = (rng.normal(size=(50, L)) @ W.T + b + s * rng.normal(size=(50, D))).astype(np.float32)
    Wt, bt = torch.from_numpy(W), torch.from_numpy(b)
    m = (Wt**2).sum(0) + s**2  # diag of Wᵀ W + s² I

    def encoder(x):
        return ((x - bt) @ Wt) / m, torch.log(s**2 / m).expand(x.shape[0], L)

    cov = W @ W.T + s**2 * np.eye(D)
    diff = X - b
    exact = -0.5 * (D * math.log(2 * math.pi) + np.linalg.slogdet(cov)[1]
                    + np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov), diff))  # fmt: skip
    fixed = vaelab.adopt(encoder, lambda z: z @ Wt.T + bt, likelihood="gaussian-fixed", sigma=s, data=X)
    both = vaelab.adopt(encoder, lambda z: (z @ Wt.T + bt, torch.full((z.shape[0], D), 2 * math.log(s))),
                        likelihood="gaussian", data=X)  # fmt: skip
    for model in (fixed, both):
        result = log_likelihood(model, X, n_samples=8, seed=0)
        np.testing.assert_allclose(result.log_px, exact, rtol=0, atol=1e-3)


def test_samplers_work_on_an_adopted_conditional_model(digits):
    X, y = digits
    enc, dec = train_outside(X, relu_heads=False, y=y, epochs=3)
    model = vaelab.adopt(enc, dec, likelihood="bernoulli", data=X, labels=y, label_format="onehot")
    assert model.classes_.tolist() == [str(d) for d in range(10)]
    train = Dataset(X[:200], y[:200], tuple(model.classes_))
    sampler = fit_sampler("aggregate-gmm", model, train, Dataset(X[200:], y[200:], tuple(model.classes_)))
    out = generate(model, sampler, 12, y=np.full(12, "7"), mean=True, seed=0)
    assert out.shape == (12, 64) and np.isfinite(out).all()
    assert model.sample(3, y="2").shape == (3, 64)
    with pytest.raises(DataError, match="conditional"):
        model.transform(X[:3])


def test_onnx_halves_score_as_the_pytorch_ones(digits, relu_vae, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    X, _ = digits
    enc, dec = relu_vae
    with pytest.warns(DeprecationWarning):  # torch's TorchScript-based exporter, deprecated, needs no extra package
        torch.onnx.export(enc, (torch.zeros(2, 64),), tmp_path / "enc.onnx", input_names=["x"],
                          output_names=["mu", "logvar"], dynamic_axes={"x": {0: "n"}}, dynamo=False)  # fmt: skip
        torch.onnx.export(dec, (torch.zeros(2, L),), tmp_path / "dec.onnx", input_names=["z"], output_names=["logits"],
                          dynamic_axes={"z": {0: "n"}}, dynamo=False)  # fmt: skip
    onnx = vaelab.adopt(tmp_path / "enc.onnx", str(tmp_path / "dec.onnx"), likelihood="bernoulli", data=X)
    torch_model = vaelab.adopt(enc, dec, likelihood="bernoulli", data=X)
    a = onnx.log_likelihood(X[:60], n_samples=100, seed=0).log_px
    b = torch_model.log_likelihood(X[:60], n_samples=100, seed=0).log_px
    assert np.abs(a - b).max() < 0.05
    kl_a = np.asarray(vaelab.diagnose(onnx, X).per_dim["kl"])
    kl_b = np.asarray(vaelab.diagnose(torch_model, X).per_dim["kl"])
    assert np.abs(kl_a - kl_b).max() < 1e-3


def test_onnx_halves_exported_with_a_fixed_batch_size_run_on_any_number_of_examples(digits, relu_vae, tmp_path):
    """torch.onnx.export without dynamic_axes fixes the batch size of the example it was given: adopting such a
    graph failed in onnxruntime's words ("Got invalid dimensions for input: x"), or, when adopt's check happened to
    feed that many, succeeded and then score and inspect ended in onnxruntime's traceback (an audit, s13). The graph
    is run on chunks of its batch size, the last padded and cut back: the numbers are those of a dynamic graph."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    X, _ = digits
    enc, dec = relu_vae
    with pytest.warns(DeprecationWarning):  # torch's TorchScript-based exporter, deprecated, needs no extra package
        for name, n, axes in (("fixed", 3, None), ("dynamic", 2, {0: "n"})):
            torch.onnx.export(enc, (torch.zeros(n, 64),), tmp_path / f"enc_{name}.onnx", input_names=["x"],
                              output_names=["mu", "logvar"], dynamic_axes=axes and {"x": axes}, dynamo=False)  # fmt: skip
            torch.onnx.export(dec, (torch.zeros(1 if axes is None else n, L),), tmp_path / f"dec_{name}.onnx",
                              input_names=["z"], output_names=["logits"], dynamic_axes=axes and {"z": axes},
                              dynamo=False)  # fmt: skip
    fixed = vaelab.adopt(tmp_path / "enc_fixed.onnx", tmp_path / "dec_fixed.onnx", likelihood="bernoulli", data=X)
    dynamic = vaelab.adopt(tmp_path / "enc_dynamic.onnx", tmp_path / "dec_dynamic.onnx", likelihood="bernoulli", data=X)
    np.testing.assert_allclose(fixed.transform(X[:7]), dynamic.transform(X[:7]), rtol=1e-6, atol=1e-6)
    a = fixed.log_likelihood(X[:7], n_samples=10, seed=0).log_px
    np.testing.assert_allclose(a, dynamic.log_likelihood(X[:7], n_samples=10, seed=0).log_px, rtol=1e-5)


def test_an_adopted_model_whose_scores_are_not_finite_is_not_told_to_retrain_with_trains_options(digits, relu_vae):
    """An encoder that gives NaN for some inputs past adopt's check: score said "Retrain with a lower --lr or
    --grad-clip", options of vaelab train that cannot reach a model trained elsewhere (an audit, s13)."""
    X, _ = digits
    enc, dec = relu_vae

    def partial_nan(x):  # finite on the examples adopt checks, NaN on an input far brighter than the data
        mu, logvar = enc(x)
        return torch.where(x.flatten(1).sum(1, keepdim=True) > 60, torch.nan, mu), logvar

    model = vaelab.adopt(partial_nan, dec, likelihood="bernoulli", data=X)
    with pytest.raises(DataError, match="NaN or infinite log p") as err:
        model.log_likelihood(np.ones((3, 64), np.float32), n_samples=4)
    assert "--lr" not in str(err.value) and "where it was trained" in str(err.value)


def _bad(match, *args, **kwargs):
    with pytest.raises(VaelabError) as err:
        vaelab.adopt(*args, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg and match in msg, msg
    return msg


def test_halves_that_do_not_fit_are_one_line_errors(digits, tmp_path):
    X, _ = digits
    dec = Decoder()
    enc = Encoder()
    _bad("declared stochastic", lambda x: x[:, :L], dec, likelihood="bernoulli", data=X, deterministic=False)
    _bad("decoder failed on codes of shape (8, 64)", lambda x: x, dec, likelihood="bernoulli", data=X)
    _bad("expected (mu, logvar)", lambda x: (x, x, x), dec, likelihood="bernoulli", data=X)
    # a plain autoencoder's encoder returning (code,) was told of VAE outputs only (an audit, s14)
    _bad("a plain autoencoder's code as one tensor (deterministic=True", lambda x: (x[:, :L],), dec,
         likelihood="bernoulli", data=X)  # fmt: skip
    _bad("mu has shape (8, 64)", lambda x: (x, x[:, :L]), dec, likelihood="bernoulli", data=X)
    _bad("non-finite mu", lambda x: (x[:, :L] * np.nan, x[:, :L]), dec, likelihood="bernoulli", data=X)
    # flat examples: one shape expected, not "(8, 64) or (8, 64)" (an audit); images: shaped or flat
    assert _bad("expected (8, 64)", enc, lambda z: z, likelihood="bernoulli", data=X).endswith("expected (8, 64).")
    assert "expected (8, 1, 8, 8) or (8, 64)." in _bad("expected", lambda x: Encoder()(x.flatten(1)), lambda z: z,
                                                       likelihood="bernoulli", data=X.reshape(-1, 1, 8, 8))  # fmt: skip
    _bad("non-finite values", enc, lambda z: dec(z) / 0.0 * 0.0, likelihood="bernoulli", data=X)
    _bad("decoder failed", enc, lambda z: z @ torch.zeros(3, 3), likelihood="bernoulli", data=X)
    _bad("(mean, logvar)", enc, dec, likelihood="gaussian", data=X)
    _bad("no such ONNX file", tmp_path / "missing.onnx", dec, likelihood="bernoulli", data=X)
    _bad("not an .onnx file", tmp_path / "enc.pt", dec, likelihood="bernoulli", data=X)
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    if pytest.importorskip("onnxruntime"):
        _bad("not an ONNX model", tmp_path / "junk.onnx", dec, likelihood="bernoulli", data=X)
    _bad("[0, 1]", enc, dec, likelihood="bernoulli", data=X * 3 - 1)
    _bad("likelihood", enc, dec, likelihood="poisson", data=X)
    _bad("data=", enc, dec, likelihood="bernoulli")
    with pytest.raises(ConfigError, match="sigma"):
        vaelab.adopt(enc, dec, likelihood="gaussian-fixed", sigma=0, data=X)


# ------------------------------------------------------------------------ the CLI
MODEL_SOURCE = '''
import torch
from torch import nn
from torch.nn import functional as F


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 64), nn.Tanh())
        self.mu, self.logvar = nn.Linear(64, 4), nn.Linear(64, 4)

    def forward(self, x):
        h = self.body(x.flatten(1))
        return F.relu(self.mu(h)), F.relu(self.logvar(h))  # the mistake: ReLU on the heads


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64))

    def forward(self, z):
        return self.net(z)


def make_encoder():
    return Encoder()


NOT_A_MODULE = 3
'''


@pytest.fixture(scope="module")
def outside(tmp_path_factory, digits, relu_vae):
    """A user's folder: model code, the trained weights as safetensors, ONNX exports, the data."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("outside")
    (folder / "vae_model.py").write_text(MODEL_SOURCE)
    enc, dec = relu_vae
    save_file(enc.state_dict(), folder / "enc.safetensors")
    save_file(dec.state_dict(), folder / "dec.safetensors")
    save_file({**{f"encoder.{k}": v for k, v in enc.state_dict().items()},
               **{f"decoder.{k}": v for k, v in dec.state_dict().items()}}, folder / "vae.safetensors")  # fmt: skip
    np.save(folder / "x.npy", digits[0])
    return folder


def test_a_combined_state_dict_with_keys_the_adopted_model_would_not_use_is_refused(outside, tmp_path, capsys):
    """--weights kept the encoder.* and decoder.* keys and dropped the others without a word: a learned prior's
    weights were ignored and the model scored under N(0, I) as if it were the one trained (an audit, s13)."""
    from safetensors.torch import load_file, save_file

    state = load_file(outside / "vae.safetensors")
    save_file({**state, "prior.means": torch.zeros(10, L)}, tmp_path / "with_prior.safetensors")
    code, _, err = _cli(capsys, *_adopt_args(outside, tmp_path / "run", "--weights", tmp_path / "with_prior.safetensors"))
    assert code == 2 and err.count("\n") == 1 and "1 key(s) outside encoder.* and decoder.* (e.g. ['prior.means'])" in err
    assert not (tmp_path / "run").exists()


def _cli(capsys, *argv):
    from vaelab.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _adopt_args(folder, out, *extra):
    py = folder / "vae_model.py"
    return ["adopt", "--encoder", f"{py}:Encoder", "--decoder", f"{py}:Decoder", "--likelihood", "bernoulli",
            "--data", folder / "x.npy", "--out", out, *extra]  # fmt: skip


def test_cli_adopts_a_pytorch_vae_and_every_command_opens_it(outside, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = _cli(capsys, *_adopt_args(outside, run, "--weights", outside / "vae.safetensors"))
    assert code == 0, err
    assert "PyTorch" in out and "pass --encoder/--decoder again" in out
    record = json.loads((run / "adopted.json").read_text())
    assert record["halves"]["encoder"]["weights"]["sha256"] and (run / "split.npy").is_file()
    py = outside / "vae_model.py"
    specs = ["--encoder", f"{py}:Encoder", "--decoder", f"{py}:Decoder"]
    # A run folder never runs the code it names on its own.
    code, _, err = _cli(capsys, "inspect", run)
    assert code == 2 and "never imports code a run folder names" in err and err.count("\n") == 1
    code, out, err = _cli(capsys, "inspect", run, *specs)
    assert code == 0, err
    assert "heads cannot output negative values" in out and "log-variance over the data is ≥ 0" in out
    code, out, err = _cli(capsys, "explore", run, "traverse", "--trust-run")
    assert code == 0, err
    assert (run / "figures" / "traversals.png").is_file()
    code, out, err = _cli(capsys, "score", run, "--n-samples", "20", "--quiet", *specs)
    assert code == 0 and "NLL" in out, err
    code, out, err = _cli(capsys, "compare-samplers", run, "--samplers", "prior", "aggregate-gmm", "--n", "40", *specs)
    assert code == 0 and "For this model, sample from" in out, err
    code, out, err = _cli(capsys, "sample", run, "--n", "4", "--out", tmp_path / "s.npy", *specs)
    assert code == 0 and np.load(tmp_path / "s.npy").shape == (4, 64), err
    code, _, err = _cli(capsys, "report", run)
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"diagnostics", "likelihood", "samplers", "explore"} <= set(metrics)


def test_the_report_of_an_adopted_run_claims_no_training_settings_it_never_used(outside, tmp_path, capsys):
    """config.json of an adopted run holds vaelab's training defaults (β, warm-up, batch size, learning rate,
    dynamic binarization) and no hidden layers: the report showed them as the model's ("hidden layers none
    (linear)" for an MLP, "binarization dynamic" for a model adopted with --binarize). An audit."""
    run = tmp_path / "run"
    code, _, err = _cli(capsys, *_adopt_args(outside, run, "--weights", outside / "vae.safetensors", "--binarize"))
    assert code == 0, err
    assert _cli(capsys, "report", run)[0] == 0
    html = (run / "report.html").read_text(encoding="utf-8")
    data = html[html.index('id="data"'):html.index('id="training"')]
    for claim in ("hidden layers", "learning rate", "β (KL weight)", "warm-up", "dynamic"):
        assert claim not in data, claim
    assert "trained elsewhere" in data and "vae_model.py:Encoder" in data and "fixed, of the evaluation data" in data


def test_adopt_into_a_run_folder_names_no_option_it_lacks(outside, tmp_path, capsys):
    """adopt into a folder holding a run said "Pass --resume to continue it": adopt has no --resume (an audit)."""
    run = tmp_path / "run"
    args = _adopt_args(outside, run, "--weights", outside / "vae.safetensors")
    assert _cli(capsys, *args)[0] == 0
    code, _, err = _cli(capsys, *args)
    assert code == 2 and "already holds a run" in err and "--resume" not in err and err.count("\n") == 1


def test_a_logits_decoder_declared_to_give_probabilities_is_refused(digits, relu_vae):
    """probabilities=True on a decoder that outputs logits passed adopt's check (which promises value ranges): the
    logits were clipped to [1e-6, 1 - 1e-6] and every score was wrong without a word (an audit)."""
    X, _ = digits
    with pytest.raises(ConfigError, match=r"declared to output probabilities .* returned values from -?\d"):
        vaelab.adopt(*relu_vae, likelihood="bernoulli", probabilities=True, data=X)
    enc, dec = relu_vae
    sigmoid = vaelab.adopt(enc, lambda z: torch.sigmoid(dec(z)), likelihood="bernoulli", probabilities=True, data=X)
    logits = vaelab.adopt(enc, dec, likelihood="bernoulli", data=X)
    np.testing.assert_allclose(sigmoid.log_likelihood(X[:5], n_samples=5).log_px,
                               logits.log_likelihood(X[:5], n_samples=5).log_px, atol=1e-3)  # fmt: skip


def test_adopt_checks_all_the_data_a_bernoulli_is_defined_on(outside, tmp_path, capsys):
    """adopt checked [0, 1] on its first 64 training examples only: a value of 2 further on made a run that train
    refuses to make (an audit). Checked whole, before anything is written."""
    X = np.load(outside / "x.npy")
    X[-1, 5] = 2.0
    np.save(tmp_path / "x.npy", X)
    (tmp_path / "vae_model.py").write_text((outside / "vae_model.py").read_text())
    run = tmp_path / "run"
    code, _, err = _cli(capsys, *_adopt_args(tmp_path, run, "--weights", outside / "vae.safetensors"))
    assert code == 2 and "must lie in [0, 1]" in err and err.count("\n") == 1 and not run.exists()


def test_halves_called_with_the_wrong_arguments_are_told_how_vaelab_calls_them(tmp_path, capsys):
    # adopt --conditional with halves that take x alone said only Python's TypeError (an audit, s12): the error adds
    # that the halves must take (x, y) and how y is passed; halves that take y, adopted without labels, are told too
    (tmp_path / "h.py").write_text(textwrap.dedent("""
        from torch import nn
        class Encoder(nn.Module):
            def forward(self, x):
                return x[:, :2], x[:, 2:]
        class CondEncoder(nn.Module):
            def forward(self, x, y):
                return x[:, :2], x[:, 2:]
        class Decoder(nn.Module):
            def forward(self, z):
                return z.repeat(1, 2)
    """))  # fmt: skip
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32))
    np.save(tmp_path / "y.npy", np.arange(40) % 2)
    py = tmp_path / "h.py"
    base = ["adopt", "--decoder", f"{py}:Decoder", "--likelihood", "gaussian-fixed", "--data", tmp_path / "x.npy"]
    code, _, err = _cli(capsys, *base, "--encoder", f"{py}:Encoder", "--labels", tmp_path / "y.npy", "--conditional",
                        "--out", tmp_path / "a")  # fmt: skip
    assert code == 2 and err.count("\n") == 1, err
    assert "TypeError" in err and "must take the labels too, encoder(x, y), y as integer codes" in err, err
    code, _, err = _cli(capsys, *base, "--encoder", f"{py}:CondEncoder", "--out", tmp_path / "b")
    assert code == 2 and "need --conditional with --labels FILE" in err and err.count("\n") == 1, err
    # a negative --seed was NumPy's traceback from the split (an audit, s12); errors of a setting name the flag
    for option, value, said in (("--seed", "-1", "--seed (seed) must be an integer from 0 to 2**32 - 1"),
                                ("--val-fraction", "2", "--val-fraction (val_fraction) must be in [0, 1)")):
        code, _, err = _cli(capsys, *base, "--encoder", f"{py}:Encoder", option, value, "--out", tmp_path / "c")
        assert code == 2 and err.count("\n") == 1 and said in err, err
    code, _, err = _cli(capsys, *base, "--encoder", f"{py}:Encoder", "--sigma", "0", "--out", tmp_path / "c")
    assert code == 2 and "--sigma (sigma) must be a positive number" in err, err
    assert not (tmp_path / "c").exists()
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_cli_adopts_a_conditional_model_with_its_own_class_order(tmp_path, capsys):
    """A conditional model adopted on data that lacks one of its classes got codes shifted past the gap (the labels'
    sorted names): class 'c' reached the model as code 1, its 'b', and log p(x) was wrong by ~5x without a word; the
    CLI had no way to give the order (classes= is the Python API's). --classes gives it (an audit)."""
    (tmp_path / "cond.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn
        OFF = torch.tensor([0.0, 3.0, -3.0])
        class Encoder(nn.Module):
            def forward(self, x, y):
                return x - OFF[y][:, None], torch.zeros_like(x)
        class Decoder(nn.Module):
            def forward(self, z, y):
                return z + OFF[y][:, None]
    """))  # fmt: skip
    rng = np.random.default_rng(0)
    y = np.array(["a", "c"] * 100)
    X = (rng.normal(size=(200, 2)) * np.sqrt(2) + np.where(y == "c", -3.0, 0.0)[:, None]).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    py = tmp_path / "cond.py"
    base = ["adopt", "--encoder", f"{py}:Encoder", "--decoder", f"{py}:Decoder", "--likelihood", "gaussian-fixed",
            "--data", tmp_path / "x.npy", "--labels", tmp_path / "y.npy", "--conditional"]  # fmt: skip
    code, _, err = _cli(capsys, *base, "--classes", "a", "b", "--out", tmp_path / "bad")
    assert code == 2 and "['c'] are not among them" in err and err.count("\n") == 1
    assert _cli(capsys, *base, "--classes", "a", "b", "c", "--out", tmp_path / "run")[0] == 0
    model = vaelab.load(tmp_path / "run", encoder=f"{py}:Encoder", decoder=f"{py}:Decoder")
    assert model.classes_.tolist() == ["a", "b", "c"]
    # x ~ N(offset, 2 I) exactly: z ~ N(0, I), x | z ~ N(z + offset, I)
    exact = -np.log(2 * np.pi * 2) - ((X - np.where(y == "c", -3.0, 0.0)[:, None]) ** 2).sum(1) / 4
    got = model.log_likelihood(X[:20], y[:20], n_samples=2000, seed=0).log_px
    np.testing.assert_allclose(got, exact[:20], atol=0.15)
    # A model trained elsewhere knows its classes: data whose class 'c' only held-out examples hold is adopted (train
    # refuses such labels: its model would never learn the class; an audit, s12 f).
    from vaelab.data.split import split_assignment

    held = np.where(split_assignment(200, 0.1, 0.1, 0) == 0, "a", y)
    np.save(tmp_path / "held.npy", held)
    base[base.index(tmp_path / "y.npy")] = tmp_path / "held.npy"
    assert _cli(capsys, *base, "--classes", "a", "b", "c", "--out", tmp_path / "held")[0] == 0


def test_the_onnx_run_scores_as_the_pytorch_run(outside, tmp_path, capsys, relu_vae):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import pandas as pd

    enc, dec = relu_vae
    with pytest.warns(DeprecationWarning):
        torch.onnx.export(enc, (torch.zeros(2, 64),), tmp_path / "enc.onnx", input_names=["x"],
                          dynamic_axes={"x": {0: "n"}}, dynamo=False)  # fmt: skip
        torch.onnx.export(dec, (torch.zeros(2, L),), tmp_path / "dec.onnx", input_names=["z"],
                          dynamic_axes={"z": {0: "n"}}, dynamo=False)  # fmt: skip
    py = outside / "vae_model.py"
    pt, onnx = tmp_path / "pt", tmp_path / "onnx"
    assert _cli(capsys, *_adopt_args(outside, pt, "--encoder-weights", outside / "enc.safetensors",
                                     "--decoder-weights", outside / "dec.safetensors"))[0] == 0  # fmt: skip
    assert _cli(capsys, "adopt", "--encoder", tmp_path / "enc.onnx", "--decoder", tmp_path / "dec.onnx", "--likelihood",
                "bernoulli", "--data", outside / "x.npy", "--out", onnx)[0] == 0  # fmt: skip
    specs = ["--encoder", f"{py}:Encoder", "--decoder", f"{py}:Decoder"]
    for run, extra in ((pt, specs), (onnx, [])):  # the ONNX run needs no code to open
        code, _, err = _cli(capsys, "score", run, "--n-samples", "100", "--quiet", "--out", run / "s.csv", *extra)
        assert code == 0, err
        assert _cli(capsys, "inspect", run, *extra)[0] == 0
    a, b = pd.read_csv(pt / "s.csv"), pd.read_csv(onnx / "s.csv")
    assert np.abs(a["log_px"] - b["log_px"]).max() < 0.05
    kl = [np.asarray(json.loads((r / "metrics.json").read_text())["diagnostics"]["per_dimension"]["kl"]) for r in (pt, onnx)]
    assert np.abs(kl[0] - kl[1]).max() < 1e-3
    # An ONNX graph changed after adoption is refused, not scored.
    (onnx / "decoder.onnx").write_bytes((onnx / "decoder.onnx").read_bytes() + b" ")
    code, _, err = _cli(capsys, "score", onnx, "--n-samples", "5", "--quiet")
    assert code == 2 and "has changed since the model was adopted" in err


@pytest.mark.parametrize("case", ["missing file", "missing name", "not a module", "factory", "bad import",
                                  "wrong weights", "pickle weights", "wrong shapes", "nan", "no module"])
def test_every_bad_spec_is_one_line(outside, tmp_path, capsys, case):
    py = outside / "vae_model.py"
    args = _adopt_args(outside, tmp_path / "run")
    enc_at = args.index("--encoder") + 1
    expect = {
        "missing file": (f"{tmp_path / 'nope.py'}:Encoder", "no such file"),
        "missing name": (f"{py}:Encodr", "has no 'Encodr'"),
        "not a module": (f"{py}:NOT_A_MODULE", "not a torch.nn.Module"),
        "factory": (f"{py}:make_encoder", None),  # a callable returning a module is fine
        "no module": ("no_such_package_xyz.models:Encoder", "no module named"),
    }
    if case == "bad import":
        (tmp_path / "broken.py").write_text("raise RuntimeError('boom at import')\n")
        expect[case] = (f"{tmp_path / 'broken.py'}:Encoder", "boom at import")
    if case == "wrong shapes":
        (tmp_path / "wide.py").write_text(MODEL_SOURCE.replace("nn.Linear(64, 4)", "nn.Linear(64, 5)"))
        expect[case] = (f"{tmp_path / 'wide.py'}:Encoder", "mat1 and mat2")
    if case == "nan":
        (tmp_path / "nan.py").write_text(MODEL_SOURCE.replace("return F.relu(self.mu(h)), F.relu(self.logvar(h))",
                                                              "return self.mu(h) * float('nan'), self.logvar(h)"))
        expect[case] = (f"{tmp_path / 'nan.py'}:Encoder", "non-finite")
    if case in expect:
        args[enc_at], match = expect[case]
    elif case == "wrong weights":
        args += ["--encoder-weights", outside / "dec.safetensors"]
        match = "do not fit the module"
    else:
        (tmp_path / "w.pt").write_bytes(b"\x80\x04pickle")
        args += ["--encoder-weights", tmp_path / "w.pt"]
        match = "never unpickles"
    code, _, err = _cli(capsys, *args)
    if match is None:
        assert code == 0, err
        return
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and match in err, err
    assert not (tmp_path / "run" / "config.json").exists()


def test_load_of_an_adopted_run_without_its_code_names_python_settings(outside, tmp_path, capsys):
    """vaelab.load(run) of an adopted run whose PyTorch halves were not passed says what a Python caller passes
    (encoder='x.py:Encoder', trust=True: vaelab.load takes trust= as load_adopted does), the CLI the flags (an audit:
    Python was told to pass --encoder SPEC or --trust-run, which vaelab.load did not take)."""
    from vaelab.errors import RunError

    run = tmp_path / "run"
    code, _, err = _cli(capsys, *_adopt_args(outside, run, "--weights", outside / "vae.safetensors"))
    assert code == 0, err
    spec = f"{outside / 'vae_model.py'}:Encoder"
    with pytest.raises(RunError) as e:
        vaelab.load(run)
    assert f"encoder={spec!r}" in str(e.value) and "trust=True" in str(e.value) and "--" not in str(e.value)
    assert vaelab.load(run, trust=True).transform(np.load(outside / "x.npy")[:3]).shape == (3, L)
    code, _, err = _cli(capsys, "inspect", run)
    assert code == 2 and f"--encoder {spec}" in err and "--trust-run" in err and "trust=True" not in err, err


def test_an_adopted_model_saves_and_loads_back(digits, relu_vae, tmp_path):
    """PyTorch halves: the weights go into the run, the code is the user's to pass again."""
    from vaelab.errors import RunError

    X, _ = digits
    enc, dec = relu_vae
    model = vaelab.adopt(enc, dec, likelihood="bernoulli", data=X)
    model.save(tmp_path / "run")
    with pytest.raises(RunError, match="never imports code a run folder names"):
        vaelab.load(tmp_path / "run")
    back = vaelab.load(tmp_path / "run", encoder=Encoder(relu_heads=True), decoder=Decoder())
    np.testing.assert_array_equal(back.transform(X[:20]), model.transform(X[:20]))
    np.testing.assert_array_equal(back.inverse_transform(np.ones((3, L))), model.inverse_transform(np.ones((3, L))))
    with pytest.raises(ConfigError, match="do not fit the module"):
        vaelab.load(tmp_path / "run", encoder=Encoder(relu_heads=True, n_classes=3), decoder=Decoder())
    with pytest.raises(ConfigError, match="not a torch.nn.Module"):
        vaelab.adopt(lambda x: enc(x), dec, likelihood="bernoulli", data=X).save(tmp_path / "lambda")


def test_an_adopted_model_saved_into_another_run_is_refused(digits, relu_vae, tmp_path):
    """AdoptedModel.save (as VAE.save) wrote into any folder: into a run of another kind it left that run's metrics,
    split and kind files beside its adopted config (an audit, s13). Its own earlier save is replaced, without an ONNX
    graph this model no longer uses."""
    from vaelab.errors import RunError

    X, _ = digits
    model = vaelab.adopt(*relu_vae, likelihood="bernoulli", data=X)
    vaelab.VAE(**{"latent_dim": 2, "hidden": [8], "epochs": 1, "device": "cpu"}).fit(X).save(tmp_path / "vae")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "vae").iterdir()}
    with pytest.raises(RunError, match="holds history.csv, which AdoptedModel.save does not write"):
        model.save(tmp_path / "vae")
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "vae").iterdir()} == before
    model.save(tmp_path / "run")
    (tmp_path / "run" / "encoder.onnx").write_bytes(b"an earlier save's graph")
    model.save(tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["adopted.json", "config.json", "model.safetensors"]


# ------------------------------------------------------- plain autoencoders (deterministic encoders)
AE_SOURCE = '''
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3))

    def forward(self, x):
        return self.net(x.flatten(1))  # one code per input: a plain autoencoder


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 64))

    def forward(self, z):
        return self.net(z)
'''


@pytest.fixture(scope="module")
def autoencoder(tmp_path_factory, digits):
    """A plain autoencoder trained outside vaelab (BCE on grey digits), its code and weights on disk."""
    from safetensors.torch import save_file

    from vaelab.specs import resolve

    folder = tmp_path_factory.mktemp("ae")
    (folder / "ae.py").write_text(AE_SOURCE)
    torch.manual_seed(0)
    enc, dec = resolve(f"{folder / 'ae.py'}:Encoder"), resolve(f"{folder / 'ae.py'}:Decoder")
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=3e-3)
    x = torch.from_numpy(digits[0])
    for _ in range(20):
        for idx in torch.randperm(len(x)).split(64):
            loss = F.binary_cross_entropy_with_logits(dec(enc(x[idx])), x[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    save_file({**{f"encoder.{k}": v for k, v in enc.state_dict().items()},
               **{f"decoder.{k}": v for k, v in dec.state_dict().items()}}, folder / "ae.safetensors")  # fmt: skip
    np.save(folder / "x.npy", digits[0])
    return folder, enc.eval(), dec.eval()


def test_the_kernel_density_of_gaussian_codes_is_the_smoothed_gaussian():
    """Known answer: a Gaussian-kernel density of N(0, I) samples has expectation N(0, (1 + h²) I)."""
    from vaelab.analysis.aggregate import kde_logvar, log_aggregate

    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(4000, 2, generator=gen, dtype=torch.float64)
    lv = kde_logvar(mu)
    h2 = float(lv[0, 0].exp())
    assert h2 == pytest.approx((4000 ** (-1 / 6)) ** 2, rel=0.1)  # Scott's rule, sd about 1
    z = torch.randn(2000, 2, generator=gen, dtype=torch.float64)
    s2 = 1 + h2
    exact = -np.log(2 * np.pi * s2) - (z**2).sum(1).numpy() / (2 * s2)  # log N(z; 0, s2 I), L = 2
    diff = log_aggregate(z, mu, lv).numpy() - exact
    # Unbiased up to the KDE's noise (relative SD about 1/sqrt(4π N h² f) ≈ 0.06 where f ≈ 0.1); a wrong
    # normalisation or bandwidth shifts the mean by far more (a factor 2 in h²: about 0.3 nats).
    assert abs(diff.mean()) < 0.03 and np.median(np.abs(diff)) < 0.1


def test_a_plain_autoencoder_gets_what_applies_and_is_told_what_does_not(digits, autoencoder):
    X, y = digits
    _, enc, dec = autoencoder
    model = vaelab.adopt(enc, dec, likelihood="bernoulli", data=X)
    assert model.deterministic_ and model.latent_dim_ == 3
    d = vaelab.diagnose(model, X, y)
    block = d.to_dict()
    assert block["deterministic"] and {"kl_per_dimension", "elbo_surgery", "log_px"} <= set(block["not_applicable"])
    assert block["per_dimension"]["kl"] is None and block["surgery"] is None
    # order_by_kl (a contract) holds the codes' variance order here, and order_by says so (an audit, s12 h)
    assert block["order_by"] == "code_variance"
    assert block["order_by_kl"] == [int(i) for i in np.argsort(-np.asarray(block["per_dimension"]["var_mean"]), kind="stable")]
    assert 0 <= block["aggregate"]["prior_hole_mass"] <= 1 and block["aggregate"]["density"] == "kernel density of the codes"
    assert block["clustering"]["kmeans"]["ari"] > 0.1  # the codes still group the digits
    finding = next(f for f in d.findings if f.key == "deterministic_encoder")
    assert "aggregate-gmm" in finding.advice
    assert set(d.figures()) == {"kl_per_dimension", "latent_scatter", "aggregate_vs_prior", "class_scatter"}
    with pytest.raises(DataError, match="deterministic encoder"):
        model.log_likelihood(X[:5])
    # The posterior sampler re-decodes the codes themselves: q(z|x) is a point.
    z = fit_sampler("posterior", model, Dataset(X[:50])).sample(50, seed=0)
    np.testing.assert_allclose(np.sort(z, 0), np.sort(model.transform(X[:50]), 0), atol=1e-6)


def test_a_scale_is_refused_for_an_encoder_with_no_spread(digits, autoencoder, tmp_path, capsys):
    # --scale sigma with --deterministic was ignored without a word (an audit, s12), as was a scale given to an encoder
    # that returns one tensor: refused in one line, as adopt refuses the other options that cannot apply
    X, _ = digits
    folder, enc, dec = autoencoder
    run = tmp_path / "run"
    spec = [f"{folder / 'ae.py'}:Encoder", f"{folder / 'ae.py'}:Decoder"]
    code, _, err = _cli(capsys, "adopt", "--encoder", spec[0], "--decoder", spec[1], "--weights", folder / "ae.safetensors",
                        "--likelihood", "bernoulli", "--data", folder / "x.npy", "--deterministic", "--scale", "sigma",
                        "--out", run)  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "--scale" in err and "--deterministic" in err and "Drop one" in err, err
    assert not run.exists()
    with pytest.raises(ConfigError, match="returned one tensor, taken as a deterministic code"):
        vaelab.adopt(enc, dec, likelihood="bernoulli", data=X, scale="var")


def test_cli_adopts_a_plain_autoencoder_and_compare_samplers_picks_one(autoencoder, tmp_path, capsys):
    folder, _, _ = autoencoder
    run = tmp_path / "run"
    spec = [f"{folder / 'ae.py'}:Encoder", f"{folder / 'ae.py'}:Decoder"]
    code, out, err = _cli(capsys, "adopt", "--encoder", spec[0], "--decoder", spec[1], "--weights", folder / "ae.safetensors",
                          "--likelihood", "bernoulli", "--data", folder / "x.npy", "--deterministic", "--out", run)  # fmt: skip
    assert code == 0, err
    # adopt said nothing of it (an audit); score now scores it by its reconstruction error, and adopt says so
    assert "encoder:    deterministic" in out and "reconstruction_mse, not a log-likelihood" in out
    specs = ["--encoder", spec[0], "--decoder", spec[1]]
    code, out, err = _cli(capsys, "inspect", run, *specs)
    assert code == 0, err
    assert "these do not apply" in out and "kernel density" in out
    code, out, err = _cli(capsys, "compare-samplers", run, "--samplers", "prior", "aggregate-gmm", "--n", "30", *specs)
    assert code == 0 and "For this model, sample from" in out, err
    code, _, err = _cli(capsys, "score", run, "--n-samples", "5", "--quiet", *specs)  # no draws to set
    assert code == 2 and "deterministic encoder" in err and "--n-samples" in err and err.count("\n") == 1
    code, out, err = _cli(capsys, "explore", run, "arithmetic", "test:0", "test:1", *specs)
    assert code == 0 and "log p(x) does not apply" in out, err
    code, out, err = _cli(capsys, "explore", run, "traverse", "--dims", "0", *specs)  # in the codes' SDs (an audit)
    assert code == 0 and "code SD" in out and "prior SD" not in out, err
    # the spherical path about the codes' mean, not the prior's (an audit, s12), said
    code, out, err = _cli(capsys, "explore", run, "interpolate", "test:0", "test:1", "--steps", "3", *specs)
    assert code == 0 and "the spherical path turns about its codes' mean on the training split" in out, err
    assert _cli(capsys, "report", run)[0] == 0
    html = (run / "report.html").read_text(encoding="utf-8")
    # the likelihood section applies (reconstruction error in place of log p(x)); until score runs, it says to run it
    assert 'id="likelihood" data-status="na"' not in html and "deterministic" in html
    assert "not a log-likelihood" in html
    assert "code SD around the codes" in html and "never fitted to the prior" in html
    # its dimensions are ordered by their codes' variance, not by KL (order_by_kl's name said KL: an audit, s12 h)
    assert json.loads((run / "metrics.json").read_text())["diagnostics"]["order_by"] == "code_variance"
    assert "the variance of their codes (no KL: a deterministic encoder)" in html and "sorted by KL" not in html
    assert "the spherical path turns about the codes&#39; mean on the training split" in html


# ------------------------------------------------------------ a plain autoencoder scored by reconstruction error
PLAIN_AE_SOURCE = '''
import torch
from torch import nn


def encoder():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3))  # one code per input


def decoder():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 12))  # the Gaussian's mean
'''


@pytest.fixture
def plain_run(tmp_path, capsys):
    """A tiny plain autoencoder (a .py file, untrained: any fixed weights will do) adopted from the CLI on 300
    vectors near a 3-dimensional plane, and 40 outliers off it; the halves rebuilt to score them independently."""
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(300, 3)) @ rng.normal(size=(3, 12)) + 0.1 * rng.normal(size=(300, 12))).astype(np.float32)
    outliers = (3.0 * rng.normal(size=(40, 12))).astype(np.float32)
    (tmp_path / "ae.py").write_text(PLAIN_AE_SOURCE)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "out.npy", outliers)
    run = tmp_path / "run"
    specs = ["--encoder", f"{tmp_path / 'ae.py'}:encoder", "--decoder", f"{tmp_path / 'ae.py'}:decoder"]
    code, out, err = _cli(capsys, "adopt", *specs, "--likelihood", "gaussian-fixed", "--sigma", "0.5", "--data",
                          tmp_path / "x.npy", "--val-fraction", "0.2", "--out", run)  # fmt: skip
    assert code == 0 and "encoder:    deterministic" in out and f"vaelab score {run}" in out, err
    from vaelab.specs import resolve

    enc, dec = resolve(f"{tmp_path / 'ae.py'}:encoder").eval(), resolve(f"{tmp_path / 'ae.py'}:decoder").eval()

    def mse(A):  # the mean over features of (x - E[x|z])², z the code: computed here, not by vaelab
        with torch.no_grad():
            t = torch.from_numpy(np.asarray(A, dtype=np.float32))
            return ((t - dec(enc(t))) ** 2).mean(1).double().numpy()

    split = np.load(run / "split.npy")
    return run, specs, X, outliers, split, mse


def test_score_of_a_plain_autoencoder_is_its_reconstruction_error_not_a_likelihood(plain_run, tmp_path, capsys):
    """Known answer: score's reconstruction_mse is the mean squared error of each example against the decoder's mean at
    its code, computed here with the halves themselves; its percentile among the validation split's errors, and the
    flags in the *upper* tail (an error is unusual when high). Before, score refused every plain autoencoder."""
    run, specs, X, outliers, split, mse = plain_run
    test, val = mse(X[split == 2]), np.sort(mse(X[split == 1]))
    csv = tmp_path / "scores.csv"
    code, out, err = _cli(capsys, "score", run, "--out", csv, "--quiet", *specs)
    assert code == 0, err
    assert "not a log-likelihood" in out and "NLL" not in out and "bits/dim" not in out and "ELBO" not in out
    assert "above percentile 99 of the validation split" in out
    import pandas as pd

    frame = pd.read_csv(csv)
    assert list(frame.columns) == ["example", "reconstruction_mse", "percentile", "flag", "reason"]
    np.testing.assert_allclose(frame["reconstruction_mse"], test, rtol=1e-5)
    np.testing.assert_allclose(frame["percentile"], 100 * np.interp(test, val, np.arange(val.size)) / (val.size - 1),
                               atol=1e-3)  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    assert "likelihood" not in metrics  # no NLL was measured, and none is claimed
    block = metrics["reconstruction_error"]
    assert block["score"] == "reconstruction_mse" and "not a log-likelihood" in block["what"]
    assert block["test_reconstruction_mse"] == pytest.approx(test.mean(), rel=1e-5)
    assert block["test_reconstruction_mse_stderr"] == pytest.approx(test.std(ddof=1) / math.sqrt(test.size), rel=1e-4)
    assert block["n_examples"] == test.size and block["flag_rule"].startswith("reconstruction_mse above percentile 99")
    # the outliers, flagged above percentile 95 of the validation errors: exactly those with a larger error
    code, out, err = _cli(capsys, "score", run, tmp_path / "out.npy", "--threshold", "5", "--out", csv, "--quiet", *specs)
    assert code == 0, err
    flags = pd.read_csv(csv)["flag"].to_numpy()
    expected = mse(outliers) > np.percentile(val, 95)
    assert 0 < expected.sum() < len(expected)  # some flagged, some not: the rule is tested both ways
    np.testing.assert_array_equal(flags, expected)
    # the report shows it under its name, not as an NLL
    assert _cli(capsys, "report", run)[0] == 0
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "test reconstruction_mse (not a log-likelihood)" in html and "test NLL" not in html


def test_anomaly_eval_of_a_plain_autoencoder_ranks_by_reconstruction_error(plain_run, capsys):
    """Known answer: AUROC and AUPRC of the reconstruction error (outliers positive, a high error anomalous) are
    sklearn's on the errors computed here; they carry intervals as the VAE scores do."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    run, specs, X, outliers, split, mse = plain_run
    code, out, err = _cli(capsys, "anomaly-eval", run, "--outliers", run.parent / "out.npy", "--quiet", *specs)
    assert code == 0, err
    assert "reconstruction_mse" in out and "not a log-likelihood" in out and "K = " not in out
    block = json.loads((run / "metrics.json").read_text())["anomaly"]
    assert list(block["scores"]) == ["reconstruction_mse"] and block["n_samples"] is None
    m = block["scores"]["reconstruction_mse"]
    truth = np.r_[np.zeros((split == 2).sum()), np.ones(len(outliers))]
    errors = np.r_[mse(X[split == 2]), mse(outliers)]
    assert m["auroc"] == pytest.approx(roc_auc_score(truth, errors), abs=1e-12) and m["auroc"] > 0.5
    assert m["auprc"] == pytest.approx(average_precision_score(truth, errors), abs=1e-9)
    assert m["auroc_interval"][0] < m["auroc"] <= m["auroc_interval"][1]
    assert m["auprc_interval"][0] <= m["auprc"] <= m["auprc_interval"][1]
    assert "not a log-likelihood" in block["scores_what"]["reconstruction_mse"]
    assert _cli(capsys, "report", run)[0] == 0
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "importance samples" not in html.split('id="likelihood"')[1].split("</section>")[0]


def test_a_plain_autoencoder_refuses_what_needs_a_posterior_in_one_line(plain_run, outside, tmp_path, capsys):
    run, specs, *_ = plain_run
    for extra, said in ((["--score", "log_px"], "--score log_px needs"), (["--score", "elbo"], "--score elbo needs"),
                        (["--n-samples", "10"], "--n-samples"), (["--binarizations", "2"], "--binarizations"),
                        (["--chunk-size", "64"], "--chunk-size")):  # fmt: skip
        code, _, err = _cli(capsys, "score", run, *extra, "--quiet", *specs)
        assert code == 2 and said in err and "plain autoencoder" in err and err.count("\n") == 1, (extra, err)
    code, _, err = _cli(capsys, "anomaly-eval", run, "--outliers", run.parent / "out.npy", "--n-samples", "9", *specs)
    assert code == 2 and "--n-samples" in err and err.count("\n") == 1, err
    # labels for a model that takes none: refused, in words that claim no log p(x) for it (an audit, s15: "its log p(x)
    # takes none")
    np.save(run.parent / "labels.npy", np.arange(40) % 2)
    code, _, err = _cli(capsys, "score", run, run.parent / "out.npy", "--labels", run.parent / "labels.npy", *specs)
    assert code == 2 and "not conditional" in err and "log p(x)" not in err and err.count("\n") == 1, err
    # a VAE has log p(x), its default; the reconstruction error is its score only when asked for (an audit, s15: it was
    # refused), at the posterior mean and said so, never swapped in silently
    vae_run = tmp_path / "vae"
    assert _cli(capsys, *_adopt_args(outside, vae_run, "--weights", outside / "vae.safetensors"))[0] == 0
    py = outside / "vae_model.py"
    halves = ["--encoder", f"{py}:Encoder", "--decoder", f"{py}:Decoder"]
    code, out, err = _cli(capsys, "score", vae_run, "--score", "reconstruction_mse", "--quiet", *halves)
    assert code == 0 and "at the posterior mean" in out and "plain autoencoder" not in out, err
    code, out, err = _cli(capsys, "score", vae_run, "--n-samples", "5", "--quiet", *halves)
    assert code == 0 and "reconstruction_mse" not in out and "NLL" in out, err


def test_a_reconstruction_error_depends_on_the_example_alone(plain_run):
    """No draws: an example's error is the same alone, in a batch, or at another position; a model adopted with
    --binarize reconstructs the example's own fixed binarization."""
    from vaelab.analysis.reconstruction_error import reconstruction_error

    run, specs, X, *_ = plain_run
    model = vaelab.load(run, encoder=specs[1], decoder=specs[3])
    whole = reconstruction_error(model, X[:50]).reconstruction_mse
    alone = np.array([reconstruction_error(model, X[i : i + 1]).reconstruction_mse[0] for i in (0, 17, 49)])
    np.testing.assert_array_equal(alone, whole[[0, 17, 49]])
    np.testing.assert_array_equal(reconstruction_error(model, X[49::-1][:50]).reconstruction_mse, whole[::-1])


# ------------------------------------------------------------ models from pythae and diffusers
def test_a_pythae_vae_is_adopted_whole_and_scores_as_pythae_does(digits):
    """pythae's own importance-sampled log p(x) (VAE.get_nll, which returns the mean log p(x)) is the
    reference: ours on the same model agrees within Monte Carlo error."""
    pytest.importorskip("pythae")
    import warnings

    from pythae.models import AE, AEConfig, VAEConfig
    from pythae.models import VAE as PythaeVAE

    X, y = digits
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pvae = PythaeVAE(VAEConfig(input_dim=(1, 8, 8), latent_dim=3, reconstruction_loss="bce"))
        model = vaelab.adopt(pvae, likelihood="bernoulli", data=X)
        assert model.input_shape_ == (1, 8, 8) and model.probabilities  # pythae's decoder gives probabilities
        ours = -model.log_likelihood(X[:100], n_samples=200, seed=0).log_px.mean()
        theirs = -pvae.get_nll(torch.from_numpy(X[:100]).reshape(-1, 1, 8, 8), n_samples=200, batch_size=100)
        assert abs(ours - theirs) < 0.05
        assert vaelab.diagnose(model, X, y).n_examples == len(X)
        ae = vaelab.adopt(AE(AEConfig(input_dim=(1, 8, 8), latent_dim=3)), likelihood="gaussian-fixed", data=X)
        assert ae.deterministic_  # a pythae AE has no covariance: a plain autoencoder


def test_a_diffusers_autoencoder_reports_its_spatial_latent_per_channel():
    """A tiny AutoencoderKL built from a config (no download): 4 × 8 × 8 latents of 16 × 16 images."""
    pytest.importorskip("diffusers")
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    ae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                       up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                       latent_channels=4, norm_num_groups=4, sample_size=16)  # fmt: skip
    X = (np.random.default_rng(0).random((40, 3, 16, 16)) * 2 - 1).astype(np.float32)
    model = vaelab.adopt(ae, likelihood="gaussian-fixed", sigma=0.1, data=X)
    assert model.latent_shape_ == (4, 8, 8) and model.latent_dim_ == 256
    d = vaelab.diagnose(model, X)
    pc = d.to_dict()["per_channel"]
    assert pc["shape"] == [4, 8, 8] and len(pc["aggregate_sd"]) == 4
    # The per-channel KL is the per-dimension KL summed over the channel's positions.
    kl = np.asarray(d.per_dim["kl"]).reshape(4, -1).sum(1)
    np.testing.assert_allclose(pc["kl"], kl, rtol=1e-9)
    mu = model.transform(X).reshape(40, 4, -1)
    np.testing.assert_allclose(pc["aggregate_mean"], mu.mean((0, 2)), atol=1e-5)
    np.testing.assert_allclose(np.asarray(pc["scaling_factor"]) * pc["aggregate_sd"], pc["prior_sd"], rtol=1e-9)
    assert any(f.key == "latent_scale" for f in d.findings)
    out = model.inverse_transform(np.zeros((2, 256)))
    assert out.shape == (2, 3, 16, 16) and np.isfinite(out).all()
    # Traversals per channel: every position of one channel moves by the same number of prior SDs.
    tr = traverse(model, X, reference=X[0], steps=5, span=2.0)
    assert tr.unit == "channel" and sorted(tr.dims) == [0, 1, 2, 3] and tr.decoded.shape == (4, 5, 3, 16, 16)
    np.testing.assert_allclose(tr.kl, [pc["kl"][c] for c in tr.dims], rtol=1e-9)
    centre = tr.reference.reshape(4, -1)
    np.testing.assert_allclose(tr.values, centre[tr.dims].mean(1)[:, None] + tr.offsets[None, :], atol=1e-9)
    one = traverse(model, dims=[2], reference=X[0], steps=3, span=1.0)  # the decode of a shifted channel 2
    z = centre.copy()
    z[2] += 1.0
    np.testing.assert_allclose(one.decoded[0, 2], model.inverse_transform(z.reshape(1, -1))[0], atol=1e-5)
    flat = traverse(model, dims=[5], steps=3, per="dimension")
    assert flat.unit == "dimension" and flat.decoded.shape == (1, 3, 3, 16, 16)
    with pytest.raises(ConfigError, match="channels"):
        traverse(model, dims=[4], per="channel")


TINY_KL = """import torch
from diffusers import AutoencoderKL


def build():
    torch.manual_seed(1)  # a fresh random model each call: the run's weights must be what count
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                         up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                         latent_channels=4, norm_num_groups=4, sample_size=16)
"""


def test_cli_adopts_a_diffusers_autoencoder_as_one_model_and_reports_per_channel(tmp_path, capsys):
    """vaelab adopt --model SPEC: a library's model (both halves in one object) from the CLI, its weights
    from safetensors; every later command opens it with --model (never from the run folder alone)."""
    pytest.importorskip("diffusers")
    from safetensors.torch import save_file

    (tmp_path / "tiny_kl.py").write_text(TINY_KL)
    torch.manual_seed(0)
    from diffusers import AutoencoderKL

    trained = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                            up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                            latent_channels=4, norm_num_groups=4, sample_size=16)  # fmt: skip
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(tmp_path / "kl.safetensors"))
    X = (np.random.default_rng(0).random((60, 3, 16, 16)) * 2 - 1).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    spec, run = f"{tmp_path / 'tiny_kl.py'}:build", tmp_path / "run"
    base = ["adopt", "--likelihood", "gaussian-fixed", "--sigma", "0.1", "--data", tmp_path / "x.npy", "--out", run]
    code, _, err = _cli(capsys, *base, "--model", spec, "--encoder", spec)
    assert code == 2 and "not both" in err and err.count("\n") == 1
    code, _, err = _cli(capsys, *base[:-2], "--out", tmp_path / "r2", "--model", f"{tmp_path / 'tiny_kl.py'}:torch")
    assert code == 2 and err.count("\n") == 1, err
    code, out, err = _cli(capsys, *base, "--model", spec, "--weights", tmp_path / "kl.safetensors")
    assert code == 0 and "pass --model SPEC again" in out, err
    assert json.loads((run / "adopted.json").read_text())["latent_shape"] == [4, 8, 8]
    code, _, err = _cli(capsys, "inspect", run)
    assert code == 2 and "never imports code a run folder names" in err
    code, out, err = _cli(capsys, "inspect", run, "--model", spec)
    assert code == 0 and "per channel of the 4x8x8 latent" in out, err
    # The run's weights, not build()'s fresh ones: the codes are those of the trained model.
    model = vaelab.load(run, encoder=trained)
    np.testing.assert_allclose(model.transform(X[:3]), vaelab.adopt(trained, likelihood="gaussian-fixed", sigma=0.1,
                                                                    data=X).transform(X[:3]), atol=1e-5)  # fmt: skip
    code, out, err = _cli(capsys, "explore", run, "traverse", "--model", spec, "--steps", "3")
    assert code == 0 and "of channels" in out, err
    entry = json.loads((run / "metrics.json").read_text())["explore"]["traverse"]
    assert entry["unit"] == "channel" and len(entry["dims"]) <= 4


def test_a_vaelab_run_with_custom_networks_opens_from_the_cli_by_spec(digits, tmp_path, capsys):
    (tmp_path / "nets.py").write_text(
        "from torch import nn\n\n"
        "def encoder():\n    return nn.Sequential(nn.Linear(64, 16), nn.Tanh())\n\n"
        "def decoder():\n    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 64))\n"
    )
    from vaelab.specs import resolve

    X, _ = digits
    torch.manual_seed(0)
    enc, dec = resolve(f"{tmp_path / 'nets.py'}:encoder"), resolve(f"{tmp_path / 'nets.py'}:decoder")
    vaelab.VAE(latent_dim=2, epochs=2, device="cpu", encoder=enc, decoder=dec).fit(X).save(tmp_path / "run")
    np.save(tmp_path / "x.npy", X)
    code, _, err = _cli(capsys, "inspect", tmp_path / "run", tmp_path / "x.npy")
    assert code == 2 and "--encoder SPEC --decoder SPEC" in err
    code, out, err = _cli(capsys, "inspect", tmp_path / "run", tmp_path / "x.npy", "--encoder",
                          f"{tmp_path / 'nets.py'}:encoder", "--decoder", f"{tmp_path / 'nets.py'}:decoder")  # fmt: skip
    assert code == 0 and "latent dimensions active" in out, err


@pytest.mark.parametrize("damage", ["truncated", "a list", "bad kind", "bad hash", "extra halves", "bad shape"])
def test_a_damaged_adopted_json_is_one_line(digits, relu_vae, tmp_path, capsys, damage):
    X, _ = digits
    run = tmp_path / "run"
    vaelab.adopt(*relu_vae, likelihood="bernoulli", data=X).save(run)
    raw = (run / "adopted.json").read_text()
    record = json.loads(raw)
    if damage == "truncated":
        text = raw[: len(raw) // 2]
    elif damage == "a list":
        text = "[]"
    else:
        if damage == "bad kind":
            record["halves"]["encoder"]["kind"] = "pickle"
        elif damage == "bad hash":
            record["halves"]["decoder"] = {"kind": "onnx", "sha256": "x"}
        elif damage == "extra halves":
            record["halves"]["prior"] = {"kind": "module"}
        else:
            record["latent_shape"] = [4, -1]
        text = json.dumps(record)
    (run / "adopted.json").write_text(text)
    np.save(tmp_path / "x.npy", X)
    code, _, err = _cli(capsys, "inspect", run, tmp_path / "x.npy", "--trust-run")
    assert code == 2 and err.count("\n") == 1 and "adopted.json" in err, err


def test_the_effective_sample_size_of_the_importance_weights():
    """ESS = K / (1 + (K - 1) SE²) is Kish's (Σw)² / Σw² for the SE the estimator reports (var with K - 1); with
    q(z|x) the exact posterior every weight is equal (ESS = K); with a q far too narrow few draws carry the
    estimate, which score reports (its delta-method SE stays near 1 nat however wrong log p(x) is)."""
    from vaelab.analysis.likelihood import LikelihoodResult

    rng = np.random.default_rng(1)
    w = np.exp(rng.normal(scale=2.0, size=(7, 50)))  # 7 examples' weights, K = 50
    K = w.shape[1]
    se = np.sqrt(w.var(axis=1, ddof=1) / K) / w.mean(axis=1)  # as nn.vae.importance_log_likelihood computes it
    zeros = np.zeros(7)
    result = LikelihoodResult(zeros, se, zeros, zeros, zeros, n_samples=K, n_features=1)
    np.testing.assert_allclose(result.effective_sample_size(), w.sum(1) ** 2 / (w**2).sum(1), rtol=1e-10)
    assert np.isnan(LikelihoodResult(zeros, se, zeros, zeros, zeros, K, 1, binarizations=3).effective_sample_size()).all()

    D, s = 6, 0.5
    Q, _ = np.linalg.qr(rng.normal(size=(D, L)))
    W = torch.from_numpy((Q * np.array([2.0, 1.5, 1.0, 0.7])).astype(np.float32))
    X = (rng.normal(size=(30, L)) @ W.numpy().T + s * rng.normal(size=(30, D))).astype(np.float32)
    m = (W**2).sum(0) + s**2

    def encoder(narrow):
        return lambda x: ((x @ W) / m, torch.log(s**2 / m).expand(x.shape[0], L) - narrow)

    exact = vaelab.adopt(encoder(0.0), lambda z: z @ W.T, likelihood="gaussian-fixed", sigma=s, data=X)
    np.testing.assert_allclose(log_likelihood(exact, X, n_samples=64, seed=0).effective_sample_size(), 64, rtol=1e-3)
    narrow = vaelab.adopt(encoder(8.0), lambda z: z @ W.T, likelihood="gaussian-fixed", sigma=s, data=X)
    assert np.median(log_likelihood(narrow, X, n_samples=64, seed=0).effective_sample_size()) < 10


# ------------------------------------------------------------ advice and messages on adopted runs (audit s12 d)
class _Ignores(nn.Module):
    """A decoder that ignores z: posterior collapse by construction."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(64))

    def forward(self, z):
        return self.bias.expand(z.shape[0], 64) + 0 * z.sum(1, keepdim=True)


def test_advice_on_an_adopted_run_names_what_reaches_it(outside, digits, tmp_path, capsys):
    """score advised train's options (--binarize fixed or dynamic, --likelihood continuous-bernoulli) and inspect
    a KL warm-up (--warmup-epochs 10) for a model adopted from elsewhere, which those options cannot reach."""
    run = tmp_path / "run"
    assert _cli(capsys, *_adopt_args(outside, run, "--weights", outside / "vae.safetensors"))[0] == 0
    code, out, err = _cli(capsys, "score", run, "--n-samples", "5", "--quiet", "--trust-run")
    assert code == 0, err
    assert "not an NLL" in out and "adopt it again with --binarize" in out
    assert "fixed or dynamic" not in out and "train with" not in out
    code, _, err = _cli(capsys, "sample", run, "--n", "2", "--class", "3", "--out", tmp_path / "s.npy", "--trust-run")
    assert code == 2 and "adopted with --conditional" in err, err
    X, _ = digits
    d = vaelab.diagnose(vaelab.adopt(Encoder(), _Ignores(), likelihood="bernoulli", data=X[:100]), X[:100])
    collapse = next(f for f in d.findings if f.key == "posterior_collapse")
    assert "--warmup-epochs" not in collapse.advice and "trained elsewhere" in collapse.advice
    assert all("--prior mog" not in f.advice for f in d.findings)


def _adopted_with_damaged(digits, relu_vae, tmp_path, name, damage):
    """An adopted run whose file ``name`` is missing or truncated to its first bytes."""
    X, _ = digits
    run = tmp_path / "run"
    vaelab.adopt(*relu_vae, likelihood="bernoulli", data=X).save(run)
    if damage == "missing":
        (run / name).unlink()
    else:
        (run / name).write_bytes((run / name).read_bytes()[:20])
    return run


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_damaged_weights_file_of_an_adopted_run_says_to_adopt_again(digits, relu_vae, tmp_path, capsys, damage):
    """A missing model.safetensors of an adopted run asked "was training interrupted before the first epoch ended?",
    and a damaged one said to retrain: vaelab never trained that model."""
    run = _adopted_with_damaged(digits, relu_vae, tmp_path, "model.safetensors", damage)
    with pytest.raises(VaelabError) as err:
        vaelab.load(run, encoder=relu_vae[0], decoder=relu_vae[1])
    text = str(err.value)
    assert "adopt the model again" in text.lower() and "training" not in text and "retrain" not in text.lower(), text


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_damaged_adopted_json_costs_the_report_only_what_it_describes(digits, relu_vae, tmp_path, capsys, damage):
    """A missing or damaged adopted.json stopped `vaelab report` entirely, where another kind's damaged file costs
    only its section: the page is written, says why the halves are not shown, and still claims no training."""
    run = _adopted_with_damaged(digits, relu_vae, tmp_path, "adopted.json", damage)
    code, _, err = _cli(capsys, "report", run)
    assert code == 0, err
    html = (run / "report.html").read_text(encoding="utf-8")
    data = html[html.index('id="data"'):html.index('id="training"')]
    assert "adopted.json could not be read" in data and "hidden layers" not in data
    assert "none: grey values are scored as they are" in data  # config.json records the binarization adopt used
    assert 'id="training" data-status="na"' in html and "trained elsewhere" in html


def test_traversals_and_grids_of_a_plain_autoencoder_step_in_its_codes_scale(digits, autoencoder):
    """A deterministic encoder was never fitted to N(0, I): traversals centred on the prior's mean and stepping in
    prior SDs showed mostly extrapolation (codes with mean 1.1 and SDs 0.36 to 1.05). With data, the codes' mean
    and SD set the scale, and the result says so."""
    from scipy.special import ndtri

    from vaelab.analysis.explore import manifold_grid

    X, _ = digits
    _, enc, dec = autoencoder
    model = vaelab.adopt(enc, dec, likelihood="bernoulli", data=X)
    codes = model.transform(X).astype(np.float64)
    mean, sd = codes.mean(0), codes.std(0)
    tr = traverse(model, X, dims=[0, 2], span=2.0, steps=5)
    assert tr.scale == "codes" and tr.to_dict()["scale"] == "codes" and tr.sd_name == "code SD" and not tr.centred
    np.testing.assert_allclose(tr.reference, mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(tr.values[1], mean[2] + np.linspace(-2, 2, 5) * sd[2], rtol=1e-4, atol=1e-5)
    g = manifold_grid(model, X, dims=[0, 1], n=4)
    q = (np.arange(4) + 0.5) / 4
    assert g.scale == "codes"
    np.testing.assert_allclose(g.values[0], mean[0] + sd[0] * ndtri(q), rtol=1e-4, atol=1e-5)
    # without data there is nothing to measure the codes on: the prior, and said so
    assert traverse(model, dims=[0], steps=3).scale == "prior"


def test_the_spherical_path_of_a_plain_autoencoder_turns_about_its_codes_mean(digits, autoencoder):
    """Spherical interpolation turned about the prior's mean (0), where a plain autoencoder's codes (mean about 1.1)
    never were: the path swung out of the codes. It turns about the aggregate's (training) codes' mean, and says so."""
    from vaelab.analysis.explore import AggregatePosterior, interpolate, slerp

    X, _ = digits
    _, enc, dec = autoencoder
    model = vaelab.adopt(enc, dec, likelihood="bernoulli", data=X)
    agg = AggregatePosterior.fit(model, X[:300])
    res = interpolate(model, X[0], X[1], aggregate=agg, steps=5)
    assert res.scale == "codes" and res.to_dict()["scale"] == "codes"
    codes = model.transform(X[:300]).astype(np.float64)
    za, zb = model.transform(X[:2]).astype(np.float64)
    t = np.linspace(0, 1, 5)
    np.testing.assert_allclose(res.z["spherical"], slerp(za, zb, t, codes.mean(0)), rtol=1e-4, atol=1e-5)
    assert np.abs(res.z["spherical"] - slerp(za, zb, t)).max() > 1e-2  # not about 0
    np.testing.assert_allclose(res.z["spherical"][[0, -1]], [za, zb], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("binarize", [False, True])
def test_config_json_of_an_adopted_run_records_the_binarization_adopt_used(outside, tmp_path, capsys, binarize):
    """config.json of an adopted run held train.binarize "dynamic" (train's default, never used): it records what
    adopt used ("fixed" with --binarize, else "none"), and RunConfig reads it back."""
    from vaelab.checkpoint import RunDir

    run = tmp_path / "run"
    extra = ["--binarize"] if binarize else []
    assert _cli(capsys, *_adopt_args(outside, run, "--weights", outside / "vae.safetensors", *extra))[0] == 0
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["binarize"] == ("fixed" if binarize else "none")
    assert config["data"]["binarized_eval"] is binarize
    read = RunDir(run).read_config()
    assert read.train.binarize == config["train"]["binarize"] and read.model.arch == "adopted"


def test_adopt_says_which_halves_keep_the_weights_their_spec_built(outside, tmp_path, capsys):
    """With only --encoder-weights, or none, a half keeps whatever its SPEC built, and adopt did not say so."""
    code, out, err = _cli(capsys, *_adopt_args(outside, tmp_path / "a", "--encoder-weights", outside / "enc.safetensors"))
    assert code == 0, err
    assert "weights:    decoder as its SPEC built it (no weights file" in out and "encoder as" not in out
    code, out, err = _cli(capsys, *_adopt_args(outside, tmp_path / "b"))
    assert code == 0 and "weights:    encoder and decoder as their SPECs built them" in out, err
    code, out, err = _cli(capsys, *_adopt_args(outside, tmp_path / "c", "--weights", outside / "vae.safetensors"))
    assert code == 0 and "weights:" not in out, err


def test_adopt_refuses_options_its_likelihood_or_model_cannot_use(digits):
    """--binarize with a Gaussian binarized the data it scored and called a Gaussian density of binarized points the
    NLL; --sigma with a Bernoulli and --label-format onehot for an unconditional model were ignored without a word."""
    X, _ = digits
    enc, dec = Encoder(), Decoder()
    for lik in ("gaussian-fixed", "continuous-bernoulli"):
        _bad("binarize=True says", enc, dec, likelihood=lik, data=X, binarize=True)  # Python's terms (the CLI: --binarize)
    _bad("sigma=0.1 is the SD", enc, dec, likelihood="bernoulli", data=X, sigma=0.1)
    _bad("label_format='onehot' is how", enc, dec, likelihood="bernoulli", data=X, label_format="onehot")
    assert vaelab.adopt(enc, dec, likelihood="bernoulli", data=X, binarize=True).evaluation_seed() is not None
    assert vaelab.adopt(enc, dec, likelihood="gaussian-fixed", data=X).sigma == 1.0  # the default


def test_traverse_and_grid_of_a_run_without_held_out_splits_use_the_training_codes(autoencoder, tmp_path, capsys):
    """A run with --val-fraction 0 --test-fraction 0 could not be traversed ("The run's val split is empty; ... train
    with a val fraction > 0"), though a traversal needs only codes: the training split's are used, and said."""
    folder, _, _ = autoencoder
    run = tmp_path / "run"
    spec = [f"{folder / 'ae.py'}:Encoder", f"{folder / 'ae.py'}:Decoder"]
    code, _, err = _cli(capsys, "adopt", "--encoder", spec[0], "--decoder", spec[1], "--weights", folder / "ae.safetensors",
                        "--likelihood", "bernoulli", "--data", folder / "x.npy", "--out", run, "--val-fraction", "0",
                        "--test-fraction", "0")  # fmt: skip
    assert code == 0, err
    specs = ["--encoder", spec[0], "--decoder", spec[1]]
    for what in (["traverse"], ["traverse", "--dims", "1"], ["grid"]):
        code, out, err = _cli(capsys, "explore", run, *what, *specs)
        assert code == 0 and "on the training split" in out, (what, err)
    assert json.loads((run / "metrics.json").read_text())["explore"]["grid"]["codes_from"] == "train"
    # arithmetic needs no test split here: no log p(x), so no reference to place it among (it was refused: an audit,
    # s12); the report does not claim one ("placed among the 0 test examples")
    code, out, err = _cli(capsys, "explore", run, "arithmetic", "train:0", "train:1", *specs)
    assert code == 0 and "log p(x) does not apply" in out, err
    assert json.loads((run / "metrics.json").read_text())["explore"]["arithmetic"]["n_test"] == 0
    assert _cli(capsys, "report", run)[0] == 0
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "log p(x) does not apply: the encoder is deterministic" in html and "among the 0 test" not in html


def test_an_onnx_graph_of_float64_inputs_is_fed_float64(digits, tmp_path):
    """OnnxGraph fed every float input as float32 whatever type the graph declared, so a float64 graph (a Keras or
    JAX export in double precision) failed: "Unexpected input data type. Actual: (tensor(float)), expected:
    (tensor(double))"."""
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    def graph(path, din, dout, outs):
        w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(din, dout)) * 0.1, "W")  # float64
        nodes = [helper.make_node("MatMul", ["x", "W"], [f"y{i}"]) for i in range(outs)]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["n", din])],
                              [helper.make_tensor_value_info(f"y{i}", TensorProto.DOUBLE, ["n", dout]) for i in range(outs)],
                              [w])  # fmt: skip
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.save(model, path)
        return str(path)

    X, _ = digits
    model = vaelab.adopt(graph(tmp_path / "enc.onnx", 64, 3, 2), graph(tmp_path / "dec.onnx", 3, 64, 1),
                         likelihood="bernoulli", data=X)  # fmt: skip
    assert model.latent_dim_ == 3 and np.isfinite(model.transform(X[:4])).all()


def test_adopt_out_inside_another_run_is_refused(outside, tmp_path, capsys):
    """adopt --out R/cache wrote a run inside the run R (an audit, s13): refused in one line, nothing written."""
    run = tmp_path / "run"
    assert _cli(capsys, *_adopt_args(outside, run, "--weights", outside / "vae.safetensors"))[0] == 0
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    code, _, err = _cli(capsys, *_adopt_args(outside, run / "cache", "--weights", outside / "vae.safetensors"))
    assert code == 2 and "inside the vaelab run" in err and err.count("\n") == 1, err
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before


def test_weights_errors_say_what_arrived_and_what_to_do(outside, tmp_path, capsys):
    """An audit (s13): --weights '' read as ". : no such weights file" (the empty path is the current folder to
    pathlib), and a weights file that does not fit the module gave no next step."""
    from safetensors.torch import save_file

    code, _, err = _cli(capsys, *_adopt_args(outside, tmp_path / "run", "--weights", ""))
    assert code == 2 and err.count("\n") == 1 and "empty" in err and ". :" not in err and "./" not in err, err
    code, _, err = _cli(capsys, *_adopt_args(outside, tmp_path / "run", "--weights", tmp_path))
    assert code == 2 and "is a folder" in err, err
    save_file({"encoder.nope": torch.zeros(2), "decoder.nope": torch.zeros(2)}, tmp_path / "other.safetensors")
    code, _, err = _cli(capsys, *_adopt_args(outside, tmp_path / "run", "--weights", tmp_path / "other.safetensors"))
    assert code == 2 and err.count("\n") == 1 and "do not fit" in err and "state_dict()" in err, err
    assert not (tmp_path / "run").exists()


def test_load_is_annotated_with_what_it_returns_for_an_adopted_run(outside, tmp_path, capsys):
    """An audit (s13): vaelab.load was annotated and documented as returning a VAE; an adopted run gives an
    AdoptedModel."""
    import typing

    import vaelab
    from vaelab.adopt import AdoptedModel

    run = tmp_path / "run"
    assert _cli(capsys, *_adopt_args(outside, run, "--weights", outside / "vae.safetensors"))[0] == 0
    model = vaelab.load(run, encoder=f"{outside / 'vae_model.py'}:Encoder", decoder=f"{outside / 'vae_model.py'}:Decoder")
    assert isinstance(model, AdoptedModel)
    hint = typing.get_type_hints(vaelab.load)["return"]
    assert AdoptedModel in typing.get_args(hint), hint
    assert "AdoptedModel" in vaelab.load.__doc__


def test_the_validation_reference_is_estimated_again_when_the_models_code_changes(tmp_path, capsys):
    """An audit (s14): the calibration cache was keyed on the SPECs and the weights, not the code a SPEC names; a
    decoder edited in place (same file, same weights) was scored against the old model's validation reference, so
    every percentile and flag placed the new model's log p(x) among the old one's (mean percentile 56.1, 50.1 when
    estimated afresh). The source of the halves' classes is now part of the key; unchanged code reuses the cache."""
    import pandas as pd

    source = textwrap.dedent('''
        import torch
        from torch import nn
        SCALE = 1.0
        class Enc(nn.Module):
            def __init__(self):
                super().__init__(); torch.manual_seed(0); self.mu = nn.Linear(12, 3); self.lv = nn.Linear(12, 3)
            def forward(self, x):
                return self.mu(x), self.lv(x) - 2
        class Dec(nn.Module):
            def __init__(self):
                super().__init__(); torch.manual_seed(1); self.n = nn.Linear(3, 12)
            def forward(self, z):
                return SCALE * self.n(z)
    ''')  # fmt: skip
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", (rng.normal(size=(300, 3)) @ rng.normal(size=(3, 12))).astype(np.float32))
    code_file, run, csv = tmp_path / "vae.py", tmp_path / "run", tmp_path / "s.csv"
    code_file.write_text(source)
    specs = ["--encoder", f"{code_file}:Enc", "--decoder", f"{code_file}:Dec"]
    assert _cli(capsys, "adopt", *specs, "--likelihood", "gaussian-fixed", "--data", tmp_path / "x.npy", "--out", run)[0] == 0

    def percentiles():
        code, _, err = _cli(capsys, "score", run, "--n-samples", "8", "--quiet", "--out", csv, *specs)
        assert code == 0, err
        return pd.read_csv(csv)["percentile"].to_numpy()

    percentiles()  # caches the reference of the first model
    cached = (run / "calibration.safetensors").stat().st_mtime_ns
    code_file.write_text(source.replace("SCALE = 1.0", "SCALE = 0.5"))
    edited = percentiles()
    (run / "calibration.safetensors").unlink()
    np.testing.assert_allclose(edited, percentiles())  # as if estimated afresh
    again = (run / "calibration.safetensors").stat().st_mtime_ns
    percentiles()
    assert (run / "calibration.safetensors").stat().st_mtime_ns == again != cached  # unchanged code: the cache is kept


def test_explore_arithmetic_of_a_plain_autoencoder_refuses_n_samples(plain_run, capsys):
    """A plain autoencoder has no log p(x), so explore arithmetic draws nothing: an explicit --n-samples was ignored
    without a word (its default was 200, an explicit value indistinguishable from it; an audit, s14). Refused in one
    line before any work, as score refuses it; without it the arithmetic runs."""
    run, specs, *_ = plain_run
    code, out, err = _cli(capsys, "explore", run, "arithmetic", "test:0", "test:1", *specs, "--n-samples", "50")
    assert code == 2 and err.count("\n") == 1 and "--n-samples" in err and "plain autoencoder" in err, err
    assert "Drop it" in err and not list(run.glob("figures/arithmetic*"))
    # --n-samples 1 too: refused as needless, not for a log p(x) standard error it has no log p(x) to give (an audit, s15)
    code, out, err = _cli(capsys, "explore", run, "arithmetic", "test:0", "test:1", *specs, "--n-samples", "1")
    assert code == 2 and err.count("\n") == 1 and "plain autoencoder" in err and "standard error" not in err, err
    code, out, err = _cli(capsys, "explore", run, "arithmetic", "test:0", "test:1", *specs)
    assert code == 0 and "log p(x) does not apply" in out, err
    # nothing was drawn, and metrics.json says so: n_samples null (it read 200), as the anomaly block's; the schema
    # takes it (the block is not dropped as damaged) and still takes an older run's 200
    from vaelab.metrics_schema import EXPLORE

    entry = json.loads((run / "metrics.json").read_text())["explore"]["arithmetic"]
    assert entry["n_samples"] is None and entry["n_reference"] == 0
    assert EXPLORE["arithmetic"](entry, "explore.arithmetic") is None
    assert EXPLORE["arithmetic"]({**entry, "n_samples": 200}, "explore.arithmetic") is None
