"""Training speed: vaelab's trainer against a minimal PyTorch loop (and pythae, when installed).

All contestants train the same model on the same data for the same number of steps:
MLP 784-512-16 encoder, 16-512-784 decoder, Bernoulli cross-entropy, analytic KL, Adam
lr 1e-3, batch 100, mnist5k's training split (4,000 images), no validation. Two pairings:

- grey values (no binarization), gradient clipping at norm 10 in both (vaelab's default
  clipping): target vaelab <= 1.10x the minimal loop;
- like for like with vaelab's default data handling: dynamic binarization (a fresh Bernoulli
  draw of every batch), no clipping, validation off, in both: target <= 1.05x.

and vaelab with all its defaults (dynamic binarization, clipping at 10, 10% of the images held
out for validation every epoch, early stopping armed), for what a user gets.

    .venv/bin/python bench/train_speed.py [--repeats 3] [--epochs 10]

Prints the machine, the timings and a markdown table for BENCHMARKS.md. On a machine with
CUDA it then times vaelab's trainer on the GPU too, in float32 and under bfloat16 autocast
(``precision="bf16"``), same model and data, and prints examples/s next to the CPU's;
without CUDA it says the GPU timing was skipped. Always exits 0: this is a measurement,
not a test.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
import traceback

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import vaelab
from vaelab.data.sources import load_dataset
from vaelab.data.split import indices, split_assignment
from _common import machine, machine_line, quiet_pythae  # noqa: E402 (bench/ is on sys.path when run as a script)

SEED = 0
BATCH = 100
LR = 1e-3
GRAD_CLIP = 10.0  # vaelab clips at norm 10 by default; the minimal loop does the same work


def training_data() -> np.ndarray:
    """mnist5k's training split as (4000, 784) float32 in [0, 1]: the same array for everyone."""
    X = load_dataset("mnist5k").X  # (5000, 1, 28, 28)
    train = indices(split_assignment(X.shape[0], 0.1, 0.1, seed=SEED), "train")
    return np.ascontiguousarray(X[train].reshape(len(train), -1), dtype=np.float32)


# --------------------------------------------------------------- contestants
# Each takes (X, epochs) and returns the mean training loss of its last epoch
# (a sanity check that all three learn alike). Timing covers everything from the
# array to a trained model, model construction included, as vaelab's fit does.


def run_vaelab(X: np.ndarray, epochs: int, **settings) -> float:
    # validation_fraction=0.0 gives an empty validation split, which _fit turns
    # into "no validation" (no eval passes, no early stopping).
    kw = {"binarize": "none", "validation_fraction": 0.0, "patience": 0, **settings}
    vae = vaelab.VAE(latent_dim=16, hidden=[512], likelihood="bernoulli", epochs=epochs, batch_size=BATCH,
                     device="cpu", seed=SEED, **kw)  # fmt: skip
    vae.fit(X)
    return vae.history_[-1]["train_loss"]


def run_vaelab_like(X: np.ndarray, epochs: int) -> float:
    """Like for like with run_minimal_like: dynamic binarization, no clipping, no validation."""
    return run_vaelab(X, epochs, binarize="dynamic", grad_clip=0.0)


def run_vaelab_defaults(X: np.ndarray, epochs: int) -> float:
    """vaelab as a user gets it: dynamic binarization, clipping at 10, 10% validation, early stopping armed."""
    vae = vaelab.VAE(latent_dim=16, hidden=[512], likelihood="bernoulli", epochs=epochs, batch_size=BATCH,
                     device="cpu", seed=SEED)  # fmt: skip
    vae.fit(X)
    return vae.history_[-1]["train_loss"]


class MinimalVAE(nn.Module):
    def __init__(self, d: int = 784, h: int = 512, latent: int = 16):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, h), nn.ReLU())
        self.mu, self.logvar = nn.Linear(h, latent), nn.Linear(h, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, h), nn.ReLU(), nn.Linear(h, d))  # logits

    def forward(self, x):
        h = self.body(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none").sum(1)  # (B,)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)  # (B,)
        return (rec + kl).mean()


def run_minimal(X: np.ndarray, epochs: int, binarize: bool = False, clip: bool = True) -> float:
    torch.manual_seed(SEED)
    Xt = torch.from_numpy(X)
    model = MinimalVAE()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    n = Xt.shape[0]
    for _ in range(epochs):
        total = torch.zeros(())  # summed on-tensor: no .item() sync per step
        order = torch.randperm(n)
        for start in range(0, n, BATCH):
            xb = Xt[order[start : start + BATCH]]
            if binarize:  # dynamic binarization: a fresh Bernoulli draw of the batch, as vaelab's default
                xb = torch.bernoulli(xb)
            loss = model(xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)  # same work as vaelab's default
            opt.step()
            total += loss.detach() * xb.shape[0]
    return float(total) / n


def run_minimal_like(X: np.ndarray, epochs: int) -> float:
    return run_minimal(X, epochs, binarize=True, clip=False)


def vaelab_on(device: str, precision: str):
    """vaelab's contestant on another device / precision (the GPU section)."""

    def run(X: np.ndarray, epochs: int) -> float:
        vae = vaelab.VAE(latent_dim=16, hidden=[512], likelihood="bernoulli", binarize="none", epochs=epochs,
                         batch_size=BATCH, validation_fraction=0.0, patience=0, device=device, seed=SEED,
                         precision=precision)  # fmt: skip
        vae.fit(X)
        torch.cuda.synchronize()
        return vae.history_[-1]["train_loss"]

    return run


def gpu_timings(X: np.ndarray, epochs: int, repeats: int, cpu_seconds: float | None) -> None:
    """vaelab on the GPU, fp32 and bf16: median seconds and examples/s (the CPU's alongside)."""
    if not torch.cuda.is_available():
        print("\nGPU: none here (torch.cuda.is_available() is False): GPU timing skipped.")
        return
    name = torch.cuda.get_device_name(0)
    print(f"\nGPU: {name}; vaelab's trainer, same model, data and batch ({BATCH}), {epochs} epochs")
    rows = []
    if cpu_seconds:
        rows.append(("cpu", "fp32", cpu_seconds, None))
    for precision in ("fp32", "bf16"):
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            print(f"  bf16: {name} has no bfloat16 support: skipped")
            continue
        run = vaelab_on("cuda", precision)
        try:
            run(X, 1)  # warm-up: CUDA context, kernels, allocator
            times, loss = [], None
            for r in range(repeats):
                started = time.perf_counter()
                loss = run(X, epochs)
                times.append(time.perf_counter() - started)
                print(f"  repeat {r + 1}: cuda {precision}  {times[-1]:7.2f} s  (last-epoch loss {loss:.2f})")
        except Exception:
            traceback.print_exc()
            print(f"cuda {precision}: FAILED (traceback above)", file=sys.stderr)
            continue
        rows.append(("cuda", precision, statistics.median(times), loss))
    examples = epochs * X.shape[0]
    print("\n| device | precision | median s | examples/s | last-epoch loss |\n|---|---|---:|---:|---:|")
    for device, precision, seconds, loss in rows:
        shown = "" if loss is None else f"{loss:.2f}"
        print(f"| {device} | {precision} | {seconds:.2f} | {examples / seconds:,.0f} | {shown} |")


def make_pythae():
    """pythae's contestant, or None when it is not installed (pip install 'vaelab[bench]')."""
    try:
        from pythae.models import VAE, VAEConfig
        from pythae.models.base.base_utils import ModelOutput
        from pythae.models.nn import BaseDecoder, BaseEncoder
        from pythae.pipelines import TrainingPipeline
        from pythae.trainers import BaseTrainerConfig
        from pythae.trainers.training_callbacks import TrainingCallback
    except ImportError:
        return None
    quiet_pythae()

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(784, 512), nn.ReLU())
            self.mu, self.logvar = nn.Linear(512, 16), nn.Linear(512, 16)

        def forward(self, x):
            h = self.body(x)
            return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        # pythae's "bce" loss takes probabilities, so the decoder ends in a sigmoid.
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(16, 512), nn.ReLU(), nn.Linear(512, 784), nn.Sigmoid())

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    class LastLoss(TrainingCallback):
        def on_log(self, training_config, logs, **kwargs):
            self.loss = logs.get("train_epoch_loss")

    def run_pythae(X: np.ndarray, epochs: int) -> float:
        torch.manual_seed(SEED)
        config = VAEConfig(input_dim=(784,), latent_dim=16, reconstruction_loss="bce")
        model = VAE(config, encoder=Encoder(), decoder=Decoder())
        last = LastLoss()
        # tqdm bars go to stderr: swallow them (they are still drawn, so their cost counts).
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stderr(io.StringIO()):
            train_cfg = BaseTrainerConfig(output_dir=out, num_epochs=epochs, per_device_train_batch_size=BATCH,
                                          learning_rate=LR, no_cuda=True, seed=SEED)  # fmt: skip
            # No eval_data: validation off (pythae then keeps the best model on the training loss,
            # deep-copying it each improving epoch, and saves it to `out` at the end: its pipeline's
            # own costs). pythae's trainer has no gradient clipping, so it does slightly less work.
            TrainingPipeline(model=model, training_config=train_cfg)(train_data=X, callbacks=[last])
        return last.loss

    return run_pythae


# ------------------------------------------------------------------ harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contestant (median reported)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per timed run")
    args = parser.parse_args(argv)
    # torch.set_num_threads is left at its default on purpose: this is what users get.

    m = machine()

    print(machine_line(with_load=False))
    X = training_data()
    print(f"data: mnist5k train split {X.shape} {X.dtype}, {args.epochs} epochs x {-(-X.shape[0] // BATCH)} steps")

    contestants = {"vaelab": run_vaelab, "minimal PyTorch": run_minimal,
                   "vaelab, like for like": run_vaelab_like, "minimal, like for like": run_minimal_like,
                   "vaelab defaults": run_vaelab_defaults}  # fmt: skip
    pythae = make_pythae()
    if pythae is None:
        print("pythae is not installed: skipped (pip install 'vaelab[bench]' to include it)")
    else:
        contestants["pythae"] = pythae

    times: dict[str, list[float]] = {name: [] for name in contestants}
    losses: dict[str, float] = {}
    failed: set[str] = set()

    def attempt(name, epochs):
        try:
            started = time.perf_counter()
            loss = contestants[name](X, epochs)
            return time.perf_counter() - started, loss
        except Exception:  # a broken contestant is reported, the others still run
            traceback.print_exc()
            print(f"{name}: FAILED (traceback above)", file=sys.stderr)
            failed.add(name)
            return None

    # Warm-up: one epoch each, so one-off costs (lazy imports, allocator, kernels) count for nobody.
    for name in contestants:
        attempt(name, 1)
    # Interleaved repeats: slow drift in machine load hits every contestant alike.
    for r in range(args.repeats):
        for name in contestants:
            if name in failed:
                continue
            result = attempt(name, args.epochs)
            if result:
                times[name].append(result[0])
                losses[name] = result[1]
                print(f"  repeat {r + 1}: {name:<16} {result[0]:7.2f} s  (last-epoch loss {result[1]:.2f})")

    med = {name: statistics.median(t) for name, t in times.items() if t}
    # Each vaelab contestant is compared with the minimal loop that does its work.
    baseline = {"vaelab, like for like": "minimal, like for like", "minimal, like for like": "minimal, like for like",
                "vaelab defaults": "minimal, like for like"}  # fmt: skip
    steps = args.epochs * -(-X.shape[0] // BATCH)
    print(f"\n{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} threads); "
          f"median of {args.repeats}, {args.epochs} epochs\n")  # fmt: skip
    # The median is the headline; the best run shows the cost without interference from other load.
    print("| trainer | median s | best s | ms / step (median) | vs minimal (median) | last-epoch loss |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in contestants:
        if name not in med:
            print(f"| {name} | failed | | | | |")
            continue
        base = med.get(baseline.get(name, "minimal PyTorch"))
        ratio = f"{med[name] / base:.3f}x" if base else "n/a"
        print(f"| {name} | {med[name]:.2f} | {min(times[name]):.2f} | {1000 * med[name] / steps:.1f} | {ratio} "
              f"| {losses[name]:.2f} |")
    base = med.get("minimal PyTorch")
    if base and "vaelab" in med:
        r = med["vaelab"] / base
        print(f"\nvaelab / minimal (grey values, clipping) = {r:.3f} (target <= 1.10: {'met' if r <= 1.10 else 'NOT met'})")
    like, minimal_like = med.get("vaelab, like for like"), med.get("minimal, like for like")
    if like and minimal_like:
        r = like / minimal_like
        print(f"vaelab / minimal, like for like = {r:.3f} (target <= 1.05: {'met' if r <= 1.05 else 'NOT met'})")
    if base and "pythae" in med:
        print(f"pythae / minimal = {med['pythae'] / base:.3f}")
    gpu_timings(X, args.epochs, args.repeats, med.get("vaelab"))
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception:  # e.g. the data set cannot be loaded: say so, but a measurement never "fails"
        traceback.print_exc()
    sys.exit(0)
