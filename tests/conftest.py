"""Shared fixtures: small data made here or shipped by installed packages (no network)."""
import numpy as np
import pytest
from sklearn.datasets import load_digits

# Settings that make a model train in well under a second.
FAST = dict(latent_dim=2, hidden=[32], epochs=3, batch_size=32, device="cpu")


@pytest.fixture(scope="session")
def digits():
    """sklearn's 8x8 digits scaled to [0, 1]: 300 images (N, 64) and labels."""
    d = load_digits()
    return (d.data[:300] / 16.0).astype(np.float32), d.target[:300]


@pytest.fixture
def digits_npy(tmp_path, digits):
    """The digits as an (N, 1, 8, 8) .npy file and a labels file beside it."""
    X, y = digits
    path = tmp_path / "digits.npy"
    np.save(path, X.reshape(-1, 1, 8, 8))
    np.save(tmp_path / "labels.npy", y)
    return path


# ------------------------------------------------------------- small runs of every kind
TINY = ["--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--batch-size", "64", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """One 1-epoch run of each kind, trained once per session: {"image", "table", "series"} -> RUN.
    Treat them as read-only; copy one (``run_helpers.copy_tree``) to change it. Beside each run: its data
    (image: x.npy, y.npy; table: t.csv; series: s.csv and past.csv, the first 10 rows of one series)."""
    from sklearn.datasets import load_digits

    from vaelab.cli import main
    from vaelab.data.table_demo import make_mixed_table
    from vaelab.data.timeseries import make_sine_panel

    image, table, series = (tmp_path_factory.mktemp(k) for k in ("image", "table", "series"))
    d = load_digits()
    np.save(image / "x.npy", (d.data[:120] / 16).astype(np.float32).reshape(-1, 1, 8, 8))
    np.save(image / "y.npy", d.target[:120])
    make_mixed_table(150, seed=1).to_csv(table / "t.csv", index=False)
    df = make_sine_panel(n_series=2, length=40, n_features=2, seed=0)
    df.to_csv(series / "s.csv", index=False)
    df[df["id"] == 0].head(10).to_csv(series / "past.csv", index=False)
    for argv in (["train", image / "x.npy", "--labels", image / "y.npy", "--out", image / "run"],
                 ["train", table / "t.csv", "--out", table / "run", "--normalization", "standard"],
                 ["train", series / "s.csv", "--window", "6", "--horizon", "2", "--id", "id", "--time", "time",
                  "--out", series / "run"]):  # fmt: skip
        assert main([str(a) for a in argv] + TINY) == 0
    return {"image": image / "run", "table": table / "run", "series": series / "run"}
