"""vaelab.TableVAE in memory: densities in the rows' own units, new rows, conditional sampling."""
import numpy as np
import pytest

from vaelab import TableVAE
from vaelab.data.table_demo import make_mixed_table

FAST = dict(epochs=2, latent_dim=2, hidden=[16], device="cpu", seed=0)


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
