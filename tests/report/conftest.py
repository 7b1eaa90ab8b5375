"""Runs for the report tests: one with every analysis done (through the CLI), one only trained."""
import numpy as np
import pytest

from vaelab.cli import main

FAST_CLI = ["--hidden", "32", "--batch-size", "32", "--device", "cpu", "--quiet"]


def _train(folder, digits, *options):
    X, y = digits
    np.save(folder / "x.npy", X.reshape(-1, 1, 8, 8))
    np.save(folder / "y.npy", y)
    run = folder / "run"
    argv = ["train", str(folder / "x.npy"), "--labels", str(folder / "y.npy"), "--out", str(run), *FAST_CLI, *options]
    assert main(argv) == 0
    return run


@pytest.fixture(scope="session")
def full_run(tmp_path_factory, digits):
    """A labelled 8x8-image run on which every analysis the report shows has run."""
    folder = tmp_path_factory.mktemp("report_full")
    run = _train(folder, digits, "--latent-dim", "3", "--epochs", "5")
    for argv in (["score", str(run), "--n-samples", "20", "--quiet"],
                 ["anomaly-eval", str(run), "--outliers", str(folder / "x.npy"), "--n-samples", "10", "--quiet"],
                 ["inspect", str(run)],
                 ["compare-samplers", str(run), "--samplers", "prior", "aggregate-gmm", "--n", "60"],
                 ["explore", str(run), "traverse"],
                 ["explore", str(run), "grid", "--n", "5"],
                 ["explore", str(run), "interpolate", "0", "1", "--steps", "5"],
                 ["explore", str(run), "arithmetic", "0", "1", "--n-samples", "10"],
                 ["report", str(run)]):  # fmt: skip
        assert main(argv) == 0, argv
    return run


@pytest.fixture(scope="session")
def bare_run(tmp_path_factory, digits):
    """A run that was only trained: most report sections have not run."""
    run = _train(tmp_path_factory.mktemp("report_bare"), digits, "--latent-dim", "2", "--epochs", "2")
    assert main(["report", str(run)]) == 0
    return run
