"""What per-example draws and intervals cost (issue 15): each timed beside what it replaced, one run.

1. log p(x), K = 1000, on 200 binarized mnist5k test images: vaelab's `log_likelihood` (every example's
   z draws from its own content-seeded stream) against the same blocks through
   `importance_log_likelihood` with torch's one stream over the block (the scheme before issue 15).
2. The same 200 grey images scored by a binarizing model: J = 4 binarizations per image (the default)
   against J = 1.
3. Sample-quality metrics of 1,000 generated against 1,000 held-out feature vectors (128 features):
   `quality_with_intervals` (10 half-samples) against one `quality_report`.

Run: .venv/bin/python bench/issue15_costs.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from _common import machine_line, measure


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine_line())
    import vaelab
    from vaelab.analysis.comparison import quality_with_intervals
    from vaelab.analysis.likelihood import DEFAULT_CHUNK
    from vaelab.analysis.quality import quality_report
    from vaelab.data.sources import load_dataset
    from vaelab.data.split import binarize_fixed
    from vaelab.nn.vae import importance_log_likelihood
    from vaelab.runtime import seeded

    X = load_dataset("mnist5k").X.reshape(5000, -1)
    train, test = X[:4000], X[4000:4200]
    vae = vaelab.VAE(latent_dim=16, hidden=[512], epochs=3, device="cpu", seed=0).fit(train)
    binary = binarize_fixed(torch.from_numpy(test), 12345).numpy()
    scorer = vaelab.VAE(**{**vae.get_params(), "binarize": "none"})
    scorer.__dict__.update({k: v for k, v in vae.__dict__.items() if k.endswith("_")})  # same weights, no binarizing

    def global_stream():
        block = max(1, DEFAULT_CHUNK // 128)
        with seeded(0), torch.no_grad():
            for s in range(0, len(binary), block):
                x = torch.from_numpy(binary[s : s + block])
                importance_log_likelihood(vae.encode, vae.decode, vae.px_z_, vae.prior_, x, None, 1000, DEFAULT_CHUNK)

    rows = [("log p(x), binary: per-example streams", lambda: scorer.log_likelihood(binary, n_samples=1000)),
            ("log p(x), binary: one torch stream (before)", global_stream),
            ("log p(x), grey: J = 4 binarizations", lambda: vae.log_likelihood(test, n_samples=1000, binarizations=4)),
            ("log p(x), grey: J = 1", lambda: vae.log_likelihood(test, n_samples=1000, binarizations=1))]
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(1000, 128)), rng.normal(size=(1000, 128)) + 0.1
    rows += [("quality metrics with intervals (10 half-samples)", lambda: quality_with_intervals(real, fake)),
             ("quality metrics, one report (before)", lambda: quality_report(real, fake))]
    times = {name: _median_time(fn, args.repeats) for name, fn in rows}
    print("| what | median s |\n|---|---:|")
    for name, t in times.items():
        print(f"| {name} | {t:.2f} |")
    names = list(times)
    for a, b in ((0, 1), (2, 3), (4, 5)):
        print(f"{names[a]} / {names[b]} = {times[names[a]] / times[names[b]]:.2f}")
    print(machine_line())


if __name__ == "__main__":
    measure(main)
