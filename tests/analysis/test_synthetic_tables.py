"""Fidelity, utility and privacy metrics of synthetic tables, on cases with known answers."""
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from vaelab.analysis.synthetic_tables import (
    column_pair_trends,
    column_shapes,
    contingency_similarity,
    correlation_similarity,
    distance_to_closest_record,
    fidelity,
    infer_kinds,
    ks_complement,
    ml_efficacy,
    tv_complement,
)
from vaelab.errors import ConfigError, DataError


def mixed_table(seed: int, n: int = 400, missing: bool = True) -> pd.DataFrame:
    """Numeric, categorical, boolean and datetime columns, related to each other, some values missing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    df = pd.DataFrame({
        "x": x,
        "y": 2 * x + rng.normal(size=n),
        "c": np.where(x > 0, "hi", rng.choice(["lo", "mid"], n)),
        "b": rng.random(n) < 0.3,
        "d": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
    })  # fmt: skip
    if missing:
        df.loc[rng.random(n) < 0.1, "y"] = np.nan
        df.loc[rng.random(n) < 0.1, "c"] = None
        df.loc[rng.random(n) < 0.1, "d"] = pd.NaT
    return df


def classification_table(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    c = rng.choice(["a", "b", "c"], n)
    y = x1 + x2 + np.where(c == "a", 1.0, -0.5) + 0.5 * rng.normal(size=n) > 0
    df = pd.DataFrame({"x1": x1, "x2": x2, "c": c, "y": np.where(y, "yes", "no")})
    df.loc[rng.random(n) < 0.05, "x1"] = np.nan  # HistGradientBoosting takes missing features as they are
    return df


# ---------------------------------------------------------------- kinds
def test_kinds_are_inferred_from_dtypes():
    df = mixed_table(0, 20)
    df["cat"] = pd.Categorical(["u", "v"] * 10)
    df["n"] = pd.array([1, None] * 10, dtype="Int64")
    assert infer_kinds(df) == {"x": "numeric", "y": "numeric", "c": "categorical", "b": "boolean",
                               "d": "datetime", "cat": "categorical", "n": "numeric"}


# ---------------------------------------------------------------- identical tables
def test_identical_tables_score_one_everywhere():
    df = mixed_table(0)
    shapes = column_shapes(df, df.copy())
    assert list(shapes["column"]) == list(df.columns)
    assert list(shapes["metric"]) == ["KSComplement", "KSComplement", "TVComplement", "TVComplement", "KSComplement"]
    np.testing.assert_allclose(shapes["score"], 1.0, atol=1e-9)
    np.testing.assert_allclose(shapes["missing_similarity"], 1.0, atol=1e-9)
    pairs = column_pair_trends(df, df.copy())
    assert len(pairs) == 10  # 5 columns, 5*4/2 pairs
    np.testing.assert_allclose(pairs["score"], 1.0, atol=1e-9)
    result = fidelity(df, df.copy())
    for key in ("fidelity", "column_shapes", "column_pair_trends", "missing_similarity"):
        assert result[key] == pytest.approx(1.0, abs=1e-9)
    assert len(result["columns"]) == 5 and len(result["pairs"]) == 10
    json.dumps(result, allow_nan=False)  # plain Python values, nothing undefined here
    assert all(type(r["score"]) is float for r in result["columns"] + result["pairs"])


def test_row_order_does_not_matter():
    df = mixed_table(1)
    shuffled = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert fidelity(df, shuffled)["fidelity"] == pytest.approx(1.0, abs=1e-9)


def test_a_different_table_scores_lower():
    real, fake = mixed_table(0), mixed_table(1)
    fake["x"] = fake["x"] + 3.0
    fake["c"] = "hi"
    result = fidelity(real, fake)
    assert result["fidelity"] < 0.8
    by_column = {r["column"]: r["score"] for r in result["columns"]}
    assert by_column["x"] < 0.2 and by_column["c"] < 0.7 and by_column["b"] > 0.85


# ---------------------------------------------------------------- single-column metrics
def test_ks_complement_known_answers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    assert ks_complement(x, x + 100.0) == pytest.approx(0.0, abs=1e-12)
    assert ks_complement([1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0]) == pytest.approx(0.5)  # KS statistic 0.5
    assert ks_complement(x, rng.normal(size=500)) > 0.85


def test_ks_complement_on_datetimes():
    d = pd.Series(pd.date_range("2020-01-01", periods=50, freq="D"))
    assert ks_complement(d, d) == 1.0
    assert ks_complement(d, d + pd.Timedelta(days=365)) == 0.0
    aware = d.dt.tz_localize("UTC")
    assert ks_complement(aware, aware.dt.tz_convert("Asia/Tokyo")) == 1.0  # the same instants


def test_tv_complement_known_answers():
    assert tv_complement(["a", "b"] * 50, ["c", "d"] * 50) == 0.0  # disjoint categories
    assert tv_complement(["a", "b"] * 50, ["a"] * 100) == 0.5  # 50/50 against 100/0
    assert tv_complement(["a", "b", "c", "a"], ["c", "a", "a", "b"]) == 1.0
    assert tv_complement(pd.Categorical(["x", "y", "y", "y"]), ["y", "x", "x", "x"]) == 0.5


def test_missing_values_are_left_out_and_their_share_compared():
    real = pd.DataFrame({
        "n": [1.0, 2.0, 3.0, 4.0, np.nan] * 20,  # 20 % missing
        "c": ["a", "b", None, "a", "b"] * 20,  # 20 % missing
    })  # fmt: skip
    synth = pd.DataFrame({
        "n": [1.0, 2.0, 3.0, 4.0, np.nan, np.nan, np.nan, np.nan, 1.0, 2.0] * 10,  # 40 % missing
        "c": ["a", "b", None, None, None, None, None, "a", "b", "b"] * 10,  # 50 % missing
    })  # fmt: skip
    shapes = column_shapes(real, synth).set_index("column")
    assert shapes.loc["n", "missing_similarity"] == pytest.approx(0.8, abs=1e-12)
    assert shapes.loc["c", "missing_similarity"] == pytest.approx(0.7, abs=1e-12)
    assert shapes.loc["n", "missing_real"] == pytest.approx(0.2)
    assert shapes.loc["n", "missing_synthetic"] == pytest.approx(0.4)
    # Non-missing values: "n" holds 1,2,3,4 / 1,2,3,4,1,2 (CDFs differ most at 2: 4/6 - 2/4),
    # "c" a,b,a,b / a,b,a,b,b (shares 1/2, 1/2 against 2/5, 3/5).
    assert shapes.loc["n", "score"] == pytest.approx(1 - 1 / 6)
    assert shapes.loc["c", "score"] == pytest.approx(0.9)
    result = fidelity(real, synth)
    assert math.isfinite(result["fidelity"]) and math.isfinite(result["column_pair_trends"])


def test_an_all_missing_column_is_undefined_not_an_error():
    real = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [np.nan] * 3, "c": ["x", "y", "x"]})
    shapes = column_shapes(real, real.copy()).set_index("column")
    assert math.isnan(shapes.loc["b", "score"]) and shapes.loc["b", "missing_similarity"] == 1.0
    result = fidelity(real, real.copy())
    assert result["column_shapes"] == 1.0  # the undefined score is left out of the mean
    assert result["fidelity"] == 1.0


# ---------------------------------------------------------------- pair metrics
def test_correlation_similarity_known_answers():
    x = np.arange(20.0)
    assert correlation_similarity(x, x, x, -x) == pytest.approx(0.0, abs=1e-12)  # +1 against -1
    assert correlation_similarity(x, x, x, -x, method="spearman") == pytest.approx(0.0, abs=1e-12)
    assert correlation_similarity(x, 3 * x + 1, x, 2 * x) == pytest.approx(1.0, abs=1e-12)
    u, v = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, -1.0, -1.0, 1.0])  # exactly uncorrelated
    assert correlation_similarity(u, u, u, v) == pytest.approx(0.5, abs=1e-12)
    # Rows with a missing value in either column are dropped, not counted.
    with_nan = np.r_[x, np.nan]
    assert correlation_similarity(with_nan, np.r_[x, 5.0], x, -x) == pytest.approx(0.0, abs=1e-12)


def test_contingency_similarity_known_answers():
    a, b = ["x", "x", "y", "y"], ["u", "v", "u", "v"]
    assert contingency_similarity(a, b, a, b) == 1.0
    assert contingency_similarity(a, b, a, ["u", "u", "v", "v"]) == pytest.approx(0.5)  # 4 cells of 1/4 vs 2 of 1/2


def test_contingency_bins_are_fitted_on_the_real_column():
    real_n = np.arange(100.0)  # 10 quantile bins of 10 values each
    synth_n = real_n + 1000.0  # all above the real range: all in the top bin
    const = ["k"] * 100
    assert contingency_similarity(real_n, const, real_n, const) == 1.0
    assert contingency_similarity(real_n, const, synth_n, const) == pytest.approx(0.1)  # 1 - (0.9 + 0.9) / 2


def test_pair_trends_pick_the_metric_by_kind():
    df = mixed_table(2)
    pairs = column_pair_trends(df, df).set_index(["column_a", "column_b"])
    assert pairs.loc[("x", "y"), "metric"] == "CorrelationSimilarity"
    assert pairs.loc[("x", "d"), "metric"] == "CorrelationSimilarity"  # datetime counts as continuous
    assert pairs.loc[("x", "c"), "metric"] == "ContingencySimilarity"
    assert pairs.loc[("c", "b"), "metric"] == "ContingencySimilarity"
    ok = df[["x", "y"]].dropna()
    assert pairs.loc[("x", "y"), "real_value"] == pytest.approx(np.corrcoef(ok["x"], ok["y"])[0, 1])
    assert math.isnan(pairs.loc[("x", "c"), "real_value"])
    row = next(r for r in fidelity(df, df)["pairs"] if r["metric"] == "ContingencySimilarity")
    assert row["real_value"] is None and row["synthetic_value"] is None


def test_pair_trends_see_a_flipped_correlation():
    real = mixed_table(3, missing=False)
    fake = real.copy()
    fake["y"] = -fake["y"]
    pairs = column_pair_trends(real, fake).set_index(["column_a", "column_b"])
    rho = pairs.loc[("x", "y"), "real_value"]
    assert rho > 0.85 and pairs.loc[("x", "y"), "synthetic_value"] == pytest.approx(-rho)
    assert pairs.loc[("x", "y"), "score"] == pytest.approx(1 - rho)


def test_max_pairs_keeps_a_seeded_subset():
    df = mixed_table(4)
    some = column_pair_trends(df, df, max_pairs=4, seed=1)
    assert len(some) == 4
    pd.testing.assert_frame_equal(some, column_pair_trends(df, df, max_pairs=4, seed=1))
    assert fidelity(df, df, max_pairs=3)["n_pairs"] == 3


# ---------------------------------------------------------------- fidelity's standard errors
SE_KEYS = ("fidelity", "column_shapes", "column_pair_trends")


def test_fidelity_standard_errors_match_the_spread_over_independent_samples():
    """The SEs cover the sampling of both tables: over 20 independent pairs of real and synthetic samples of one
    distribution, each score's SD is what its mean SE says (within a factor 2; the bootstrap of these |gap| scores
    runs some 20% high here). Fidelity had no SE at all (a gap found in review, s11)."""
    draws = [fidelity(mixed_table(100 + 2 * k), mixed_table(101 + 2 * k, n=300), seed=k) for k in range(20)]
    for key in SE_KEYS:
        se = np.array([d[f"{key}_stderr"] for d in draws])
        spread = np.std([d[key] for d in draws], ddof=1)
        assert (se > 0).all(), key
        assert 0.5 < spread / se.mean() < 2.0, (key, spread, se.mean())
    assert draws[0]["fidelity_stderr_over"] == ("the 400 real and 300 synthetic rows, each table resampled on its own "
                                                  "(100 bootstrap resamples)")


def test_fidelity_standard_errors_are_seeded():
    real, synth = mixed_table(0), mixed_table(1, n=300)
    a, b, c = fidelity(real, synth, seed=3), fidelity(real, synth, seed=3), fidelity(real, synth, seed=4)
    assert [a[f"{k}_stderr"] for k in SE_KEYS] == [b[f"{k}_stderr"] for k in SE_KEYS]
    assert a["fidelity_stderr"] != c["fidelity_stderr"]
    assert c["fidelity_stderr"] == pytest.approx(a["fidelity_stderr"], rel=0.4)  # another seed, the same SE roughly
    none = fidelity(real, synth, resamples=0)
    assert none["fidelity"] == a["fidelity"] and not any(k.endswith("_stderr") for k in none)
    json.dumps(a, allow_nan=False)
    # one synthetic row: every resample is that row, and a bootstrap SE would hide how much another row would move it
    one = fidelity(real, synth.iloc[:1])
    assert all(math.isnan(one[f"{k}_stderr"]) for k in SE_KEYS) and one["fidelity_stderr_over"].startswith("none")
    for bad in (1, -1, 2.5, True):
        with pytest.raises(ConfigError, match="resamples"):
            fidelity(real, synth, resamples=bad)


def odd_table(seed: int, n: int) -> pd.DataFrame:
    """Tied whole numbers, two id-like columns of many labels (more label pairs than PAIR_CELLS: coded apart), a
    column all missing, infinities, dates with gaps."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"age": rng.integers(18, 30, n), "id": [f"u{i}" for i in rng.integers(0, 300, n)],
                       "id2": [f"v{i}" for i in rng.integers(0, 1000, n)],
                       "empty": np.nan, "x": rng.normal(size=n), "flag": rng.random(n) < 0.2,
                       "d": pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.integers(0, 9, n), unit="h")})  # fmt: skip
    df.loc[rng.random(n) < 0.05, "x"] = np.inf
    df.loc[rng.random(n) < 0.1, "d"] = pd.NaT
    return df


def _resamples_score_as_fidelity(real, synth, i_real, i_synth, max_pairs=None):
    """The bootstrap's scores of the resamples (rows ``i_real``/``i_synth``, one resample per row) equal fidelity's
    own on the same rows; returns the resampler."""
    from vaelab.analysis.synthetic_tables import _FidelityResampler, _pairs, _prepared_tables

    cols, kinds, r, s = _prepared_tables(real, synth, None)
    resampler = _FidelityResampler(cols, kinds, r, s, _pairs(len(cols), max_pairs, 0), 10, len(real), len(synth))
    got = resampler.scores(i_real, i_synth)
    for row, (ir, js) in enumerate(zip(i_real, i_synth)):
        want = fidelity(real.iloc[ir].reset_index(drop=True), synth.iloc[js].reset_index(drop=True),
                        max_pairs=max_pairs, resamples=0)  # fmt: skip
        np.testing.assert_allclose(got[row], [want[k] for k in SE_KEYS], rtol=0, atol=1e-12)
    return resampler


@pytest.mark.parametrize("make", [mixed_table, odd_table])
def test_the_bootstrap_recomputes_fidelity_itself_on_each_resample(make):
    """The resamples are scored by integer codes, not by fidelity's own functions (to be fast): on the same rows they
    give the same three scores, bins fitted again on the resampled real values included."""
    real, synth = make(0, 400), make(1, 300)
    for max_pairs in (None, 4):
        rng = np.random.default_rng(1)
        i_real = np.vstack([np.arange(len(real)), rng.integers(0, len(real), (3, len(real)))])
        i_synth = np.vstack([np.arange(len(synth)), rng.integers(0, len(synth), (3, len(synth)))])
        resampler = _resamples_score_as_fidelity(real, synth, i_real, i_synth, max_pairs)
        assert bool(resampler.cells) == (make is odd_table and max_pairs is None)  # both ways of counting label pairs


def test_a_resample_without_a_finite_real_value_leaves_the_others_bins_alone():
    """A numeric column with one finite real value: a resample that misses it has no bins (its pairs NaN, as in
    fidelity), and the resamples scored beside it in one batch keep theirs: every pair of that column was NaN in the
    whole batch, so a resample's score hung on which others shared its batch (found in review, s11 e)."""
    rng, n = np.random.default_rng(0), 50
    real = pd.DataFrame({"x": np.where(np.arange(n) == 0, 1.0, np.nan), "c": rng.choice(list("ab"), n),
                         "y": rng.normal(size=n)})  # fmt: skip
    synth = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(list("ab"), n), "y": rng.normal(size=n)})
    _resamples_score_as_fidelity(real, synth, np.vstack([np.arange(n), np.full(n, 5)]),
                                 np.vstack([np.arange(n), np.arange(n)]))  # fmt: skip


def test_pairs_with_a_column_of_one_real_value_are_left_out_of_pair_trends():
    """A constant column's contingency score with another column is that column's shape score again: it was counted
    in the pair mean once per other column (an audit). Such pairs are left out, as SDMetrics' QualityReport leaves out
    pairs whose real association is undefined, and named; the bootstrap leaves them out the same way."""
    from vaelab.analysis.synthetic_tables import constant_columns

    rng, n = np.random.default_rng(0), 400
    real = pd.DataFrame({"a": rng.choice(list("xyz"), n), "b": rng.choice(list("uv"), n), "k": ["same"] * n,
                         "z": np.where(np.arange(n) == 0, np.nan, 0.0)})  # one value, one missing cell
    synth = pd.DataFrame({"a": rng.choice(list("xyz"), n, p=[0.5, 0.3, 0.2]), "b": rng.choice(list("uv"), n),
                          "k": ["same"] * n, "z": np.zeros(n)})  # fmt: skip
    result = fidelity(real, synth, resamples=20)
    scores = {(p["column_a"], p["column_b"]): p["score"] for p in result["pairs"]}
    assert [k for k, v in scores.items() if not math.isnan(v)] == [("a", "b")]
    assert result["column_pair_trends"] == scores[("a", "b")]
    assert result["constant_columns"] == ["k", "z"] == constant_columns(real)
    assert math.isfinite(result["column_pair_trends_stderr"])
    _resamples_score_as_fidelity(real, synth, np.vstack([np.arange(n), rng.integers(0, n, (3, n))]),
                                 np.vstack([np.arange(n), rng.integers(0, n, (3, n))]))  # fmt: skip


def test_a_numeric_column_of_few_values_gets_a_bin_per_value_not_one_constant_bin():
    """An audit (s13): quantile bins of a column of two values are one bin (its tied quantiles merge the lower value
    with the one above), so a 0/1 flag, or a column of -0.0 and 1.5 half each, was named a constant column ("its real
    values fall in one category or bin") and its pairs left out of the pair trends. A column of at most ``bins``
    values gets a bin per value (cut halfway between them); the bootstrap bins its resamples alike."""
    from vaelab.analysis.synthetic_tables import constant_columns

    rng, n = np.random.default_rng(0), 400
    flag = (rng.random(n) < 0.08).astype(int)
    real = pd.DataFrame({"flag": flag, "nz": np.where(rng.random(n) < 0.5, -0.0, 1.5), "k": rng.integers(0, 3, n),
                         "c": np.where(flag == 1, "yes", rng.choice(["no", "yes"], n, p=[0.9, 0.1]))})  # fmt: skip
    synth = pd.DataFrame({c: rng.permutation(real[c].to_numpy()) for c in real})  # the marginals kept, links broken
    assert constant_columns(real) == []
    result = fidelity(real, synth, resamples=0)
    scores = {(p["column_a"], p["column_b"]): p["score"] for p in result["pairs"]}
    assert result["constant_columns"] == [] and math.isfinite(scores[("flag", "c")])
    # the broken link is seen: flag and c agree in the real rows, not in the shuffled ones
    assert scores[("flag", "c")] < 0.95
    i_real = np.vstack([np.arange(n), rng.integers(0, n, (3, n)), np.zeros(n, dtype=int)])
    _resamples_score_as_fidelity(real, synth, i_real, np.vstack([np.arange(n), rng.integers(0, n, (4, n))]))


def test_given_columns_are_listed_but_left_out_of_the_column_shapes_mean():
    """A conditional model's condition columns are drawn at the real rows' frequencies, not generated: their TV
    complement near 1 raised column shapes (an audit). Left out of the mean (the bootstrap too), listed, pairs kept."""
    from vaelab.analysis.synthetic_tables import _FidelityResampler, _pairs, _prepared_tables

    real, synth = mixed_table(0), mixed_table(1, n=300)
    synth["b"] = real["b"].iloc[:300].to_numpy()  # a column copied from the real rows
    both = fidelity(real, synth, resamples=0)
    apart = fidelity(real, synth, resamples=20, given_columns=("b",))
    shapes = {c["column"]: c["score"] for c in apart["columns"]}
    assert "b" in shapes and apart["shapes_left_out"] == ["b"] and both["shapes_left_out"] == []
    assert apart["column_shapes"] == pytest.approx(np.mean([v for c, v in shapes.items() if c != "b"]), abs=1e-12)
    assert apart["column_pair_trends"] == both["column_pair_trends"]  # b's pairs stay in
    # missing similarity too: a condition column cannot be missing, its 1.0 said nothing of the generator (s13)
    missing = {c["column"]: c["missing_similarity"] for c in apart["columns"]}
    assert apart["missing_similarity"] == pytest.approx(np.mean([v for c, v in missing.items() if c != "b"]), abs=1e-12)
    assert both["missing_similarity"] == pytest.approx(np.mean(list(missing.values())), abs=1e-12)
    cols, kinds, r, s = _prepared_tables(real, synth, None)
    resampler = _FidelityResampler(cols, kinds, r, s, _pairs(len(cols), None, 0), 10, len(real), len(synth), ("b",))
    got = resampler.scores(np.arange(len(real))[None], np.arange(len(synth))[None])
    np.testing.assert_allclose(got[0], [apart[k] for k in SE_KEYS], rtol=0, atol=1e-12)
    with pytest.raises(ConfigError, match="given_columns names columns the data lacks"):
        fidelity(real, synth, given_columns=("nope",))


# ---------------------------------------------------------------- ML efficacy
def test_ml_efficacy_fresh_sample_matches_real():
    real_train, synth, test = (classification_table(seed, n) for seed, n in ((0, 1500), (1, 1500), (2, 1000)))
    result = ml_efficacy(real_train, synth, test, "y")
    assert result["task"] == "classification" and result["metric"] == "f1_macro"
    assert result["real"] > 0.75
    assert result["ratio"] > 0.85
    assert 0 <= result["synthetic_accuracy"] <= 1 and result["note"] is None
    json.dumps(result, allow_nan=False)


def test_ml_efficacy_shuffled_labels_score_much_lower():
    real_train, synth, test = (classification_table(seed, n) for seed, n in ((0, 1500), (1, 1500), (2, 1000)))
    synth["y"] = np.random.default_rng(9).permutation(synth["y"].to_numpy())
    result = ml_efficacy(real_train, synth, test, "y")
    assert result["synthetic"] < result["real"] - 0.2
    assert result["ratio"] < 0.75


def test_ml_efficacy_single_synthetic_class_gives_a_note():
    real_train, synth, test = classification_table(0, 600), classification_table(1, 600), classification_table(2, 400)
    synth["y"] = "yes"
    result = ml_efficacy(real_train, synth, test, "y")
    share_yes = float((test["y"] == "yes").mean())
    assert result["synthetic_accuracy"] == pytest.approx(share_yes)  # the constant prediction's accuracy
    assert "single class" in result["note"]


def test_ml_efficacy_with_a_feature_missing_in_every_synthetic_row():
    """Found by fuzzing evaluate-synthetic --n 3 (issue 14): sklearn's binning failed on an all-missing
    feature. The feature tells the model nothing; it is left out and the result is computed."""
    real_train, synth, test = classification_table(0, 600), classification_table(1, 5), classification_table(2, 400)
    numeric = next(c for c in synth.columns if c != "y" and pd.api.types.is_float_dtype(synth[c]))
    synth[numeric] = np.nan
    result = ml_efficacy(real_train, synth, test, "y")
    assert 0 <= result["synthetic_accuracy"] <= 1


def test_ml_efficacy_carries_standard_errors_that_cover_the_test_rows_sampling():
    """An audit (issue 17): ML efficacy came without uncertainty (F1 0.507 against 0.460 on 150 test rows read as a
    difference). Its SEs are a paired bootstrap over the real test rows: against a known case, they match the spread
    of the score over independent test sets; identical training rows give a difference of exactly 0."""
    from sklearn.metrics import f1_score

    from vaelab.analysis.synthetic_tables import _test_rows_bootstrap

    rng = np.random.default_rng(0)

    def one_test_set(n=400):
        truth = (rng.random(n) < 0.3).astype(int)
        return truth, np.where(rng.random(n) < 0.2, 1 - truth, truth)  # a model wrong on 20% of the rows

    spread = np.std([f1_score(*one_test_set(), average="macro") for _ in range(400)], ddof=1)
    truth, pred = one_test_set()
    f1 = f1_score(truth, pred, average="macro")
    boot = _test_rows_bootstrap("classification", truth, {"real": pred, "synthetic": pred},
                                {"real": f1, "synthetic": f1}, seed=1)  # fmt: skip
    assert 0.75 < boot["real_se"] / spread < 1.33, (boot["real_se"], spread)
    assert boot["difference_se"] == 0 and boot["outcome"] == "no clear difference"
    real_train, test = classification_table(0, 1500), classification_table(2, 1000)
    same = ml_efficacy(real_train, real_train.copy(), test, "y")
    assert same["difference"] == 0 and same["outcome"] == "no clear difference" and same["real_se"] > 0
    assert same["se_over"].startswith("the 1000 real test rows")
    shuffled = real_train.copy()
    shuffled["y"] = np.random.default_rng(9).permutation(shuffled["y"].to_numpy())
    worse = ml_efficacy(real_train, shuffled, test, "y")
    assert worse["outcome"] == "lower" and worse["difference"] < -2 * worse["difference_se"]
    json.dumps(worse, allow_nan=False)
    # The predictions behind it, for paired comparisons of generators on the same rows (bench/tabular.py).
    kept = ml_efficacy(real_train, shuffled, test, "y", predictions=True)
    for side in ("real", "synthetic"):
        assert f1_score(kept["test_truth"], kept["test_predictions"][side], average="macro") == pytest.approx(kept[side])


def test_ml_efficacy_says_when_both_models_predict_alike():
    """An audit (s14): on an all-categorical table both models gave identical predictions, and the text read
    "synthetic - real +0.000 ± 0.000 (…): no clear difference", as if a difference had been looked for and not found."""
    from vaelab.metrics_schema import ml_difference

    rng = np.random.default_rng(0)

    def table(n):
        a = rng.choice(["p", "q", "r"], n)
        return pd.DataFrame({"a": a, "b": rng.choice(["u", "v"], n), "y": np.where(a == "p", "yes", "no")})

    real_train, synth, test = table(300), table(300), table(200)
    same = ml_efficacy(real_train, synth, test, "y")
    assert same["identical_predictions"] is True and same["difference"] == 0
    text = ml_difference(same)
    assert "identical predictions of the 200 real test rows" in text and "no clear difference" not in text, text
    assert "±" not in text
    synth["y"] = rng.permutation(synth["y"].to_numpy())
    other = ml_efficacy(real_train, synth, test, "y")
    assert other["identical_predictions"] is False and "identical" not in ml_difference(other)
    json.dumps(same, allow_nan=False)


def test_ml_efficacy_regression():
    def table(seed):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(800, 2))
        return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "t": 2 * x[:, 0] - x[:, 1] + 0.1 * rng.normal(size=800)})

    result = ml_efficacy(table(0), table(1), table(2), "t", task="auto")
    assert result["task"] == "regression" and result["metric"] == "r2"
    assert result["real"] > 0.9 and result["ratio"] > 0.9
    assert result["real_mae"] > 0 and result["synthetic_mae"] > 0


def test_a_date_targets_mae_is_said_to_be_in_seconds():
    """An audit (issue 17): evaluate-synthetic --target date printed "MAE 16906831.304" with no unit."""
    from vaelab.metrics_schema import ml_secondary

    def table(seed):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=300)
        return pd.DataFrame({"x": x, "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(10 * x + rng.normal(size=300), unit="D")})

    result = ml_efficacy(table(0), table(1), table(2), "when")
    assert result["task"] == "regression" and result["target_unit"] == "seconds"
    assert ml_secondary(result)[0] == "MAE in seconds" and 86_400 * 0.3 < result["real_mae"] < 86_400 * 3
    assert ml_secondary({"real_mae": 1.0, "synthetic_mae": 2.0})[0] == "MAE"


# ---------------------------------------------------------------- distance to closest record
def test_dcr_copies_of_training_rows_are_flagged():
    train, holdout = mixed_table(0, 600), mixed_table(1, 600)
    copies = train.sample(400, random_state=0)
    result = distance_to_closest_record(train, copies, holdout)
    assert result["exact_copies"] == 1.0
    assert result["share_closer_than_holdout"] > 0.95
    assert result["holdout_exact_copies"] < 0.05


def test_dcr_fresh_rows_are_as_far_as_holdout():
    train, synth, holdout = mixed_table(0, 600), mixed_table(1, 600), mixed_table(2, 600)
    result = distance_to_closest_record(train, synth, holdout)
    assert result["share_closer_than_holdout"] < 0.2
    assert result["exact_copies"] < 0.05
    assert 0.7 < result["median_ratio"] < 1.4
    json.dumps(result, allow_nan=False)


def test_the_share_closer_than_the_holdout_expects_its_reference_exactly_for_a_small_holdout():
    """With 40 holdout rows, the interpolated 5th percentile of their distances let about 7% of rows as new as fresh
    real ones below it, against the "≈ 0.05" said (an audit, s12). The cut is now the k-th smallest holdout distance,
    whose expected share for exchangeable rows is k / (m + 1) exactly, stored as share_closer_expected."""
    from vaelab.analysis.synthetic_tables import cut_rank

    rng = np.random.default_rng(0)

    def rows(n):
        return pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n)})

    train = rows(300)
    runs = [distance_to_closest_record(train, rows(200), rows(40), seed=k) for k in range(300)]
    shares = np.array([r["share_closer_than_holdout"] for r in runs])
    expected = runs[0]["share_closer_expected"]
    assert runs[0]["holdout_cut_rank"] == 2 and expected == pytest.approx(2 / 41)
    assert abs(shares.mean() - expected) < 3 * shares.std(ddof=1) / np.sqrt(shares.size) + 1e-3
    assert [cut_rank(m) for m in (1, 10, 19, 40, 100, 2000)] == [1, 1, 1, 2, 5, 100]
    assert not any(r["holdout_cut_tied"] for r in runs)
    # ties at the cut (categories): the share new rows reach is then at most k / (m + 1), and the text says so
    from vaelab.metrics_schema import closer_than

    cats = pd.DataFrame({"c": rng.choice(list("ab"), 100)})
    tied = distance_to_closest_record(cats, cats.iloc[:30], cats.iloc[30:70])
    assert tied["holdout_cut_tied"] and "(at most 4.9% of new rows are" in closer_than(tied)
    assert closer_than(runs[0]) == "closer than the 2nd smallest of the 40 holdout rows' distances (4.9% of new rows are)"


def test_a_tie_below_the_holdout_cut_makes_the_expected_share_an_upper_bound():
    """k / (m + 1) of new rows below the k-th smallest holdout distance is exact only for untied distances; the text
    said "at most" only where the cut itself tied, and stated the share as exact where held-out rows tied below it (two
    copies of training rows at distance 0) or a synthetic row sat at the cut (an audit, s13)."""
    from vaelab.metrics_schema import closer_than

    train = pd.DataFrame({"x": np.arange(200.0)})
    gaps = 0.001 * np.arange(1, 59)  # 58 untied distances, all above 0
    # one held-out row twice, a distance above 0 below the 3rd smallest: distances that repeat a value, so the cut's
    # may be taken again too
    holdout = pd.DataFrame({"x": np.r_[[3.0005, 3.0005], 20.0 + gaps]})
    synth = pd.DataFrame({"x": 50.0 + np.linspace(0.1, 0.4, 30)})
    result = distance_to_closest_record(train, synth, holdout)
    assert result["holdout_cut_rank"] == 3 and result["dcr_holdout_cut"] > 0
    assert not result["holdout_cut_tied"] and result["ties_at_or_below_cut"]
    assert "(at most 4.9% of new rows are: distances tie at or below it)" in closer_than(result)
    # two copies, a tie at 0 only (an audit, s14): a new row at 0 is closer than a cut above 0 all the same, so the
    # share new rows reach is k / (m + 1) exactly, not "at most" it
    copies = distance_to_closest_record(train, synth, pd.DataFrame({"x": np.r_[[3.0, 7.0], 20.0 + gaps]}))
    assert copies["dcr_holdout_cut"] > 0 and not copies["ties_at_or_below_cut"]
    assert "(at most" not in closer_than(copies) and "(4.9% of new rows are)" in closer_than(copies)
    # a synthetic distance equal to the cut: not "closer", though it ties
    at_cut = distance_to_closest_record(train, pd.DataFrame({"x": [20.0 + gaps[2], 60.3]}),
                                        pd.DataFrame({"x": 20.0 + gaps}))  # fmt: skip
    assert at_cut["share_closer_than_holdout"] == 0 and at_cut["ties_at_or_below_cut"]
    # untied: exact, as before
    untied = distance_to_closest_record(train, synth, pd.DataFrame({"x": 20.0 + gaps}))
    assert not untied["ties_at_or_below_cut"] and "(at most" not in closer_than(untied)


def test_exact_copy_shares_carry_wilson_intervals():
    """0 of 40 holdout rows repeating a training row is not a share of 0: both shares carry 95% Wilson intervals."""
    from vaelab.analysis.comparison import wilson_interval
    from vaelab.metrics_schema import exact_copies
    from vaelab.runtime import Z95

    train, holdout = mixed_table(0, 600), mixed_table(1, 40)
    result = distance_to_closest_record(train, train.sample(100, random_state=0), holdout)
    assert result["exact_copies"] == 1.0 and result["holdout_exact_copies"] == 0.0
    assert result["holdout_exact_copies_interval"] == list(wilson_interval(0.0, 40, Z95))
    assert result["holdout_exact_copies_interval"][1] > 0.08 and result["exact_copies_interval"][0] > 0.95
    assert exact_copies(result).startswith("exact copies 100.0% [96.3%, 100.0%] (real holdout 0.0% [0.0%, 8.8%]")
    assert exact_copies({"exact_copies": 0.5, "holdout_exact_copies": 0.25}) == "exact copies 50.0% (real holdout 25.0%)"


def test_dcr_scales_one_category_mismatch_like_one_sd():
    train = pd.DataFrame({"n": [0.0, 2.0], "c": ["a", "a"]})  # mean 1, SD 1
    synth = pd.DataFrame({"n": [1.0, 0.0], "c": ["a", "b"]})
    result = distance_to_closest_record(train, synth, train)
    # Row 1: 1 SD from either training row. Row 2: same n as a training row, other category.
    assert result["dcr_synthetic_median"] == pytest.approx(1.0)
    assert result["dcr_synthetic_p5"] == pytest.approx(1.0)



@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_pair_trends_and_distances_of_columns_near_1e300_or_1e_300_are_those_of_the_same_columns_in_units(scale):
    """An audit (s15 f): a table run models columns of any size in float64 (README), but evaluate-synthetic squared
    their values: near 1e300 the correlations overflowed (the pair scored None, a RuntimeWarning printed) and every
    distance to the closest record was inf; near 1e-300 the squares underflowed to 0, the pair was left out as if a
    column were constant, and every distance was 0. Correlations and standardized distances are scale-free."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    real = pd.DataFrame({"a": a, "b": a + 0.5 * rng.normal(size=200)})
    synth = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    holdout = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way
        big = fidelity(real * scale, synth * scale)
        dcr = distance_to_closest_record(real * scale, synth * scale, holdout * scale)
    unit, dcr_unit = fidelity(real, synth), distance_to_closest_record(real, synth, holdout)
    assert big["column_pair_trends"] == pytest.approx(unit["column_pair_trends"], rel=1e-12)
    assert big["column_pair_trends_stderr"] == pytest.approx(unit["column_pair_trends_stderr"], rel=1e-9)
    assert dcr["dcr_synthetic_median"] == pytest.approx(dcr_unit["dcr_synthetic_median"], rel=1e-12)
    assert dcr["dcr_holdout_median"] == pytest.approx(dcr_unit["dcr_holdout_median"], rel=1e-12)
    assert dcr["share_closer_than_holdout"] == dcr_unit["share_closer_than_holdout"]



@pytest.mark.parametrize("scale", [1e300, 1e40, 1e-300])
def test_ml_efficacy_of_a_target_of_any_size_is_that_of_the_same_target_in_units(scale):
    """An audit (s15 f): a regression target near 1e300 gave R² NaN (its squares overflowed), one near 1e40 an R² of
    about 0 (boosting fits float32 gradients: inf beyond 3.4e38), one near 1e-300 an R² of exactly 1 for both models
    (the squares underflowed to 0). R² is scale-free; the MAE is in the target's units."""
    rng = np.random.default_rng(0)

    def rows(n):
        x = rng.normal(size=n)
        return pd.DataFrame({"x": x, "c": rng.choice(["a", "b"], n), "y": 2 * x + 0.3 * rng.normal(size=n)})

    train, synth, test = rows(300), rows(300), rows(60)
    unit = ml_efficacy(train, synth, test, "y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = ml_efficacy(*(d.assign(y=d.y * scale) for d in (train, synth, test)), "y")
    for key in ("real", "synthetic", "difference", "difference_se"):
        assert big[key] == pytest.approx(unit[key], rel=1e-6), key
    assert big["real_mae"] == pytest.approx(unit["real_mae"] * scale, rel=1e-6)


# ---------------------------------------------------------------- bad input
def test_bad_tables_say_what_is_wrong():
    df = mixed_table(0, 50)
    with pytest.raises(DataError, match="lacks"):
        column_shapes(df, df.drop(columns="c"))
    with pytest.raises(DataError, match="DataFrame"):
        fidelity(df.to_numpy(), df)
    with pytest.raises(DataError, match="no rows"):
        fidelity(df, df.iloc[:0])
    with pytest.raises(ConfigError, match="unknown kinds"):
        column_shapes(df, df, kinds={"x": "float"})
    with pytest.raises(ConfigError, match="lacks"):
        column_shapes(df, df, kinds={"nope": "numeric"})
    with pytest.raises(DataError, match="not a number"):
        column_shapes(df, df, kinds={"c": "numeric"})
    with pytest.raises(ConfigError, match="method"):
        correlation_similarity([1, 2], [1, 2], [1, 2], [1, 2], method="kendall")
    with pytest.raises(DataError, match="same length"):
        correlation_similarity([1, 2, 3], [1, 2], [1, 2], [1, 2])
    with pytest.raises(ConfigError, match="bins"):
        contingency_similarity(["a"], ["b"], ["a"], ["b"], bins=0)


def test_bad_ml_and_dcr_options_say_what_is_wrong():
    df = classification_table(0, 50)
    with pytest.raises(DataError, match="target column 'nope'"):
        ml_efficacy(df, df, df, "nope")
    with pytest.raises(ConfigError, match="task"):
        ml_efficacy(df, df, df, "y", task="ranking")
    with pytest.raises(DataError, match="regression"):
        ml_efficacy(df, df, df, "y", task="regression")
    with pytest.raises(ConfigError, match="sample"):
        distance_to_closest_record(df, df, df, sample=0)


def test_the_privacy_share_and_ratio_carry_standard_errors_over_the_synthetic_and_holdout_rows():
    """An audit (s11 a): "9.7% of synthetic rows closer than the holdout's 5th percentile" came with no SE, to be read
    against the 5% of new rows, though 40 holdout rows set that percentile. Synthetic rows as new as fresh real ones,
    the training rows fixed: over 20 draws of both, the share's and the median ratio's SDs are what their mean SEs say
    (within a factor 2), and the share averages about 5%."""
    from vaelab.metrics_schema import closer_share

    train = mixed_table(0, n=1000)
    runs = [distance_to_closest_record(train, mixed_table(10 + 2 * k, n=400), mixed_table(11 + 2 * k, n=100), seed=k)
            for k in range(20)]  # fmt: skip
    for key, se_key in (("share_closer_than_holdout", "share_closer_stderr"), ("median_ratio", "median_ratio_stderr")):
        se = np.array([r[se_key] for r in runs])
        assert (se > 0).all() and 0.5 < np.std([r[key] for r in runs], ddof=1) / se.mean() < 2.0, key
    assert 0.02 < np.mean([r["share_closer_than_holdout"] for r in runs]) < 0.1
    assert all(r["holdout_cut_rank"] == 5 and r["share_closer_expected"] == 5 / 101 for r in runs)
    one = runs[0]
    assert one["stderr_over"] == ("the 400 synthetic and 100 holdout rows, each resampled on its own, the training rows "
                                  "held fixed; 200 bootstrap resamples")  # fmt: skip
    again = distance_to_closest_record(train, mixed_table(10, n=400), mixed_table(11, n=100), seed=0)
    assert again["share_closer_stderr"] == one["share_closer_stderr"]  # seeded
    share = 100 * one["share_closer_than_holdout"]
    assert closer_share(one) == f"{share:.1f}% ± {100 * one['share_closer_stderr']:.1f}% (1 SE over the synthetic and holdout rows)"
    assert closer_share({"share_closer_than_holdout": one["share_closer_than_holdout"]}) == f"{share:.1f}%"  # an old block
