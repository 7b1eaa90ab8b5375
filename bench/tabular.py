"""Synthetic tables: vaelab's table VAE next to SDV's TVAE and CTGAN, same rows, same metrics.

Data sets (installed packages only, nothing downloaded):

* ``mixed``: vaelab.data.table_demo.make_mixed_table(5000, seed=0): a bimodal float, a skewed
  float with 8 % missing, an integer, an ordered categorical with missing values, a text
  categorical, a boolean, a datetime with missing values. ML-efficacy target: ``city``
  (4 classes, tied to the bimodal ``score``).
* ``breast_cancer``: scikit-learn's load_breast_cancer(as_frame=True): 569 rows, 30 numeric
  features, the target as a text column (``malignant`` / ``benign``). Target: ``target``.
* ``fair``: statsmodels.datasets.fair (Fair 1978, 6,366 rows; skipped when statsmodels is
  missing). The coded columns are declared categorical: ``occupation``, ``occupation_husb``
  (nominal codes 1-6), ``rate_marriage`` (1-5) and ``religious`` (1-4) (ordinal ratings);
  ``age``, ``yrs_married``, ``children`` and ``educ`` stay numeric (interval approximations
  and counts). ``affairs`` (time spent, 77 distinct values, 2/3 zeros) is replaced by the
  boolean ``affair`` = affairs > 0, the task of statsmodels' own example. Target: ``affair``.
* ``wine``: scikit-learn's load_wine(as_frame=True): 178 rows, 13 numeric columns, the cultivar
  as text (3 classes). Target: ``target``.
* ``anes96``: statsmodels.datasets.anes96 (the 1996 American National Election Study, 944 rows;
  skipped when statsmodels is missing): party identification ``PID`` (0-6) declared categorical,
  ``vote`` (1 = Dole) as a boolean, ``logpopul`` dropped (the log of ``popul``); the 1-7 scales,
  age, education, income and TV news days stay numeric. Target: ``vote``.

Protocol: one seeded (seed 0) 80/20 split of the rows into real-train and real-test. The
real-train rows are written to a CSV; every method is fitted on exactly those rows and
scored against the same real-train / real-test rows, read back from CSV the way vaelab
reads them (column kinds from vaelab.data.table_schema.infer_schema with the declared
categoricals; datetimes parsed).

* vaelab: vaelab.runs.train.train_run(train.csv, run, VAELAB_SETTINGS, options={table: True,
  normalization: "mode"}, val_fraction=0.1, test_fraction=0) (a table run): it holds out 10 % of the
  real-train rows for early stopping (keeping the best-validation weights) and trains on
  the other 90 %; then vaelab.runs.run.Run(run).synthesize(n, seed=0) with its defaults (z from the
  aggregate-gmm sampler, the temperature "auto" chosen at training on the validation rows).
* SDV: sdv.single_table.TVAESynthesizer / CTGANSynthesizer with their defaults (but
  CTGAN's epochs, below), metadata detected from the real-train DataFrame and
  each column's sdtype set to the kind vaelab uses (numerical / categorical / boolean /
  datetime), so all methods model the same schema; fitted on all real-train rows; then
  sample(n). torch and NumPy are seeded (0) before each fit and each sample.

n = number of real-train rows. SDMetrics' own ``QualityReport`` (sdmetrics.reports.single_table:
its score and its Column Shapes and Column Pair Trends properties, the yardstick users compare
synthesizers with) against the real-train rows, with the SDV metadata every method is fitted
with. vaelab's metrics, from vaelab.analysis.synthetic_tables with seed 0 (the SDMetrics
conventions with quantile bins for numeric pairs; see its docstring): ``fidelity`` (mean of
column shapes and column-pair trends) against the real-train rows; ML efficacy
(HistGradientBoosting trained on synthetic rows, tested on the real-test rows; macro F1, beside
the same model trained on the real-train rows), the mean and SE over ``--repeats`` synthetic
samples (seeds 0, 1, 2) of the one fit, since one sample's F1 moves by a few hundredths (the
ratio lines say "no clear winner" where the mean ± 2 SE intervals overlap; the SE covers the
sampling, not the fit's own seed). With ``--fit-seeds S ...`` every method is fitted once per seed (vaelab's
``seed`` setting; SDV's torch and NumPy seeds before its fit) and ML efficacy is the mean over the fits of
each fit's mean over its samples, its SE the SD of those means over sqrt(fits): it covers the fit's seed and
the sampling; the other columns then are those of the first seed's fit (SDMetrics quality and pair trends of
each fit are printed per fit, beside ML efficacy per fit). Beside ML efficacy the classifier's
accuracy is printed (mean over the samples, and SE over the fits): on fair TVAE is clearly ahead on macro F1 and
not on accuracy (BENCHMARKS.md). The other metrics on the seed-0 sample; DCR privacy against
the real-test rows as holdout (share_closer_than_holdout: share_closer_expected, k / (m + 1) ≈ 0.05, for rows as
new as fresh real rows, near 1 for copies). A reference row scores the real-test rows themselves as if they were synthetic
(fidelity of a fresh real sample of 20 % of the size: what "as good as real" reads as).
Training wall time (time.perf_counter, fit call only, including each method's own
preprocessing: schema, mode-specific normalization, transformer fits) and sampling time are
measured in the same process on the same machine, one method after another.

vaelab settings (VAELAB_SETTINGS; chosen among a few a user could pick, see
BENCHMARKS.md): hidden [128, 128] (TVAE's width), lr 0.003 with the KL weight raised from 0 over
the first 10 epochs (warmup_epochs), at most 100 epochs, early stopping with patience 30 (wine's
14 validation rows stopped it at epoch 45 with patience 10, after 90 optimizer steps); the table
kind's beta 0.5 (vaelab.table_vae.TABLE_SETTINGS) and VAE's defaults otherwise (latent 16, batch
100), with mode-specific normalization (vaelab's default). Before the investigation of issue 17
they were lr 0.01 at beta 1 with patience 10 (faster, and the codes collapsed: BENCHMARKS.md).
vaelab's row "vaelab" is Run.synthesize's defaults (z from aggregate-gmm, a Gaussian mixture fitted to
the training rows' codes, at the temperature "auto" that training chose on the validation rows: the one
whose draws repeat a training row as often as the validation rows do; its choice, made after the last epoch,
counts in the training time, and the mixture's fit in the sample time). From the same fit come one more row
per --samplers SAMPLER at temperature 1 (default prior: the default before issue 17's third pass) and one per
--sharpened SAMPLER@T (default none): rows drawn at temperature T (categories, booleans and modes from
softmax(logits / T); TVAE's argmax decoding is T -> 0). --vaelab '{"epochs": 100, ...}' overrides
the settings for experiments; --normalization picks the numeric encoding.

TVAE runs SDV's default 300 epochs; CTGAN runs CTGAN_EPOCHS = 150 (half its default) to keep
the whole script under ~10 minutes on 2 cores (--tvae-epochs / --ctgan-epochs change them).

    .venv-bench/bin/python bench/tabular.py [--datasets mixed breast_cancer fair wine anes96]
        [--methods vaelab tvae ctgan] [--tvae-epochs N] [--ctgan-epochs N] [--vaelab JSON]
        [--samplers prior aggregate-gmm ...] [--sharpened SAMPLER@T ...] [--normalization mode|standard] [--threads N]
        [--repeats R]

Prints the machine, one markdown table per data set and the ratios. Always exits 0.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import math
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vaelab.analysis.samplers import SAMPLERS
from vaelab.analysis.synthetic_tables import (
    bootstrap_scores,
    compare,
    distance_to_closest_record,
    fidelity,
    ml_efficacy,
)
from vaelab.data.table_demo import make_mixed_table
from vaelab.data.table_schema import infer_schema
from vaelab.data.sources import read_table
from vaelab.runs.run import Run
from vaelab.runs.train import train_run
from _common import load, machine, machine_line, measure  # noqa: E402 (bench/ is on sys.path when run as a script)

SEED = 0
TEST_SHARE = 0.2
# vaelab's settings for every data set (see the docstring): a TVAE-sized MLP and a higher learning rate.
VAELAB_SETTINGS = {"epochs": 100, "hidden": [128, 128], "lr": 0.003, "warmup_epochs": 10, "patience": 30}
# vaelab's rows beside the default one ("vaelab"), from the one fit: z from these samplers at temperature 1
VAELAB_SAMPLERS = ("prior",)
# and rows of draws at a given temperature (SAMPLER@T: vaelab.analysis.samplers.check_temperature); none by default
VAELAB_SHARPENED: tuple[str, ...] = ()
CTGAN_EPOCHS = 150  # SDV's default is 300: at 300 CTGAN alone takes ~5 minutes here
SDTYPE = {"numeric": "numerical", "categorical": "categorical", "boolean": "boolean", "datetime": "datetime"}
METHODS = ("vaelab", "tvae", "ctgan")
REPEATS = 3  # synthetic samples (seeds 0, 1, 2) each method's ML efficacy is averaged over


@dataclass
class Table:
    name: str
    df: pd.DataFrame
    target: str
    categorical: tuple[str, ...] = ()
    note: str = ""


def mixed() -> Table:
    return Table("mixed", make_mixed_table(5000, seed=SEED), "city",
                 note="make_mixed_table(5000): 7 columns, mixed kinds, missing values")  # fmt: skip


def breast_cancer() -> Table:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    df = data.frame.copy()
    df["target"] = pd.Series(np.asarray(data.target_names)[data.target.to_numpy()], dtype=object)
    return Table("breast_cancer", df, "target", note="load_breast_cancer: 30 numeric columns + text target")


def wine() -> Table:
    from sklearn.datasets import load_wine

    data = load_wine(as_frame=True)
    df = data.frame.copy()
    df["target"] = pd.Series(np.asarray(data.target_names)[data.target.to_numpy()], dtype=object)
    return Table("wine", df, "target", note="load_wine: 13 numeric columns + the cultivar as text (3 classes)")


def anes96() -> Table | None:
    try:
        from statsmodels import datasets
    except ImportError:
        return None
    df = datasets.anes96.load_pandas().data.copy().drop(columns=["logpopul"])  # log of popul: derived
    df["vote"] = df["vote"] > 0
    df["PID"] = df["PID"].astype(int)
    return Table("anes96", df, "vote", ("PID",),
                 note="statsmodels anes96: party identification PID categorical, vote (Dole) boolean, log popul dropped")  # fmt: skip


def fair() -> Table | None:
    try:
        from statsmodels import datasets
    except ImportError:
        return None
    df = datasets.fair.load_pandas().data.copy()
    df["affair"] = df.pop("affairs") > 0
    cats = ("rate_marriage", "religious", "occupation", "occupation_husb")
    return Table("fair", df, "affair", cats, note="statsmodels fair: 4 coded columns as categorical, affair = affairs > 0")


DATASETS = {"mixed": mixed, "breast_cancer": breast_cancer, "fair": fair, "wine": wine, "anes96": anes96}


# ------------------------------------------------------------------ data


@dataclass
class Prepared:
    table: Table
    train_csv: Path
    train: pd.DataFrame  # real-train rows as read back from the CSV (datetimes parsed)
    test: pd.DataFrame  # real-test rows, likewise
    kinds: dict[str, str] = field(default_factory=dict)


def prepare(table: Table, folder: Path) -> Prepared:
    """The seeded 80/20 split, the train CSV vaelab reads, and both parts as every method sees them."""
    n = len(table.df)
    order = np.random.default_rng(SEED).permutation(n)
    n_test = int(round(n * TEST_SHARE))
    parts = {"train": np.sort(order[n_test:]), "test": np.sort(order[:n_test])}
    frames = {}
    for name, rows in parts.items():
        path = folder / f"{table.name}_{name}.csv"
        table.df.iloc[rows].to_csv(path, index=False)
        frames[name] = read_table(path)
    schema = infer_schema(frames["train"], categorical=table.categorical)
    kinds = dict(schema.kinds)
    for name, df in frames.items():
        for c, k in kinds.items():
            if k == "datetime":
                df[c] = pd.to_datetime(df[c])
    return Prepared(table, folder / f"{table.name}_train.csv", frames["train"], frames["test"], kinds)


# --------------------------------------------------------------- methods


def seed_all(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit_vaelab(p: Prepared, folder: Path, settings: dict, normalization: str):
    """(fitted run path, seconds, epochs note)."""
    run = folder / f"{p.table.name}_vaelab_seed{settings.get('seed', SEED)}"
    started = time.perf_counter()
    options = {"table": True, "categorical": p.table.categorical, "normalization": normalization}
    result = train_run(p.train_csv, run, settings, options=options, val_fraction=0.1, test_fraction=0.0)
    seconds = time.perf_counter() - started
    tr = result.metrics["training"]
    return run, seconds, f"{tr['epochs_run']} (best {tr['best_epoch']})"


def sample_vaelab(run: Path, n: int, seed: int = SEED, sampler: str | None = None,
                  temperature: float | str = "auto") -> pd.DataFrame:  # fmt: skip
    """Run.synthesize: its defaults unless told (sampler None: the kind's; temperature "auto": the run's)."""
    return Run(run).synthesize(n, sampler=sampler, seed=seed, temperature=temperature)


def sharpened(spec: str) -> tuple[str, float]:
    """--sharpened SAMPLER@T: (sampler, temperature)."""
    sampler, _, t = spec.partition("@")
    if sampler not in SAMPLERS or not t:
        raise argparse.ArgumentTypeError(f"expected SAMPLER@T with SAMPLER one of {SAMPLERS}, e.g. aggregate-gmm@0.5")
    return sampler, float(t)


def sdv_metadata(df: pd.DataFrame, kinds: dict[str, str]):
    """SDV metadata detected from df without keys, each column's sdtype set to vaelab's kind."""
    from sdv.metadata import Metadata

    if hasattr(Metadata, "detect_from_dataframes"):  # SDV >= 1.17 (2.x has only this one)
        md = Metadata.detect_from_dataframes({"table": df}, infer_keys=None)
        update = lambda c, **kw: md.update_column(c, table_name="table", **kw)  # noqa: E731
    else:  # older SDV
        from sdv.metadata import SingleTableMetadata

        md = SingleTableMetadata()
        md.detect_from_dataframe(df)
        if md.primary_key:
            md.primary_key = None
        update = md.update_column
    table = md.tables["table"] if hasattr(md, "tables") else md
    for c, k in kinds.items():
        if table.columns[c]["sdtype"] != SDTYPE[k]:  # keep what SDV detected where it agrees
            update(c, sdtype=SDTYPE[k])
    return md


def sdv_class(method: str):
    from sdv.single_table import CTGANSynthesizer, TVAESynthesizer

    return {"tvae": TVAESynthesizer, "ctgan": CTGANSynthesizer}[method]


def fit_sdv(method: str, p: Prepared, epochs: int | None, seed: int = SEED):
    """(fitted synthesizer, seconds, epochs note)."""
    cls = sdv_class(method)
    md = sdv_metadata(p.train, p.kinds)
    kwargs = {} if epochs is None else {"epochs": epochs}
    seed_all(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "save the metadata to JSON", pandas/RDT deprecations
        synth = cls(md, **kwargs)
        started = time.perf_counter()
        # SDV 2.x fits and samples {table name: DataFrame}; 1.x a DataFrame.
        synth.fit({"table": p.train} if hasattr(md, "tables") else p.train)
    seconds = time.perf_counter() - started
    return synth, seconds, str(synth.get_parameters().get("epochs", "?"))


def sample_sdv(synth, n: int, seed: int = SEED) -> pd.DataFrame:
    seed_all(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = synth.sample(num_rows=n)
    return next(iter(out.values())) if isinstance(out, dict) else out


# --------------------------------------------------------------- scoring


def sdmetrics_quality(p: Prepared, synth: pd.DataFrame) -> dict:
    """SDMetrics' own QualityReport (its score and its two properties), with the SDV metadata every method gets."""
    try:
        from sdmetrics.reports.single_table import QualityReport
    except ImportError:
        return {"q": None, "q_shapes": None, "q_pairs": None}
    md = sdv_metadata(p.train, p.kinds).to_dict()
    md = md["tables"]["table"] if "tables" in md else md
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(p.train, synth, md, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    return {"q": float(report.get_score()), "q_shapes": float(props["Column Shapes"]),
            "q_pairs": float(props["Column Pair Trends"])}  # fmt: skip


def score(p: Prepared, synths: list[pd.DataFrame]) -> dict:
    """Every metric on the first synthetic sample; ML efficacy as the mean (and SE) over all of them."""
    synths = [s[list(p.train.columns)].reset_index(drop=True) for s in synths]
    synth = synths[0]
    fid = fidelity(p.train, synth, p.kinds, seed=SEED)
    mls = [ml_efficacy(p.train, s, p.test, p.table.target, seed=SEED, kinds=p.kinds, predictions=True) for s in synths]
    ml = np.array([m["synthetic"] for m in mls])
    # The classifier's accuracy beside its macro F1 (classification targets): how F1 was reached.
    acc = np.array([m.get("synthetic_accuracy", math.nan) for m in mls], dtype=float)
    dcr = distance_to_closest_record(p.train, synth, p.test, p.kinds, seed=SEED)
    return {"fidelity": fid["fidelity"], "shapes": fid["column_shapes"], "pairs": fid["column_pair_trends"],
            **sdmetrics_quality(p, synth), "ml": float(ml.mean()),
            "ml_se": float(ml.std(ddof=1) / math.sqrt(ml.size)) if ml.size > 1 else None,
            "ml_real": mls[0]["real"], "metric": mls[0]["metric"], "acc": float(acc.mean()),
            "acc_real": mls[0].get("real_accuracy"),
            "dcr_share": dcr["share_closer_than_holdout"], "copies": dcr["exact_copies"],
            "holdout_copies": dcr["holdout_exact_copies"], "task": mls[0]["task"], "ml_truth": mls[0]["test_truth"],
            "ml_preds_fits": [[m["test_predictions"]["synthetic"] for m in mls]]}  # fmt: skip


TEST_ROW_RESAMPLES = 300  # paired bootstrap of the real-test rows behind a comparison's test-row SE


def test_rows_se(a: dict, b: dict) -> float | None:
    """The SE of ML efficacy's difference a - b that the real-test rows' sampling adds: both methods' classifiers
    (every fit, every sample) score the same resampled rows, the difference of their means taken on each resample.
    The SE over fits (``ml_se``) holds the test rows fixed; the two together cover the whole estimator."""
    if not a.get("ml_preds_fits") or not b.get("ml_preds_fits"):
        return None
    # Every fit holds as many samples, so the mean over all of a method's predictions is its mean over fits.
    groups = [[q for fit in row["ml_preds_fits"] for q in fit] for row in (a, b)]
    draws = bootstrap_scores(a["task"], a["ml_truth"], groups, TEST_ROW_RESAMPLES, SEED)
    return float(np.std(draws[:, 0] - draws[:, 1], ddof=1))


def ml_difference_line(a: dict, b: dict) -> str:
    """The difference of two ML efficacies with its SE over fits, over the test rows and both together, and the
    verdict of the difference against its 2 SE (compare)."""
    rows_se = test_rows_se(a, b)
    if rows_se is None or a.get("ml_se") is None or b.get("ml_se") is None:
        return ""
    diff, fits_se = a["ml"] - b["ml"], math.hypot(a["ml_se"], b["ml_se"])
    total = math.hypot(fits_se, rows_se)
    verdict = {"lower": "lower", "higher": "higher"}.get(compare(diff, total), "no clear winner")
    return (f"ML efficacy difference {diff:+.3f}: SE over fits {fits_se:.4f}, over the real-test rows {rows_se:.4f} "
            f"(paired bootstrap), together {total:.4f}: {verdict} by 2 SE of the difference")


def ml_verdict(a: dict, b: dict) -> str:
    """Which ML efficacy is higher, or "no clear winner" when the mean ± 2 SE intervals overlap."""
    if a.get("ml_se") is None or b.get("ml_se") is None:
        return "one sample each"
    if abs(a["ml"] - b["ml"]) <= 2 * (a["ml_se"] + b["ml_se"]):
        return "no clear winner"
    return "higher" if a["ml"] > b["ml"] else "lower"


def fmt(v, spec: str = ".3f") -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def run_dataset(p: Prepared, methods: list[str], folder: Path, args, settings: dict,
                sdv_seed: int = SEED) -> dict[str, dict]:  # fmt: skip
    rows: dict[str, dict] = {}
    n = len(p.train)
    for method in methods:
        try:
            if method == "vaelab":
                model, fit_s, epochs = fit_vaelab(p, folder, settings, args.normalization)
                # The defaults' row ("vaelab"), then one row per sampler at T 1 and per SAMPLER@T, from the one fit.
                draws = {"vaelab": sample_vaelab}
                draws.update({f"vaelab ({s}, temperature 1)": functools.partial(sample_vaelab, sampler=s, temperature=1.0)
                              for s in args.samplers})  # fmt: skip
                draws.update({f"vaelab ({s}, temperature {t:g})": functools.partial(sample_vaelab, sampler=s, temperature=t)
                              for s, t in args.sharpened})  # fmt: skip
            else:
                model, fit_s, epochs = fit_sdv(method, p, args.tvae_epochs if method == "tvae" else args.ctgan_epochs,
                                               seed=sdv_seed)  # fmt: skip
                draws = {method: sample_sdv}
            for name, draw in draws.items():
                started = time.perf_counter()
                synths = [draw(model, n, SEED)]
                sample_s = time.perf_counter() - started  # a fitted sampler's fit (aggregate-gmm) included
                synths += [draw(model, n, SEED + r) for r in range(1, args.repeats)]
                drawn = synths[0].attrs.get("temperature", {}).get("text")
                rows[name] = {"epochs": epochs, "fit_s": fit_s, "sample_s": sample_s, "drawn": drawn, **score(p, synths)}
                print(f"  {p.table.name} / {name}: {epochs} epochs, fit {fit_s:.1f} s, sample {sample_s:.1f} s, "
                      f"fidelity {rows[name]['fidelity']:.3f}, SDMetrics quality {fmt(rows[name]['q'])} "
                      f"(load average {load()})" + (f"; {drawn}" if drawn else ""), flush=True)  # fmt: skip
        except ImportError as err:
            print(f"  {p.table.name} / {method}: not installed ({err}); skipped", flush=True)
        except Exception:
            traceback.print_exc()
            print(f"  {p.table.name} / {method}: FAILED (traceback above)", flush=True)
    # The real-test rows scored as if synthetic: fidelity, and how many of them repeat a real-train row exactly
    # (ML efficacy and the DCR share would test them on themselves).
    ref = score(p, [p.test])
    ref.update(ml=None, ml_se=None, acc=None, dcr_share=None, copies=ref["holdout_copies"])
    rows["real-test rows (reference)"] = {"epochs": None, "fit_s": None, "sample_s": None, **ref}
    return rows


def over_fits(p: Prepared, methods: list[str], folder: Path, args, settings: dict) -> dict[str, dict]:
    """run_dataset once per --fit-seeds seed; ML efficacy as the mean over the fits of each fit's mean, its SE
    the SD of those means / sqrt(fits); every other column from the first seed's fit (SDMetrics quality and pair
    trends of every fit in ``q_fits``/``q_pairs_fits``, printed per fit)."""
    fits = []
    for seed in args.fit_seeds:
        print(f"  {p.table.name}: fits with seed {seed}", flush=True)
        fits.append(run_dataset(p, methods, folder, args, {**settings, "seed": seed}, sdv_seed=seed))
    rows = fits[0]
    if len(fits) < 2:  # one fit with another seed: its own samples' SE, as without --fit-seeds
        return rows
    for name, row in rows.items():
        mls = [f[name]["ml"] for f in fits if f.get(name, {}).get("ml") is not None]
        if len(mls) == len(fits):
            row.update(ml=float(np.mean(mls)), ml_se=float(np.std(mls, ddof=1) / math.sqrt(len(mls))), ml_fits=mls,
                       ml_preds_fits=[f[name]["ml_preds_fits"][0] for f in fits])  # fmt: skip
            accs = [f[name]["acc"] for f in fits]
            row.update(acc=float(np.mean(accs)), acc_se=float(np.std(accs, ddof=1) / math.sqrt(len(accs))))
        # SDMetrics quality and pair trends of each fit, printed beside ML efficacy per fit (the table's columns are
        # the first fit's; an audit, s15: the other fits' quality was computed and never shown)
        for key in ("q", "q_pairs"):
            values = [f[name][key] for f in fits if f.get(name, {}).get(key) is not None]
            if len(values) == len(fits):
                row[f"{key}_fits"] = values
        times = [f[name]["fit_s"] for f in fits if f.get(name, {}).get("fit_s") is not None]
        if len(times) == len(fits):
            row["fit_s"] = float(np.mean(times))  # the ratio lines' training time: the mean over the fits
    return rows


def print_table(p: Prepared, rows: dict[str, dict]) -> None:
    t = p.table
    ml_real = next(iter(rows.values()))["ml_real"]
    metric = next(iter(rows.values()))["metric"]
    print(f"\n**{t.name}** ({t.note}): {len(p.train)} real-train rows, {len(p.test)} real-test rows, "
          f"{len(p.kinds)} columns ({', '.join(f'{k}: {sum(v == k for v in p.kinds.values())}' for k in SDTYPE if k in p.kinds.values())}); "
          f"ML target `{t.target}` ({metric}; trained on real-train rows: {ml_real:.3f})\n")  # fmt: skip
    print("| method | epochs | train s | sample s | SDMetrics quality ↑ | SDM shapes ↑ | SDM pair trends ↑ "
          "| fidelity ↑ | column shapes ↑ | pair trends ↑ | ML efficacy ↑ | DCR closer than holdout (≈0.05) "
          "| exact copies |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        ml = fmt(r["ml"]) + (f" ± {r['ml_se']:.3f}" if r.get("ml_se") is not None else "")
        print(f"| {name} | {r['epochs'] or '—'} | {fmt(r['fit_s'], '.1f')} | {fmt(r['sample_s'], '.2f')} "
              f"| {fmt(r['q'])} | {fmt(r['q_shapes'])} | {fmt(r['q_pairs'])} "
              f"| {fmt(r['fidelity'])} | {fmt(r['shapes'])} | {fmt(r['pairs'])} | {ml} "
              f"| {fmt(r['dcr_share'])} | {fmt(r['copies'])} |")  # fmt: skip
    for name, r in rows.items():
        if r.get("ml_fits"):
            print(f"\n{name}: ML efficacy per fit {' / '.join(f'{x:.3f}' for x in r['ml_fits'])}", end="")
        if r.get("q_fits") and r.get("q_pairs_fits"):
            print(f"\n{name}: SDMetrics quality per fit {' / '.join(f'{x:.3f}' for x in r['q_fits'])}, pair trends per "
                  f"fit {' / '.join(f'{x:.3f}' for x in r['q_pairs_fits'])}", end="")  # fmt: skip
        if r.get("acc") is not None and not math.isnan(r["acc"]):
            se = f" ± {r['acc_se']:.3f}" if r.get("acc_se") is not None else ""
            print(f"\n{name}: the classifier's accuracy {r['acc']:.3f}{se} (trained on real-train rows: "
                  f"{fmt(r.get('acc_real'))})", end="")  # fmt: skip
    for vname, v in rows.items():
        if not vname.startswith("vaelab"):
            continue
        if v.get("drawn"):
            print(f"\n{vname}: drawn at {v['drawn']}", end="")
        for other in ("tvae", "ctgan"):
            o = rows.get(other)
            if o:
                ratio = lambda k: fmt(v[k] / o[k] if v.get(k) and o.get(k) else math.nan)  # noqa: E731
                print(f"\n{vname} / {other.upper()}: SDMetrics quality {ratio('q')}, pair trends {ratio('q_pairs')}, "
                      f"fidelity {ratio('fidelity')}, ML efficacy {ratio('ml')} ({ml_verdict(v, o)}), "
                      f"training time {v['fit_s'] / o['fit_s']:.2f}x", end="")  # fmt: skip
                line = ml_difference_line(v, o)
                if line:
                    print(f"\n{vname} / {other.upper()}: {line}", end="")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=tuple(DATASETS), default=list(DATASETS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--tvae-epochs", type=int, default=None, help="TVAE's epochs (default: SDV's, 300)")
    parser.add_argument("--ctgan-epochs", type=int, default=CTGAN_EPOCHS, help=f"CTGAN's epochs (default: {CTGAN_EPOCHS})")
    parser.add_argument("--vaelab", type=json.loads, default=None, help="vaelab settings as JSON (default: VAELAB_SETTINGS)")
    parser.add_argument("--samplers", nargs="*", choices=SAMPLERS, default=list(VAELAB_SAMPLERS),
                        help="more vaelab rows from the one fit, z from these samplers at temperature 1 "
                        f"(default: {' '.join(VAELAB_SAMPLERS)}; none: --samplers)")  # fmt: skip
    parser.add_argument("--sharpened", nargs="*", type=sharpened, default=[sharpened(s) for s in VAELAB_SHARPENED],
                        metavar="SAMPLER@T", help="more vaelab rows from the one fit, drawn at temperature T "
                        "(Run.synthesize(temperature=T); default: none)")  # fmt: skip
    parser.add_argument("--normalization", choices=("mode", "standard"), default="mode", help="vaelab's numeric encoding")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"synthetic samples per method for ML efficacy "
                        f"(mean ± SE; default {REPEATS})")  # fmt: skip
    parser.add_argument("--fit-seeds", nargs="+", type=int, default=[SEED], help="fit every method once per seed; "
                        "ML efficacy's mean ± SE is then over the fits (default: one fit, seed 0)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # torch imports torch._dynamo the first time an optimizer is built (seconds): not any method's training time.
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    settings = dict(VAELAB_SETTINGS if args.vaelab is None else args.vaelab)
    settings.setdefault("seed", SEED)
    settings.setdefault("device", "cpu")
    for name in ("sdv", "rdt", "ctgan", "copulas", "SingleTableSynthesizer"):
        logging.getLogger(name).setLevel(logging.ERROR)

    m = machine()

    print(machine_line())
    with contextlib.suppress(ImportError):
        import sdv

        print(f"SDV {sdv.__version__}")
    print(f"vaelab settings: {settings}, normalization={args.normalization!r}, val_fraction=0.1, test_fraction=0; "
          f"TVAE epochs: {args.tvae_epochs or 'default (300)'}, CTGAN epochs: {args.ctgan_epochs} (default 300)")  # fmt: skip
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.datasets:
            table = DATASETS[name]()
            if table is None:
                print(f"{name}: statsmodels is not installed; skipped")
                continue
            p = prepare(table, folder)
            fit = run_dataset if args.fit_seeds == [SEED] else over_fits
            results.append((p, fit(p, args.methods, folder, args, settings)))
    print(f"\n{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} threads); "
          f"total {time.perf_counter() - started:.0f} s; load average now {load()}")  # fmt: skip
    for p, rows in results:
        print_table(p, rows)
    print("\nSDMetrics quality: sdmetrics.reports.single_table.QualityReport (its score, Column Shapes, Column Pair "
          "Trends) against the real-train rows with the SDV metadata every method gets; fidelity = vaelab's own "
          "mean(column shapes, pair trends); ML efficacy: macro F1 on the real-test rows of a gradient-boosting model "
          f"trained on the synthetic rows, mean ± SE over {args.repeats} synthetic samples of one fit"
          + (f" (over fits with seeds {args.fit_seeds}: SE of the fits' means)" if len(args.fit_seeds) > 1 else "")
          + "; DCR: share of synthetic rows "
          "closer to a real-train row than the k-th smallest of the m real-test rows' distances, k / (m + 1) ≈ 5% (the "
          "share expected of new rows); exact copies: share of "
          "rows equal to a real-train row (for the reference row: real-test rows that repeat one).")  # fmt: skip
    return 0


if __name__ == "__main__":
    measure(main)
