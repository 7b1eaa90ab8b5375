"""Log-likelihood speed: vaelab's IWAE estimator against a minimal batched one (and pythae's get_nll).

All contestants score the same model on the same data: one set of weights (a vaelab VAE
fitted for 5 epochs: MLP encoder 784-512-(16 mu, 16 logvar), decoder 16-512-784 Bernoulli
logits) copied into a minimal PyTorch model and into pythae's default MLP encoder/decoder
(which end in a sigmoid, for its "bce" loss). Data: the first 200 images of mnist5k's test
split (split_assignment(5000, 0.1, 0.1, seed=0)), binarized once with a fixed seed: the same
binary tensor for everyone. K = 1000 importance samples per image.

Contestants (timing covers the call, from the binary images to per-image log p(x)):
  * vaelab: VAE.log_likelihood(X, n_samples=1000) on the array, what a user calls. The model
    has binarize="none", so it scores the given binary images as they are (a dynamically
    binarizing model would re-binarize them with its own seed). Default chunk_size (16,384
    (sample, image) pairs per decoder pass), and again with chunk_size=4096.
  * vaelab's VAEModule.log_likelihood on the tensor, 100 images per call: the estimator
    without the facade (array checks, blocks).
  * minimal PyTorch: the encoder once per 100 images, 100 draws per decoder pass (10,000
    pairs), log-weights kept and reduced with logsumexp.
  * pythae: model.get_nll(x, n_samples=1000, batch_size=100), called as is (one image at a
    time, 10 batches of 100 copies of it, the encoder rerun on every copy, no torch.no_grad).
Interleaved repeats after a warm-up on 10 images; medians.

Targets: vaelab >= 3x faster than pythae, and <= 1.10x the minimal estimator.

    .venv/bin/python bench/nll_speed.py [--repeats 3] [--n-images 200] [--n-samples 1000]

Prints the machine, the timings, the NLL estimates (they must agree within a few Monte Carlo
standard errors: same weights, same images; the delta-method standard error is optimistic when
the importance weights are heavy-tailed) and a markdown table for BENCHMARKS.md.
Always exits 0: this is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
import traceback

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import vaelab
from vaelab.data.sources import load_dataset
from vaelab.data.split import binarize_fixed, indices, split_assignment
from _common import load, machine, machine_line  # noqa: E402 (bench/ is on sys.path when run as a script)

SEED = 0
BINARIZE_SEED = 12345  # the one fixed binarization of the test images, shared by all contestants
LOG_2PI = math.log(2 * math.pi)


def data(n_images: int) -> tuple[np.ndarray, torch.Tensor]:
    """mnist5k's training split (grey, (4000, 1, 28, 28)) to fit the shared weights, and the first
    n_images of its test split binarized once: (n, 1, 28, 28) float32 of 0/1, the same for all."""
    X = load_dataset("mnist5k").X  # (5000, 1, 28, 28) float32 in [0, 1]
    split = split_assignment(X.shape[0], 0.1, 0.1, seed=SEED)
    train, test = indices(split, "train"), indices(split, "test")[:n_images]
    Xbin = binarize_fixed(torch.from_numpy(np.ascontiguousarray(X[test])), BINARIZE_SEED)
    return np.ascontiguousarray(X[train]), Xbin


def fitted_vaelab(X_train: np.ndarray) -> vaelab.VAE:
    # binarize="none": the model scores the binary tensor it is given as it is (a Bernoulli model
    # with dynamic binarization would re-binarize its input with its own seed, and every contestant
    # must see the same binary images). The weights only have to be sensible, not good: 5 epochs.
    # (After 1 epoch q(z|x) is so poor that the importance weights are heavy-tailed and estimates
    # scatter more than their standard errors say, which blurs the agreement check.)
    vae = vaelab.VAE(latent_dim=16, hidden=[512], likelihood="bernoulli", binarize="none", epochs=5,
                     batch_size=100, validation_fraction=0.0, patience=0, device="cpu", seed=SEED)  # fmt: skip
    return vae.fit(X_train)


def linears(vae: vaelab.VAE) -> dict[str, nn.Linear]:
    """The vaelab model's Linear layers by role: encoder, mu and logvar heads, two decoder layers."""
    m = vae.module_
    enc = [l for l in m.encoder.modules() if isinstance(l, nn.Linear)]
    dec = [l for l in m.decoder.modules() if isinstance(l, nn.Linear)]
    assert len(enc) == 1 and len(dec) == 2, (enc, dec)
    return {"enc": enc[0], "mu": m.mu_head, "logvar": m.logvar_head, "dec1": dec[0], "dec2": dec[1]}


def _copy(dst: nn.Linear, src: nn.Linear) -> None:
    with torch.no_grad():
        dst.weight.copy_(src.weight)
        dst.bias.copy_(src.bias)


# --------------------------------------------------------------- contestants
# Each takes the binary images (N, 1, 28, 28) and K, and returns per-example log p(x) (N,)
# as a NumPy array, or (for pythae, whose get_nll returns only the mean) a 0-d array.


class MinimalVAE(nn.Module):
    def __init__(self, d: int = 784, h: int = 512, latent: int = 16):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, h), nn.ReLU())
        self.mu, self.logvar = nn.Linear(h, latent), nn.Linear(h, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, h), nn.ReLU(), nn.Linear(h, d))  # logits

    @classmethod
    def from_vaelab(cls, vae: vaelab.VAE) -> "MinimalVAE":
        m, layers = cls(), linears(vae)
        pairs = ((m.body[0], "enc"), (m.mu, "mu"), (m.logvar, "logvar"), (m.decoder[0], "dec1"), (m.decoder[2], "dec2"))
        for dst, src in pairs:
            _copy(dst, layers[src])
        return m.eval()

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, n_samples: int, chunk: int) -> torch.Tensor:
        """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x) for K draws: (K, B). The encoder
        runs once for the batch; the K draws are decoded `chunk` at a time, all images at once."""
        x = x.reshape(x.shape[0], -1)
        h = self.body(x)
        mu, logvar = self.mu(h), self.logvar(h)
        std = torch.exp(0.5 * logvar)
        out = []
        for start in range(0, n_samples, chunk):
            k = min(chunk, n_samples - start)
            eps = torch.randn(k, *mu.shape)
            z = mu + std * eps  # (k, B, L)
            logits = self.decoder(z)  # (k, B, D)
            log_px_z = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
            log_pz = -0.5 * (LOG_2PI + z**2).sum(-1)
            log_qz = -0.5 * (LOG_2PI + logvar + eps**2).sum(-1)
            out.append(log_px_z + log_pz - log_qz)
        return torch.cat(out)


def iwae_from_log_weights(log_w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """log (1/K) Σ w_k per column and its delta-method standard error sd(w) / (sqrt(K) mean(w))."""
    log_w = log_w.double()
    K = log_w.shape[0]
    log_px = torch.logsumexp(log_w, 0) - math.log(K)
    r = torch.exp(log_w - log_w.max(0).values)
    se = r.std(0) / (math.sqrt(K) * r.mean(0))
    return log_px.numpy(), se.numpy()


def run_minimal(model: MinimalVAE, x: torch.Tensor, n_samples: int, batch: int = 100, chunk: int = 100):
    """Images in batches of 100, draws in chunks of 100: 10,000 (sample, image) pairs per decoder pass."""
    torch.manual_seed(SEED)
    parts = [iwae_from_log_weights(model.log_weights(x[s : s + batch], n_samples, chunk))
             for s in range(0, x.shape[0], batch)]  # fmt: skip
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def run_vaelab(vae: vaelab.VAE, x: torch.Tensor, n_samples: int, **options):
    """What a user calls: VAE.log_likelihood on the array (vaelab.analysis.log_likelihood), by
    default with its default chunk_size; it streams the images in blocks and the draws in chunks."""
    res = vae.log_likelihood(x.numpy(), n_samples=n_samples, seed=SEED, **options)
    return res.log_px, res.log_px_stderr


def run_vaelab_module(vae: vaelab.VAE, x: torch.Tensor, n_samples: int, batch: int = 100):
    """The estimator alone: VAEModule.log_likelihood on the tensor, 100 images per call (no
    facade: no array checks, no blocks). Shows what the facade costs on top."""
    torch.manual_seed(SEED)
    outs = [vae.module_.log_likelihood(x[s : s + batch], n_samples=n_samples) for s in range(0, x.shape[0], batch)]
    return torch.cat([o.log_px for o in outs]).numpy(), torch.cat([o.log_px_stderr for o in outs]).numpy()


def make_pythae(vae: vaelab.VAE):
    """pythae's contestant (its default MLP nets, the vaelab weights copied in), or None."""
    try:
        from pythae.models import VAE, VAEConfig
    except ImportError:
        return None
    for name in list(logging.root.manager.loggerDict):  # pythae logs at INFO on import
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="bce"))
    layers = linears(vae)
    enc, dec = model.encoder, model.decoder
    # Encoder_VAE_MLP: layers[0] = Linear(784, 512) + ReLU, embedding, log_var heads.
    # Decoder_AE_MLP: layers[0] = Linear(16, 512) + ReLU, layers[1] = Linear(512, 784) + Sigmoid.
    for dst, src in ((enc.layers[0][0], "enc"), (enc.embedding, "mu"), (enc.log_var, "logvar"),
                     (dec.layers[0][0], "dec1"), (dec.layers[1][0], "dec2")):  # fmt: skip
        _copy(dst, layers[src])
    model.eval()

    def run_pythae(x: torch.Tensor, n_samples: int):
        # Called as its documentation shows, without torch.no_grad(): that is what users get.
        torch.manual_seed(SEED)
        return np.asarray(model.get_nll(x, n_samples=n_samples, batch_size=100)), None

    return run_pythae


# ------------------------------------------------------------------ harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contestant (median reported)")
    parser.add_argument("--n-images", type=int, default=200, help="test images scored")
    parser.add_argument("--n-samples", type=int, default=1000, help="K, importance samples per image")
    parser.add_argument("--no-pythae", action="store_true", help="leave pythae out even when installed")
    args = parser.parse_args(argv)
    K = args.n_samples

    m = machine()

    print(machine_line())
    X_train, Xbin = data(args.n_images)
    print(f"data: first {Xbin.shape[0]} images of mnist5k's test split, binarized once (seed {BINARIZE_SEED}); "
          f"K = {K}")  # fmt: skip
    vae = fitted_vaelab(X_train)
    minimal = MinimalVAE.from_vaelab(vae)

    contestants = {
        "vaelab (VAE.log_likelihood)": lambda x: run_vaelab(vae, x, K),
        # The default chunk (16,384 (sample, image) pairs: 51 MB of logits) against a smaller one.
        "vaelab (chunk_size=4096)": lambda x: run_vaelab(vae, x, K, chunk_size=4096),
        "vaelab (VAEModule.log_likelihood)": lambda x: run_vaelab_module(vae, x, K),
        "minimal PyTorch": lambda x: run_minimal(minimal, x, K),
    }
    pythae = None if args.no_pythae else make_pythae(vae)
    if pythae is None:
        print("pythae is not installed (or --no-pythae): skipped (pip install 'vaelab[bench]' to include it)")
    else:
        contestants["pythae get_nll"] = lambda x: pythae(x, K)

    times: dict[str, list[float]] = {name: [] for name in contestants}
    results: dict[str, tuple] = {}
    failed: set[str] = set()

    def attempt(name, x):
        try:
            started = time.perf_counter()
            out = contestants[name](x)
            return time.perf_counter() - started, out
        except Exception:  # a broken contestant is reported, the others still run
            traceback.print_exc()
            print(f"{name}: FAILED (traceback above)", file=sys.stderr)
            failed.add(name)
            return None

    # Warm-up: one run each on 10 images, so one-off costs (lazy imports, allocator) count for nobody.
    for name in contestants:
        attempt(name, Xbin[:10])
    # Interleaved repeats: slow drift in machine load hits every contestant alike.
    for r in range(args.repeats):
        for name in contestants:
            if name in failed:
                continue
            got = attempt(name, Xbin)
            if got:
                times[name].append(got[0])
                results[name] = got[1]
                print(f"  repeat {r + 1}: {name:<34} {got[0]:7.2f} s  (load average {load()})")

    # The estimates: same weights, same images, so they differ only by Monte Carlo noise.
    print("\nmean NLL over the images (nats), Monte Carlo standard error of that mean:")
    nll: dict[str, float] = {}
    mc_se = math.nan
    for name, (log_px, se) in results.items():
        nll[name] = -float(np.mean(log_px))
        if se is not None:
            s = math.sqrt(float(np.sum(np.asarray(se, dtype=np.float64) ** 2))) / np.size(log_px)
            mc_se = s if math.isnan(mc_se) else mc_se
            print(f"  {name:<34} {nll[name]:9.3f}  (MC SE {s:.3f})")
        else:
            print(f"  {name:<34} {nll[name]:9.3f}  (get_nll returns the mean only)")
    if nll and not math.isnan(mc_se):
        spread = max(nll.values()) - min(nll.values())
        # Two independent estimates differ with SD sqrt(2) * SE.
        z = spread / (math.sqrt(2) * mc_se)
        print(f"  largest difference {spread:.3f} nats = {z:.1f} SD of the difference of two estimates "
              f"({'agree' if z <= 3 else 'DISAGREE'})")  # fmt: skip
    a, b = results.get("vaelab (VAEModule.log_likelihood)"), results.get("minimal PyTorch")
    if a and b:
        # Both draw their noise from torch's global RNG seeded alike, 100 images per batch: when the
        # draws line up the estimates match to rounding, which shows they compute the same thing.
        diff = float(np.max(np.abs(np.asarray(a[0]) - np.asarray(b[0]))))
        print(f"  VAEModule.log_likelihood vs minimal, same seed: max per-image |difference| {diff:.2e} nats")

    med = {name: statistics.median(t) for name, t in times.items() if t}
    base = med.get("minimal PyTorch")
    pyt = med.get("pythae get_nll")
    n_img = Xbin.shape[0]
    print(f"\n{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} threads); "
          f"median of {args.repeats}, {n_img} images x K={K}; load average now {load()}\n")  # fmt: skip
    print("| estimator | median s | best s | ms / image (median) | vs minimal (median) | pythae / this | NLL (nats) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in contestants:
        if name not in med:
            print(f"| {name} | failed | | | | | |")
            continue
        ratio = f"{med[name] / base:.2f}x" if base else "n/a"
        speedup = f"{pyt / med[name]:.2f}x" if pyt else "n/a"
        print(f"| {name} | {med[name]:.2f} | {min(times[name]):.2f} | {1000 * med[name] / n_img:.1f} | {ratio} "
              f"| {speedup} | {nll[name]:.2f} |")  # fmt: skip
    v = med.get("vaelab (VAE.log_likelihood)")
    if base and v:
        r = v / base
        print(f"\nvaelab / minimal = {r:.3f} (target <= 1.10: {'met' if r <= 1.10 else 'NOT met'})")
    if pyt and v:
        s = pyt / v
        print(f"pythae / vaelab = {s:.2f} (target >= 3: {'met' if s >= 3 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception:  # e.g. the data set cannot be loaded: say so, but a measurement never "fails"
        traceback.print_exc()
    sys.exit(0)
