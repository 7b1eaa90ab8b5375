"""Table schema: kinds, overrides, JSON round trip and its checks, describe, unusable tables."""
import json

import numpy as np
import pandas as pd
import pytest

from vaelab.data.table_schema import ColumnSpec, TableSchema, infer_schema
from vaelab.errors import ConfigError, DataError


# ------------------------------------------------------------------- inference


def test_infer_schema_finds_each_kind(table):
    schema = infer_schema(table)
    assert schema.kinds == {
        "score": "numeric", "income": "numeric", "age": "numeric", "segment": "categorical",
        "city": "categorical", "member": "boolean", "joined": "datetime",
    }
    seg, city = schema["segment"], schema["city"]
    assert seg.categories == ("low", "mid", "high") and seg.ordered and seg.has_missing
    assert city.categories == ("Bergen", "Lyon", "Oslo", "Paris") and not city.ordered and not city.has_missing
    assert schema["age"].integer and (schema["age"].min, schema["age"].max) == (18, 90)
    assert not schema["score"].integer
    assert [c.name for c in schema if c.has_missing] == ["income", "segment", "joined"]
    assert schema["joined"].datetime_unit == "h"
    assert 0.04 < schema["income"].missing_share < 0.11


def test_bad_override_names_and_kinds_raise_config_error(table):
    with pytest.raises(ConfigError, match=r"'regoin'.*its columns are \['score', 'income'"):
        infer_schema(table, categorical=("regoin",))
    with pytest.raises(ConfigError, match="did you mean 'city'"):
        infer_schema(table, ignore=("citty",))
    with pytest.raises(ConfigError, match="both categorical and numeric"):
        infer_schema(table, categorical=("age",), numeric=("age",))
    with pytest.raises(ConfigError, match="max_integer_categories"):
        infer_schema(table, max_integer_categories=-1)
    schema = infer_schema(table)
    with pytest.raises(ConfigError, match="'nope'"):
        schema.override(nope="numeric")
    with pytest.raises(ConfigError, match="Unknown kind"):
        schema.override(age="ordinal")


def test_empty_and_unusable_tables_are_refused():
    with pytest.raises(DataError, match="empty"):
        infer_schema(pd.DataFrame())
    with pytest.raises(DataError, match=r"empty \(0 rows x 2 columns\)"):
        infer_schema(pd.DataFrame({"a": [], "b": []}))
    with pytest.raises(DataError, match="Expected a pandas DataFrame"):
        infer_schema(np.zeros((3, 2)))
    ids = pd.DataFrame({"id": [f"u{i}" for i in range(60)], "gone": [np.nan] * 60, "x": np.arange(60.0)})
    with pytest.raises(DataError) as err:
        infer_schema(ids)
    assert "'gone' is entirely missing" in str(err.value) and "'id' holds a different value" in str(err.value)
    assert infer_schema(ids, ignore=("id", "gone")).names == ("x",)
    assert infer_schema(ids, categorical=("id",), ignore=("gone",)).kinds["id"] == "categorical"
    with pytest.raises(DataError, match="must hold numbers but row 0 holds text that is not a number") as err:
        infer_schema(ids, numeric=("id",), ignore=("gone",))
    assert "u0" not in str(err.value)  # a private table's cells are never echoed
    with pytest.raises(DataError, match=r"'x' holds numbers \(float64\), not dates.*unit='s'"):
        infer_schema(ids, datetime=("x",), ignore=("id", "gone"))


def test_a_column_of_complex_numbers_is_refused_not_cut_to_its_real_parts():
    """complex128 is a numeric dtype: the column was read as float64, which kept the real parts and dropped the
    imaginary ones without a word (samples came back as x+0j)."""
    df = pd.DataFrame({"z": np.arange(30.0) + 1j, "x": np.arange(30.0)})
    with pytest.raises(DataError, match=r"column 'z' holds complex numbers \(complex128\).*df\['z_im'\]"):
        infer_schema(df)
    with pytest.raises(DataError, match="complex numbers"):
        infer_schema(df, numeric=("z",))


def test_a_categorical_of_intervals_is_refused_before_training_with_the_way_out():
    """pd.cut's intervals are categories whose text does not read back as intervals: TableVAE.fit trained, then
    failed choosing its temperature with "the schema is damaged". Refused at the schema; the advice works."""
    from vaelab.data.table_transformer import TableTransformer

    df = pd.DataFrame({"band": pd.cut(np.linspace(0, 1, 40), 4), "x": np.linspace(0, 1, 40)})
    with pytest.raises(DataError, match=r"'band' is a Categorical of interval\[float64, right\] values.*"
                                        r"rename_categories\(str\)"):
        infer_schema(df)
    df["band"] = df["band"].cat.rename_categories(str)
    tt = TableTransformer("standard").fit(df)
    back = tt.inverse_transform(tt.transform(df))
    assert list(back["band"].cat.categories) == list(df["band"].cat.categories) and back["band"].equals(df["band"])


def test_the_cli_advice_quotes_a_column_name_the_shell_would_split():
    """A CSV whose rows end in a comma has an empty column pandas calls 'Unnamed: 3': the advice "--ignore Unnamed: 3"
    passed two names to the shell ('Unnamed:' and '3') and was refused in turn. Names that need it are quoted.
    The advice is in Python terms (DataError.setting), which the CLI says as the flags (an audit, s14: both inline)."""
    from vaelab.cli import _command_parser, _named_as_typed, build_parser

    df = pd.DataFrame({"x": np.arange(60.0), "Unnamed: 3": np.nan, "user id": [f"u{i}" for i in range(60)]})
    with pytest.raises(DataError) as err:
        infer_schema(df)
    text = str(err.value)
    assert "pass ignore=['Unnamed: 3']" in text and "ignore=['user id']" in text and "categorical=['user id']" in text
    assert "--ignore" not in text and "--categorical" not in text
    parser = build_parser()
    said = _named_as_typed(_command_parser(parser, parser.parse_args(["train", "t.csv", "--out", "o"])), err.value)
    assert "pass --ignore 'Unnamed: 3';" in said and "pass --ignore 'user id' to" in said, said
    assert "or --categorical 'user id' to model" in said and "=[" not in said, said


# ----------------------------------------------------------- JSON and describe


def test_schema_dict_round_trip_and_describe(table):
    schema = infer_schema(table)
    again = TableSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema
    with pytest.raises(ConfigError, match="kind must be one of"):
        ColumnSpec("a", "ordinal", "int64")
    text = schema.describe()
    for c in table.columns:
        assert c in text
    assert "3 categories (ordered)" in text and "missing flag" in text and "standardized" in schema.describe("standard")
    assert len(text.splitlines()) == 2 + len(schema)


@pytest.mark.parametrize("damage, message", [
    (lambda d: d.pop("columns"), "'columns' must be a non-empty list"),
    (lambda d: d["columns"][0].update(kind="ordinal"), r"column 0 \('score'\): 'kind' must be one of"),
    (lambda d: d["columns"][0].update(dtype="int65"), "'int65' is not a pandas dtype"),
    (lambda d: d["columns"][0].update(min="low"), "'min' must be a finite number"),
    (lambda d: d["columns"][3].update(categories="low"), "'categories' must be a non-empty list of strings"),
    (lambda d: d["columns"][3].update(ordered="yes"), "'ordered' must be true or false"),
    (lambda d: d["columns"][1].update(colour="red"), r"unknown key\(s\) \['colour'\]"),
    (lambda d: d.update(version=99), "version 99"),
])
def test_schema_from_dict_checks_each_field(table, damage, message):
    d = infer_schema(table).to_dict()
    damage(d)
    with pytest.raises(ConfigError, match=message):
        TableSchema.from_dict(d)


def test_numbers_with_a_few_junk_cells_are_diagnosed_as_such():
    """A column of numbers with junk text in two cells ('?', 'unknown') is neither an ID nor text to declare
    categorical: the message says which rows hold what, and to make those cells empty."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"a": rng.normal(size=300).astype(object), "b": rng.choice(["x", "y"], 300)})
    df.loc[5, "a"], df.loc[6, "a"] = "?", "unknown"
    expected = (r"column 'a' holds numbers except in 2 of its 300 filled rows \(row 5: '\?', row 6: 'unknown'\); "
                r"to model it as numeric, read those cells as missing \(missing_values=\['\?', 'unknown'\]\) or make "
                r"them empty")
    with pytest.raises(DataError, match=expected + r".*ignore=\['a'\] to leave it out if it is an ID") as err:
        infer_schema(df)
    assert "an ID?" not in str(err.value)
    with pytest.raises(DataError, match=expected + r".*declare it categorical if its values are labels") as err:
        infer_schema(df, numeric=("a",))
    assert "row 5 holds text" not in str(err.value)
    df.loc[7:12, "a"] = ["n.a."] * 6  # more than SHOWN_CELLS are counted, not quoted
    with pytest.raises(DataError, match=r"in 8 of its 300 filled rows \(row 5: '\?', row 6: 'unknown', row 7: "
                                        r"'n\.a\.', and 5 more\)"):  # fmt: skip
        infer_schema(df, numeric=("a",))
    df.loc[5:12, "a"] = np.nan
    assert infer_schema(df).kinds["a"] == "numeric"
    # A marker repeated, or numbers repeated, made the cells no longer all distinct: the column was then trained as
    # hundreds of categories without a word (an audit). Codes beside a label ('other') stay a categorical column.
    df.loc[[3, 9, 40], "a"] = "?"
    df.loc[50:60, "a"] = 1.5
    with pytest.raises(DataError, match=r"column 'a' holds numbers except in 3 of its 293 filled rows \(row 3: '\?', "
                                        r"row 9: '\?', row 40: '\?'\).*categorical=\['a'\] if its values are labels"):  # fmt: skip
        infer_schema(df)
    codes = pd.DataFrame({"c": rng.choice(["1", "2", "3", "other"], 300), "b": rng.choice(["x", "y"], 300)})
    assert infer_schema(codes).kinds["c"] == "categorical"


def test_a_column_of_durations_is_refused_with_how_to_make_it_numbers():
    """An audit (issue 17): timedelta64 columns were taken as categories, one per distinct duration (274 of them
    in 300 rows of seconds): no kind writes durations back, so they are refused with the conversion to seconds,
    unless declared categorical."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"d": pd.to_timedelta(rng.integers(0, 3600, 300), unit="s"), "x": rng.normal(size=300)})
    with pytest.raises(DataError, match=r"column 'd' holds durations \(timedelta64.*df\['d'\] = df\['d'\]"
                                        r"\.dt\.total_seconds\(\)"):
        infer_schema(df)
    with pytest.raises(DataError, match="holds durations"):
        infer_schema(df, numeric=("d",))
    few = pd.DataFrame({"d": pd.to_timedelta(rng.integers(0, 3, 300), unit="h"), "x": rng.normal(size=300)})
    assert infer_schema(few, categorical=("d",))["d"].kind == "categorical"


def test_the_row_index_pandas_writes_with_to_csv_is_left_out_and_said(tmp_path):
    """An audit (issue 17): a CSV written with df.to_csv() (index included) gave its row numbers to the model as a
    numeric column 'Unnamed: 0'. It is now left out, with a note, unless its kind is declared; a column of whole
    numbers under a header name of its own, or one that repeats a value, is data."""
    from vaelab.data.sources import read_table

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=50), "k": rng.choice(["a", "b"], 50)})
    df.sample(frac=1.0, random_state=0).to_csv(tmp_path / "t.csv")  # a shuffled frame: its index out of order
    read = read_table(tmp_path / "t.csv")
    schema = infer_schema(read)
    assert schema.names == ("x", "k") and schema.ignored == ("Unnamed: 0",)
    assert any("row index pandas writes with to_csv()" in n for n in schema.notes)
    # said in both syntaxes: a note has no setting for the CLI to say as its flag (an audit: Python read "--numeric")
    assert any("numeric=['Unnamed: 0'] in Python, --numeric 'Unnamed: 0' on the command line" in n for n in schema.notes), schema.notes
    assert "Unnamed: 0" in infer_schema(read, numeric=("Unnamed: 0",)).names
    df.to_csv(tmp_path / "named.csv", index_label="row")
    assert "row" in infer_schema(read_table(tmp_path / "named.csv")).names
    repeated = read.copy()
    repeated["Unnamed: 0"] = np.arange(50) // 2
    assert "Unnamed: 0" in infer_schema(repeated).names


def test_missing_values_written_as_text_are_noted_with_what_reads_them_as_missing():
    """An audit (s15): df[c].astype(str) (pandas before 3.0) writes NaN as 'nan' and None as 'None'; from a Parquet file
    or a DataFrame those cells are categories, and the schema listed them among the others without a word. A note
    names them and what reads them as missing; a column without such text has none."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"city": rng.choice(["oslo", "bergen", "nan", "None"], 200).astype(object),
                       "k": rng.choice(["1.0", "2.0", "nan"], 200).astype(object), "x": rng.normal(size=200),
                       "plain": rng.choice(["a", "b"], 200)})  # fmt: skip
    notes = infer_schema(df).notes
    assert len(notes) == 2 and all("astype(str)" in n for n in notes)
    n_nan, n_none = int((df["city"] == "nan").sum()), int((df["city"] == "None").sum())
    assert notes[0] == (f"column 'city' holds 'nan' ({n_nan} cells), 'None' ({n_none} cells) as categories, the text "
                        "pandas' astype(str) writes for a missing value; if they are missing values, read them so "
                        "(missing_values=['nan', 'None'] in Python, --missing-values nan None on the command line)")
    assert notes[1].startswith("column 'k' holds 'nan' (") and "missing_values=['nan'] in Python" in notes[1]
    assert "note: column 'city' holds 'nan'" in infer_schema(df).describe()
    assert infer_schema(df[["plain", "x"]]).notes == ()


def test_a_pyarrow_backed_boolean_with_a_missing_value_is_read():
    """An audit (s15): a DataFrame read with dtype_backend="pyarrow" (pd.read_parquet, pd.read_csv, convert_dtypes)
    whose bool[pyarrow] column held a missing value ended TableVAE.fit in pyarrow's ArrowInvalid traceback ("Could not
    convert 0.0 with type float: tried to convert to boolean")."""
    df = pd.DataFrame({"member": [True, None, False, True] * 10, "x": np.arange(40.0)})
    df = df.convert_dtypes(dtype_backend="pyarrow")
    assert str(df["member"].dtype) == "bool[pyarrow]"
    spec = infer_schema(df)["member"]
    assert spec.kind == "boolean" and spec.has_missing
    from vaelab.data.table_schema import bool_values

    values, missing = bool_values(df["member"], "member")
    assert values.tolist()[:4] == [1.0, 0.0, 0.0, 1.0] and missing.tolist()[:4] == [False, True, False, False]


def test_numbers_stored_as_text_one_per_row_are_offered_numeric_not_only_called_an_id(tmp_path, capsys):
    """An audit (s15): a Parquet column of decimals stored as text ('0.5', '12.25'), each row's its own, was refused as
    "a different value in each of its rows (an ID?)" with ignore= and categorical= as the ways on, never numeric=,
    which models them. Text that is not numbers is still an ID; the CLI says numeric= as --numeric."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"n": [f"{v:.6f}" for v in rng.normal(size=80)], "id": [f"u{i}" for i in range(80)],
                       "x": rng.normal(size=80)})  # fmt: skip
    with pytest.raises(DataError) as err:
        infer_schema(df)
    said = str(err.value)
    assert ("column 'n' holds numbers written as text, a different one in each of its 80 rows; pass numeric=['n'] to "
            "model them as numbers, ignore=['n'] to leave it out if it is an ID, or categorical=['n']") in said
    assert "column 'id' holds a different value in each of its 80 rows (an ID?)" in said
    assert err.value.setting == ("ignore", "categorical", "missing_values", "numeric")
    assert infer_schema(df, numeric=["n"], ignore=["id"])["n"].kind == "numeric"
    from vaelab.cli import main

    df.to_parquet(tmp_path / "t.parquet", index=False)
    assert main(["train", str(tmp_path / "t.parquet"), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "pass --numeric n to model them as numbers, --ignore n to leave it out if it is an ID" in err, err
    # repeated numbers written as text (not an ID) train as categories, as Parquet text does, and a note says so;
    # zero-padded codes get no such note
    rep = pd.DataFrame({"n": [f"{v:.1f}" for v in rng.normal(size=200)], "zip": [f"0{i % 40:04d}" for i in range(200)],
                        "x": rng.normal(size=200)})  # fmt: skip
    schema = infer_schema(rep)
    assert schema["n"].kind == "categorical" and len(schema.notes) == 1, schema.notes
    assert schema.notes[0] == (f"column 'n' holds numbers written as text ({len(schema['n'].categories)} distinct), "
                               "modelled as categories; to model them as numbers, declare them numeric "
                               "(numeric=['n'] in Python, --numeric n on the command line)")
