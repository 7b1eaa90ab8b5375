"""Probe (issue 17, ninth pass): does a lower-variance discriminative score take vaelab below the Gaussian on macrodata?

The discriminative score of vaelab.analysis.synthetic_series holds out one seeded 20% of the windows: on macrodata's
31-32 test windows its classifier is tested on 12, and |accuracy - 0.5| of a chance classifier on 12 windows is
about 0.115 on average. Here the same GRU classifier is trained k = 5 times, each time holding out one fifth, so
every window is tested once (5-fold cross-validation), beside the single split, over REPEATS classifier seeds, for
one fit of bench/timeseries.py's settings (FIT_SEED). Rows: vaelab's aggregate-gmm sampler (decoder means, draws),
the prior's means, one multivariate normal over the run's rows, real training windows; against the test windows in
data units and, for a run that handles a trend, on the windows' shapes. Not kept in the product: see BENCHMARKS.md.

    .venv-bench/bin/python bench/macro_cv_probe.py macro|macro-levels REPEATS [FIT_SEED] [ROW,ROW,...]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import timeseries as ts  # bench/timeseries.py (bench/ is on sys.path when run as a script)
from _common import machine_line
from vaelab.analysis import synthetic_series as ss
from vaelab.analysis.synthetic_series import discriminative_score, gaussian_windows
from vaelab.runs.run import Run


def cv_score(real, synth, seed, k=5, epochs=20):
    r, s = ss._window_pair(real, synth, min_windows=2)
    epochs, hidden, bs, lr = ss._check_training(epochs, None, 64, 1e-2, r.shape[2])
    rng = np.random.default_rng(seed)
    n = min(len(r), len(s)); r = r[rng.permutation(len(r))[:n]]; s = s[rng.permutation(len(s))[:n]]
    folds = np.arange(n) % k
    correct = 0
    for j in range(k):
        tr, te = folds != j, folds == j
        Xtr = np.concatenate([r[tr], s[tr]]); ytr = np.r_[np.ones(tr.sum()), np.zeros(tr.sum())]
        Xte = np.concatenate([r[te], s[te]]); yte = np.r_[np.ones(te.sum()), np.zeros(te.sum())]
        mean, sd = ss._standardizer(Xtr)
        tt = lambda a: torch.as_tensor((a - mean) / sd, dtype=torch.float32)
        with ss._one_torch_thread(), ss.seeded(int(seed) * 100 + j):
            m = ss._GRUHead(r.shape[2], hidden, 1)
            ss._train(m, tt(Xtr), torch.as_tensor(ytr, dtype=torch.float32)[:, None], torch.nn.BCEWithLogitsLoss(), epochs, bs, lr)
            with torch.no_grad():
                lg = m(tt(Xte))[:, 0].numpy()
        correct += ((lg > 0) == (yte > 0.5)).sum()
    return abs(correct / (2 * n) - 0.5)


def main() -> None:
    print(machine_line())
    data = sys.argv[1]; reps = int(sys.argv[2])
    s = ts.DATASETS[data]()
    folder = Path(tempfile.mkdtemp()); csv = folder / f"{s.name}.csv"; s.df.to_csv(csv, index=False)
    fit_seed = int(sys.argv[3]) if len(sys.argv) > 3 else ts.SEED
    settings = {**ts.VAELAB_SETTINGS, "seed": fit_seed, "device": "cpu", **(s.settings or {})}
    f = ts.fit_vaelab(s, csv, folder, settings, "mlp", "auto")
    run = Run(f.run); kind = run.kind; n = len(f.test); ntr = len(f.train)
    print(data, "fit seed", fit_seed, f.handling, f.epochs, n, ntr, flush=True)
    only = sys.argv[4].split(",") if len(sys.argv) > 4 else None
    gens = {
     "agg-gmm means": lambda k, sd: run.generate(k, sampler="aggregate-gmm", seed=sd, mean=True),
     "agg-gmm draws": lambda k, sd: run.generate(k, sampler="aggregate-gmm", seed=sd, mean=False),
     "prior means": lambda k, sd: run.generate(k, sampler="prior", seed=sd, mean=True),
     "gaussian": gaussian_windows(f.train_rows),
     "real train": lambda k, sd: f.train_rows[np.random.default_rng(sd).choice(ntr, k, replace=ntr < k)],
    }
    handled = f.handling != "none"
    for name, g in gens.items():
        if only and name not in only:
            continue
        out = []
        for label, real, conv in ([("data", f.test, lambda x: kind.to_user(x))] + ([("shapes", f.shapes(f.test_rows), lambda x: f.shapes(x))] if handled else [])):
            single = [discriminative_score(real, conv(g(n, sd)), seed=sd)["score"] for sd in range(reps)]
            cv = [cv_score(real, conv(g(n, sd)), seed=sd) for sd in range(reps)]
            out.append(f"{label}: single {np.mean(single):.3f}±{np.std(single,ddof=1)/np.sqrt(reps):.3f}  cv {np.mean(cv):.3f}±{np.std(cv,ddof=1)/np.sqrt(reps):.3f}")
        print(name, " | ".join(out), flush=True)


if __name__ == "__main__":
    main()
