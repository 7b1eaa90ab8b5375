"""Validity / anomaly detection from per-example scores, calibrated on held-out data.

A new example's score (log p(x), the ELBO, or the reconstruction probability
E_q log p(x|z) of An & Cho 2015) is placed among the scores of the run's
validation split: its percentile, and a flag when it falls in the low tail
(one-sided) or outside a central band (two-sided). With known outliers,
:func:`anomaly_eval` measures the separation by AUROC and AUPRC.

Caveat from the literature: a likelihood model can give some out-of-distribution
data *higher* likelihood than its own data (Nalisnick et al. 2019, "Do deep
generative models know what they don't know?": SVHN under CIFAR-10 models).
An AUROC below 0.5 shows exactly that; check with the data you expect.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from vaelab.analysis.likelihood import SCORES, LikelihoodResult, overlapping, serial_stderr
from vaelab.analysis.reconstruction_error import ERROR_SCORES, ReconstructionResult
from vaelab.config import check_choice
from vaelab.errors import ConfigError, DataError
from vaelab.runtime import Z95

MIN_REFERENCE = 2  # validation scores a percentile is taken among, at the least


@dataclass
class Calibration:
    """Reference scores (validation split) for percentiles and thresholds."""

    scores: dict[str, np.ndarray]  # score name -> (M,) reference scores
    n_samples: int | None  # K used for log_px (None: a plain autoencoder's reconstruction error, drawn from nothing)

    @classmethod
    def from_result(cls, result: LikelihoodResult | ReconstructionResult) -> "Calibration":
        if len(result) < MIN_REFERENCE:
            raise DataError(f"Calibration needs at least {MIN_REFERENCE} validation examples; got {len(result)}.")
        return cls({name: np.sort(getattr(result, name)) for name in score_names(result)},
                   getattr(result, "n_samples", None))  # fmt: skip

    def _reference(self, score: str) -> np.ndarray:
        check_choice("score", score, tuple(self.scores))
        return self.scores[score]

    def percentile(self, score: str, values: np.ndarray) -> np.ndarray:
        """Where each value lies among the reference scores, in percent (0-100): the inverse of the linear
        interpolation :meth:`cut_offs` takes percentiles with (numpy's default), so a value is flagged below
        percentile p exactly when its own percentile is below p. The share of reference scores at or below
        the value (the empirical CDF) moves in steps of 100/M and disagreed with the rule on few validation
        examples ("at percentile 1.7 (below percentile 1)" on 60). Below the lowest score: 0; above the highest: 100."""
        ref = self._reference(score)
        if ref.size < 2:
            raise DataError(f"Percentiles need at least 2 reference scores; got {ref.size}.")
        position = np.interp(np.asarray(values, dtype=np.float64), ref, np.arange(ref.size, dtype=np.float64))
        return 100.0 * position / (ref.size - 1)

    def cut_offs(self, score: str, threshold: float = 1.0, band: tuple[float, float] | None = None) -> tuple[float, ...]:
        """The score values where the flag rule cuts: (low,) for the low tail, (low, high) for a band. For an error
        (:data:`ERROR_SCORES`, high is unusual) the tail of ``threshold`` percent is the upper one: (high,), the
        reference's percentile 100 - threshold."""
        ref = self._reference(score)
        if band is not None:
            low, high = band
            if not 0 <= low < high <= 100:
                raise ConfigError(f"band must be two percentiles 0 <= low < high <= 100; got {band}.")
            return tuple(float(v) for v in np.percentile(ref, [low, high]))
        if not 0 < threshold < 100:
            raise ConfigError(f"threshold must be a percentile between 0 and 100; got {threshold}.")
        return (float(np.percentile(ref, 100.0 - threshold if score in ERROR_SCORES else threshold)),)

    def flags(self, score: str, values: np.ndarray, threshold: float = 1.0, band: tuple[float, float] | None = None) -> np.ndarray:
        """True where a value is in the unusual tail of ``threshold`` percent (the low tail below that percentile;
        for an error, the high tail above percentile 100 - ``threshold``), or, with ``band=(low, high)``, outside the
        band between those percentiles of the reference."""
        cut = self.cut_offs(score, threshold, band)
        if band is not None:
            return (values < cut[0]) | (values > cut[1])
        return values > cut[0] if score in ERROR_SCORES else values < cut[0]


def score_names(result: LikelihoodResult | ReconstructionResult) -> tuple[str, ...]:
    """The scores a result holds: log_px, elbo and reconstruction (:data:`SCORES`) for a likelihood, a plain
    autoencoder's reconstruction_mse (:data:`ERROR_SCORES`)."""
    return tuple(getattr(result, "score_names", SCORES))


def anomalous(name: str, values: np.ndarray) -> np.ndarray:
    """Scores ``values`` of score ``name`` oriented so that high is anomalous: a likelihood negated (low is
    unusual), an error (:data:`ERROR_SCORES`) as it is."""
    values = np.asarray(values, dtype=np.float64)
    return values if name in ERROR_SCORES else -values


def false_flag_share(threshold: float = 1.0, band: tuple[float, float] | None = None,
                     n_reference: int | None = None) -> float:
    """The share of valid data (drawn like the validation split) a flag rule is expected to flag.

    The cut-off is percentile p of M reference scores (numpy's linear interpolation between the order
    statistics), and a new score falls below the k-th smallest of M with probability k/(M + 1); so below
    percentile p with about (1 + (M - 1) p/100)/(M + 1), exactly so at the order statistics themselves.
    That is p/100 only as M grows: on 60 validation scores percentile 1 flags 2.6%, and ``--band 0 100``
    flags 2/61, not the 1% and 0% the rule's own percentiles say (an audit). Without ``n_reference``: the
    limit, threshold/100 for the low tail, 1 - (high - low)/100 for a band."""

    def below(p: float) -> float:
        if n_reference is None:
            return p / 100.0
        return (1.0 + (n_reference - 1) * p / 100.0) / (n_reference + 1)

    if band is not None:
        return below(band[0]) + 1.0 - below(band[1])
    return below(threshold)


def anomaly_eval(inliers: LikelihoodResult | ReconstructionResult,
                 outliers: LikelihoodResult | ReconstructionResult) -> dict[str, dict[str, float]]:  # fmt: skip
    """AUROC and AUPRC of each score at telling outliers (the positive class) from inliers.

    Low scores mean anomalous, so each score is negated to rank outliers first; a plain autoencoder's
    reconstruction error (:data:`ERROR_SCORES`), where high is anomalous, ranks as it is.
    AUROC 0.5 is chance; below 0.5 the score ranks outliers as *more* typical. AUPRC's chance level is the share of
    outliers among the examples scored (``auprc_chance``): an AUPRC means nothing without it.
    """
    if len(inliers) == 0 or len(outliers) == 0:
        raise DataError(f"anomaly_eval needs inliers and outliers; got {len(inliers)} and {len(outliers)}.")
    truth = np.r_[np.zeros(len(inliers)), np.ones(len(outliers))]
    report = {}
    if score_names(inliers) != score_names(outliers):
        raise DataError(f"anomaly_eval compares the same scores of inliers and outliers; got {score_names(inliers)} "
                        f"and {score_names(outliers)}.")  # fmt: skip
    for name in score_names(inliers):
        anomaly = anomalous(name, np.r_[getattr(inliers, name), getattr(outliers, name)])
        auroc = _exact_auroc(float(roc_auc_score(truth, anomaly)), len(outliers), len(inliers))
        # Overlapping series windows: the classes count for fewer independent examples (design_effect); and where
        # the scores' own spread makes the AUROC vary more than Hanley & McNeil's formula says (delong_excess), fewer
        # again
        placements = _placements(anomalous(name, getattr(outliers, name)), anomalous(name, getattr(inliers, name)))
        deff = design_effect(placements, outliers.serial, inliers.serial)
        excess = delong_excess(auroc, placements)
        n1 = max(1.0, len(outliers) / (deff * excess["outliers"]))
        n0 = max(1.0, len(inliers) / (deff * excess["inliers"]))
        report[name] = {
            "auroc": auroc,
            "auroc_stderr": auroc_stderr(auroc, n1, n0),
            "auroc_interval": auroc_interval(auroc, n1, n0),
            "auprc": float(average_precision_score(truth, anomaly)),
            **auprc_interval(truth, anomaly, deff),
            "auprc_chance": len(outliers) / (len(outliers) + len(inliers)),  # a score that ranks at random
            "delong_excess": excess,
            **({"design_effect": deff} if overlapping(inliers.serial) or overlapping(outliers.serial) else {}),
        }
    return report


AUPRC_BOOTSTRAP = 1000  # stratified bootstrap replicates of the AUPRC
AUPRC_SEED = 0  # the bootstrap's seed: the same scores give the same interval


def _weighted_average_precision(truth: np.ndarray, anomaly: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sklearn's average precision, Σ_k (R_k - R_(k-1)) P_k over the distinct thresholds, for each row of
    ``weights`` (B, n): how many times each example counts (a bootstrap's counts; all ones give sklearn's value)."""
    order = np.argsort(-anomaly, kind="stable")
    t, sorted_scores = truth[order], anomaly[order]
    ends = np.r_[np.flatnonzero(np.diff(sorted_scores)), t.size - 1]  # the last example of each tied group
    w = weights[:, order]
    tp = np.cumsum(w * t, axis=1)[:, ends]
    called = np.cumsum(w, axis=1)[:, ends]
    precision = np.divide(tp, called, out=np.zeros_like(tp), where=called > 0)
    recall = tp / tp[:, -1:]
    return (np.diff(recall, axis=1, prepend=0.0) * precision).sum(1)


def auprc_interval(truth: np.ndarray, anomaly: np.ndarray, design: float = 1.0) -> dict[str, object]:
    """A 95% interval and SE for the AUPRC (sklearn's average precision) of ``anomaly`` scores (high: outlier) against
    ``truth`` (1: outlier): a stratified bootstrap (outliers and inliers resampled apart, as they were given apart;
    AUPRC_BOOTSTRAP replicates, seeded), its percentile interval. Where overlapping windows make the classes count
    for fewer independent examples (``design``, the AUROC's :func:`design_effect`), the interval and SE widen by
    its square root about the estimate. As a mean over the outliers of values in [0, 1] (the precision at each
    one's rank), it is never surer than Wilson's interval for a share of as many (effective) outliers: at complete
    separation every replicate gives 1, and "[1.000, 1.000]" would claim certainty from a few outliers."""
    from vaelab.analysis.comparison import binomial_floor, wilson_interval

    truth = np.asarray(truth, dtype=np.float64)
    anomaly = np.asarray(anomaly, dtype=np.float64)
    ap = float(_weighted_average_precision(truth, anomaly, np.ones((1, truth.size)))[0])
    pos, neg = np.flatnonzero(truth == 1), np.flatnonzero(truth == 0)
    rng = np.random.default_rng(AUPRC_SEED)
    step = max(1, 2_000_000 // truth.size)  # replicates per block: bounds memory
    reps = []
    for s in range(0, AUPRC_BOOTSTRAP, step):
        b = min(step, AUPRC_BOOTSTRAP - s)
        w = np.zeros((b, truth.size))
        w[:, pos] = rng.multinomial(pos.size, np.full(pos.size, 1.0 / pos.size), size=b)
        w[:, neg] = rng.multinomial(neg.size, np.full(neg.size, 1.0 / neg.size), size=b)
        reps.append(_weighted_average_precision(truth, anomaly, w))
    boot = np.concatenate(reps)
    widen = float(np.sqrt(max(design, 1.0)))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    lo, hi = max(0.0, ap - widen * (ap - lo)), min(1.0, ap + widen * (hi - ap))
    n_eff = max(1.0, pos.size / max(design, 1.0))
    floor_lo, floor_hi = wilson_interval(ap, int(round(n_eff)), Z95)
    se = max(widen * float(boot.std(ddof=1)), binomial_floor(ap, int(round(n_eff))))
    return {"auprc_stderr": se, "auprc_interval": [float(min(lo, floor_lo)), float(max(hi, floor_hi))],
            "auprc_interval_method": f"stratified bootstrap ({AUPRC_BOOTSTRAP} replicates), at least Wilson's interval "
                                     "for a share of as many outliers"}  # fmt: skip


def _placements(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al.'s (1988) placement values, ties counted half: V10 of each positive (the share of negatives below
    it) and V01 of each negative (the share of positives above it); their means are the AUROC."""
    neg_sorted, pos_sorted = np.sort(negative), np.sort(positive)
    v10 = (np.searchsorted(neg_sorted, positive, "left") + np.searchsorted(neg_sorted, positive, "right")) / (2 * len(negative))
    v01 = 1 - (np.searchsorted(pos_sorted, negative, "left") + np.searchsorted(pos_sorted, negative, "right")) / (2 * len(positive))
    return v10, v01


def delong_excess(auroc: float, placements: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """For each class, how many times its term of DeLong et al.'s (1988) variance of the AUROC, from the scores
    themselves, exceeds the same term of Hanley & McNeil's (1982) formula at that AUROC; at least 1. DeLong's
    var(V10)/n1 (the outliers' placements) estimates Hanley & McNeil's (Q2 - A²)/n1 and var(V01)/n0 their
    (Q1 - A²)/n0, where Q1 = A/(2 - A) and Q2 = 2A²/(1 + A) hold for exponential scores only: on binormal ones at
    AUROC 0.96 with 200 outliers and 60 inliers the formula's 95% interval held the truth 91% of the time (an
    audit, s11 d), 82% with 300 and 40. Each class size divided by its ratio, it held it 96-99% of the time on
    binormal and exponential scores alike (BENCHMARKS.md, "Tenth pass"); where the formula is wide enough the
    ratio is 1 and nothing changes. 1 at complete separation and for fewer than 2 per class. ``placements``: the
    outliers' V10 and the inliers' V01 (:func:`_placements`)."""
    ones = {"outliers": 1.0, "inliers": 1.0}
    v10, v01 = placements
    if len(v10) < 2 or len(v01) < 2:
        return ones
    a = float(auroc)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    for key, v, q in (("outliers", v10, q2), ("inliers", v01, q1)):
        empirical, formula = float(v.var(ddof=1)), q - a * a
        if empirical > 0 and formula > 0:
            ones[key] = max(1.0, empirical / formula)
    return ones


def design_effect(placements: tuple[np.ndarray, np.ndarray], serial_pos, serial_neg) -> float:
    """How many times the AUROC's variance grows when neighbouring examples are correlated (a series run's
    overlapping windows, :attr:`LikelihoodResult.serial`): DeLong et al.'s (1988) variance, var(V₁₀)/n₁ +
    var(V₀₁)/n₀ over the placement values (the share of the other class each example outranks), with each
    class's term taken over overlapping windows (:func:`serial_stderr`). At least 1 (never narrower than
    for independent examples), nor below a class's windows over the most of them that share no step (:func:`apart`);
    1 without overlap. Hanley and McNeil's SE and interval then take n / effect
    examples per class (an audit: 414 windows of 450 rows gave AUROC 0.995 to 1.000 as if independent).
    ``placements``: the positives' V10 and the negatives' V01 (:func:`_placements`)."""
    v10, v01 = placements
    if not (overlapping(serial_pos) or overlapping(serial_neg)) or len(v10) < 2 or len(v01) < 2:
        return 1.0
    # Never below the overlap's own effect: a class cannot hold more independent windows than it holds windows that
    # share no step (lag + 1 apart in one series). The placement values cannot show it where the classes are (nearly)
    # separated, nor a long-run variance from about lag windows (its autocovariances sum to about 0): an audit, 21
    # windows of a 50-row file against 51 of an 80-row one (window 30) read AUROC 1.000 [0.956, 1.000] as if 72
    # independent windows, and such intervals held the true AUROC (0.90) 75 times in 300.
    floor = max(len(v) / apart(serial) if overlapping(serial) else 1.0
                for v, serial in ((v10, serial_pos), (v01, serial_neg)))  # fmt: skip
    iid = v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01)
    if iid <= 0:  # complete separation: no spread to scale, only the overlap's own effect
        return max(1.0, floor)
    hac = sum(v.var(ddof=1) / len(v) if not overlapping(serial) else serial_stderr(v, *serial) ** 2
              for v, serial in ((v10, serial_pos), (v01, serial_neg)))  # fmt: skip
    return max(1.0, floor, float(hac / iid))


def apart(serial: tuple[np.ndarray, int]) -> int:
    """How many of a class's overlapping windows share no step with each other at most: per series (``serial``: each
    window's series, in time order, and how many windows apart two still share a step) one in every lag + 1."""
    groups, lag = np.asarray(serial[0]), int(serial[1])
    _, sizes = np.unique(groups, return_counts=True)
    return int(np.ceil(sizes / (lag + 1)).sum())


def auroc_stderr(auroc: float, n_positive: float, n_negative: float) -> float:
    """Standard error of an AUROC from its value and the class sizes (Hanley & McNeil 1982, eq. 2):
    SE² = [A(1-A) + (n₁-1)(Q₁-A²) + (n₀-1)(Q₂-A²)] / (n₁ n₀), Q₁ = A/(2-A), Q₂ = 2A²/(1+A)."""
    a = float(auroc)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_positive - 1) * (q1 - a * a) + (n_negative - 1) * (q2 - a * a)) / (n_positive * n_negative)
    return float(np.sqrt(max(var, 0.0)))


def auroc_interval(auroc: float, n_positive: float, n_negative: float, z: float = Z95) -> list[float]:
    """A 95% interval for an AUROC: the values A with (A - AUROC)² <= z² SE(A)², the Hanley-McNeil SE taken at A
    itself (a score interval, as Wilson's for a proportion; Newcombe 2006, Stat. Med. 25:559, method 5 uses the
    same idea). Close to AUROC ± z SE inside (0, 1); where every outlier outranks every inlier (AUROC 1) the SE at
    the estimate is 0 and ± z SE collapsed to "[1.000, 1.000]" (an audit), while this interval keeps the
    uncertainty of few examples: AUROC 1 on 5 and 5 gives 0.64 to 1."""
    from scipy.optimize import brentq

    a = float(auroc)
    gap = lambda x: (x - a) ** 2 - z**2 * auroc_stderr(x, n_positive, n_negative) ** 2  # noqa: E731  <= 0 inside
    ends = []
    for edge, inner in ((0.0, max(a - 1e-9, 0.0)), (1.0, min(a + 1e-9, 1.0))):
        if gap(edge) <= 0:
            ends.append(edge)  # the interval reaches 0 (or 1)
        elif gap(inner) <= 0:
            ends.append(float(brentq(gap, *sorted((edge, inner)))))
        else:
            ends.append(a)
    return ends


def _exact_auroc(auroc: float, n_positive: int, n_negative: int) -> float:
    """The AUROC as the rank statistic it is, U / (n1 n0) with ties counting 1/2: a multiple of 1 / (2 n1 n0), to
    which sklearn's trapezoid sum is rounded back (an audit: identical inliers and outliers, 11 of each, gave
    0.49999999999999994, read as "AUROC below 0.5"). Sets too big for that grid in a float are left as given."""
    grid = 2.0 * n_positive * n_negative
    return float(round(auroc * grid) / grid) if grid < 2.0**50 else auroc


def auroc_reading(scores: dict[str, dict[str, float]], left_out: tuple[int, int] = (0, 0),
                  filled: tuple[int, int] = (0, 0), given: tuple[int, int] = (0, 0)) -> str | None:  # fmt: skip
    """What the AUROCs below 0.5 say, with their intervals: a score that ranks the outliers as *more*
    typical (interval wholly below 0.5), or one no better than chance (interval holding 0.5); and, with
    ``left_out`` = (inliers, outliers) rows that hold cells a table run could not encode, that those rows are
    scored on fewer terms; with ``filled`` = (inliers, outliers) windows of a series whose missing or unreadable
    values were interpolated, that they are scored on the filled values; with ``given`` = (inliers, outliers) rows
    of a conditional table run whose condition values no training row holds, that they are scored given another
    condition. None when every AUROC is at least 0.5 and no example left cells out, was filled or given another
    condition."""
    out = []
    if any(left_out):
        out.append(f"{left_out[1]} outlier(s) and {left_out[0]} inlier(s) hold what training never had (an unseen "
                   "category, a missing value where training had none, a value not of its column's kind or infinite, "
                   "or one too far out for the model's float32 likelihood): those cells are left out of log p(x), so "
                   "such a row is scored on fewer terms and looks more typical than it is. vaelab score flags each "
                   "of them with its reason.")  # fmt: skip
    if any(filled):
        out.append(f"{filled[1]} outlier window(s) and {filled[0]} inlier window(s) hold missing, infinite or "
                   "non-numeric values, interpolated in time to score them: they are scored on the filled values, "
                   "which may look more ordinary than what arrived. vaelab score flags each of them with its reason.")  # fmt: skip
    if any(given):
        out.append(f"{given[1]} outlier(s) and {given[0]} inlier(s) hold condition values no training row holds (or "
                   "lack one): each is scored given the most frequent trained condition, not its own. vaelab score "
                   "flags each of them with its reason.")  # fmt: skip
    below = {k: v for k, v in scores.items() if v["auroc"] < 0.5}
    if not below:
        return " ".join(out) or None
    def say(k, v):
        lo, hi = v.get("auroc_interval") or (v["auroc"], v["auroc"])
        return f"{k} {v['auroc']:.3f} (95% interval {lo:.3f} to {hi:.3f})"
    worse = [say(k, v) for k, v in below.items() if (v.get("auroc_interval") or [0, v["auroc"]])[1] < 0.5]
    chance = [say(k, v) for k, v in below.items() if (v.get("auroc_interval") or [0, v["auroc"]])[1] >= 0.5]
    if worse:
        why = ("the cells left out above are one cause" if left_out[1] else
               "the interpolated values above may be one cause" if filled[1] else
               # a plain autoencoder's error: it reconstructs some unfamiliar inputs (simpler ones) better than its own
               "as an autoencoder can reconstruct simple inputs it never saw better than its own data"
               if all(k in ERROR_SCORES for k in below) else
               "as Nalisnick et al. (2019) found for likelihoods of deep generative models")
        out.append(f"AUROC below 0.5 for {'; '.join(worse)}: that score finds the outliers *more* typical than the "
                   f"inliers, {why}.")  # fmt: skip
    if chance:
        out.append(f"AUROC below 0.5 but within chance for {'; '.join(chance)}: that score does not tell these "
                   "outliers from the inliers.")  # fmt: skip
    return " ".join(out)
