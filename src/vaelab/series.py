"""Time-series runs: windows of n_past + n_future steps, an unconditional VAE on whole
windows, and a conditional VAE that generates the n_future steps given the n_past.

``vaelab train series.csv --window N_PAST --horizon N_FUTURE [--id COL] [--time COL]``
writes a run whose main model is a VAE on flattened, standardized windows (T·F
features, Gaussian likelihood), so ``score``, ``inspect`` and ``compare-samplers``
work on it unchanged. Beside it the run holds:

* ``series.json`` — how the windows were made (columns, n_past, n_future, stride) and
  the scaler, fitted on the training windows only (``series.safetensors``: its arrays);
* ``forecast.safetensors`` — the conditional VAE p(future | past): its condition is
  the flattened, scaled past (the conditional-VAE forecaster of TimeVAE-style work;
  Desai et al. 2021). Several draws per past give an uncertainty band.

Windows are split in time, per series, with the gap of :func:`split_windows`, so no
validation or test window shares a time step with a training window.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from vaelab.checkpoint import RunDir
from vaelab.files import atomic_write, make_folder, read_json, safetensors_metadata
from vaelab.config import DataConfig, ModelConfig, from_dict, to_dict
from vaelab.data.dataset import Dataset
from vaelab.data.sources import _existing, _np_load, _read_frame
from vaelab.data.split import indices
from vaelab.data.timeseries import SeriesScaler, make_windows, prepare_series, split_windows
from vaelab.errors import ConfigError, DataError, RunError
from vaelab.estimator import VAE
from vaelab.nn.build import build_vae
from vaelab.train import fit
from vaelab.runtime import resolve_device, seeded

SERIES = "series.json"
SERIES_ARRAYS = "series.safetensors"
FORECAST = "forecast.safetensors"


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


def _read_source(source: str | os.PathLike) -> pd.DataFrame | np.ndarray:
    path = _existing(source, "series")
    name = path.name.lower()
    if name.endswith((".csv", ".parquet", ".pq")):
        return _read_frame(path)
    if name.endswith(".npy"):
        return _np_load(path, ".npy")
    raise DataError(f"{path.name}: a series must be a .csv, .parquet or .npy file (rows are time steps).")


def _windows(source, settings: SeriesSettings, val_fraction: float, test_fraction: float):
    """Windows of the source, their split codes (kept windows only) and the frame's features."""
    frame = prepare_series(_read_source(source), id_column=settings.id_column, time_column=settings.time_column,
                           features=list(settings.features) or None, fill=settings.fill)  # fmt: skip
    windows = make_windows(frame, settings.n_past, settings.n_future, settings.stride)
    codes = split_windows(windows, val_fraction, test_fraction)
    keep = codes >= 0
    return windows.subset(keep), codes[keep].astype(np.int8), frame.features


def _flat(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(X.reshape(X.shape[0], -1), dtype=np.float32)


def read_settings(run: RunDir) -> tuple[SeriesSettings, SeriesScaler]:
    path = run.file(SERIES)
    if not path.is_file():
        raise RunError(f"{run.path} is a series run but has no {SERIES}; it is damaged. Train it again.")
    meta = read_json(path, "train the run again")
    try:
        unknown = sorted(set(meta) - {"windows", "scaler", "n_windows"})
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}")
        settings = from_dict(SeriesSettings, meta["windows"], f"{path} 'windows'")
        arrays, _ = run.read_arrays(SERIES_ARRAYS)
        scaler = SeriesScaler.from_state(meta["scaler"], arrays)
    except (KeyError, TypeError, ValueError, ConfigError) as err:
        raise RunError(f"{path} is damaged ({err}); train the run again.") from None
    return settings, scaler


def series_dataset(run: RunDir, data: DataConfig) -> Dataset:
    """The run's kept windows, scaled with its stored scaler and flattened: what its VAE models."""
    settings, scaler = read_settings(run)
    windows, _, _ = _windows(data.source, settings, data.val_fraction, data.test_fraction)
    return Dataset(_flat(scaler.transform(windows.X)), source=data.source)


# ---------------------------------------------------------------- the forecaster
class Forecaster:
    """p(future | past): a VAE whose encoder and decoder see the flattened, scaled past."""

    def __init__(self, module, config: ModelConfig, n_past: int, n_future: int, n_features: int):
        self.module, self.config = module, config
        self.n_past, self.n_future, self.n_features = n_past, n_future, n_features

    @classmethod
    def train(cls, X: np.ndarray, X_val: np.ndarray, n_past: int, model: VAE, progress=None) -> "Forecaster":
        """Fit on scaled windows X (N, T, F) with the main model's settings."""
        N, T, F = X.shape
        cfg = ModelConfig(input_shape=((T - n_past) * F,), latent_dim=model.latent_dim, hidden=tuple(model.hidden),
                          likelihood="gaussian", n_classes=n_past * F)  # fmt: skip
        tcfg = model._train_config()
        device = resolve_device(tcfg.device)
        with seeded(tcfg.seed + 1, device):
            module = build_vae(cfg).to(device)
        past, future = (torch.from_numpy(_flat(a)).to(device) for a in (X[:, :n_past], X[:, n_past:]))
        vp = vf = None
        if len(X_val):
            vp, vf = (torch.from_numpy(_flat(a)).to(device) for a in (X_val[:, :n_past], X_val[:, n_past:]))
        fit(module, dataclasses.replace(tcfg, seed=tcfg.seed + 1), future, past, vf, vp, progress=progress)
        module.eval()
        return cls(module, cfg, n_past, T - n_past, F)

    def save(self, run: RunDir) -> None:
        from safetensors.torch import save as st_save

        meta = {"config": json.dumps(to_dict(self.config)),
                "shape": json.dumps([self.n_past, self.n_future, self.n_features])}  # fmt: skip
        state = {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        atomic_write(run.file(FORECAST), st_save(state, metadata=meta))

    @classmethod
    def load(cls, run: RunDir) -> "Forecaster":
        from safetensors.torch import load as st_load

        path = run.file(FORECAST)
        if not path.is_file():
            raise RunError(f"{run.path} has no forecaster ({FORECAST}); it was trained without --horizon.")
        raw = path.read_bytes()
        try:
            meta = safetensors_metadata(raw)
            cfg = from_dict(ModelConfig, json.loads(meta["config"]), f"{FORECAST} config")
            n_past, n_future, n_features = json.loads(meta["shape"])
            module = build_vae(cfg)
            module.load_state_dict(st_load(raw))
        except (KeyError, TypeError, ValueError, RuntimeError, RecursionError, ConfigError) as err:
            raise RunError(f"{path} is damaged ({str(err)[:200]}); train the run again.") from None
        module.eval()
        return cls(module, cfg, int(n_past), int(n_future), int(n_features))

    @torch.no_grad()
    def sample(self, past: np.ndarray, draws: int, seed: int = 0, mean: bool = False) -> np.ndarray:
        """``draws`` futures (draws, n_future, F) for one scaled past (n_past, F): z ~ p(z), x ~ p(x|z, past)."""
        c = torch.from_numpy(_flat(np.repeat(past[None], draws, 0)))
        dev = next(self.module.parameters()).device
        with seeded(seed, dev):
            z = self.module.prior.sample(draws).to(dev)
            params = self.module.decode_params(z, c.to(dev))
            out = self.module.likelihood.mean(params) if mean else self.module.likelihood.dist(params).sample()
        return out.cpu().numpy().reshape(draws, self.n_future, self.n_features)


# --------------------------------------------------------------------- training
def train_series_run(
    source: str | os.PathLike,
    out: str | os.PathLike,
    settings: dict[str, Any] | None = None,
    *,
    n_past: int,
    n_future: int,
    id_column: str | None = None,
    time_column: str | None = None,
    features: tuple[str, ...] = (),
    fill: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    progress: Callable[[str, dict], None] | None = None,
):
    """Window a series file, train the window VAE and the forecaster, write the run."""
    from vaelab.run import RunResult, check_fresh_folder, evaluate_split

    run = RunDir(out)
    check_fresh_folder(run)
    ws = SeriesSettings(int(n_past), int(n_future), id_column, time_column, tuple(features), 1, fill)
    windows, codes, names = _windows(source, ws, val_fraction, test_fraction)
    ws = dataclasses.replace(ws, features=tuple(names))
    scaler = SeriesScaler("standard").fit(windows, split=codes)
    scaled = scaler.transform(windows.X).astype(np.float32)
    path = str(Path(source).resolve())
    dataset = Dataset(_flat(scaled), source=path)
    model = VAE(**{"likelihood": "gaussian", **(settings or {})})
    if model.conditional:
        raise ConfigError("--conditional needs class labels; a series run conditions its forecaster on the past instead.")
    make_folder(run.path)
    run.write_split(codes)
    meta, arrays = scaler.state()
    run.write_arrays(SERIES_ARRAYS, arrays, {})
    atomic_write(run.file(SERIES), json.dumps({"windows": to_dict(ws), "scaler": meta,
                                                "n_windows": int(len(codes))}, indent=2).encode())  # fmt: skip
    data_cfg = DataConfig(source=path, val_fraction=val_fraction, test_fraction=test_fraction,
                          n_examples=dataset.n_examples, fingerprint=dataset.fingerprint(), kind="series")  # fmt: skip
    tr, va = indices(codes, "train"), indices(codes, "val")
    model._fit(dataset.X[tr], None, dataset.X[va], None, data_cfg, run=run, progress=progress)
    Forecaster.train(scaled[tr], scaled[va], ws.n_past, model, progress=None).save(run)
    test = evaluate_split(model, dataset, codes, "test")
    metrics = run.update_metrics(test=test) if test else run.read_metrics()
    return RunResult(run, model, dataset, codes, metrics)


# ------------------------------------------------------------------- generation
def load_series(run_path) -> tuple[RunDir, SeriesSettings, SeriesScaler]:
    run = RunDir(run_path)
    run.check()
    data = run.read_config().data
    if data is None or data.kind != "series":
        raise RunError(f"{run.path} is not a series run (train one with --window and --horizon).")
    settings, scaler = read_settings(run)
    return run, settings, scaler


def windows_frame(X: np.ndarray, features: tuple[str, ...]) -> pd.DataFrame:
    """Windows (N, T, F) as a long table: window, step, one column per feature."""
    N, T, F = X.shape
    frame = pd.DataFrame(X.reshape(N * T, F), columns=list(features))
    frame.insert(0, "step", np.tile(np.arange(T), N))
    frame.insert(0, "window", np.repeat(np.arange(N), T))
    return frame


def generate_windows(run_path, n: int, *, sampler: str = "prior", draw: bool = False, seed: int = 0) -> np.ndarray:
    """n new windows (n, T, F) in the data's units."""
    from vaelab.analysis.samplers import generate
    from vaelab.estimator import load
    from vaelab.generate import _run_splits, fit_sampler

    run, settings, scaler = load_series(run_path)
    model = load(run_path)
    parts = None if sampler == "prior" else _run_splits(run, model)[1]
    X = generate(model, fit_sampler(sampler, model, parts, seed), n, mean=not draw, seed=seed)
    return scaler.inverse_transform(X.reshape(n, settings.window, -1))


def read_past(path: str | os.PathLike, settings: SeriesSettings) -> np.ndarray:
    """The last n_past rows of the feature columns of a CSV/Parquet/.npy file, (n_past, F)."""
    raw = _read_source(path)
    if isinstance(raw, pd.DataFrame):
        missing = [f for f in settings.features if f not in raw.columns]
        if missing:
            raise DataError(f"{Path(path).name} lacks the feature column(s) {missing}; the run was trained on "
                            f"{list(settings.features)}.")  # fmt: skip
        if settings.time_column and settings.time_column in raw.columns:
            raw = raw.sort_values(settings.time_column, kind="stable")
        raw = raw[list(settings.features)].to_numpy(dtype=np.float64)
    arr = np.asarray(raw, dtype=np.float64)
    arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
    if arr.ndim != 2 or arr.shape[1] != len(settings.features):
        raise DataError(f"The past must have {len(settings.features)} feature columns; got shape {arr.shape}.")
    if arr.shape[0] < settings.n_past:
        raise DataError(f"The past needs at least n_past = {settings.n_past} rows; {Path(path).name} has {arr.shape[0]}.")
    if not np.isfinite(arr).all():
        raise DataError(f"The past in {Path(path).name} has missing or infinite values; fill them first.")
    return arr[-settings.n_past :]


def forecast(run_path, past: np.ndarray, draws: int = 100, seed: int = 0) -> np.ndarray:
    """``draws`` futures (draws, n_future, F) in the data's units for one past (n_past, F) in the data's units."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ConfigError(f"--draws must be a positive integer; got {draws!r}.")
    run, settings, scaler = load_series(run_path)
    forecaster = Forecaster.load(run)
    scaled_past = scaler.transform(np.asarray(past, dtype=np.float64)).astype(np.float32)
    return scaler.inverse_transform(forecaster.sample(scaled_past, draws, seed))


def forecast_frame(futures: np.ndarray, features: tuple[str, ...], n_past: int) -> pd.DataFrame:
    """Draws as a long table (draw, step, features...), steps counted after the past (n_past, n_past+1, ...)."""
    frame = windows_frame(futures, features).rename(columns={"window": "draw"})
    frame["step"] += n_past
    return frame


def band(futures: np.ndarray, levels=(5, 25, 50, 75, 95)) -> dict[int, np.ndarray]:
    """Percentiles over draws, per step and feature."""
    return {q: np.percentile(futures, q, axis=0) for q in levels}

