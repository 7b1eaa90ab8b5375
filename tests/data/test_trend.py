"""Series that trend: the ADF test against references, trend detection on known cases, and the
window coder's handlings (exact inverses, invariance to level and scale, forecasts at the past's level)."""
import math

import numpy as np
import pytest
from scipy import stats

from vaelab.data.timeseries import TEST, TRAIN, VAL, make_windows, split_stretches, split_windows
from vaelab.data.trend import (
    HANDLINGS,
    WindowCoder,
    adf_test,
    choose_handling,
    detect_trend,
    level_drift,
)
from vaelab.errors import ConfigError, DataError, NotFittedError, RunError


def random_walk(n, seed=0, F=1):
    return np.cumsum(np.random.default_rng(seed).standard_normal((n, F)), axis=0)


def ar1(n, phi=0.5, seed=0):
    e = np.random.default_rng(seed).standard_normal(n)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def growth(n, seed=0):
    """An exponentially growing level (GDP-like): 1% a step plus noise in the growth rate."""
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(0.01 + 0.005 * rng.standard_normal(n)))


# ------------------------------------------------------------------ the ADF test
@pytest.mark.parametrize("seed", range(3))
def test_adf_without_lags_is_the_t_statistic_of_the_lagged_level(seed):
    """With no lagged differences the ADF statistic is the OLS t of x_{t-1} in Δx_t = a + γ x_{t-1}:
    scipy's linregress gives the same slope and standard error."""
    x = ar1(120, 0.3, seed)
    got = adf_test(x, max_lags=0)
    ref = stats.linregress(x[:-1], np.diff(x))
    assert got.lags == 0 and got.n_obs == 119
    assert got.statistic == pytest.approx(ref.slope / ref.stderr, rel=1e-9)


def test_adf_matches_statsmodels():
    statsmodels = pytest.importorskip("statsmodels.tsa.stattools")
    rng = np.random.default_rng(1)
    for n in (30, 60, 200):
        t = np.arange(n)
        for x in (np.cumsum(rng.standard_normal(n)), np.sin(t / 4) + 0.1 * rng.standard_normal(n),
                  0.1 * t + rng.standard_normal(n)):  # fmt: skip
            ref = statsmodels.adfuller(x, regression="c", autolag="AIC")
            got = adf_test(x)
            assert got.statistic == pytest.approx(ref[0], rel=1e-8)
            assert (got.lags, got.n_obs) == (ref[2], ref[3])
            assert got.critical_5 == pytest.approx(ref[4]["5%"], abs=1e-6)


def test_adf_critical_value_tends_to_mackinnons_asymptote():
    # MacKinnon's surface is -2.86154 - 2.8903/n - 4.234/n²: at 20,000 values within 2e-4 of the asymptote
    # (100,000 took 13 s for the regression alone), at 100 clearly away from it.
    near, far = adf_test(ar1(20_000)).critical_5, adf_test(ar1(100)).critical_5
    assert near == pytest.approx(-2.86154, abs=1e-3) and far < near - 0.01


def test_adf_keeps_a_unit_root_and_rejects_it_for_a_stationary_series():
    walks = [adf_test(random_walk(300, s)[:, 0]).unit_root for s in range(20)]
    stationary = [adf_test(ar1(300, 0.5, s)).unit_root for s in range(20)]
    assert sum(walks) >= 17 and sum(stationary) <= 3  # a 5% test: about 1 in 20 wrong on either side


def test_adf_needs_enough_finite_values():
    with pytest.raises(DataError, match="at least 8 finite"):
        adf_test([1.0, 2.0, 3.0])


# ------------------------------------------------------------------ detection
def test_levels_that_grow_are_detected_and_stationary_series_are_not():
    t = np.arange(240)
    sine = np.sin(2 * np.pi * t / 30) + 0.1 * np.random.default_rng(0).standard_normal(240)
    stretch = np.column_stack([growth(240), ar1(240, 0.5), sine])
    report = detect_trend([stretch], ["gdp", "ar", "sine"], window=16)
    assert report.detected and report.trending == ["gdp"]
    gdp = report.features[0]
    assert gdp.unit_root == gdp.tested == 1 and gdp.drift > 5
    assert "gdp" in report.describe() and "ADF" in report.describe()


def test_a_unit_root_without_drift_is_not_a_trend():
    """A level that wanders no further than a window spreads is not handled: its windows stay in range."""
    x = random_walk(400, 3)[:, 0]
    wiggle = np.sin(np.arange(400) * 2 * np.pi / 8) * 20  # a large within-window spread
    report = detect_trend([(0.02 * x + wiggle)[:, None]], ["x"], window=16)
    f = report.features[0]
    assert f.drift <= 1 and not report.detected


def test_level_drift_is_shift_over_within_window_spread():
    stretch = np.concatenate([np.zeros(30), np.ones(30), 3 * np.ones(30)])[:, None]
    stretch = stretch + np.tile([1.0, -1.0], 45)[:, None]  # ±1 inside every window
    within = np.mean([stretch[i : i + 10, 0].var() for i in range(len(stretch) - 9)])
    assert level_drift(stretch, 10)[0] == pytest.approx(3.0 / math.sqrt(within), rel=1e-12)


def test_short_panels_are_not_tested():
    """TimeGAN-style panels (each series one window long) have no stretch to test; the report says so."""
    report = detect_trend([random_walk(24, s) for s in range(50)], ["x"], window=24)
    assert not report.detected and "not tested" in report.describe()


# ------------------------------------------------------------------ the coder
@pytest.fixture
def trending_windows():
    series = np.column_stack([growth(300), 50 + 0.5 * np.arange(300) + np.random.default_rng(1).standard_normal(300)])
    w = make_windows(series, n_past=12, n_future=4)
    return w, split_windows(w, 0.1, 0.2)


@pytest.mark.parametrize("handling", HANDLINGS)
def test_decode_inverts_encode(trending_windows, handling):
    w, codes = trending_windows
    coder = WindowCoder(handling, w.n_past).fit(w.X[codes == TRAIN])
    rows = coder.encode(w.X)
    assert rows.dtype == np.float32 and rows.shape == (w.n_windows, coder.steps(16) * 2 + coder.n_extra(2))
    back = coder.decode(rows, 16)
    np.testing.assert_allclose(back, w.X, rtol=2e-5, atol=1e-4 * np.abs(w.X).max())
    # no rows decode to no windows (an audit, s15: the reshape's -1 could not be read, and evaluate-synthetic on a run
    # with an empty test split ended in that ValueError's traceback)
    assert coder.decode(rows[:0], 16).shape == (0, 16, 2)


def test_none_is_the_global_standard_scaling(trending_windows):
    from vaelab.data.timeseries import SeriesScaler

    w, codes = trending_windows
    coder = WindowCoder("none", w.n_past).fit(w.X[codes == TRAIN])
    scaler = SeriesScaler("standard").fit(w, split=codes)
    np.testing.assert_array_equal(coder.encode(w.X), scaler.transform(w.X).reshape(w.n_windows, -1))


@pytest.mark.parametrize("handling", ["difference", "window"])
def test_shapes_ignore_the_level(trending_windows, handling):
    """A window lifted by any constant has the same shape (and, for 'window', scaled by any factor):
    the shapes of later, higher windows stay in the range the model trained on."""
    w, codes = trending_windows
    coder = WindowCoder(handling, w.n_past).fit(w.X[codes == TRAIN])
    X = w.X[:20].astype(np.float64)
    moved = X * (3.0 if handling == "window" else 1.0) + 1000.0
    np.testing.assert_allclose(coder.shape(coder.encode(moved), 16), coder.shape(coder.encode(X), 16), atol=2e-4)


@pytest.mark.parametrize("handling", HANDLINGS)
def test_a_future_decodes_after_the_past_it_continues(trending_windows, handling):
    """The forecaster's parts: the past's condition, and the true future in model units decoded with
    the past's context, give back the true future in data units."""
    w, codes = trending_windows
    coder = WindowCoder(handling, w.n_past).fit(w.X[codes == TRAIN])
    X = w.X[codes == TEST].astype(np.float64)
    shape = coder.shape(coder.encode(X), 16)
    cond, context = coder.encode_past(X[:, : w.n_past])
    np.testing.assert_allclose(cond, shape[:, : coder.past_steps], atol=1e-4)
    future = coder.decode_future(shape[:, None, coder.past_steps :], context)  # one draw per past
    np.testing.assert_allclose(future[:, 0], X[:, w.n_past :], rtol=1e-4)


def test_window_shapes_of_one_step_pasts_stay_near_unit_scale():
    """With --window 1 every past is one step, its SD 0, so every window was scaled by the floor: 1e-3 of the global
    SD, which left a random walk's shapes tens of units wide (SD 36 and 51) and the forecaster's band holding 9% of
    the futures. The floor of such pasts is the typical SD of a whole window; the coder still inverts exactly."""
    w = make_windows(100 + 5 * random_walk(400, seed=3), n_past=1, n_future=2)
    coder = WindowCoder("window", 1).fit(w.X)
    shape = coder.shape(coder.encode(w.X), 3)
    assert 0.3 < shape[:, 1:].std() < 3
    np.testing.assert_allclose(coder.decode(coder.encode(w.X), 3), w.X, rtol=1e-5)


@pytest.mark.parametrize("handling", HANDLINGS)
def test_coder_refuses_windows_and_pasts_of_another_length(trending_windows, handling):
    """Windows of 10 steps given to a coder fitted on 16, rows decoded as windows of another length, and a past of 5
    steps for n_past 12 were coded without a word (decode gave windows of the wrong steps, garbage in data units)."""
    w, codes = trending_windows
    coder = WindowCoder(handling, w.n_past).fit(w.X[codes == TRAIN])
    assert coder.window == 16
    with pytest.raises(DataError, match=r"expects windows \(N, 16, 2\); got shape \(5, 10, 2\)"):
        coder.encode(w.X[:5, :10])
    with pytest.raises(DataError, match="WindowCoder.decode expects rows"):
        coder.decode(coder.encode(w.X[:5]), 10)
    with pytest.raises(DataError, match="n_past = 12"):
        coder.encode_past(w.X[:5, :5])
    with pytest.raises(DataError, match="expects windows"):
        coder.encode(w.X[0])


def test_detect_trend_refuses_stretches_that_do_not_match_the_features():
    """A 1-D stretch ended in an IndexError from deep inside."""
    with pytest.raises(DataError, match=r"stretch 0 has shape \(60,\)"):
        detect_trend([random_walk(60)[:, 0]], ["x"], 8)
    with pytest.raises(DataError, match="2 features"):
        detect_trend([random_walk(60)], ["x", "y"], 8)
    assert detect_trend([random_walk(60)], ["x"], 8).features[0].feature == "x"


def test_choose_handling_prefers_per_window_scaling_for_growth_and_differences_for_a_walk():
    g = make_windows(growth(400)[:, None], 12, 4)
    handling, drift = choose_handling(g.X, g.series, g.start, 12)
    assert handling == "window" and drift["window"] < drift["difference"]
    r = make_windows(random_walk(400, 5), 12, 4)
    handling, drift = choose_handling(r.X, r.series, r.start, 12)
    assert handling == "difference" and drift["difference"] < drift["window"]


def test_coder_state_round_trip_and_damage(trending_windows):
    w, codes = trending_windows
    for handling in HANDLINGS:
        coder = WindowCoder(handling, w.n_past).fit(w.X[codes == TRAIN])
        meta, arrays = coder.state()
        again = WindowCoder.from_state(meta, arrays)
        np.testing.assert_array_equal(again.encode(w.X), coder.encode(w.X))
    meta, arrays = WindowCoder("window", w.n_past).fit(w.X).state()
    with pytest.raises(RunError, match="window coder is damaged"):
        WindowCoder.from_state(meta, {**arrays, "coder_floor": -arrays["coder_floor"]})
    with pytest.raises(RunError, match="window coder is damaged"):
        WindowCoder.from_state({**meta, "handling": "log"}, arrays)


def test_coder_refuses_what_it_cannot_do():
    with pytest.raises(ConfigError, match="must be one of"):
        WindowCoder("detrend", 4)
    with pytest.raises(ConfigError, match="N_PAST >= 2"):
        WindowCoder("difference", 1)
    with pytest.raises(NotFittedError):
        WindowCoder("window", 4).encode(np.zeros((1, 6, 1)))


# ------------------------------------------------------------------ stretches and short panels
def test_training_stretches_cover_the_training_windows(trending_windows):
    w, codes = trending_windows
    from vaelab.data.timeseries import prepare_series

    frame = prepare_series(np.column_stack([growth(300), np.arange(300.0)]))
    (stretch,) = split_stretches(frame, w, codes)
    starts = w.start[codes == TRAIN]
    assert len(stretch) == starts.max() + 16 - starts.min()


def test_panels_of_short_series_are_split_by_series():
    """TimeGAN's sines are many sequences of one window each: no series can be split in time, so whole
    series go to validation and test (seeded), and none is in two splits."""
    panel = [np.random.default_rng(i).normal(size=(24, 2)) for i in range(100)]
    w = make_windows(panel, 20, 4)
    codes = split_windows(w, 0.1, 0.2, seed=3)
    assert np.bincount(codes, minlength=3).tolist() == [70, 10, 20]
    for k in range(100):
        assert len(set(codes[w.series == k])) == 1
    assert not np.array_equal(codes, split_windows(w, 0.1, 0.2, seed=4))
    np.testing.assert_array_equal(codes, split_windows(w, 0.1, 0.2, seed=3))
    assert set(np.unique(codes)) == {TRAIN, VAL, TEST}


@pytest.mark.parametrize("kind", ["random walk", "linear trend", "stationary sine"])
def test_random_walk_and_linear_trend_are_detected_a_stationary_sine_is_not(kind):
    """A walk that wanders far and a line plus noise keep their unit root and drift by many window spreads;
    a noisy sine rejects the unit root (ADF) and its level does not move."""
    rng = np.random.default_rng(4)
    t = np.arange(300)
    x = {"random walk": np.cumsum(0.3 + rng.standard_normal(300)),
         "linear trend": 0.2 * t + rng.standard_normal(300),
         "stationary sine": np.sin(2 * np.pi * t / 25) + 0.2 * rng.standard_normal(300)}[kind]  # fmt: skip
    report = detect_trend([x[:, None]], ["x"], window=16)
    assert report.detected == (kind != "stationary sine")
    f = report.features[0]
    if kind == "stationary sine":
        assert f.unit_root == 0 and "no trend detected" in report.describe()
    else:
        assert f.unit_root == 1 and f.drift > 1 and "trend detected in x" in report.describe()


@pytest.mark.parametrize("handling", HANDLINGS)
def test_coder_measures_how_far_new_rows_lie_outside_the_training_range(trending_windows, handling):
    """Training rows lie inside their own range (distance 0); one value pushed far out is the only column
    flagged, by its distance in training SDs; a coder stored before the range was kept measures nothing."""
    w, codes = trending_windows
    coder = WindowCoder(handling, w.n_past).fit(w.X[codes == TRAIN])
    rows = coder.encode(w.X[codes == TRAIN])
    assert (coder.beyond_range(rows) == 0).all()
    parts = coder.column_parts(w.window_length, w.X.shape[2])
    assert len(parts) == rows.shape[1] and (parts[-1][2] is None) == (handling != "none")
    pushed = rows[:1].astype(np.float64).copy()
    pushed[0, 3] = coder.stats["row_hi"][3] + 7 * coder.stats["row_sd"][3]
    far = coder.beyond_range(pushed)
    assert far[0, 3] == pytest.approx(7) and np.count_nonzero(far) == 1
    meta, arrays = coder.state()
    old = {k: v for k, v in arrays.items() if not k.startswith("coder_row_")}
    assert WindowCoder.from_state(meta, old).beyond_range(rows) is None
    with pytest.raises(RunError, match="window coder is damaged"):
        WindowCoder.from_state(meta, {k: v for k, v in arrays.items() if k != "coder_row_sd"})


@pytest.mark.parametrize("handling", HANDLINGS)
def test_a_feature_constant_in_training_decodes_exactly_and_any_other_value_is_out_of_range(trending_windows, handling):
    """Its SD 0 was stored as 1, so decoded windows (and forecasts) varied it by the model's noise in data units
    (an always-3.0 column came back from 2.88 to 3.12) and 3.9 was not out of range (0.9 "training SDs")."""
    w, codes = trending_windows
    X = np.concatenate([w.X, np.full((*w.X.shape[:2], 1), 3.0, dtype=w.X.dtype)], axis=2)
    coder = WindowCoder(handling, w.n_past).fit(X[codes == TRAIN])
    assert coder.constant_features.tolist() == [False, False, True]
    rows = coder.encode(X[:10]).astype(np.float64)
    noisy = rows + np.random.default_rng(0).normal(0, 0.05, rows.shape)  # the model's rows are never exact
    back = coder.decode(noisy, 16)
    assert (back[..., 2] == np.float32(3.0)).all() and not np.allclose(back[..., :2], X[:10, :, :2])
    cond, context = coder.encode_past(X[:10, : w.n_past].astype(np.float64))
    future = coder.decode_future(np.random.default_rng(1).normal(0, 0.05, (10, 3, 4, 3)), context)
    np.testing.assert_allclose(future[..., 2], 3.0, rtol=1e-6)
    shifted = X[:1].astype(np.float64).copy()
    shifted[0, 5, 2] = 3.9
    far = coder.beyond_range(coder.encode(shifted))
    assert np.isinf(far).any() and (coder.beyond_range(coder.encode(X[:10])) == 0).all()
