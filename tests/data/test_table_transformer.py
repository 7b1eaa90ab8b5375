"""Table transformer: exact round trips, mode-specific normalization, layout, state, sampling, errors."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save
from sklearn.datasets import load_breast_cancer, load_wine

from vaelab.data.table_schema import TableSchema, infer_schema
from vaelab.data.table_transformer import TableTransformer, given_label, value_labels
from vaelab.errors import ConfigError, DataError, NotFittedError

NORMS = ("mode", "standard")


@pytest.fixture(scope="module")
def fitted(table):
    return {norm: TableTransformer(norm).fit(table) for norm in NORMS}


def edge_table(n=200, seed=1):
    """One column per awkward dtype: nullable ints/booleans, both string dtypes, codes, tz, text dates."""
    rng = np.random.default_rng(seed)
    miss = rng.random(n) < 0.1
    seconds = pd.to_timedelta(rng.integers(0, 2 * 86400, n), unit="s")
    days = pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    return pd.DataFrame({
        "count": pd.array(np.where(miss, None, rng.integers(0, 20, n)).tolist(), dtype="Int64"),
        "flag": pd.array(np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.5).tolist(), dtype="boolean"),
        "s_str": pd.Series(rng.choice(["x", "y", "z"], n)).astype("str"),
        "s_string": pd.Series(np.where(miss, None, rng.choice(["a", "b"], n)).tolist(), dtype="string"),
        "region": rng.choice([3, 7, 11], n),
        "cat_int": pd.Categorical(rng.choice([10, 20], n), categories=[20, 10, 30]),  # unused 30, not sorted
        "stamp": pd.Series(pd.Timestamp("2024-03-01 08:00:00") + seconds).astype("datetime64[ns]"),
        "tz": pd.Series(pd.Timestamp("2024-03-01", tz="Europe/Paris") + seconds),
        "day_text": pd.Series((pd.Timestamp("2020-01-01") + days).strftime("%Y-%m-%d"), dtype=object),
        "floatint": np.where(miss, np.nan, rng.integers(0, 5, n).astype(float)),
        "small": rng.normal(0, 1e-3, n).astype(np.float32),
        "const": np.full(n, 5.0),
        "bool01": rng.integers(0, 2, n),
        "obj_none": pd.Series(np.where(miss, None, rng.choice(["p", "q"], n)), dtype=object),
    })


def assert_same_table(back: pd.DataFrame, df: pd.DataFrame) -> None:
    """Same columns, dtypes, categories (and their order) and missing places; exact values except floats.

    Floats go through float32, so they must agree to 1e-5 relative; values near zero
    are held to 1e-6 of the column's standard deviation instead.
    """
    df = df.reset_index(drop=True)
    assert list(back.columns) == list(df.columns)
    for c in df.columns:
        a, b = df[c], back[c]
        assert b.dtype == a.dtype, c
        if isinstance(a.dtype, pd.CategoricalDtype):
            assert list(b.cat.categories) == list(a.cat.categories) and b.cat.ordered == a.cat.ordered, c
        np.testing.assert_array_equal(b.isna().to_numpy(), a.isna().to_numpy(), err_msg=c)
        if pd.api.types.is_float_dtype(a.dtype):
            ok = a.notna().to_numpy()
            x, y = a.to_numpy(np.float64)[ok], b.to_numpy(np.float64)[ok]
            np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-6 * x.std(), err_msg=c)
        else:
            pd.testing.assert_series_equal(b, a, check_exact=True, check_names=False)


# ------------------------------------------------------- fitting with a schema


def test_overrides_turn_integer_codes_into_categories():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"region": rng.choice([11, 3, 7], 120), "x": rng.normal(size=120)})
    assert infer_schema(df).kinds["region"] == "numeric"
    by_name = infer_schema(df, categorical=("region",))
    by_count = infer_schema(df, max_integer_categories=3)
    assert by_name["region"] == by_count["region"]
    assert by_name["region"].categories == ("3", "7", "11")  # numeric order, not text order
    assert infer_schema(df, max_integer_categories=2).kinds["region"] == "numeric"
    assert infer_schema(df, categorical="region").kinds["region"] == "categorical"  # a bare name is fine

    # Overriding an inferred schema: the categories are read at fit time.
    schema = infer_schema(df).override(region="categorical")
    assert schema.kinds["region"] == "categorical" and not schema["region"].complete
    assert schema.with_kinds({"region": "categorical"}) == schema
    tt = TableTransformer("standard").fit(df, schema)
    assert tt.schema["region"].categories == ("3", "7", "11")
    assert [b.width for b in tt.blocks] == [3, 1]
    assert_same_table(tt.inverse_transform(tt.transform(df)), df)


def test_ignore_drops_columns_and_says_so(table):
    schema = infer_schema(table, ignore=("city", "joined"))
    assert schema.names == ("score", "income", "age", "segment", "member")
    assert schema.ignored == ("city", "joined") and "ignored: city, joined" in schema.describe()
    tt = TableTransformer("standard").fit(table, schema)
    assert list(tt.inverse_transform(tt.transform(table)).columns) == list(schema.names)


def test_text_dates_are_inferred_and_written_back_as_text():
    rng = np.random.default_rng(2)
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 400, 100), unit="D")
    text = pd.Series(days.strftime("%d/%m/%Y"), dtype=object)
    bad = text.copy()
    bad[[5, 17]] = "unknown"  # 2 % do not parse: still dates, those two become missing
    df = pd.DataFrame({
        "when": text, "bad": bad,
        "month": rng.choice(["May", "June", "July"], 100).astype(object),  # not a full date
        "year": rng.choice(["2021", "2022"], 100).astype(object),  # plain numbers are not dates
    })
    schema = infer_schema(df)
    assert schema.kinds == {"when": "datetime", "bad": "datetime", "month": "categorical", "year": "categorical"}
    assert schema["when"].datetime_format == "%d/%m/%Y" and schema["when"].datetime_unit == "D"
    assert schema["bad"].has_missing and any("'bad': 2 of 100" in n for n in schema.notes)
    tt = TableTransformer("mode").fit(df, schema)
    back = tt.inverse_transform(tt.transform(df))
    pd.testing.assert_series_equal(back["when"], df["when"])
    assert back["bad"].isna().tolist() == (df["bad"] == "unknown").tolist()
    assert (back["bad"] == df["bad"])[df["bad"] != "unknown"].all()


# ----------------------------------------------------------------- round trips


@pytest.mark.parametrize("norm", NORMS)
def test_demo_table_round_trips_exactly(table, fitted, norm):
    tt = fitted[norm]
    X = tt.transform(table)
    assert X.dtype == np.float32 and X.shape == (len(table), tt.n_features) and np.isfinite(X).all()
    assert_same_table(tt.inverse_transform(X), table)
    # The index is ignored, rows are taken in order.
    shuffled = table.sample(frac=1.0, random_state=0)
    assert_same_table(tt.inverse_transform(tt.transform(shuffled)), shuffled)


@pytest.mark.parametrize("norm", NORMS)
def test_awkward_dtypes_round_trip_exactly(norm):
    df = edge_table()
    schema = infer_schema(df, categorical=("region",), boolean=("bool01",))
    assert schema.kinds["tz"] == schema.kinds["stamp"] == schema.kinds["day_text"] == "datetime"
    assert schema["stamp"].datetime_unit == schema["tz"].datetime_unit == "s"  # to the second
    assert schema["obj_none"].object_missing == "None"
    tt = TableTransformer(norm).fit(df, schema)
    back = tt.inverse_transform(tt.transform(df))
    assert_same_table(back, df)
    assert back["count"].dtype == "Int64" and back["flag"].dtype == "boolean"
    assert back["obj_none"][df["obj_none"].isna()].map(lambda v: v is None).all()


def test_mode_normalization_finds_both_modes_and_keeps_alpha_in_range(table, fitted):
    tt = fitted["mode"]
    meta, arrays = tt.state()
    i = tt.schema.names.index("score")
    means = arrays[f"{i}.means"]
    assert len(means) >= 2
    assert np.abs(means + 3).min() < 0.5 and np.abs(means - 4).min() < 0.5
    X = tt.transform(table)
    blocks = tt.column_blocks("score")
    alpha = X[:, blocks["value"].start]
    onehot = X[:, blocks["mode"].slice]
    assert blocks["mode"].width == len(means) == meta["columns"][i]["n_modes"]
    assert alpha.min() >= -1 and alpha.max() <= 1
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)
    k = onehot.argmax(axis=1)
    low, high = table["score"].to_numpy() < 0, table["score"].to_numpy() > 1
    assert set(k[low]).isdisjoint(set(k[high]))  # the two clusters use different modes
    # Deterministic: transform is a function.
    np.testing.assert_array_equal(tt.transform(table), X)


def test_mode_normalization_keeps_far_tails():
    """TVAE clips alpha at 4 sigma; here a far value widens its mode instead of being clipped."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1, 500), [1000.0, -250.0]])
    df = pd.DataFrame({"x": x})
    tt = TableTransformer("mode").fit(df)
    X = tt.transform(df)
    assert np.abs(X[:, 0]).max() <= 1
    back = tt.inverse_transform(X)["x"].to_numpy()
    np.testing.assert_allclose(back[-2:], [1000.0, -250.0], rtol=1e-5)
    np.testing.assert_allclose(back, x, rtol=1e-5, atol=1e-6)


def test_real_datasets_round_trip():
    wine = load_wine(as_frame=True).frame  # 13 numeric measurements + integer class
    schema = infer_schema(wine, categorical=("target",))
    assert list(schema.kinds.values()) == ["numeric"] * 13 + ["categorical"]
    tt = TableTransformer("mode").fit(wine, schema)
    assert_same_table(tt.inverse_transform(tt.transform(wine)), wine)

    bunch = load_breast_cancer(as_frame=True)
    cancer = bunch.frame.copy()
    cancer["target"] = pd.Categorical.from_codes(bunch.target, categories=list(bunch.target_names))
    schema = infer_schema(cancer)
    assert schema.kinds["target"] == "categorical" and schema["target"].categories == ("malignant", "benign")
    assert sum(k == "numeric" for k in schema.kinds.values()) == 30
    tt = TableTransformer("standard").fit(cancer, schema)
    assert tt.n_features == 30 + 2
    assert_same_table(tt.inverse_transform(tt.transform(cancer)), cancer)


# ---------------------------------------------------------------------- layout


@pytest.mark.parametrize("norm", NORMS)
def test_blocks_tile_the_matrix(table, fitted, norm):
    tt = fitted[norm]
    blocks = tt.blocks
    assert blocks[0].start == 0 and blocks[-1].stop == tt.n_features
    for a, b in zip(blocks, blocks[1:]):
        assert b.start == a.stop
    assert len(tt.feature_names) == tt.n_features
    schema = tt.schema
    meta, _ = tt.state()
    for i, spec in enumerate(schema):
        got = {b.role: (b.kind, b.width) for b in blocks if b.column == spec.name}
        want = {"categorical": {"category": ("categorical", len(spec.categories or ()))},
                "boolean": {"boolean": ("bernoulli", 1)}}.get(spec.kind, {"value": ("gaussian", 1)})
        if spec.kind in ("numeric", "datetime") and norm == "mode":
            want["mode"] = ("categorical", meta["columns"][i]["n_modes"])
        if spec.has_missing:
            want["missing"] = ("bernoulli", 1)
        assert got == want, spec.name
    X = tt.transform(table)
    for b in blocks:
        part = X[:, b.slice]
        if b.kind == "bernoulli":
            assert set(np.unique(part)) <= {0.0, 1.0}
        elif b.kind == "categorical":
            missing = table[b.column].isna().to_numpy()
            sums = part.sum(axis=1)
            assert set(np.unique(part)) <= {0.0, 1.0}
            assert (sums[~missing] == 1).all()
            assert (sums[missing] == (0 if b.role == "category" else 1)).all()
    flags = X[:, tt.column_blocks("income")["missing"].start]
    np.testing.assert_array_equal(flags, table["income"].isna().to_numpy())


# ----------------------------------------------------------------------- state


@pytest.mark.parametrize("norm", NORMS)
def test_state_round_trip_gives_identical_transforms(table, fitted, norm):
    tt = fitted[norm]
    meta, arrays = tt.state()
    meta = json.loads(json.dumps(meta, allow_nan=False))  # JSON-safe
    arrays = st_load(st_save(arrays))  # safetensors-safe
    again = TableTransformer.from_state(meta, arrays)
    assert again.blocks == tt.blocks and again.schema == tt.schema
    X = tt.transform(table)
    np.testing.assert_array_equal(again.transform(table), X)
    pd.testing.assert_frame_equal(again.inverse_transform(X), tt.inverse_transform(X))


def _damage(meta, arrays, how):
    if how == "not a dict":
        return "junk", arrays
    if how == "format":
        meta["format"] = "something else"
    elif how == "normalization":
        meta["normalization"] = "minmax"
    elif how == "kind":
        meta["schema"]["columns"][0]["kind"] = "ordinal"
    elif how == "columns":
        meta["columns"].pop()
    elif how == "array missing":
        arrays.pop("0.means")
    elif how == "array shape":
        arrays["0.sds"] = arrays["0.sds"][:1]
    elif how == "negative sd":
        arrays["0.sds"] = -arrays["0.sds"]
    elif how == "extra array":
        arrays["junk"] = np.zeros(1)
    return meta, arrays


@pytest.mark.parametrize("how, message", [
    ("not a dict", "must be a dict"),
    ("format", "'format' must be 'vaelab.TableTransformer'"),
    ("normalization", "normalization must be one of"),
    ("kind", r"'kind' must be one of"),
    ("columns", "'columns' must be a list of 7 entries"),
    ("array missing", "the array '0.means' is missing"),
    ("array shape", "'0.sds' must hold 2 finite numbers"),
    ("negative sd", "'0.sds' must be positive"),
    ("extra array", r"unexpected array\(s\) \['junk'\]"),
])
def test_from_state_refuses_damaged_state(fitted, how, message):
    meta, arrays = fitted["mode"].state()
    assert meta["columns"][0]["n_modes"] == 2  # the damages below assume the bimodal score comes first
    meta, arrays = _damage(json.loads(json.dumps(meta)), dict(arrays), how)
    with pytest.raises(ConfigError, match=message):
        TableTransformer.from_state(meta, arrays)


# -------------------------------------------------------------------- sampling


def test_inverse_transform_samples_from_probabilities(table, fitted):
    tt = fitted["mode"]
    X = tt.transform(table)
    X[:, tt.column_blocks("income")["missing"].start] = 0.3
    X[:, tt.column_blocks("city")["category"].slice] = 0.25
    X[:, tt.column_blocks("member")["boolean"].start] = 0.9
    argmax = tt.inverse_transform(X)
    assert argmax["income"].notna().all() and (argmax["city"] == "Bergen").all() and argmax["member"].all()
    drawn = tt.inverse_transform(X, sample=True, seed=5)
    pd.testing.assert_frame_equal(drawn, tt.inverse_transform(X, sample=True, seed=5))
    assert 0.24 < drawn["income"].isna().mean() < 0.36
    assert drawn["city"].value_counts(normalize=True).between(0.18, 0.32).all()
    assert 0.85 < drawn["member"].mean() < 0.95
    assert drawn.dtypes.equals(table.dtypes)


# ---------------------------------------------------------------------- errors


def test_transform_errors_are_clear(table, fitted):
    tt = fitted["standard"]
    new = table.head(10).copy()
    new["city"] = new["city"].astype(object)
    new.loc[3, "city"] = "Madrid"
    with pytest.raises(DataError, match=r"'city' holds categories not seen at fit time: 'Madrid' \(1 rows\)"):
        tt.transform(new)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['age'\]"):
        tt.transform(table.drop(columns="age"))
    no_gaps = table.head(10).copy()
    no_gaps.loc[2, "age"] = np.nan  # age had no missing values at fit time
    with pytest.raises(DataError, match="'age' has 1 missing value"):
        tt.transform(no_gaps)
    with pytest.raises(NotFittedError):
        TableTransformer().transform(table)
    with pytest.raises(ConfigError, match="normalization must be one of"):
        TableTransformer("minmax")


def test_inverse_transform_errors_are_clear(table, fitted):
    tt = fitted["mode"]
    X = tt.transform(table.head(5))
    with pytest.raises(DataError, match=rf"shape \(N, {tt.n_features}\).*got shape \(5, {tt.n_features - 1}\)"):
        tt.inverse_transform(X[:, :-1])
    with pytest.raises(DataError, match="non-finite"):
        tt.inverse_transform(np.where(X == 1, np.nan, X))
    logits = X.copy()
    logits[:, tt.column_blocks("city")["category"].slice] *= 5.0
    with pytest.raises(DataError, match="'city', category.*not the logits"):
        tt.inverse_transform(logits)


@pytest.mark.parametrize("norm", NORMS)
def test_any_decoder_output_decodes_to_valid_rows(table, fitted, norm):
    """What a trained decoder gives (free Gaussian values, softmax/sigmoid probabilities) decodes cleanly."""
    tt = fitted[norm]
    rng = np.random.default_rng(0)
    X = np.empty((300, tt.n_features), dtype=np.float32)
    for b in tt.blocks:
        if b.kind == "gaussian":
            X[:, b.slice] = rng.normal(0, 2, (300, 1))
        elif b.kind == "categorical":
            e = np.exp(rng.normal(0, 2, (300, b.width)))
            X[:, b.slice] = e / e.sum(axis=1, keepdims=True)
        else:
            X[:, b.slice] = rng.random((300, 1))
    for sample in (False, True):
        out = tt.inverse_transform(X, sample=sample, seed=1)
        assert out.dtypes.equals(table.dtypes) and len(out) == 300
        assert out["age"].between(18, 90).all() and out["score"].between(-5.2, 7.0).all()
        assert out["city"].isin(["Bergen", "Lyon", "Oslo", "Paris"]).all()
        assert (out["joined"].dropna() == out["joined"].dropna().dt.floor("h")).all()
        assert out["income"].isna().any() and out["income"].notna().any()
    empty = tt.inverse_transform(X[:0])
    assert len(empty) == 0 and empty.dtypes.equals(table.dtypes)


def test_decoded_numbers_keep_the_decimals_of_the_data():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"age": rng.choice([17.5, 22.0, 27.0, 32.0], 300), "x": rng.normal(size=300)})
    schema = infer_schema(df)
    assert schema["age"].decimals == 1 and schema["x"].decimals is None
    tr = TableTransformer(normalization="standard").fit(df, schema)
    X = tr.transform(df) + rng.normal(0, 0.05, (300, tr.n_features)).astype(np.float32)  # a decoder's values
    out = tr.inverse_transform(X)
    np.testing.assert_allclose(out["age"] * 10, np.rint(out["age"] * 10), atol=1e-9)
    assert not np.allclose(out["x"] * 10, np.rint(out["x"] * 10))
    assert TableSchema.from_dict(schema.to_dict()) == schema


@pytest.mark.parametrize("norm", NORMS)
def test_a_value_too_far_for_the_float32_likelihood_is_flagged_and_left_out_not_fatal(table, fitted, norm):
    """An audit (s15 f): a scored table row holding 1e25 (or 1e300) in a numeric column ended vaelab score for the whole
    file ("The model gives NaN or infinite log p(x)", after an overflow warning), where the README flags a value out of
    range in its row; and its distance was written in fixed point, 300 digits. Such a cell is now left out of the
    likelihood with its reason, beside the distance in SDs; a value merely far out (100 SD) is still scored as it is."""
    tt = fitted[norm]
    new = table.head(3).copy()
    new.loc[0, "score"] = 1e25
    new.loc[1, "score"] = -1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way
        rows = tt.check_rows(new)
    assert np.isfinite(rows.X).all()
    value = tt.column_blocks("score")["value"].start
    for i, side in ((0, "above"), (1, "below")):
        assert rows.reasons[i].startswith("score: out of range:") and f"e+" in rows.reasons[i].split(" SD ")[0]
        assert f"SD {side} the range seen in training; score: too far out for the model's float32" in rows.reasons[i]
        assert not rows.observed[i, value] and rows.X[i, value] == 0.0
    assert rows.reasons[2] == "" and rows.observed[2].all()


@pytest.mark.parametrize("norm", NORMS)
def test_check_rows_flags_what_training_never_had(table, fitted, norm):
    """New rows are encoded for scoring, not refused: each kind of novelty is named per row, cells that
    cannot be encoded are left out of the likelihood, and clean rows encode exactly as transform does."""
    tt = fitted[norm]
    new = table.head(8).copy()
    for col in ("city", "age", "member"):
        new[col] = new[col].astype(object)
    new.loc[1, "city"] = "Madrid"  # unseen category
    new.loc[2, "age"] = np.nan  # age had no missing values
    new.loc[3, "age"] = "old"  # not a number
    far = table["score"].max() + 100 * tt.column_sd("score")
    new.loc[4, "score"] = far  # 100 SD beyond the range
    new.loc[5, "member"] = "maybe"  # not a boolean
    rows = tt.check_rows(new)
    assert rows.reasons[0] == rows.reasons[6] == rows.reasons[7] == ""
    assert rows.reasons[1] == "city: category 'Madrid' not seen in training"
    assert rows.reasons[2] == "age: missing, and it had no missing values in training"
    assert rows.reasons[3] == "age: 'old' is not a numeric value"
    assert rows.reasons[4].startswith("score: out of range:") and "100.0 SD above the range seen in training" in rows.reasons[4]
    assert rows.reasons[5] == "member: 'maybe' is not a boolean value"
    clean = [0, 6, 7]
    np.testing.assert_array_equal(rows.X[clean], tt.transform(table.head(8)).take(clean, axis=0))
    left_out = {i: {tt.feature_names[j].split("=")[0].split(".")[0] for j in np.flatnonzero(~rows.observed[i])}
                for i in range(8)}  # fmt: skip
    assert left_out == {0: set(), 1: {"city"}, 2: {"age"}, 3: {"age"}, 4: set(), 5: {"member"}, 6: set(), 7: set()}
    # A row none of whose cells can be encoded says its log p(x) covers only its missing-value pattern (it scored
    # about 0 nats, at percentile 100, with nothing to say why).
    junk = table.head(2).astype(object)
    junk.loc[0, :] = "zzz"
    said = tt.check_rows(junk).reasons
    assert "no cell could be encoded" in said[0] and "no cell could be encoded" not in said[1]
    value = tt.column_blocks("score")["value"].start
    if norm == "standard":
        assert rows.X[4, value] == pytest.approx((far - table["score"].mean()) / table["score"].std(ddof=0), rel=1e-4)
    else:  # the offset is not clipped to [-1, 1]: the density is the model's own, far out
        assert rows.X[4, value] > 100 * tt.column_sd("score") / (4 * tt._codecs["score"]["sds"].max())


def test_log_jacobian_is_minus_the_log_scale_of_each_observed_value(table, fitted):
    tt = fitted["standard"]
    X = tt.transform(table)
    numeric = [c.name for c in tt.schema.columns if c.kind in ("numeric", "datetime")]
    expected = np.zeros(len(table))
    for c in numeric:
        present = ~table[c].isna().to_numpy()
        expected -= np.where(present, np.log(tt._codecs[c]["sd"]), 0.0)
    np.testing.assert_allclose(tt.log_jacobian(X), expected, rtol=1e-12)
    mode = fitted["mode"]
    Xm = mode.transform(table)
    k = np.argmax(Xm[:, mode.column_blocks("score")["mode"].slice], axis=1)
    assert np.all(np.isfinite(mode.log_jacobian(Xm)))
    # Leaving score out removes exactly -log(4 sigma_k) of each row's assigned mode k.
    np.testing.assert_allclose(
        mode.log_jacobian(Xm) + np.log(4 * mode._codecs["score"]["sds"][k]),
        mode.log_jacobian(Xm, observed=_without(mode, Xm, "score")), rtol=1e-12)  # fmt: skip


def _without(tt, X, column):
    """An observed mask leaving one column's values out."""
    observed = np.ones(X.shape, dtype=bool)
    for b in tt.column_blocks(column).values():
        if b.role != "missing":
            observed[:, b.slice] = False
    return observed


@pytest.mark.parametrize("norm", NORMS)
def test_column_view_of_encoded_rows_gives_the_rows_back(table, fitted, norm):
    """What exploration shows of a table: each column in its units (dates as dates), categories by label.
    On encoded rows (one-hot exact) the expected values are the values themselves."""
    tt = fitted[norm]
    rows = table.head(40)
    view = {c.name: c for c in tt.column_view(tt.transform(rows))}
    present = rows["income"].notna().to_numpy()
    np.testing.assert_allclose(view["score"].values, rows["score"], rtol=1e-5)
    np.testing.assert_allclose(view["income"].values[present], rows["income"][present], rtol=1e-5)
    assert view["joined"].values.dtype == np.dtype("datetime64[s]")
    seen = rows["joined"].notna().to_numpy()
    assert (view["joined"].values[seen] == rows["joined"][seen].to_numpy().astype("datetime64[s]")).all()
    # A date at midnight is shown as a date ("2019-01-06T00:00:00" before), a time with its time, without the "T".
    from vaelab.data.table_transformer import ColumnValues

    when = ColumnValues("d", "datetime", np.array(["2019-01-06", "2019-01-06T18:30", "NaT"], dtype="datetime64[s]"))
    assert [when.shown(i) for i in range(3)] == ["2019-01-06", "2019-01-06 18:30:00", "NaT"]
    city = view["city"]
    assert city.labels == tuple(sorted(table["city"].unique()))
    assert [city.labels[k] for k in city.probs.argmax(1)] == rows["city"].tolist()
    assert view["member"].labels == ("False", "True") and view["member"].shown(0) in ("True (1.00)", "False (1.00)")
    assert view["score"].change() == pytest.approx(np.ptp(rows["score"]) / tt.column_sd("score"), rel=1e-5)
    assert city.change() == 1.0


# ------------------------------------------------------- audit: values and text the encoders misread


def test_text_with_offsets_of_a_tz_aware_column_reads_as_utc_instants():
    """A run trained on a tz-aware column (Parquet) scores a CSV of the same rows: the text holds "+01:00" in
    winter and "+02:00" in summer, once refused whole with pandas' "Mixed timezones detected"; an unreadable cell
    is flagged in its own row."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=120), "ts": pd.Timestamp("2021-01-01", tz="Europe/Berlin")
                       + pd.to_timedelta(rng.integers(0, 10000, 120), unit="h")})  # fmt: skip
    text = df.assign(ts=df["ts"].astype(str).astype(object))
    assert text["ts"].str.endswith("+01:00").any() and text["ts"].str.endswith("+02:00").any()
    for norm in NORMS:
        tt = TableTransformer(norm).fit(df)
        rows = tt.check_rows(text)
        assert rows.observed is None and set(rows.reasons) == {""}
        np.testing.assert_array_equal(rows.X, tt.transform(df))
        text.loc[3, "ts"] = "not a date"
        rows = tt.check_rows(text)
        assert rows.reasons[3] == "ts: 'not a date' is not a datetime value"
        assert [r for i, r in enumerate(rows.reasons) if i != 3] == [""] * 119
        text.loc[3, "ts"] = str(df["ts"][3])


@pytest.mark.parametrize("norm", NORMS)
def test_huge_values_are_encoded_without_overflow(norm):
    """Values near 1e300: their squares overflow float64, which gave NaN statistics (NaN loss, a damaged table.json)
    and numpy warnings; scaled first, the column encodes and decodes like any other."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"a": rng.normal(size=300), "huge": rng.normal(size=300) * 1e300})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tt = TableTransformer(norm).fit(df)
        X = tt.transform(df)
        back = tt.inverse_transform(X)
        sd = tt.column_sd("huge")
    assert np.isfinite(X).all() and np.isfinite(tt.log_jacobian(X)).all()
    assert sd == pytest.approx((df["huge"] / 1e300).std(ddof=0) * 1e300, rel=0.2)
    np.testing.assert_allclose(back["huge"], df["huge"], rtol=1e-5, atol=1e-6 * sd)
    meta, arrays = tt.state()
    assert all(np.isfinite(a).all() for a in arrays.values()) and "NaN" not in json.dumps(meta)
    # Every float beyond 2**53 is a whole number: such a column is no column of counts (an audit: called "integer",
    # and --given took 1e300 as a whole number to fix), unless its dtype holds integers.
    spec = {c.name: c for c in tt.schema.columns}["huge"]
    assert not spec.integer
    counts = pd.DataFrame({"n": (rng.integers(0, 5, 300) * 2**60).astype(np.int64)})
    assert TableTransformer(norm).fit(counts).schema.columns[0].integer


@pytest.mark.parametrize("norm", NORMS)
def test_values_too_large_to_encode_are_refused_at_fit_naming_the_column(norm):
    """Values near float64's largest (1.8e308) cannot be encoded (a mode's span 4 sigma is inf): refused while
    fitting, before a run writes anything, naming the column and what to do; no warning leaks."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"a": rng.normal(size=300), "huge": rng.uniform(-1, 1, 300) * 1.7e308})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"column 'huge' holds values up to 1\.\d+e\+308 in size, too large to "
                                            r"encode in float64.*divide it by a power of ten"):  # fmt: skip
            TableTransformer(norm).fit(df)


@pytest.mark.parametrize("norm", NORMS)
def test_tiny_values_are_standardized_in_float64_and_round_trip(norm):
    """Values near 1e-300: their squares underflow to 0, so the column's SD was 0 (modelled as a constant) and its
    decimals were 0 (every decoded value written as 0.0 / -0.0)."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"a": rng.normal(size=300), "tiny": rng.normal(size=300) * 1e-300})
    tt = TableTransformer(norm).fit(df)
    assert tt.schema["tiny"].decimals is None
    X = tt.transform(df)
    value = X[:, tt.column_blocks("tiny")["value"].start]
    assert value.std() > 0.1  # the values themselves are modelled, not a constant
    sd = tt.column_sd("tiny")
    assert sd == pytest.approx(df["tiny"].std(ddof=0), rel=0.2)
    back = tt.inverse_transform(X)
    np.testing.assert_allclose(back["tiny"], df["tiny"], rtol=1e-5, atol=1e-6 * sd)
    assert (back["tiny"] != 0).all()


def test_whole_number_floats_match_integer_categories():
    """One missing code makes pandas read a CSV column of integer codes as floats: 1.0 is the category 1 (when
    scored, and as a given value), so a row's score does not depend on another row's missing cell; 1.5 stays unseen."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.normal(size=200), "code": rng.choice([1, 2, 3, 7], 200)})
    tt = TableTransformer("standard").fit(df, infer_schema(df, categorical=("code",)))
    new = df.head(6).astype({"code": float})
    new.loc[0, "code"], new.loc[1, "code"] = np.nan, 1.5
    rows = tt.check_rows(new)
    assert rows.reasons[0] == "code: missing, and it had no missing values in training"
    assert rows.reasons[1] == "code: category '1.5' not seen in training"
    assert rows.reasons[2:] == [""] * 4
    np.testing.assert_array_equal(rows.X[2:], tt.transform(df.head(6)).take(range(2, 6), axis=0))
    spec = tt.schema["code"]
    assert given_label(spec, 1.0) == given_label(spec, "1.0") == given_label(spec, 1) == "1"
    with pytest.raises(ConfigError, match=r"code='1\.5': not a category of 'code'"):
        given_label(spec, 1.5)
    assert list(value_labels(pd.Series([1.0, 7.0, np.nan]), spec)) == ["1", "7", ""]
    floats = df.astype({"code": float})  # and the other way: codes trained as floats, scored as integers
    tf = TableTransformer("standard").fit(floats, infer_schema(floats, categorical=("code",)))
    assert tf.check_rows(df.head(4)).reasons == [""] * 4


def test_booleans_match_the_categories_spelled_true_and_false_in_any_case(tmp_path):
    """A text column of 'true'/'false' (and another value, or a Parquet file read before such columns read as booleans)
    has the categories 'true' and 'false'; read again as booleans (a CSV or Parquet file of only those) its rows are
    those categories, not "category 'True' not seen in training" on every row of the run's own file (s11 e)."""
    rng = np.random.default_rng(6)
    df = pd.DataFrame({"x": rng.normal(size=60), "flag": rng.choice(["true", "false", "maybe"], 60)})
    tt = TableTransformer("standard").fit(df)
    assert tt.schema["flag"].kind == "categorical"
    new = df[df["flag"] != "maybe"].head(6)
    new.to_csv(tmp_path / "f.csv", index=False)
    read = pd.read_csv(tmp_path / "f.csv")
    assert read["flag"].dtype == bool  # as pandas reads those cells
    rows = tt.check_rows(read)
    assert rows.reasons == [""] * 6
    np.testing.assert_allclose(rows.X, tt.transform(new))
    assert list(value_labels(read["flag"], tt.schema["flag"])) == new["flag"].tolist()


def test_given_times_of_a_zoned_column_are_shown_in_its_zone():
    """An audit: --given on a zoned column gave its range and labels in UTC ("2019-12-31 23:00:00" for Oslo's
    midnight of 2020-01-01). They are in the column's zone, with its offset; text with offsets, read and written
    in UTC, says +0000."""
    days = pd.date_range("2020-01-01", periods=40, freq="D", tz="Europe/Oslo")
    df = pd.DataFrame({"x": np.arange(40.0), "d": days,
                       "t": (days + pd.Timedelta(hours=10)).strftime("%Y-%m-%dT%H:%M:%S%z")})  # fmt: skip
    tt = TableTransformer("standard").fit(df)
    spec = tt.schema["d"]
    assert given_label(spec, "2020-01-05") == "2020-01-05 00:00:00+0100"
    assert list(value_labels(df["d"].head(2), spec)) == ["2020-01-01 00:00:00+0100", "2020-01-02 00:00:00+0100"]
    with pytest.raises(ConfigError, match=r"from 2020-01-01 00:00:00\+0100 to 2020-02-09 00:00:00\+0100; give one of "
                                          r"them, e\.g\. d=2020-01-01 00:00:00\+0100\."):
        given_label(spec, "2021-01-05")
    assert given_label(spec, "2020-01-01 00:00:00+0100") == "2020-01-01 00:00:00+0100"  # the example given works
    assert given_label(tt.schema["t"], "2020-01-01T10:00:00+0100") == "2020-01-01 09:00:00+0000"


def test_a_boolean_cell_may_hold_what_given_takes_yes_and_no():
    """An audit: a later file whose boolean column was spelled yes/no was flagged "not a boolean value" on every row
    (and scored without the column), though --given member=yes was taken. The cells take what --given takes."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=80), "member": rng.choice([True, False], 80)})
    tt = TableTransformer("standard").fit(df)
    new = df.head(4).astype({"member": object})
    new["member"] = ["yes" if v else "no" for v in df["member"].head(4)]
    new.loc[1, "member"] = new.loc[1, "member"].upper()
    rows = tt.check_rows(new)
    assert rows.reasons == [""] * 4 and rows.observed is None
    np.testing.assert_allclose(rows.X, tt.transform(df.head(4)))
    for text in ("yes", "No", "1", "true"):
        assert given_label(tt.schema["member"], text) in ("True", "False")
    # a text column of yes/no declared boolean is refused as before: its rows would come back True/False
    words = df.assign(member=np.where(df["member"], "yes", "no"))
    with pytest.raises(DataError, match=r"holds \['yes'.*expected True/False or 0/1"):
        infer_schema(words, boolean=("member",))


def test_an_infinite_cell_is_said_to_be_infinite():
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    tt = TableTransformer("standard").fit(df)
    new = df.head(3).astype({"a": object})
    new.loc[1, "a"], new.loc[2, "a"] = np.inf, "-inf"
    assert tt.check_rows(new).reasons == ["", "a: 'inf' is infinite", "a: '-inf' is infinite"]


def test_a_category_with_spaces_around_it_can_be_given():
    """Categories are taken as written before the text is stripped: ' padded ' and 'a ' could not be fixed with
    --given / given= (an audit: "uni='padded': not a category of 'uni'"), while ' north' still finds 'north'."""
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x": rng.normal(size=60), "c": rng.choice([" padded ", "a", "a ", "north"], 60)})
    spec = TableTransformer("standard").fit(df).schema["c"]
    assert [given_label(spec, v) for v in (" padded ", "a", "a ", " north")] == [" padded ", "a", "a ", "north"]
    with pytest.raises(ConfigError, match=r"c='padded': not a category of 'c'"):
        given_label(spec, "padded")


def test_object_categories_that_are_not_text_come_back_as_their_own_values():
    """An object column holding 1, 'two' and 2.5 gave back '1' and '2.5' (text): synthetic rows never equalled 1.
    Each category's type is kept in the schema (category_types) and its value given back as such."""
    n = 40
    df = pd.DataFrame({"a": pd.Series([1, "two", 2.5, True] * (n // 4), dtype=object),
                       "c": pd.Categorical([1, "x"] * (n // 2)), "s": ["p", "q"] * (n // 2),
                       "x": np.linspace(0, 1, n)})  # fmt: skip
    tt = TableTransformer("standard").fit(df)
    assert tt.schema["a"].category_types == ("int", "float", "bool", "str")  # sorted labels: 1, 2.5, True, two
    assert tt.schema["s"].category_types is None  # text stays as it was
    back = tt.inverse_transform(tt.transform(df))
    assert [type(v) for v in back["a"][:4]] == [int, str, float, bool] and back["a"].tolist() == df["a"].tolist()
    assert list(back["c"].cat.categories) == [1, "x"] and back["c"].tolist() == df["c"].tolist()
    again = TableSchema.from_dict(json.loads(json.dumps(tt.schema.to_dict())))
    assert again == tt.schema
    damaged = tt.schema.to_dict()
    damaged["columns"][0]["category_types"] = ["int"]
    with pytest.raises(ConfigError, match="'category_types' must be null or a list"):
        TableSchema.from_dict(damaged)


@pytest.mark.parametrize("normalization", ["standard", "mode"])
def test_a_value_beyond_a_constant_column_is_not_counted_in_a_made_up_sd(normalization):
    """A constant column has SD 0; its codec's stand-in SD of 1 made the reason read "8 is 1.0 SD above the range seen
    in training" (any unit's distance as 'SD'). It names the one value seen instead."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"const": 7.0, "x": rng.normal(size=50), "day": pd.Timestamp("2021-01-01")})
    tt = TableTransformer(normalization).fit(df)
    new = df.head(3).copy()
    new.loc[0, "const"], new.loc[1, "day"], new.loc[2, "x"] = 8.0, pd.Timestamp("2021-01-03"), 100.0
    reasons = tt.check_rows(new).reasons
    assert reasons[0] == "const: out of range: 8 is above the one value seen in training (7)"
    assert reasons[1] == "day: out of range: 2021-01-03 is above the one value seen in training (2021-01-01)"
    assert reasons[2].startswith("x: out of range: 100 is ") and " SD above the range seen in training" in reasons[2]


def test_a_daily_columns_range_and_reasons_are_days():
    """An audit (s15): a dd/mm/YYYY column's range in describe() and an out-of-range reason read '2035-01-01 00:00:00',
    a time the column never writes; they read as the ISO days its sampled and fixed values are written as."""
    days = pd.date_range("2020-01-01", periods=40, freq="D")
    df = pd.DataFrame({"text": days.strftime("%d/%m/%Y"), "naive": days, "x": np.linspace(0, 1, 40)})
    tt = TableTransformer("standard").fit(df)
    assert "2020-01-01 .. 2020-02-09, unit D, text %d/%m/%Y" in tt.schema.describe()
    assert "2020-01-01 .. 2020-02-09, unit D" in tt.schema.describe() and "00:00:00" not in tt.schema.describe()
    new = df.head(1).copy()
    new.loc[0, "text"], new.loc[0, "naive"] = "01/01/2035", pd.Timestamp("2035-01-01")
    reasons = tt.check_rows(new).reasons[0]
    assert "text: out of range: 2035-01-01 is " in reasons and "naive: out of range: 2035-01-01 is " in reasons


def test_dates_of_a_time_zone_are_described_and_flagged_in_that_zone():
    """A tz-aware column is modelled in UTC seconds; its range in describe() and an out-of-range value in a reason were
    shown as naive UTC (Oslo's 2021-01-01 00:00 read "2020-12-31 23:00:00", a scored 12:00+02:00 read "10:00:00")."""
    days = pd.date_range("2021-01-01", periods=40, freq="D", tz="Europe/Oslo")
    df = pd.DataFrame({"when": days, "x": np.linspace(0, 1, 40)})
    tt = TableTransformer("standard").fit(df)
    assert "2021-01-01 00:00:00+01:00 .. 2021-02-09 00:00:00+01:00" in tt.schema.describe()
    new = df.head(1).copy()
    new.loc[0, "when"] = pd.Timestamp("2022-06-01 12:00", tz="Europe/Oslo")
    assert tt.check_rows(new).reasons[0].startswith("when: out of range: 2022-06-01 12:00:00+02:00 is ")


def test_a_day_of_a_daily_date_column_can_be_given():
    """An audit (s11 b): --given date=2020-01-05 on a daily column was refused as "a continuous datetime column, and a
    generated value equals a given one with probability 0", where generated dates are whole days (as whole numbers
    are whole): a day is hit as often as the model gives it. Taken in ISO or the column's own text format, in a
    naive, text or zoned column; a time that is no whole unit or out of range is refused with a spelling that works."""
    days = pd.date_range("2020-01-01", periods=30, freq="D")[np.arange(120) % 30]
    df = pd.DataFrame({"x": np.arange(120.0), "naive": days, "text": days.strftime("%d/%m/%Y"),
                       "zoned": days.tz_localize("Europe/Oslo"), "hourly": days + pd.Timedelta(hours=13)})  # fmt: skip
    tt = TableTransformer("standard").fit(df)
    assert {tt.schema[c].datetime_unit for c in ("naive", "text")} == {"D"} and tt.schema["hourly"].datetime_unit == "h"
    for column in ("naive", "text", "zoned"):
        spec = tt.schema[column]
        label = given_label(spec, "2020-01-05")
        assert (value_labels(df[column], spec) == label).sum() == 4, column
        assert (value_labels(tt.inverse_transform(tt.transform(df))[column], spec) == label).sum() == 4, column
    assert given_label(tt.schema["text"], "05/01/2020") == given_label(tt.schema["text"], "2020-01-05")
    assert (value_labels(df["hourly"], tt.schema["hourly"]) == given_label(tt.schema["hourly"], "2020-01-05 13:00")).sum() == 4
    for bad in ("2020-03-05", "2020-01-05 12:00", "yesterday"):
        with pytest.raises(ConfigError, match=r"'naive' holds days from 2020-01-01 to 2020-01-30; give one of them, "
                                              r"e\.g\. naive=2020-01-01\."):
            given_label(tt.schema["naive"], bad)
    with pytest.raises(ConfigError, match=r"e\.g\. text=2020-01-01 \(or as the column writes them: %d/%m/%Y\)"):
        given_label(tt.schema["text"], "2020-02-31")


def test_a_month_column_is_shown_and_given_as_months():
    """An audit (s12): a '%Y-%m' text column took --given month=2020-03, but its label, its range in the schema and the
    refusal read as days ('2020-03-01', '2019-01-01 00:00:00 .. ', "holds days from 2019-01-01"). They are written in
    the column's own format now; a day the column cannot write (the 15th) is refused, as out of range is."""
    months = pd.period_range("2019-01", periods=24, freq="M").strftime("%Y-%m")[np.arange(96) % 24]
    df = pd.DataFrame({"x": np.arange(96.0), "month": months})
    tt = TableTransformer("standard").fit(df)
    spec = tt.schema["month"]
    assert spec.datetime_format == "%Y-%m"
    assert "2019-01 .. 2020-12, unit D, text %Y-%m" in tt.schema.describe()
    assert given_label(spec, "2020-03") == given_label(spec, "2020-03-01") == "2020-03"
    assert (value_labels(df["month"], spec) == "2020-03").sum() == 4
    assert (value_labels(tt.inverse_transform(tt.transform(df))["month"], spec) == "2020-03").sum() == 4
    for bad in ("2020-03-15", "2030-03", "soon"):
        with pytest.raises(ConfigError, match=r"'month' holds times written %Y-%m from 2019-01 to 2020-12; give one of "
                                              r"them, e\.g\. month=2019-01\.$"):
            given_label(spec, bad)


def test_decoded_whole_numbers_at_the_end_of_int64_do_not_wrap_around():
    """An audit (s13): a column holding int64's largest value (2**63 - 1, 2.0**63 as float64) decoded a value clipped
    to its maximum as -2**63: the float cast to int64 overflowed. The dtype's own ends hold such values; a missing
    value stays missing."""
    top = np.iinfo(np.int64).max
    df = pd.DataFrame({"big": np.array([top, 2**62, top - 2**40, 2**61], dtype=np.int64),
                       "n": pd.array([1, None, 3, 4], dtype="Int64")})  # fmt: skip
    tt = TableTransformer(normalization="standard").fit(df)
    X = tt.transform(df)
    X[:, 0] = 50.0  # far above the range: clipped to its maximum
    back = tt.inverse_transform(X)
    assert back["big"].dtype == np.int64 and (back["big"] == top).all()
    assert back["n"].isna().tolist() == [False, True, False, False] and back["n"].dtype == "Int64"


def test_a_given_whole_number_past_2_53_matches_the_rows_that_hold_it():
    """An audit (s13): --given big=9217130103287386808 was read through float64 (9217130103287387136) while the training
    rows' labels kept their exact digits, so no training row held the value they hold ("0 training row(s) hold")."""
    values = np.array([9217130103287386808, 4628103875083017080, 5 * 10**18], dtype=np.int64)
    spec = infer_schema(pd.DataFrame({"big": values, "x": [0.1, 0.2, 0.3]}))["big"]
    labels = value_labels(pd.Series(values), spec)
    assert [given_label(spec, str(v)) for v in values] == list(labels)
    assert value_labels(pd.Series([3, 4]), infer_schema(pd.DataFrame({"k": [3, 4, 5]}))["k"]).tolist() == ["3", "4"]


def test_a_boolean_columns_na_text_is_missing_whatever_rows_come_with_it(tmp_path):
    """An audit (s15): a Parquet file's column of 'True'/'False'/'NA' reads whole as a boolean with missing cells, but a
    file of one 'NA' row kept the text and scored it as "'NA' is not a boolean value": a row's score hung on its
    neighbours. pandas' missing spellings in a boolean column are missing cells, as in a CSV."""
    from vaelab.data.sources import read_table

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"flag": rng.choice(["True", "False", "NA"], 90).astype(object), "x": rng.normal(size=90)})
    df.to_parquet(tmp_path / "all.parquet", index=False)
    df.head(3).assign(flag="NA").to_parquet(tmp_path / "na.parquet", index=False)
    kept = ("NA",)  # a run holding 'NA' as a category of another column keeps it in every text column it reads
    whole, alone = (read_table(tmp_path / f, kept=kept) for f in ("all.parquet", "na.parquet"))
    tt = TableTransformer("standard").fit(whole)
    assert tt.schema["flag"].kind == "boolean" and tt.schema["flag"].has_missing
    assert alone["flag"].tolist() == ["NA"] * 3  # the text, where no True/False tells what it is
    assert tt.check_rows(alone).reasons == ["", "", ""]
    np.testing.assert_array_equal(tt.transform(alone), tt.transform(whole.head(3).assign(flag=None)))
