"""Why vaelab's windows do not score below one multivariate normal on macrodata (issue 17).

Trains one series run (bench/timeseries.py's macro or macro-levels data, its split, and its
VAELAB_SETTINGS with the data's own MACRO_SETTINGS over them, as bench/timeseries.py trains it; --settings
JSON over those) and scores, with the discriminative score of
vaelab.analysis.synthetic_series (the classifier evaluate-synthetic uses), over --repeats seeds
(mean ± SE = SD / sqrt(repeats)):

* against the real *test* windows (vaelab's convention: n = the 31-32 test windows), against the
  real *training* windows (TimeGAN's convention: n = the 110 training windows) and, for a run that
  handles a trend, on the windows' shapes;
* vaelab's windows from the prior and the aggregate-gmm sampler, decoder means and likelihood
  draws; one multivariate normal over the run's rows; real training windows (the floor against
  the test windows: what a generator that reproduced the training period would reach); and, to
  test whether the decoder's independent noise is what gives vaelab's draws away, its decoder
  means plus noise from one multivariate normal fitted to the training windows' reconstruction
  residuals;
* with copies of training windows as a generator against the training windows: the floor of TimeGAN's
  convention, which only a generator that reproduces the training windows reaches; with --timegan also
  TimeGAN's own classifier there (a GRU of F // 2 units, 2,000 steps of 256 windows:
  timegan_discriminative_score; a few minutes per row).

Also printed: the epochs run, and how much the decoder means vary (mean SD per value of the
model's rows; the training rows' is about 1): near 0 means the latents are unused.

    .venv-bench/bin/python bench/macro_diagnosis.py [--data macro|macro-levels] [--settings JSON]
        [--repeats 10] [--trend auto|none|difference|window] [--timegan] [--only TEXT ...]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import timeseries as ts  # bench/timeseries.py (bench/ is on sys.path when run as a script)
from _common import machine_line, measure
from vaelab.analysis.synthetic_series import discriminative_score, gaussian_windows, timegan_discriminative_score
from vaelab.runs.run import Run


def mean_se(real: np.ndarray, gen, repeats: int, offset: int = 0, score=discriminative_score) -> str:
    scores = [score(real, gen(sd + offset), seed=sd)["score"] for sd in range(repeats)]
    return f"{np.mean(scores):.3f} ± {np.std(scores, ddof=1) / np.sqrt(repeats):.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("macro", "macro-levels"), default="macro")
    parser.add_argument("--settings", type=json.loads, default={}, help="vaelab settings over the data's (VAELAB_SETTINGS and MACRO_SETTINGS)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--trend", default="auto")
    parser.add_argument("--timegan", action="store_true", help="also score against the training windows with TimeGAN's "
                        "own classifier (minutes per row)")  # fmt: skip
    parser.add_argument("--only", nargs="+", default=None, help="only the rows whose names hold one of these texts")
    args = parser.parse_args(argv)
    print(machine_line())
    s = ts.DATASETS[args.data]()
    folder = Path(tempfile.mkdtemp())
    csv = folder / f"{s.name}.csv"
    s.df.to_csv(csv, index=False)
    settings = {**ts.VAELAB_SETTINGS, "seed": ts.SEED, "device": "cpu", **(s.settings or {}), **args.settings}
    started = time.perf_counter()
    f = ts.fit_vaelab(s, csv, folder, settings, settings.get("arch", "mlp"), args.trend)
    print(f"{args.data}: settings {settings}; {f.epochs} epochs, {time.perf_counter() - started:.1f} s; handling "
          f"{f.handling}; {len(f.train)} training, {len(f.test)} test windows; repeats {args.repeats}")  # fmt: skip
    run = Run(f.run)
    kind, n, n_train = run.kind, len(f.test), len(f.train)
    with torch.no_grad():
        mu, _ = run.model.encode(torch.as_tensor(f.train_rows, dtype=torch.float32))
        residuals = f.train_rows - run.model.decode(mu).numpy()
    noise = gaussian_windows(residuals - residuals.mean(0))
    gens = {}
    for sampler in ("prior", "aggregate-gmm"):
        for mean in (True, False):
            gens[f"vaelab {sampler}, {'means' if mean else 'draws'}"] = (
                lambda k, sd, a=sampler, m=mean: run.generate(k, sampler=a, seed=sd, mean=m))
        gens[f"vaelab {sampler}, means + correlated residual noise"] = (
            lambda k, sd, a=sampler: run.generate(k, sampler=a, seed=sd, mean=True) + noise(k, sd + 99))
    gens["one multivariate normal over the rows"] = gaussian_windows(f.train_rows)
    gens["real training windows"] = lambda k, sd: f.train_rows[np.random.default_rng(sd).choice(n_train, k, replace=n_train < k)]
    # Against the training windows themselves: drawn with replacement, so a classifier's test part holds windows
    # its training part also holds (what a generator that copied the training windows would give).
    gens["copies of training windows"] = lambda k, sd: f.train_rows[np.random.default_rng(sd).choice(n_train, k)]
    handled = f.handling != "none"
    print(f"\n| generator | vs test windows ↓ | vs training windows (TimeGAN's convention) ↓ | vs training, "
          f"TimeGAN's classifier ↓ |{' shapes vs test ↓ |' if handled else ''} SD of the rows |")  # fmt: skip
    print(f"|---|---:|---:|---:|{'---:|' if handled else ''}---:|")
    for name, gen in gens.items():
        if args.only and not any(text in name for text in args.only):
            continue
        vs_test = "—" if name.startswith("copies") else mean_se(f.test, lambda sd, g=gen: kind.to_user(g(n, sd)), args.repeats)
        train_gen = lambda sd, g=gen: kind.to_user(g(n_train, sd))  # noqa: E731
        vs_train, timegan = ("—", "—") if name == "real training windows" else (
            mean_se(f.train, train_gen, args.repeats, offset=500),
            mean_se(f.train, train_gen, args.repeats, offset=500, score=timegan_discriminative_score)
            if args.timegan else "—")
        shape = "" if not handled else " — |" if name.startswith("copies") else \
            f" {mean_se(f.shapes(f.test_rows), lambda sd, g=gen: f.shapes(g(n, sd)), args.repeats)} |"
        print(f"| {name} | {vs_test} | {vs_train} | {timegan} |{shape} {np.std(gen(200, 0), axis=0).mean():.3f} |", flush=True)
    print(f"\nrows' SD: training {f.train_rows.std(0).mean():.3f}, test {f.test_rows.std(0).mean():.3f}")
    return 0


if __name__ == "__main__":
    measure(main)
