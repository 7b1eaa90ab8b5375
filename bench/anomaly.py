"""Anomaly detection: one MNIST digit held out of training as the outlier class.

For each digit d: train on mnist5k's training split (split_assignment(5000, 0.1, 0.1,
seed=0)) without the images of d; score the test split (inliers: the other digits,
outliers: the test images of d); report the AUROC of each vaelab score (log_px, elbo,
reconstruction, from vaelab.analysis.log_likelihood with K importance samples) and, when
PyOD is installed, of PyOD's VAE detector trained on the same images.

vaelab: VAE(latent_dim=16, hidden=[512, 256], epochs=30, patience=5), its defaults otherwise
(Bernoulli likelihood, dynamic binarization, 10% of the training images held out for early
stopping; test images are scored under the model's own fixed binarization).
PyOD: pyod.models.vae.VAE with the same latent size, hidden sizes and epochs, batch 100,
its defaults otherwise (dropout 0.2, MSE reconstruction; it clamps the KL term to
[0, capacity] and capacity defaults to 0, so it trains without KL); its score is decision_function (distance between
input and reconstruction) on the same test images, flattened and grey. Twice: with its
default preprocessing=True, and with preprocessing=False. preprocessing=True standardizes
every pixel by the training mean and (std + 1e-8): MNIST pixels that are blank in every
training image then turn any ink on them in a test image into values near 1e8, which outweigh
everything the network reconstructs: with the held-out digit 0 or 1 the AUROC equals, to three
decimals, that of ||(x - mean) / (std + 1e-8)|| alone (no network), and for the other digits
it stays within 0.09 of it. preprocessing=False scores the network's reconstructions of the
[0, 1] pixels.

    .venv/bin/python bench/anomaly.py [--digits 0 1 ...] [--epochs 30] [--n-samples 200]

Prints the machine and a markdown table for BENCHMARKS.md. Always exits 0.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import time
import traceback

import numpy as np
from sklearn.metrics import roc_auc_score

import vaelab
from vaelab.analysis import anomaly_eval, log_likelihood
from vaelab.data.sources import load_dataset
from vaelab.data.split import indices, split_assignment
from _common import load, machine, machine_line, measure  # noqa: E402 (bench/ is on sys.path when run as a script)

SEED = 0
SCORES = ("log_px", "elbo", "reconstruction")


def splits():
    """mnist5k's training and test splits: (X, y) each, X (N, 1, 28, 28) float32 in [0, 1]."""
    ds = load_dataset("mnist5k")
    split = split_assignment(ds.n_examples, 0.1, 0.1, seed=SEED)
    train, test = indices(split, "train"), indices(split, "test")
    # Label codes are 0..9 in sorted order of the names "0".."9": code == digit.
    assert ds.classes == tuple(str(i) for i in range(10)), ds.classes
    return (ds.X[train], ds.y[train]), (ds.X[test], ds.y[test])


def run_vaelab(X_train, X_in, X_out, epochs: int, n_samples: int) -> tuple[dict[str, float], float, int]:
    vae = vaelab.VAE(latent_dim=16, hidden=[512, 256], epochs=epochs, patience=5, seed=SEED, device="cpu")
    vae.fit(X_train)
    inl = log_likelihood(vae, X_in, n_samples=n_samples)
    out = log_likelihood(vae, X_out, n_samples=n_samples)
    report = anomaly_eval(inl, out)
    return {name: report[name]["auroc"] for name in SCORES}, -float(np.mean(inl.log_px)), len(vae.history_)


def make_pyod():
    try:
        from pyod.models.vae import VAE
    except ImportError:
        return None

    def run_pyod(X_train, X_in, X_out, epochs: int, preprocessing: bool) -> float:
        flat = lambda a: np.ascontiguousarray(a.reshape(a.shape[0], -1))  # noqa: E731
        # pyod 2.x/3.x: epoch_num, encoder/decoder_neuron_list, latent_dim; verbose=0 hides its bar.
        det = VAE(epoch_num=epochs, batch_size=100, latent_dim=16, encoder_neuron_list=[512, 256],
                  decoder_neuron_list=[256, 512], preprocessing=preprocessing, device="cpu",
                  random_state=SEED, verbose=0)  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):
            det.fit(flat(X_train))
        scores = det.decision_function(flat(np.concatenate([X_in, X_out])))  # higher = more abnormal
        truth = np.r_[np.zeros(len(X_in)), np.ones(len(X_out))]
        return float(roc_auc_score(truth, scores))

    return run_pyod


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, nargs="+", default=list(range(10)), help="held-out digits (default: all)")
    parser.add_argument("--epochs", type=int, default=30, help="maximum epochs, for vaelab (early stopping) and PyOD")
    parser.add_argument("--n-samples", type=int, default=200, help="K, importance samples for log_px")
    parser.add_argument("--no-pyod", action="store_true", help="leave PyOD out even when installed")
    args = parser.parse_args(argv)

    m = machine()

    print(machine_line())
    (Xtr, ytr), (Xte, yte) = splits()
    pyod = None if args.no_pyod else make_pyod()
    if pyod is None:
        print("PyOD is not installed (or --no-pyod): skipped (pip install 'vaelab[bench]' to include it)")

    rows = []
    started = time.perf_counter()
    for d in args.digits:
        X_train, X_in, X_out = Xtr[ytr != d], Xte[yte != d], Xte[yte == d]
        row = {"digit": d}
        t0 = time.perf_counter()
        try:
            auroc, nll, epochs_run = run_vaelab(X_train, X_in, X_out, args.epochs, args.n_samples)
            row.update(auroc)
            t1 = time.perf_counter()
            print(f"digit {d}: {len(X_train)} training images, {len(X_in)} inliers, {len(X_out)} outliers | "
                  f"vaelab {epochs_run} epochs, inlier NLL {nll:.1f}, AUROC "
                  + ", ".join(f"{k} {v:.3f}" for k, v in auroc.items()) + f" ({t1 - t0:.0f} s)")  # fmt: skip
        except Exception:
            traceback.print_exc()
            print(f"digit {d}: vaelab FAILED (traceback above)", file=sys.stderr)
        for col, prep in (("pyod", True), ("pyod_raw", False)):
            if pyod is None:
                break
            t1 = time.perf_counter()
            try:
                row[col] = pyod(X_train, X_in, X_out, args.epochs, prep)
                print(f"digit {d}: PyOD VAE (preprocessing={prep}) AUROC {row[col]:.3f} "
                      f"({time.perf_counter() - t1:.0f} s)")  # fmt: skip
            except Exception:
                traceback.print_exc()
                print(f"digit {d}: PyOD (preprocessing={prep}) FAILED (traceback above)", file=sys.stderr)
        sys.stdout.flush()
        rows.append(row)

    cols = (*SCORES, "pyod", "pyod_raw")
    fmt = lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"  # noqa: E731
    print(f"\n{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} threads); "
          f"{args.epochs} epochs max, K = {args.n_samples}; {time.perf_counter() - started:.0f} s in all; "
          f"load average now {load()}\n")  # fmt: skip
    print("| held-out digit | vaelab log_px AUROC | vaelab elbo AUROC | vaelab reconstruction AUROC "
          "| PyOD VAE AUROC | PyOD VAE AUROC, preprocessing=False |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['digit']} | " + " | ".join(fmt(row.get(c)) for c in cols) + " |")
    means = {c: [r[c] for r in rows if c in r] for c in cols}
    print("| **mean** | " + " | ".join(f"**{np.mean(v):.3f}**" if v else "" for v in means.values()) + " |")
    return 0


if __name__ == "__main__":
    measure(main)
