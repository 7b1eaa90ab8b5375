"""What each block of ``metrics.json`` must hold for its readers: one schema per block, checked on read.

metrics.json is data a user (or a damaged disk) can change, like config.json; the report and the
commands that read another command's block trust its shape. :func:`validate_blocks` checks every
block against :data:`SCHEMAS` and leaves a damaged one out, as if its analysis had not run, with a
note saying why, instead of failing deep inside a reader.

A schema checks the keys and types that readers *use*, and tolerates keys it does not name, so a
writer may add keys freely. When a reader starts using a key, add it to its block's schema here
(this is the one place); a block without a schema is passed through unchecked. Blocks whose
entries are independent (``explore``: one entry per action; ``samplers``: one per sampler) are
checked entry by entry, so one damaged entry does not hide the others.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

# A check returns None when the value fits, else a short reason naming where it does not.
Check = Callable[[Any, str], "str | None"]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(v: Any) -> bool:
    try:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    except OverflowError:  # an integer beyond float's range: no reader can compute with it
        return False


def number(v: Any, where: str) -> str | None:
    """A finite number (what a reader does arithmetic with)."""
    return None if _is_number(v) else f"{where} must be a finite number; got {_short(v)}"


def count(v: Any, where: str) -> str | None:
    """A non-negative integer."""
    ok = isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63
    return None if ok else f"{where} must be a non-negative integer; got {_short(v)}"


def text(v: Any, where: str) -> str | None:
    return None if isinstance(v, str) else f"{where} must be a string; got {_short(v)}"


def flag(v: Any, where: str) -> str | None:
    return None if isinstance(v, bool) else f"{where} must be true or false; got {_short(v)}"


def optional(check: Check) -> Check:
    """``check`` or null (NaN and infinity are stored as null: JSON cannot spell them)."""
    return lambda v, where: None if v is None else check(v, where)


maybe_number = optional(number)  # shown as "–" when null


def literal(value: Any) -> Check:
    return lambda v, where: None if v == value else f"{where} must be {value!r}; got {_short(v)}"


def list_of(check: Check, length: int | None = None) -> Check:
    def run(v: Any, where: str) -> str | None:
        if not isinstance(v, list):
            return f"{where} must be a list; got {_short(v)}"
        if length is not None and len(v) != length:
            return f"{where} must hold {length} items; it holds {len(v)}"
        return next((e for i, item in enumerate(v) if (e := check(item, f"{where}[{i}]"))), None)

    return run


def mapping(check: Check, keys: Check = text) -> Check:
    """A JSON object whose every value fits ``check``."""
    def run(v: Any, where: str) -> str | None:
        if not isinstance(v, dict):
            return f"{where} must be a JSON object; got {_short(v)}"
        return next((e for k, item in v.items() if (e := keys(k, f"{where} key") or check(item, f"{where}.{k}"))), None)

    return run


def obj(required: dict[str, Check], optional_keys: dict[str, Check] | None = None,
        also: Callable[[dict], str | None] | None = None) -> Check:  # fmt: skip
    """A JSON object with the ``required`` keys, the ``optional_keys`` where present, anything else
    tolerated; ``also(value)`` checks what relates keys (equal lengths)."""
    def run(v: Any, where: str) -> str | None:
        if not isinstance(v, dict):
            return f"{where} must be a JSON object; got {_short(v)}"
        missing = [k for k in required if k not in v]
        if missing:
            return f"{where} lacks {', '.join(missing)}"
        for k, check in {**required, **(optional_keys or {})}.items():
            if k in v and (e := check(v[k], f"{where}.{k}")):
                return e
        return also(v) if also else None

    return run


def either(*checks: Check) -> Check:
    """The first check's reason, unless one of them fits."""
    def run(v: Any, where: str) -> str | None:
        reasons = [c(v, where) for c in checks]
        return None if any(r is None for r in reasons) else reasons[0]

    return run


def _same_lengths(*keys: str) -> Callable[[dict], str | None]:
    def run(v: dict) -> str | None:
        lengths = {k: len(v[k]) for k in keys if isinstance(v.get(k), list)}
        return None if len(set(lengths.values())) <= 1 else f"the lists {', '.join(lengths)} differ in length"

    return run


# --------------------------------------------------------------- the blocks
# What an explore traversal's or grid's "scale" reads as (its SD unit, its centre, a grid's quantiles): the prior's, or
# a deterministic encoder's codes' (analysis/explore measures them; the report says them)
SCALE_NAMES = {"prior": ("prior SD", "the prior's mean", "the prior's quantiles"),
               "codes": ("code SD", "the codes' mean", "quantiles of a Gaussian with the codes' mean and SD")}
# Words shared by the analyses that write a block and the report that renders it (report/ may not import analysis/):
# compare-samplers' note on the Fréchet distance, and explore's name for the codes its percentiles are among
# The Fréchet distance of two finite samples overestimates their distributions' (its trace term's square root is
# biased low): 0.29 on average for 400 against 400 points in 8 dimensions whose population value is 0.16, with an SE
# of 0.07 (an audit, s13). Its interval is for this many samples; values are comparable at the same sizes only.
FRECHET_NOTE = ("Fréchet is biased upward at finite sample sizes: its value and interval (where there is one) are for "
                "this many samples and test examples, not the distributions' distance; values compare fairly at the "
                "same sizes, as here")
def codes_words(n_codes: int | None, n_train: int | None = None) -> str:
    """"the 2000 training codes", or where they are a seeded subsample of a larger training split (beyond
    MAX_REFERENCE_CODES), "10000 training codes (a seeded subsample of the 60000)": the percentiles are among those."""
    if n_codes is None:
        return "the training codes"
    if n_train is not None and n_train > n_codes:
        return f"{n_codes} training codes (a seeded subsample of the {n_train})"
    return f"the {n_codes} training codes"


NAME = re.compile(r"[a-z][a-z0-9_-]{0,40}")  # a sampler's or an action's name, as vaelab writes them


def name(v: Any, where: str) -> str | None:
    return None if isinstance(v, str) and NAME.fullmatch(v) else f"{where} is not a name vaelab writes; got {_short(v)}"


TRAINING = obj({}, {"epochs_run": optional(count), "best_epoch": optional(count), "stopped_early": optional(flag),
                    "seconds": maybe_number,
                    # what the report reads of it (a key of it missing was a KeyError: an audit, s12)
                    "likelihood_choice": optional(obj({"likelihood": text, "binarized": flag, "reason": text}))})  # fmt: skip
TEST = obj({"elbo": number, "reconstruction": number, "kl": number},
           {"elbo_stderr": maybe_number, "bits_per_dim_bound": maybe_number, "normalized": optional(flag),
            "units": optional(text), "elbo_stderr_method": optional(text), "elbo_stderr_approximate": optional(text),
            "conditional": optional(flag),
            "bits_per_dim_scale": optional(text)})  # fmt: skip
LIKELIHOOD = obj({"test_nll": number, "elbo": number, "n_samples": count},
                 {"test_nll_stderr": maybe_number, "test_nll_mc_stderr": maybe_number, "bits_per_dim": maybe_number,
                  "normalized": optional(flag), "binarizations": optional(count), "flag_rule": optional(text),
                  "flagged_share": maybe_number, "false_flag_share": maybe_number, "units": optional(text),
                  "test_nll_stderr_method": optional(text), "test_nll_stderr_approximate": optional(text),
                  "conditional": optional(flag),
                  "bits_per_dim_scale": optional(text),
                  "reference_size": optional(count), "reference_independent": optional(count),
                  "reference_note": optional(text)})  # fmt: skip
ANOMALY = obj({"inliers": text, "outliers": text, "n_inliers": count, "n_outliers": count,
               "scores": mapping(obj({"auroc": maybe_number, "auprc": maybe_number},
                                     {"auprc_chance": maybe_number}))},
              {"notes": optional(list_of(text)), "auprc_chance": maybe_number})  # fmt: skip
# A plain autoencoder's score block (vaelab score on its test split): its reconstruction error, no log p(x)
RECONSTRUCTION_ERROR = obj({"test_reconstruction_mse": number},
                           {"test_reconstruction_mse_stderr": maybe_number, "test_reconstruction_mse_stderr_method":
                            optional(text), "test_reconstruction_mse_stderr_approximate": optional(text),
                            "flag_rule": optional(text), "flagged_share": maybe_number,
                            "false_flag_share": maybe_number, "reference_note": optional(text)})  # fmt: skip
FINDING = obj({"severity": text, "title": text, "detail": text}, {"advice": optional(text)})
PER_CHANNEL = obj(
    {"shape": list_of(count), "aggregate_mean": list_of(maybe_number), "aggregate_sd": list_of(maybe_number),
     "prior_sd": list_of(maybe_number), "scaling_factor": list_of(maybe_number)},
    {"kl": optional(list_of(maybe_number))},
    also=_same_lengths("aggregate_mean", "aggregate_sd", "prior_sd", "scaling_factor", "kl"),
)  # fmt: skip
DIAGNOSTICS = obj(
    {"surgery": optional(obj({"avg_kl": maybe_number, "mutual_information": maybe_number,
                              "kl_aggregate_prior": maybe_number, "residual": maybe_number},
                             {"residual_stderr": maybe_number})),
     "aggregate": obj({"prior_hole_mass": maybe_number, "total_correlation": maybe_number},
                      {"prior_hole_mass_stderr": maybe_number, "total_correlation_stderr": maybe_number}),
     "n_examples": count, "active_units": count, "order_by_kl": list_of(count)},
    {"data": text, "findings": list_of(FINDING), "per_channel": optional(PER_CHANNEL), "scope": optional(text),
     "order_by": optional(text),
     # each class's codes against the prior, as the report reads them (a key of one missing was a KeyError: an audit)
     "classes": optional(mapping(obj({"n": count, "kl_to_prior": maybe_number},
                                     {"kl_to_prior_stderr": maybe_number, "n_given_other": optional(count)})))},
)  # fmt: skip
SAMPLER = obj({}, {**{k: maybe_number for k in ("frechet", "precision", "recall", "density", "coverage")},
                   "classes": obj({}, {"total_variation": maybe_number}),
                   "memorization": obj({}, {"ratio": maybe_number}),
                   "intervals": mapping(optional(list_of(maybe_number, length=2))),
                   "stderr": mapping(maybe_number)})  # fmt: skip
SAMPLERS_SUMMARY = obj({}, {"verdict": text, "n_samples": optional(count), "n_real": optional(count),
                            "n_test": optional(count), "features": optional(text),
                            "classifier_test_accuracy": maybe_number,
                            "intervals": optional(obj({"method": text, "replicates": count, "level": number})),
                            "knn": optional(obj({"k_precision_recall": count, "k_density_coverage": count,
                                                 "balls": text}))})  # fmt: skip
# The ML efficacy block's secondary metric beside its main one (accuracy beside macro F1, MAE beside R²), as
# evaluate-synthetic and the report print it: {name: (key of the real-trained model's, of the synthetic-trained)}.
ML_SECONDARY = {"accuracy": ("real_accuracy", "synthetic_accuracy"), "MAE": ("real_mae", "synthetic_mae")}


def ml_secondary(ml: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An ML efficacy block's secondary metric: its name and its values by side ("real", "synthetic"), those the
    block holds (a block written before them holds neither). Macro F1 and accuracy can disagree: a classifier
    leaning to a minority class may gain F1 and lose accuracy (on fair TVAE's rows lead on F1, not on accuracy:
    BENCHMARKS.md)."""
    name = next((n for n, keys in ML_SECONDARY.items() if keys[0] in ml), "accuracy")
    unit = ml.get("target_unit")  # a date target's MAE is in seconds (an audit: "MAE 16906831.304", no unit)
    values = {side: ml[k] for side, k in zip(("real", "synthetic"), ML_SECONDARY[name]) if k in ml}
    return (f"{name} in {unit}" if isinstance(unit, str) and name == "MAE" else name), values


def closer_share(privacy: dict[str, Any]) -> str:
    """"9.7% ± 1.7% (1 SE over …)": the share of synthetic rows closer to a training row than the holdout's cut
    (:func:`closer_than`), with its bootstrap SE where the block holds one (blocks written before it do not: "9.7%")."""
    share, se = privacy.get("share_closer_than_holdout"), privacy.get("share_closer_stderr")
    if not _is_number(share):
        return "–"
    return (f"{100 * share:.1f}% ± {100 * se:.1f}% (1 SE over the synthetic and holdout rows)" if _is_number(se)
            else f"{100 * share:.1f}%")


def condition_note(block: dict[str, Any]) -> str:
    """A conditional table run's condition columns, scored apart from column shapes, as the CLI and the report say it."""
    names = [str(c) for c in block["condition_columns"]]
    scores = {str(c.get("column")): c.get("score") for c in block.get("columns", ()) if isinstance(c, dict)}
    each = "; ".join(f"{c}: TV complement {scores[c]:.3f}" if _is_number(scores.get(c)) else c for c in names)
    one = len(names) == 1
    return (f"column shapes leave out the condition column{'' if one else 's'} ({each}): "
            f"{'it is' if one else 'they are'} drawn at the training rows' frequencies, not generated by the model; "
            f"{'its' if one else 'their'} pairs with the other columns stay in the column pair trends")


def constant_note(columns: list[Any]) -> str:
    """Why column pair trends leave out the pairs of some columns, as the CLI and the report say it."""
    names = ", ".join(map(str, columns[:10])) + (f" and {len(columns) - 10} more" if len(columns) > 10 else "")
    one = len(columns) == 1
    return (f"column pair trends leave out the pairs of {names}: {'its' if one else 'their'} real values fall in one "
            f"category or bin, so {'its' if one else 'their'} pairs have no trend to reproduce (a contingency score "
            "would be the other column's shape score again), as SDMetrics' QualityReport leaves them out")


def _share_interval(share: Any, interval: Any) -> str:
    """"0.0% [0.0%, 8.8%]": a share with its 95% interval where one is stored (a block written before: the share)."""
    if isinstance(interval, (list, tuple)) and len(interval) == 2 and all(_is_number(v) for v in interval):
        return f"{100 * share:.1f}% [{100 * interval[0]:.1f}%, {100 * interval[1]:.1f}%]"
    return f"{100 * share:.1f}%"


def exact_copies(privacy: dict[str, Any]) -> str:
    """"exact copies 0.0% [0.0%, 0.9%] (real holdout 0.0% [0.0%, 8.8%]; 95% Wilson intervals)": both shares of rows
    that repeat a training row, with their intervals where stored (an audit: "0.0%" of 40 holdout rows read as none)."""
    said = isinstance(privacy.get("exact_copies_interval"), (list, tuple))
    text = f"exact copies {_share_interval(privacy['exact_copies'], privacy.get('exact_copies_interval'))}"
    holdout = privacy.get("holdout_exact_copies")
    if holdout is not None:
        return (f"{text} (real holdout {_share_interval(holdout, privacy.get('holdout_exact_copies_interval'))}"
                f"{'; 95% Wilson intervals' if said else ''})")  # fmt: skip
    return text + (" (95% Wilson interval)" if said else "")


def closer_than(privacy: dict[str, Any]) -> str:
    """"closer than the 2nd smallest of the 40 holdout rows' distances (4.9% of new rows are)": what the share of
    synthetic rows closer to a training row is measured against, and the share expected of rows as new as the holdout's;
    a block written before the cut was an order statistic: "closer than the holdout's 5th percentile"."""
    expected = privacy.get("share_closer_expected")
    if not _is_number(expected) or _cut_name(privacy) == OLD_CUT:
        return f"closer than {OLD_CUT}"
    if privacy.get("holdout_cut_tied"):  # a strict "closer" below a tied cut: new rows' share is at most k / (m + 1)
        return (f"closer than {_cut_name(privacy)} (at most {100 * expected:.1f}% of new rows are: other holdout "
                "distances tie with it)")  # fmt: skip
    if privacy.get("ties_at_or_below_cut"):  # a tie below the cut, or a synthetic distance at it: an upper bound too
        return (f"closer than {_cut_name(privacy)} (at most {100 * expected:.1f}% of new rows are: distances tie at or "
                "below it)")  # fmt: skip
    return f"closer than {_cut_name(privacy)} ({100 * expected:.1f}% of new rows are)"


OLD_CUT = "the holdout's 5th percentile"  # the cut of blocks written before it was an order statistic


def _cut_name(privacy: dict[str, Any]) -> str:
    """"the 2nd smallest of the 40 holdout rows' distances", or for a block written before: the 5th percentile."""
    rank, m = privacy.get("holdout_cut_rank"), privacy.get("n_holdout")
    if not (_is_number(rank) and _is_number(m)):
        return OLD_CUT
    return f"the {'smallest' if rank == 1 else f'{_ordinal(int(rank))} smallest'} of the {int(m)} holdout rows' distances"


def closer_text(privacy: dict[str, Any]) -> str:
    """"9.7% ± 1.7% (1 SE over …) of synthetic rows closer than the 2nd smallest of the 40 holdout rows' distances
    (4.9% of new rows are)", as the CLI and the report say it; where that cut is 0 (as many real held-out rows repeat a
    training row) no row can be closer than it, and the share's "0.0% ± 0.0%" read as a measured certainty (an audit,
    s12): it says so."""
    cut = privacy.get("dcr_holdout_cut", privacy.get("dcr_holdout_p5"))  # blocks written before the order statistic
    if cut == 0:
        return (f"no synthetic row can be closer to a training row than {_cut_name(privacy)}, which is 0 (real "
                "held-out rows repeat a training row that often), so that share measures nothing here: compare the "
                "exact copies with the holdout's")  # fmt: skip
    return f"{closer_share(privacy)} of synthetic rows {closer_than(privacy)}"

def _ordinal(k: int) -> str:
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def with_se(value: Any, se: Any) -> str:
    """"0.942 ± 0.004": a score in [0, 1] to 3 decimals with its SE (to 3 decimals, or 1 significant digit below
    0.001, so that a small SE does not read as "± 0.000"); the score alone where no SE is stored, "–" for none."""
    if not _is_number(value):
        return "–"
    if not _is_number(se):
        return f"{value:.3f}"
    return f"{value:.3f} ± {se:.3f}" if se >= 0.001 else f"{value:.3f} ± {se:.1g}"


def fidelity_texts(block: dict[str, Any]) -> dict[str, str]:
    """A table block's fidelity, column shapes and column pair trends with their SEs ("0.942 ± 0.004") and ``over``,
    what the ± is ("; ± 1 SE over the 5000 real and …"), as the CLI and the report say them; a block written before
    the SEs were stored gives the bare figures and no ``over``."""
    keys = ("fidelity", "column_shapes", "column_pair_trends")
    texts = {k: with_se(block.get(k), block.get(f"{k}_stderr")) for k in keys}
    over = block.get("fidelity_stderr_over")
    texts["over"] = f"; ± 1 SE over {over}" if _is_number(block.get("fidelity_stderr")) and isinstance(over, str) else ""
    return texts


def ks_over(block: dict[str, Any]) -> str:
    """" (± 1 SE over the 40 real windows …)": what a series block's KS complement SEs cover; "" for a block written
    before they were stored."""
    over = block.get("column_shapes_stderr_over")
    return f" (± 1 SE over {over})" if _is_number(block.get("column_shapes_stderr")) and isinstance(over, str) else ""


def coverage_of(forecast: dict[str, Any]) -> str:
    """" of x, y": the features a series block's band coverage is taken over where some were left out of it (features
    the same in every training window: :meth:`vaelab.runs.series.SeriesKind.forecast_scores`); "" where none were."""
    names = forecast.get("coverage_features")
    return f" of {', '.join(map(str, names))}" if isinstance(names, list) and names else ""


def plus_minus(value: float, spread: float, sign: bool = True) -> str:
    """"+0.35 ± 0.13", "+34,712 ± 25,123": an estimate and its ± to the same decimals, those that give the ± two
    significant digits (an audit, s12: "+0.347 ± 0.13" took 4 significant digits and 2, and in a series' large units
    ".2g" gave "± 2.5e+04")."""
    if not (math.isfinite(value) and math.isfinite(spread)):
        return f"{value:{'+' if sign else ''}} ± {spread}"
    decimals = decimals_for(spread)
    return f"{value:{'+' if sign else ''},.{decimals}f} ± {spread:,.{decimals}f}"


def decimals_for(spread: float) -> int:
    """The decimals that give ``spread`` (a ± or an SE) two significant digits: 2 for 0.13, 0 for 25,123."""
    return 3 if not (math.isfinite(spread) and spread > 0) else min(12, max(0, 1 - math.floor(math.log10(spread))))


def discriminative_text(block: dict[str, Any]) -> str:
    """"0.417 ± 0.108 (± 1 SE over 3 classifier repeats; 0 = indistinguishable; classifier accuracy 0.917); one
    Gaussian over the window: 0.250 ± 0.132; real training windows: 0.250 ± 0.143": a series block's discriminative
    score with what its ± is and the two baselines' scores, as the CLI and the report say it (the report gave neither:
    an audit, s12). Blocks written before the real training windows' score lack it."""
    def score(entry: Any) -> str:
        if not isinstance(entry, dict):
            return "–"
        return with_se(entry.get("score"), entry.get("se"))

    d = block["discriminative"]
    baselines = [(name, (block.get(key) or {}).get("discriminative")) for name, key in
                 (("one Gaussian over the window", "gaussian"), ("real training windows", "real_training"))]  # fmt: skip
    # the SE is floored at one repeat's binomial SE (repeated_discriminative): repeats that agree do not read as exact
    floor = (f", their spread floored at one repeat's binomial SE on its {d['n_test']} held-out windows, real and "
             "synthetic"
             if isinstance(d.get("n_test"), int) and not isinstance(d.get("n_test"), bool) else "")
    over = f"± 1 SE over {d.get('repeats', 3)} classifier repeats{floor}; " if _is_number(d.get("se")) else ""
    accuracy = d.get("accuracy")
    return (f"{score(d)} ({over}0 = indistinguishable; classifier accuracy "
            f"{f'{accuracy:.3f}' if _is_number(accuracy) else '–'})"
            + "".join(f"; {name}: {score(entry)}" for name, entry in baselines if isinstance(entry, dict)))


def predictive_difference(p: dict[str, Any]) -> str:
    """"; synthetic - real +0.0123 ± 0.0200 (2 SE over the 40 real test windows, paired …): no clear difference" for a
    series block's predictive score that holds its paired difference (blocks written before it do not: ""), as the
    CLI and the report say it; where the forecasters' own randomness is not in the SE (one seed), the text says so."""
    if not _is_number(p.get("mae_difference_se")) or not _is_number(p.get("mae_difference")):
        return ""
    words = {"lower": "the forecaster trained on synthetic windows errs less",
             "higher": "the forecaster trained on synthetic windows errs more"}.get(p.get("outcome"), "no clear difference")
    # with repeats, se_over says that the forecasters' training is in the SE (repeated_predictive); without, it is not
    training = "" if _is_number(p.get("repeats")) and p["repeats"] > 1 else "; the two forecasters' own training not in it"
    # few test windows against the span they share (synthetic_series.approximate_interval): said, as the forecaster's
    # verdict says it (an audit, s14)
    approximate = p.get("mae_difference_approximate")
    caveat = f"; {approximate}" if isinstance(approximate, str) and approximate else ""
    return (f"; synthetic - real {plus_minus(p['mae_difference'], 2 * p['mae_difference_se'])} (2 SE over "
            f"{p.get('se_over', 'the real test windows')}{training}): {words}{caveat}")


def repeats_of(p: dict[str, Any]) -> str:
    """" (means of 3 seeds)": a series block's predictive MAEs where they are the means of repeats; "" otherwise."""
    return f" (means of {p['repeats']} seeds)" if _is_number(p.get("repeats")) and p["repeats"] > 1 else ""


def ml_note(ml: dict[str, Any]) -> str:
    """"; synth_train: single class: every test row predicted as that class": why an ML efficacy model could not be
    trained, as the CLI and the report say it ("" when both were). It was stored and never shown (an audit, s11 a:
    `--n 1` printed "train on synthetic 0.200" as if a model had learned from the synthetic rows)."""
    note = ml.get("note")
    return f"; {note}" if isinstance(note, str) and note else ""


def ml_condition_target(block: dict[str, Any]) -> str:
    """"; the target is a condition column: …" where a conditional table run's ML efficacy predicts one of its
    condition columns ("" otherwise), as the CLI and the report say it. The synthetic rows carry the value each was
    generated for, so the score measures how the generated columns follow it, not the condition column's shape (an
    audit, s13: the default target may be a condition column, and nothing said so)."""
    ml, apart = block.get("ml_efficacy"), block.get("condition_columns")
    if not (isinstance(ml, dict) and isinstance(apart, list) and ml.get("target") in apart):
        return ""
    return ("; the target is a condition column: each synthetic row holds the value it was generated for, so this "
            "measures how the generated columns follow it")


def ml_difference(ml: dict[str, Any]) -> str:
    """"; synthetic - real -0.047 ± 0.062 (2 SE over the 150 real test rows …): no clear difference" for an ML
    efficacy block that holds its bootstrap (blocks written before it do not: ""), as the CLI and the report say it."""
    if not (_is_number(ml.get("difference_se")) and _is_number(ml.get("difference"))):  # one without the other:
        return ""  # a damaged block (a KeyError: an audit, s12)
    if ml.get("identical_predictions") is True:  # 0 ± 0 said no more than "no clear difference" (an audit, s14)
        return (f"; synthetic - real {ml['difference']:+.3f}: the two models give identical predictions of "
                f"{ml.get('se_over', 'the real test rows').split(';')[0]}, so their scores cannot differ")
    words = {"lower": "the model trained on synthetic rows scores lower",
             "higher": "the model trained on synthetic rows scores higher"}.get(ml.get("outcome"), "no clear difference")
    return (f"; synthetic - real {ml['difference']:+.3f} ± {2 * ml['difference_se']:.3f} (2 SE over "
            f"{ml.get('se_over', 'the real test rows')}): {words}")


TABLE_SYNTHETIC = obj(
    {"kind": literal("table"), "n_synthetic": count, "sampler": text, "n_real_train": count, "fidelity": maybe_number,
     "column_shapes": maybe_number, "column_pair_trends": maybe_number,
     "columns": list_of(obj({"column": text, "kind": text, "metric": text, "score": maybe_number,
                             "missing_similarity": maybe_number}))},
    {"ml_efficacy": optional(obj({"metric": text, "target": text, "real": maybe_number, "synthetic": maybe_number},
                                 {**{k: maybe_number for keys in ML_SECONDARY.values() for k in keys},
                                  **{k: maybe_number for k in ("real_se", "synthetic_se", "difference", "difference_se")},
                                  "outcome": text, "se_over": text, "note": optional(text),
                                  "identical_predictions": optional(flag)})),
     "privacy": optional(obj({"dcr_synthetic_median": maybe_number, "dcr_holdout_median": maybe_number,
                              "share_closer_than_holdout": number, "exact_copies": number},
                             {"holdout_exact_copies": number, "share_closer_stderr": maybe_number,
                              "exact_copies_interval": list_of(number), "holdout_exact_copies_interval": list_of(number),
                              "dcr_holdout_cut": maybe_number, "holdout_cut_rank": count, "share_closer_expected": number,
                              "holdout_cut_tied": flag, "ties_at_or_below_cut": flag,
                              "median_ratio_stderr": maybe_number, "stderr_over": text})),
     "not_measured": text, "constant_columns": list_of(text), "condition_columns": list_of(text),
     # fidelity's bootstrap SEs (fidelity_texts prints them; blocks written before them lack them)
     **{f"{k}_stderr": maybe_number for k in ("fidelity", "column_shapes", "column_pair_trends")},
     "fidelity_stderr_over": text},
)  # fmt: skip
VERDICT = obj({"text": text}, {"outcome": optional(text)})


def _temperature(v: Any, where: str) -> str | None:
    """A draw temperature, in (0, 1]."""
    ok = _is_number(v) and 0 < v <= 1
    return None if ok else f"{where} must be a number in (0, 1]; got {_short(v)}"


# a table run's temperature "auto" (runs.table.TableKind.after_fit): sample draws at it
TEMPERATURE = obj({"temperature": _temperature, "sampler": text, "text": text},
                  {"validation_repeats": maybe_number, "draw_repeats": mapping(number), "given": flag,
                   "chosen_by": either(literal("auto"), literal("caller"))})  # fmt: skip
SERIES_SYNTHETIC = obj({
    "kind": literal("series"), "n_past": count, "n_future": count, "features": list_of(text),
    "column_shapes": maybe_number,
    "discriminative": obj({"score": maybe_number, "accuracy": maybe_number}, {"se": maybe_number}),
    "predictive": obj({"mae_synthetic": maybe_number, "mae_real": maybe_number},
                      {"mae_difference": maybe_number, "mae_difference_se": maybe_number, "outcome": text, "se_over": text,
                       "repeats": optional(count), "mae_difference_repeats": optional(list_of(maybe_number)),
                       "mae_difference_se_windows": maybe_number, "mae_difference_se_training": maybe_number,
                       "mae_difference_approximate": text}),
    "forecast": obj({"coverage_90": number, "mae_median": maybe_number, "mae_last_value": maybe_number},
                    {"verdict": optional(text), "mae_difference_approximate": text, "coverage_approximate": text}),
}, {
    "trend": optional(obj({}, {"found": optional(text), "handling": optional(text), "why": optional(text)})),
    "verdicts": mapping(VERDICT),
    # the KS complements' bootstrap SEs (ks_over says what they cover; blocks written before lack them)
    "column_shapes_stderr": maybe_number, "column_shapes_stderr_over": text,
})  # fmt: skip
EXPLORE = {  # one entry per action
    "traverse": obj({"span_sd": maybe_number}, {"chosen_by": text, "centre": optional(text), "unit": text}),
    "grid": obj({"dims": list_of(count, length=2), "n": count}, {"centre": optional(text)}),
    "interpolate": obj({"a": text, "b": text, "paths": mapping(obj({"min_percentile": maybe_number}))},
                       {"label_a": optional(text), "label_b": optional(text)}),
    "arithmetic": obj({"a": text, "b": text, "data_range": list_of(maybe_number, length=2),
                       # null: nothing drawn (a plain autoencoder has no log p(x)); runs before s15 say 200 there
                       "n_samples": optional(count),
                       "n_reference": optional(count),
                       "results": list_of(obj({"name": text, "latent_percentile": maybe_number,
                                               "log_px_percentile": maybe_number, "verdict": text}))}),
}  # fmt: skip

# a series run's spread of generated windows, measured at the end of training (runs.series.SeriesKind.after_fit)
GENERATED_SPREAD = obj({"outcome": text, "ratio": number, "text": text})
# Blocks checked whole: one damaged key costs the block.
SCHEMAS: dict[str, Check] = {
    "training": TRAINING, "test": TEST, "likelihood": LIKELIHOOD, "anomaly": ANOMALY,
    "reconstruction_error": RECONSTRUCTION_ERROR, "diagnostics": DIAGNOSTICS,
    "synthetic": either(TABLE_SYNTHETIC, SERIES_SYNTHETIC), "temperature": TEMPERATURE,
    "generated_spread": GENERATED_SPREAD,
}  # fmt: skip
# Blocks checked entry by entry: name -> (the schema of entry KEY, or None for an unknown KEY).
ENTRY_SCHEMAS: dict[str, Callable[[str], Check | None]] = {
    "samplers": lambda key: SAMPLERS_SUMMARY if key == "_summary" else (SAMPLER if NAME.fullmatch(key) else None),
    "explore": lambda key: EXPLORE.get(key),
    "diagnostics_by_data": lambda key: DIAGNOSTICS,  # one diagnostics block per data spec inspected
}


def validate_blocks(metrics: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the blocks that fit their schemas, {block or block.entry: why it was left out}).

    Entries of ``samplers``, ``explore`` and ``diagnostics_by_data`` are checked one by one; an entry whose name is not
    one vaelab writes is left out too (a report embeds figures by these names)."""
    good: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for block, value in metrics.items():
        if block in ENTRY_SCHEMAS:
            if not isinstance(value, dict):
                notes[block] = f"{block} must be a JSON object; got {_short(value)}"
                continue
            kept = {}
            for key, entry in value.items():
                check = ENTRY_SCHEMAS[block](key)
                reason = f"{block}.{_short(key)} is not an entry vaelab writes" if check is None else check(entry, f"{block}.{key}")
                if reason is None:
                    kept[key] = entry
                else:
                    notes[f"{block}.{key}"] = reason
            good[block] = kept
        elif block in SCHEMAS:
            reason = SCHEMAS[block](value, block)
            if reason is None:
                good[block] = value
            else:
                notes[block] = reason
        else:
            good[block] = value
    return good, notes
