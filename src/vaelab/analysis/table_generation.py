"""Table rows with some columns fixed: ``vaelab sample RUN --given COL=VALUE`` and ``TableVAE.sample(given=)``.

Rows come from one of three generators, chosen in this order, and the rows say which
(``frame.attrs["generation"]``, :class:`Generation`):

* **conditional decoder**: the model was trained conditioned on columns (``--condition``); the
  fixed values among them are the decoder's condition, so they hold exactly, with no draw
  wasted. Condition columns left free are drawn from their training frequencies (given the
  fixed ones).
* **rejection**: rows are drawn from the sampler (the prior by default) and kept when they
  hold every fixed value. Kept rows are exact draws from the model's own conditional
  p(x | fixed values); the cost is 1 / (the share kept) draws per row.
* **latent conditioning**: when fewer than :data:`MIN_ACCEPTANCE` of the first draws are kept,
  z comes instead from a Gaussian mixture fitted to the codes of the training rows that hold
  the fixed values (the aggregate posterior of those rows), and decoded rows are again kept
  only when they hold them. These are rows like those training rows, not the model's own
  conditional: a generator for rare values, said as such.

Only values a draw can hit are accepted as fixed: categories, booleans, whole numbers, times in a datetime
column's unit (a day of a daily column) (:func:`vaelab.data.table_transformer.given_label`).

**The default temperature** (``temperature="auto"``, :func:`choose_temperature`): a table model's own
draws spread a table's rows over more combinations of values than real rows occupy (the terms of p(x|z)
are independent given z, and z holds only part of the links between columns), which thins the links:
on statsmodels' fair the draws repeat a training row exactly 22% of the time where fresh real rows
(the validation split) do 25%, and P(affair | rate_marriage) is pulled toward the bulk. Drawing
categories, booleans and modes from softmax(logits / T) with T < 1 concentrates them again. The
temperature is chosen on the validation rows, by one statistic: the share of rows that repeat a
training row exactly. The validation share is an estimate from a few rows, so it is read with its 95%
interval (Wilson's): among :data:`AUTO_TEMPERATURES`, the highest T whose draws repeat training rows at a
share inside that interval, i.e. the mildest sharpening the validation rows cannot tell from their own
share; where no share is inside it, the closest (ties: the higher T). Draws never become more copy-prone
than fresh real rows (to the grid's step and the interval): the rule stops sharpening where it would start
reproducing the training set. Draws that already repeat training rows at least as often as the validation
rows, and tables whose rows never repeat (a continuous column: 0 for every T), keep T = 1.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vaelab.analysis.comparison import wilson_interval
from vaelab.analysis.samplers import Sampler, check_temperature, decode
from vaelab.config import AUTO
from vaelab.data.table_schema import ColumnSpec, datetime_seconds
from vaelab.data.table_transformer import TableTransformer, given_label, label_parts, label_values, value_labels
from vaelab.errors import ConfigError, DataError
from vaelab.model import Model
from vaelab.runtime import Z95

MIN_ACCEPTANCE = 0.01  # rejection gives way to latent conditioning when fewer draws than this share are kept
PROBE = 1000  # draws made before the share kept is judged
MIN_LATENT_ROWS = 10  # training rows holding the values that latent conditioning's mixture is fitted to, at least
MAX_BATCH = 50_000  # rows decoded at once
AUTO_TEMPERATURES = (1.0, 0.85, 0.7, 0.55)  # the candidates, from the model's own draws to sharper ones
CHOICE_DRAWS = 5000  # draws per candidate temperature (the share of repeats then has an SE of <= 0.007)
CHOICE_SEED = 0  # the choice is a property of the run: the same z and draws whatever seed sample is given
MAX_REFERENCE_ROWS = 200_000  # training rows a repeat is looked up in (a seeded subsample beyond; both shares alike)


@dataclass
class Generation:
    """How rows with fixed values were generated."""

    method: str  # "conditional decoder", "rejection" or "latent conditioning"
    n: int  # rows returned
    draws: int  # rows decoded to get them
    given: dict[str, str]  # the fixed values, as labels
    sampler: str  # where z came from
    detail: str = ""  # what the method rests on (the condition columns, the training rows matched)
    probe_draws: int = 0  # latent conditioning: the rejection draws made before it
    probe_kept: int = 0
    held: int = 0  # draws that held the fixed values (the last batch's surplus included): the acceptance rate's count
    probe_sampler: str = ""  # latent conditioning: the sampler the rejection draws before it came from

    def describe(self) -> str:
        fixed = _text(self.given)
        held = max(self.held, self.n)
        rate = (f"{held} of {self.draws} draws held the values ({100 * held / max(self.draws, 1):.1f}%)"
                + (f", {self.n} kept" if held > self.n else ""))
        if self.method == "conditional decoder":
            return f"{self.n} rows with {fixed}: the conditional decoder ({self.detail}), {self.draws} draws, none rejected"
        if self.method == "rejection":
            also = f" ({self.detail})" if self.detail else ""
            return f"{self.n} rows with {fixed}: rejection from the {self.sampler} sampler{also}, {rate}"
        return (f"{self.n} rows with {fixed}: latent conditioning ({self.detail}), {rate}; rejection from the "
                f"{self.probe_sampler or 'prior'} sampler kept {self.probe_kept} of {self.probe_draws} draws first, too "
                "few")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        # "given" (a contract: kept) reads like --given, the columns a draw fixes, whose values attrs["generation"]
        # ["given"] holds; "chosen_by" says the same plainly (an audit, s13)
        return {**asdict(self), "chosen_by": "caller" if self.given else "auto", "text": self.describe()}


@dataclass
class TableModel:
    """A fitted table model as generation needs it: the model of the encoded rows, its transformer, and the
    condition columns it was trained with (none for an unconditional model)."""

    model: Model
    transformer: TableTransformer
    columns: tuple[str, ...]  # the rows' columns, in order (condition columns included)
    condition: tuple[ColumnSpec, ...] = ()  # a conditional model's condition columns
    label_counts: dict[str, int] = field(default_factory=dict)  # training rows per condition label
    label_parts: dict[str, tuple[str, ...]] = field(init=False)  # label -> each condition column's label

    def __post_init__(self) -> None:
        self.label_parts = {lab: tuple(label_parts(lab, self.condition)) for lab in self.label_counts}

    def spec(self, column: str) -> ColumnSpec:
        for c in self.condition:
            if c.name == column:
                return c
        if column not in self.transformer.schema:
            raise ConfigError(f"given= names {column!r}, which is not a column of this table; its columns are "
                              f"{list(self.columns)}.", setting="given")  # fmt: skip
        return self.transformer.schema[column]

    def rows(self, sampler: Sampler, n: int, labels: np.ndarray | None, seed: int,
             temperature: float = 1.0) -> pd.DataFrame:  # fmt: skip
        """n rows: z from ``sampler``, a draw from p(x|z) (conditioned on ``labels``; at ``temperature``, see
        :func:`vaelab.analysis.samplers.check_temperature`), in the table's units."""
        z = sampler.sample(n, seed)
        X = decode(self.model, z, labels, mean=False, seed=seed + 1, temperature=temperature)
        # categories no training row holds are drawn again from the row's others (TableTransformer.redraw_absent)
        X = self.transformer.redraw_absent(
            X, lambda rows: decode(self.model, z[rows], None if labels is None else labels[rows]), temperature,
            np.random.default_rng(seed + 2))  # fmt: skip
        frame = self.transformer.inverse_transform(X)
        for i, spec in enumerate(self.condition):
            frame[spec.name] = label_values([self.label_parts[lab][i] for lab in labels], spec)
        return frame[list(self.columns)]

    def matches(self, frame: pd.DataFrame, given: Mapping[str, str]) -> np.ndarray:
        ok = np.ones(len(frame), dtype=bool)
        for column, label in given.items():
            ok &= value_labels(frame[column], self.spec(column)) == label
        return ok


@dataclass
class TemperatureChoice:
    """The temperature ``temperature="auto"`` draws a table's rows at, and the evidence it rests on."""

    temperature: float
    sampler: str  # where the draws' z came from
    validation_repeats: float | None  # share of validation rows equal to a training row (None: no validation rows)
    draw_repeats: dict[str, float]  # per candidate temperature (as text): share of draws equal to a training row
    n_validation: int
    n_draws: int  # per candidate
    given: bool = False  # the caller's temperature, not a choice
    # the validation share's 95% interval (Wilson); None for a choice stored before it was kept, or none made
    validation_interval: list[float] | None = None

    @classmethod
    def of(cls, temperature: float, sampler: str) -> "TemperatureChoice":
        """A temperature the caller gave (``--temperature T``)."""
        return cls(float(temperature), sampler, None, {}, 0, 0, given=True)

    def describe(self) -> str:
        if self.given:
            return f"temperature {self.temperature:g} (as asked)"
        if self.validation_repeats is None:
            return f"temperature {self.temperature:g} (auto: no validation rows to choose it on, the model's own draws)"
        # Percent with 2 decimals, as the validation rows' share is given (an audit, s11 c: fractions beside a percent):
        # of 5,000 draws a share is a multiple of 0.02%, shown exactly (at 3 decimals of a fraction, T 1's 0.1406 and
        # T 0.55's 0.1410 both read 0.141, and "the closest share wins" then seemed to pick T 0.55 wrongly)
        shares = ", ".join(f"T {t}: {100 * v:.2f}%" for t, v in self.draw_repeats.items())
        own = next(iter(self.draw_repeats.values()), None)
        band = self.validation_interval
        if own is not None and own >= self.validation_repeats:
            rule = "the model's own draws already repeat training rows at least as often, so they are kept"
        elif band is None:
            rule = "the closest share wins, ties to the higher T"
        elif band[0] <= self.draw_repeats.get(f"{self.temperature:g}", -1.0) <= band[1]:
            rule = (f"the highest T whose share lies in the validation share's 95% interval {100 * band[0]:.2f}% to "
                    f"{100 * band[1]:.2f}% wins: the validation rows cannot tell a sharper one apart")  # fmt: skip
        else:
            rule = (f"no share lies in the validation share's 95% interval {100 * band[0]:.2f}% to "
                    f"{100 * band[1]:.2f}%, so the closest wins, ties to the higher T")  # fmt: skip
        return (f"temperature {self.temperature:g} (auto: {100 * self.validation_repeats:.2f}% of the "
                f"{self.n_validation} validation rows repeat a training row; the {self.sampler} sampler's draws "
                f"do at {shares}; {rule})")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        # "given" (a contract: kept) reads like --given, the columns a draw fixes, whose values attrs["generation"]
        # ["given"] holds; "chosen_by" says the same plainly (an audit, s13)
        return {**asdict(self), "chosen_by": "caller" if self.given else "auto", "text": self.describe()}


def resolve_temperature(temperature: float | str, sampler: str, seed: int, fitted: Sampler,
                        stored: Callable[[], dict[str, Any] | None],
                        choose: Callable[[str, Sampler | None], dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """The temperature a draw uses, with its reason (:meth:`TemperatureChoice.to_dict`): the caller's, or for
    "auto" the choice made at training (``stored()``) when it was made with this sampler, else chosen now
    (``choose(sampler, fitted)``; ``fitted`` is reused when it was fitted with the choice's seed)."""
    if temperature != AUTO:
        return TemperatureChoice.of(temperature, sampler).to_dict()
    held = stored()
    if held and held.get("sampler") == sampler:
        return {**held, "chosen_by": "auto"}  # a choice stored before the key was written lacks it
    return choose(sampler, fitted if seed == CHOICE_SEED else None)


def check_table_temperature(value: Any) -> None:
    """A table draw's temperature: "auto" (chosen on the validation rows, :func:`choose_temperature`) or a
    number in (0, 1] (:func:`vaelab.analysis.samplers.check_temperature`)."""
    if isinstance(value, str) and value == AUTO:
        return
    try:
        check_temperature(value)
    except ConfigError:  # the message names "auto" too: a table's draw takes it (an audit: 'cold' was told "a number")
        raise ConfigError(f'temperature must be a number in (0, 1] (1: draws from the model itself) or "auto" (the '
                          f"one chosen on the validation rows at training); got {value!r}.") from None


def row_keys(frame: pd.DataFrame, tm: TableModel) -> np.ndarray:
    """One 64-bit hash per row of the table's columns, equal for rows whose values are equal (values as
    :func:`value_labels` writes them, datetimes as seconds), whatever dtypes the frame carries."""
    labels = {}
    for c in tm.columns:
        spec = tm.spec(c)
        if spec.kind == "datetime":  # instants, read with the column's own text format (day-first too), in UTC
            secs = datetime_seconds(frame[c].reset_index(drop=True), c, spec.datetime_format)
            labels[c] = np.where(np.isnan(secs), "", np.nan_to_num(secs).astype(np.int64).astype(str)).astype(object)
        else:
            labels[c] = value_labels(frame[c].reset_index(drop=True), spec)
    return pd.util.hash_pandas_object(pd.DataFrame(labels), index=False).to_numpy()


def choose_temperature(tm: TableModel, sampler: Sampler, train: pd.DataFrame, val: pd.DataFrame,
                       candidates: tuple[float, ...] = AUTO_TEMPERATURES, n_draws: int = CHOICE_DRAWS,
                       seed: int = CHOICE_SEED) -> TemperatureChoice:  # fmt: skip
    """The highest temperature whose draws repeat a training row exactly at a share inside the 95% interval
    of the validation rows' share, else the closest (ties: the highest; see the module docstring). ``train`` /
    ``val``: the rows the model was fitted on and held out, in the table's units. Every candidate decodes the
    same z with the same seed."""
    if len(val) == 0:
        return TemperatureChoice(1.0, sampler.name, None, {}, 0, 0)
    for t in candidates:
        check_temperature(t)
    reference = train
    if len(train) > MAX_REFERENCE_ROWS:
        reference = train.iloc[np.sort(np.random.default_rng(seed).choice(len(train), MAX_REFERENCE_ROWS, replace=False))]
    known = row_keys(reference, tm)
    val_share = float(np.isin(row_keys(val, tm), known).mean())
    shares: dict[str, float] = {}
    for t in sorted(candidates, reverse=True):
        rows = sample_table(tm, n_draws, sampler, seed=seed, temperature=float(t))
        shares[f"{float(t):g}"] = float(np.isin(row_keys(rows, tm), known).mean())
    # The validation share is a proportion of len(val) rows: 5 of 30 repeating a training row is 0.167 in
    # [0.073, 0.336], so a closest share chosen on the point estimate rested on noise (an audit: T 0.55 beat T 1
    # by 2 draws in 5,000). The draws' own share, of 5,000, has an SE of at most 0.007 and is left out of the band.
    low, high = wilson_interval(val_share, len(val), Z95)
    top = next(iter(shares))  # the highest T: the model's own draws at T 1
    inside = [t for t in shares if low <= shares[t] <= high]  # from high T to low
    if shares[top] >= val_share:
        # Draws that already repeat training rows at least as often as fresh real rows have no thinned links to
        # sharpen (an audit: rows with a missing continuous value repeat a training row 0.4% of the time at T 1 and
        # less when sharper, where validation rows never do, and the closest share had picked T 0.55).
        best = top
    elif inside:  # the mildest sharpening the validation rows cannot tell from their own share
        best = inside[0]
    else:  # the highest T among the closest (sorted from high to low, min keeps the first of ties)
        best = min(shares, key=lambda t: abs(shares[t] - val_share))
    return TemperatureChoice(float(best), sampler.name, val_share, shares, int(len(val)), int(n_draws),
                             validation_interval=[float(low), float(high)])  # fmt: skip


def parse_given(given: Mapping[str, Any] | Iterable[str] | None, columns: Iterable[str] = ()) -> dict[str, Any]:
    """``{"COL": value}``, or the CLI's ``["COL=VALUE", ...]``, as a dict (values checked later, per column). With
    the table's ``columns``, COL is the longest of them that the item starts with before an "=", so a column
    whose name holds "=" can be fixed too ("a=b=x": column "a=b", value "x", when "a=b" is a column)."""
    named = sorted((str(c) for c in columns), key=len, reverse=True)
    if given is None:
        return {}
    if isinstance(given, Mapping):
        return dict(given)
    if isinstance(given, str):
        given = [given]
    out: dict[str, Any] = {}
    for item in given:
        known = next((c for c in named if str(item).startswith(c + "=")), None)
        column, sep, value = (known, "=", str(item)[len(known) + 1:]) if known else str(item).partition("=")
        if not sep or not column.strip():
            raise ConfigError(f"given= takes COL=VALUE (e.g. region=north); got {str(item)[:80]!r}.", setting="given")
        column = column if known else column.strip()  # a column's own name as written (' padded col ' was stripped)
        if column in out:
            raise ConfigError(f"given= fixes {column!r} twice; give each column once.", setting="given")
        out[column] = value
    return out


def sample_table(tm: TableModel, n: int, sampler: Sampler, *, seed: int = 0, given: Any = None, label: Any = None,
                 latent: Callable[[dict[str, str]], tuple[Sampler, str]] | None = None,
                 temperature: float = 1.0) -> pd.DataFrame:  # fmt: skip
    """n rows of the table with the ``given`` values fixed (see the module docstring); ``label`` is a
    conditional model's class (``--class``): a label of its condition columns. ``latent(given)`` fits the
    sampler latent conditioning uses and says what it rests on (None: rejection only). ``temperature`` < 1
    sharpens the draws of categories and booleans (:func:`vaelab.analysis.samplers.check_temperature`)."""
    check_temperature(temperature)
    fixed = {c: given_label(tm.spec(c), v) for c, v in parse_given(given, tm.columns).items()}
    names = [c.name for c in tm.condition]
    if label is not None:
        if not tm.condition:
            raise ConfigError("--class (label=) picks the class of a conditional model; this table model was not trained with "
                              "--condition. Fix columns with --given COL=VALUE instead.")  # fmt: skip
        label = class_label(tm.condition, tm.label_parts, label)
        if label not in tm.label_parts:
            raise ConfigError(f"--class (label=) {label!r} is not a label of this model's condition columns {names}; its "
                              f"labels are {sorted(tm.label_parts)[:20]}.")  # fmt: skip
        for c, v in zip(names, tm.label_parts[str(label)]):
            if fixed.setdefault(c, v) != v:
                raise ConfigError(f"--class {label!r} sets {c} = {v}, but --given sets {c} = {fixed[c]}.")
    on_condition = {c: v for c, v in fixed.items() if c in names}
    free = {c: v for c, v in fixed.items() if c not in names}
    # a category no training row holds is never drawn (redraw_absent): rejection would spend its every draw, then
    # advise --condition, where the conditional decoder has no condition for it either (an audit)
    never = {c: v for c, v in free.items() if v in tm.transformer.absent_categories(c)}
    if never:
        raise DataError(f"No training row holds {_text(never)} (a category of the column, but of none of the training "
                        "rows), so the model never learned it and its draws never give it. Fix a category the "
                        "training rows hold, or train on rows that hold this one.")  # fmt: skip
    drawn_for = labels_for = _label_draws(tm, on_condition)
    # The posterior sampler's draw i is training input i's code (mod their number): decoded with that input's own
    # label when no condition value is fixed, as compare-samplers does (an audit, s12: labels drawn at the training
    # frequencies put most inputs' codes under another input's condition)
    if tm.condition and not on_condition and sampler.default_labels(1) is not None:
        labels_for = lambda m, seed: sampler.default_labels(m)  # noqa: E731
    if not free:
        frame = tm.rows(sampler, n, labels_for(n, seed), seed, temperature)
        method = "conditional decoder" if on_condition else "rejection"
        note = Generation(method, n, n, fixed, sampler.name, f"conditioned on {', '.join(names)}")
        return _described(frame, note if fixed else None)
    frame, draws, kept = _reject(tm, sampler, n, labels_for, free, seed, judge=latent is not None,
                                 temperature=temperature)  # fmt: skip
    by_decoder = f"{', '.join(on_condition)} given to the conditional decoder" if on_condition else ""
    if len(frame) == n:
        return _described(frame, Generation("rejection", n, draws, fixed, sampler.name, by_decoder, held=kept))
    if latent is None or draws < PROBE:
        raise DataError(f"Rejection kept {kept} of {draws} draws holding {_text(fixed)}; {n} were asked for. The "
                        f"model gives these values too rarely: {condition_advice(tm, free)}",
                        setting=ADVICE_SETTINGS)  # fmt: skip
    conditioned, detail = latent(fixed)
    frame, latent_draws, held = _reject(tm, conditioned, n, drawn_for, free, seed + 1, judge=False,
                                        temperature=temperature)  # fmt: skip
    if len(frame) < n:
        raise DataError(f"Latent conditioning kept {len(frame)} of {latent_draws} draws holding {_text(fixed)} "
                        f"({n} were asked for): the decoder rarely gives these values even near the codes of the "
                        f"training rows that hold them. {condition_advice(tm, free, first=True)}",
                        setting=ADVICE_SETTINGS)  # fmt: skip
    return _described(frame, Generation("latent conditioning", n, latent_draws, fixed, conditioned.name, detail,
                                        draws, kept, held, sampler.name))  # fmt: skip


def class_label(condition: tuple[ColumnSpec, ...], known: Iterable[str], label: Any) -> str:
    """--class (label=) of a model conditioned on table columns as its label, in the spellings --given COL=VALUE takes
    for each column (true for True, 1.0 for the code 1; 'a=x & b=y' for several columns): --class C is --given COL=C
    (an audit: --class true was refused where --given member=true was taken, by sample and then by explore). The text
    as it is where it names no label, for the caller to refuse with the model's labels."""
    text = str(label)
    if text in known or not condition:
        return text
    try:
        values = [given_label(c, v) for c, v in zip(condition, label_parts(text, condition))]
    except ConfigError:
        return text
    return values[0] if len(condition) == 1 else " & ".join(f"{c.name}={v}" for c, v in zip(condition, values))


def latent_detail(fitted: Sampler, count: int) -> str:
    """What latent conditioning rests on, in words: the mixture fitted to the codes of ``count`` training rows."""
    k = fitted.n_components_
    return (f"z from a Gaussian mixture ({k} component{'' if k == 1 else 's'}) fitted to the codes of the {count} "
            "training rows that hold them")


# The settings condition_advice names (DataError.setting): the CLI says them as train's flags (--condition a b).
ADVICE_SETTINGS = ("condition", "categorical")


def condition_advice(tm: TableModel, columns: Mapping[str, Any] | Sequence[str], first: bool = False) -> str:
    """"train with condition=['a', 'b']." for categorical and boolean columns; condition takes no other kind (an audit:
    the advice named a whole-number column, which --condition then refused). A conditional model's own condition
    columns are named with the new ones (the run needs them all), never as columns to declare categorical (an audit: a
    boolean condition column was told to be declared categorical to condition on it). In Python terms, which the CLI
    says as train's flags (:data:`ADVICE_SETTINGS`: "train with --condition a b"; an audit, s15: both syntaxes
    to every caller)."""
    kinds = {c.name: c.kind for c in tm.transformer.schema.columns}
    already = [c.name for c in tm.condition]
    columns = [c for c in columns if c not in already]
    can = [c for c in columns if kinds.get(c) in ("categorical", "boolean")]
    cannot = [c for c in columns if c not in can]
    said = f"train with condition={[*already, *can]!r}" if can else ""
    if cannot:
        said += ("; " if said else "") + (f"declare {', '.join(cannot)} categorical (categorical={cannot!r}) to "
                                          f"condition on {'it' if len(cannot) == 1 else 'them'}: condition= takes "
                                          "categorical and boolean columns only")
    if not said:
        return ""
    return (said[0].upper() + said[1:] if first else said) + "."


def check_latent_rows(count: int, fixed: Mapping[str, Any], advice: str) -> None:
    """Refuse latent conditioning on fewer than MIN_LATENT_ROWS training rows holding the fixed values (its mixture
    holds out a tenth of their codes to choose its size; on 2 rows that failed with a message about validation codes)."""
    if count < MIN_LATENT_ROWS:
        raise DataError(f"Rejection kept too few draws, and {count} training row(s) hold {_text(fixed)}: latent "
                        f"conditioning fits a Gaussian mixture to the codes of such rows and needs at least "
                        f"{MIN_LATENT_ROWS}. {advice}", setting=ADVICE_SETTINGS)  # fmt: skip


def _text(fixed: Mapping[str, str]) -> str:
    return ", ".join(f"{c} = {v}" for c, v in fixed.items())


def _described(frame: pd.DataFrame, note: Generation | None) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    if note is not None:
        frame.attrs["generation"] = note.to_dict()
    return frame


def _label_draws(tm: TableModel, fixed: Mapping[str, str]) -> Callable[[int, int], np.ndarray | None]:
    """Labels to decode m rows with: a conditional model's labels drawn from their training frequencies among
    those that agree with the fixed condition values; None for an unconditional model."""
    if not tm.condition:
        return lambda m, seed: None
    names = [c.name for c in tm.condition]
    # Labels only the validation or test rows hold (a count of 0) were never given to the decoder in training: their
    # rows would come from an untrained condition (an audit: region = zz, held by 3 test rows, was "generated by the
    # conditional decoder, none rejected").
    trained = [lab for lab in tm.label_parts if tm.label_counts.get(lab, 0) > 0]
    choices = [lab for lab in trained if all(tm.label_parts[lab][names.index(c)] == v for c, v in fixed.items())]
    if not choices:
        raise DataError(f"No training row has {_text(fixed)}, so the conditional decoder has no condition for it; "
                        f"the training rows' condition values are {sorted(trained)[:20]}.")  # fmt: skip
    weights = np.array([tm.label_counts[lab] for lab in choices], dtype=np.float64)
    weights = weights / weights.sum()
    pool = np.array(choices, dtype=object)
    return lambda m, seed: pool[np.random.default_rng([seed, 17]).choice(len(pool), size=m, p=weights)]


def _reject(tm: TableModel, sampler: Sampler, n: int, labels_for: Callable, free: Mapping[str, str], seed: int,
            judge: bool, temperature: float = 1.0) -> tuple[pd.DataFrame, int, int]:  # fmt: skip
    """Rows holding the ``free`` values, drawn batch by batch until n are kept or n / MIN_ACCEPTANCE are drawn
    (with ``judge``: until PROBE draws show that fewer than MIN_ACCEPTANCE are kept). Returns (the first n rows
    held, draws, the number of draws that held the values: more than n when the last batch had a surplus)."""
    # With judge, at least PROBE draws, so that a small n (budget n / MIN_ACCEPTANCE = 500 for n = 5) still reaches
    # the judgement and latent conditioning instead of giving up first.
    budget = max(math.ceil(n / MIN_ACCEPTANCE), PROBE if judge else 0)
    kept: list[pd.DataFrame] = []
    count = draws = 0
    for round_ in range(budget):  # each round draws at least one row, so this bounds the loop
        if count >= n or draws >= budget:
            break
        if judge and draws >= PROBE and count < MIN_ACCEPTANCE * draws:
            break
        rate = count / draws if draws else 1.0
        m = min(budget - draws, MAX_BATCH, max(256, math.ceil(1.1 * (n - count) / max(rate, MIN_ACCEPTANCE))))
        if judge and draws < PROBE:  # the judgement falls at PROBE draws (it fell after 30,000 for n = 300)
            m = min(m, PROBE - draws)
        s = int(np.random.SeedSequence([seed, round_]).generate_state(1)[0] >> 1)
        frame = tm.rows(sampler, m, labels_for(m, s), s, temperature)
        ok = tm.matches(frame, free)
        kept.append(frame[ok])
        count, draws = count + int(ok.sum()), draws + m
    out = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=list(tm.columns))
    return out.iloc[:n], draws, count
