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
