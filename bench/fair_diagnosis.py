"""Does a column-autoregressive decoder lift fair's ML efficacy (issue 17)? A probe, not a product feature.

vaelab's table decoder draws every column independently given z, so every link between columns has to pass
through z. The hypothesis: on fair the weak link between `affair` and the other columns is lost there, and a
decoder that also sees the columns drawn before it, p(x|z) = prod_j p(x_j | z, x_<j), would keep it.

Both decoders are trained here with the same loop on bench/tabular.py's split of fair (its 80/20 split, a
seeded 10% of the training rows held out as vaelab holds them), encoded by vaelab's own table transformer
(mode normalization) and scored with vaelab's Mixed likelihood: encoder and decoder MLPs of 128-128, a
16-dimensional latent, beta 0.5 with a 10-epoch warm-up (vaelab's table defaults), Adam at lr 0.003, batch 256.
The autoregressive variant adds to the decoder's output a masked MLP over the encoded row (MADE, Germain et al.
2015) with z's hidden layer as its context: the parameters of the likelihood block j see z and the blocks
before j, in feature order (so a numeric column's offset also sees its mode); rows are drawn block by block.
Each fit's rows (as many as the real training rows, from the prior and from a 10-component Gaussian mixture
fitted to the training rows' codes) are scored with bench/tabular.py's ML efficacy (macro F1 of a
gradient-boosting model trained on them, on the real-test rows: mean ± SE over 3 samples) and SDMetrics'
QualityReport, and P(affair | rate_marriage) of the first sample is printed beside the real rows'.

    .venv-bench/bin/python bench/fair_diagnosis.py [--decoders factorized autoregressive] [--fit-seeds 0 1]
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.mixture import GaussianMixture
from torch import nn

import tabular as tb  # bench/tabular.py (bench/ is on sys.path when run as a script)
from _common import machine_line
from vaelab.analysis.synthetic_tables import ml_efficacy
from vaelab.data.table_schema import infer_schema
from vaelab.data.table_transformer import encode_table
from vaelab.nn.likelihoods import Mixed

LATENT, HIDDEN, BETA, LR, BATCH, WARMUP = 16, 128, 0.5, 3e-3, 256, 10


class Decoder(nn.Module):
    """z -> the Mixed likelihood's parameters; with ``degrees`` (each feature's block index) also a masked MLP
    over the row, so block j's parameters see the blocks before it."""

    def __init__(self, n_features: int, degrees: torch.Tensor | None, seed: int):
        super().__init__()
        self.z = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU())
        self.out = nn.Linear(HIDDEN, n_features)
        self.degrees = degrees
        if degrees is not None:
            blocks = int(degrees.max()) + 1
            hidden_degree = torch.randint(0, max(blocks - 1, 1), (HIDDEN,), generator=torch.Generator().manual_seed(seed))
            # hidden unit k sees feature i when degree(i) <= m_k; output i sees hidden k when degree(i) > m_k
            self.register_buffer("mask_in", (hidden_degree[:, None] >= degrees[None, :]).float())
            self.register_buffer("mask_out", (degrees[:, None] > hidden_degree[None, :]).float())
            self.row_in, self.context = nn.Linear(n_features, HIDDEN), nn.Linear(HIDDEN, HIDDEN)
            self.row_out = nn.Linear(HIDDEN, n_features, bias=False)
            nn.init.zeros_(self.row_out.weight)  # starts as the factorized decoder

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = self.z(z)
        out = self.out(h)
        if self.degrees is not None:
            a = F.relu(F.linear(x, self.row_in.weight * self.mask_in, self.row_in.bias) + self.context(h))
            out = out + F.linear(a, self.row_out.weight * self.mask_out)
        return out

    @torch.no_grad()
    def draw(self, z: torch.Tensor, likelihood: Mixed) -> torch.Tensor:
        x = torch.zeros(z.shape[0], self.out.out_features)
        if self.degrees is None:
            return likelihood.dist(self(z, x)).sample()
        for j in range(int(self.degrees.max()) + 1):  # block by block, each given the ones drawn before
            block = self.degrees == j
            x[:, block] = likelihood.dist(self(z, x)).sample()[:, block]
        return x


def fit(p, decoder_kind: str, seed: int, epochs: int):
    schema = infer_schema(p.train, categorical=p.table.categorical)
    order = np.random.default_rng(seed).permutation(len(p.train))
    train_rows = np.sort(order[len(p.train) // 10:])
    transformer, X = encode_table(p.train, schema, "mode", seed, train_rows)
    X = torch.tensor(X[train_rows], dtype=torch.float32)
    blocks = transformer.likelihood_blocks()
    likelihood = Mixed((X.shape[1],), blocks)
    degrees = torch.zeros(X.shape[1], dtype=torch.long)
    for j, (_, start, width, _) in enumerate(sorted(blocks, key=lambda b: b[1])):
        degrees[start:start + width] = j
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(X.shape[1], HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                            nn.Linear(HIDDEN, 2 * LATENT))
    decoder = Decoder(X.shape[1], degrees if decoder_kind == "autoregressive" else None, seed)
    opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters(), *likelihood.parameters()], lr=LR)
    started = time.perf_counter()
    for epoch in range(epochs):
        perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        weight = BETA * min(1.0, (epoch + 1) / WARMUP)
        for s in range(0, len(X), BATCH):
            xb = X[perm[s:s + BATCH]]
            mu, logvar = encoder(xb).chunk(2, -1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)
            loss = -(likelihood.log_prob(xb, decoder(z, xb)) - weight * kl).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        mu, logvar = encoder(X).chunk(2, -1)
        rec = likelihood.log_prob(X, decoder(mu, X)).mean().item()
        kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)).mean().item()
    return transformer, likelihood, decoder, mu.numpy(), time.perf_counter() - started, rec, kl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decoders", nargs="+", default=["factorized", "autoregressive"],
                    choices=["factorized", "autoregressive"])
    ap.add_argument("--fit-seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--epochs", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")
    print(machine_line())
    p = tb.prepare(tb.fair(), Path(tempfile.mkdtemp()))
    real = p.train.groupby("rate_marriage", observed=True)["affair"].mean().round(2).tolist()
    print(f"fair: {len(p.train)} real-train rows, {len(p.test)} real-test rows; real P(affair | rate_marriage 1..5) {real}")
    print("| decoder | fit seed | fit s | reconstruction / KL (nats) | sampler | ML efficacy | SDM quality / pairs "
          "| P(affair \\| rate_marriage 1..5) |\n|---|---:|---:|---|---|---|---|---|")
    for kind in args.decoders:
        for seed in args.fit_seeds:
            transformer, likelihood, decoder, codes, seconds, rec, kl = fit(p, kind, seed, args.epochs)
            for sampler in ("prior", "aggregate-gmm"):
                f1s, first = [], None
                for k in range(3):
                    torch.manual_seed(100 + k)
                    if sampler == "prior":
                        z = torch.randn(len(p.train), LATENT)
                    else:
                        gmm = GaussianMixture(10, covariance_type="full", random_state=k).fit(codes)
                        z = torch.tensor(gmm.sample(len(p.train))[0], dtype=torch.float32)
                    rows = transformer.inverse_transform(decoder.draw(z, likelihood).numpy())[list(p.train.columns)]
                    first = rows if first is None else first
                    f1s.append(ml_efficacy(p.train, rows, p.test, p.table.target, seed=0, kinds=p.kinds)["synthetic"])
                q = tb.sdmetrics_quality(p, first)
                rates = first.groupby("rate_marriage", observed=True)["affair"].mean().round(2).tolist()
                print(f"| {kind} | {seed} | {seconds:.1f} | {rec:.2f} / {kl:.2f} | {sampler} | {np.mean(f1s):.3f} ± "
                      f"{np.std(f1s, ddof=1) / math.sqrt(len(f1s)):.3f} | {q['q']:.3f} / {q['q_pairs']:.3f} | {rates} |",
                      flush=True)


if __name__ == "__main__":
    main()
