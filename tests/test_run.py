"""A training run from a data source: the run directory, the split, test metrics, resume."""
import json
import os

import numpy as np
import pytest

import vaelab
from vaelab.errors import ConfigError, RunError
from vaelab.runs.train import train_run
from tests.conftest import FAST


class _StopAfter:
    """A progress callback that interrupts training after a given epoch, as Ctrl-C would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def __call__(self, event, info):
        if event == "epoch" and info["epoch"] == self.epoch:
            raise KeyboardInterrupt


def test_run_directory_is_complete(tmp_path, digits_npy):
    result = train_run(digits_npy, tmp_path / "run", FAST)
    names = {p.name for p in result.run.path.iterdir()}
    assert {"config.json", "model.safetensors", "history.csv", "metrics.json", "split.npy"} <= names
    metrics = json.loads(result.run.file("metrics.json").read_text())
    assert metrics["training"]["epochs_run"] == 3
    assert metrics["test"]["n_examples"] == 30 and metrics["test"]["elbo"] < 0
    assert metrics["test"]["elbo_stderr"] > 0
    history = result.run.file("history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,train_loss,train_reconstruction,train_kl,val_loss")
    assert len(history) == 4
    codes = np.load(result.run.file("split.npy"))
    assert np.bincount(codes).tolist() == [240, 30, 30]


def test_bernoulli_evaluation_data_is_binarized_once_with_the_seed(tmp_path, digits_npy):
    result = train_run(digits_npy, tmp_path / "run", FAST)
    config = json.loads(result.run.file("config.json").read_text())
    assert config["data"]["binarized_eval"] is True
    X = result.dataset.X[:10]
    model = result.model
    np.testing.assert_array_equal(model.model_input(X, evaluation=True).numpy(), model.model_input(X, evaluation=True).numpy())
    assert set(np.unique(model.model_input(X, evaluation=True).numpy())) <= {0.0, 1.0}


def test_interrupted_then_resumed_run_equals_an_uninterrupted_one(tmp_path, digits_npy):
    settings = {**FAST, "epochs": 6, "patience": 3}
    whole = train_run(digits_npy, tmp_path / "whole", settings)
    with pytest.raises(KeyboardInterrupt):
        train_run(digits_npy, tmp_path / "cut", settings, progress=_StopAfter(2))
    with pytest.raises(KeyboardInterrupt):  # interrupted a second time, after resuming once
        train_run(None, tmp_path / "cut", resume=True, progress=_StopAfter(4))
    resumed = train_run(None, tmp_path / "cut", resume=True)
    for name in ("model.safetensors", "train_state.safetensors"):
        a = whole.run.file(name).read_bytes()
        b = resumed.run.file(name).read_bytes()
        assert vaelab_weights(a) == vaelab_weights(b), name
    assert resumed.metrics["test"]["elbo"] == whole.metrics["test"]["elbo"]
    assert [r["train_loss"] for r in resumed.model.history_] == [r["train_loss"] for r in whole.model.history_]


def vaelab_weights(raw: bytes) -> dict:
    from safetensors.torch import load

    return {k: v.numpy().tobytes() for k, v in load(raw).items()}


def test_resume_can_extend_epochs_but_not_change_the_model(tmp_path, digits_npy):
    train_run(digits_npy, tmp_path / "run", FAST)
    more = train_run(None, tmp_path / "run", {"epochs": 5}, resume=True)
    assert more.metrics["training"]["epochs_run"] == 5
    with pytest.raises(ConfigError, match="; --latent-dim cannot change"):
        train_run(None, tmp_path / "run", {"latent_dim": 7}, resume=True)


def test_resume_refuses_other_labels_or_shares_and_takes_the_runs_own(tmp_path, digits_npy, digits, capsys):
    """An audit (s12 f): train --resume took --labels of another file, --label-column and --val-fraction /
    --test-fraction of other values and went on with the run's own, without a word. Each is refused unless it is the
    run's own (the same labels file by another path too)."""
    from vaelab.cli import main

    run = tmp_path / "run"
    train_run(digits_npy, run, {**FAST, "conditional": True}, labels=str(tmp_path / "labels.npy"))
    np.save(tmp_path / "other.npy", digits[1][::-1])
    base = ["train", str(digits_npy), "--out", str(run), "--resume", "--epochs", "4", "--quiet"]
    for extra, name in ((["--labels", str(tmp_path / "other.npy")], "labels"), (["--label-column", "y"], "label-column"),
                        (["--val-fraction", "0.2"], "val-fraction"),
                        (["--test-fraction", "0.3"], "test-fraction"),
                        # every one named as the flag typed (an audit, s14: "latent_dim, val-fraction cannot change")
                        (["--latent-dim", "7", "--val-fraction", "0.2"], "latent-dim, --val-fraction")):  # fmt: skip
        capsys.readouterr()
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert f"; --{name} cannot change." in err and err.count("\n") == 1, err
    relative = os.path.relpath(tmp_path / "labels.npy")
    assert main([*base, "--labels", relative, "--val-fraction", "0.1", "--test-fraction", "0.1"]) == 0
    assert json.loads((run / "metrics.json").read_text())["training"]["epochs_run"] == 4


def test_resume_refuses_changed_data(tmp_path, digits_npy):
    train_run(digits_npy, tmp_path / "run", FAST)
    X = np.load(digits_npy)
    np.save(digits_npy, X[::-1].copy())
    with pytest.raises(RunError, match="has changed since"):
        train_run(None, tmp_path / "run", resume=True)


def test_an_existing_run_is_not_overwritten(tmp_path, digits_npy):
    train_run(digits_npy, tmp_path / "run", FAST)
    with pytest.raises(RunError, match="already holds a run. Pass --resume"):
        train_run(digits_npy, tmp_path / "run", FAST)


def test_conditional_run_on_labels_from_a_file(tmp_path, digits_npy):
    result = train_run(digits_npy, tmp_path / "run", {**FAST, "conditional": True}, labels=str(tmp_path / "labels.npy"))
    loaded = vaelab.load(result.run.path)
    assert list(loaded.classes_) == [str(d) for d in range(10)]
    assert loaded.sample(4, y="7").shape == (4, 1, 8, 8)


def test_conditional_without_labels_is_a_clear_error(tmp_path, digits_npy):
    with pytest.raises(ConfigError, match="--conditional needs labels"):
        train_run(digits_npy, tmp_path / "run", {**FAST, "conditional": True})


def test_a_conditional_run_whose_class_only_held_out_examples_hold_is_refused_before_training(tmp_path, digits_npy,
                                                                                                digits):  # fmt: skip
    """An audit (s12 f): an image/vector run conditioned on labels of which one class fell only in the validation and
    test examples was trained, and its test ELBO, score, samplers and explore gave those examples the class's
    condition, which training never set, without a word. It is refused before anything is written, as a table run
    whose condition has fewer than two trained values is."""
    from vaelab.data.split import indices, split_assignment

    y = digits[1].copy()
    y[y == 9] = 8
    held = np.flatnonzero(split_assignment(len(y), 0.1, 0.1, 0) != 0)[:5]
    y[held] = 9  # class 9 only in held-out examples
    np.save(tmp_path / "held.npy", y)
    with pytest.raises(vaelab.errors.DataError, match=r"^--conditional: no training example holds class '9' \(5 held "
                                                      r"out\), only validation or test examples do.*another --seed"):
        train_run(digits_npy, tmp_path / "run", {**FAST, "conditional": True}, labels=str(tmp_path / "held.npy"))
    assert not (tmp_path / "run").exists()
    # Unconditioned, the labels only describe the examples: trained as before.
    assert train_run(digits_npy, tmp_path / "plain", FAST, labels=str(tmp_path / "held.npy")).metrics["test"]


def test_figures_of_a_conditional_image_run_with_named_classes(tmp_path, digits_npy, digits):
    """Reconstructions decode with each test image's class by name (not its code, which is no name here)."""
    from vaelab.report.figures import write_run_figures

    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    np.savetxt(tmp_path / "names.txt", names[digits[1]], fmt="%s")
    result = train_run(digits_npy, tmp_path / "run", {**FAST, "conditional": True}, labels=str(tmp_path / "names.txt"))
    written = {p.name for p in write_run_figures(result)}
    assert {"training_curves.png", "reconstructions.png", "prior_samples.png"} <= written


def test_the_run_records_the_cpu_threads_each_epoch_ran_with(tmp_path, digits_npy):
    """An audit (s13 g): another thread count sums in another order and moves the weights (~4e-7 after one epoch of a
    conv model), so the same seed repeats the same weights only with the same count: the run records it."""
    import torch

    before = torch.get_num_threads()
    other = 2 if before == 1 else 1
    result = train_run(digits_npy, tmp_path / "run", {**FAST, "epochs": 2})
    history = result.run.file("history.csv").read_text().splitlines()
    assert history[0].endswith(",seconds,threads") and all(row.endswith(f",{before}") for row in history[1:])
    assert result.metrics["training"]["threads"] == [before]
    torch.set_num_threads(other)
    try:
        resumed = train_run(None, tmp_path / "run", {"epochs": 3}, resume=True)
    finally:
        torch.set_num_threads(before)
    assert resumed.metrics["training"]["threads"] == sorted({before, other})
    assert resumed.run.file("history.csv").read_text().splitlines()[-1].endswith(f",{other}")
