"""Time-series data: preparation, windows, leak-free splits, scaling, helpers."""
import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from vaelab.data.timeseries import (
    TEST,
    TRAIN,
    UNUSED,
    VAL,
    SeriesFrame,
    SeriesScaler,
    join_past_future,
    load_bundled_series,
    make_sine_panel,
    make_windows,
    min_gap,
    prepare_series,
    split_past_future,
    split_windows,
)
from vaelab.errors import ConfigError, DataError, NotFittedError, RunError


def ragged(lengths, n_features=2, seed=0):
    """A list of random series of the given lengths."""
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, n_features)) for n in lengths]


def steps(windows, i):
    """Time steps (within its series) covered by window i."""
    return set(range(int(windows.start[i]), int(windows.start[i]) + windows.window_length))


# ----------------------------------------------------------------- windows


def test_window_count_content_and_series_boundaries():
    lengths = [5, 30, 47, 12, 11]
    frame = prepare_series(ragged(lengths))
    w = make_windows(frame, n_past=8, n_future=4)
    T = 12
    assert w.X.shape == (sum(max(0, n - T + 1) for n in lengths), T, 2) and w.X.dtype == np.float32
    assert w.n_skipped == 2  # lengths 5 and 11
    assert set(np.unique(w.series)) == {1, 2, 3}
    # never crosses a boundary, and each window is its series' slice at its start
    assert np.all(w.start >= 0) and np.all(w.start + T <= w.lengths[w.series])
    for i in range(w.n_windows):
        s, a = w.series[i], w.start[i]
        np.testing.assert_array_equal(w.X[i], frame.series[s][a : a + T].astype(np.float32))
    assert np.array_equal(w.past, w.X[:, :8]) and np.array_equal(w.future, w.X[:, 8:])


def test_stride_counts_and_starts():
    lengths = [30, 47, 12]
    w = make_windows(ragged(lengths), n_past=5, n_future=3, stride=4)
    assert w.n_windows == sum(-(-(n - 8 + 1) // 4) for n in lengths)
    assert np.all(w.start % 4 == 0) and np.all(w.start + 8 <= w.lengths[w.series])


def test_no_window_at_all_lists_lengths():
    with pytest.raises(DataError, match=r"n_past \+ n_future = 6 \+ 4 = 10.*\[3, 9, 7\]"):
        make_windows(ragged([3, 9, 7]), 6, 4)


@pytest.mark.parametrize("kw", [dict(n_past=0), dict(n_future=0), dict(n_past=-2), dict(n_future=1.5), dict(n_past=True), dict(stride=0)])
def test_bad_window_settings_are_config_errors(kw):
    args = dict(n_past=4, n_future=2, stride=1) | kw
    name = next(iter(kw))
    with pytest.raises(ConfigError, match=f"{name} must be a whole number >= 1"):
        make_windows(ragged([50]), **args)


def test_make_windows_refuses_raw_dataframe():
    with pytest.raises(DataError, match="prepare_series"):
        make_windows(make_sine_panel(2, 30), 4, 2)


# ------------------------------------------------------------------- split


def assert_no_leakage(w, codes):
    for s in np.unique(w.series):
        mine = np.flatnonzero(w.series == s)
        train = set().union(*[steps(w, i) for i in mine if codes[i] == TRAIN])
        val = set().union(*[steps(w, i) for i in mine if codes[i] == VAL])
        test = set().union(*[steps(w, i) for i in mine if codes[i] == TEST])
        assert not train & val and not train & test and not val & test, f"series {s} leaks"
        # ordering in time: train < val < test
        if val:
            assert max(train) < min(val)
        if test:
            assert max(train | val) < min(test)


@pytest.mark.parametrize("stride", [1, 3])
def test_split_has_no_leakage_and_keeps_proportions(stride):
    frame = prepare_series(make_sine_panel(n_series=4, length=400, n_features=2), id_column="id", time_column="time")
    w = make_windows(frame, n_past=12, n_future=4, stride=stride)
    codes = split_windows(w, val_fraction=0.15, test_fraction=0.1)
    assert codes.dtype == np.int8 and codes.shape == (w.n_windows,)
    assert set(np.unique(codes)) == {UNUSED, TRAIN, VAL, TEST}
    assert_no_leakage(w, codes)
    kept = codes[codes != UNUSED]
    assert abs(np.mean(kept == VAL) - 0.15) < 0.02 and abs(np.mean(kept == TEST) - 0.1) < 0.02
    # exactly the minimal gap is dropped at each of the two boundaries of every series
    assert np.sum(codes == UNUSED) == 4 * 2 * min_gap(16, stride)


def test_minimal_gap_is_tight_and_smaller_gaps_are_refused():
    w = make_windows(ragged([200]), n_past=6, n_future=4)
    assert min_gap(10, 1) == 9 and min_gap(10, 3) == 3 and min_gap(10, 10) == 0
    codes = split_windows(w, 0.2, 0.2)
    # the last train window and the first val window are exactly T steps apart: adjacent, not overlapping
    assert w.start[codes == VAL].min() - w.start[codes == TRAIN].max() == 10
    with pytest.raises(ConfigError, match="gap must be a whole number of windows >= 9"):
        split_windows(w, 0.2, 0.2, gap=8)
    wide = split_windows(w, 0.2, 0.2, gap=20)
    assert np.sum(wide == UNUSED) == 40
    assert_no_leakage(w, wide)


def test_split_without_test_has_one_gap():
    w = make_windows(ragged([100]), n_past=4, n_future=1)
    codes = split_windows(w, val_fraction=0.2, test_fraction=0.0)
    assert not (codes == TEST).any() and np.sum(codes == UNUSED) == 4
    assert_no_leakage(w, codes)


def test_short_series_go_to_training_and_too_short_panels_fail():
    w = make_windows(ragged([200, 20]), n_past=6, n_future=4)
    codes = split_windows(w)
    assert np.all(codes[w.series == 1] == TRAIN)  # 11 windows cannot hold 3 blocks + 2 gaps of 9
    assert_no_leakage(w, codes)
    with pytest.raises(DataError, match="at least 21 windows.*most any series has is 11"):
        split_windows(make_windows(ragged([20, 15]), 6, 4))


@pytest.mark.parametrize("fractions", [(-0.1, 0.1), (0.1, 1.0), (0.5, 0.5), ("0.1", 0.1)])
def test_bad_fractions(fractions):
    with pytest.raises(ConfigError):
        split_windows(make_windows(ragged([100]), 4, 2), *fractions)


# ------------------------------------------------------------------ scaler


@pytest.fixture
def trend_windows():
    t = np.arange(300.0)
    series = np.stack([0.5 * t + np.sin(t / 5), 100 - 0.1 * t], axis=1)  # trending: later windows differ
    w = make_windows(series, n_past=10, n_future=5)
    return w, split_windows(w)


@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_scaler_fits_training_windows_only(trend_windows, method):
    w, codes = trend_windows
    scaler = SeriesScaler(method).fit(w, codes)
    train = w.X[codes == TRAIN].reshape(-1, 2).astype(np.float64)
    everything = w.X.reshape(-1, 2).astype(np.float64)
    if method == "standard":
        expected, overall = (train.mean(0), train.std(0)), (everything.mean(0), everything.std(0))
    else:
        expected = (train.min(0), train.max(0) - train.min(0))
        overall = (everything.min(0), everything.max(0) - everything.min(0))
    np.testing.assert_allclose(scaler.loc_, expected[0], rtol=1e-12)
    np.testing.assert_allclose(scaler.scale_, expected[1], rtol=1e-12)
    # on a trending series the training statistics are not those of all windows
    assert np.all((np.abs(scaler.loc_ - overall[0]) > 1.0) | (np.abs(scaler.scale_ - overall[1]) > 1.0))
    Z = scaler.transform(w.X[codes == TRAIN])
    if method == "standard":
        np.testing.assert_allclose(Z.reshape(-1, 2).mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(Z.reshape(-1, 2).std(0), 1, atol=1e-4)
    else:
        assert Z.min() >= -1e-6 and Z.max() <= 1 + 1e-6
        assert scaler.transform(w.X[codes == TEST]).max() > 1  # held-out trend leaves the training range


@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_scaler_round_trip_and_state(trend_windows, method):
    w, codes = trend_windows
    scaler = SeriesScaler(method).fit(w, codes)
    x64 = w.X.astype(np.float64)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(x64)), x64, atol=1e-6, rtol=0)
    z32 = scaler.transform(w.X)
    assert z32.dtype == np.float32
    np.testing.assert_allclose(scaler.inverse_transform(z32), w.X, rtol=1e-6, atol=1e-5)

    meta, arrays = scaler.state()
    meta = json.loads(json.dumps(meta))  # JSON-ready, nothing pickled
    assert set(arrays) == {"loc", "scale"} and all(isinstance(a, np.ndarray) for a in arrays.values())
    back = SeriesScaler.from_state(meta, arrays)
    assert back.method == method and back.features == w.features
    np.testing.assert_array_equal(back.transform(x64), scaler.transform(x64))
    with pytest.raises(RunError, match="damaged"):
        SeriesScaler.from_state(meta, {"loc": arrays["loc"], "scale": arrays["scale"][:1]})
    with pytest.raises(RunError, match="damaged"):
        SeriesScaler.from_state({**meta, "kind": "other"}, arrays)


def test_scaler_refusals_and_constant_feature():
    with pytest.raises(ConfigError, match="method"):
        SeriesScaler("robust")
    with pytest.raises(NotFittedError):
        SeriesScaler().transform(np.zeros((1, 3, 2)))
    X = np.stack([np.ones((4, 3)), np.arange(12.0).reshape(4, 3)], axis=-1)  # feature 0 constant
    for method in ("standard", "minmax"):
        scaler = SeriesScaler(method).fit(X)
        assert scaler.scale_[0] == 1.0 and np.isfinite(scaler.transform(X)).all()
    with pytest.raises(DataError, match="2 feature"):
        scaler.transform(np.zeros((1, 3, 5)))
    with pytest.raises(DataError, match="one code per window"):
        SeriesScaler().fit(X, np.zeros(3, dtype=np.int8))


# ------------------------------------------------------------- preparation


def test_panel_with_unsorted_rows_is_sorted_by_id_and_time():
    df = make_sine_panel(n_series=3, length=40, n_features=2, seed=1)
    shuffled = df.sample(frac=1.0, random_state=0).reset_index(drop=True)
    series, features, ids = prepare_series(shuffled, id_column="id", time_column="time")
    assert features == ("f0", "f1") and ids == (0, 1, 2)
    for k in range(3):
        np.testing.assert_array_equal(series[k], df[df.id == k][["f0", "f1"]].to_numpy())
    frame = prepare_series(shuffled, id_column="id", time_column="time")
    np.testing.assert_array_equal(frame.times[2], np.arange(40))


def test_datetime_time_and_string_ids_and_text_dates():
    days = pd.date_range("2021-01-01", periods=6, freq="D")
    df = pd.DataFrame({"when": list(days[::-1]) + list(days), "who": ["b"] * 6 + ["a"] * 6,
                       "v": list(range(6, 0, -1)) + list(range(10, 16)), "note": ["x"] * 12})  # fmt: skip
    frame = prepare_series(df, id_column="who", time_column="when")
    assert frame.ids == ("a", "b") and frame.features == ("v",)  # "note" is not numeric: skipped
    np.testing.assert_array_equal(frame.series[0][:, 0], np.arange(10, 16))
    np.testing.assert_array_equal(frame.series[1][:, 0], np.arange(1, 7))
    df["when"] = df["when"].dt.strftime("%Y-%m-%d")  # ISO text sorts as dates
    np.testing.assert_array_equal(prepare_series(df, id_column="who", time_column="when").series[1][:, 0], np.arange(1, 7))


def test_single_dataframe_series_keeps_row_order_without_time():
    df = pd.DataFrame({"a": [3.0, 1.0, 2.0], "b": [1, 2, 3]})
    series, features, ids = prepare_series(df)
    assert len(series) == 1 and features == ("a", "b") and ids == (0,)
    np.testing.assert_array_equal(series[0], df.to_numpy(dtype=float))


def test_numpy_inputs():
    x = np.arange(20.0)
    frame = prepare_series(x)
    assert isinstance(frame, SeriesFrame) and frame.series[0].shape == (20, 1) and frame.features == ("x0",)
    frame = prepare_series(np.zeros((20, 3)), features=["a", "b", "c"])
    assert frame.features == ("a", "b", "c")
    frame = prepare_series(np.zeros((4, 20, 3)))
    assert len(frame.series) == 4 and frame.ids == (0, 1, 2, 3)
    w = make_windows(x, n_past=3, n_future=2)
    np.testing.assert_array_equal(w.X[:, :, 0], np.stack([np.arange(i, i + 5) for i in range(16)]))
    with pytest.raises(DataError, match="dtype"):
        prepare_series(np.array(["a", "b"]))
    with pytest.raises(ConfigError, match="names a column of a table"):
        prepare_series(np.zeros((5, 2)), id_column="id")
    with pytest.raises(DataError, match="same number of features"):
        prepare_series([np.zeros((5, 2)), np.zeros((5, 3))])


def test_non_numeric_features_are_named():
    df = pd.DataFrame({"t": range(4), "x": [1.0, 2, 3, 4], "city": ["a", "b", "c", "d"], "flag": ["y"] * 4})
    with pytest.raises(DataError, match=r"'city' \(.*\), 'flag' \(.*\) are not numeric"):
        prepare_series(df, time_column="t", features=["x", "city", "flag"])
    with pytest.raises(DataError, match="no numeric feature column.*'city'"):
        prepare_series(df[["t", "city"]], time_column="t")
    with pytest.raises(DataError, match=r"\['y'\] are not in the DataFrame"):
        prepare_series(df, features=["y"])
    with pytest.raises(DataError, match="id_column 'idd'.*did you mean"):
        prepare_series(df.assign(id=1), id_column="idd")


def test_the_row_index_pandas_writes_with_to_csv_is_no_feature(tmp_path):
    """An audit (issue 17): a series CSV written with df.to_csv() (index included) made its row numbers a feature,
    one with a perfect trend. Unless named in features, it is not one."""
    df = pd.DataFrame({"t": range(40), "x": np.sin(np.arange(40.0))})
    df.to_csv(tmp_path / "s.csv")
    read = pd.read_csv(tmp_path / "s.csv")
    assert read.columns[0] == "Unnamed: 0"
    assert prepare_series(read, time_column="t").features == ("x",)
    assert prepare_series(read, time_column="t", features=["Unnamed: 0", "x"]).features == ("Unnamed: 0", "x")


def test_a_time_column_whose_offset_changes_is_read_as_instants():
    """An audit: a zoned series written to CSV holds '+01:00' in winter and '+02:00' in summer; --time refused it as
    not "one offset throughout", though its Parquet file (datetime64 with a zone) trained. Offsets in every cell are
    read as instants (sorted in UTC); naive cells among them are still refused."""
    t = pd.date_range("2020-03-28", periods=72, freq="h", tz="Europe/Oslo")
    text = pd.Series(t.astype(str))
    assert text.str.endswith("+01:00").any() and text.str.endswith("+02:00").any()
    df = pd.DataFrame({"t": text, "x": np.arange(72.0)}).sample(frac=1, random_state=0)
    frame = prepare_series(df, time_column="t")
    np.testing.assert_array_equal(frame.series[0][:, 0], np.arange(72.0))
    assert frame.times[0][0] == "2020-03-28 00:00:00+01:00"
    mixed = df.assign(t=df["t"].where(df["x"] != 5, "2020-03-28 05:00:00"))
    with pytest.raises(DataError, match=r"with an offset in every cell or in none"):
        prepare_series(mixed, time_column="t")


def test_missing_values_refused_or_interpolated():
    df = pd.DataFrame({"t": [0, 1, 3, 2, 4, 5], "x": [0.0, 1.0, 3.0, np.nan, np.nan, 5.0], "y": [1.0] * 6})
    # the stamp --time names, and the file's row (an audit: "step 2" only, a step index the user never sees)
    with pytest.raises(DataError, match=r"2 missing value\(s\) \{'x': 2\}; the first is feature 'x' at t = 2 \(row 3 "
                                        r"of the data\).*fill='interpolate'"):
        prepare_series(df, time_column="t")
    with pytest.raises(DataError, match=r"feature 'x' at step 3 \(row 3 of the data\)"):
        prepare_series(df.drop(columns="t"))
    dated = df.assign(t=pd.date_range("2020-01-01", periods=6, freq="D")[df["t"]].strftime("%Y-%m-%d"), x=df["x"].fillna(0))
    dated.loc[5, "x"] = np.inf
    with pytest.raises(DataError, match=r"infinite value\(s\), the first in feature 'x' at t = '2020-01-06' \(row 5 of"):
        prepare_series(dated, time_column="t")
    frame = prepare_series(df, time_column="t", fill="interpolate")
    np.testing.assert_allclose(frame.series[0][:, 0], [0, 1, 2, 3, 4, 5])
    # interpolation is linear in time (row position would give 2.5); edges take the nearest value
    irregular = pd.DataFrame({"t": [0.0, 1.0, 4.0, 5.0], "x": [np.nan, 0.0, np.nan, 5.0]})
    np.testing.assert_allclose(prepare_series(irregular, time_column="t", fill="interpolate").series[0][:, 0], [0, 0, 3.75, 5])
    with pytest.raises(DataError, match="no observed value"):
        prepare_series(pd.DataFrame({"x": [np.nan, np.nan]}), fill="interpolate")
    with pytest.raises(DataError, match="infinite"):
        prepare_series(np.array([1.0, np.inf, 2.0]), fill="interpolate")
    with pytest.raises(ConfigError, match="fill"):
        prepare_series(df, fill="ffill")


def test_values_float32_cannot_hold_are_refused_naming_the_feature():
    """An audit (s15 f): series windows are float32, as the model is; a feature near 1e300 became inf in them, and
    train said "WindowCoder.fit got NaN or infinite values; the windows must be finite" (of finite data, under
    overflow warnings), score "X holds 0 NaN and 16 infinite value(s)"; a feature near 1e-300 became a constant 0 in
    silence. Both are refused where the series is read, saying which feature and what to do."""
    t = np.arange(40)
    big = pd.DataFrame({"t": t, "x": np.sin(t / 3.0), "y": np.cos(t / 3.0)})
    big.loc[7, "x"] = 2e39
    with pytest.raises(DataError, match=r"beyond float32's range.*feature 'x' at t = 7 \(row 7 of the data\) "
                                        r"\(2e\+39\).*divide it by 1e39"):
        prepare_series(big, time_column="t")
    tiny = pd.DataFrame({"t": t, "x": np.sin(t / 3.0), "y": 1e-300 * np.cos(t / 3.0)})
    with pytest.raises(DataError, match=r"Feature 'y' .* below float32's smallest normal number.*multiply it by 1e300"):
        prepare_series(tiny, time_column="t")
    with pytest.raises(DataError, match="beyond float32's range"):
        prepare_series(np.array([[1.0], [-1e300], [2.0]]))
    ok = prepare_series(pd.DataFrame({"x": [0.0, 1e-40, 1.0], "y": [3e38, -3e38, 0.0]}))  # within float32: taken
    assert np.isfinite(make_windows(ok, 2, 1).X).all()


def test_duplicate_times_and_missing_ids_are_refused():
    df = pd.DataFrame({"id": [1, 1, 2], "t": [0, 0, 0], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match="series 1 has 1 duplicate time stamp"):
        prepare_series(df, id_column="id", time_column="t")
    with pytest.raises(DataError, match="id_column 'id' is missing in 1 row"):
        prepare_series(df.assign(id=[1, None, 2]), id_column="id")



def test_a_duplicate_time_stamp_is_named_as_the_file_holds_it():
    """The message showed NumPy's repr of the stamp: 'the first is np.int64(12)', or numpy.datetime64('...')."""
    for stamps, shown in (([3, 12, 12], "the first is 12."), (pd.to_datetime(["2001-03-31"] * 2 + ["2001-06-30"]),
                                                             "the first is 2001-03-31 00:00:00.")):  # fmt: skip
        with pytest.raises(DataError) as err:
            prepare_series(pd.DataFrame({"t": stamps, "x": [1.0, 2.0, 3.0]}), time_column="t")
        assert shown in str(err.value) and "np." not in str(err.value) and "numpy" not in str(err.value)

# --------------------------------------------------- helpers and examples


def test_past_future_split_and_join():
    X = np.random.default_rng(0).normal(size=(5, 7, 3)).astype(np.float32)
    past, future = split_past_future(X, 4)
    assert past.shape == (5, 4, 3) and future.shape == (5, 3, 3)
    np.testing.assert_array_equal(join_past_future(past, future), X)
    tp, tf = split_past_future(torch.from_numpy(X), 4)
    joined = join_past_future(tp, tf)
    assert isinstance(joined, torch.Tensor) and torch.equal(joined, torch.from_numpy(X))
    with pytest.raises(ConfigError, match="below the window length 7"):
        split_past_future(X, 7)
    with pytest.raises(ConfigError):
        split_past_future(X, 0)
    with pytest.raises(DataError, match="same N and F"):
        join_past_future(past, future[:, :, :2])


def test_sine_panel_has_the_stated_structure():
    df = make_sine_panel(n_series=4, length=100, n_features=2, seed=3)
    assert list(df.columns) == ["id", "time", "f0", "f1"] and len(df) == 400
    pd.testing.assert_frame_equal(df, make_sine_panel(n_series=4, length=100, n_features=2, seed=3))
    freq, phase = np.array(df.attrs["frequency"]), np.array(df.attrs["phase"])
    for i in range(4):
        part = df[df.id == i]
        clean = np.sin(2 * np.pi * freq[i] * part.time.to_numpy()[:, None] + phase[i])
        residual = part[["f0", "f1"]].to_numpy() - clean
        assert 0.07 < residual.std() < 0.13  # only the stated noise (sd 0.1) remains
    assert not np.allclose(freq[0], freq[1])


def test_bundled_series_without_statsmodels(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsmodels", None)  # import fails as if not installed
    with pytest.raises(DataError, match="pip install statsmodels"):
        load_bundled_series("co2")
    with pytest.raises(ConfigError, match="did you mean 'sunspots'"):
        load_bundled_series("sunspot")


@pytest.mark.parametrize("name", ["macrodata", "co2", "sunspots"])
def test_bundled_series_with_statsmodels(name):
    pytest.importorskip("statsmodels")
    df = load_bundled_series(name)
    frame = prepare_series(df, time_column="time", fill="interpolate")
    assert len(frame.series) == 1 and len(frame.series[0]) > 100
    assert make_windows(frame, 8, 4).n_windows > 0


def test_a_time_stamp_that_is_no_date_is_quoted_with_its_row():
    """An audit (issue 17): one bad stamp gave pandas' own message, which quoted the first stamp (a good one) and
    advised format= and dayfirst=, arguments a CLI user cannot pass."""
    from vaelab.runs.series import time_values

    times = pd.Series([f"2000-01-{d:02d}" for d in range(1, 21)], dtype=object)
    times[12] = "garbage"
    times[15] = "31/01/2000"
    df = pd.DataFrame({"t": times, "x": np.arange(20.0)})
    with pytest.raises(DataError) as caught:
        prepare_series(df, time_column="t")
    text = str(caught.value)
    assert "row 12 holds 'garbage' (1 more row(s) do not parse)" in text and "ISO-8601" in text
    assert "dayfirst" not in text and "'2000-01-01'" not in text
    with pytest.raises(DataError, match="the time column 't' must hold numbers or ISO-8601 dates.*row 12 holds 'garbage'"):
        time_values(times, "t", "the past")
    good = prepare_series(df.iloc[:12], time_column="t")  # ISO text still parses
    assert len(good.series[0]) == 12 and str(good.times[0][11])[:10] == "2000-01-12"


def test_a_column_of_numbers_written_as_text_is_refused_clearly():
    """An audit (s11 b): a Parquet string column holding only numbers ('0.25', '1.50') failed with an IndexError
    traceback while features were chosen (the check for "numbers except a few text cells" indexed its first text
    cell, and there was none). Refused in one line, saying how to make it a feature or leave it out."""
    df = pd.DataFrame({"t": np.arange(30), "x": np.sin(np.arange(30.0)), "code": [f"{v:.2f}" for v in range(30)]})
    with pytest.raises(DataError, match=r"Column 'code' holds numbers written as text \(all its 30 filled cells\).*"
                                         r"pd\.to_numeric.*features=\[COL, \.\.\.\]"):
        prepare_series(df, time_column="t")
    assert prepare_series(df, time_column="t", features=["x"]).features == ("x",)


def test_a_boolean_feature_with_a_missing_cell_stays_a_feature(tmp_path):
    """An audit (s11 b): a CSV's boolean column is bool, a feature; with one empty cell pandas reads it as object
    True/False/NaN, and it was left out of the features in silence (and refused as "not numeric" when named), so one
    missing cell changed what the run modelled. It stays a feature, its gap refused or filled as any other."""
    df = pd.DataFrame({"t": np.arange(40), "x": np.sin(np.arange(40.0)), "on": np.arange(40) % 3 == 0})
    df.to_csv(tmp_path / "full.csv", index=False)
    df.astype({"on": object}).assign(on=lambda d: d["on"].where(d.index != 5)).to_csv(tmp_path / "gap.csv", index=False)
    full, gap = pd.read_csv(tmp_path / "full.csv"), pd.read_csv(tmp_path / "gap.csv")
    assert full["on"].dtype == bool and gap["on"].dtype == object
    assert prepare_series(full, time_column="t").features == ("x", "on")
    with pytest.raises(DataError, match=r"1 missing value\(s\) \{'on': 1\}.*fill='interpolate'"):
        prepare_series(gap, time_column="t")
    for features in (None, ["x", "on"]):
        filled = prepare_series(gap, time_column="t", features=features, fill="interpolate")
        assert filled.features == ("x", "on")
        np.testing.assert_array_equal(filled.series[0][[4, 5, 6], 1], [0.0, 0.5, 1.0])


def test_week_stamps_are_refused_saying_which_iso_forms_are_read():
    """An audit (s13): '2000-W01' was refused as not "ISO-8601 dates", yet ISO week dates are ISO-8601 too. The
    message says which forms are read and how to convert a week date."""
    col = pd.Series([f"2000-W{w:02d}" for w in range(1, 11)])
    with pytest.raises(DataError) as err:
        from vaelab.data.timeseries import iso_times

        iso_times(col, "the time column 't'")
    said = str(err.value)
    assert "row 0 holds '2000-W01'" in said and "calendar" in said
    assert "week dates" in said and "first day" in said and "2001-W13 -> 2001-03-26" in said
