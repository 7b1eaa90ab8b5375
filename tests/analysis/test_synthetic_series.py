"""Fidelity and utility scores of synthetic time-series windows, on cases with known answers."""
import numpy as np
import pytest
import torch

from vaelab.analysis.synthetic_series import discriminative_score, predictive_score
from vaelab.errors import ConfigError, DataError


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # 2 busy cores: more torch threads only spin (see test_quality.py).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sine_windows(seed: int, n: int, T: int = 24, F: int = 3, noise: float = 0.1) -> np.ndarray:
    """Noisy sinusoids with a random frequency and phase per window and feature: (n, T, F)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[None, :, None]
    freq, phase = rng.uniform(0.2, 0.4, (n, 1, F)), rng.uniform(0, 2 * np.pi, (n, 1, F))
    return np.sin(freq * t + phase) + noise * rng.normal(size=(n, T, F))


# ---------------------------------------------------------------- time series
def test_discriminative_score_same_distribution_is_low():
    result = discriminative_score(sine_windows(0, 500, F=5), sine_windows(1, 500, F=5), seed=0)
    assert result["score"] < 0.15
    assert result["score"] == pytest.approx(abs(result["accuracy"] - 0.5))
    assert result["n_test"] == 200


def test_discriminative_score_separates_sines_from_noise():
    noise = np.random.default_rng(5).normal(size=(500, 24, 5))
    before = torch.get_rng_state()
    result = discriminative_score(sine_windows(0, 500, F=5), noise, seed=0)
    assert result["score"] > 0.35
    assert torch.equal(before, torch.get_rng_state())  # the caller's RNG is untouched


def test_predictive_score_same_process_is_close_to_real():
    result = predictive_score(sine_windows(0, 600), sine_windows(1, 600), n_past=16)
    assert result["horizon"] == 8
    assert result["mae_synthetic"] < 1.3 * result["mae_real"]
    assert result["ratio"] < 1.3


def test_predictive_score_noise_teaches_nothing():
    noise = 0.7 * np.random.default_rng(3).normal(size=(600, 24, 3))
    result = predictive_score(sine_windows(0, 600), noise, n_past=16)
    assert result["mae_synthetic"] > 1.5 * result["mae_real"]


def test_bad_windows_say_what_is_wrong():
    ok = np.zeros((10, 6, 2))
    with pytest.raises(DataError, match="3-D"):
        discriminative_score(np.zeros((10, 6)), ok)
    with pytest.raises(DataError, match="same length and features"):
        discriminative_score(ok, np.zeros((10, 5, 2)))
    with pytest.raises(DataError, match="same length and features"):
        predictive_score(ok, np.zeros((10, 6, 3)), n_past=3)
    bad = ok.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        predictive_score(ok, bad, n_past=3)
    with pytest.raises(ConfigError, match="n_past"):
        predictive_score(ok, ok, n_past=6)
    with pytest.raises(ConfigError, match="epochs"):
        discriminative_score(ok, ok, epochs=0)


def test_forecast_verdicts_rest_on_their_intervals():
    """Issue 15 item 10: each forecast verdict is reachable on a constructed case and says its interval."""
    from vaelab.analysis.synthetic_series import forecast_summary

    rng = np.random.default_rng(0)
    w = 40
    good = forecast_summary(rng.uniform(0.8, 1.0, w), np.full(w, 1.0) + rng.normal(0, 0.01, w), np.full(w, 2.0))
    assert "calibrated" in good["verdict"] and "beats repeating the last value" in good["verdict"]
    assert "95% interval" in good["verdict"] and good["mae_difference"] == pytest.approx(-1.0, abs=0.01)
    narrow = forecast_summary(rng.uniform(0.3, 0.5, w), np.full(w, 3.0), np.full(w, 2.0) + rng.normal(0, 0.01, w))
    assert "too narrow" in narrow["verdict"] and "worse than repeating" in narrow["verdict"]
    wide = forecast_summary(np.ones(w) - rng.uniform(0, 0.01, w), rng.normal(2.0, 0.5, w), rng.normal(2.0, 0.5, w))
    assert "too wide" in wide["verdict"] and "No clear difference" in wide["verdict"]
    with pytest.raises(Exception, match="at least 2 windows"):
        forecast_summary([0.9], [1.0], [1.0])
