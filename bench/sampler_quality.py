"""Sample quality: vaelab's samplers on the demo model against pythae's samplers on a pythae VAE.

One data set (mnist5k, vaelab's seeded split: 4,000 train / 500 validation / 500 test), one
architecture, one feature space, one set of metrics:

- vaelab: the demo model (``vaelab demo``'s settings, DEMO_SETTINGS: MLP encoder
  784-512-256 -> 16 mu/logvar, decoder 16-256-512-784 Bernoulli logits, dynamic binarization,
  10 KL warm-up epochs, up to 150 epochs with early stopping on the validation loss), trained by
  ``train_run``; its four samplers (prior, posterior, aggregate-gmm, aggregate-flow) scored by
  ``compare_samplers``.
- pythae (when installed): ``pythae.models.VAE`` with the same encoder and decoder (the decoder
  ends in a sigmoid, for pythae's "bce" loss), trained on the same training split's grey values
  (pythae has no dynamic binarization, no KL warm-up and no gradient clipping), Adam lr 1e-3,
  batch 100, for as many epochs as vaelab's run actually took, keeping the weights of the epoch
  with the best validation loss (pythae's own rule when given eval data; vaelab keeps its best
  validation epoch too). Then pythae's ``NormalSampler`` and
  ``GaussianMixtureSampler(n_components=10)`` fitted on the training split.

Every sampler's samples are decoder means (vaelab: ``generate(..., mean=True)``; pythae: the
decoder's sigmoid output), ``--n`` of them, scored against the run's 500 test images in the
features of the run's cached domain classifier (``vaelab.commands.generate.feature_space``) by
``quality_report``: Fréchet distance, precision, recall, density, coverage.

Target: on the demo model, the best sampler's Fréchet distance <= 0.7x the prior's. "Best" is
taken over the generative samplers (aggregate-gmm, aggregate-flow), as compare_samplers' verdict
does: the posterior sampler re-decodes training inputs, it does not generate new ones (its ratio
is printed too).

    .venv/bin/python bench/sampler_quality.py [--n 500] [--seed 0] [--run DIR] [--keep DIR] [--no-pythae]

Prints the machine, the timings and a markdown table for BENCHMARKS.md. Always exits 0: this is
a measurement, not a test. torch runs on one thread (set below): on this project's shared
2-core machine, under load, training the demo model's first 3 epochs took 3-4 s with 1 thread
and 81-84 s with torch's default 2 threads (threads spinning against each other).
"""
from __future__ import annotations

import torch

torch.set_num_threads(1)  # measured: 20x faster under load on 2 shared cores (see the docstring)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from torch import nn  # noqa: E402

from vaelab.analysis.quality import quality_report  # noqa: E402
from vaelab.checkpoint import RunDir  # noqa: E402
from vaelab.cli import DEMO_SETTINGS  # noqa: E402
from vaelab.commands.generate import compare_samplers, comparison_splits, feature_space  # noqa: E402
from vaelab.runs.run import Run  # noqa: E402
from vaelab.runs.train import train_run  # noqa: E402
from _common import load, machine, machine_line, quiet_pythae  # noqa: E402 (bench/ is on sys.path when run as a script)

SEED = 0
BATCH = 100
LR = 1e-3
GENERATIVE = ("aggregate-gmm", "aggregate-flow")  # the samplers the target is about (not posterior)
TARGET = 0.7


# ------------------------------------------------------------------ vaelab


def train_vaelab(run_path: Path) -> dict:
    """The demo model, exactly as `vaelab demo` trains it (without its NLL scoring)."""
    result = train_run("mnist5k", run_path, DEMO_SETTINGS)
    return result.metrics


# ------------------------------------------------------------------ pythae


def make_pythae():
    """pythae's side (train + sample), or None when pythae is not installed."""
    try:
        from pythae.models import VAE, VAEConfig
        from pythae.models.base.base_utils import ModelOutput
        from pythae.models.nn import BaseDecoder, BaseEncoder
        from pythae.pipelines import TrainingPipeline
        from pythae.samplers import GaussianMixtureSampler, GaussianMixtureSamplerConfig, NormalSampler
        from pythae.trainers import BaseTrainerConfig
        from pythae.trainers.training_callbacks import TrainingCallback
    except ImportError:
        return None
    quiet_pythae()

    class Encoder(BaseEncoder):
        """(N, 1, 28, 28) -> 784-512-256 (ReLU) -> 16 mu, 16 logvar: vaelab's MLP body and heads."""

        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())
            self.mu, self.logvar = nn.Linear(256, 16), nn.Linear(256, 16)

        def forward(self, x):
            h = self.body(x)
            return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        """16-256-512-784 (ReLU), sigmoid (pythae's "bce" takes probabilities), back to (N, 1, 28, 28)."""

        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(16, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                                     nn.Linear(512, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))  # fmt: skip

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    class Losses(TrainingCallback):
        def __init__(self):
            self.rows = []

        def on_log(self, training_config, logs, **kwargs):
            self.rows.append(dict(logs))

    def train(X_train: np.ndarray, X_val: np.ndarray, epochs: int):
        torch.manual_seed(SEED)
        config = VAEConfig(input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="bce")
        model = VAE(config, encoder=Encoder(), decoder=Decoder())
        losses = Losses()
        # tqdm bars go to stderr: swallow them. pythae saves the final model into `out`: discarded.
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stderr(io.StringIO()):
            train_cfg = BaseTrainerConfig(output_dir=out, num_epochs=epochs, per_device_train_batch_size=BATCH,
                                          per_device_eval_batch_size=BATCH, learning_rate=LR, no_cuda=True,
                                          seed=SEED)  # fmt: skip
            pipeline = TrainingPipeline(model=model, training_config=train_cfg)
            pipeline(train_data=X_train, eval_data=X_val, callbacks=[losses])
        best = pipeline.trainer._best_model  # the epoch with the lowest validation loss
        best.eval()
        return best, losses.rows

    def samples(model, X_train: np.ndarray, n: int, seed: int) -> dict[str, np.ndarray]:
        out = {}
        torch.manual_seed(seed)
        with torch.no_grad():
            out["NormalSampler"] = NormalSampler(model).sample(num_samples=n).cpu().numpy()
        # sklearn's GaussianMixture in pythae has no random_state: it (and gmm.sample) draws from
        # NumPy's global RNG; fit() encodes with z ~ q(z|x) (torch's RNG). Seed both.
        np.random.seed(seed)
        torch.manual_seed(seed)
        gmm = GaussianMixtureSampler(model, sampler_config=GaussianMixtureSamplerConfig(n_components=10))
        with contextlib.redirect_stderr(io.StringIO()):
            gmm.fit(X_train)
        with torch.no_grad():
            out["GaussianMixtureSampler (10)"] = gmm.sample(num_samples=n).cpu().numpy()
        return out

    return train, samples


# ------------------------------------------------------------------ harness


def row(model: str, sampler: str, m: dict) -> str:
    return (f"| {model} | {sampler} | {m['frechet']:.2f} | {m['precision']:.3f} | {m['recall']:.3f} "
            f"| {m['density']:.3f} | {m['coverage']:.3f} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="samples per sampler (the test split has 500 images)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the samplers and of pythae's training")
    parser.add_argument("--run", help="reuse a trained demo run folder instead of training one")
    parser.add_argument("--keep", help="train the demo run into this (new or empty) folder and keep it")
    parser.add_argument("--no-pythae", action="store_true", help="leave pythae out even when installed")
    args = parser.parse_args(argv)

    m = machine()

    print(machine_line())
    pythae = None if args.no_pythae else make_pythae()
    if pythae is None:
        print("pythae is not installed (or --no-pythae): skipped (pip install 'vaelab[bench]' to include it)")
    else:
        from importlib.metadata import version

        print(f"pythae {version('pythae')}")

    with tempfile.TemporaryDirectory() as tmp:
        # 1. vaelab's demo model.
        if args.run:
            run_path = Path(args.run)
            print(f"reusing the run in {run_path}")
        else:
            run_path = Path(args.keep) if args.keep else Path(tmp) / "run"
            started = time.perf_counter()
            train_vaelab(run_path)
            print(f"vaelab: trained the demo model in {time.perf_counter() - started:.1f} s -> {run_path}")
        run = RunDir(run_path)
        training = run.read_metrics().get("training", {})
        epochs = int(training["epochs_run"])
        print(f"  {epochs} epochs run, best epoch {training.get('best_epoch')}, "
              f"stopped early: {training.get('stopped_early')}, best val loss {training.get('best_val_loss'):.2f}")  # fmt: skip

        # 2. vaelab's four samplers (trains and caches the domain classifier in the run).
        started = time.perf_counter()
        res = compare_samplers(run_path, n=args.n, seed=args.seed)
        vl = res["samplers"]
        summ = res["summary"]
        print(f"vaelab: compare_samplers in {time.perf_counter() - started:.1f} s; features {summ['features']}, "
              f"classifier test accuracy {summ['classifier_test_accuracy']:.3f}, "
              f"{summ['n_samples']} samples vs {summ['n_real']} test images")  # fmt: skip
        gmm_k = vl.get("aggregate-gmm", {}).get("sampler", {}).get("n_components")
        if gmm_k is not None:
            print(f"  aggregate-gmm chose {gmm_k} components (validation BIC)")

        # 3. pythae: same architecture, same training split, same epochs; scored in the same features.
        py: dict[str, dict] = {}
        if pythae is not None:
            train_pythae, sample_pythae = pythae
            try:
                opened = Run(run_path)
                parts = comparison_splits(opened)
                features = feature_space(opened, parts, args.seed)  # the cached classifier from step 2
                real = features.transform(parts["test"].X)
                X_train = np.ascontiguousarray(parts["train"].X, dtype=np.float32)
                X_val = np.ascontiguousarray(parts["val"].X, dtype=np.float32)
                started = time.perf_counter()
                pmodel, rows = train_pythae(X_train, X_val, epochs)
                best = min(range(len(rows)), key=lambda i: rows[i].get("eval_epoch_loss", np.inf))
                print(f"pythae: trained {epochs} epochs in {time.perf_counter() - started:.1f} s; best validation "
                      f"epoch {best + 1} (loss {rows[best]['eval_epoch_loss']:.2f} on grey values, "
                      f"train {rows[best]['train_epoch_loss']:.2f})")  # fmt: skip
                started = time.perf_counter()
                for name, X_gen in sample_pythae(pmodel, X_train, args.n, args.seed).items():
                    py[name] = quality_report(real, features.transform(X_gen))
                print(f"pythae: sampled and scored in {time.perf_counter() - started:.1f} s")
            except Exception:  # pythae failing is reported; vaelab's figures still print
                traceback.print_exc()
                print("pythae: FAILED (traceback above)", file=sys.stderr)

    print(f"\n{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} thread); seed {args.seed}, "
          f"{args.n} samples per sampler vs {summ['n_real']} test images; load average now {load()}\n")  # fmt: skip
    print("| model | sampler | Fréchet ↓ | precision ↑ | recall ↑ | density ↑ | coverage ↑ |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, metrics in vl.items():
        print(row("vaelab demo", name, metrics))
    for name, metrics in py.items():
        print(row(f"pythae VAE ({epochs} epochs)", name, metrics))

    prior = vl.get("prior", {}).get("frechet")
    gen = [k for k in GENERATIVE if k in vl]
    if prior and gen:
        best = min(gen, key=lambda k: vl[k]["frechet"])
        r = vl[best]["frechet"] / prior
        print(f"\nbest vaelab sampler / vaelab prior, Fréchet: {best} {vl[best]['frechet']:.2f} / {prior:.2f} = {r:.3f} "
              f"(target <= {TARGET}: {'met' if r <= TARGET else 'NOT met'})")  # fmt: skip
        if "posterior" in vl:
            print(f"(posterior, which re-decodes training inputs: {vl['posterior']['frechet'] / prior:.3f} of the prior)")
    if len(py) == 2:
        a, b = (py[k]["frechet"] for k in py)
        print(f"pythae GaussianMixtureSampler / NormalSampler, Fréchet: {b:.2f} / {a:.2f} = {b / a:.3f}")
    print(f"compare_samplers' verdict: {summ['verdict']}")
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception:  # e.g. the data set cannot be loaded: say so, but a measurement never "fails"
        traceback.print_exc()
    sys.exit(0)
