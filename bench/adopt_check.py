"""Issue 13's "must show", as a user would do it: models trained outside vaelab, adopted through the CLI.

1. A plain PyTorch VAE with ReLU on its mu/logvar heads, trained a few epochs on scikit-learn's
   digits, saved as safetensors: ``vaelab adopt`` + ``vaelab inspect`` (the heads flagged, the
   posterior SDs stuck at >= 1) and ``vaelab explore RUN traverse``.
2. The same weights exported with ``torch.onnx.export``: ``vaelab score`` on the ONNX run and on the
   PyTorch run (same seed, same K) per example, and ``inspect``'s KL per dimension.
3. A plain autoencoder (deterministic encoder): ``compare-samplers`` picks a sampler, ``inspect``
   lists what does not apply.
4. A tiny random diffusers ``AutoencoderKL`` (built from a config) through ``adopt --model``; a pythae
   VAE in Python: per-channel output.
5. Bad SPECs: each one line on stderr, exit 2.

    .venv/bin/python bench/adopt_check.py [--out DIR] [--epochs 10] [--k 1000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_line, measure  # noqa: E402

MODEL_CODE = '''import torch
from torch import nn
from torch.nn import functional as F


class Encoder(nn.Module):
    def __init__(self, relu_heads=True):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
        self.mu, self.logvar = nn.Linear(128, 8), nn.Linear(128, 8)
        self.relu_heads = relu_heads

    def forward(self, x):
        h = self.body(x.flatten(1))
        mu, logvar = self.mu(h), self.logvar(h)
        return (F.relu(mu), F.relu(logvar)) if self.relu_heads else (mu, logvar)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Linear(128, 64))

    def forward(self, z):
        return self.net(z)  # Bernoulli logits


class AEEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 3))

    def forward(self, x):
        return self.net(x.flatten(1))  # one code per input: a plain autoencoder


class AEDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 128), nn.ReLU(), nn.Linear(128, 64))

    def forward(self, z):
        return self.net(z)
'''

TINY_KL = '''import torch
from diffusers import AutoencoderKL


def build():
    torch.manual_seed(0)
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                         up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                         latent_channels=4, norm_num_groups=4, sample_size=16)
'''


def vaelab(*args, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "vaelab", *map(str, args)], capture_output=True, text=True)
    if ok and done.returncode:
        raise SystemExit(f"vaelab {args[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def train(enc, dec, X: np.ndarray, epochs: int, vae: bool) -> None:
    """The user's own loop (ELBO for a VAE, BCE for an autoencoder)."""
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    x = torch.from_numpy(X)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(64):
            if vae:
                mu, logvar = enc(x[idx])
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                rec = F.binary_cross_entropy_with_logits(dec(z), x[idx], reduction="none").sum(1)
                loss = (rec + 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)).mean()
            else:
                loss = F.binary_cross_entropy_with_logits(dec(enc(x[idx])), x[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    enc.eval(), dec.eval()


def lines_with(text: str, *words: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if any(w in line for w in words)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--k", type=int, default=1000, help="importance samples per example for score")
    args = ap.parse_args()
    print(machine_line())
    work = args.out or Path(tempfile.mkdtemp(prefix="adopt-check-"))
    work.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file
    from sklearn.datasets import load_digits

    X = (load_digits().data / 16.0).astype(np.float32)
    np.save(work / "x.npy", X)
    (work / "user_vae.py").write_text(MODEL_CODE)
    sys.path.insert(0, str(work))
    import user_vae

    # 1. The ReLU-head VAE, trained outside vaelab and saved as safetensors.
    torch.manual_seed(0)
    enc, dec = user_vae.Encoder(), user_vae.Decoder()
    train(enc, dec, X, args.epochs, vae=True)
    save_file({**{f"encoder.{k}": v for k, v in enc.state_dict().items()},
               **{f"decoder.{k}": v for k, v in dec.state_dict().items()}}, str(work / "vae.safetensors"))  # fmt: skip
    specs = ["--encoder", f"{work / 'user_vae.py'}:Encoder", "--decoder", f"{work / 'user_vae.py'}:Decoder"]
    pt, ox = work / "run-pytorch", work / "run-onnx"
    vaelab("adopt", *specs, "--weights", work / "vae.safetensors", "--likelihood", "bernoulli", "--data",
           work / "x.npy", "--out", pt)  # fmt: skip
    out = vaelab("inspect", pt, *specs).stdout
    print(f"\n1. ReLU heads ({args.epochs} epochs on digits): vaelab inspect says")
    for line in lines_with(out, "ReLU", "negative", "posterior SD", "≥ 0", "What to do: Make"):
        print("   ", line[:220])
    out = vaelab("explore", pt, "traverse", *specs).stdout
    print("    explore traverse:", out.strip().splitlines()[0])

    # 2. The same weights through ONNX.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: what users still run
        torch.onnx.export(enc, (torch.zeros(2, 64),), str(work / "enc.onnx"), input_names=["x"],
                          dynamic_axes={"x": {0: "n"}}, dynamo=False)  # fmt: skip
        torch.onnx.export(dec, (torch.zeros(2, 8),), str(work / "dec.onnx"), input_names=["z"],
                          dynamic_axes={"z": {0: "n"}}, dynamo=False)  # fmt: skip
    vaelab("adopt", "--encoder", work / "enc.onnx", "--decoder", work / "dec.onnx", "--likelihood", "bernoulli",
           "--data", work / "x.npy", "--out", ox)  # fmt: skip
    import pandas as pd

    seconds = {}
    for run, extra in ((pt, specs), (ox, [])):
        t = time.perf_counter()
        vaelab("score", run, "--n-samples", args.k, "--quiet", "--out", run / "scores.csv", *extra)
        seconds[run.name] = time.perf_counter() - t
        vaelab("inspect", run, *extra)
    a, b = pd.read_csv(pt / "scores.csv"), pd.read_csv(ox / "scores.csv")
    kl = [np.asarray(json.loads((r / "metrics.json").read_text())["diagnostics"]["per_dimension"]["kl"]) for r in (pt, ox)]
    print(f"\n2. ONNX vs PyTorch, test split ({len(a)} examples), K = {args.k}, same seed:")
    print(f"    log p(x) per example: max |difference| {np.abs(a['log_px'] - b['log_px']).max():.2e} nats "
          f"(mean log p(x) {a['log_px'].mean():.3f} vs {b['log_px'].mean():.3f})")  # fmt: skip
    print(f"    KL per dimension: max |difference| {np.abs(kl[0] - kl[1]).max():.2e} nats")
    print(f"    score time: PyTorch {seconds[pt.name]:.1f} s, ONNX {seconds[ox.name]:.1f} s (process start included)")

    # 3. A plain autoencoder.
    torch.manual_seed(0)
    ae_enc, ae_dec = user_vae.AEEncoder(), user_vae.AEDecoder()
    train(ae_enc, ae_dec, X, args.epochs, vae=False)
    save_file({**{f"encoder.{k}": v for k, v in ae_enc.state_dict().items()},
               **{f"decoder.{k}": v for k, v in ae_dec.state_dict().items()}}, str(work / "ae.safetensors"))  # fmt: skip
    ae_specs = ["--encoder", f"{work / 'user_vae.py'}:AEEncoder", "--decoder", f"{work / 'user_vae.py'}:AEDecoder"]
    ae = work / "run-ae"
    vaelab("adopt", *ae_specs, "--weights", work / "ae.safetensors", "--likelihood", "bernoulli", "--data",
           work / "x.npy", "--out", ae)  # fmt: skip
    out = vaelab("inspect", ae, *ae_specs).stdout
    print("\n3. Plain autoencoder: inspect says")
    for line in lines_with(out, "do not apply", "deterministic"):
        print("   ", line[:220])
    out = vaelab("compare-samplers", ae, *ae_specs).stdout
    for line in lines_with(out, "sample from", "Fréchet"):
        print("   ", line[:220])

    # 4. diffusers through --model, pythae in Python.
    (work / "tiny_kl.py").write_text(TINY_KL)
    images = (np.random.default_rng(0).random((200, 3, 16, 16)) * 2 - 1).astype(np.float32)
    np.save(work / "images.npy", images)
    kl_spec = f"{work / 'tiny_kl.py'}:build"
    vaelab("adopt", "--model", kl_spec, "--likelihood", "gaussian-fixed", "--sigma", "0.1", "--data",
           work / "images.npy", "--out", work / "run-kl")  # fmt: skip
    out = vaelab("inspect", work / "run-kl", "--model", kl_spec).stdout
    print("\n4. diffusers AutoencoderKL (random, 4 x 8 x 8 latents of 16 x 16 images): inspect says")
    for line in lines_with(out, "channel", "scaling"):
        print("   ", line[:220])
    out = vaelab("explore", work / "run-kl", "traverse", "--model", kl_spec, "--steps", "5").stdout
    print("    explore traverse:", out.strip().splitlines()[0])
    import vaelab as vl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pythae.models import VAE, VAEConfig

        torch.manual_seed(0)
        pvae = VAE(VAEConfig(input_dim=(1, 8, 8), latent_dim=4, reconstruction_loss="bce"))
        model = vl.adopt(pvae, likelihood="bernoulli", data=X)
        ours = -model.log_likelihood(X[:200], n_samples=200, seed=0).log_px.mean()
        theirs = -pvae.get_nll(torch.from_numpy(X[:200]).reshape(-1, 1, 8, 8), n_samples=200, batch_size=100)
        d = vl.diagnose(model, X)
    print(f"    pythae VAE (untrained, 4 latents): NLL ours {ours:.3f}, pythae's get_nll {theirs:.3f} nats; "
          f"diagnose: {d.to_dict()['active_units']} of {model.latent_dim_} dimensions active")  # fmt: skip

    # 5. Bad SPECs.
    (work / "not_a_module.py").write_text("VALUE = 3\n\ndef broken():\n    raise RuntimeError('no')\n")
    (work / "nan_vae.py").write_text(MODEL_CODE + "\n\nclass NanDecoder(Decoder):\n    def forward(self, z):\n"
                                     "        return super().forward(z) * float('nan')\n")  # fmt: skip
    bad = {
        "missing file": ["--encoder", work / "nowhere.py:Encoder", specs[2], specs[3]],
        "missing name": ["--encoder", f"{work / 'user_vae.py'}:Nope", specs[2], specs[3]],
        "not a module": ["--encoder", f"{work / 'not_a_module.py'}:VALUE", specs[2], specs[3]],
        "factory fails": ["--encoder", f"{work / 'not_a_module.py'}:broken", specs[2], specs[3]],
        "wrong output shapes": ["--encoder", f"{work / 'user_vae.py'}:AEEncoder", "--decoder", specs[3]],
        "NaN outputs": [*specs[:2], "--decoder", f"{work / 'nan_vae.py'}:NanDecoder"],
        "weights do not match": [*specs, "--weights", work / "ae.safetensors"],
        "a pickle": [*specs, "--weights", work / "vae.pt"],
    }  # fmt: skip
    (work / "vae.pt").write_bytes(b"\x80\x04not a pickle to open")
    print("\n5. Bad SPECs (adopt):")
    for i, (case, argv) in enumerate(bad.items()):
        done = vaelab("adopt", *argv, "--likelihood", "bernoulli", "--data", work / "x.npy", "--out",
                      work / f"bad-{i}", ok=False)  # fmt: skip
        one_line = done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        print(f"    {case:22s} exit {done.returncode}, {'one line' if one_line else 'NOT one line'}: "
              f"{done.stderr.strip()[:150]}")  # fmt: skip
    print(f"\nwork folder: {work}")


if __name__ == "__main__":
    measure(main)
