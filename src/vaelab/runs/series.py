"""Time-series runs: windows of n_past + n_future steps, an unconditional VAE on whole
windows, and a conditional VAE that generates the n_future steps given the n_past.

``vaelab train series.csv --window N_PAST --horizon N_FUTURE [--id COL] [--time COL]``
writes a run whose main model is a VAE on flattened, standardized windows (T·F
features, Gaussian likelihood), so ``score``, ``inspect`` and ``compare-samplers``
work on it unchanged. Beside it the run holds:

* ``series.json`` — how the windows were made (columns, n_past, n_future, stride), what the
  trend test found and how the run handles it, and the window coder (windows ↔ the model's
  rows, :class:`vaelab.data.trend.WindowCoder`), fitted on the training windows only
  (``series.safetensors``: its arrays);
* ``forecast.safetensors`` — the forecaster p(future | past) (:class:`vaelab.forecaster.Forecaster`),
  trained after every fit of the main model, so a resumed run ends with the same one.

Windows are split in time, per series, with the gap of :func:`split_windows`, so no
validation or test window shares a time step with a training window.

Series that trend (``--trend auto``, the default): the training stretch of each series is
tested (:func:`vaelab.data.trend.detect_trend`: a unit root not rejected and levels that
drift by more than a window's spread); when it trends, the model learns windows relative
to their level (differences, or the window over its own past's mean and SD) and forecasts
are put back at the level of the past they continue. The choice and the evidence are
printed before training and stored; ``--trend none|difference|window`` overrides it.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from vaelab.analysis.likelihood import overlapping
from vaelab.analysis.samplers import fit_sampler, generate
from vaelab.analysis.synthetic_series import (
    APPROXIMATE_SPANS,  # noqa: F401  (kept importable from here, where it was defined)
    approximate_interval,
    compare,
    band_coverage,
    gaussian_windows,
    paired_difference,
    repeated_discriminative,
    repeated_predictive,
    window_ks_complements,
)
from vaelab.checkpoint import RunDir
from vaelab.config import MAX_SEED, DataConfig, check_count, check_measured_count, from_dict, to_dict
from vaelab.data.dataset import Dataset
from vaelab.data.sources import check_missing_values, load_dataset, read_series
from vaelab.data.split import indices
from vaelab.data.table_schema import guess_format
from vaelab.data.timeseries import (
    FILLED,
    TRAIN,
    SeriesFrame,
    SeriesScaler,
    Windows,
    iso_times,
    make_windows,
    prepare_series,
    split_stretches,
    split_windows,
)
from vaelab.data.trend import TRENDS, WindowCoder, choose_handling, detect_trend
from vaelab.config import check_choice
from vaelab.errors import ConfigError, DataError, RunError
from vaelab.forecaster import Forecaster
from vaelab.metrics_schema import (
    coverage_of,
    decimals_for,
    discriminative_text,
    ks_over,
    plus_minus,
    predictive_difference,
    repeats_of,
    with_se,
)
from vaelab.report.figures import save_png
from vaelab.report.synthetic_figures import forecast_band, real_vs_generated
from vaelab.runs.base import (
    Prepared,
    Request,
    RunKind,
    check_frame_output,
    load_state,
    refuse_labels,
    save_state,
    write_frame,
    write_npy,
)

SERIES = "series.json"
SERIES_ARRAYS = "series.safetensors"
FORECAST_DRAWS = 100  # draws per past when evaluate-synthetic measures the forecaster
FORECAST_WINDOWS = 400  # at most this many test windows (evenly spaced) measure the forecaster
RANGE_TOLERANCE = 1.0  # a new window's value is out of range this many training SDs outside the training rows' range
LEVEL_PARTS = ("level", "first value", "log SD")  # parts of a row (WindowCoder.column_parts) a trend moves on
# What evaluate-synthetic's generated windows are (``synthetic.synthetic_are``): run.generate's decoder means
SYNTHETIC_ARE = ("decoder means E[x|z] (no observation noise), compared with real windows that carry theirs: the "
                 "discriminative score and the value distributions may tell them apart by their smoothness alone "
                 "(--draw scores draws from p(x|z))")
SYNTHETIC_DRAWN = ("draws from p(x|z) (--draw: the decoder's observation noise included), as the real windows carry "
                   "theirs")
REPEATS = 3  # discriminative and predictive scores per generator (reseeded draws, subsamples and models): mean ± SE


@dataclass(frozen=True)
class SeriesSettings:
    """How a run's windows are made from its source; stored in series.json."""

    n_past: int
    n_future: int
    id_column: str | None = None
    time_column: str | None = None
    features: tuple[str, ...] = ()
    stride: int = 1
    fill: str | None = None
    trend: str = "auto"  # what --trend asked for; the handling chosen is the coder's
    missing_values: tuple[str, ...] = ()  # texts read as missing cells (--missing-values), in every file the run reads

    @property
    def window(self) -> int:
        return self.n_past + self.n_future


def read_series_frame(source: str | os.PathLike, settings: SeriesSettings, raw: Any = None) -> SeriesFrame:
    """The run's series from ``source`` (or from ``raw``, the file as :func:`read_series` read it)."""
    raw = read_series(source, settings.missing_values) if raw is None else raw
    return prepare_series(raw, id_column=settings.id_column, time_column=settings.time_column,
                          features=list(settings.features) or None, fill=settings.fill)  # fmt: skip


def unused_dates(raw: Any, settings: SeriesSettings, where: str) -> str:
    """Without a time column (--time), the columns of a series file that hold dates and so are not features: a note
    for train's output when its rows are in their order, a DataError when they are not (an audit: a shuffled panel's
    'date' was left out in silence and the series trained in file order, its windows mixing times at random)."""
    if not isinstance(raw, pd.DataFrame) or settings.time_column is not None:
        return ""
    groups = raw[settings.id_column] if settings.id_column in raw.columns else pd.Series(0, index=raw.index)
    found = []
    for c in raw.columns:
        if c in (settings.id_column, *settings.features):
            continue
        col = raw[c]
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            t = col
        elif pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(col.dtype):
            present = col.dropna()
            if not len(present) or pd.to_numeric(present, errors="coerce").notna().any():
                continue  # numbers are said by prepare_series; a text cell that is a number is no date column
            try:
                t = pd.to_datetime(col, format="ISO8601", errors="coerce", utc=True)
            except (TypeError, ValueError, OverflowError):
                continue
            if t.notna().sum() < len(present):
                continue
        else:
            continue
        key = pd.Series(t.to_numpy(), index=raw.index)
        back = key.groupby(groups.to_numpy(), sort=False).diff() < pd.Timedelta(0)
        if back.any():
            row = int(np.flatnonzero(back.to_numpy())[0])
            raise DataError(f"{where}: column {c!r} holds dates, but the rows are not in their order (row {row}'s is "
                            f"earlier than that of the row before it in its series); without --time the rows are taken in "
                            f"file order, and the windows would mix times. Pass --time {c} to sort the rows by it"
                            f"{'' if settings.id_column else ' (and --id COL if the file holds several series)'}.")  # fmt: skip
        found.append(c)
    if not found:
        return ""
    names = ", ".join(repr(c) for c in found)
    return (f"{names} {'holds' if len(found) == 1 else 'hold'} dates and {'is' if len(found) == 1 else 'are'} no "
            f"feature: the rows are taken in file order, which is its order; --time {found[0]} would also stamp "
            "forecasts and scored windows with them")  # fmt: skip


def make_series_windows(source: str | os.PathLike, settings: SeriesSettings, val_fraction: float,
                        test_fraction: float, seed: int = 0,
                        frame: SeriesFrame | None = None) -> tuple[Windows, np.ndarray, tuple[str, ...]]:  # fmt: skip
    """The kept windows of a source, their split codes (int8) and the frame's feature names."""
    frame = read_series_frame(source, settings) if frame is None else frame
    if not (frame.lengths >= settings.window).any():  # make_windows' own words are its arguments' (n_past + n_future)
        lengths = frame.lengths
        shown = lengths.tolist() if len(lengths) <= 20 else f"{lengths[:20].tolist()} ... (longest {int(lengths.max())})"
        raise DataError(f"No series is long enough for one window of window={settings.n_past} past + "
                        f"horizon={settings.n_future} future steps ({settings.window} in all); the series lengths are "
                        f"{shown}. Use a smaller window or horizon, or longer series.",
                        setting=("window", "horizon"))  # fmt: skip
    windows = make_windows(frame, settings.n_past, settings.n_future, settings.stride)
    codes = split_windows(windows, val_fraction, test_fraction, seed=seed)
    keep = codes >= 0
    return windows.subset(keep), codes[keep].astype(np.int8), frame.features


def handle_trend(frame: SeriesFrame, windows: Windows, codes: np.ndarray, asked: str) -> tuple[WindowCoder, dict[str, Any]]:
    """The window coder for ``--trend asked``, fitted on the training windows, and the facts behind it."""
    check_choice("trend", asked, TRENDS)
    report = detect_trend(split_stretches(frame, windows, codes), frame.features, windows.window_length)
    train = codes == TRAIN
    facts: dict[str, Any] = {"asked": asked, "detection": report.to_dict(), "found": report.describe()}
    if asked != "auto":
        handling, why = asked, f"set by --trend {asked}"
    elif not report.detected:  # "no trend detected" beside "not tested for a trend" read as a contradiction
        handling, why = "none", "no trend test could be made" if report.note else "no trend detected"
    else:
        handling, drift = choose_handling(windows.X[train], windows.series[train], windows.start[train], windows.n_past)
        facts["shape_drift"] = drift
        shown = ", ".join(f"{h} {d:.2f}" for h, d in drift.items())
        why = f"chosen automatically: its windows' shapes drift least from early to late training windows ({shown})"
    facts.update(handling=handling, why=why)
    return WindowCoder(handling, windows.n_past).fit(windows.X[train]), facts


HANDLING_WORDS = {
    "none": "windows standardized with the training windows' mean and SD per feature",
    "difference": "first differences within each window (plus its first value as a level)",
    "window": "each window relative to its past: (x - mean of the past) / SD of the past (plus that mean and SD)",
}


def trend_line(facts: dict[str, Any]) -> str:
    """The trend facts in one line, for the summary before training and evaluate-synthetic."""
    return (f"trend: {facts['found']}; handled by '{facts['handling']}' ({HANDLING_WORDS[facts['handling']]}): "
            f"{facts['why']}; override with --trend none|difference|window")  # fmt: skip


def windows_frame(X: np.ndarray, features: tuple[str, ...]) -> pd.DataFrame:
    """Windows (N, T, F) as a long table: window, step, one column per feature."""
    N, T, F = X.shape
    frame = pd.DataFrame(X.reshape(N * T, F), columns=list(features))
    frame.insert(0, "step", np.tile(np.arange(T), N))
    frame.insert(0, "window", np.repeat(np.arange(N), T))
    return frame


class SeriesKind(RunKind):
    name = "series"
    description = "a series run"
    files = (SERIES, SERIES_ARRAYS)
    options = {"window": None, "horizon": None, "id_column": None, "time_column": None, "features": (), "fill": None,
               "trend": None, "missing_values": ()}  # None: auto; any value given is refused by the other kinds (--trend auto: an audit)  # fmt: skip
    default_settings = {"likelihood": "gaussian"}  # standardized windows
    default_reasons = {"likelihood": "a series run's choice: its windows are standardized, one Gaussian per value"}
    report_sections = frozenset({"series"})

    def __init__(self, settings: SeriesSettings, coder: WindowCoder, n_windows: int | None = None,
                 trend: dict[str, Any] | None = None):  # fmt: skip
        self.settings, self.coder, self.n_windows = settings, coder, n_windows
        self.trend = trend or {"asked": "none", "handling": coder.handling, "found": "not tested (a run from "
                               "before trend handling)", "why": "runs before trend handling scale windows globally"}  # fmt: skip

    # ------------------------------------------------------------ densities
    @property
    def density_units(self) -> str:  # type: ignore[override]
        """What log p(x) of a window is a density of (scores, the likelihood block, train's test ELBO)."""
        if self.coder.handling == "window":
            return ("the model's representation of each window, not the data's units: its values relative to its "
                    "past's level and SD, plus that level and log SD, standardized (under --trend window a window has "
                    "no density in its own units); compare windows of this run with each other only")  # fmt: skip
        how = {"none": "the standardization", "difference": "the encoding (first value and first differences, "
               "standardized)"}[self.coder.handling]  # fmt: skip
        return f"the windows' own units: the log-Jacobian of {how} is included (per unit of each feature's values)"

    @property
    def data_dims(self) -> int | None:  # type: ignore[override]
        """A window's values (steps × features) for bits/dim; the model's features under ``window``."""
        return None if self.coder.handling == "window" else self.settings.window * len(self.settings.features)

    def log_jacobian(self, X: Any, observed: np.ndarray | None = None) -> np.ndarray:
        """The coder's log-Jacobian (the same for every window; 0 under ``window``, whose units say so)."""
        shift = self.coder.log_jacobian(self.settings.window)
        return np.full(int(X.shape[0]), 0.0 if shift is None else shift)

    # ------------------------------------------------------------ training
    @classmethod
    def claims(cls, request: Request) -> bool:
        return request.option("window") is not None or request.option("horizon") is not None

    @classmethod
    def prepare(cls, request: Request, model: Any) -> Prepared:
        if request.option("window") is None or request.option("horizon") is None:
            raise ConfigError("A series run needs both --window N_PAST and --horizon N_FUTURE (steps before and after).")
        for flag, key, what in (("--window", "window", "past"), ("--horizon", "horizon", "future")):
            value = request.option(key)  # named as the user gave them, before the file is read (it said "n_past")
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{flag} takes the number of {what} steps per window, a whole number >= 1; got "
                                  f"{value!r}.")  # fmt: skip
        refuse_labels(request, cls.description)
        if model.conditional:
            raise ConfigError("--conditional needs class labels; a series run conditions its forecaster on the past instead.")
        if model.likelihood in ("bernoulli", "continuous-bernoulli"):  # before any work: its advice could not be taken
            raise ConfigError(f"--likelihood {model.likelihood} models values in [0, 1]; a series run's windows are "
                              "standardized (any real value). Use --likelihood gaussian (the default) or leave it out.")  # fmt: skip
        asked = request.option("trend", "auto")
        check_choice("trend", asked, TRENDS)
        missing = check_missing_values(request.option("missing_values", ()))
        ws = SeriesSettings(int(request.option("window")), int(request.option("horizon")), request.option("id_column"),
                            request.option("time_column"), tuple(request.option("features", ())), 1,
                            request.option("fill"), asked, missing)  # fmt: skip
        raw = read_series(request.source, missing)
        dates = unused_dates(raw, ws, Path(request.source).name)
        frame = read_series_frame(request.source, ws, raw)
        windows, codes, names = make_series_windows(request.source, ws, request.val_fraction, request.test_fraction,
                                                    model.seed, frame)  # fmt: skip
        ws = dataclasses.replace(ws, features=tuple(names))
        coder, facts = handle_trend(frame, windows, codes, asked)
        if model.arch == "timevae":
            model.set_params(time_layout=(coder.steps(ws.window), len(names)))
        path = str(Path(request.source).resolve())
        dataset = Dataset(coder.encode(windows.X), source=path, serial=serial_of(windows))
        data = DataConfig(source=path, val_fraction=request.val_fraction, test_fraction=request.test_fraction,
                          n_examples=dataset.n_examples, fingerprint=dataset.fingerprint(), kind=cls.name)  # fmt: skip
        counts = np.bincount(codes, minlength=3)
        # split_windows splits in time, or whole series to each split when none is long enough (short panels)
        n_series = np.unique(windows.series).size  # by series: every series' windows in one split
        by_series = n_series > 1 and np.unique(codes).size > 1 and np.unique(windows.series * 3 + codes).size == n_series
        how = "by series" if by_series else "in time"
        summary = (f"windows: {len(codes)} of {ws.window} steps ({ws.n_past} past + {ws.n_future} future) x "
                   f"{len(names)} features ({', '.join(names)}); split {how}: {counts[0]} train, {counts[1]} "
                   f"validation, {counts[2]} test\n{trend_line(facts)}")  # fmt: skip
        if missing:
            summary += f"\ncells reading {', '.join(map(repr, missing))} are missing values (--missing-values)"
        if dates:
            summary += f"\nnote: {dates}"
        for note in uneven_steps(frame, ws.time_column) if ws.time_column else []:
            summary += f"\nnote: {note}"
        filled = filled_note(raw, names, ws)
        if filled:
            summary += f"\nnote: {filled}"
        for note in too_short(windows, frame, "left out of training"):  # an audit (s13): dropped in silence
            summary += f"\nnote: {note}"
        return Prepared(cls(ws, coder, len(codes), facts), dataset, codes, data, summary)

    def save(self, run: RunDir) -> None:
        meta, arrays = self.coder.state()
        windows = to_dict(self.settings)
        if not self.settings.missing_values:  # a run without markers keeps the series.json it always had
            del windows["missing_values"]
        save_state(run, self, {"windows": windows, "coder": meta, "trend": self.trend,
                               "n_windows": self.n_windows}, arrays)  # fmt: skip

    def trained_with(self, name: str, value: Any) -> bool:
        ws = self.settings
        trained = {"window": ws.n_past, "horizon": ws.n_future, "id_column": ws.id_column, "time_column": ws.time_column,
                   "features": ws.features, "fill": ws.fill, "trend": ws.trend, "missing_values": ws.missing_values}  # fmt: skip
        if isinstance(value, str) and name in ("features", "missing_values"):
            value = (value,)
        if name == "missing_values":  # markers in any order, each once or more
            return set(value) == set(ws.missing_values)
        value = tuple(value) if isinstance(value, list) else value
        return name in trained and value == trained[name]

    @classmethod
    def load(cls, run: RunDir) -> "SeriesKind":
        def parse(meta: Any, arrays: dict[str, np.ndarray]) -> "SeriesKind":
            unknown = sorted(set(meta) - {"windows", "coder", "scaler", "trend", "n_windows"})
            if unknown:
                raise ValueError(f"unknown key(s) {unknown}")
            settings = from_dict(SeriesSettings, meta["windows"], f"{run.file(SERIES)} 'windows'")
            if not isinstance(settings.missing_values, tuple) or check_missing_values(settings.missing_values) \
                    != settings.missing_values:
                raise ValueError(f"'missing_values' must be a list of distinct texts; got "
                                 f"{settings.missing_values!r:.80}")  # fmt: skip
            if "coder" in meta:
                coder = WindowCoder.from_state(meta["coder"], arrays)
            else:  # a run from before trend handling: its global scaler is the coder "none"
                scaler = SeriesScaler.from_state(meta["scaler"], arrays)
                if scaler.method != "standard":
                    raise ValueError(f"scaler method {scaler.method!r}, expected 'standard'")
                coder = WindowCoder("none", settings.n_past, {"loc": scaler.loc_, "scale": scaler.scale_})
            trend = meta.get("trend")
            if trend is not None and not (isinstance(trend, dict) and trend.get("handling") == coder.handling):
                raise ValueError("its trend facts do not match its coder")
            return cls(settings, coder, meta.get("n_windows"), trend)

        return load_state(run, cls, parse)

    def dataset(self, data: DataConfig, lazy: bool = False) -> Dataset:
        windows, _, _ = make_series_windows(data.source, self.settings, data.val_fraction, data.test_fraction)
        return Dataset(self.coder.encode(windows.X), source=data.source, serial=serial_of(windows))

    def read(self, source: str | os.PathLike, labels: str | None = None, label_column: str | None = None,
             lazy: bool = False) -> Dataset:  # fmt: skip
        """A series file (``score RUN series.csv``, ``anomaly-eval``) cut into the run's windows (every window,
        stride 1, series by series in time order) and encoded with the run's stored coder. Windows are
        flagged, not refused (``Dataset.reasons``): a missing, infinite or non-numeric value (filled by linear
        interpolation in time so the window can be scored), and a value out of range (a column of the
        window's row more than :data:`RANGE_TOLERANCE` training SDs outside the training windows' range). An
        ``.npy`` of the model's rows (windows, row width) is taken as it is."""
        if labels is not None or label_column is not None:
            raise DataError("A series run has no labels: score a series file without --labels/--label-column.")
        ws, where = self.settings, Path(source).name
        raw = read_series(source, ws.missing_values)
        if isinstance(raw, pd.DataFrame):
            need = [c for c in (ws.id_column, ws.time_column, *ws.features) if c is not None]
            lacking = [c for c in need if c not in raw.columns]
            if lacking:
                raise DataError(f"{where} lacks the column(s) {lacking}; the run was trained on a file with {need}. "
                                "Rename the columns or score a file that has them.")  # fmt: skip
            clean, mask = gap_codes(raw, ws.features)
        else:
            values = numeric_array(raw, where)
            values = values.reshape(-1, 1) if values.ndim == 1 else values
            width = len(self.coder.column_parts(ws.window, len(ws.features)))
            if values.ndim == 2 and values.shape[1] == width != len(ws.features):
                return load_dataset(source, lazy=lazy)  # already the model's rows (N, D): taken as they are
            # (series, time steps, features) is a panel, as train reads one (it trained on such a file, then refused
            # to score it: an audit)
            if values.ndim not in (2, 3) or values.shape[-1] != len(ws.features):
                raise DataError(f"{where}: expected an array of (time steps, {len(ws.features)} features), a panel "
                                f"(series, time steps, {len(ws.features)} features), or the model's rows (windows, "
                                f"{width}); got shape {values.shape}.")  # fmt: skip
            gap = ~np.isfinite(values)
            clean, mask = np.where(gap, np.nan, values), gap.astype(np.float64) + 2 * np.isinf(values)
        # An array is one series in time order (or a panel of them), whatever columns the training file named (stamps:
        # step numbers).
        options = ({"id_column": ws.id_column, "time_column": ws.time_column, "features": list(ws.features) or None}
                   if isinstance(raw, pd.DataFrame) else {})  # fmt: skip
        frame = prepare_series(clean, fill="interpolate", **options)
        if not (frame.lengths >= ws.window).any():  # make_windows' advice, shorter windows, is none for a trained run
            lengths = frame.lengths.tolist()
            shown = lengths if len(lengths) <= 20 else f"{lengths[:20]} ... (longest {max(lengths)})"
            raise DataError(f"{where} holds no series long enough for one of the run's windows of {ws.window} steps "
                            f"({ws.n_past} past + {ws.n_future} future, as it was trained: --window {ws.n_past} "
                            f"--horizon {ws.n_future}); its series' lengths are {shown}. Give at least {ws.window} "
                            f"rows{' per series' if ws.id_column else ''}.")  # fmt: skip
        windows = make_windows(frame, ws.n_past, ws.n_future)
        gaps = make_windows(prepare_series(mask, **options), ws.n_past, ws.n_future).X  # 0 to 3 (see mask)
        missing = gaps > 0
        rows = self.coder.encode(windows.X)
        stamp = window_stamps(windows, frame)
        ranged, notes = self.range_reasons(rows, stamp)
        reasons = []
        for i in range(len(rows)):
            said: list[str] = []
            for f in np.flatnonzero(missing[i].any(axis=0)):
                steps = np.flatnonzero(missing[i][:, f])
                more = f" and {len(steps) - 1} more step(s)" if len(steps) > 1 else ""
                what = {2: "not a number", 3: "infinite"}.get(int(gaps[i][steps[0], f]), "missing")
                said.append(f"{ws.features[f]}: {what} at {stamp(i, steps[0])}{more} {FILLED}")
            reasons.append("; ".join(said + ranged[i]))
        return Dataset(rows, source=str(Path(source).resolve()), reasons=tuple(reasons),
                       notes=tuple(notes) if any(notes) else None, keys=window_keys(windows, frame, ws.window, ws.id_column),
                       remarks=too_short(windows, frame), serial=serial_of(windows))  # fmt: skip

    def range_reasons(self, rows: np.ndarray, stamp: Callable[[int, int], str]) -> tuple[list[list[str]], list[str]]:
        """Per window (model rows), what lies out of range (a column of the row more than :data:`RANGE_TOLERANCE`
        training SDs outside the training windows' range: flagged), and the note on a trending level past the
        training levels (said, not flagged); ``stamp(i, step)`` names a step of window i."""
        ws = self.settings
        far = self.coder.beyond_range(rows)
        parts = self.coder.column_parts(ws.window, len(ws.features))
        moved = None
        if far is not None:
            # A trending series' level (the window's past mean and log SD, or the first value a differenced window
            # starts from) leaves the training range as the trend goes on: by itself that is not out of range. It is
            # said apart, since the model's log p(x) includes it: past the training levels, a window scores low for
            # that alone (a feature constant in training, inf here, stays out of range).
            cols = [c for c, (part, _, _) in enumerate(parts) if part in LEVEL_PARTS]
            moved = np.zeros_like(far)
            moved[:, cols] = np.where(np.isinf(far[:, cols]), 0.0, far[:, cols])
            far[:, cols] = np.where(np.isinf(far[:, cols]), far[:, cols], 0.0)
        reasons, notes = [], []
        for i in range(len(rows)):
            said: list[str] = []
            if far is not None:
                worst: dict[int, int] = {}
                for c in np.flatnonzero(far[i] > RANGE_TOLERANCE):
                    f = parts[c][1]
                    if f not in worst or far[i, c] > far[i, worst[f]]:
                        worst[f] = c
                for f, c in sorted(worst.items()):
                    part, _, step = parts[c]
                    at = f"at {stamp(i, step)}" if step is not None else f"in the window from {stamp(i, 0)}"
                    if np.isinf(far[i, c]):  # a feature constant in training
                        said.append(f"{ws.features[f]}: out of range {at}: it differs from the one value it had in "
                                    "every training window")  # fmt: skip
                    else:
                        said.append(f"{ws.features[f]}: out of range {at}: its {part} lies {far[i, c]:.1f} training "
                                    "SDs outside the training windows' range")  # fmt: skip
            note = ""
            if moved is not None and (moved[i] > RANGE_TOLERANCE).any():
                c = int(np.argmax(moved[i]))
                part, f, _ = parts[c]
                note = (f"{ws.features[f]}: its {part} in the window from {stamp(i, 0)} lies {moved[i, c]:.1f} "
                        "training SDs beyond the training windows' (a trend going on: not flagged for it, but "
                        f"log p(x) includes the {part}, so this alone lowers it)")  # fmt: skip
            reasons.append(said)
            notes.append(note)
        return reasons, notes

    def split_dataset(self, run: Any, name: str, dataset: Dataset) -> Dataset:
        """The run's split ``name`` with which window each one is (``keys``: its series in a panel, its first and last
        time stamps, as for a file's windows) and what :meth:`range_reasons` says of them (a test period past the
        training range is flagged or noted as in a file). Read from the source when it still gives the same windows;
        else the windows go by number."""
        if dataset.n_examples == 0:
            return dataset
        found = self._split_windows(run, name, dataset.n_examples)
        keys = None if found is None else window_keys(*found, self.settings.window, self.settings.id_column)
        if name == "train":  # the range is the training windows': nothing of theirs lies outside it
            return dataset if keys is None else dataclasses.replace(dataset, keys=keys)
        rows = np.asarray(dataset.X[np.arange(dataset.n_examples)], dtype=np.float32)
        stamp = window_stamps(*found) if found is not None else (lambda i, step: f"step {step} of {name} window {i}")
        ranged, notes = self.range_reasons(rows, stamp)
        # windows holding values --fill interpolate filled at training, flagged as the source file's same windows are
        # (an audit: the test split's windows over a '?' cell said nothing, the file's 'missing at ...')
        filled = self._filled_reasons(run, keys) if keys is not None else None
        if filled is not None:
            ranged = [f + r for f, r in zip(filled, ranged)]
        if not any(ranged) and not any(notes):
            return dataset if keys is None else dataclasses.replace(dataset, keys=keys)
        return dataclasses.replace(dataset, X=rows, reasons=tuple("; ".join(r) for r in ranged),
                                   notes=tuple(notes) if any(notes) else None, keys=keys)  # fmt: skip

    def _filled_reasons(self, run: Any, keys: dict[str, tuple]) -> list[list[str]] | None:
        """Per window of a split (``keys``: which window each one is, :func:`window_keys`), what the source held in
        place of a value (missing, not a number, infinite) and training filled, as :meth:`read` says it of the
        source's windows; None where the run fills nothing or the source no longer gives every window."""
        if self.settings.fill is None:  # nothing was filled: a gap was refused at training
            return None
        try:
            whole = self.read(run.config.data.source)
        except (OSError, ValueError, KeyError, DataError):  # the source moved or changed since training
            return None
        if whole.reasons is None or whole.keys is None or set(whole.keys) != set(keys):
            return None
        said = {key: reason for key, reason in zip(zip(*whole.keys.values()), whole.reasons)}
        split = [said.get(key) for key in zip(*(keys[k] for k in whole.keys))]
        if any(reason is None for reason in split):
            return None
        return [[part for part in reason.split("; ") if part.endswith(FILLED)] for reason in split]

    def _filled_values(self, run: Any, name: str, n: int) -> np.ndarray | None:
        """Per window of split ``name`` (n, T, F), True where the source held no number (missing, not a number,
        infinite) and ``--fill interpolate`` filled the value at training; None where the run fills nothing or the
        source no longer gives the split's windows."""
        if self.settings.fill is None:
            return None
        ws = self.settings
        try:  # read once: the split's windows and their gaps come from the same file
            raw = read_series(run.config.data.source, ws.missing_values)
        except (OSError, ValueError, KeyError, DataError):
            return None
        found = self._split_windows(run, name, n, raw)
        if found is None:
            return None
        windows, frame = found
        if isinstance(raw, pd.DataFrame):
            mask = gap_codes(raw, ws.features)[1]
            options = {"id_column": ws.id_column, "time_column": ws.time_column, "features": list(ws.features) or None}
        else:
            values = np.asarray(raw, dtype=np.float64)
            mask, options = (~np.isfinite(values)).astype(np.float64), {}
        try:
            gaps = prepare_series(mask, **options)
        except (ValueError, KeyError, DataError):
            return None
        if len(gaps.series) != len(frame.series) or any(len(a) != len(b) for a, b in zip(gaps.series, frame.series)):
            return None
        T = ws.window
        return np.stack([gaps.series[s][b : b + T] > 0 for s, b in zip(windows.series, windows.start)])

    def _split_windows(self, run: Any, name: str, n: int, raw: Any = None) -> tuple[Windows, SeriesFrame] | None:
        """The split's windows as the source gives them (``raw``: the source as :func:`read_series` read it, else
        read here), taken with the run's stored split, and the source's frame; None where the source moved or changed
        since training (an audit: a split's score CSV had no series, start or end, where a file's has them)."""
        data = run.config.data
        try:
            frame = read_series_frame(data.source, self.settings, raw)
            windows, _, _ = make_series_windows(data.source, self.settings, data.val_fraction, data.test_fraction,
                                                run.model.seed, frame)  # fmt: skip
            stored = run.dir.read_split(data.n_examples)
        except (OSError, ValueError, KeyError, DataError):  # the source moved or changed since training
            return None
        if len(windows.series) == len(stored) and indices(stored, name).size == n:
            return windows.subset(indices(stored, name)), frame
        return None

    def shapes(self, X: np.ndarray) -> np.ndarray:
        """Model rows (N, D) as the windows' shapes (N, S, F), in model units (see WindowCoder.shape)."""
        return self.coder.shape(X, self.settings.window)

    def after_fit(self, run: RunDir, model: Any, dataset: Dataset, split: np.ndarray, main: bool) -> None:
        """The forecaster p(future | past), trained afresh (seeded) on the training windows after every fit."""
        shapes = self.shapes(dataset.X)
        forecaster = Forecaster.train(shapes[indices(split, "train")], shapes[indices(split, "val")],
                                      self.coder.past_steps, model)  # fmt: skip
        if main:
            forecaster.save(run)
            # Said at the end of training, not only by evaluate-synthetic: a window model stopped before it used
            # its latents generates the mean window every time (macrodata at 20 epochs), and nothing else says so.
            means = generate(model, fit_sampler("prior", model), SPREAD_DRAWS, seed=0)
            train = np.asarray(dataset.X[indices(split, "train")])
            run.update_metrics(generated_spread={**spread_verdict(means.reshape(len(means), -1),
                                                                  train.reshape(len(train), -1)),
                                                 "sampler": "prior", "n": SPREAD_DRAWS})  # fmt: skip

    def feature_names(self) -> list[str]:
        """The model's row, column by column: ``gdp@3`` (step 3's value, in model units), ``Δgdp@3`` (its change),
        ``gdp level`` / ``gdp log SD`` / ``gdp first value`` (a trend handling's extras)."""
        ws = self.settings
        names = []
        for part, f, step in self.coder.column_parts(ws.window, len(ws.features)):
            name = ws.features[f]
            names.append(f"{name} {part}" if step is None else f"{'Δ' if part == 'change' else ''}{name}@{step}")
        return names

    # --------------------------------------------------------- generating
    def to_user(self, X: np.ndarray) -> np.ndarray:
        """Windows (n, T, F) in the data's units."""
        return self.coder.decode(X, self.settings.window)

    def window_view(self, X: np.ndarray) -> tuple[np.ndarray, tuple[str, ...], int]:
        return self.to_user(X), tuple(self.settings.features), self.settings.n_past

    def check_output(self, out: Path) -> None:
        check_frame_output(out, also=(".npy",))

    def write(self, data: np.ndarray, out: Path, title: str = "") -> Path:
        """A long table (window, step, features) or an (n, T, F) .npy."""
        self.check_output(out)
        if out.suffix.lower() == ".npy":
            return write_npy(data, out)
        return write_frame(windows_frame(data, self.settings.features), out)

    def read_past(self, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None, str | None, str]:
        """The last n_past rows of the feature columns of a CSV/Parquet/.npy file, (n_past, F), the time stamps
        of the file's last rows when the run has a time column and the file holds it (else None): at least n_past of
        them, and up to CALENDAR_STAMPS, for the calendar the forecast's stamps continue, the format its text
        stamps are written in (:func:`stamp_format`; None: not text, or no one format), and a note on the missing
        values of those rows filled as training filled its own (a run trained with ``--fill interpolate``: linearly
        in time, over the whole file) and on a table that lacks the run's time column (read in file order, the
        forecast unstamped), "" where neither was."""
        ws = self.settings
        raw = read_series(path, ws.missing_values)
        times, written, rows, stamps = None, None, None, None
        if isinstance(raw, pd.DataFrame):
            missing = [f for f in ws.features if f not in raw.columns]
            if missing:
                raise DataError(f"{Path(path).name} lacks the feature column(s) {missing}; the run was trained on "
                                f"{list(ws.features)}.")  # fmt: skip
            for f in ws.features:  # a text cell raised ValueError through to a traceback (an audit)
                present = raw[f].notna().to_numpy()
                text = present & pd.to_numeric(raw[f], errors="coerce").isna().to_numpy()
                if text.any():
                    row = int(np.flatnonzero(text)[0])
                    raise DataError(f"{Path(path).name}: the feature column {f!r} holds {int(text.sum())} cell(s) that "
                                    f"are not numbers, the first in row {row}; a past must be numbers. Fix those "
                                    "cells first.")  # fmt: skip
            if ws.id_column and ws.id_column in raw.columns and raw[ws.id_column].nunique(dropna=False) > 1:
                ids = raw[ws.id_column].drop_duplicates().tolist()
                raise DataError(f"{Path(path).name} holds {len(ids)} series ({ws.id_column} = "
                                f"{', '.join(map(repr, ids[:5]))}{' ...' if len(ids) > 5 else ''}); a forecast "
                                "continues one past. Give a file with one series' rows.")  # fmt: skip
            if ws.time_column and ws.time_column in raw.columns:
                times = time_values(raw[ws.time_column], ws.time_column, Path(path).name)
                order = np.argsort(times, kind="stable")
                raw, times = raw.iloc[order], times[order]
                repeated = pd.Series(times).duplicated().to_numpy()
                if repeated.any():  # as train refuses them: two rows of one step would shift every later stamp
                    raise DataError(f"{Path(path).name} has {int(repeated.sum())} repeated time stamp(s) in "
                                    f"{ws.time_column!r}, the first is {time_text(times[np.flatnonzero(repeated)[0]])}. Each time "
                                    "step must appear once in a past: aggregate or drop the duplicates.")  # fmt: skip
                times = own_offsets(raw[ws.time_column], times)
                written = stamp_format(raw[ws.time_column], times)
            rows = np.arange(len(raw)) if times is None else order  # each row's place in the file, and its stamp
            stamps = None if times is None else raw[ws.time_column].to_numpy()
            raw = raw[list(ws.features)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        arr = numeric_array(raw, Path(path).name)
        arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
        if arr.ndim != 2 or arr.shape[1] != len(ws.features):
            raise DataError(f"The past must have {len(ws.features)} feature columns; got shape {arr.shape}.")
        if arr.shape[0] < ws.n_past:
            raise DataError(f"The past needs at least {ws.n_past} rows, the run's past steps per window (--window {ws.n_past} "
                            f"at training); {Path(path).name} has {arr.shape[0]}.")  # fmt: skip
        # only the rows the forecaster reads must hold numbers (a gap further back was refused, an audit), and under
        # --fill interpolate their gaps are filled as training filled its own (they were refused: "fill them first")
        used = arr[-ws.n_past :]
        gap, inf = np.isnan(used), np.isinf(used)
        if inf.any() or (gap.any() and ws.fill is None):
            bad = inf if inf.any() else gap
            f = int(np.flatnonzero(bad.any(axis=0))[0])
            what, do = (("infinite", "Replace them first") if inf.any() else
                        ("missing", "Fill them first: the run was trained without --fill (one trained with --fill "
                                    "interpolate fills them as it filled its own)"))  # fmt: skip
            k = arr.shape[0] - ws.n_past + int(np.flatnonzero(bad.any(axis=1))[0])  # where: its row and stamp
            at = "" if rows is None else f", at row {int(rows[k])} of the file" + (
                "" if times is None else f" ({ws.time_column} = {time_text(stamps[k])})")
            raise DataError(f"The past in {Path(path).name} has {int(bad.sum())} {what} value(s) in its last {ws.n_past} "
                            f"rows, the ones the forecaster reads (the first in {ws.features[f]!r}{at}). {do}.")  # fmt: skip
        note = ""
        if gap.any():
            arr = arr.copy()  # (read-only where read from a Parquet file)
            x = np.arange(len(arr), dtype=np.float64) if times is None else time_numbers(times)
            for f in np.flatnonzero(gap.any(axis=0)):
                ok = np.isfinite(arr[:, f])
                if not ok.any():
                    raise DataError(f"The past in {Path(path).name} holds no value of {ws.features[f]!r}; there is "
                                    "nothing to fill its gaps from.")  # fmt: skip
                arr[~ok, f] = np.interp(x[~ok], x[ok], arr[ok, f])
            counts = ", ".join(f"{ws.features[f]}: {int(gap[:, f].sum())}" for f in np.flatnonzero(gap.any(axis=0)))
            tail = "; a gap after the last value observed takes that value" if gap[-1].any() else ""  # (np.interp)
            note = (f"{int(gap.sum())} missing value(s) of the past's last {ws.n_past} rows ({counts}) filled by linear "
                    f"interpolation in {'time' if times is not None else 'row order'}, as the run filled its own "
                    f"(--fill interpolate){tail}")  # fmt: skip
        if ws.time_column and rows is not None and times is None:  # forecasts without stamps were given unsaid (an audit, s13)
            unstamped = (f"{Path(path).name} has no column {ws.time_column!r} (the run's time column): its rows were "
                         "read in file order as time order, and the forecast's steps are numbered, not stamped")  # fmt: skip
            note = "; ".join(n for n in (note, unstamped) if n)
        return arr[-ws.n_past :], None if times is None else times[-max(ws.n_past, CALENDAR_STAMPS) :], written, note

    def futures(self, forecaster: Forecaster, past: np.ndarray, draws: int, seed: int = 0,
                seeds: Any = None) -> np.ndarray:  # fmt: skip
        """``draws`` futures (draws, n_future, F) in the data's units for one past (n_past, F) in the data's
        units; with a batch of pasts (M, n_past, F), (M, draws, n_future, F), each past's drawn with ``seed`` (or
        ``seeds[i]``) as it would be alone (:meth:`Forecaster.sample`)."""
        cond, context = self.coder.encode_past(np.asarray(past, dtype=np.float64))
        return self.coder.decode_future(forecaster.sample(cond, draws, seed, seeds=seeds), context)

    def forecast(self, run: Any, past: str | os.PathLike, draws: int, out: Path,
                 seed: int = 0) -> tuple[Path, Path | None, str]:  # fmt: skip
        """``draws`` futures given the last n_past rows of ``past``: a long table (draw, step, [time,] features)
        or a (draws, n_future, F) .npy; beside a table, a PNG of the past with the 50%/90% bands. With a time
        column, the future steps carry the time stamps that continue the past's (:func:`future_times`). The
        third item says when the past lies outside the training windows' range ("" when it does not)."""
        check_count("--draws", draws)
        self.check_output(out)
        ws = self.settings
        hist, times, written, filled = self.read_past(past)
        self.check_past_fits(hist, Path(past).name)
        futures = self.futures(Forecaster.load(run.dir), hist, draws, seed)
        note = "; ".join(n for n in (filled, self.past_note(hist)) if n)
        if out.suffix.lower() == ".npy":
            return write_npy(futures, out), None, note
        frame = windows_frame(futures, ws.features).rename(columns={"window": "draw"})
        frame["step"] += ws.n_past  # steps counted after the past: n_past, n_past + 1, ...
        # the stamps before the past's own n_past show its calendar: one or two stamps show none (an audit: --window 1,
        # which --trend auto picks for a trend, gave forecasts without stamps; two month ends went on by their spacing)
        ahead = None if times is None else future_times(times, ws.n_future)
        times = None if times is None else times[-ws.n_past :]
        if ahead is not None:  # written as the past writes its stamps ('2010-01' stays a month, not 2010-01-01)
            shown = (ahead if written is None else np.array([iso_stamp(t, written) for t in ahead], dtype=object)
                     if written in (ISO_STAMPS, ISO_UTC_STAMPS) else
                     np.asarray(pd.DatetimeIndex(ahead).strftime(written), dtype=object))  # fmt: skip
            frame.insert(2, ws.time_column, np.tile(shown, draws))
        write_frame(frame, out)
        window = np.concatenate([hist, np.full((ws.n_future, hist.shape[1]), np.nan)])
        stamps = None if ahead is None else np.concatenate([times, ahead])
        png = save_png(forecast_band(window, futures, ws.n_past, ws.features, stamps), out.with_suffix(".png"))
        return out, png, note

    def check_past_fits(self, hist: np.ndarray, name: str) -> None:
        """Refuses a past (n_past, F) in data units whose values in the model's units overflow float32, the
        forecaster's inputs: it drew futures of inf, written as empty cells under a note that the past "leaves the one
        value a feature had in every training window" (an audit, s15)."""
        with np.errstate(over="ignore", invalid="ignore"):
            cond, _ = self.coder.encode_past(hist)
        if np.isfinite(cond).all():
            return
        f = int(np.argmax(np.abs(hist).max(axis=0)))
        raise DataError(f"The past in {name} lies too far outside the training windows for the forecaster: its values "
                        f"in the model's units overflow float32 (±3.4e38); its largest is {hist[:, f].max():.4g} "
                        f"(smallest {hist[:, f].min():.4g}) in {self.settings.features[f]!r}. Give a past in the "
                        "units of the training file.")  # fmt: skip

    def past_note(self, hist: np.ndarray) -> str:
        """Where a past (n_past, F) in data units lies outside the training windows' range, as the forecaster reads
        it (its shape: a trend's level is not counted), in training SDs; "" inside it or for a coder stored
        before the range was kept."""
        cond, _ = self.coder.encode_past(hist)  # (past_steps, F), the model's units: a row's first columns
        far = self.coder.beyond_range(cond.reshape(1, -1))
        if far is None or not (far > RANGE_TOLERANCE).any():
            return ""
        c = int(np.argmax(far[0]))
        # the step a column holds (under 'difference', the change into that step: the row's column c is the change
        # from step c // F to the next, and the note named the step before the jump, an audit)
        part, f, step = self.coder.column_parts(self.settings.window, len(self.settings.features))[c]
        how = (f"lies up to {far[0, c]:.1f} training SDs outside the training windows' range" if np.isfinite(far[0, c])
               else "leaves the one value a feature had in every training window")  # fmt: skip
        what = "the change into " if part == "change" else ""
        return (f"the past {how} ({self.settings.features[f]}, {what}step {step} of the past): the forecast "
                "extrapolates where the forecaster never trained")  # fmt: skip

    # ------------------------------------------------------- evaluation
    def evaluate_synthetic(self, run: Any, *, n: int | None, target: str | None, sampler: str,
                           seed: int, draw: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """TimeGAN's tests in vaelab's settings: synthetic windows as many as the test windows, the discriminative
        score (mean of :data:`REPEATS`, with its SE) beside a Gaussian baseline's and a verdict, the predictive
        score (forecasters trained on synthetic and on real training windows, tested on the test windows; the mean of
        :data:`REPEATS`, with an SE that covers their training),
        per-feature KS complements, and the forecaster against repeating the last value. Synthetic windows are decoder
        means, or with ``draw`` draws from p(x|z), as ``sample`` gives either."""
        if target is not None:
            raise ConfigError(f"--target names the column a table run's ML efficacy predicts; this is a series run, "
                              f"whose predictive score forecasts every feature ({', '.join(self.settings.features)}). "
                              "Drop --target.")  # fmt: skip
        ws = self.settings
        dataset, codes = run.data()
        train_rows, test_rows = dataset.X[indices(codes, "train")], dataset.X[indices(codes, "test")]
        if len(test_rows) < 4:  # before decoding them: none could not be decoded (a traceback, an audit s15)
            raise RunError(f"{run.dir.path} has {len(test_rows)} test windows; evaluating synthetic series needs at "
                           "least 4: train with a larger test fraction (--test-fraction; test_fraction= in Python) "
                           "or longer series.")  # fmt: skip
        test = self.to_user(test_rows)
        n = len(test) if n is None else check_measured_count("--n", n, len(test))
        if n < 4:  # as few as the test windows may be; --n 1 failed deep inside, naming "synth", not --n (an audit)
            raise ConfigError(f"--n (n=) must be at least 4 synthetic windows for a series run (the discriminative "
                              f"score holds out a fifth of them); got {n}. Leave it out to generate as many as the "
                              f"{len(test)} test windows.")  # fmt: skip
        # the test windows' series and how far apart two share a step: the predictive difference's SE (None: apart)
        serial = dataset.serial
        test_serial = ({"groups": np.asarray(serial[0])[indices(codes, "test")], "lag": int(serial[1])}
                       if serial is not None else {"lag": 0})  # fmt: skip
        # values --fill interpolate filled are no real future values: left out of the forecaster's and the predictive
        # score's errors (an audit, s12: counted, a filled straight line scored as what happened)
        filled = self._filled_values(run, "test", len(test))
        counted = None if filled is None or not filled[:, ws.n_past :].any() else ~filled[:, ws.n_past :]
        # ... and from the real windows the fidelity scores read (an audit, s13: a filled straight line looks smoother
        # than what was observed): per value from the KS complements, per window from the discriminative scores
        observed, scored, in_windows = filled_in_test_windows(filled, ws.n_past)
        # the repeats' seeds wrapped modulo 2**32 as the forecast draws' are: at --seed 4294967295, seed + 1 reached
        # scikit-learn's GaussianMixture (aggregate-gmm) as a random_state past its top, a traceback (an audit, s13)
        rows = {s: run.generate(n, sampler=sampler, seed=s, mean=not draw)
                for s in ((int(seed) + k) % (MAX_SEED + 1) for k in range(REPEATS))}  # fmt: skip
        gauss = gaussian_windows(train_rows)
        base = {s: gauss(n, s) for s in rows}
        synth = self.to_user(rows[seed])
        # per feature, with SEs over both sets of windows (the real ones in blocks: neighbours share steps)
        ks = window_ks_complements(test, synth, **test_serial, seed=seed, counted=observed)
        shapes = dict(zip(ws.features, ks["scores"]))
        seen = test[scored]
        vae_d = repeated_discriminative(seen, lambda s: self.to_user(rows[s]), list(rows))
        base_d = repeated_discriminative(seen, lambda s: self.to_user(base[s]), list(rows))
        # Real training windows scored the same way: the floor for any generator of the training period (the
        # test period may differ from it, and the classifier's noise does not shrink below it).
        real = {s: train_rows[np.random.default_rng(s).choice(len(train_rows), n, replace=len(train_rows) < n)]
                for s in rows}  # fmt: skip
        ref_d = repeated_discriminative(seen, lambda s: self.to_user(real[s]), list(rows))
        block: dict[str, Any] = {
            "kind": "series", "sampler": sampler, "n_synthetic": int(n), "n_real_test": len(test),
            # said, as compare-samplers says its samples (an audit, s12): the real windows carry their noise, these none
            "synthetic_are": SYNTHETIC_DRAWN if draw else SYNTHETIC_ARE, "draw": bool(draw),
            "window": ws.window, "n_past": ws.n_past, "n_future": ws.n_future, "features": list(ws.features),
            "trend": self.trend, "column_shapes": ks["mean"], "ks_complement": shapes,
            "column_shapes_stderr": ks["mean_stderr"], "ks_complement_stderr": dict(zip(ws.features, ks["stderr"])),
            "column_shapes_stderr_over": ks["se_over"],
            "discriminative": vae_d,
            # repeated as the discriminative score is (each seed's synthetic windows, subsamples and forecasters): one
            # score's SE left out the forecasters' training randomness, the larger part (an audit)
            "predictive": repeated_predictive(test, lambda s: self.to_user(rows[s]), list(rows), ws.n_past,
                                              real_train=self.to_user(train_rows), counted=counted, **test_serial),
            "gaussian": {"discriminative": base_d}, "real_training": {"discriminative": ref_d},
        }  # fmt: skip
        verdicts = {"generator": generator_verdict(vae_d, base_d, "in data units", ref_d)}
        if self.coder.handling != "none":
            # Test windows of a trending series lie at levels no training window reached: compare shapes too.
            test_shape = self.shapes(test_rows)[scored]
            block["discriminative_shape"] = repeated_discriminative(test_shape, lambda s: self.shapes(rows[s]), list(rows))
            block["gaussian"]["discriminative_shape"] = repeated_discriminative(
                test_shape, lambda s: self.shapes(base[s]), list(rows))
            block["real_training"]["discriminative_shape"] = repeated_discriminative(
                test_shape, lambda s: self.shapes(real[s]), list(rows))
            verdicts["generator_shape"] = generator_verdict(block["discriminative_shape"],
                                                            block["gaussian"]["discriminative_shape"],
                                                            "in the windows' shapes (levels taken out)",
                                                            block["real_training"]["discriminative_shape"])  # fmt: skip
        # the decoder means' spread, as training measures it: a draw's noise varies whether the latents are used or not
        spread = spread_verdict(run.generate(n, sampler=sampler, seed=seed) if draw else rows[seed], train_rows)
        block["generated_spread"] = spread["ratio"]
        if spread["outcome"] == "collapsed":
            verdicts["generated_spread"] = spread
        if counted is not None:
            block["filled_left_out"] = (f"{int((~counted).sum())} of the {counted.size} future values of the "
                                        f"{len(test)} test windows were filled by --fill interpolate, not observed: "
                                        "left out of the predictive score and the forecaster's band coverage and "
                                        "MAE")  # fmt: skip
        if in_windows:
            block["filled_in_windows"] = in_windows
        block["forecast"], band = self.forecast_scores(run, test_rows, test, codes, seed, counted)
        verdicts["forecaster"] = block["forecast"].pop("verdict")
        if "coverage_verdict" in block["forecast"]:
            verdicts["forecast_band"] = block["forecast"].pop("coverage_verdict")
        block["verdicts"] = verdicts
        figures = {"series_windows": real_vs_generated(test, synth, ws.features),
                   "forecast_band": forecast_band(*band, ws.n_past, ws.features)}  # fmt: skip
        return block, figures

    def forecast_scores(self, run: Any, test_rows: np.ndarray, test: np.ndarray, codes: np.ndarray, seed: int,
                        counted: np.ndarray | None = None) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:  # fmt: skip
        """Coverage of the 90% band, the median's MAE against repeating the last value (paired, with an
        SE over overlapping windows), and one window's draws for the figure. ``counted`` (test windows, n_future, F):
        False at future values --fill interpolate filled, left out of both (a window with none left, out)."""
        ws = self.settings
        forecaster = Forecaster.load(run.dir)
        pick = evaluated_windows(len(test))
        real = np.ones(test[pick, ws.n_past :].shape, dtype=bool) if counted is None else counted[pick]
        # test window k drawn with seed + k, as `sample --past` of its past with --seed seed + k draws it: each
        # window's own draws (their Monte Carlo noise apart from the others'), whatever else is in the batch. Wrapped
        # modulo 2**32 so that every window's seed is one `sample --seed` takes (seed + k passed its top near it: an audit)
        seeds = (int(seed) + pick.astype(np.int64)) % (MAX_SEED + 1)
        draws = self.futures(forecaster, test[pick, : ws.n_past], FORECAST_DRAWS, seeds=seeds)  # (M, draws, ...)
        truth = test[pick, ws.n_past :]
        lo, hi = np.percentile(draws, 5, axis=1), np.percentile(draws, 95, axis=1)
        has = real.any(axis=(1, 2))  # windows with a real (not filled) future value

        def per_window(a: np.ndarray, where: np.ndarray) -> np.ndarray:  # the mean over the counted values
            # of the windows that hold one: dividing first by the others' 0 printed numpy's "invalid value encountered
            # in divide" with a source line (an audit, s14)
            return np.where(where, a, 0.0).sum(axis=(1, 2))[has] / where.sum(axis=(1, 2))[has]

        err = per_window(np.abs(np.median(draws, axis=1) - truth), real)
        naive = per_window(np.abs(test[pick, ws.n_past - 1][:, None] - truth), real)
        groups = series_of_test_windows(self, run, codes)[pick][has]
        # A feature every training window held the same way is forecast at that value by rule: its band has no width
        # and, counted, lifted the coverage of a run with one such feature of two to 98% (an audit). It is left out,
        # and said so; where every feature is such, they are all counted (inside only where equal to the value).
        fixed = self.coder.constant_features
        drawn = ~fixed if fixed.any() and not fixed.all() else np.ones_like(fixed)
        both = real & drawn  # (M, n_future, F): values counted in the coverage
        keep = both.any(axis=(1, 2))
        inside = (np.where(both, (truth >= lo) & (truth <= hi), False).sum(axis=(1, 2)) / np.maximum(
            both.sum(axis=(1, 2)), 1))[keep]  # per window: the share inside the band  # fmt: skip
        per = int(both[keep].sum(axis=(1, 2)).min()) if keep.any() else 0  # the fewest values a window's share holds
        # The forecaster reads the past as well: windows that share any step (T - 1 apart at stride 1), not only a
        # future one, have errors that move together (an audit, s13: on a random walk the SE over n_future windows was
        # 0.42 against a spread of 0.80), counted in evaluated windows (every k-th test window past FORECAST_WINDOWS)
        # Past FORECAST_WINDOWS the picks are 2 and 3 apart, and apart counts the closest: exact places (positions=pick,
        # lag T - 1) give Bartlett weights that are smaller, and held the truth less often on AR(1) window means, 400 of
        # 1000 windows of 30 steps: 88% as here, 86% with places (an audit, s15): kept
        apart = (ws.n_past + ws.n_future - 1) // ws.stride // (int(np.diff(pick).min()) if len(pick) > 1 else 1)
        if np.unique(groups).size == groups.size:  # each window of its own series (a short panel split by series):
            apart = 0  # none shares a step with another, and the output said they did (an audit, s14)
        cover = (band_coverage(inside, values_per_window=per, groups=series_of_test_windows(self, run, codes)[pick][keep],
                               lag=ws.n_future, se_lag=apart, positions=np.flatnonzero(keep))
                 if keep.sum() >= 2 else {"coverage_90": float(inside.mean()) if inside.size else float("nan")})  # fmt: skip
        left = {}
        if not drawn.all():
            names = [ws.features[f] for f in np.flatnonzero(~drawn)]
            moved = int((truth[..., ~drawn] != draws[:, 0][..., ~drawn]).any(axis=(1, 2)).sum())
            left = {"coverage_features": [ws.features[f] for f in np.flatnonzero(drawn)],
                    "coverage_left_out": f"{', '.join(names)}: the same in every training window, forecast at that "
                                         "value by rule (a band of no width)" +
                                         (f"; the real future differs from that value in {moved} of the "
                                          f"{len(pick)} windows" if moved else "")}  # fmt: skip
            if "coverage_verdict" in cover:
                cover["coverage_verdict"]["text"] += f" Left out of the coverage: {left['coverage_left_out']}."
        if counted is not None:
            left["filled_left_out"] = (f"{int((~real).sum())} of the {real.size} future values of these windows, filled "
                                       f"by --fill interpolate (not observed), are left out"
                                       + (f"; {int((~has).sum())} window(s) with no other future value" if not has.all()
                                          else ""))  # fmt: skip
        facts = {"windows": int(len(pick)), "draws": FORECAST_DRAWS, **left,
                 "draw_seeds": f"test window k (from 0, series by series in time order) drawn with seed {seed} + k "
                               f"(modulo 2**32, past {MAX_SEED}), as sample --past of its past with that --seed "
                               "draws it",
                 "coverage_90": cover["coverage_90"],
                 **{k: cover[k] for k in ("coverage_stderr", "coverage_interval", "coverage_approximate",
                                          "coverage_verdict") if k in cover},
                 "se_over": (f"the {int(has.sum())} evaluated windows, paired" + (
                     f"; windows up to {apart} apart share a step, past or future (Bartlett weights, the SE scaled to "
                     "the fixed-b 95% interval of Kiefer & Vogelsang 2005)" if apart else
                     ", each of its own series (no two share a step)")),
                 # windows with no observed future value are left out: those either side are as far apart as they were
                 # (an audit, s14: they were taken as neighbours)
                 **forecaster_verdict(err, naive, groups, apart, np.flatnonzero(has))}  # fmt: skip
        i = len(pick) // 2
        return facts, (test[pick[i]], draws[i])

    def summary_lines(self, block: dict[str, Any]) -> list[str]:
        p, f = block["predictive"], block["forecast"]
        lines = [
            f"synthetic windows: {block.get('synthetic_are', SYNTHETIC_ARE)}",
            f"discriminative score {discriminative_text(block)}",
            f"predictive score (forecasting the last {block['n_future']} steps of every feature, MAE in data units): "
            f"{p['mae_synthetic']:.4f} trained on synthetic windows vs {p['mae_real']:.4f} on real "
            f"{'training ' if 'reference' in p else ''}windows{repeats_of(p)}{predictive_difference(p)}",
            f"value distributions: mean KS complement {with_se(block['column_shapes'], block.get('column_shapes_stderr'))} "
            f"over {len(block['features'])} features{ks_over(block)}",
            f"forecaster: {f['verdict']}" if "verdict" in f else
            f"forecaster: {100 * f['coverage_90']:.0f}% of real future values{coverage_of(f)} inside the 90% band; MAE of the median "
            f"{f['mae_median']:.4f} vs {f['mae_last_value']:.4f} for repeating the last value",
        ]  # fmt: skip
        if "filled_left_out" in block:
            lines.append(f"filled values: {block['filled_left_out']}")
        if "filled_in_windows" in block:
            lines.append(f"filled values: {block['filled_in_windows']}")
        if "trend" in block and "why" in block["trend"]:
            lines.append(trend_line(block["trend"]))
        lines += [f"verdict: {v['text']}" for v in block.get("verdicts", {}).values()]
        return lines


def filled_in_test_windows(filled: np.ndarray | None, n_past: int) -> tuple[np.ndarray | None, Any, str]:
    """What evaluate-synthetic's fidelity scores read of the test windows that hold values ``--fill interpolate``
    filled (``filled``: (W, T, F), True where filled; None: nothing filled): the values the KS complements compare
    (the observed ones; None: all), the windows the discriminative scores read (the indices of those with no filled value,
    where at least half of the windows and 4 remain; else a slice of all), and the sentence that says so and how many windows' pasts,
    which every forecaster reads as given, hold filled values ("" where no value was filled)."""
    if filled is None or not filled.any():
        return None, slice(None), ""
    w = len(filled)
    whole, past = filled.any(axis=(1, 2)), filled[:, :n_past].any(axis=(1, 2))
    rest = np.flatnonzero(~whole)
    scored = rest if rest.size >= max(4, w / 2) else slice(None)
    observed = ~filled if (~filled).any(axis=(0, 1)).all() else None  # a feature observed nowhere: all kept
    text = (f"{int(whole.sum())} of the {w} test windows hold values filled by --fill interpolate, not observed: "
            + (f"left out of the discriminative scores ({rest.size} windows scored)" if scored is rest else
               f"kept in the discriminative scores (too many to leave out: {rest.size} would remain)")
            + ("; their filled values left out of the value distributions (KS complements)" if observed is not None
               else "; kept in the value distributions (KS complements): a feature is filled in every window")
            + (f"; {int(past.sum())} of them hold filled values in their past, which the forecasters and repeating the "
               "last value read as given (as sample --past fills a past's gaps)" if past.any() else ""))  # fmt: skip
    read = evaluated_windows(w)
    if past.any() and read.size < w:  # the forecaster's band and MAE read some of them (an audit, s14: unsaid)
        text += (f", {int(past[read].sum())} of the {read.size} evenly spaced test windows the forecaster's band and "
                 "MAE against repeating the last value read")  # fmt: skip
    return observed, scored, text


def evaluated_windows(n: int) -> np.ndarray:
    """Which of ``n`` test windows measure the forecaster (its band, its MAE against repeating the last value): all of
    them, or :data:`FORECAST_WINDOWS` evenly spaced."""
    return np.unique(np.linspace(0, n - 1, min(FORECAST_WINDOWS, n)).astype(int))


def forecaster_verdict(err: np.ndarray, naive: np.ndarray, groups: np.ndarray, lag: int,
                       positions: Any = None) -> dict[str, Any]:  # fmt: skip
    """The forecaster's MAE per window (``err``) against repeating the last value (``naive``), paired, with a
    SE over overlapping windows up to ``lag`` apart within each series (``groups``): windows next to each other share
    most of their steps, past and future. The SE is the fixed-b one (:func:`overlap_stderr`): ± 2 of it is a 95%
    interval though the windows of a series be few against the lag; ``positions``: each window's place in its series
    (in the units ``lag`` counts) where some were left out between others. The MAEs, their difference and SE, and the
    verdict in words."""
    err, naive = np.asarray(err, dtype=np.float64), np.asarray(naive, dtype=np.float64)
    diff = paired_difference(err - naive, groups, lag=lag, fixed_b=True, positions=positions)
    outcome = compare(diff["mean"], diff["se"])
    head = {"lower": "the forecaster beats repeating the last value",
            "higher": "the forecaster loses to repeating the last value",
            "no clear winner": "no clear winner between the forecaster and repeating the last value"}[outcome]  # fmt: skip
    digits = decimals_for(2 * diff["se"])  # the MAEs to the difference's decimals (".4g" gave "5.002e+04": an audit)
    text = (f"{head}: MAE of its median {err.mean():,.{digits}f} vs {naive.mean():,.{digits}f} (difference "
            f"{plus_minus(diff['mean'], 2 * diff['se'])}, the ± being 2 SE)")  # fmt: skip
    # too few windows against the span they share: said, not claimed as 95% (approximate_interval)
    approximate = approximate_interval(len(err), lag, groups=groups)
    if approximate:
        text += f"; {approximate}"
    return {"mae_median": float(err.mean()), "mae_last_value": float(naive.mean()), "mae_difference": diff["mean"],
            "mae_difference_se": diff["se"], **({"mae_difference_approximate": approximate} if approximate else {}),
            "verdict": {"outcome": {"lower": "better", "higher": "worse"}.get(outcome, outcome), "text": text}}  # fmt: skip


def generator_verdict(vae: dict[str, Any], base: dict[str, Any], where: str,
                      real: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Generated windows against one multivariate normal over the model's rows, by discriminative score.

    With ``real``, the score of real training windows against the same test windows: when the Gaussian is
    not clearly above it, a generator of the training period cannot be shown clearly below the Gaussian on
    these windows (the test period's own difference from the training period, and the classifier's noise
    on few test windows, set that floor): ``floor`` is True, and a verdict of no clear winner says so.
    """
    outcome = compare(vae["score"] - base["score"], float(np.hypot(vae["se"], base["se"])))
    # "no clear winner", not "no better than": the difference may lean either way inside its 2 SE (an audit).
    head = {"lower": "generated windows are better than one multivariate normal over the window",
            "higher": "generated windows are worse than one multivariate normal over the window",
            "no clear winner": "no clear winner between generated windows and one multivariate normal over the window"}
    text = (f"{head[outcome]} {where}: discriminative score {vae['score']:.3f} ± {vae['se']:.3f} vs {base['score']:.3f} "
            f"± {base['se']:.3f} (± 1 SE; difference {vae['score'] - base['score']:+.3f}, 2 SE of the difference "
            f"{2 * float(np.hypot(vae['se'], base['se'])):.3f})")  # fmt: skip
    out: dict[str, Any] = {"outcome": {"lower": "better", "higher": "worse"}.get(outcome, "no clear winner")}
    if real is not None:
        floor = compare(base["score"] - real["score"], float(np.hypot(base["se"], real["se"]))) != "higher"
        out["floor"] = floor
        # only beside "no clear winner": beside "worse than the Gaussian" the floor explains nothing, and beside
        # "better than the Gaussian" it contradicted the head (an audit)
        if floor and outcome == "no clear winner":
            text += (f"; the Gaussian cannot be told from real training windows ({real['score']:.3f} ± "
                     f"{real['se']:.3f}), so these test windows cannot show a generator of the training period "
                     "clearly below it")  # fmt: skip
    return {**out, "text": text}


SPREAD_DRAWS = 500  # prior draws whose decoder means training measures the spread of
SPREAD_LIMIT = 0.2  # generated rows varying less than this share of the training rows' SD: the latents are unused


def spread_verdict(generated: np.ndarray, train: np.ndarray) -> dict[str, Any]:
    """How much generated rows (decoder means, N × D) vary, as a share of how much the training rows vary (mean SD
    per value). Below :data:`SPREAD_LIMIT` the latents carry almost nothing and every generated window is close to
    the mean window: on macrodata's 110 windows a 128-128 network stopped at epoch 5 with a share of 0.06, and one of
    64 units with latent 4 reached 0.41 and scored as one multivariate normal does (BENCHMARKS.md; 0.18 when stopped at
    the default 50 epochs, so the advice names the epochs too)."""
    ratio = float(np.std(generated, axis=0).mean() / max(float(np.std(train, axis=0).mean()), 1e-12))
    if ratio >= SPREAD_LIMIT:
        return {"outcome": "varied", "ratio": ratio, "text": f"generated windows vary by {ratio:.2f} of the training "
                                                             "windows' spread"}  # fmt: skip
    return {"outcome": "collapsed", "ratio": ratio,
            "text": f"generated windows barely vary ({ratio:.2f} of the training windows' spread, per value): the "
                    "model's latents carry almost nothing and every window is close to the mean window; with few "
                    "training windows try a smaller network trained longer (e.g. --hidden 64 --latent-dim 4 --epochs "
                    "500 --patience 50: at the default 50 epochs it still barely varied on macrodata)"}


def series_of_test_windows(kind: SeriesKind, run: Any, codes: np.ndarray) -> np.ndarray:
    """The series index of every test window (windows come series by series, in time order)."""
    windows, _, _ = make_series_windows(run.config.data.source, kind.settings, run.config.data.val_fraction,
                                        run.config.data.test_fraction)  # fmt: skip
    return windows.series[codes == 2]


def serial_of(windows: Windows) -> tuple[np.ndarray, int] | None:
    """:attr:`Dataset.serial` of the windows: each one's series, and how many windows apart two still share a step;
    None where no two windows share a step (one window per series, as a panel of short sequences split by series
    gives, or a stride of a whole window): their SEs are over independent examples, and say so (an audit: they were
    called "over overlapping windows")."""
    serial = np.asarray(windows.series), (windows.window_length - 1) // windows.stride
    return serial if overlapping(serial) else None


def too_short(windows: Windows, frame: SeriesFrame, what: str = "not scored") -> tuple[str, ...]:
    """A note on the series of a panel file shorter than one window: they give no window, so none of their rows is
    scored (an audit: the CSV and the count left them out and nothing said so) or trained on (``what``); none when
    every series gives one."""
    short = np.flatnonzero(windows.lengths < windows.window_length)
    if not short.size:
        return ()
    shown = ", ".join(f"{frame.ids[k]!r} ({int(windows.lengths[k])} steps)" for k in short[:5])
    more = f" and {short.size - 5} more" if short.size > 5 else ""
    return (f"{short.size} series of the file {'is' if short.size == 1 else 'are'} shorter than one window "
            f"({windows.window_length} steps) and {what}: {shown}{more}",)  # fmt: skip


def window_keys(windows: Windows, frame: SeriesFrame, window: int, id_column: str | None = None) -> dict[str, tuple]:
    """Which window each one is, for score's CSV (an audit: a panel's windows came with their number only): its
    series (in a panel, or whenever the run has an ``id_column``: a file of one series dropped the column a panel
    kept, an audit, s13) and the time stamps (or step numbers) of its first and last steps."""
    def at(k: int, t: int) -> str:
        return f"{t}" if frame.times is None else time_text(frame.times[k][t])

    keys = {"start": tuple(at(k, t) for k, t in zip(windows.series, windows.start)),
            "end": tuple(at(k, t + window - 1) for k, t in zip(windows.series, windows.start))}  # fmt: skip
    if len(frame.ids) > 1 or id_column is not None:
        keys = {"series": tuple(frame.ids[k] for k in windows.series), **keys}
    return keys


def window_stamps(windows: Windows, frame: SeriesFrame) -> Callable[[int, int], str]:
    """``stamp(i, step)``: step ``step`` of window i by its time stamp (a step number without a time column), with
    its series in a panel."""
    panel = len(frame.ids) > 1

    def stamp(i: int, step: int) -> str:
        k, t = windows.series[i], windows.start[i] + step
        at = f"step {t}" if frame.times is None else time_text(frame.times[k][t])
        return f"{at} (series {frame.ids[k]})" if panel else at

    return stamp


def numeric_array(raw: Any, where: str) -> np.ndarray:
    """An array read from a series' ``.npy`` as float64; one of text, objects or complex numbers is a DataError
    (text raised ValueError through to a traceback, and complex numbers lost their imaginary part unsaid)."""
    if isinstance(raw, np.ndarray) and raw.dtype.kind not in "biuf":
        raise DataError(f"{where}: expected numbers (time steps × features); got an array of dtype {raw.dtype}. "
                        "Convert it to a real numeric array first.")  # fmt: skip
    return np.asarray(raw, dtype=np.float64)


def gap_codes(raw: pd.DataFrame, features: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A series file's frame with its feature cells as numbers (NaN where the file held none), and the same frame
    with each feature cell coded: 0 a number, 1 missing, 2 text that is not a number, 3 infinite (what
    ``--fill interpolate`` fills, and what :meth:`SeriesKind.read` says of each window)."""
    features = list(features)
    values = np.column_stack([pd.to_numeric(raw[c], errors="coerce").to_numpy(dtype=np.float64) for c in features])
    gap = ~np.isfinite(values)
    text = np.column_stack([raw[c].notna().to_numpy() for c in features]) & np.isnan(values)
    clean, mask = raw.copy(), raw.copy()
    clean[features] = np.where(gap, np.nan, values)
    mask[features] = gap.astype(np.float64) + text + 2 * np.isinf(values)
    return clean, mask


def time_text(value: Any) -> str:
    """A time stamp as text: a date, a date and time, or a number."""
    if isinstance(value, np.datetime64):
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(value, np.timedelta64):  # a duration since a start, as pandas writes it ('0 days 01:00:00')
        return str(pd.Timedelta(value))
    # every digit a float stamp needs (":g" kept six: epoch seconds read 1.57784e+09 for every window, an audit)
    return np.format_float_positional(value, trim="-") if isinstance(value, (float, np.floating)) else str(value)


ISO_STAMPS = "isoformat"  # stamp_format's word for stamps written by Timestamp.isoformat() (an offset with a colon)
ISO_UTC_STAMPS = "isoformat Z"  # ... and for those written so in UTC with a Z ('2021-03-28T07:00:00Z')


def iso_stamp(t: Any, how: str) -> str:
    """A zoned stamp as :data:`ISO_STAMPS` or :data:`ISO_UTC_STAMPS` write it."""
    text = pd.Timestamp(t).isoformat()
    return text[:-6] + "Z" if how == ISO_UTC_STAMPS and text.endswith("+00:00") else text


def stamp_format(column: pd.Series, times: np.ndarray) -> str | None:
    """The strftime format of a text time column (``times``: its stamps as :func:`time_values` reads them, in the
    column's order) where that format writes every stamp back exactly as the column holds it ('2010-01' for months,
    '2010-01-05 13:00'), or :data:`ISO_STAMPS` / :data:`ISO_UTC_STAMPS` for zoned stamps that
    ``Timestamp.isoformat()`` writes back ('2010-01-05T13:00:00+01:00', with Z for UTC: '2010-01-05T12:00:00Z'); None for a column that is not text, or text that no one format gives back (an audit: a
    past's 'YYYY-MM' stamps went on as 'YYYY-MM-01')."""
    texts = column.to_numpy(dtype=object)
    if not len(texts) or not all(isinstance(t, str) for t in texts):
        return None
    last = slice(-CALENDAR_STAMPS, None)  # the stamps a forecast continues (a past may be a long file)
    if all(isinstance(t, pd.Timestamp) and t.tz is not None for t in times[last]):
        for how in (ISO_STAMPS, ISO_UTC_STAMPS):  # '2021-03-28T09:00:00+02:00', '…T07:00:00Z': strftime's %z writes
            if all(iso_stamp(t, how) == text for t, text in zip(times[last], texts[last])):  # +0200 and +0000
                return how
    fmt = guess_format(texts[-1].strip(), dayfirst=False)
    if fmt is None:
        return None
    try:
        again = np.asarray(pd.DatetimeIndex(times).strftime(fmt), dtype=object)
    except (TypeError, ValueError):  # stamps of several offsets make no one index
        return None
    return fmt if (again == texts).all() else None


def time_values(column: pd.Series, name: str, where: str) -> np.ndarray:
    """A time column as numbers or datetime64, sortable; ISO-8601 text is parsed."""
    if pd.api.types.is_integer_dtype(column.dtype):  # (booleans are not integers to pandas)
        values = column.to_numpy(dtype=np.int64)  # whole-number stamps (periods, years) stay whole in forecasts
    elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64)
    elif pd.api.types.is_timedelta64_dtype(column.dtype):  # durations since a start, as training sorts by them
        values = column.to_numpy()
    else:
        values = iso_times(column, f"{where}: the time column {name!r}").to_numpy()
    if pd.isna(values).any():
        raise DataError(f"{where}: the time column {name!r} has missing values; every row of the past needs a time.")
    return values


def own_offsets(column: pd.Series, times: np.ndarray) -> np.ndarray:
    """Text stamps whose UTC offsets change (+01:00 in winter, +02:00 in summer: a zoned column written to CSV), which
    :func:`time_values` reads in UTC, as Timestamps each in its own offset, for the forecast to continue the past's
    wall clock in its last offset (an audit, s13: forecasts came out in UTC, and a month's ends drifted); ``times``
    as it is otherwise. ``column`` and ``times`` are in the same (sorted) order."""
    texts = column.to_numpy(dtype=object)
    if times.dtype != object or not len(texts) or not all(isinstance(t, str) for t in texts):
        return times
    try:
        own = np.array([pd.Timestamp(t.strip()) for t in texts], dtype=object)
    except (TypeError, ValueError, OverflowError):
        return times
    offsets = {t.utcoffset() for t in own}
    if len(offsets) < 2 or None in offsets or any(a != b for a, b in zip(own, times)):
        return times  # one offset (pandas keeps it), naive stamps, or not the same instants
    return own


def time_numbers(times: np.ndarray) -> np.ndarray:
    """Time stamps (as :func:`time_values` reads them) as float64 numbers on their own scale, to interpolate in time as
    training does (datetimes and durations as integer ticks)."""
    if times.dtype == object:  # Timestamps with a UTC offset
        return np.array([pd.Timestamp(t).value for t in times], dtype=np.float64)
    if times.dtype.kind in "mM":
        return times.astype("int64").astype(np.float64)
    return times.astype(np.float64)


def filled_note(raw: Any, features: Sequence[str], ws: SeriesSettings) -> str:
    """Train's note on the missing values ``--fill interpolate`` filled in a series file (``raw``, as
    :func:`read_series` read it), feature by feature; "" where the run fills nothing or none was missing. sample --past
    said what it filled, train nothing (an audit, s14)."""
    if ws.fill is None:
        return ""
    if isinstance(raw, pd.DataFrame):
        gaps = gap_codes(raw, features)[1][list(features)].to_numpy() > 0
    else:
        try:
            values = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):  # a list of series of several lengths
            values = np.concatenate([np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in raw])
        gaps = ~np.isfinite(values.reshape(-1, values.shape[-1] if values.ndim > 1 else 1))
    per = gaps.sum(axis=0)
    if not per.sum():
        return ""
    counts = ", ".join(f"{features[f]}: {int(per[f])}" for f in np.flatnonzero(per))
    return (f"{int(per.sum())} missing value(s) filled by linear interpolation in "
            f"{'time' if ws.time_column else 'row order'} (--fill interpolate; a gap at a series' start or end takes "
            f"its nearest value): {counts}; score and evaluate-synthetic say which windows hold them")  # fmt: skip


HOLIDAY_GAP = 5  # business days one closure may skip (a week: China's Golden Week) and still read as holidays
HOLIDAY_SHARE = 0.08  # of the business days spanned that may be missing (about 20 a year: Japan's and China's closures)


def _calendar_odd(wall: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Per step between consecutive stamps of one series (dates, sorted, on one wall clock), True where it is not one
    step of the calendar the stamps keep, a few steps missing allowed: months (on one day, on their ends, or on their
    29th or 30th), half months (the 15th and month ends, or the 1st and 15th) or business days; None where they keep
    none of these. Beside it, for business days, the business days each step skips (0 for one step), else None.
    Plain numpy on the stamps' fields: pandas' inference took 4 ms a series, 44 s on a panel of 10,000."""
    clock = wall - wall.normalize()
    if (clock != clock[0]).any():
        return None
    day, last = np.asarray(wall.day), np.asarray(wall.days_in_month)
    months = np.asarray(wall.year, dtype=np.int64) * 12 + np.asarray(wall.month)
    top = int(day.max())
    if (day == day[0]).all() or (day == last).all() or (29 <= top <= 30 and (day == np.minimum(top, last)).all()):
        gaps = np.diff(months)
        if (gaps > 0).all():
            return gaps != int(np.gcd.reduce(gaps)), None
        return None
    for first, second in ((15, last), (1, 15)):  # half months: place 2 per month, the second half one more
        half = day == second
        if ((day == first) | half).all():
            place = 2 * months + half
            return np.diff(place) != 1, None
    dates = wall.normalize().to_numpy().astype("datetime64[D]")
    if np.is_busday(dates).all():
        steps = np.busday_count(dates[:-1], dates[1:])
        if np.median(steps) == 1:
            return steps != 1, steps - 1
    return None


def _holidays_only(skipped: np.ndarray | None) -> bool:
    """Whether the business days a series' steps skip (:func:`_calendar_odd`) read as holidays or days without data:
    none over a week in one gap, and at most 8% of the business days spanned missing (exchanges close 9 to 20 weekdays
    a year). Stock prices got the note of uneven stamps for 3 holidays in 4996 steps (an audit, s14)."""
    if skipped is None or not skipped.any() or (skipped < 0).any():
        return False
    return int(skipped.max()) <= HOLIDAY_GAP and int(skipped.sum()) <= max(2, HOLIDAY_SHARE * (len(skipped) + skipped.sum()))


def _which_series(ids: Sequence[Any], among: int) -> str:
    """" in 2 of the 10 series ('A', 'B')" for a note on some series of a panel; "" for one series."""
    if among < 2:
        return ""
    if len(ids) == among:
        return f" in all {among} series"
    shown = ", ".join(repr(i.item() if isinstance(i, np.generic) else i) for i in ids[:5])
    return f" in {len(ids)} of the {among} series ({shown}{', ...' if len(ids) > 5 else ''})"


def uneven_steps(frame: SeriesFrame, column: str) -> list[str]:
    """Notes for train's output on the spacing of the time stamps of ``column``:

    - where they are unevenly spaced, how many steps between consecutive rows of a series are not one step of the
      series' calendar (months, half months or business days, with a few steps missing: :func:`_calendar_odd`) or,
      without one, differ by more than 1% from its median spacing (float stamps rounded on a grid: one step of it,
      :func:`grid_places`), the widest, and in a panel which series;
    - where a business-day series' only gaps are holidays (:func:`_holidays_only`), how many business days are
      missing, said as such, not as uneven stamps (stock prices got the uneven note for 3 holidays in 4996 steps: an
      audit, s14).

    None where every step is even or the run has no time column. Windows count rows, not time, and nothing said so
    but a docstring (an audit, s14)."""
    if not frame.times:
        return []
    lengths = np.array([len(t) for t in frame.times])
    column_values = pd.Series(np.concatenate([np.asarray(t, dtype=object) if np.asarray(t).dtype == object else t
                                              for t in frame.times]))  # one parse for every series  # fmt: skip
    values = own_offsets(column_values, time_values(column_values, column, column))
    wall = (pd.DatetimeIndex([v.tz_localize(None) for v in values]) if values.dtype == object else
            pd.DatetimeIndex(values) if values.dtype.kind == "M" else None)  # zoned stamps on their wall clock
    # durations in nanoseconds (a datetime's integers are in its own unit, not always nanoseconds)
    timed = wall is not None or values.dtype.kind == "m"
    ticks = ((wall.to_numpy() if wall is not None else values).astype("datetime64[ns]" if wall is not None else
             "timedelta64[ns]").astype(np.int64) if timed else time_numbers(values))  # fmt: skip
    uneven = steps = missing = gaps_over = 0
    widest: Any = None
    widest_skip = 0
    odd_ids: list[Any] = []
    holiday_ids: list[Any] = []
    seen: dict[bytes, tuple[np.ndarray, np.ndarray | None]] = {}  # series stamped alike (one period) looked at once
    for k, (begin, n) in enumerate(zip(np.r_[0, np.cumsum(lengths)[:-1]], lengths)):
        if n < 3:
            continue
        own = ticks[begin : begin + n]
        gaps = np.diff(own)
        steps += n - 1
        if (gaps == gaps[0]).all():
            continue
        key = own.tobytes()
        if key not in seen:
            found = _calendar_odd(wall[begin : begin + n]) if wall is not None else None
            odd, skipped = (None, None) if found is None else found
            grid = grid_places(values[begin : begin + n]) if odd is None and values.dtype.kind == "f" else None
            if grid is not None:  # decimal years to 2 places step 0.08 and 0.09: one grid, rounded
                odd = np.diff(grid[0]) != 1
            seen[key] = (~np.isclose(gaps, np.median(gaps), rtol=0.01, atol=0) if odd is None else odd,
                         skipped if _holidays_only(skipped) else None)  # fmt: skip
        odd, holidays = seen[key]
        if holidays is not None:  # business days missing a few (holidays): said apart, not as uneven stamps
            holiday_ids.append(frame.ids[k])
            missing += int(holidays.sum())
            gaps_over += int(odd.sum())
            widest_skip = max(widest_skip, int(holidays.max()))
            continue
        if odd.any():
            odd_ids.append(frame.ids[k])
            if widest is None or gaps[odd].max() > widest:
                widest = gaps[odd].max()
        uneven += int(odd.sum())
    notes = []
    among = len(frame.times)
    if uneven:
        widest_text = str(pd.Timedelta(int(widest), unit="ns")) if timed else time_text(widest)
        share = 100 * uneven / steps
        share_text = f"{share:.0f}%" if share >= 1 else f"{share:.1g}%"  # a few steps of many read "0%" to no decimals
        notes.append(f"the time stamps of {column!r} are unevenly spaced{_which_series(odd_ids, among)}: {uneven} of "
                     f"the {steps} steps between consecutive rows ({share_text}) {'is' if uneven == 1 else 'are'} not "
                     f"one step of the series' calendar (or of its median spacing), the widest {widest_text}; windows "
                     "count rows, not time, so each is taken as evenly spaced steps and forecasts go on at the usual "
                     "step: resample to an even grid first if the gaps matter")  # fmt: skip
    if missing:
        days = f"{missing} business day{'s' if missing != 1 else ''}"
        spans = f" in {gaps_over} gap{'s' if gaps_over != 1 else ''} of up to {widest_skip} days" if gaps_over < missing else ""
        notes.append(f"the time stamps of {column!r} are business days with {days} missing{spans}"
                     f"{_which_series(holiday_ids, among)} (holidays or days without data); windows count "
                     "the days on record, as is usual for trading days, and forecasts go on business days (a future "
                     "stamp may fall on a holiday)")  # fmt: skip
    return notes


def calendar_with_gaps(index: pd.DatetimeIndex) -> Any:
    """The calendar frequency of a past that misses some of its steps (a holiday among business days, a quarter
    left out), or None: of the frequencies pandas infers from three consecutive stamps, the one with the fewest steps
    from the first stamp to the last whose grid holds every stamp (business days rather than days where a triple spans
    a weekend), or a semi-monthly calendar that pandas does not infer. Without it the median spacing went on from the last stamp (an audit: a Friday's next business day came
    out a Saturday, and quarters after a missing one drifted to 1988-04-02, 1988-07-03)."""
    best = None
    span = index[-1] - index[0]
    triples = {}
    for k in range(len(index) - 2):
        freq = pd.DatetimeIndex(index[k : k + 3], freq="infer").freq
        # a grid far finer than the past (stamps 1 ns apart, then a year) is never built: it could not be mostly present
        if freq is not None and freq not in triples and span <= 4 * len(index) * (index[k + 2] - index[k]):
            triples[freq] = k
    # pandas infers no semi-monthly calendar (the 15th and the month's end, or its 1st and 15th): without them
    # such a past went on 15 days at a time from its median spacing (2021-05-30, 2021-06-14: an audit)
    semi = [pd.offsets.SemiMonthEnd(), pd.offsets.SemiMonthBegin()] if len(index) >= 3 else []  # 2 stamps: a spacing
    # nor months on one day other than the first or the last (the 15th): such a past went on as the semi-monthly
    # calendar that holds it with half its steps missing (2021-12-15, then 2021-12-31, 2022-01-15: an audit, s13)
    same_day = len(index) >= 3 and index.day.nunique() == 1 and index.day[0] <= 28
    months = [pd.DateOffset(months=m) for m in (1, 2, 3, 4, 6, 12)] if same_day else []
    for freq in [*triples, *semi, *months]:
        grid = pd.date_range(index[0], index[-1], freq=freq)
        # most of the grid's steps present: a few missing, not stamps drawn at random times that a fine grid holds
        if (len(grid) and grid[0] == index[0] and 2 * len(index) > len(grid) and index.isin(grid).all()
                and (best is None or len(grid) < len(best))):
            best = grid
    return None if best is None else best.freq


def month_days(index: pd.DatetimeIndex, n_future: int) -> pd.DatetimeIndex | None:
    """The ``n_future`` stamps after a past of months on their 29th or 30th (every stamp on that day, or on its
    month's last where the month is shorter: 2021-01-30, 2021-02-28, 2021-03-30), every ``step`` months (the months'
    greatest common spacing; a few may be missing), at the past's time of day; None for any other past. Neither pandas
    nor a fixed offset holds such a calendar (one month on from the 28th of February is the 28th), and the median
    spacing drifted: 2022-03-30, 2022-04-29, 2022-05-29 (an audit, s14)."""
    if len(index) < 3:
        return None
    day = int(index.day.max())
    clock = index - index.normalize()
    if not 29 <= day <= 30 or (clock != clock[0]).any() or (index.day != np.minimum(day, index.days_in_month)).any():
        return None
    months = np.asarray(index.year, dtype=np.int64) * 12 + np.asarray(index.month) - 1
    gaps = np.diff(months)
    step = int(np.gcd.reduce(gaps)) if len(gaps) and (gaps > 0).all() else 0
    if step < 1 or 2 * len(index) <= (months[-1] - months[0]) // step + 1:  # most of the grid's months present
        return None
    ahead = []
    for k in range(1, n_future + 1):
        year, month = divmod(int(months[-1]) + k * step, 12)
        first = pd.Timestamp(year=year, month=month + 1, day=1)
        ahead.append(first.replace(day=min(day, first.days_in_month)) + clock[0])
    out = pd.DatetimeIndex(ahead)
    return out if index.tz is None else out.tz_localize(index.tz)


def _in_last_offset(times: np.ndarray, n_future: int) -> np.ndarray | None:
    """:func:`future_times` of stamps whose UTC offsets change (a zone's summer time), in the past's last offset, as a
    zone-aware past goes on in its zone: a calendar of a day or longer on the past's wall clock (midnights, month
    ends in each stamp's own offset), a shorter one (hours) in elapsed time. The zone's next change is not known from
    offsets alone: a horizon past it keeps the last offset."""
    last = times[-1].tz
    wall = np.array([t.tz_localize(None) for t in times], dtype="datetime64[ns]")
    index = pd.DatetimeIndex(wall, freq="infer") if len(wall) >= 3 else pd.DatetimeIndex(wall)
    freq = index.freq if index.freq is not None else calendar_with_gaps(index)
    days = month_days(index, n_future) if freq is None else None  # months on their 29th or 30th, on the wall clock
    day = pd.Timedelta(days=1)
    step = pd.Timedelta(np.median(np.diff(wall))) if freq is None and days is None and len(wall) >= 2 else None
    if step is not None and step >= day and step % day == pd.Timedelta(0):  # whole days apart on the wall clock
        freq = pd.offsets.Day(step // day)  # (two stamps over a change: their 23 hours were the spacing)
    if days is not None:
        ahead = days.tz_localize(last)
    elif freq is not None and not isinstance(freq, pd.offsets.Tick):
        ahead = pd.date_range(index[-1], periods=n_future + 1, freq=freq)[1:].tz_localize(last)
    else:
        utc = future_times(np.array([t.tz_convert("UTC") for t in times], dtype=object), n_future)
        if utc is None:
            return None
        ahead = pd.DatetimeIndex(utc).tz_convert(last)
    return ahead.to_numpy()


def grid_places(times: np.ndarray) -> tuple[np.ndarray, float, float, int] | None:
    """Float stamps written to a few decimals on an even grid (decimal years to 4 places: 2001.5833, 2001.6667, ...),
    some steps of it perhaps missing: each stamp's place on the grid (0 for the first), the grid's step and start (its
    line fitted through every stamp) and the stamps' decimals; None where the stamps are not so (fewer than 3, whole
    numbers, more than 10 decimals, a spacing under ten times their rounding, or off the grid by more than it)."""
    if len(times) < 3:
        return None
    decimals = next((d for d in range(11) if np.array_equal(np.round(times, d), times)), None)
    step = float(np.median(np.diff(times)))
    # whole numbers continue by their median spacing; a rounding a tenth of a step or more could pass uneven stamps off
    # as a grid (1, 2, 4, 5, 7 as 1.5 apart)
    if decimals is None or decimals < 1 or not step >= 5 * 10.0**-decimals:
        return None
    k = np.r_[0, np.cumsum(np.round(np.diff(times) / step))]  # each stamp's place on the grid (a few may be missing)
    if (np.diff(k) < 1).any():
        return None
    slope, start = np.polyfit(k, times, 1)
    if np.abs(start + slope * k - times).max() > 0.5 * 10.0**-decimals + 1e-9 * np.abs(times).max():
        return None
    return k, float(slope), float(start), decimals


def rounded_grid(times: np.ndarray, n_future: int) -> np.ndarray | None:
    """The ``n_future`` stamps after float stamps on an even grid written to a few decimals (:func:`grid_places`):
    the grid's line, rounded to their decimals; None where the stamps are not so. The median spacing of rounded stamps
    is itself rounded, and added step by step it drifted: 2001.5833 went on 2001.6666, 2001.7499, 2001.8332 (an
    audit, s14)."""
    grid = grid_places(times)
    if grid is None:
        return None
    k, slope, start, decimals = grid
    return np.round(start + slope * (k[-1] + np.arange(1, n_future + 1)), decimals)


CALENDAR_STAMPS = 256  # the past's last stamps a forecast's stamps continue (calendar_with_gaps reads every triple)


def future_times(times: np.ndarray, n_future: int) -> np.ndarray | None:
    """The ``n_future`` time stamps after ``times`` (the past's, sorted): dates continue the calendar
    frequency pandas infers (quarters, months, business days, ...); otherwise, and for numbers, the
    median spacing of the past is added step by step. Dates with a UTC offset (an object array of Timestamps, as
    time_values reads them) keep it, and their calendar too (their months went on 31 days at a time: an audit)."""
    zoned = times.dtype == object and len(times) > 0 and all(isinstance(t, pd.Timestamp) for t in times)
    if zoned and len({t.utcoffset() for t in times}) > 1:  # offsets that change (:func:`own_offsets`)
        return _in_last_offset(times, n_future)
    if np.issubdtype(times.dtype, np.datetime64) or zoned:
        index = pd.DatetimeIndex(times, freq="infer") if len(times) >= 3 else pd.DatetimeIndex(times)
        freq = index.freq if index.freq is not None else calendar_with_gaps(index)
        if freq is not None:
            return pd.date_range(index[-1], periods=n_future + 1, freq=freq)[1:].to_numpy()
        days = month_days(index, n_future)
        if days is not None:
            return days.to_numpy()
    if len(times) < 2:
        return None  # one stamp has no spacing to continue
    if times.dtype.kind == "f":
        grid = rounded_grid(times, n_future)
        if grid is not None:
            return grid
    step = np.median(np.diff(times))
    if times.dtype.kind in "iu" and float(step).is_integer():  # (timedelta64 is an integer type to NumPy)
        step = int(step)  # integer stamps continue as integers (1999, 2000, ...), not 2001.0
    return times[-1] + step * np.arange(1, n_future + 1)
