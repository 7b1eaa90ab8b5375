"""The generated mixed-type table: the structure its docstring promises, seeded."""
import pandas as pd

from vaelab.data.table_demo import make_mixed_table


def test_demo_table_has_the_promised_structure(table):
    assert table.dtypes.astype(str).to_dict() == {
        "score": "float64", "income": "float64", "age": "int64", "segment": "category",
        "city": "object", "member": "bool", "joined": "datetime64[ns]",
    }
    shares = table.isna().mean()
    assert ((shares > 0.04) & (shares < 0.11)).sum() >= 2
    assert 0.3 < (table["score"] < 0).mean() < 0.5  # the low mode holds ~40 %
    high_city = table["city"].isin(["Lyon", "Paris"])
    assert (high_city == (table["score"] > 0)).mean() > 0.8  # city follows the score
    pd.testing.assert_frame_equal(make_mixed_table(600, seed=0), table)
    assert not make_mixed_table(600, seed=1).equals(table)
