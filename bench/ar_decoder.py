"""Does an autoregressive head over the discrete columns lift fair's ML efficacy (issue 17)? A probe, not a feature.

vaelab's table decoder draws every column independently given z (vaelab.nn.likelihoods.Mixed), so a link between
two columns that z does not carry thins out in the draws. This script runs bench/tabular.py unchanged but for one
thing: vaelab's Mixed likelihood gains a masked linear autoregressive head (MADE-like, one layer),

    params_j(z, x) = decoder(z)_j + (W * M) x        p(x|z) = prod_j p(x_j | z, x_<j)

where the inputs are the discrete features of the row (category one-hots, booleans, numeric columns' mode
one-hots, missing flags) and the mask M lets the discrete outputs of column j (its category / boolean / mode logits
and its missing flag) see only the discrete features of the columns before j in --order (with --means also the
Gaussian means of numeric columns: their value given the modes and categories of earlier columns). W starts at 0, so
the model starts as the bench's factorized decoder (and its other weights are initialized exactly as the bench's).
Training and the validation loss that picks the best epoch are teacher-forced (log p(x|z) with the row's own
x_<j); rows are drawn column by column, each from the logits given z and the columns drawn before it, divided by
the temperature (the auto temperature is chosen on these draws, as the bench chooses it). Everything else
(split, settings, samplers, scores) is bench/tabular.py's own.

--order: ``table`` (the table's column order; the default, and the ML-agnostic choice), ``reversed``; two
diagnostics that use the ML target's name (not a general method): ``target-last`` (the table order with the target
moved last) and ``target-first``. On fair the table order already has the target last (``affair`` is the last column).

Printed beside bench/tabular.py's output: the drawing order, how many of W's weights moved (RMS, largest) once
trained, and for each scored sample the ML target's share of its most common value by the first declared
categorical column, beside the real-train rows' (fair: P(affair = False | rate_marriage)); --off prints those lines
for the bench without the head (its scores are bench/tabular.py's to the digit). Results: BENCHMARKS.md.

Not covered: a decoder mean (``mean``, used for E[x|z] and for redrawing a category no training row holds) stays the
z-only part; ``observed=`` scoring of partly-encodable rows conditions on x_<j as given.

    .venv-bench/bin/python bench/ar_decoder.py [--order table] [--means] [bench/tabular.py's options ...]
    .venv-bench/bin/python bench/ar_decoder.py --check     # the head's hand checks only (no benchmark)
    .venv-bench/bin/python bench/ar_decoder.py --off [...]  # no head: the bench with the diagnostic lines
"""
from __future__ import annotations

import argparse
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

import tabular as tb  # bench/tabular.py (bench/ is on sys.path when run as a script)
import vaelab.nn.build as build
from _common import measure
from vaelab.data.table_transformer import TableTransformer
from vaelab.nn.likelihoods import Mixed, _MixedDraw

ORDERS = ("table", "reversed", "target-last", "target-first")
STATE: dict = {"order": "table", "means": False, "target": None, "columns": {}, "degrees": {}}


def _key(blocks) -> tuple:
    return tuple((str(t), int(s), int(w), int(m)) for t, s, w, m in blocks)


class ARMixed(Mixed):
    """Mixed plus a masked linear head: features of column position p see the discrete features of positions < p.

    ``position``: D ints, the position of each feature's column in the drawing order. ``outputs``: D bools, the
    features whose parameters the head adds to (discrete ones; Gaussian means too with --means)."""

    def __init__(self, shape, blocks, position: list[int], outputs: list[bool]):
        super().__init__(shape, blocks)
        d = shape[0]
        # lists, made tensors here on the default device (vaelab builds some modules under torch.device("meta"))
        position = torch.tensor(list(position), dtype=torch.long)
        outputs = torch.tensor(list(outputs), dtype=torch.bool)
        discrete = torch.ones(d, dtype=torch.bool)
        discrete[self.gaussian_index] = False
        mask = (position[None, :] < position[:, None]) & discrete[None, :] & outputs[:, None]
        self.register_buffer("ar_mask", mask.float(), persistent=False)
        self.register_buffer("position", position.clone(), persistent=False)
        self.ar_weight = nn.Parameter(torch.zeros(d, d))  # no RNG drawn: the rest initializes as the bench's

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """What the head adds to the decoder's parameters, from the row's (earlier) features."""
        return F.linear(x, self.ar_weight * self.ar_mask)

    def log_prob(self, x, params, observed=None):
        return super().log_prob(x, params + self.context(x), observed)  # teacher-forced

    def dist(self, params):
        return _ARDraw(self, params)


class _ARDraw(_MixedDraw):
    """Rows drawn column by column (in ``position`` order), each at ``temperature`` given those drawn before."""

    def sample(self, temperature: float = 1.0) -> torch.Tensor:
        lik, p = self.likelihood, self.params
        out = torch.zeros_like(p)
        for pos in torch.unique(lik.position).tolist():
            cols = lik.position == pos
            draw = _MixedDraw(lik, p + lik.context(out)).sample(temperature)
            out[..., cols] = draw[..., cols]
        return out


def _set(self, schema, codecs):
    """TableTransformer._set, recording which column each feature of this layout belongs to."""
    _set_orig(self, schema, codecs)
    key = _key(self.likelihood_blocks())
    feature_col = [b.column for b in self.blocks for _ in range(b.width)]
    seen = STATE["columns"].get(key)
    if seen is not None and seen != (feature_col, list(schema.names)):
        raise RuntimeError("two tables with the same feature layout and other columns: cannot tell them apart")
    STATE["columns"][key] = (feature_col, list(schema.names))


def column_order(names: list[str], order: str, target: str | None) -> list[str]:
    if order == "table":
        return list(names)
    if order == "reversed":
        return list(reversed(names))
    if target is None or target not in names:
        raise RuntimeError(f"--order {order} needs the ML target among the columns {names}; got {target!r}")
    rest = [c for c in names if c != target]
    return rest + [target] if order == "target-last" else [target] + rest


def make_likelihood(cfg):
    if cfg.likelihood != "mixed":
        return _make_likelihood(cfg)
    key = _key(cfg.blocks)
    if key not in STATE["degrees"]:  # first built at training (the target known); the run's reload reuses it
        if key not in STATE["columns"]:
            raise RuntimeError("the columns of this table layout are not known (no transformer fitted in this process)")
        feature_col, names = STATE["columns"][key]
        order = column_order(names, STATE["order"], STATE["target"])
        print(f"  AR head: columns drawn in the order {order}" + (" (Gaussian means see earlier columns too)"
                                                                    if STATE["means"] else ""), flush=True)  # fmt: skip
        STATE["degrees"][key] = [order.index(c) for c in feature_col]
    position = STATE["degrees"][key]
    outputs = [True] * len(position)
    if not STATE["means"]:
        for term, start, width, _ in key:
            if term == "gaussian":
                outputs[start:start + width] = [False] * width
    return ARMixed(cfg.input_shape, cfg.blocks, position, outputs)


_set_orig = TableTransformer._set
_make_likelihood = build.make_likelihood
_run_dataset = tb.run_dataset
_score = tb.score
_fit_vaelab = tb.fit_vaelab


def run_dataset(p, *args, **kwargs):
    STATE["target"] = p.table.target
    try:
        return _run_dataset(p, *args, **kwargs)
    finally:
        STATE["target"] = None


def score(p, synths):
    """bench/tabular.py's scores, and a diagnostic line: the ML target's share of its most common value by the first
    declared categorical column in the first sample (fair: P(affair | rate_marriage)), beside the real-train rows'."""
    t, cats = p.table.target, p.table.categorical
    if cats and t in synths[0] and synths[0][t].nunique() <= 10:
        top = p.train[t].value_counts().index[0]
        by = lambda df: (df[t] == top).groupby(df[cats[0]], observed=True).mean().round(2).tolist()  # noqa: E731
        print(f"    P({t} = {top} | {cats[0]}) in the first sample: {by(synths[0])} (real-train rows: {by(p.train)})",
              flush=True)  # fmt: skip
    return _score(p, synths)


def fit_vaelab(p, folder, settings, normalization):
    """bench/tabular.py's fit, then a line on the head it learned (its weights as the run saved them)."""
    out = _fit_vaelab(p, folder, settings, normalization)
    try:
        from safetensors.torch import load_file

        w = next((d[k] for f in sorted(out[0].rglob("*.safetensors")) for d in [load_file(f)] for k in d
                  if k.endswith("ar_weight")), None)  # fmt: skip
    except Exception as err:  # a diagnostic only
        w = None
        print(f"    AR head: weights not read ({err})")
    if w is not None:
        moved = w[w != 0]  # the masked-out entries get no gradient and stay 0
        print(f"    AR head learned: {moved.numel()} weights moved, RMS {float(moved.pow(2).mean().sqrt()):.3f}, "
              f"largest |W| {float(w.abs().max()):.2f}", flush=True)  # fmt: skip
    return out


def check() -> None:
    """The head's hand checks: a tiny table's log-likelihood against a hand computation, and draws with W = 0 against
    the independent draws' distribution."""
    torch.manual_seed(0)
    # columns a (categorical, 3), b (boolean), c (numeric: value + 2 modes); order a, b, c
    blocks = (("categorical", 0, 3, -1), ("bernoulli", 3, 1, -1), ("gaussian", 4, 1, -1), ("categorical", 5, 2, -1))
    position = [0, 0, 0, 1, 2, 2, 2]
    lik = ARMixed((7,), blocks, position, [True, True, True, True, False, True, True])
    with torch.no_grad():
        lik.ar_weight.copy_(torch.randn(7, 7))
    params = torch.randn(2, 7)
    x = torch.tensor([[0, 1, 0, 1, 0.3, 1, 0], [1, 0, 0, 0, -0.2, 0, 1]], dtype=torch.float32)
    got = lik.log_prob(x, params)
    W, sd2 = lik.ar_weight.detach(), math.exp(float(lik.logvar.detach()[0]))
    want = []
    for n in range(2):
        r, pr = x[n].tolist(), params[n].tolist()
        a = [pr[k] for k in range(3)]  # column a: first, nothing before it
        la = a[r.index(1.0, 0, 3)] - math.log(sum(math.exp(v) for v in a))
        lb_logit = pr[3] + sum(W[3, k].item() * r[k] for k in range(3))  # b sees a's one-hot
        lb = r[3] * lb_logit - math.log1p(math.exp(lb_logit))
        lc_mean = pr[4]  # the value's mean sees nothing (no --means)
        lc = -0.5 * (math.log(2 * math.pi) + math.log(sd2) + (r[4] - lc_mean) ** 2 / sd2)
        m = [pr[5 + i] + sum(W[5 + i, k].item() * r[k] for k in range(4)) for i in range(2)]  # modes see a and b
        lm = m[r.index(1.0, 5, 7) - 5] - math.log(sum(math.exp(v) for v in m))
        want.append(la + lb + lc + lm)
    err = (got - torch.tensor(want)).abs().max().item()
    print(f"hand check of log p(x|z) with a random W: max |difference| {err:.2e} ({got.tolist()} vs {want})")
    assert err < 1e-5, err
    # the mask: W's entries outside it change nothing
    with torch.no_grad():
        W2 = lik.ar_weight + 100 * (1 - lik.ar_mask)
        lik2 = ARMixed((7,), blocks, position, lik.ar_mask.any(1).tolist())
        lik2.ar_weight.copy_(W2)
        lik2.raw_logvar.copy_(lik.raw_logvar)
    assert torch.allclose(lik2.log_prob(x, params), got), "a weight outside the mask moved the likelihood"
    # W = 0: the AR draws' distribution is the independent draws' (each feature's frequency, 200k rows, at T 1 and 0.5)
    lik0 = ARMixed((7,), blocks, position, [True] * 7)
    p = params[:1].expand(200_000, 7)
    for t in (1.0, 0.5):
        torch.manual_seed(1)
        ar = lik0.dist(p).sample(t)
        ind = Mixed.dist(lik0, p).sample(t)
        disc = torch.tensor([0, 1, 2, 3, 5, 6])
        dm = (ar[:, disc].mean(0) - ind[:, disc].mean(0)).abs().max().item()
        ds = abs(ar[:, 4].std().item() - ind[:, 4].std().item())
        # pairs of columns: with W = 0 the AR draws' columns are independent too (a x b joint frequencies)
        joint = (ar[:, :3] * ar[:, 3:4]).mean(0) - ar[:, :3].mean(0) * ar[:, 3].mean()
        print(f"W = 0, T {t:g}: max |frequency difference| AR vs independent {dm:.4f}, value SD difference {ds:.4f}, "
              f"max |P(a, b) - P(a) P(b)| in the AR draws {joint.abs().max().item():.4f} (200k rows; SE ~0.001)")
        assert dm < 0.006 and ds < 0.01 and joint.abs().max().item() < 0.005
    # W != 0: the draws follow the head: b's frequency given a's category is sigmoid((logit + W[b, a]) / T)
    with torch.no_grad():
        lik0.ar_weight.zero_()
        lik0.ar_weight[3, 0], lik0.ar_weight[3, 1] = 3.0, -3.0
    for t in (1.0, 0.5):
        torch.manual_seed(2)
        d = lik0.dist(p).sample(t)
        for k in range(3):
            rows = d[:, k] == 1
            want_b = torch.sigmoid((params[0, 3] + lik0.ar_weight[3, k]) / t).item()
            got_b = d[rows, 3].mean().item()
            print(f"W[b, a={k}] {lik0.ar_weight[3, k].item():+.0f}, T {t:g}: P(b | a={k}) {got_b:.4f}, "
                  f"sigmoid((logit + W) / T) {want_b:.4f}")
            assert abs(got_b - want_b) < 0.01
    print("checks passed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--order", choices=ORDERS, default="table", help="the columns' drawing order (default: table)")
    parser.add_argument("--means", action="store_true", help="numeric columns' Gaussian means see earlier columns too")
    parser.add_argument("--check", action="store_true", help="the head's hand checks only")
    parser.add_argument("--off", action="store_true", help="no head: bench/tabular.py itself, with this script's "
                        "diagnostic lines (the baseline, measured beside the head under the same load)")  # fmt: skip
    args, rest = parser.parse_known_args(argv)
    if args.check:
        check()
        return 0
    if args.off:
        tb.score, tb.fit_vaelab = score, fit_vaelab
        print("no AR head (--off): bench/tabular.py's own vaelab, with the diagnostic lines")
        return tb.main(rest)
    STATE["order"], STATE["means"] = args.order, args.means
    TableTransformer._set, build.make_likelihood, tb.run_dataset = _set, make_likelihood, run_dataset
    tb.score, tb.fit_vaelab = score, fit_vaelab
    print(f"AR head over the discrete columns (order: {args.order}{'; Gaussian means too' if args.means else ''}) "
          "in vaelab's table likelihood")
    return tb.main(rest)


if __name__ == "__main__":
    measure(lambda: main(sys.argv[1:]))
