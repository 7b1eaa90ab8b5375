"""Coverage of anomaly-eval's 95% AUROC interval (issue 17, tenth pass): Hanley & McNeil's score interval alone
against the product's (each class size divided by delong_excess), on scores with a known AUROC.

Binormal scores (inliers N(0, 1), outliers N(d, 1), AUROC = Phi(d / sqrt 2)) and exponential ones (Hanley & McNeil's
own model: inliers Exp(1), outliers Exp(k), AUROC = k / (1 + k)); REPEATS seeded data sets per row.

    .venv/bin/python bench/auroc_coverage.py [REPEATS]
"""
from __future__ import annotations

import sys

import numpy as np
from scipy.stats import norm

from _common import machine_line
from vaelab.analysis.anomaly import anomaly_eval, auroc_interval
from vaelab.analysis.likelihood import LikelihoodResult

CASES = ((0.96, 60, 200), (0.96, 200, 60), (0.96, 40, 300), (0.9, 40, 300), (0.98, 50, 400), (0.75, 30, 30),
         (0.96, 30, 30), (0.99, 100, 100))  # (AUROC, inliers, outliers)


def _result(log_px: np.ndarray) -> LikelihoodResult:
    v = np.asarray(log_px, dtype=float)
    return LikelihoodResult(v, np.zeros_like(v), v, v, np.ones_like(v), n_samples=1, n_features=1)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    print(machine_line())
    print(f"95% AUROC intervals holding the true AUROC, {repeats} data sets per row (SE of a share near 0.95: "
          f"{np.sqrt(0.95 * 0.05 / repeats):.3f})\n")
    print("| scores | AUROC | inliers | outliers | Hanley & McNeil alone | with delong_excess |")
    print("|---|---:|---:|---:|---:|---:|")
    for dist in ("binormal", "exponential"):
        for auc, n0, n1 in CASES:
            rng = np.random.default_rng(0)
            old = new = 0
            for _ in range(repeats):
                if dist == "binormal":
                    neg, pos = rng.normal(size=n0), rng.normal(np.sqrt(2) * norm.ppf(auc), 1, size=n1)
                else:
                    neg, pos = rng.exponential(1, n0), rng.exponential(auc / (1 - auc), n1)
                r = anomaly_eval(_result(-neg), _result(-pos))["log_px"]  # low log p = anomalous
                lo, hi = auroc_interval(r["auroc"], n1, n0)
                old += lo <= auc <= hi
                new += r["auroc_interval"][0] <= auc <= r["auroc_interval"][1]
            print(f"| {dist} | {auc} | {n0} | {n1} | {old / repeats:.3f} | {new / repeats:.3f} |", flush=True)


if __name__ == "__main__":
    main()
