"""Likelihood quality: test NLL of the model `vaelab demo` trains, next to pythae's default VAE
trained for the same wall time.

vaelab: vaelab.runs.train.train_run("mnist5k", tmpdir, DEMO_SETTINGS), exactly what `vaelab demo`
runs (MLP 784-512-256-16, Bernoulli likelihood, dynamic binarization, KL warm-up, early
stopping on the validation split); its wall time T is the budget.

pythae: pythae.models.VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=16,
reconstruction_loss="bce")) with its default MLP networks (784-512-16, 16-512-784 sigmoid),
trained with pythae's TrainingPipeline on the same 4,000 training images, its validation
loss on the same 500 validation images (pythae keeps the model with the best validation
loss), Adam lr 1e-3, batch 100 (vaelab's settings; pythae's defaults are 1e-4 and 64).
pythae has no dynamic binarization, so it is trained twice:
  * "grey": on the grey images. Its "bce" loss is linear in the target, so the loss on a grey
    image is the expected loss over that image's random binarizations: the closest pythae
    comes to dynamic binarization. But the encoder sees grey images in training and binary
    ones at test time.
  * "fixed": on one fixed binarization of the training images (and of the validation images,
    the same one vaelab validates on): train and test data are alike, but 4,000 images seen
    in one binarization only are easier to overfit.
Same wall time: a callback stops pythae's training after the first epoch at which the time
spent plus one average epoch would pass T (the pipeline's end-of-training save is then
skipped; the best model so far is taken from the trainer).

Evaluation: the 500 test images, binarized once exactly as vaelab binarizes evaluation data
(seed + 1), K = 1000 importance samples. vaelab through vaelab.analysis.log_likelihood;
pythae through its get_nll (which returns only the mean), cross-checked, with per-image
values and standard errors, by a minimal batched IWAE estimator on the same weights (which
is also run on vaelab's weights).

    .venv/bin/python bench/nll_quality.py [--n-samples 1000] [--budget SECONDS] [--epochs N]
                                          [--variants grey fixed]

All training runs first, back to back (vaelab, then pythae's variants), then all evaluation:
the wall-time budget is only fair on a quiet machine, so its window is kept short. The load
average is printed after each training. --budget overrides T (for quick runs); --epochs
overrides DEMO_SETTINGS' epoch limit (ditto).
Prints the machine and a markdown table for BENCHMARKS.md. Always exits 0.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from vaelab.analysis import log_likelihood
from vaelab.cli import DEMO_SETTINGS
from vaelab.data.split import binarize_fixed, indices
from vaelab.estimator import EVAL_SEED_OFFSET
from vaelab.runs.train import train_run
from _common import load, machine, machine_line, measure  # noqa: E402 (bench/ is on sys.path when run as a script)

SEED = 0  # DEMO_SETTINGS leave the seed at vaelab's default, 0
LOG_2PI = math.log(2 * math.pi)


# ------------------------------------------------------------ minimal estimator


@torch.no_grad()
def minimal_log_px(encode, decode_logits, x: torch.Tensor, n_samples: int, batch: int = 100, chunk: int = 100,
                   seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """IWAE-K log p(x) per image for a Bernoulli-logit decoder, and its delta-method standard error.

    encode(x (B, 1, 28, 28)) -> mu, logvar (B, L); decode_logits(z (n, L)) -> logits (n, 784).
    """
    torch.manual_seed(seed)
    out_lp, out_se = [], []
    for s in range(0, x.shape[0], batch):
        xb = x[s : s + batch]
        flat = xb.reshape(xb.shape[0], -1)
        mu, logvar = encode(xb)
        std = torch.exp(0.5 * logvar)
        log_w = []
        for start in range(0, n_samples, chunk):
            k = min(chunk, n_samples - start)
            eps = torch.randn(k, *mu.shape)
            z = mu + std * eps  # (k, B, L)
            logits = decode_logits(z.reshape(-1, z.shape[-1])).reshape(k, xb.shape[0], -1)
            log_px_z = -F.binary_cross_entropy_with_logits(logits, flat.expand_as(logits), reduction="none").sum(-1)
            log_pz = -0.5 * (LOG_2PI + z**2).sum(-1)
            log_qz = -0.5 * (LOG_2PI + logvar + eps**2).sum(-1)
            log_w.append(log_px_z + log_pz - log_qz)
        lw = torch.cat(log_w).double()  # (K, B)
        out_lp.append((torch.logsumexp(lw, 0) - math.log(n_samples)).numpy())
        r = torch.exp(lw - lw.max(0).values)
        out_se.append((r.std(0) / (math.sqrt(n_samples) * r.mean(0))).numpy())
    return np.concatenate(out_lp), np.concatenate(out_se)


# ------------------------------------------------------------------- pythae


def pythae_parts():
    """pythae's pieces, or None when it is not installed."""
    try:
        from pythae.models import VAE, VAEConfig
        from pythae.pipelines import TrainingPipeline
        from pythae.trainers import BaseTrainerConfig
        from pythae.trainers.training_callbacks import TrainingCallback
    except ImportError:
        return None
    for name in list(logging.root.manager.loggerDict):  # pythae logs at INFO on import
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return VAE, VAEConfig, TrainingPipeline, BaseTrainerConfig, TrainingCallback


class _OutOfTime(Exception):
    pass


def train_pythae(parts, X_train: np.ndarray, X_val: np.ndarray, budget: float):
    """pythae's default VAE trained until the budget (seconds of wall time) is spent.
    Returns (best model, epochs run, best epoch, seconds)."""
    VAE, VAEConfig, TrainingPipeline, BaseTrainerConfig, TrainingCallback = parts

    class Budget(TrainingCallback):
        def __init__(self):
            self.started = time.perf_counter()
            self.val = []

        def on_log(self, training_config, logs, **kwargs):
            self.val.append(logs.get("eval_epoch_loss", math.nan))
            spent = time.perf_counter() - self.started
            if spent + spent / len(self.val) > budget:  # one more average epoch would overrun
                raise _OutOfTime

    torch.manual_seed(SEED)
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="bce"))
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stderr(io.StringIO()):
        cfg = BaseTrainerConfig(output_dir=out, num_epochs=100_000, per_device_train_batch_size=100,
                                per_device_eval_batch_size=100, learning_rate=1e-3, no_cuda=True,
                                seed=SEED)  # fmt: skip
        pipeline = TrainingPipeline(model=model, training_config=cfg)
        clock = Budget()
        try:
            pipeline(train_data=X_train, eval_data=X_val, callbacks=[clock])
        except _OutOfTime:
            pass
        seconds = time.perf_counter() - clock.started
    best = pipeline.trainer._best_model.eval()
    return best, len(clock.val), int(np.nanargmin(clock.val)) + 1, seconds


def pythae_minimal(model, x: torch.Tensor, n_samples: int):
    enc, dec = model.encoder, model.decoder

    def encode(xb):
        o = enc(xb)
        return o.embedding, o.log_covariance

    def decode_logits(z):  # Decoder_AE_MLP: layers[0] = Linear + ReLU, layers[1] = Linear + Sigmoid
        return dec.layers[1][0](dec.layers[0](z))

    return minimal_log_px(encode, decode_logits, x, n_samples)


# ------------------------------------------------------------------ harness


def mean_se(nll: np.ndarray) -> tuple[float, float]:
    return float(nll.mean()), float(nll.std(ddof=1) / math.sqrt(nll.size))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1000, help="K, importance samples per test image")
    parser.add_argument("--budget", type=float, default=None, help="pythae's wall time in s (default: vaelab's)")
    parser.add_argument("--epochs", type=int, default=None, help="override the demo's epoch limit (quick runs)")
    parser.add_argument("--variants", nargs="+", choices=("grey", "fixed"), default=["grey", "fixed"],
                        help="pythae's training data: grey images and/or one fixed binarization (default: both)")
    parser.add_argument("--no-pythae", action="store_true", help="leave pythae out even when installed")
    args = parser.parse_args(argv)
    K = args.n_samples

    m = machine()

    print(machine_line())
    settings = dict(DEMO_SETTINGS)
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    print(f"vaelab demo settings: {settings}")

    # All training first, back to back, then all evaluation: the wall-time comparison is only as
    # good as the machine is quiet, so keep its window short.
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = train_run("mnist5k", Path(tmp) / "demo", settings)
        T = time.perf_counter() - started
    tr = result.metrics["training"]
    model, ds, split = result.model, result.dataset, result.split
    print(f"vaelab demo: {tr['epochs_run']} epochs (best {tr['best_epoch']}), {T:.1f} s wall time "
          f"({tr['seconds']:.1f} s in epochs; load average {load()})")  # fmt: skip

    trained = {}  # variant -> (best model, epochs, best epoch, seconds)
    parts = None if args.no_pythae else pythae_parts()
    if parts is None:
        print("pythae is not installed (or --no-pythae): skipped (pip install 'vaelab[bench]' to include it)")
    else:
        budget = T if args.budget is None else args.budget
        X_train = np.ascontiguousarray(ds.X[indices(split, "train")])
        X_val = np.ascontiguousarray(ds.X[indices(split, "val")])
        variants = {
            "grey": (X_train, X_val),
            # vaelab's own conventions: training data with the seed, evaluation data with seed + 1.
            "fixed": (binarize_fixed(torch.from_numpy(X_train), SEED).numpy(),
                      binarize_fixed(torch.from_numpy(X_val), SEED + EVAL_SEED_OFFSET).numpy()),
        }  # fmt: skip
        for name in args.variants:
            try:
                trained[name] = train_pythae(parts, *variants[name], budget)
                _, epochs, best_epoch, secs = trained[name]
                print(f"pythae ({name}): {epochs} epochs (best {best_epoch}), {secs:.1f} s (load average {load()})")
            except Exception:
                traceback.print_exc()
                print(f"pythae ({name}): FAILED (traceback above)", file=sys.stderr)

    # The test images in the one binarization vaelab evaluates them in (seed + 1, whole set in order).
    X_test = np.ascontiguousarray(ds.X[indices(split, "test")])
    Xbin = binarize_fixed(torch.from_numpy(X_test), SEED + EVAL_SEED_OFFSET)
    assert torch.equal(Xbin, model.model_input(X_test, evaluation=True)), "not the binarization vaelab evaluates with"

    rows = []  # (name, training, NLL ± SE, minimal estimator's NLL, per-image NLL for paired differences)
    res = log_likelihood(model, X_test, n_samples=K)
    s = res.summary()
    mod = model.module_
    lp_min, _ = minimal_log_px(lambda x: mod.encode_params(x), lambda z: mod.decode_params(z).flatten(1), Xbin, K)
    print(f"vaelab: log_likelihood NLL {s['nll']:.2f} ± {s['nll_stderr']:.2f} (MC part {s['nll_mc_stderr']:.3f}) "
          f"| minimal estimator on its weights NLL {-lp_min.mean():.2f}")  # fmt: skip
    nll_v = -res.log_px
    rows.append(("vaelab demo", f"{tr['epochs_run']} epochs (best {tr['best_epoch']}), {T:.0f} s",
                 f"{s['nll']:.2f} ± {s['nll_stderr']:.2f}", f"{-lp_min.mean():.2f}", nll_v))  # fmt: skip
    for name, (best, epochs, best_epoch, secs) in trained.items():
        try:
            torch.manual_seed(SEED)
            # get_nll builds autograd graphs it never uses; no_grad only makes it faster here.
            with torch.no_grad():
                nll_get = -float(best.get_nll(Xbin, n_samples=K, batch_size=100))
            lp, _ = pythae_minimal(best, Xbin, K)
            mu, se = mean_se(-lp)
            print(f"pythae ({name}): get_nll NLL {nll_get:.2f} | minimal estimator on its weights NLL "
                  f"{mu:.2f} ± {se:.2f}")  # fmt: skip
            rows.append((f"pythae default VAE, {name} training images",
                         f"{epochs} epochs (best {best_epoch}), {secs:.0f} s",
                         f"{nll_get:.2f} ± {se:.2f}", f"{mu:.2f}", -lp))  # fmt: skip
        except Exception:
            traceback.print_exc()
            print(f"pythae ({name}): evaluation FAILED (traceback above)", file=sys.stderr)

    print(f"\n{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} threads); "
          f"{Xbin.shape[0]} test images, fixed binarization, K = {K}; load average now {load()}\n")  # fmt: skip
    print("| model | training (wall time) | test NLL ± SE (nats) | minimal estimator, same weights "
          "| vs vaelab (paired) |")  # fmt: skip
    print("|---|---|---:|---:|---:|")
    for name, training, nll, check, per_image in rows:
        if per_image is nll_v:
            paired = ""
        else:
            d = per_image - nll_v
            paired = f"{d.mean():+.2f} ± {d.std(ddof=1) / math.sqrt(d.size):.2f}"
        print(f"| {name} | {training} | {nll} | {check} | {paired} |")
    print("\nSE: standard error of the mean over the test images (pythae's get_nll returns only the mean; its SE"
          " is taken from the minimal estimator's per-image values). Paired: mean per-image NLL difference"
          " from vaelab, positive = worse than vaelab.")  # fmt: skip
    return 0


if __name__ == "__main__":
    measure(main)
