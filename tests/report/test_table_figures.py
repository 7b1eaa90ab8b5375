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


def test_a_category_keeps_its_colour_in_every_panel():
    """An audit: the categories were drawn most probable first, so True was blue in one traversal row and orange in
    the next."""
    from types import SimpleNamespace

    from vaelab.report.table_figures import traversal_columns_figure

    flag = lambda p: ColumnValues("flag", "boolean", labels=("False", "True"), probs=np.c_[1 - p, p])  # noqa: E731
    views = [[flag(np.array([0.9, 0.8, 0.7]))], [flag(np.array([0.1, 0.2, 0.3]))]]  # True most probable, then False
    tr = SimpleNamespace(offsets=np.array([-1.0, 0.0, 1.0]), dims=[0, 1], kl=[None, None], centred=False)
    fig = traversal_columns_figure(tr, views)
    colours = [{ln.get_label(): ln.get_color() for ln in ax.get_lines()} for ax in fig.axes]
    assert colours[0] == colours[1] and colours[0]["True"] != colours[0]["False"]


def test_the_grid_of_a_category_has_one_colour_slot_per_category_shown():
    """An audit: the map's colour bar showed all ten tab10 slots for three labels."""
    from types import SimpleNamespace

    from vaelab.report.table_figures import grid_columns_figure

    n = 3
    probs = np.zeros((n * n, 4))
    probs[np.arange(n * n), [0, 0, 2, 2, 3, 3, 0, 2, 3]] = 1.0  # categories 0, 2 and 3 win somewhere; 1 nowhere
    col = ColumnValues("region", "categorical", labels=("e", "n", "s", "w"), probs=probs)
    g = SimpleNamespace(quantiles=np.arange(n), dims=(0, 1), values=[np.linspace(-1, 1, n)] * 2)
    fig = grid_columns_figure(g, [col])
    bar = [ax for ax in fig.axes if ax.get_title() == ""][0]
    assert [t.get_text() for t in bar.get_yticklabels()] == ["e", "s", "w"]


def test_a_column_without_a_value_on_one_side_draws_without_a_warning():
    """An audit (s11 a): synthetic rows whose numeric column is all missing made numpy warn "invalid value encountered
    in divide" on stderr during evaluate-synthetic (the density of no values); that side now draws nothing."""
    import warnings

    import numpy as np
    import pandas as pd

    from vaelab.report.synthetic_figures import column_marginals

    real = pd.DataFrame({"x": np.random.default_rng(0).normal(size=50), "d": pd.date_range("2020-01-01", periods=50)})
    synth = pd.DataFrame({"x": [np.nan] * 10, "d": [pd.NaT] * 10})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = column_marginals(real, synth, {"x": "numeric", "d": "datetime"})
    assert [len(ax.patches) for ax in fig.axes[:2]] == [30, 30]  # the real histogram alone in each
