"""vaelab.TableVAE in memory: densities in the rows' own units, new rows, conditional sampling."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from vaelab import TableVAE
from vaelab.analysis.table_generation import CHOICE_SEED, PROBE, TableModel, sample_table
from vaelab.data.table_demo import make_mixed_table
from vaelab.data.table_schema import infer_schema
from vaelab.data.table_transformer import TableTransformer
from vaelab.errors import ConfigError, DataError

FAST = dict(epochs=2, latent_dim=2, hidden=[16], device="cpu", seed=0)
TRAINED = dict(epochs=40, lr=0.01, latent_dim=4, hidden=[32], device="cpu", seed=0)


@pytest.mark.parametrize("normalization", ["standard", "mode"])
def test_scaling_a_column_by_1000_lowers_log_p_by_ln_1000(normalization):
    """Issue 15 item 3: log p(row) is a density in the data's units, so measuring a column in units
    1000 times smaller (values 1000 times larger) lowers it by ln(1000) = 6.91 nats per row. Before,
    it was the density of the encoded row and did not move."""
    df = make_mixed_table(400, seed=0)[["score", "income", "city"]]  # income has missing values
    scaled = df.copy()
    scaled["score"] *= 1000
    a = TableVAE(normalization=normalization, **FAST).fit(df)
    b = TableVAE(normalization=normalization, **FAST).fit(scaled)
    la = a.log_likelihood(df.head(50), n_samples=50)
    lb = b.log_likelihood(scaled.head(50), n_samples=50)
    np.testing.assert_allclose(la.log_px - lb.log_px, np.log(1000), atol=1e-3)
    np.testing.assert_allclose(la.elbo - lb.elbo, np.log(1000), atol=1e-3)
    assert "own units" in la.extra["units"] and la.extra["reasons"] == [""] * 50
    # bits/dim per column of the row (3), not per encoded feature (one-hot slots, modes, missing flags)
    np.testing.assert_allclose(la.bits_per_dim, -la.log_px / (3 * np.log(2)))


def _regions(n=600, seed=0):
    """A table where region decides where x lies (north +3, south -3) and tilts the colour."""
    rng = np.random.default_rng(seed)
    north = rng.random(n) < 0.5
    return pd.DataFrame({
        "region": np.where(north, "north", "south"),
        "x": np.where(north, 3.0, -3.0) + rng.normal(0, 0.5, n),
        "colour": np.where(rng.random(n) < np.where(north, 0.8, 0.2), "red", "blue"),
        "n_items": rng.integers(0, 4, n),
    })  # fmt: skip


def test_given_values_hold_exactly_by_rejection_and_by_the_conditional_decoder():
    df = _regions()
    plain = TableVAE(**TRAINED).fit(df)
    rows = plain.sample(300, given={"region": "north"})
    how = rows.attrs["generation"]
    assert set(rows["region"]) == {"north"} and len(rows) == 300
    assert how["method"] == "rejection" and how["draws"] >= 300
    # The acceptance rate counts every draw that held the value, the last batch's surplus too (it once said
    # "300 of 693 draws kept": the rows asked for, not the share the model gives): about the model's own share.
    share = (plain.sample(4000, seed=5)["region"] == "north").mean()
    assert how["held"] >= 300 and abs(how["held"] / how["draws"] - share) < 0.08, (how, share)
    assert f"{how['held']} of {how['draws']} draws held the values ({100 * how['held'] / how['draws']:.1f}%)" in how["text"]
    two = plain.sample(50, given={"region": "north", "n_items": 2})
    assert set(two["region"]) == {"north"} and set(two["n_items"]) == {2}
    cond = TableVAE(condition=["region"], **TRAINED).fit(df)
    rows = cond.sample(300, given={"region": "south"})
    assert set(rows["region"]) == {"south"} and rows.attrs["generation"]["method"] == "conditional decoder"
    assert rows.attrs["generation"]["draws"] == 300 and list(rows.columns) == list(df.columns)
    assert (rows["x"] < 0).mean() > 0.9  # the decoder was given south: x near -3 (north's is +3)
    free = cond.sample(400)
    assert 0.35 < (free["region"] == "north").mean() < 0.65  # free condition columns: training frequencies
    with pytest.raises(ConfigError, match="continuous numeric column"):
        plain.sample(5, given={"x": 1.5})
    with pytest.raises(ConfigError, match="not a category of 'region'"):
        plain.sample(5, given={"region": "east"})
    with pytest.raises(ConfigError, match="not a column of this table"):
        plain.sample(5, given={"height": 1})
    with pytest.raises(ConfigError, match="categorical or boolean"):
        TableVAE(condition=["x"], **FAST).fit(df)


class _Rare(TableModel):
    """Rows where 'rare' turns up once in 2000 draws from the prior and in 9 of 10 from the latent sampler."""

    def rows(self, sampler, n, labels, seed, temperature=1.0):
        p = 0.9 if sampler.name == "aggregate-gmm" else 0.0005
        rng = np.random.default_rng(seed)
        return pd.DataFrame({"kind": np.where(rng.random(n) < p, "rare", "common"), "x": rng.normal(size=n)})


def test_rare_values_switch_to_latent_conditioning_and_say_so():
    schema = infer_schema(pd.DataFrame({"kind": ["rare", "common"] * 5, "x": np.arange(10.0)}))
    tm = _Rare(None, TableTransformer().fit(pd.DataFrame({"kind": ["rare", "common"] * 5, "x": np.arange(10.0)}), schema),
               ("kind", "x"))  # fmt: skip
    prior = SimpleNamespace(name="prior")
    gmm = SimpleNamespace(name="aggregate-gmm")
    rows = sample_table(tm, 200, prior, given={"kind": "rare"}, latent=lambda fixed: (gmm, "the codes of 5 rows"))
    how = rows.attrs["generation"]
    assert set(rows["kind"]) == {"rare"} and len(rows) == 200
    assert how["method"] == "latent conditioning" and how["probe_kept"] < 0.01 * how["probe_draws"]
    assert how["probe_draws"] == PROBE  # judged on the first 1,000 draws, as the README says (for n = 300: 30,000)
    big = sample_table(tm, 300, prior, given={"kind": "rare"}, latent=lambda fixed: (gmm, "the codes of 5 rows"))
    assert big.attrs["generation"]["probe_draws"] == PROBE
    assert "latent conditioning (the codes of 5 rows)" in how["text"] and "too few" in how["text"]
    with pytest.raises(DataError, match="Rejection kept .* draws holding kind = rare"):
        sample_table(tm, 200, prior, given={"kind": "rare"}, latent=None)
    # A small n still makes PROBE draws before judging: with n = 5 the budget of n / 1% = 500 draws ran out first
    few = sample_table(tm, 5, prior, given={"kind": "rare"}, latent=lambda fixed: (gmm, "the codes of 5 rows"))
    assert few.attrs["generation"]["method"] == "latent conditioning" and few.attrs["generation"]["probe_draws"] == PROBE
    # The rejection draws are said to come from the sampler they came from (an audit: "from the prior" whatever it was).
    flow = sample_table(tm, 50, SimpleNamespace(name="flow"), given={"kind": "rare"},
                        latent=lambda fixed: (gmm, "the codes of 5 rows"))  # fmt: skip
    assert "rejection from the flow sampler kept" in flow.attrs["generation"]["text"]
    assert flow.attrs["generation"]["probe_sampler"] == "flow" and "from the prior sampler kept" in how["text"]


def test_the_advice_to_condition_names_only_columns_condition_takes():
    """An audit (issue 17): when rejection kept too few rows holding a whole number, the advice was "train with
    --condition n", which --condition then refused (categorical and boolean columns only)."""
    from vaelab.analysis.table_generation import condition_advice

    frame = pd.DataFrame({"kind": ["rare", "common"] * 5, "n": np.arange(10) % 3, "x": np.arange(10.0)})
    tm = TableModel(None, TableTransformer().fit(frame, infer_schema(frame)), ("kind", "n", "x"))
    assert condition_advice(tm, {"kind": "rare"}) == "train with condition=['kind']."
    both = condition_advice(tm, {"kind": "rare", "n": 2}, first=True)
    assert both == ("Train with condition=['kind']; declare n categorical (categorical=['n']) to condition on it: "
                    "condition= takes categorical and boolean columns only.")
    assert condition_advice(tm, ["n"], first=True).startswith("Declare n categorical (categorical=['n']) to condition")
    assert condition_advice(tm, ["n", "x"]).startswith("declare n, x categorical (categorical=['n', 'x']) to "
                                                       "condition on them")
    # The CLI says it as train's flags (sample has no --condition or --categorical; an audit, s15: both syntaxes)
    from vaelab.cli import _named_as_typed, _subcommand, build_parser

    parser = build_parser()
    error = DataError("Rejection kept 0 of 4000 draws. " + both, setting=("condition", "categorical"))
    said = _named_as_typed(_subcommand(parser, "sample"), error, _subcommand(parser, "train"))
    assert said.endswith("Train with --condition kind; declare n categorical (--categorical n) to condition on it: "
                         "--condition takes categorical and boolean columns only."), said
    error = DataError("Rejection kept 0. " + condition_advice(tm, ["n"], first=True),
                      setting=("condition", "categorical"))
    said = _named_as_typed(_subcommand(parser, "sample"), error, _subcommand(parser, "train"))
    assert said.endswith("Declare n categorical (--categorical n) to condition on it: --condition takes "
                         "categorical and boolean columns only."), said


def test_the_advice_to_condition_keeps_a_conditional_models_own_condition_columns():
    """An audit (s10 d): on a run conditioned on region and member, rows fixing plan = gold and member = False (which
    no training row holds) were advised "Train with --condition plan ...; declare member categorical (--categorical)
    to condition on it": member, a boolean, is a condition column already, and conditioning on plan alone drops the
    run's own condition columns."""
    from vaelab.analysis.table_generation import condition_advice
    from vaelab.data.table_transformer import split_condition

    frame = pd.DataFrame({"region": ["a", "b"] * 5, "member": [True, False, False, True, True] * 2,
                          "plan": ["gold", "basic"] * 5, "x": np.arange(10.0)})  # fmt: skip
    condition, schema = split_condition(infer_schema(frame), ("region", "member"))
    tm = TableModel(None, TableTransformer().fit(frame, schema), tuple(frame.columns), condition)
    advice = condition_advice(tm, {"plan": "gold", "member": "False"}, first=True)
    assert advice == "Train with condition=['region', 'member', 'plan']."
    assert "--categorical" not in condition_advice(tm, {"member": "False", "region": "a"})


def test_too_few_rows_for_latent_conditioning_in_python_names_no_condition_that_fit_refuses():
    """An audit (s10 d): TableVAE.sample(given={"n": 50}) with too few rows holding a whole number advised "Fit with
    condition=(...) on these columns", which fit then refuses for a numeric column; it now gives the CLI's advice."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"n": np.r_[rng.integers(0, 5, 198), 50, 50], "kind": rng.choice(["a", "b"], 200)})
    model = TableVAE(**FAST).fit(df)
    with pytest.raises(DataError) as caught:
        model.sample(20, given={"n": 50})
    said = str(caught.value)
    assert "needs at least" in said and "Fit with condition=(...)" not in said
    assert "Declare n categorical (categorical=['n'])" in said and "--" not in said
    assert caught.value.setting == ("condition", "categorical")


def test_class_on_a_model_conditioned_on_one_column_takes_the_spellings_given_takes():
    """An audit (s10 d): the README says --class C on a run conditioned on one column is --given COL=C, but --class true
    was refused ("not a label ...; its labels are ['False', 'True']") where --given member=true was taken."""
    from vaelab.analysis.samplers import fit_sampler

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"member": rng.random(200) < 0.5, "x": rng.normal(size=200)})
    model = TableVAE(condition=("member",), **FAST).fit(df)
    prior = fit_sampler("prior", model.vae_, seed=0)
    for spelling in ("True", "true", "yes", "1"):
        rows = sample_table(model.table_model(), 5, prior, label=spelling)
        assert set(rows["member"]) == {True} and rows.attrs["generation"]["given"] == {"member": "True"}, spelling
    with pytest.raises(ConfigError, match=r"'maybe' is not a label .* its labels are \['False', 'True'\]"):
        sample_table(model.table_model(), 5, prior, label="maybe")


def test_a_condition_value_only_held_out_rows_hold_is_refused_not_decoded_untrained():
    """An audit (s10 d): a condition value that only validation (or test) rows hold was never given to the decoder in
    training, yet sample(given=...) generated rows for it "by the conditional decoder, none rejected" (from an
    untrained condition); it is refused now, as a value no row holds is, and free draws never give it."""
    from vaelab.data.split import indices, split_assignment

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"region": rng.choice(["north", "south"], 200), "x": rng.normal(size=200)})
    held_out = indices(split_assignment(len(df), 0.1, 0.0, 0), "val")[:3]
    df.loc[held_out, "region"] = "zz"
    model = TableVAE(condition=("region",), **FAST).fit(df)
    assert model.label_counts_["zz"] == 0  # the rows that hold it were held out
    with pytest.raises(DataError, match=r"No training row has region = zz.* are \['north', 'south'\]"):
        model.sample(5, given={"region": "zz"})
    assert "zz" not in set(model.sample(300)["region"])
    # Scored, such a row is flagged and scored given a trained condition, as a new value is (it was scored given zz).
    reasons = model.log_likelihood(df.loc[held_out], n_samples=5).extra["reasons"]
    assert all("condition region = 'zz' not seen in training: scored given the most frequent" in r for r in reasons)


def test_a_condition_whose_second_value_only_held_out_rows_hold_is_refused_before_fitting():
    """An audit (s11 c): a condition column every row of which holds one value is refused, but one whose other value
    only validation rows held was fitted: a model conditioned on nothing its training rows could teach it."""
    from vaelab.data.split import indices, split_assignment

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"region": ["north"] * 200, "x": rng.normal(size=200)})
    df.loc[indices(split_assignment(len(df), 0.1, 0.0, 0), "val")[:3], "region"] = "south"
    with pytest.raises(ConfigError, match=r"every training row holds 'north' \('south' only held-out rows hold\); a "
                                          "condition needs at least two values among the training rows"):
        TableVAE(condition=("region",), **FAST).fit(df)


def test_sample_at_a_temperature_decodes_its_z_at_that_temperature():
    """Issue 17: TableVAE.sample(temperature=T) is the sampler's z decoded by a draw at temperature T (the draw
    itself is pinned by tests/nn/test_likelihoods.py::test_mixed_draws_at_a_temperature_...); T outside (0, 1]
    is refused."""
    from vaelab.analysis.samplers import decode, fit_sampler

    df = _regions(400)
    model = TableVAE(**FAST).fit(df)
    z = fit_sampler("prior", model.vae_, seed=1).sample(300, 1)
    expected = model.transformer_.inverse_transform(decode(model.vae_, z, mean=False, seed=2, temperature=0.5))
    sharp = model.sample(300, seed=1, temperature=0.5, sampler="prior")
    assert sharp.equals(expected[list(df.columns)])
    assert not sharp.equals(model.sample(300, seed=1, temperature=1.0, sampler="prior"))
    assert sharp.attrs["temperature"]["text"] == "temperature 0.5 (as asked)"
    for bad in (0, -1.0, 1.5, float("nan"), "cold", "AUTO"):  # the message names "auto" too (it said "a number")
        with pytest.raises(ConfigError, match=r'temperature must be a number in \(0, 1\] .* or "auto"'):
            model.sample(5, temperature=bad)
    # Seeds and counts as the CLI takes them (an audit: raw NumPy and scikit-learn errors for a seed of -1 or 1.5).
    for bad in (-1, 1.5, 2**40, "0"):
        with pytest.raises(ConfigError, match="seed must be an integer from 0 to 2\\*\\*32 - 1"):
            model.sample(5, seed=bad)
    assert model.sample(np.int64(5), seed=np.int64(1), sampler="prior").equals(model.sample(5, seed=1, sampler="prior"))


class _Repeats(TableModel):
    """Draws whose share of rows equal to a training row ("seen") is known per temperature."""

    SHARE = {1.0: 0.25, 0.85: 0.5, 0.7: 0.75, 0.55: 1.0}

    def rows(self, sampler, n, labels, seed, temperature=1.0):
        k = round(self.SHARE[temperature] * n)
        return pd.DataFrame({"cell": ["seen"] * k + ["new"] * (n - k)})


def test_the_auto_temperature_is_the_one_whose_draws_repeat_training_rows_as_often_as_validation_rows():
    """Issue 17 (third pass): choose_temperature picks, among AUTO_TEMPERATURES, the T whose draws repeat a training
    row at the share closest to the validation rows' share; a tie goes to the higher T (the model's own draws first);
    no validation rows: T 1."""
    from vaelab.analysis.table_generation import choose_temperature

    frame = pd.DataFrame({"cell": ["seen", "new"]})
    tm = _Repeats(None, TableTransformer().fit(frame, infer_schema(frame)), ("cell",))
    train = pd.DataFrame({"cell": ["seen"] * 10})
    prior = SimpleNamespace(name="prior")
    val = lambda k, n=8: pd.DataFrame({"cell": ["seen"] * k + ["new"] * (n - k)})  # noqa: E731
    # 800 validation rows: the shares' 95% intervals are narrow (+-0.03), so the closest share wins; 0.375 and 0.625
    # lie halfway between two shares and in neither's interval: the tie goes to the higher T (1 and 0.85)
    picks = {k / 8: choose_temperature(tm, prior, train, val(100 * k, 800), n_draws=400).temperature
             for k in (0, 2, 3, 5, 6, 8)}  # fmt: skip
    assert picks == {0.0: 1.0, 0.25: 1.0, 0.375: 1.0, 0.625: 0.85, 0.75: 0.7, 1.0: 0.55}
    choice = choose_temperature(tm, prior, train, val(600, 800), n_draws=400)
    assert choice.validation_repeats == 0.75 and choice.draw_repeats == {"1": 0.25, "0.85": 0.5, "0.7": 0.75, "0.55": 1.0}
    assert "75.00% of the 800 validation rows repeat a training row" in choice.describe()
    assert "in the validation share's 95% interval 71.88% to 77.88% wins" in choice.describe()
    # 8 validation rows: the same shares are read with their intervals (6 of 8: 0.75 in [0.41, 0.93]), and the highest
    # T inside wins: 0.85's 0.5 for 6 of 8, where the closest share would have taken 0.7, and 0.7 for 8 of 8 (not 0.55)
    picks = {k / 8: choose_temperature(tm, prior, train, val(k), n_draws=400).temperature for k in (0, 2, 3, 5, 6, 8)}
    assert picks == {0.0: 1.0, 0.25: 1.0, 0.375: 1.0, 0.625: 0.85, 0.75: 0.85, 1.0: 0.7}
    none = choose_temperature(tm, prior, train, val(0, 0))
    assert none.temperature == 1.0 and "no validation rows" in none.describe()
    # Draws that repeat training rows more than validation rows do are kept at T 1, even where sharper draws repeat
    # less (an audit: a missing continuous value made rows repeat at T 1; the closest share picked T 0.55).
    down = _Repeats(None, tm.transformer, ("cell",))
    down.SHARE = {1.0: 0.5, 0.85: 0.25, 0.7: 0.125, 0.55: 0.0}
    for k in (0, 2, 4):
        kept = choose_temperature(down, prior, train, val(k), n_draws=400)
        assert kept.temperature == 1.0 and "already repeat training rows at least as often" in kept.describe()


def _copies(n=500, seed=0):
    """Three columns that always agree (b and c name a's category): every real row is one of 5 combinations."""
    a = np.random.default_rng(seed).integers(0, 5, n).astype(str)
    return pd.DataFrame({"a": a, "b": np.char.add("b", a), "c": np.char.add("c", a)})


def test_auto_temperature_sharpens_draws_spread_over_combinations_no_real_row_holds_and_the_stated_one_is_used():
    """Issue 17 (third pass): a model with a 1-D code, briefly trained, draws a, b and c partly independently given z,
    so fewer of its rows repeat a training row (26%) than validation rows do (all): fit chooses a sharper T, whose
    draws repeat more; sample() draws at the T it states (attrs["temperature"], temperature_), and an explicit
    temperature overrides it."""
    model = TableVAE(epochs=10, latent_dim=1, hidden=[16], lr=0.01, device="cpu", seed=0).fit(_copies())
    chosen = model.temperature_
    assert chosen["sampler"] == "aggregate-gmm" and chosen["validation_repeats"] == 1.0
    shares = chosen["draw_repeats"]
    assert shares["1"] < shares["0.85"] < shares["0.7"] < shares["0.55"] < 1.0 and chosen["temperature"] == 0.55
    rows = model.sample(300, seed=0)
    assert rows.attrs["temperature"] == chosen and "temperature 0.55 (auto:" in chosen["text"]
    assert rows.equals(model.sample(300, seed=0, temperature=0.55))
    assert not rows.equals(model.sample(300, seed=0, temperature=1.0))
    prior = model.sample(50, seed=0, sampler="prior")  # another sampler: the choice made for it, and said
    assert prior.attrs["temperature"]["sampler"] == "prior" and "auto:" in prior.attrs["temperature"]["text"]


def test_auto_temperature_keeps_the_models_own_draws_where_they_already_repeat_rows_as_real_rows_do():
    """Issue 17 (third pass): T stays 1 where the statistic shows nothing to correct: rows with a continuous column
    never repeat (0 for the validation rows and every T), and two independent categoricals are drawn into the 9
    combinations training holds at every T (1.0 everywhere)."""
    continuous = TableVAE(**FAST).fit(_regions(400))
    assert continuous.temperature_["temperature"] == 1.0 and continuous.temperature_["validation_repeats"] == 0.0
    assert set(continuous.temperature_["draw_repeats"].values()) == {0.0}
    assert continuous.sample(100, seed=2).equals(continuous.sample(100, seed=2, temperature=1.0))
    rng = np.random.default_rng(1)
    independent = pd.DataFrame({"a": rng.choice(list("xyz"), 500), "b": rng.choice(list("pqr"), 500)})
    chosen = TableVAE(**FAST).fit(independent).temperature_
    assert chosen["temperature"] == 1.0 and set(chosen["draw_repeats"].values()) == {1.0}


def test_a_table_models_missing_flags_start_at_the_rows_missing_shares():
    """The decoder's missing-value flags start at the training rows' missing shares (Mixed.missing_flag_logits):
    after 2 epochs a column missing in 5% of the rows is drawn missing about 5% of the time. From the layer's own
    init every flag started near 0.5: the audit's 600-row table drew its 4.7%-missing column 36% missing after 10
    epochs, 15% after the CLI's 50. Only the flags: categories start as the layer's init has them."""
    import torch

    from vaelab.nn.likelihoods import Mixed

    mixed = Mixed((6,), (("categorical", 0, 3, -1), ("bernoulli", 3, 1, -1), ("gaussian", 4, 1, 5), ("bernoulli", 5, 1, -1)))
    index, logits = mixed.missing_flag_logits(torch.tensor([0.7, 0.2, 0.1, 0.05, 0.3, 0.02], dtype=torch.float64))
    assert index.tolist() == [5]  # the flag that masks feature 4, not the boolean at 3
    torch.testing.assert_close(torch.sigmoid(logits), torch.tensor([0.02], dtype=torch.float64))
    rng = np.random.default_rng(0)
    n = 2000
    df = pd.DataFrame({"x": rng.normal(size=n), "kind": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])})
    df.loc[rng.random(n) < 0.05, "x"] = np.nan
    rows = TableVAE(**FAST).fit(df).sample(4000, temperature=1)
    assert abs(rows["x"].isna().mean() - df["x"].isna().mean()) < 0.02


def test_condition_labels_read_back_whole_with_equals_in_names_and_ampersands_in_values():
    """Two condition columns, one named 'a=b', the other holding 'R & D': training ended in a traceback after the
    fit (the label 'a=b=x & dept=R & D' was split at every '=' and ' & '); --given could not name 'a=b'."""
    from vaelab.analysis.table_generation import parse_given

    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"a=b": rng.choice(["x=1", "y"], n), "dept": rng.choice(["R & D", "Sales"], n),
                       "v": rng.normal(size=n)})  # fmt: skip
    model = TableVAE(condition=("a=b", "dept"), epochs=2, latent_dim=2, hidden=[16]).fit(df)
    rows = model.sample(20, given={"dept": "R & D", "a=b": "x=1"})
    assert set(rows["dept"]) == {"R & D"} and set(rows["a=b"]) == {"x=1"}
    assert parse_given(["a=b=x=1", "dept=R & D"], df.columns) == {"a=b": "x=1", "dept": "R & D"}
    assert parse_given(["a=b=x=1"]) == {"a": "b=x=1"}  # without the columns: the first '='
    # A value that would read back as another column's part is refused before training, in one line.
    bad = df.assign(dept=np.where(df["dept"] == "Sales", "S & dept=q", df["dept"]))
    with pytest.raises(ConfigError, match="reads back otherwise"):
        TableVAE(condition=("a=b", "dept"), epochs=1).fit(bad)


def test_a_conditional_table_model_scores_an_unseen_condition_value_as_the_cli_does():
    """TableVAE.log_likelihood raised "Unknown label(s) ['mars']" where `vaelab score` flags the row and scores it
    given the most frequent condition."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"region": rng.choice(["north", "north", "south"], 200), "v": rng.normal(size=200)})
    model = TableVAE(condition=("region",), epochs=2, latent_dim=2, hidden=[16]).fit(df)
    new = df.head(3).copy()
    new.loc[0, "region"] = "mars"
    result = model.log_likelihood(new, n_samples=5)
    reasons = result.extra["reasons"]
    assert "condition region = 'mars' not seen in training: scored given the most frequent condition 'north'" in reasons[0]
    assert reasons[1:] == ["", ""] and np.isfinite(result.log_px).all()
    with pytest.raises(DataError, match="lack the condition column"):
        model.log_likelihood(new.drop(columns="region"), n_samples=5)


def test_latent_conditioning_of_a_fitted_table_vae_rests_on_its_training_rows():
    """An audit (issue 17): TableVAE's latent conditioning fitted its mixture to every row given to fit, the
    validation rows included, where the CLI (and the README) use the training rows only; "(1 components)"."""
    from vaelab.data.split import indices

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"kind": np.where(np.arange(1000) % 80 == 0, "rare", "common"), "x": rng.normal(size=1000)})
    model = TableVAE(**TRAINED).fit(df)
    how = model.sample(50, given={"kind": "rare"}, temperature=0.55).attrs["generation"]  # sharper: rare is rarer
    assert how["method"] == "latent conditioning"
    in_train = int((df["kind"].iloc[indices(model.split_, "train")] == "rare").sum())
    assert in_train < (df["kind"] == "rare").sum()  # some rare rows are validation rows: the counts differ
    assert f"fitted to the codes of the {in_train} training rows that hold them" in how["text"]
    assert "(1 components)" not in how["text"]


def test_an_unfitted_or_misconfigured_table_vae_says_so():
    """An audit (issue 17): an unfitted TableVAE raised AttributeError: ... no attribute 'vae_'; categorical="region"
    was read as six columns 'r', 'e', ...; a misspelt setting (epoch=2) failed only at fit, in VAE's words."""
    from vaelab.errors import NotFittedError

    model = TableVAE(**FAST)
    for call in (lambda: model.sample(5), lambda: model.transform(_regions(20)),
                 lambda: model.log_likelihood(_regions(20)), lambda: model.schema):  # fmt: skip
        with pytest.raises(NotFittedError, match="call fit\\(df\\) first"):
            call()
    fitted = TableVAE(categorical="n_items", **FAST).fit(_regions(200))
    assert {c.name: c.kind for c in fitted.schema.columns}["n_items"] == "categorical"
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['epoch'\].*Check the spelling"):
        TableVAE(epoch=2)
    with pytest.raises(ConfigError, match="a name or a list of names; got 5"):
        TableVAE(categorical=5)


def test_given_holds_a_category_written_with_spaces_around_it():
    """A label such as ' padded ' is a category of its own, fixed as written (it was stripped and refused)."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"c": rng.choice([" padded ", "plain"], 300), "x": rng.normal(size=300)})
    rows = TableVAE(**FAST).fit(df).sample(20, given={"c": " padded "})
    assert set(rows["c"]) == {" padded "} and rows.attrs["generation"]["given"] == {"c": " padded "}


@pytest.mark.parametrize("values", [("007", "010", "123"), (" padded ", "plain")])
def test_a_conditional_model_keeps_its_condition_values_as_written(values):
    """TableVAE passed its condition values to VAE.fit as label names, which reads them as a label file's: stripped,
    and "007" as the integer 7; fit then failed choosing its temperature ("Unknown label(s) ['007', '010']; this model
    knows ['7', '10', '123']"). The CLI's table runs pass codes, and kept them."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"c": rng.choice(values, 200), "x": rng.normal(size=200)})
    model = TableVAE(condition=["c"], **FAST).fit(df)
    assert tuple(model.vae_.classes_) == tuple(sorted(values))
    assert set(model.sample(100, seed=1)["c"]) == set(values)
    rows = model.sample(10, given={"c": values[0]})
    assert set(rows["c"]) == {values[0]} and rows.attrs["generation"]["method"] == "conditional decoder"
    assert model.log_likelihood(df.head(5), n_samples=10).extra["reasons"] == [""] * 5


def test_the_auto_temperature_does_not_sharpen_on_a_difference_the_validation_rows_cannot_resolve():
    """An audit: 5 of 30 validation rows repeat a training row (0.167); T 1's draws do at 0.1406, T 0.55's at 0.1410,
    2 draws in 5,000 closer, and the closest share picked T 0.55. The validation share's 95% interval, [0.073, 0.336],
    holds T 1's share: T 1 is kept, and the text says why."""
    from vaelab.analysis.table_generation import choose_temperature

    frame = pd.DataFrame({"cell": ["seen", "new"]})
    tm = _Repeats(None, TableTransformer().fit(frame, infer_schema(frame)), ("cell",))
    tm.SHARE = {1.0: 0.1406, 0.85: 0.1408, 0.7: 0.139, 0.55: 0.141}
    val = pd.DataFrame({"cell": ["seen"] * 5 + ["new"] * 25})
    choice = choose_temperature(tm, SimpleNamespace(name="prior"), pd.DataFrame({"cell": ["seen"] * 10}), val,
                                n_draws=5000)  # fmt: skip
    assert choice.temperature == 1.0
    assert choice.validation_interval == pytest.approx([0.0734, 0.3356], abs=1e-4)
    assert "the highest T whose share lies in the validation share's 95% interval 7.34% to 33.56% wins" in choice.describe()


def test_the_temperature_text_shows_shares_that_decide_the_choice_apart():
    """Shares of 5,000 draws differ by 0.0002: at 3 decimals T 1's 0.1406 and T 0.55's 0.1410 both read 0.141, and the
    text said "the closest share wins, ties to the higher T" beside a choice of T 0.55 (an audit)."""
    from vaelab.analysis.table_generation import TemperatureChoice

    choice = TemperatureChoice(0.55, "aggregate-gmm", 5 / 30, {"1": 0.1406, "0.85": 0.1408, "0.7": 0.139, "0.55": 0.141},
                               30, 5000)  # fmt: skip
    assert "T 1: 14.06%, T 0.85: 14.08%, T 0.7: 13.90%, T 0.55: 14.10%; the closest share wins" in choice.describe()


def test_rows_holding_a_column_twice_or_lacking_a_condition_column_are_refused_clearly():
    """df[name] of a repeated name is a frame: scoring such rows raised AttributeError "'DataFrame' object has no
    attribute 'dtype'", and transform() of rows without a condition column a bare KeyError."""
    df = _regions(200)
    plain, cond = TableVAE(**FAST).fit(df), TableVAE(condition=["region"], **FAST).fit(df)
    twice = pd.concat([df.head(3), df.head(3)[["x"]]], axis=1)
    for score in (plain.log_likelihood, plain.transform, cond.log_likelihood, cond.transform):
        with pytest.raises(DataError, match=r"\['x'\] more than once"):
            score(twice)
    for score in (cond.log_likelihood, cond.transform):
        with pytest.raises(DataError, match=r"\['region'\] more than once"):
            score(pd.concat([df.head(3), df.head(3)[["region"]]], axis=1))
        with pytest.raises(DataError, match=r"lack the condition column\(s\) \['region'\]"):
            score(df.head(3).drop(columns=["region"]))


def test_given_as_col_equals_value_keeps_a_column_name_with_spaces_around_it():
    """--given ' padded col =x' names the column ' padded col ' (the longest column the item starts with); its name
    was stripped to 'padded col', which the table does not have."""
    from vaelab.analysis.table_generation import parse_given

    assert parse_given([" padded col =x", " region = north"], [" padded col ", "region"]) == {
        " padded col ": "x", "region": " north"}
    rng = np.random.default_rng(0)
    df = pd.DataFrame({" padded col ": rng.choice(["x", "y"], 200), "v": rng.normal(size=200)})
    rows = TableVAE(**FAST).fit(df).sample(10, given=[" padded col =x"])
    assert set(rows[" padded col "]) == {"x"}


def test_a_category_no_training_row_holds_is_never_drawn_and_is_flagged_when_scored():
    """An audit (issue 17): a Categorical's unused category (and a category only other splits hold) is a
    category of the schema the model never learns; its draws gave one in 28% of the rows after 3 epochs (8%
    after the CLI's 50), and a new row holding one was scored with no reason. Draws now take the row's other
    categories instead (from the decoder's own probabilities), and such a row says why it is unusual."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=400), "n": rng.integers(0, 5, 400),
                       "c": pd.Categorical(rng.choice(["a", "b"], 400), categories=["a", "b", "zz"])})  # fmt: skip
    model = TableVAE(**FAST).fit(df)
    tt = model.transformer_
    assert [tt.feature_names[i] for i in tt.absent_features()] == ["c=zz"]
    for temperature in (1.0, 0.5):
        rows = model.sample(3000, seed=1, temperature=temperature)
        assert not (rows["c"] == "zz").any() and set(rows["c"].cat.categories) == {"a", "b", "zz"}
        assert 0.2 < (rows["c"] == "a").mean() < 0.8  # the others are still drawn from the decoder
    # The model's own draws, before the redraw, do give it: the test can fail.
    from vaelab.analysis.samplers import decode

    z = np.random.default_rng(1).normal(size=(3000, FAST["latent_dim"])).astype(np.float32)
    assert (tt.inverse_transform(decode(model.vae_, z, mean=False, seed=2))["c"] == "zz").mean() > 0.05
    new = df.head(4).copy()
    new.loc[2, "c"] = "zz"
    checked = tt.check_rows(new)
    assert checked.reasons[2] == "c: in no training row: category 'zz' (a category of the column that no training row holds)"
    assert checked.reasons[0] == checked.reasons[1] == checked.reasons[3] == ""
    assert checked.observed is None  # still scored: a category the model knows, at its (low) probability
    meta, arrays = tt.state()
    again = TableTransformer.from_state(meta, arrays)
    np.testing.assert_array_equal(again.absent_features(), tt.absent_features())
    assert again.check_rows(new).reasons == checked.reasons


def test_given_a_category_no_training_row_holds_is_refused_at_once_with_what_it_is():
    """An audit: such a category is never drawn, so given= spent every rejection draw on it and then advised
    '--condition c' (condition= in Python), whose conditional decoder refuses it in turn ('no condition for it')."""
    from vaelab.errors import DataError

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=300),
                       "c": pd.Categorical(rng.choice(["a", "b"], 300), categories=["a", "b", "zz"])})  # fmt: skip
    model = TableVAE(**FAST).fit(df)
    with pytest.raises(DataError, match=r"^No training row holds c = zz .* never gives? it") as err:
        model.sample(10, given={"c": "zz"})
    assert "condition" not in str(err.value)
    assert model.transformer_.absent_categories("c") == ("zz",) and model.transformer_.absent_categories("x") == ()
    assert set(model.sample(10, given={"c": "b"})["c"]) == {"b"}


def test_table_vae_gives_validation_rows_of_an_untrained_condition_value_a_trained_one(monkeypatch):
    """A condition value only validation rows hold: TableVAE.fit gave those rows its untrained class in the validation
    loss that picks the best epoch, and the samplers' fits, where a run gives them the most frequent trained value
    (RunKind.given_trained; an audit, s11 c)."""
    import vaelab.table_vae as tv
    from vaelab.data.split import indices, split_assignment

    df = _regions(300)
    val = indices(split_assignment(len(df), 0.1, 0.0, 0), "val")
    df.loc[val[0], "region"] = "west"  # in the validation rows only
    fallback = df["region"].iloc[indices(split_assignment(len(df), 0.1, 0.0, 0), "train")].value_counts().idxmax()
    seen = {}
    fit_coded, fit_sampler = tv.VAE.fit_coded, tv.fit_sampler

    def spy_fit(self, X, y, classes):
        seen["fit"] = [classes[k] for k in y[val]]
        return fit_coded(self, X, y, classes)

    def spy_sampler(name, model, train, val_part, seed):
        seen["sampler"] = list(val_part.label_names())
        return fit_sampler(name, model, train, val_part, seed)

    monkeypatch.setattr(tv.VAE, "fit_coded", spy_fit)
    monkeypatch.setattr(tv, "fit_sampler", spy_sampler)
    model = TableVAE(condition=["region"], **FAST).fit(df)
    assert "west" not in seen["fit"] and seen["fit"][0] == fallback
    assert "west" not in seen["sampler"] and seen["sampler"][0] == fallback
    assert model.label_counts_["west"] == 0


def test_transform_encodes_rows_of_a_condition_only_held_out_rows_hold_given_the_trained_fallback():
    """An audit (s12 f): transform() encoded rows whose condition value only validation rows held with the model's
    class for it, which training never set, where fit, log_likelihood and a run give them the most frequent trained
    value; a value no fitted row holds is still refused."""
    from vaelab.data.split import indices, split_assignment

    df = _regions(300)
    val = indices(split_assignment(len(df), 0.1, 0.0, 0), "val")
    df.loc[val[:2], "region"] = "west"
    model = TableVAE(condition=["region"], **FAST).fit(df)
    fallback = max(model.label_counts_, key=model.label_counts_.get)
    rows = df.loc[val[:3]]
    given = rows.assign(region=[fallback, fallback, rows["region"].iloc[2]])
    np.testing.assert_array_equal(model.transform(rows), model.transform(given))
    assert not np.allclose(model.transform(rows.iloc[:1]), model.transform(rows.iloc[:1].assign(
        region=next(lab for lab in model.label_counts_ if lab not in (fallback, "west")))))  # fmt: skip
    # a value no fitted row holds, or none, is refused saying which row and what to do (a missing value was
    # "Unknown label(s) ['']")
    with pytest.raises(DataError, match=r"row 1 \(index \d+\) \(and 1 more row\(s\)\): condition region = 'east' not "
                                        r"seen in training; the training rows' are \['north', 'south'\]. Fix or drop"):
        model.transform(rows.assign(region=["north", "east", "east"]))
    with pytest.raises(DataError, match=r"row 0 \(index \d+\): condition region missing; .* Fix or drop"):
        model.transform(rows.assign(region=[None, "north", "south"]))


def test_check_gives_each_rows_reasons_as_vaelab_score_writes_them():
    """An audit (s13): transform() encodes a value out of range as it is, and a condition value only held-out rows hold
    as the most frequent trained one, without a word; `vaelab score` says so per row in its reason column. check(rows)
    gives those reasons (log_likelihood's extra["reasons"], the CLI's reading of a file) without scoring."""
    from vaelab.data.split import indices, split_assignment

    df = _regions(300)
    val = indices(split_assignment(len(df), 0.1, 0.0, 0), "val")
    df.loc[val[:2], "region"] = "west"
    model = TableVAE(condition=["region"], **FAST).fit(df)
    rows = df.loc[val[:3]].copy()
    rows.iloc[2, rows.columns.get_loc("x")] = 1e6
    reasons = model.check(rows)
    assert len(reasons) == 3 and all("condition region = 'west'" in r for r in reasons[:2])
    assert reasons[2].startswith("x: out of range: 1e+06 is")
    assert reasons == model.log_likelihood(rows, n_samples=3).extra["reasons"]
    assert model.check(df.loc[val[2:5]]) == ["", "", ""] and model.transform(rows).shape == (3, 2)
    with pytest.raises(DataError, match="lack the condition column"):
        model.check(rows.drop(columns="region"))
    with pytest.raises(Exception, match="needs a fitted model"):
        TableVAE().check(rows)


def test_the_auto_temperature_of_the_posterior_sampler_decodes_each_code_with_its_inputs_condition(monkeypatch):
    """Checked in s13 (an earlier audit's doubt): choosing the temperature for the posterior sampler of a conditional
    model decodes each training input's code with that input's own condition value, as sample() then draws."""
    model = TableVAE(condition=["region"], **FAST).fit(_regions(300))
    seen = []
    rows = TableModel.rows

    def spy(self, sampler, n, labels, seed, temperature):
        seen.append((n, list(labels)))
        return rows(self, sampler, n, labels, seed, temperature)

    monkeypatch.setattr(TableModel, "rows", spy)
    out = model.sample(7, sampler="posterior", seed=CHOICE_SEED)
    own = model._sampler("posterior", CHOICE_SEED).default_labels(5000)
    assert out.attrs["temperature"]["sampler"] == "posterior" and len(seen) > 1
    assert all(labels == list(own[:n]) for n, labels in seen)


def test_the_temperature_block_says_who_chose_it_in_a_key_not_named_like_given():
    """An audit (s13): attrs["temperature"]["given"] (true for the caller's T) read like --given, the columns a draw
    fixes. Kept (a contract), with "chosen_by" beside it saying the same plainly."""
    model = TableVAE(**FAST).fit(_regions(200))
    asked, auto = model.sample(3, temperature=0.7).attrs["temperature"], model.sample(3).attrs["temperature"]
    assert (asked["chosen_by"], asked["given"]) == ("caller", True)
    assert (auto["chosen_by"], auto["given"]) == ("auto", False)
    model.temperature_.pop("chosen_by")  # a choice stored before the key was written
    assert model.sample(3).attrs["temperature"]["chosen_by"] == "auto"


def test_missing_values_marks_cells_in_every_frame_the_model_reads_as_the_cli_does():
    """An audit (s15): TableVAE took no missing_values where vaelab train takes --missing-values, so a Python caller
    told of '?' cells had to clean the frame given to fit and every later one by hand (pandas' na_values). The markers
    are a setting now: the frame given to fit and every frame the model later reads (check, transform, log_likelihood)
    are read with them; the caller's frame is left as it is; a marker that is no text is refused."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=200).round(2).astype(object), "b": rng.choice(["x", "y"], 200),
                       "c": rng.integers(0, 50, 200).astype(float)})  # fmt: skip
    df.loc[[3, 4], "a"], df.loc[9, "a"], df.loc[11, "c"] = "?", "n.a.", -999.0
    with pytest.raises(DataError, match=r"read those cells as missing \(missing_values=\['\?', 'n\.a\.'\]\)") as err:
        TableVAE(**FAST).fit(df)
    assert err.value.setting == ("ignore", "categorical", "missing_values") and "--missing-values" not in str(err.value)
    model = TableVAE(missing_values=["?", "n.a.", "-999"], **FAST).fit(df)
    assert model.schema["a"].kind == "numeric" and model.schema["a"].has_missing and model.schema["c"].has_missing
    assert model.schema["c"].min == 0 and df.loc[3, "a"] == "?"  # -999 is no value; the caller's frame unchanged
    new = df.head(3).copy()
    new.loc[0, "a"], new.loc[1, "c"] = "?", -999.0
    assert model.check(new) == ["", "", ""]  # missing, as in training, not "not a numeric value"
    assert model.log_likelihood(new, n_samples=5).extra["reasons"] == ["", "", ""]
    np.testing.assert_allclose(model.transform(new)[0], model.transform(new.assign(a=[np.nan, *new["a"][1:]]))[0])
    for bad in (["?", 3], 3):
        with pytest.raises(ConfigError, match=r"missing_values=\['\?', 'n\.a\.'\]; got 3, which is no text"):
            TableVAE(missing_values=bad)
    assert TableVAE(missing_values=None).missing_values == () and TableVAE(missing_values="?").missing_values == ("?",)


def test_errors_of_fit_and_sample_name_python_settings_not_cli_flags():
    """An audit (s15): TableVAE.fit on one row said "lower --val-fraction/--test-fraction", and sample(given=) naming
    no column said "--given (given=) names ...": flags a Python caller has not. They are said in Python terms, which
    the CLI says as its flags (tests/test_cli.py)."""
    with pytest.raises(DataError) as err:
        TableVAE(**FAST).fit(pd.DataFrame({"a": [1.0], "b": ["x"]}))
    assert str(err.value).endswith("got 1 example(s) in all (n_samples = 1: 1 validation, 0 test). Provide more data or lower "
                                   "validation_fraction.")
    model = TableVAE(**FAST).fit(make_mixed_table(100, seed=0))
    for given, said in (({"nope": 1}, "given= names 'nope', which is not a column"),
                        (["city"], "given= takes COL=VALUE"),
                        (["city=Oslo", "city=Bergen"], "given= fixes 'city' twice")):
        with pytest.raises(ConfigError) as err:
            model.sample(3, given=given)
        assert str(err.value).startswith(said) and "--" not in str(err.value), str(err.value)


def test_condition_refusals_name_the_setting_as_each_caller_passes_it(tmp_path, capsys):
    """An audit (s15): TableVAE(condition=...).fit was refused with "--condition x: ... (declare whole-number codes
    --categorical x ...)", flags a Python caller has not. Python is told condition=['x'] and categorical=['x']; the CLI
    still says --condition x and --categorical x."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"region": rng.choice(["n", "s"], 120), "gap": rng.choice(["a", None], 120),
                       "x": rng.normal(size=120), "one": "same"})  # fmt: skip
    cases = {"x": "condition=['x']: 'x' is numeric; a table is conditioned on categorical or boolean columns (declare "
                  "whole-number codes categorical=['x'], or bin",
             "gap": "condition=['gap']: 'gap' has missing values", "zz": "condition= names ['zz'], which",
             "one": "condition=['one']: every row holds 'same'; a condition needs at least two values"}  # fmt: skip
    for column, said in cases.items():
        with pytest.raises((ConfigError, DataError)) as err:
            TableVAE(condition=column, **FAST).fit(df)
        assert str(err.value).startswith(said) and "--" not in str(err.value), str(err.value)
    from vaelab.cli import main

    df.to_csv(tmp_path / "t.csv", index=False)
    assert main(["train", str(tmp_path / "t.csv"), "--out", str(tmp_path / "r"), "--condition", "x", "--quiet"]) == 2
    assert "--condition x: 'x' is numeric" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "t.csv"), "--out", str(tmp_path / "r"), "--condition", "one", "--quiet"]) == 2
    assert "--condition one: every row holds 'same'" in capsys.readouterr().err
