"""Issue 15's "before/after" numbers, measured the same way on the code before the fix and after it.

Run it once per checkout: the code imported is whatever ``vaelab`` resolves to, so the code before
issue 15 is measured with ``PYTHONPATH=/path/to/old/src``. It uses only API both versions have.

1. Item 1: a binarizing Bernoulli model of mnist5k (2,000 training images, 2 epochs); log p(x)
   (K importance samples) of 100 test images scored in one batch, and of the first ``--alone`` of
   them scored one at a time. Printed: the mean and largest |alone - batch| in nats against the
   median reported standard error.
2. Item 2: what ``likelihood="auto"`` chooses on binary, 8-bit (k/255) and min-max-scaled continuous
   data in [0, 1], and the bits/dim a Bernoulli with ``binarize="none"`` reports on grey images
   (not a density: it should report none).
3. Item 11: scikit-learn's ``check_estimator`` on a small ``vaelab.VAE``: checks run and failed.

Run: .venv/bin/python bench/issue15_before_after.py [--items 1 2 11] [--alone 40] [--k 200]
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

from _common import machine_line


def item1(alone: int, k: int) -> None:
    import vaelab
    from vaelab.data.sources import load_dataset

    X = load_dataset("mnist5k").X.reshape(5000, -1).astype(np.float32)
    vae = vaelab.VAE(latent_dim=16, hidden=[256], epochs=2, device="cpu", seed=0).fit(X[:2000])
    batch = X[4000:4100]
    whole = vae.log_likelihood(batch, n_samples=k)
    single = np.array([vae.log_likelihood(batch[i : i + 1], n_samples=k).log_px[0] for i in range(alone)])
    shift = np.abs(single - np.asarray(whole.log_px)[:alone])
    se = np.asarray(whole.log_px_stderr)[:alone]
    print(f"item 1: {alone} images alone vs within X[4000:4100], K = {k}: |shift| mean {shift.mean():.2f} nats, "
          f"max {shift.max():.2f}; median reported SE {np.median(se):.2f}; shifts beyond 2 SE: "
          f"{np.mean(shift > 2 * np.sqrt(2) * se):.0%}")


def item2() -> None:
    import vaelab
    from vaelab.data.sources import load_dataset

    rng = np.random.default_rng(0)
    readings = rng.normal(size=(300, 8)) @ rng.normal(size=(8, 8))
    cases = {"binary": (rng.random((300, 64)) > 0.5).astype(np.float32),
             "8-bit": load_dataset("mnist5k").X.reshape(5000, -1)[:300].astype(np.float32),
             "min-max-scaled": ((readings - readings.min(0)) / np.ptp(readings, 0)).astype(np.float32)}  # fmt: skip
    small = dict(latent_dim=2, hidden=[32], epochs=1, device="cpu", seed=0)
    for name, X in cases.items():
        vae = vaelab.VAE(**small).fit(X)
        choice = getattr(vae, "likelihood_choice_", None)
        binarized = choice["binarized"] if choice else (vae.likelihood_ == "bernoulli" and vae.binarize != "none")
        why = f" ({choice['reason']})" if choice else " (no reason given)"
        print(f"item 2: auto on {name}: {vae.likelihood_}, binarized {binarized}{why}")
    grey = cases["8-bit"]
    vae = vaelab.VAE(**small, likelihood="bernoulli", binarize="none").fit(grey[:200])
    print(f"item 2: bernoulli, binarize='none', grey images: bits/dim reported "
          f"{vae.log_likelihood(grey[200:], n_samples=5).summary()['bits_per_dim']}")


def item11() -> None:
    from sklearn.utils.estimator_checks import check_estimator

    import vaelab

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(vaelab.VAE(latent_dim=2, hidden=[8], epochs=2, batch_size=32, device="cpu"), on_fail=None)
    failed = sorted(r["check_name"] for r in results if r["status"] == "failed")
    print(f"item 11: check_estimator: {len(results)} checks, {len(failed)} failed: {', '.join(failed)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", nargs="+", default=["1", "2", "11"])
    parser.add_argument("--alone", type=int, default=40)
    parser.add_argument("--k", type=int, default=200)
    args = parser.parse_args()
    import vaelab

    print(machine_line(), "| vaelab from", vaelab.__file__)
    for item in args.items:
        {"1": lambda: item1(args.alone, args.k), "2": item2, "11": item11}[item]()


if __name__ == "__main__":
    main()
