"""``vaelab score``: log p(x) of every example, placed among the validation scores.

A plain autoencoder (a deterministic encoder: ``Model.deterministic_``) has no log p(x) to estimate; its
examples are scored by their reconstruction error instead (:mod:`vaelab.analysis.reconstruction_error`,
``reconstruction_mse``, higher is more unusual), placed among the validation split's errors the same way.

Data is named by a spec (:meth:`vaelab.runs.run.Run.resolve`): ``train``, ``val`` or
``test`` for the run's own split, or anything :func:`load_dataset` reads. Thresholds
are calibrated on the run's validation split; those reference scores are cached in
``RUN/calibration.safetensors`` (keyed by K, seed, the data's fingerprint, a hash of
the model's weights and of the user's code it runs) so scoring many files estimates them
once, and a retrained, resumed or edited model never reuses another's.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaelab.analysis.anomaly import MIN_REFERENCE, Calibration, false_flag_share
from vaelab.analysis.likelihood import BINARIZATIONS, SCORES, LikelihoodResult, bits_per_dim_scale, overlapping
from vaelab.analysis.reconstruction_error import ERROR_SCORES, RECONSTRUCTION_MSE, ReconstructionResult, reconstruction_mse_what
from vaelab.checkpoint import CALIBRATION
from vaelab.config import check_choice, check_count, check_number
from vaelab.data.split import indices
from vaelab.errors import ConfigError, RunError
from vaelab.files import write_output
from vaelab.progress import named_pass
from vaelab.report.figures import png_bytes, save_png, score_histogram
from vaelab.runs.run import Run, Specs, is_split
from vaelab.runtime import most_in_memory

DRAWS = "per-example-streams"  # how scores draw their randomness (vaelab.data.streams); part of the cache key
Progress = Callable[[int, int], None] | None
# Importance samples per example: beyond this the Monte Carlo error (falling as 1/sqrt(K)) is far below
# the error over examples, and the time is wasted.
MAX_SAMPLES = 100_000
# Binarizations averaged per grey example: each costs a full K-sample estimate, and the spread between
# them is pinned down well long before this.
MAX_BINARIZATIONS = 256
# Below this effective sample size of the importance weights one or a few draws carry an example's estimate: its
# log p(x) is likely too low and its standard error too small (the delta-method SE cannot exceed ~1 nat).
LOW_ESS = 10.0
LOW_ESS_SHARE = 0.1  # ... or this share of K, when K is small (K = 20: 2 draws; an ESS of 8 is 40% of K, not few)
SAMPLES_WHY = "more importance samples than this change no estimate measurably (the error falls as 1/sqrt(K))"


@dataclass
class Scored:
    """Per-example scores of one data set, placed among the validation scores."""

    name: str  # the data spec, as given
    result: LikelihoodResult | ReconstructionResult  # a plain autoencoder's: its reconstruction errors
    percentile: np.ndarray | None  # None when the run has no validation split
    flag: np.ndarray | None  # the threshold's flags, and every example with a reason
    score: str
    false_flag_share: float | None = None  # the share of valid data the flag rule is expected to flag
    reference: dict[str, Any] | None = None  # the validation reference for the rule (reference_facts); None without one
    rule: str = ""  # the flag rule in words
    figure: Path | None = None  # the histogram of the scores with the rule's cut-offs
    reason: list[str] | None = None  # per example: why it is flagged ("" when it is not)
    remarks: tuple[str, ...] = ()  # about the file as a whole (a table file's columns the run does not model)
    new: np.ndarray | None = None  # per example: it holds what training never had (a table's new category, a series' missing value or value out of range)
    keys: dict[str, tuple] | None = None  # per example: which one it is (a series file's window: series, start, end)
    conditional: bool = False  # a conditional model: log_px is log p(x|y), each example given its label
    trained_elsewhere: bool = False  # an adopted model: advice names adopt's options, not train's
    no_flags: str = ""  # why there are no percentiles and flags (no validation split, or too small a one)
    bits_per_dim_scale: str | None = None  # what bits/dim measure, where that needs saying (likelihood.bits_per_dim_scale)
    deterministic: bool = False  # the model is a plain autoencoder (its reconstruction errors are its only scores)

    @property
    def plain(self) -> bool:
        """A plain autoencoder's scores: reconstruction errors, no log p(x) (no bits/dim, no importance draws)."""
        return isinstance(self.result, ReconstructionResult)

    def to_frame(self):
        frame = self.result.to_frame()
        for i, (name, values) in enumerate((self.keys or {}).items()):  # first, beside the example's number
            frame.insert(i, name, list(values))
        if not self.plain:
            frame["bits_per_dim"] = self.result.bits_per_dim
        frame["percentile"] = self.percentile if self.percentile is not None else np.nan
        if self.percentile is None:  # no threshold: a row is not "not flagged" by it (an empty cell); a row holding
            # what training never had is flagged all the same (an audit, s15: every flag was False, the CLI said none)
            held = self.new if self.new is not None else np.zeros(len(frame), dtype=bool)
            frame["flag"] = pd.array([True if h else pd.NA for h in held], dtype="boolean")
        else:
            frame["flag"] = self.flag
        frame["reason"] = self.reason if self.reason is not None else ""
        if not self.plain:
            frame["ess"] = self.result.effective_sample_size()  # the importance weights' effective sample size
        return frame

    @property
    def few_draws_limit(self) -> float:
        """The effective sample size below which an estimate rests on few draws: LOW_ESS, or LOW_ESS_SHARE of K."""
        return min(LOW_ESS, LOW_ESS_SHARE * self.result.n_samples) if not self.plain else 0.0

    def few_draws(self) -> np.ndarray:
        """Examples whose log p(x) rests on fewer than :attr:`few_draws_limit` effective importance draws."""
        if self.plain:  # no draws
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.result.effective_sample_size() < self.few_draws_limit)


def check_flag_rule(threshold: float | None, band: tuple[float, float] | None) -> float:
    """The flag rule, checked before any scoring: a threshold percentile in (0, 100), or a band
    0 <= low < high <= 100; not both. Returns the threshold (1 when neither is given)."""
    if band is not None:
        if threshold is not None:
            raise ConfigError("Give --threshold PCT (flag the low tail) or --band LOW HIGH (flag outside a band), "
                              "not both: a band replaces the threshold.")  # fmt: skip
        if not isinstance(band, (tuple, list)) or len(band) != 2:
            raise ConfigError(f"--band takes two percentiles LOW HIGH; got {band!r:.80}.")
        low = check_number("--band LOW", band[0], 0, 100, unit=" (a percentile)")
        high = check_number("--band HIGH", band[1], 0, 100, unit=" (a percentile)")
        if not low < high:
            raise ConfigError(f"--band LOW HIGH needs LOW < HIGH; got {low:g} {high:g}.")
        return 1.0
    if threshold is None:
        return 1.0
    return check_number("--threshold", threshold, 0, 100, low_open=True, high_open=True, unit=" (a percentile)")


def reference_facts(n: int, serial: tuple[np.ndarray, int] | None, threshold: float,
                    band: tuple[float, float] | None, upper: bool = False) -> dict[str, Any]:  # fmt: skip
    """How much the validation reference (``n`` scores; ``serial``: each one's series and how many windows apart two
    still share a step, :attr:`Dataset.serial`) holds for the flag rule: its size, its independent examples (windows
    of a series that share no step, per series ceil(windows / (lag + 1)); every example where none overlap) and,
    where a tail of the rule holds less than one independent reference example (independent × tail share < 1), a
    note that its cut-off is about the reference's extreme, so the flags say little (an audit: percentile 1 of 31
    overlapping validation windows, 2 independent, was their minimum, and flagged 45% of a seasonal run's test
    windows, nothing saying how thin the reference was). ``upper``: the threshold's tail is the upper one (a plain
    autoencoder's reconstruction error), so its cut-off is about the reference's maximum."""
    windows = overlapping(serial)
    if windows:
        _, sizes = np.unique(np.asarray(serial[0]), return_counts=True)
        independent = int(np.ceil(sizes / (int(serial[1]) + 1)).sum())
    else:
        independent = int(n)
    out: dict[str, Any] = {"reference_size": int(n), "reference_independent": independent}
    tails = [t for t in ((band[0], 100.0 - band[1]) if band else (threshold,)) if t > 0]
    if tails and independent * min(tails) / 100.0 < 1.0:
        what = "windows" if windows else "examples"
        of = (f", of which at most {independent} share no step (windows up to {int(serial[1])} apart share steps)"
              if windows else "")  # fmt: skip
        rule = f"a tail of {min(tails):g}%" if band else f"percentile {threshold:g}"
        out["reference_note"] = (
            f"the validation reference is too thin for {rule}: {n} {what}{of}, so less than one independent one "
            f"({independent * min(tails) / 100:.2g}) lies beyond the cut-off, which is about the reference's "
            f"{'extremes' if band else 'maximum' if upper else 'minimum'}: the flags say little. Use {'tails' if band else 'a percentile'} of "
            f"at least {min(math.ceil(100.0 / max(independent, 1)), 50)}{'%' if band else ''} or a larger validation "
            "split (--val-fraction)")  # fmt: skip
    return out


def calibration(run: Run, n_samples: int, progress: Progress = None,
                binarizations: int = BINARIZATIONS) -> Calibration | None:  # fmt: skip
    """Validation-split reference scores, from the cache or estimated now (and cached); None without a split."""
    cal, save = estimated_calibration(run, n_samples, progress, binarizations)
    save()
    return cal


def no_calibration(run: Run) -> str | None:
    """Why the run has no validation reference for percentiles and flags (None: it has one)."""
    data = run.config.data
    if data is None or data.source == "array" or data.val_fraction == 0:
        return "no validation split in this run"
    n_val = int(indices(run.data(lazy=True)[1], "val").size)
    if n_val < MIN_REFERENCE:  # a percentile among one score is no percentile (an audit: score failed on it)
        return (f"the run's validation split holds {n_val} example{'' if n_val == 1 else 's'} (percentiles need at "
                f"least {MIN_REFERENCE}; train or adopt with more data or a larger --val-fraction)")
    return None


def estimated_calibration(run: Run, n_samples: int, progress: Progress = None, binarizations: int = BINARIZATIONS
                          ) -> tuple[Calibration | None, Callable[[], None]]:  # fmt: skip
    """:func:`calibration`, and what writes its cache: a command calls it once the rest of its work is done,
    so a command that fails leaves the run as it was."""
    model, data = run.model, run.config.data
    if no_calibration(run) is not None:
        return None, lambda: None
    # "draws" names how the random draws are made: caches from before per-example streams are stale;
    # "weights" the model they were computed with (train --resume changes it); "units": scores in the
    # data's own units (a table's log-Jacobian included; "data+series": a series run's too, since issue 17's audit).
    key = {"n_samples": str(n_samples), "seed": str(model.seed), "fingerprint": data.fingerprint,
           "binarizations": str(binarizations), "draws": DRAWS, "weights": run.model_digest(),
           "units": "data+series"}  # fmt: skip
    code = run.code_digest()  # the user's code the model runs (an adopted PyTorch half, a custom network): it can change
    if code is not None:  # under the same SPEC and weights (an audit, s14)
        key["code"] = code
    if run.kind.untrained_labels:  # rows of them given trained conditions since an audit (s11 c): older caches stale
        key["conditions"] = "trained"
    if run.dir.file(CALIBRATION).is_file():
        try:
            arrays, metadata = run.dir.read_arrays(CALIBRATION)
            if all(metadata.get(k) == v for k, v in key.items()) and set(SCORES) <= set(arrays):
                return Calibration({k: arrays[k] for k in SCORES}, n_samples), lambda: None
        except RunError:
            pass  # a damaged cache (a failed checksum too) is estimated again and overwritten
    progress = named_pass(progress, "validation reference")
    val = run.kind.given_trained(run.split("val", lazy=True))  # scored as the rows it is a reference for
    cal = Calibration.from_result(run.log_likelihood(val, n_samples, progress=progress, binarizations=binarizations))
    return cal, lambda: run.dir.write_arrays(CALIBRATION, cal.scores, key)


def plain_options(run: Run, score: str | None, n_samples: int | None, binarizations: int | None,
                  chunk_size: int | None = None) -> str:  # fmt: skip
    """The score a run's model is scored by, its options checked against it before any work: a plain autoencoder
    (a deterministic encoder) is scored by ``reconstruction_mse`` and refuses what only an importance-sampled
    log p(x) takes (``--score log_px|elbo|reconstruction``, ``--n-samples``, ``--binarizations``,
    ``--chunk-size``); a VAE takes ``reconstruction_mse`` on request (at its posterior mean, which draws nothing: the
    same options are refused), on an image/vector run only. ``None`` for ``score``: the model's default."""
    if not run.model.deterministic_:
        if score not in ERROR_SCORES:
            return "log_px" if score is None else score
        if run.kind.name != "array":  # a table's one-hot and scaled columns, a series' scaled windows: no data units
            raise ConfigError(f"--score {score} is a squared error over the model's inputs; the model of {run.dir.path} "
                              f"is {run.kind.description}, whose inputs are encoded ("
                              + {"table": "one-hot categories and scaled numbers",
                                 "series": "scaled windows"}.get(run.kind.name, "not the data's values")
                              + "), so the error would be in no unit of the data. Use --score "
                              f"{', '.join(SCORES[:-1])} or {SCORES[-1]} (reconstruction: the reconstruction probability "
                              "E_q log p(x|z)).")  # fmt: skip
        why = (f"--score {RECONSTRUCTION_MSE} decodes each example's posterior mean, which draws nothing (log p(x), "
               "the default --score log_px, is what draws)")  # fmt: skip
    else:
        why = (f"the model of {run.dir.path} is a plain autoencoder (a deterministic encoder, no q(z|x) variance), "
               f"scored by its reconstruction error ({RECONSTRUCTION_MSE}), which draws nothing")  # fmt: skip
    if score in SCORES:  # a plain autoencoder's (a VAE's were returned above)
        raise ConfigError(f"--score {score} needs log p(x) estimated by importance sampling from q(z|x), which needs "
                          f"its variance; {why}. Drop it, or use --score {RECONSTRUCTION_MSE}.")  # fmt: skip
    for flag, value in (("--n-samples", n_samples), ("--binarizations", binarizations), ("--chunk-size", chunk_size)):
        if value is not None:
            raise ConfigError(f"{flag} sets how log p(x) is estimated by importance sampling; {why}. Drop it.")
    return RECONSTRUCTION_MSE


def plain_calibration(run: Run, progress: Progress = None) -> Calibration | None:
    """A plain autoencoder's validation reference: the reconstruction errors of the run's validation split (one
    pass, no draws, so not cached); None without a split."""
    if no_calibration(run) is not None:
        return None
    val = run.kind.given_trained(run.split("val", lazy=True))
    return Calibration.from_result(run.reconstruction_error(val, progress=named_pass(progress, "validation reference")))


def score(
    run_path: str | os.PathLike,
    spec: str = "test",
    *,
    n_samples: int | None = None,
    binarizations: int | None = None,
    score: str | None = None,
    threshold: float | None = None,
    band: tuple[float, float] | None = None,
    labels: str | None = None,
    label_column: str | None = None,
    chunk_size: int | None = None,
    out: str | os.PathLike | None = None,
    progress: Progress = None,
    specs: Specs | None = None,
) -> Scored:
    """Score every example of ``spec``; write ``out`` (CSV) and, for the test split, metrics.json.

    Flags: scores below the ``threshold`` percentile (default 1) of the validation scores, or with
    ``band=(low, high)`` outside that band; the two are exclusive. ``score`` (default ``log_px``): what is
    thresholded. A plain autoencoder is scored by its reconstruction error, ``reconstruction_mse`` (high is
    unusual: the threshold's tail is then the upper one, above percentile 100 - ``threshold``), and takes no
    ``n_samples``, ``binarizations`` or ``chunk_size`` (default ``n_samples``: 1000). A VAE of an image/vector run is
    scored so with ``score="reconstruction_mse"`` (z its posterior mean), its block ``reconstruction_error`` beside
    ``likelihood`` and its histogram ``figures/score_DATA_reconstruction_mse.png``."""
    if score is not None:
        check_choice("score", score, SCORES + ERROR_SCORES)
    asked_rule = threshold is not None
    threshold = check_flag_rule(threshold, band)
    if n_samples is not None:
        check_count("--n-samples", n_samples, MAX_SAMPLES, SAMPLES_WHY)
    asked = binarizations is not None  # None: the default, which every model takes
    if asked:
        check_count("--binarizations", binarizations, MAX_BINARIZATIONS, "each binarization costs a whole "
                    "K-sample estimate, and their spread is measured well long before this")  # fmt: skip
    run = Run(run_path, specs)
    score = plain_options(run, score, n_samples, binarizations, chunk_size)
    unavailable = no_calibration(run)
    if unavailable is not None and (asked_rule or band is not None):  # nothing could be flagged by it (an audit, s15)
        option = "--band" if band is not None else "--threshold"
        raise ConfigError(f"{option} places scores among the run's validation scores, and {run_path} has none "
                          f"({unavailable}), so it could flag nothing. Drop it: score gives the scores without "
                          "percentiles or flags.")  # fmt: skip
    plain = score in ERROR_SCORES
    n_samples = 1000 if n_samples is None else n_samples
    binarizations = BINARIZATIONS if binarizations is None else binarizations
    run.check_folders()  # the histogram goes to figures/
    run.refuse_unused_labels(labels, label_column)
    if asked and run.model.evaluation_seed() is None:  # an option that cannot apply is refused, not ignored (an audit)
        raise ConfigError(f"--binarizations (binarizations=) averages log p over binarizations of grey examples, for "
                          f"a model that scores binarized data; the model of {run_path} scores its inputs as they are "
                          f"({run.config.model.likelihood} likelihood). Drop it.")  # fmt: skip
    if chunk_size is not None:  # (sample, example) pairs decoded at once: each holds one decoded example
        check_count("--chunk-size", chunk_size, most_in_memory(16 * run.n_features), "the decoder's "
                    "outputs for that many (sample, example) pairs would not fit in memory")  # fmt: skip
    if out is not None:  # checked before any work; a missing folder is made when it is written, as sample does
        out = run.check_output(out, inputs=() if is_split(spec) else (spec,))
        if out.suffix.lower() != ".csv":  # a scores.tsv or .parquet would have been CSV text under that name
            raise ConfigError(f"--out (out=) is written as CSV and must end in .csv; got {out.name!r}.")
    dataset = run.dataset_of(spec, labels, label_column, lazy=True)  # scored block by block
    if plain:  # a plain autoencoder: its reconstruction errors, among the validation split's
        result = run.reconstruction_error(dataset, progress=progress)
        cal, save_calibration = plain_calibration(run, progress), lambda: None
    else:
        options = {} if chunk_size is None else {"chunk_size": chunk_size}
        result = run.log_likelihood(dataset, n_samples, progress=progress, binarizations=binarizations, **options)
        cal, save_calibration = estimated_calibration(run, n_samples, progress, binarizations)
    values = getattr(result, score)
    percentile = None if cal is None else cal.percentile(score, values)
    flag = None if cal is None else cal.flags(score, values, threshold, band)
    # an error's unusual tail is its upper one (the worst-reconstructed threshold percent)
    tail = f"above percentile {100 - threshold:g}" if plain else f"below percentile {threshold:g}"
    rule = (f"outside the {band[0]:g}-{band[1]:g} percentile band" if band else tail) + " of the validation split"
    reason = [""] * len(result) if dataset.reasons is None else list(dataset.reasons)
    new = np.array([bool(r) for r in reason], dtype=bool)
    for i in np.flatnonzero(flag) if flag is not None else ():
        scored_as = f"{score} at percentile {percentile[i]:.1f} ({rule})"
        reason[i] = scored_as + ("; " + reason[i] if reason[i] else "")
    if new.any():  # what training never had is flagged whatever its score
        flag = new if flag is None else flag | new
    for i, note in enumerate(dataset.notes or ()):  # said, not flagged
        if note:
            reason[i] = f"{reason[i]}; {note}" if reason[i] else note
    scored = Scored(spec, result, percentile, flag, score,
                    false_flag_share=None if cal is None else false_flag_share(threshold, band, cal.scores[score].size),
                    rule=f"{score} {rule}", reason=reason, new=new, remarks=dataset.remarks, keys=dataset.keys,
                    conditional=run.model.classes_ is not None,
                    reference=None if cal is None else reference_facts(cal.scores[score].size,
                                                                       run.split("val", lazy=True).serial, threshold,
                                                                       band, upper=plain),
                    trained_elsewhere=run.model.trained_elsewhere, no_flags=unavailable or "",
                    deterministic=bool(run.model.deterministic_),
                    bits_per_dim_scale=None if plain or not result.normalized else bits_per_dim_scale(run.model))  # fmt: skip
    cut = () if cal is None else cal.cut_offs(score, threshold, band)
    fig = score_histogram(values, None if cal is None else cal.scores[score], score, cut, scored.rule,
                          f"{score} of {spec}" + (" (a squared error, not a log-likelihood)" if plain else
                                                  "" if result.normalized else " (not a density: a cross-entropy)"),
                          unit="the data's units squared" if plain else "nats")  # fmt: skip
    if out is not None:  # first: a write that fails here leaves the run as it was
        buf = io.StringIO()
        scored.to_frame().to_csv(buf, index_label="example", float_format="%.6g")
        write_output(Path(out), buf.getvalue().encode())
    save_calibration()
    # a VAE's reconstruction errors beside its log p(x): a figure of their own, not the likelihood block's
    scored.figure = run.figure(f"score_{data_slug(spec)}{'' if scored.deterministic or not plain else '_' + score}.png")
    if spec != "test":
        save_png(fig, scored.figure)
    else:  # the histogram with the block, under the run's lock: two scores at once leave one's pair
        summary = result.summary()
        flags = {  # what the flag rule did, as both blocks say it
            "n_examples": summary["n_examples"], "conditional": scored.conditional,
            "flag_rule": scored.rule if cal is not None else None, "false_flag_share": scored.false_flag_share,
            "flagged_share": None if scored.flag is None else float(scored.flag.mean()),
            # of them, those flagged whatever their score, for holding what training never had (none: no key)
            **({"n_flagged_new": int(new.sum())} if scored.flag is not None and new.any() else {}),
            **(scored.reference or {}),
            "figure": f"figures/{scored.figure.name}",
        }  # fmt: skip
        if plain:  # no log p(x) (or a VAE's asked for): a block of its own, named for what it holds
            block = {"reconstruction_error": {
                "score": score, "what": reconstruction_mse_what(scored.deterministic),
                "deterministic": scored.deterministic,  # False: a VAE's, z its posterior mean (its log p(x) is likelihood's)
                "test_reconstruction_mse": summary["reconstruction_mse"],
                "test_reconstruction_mse_stderr": summary["reconstruction_mse_stderr"],
                "test_reconstruction_mse_stderr_method": summary["reconstruction_mse_stderr_method"],
                **({"test_reconstruction_mse_stderr_approximate": summary["reconstruction_mse_stderr_approximate"]}
                   if "reconstruction_mse_stderr_approximate" in summary else {}),
                **flags}}  # fmt: skip
        else:  # conditional True: the NLL is -log p(x|y), each example given its label
            block = {"likelihood": {
                "test_nll": summary["nll"], "test_nll_stderr": summary["nll_stderr"],
                "test_nll_stderr_method": summary["nll_stderr_method"],
                **({"test_nll_stderr_approximate": summary["nll_stderr_approximate"]}
                   if "nll_stderr_approximate" in summary else {}),  # few windows: the interval is approximate
                "test_nll_mc_stderr": summary["nll_mc_stderr"], "bits_per_dim": summary["bits_per_dim"],
                "n_samples": n_samples, "elbo": summary["elbo"],
                "normalized": summary["normalized"], "binarizations": summary["binarizations"],
                **flags,
                **({"units": result.extra["units"]} if "units" in result.extra else {}),
                **({"bits_per_dim_scale": scored.bits_per_dim_scale} if scored.bits_per_dim_scale else {}),
            }}  # fmt: skip
        run.update_metrics({scored.figure: png_bytes(fig)}, **block)
    return scored


def data_slug(spec: str) -> str:
    """A file-name part for a data spec: the split's name (``test``: the name the report and metrics.json
    use), or for a file ``file_STEM_HASH``: its stem in safe characters and 8 hex digits of a hash of its
    resolved path, so a file never takes a split's figures (a file named test.csv) nor another file's (two
    files named x.csv in different folders)."""
    if is_split(spec):
        return spec
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(spec).stem)[:40] or "data"
    digest = hashlib.sha256(os.fsencode(os.path.realpath(spec))).hexdigest()[:8]
    return f"file_{stem}_{digest}"
