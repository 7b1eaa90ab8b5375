"""Time-series runs: windows of n_past + n_future steps, an unconditional VAE on whole
windows, and a conditional VAE that generates the n_future steps given the n_past.

``vaelab train series.csv --window N_PAST --horizon N_FUTURE [--id COL] [--time COL]``
writes a run whose main model is a VAE on flattened, standardized windows (T·F
features, Gaussian likelihood), so ``score``, ``inspect`` and ``compare-samplers``
work on it unchanged. Beside it the run holds:

* ``series.json`` — how the windows were made (columns, n_past, n_future, stride) and
  the scaler, fitted on the training windows only (``series.safetensors``: its arrays);
* ``forecast.safetensors`` — the forecaster p(future | past) (:class:`vaelab.forecaster.Forecaster`),
  trained after every fit of the main model, so a resumed run ends with the same one.

Windows are split in time, per series, with the gap of :func:`split_windows`, so no
validation or test window shares a time step with a training window.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaelab.analysis.synthetic_series import discriminative_score, forecast_summary, predictive_score
from vaelab.analysis.synthetic_tables import ks_complement
from vaelab.checkpoint import RunDir
from vaelab.config import DataConfig, check_count, check_measured_count, from_dict, to_dict
from vaelab.data.dataset import Dataset
from vaelab.data.sources import read_series
from vaelab.data.split import indices
from vaelab.data.timeseries import SeriesScaler, Windows, make_windows, prepare_series, split_windows
from vaelab.errors import ConfigError, DataError, RunError
from vaelab.forecaster import Forecaster, flat
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

    @property
    def window(self) -> int:
        return self.n_past + self.n_future


def make_series_windows(source: str | os.PathLike, settings: SeriesSettings, val_fraction: float,
                        test_fraction: float) -> tuple[Windows, np.ndarray, tuple[str, ...]]:  # fmt: skip
    """The kept windows of a source, their split codes (int8) and the frame's feature names."""
    frame = prepare_series(read_series(source), id_column=settings.id_column, time_column=settings.time_column,
                           features=list(settings.features) or None, fill=settings.fill)  # fmt: skip
    windows = make_windows(frame, settings.n_past, settings.n_future, settings.stride)
    codes = split_windows(windows, val_fraction, test_fraction)
    keep = codes >= 0
    return windows.subset(keep), codes[keep].astype(np.int8), frame.features


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
    options = {"window": None, "horizon": None, "id_column": None, "time_column": None, "features": (), "fill": None}
    default_settings = {"likelihood": "gaussian"}  # standardized windows
    report_sections = frozenset({"series"})

    def __init__(self, settings: SeriesSettings, scaler: SeriesScaler, n_windows: int | None = None):
        self.settings, self.scaler, self.n_windows = settings, scaler, n_windows

    # ------------------------------------------------------------ training
    @classmethod
    def claims(cls, request: Request) -> bool:
        return request.option("window") is not None or request.option("horizon") is not None

    @classmethod
    def prepare(cls, request: Request, model: Any) -> Prepared:
        if request.option("window") is None or request.option("horizon") is None:
            raise ConfigError("A series run needs both --window N_PAST and --horizon N_FUTURE (steps before and after).")
        refuse_labels(request, cls.description)
        if model.conditional:
            raise ConfigError("--conditional needs class labels; a series run conditions its forecaster on the past instead.")
        ws = SeriesSettings(int(request.option("window")), int(request.option("horizon")), request.option("id_column"),
                            request.option("time_column"), tuple(request.option("features", ())), 1,
                            request.option("fill"))  # fmt: skip
        windows, codes, names = make_series_windows(request.source, ws, request.val_fraction, request.test_fraction)
        ws = dataclasses.replace(ws, features=tuple(names))
        scaler = SeriesScaler("standard").fit(windows, split=codes)
        path = str(Path(request.source).resolve())
        dataset = Dataset(flat(scaler.transform(windows.X)), source=path)
        data = DataConfig(source=path, val_fraction=request.val_fraction, test_fraction=request.test_fraction,
                          n_examples=dataset.n_examples, fingerprint=dataset.fingerprint(), kind=cls.name)  # fmt: skip
        counts = np.bincount(codes, minlength=3)
        summary = (f"windows: {len(codes)} of {ws.window} steps ({ws.n_past} past + {ws.n_future} future) x "
                   f"{len(names)} features ({', '.join(names)}); split in time: {counts[0]} train, {counts[1]} "
                   f"validation, {counts[2]} test")  # fmt: skip
        return Prepared(cls(ws, scaler, len(codes)), dataset, codes, data, summary)

    def save(self, run: RunDir) -> None:
        meta, arrays = self.scaler.state()
        save_state(run, self, {"windows": to_dict(self.settings), "scaler": meta, "n_windows": self.n_windows}, arrays)

    @classmethod
    def load(cls, run: RunDir) -> "SeriesKind":
        def parse(meta: Any, arrays: dict[str, np.ndarray]) -> "SeriesKind":
            unknown = sorted(set(meta) - {"windows", "scaler", "n_windows"})
            if unknown:
                raise ValueError(f"unknown key(s) {unknown}")
            settings = from_dict(SeriesSettings, meta["windows"], f"{run.file(SERIES)} 'windows'")
            return cls(settings, SeriesScaler.from_state(meta["scaler"], arrays), meta.get("n_windows"))

        return load_state(run, cls, parse)

    def dataset(self, data: DataConfig, lazy: bool = False) -> Dataset:
        windows, _, _ = make_series_windows(data.source, self.settings, data.val_fraction, data.test_fraction)
        return Dataset(flat(self.scaler.transform(windows.X)), source=data.source)

    def windows(self, X: np.ndarray) -> np.ndarray:
        """Model rows (N, T·F) as windows (N, T, F), still scaled."""
        return np.asarray(X).reshape(len(X), self.settings.window, -1)

    def after_fit(self, run: RunDir, model: Any, dataset: Dataset, split: np.ndarray, main: bool) -> None:
        """The forecaster p(future | past), trained afresh (seeded) on the training windows after every fit."""
        scaled = self.windows(dataset.X)
        forecaster = Forecaster.train(scaled[indices(split, "train")], scaled[indices(split, "val")],
                                      self.settings.n_past, model)  # fmt: skip
        if main:
            forecaster.save(run)

    # --------------------------------------------------------- generating
    def to_user(self, X: np.ndarray) -> np.ndarray:
        """Windows (n, T, F) in the data's units."""
        return self.scaler.inverse_transform(self.windows(X))

    def check_output(self, out: Path) -> None:
        check_frame_output(out, also=(".npy",))

    def write(self, data: np.ndarray, out: Path, title: str = "") -> Path:
        """A long table (window, step, features) or an (n, T, F) .npy."""
        self.check_output(out)
        if out.suffix.lower() == ".npy":
            return write_npy(data, out)
        return write_frame(windows_frame(data, self.settings.features), out)

    def read_past(self, path: str | os.PathLike) -> np.ndarray:
        """The last n_past rows of the feature columns of a CSV/Parquet/.npy file, (n_past, F)."""
        ws = self.settings
        raw = read_series(path)
        if isinstance(raw, pd.DataFrame):
            missing = [f for f in ws.features if f not in raw.columns]
            if missing:
                raise DataError(f"{Path(path).name} lacks the feature column(s) {missing}; the run was trained on "
                                f"{list(ws.features)}.")  # fmt: skip
            if ws.time_column and ws.time_column in raw.columns:
                raw = raw.sort_values(ws.time_column, kind="stable")
            raw = raw[list(ws.features)].to_numpy(dtype=np.float64)
        arr = np.asarray(raw, dtype=np.float64)
        arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
        if arr.ndim != 2 or arr.shape[1] != len(ws.features):
            raise DataError(f"The past must have {len(ws.features)} feature columns; got shape {arr.shape}.")
        if arr.shape[0] < ws.n_past:
            raise DataError(f"The past needs at least n_past = {ws.n_past} rows; {Path(path).name} has {arr.shape[0]}.")
        if not np.isfinite(arr).all():
            raise DataError(f"The past in {Path(path).name} has missing or infinite values; fill them first.")
        return arr[-ws.n_past :]

    def futures(self, forecaster: Forecaster, past: np.ndarray, draws: int, seed: int = 0) -> np.ndarray:
        """``draws`` futures (draws, n_future, F) in the data's units for one past (n_past, F) in the data's units."""
        scaled = self.scaler.transform(np.asarray(past, dtype=np.float64)).astype(np.float32)
        return self.scaler.inverse_transform(forecaster.sample(scaled, draws, seed))

    def forecast(self, run: Any, past: str | os.PathLike, draws: int, out: Path, seed: int = 0) -> tuple[Path, Path | None]:
        """``draws`` futures given the last n_past rows of ``past``: a long table (draw, step, features) or a
        (draws, n_future, F) .npy; beside a table, a PNG of the past with the 50%/90% bands."""
        check_count("--draws", draws)
        self.check_output(out)
        ws = self.settings
        hist = self.read_past(past)
        futures = self.futures(Forecaster.load(run.dir), hist, draws, seed)
        if out.suffix.lower() == ".npy":
            return write_npy(futures, out), None
        frame = windows_frame(futures, ws.features).rename(columns={"window": "draw"})
        frame["step"] += ws.n_past  # steps counted after the past: n_past, n_past + 1, ...
        write_frame(frame, out)
        window = np.concatenate([hist, np.full((ws.n_future, hist.shape[1]), np.nan)])
        png = save_png(forecast_band(window, futures, ws.n_past, ws.features), out.with_suffix(".png"))
        return out, png

    # ------------------------------------------------------- evaluation
    def evaluate_synthetic(self, run: Any, *, n: int | None, target: str | None, sampler: str,
                           seed: int) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """TimeGAN's conventions: synthetic windows as many as the test windows, the discriminative and
        predictive scores, per-feature KS complements, and the forecaster's 90% band coverage."""
        if target is not None:
            raise ConfigError(f"--target names the column a table run's ML efficacy predicts; this is a series run, "
                              f"whose predictive score forecasts every feature ({', '.join(self.settings.features)}). "
                              "Drop --target.")  # fmt: skip
        ws = self.settings
        dataset, codes = run.data()
        scaled = self.windows(dataset.X[indices(codes, "test")])
        test = self.scaler.inverse_transform(scaled)
        if len(test) < 4:
            raise RunError(f"{run.dir.path} has {len(test)} test windows; evaluating synthetic series needs at least 4.")
        n = len(test) if n is None else check_measured_count("--n", n, len(test))
        synth = run.synthesize(n, sampler=sampler, seed=seed)
        shapes = {f: ks_complement(test[:, :, i].ravel(), synth[:, :, i].ravel()) for i, f in enumerate(ws.features)}
        block: dict[str, Any] = {
            "kind": "series", "sampler": sampler, "n_synthetic": int(n), "n_real_test": len(test),
            "window": ws.window, "n_past": ws.n_past, "n_future": ws.n_future, "features": list(ws.features),
            "column_shapes": float(np.mean(list(shapes.values()))), "ks_complement": shapes,
            "discriminative": discriminative_score(test, synth, seed=seed),
            "predictive": predictive_score(test, synth, ws.n_past, seed=seed),
        }  # fmt: skip
        # The forecaster: how often real futures fall inside its 90% band, and its error against a naive forecast.
        forecaster = Forecaster.load(run.dir)
        pick = np.unique(np.linspace(0, len(test) - 1, min(50, len(test))).astype(int))
        inside, err, naive = [], [], []
        for i in pick:
            draws = self.scaler.inverse_transform(forecaster.sample(scaled[i, : ws.n_past], FORECAST_DRAWS, seed=seed + int(i)))
            lo, hi = np.percentile(draws, 5, axis=0), np.percentile(draws, 95, axis=0)
            truth = test[i, ws.n_past :]
            inside.append(((truth >= lo) & (truth <= hi)).mean())
            err.append(np.abs(np.median(draws, 0) - truth).mean())
            naive.append(np.abs(test[i, ws.n_past - 1][None] - truth).mean())
        block["forecast"] = {**forecast_summary(inside, err, naive), "draws": FORECAST_DRAWS}
        i = int(pick[len(pick) // 2])
        draws = self.scaler.inverse_transform(forecaster.sample(scaled[i, : ws.n_past], FORECAST_DRAWS, seed=seed))
        figures = {"series_windows": real_vs_generated(test, synth, ws.features),
                   "forecast_band": forecast_band(test[i], draws, ws.n_past, ws.features)}  # fmt: skip
        return block, figures

    def summary_lines(self, block: dict[str, Any]) -> list[str]:
        d, p, f = block["discriminative"], block["predictive"], block["forecast"]
        return [
            f"discriminative score {d['score']:.3f} (0 = indistinguishable; classifier accuracy {d['accuracy']:.3f})",
            f"predictive score: MAE {p['mae_synthetic']:.4f} trained on synthetic vs {p['mae_real']:.4f} on real",
            f"value distributions: mean KS complement {block['column_shapes']:.3f} over {len(block['features'])} features",
            f"forecaster: {f['verdict']}" if "verdict" in f else
            f"forecaster: {100 * f['coverage_90']:.0f}% of real future values inside the 90% band; MAE of the median "
            f"{f['mae_median']:.4f} vs {f['mae_last_value']:.4f} for repeating the last value",
        ]
