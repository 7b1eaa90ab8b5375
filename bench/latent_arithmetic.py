"""How often is latent arithmetic typical? z_a ± z_b for random pairs of test examples of
different classes, placed among the training codes (log q(z) percentile).

    python bench/latent_arithmetic.py --run runs/demo [--pairs 200]

Prints, for z_a + z_b, z_a − z_b, the midpoint (z_a + z_b)/2 and z_a itself, the share of
codes below the 1st percentile of the training codes and the median percentile.
"""
import argparse

import numpy as np

from vaelab.analysis.explore import AggregatePosterior
from vaelab.runs.run import Run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/demo")
    p.add_argument("--pairs", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    r = Run(args.run)
    train, test = r.split("train"), r.split("test")
    agg = AggregatePosterior.fit(r.model, train.X, r.model_labels(train))
    Z = r.model.transform(test.X, r.model_labels(test))
    idx = np.random.default_rng(args.seed).choice(len(Z), (args.pairs, 2))
    if test.y is not None:
        idx = idx[test.y[idx[:, 0]] != test.y[idx[:, 1]]]
    za, zb = Z[idx[:, 0]], Z[idx[:, 1]]
    print(f"{len(idx)} pairs of test examples (different classes where labelled), {agg.n_codes} training codes")
    print("| code | share below the 1st percentile | median percentile |\n|---|---:|---:|")
    for name, z in (("z_a + z_b", za + zb), ("z_a − z_b", za - zb), ("(z_a + z_b)/2", (za + zb) / 2), ("z_a", za)):
        pct = agg.percentile(z)
        print(f"| {name} | {(pct < 1).mean():.3f} | {np.median(pct):.1f} |")


if __name__ == "__main__":
    main()
