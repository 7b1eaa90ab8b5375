"""Does the ML target's share of the loss explain fair's ML-efficacy gap to TVAE (issue 17)? A probe, not a feature.

vaelab's table loss sums one reconstruction term per column block (vaelab.nn.likelihoods.Mixed), so the ML target
is one term among many (on fair one Bernoulli among nine columns). This script runs bench/tabular.py unchanged but
for one thing: while vaelab trains, the ML target column's reconstruction terms (its value blocks: category,
boolean, mode/value; not a missing-value flag) are weighted by --target-weight W, i.e. the loss is
-(log p(x|z) + (W - 1) log p(x_target|z)) + beta KL. The validation loss that picks the best epoch is the same
weighted objective. Sampling, the auto temperature and every score are bench/tabular.py's own; W 1 is the bench.

    .venv-bench/bin/python bench/target_weight.py --target-weight 4 [bench/tabular.py's options ...]
"""
from __future__ import annotations

import argparse
import sys

import torch

import tabular as tb  # bench/tabular.py (bench/ is on sys.path when run as a script)
from _common import measure
from vaelab.data.table_transformer import TableTransformer
from vaelab.nn.likelihoods import Mixed

STATE: dict = {"weight": 1.0, "target": None, "transformer": None}


def _target_features(d: int) -> torch.Tensor | None:
    """0/1 (d,) over the features of the target's value blocks, for the transformer fitted last (None: not ours)."""
    t = STATE["transformer"]
    if t is None or t.n_features != d:
        return None
    mask = torch.zeros(d)
    for role, block in t.column_blocks(STATE["target"]).items():
        if role != "missing":
            mask[block.slice] = 1.0
    return mask


_fit = TableTransformer.fit
_log_prob = Mixed.log_prob
_fit_vaelab = tb.fit_vaelab


def fit(self, df, schema=None):
    out = _fit(self, df, schema)
    STATE["transformer"] = self
    return out


def log_prob(self, x, params, observed=None):
    out = _log_prob(self, x, params, observed)
    w = STATE["weight"]
    if w == 1.0 or STATE["target"] is None:  # the bench itself, or outside vaelab's training: unweighted
        return out
    mask = _target_features(params.shape[-1])
    if mask is None:
        raise RuntimeError("the target's features are not known for this likelihood")
    only = mask.to(params.dtype).expand(params.shape) if observed is None else observed.to(params.dtype) * mask
    return out + (w - 1.0) * _log_prob(self, x, params, only)


def fit_vaelab(p, folder, settings, normalization):
    STATE["target"] = p.table.target
    try:
        return _fit_vaelab(p, folder, settings, normalization)
    finally:
        STATE["target"] = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--target-weight", type=float, default=1.0, help="the ML target's reconstruction weight (1: the bench)")
    args, rest = parser.parse_known_args(argv)
    if args.target_weight <= 0:
        raise SystemExit("--target-weight: expected a positive number")
    STATE["weight"] = args.target_weight
    TableTransformer.fit, Mixed.log_prob, tb.fit_vaelab = fit, log_prob, fit_vaelab
    print(f"target weight {args.target_weight:g} (the ML target's reconstruction terms in vaelab's training loss)")
    return tb.main(rest)


if __name__ == "__main__":
    measure(lambda: main(sys.argv[1:]))
