"""``vaelab report RUN`` → ``RUN/report.html``: one self-contained page of everything measured.

The report only assembles: it reads ``config.json``, ``split.npy``, ``metrics.json`` and
the PNGs in ``figures/`` and lays them out with a jinja2 template (autoescaped). Images
are embedded as base64 data URIs and the page has no script and no external resource,
so it opens offline, from a mail attachment, or with JavaScript off. A section whose
analysis has not run says so, with the command that fills it.
"""
from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import shlex
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from vaelab import __version__
from vaelab.checkpoint import FIGURES, RunConfig, RunDir, figure_digest
from vaelab.data.split import SPLITS
from vaelab.errors import RunError
from vaelab.metrics_schema import (
    FRECHET_NOTE,
    SCALE_NAMES,
    closer_text,
    codes_words,
    condition_note,
    constant_note,
    coverage_of,
    discriminative_text,
    exact_copies,
    fidelity_texts,
    ks_over,
    ml_condition_target,
    ml_difference,
    ml_note,
    ml_secondary,
    plus_minus,
    predictive_difference,
    repeats_of,
    with_se,
)
from vaelab.report.explore_figures import EXPLORE_FIGURES
from vaelab.report.figures import sampler_figure
from vaelab.report.synthetic_figures import first_features

SPLIT_WORDS = {"test": "test", "val": "validation", "train": "training"}  # a run's splits in words

# (id, title): the report's sections, in order. Tests and the browser check read this list.
SECTIONS = (
    ("data", "Data and split"),
    ("training", "Training"),
    ("reconstructions", "Reconstructions"),
    ("likelihood", "Likelihood and anomaly detection"),
    ("diagnostics", "Latent-space diagnostics"),
    ("samplers", "Samplers: where to draw z from"),
    ("traversals", "Traversals: what each dimension does"),
    ("grid", "Manifold grid"),
    ("interpolation", "Interpolation"),
    ("arithmetic", "Latent arithmetic"),
    ("tabular", "Synthetic tables: fidelity, utility, privacy"),
    ("series", "Synthetic time series and forecasts"),
)
PNG = b"\x89PNG\r\n\x1a\n"
FIGURE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\.png")  # a file directly in RUN/figures, as vaelab names them
# Where a note about a damaged part of metrics.json goes (validated on read: vaelab.metrics_schema).
NOTE_SECTIONS = {"training": "training", "test": "training", "likelihood": "likelihood", "anomaly": "likelihood",
                 "reconstruction_error": "likelihood",
                 "diagnostics": "diagnostics", "diagnostics_by_data": "diagnostics", "samplers": "samplers", "synthetic": ("tabular", "series"),
                 "explore": ("traversals", "grid", "interpolation", "arithmetic"), "explore.traverse": "traversals",
                 "explore.grid": "grid", "explore.interpolate": "interpolation", "explore.arithmetic": "arithmetic"}  # fmt: skip
# What writes each block again (command, what follows RUN), for the note on results of earlier weights
STALE_AGAIN = {"likelihood": ("score", ""), "reconstruction_error": ("score", ""), "anomaly": ("anomaly-eval", " --outliers DATA"), "diagnostics": ("inspect", ""),
               "samplers": ("compare-samplers", ""), "synthetic": ("evaluate-synthetic", ""), "explore": ("explore", "")}  # fmt: skip
# The samplers' feature space in words ("in the features of a standardized columns (pca)": an audit)
FEATURE_WORDS = {"classifier": "the features of a domain classifier", "pca": "PCA features",
                 "standardized columns (pca)": "the standardized columns (PCA)"}  # fmt: skip
NO_BITS = "no bits/dim: a Bernoulli on grey values is a cross-entropy, not a density"
SAMPLER_COLUMNS = (("frechet", "Fréchet ↓", 2), ("precision", "precision ↑", 3), ("recall", "recall ↑", 3),
                   ("density", "density ↑", 3), ("coverage", "coverage ↑", 3))  # fmt: skip


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def _with_interval(entry: dict[str, Any], key: str, digits: int, absent: str = "") -> str:
    """A metric with its interval, '5.49 [4.10, 6.88]', where the block has one; else the metric and ``absent``
    (the sampler table's " (no interval)", as compare-samplers prints it)."""
    interval = (entry.get("intervals") or {}).get(key)
    if not interval:
        value = _num(entry.get(key), digits)
        return value + (absent if value != "–" else "")
    return f"{_num(entry.get(key), digits)} [{_num(interval[0], digits)}, {_num(interval[1], digits)}]"


def _reconstruction_mse(block: dict[str, Any], end: str) -> str:
    """A reconstruction_error block's test mean with its standard error (a plain autoencoder's, or a VAE's at its
    posterior mean), in the data's units squared; ``end`` closes the parenthesis."""
    mean, se = block["test_reconstruction_mse"], block.get("test_reconstruction_mse_stderr")
    over = block.get("test_reconstruction_mse_stderr_method") or "over examples"
    said = (f"{plus_minus(mean, se, sign=False)} (± the standard error {over}"
            if isinstance(se, (int, float)) and math.isfinite(se) else f"{mean:.4g} (one example")  # fmt: skip
    return f"{said}; in the data's units squared{end}"


def _percent(share: Any) -> str:
    """A share (0..1) as a percentage with one decimal, "–" where there is none."""
    return _num(None if not isinstance(share, (int, float)) or isinstance(share, bool) else 100 * share, 1)


def _pm(value: Any, se: Any, digits: int = 2) -> str:
    return _num(value, digits) if se is None else f"{_num(value, digits)} ± {_num(se, digits)}"


class _Section:
    def __init__(self, key: str, title: str):
        self.id, self.title = key, title
        self.missing: str | None = None  # the command that fills a section whose analysis has not run
        self.na: str | None = None  # why the section does not apply to this run
        self.paragraphs: list[str] = []
        self.warnings: list[str] = []  # shown first, above the numbers they qualify (results of earlier weights)
        self.facts: list[tuple[str, str]] = []  # (label, value)
        # {"caption", "header", "rows", "left": indices of left-aligned columns (default: the first),
        #  "notes": paragraphs shown under the table, about it (as the CLI prints them under its table)}
        self.tables: list[dict[str, Any]] = []
        self.findings: list[dict[str, Any]] = []
        self.images: list[dict[str, str]] = []  # {"src", "alt", "caption"}


@dataclass(frozen=True)
class KindFacts:
    """What the report shows of a run's kind (:class:`vaelab.runs.base.RunKind`): how to name it,
    which of the kinds' own sections it fills, and the tables it adds to them (a table's schema)."""

    description: str  # e.g. "a table run"
    sections: frozenset[str] = frozenset()
    tables: tuple[dict[str, Any], ...] = ()
    note: str | None = None  # why the kind's tables are missing (its files could not be read)
    # Sections that do not apply to the run's model, and why (a deterministic encoder has no log p(x)).
    not_applicable: tuple[tuple[str, str], ...] = ()
    adopted: dict[str, Any] | None = None  # an adopted model's adopted.json (vaelab.adopt), None for a model vaelab trained
    adopted_note: str | None = None  # why an adopted model's adopted.json is not shown (it could not be read)
    untrained: tuple[str, ...] = ()  # classes only held-out examples hold (a conditional table run's: never trained)


# The sections only some kinds fill, and what a run of another kind is told about them.
KIND_SECTIONS = {"tabular": "table runs are trained from a CSV/Parquet table.",
                 "series": "time-series runs are trained from a CSV/Parquet series with --window and --horizon."}  # fmt: skip


def _adopted_half(half: dict[str, Any]) -> str:
    """One half of an adopted model in words: an ONNX graph, or the PyTorch class it was built from."""
    if half["kind"] == "onnx":
        return "an ONNX graph"
    if half.get("shares") == "encoder":
        return "the encoder's model"
    return f"PyTorch {half.get('spec') or str(half.get('class') or 'module').rsplit('.', 1)[-1]}"


class _Assembler:
    def __init__(self, run: RunDir, config: RunConfig, metrics: dict[str, Any], kind: KindFacts):
        self.run, self.config, self.metrics, self.kind = run, config, metrics, kind
        self.figures_note: str | None = None
        try:
            self.figures: Path | None = run.folder(FIGURES)
        except RunError as err:  # figures/ leads outside the run: nothing of it goes into a page meant to be shared
            self.figures, self.figures_note = None, f"No figure is shown: {err}"

    def figure(self, name: str) -> bytes | None:
        """The bytes of RUN/figures/NAME when NAME is a figure name vaelab writes and the file is a PNG
        inside the run's figures folder (a link leading elsewhere is never followed); else None."""
        if self.figures is None or not FIGURE_NAME.fullmatch(name):
            return None
        path = self.figures / name
        real, folder = os.path.realpath(path), os.path.realpath(self.figures)
        if os.path.dirname(real) != folder or not os.path.isfile(real):
            return None
        try:
            with open(real, "rb") as f:
                raw = f.read()
        except OSError:
            return None
        return raw if raw.startswith(PNG) else None

    def image(self, section: _Section, name: str, caption: str) -> bool:
        raw = self.figure(name)
        if raw is None:
            return False
        recorded = figure_digest(self.metrics, name)
        if recorded is not None and recorded != hashlib.sha256(raw).hexdigest():
            # written by a command stopped (a kill) between the figure's rename and its block's: the figure is not of
            # the numbers beside it (an audit, s14)
            caption = f"Stale: {caption}"
            section.warnings.append(f"Stale figure: figures/{name} is not the one written with the numbers of this "
                                    "part (a command that writes both was stopped between the two, or wrote them while "
                                    "this report was read); run that command again for a figure that matches them.")  # fmt: skip
        data = base64.b64encode(raw).decode("ascii")
        section.images.append({"src": f"data:image/png;base64,{data}", "alt": caption, "caption": caption})
        return True

    # ----------------------------------------------------------- sections
    def data(self, s: _Section) -> None:
        m, d = self.config.model, self.config.data
        shape = "×".join(str(v) for v in m.input_shape)
        if d is None or d.source == "array":
            s.paragraphs.append("This model was saved from Python (VAE.save): it has no data source or split of its own.")
            s.facts.append(("input shape", shape))
        else:
            # a table row or a series window reaches the model encoded: its width is not the data's columns or steps
            what = {"table": "encoded features per row", "series": "model values per window"}.get(d.kind, "example shape")
            s.facts += [("source", d.source), ("examples", _num(d.n_examples)), (what, shape),
                        ("classes", _classes(d.classes, self.kind.untrained))]  # fmt: skip
            try:
                codes = self.run.read_split(d.n_examples)
                sizes = {name: int((codes == i).sum()) for i, name in enumerate(SPLITS)}
                s.tables.append({"caption": "seeded split, stored in split.npy", "header": ["split", "examples", "share"],
                                 "rows": [[k, _num(v), f"{100 * v / max(1, d.n_examples):.0f}%"] for k, v in sizes.items()]})  # fmt: skip
            except RunError as err:
                s.paragraphs.append(f"The split could not be read: {err}")
        t = self.config.train
        hidden = ", ".join(str(h) for h in m.hidden) or "none (linear)"
        prior = m.prior + (f" ({m.n_components} component{'' if m.n_components == 1 else 's'})" if m.prior != "normal" else "")
        # a fixed observation SD sets the NLL (its log σ per value): shown beside the likelihood (an audit, s12)
        likelihood = m.likelihood + (f" (σ = {m.sigma:g}, fixed)" if m.likelihood == "gaussian-fixed" else "")
        adopted = self.kind.adopted
        if adopted is not None or m.arch == "adopted":  # trained elsewhere: config.json's training settings are
            # defaults vaelab never used (an audit); without a readable adopted.json, what it holds is not shown
            known = "not shown: adopted.json could not be read"
            halves = known if adopted is None else "; ".join(f"{name} {_adopted_half(h)}" for name, h in adopted["halves"].items())
            # config.json records it too since an audit (train.binarize fixed or none; before, train's unused "dynamic")
            fixed = adopted["binarize"] if adopted is not None else {"fixed": True, "none": False}.get(t.binarize)
            binarized = (known if fixed is None else
                         "fixed, of the evaluation data (the model was trained on binarized data)" if fixed
                         else "none: grey values are scored as they are")  # fmt: skip
            s.tables.append({"caption": "model settings (config.json, adopted.json)", "header": ["setting", "value"], "left": (0, 1), "rows": [
                ["latent dimensions", m.latent_dim], ["network", f"adopted, trained elsewhere: {halves}"],
                ["likelihood p(x|z)", likelihood], ["prior p(z)", prior], ["conditional", "yes" if m.n_classes else "no"],
                *([["binarization", binarized]] if m.likelihood == "bernoulli" else []), ["seed (split, estimates)", t.seed],
            ]})  # fmt: skip
            if self.kind.adopted_note:
                s.paragraphs.append(self.kind.adopted_note)
            return
        s.tables.append({"caption": "model and training settings (config.json)", "header": ["setting", "value"], "left": (0, 1), "rows": [
            ["latent dimensions", m.latent_dim], ["network", f"{m.arch}, hidden layers {hidden}"],
            ["likelihood p(x|z)", likelihood], ["prior p(z)", prior],
            ["conditional", "yes" if m.n_classes else "no"], ["β (KL weight)", t.beta], ["KL warm-up epochs", t.warmup_epochs],
            ["batch size · learning rate", f"{t.batch_size} · {t.lr:g}"],
            # binarization is the Bernoulli likelihood's (grey images); a table's or a series' run never binarizes
            *([["binarization", t.binarize]] if m.likelihood in ("bernoulli", "auto") else []), ["seed", t.seed],
        ]})  # fmt: skip

    def training(self, s: _Section) -> None:
        tr, test = self.metrics.get("training"), self.metrics.get("test")
        if not tr:
            s.missing = f"vaelab train DATA --out {self.run.path}"
            return
        s.facts += [("epochs", f"{tr.get('epochs_run')} (best {tr.get('best_epoch')}"
                               f"{', stopped early' if tr.get('stopped_early') else ''})"),
                    ("training time", f"{_num(tr.get('seconds'), 1)} s")]  # fmt: skip
        choice = tr.get("likelihood_choice")
        if choice:
            s.facts.append(("likelihood", f"{choice['likelihood']}{' on binarized data' if choice['binarized'] else ''}: "
                                          f"{choice['reason']}"))  # fmt: skip
        drawn = self.metrics.get("temperature")  # a table run's, chosen at training: shown before any evaluation
        if isinstance(drawn, dict) and isinstance(drawn.get("text"), str):
            s.facts.append(("draw temperature", f"{drawn['text']}; vaelab sample and evaluate-synthetic draw at it "
                                                f"with the {drawn.get('sampler')} sampler"))  # fmt: skip
        if test:
            bound = test.get("bits_per_dim_bound")
            serial = "windows" in str(test.get("elbo_stderr_method", ""))  # a series run's overlapping windows
            # a conditional model's bounds log p(x|y) (metrics from before the key: the model's settings say)
            given = test.get("conditional", bool(self.config.model.n_classes)) is True
            s.facts += [("test ELBO" + (", given labels: a bound on log p(x|y)" if given else ""),
                         f"{_pm(test['elbo'], test.get('elbo_stderr'))} nats per example"
                                      + (f" (standard error {test['elbo_stderr_method']})" if serial else "")
                                      # few windows against the span they share: the interval is approximate
                                      + (f"; {test['elbo_stderr_approximate']}"
                                         if isinstance(test.get("elbo_stderr_approximate"), str) else "")),
                        ("reconstruction · KL", f"{_num(test['reconstruction'])} · {_num(test['kl'])} nats"),
                        ("bits/dim (bound)", NO_BITS if bound is None else f"≤ {_num(bound, 4)}")]  # fmt: skip
            if isinstance(test.get("bits_per_dim_scale"), str) and bound is not None:  # continuous pixels
                s.facts.append(("bits/dim of", test["bits_per_dim_scale"]))
            if test.get("units"):  # a table's or series' change of units (an audit: the report never said which)
                s.facts.append(("units", f"the test ELBO and bits/dim are in {test['units']}"))
            if test.get("n_given_other_condition"):  # a conditional table run's test rows of an untrained condition
                s.facts.append(("conditions", f"{test['n_given_other_condition']} of {test['n_examples']} test rows hold "
                                              "condition values no training row holds: scored given the most frequent "
                                              "trained condition"))  # fmt: skip
        self.image(s, "training_curves.png", "Loss, reconstruction and KL per epoch (training and validation)" + (
            ", in the model's own units: the curves do not include the change of units of the test ELBO above."
            if test and test.get("units") else "."))

    def reconstructions(self, s: _Section) -> None:
        if len(self.config.model.input_shape) != 3:
            # a table run models rows and a series run windows, not "vectors" (an audit)
            what = {"a table run": "table rows", "a series run": "windows of a series"}.get(self.kind.description, "vectors")
            s.na = f"reconstructions are drawn for image data; this run models {what} (see the sections below)."
            return
        if not self.image(s, "reconstructions.png", "Test images (top) and their reconstructions E[x|z] (bottom)."):
            s.missing = f"vaelab train DATA --out {self.run.path} (it draws them for image data)"
            return
        s.paragraphs.append("Each test image is encoded to its posterior mean and decoded to E[x|z].")

    def likelihood(self, s: _Section) -> None:
        lik, anomaly = self.metrics.get("likelihood"), self.metrics.get("anomaly")
        plain = bool((self.kind.adopted or {}).get("deterministic"))  # a plain autoencoder: no log p(x)
        rec = self.metrics.get("reconstruction_error")  # a plain autoencoder's score; a VAE's when asked for
        rec_vae = rec if rec and not plain else None  # shown after its log p(x) (vaelab score --score reconstruction_mse)
        rec = rec if plain else None
        if plain:
            s.paragraphs.append("The encoder is deterministic (a plain autoencoder): log p(x) is estimated by "
                                "importance sampling from q(z|x), which needs its variance, so there is no NLL here. "
                                "score and anomaly-eval use the reconstruction error instead, reconstruction_mse: "
                                "the mean over an example's features of (x − E[x|z])², z the encoder's code. It is a "
                                "squared error in the data's units squared, not a log-likelihood; higher is more "
                                "unusual.")  # fmt: skip
        if not lik and not anomaly and not rec and not rec_vae:
            s.missing = f"vaelab score {self.run.path}"
            return
        if rec:
            s.facts.append(("test reconstruction_mse (not a log-likelihood)", _reconstruction_mse(rec, ")")))
            if rec.get("flag_rule"):
                s.facts.append(("flags", f"{rec['flag_rule']}: {_percent(rec.get('flagged_share'))}% of the test split "
                                         f"flagged; valid data is flagged about {_percent(rec.get('false_flag_share'))}% "
                                         "of the time (the rule's expected false-flag share for a validation split of "
                                         "this size)" + (f"; {rec['reference_note']}"
                                                         if isinstance(rec.get("reference_note"), str) else "")))  # fmt: skip
            self.image(s, "score_test.png", "Reconstruction errors of the test split against the validation "
                                            "reference, with the flag rule's cut-off.")  # fmt: skip
        elif plain:
            s.paragraphs.append(f"The test reconstruction error has not been measured: run vaelab score {self.run.path}.")
        elif lik:
            gap = -lik["elbo"] - lik["test_nll"]
            bits = NO_BITS if lik.get("bits_per_dim") is None else f"{_num(lik['bits_per_dim'], 4)} bits/dim"
            given = ", given labels: −log p(x|y)" if lik.get("conditional") is True else ""  # a conditional model's
            s.facts += [("test NLL" + given if lik.get("normalized", True) else "test cross-entropy (not an NLL)" + given,
                         f"{_pm(lik['test_nll'], lik.get('test_nll_stderr'))} nats ({bits})"),
                        ("importance samples K", _num(lik["n_samples"]) + (
                            f" per binarization, {lik['binarizations']} binarizations per grey example"
                            if lik.get("binarizations", 1) > 1 else "")),
                        ("Monte Carlo standard error", f"{_num(lik.get('test_nll_mc_stderr'), 3)} nats"),
                        # a grey Bernoulli's is a cross-entropy, called "not an NLL" just above (an audit)
                        ("−ELBO − NLL (bound gap)" if lik.get("normalized", True) else "−ELBO − cross-entropy (bound gap)",
                         # score's own ELBO, of the same draws as the NLL: not the Training section's test ELBO, another
                         # estimate (an audit, s12: 85.77 − 77.31 above read 9.02 here)
                         f"{_num(gap)} nats (ELBO {_num(lik['elbo'])}, from the same K draws per example as the "
                         "log p(x); the Training section's test ELBO is another Monte Carlo estimate)")]  # fmt: skip
            if lik.get("units"):
                s.facts.append(("units", f"log p(x), the NLL and bits/dim are in {lik['units']}"))
            if isinstance(lik.get("bits_per_dim_scale"), str) and lik.get("bits_per_dim") is not None:
                s.facts.append(("bits/dim of", lik["bits_per_dim_scale"]))  # continuous pixels (an audit)
            method = lik.get("test_nll_stderr_method") or "over examples"  # over overlapping windows: say so
            over = "over test examples" if method == "over examples" else method
            # few windows against the span they share: the interval is approximate
            caveat = lik.get("test_nll_stderr_approximate")
            over += f" (± 1.96 of it: {caveat})" if isinstance(caveat, str) else ""
            s.paragraphs.append("log p(x) is estimated by importance sampling with K draws from q(z|x); the first "
                                f"± is the standard error {over}. A likelihood is a poor detector of some "
                                "outliers: deep generative models can give unfamiliar data higher likelihood than their "
                                "own (Nalisnick et al. 2019). Check with the outliers you expect.")  # fmt: skip
            if lik.get("flag_rule"):
                # examples flagged for what training never had, whatever their score, are not the rule's (an audit)
                new = lik.get("n_flagged_new")
                also = (f", {new} of them for holding what training never had (flagged whatever their score; vaelab "
                        "score names each one's reason)" if isinstance(new, int) and new else "")  # fmt: skip
                s.facts.append(("flags", f"{lik['flag_rule']}: {_percent(lik.get('flagged_share'))}% of the test "
                                         f"split flagged{also}; valid data is flagged about "
                                         f"{_percent(lik.get('false_flag_share'))}% of the time (the rule's expected "
                                         "false-flag share for a validation split of this size)" +
                                         (f"; {lik['reference_note']}" if isinstance(lik.get("reference_note"), str)
                                          else "")))  # fmt: skip
            self.image(s, "score_test.png", "Scores of the test split against the validation reference, with the "
                                            "flag rule's cut-off.")  # fmt: skip
        else:
            s.paragraphs.append(f"The test NLL has not been estimated: run vaelab score {self.run.path}.")
        if rec_vae:  # beside log p(x), never in its place: a squared error, named as one
            s.facts.append(("test reconstruction_mse at the posterior mean (not a log-likelihood)",
                            _reconstruction_mse(rec_vae, "; higher is more unusual)")))
            if rec_vae.get("flag_rule"):
                s.facts.append(("reconstruction_mse flags",
                                f"{rec_vae['flag_rule']}: {_percent(rec_vae.get('flagged_share'))}% of the test split "
                                f"flagged; valid data is flagged about {_percent(rec_vae.get('false_flag_share'))}% of "
                                "the time" + (f"; {rec_vae['reference_note']}"
                                              if isinstance(rec_vae.get("reference_note"), str) else "")))  # fmt: skip
            figure = str(rec_vae.get("figure") or "").rpartition("/")[2]
            if FIGURE_NAME.fullmatch(figure):
                self.image(s, figure, "Reconstruction errors (at the posterior mean) of the test split against the "
                                      "validation reference, with the flag rule's cut-off.")  # fmt: skip
        if anomaly:
            # K of its own: anomaly-eval's --n-samples, not score's K shown above (an audit: it read as score's)
            k = anomaly.get("n_samples")
            with_k = f", K = {_num(k)} importance samples" if isinstance(k, int) and not isinstance(k, bool) else ""
            # AUPRC's chance level (metrics from before it was written: from the counts)
            chance = anomaly.get("auprc_chance", anomaly["n_outliers"] / max(1, anomaly["n_inliers"] + anomaly["n_outliers"]))
            # the notes and the reading go under the table, as the CLI prints them (an audit, s12: above it, as the
            # section's paragraphs, they came before the numbers they qualify)
            notes = [f"Note: {note}" for note in anomaly.get("notes", ())]  # columns not scored, overlapping windows
            what = anomaly.get("scores_what")  # a plain autoencoder's score: what it is (not a log-likelihood)
            notes[:0] = [w for w in what.values() if isinstance(w, str)] if isinstance(what, dict) else []
            if anomaly.get("reading"):
                notes.append(anomaly["reading"])
            s.tables.append({
                "caption": f"inliers {anomaly['inliers']} ({anomaly['n_inliers']}) vs outliers {anomaly['outliers']} "
                           f"({anomaly['n_outliers']}){with_k}; outliers are the positive class",
                "header": ["score", "AUROC [95% interval]", "AUPRC [95% interval]", "AUPRC by chance"],
                "rows": [[k, _with_interval({**v, "intervals": {"auroc": v.get("auroc_interval")}}, "auroc", 3),
                          # an AUPRC measured before it had an interval: the estimate alone
                          _with_interval({**v, "intervals": {"auprc": v.get("auprc_interval")}}, "auprc", 3),
                          _num(v.get("auprc_chance", chance), 3)]
                         for k, v in anomaly["scores"].items()],
                "notes": ["AUROC by chance is 0.5; AUPRC by chance is the share of outliers among the examples scored.",
                          *notes],
            })  # fmt: skip
        else:
            s.paragraphs.append(f"No anomaly evaluation yet: vaelab anomaly-eval {self.run.path} --outliers DATA "
                                "gives AUROC and AUPRC of each score against known outliers.")  # fmt: skip

    def diagnostics(self, s: _Section) -> None:
        d = self.metrics.get("diagnostics")
        if not d:
            s.missing = f"vaelab inspect {self.run.path}"
            return
        su, ag = d["surgery"], d["aggregate"]
        s.facts += [
            ("examples", f"{_num(d['n_examples'])} ({d.get('data', 'test')})"),
            ("active dimensions", f"{d['active_units']} of {len(d['order_by_kl'])}"),
            # order_by_kl is a plain autoencoder's order by its codes' variance (order_by, an audit; older blocks
            # lack it: a deterministic encoder's was that too)
            ("dimensions ordered by", "the variance of their codes (no KL: a deterministic encoder)"
                                      if d.get("order_by", "code_variance" if d.get("deterministic") else "kl")
                                      == "code_variance" else "average KL, largest first"),
            ("ELBO surgery", "does not apply: the encoder is deterministic (a plain autoencoder)" if su is None else
                             f"average KL {_num(su['avg_kl'])} = I(x;z) {_num(su['mutual_information'])} + "
                             f"KL(q(z)‖p(z)) {_num(su['kl_aggregate_prior'])} (residual {_pm(su['residual'], su.get('residual_stderr'), 3)})"),
            ("prior-hole mass", _pm(ag["prior_hole_mass"], ag.get("prior_hole_mass_stderr"), 3)),
            ("total correlation", f"{_pm(ag['total_correlation'], ag.get('total_correlation_stderr'))} nats"),
        ]  # fmt: skip
        if ag.get("n_codes", d["n_examples"]) < d["n_examples"]:
            s.facts.append(("codes used for q(z)", f"a seeded subsample of {_num(ag['n_codes'])} (its noise is in the ± figures)"))
        s.findings = d.get("findings", [])
        pc = d.get("per_channel")
        if pc:
            kl = pc["kl"] or [None] * len(pc["aggregate_sd"])
            s.tables.append({"caption": f"the latent ({'×'.join(map(str, pc['shape']))}) per channel, pooled over positions",
                             "header": ["channel", "KL (nats)", "q(z) mean", "q(z) SD", "prior SD", "scaling factor"],
                             "rows": [[c, _num(kl[c]), _num(pc["aggregate_mean"][c], 3), _num(pc["aggregate_sd"][c], 3),
                                       _num(pc["prior_sd"][c], 3), _num(pc["scaling_factor"][c], 3)]
                                      for c in range(len(pc["aggregate_sd"]))]})  # fmt: skip
        classes = d.get("classes") or {}
        if classes:
            few = d.get("classes_too_few") or []
            s.tables.append({"caption": "each class's codes against the prior: KL(q_c(z) ‖ p(z)) (a class is not meant "
                                        "to match the prior; only all classes together are)"
                                        + (f"; left out, one example each: {', '.join(map(str, few))}" if few else ""),
                             "header": ["class", "examples", "KL to the prior (nats)"],
                             # rows given this class in place of an untrained condition value, said (an audit, s12)
                             "rows": [[k, _num(v["n"]) + (f" ({v['n_given_other']} of them given {k} in place of a "
                                                         "condition value no training row holds)"
                                                         if v.get("n_given_other") else ""),
                                       _pm(v["kl_to_prior"], v.get("kl_to_prior_stderr"))]
                                      for k, v in sorted(classes.items(), key=lambda kv: (kv[1]["kl_to_prior"] is None,  # null: last
                                                                           -(kv[1]["kl_to_prior"] or 0.0)))]})  # fmt: skip
        others = [k for k, v in (self.metrics.get("diagnostics_by_data") or {}).items() if v.get("scope") == "data"]
        if others:
            s.paragraphs.append("Also inspected, as data rather than as the model (not drawn like the training data): "
                                + ", ".join(others) + "; their blocks are under diagnostics_by_data in metrics.json.")  # fmt: skip
        # a plain autoencoder has no KL: its figure shows activity alone, dimensions by their codes' variance
        det = d.get("deterministic") is True
        for name, caption in (("kl_per_dimension.png", "Activity per latent dimension (a deterministic encoder: no KL), "
                                                       "sorted by the variance of the codes." if det else
                                                       "KL and activity per latent dimension, sorted by KL."),
                              ("posterior_sd.png", "Posterior SDs against the prior SD, per dimension."),
                              ("latent_scatter.png", "Codes of the data in the two most informative dimensions."),
                              ("aggregate_vs_prior.png", "Aggregate posterior against the prior, per dimension."),
                              ("class_scatter.png", "Each class's codes and its KL to the prior.")):  # fmt: skip
            drawn = d.get("figures")  # those drawn with the block (a block written before it said so: any)
            if not isinstance(drawn, list) or f"figures/{name}" in drawn:
                self.image(s, name, caption)

    def samplers(self, s: _Section) -> None:
        block = self.metrics.get("samplers")
        if not block:
            s.missing = f"vaelab compare-samplers {self.run.path}"
            self.image(s, "prior_samples.png", "Samples from the prior, decoded to E[x|z] (drawn at training).")
            return
        summary = block.get("_summary", {})
        names = [k for k in block if not k.startswith("_")]
        s.paragraphs.append(summary.get("verdict", ""))
        compared = summary.get("compared")
        if isinstance(compared, list) and compared:
            # Entries of an earlier comparison stay in metrics.json (each with its own n_samples and seed): shown under
            # this one's caption ("20 samples per sampler" over rows of 60), they read as one comparison (an audit).
            earlier = [k for k in names if k not in compared]
            names = [k for k in names if k in compared]
            if earlier:
                s.paragraphs.append(f"Not shown: {', '.join(earlier)}, from an earlier vaelab compare-samplers (their "
                                    "entries in metrics.json keep their own n_samples and seed), not part of the "
                                    "comparison above; compare them side by side with vaelab compare-samplers "
                                    f"{self.run.path} --samplers {' '.join([*names, *earlier])}.")  # fmt: skip
        iv = summary.get("intervals")
        if iv and all(not ((block[k] or {}).get("intervals") or {}).get("frechet") for k in names):
            iv = None  # too few samples for half-samples that hold a k-NN ball: the table has no interval to describe
        s.tables.append({
            # what each sample is (decoder means, or draws from p(x|z) on a table run), as the CLI says (an audit)
            "caption": f"{summary.get('n_samples')} samples per sampler"
                       + (f" ({summary['samples']})" if isinstance(summary.get("samples"), str) else "")
                       + f" against {summary.get('n_real')} test examples, "
                       f"in {FEATURE_WORDS.get(summary.get('features'), 'the features of ' + str(summary.get('features')))}"
                       + (f" (test accuracy {_num(summary['classifier_test_accuracy'], 3)})" if summary.get("classifier_test_accuracy") else "")
                       + ("; class TV: the classifier's predicted classes of the samples against those of the test "
                          "examples" if any(((block[n] or {}).get("classes") or {}).get("compared_with")
                                            == "predicted classes of real data" for n in names) else "")
                       + (f"; [{_num(100 * iv['level'], 0)}% intervals]: {iv['method']}, {iv['replicates']} half-samples" if iv else "")
                       + f"; {FRECHET_NOTE}"
                       + (f"; k-NN balls with k = {summary['knn']['k_precision_recall']} (precision, recall) and "
                          f"{summary['knn']['k_density_coverage']} (density, coverage), {summary['knn']['balls']}: a point "
                          "on a ball's edge is outside" if summary.get("knn") else ""),
            "header": ["sampler", *(c[1] for c in SAMPLER_COLUMNS), "class TV ↓", "nearest-train ratio"],
            "rows": [[n, *(_with_interval(block[n], k, dig, " (no interval)") for k, _, dig in SAMPLER_COLUMNS),
                      _num(block[n].get("classes", {}).get("total_variation"), 3),
                      _num(block[n].get("memorization", {}).get("ratio"), 2)] for n in names],
        })  # fmt: skip
        for n in names:
            self.image(s, sampler_figure(n), f"Samples from {n}, decoded to E[x|z].")

    def _synthetic(self, s: _Section, key: str, kind: str) -> dict | None:
        if key not in self.kind.sections:
            s.na = f"this is {self.kind.description}; {KIND_SECTIONS[key]}"
            return None
        block = self.metrics.get("synthetic")
        if not block or block.get("kind") != kind:
            s.missing = f"vaelab evaluate-synthetic {self.run.path}"
            return None
        return block

    def tabular(self, s: _Section) -> None:
        if "tabular" in self.kind.sections:
            s.tables += list(self.kind.tables)
            if self.kind.note:
                s.paragraphs.append(self.kind.note)
        b = self._synthetic(s, "tabular", "table")
        if b is None:
            return
        drawn = b.get("temperature")
        at = f", {drawn['text']}" if isinstance(drawn, dict) and isinstance(drawn.get("text"), str) else ""
        fid = fidelity_texts(b)  # with their SEs, as evaluate-synthetic prints them
        s.facts += [("synthetic rows", f"{_num(b['n_synthetic'])} (sampler {b['sampler']}{at}) against "
                                       f"{_num(b['n_real_train'])} real training rows"),
                    ("fidelity", f"{fid['fidelity']} = {_fidelity_parts(b, fid)} (SDMetrics; 1 is best{fid['over']})")]
        for key, said in (("condition_columns", lambda: condition_note(b)),
                          ("constant_columns", lambda: constant_note(b["constant_columns"]))):
            if b.get(key):
                note = said()
                s.paragraphs.append(f"{note[0].upper()}{note[1:]}.")
        ml = b.get("ml_efficacy")
        if ml:
            name, values = ml_secondary(ml)  # as evaluate-synthetic prints it
            also = {side: f" ({name} {_num(values[side], 3)})" if side in values else "" for side in ("real", "synthetic")}
            s.facts.append(("ML efficacy", f"{ml['metric']} predicting {ml['target']} on the real test split: trained on "
                                           f"real {_num(ml['real'], 3)}{also['real']}, on synthetic "
                                           f"{_num(ml['synthetic'], 3)}{also['synthetic']}{ml_difference(ml)}{ml_note(ml)}"
                                           f"{ml_condition_target(b)}"))  # fmt: skip
        pr = b.get("privacy")
        if pr:
            s.facts.append(("privacy (DCR)", f"median distance to the closest training row {_num(pr['dcr_synthetic_median'], 3)}"
                                             f" vs {_num(pr['dcr_holdout_median'], 3)} for real held-out rows; "
                                             f"{closer_text(pr)}; {exact_copies(pr)}"))  # fmt: skip
        if b.get("not_measured"):
            s.paragraphs.append(f"{b['not_measured']}.")
        apart = set(b.get("condition_columns") or ())
        s.tables.append({"caption": "per column: KS complement (numeric, datetime) or TV complement (categorical, boolean)",
                         "header": ["column", "kind", "metric", "score", "missing similarity"], "left": (0, 1, 2),
                         "rows": [[c["column"], c["kind"] + (" (condition: not in the mean)" if c["column"] in apart else ""),
                                   c["metric"], _num(c["score"], 3), _num(c["missing_similarity"], 3)]
                                  for c in b["columns"]]})  # fmt: skip
        self.image(s, "synthetic_columns.png", "Each column's distribution: real training rows vs synthetic rows.")

    def series(self, s: _Section) -> None:
        b = self._synthetic(s, "series", "series")
        if b is None:
            return
        d, p, f = b["discriminative"], b["predictive"], b["forecast"]
        s.facts += [
            ("windows", f"{b['n_past']} past + {b['n_future']} future steps over {len(b['features'])} features "
                        f"({', '.join(b['features'][:8])}{'…' if len(b['features']) > 8 else ''})"),
            *([("synthetic windows", b["synthetic_are"])] if isinstance(b.get("synthetic_are"), str) else []),
            # what the ± is and the baselines' scores, as the CLI says them (the report gave neither: an audit, s12)
            ("discriminative score", f"|accuracy − 0.5| of a classifier telling real test windows from synthetic "
                                     f"ones: {discriminative_text(b)}"),
            ("predictive score", f"MAE {_num(p['mae_synthetic'], 4)} for a forecaster trained on synthetic windows vs "
                                 f"{_num(p['mae_real'], 4)} trained on real {'training ' if 'reference' in p else ''}windows (TimeGAN's train-on-synthetic test in "
                                 f"vaelab's settings: the last {b['n_future']} steps of every feature, in data units; "
                                 f"not comparable with TimeGAN's published one-step scores){repeats_of(p)}{predictive_difference(p)}"),
            ("value distributions", f"mean KS complement {with_se(b['column_shapes'], b.get('column_shapes_stderr'))} "
                                    f"per feature{ks_over(b)}"),
            ("forecaster", f["verdict"] if "verdict" in f else f"{_num(100 * f['coverage_90'], 0)}% of real future values{coverage_of(f)} inside the 90% band (nominal 90%); "
                           f"MAE of the median {_num(f['mae_median'], 4)} vs {_num(f['mae_last_value'], 4)} repeating the "
                           "last value"),
        ]  # fmt: skip
        if isinstance(b.get("filled_left_out"), str):  # as the CLI says it (an audit, s12)
            s.facts.append(("filled values", b["filled_left_out"]))
        if isinstance(b.get("filled_in_windows"), str):  # the windows the fidelity scores read (an audit, s13)
            s.facts.append(("filled windows", b["filled_in_windows"]))
        trend = b.get("trend")
        if trend and all(isinstance(trend.get(k), str) for k in ("found", "handling", "why")):  # blocks before "why"
            # have none; a damaged one lacking "found" or "handling" was a KeyError (an audit, s12)
            s.facts.append(("trend", f"{trend['found']}; handled by '{trend['handling']}': {trend['why']}"))
        s.facts += [("verdict", v["text"]) for v in b.get("verdicts", {}).values()]
        first = first_features(b["features"])  # the figures draw the first 4 (an audit, s14: unsaid)
        self.image(s, "series_windows.png", f"Real test windows (top) and generated windows (bottom){first}.")
        self.image(s, "forecast_band.png", f"One test window: the past, the real future, and the forecaster's bands{first}.")

    def _explore(self, s: _Section, key: str, command: str) -> dict | None:
        entry = self.metrics.get("explore", {}).get(key)
        if not entry:
            s.missing = f"vaelab explore {self.run.path} {command}"
            return None
        return entry

    def traversals(self, s: _Section) -> None:
        e = self._explore(s, "traverse", "traverse")
        if e is None:
            return
        codes = e.get("scale") == "codes"  # a deterministic encoder: its codes' scale, never fitted to the prior
        sd, mean, _ = SCALE_NAMES["codes" if codes else "prior"]
        around = f"the code of {e['centre']}" if e.get("centre") else mean
        varied = ("one channel of the spatial latent (all its positions together)" if e.get("unit") == "channel"
                  else "one latent dimension")
        s.paragraphs.append(
            f"Each row varies {varied} over ±{_num(e['span_sd'], 1)} {sd} around {around}, keeping the "
            f"others fixed ({e.get('chosen_by', '')})"
            + (f", decoded with class {e['decoded_with']}" if e.get("decoded_with") else "")
            + (". The encoder is deterministic (a plain autoencoder), never fitted to the prior: the steps are the "
               f"SDs of its codes on the {SPLIT_WORDS.get(e.get('codes_from'), 'test')} split, about their mean, so the "
               "figure stays where the codes are."
               if codes else ". The prior's range, not the posterior's: an informative "
               "dimension has a posterior SD far below the prior's, so ±2 posterior SD shows almost no change."))  # fmt: skip
        self.image(s, EXPLORE_FIGURES["traverse"], "Latent traversals, decoded to E[x|z].")

    def grid(self, s: _Section) -> None:
        e = self._explore(s, "grid", "grid")
        if e is None:
            return
        s.paragraphs.append(
            f"E[x|z] over dimensions z{e['dims'][0]} (across) and z{e['dims'][1]} (up), {e['n']}×{e['n']} points at the "
            + ("quantiles (i + ½)/n of a Gaussian with the codes' mean and SD on the "
               f"{SPLIT_WORDS.get(e.get('codes_from'), 'test')} split (the encoder is "
               "deterministic, never fitted to the prior)" if e.get("scale") == "codes" else
               "prior's quantiles (i + ½)/n, so each cell holds equal prior mass (Kingma & Welling 2014)")
            + "; the other dimensions stay at "
            + (f"the code of {e['centre']}" if e.get("centre") else SCALE_NAMES["codes" if e.get("scale") == "codes" else "prior"][1])
            + (f"; decoded with class {e['decoded_with']}." if e.get("decoded_with") else "."))  # fmt: skip
        self.image(s, EXPLORE_FIGURES["grid"], "Manifold grid of E[x|z].")

    def interpolation(self, s: _Section) -> None:
        e = self._explore(s, "interpolate", "interpolate A B")
        if e is None:
            return
        lows = {k: v["min_percentile"] for k, v in e["paths"].items()}
        names = f"{e['a']}" + (f" (class {e['label_a']})" if e.get("label_a") else "") + f" and {e['b']}" + \
            (f" (class {e['label_b']})" if e.get("label_b") else "")  # fmt: skip
        s.paragraphs.append(
            f"Straight-line and spherical paths between the codes of {names}"
            + (f"; the spherical path turns about the codes' mean on the {SPLIT_WORDS.get(e.get('codes_from'), 'training')} "
               "split, not the prior's (the encoder is deterministic, never fitted to the prior)"
               if e.get("scale") == "codes" else "")
            + ". Below the decoded examples, each point's "
            f"typicality: log q(z) under the aggregate posterior, as a percentile of {_codes_of(e)}. A path "
            "dipping below the 1st percentile crosses a region the decoder never trained on."
            + _path_class(e))
        s.tables.append({"caption": "least typical point on each path", "header": ["path", "lowest percentile"],
                         "rows": [[k, _num(v, 1)] for k, v in lows.items()]})  # fmt: skip
        self.image(s, EXPLORE_FIGURES["interpolate"], "Interpolation between two inputs, with typicality along the path.")

    def arithmetic(self, s: _Section) -> None:
        e = self._explore(s, "arithmetic", "arithmetic A B")
        if e is None:
            return
        s.paragraphs.append(
            f"a = {e['a']}, b = {e['b']}. The latent space has a coordinate for z_a + z_b and z_a − z_b, always; "
            "whether it means anything depends on whether it is typical. Data-space a ± b is clipped to the "
            + ("encoded features' " if "tabular" in self.kind.sections else
               "model rows' (standardized windows) " if "series" in self.kind.sections else "data's ")
            + ("range in the training split, each feature's own (overall " if e.get("clipped") == "per feature" else "range ")
            + f"[{_num(e['data_range'][0])}, {_num(e['data_range'][1])}]" + (")" if e.get("clipped") == "per feature" else "")
            + " and encoded. "
            # beyond MAX_REFERENCE_CODES the percentiles are among a seeded subsample of the training codes (an audit, s13)
            + (f"log q(z) percentiles are among {_codes_of(e)}. " if _subsampled(e) else "")
            # a deterministic encoder has no log p(x), so no reference (n_reference 0): it read "log p(x) (K = 200) is
            # placed among the 0 test examples" (an audit, s12)
            + ("log p(x) does not apply: the encoder is deterministic (a plain autoencoder), so the verdicts read the "
               "latent typicality alone." if not e.get("n_reference") else
               f"log p(x) (K = {e['n_samples']}) is placed among the {e['n_reference']} test examples; for latent "
               "results the decoded example is scored, for data-space results the input itself.")
            # A table row's features are scaled numbers, one-hot categories and flags: their sum is no row.
            + (" On a table run a ± b adds the encoded features (one-hot slots of a category can both be 1), so the "
               "data-space rows probe the encoding, not rows a table could hold; read the latent rows."
               if "tabular" in self.kind.sections else
               # an audit: the sum of two standardized windows is not the standardized sum of the windows, and under
               # --trend window the rows also hold each window's level and log SD
               " On a series run a ± b adds the model's rows (each window standardized, and under --trend window "
               "relative to its past, with its level and log SD), not the windows in their units; read the latent rows."
               if "series" in self.kind.sections else ""))  # fmt: skip
        s.tables.append({
            "caption": "typicality of each result and what it means",
            "header": ["result", "log q(z) percentile", "log p(x) percentile", "verdict"], "left": (0, 3),
            "rows": [[r["name"], _num(r["latent_percentile"], 1), _num(r["log_px_percentile"], 1), r["verdict"]]
                     for r in e["results"]],
        })  # fmt: skip
        self.image(s, EXPLORE_FIGURES["arithmetic"], "Latent and data-space arithmetic.")


def _subsampled(e: dict) -> bool:
    """Whether an explore entry's typicality percentiles are among a seeded subsample of the training codes."""
    n_codes, n_train = e.get("n_codes"), e.get("n_train")
    return isinstance(n_codes, int) and isinstance(n_train, int) and n_train > n_codes


def _codes_of(e: dict) -> str:
    """The training codes an explore entry's percentiles are among, in words: "the training codes", or "10000
    training codes (a seeded subsample of the 60000)" beyond MAX_REFERENCE_CODES (an audit, s13: it said "the
    training codes" for a subsample)."""
    return codes_words(e["n_codes"], e["n_train"]) if _subsampled(e) else "the training codes"


def build_sections(run: RunDir, config: RunConfig, metrics: dict[str, Any], kind: KindFacts,
                   notes: dict[str, str] | None = None) -> list[_Section]:  # fmt: skip
    asm = _Assembler(run, config, metrics, kind)
    sections = []
    for key, title in SECTIONS:
        s = _Section(key, title)
        reason = dict(kind.not_applicable).get(key)
        if reason:
            s.na = reason
        else:
            getattr(asm, key)(s)
        sections.append(s)
    by_id = {s.id: s for s in sections}
    for where, why in (notes or {}).items():
        targets = NOTE_SECTIONS.get(where, NOTE_SECTIONS.get(where.split(".")[0], "data"))
        shown = [t for t in ((targets,) if isinstance(targets, str) else targets) if not by_id[t].na] or ["data"]
        for target in shown:
            by_id[target].paragraphs.append(f"metrics.json is damaged here ({why}); this part is shown as not run "
                                            "until the command that fills it writes it again.")  # fmt: skip
    for name in run.stale_results(metrics):  # measured before `train --resume` changed the weights (an audit)
        block, _, entry = name.partition(".")
        again = STALE_AGAIN.get(block)
        if again is None or block not in metrics:  # (diagnostics_by_data: not on the page)
            continue
        command, after = again
        if block == "explore" and entry:  # interpolate and arithmetic need their A B: the ones measured (an audit:
            held = metrics["explore"].get(entry) or {}  # "vaelab explore RUN interpolate" fails, A and B required)
            entry = " ".join([entry, *(shlex.quote(str(held[k])) for k in ("a", "b") if k in held)])
        targets = NOTE_SECTIONS.get(name, NOTE_SECTIONS[block])
        for target in [t for t in ((targets,) if isinstance(targets, str) else targets) if not by_id[t].na]:
            by_id[target].warnings.append("Stale: this part was measured on the model's weights before vaelab "
                                               f"train --resume changed them; run vaelab {command} {run.path}"
                                               f"{after or (' ' + entry if entry else '')} again for the model as it "
                                               "is.")  # fmt: skip
    if asm.figures_note:
        by_id["data"].paragraphs.append(asm.figures_note)
    return sections


def render(run: RunDir, config: RunConfig, metrics: dict[str, Any], kind: KindFacts,
           notes: dict[str, str] | None = None) -> str:  # fmt: skip
    """The report page of a run, from what it holds (nothing is recomputed). ``metrics`` are the blocks
    that passed their checks (:meth:`RunDir.read_blocks`); ``notes`` say what was left out and why."""
    env = Environment(loader=PackageLoader("vaelab.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("report.html.j2")
    return template.render(
        title=f"vaelab report: {run.path.name}",
        run=str(run.path.resolve()),
        version=__version__,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        sections=build_sections(run, config, metrics, kind, notes),
    )


def _classes(classes: Any, untrained: tuple[str, ...]) -> str:
    """The data's classes, those only held-out examples hold marked (an audit, s12: "east, north, south" read as three
    trained conditions where no training row holds 'east'; the Training section counted its test rows apart)."""
    if not classes:
        return "none (unlabelled)"
    mark = " (only held-out rows hold it: never trained on; scored given the most frequent trained condition)"
    return ", ".join(f"{c}{mark if c in untrained else ''}" for c in classes)


def _fidelity_parts(block: dict, fid: dict[str, str]) -> str:
    """What a table's fidelity is the mean of: both parts, or the one that has a score (a one-column table has no
    column pairs, and its fidelity is its column shapes alone: an audit, it read "mean of column shapes 0.894 and
    column-pair trends –")."""
    shapes, pairs = (isinstance(block.get(k), (int, float)) and math.isfinite(block[k])
                     for k in ("column_shapes", "column_pair_trends"))  # fmt: skip
    if shapes and not pairs:
        return f"column shapes {fid['column_shapes']} alone (column-pair trends have no score)"
    if pairs and not shapes:
        return f"column-pair trends {fid['column_pair_trends']} alone (column shapes have no score)"
    return f"mean of column shapes {fid['column_shapes']} and column-pair trends {fid['column_pair_trends']}"


def _path_class(e: dict) -> str:
    """What an interpolation entry says of the class its path is decoded with (a conditional model's), or ""."""
    if not e.get("decoded_with"):
        return ""
    other = e.get("class_b") not in (None, e["decoded_with"])
    return (f" The whole path is decoded with class {e['decoded_with']}"
            + (f" (b's is {e['class_b']}, so the path's end is not b's reconstruction)." if other else "."))
