"""The column-space figures of table runs, on constructed rows."""
from types import SimpleNamespace

import numpy as np

from vaelab.data.table_transformer import ColumnValues
from vaelab.report.table_figures import arithmetic_rows_figure


def _cells(fig) -> dict[tuple[int, int], str]:
    return {k: c.get_text().get_text() for k, c in fig.axes[0].tables[0].get_celld().items()}


def test_arithmetic_rows_show_the_rows_themselves_and_no_percentiles_for_a_sum_of_encodings():
    """An audit (issue 17): the table figure showed E[x|z] as rows a and b, and percentiles for data-space a ± b,
    which its own verdict calls no row."""
    results = [SimpleNamespace(name=n, space=s, latent_percentile=p, log_px_percentile=p)
               for n, s, p in [("a", "input", 50.0), ("b", "input", 40.0), ("z_a + z_b", "latent", 20.0),
                               ("a + b (data space)", "data", 99.0)]]  # fmt: skip
    decoded = [ColumnValues("x", "numeric", np.array([1.5, 2.5, 4.0, 3.9]), sd=1.0)]
    rows = [ColumnValues("x", "numeric", np.array([1.0, 3.0]), sd=1.0)]
    cells = _cells(arithmetic_rows_figure(SimpleNamespace(results=results), decoded, rows))
    labels = [cells[(i, -1)] for i in range(1, 7)]
    assert labels == ["a (the row)", "b (the row)", "a: E[x|z]", "b: E[x|z]", "z_a + z_b", "a + b (data space)"]
    assert [cells[(i, 0)] for i in (1, 2, 3)] == ["1", "3", "1.5"]
    assert cells[(5, 1)] == "20.0" and cells[(6, 1)] == cells[(6, 2)] == "—"
