"""Data-parallel training: N gloo processes on the CPU compute what one process fed the same
global batches computes, write the run once, and resume with any number of processes."""
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from vaelab.distributed import World, world
from vaelab.errors import ConfigError
from vaelab.nn.vae import VAEModule, batch_shard
from vaelab.runs.train import train_run
from vaelab.runtime import seeded

TOLERANCE = 1e-5  # max |weight difference|; one Adam step moves weights by ~lr = 1e-3
# Tiny and fast; --batch-size 25 gives shards of 13 + 12 and, for the last batch of 15, 8 + 7.
SETTINGS = dict(latent_dim=2, hidden=[32], epochs=3, batch_size=25, device="cpu")


def _cli_options(settings: dict) -> list[str]:
    out = []
    for key, value in settings.items():
        out.append("--" + key.replace("_", "-"))
        out += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node=N -m vaelab train ...`` (the module form: torchrun may not be on PATH)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", "-m", "vaelab", "train", "--quiet", *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(name, None)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"torchrun failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def _max_difference(run_a, run_b) -> dict[str, float]:
    """Largest |a - b| over every tensor of the best weights and of the resume state (Adam moments too)."""
    out = {}
    for name in ("model.safetensors", "train_state.safetensors"):
        a, b = load_file(run_a / name), load_file(run_b / name)
        assert a.keys() == b.keys()
        out[name] = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    return out


needs_gloo = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="this PyTorch build has no torch.distributed with the gloo backend",
)


# ------------------------------------------------------------------ in-process pieces
def test_shards_cover_the_batch_in_order_and_a_rank_without_examples_gets_weight_zero():
    for n in (1, 2, 15, 25, 239):
        for size in (1, 2, 3, 4):
            parts = [World(rank, size).part(n) for rank in range(size)]
            held = [(a, b) for a, b, count in parts if count]
            assert [i for a, b in held for i in range(a, b)] == list(range(n))
            assert max(c for *_, c in parts) - min(c for *_, c in parts) <= 1
            assert all((a, b) == (0, 1) for a, b, count in parts if not count)


def test_world_comes_from_torchruns_environment(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert world() == World() and world().main and not world().active
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert (world().rank, world().size, world().local_rank, world().main) == (3, 4, 1, False)
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ConfigError, match="RANK must be an integer"):
        world()


def test_a_shard_draws_its_rows_of_the_whole_batchs_noise():
    mu, logvar = torch.zeros(10, 3), torch.zeros(10, 3)
    for n_samples in (None, 4):
        with seeded(0):
            whole = VAEModule.rsample(mu, logvar, n_samples)
        with seeded(0), batch_shard(3, 7, 10):
            part = VAEModule.rsample(mu[3:7], logvar[3:7], n_samples)
        assert torch.equal(part, whole[..., 3:7, :])


# ------------------------------------------------------------------ two gloo processes
@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, digits):
    """A 2-process run (3 epochs) and the data it trained on; shared: each launch takes seconds."""
    import numpy as np

    root = tmp_path_factory.mktemp("ddp")
    data = root / "digits.npy"
    np.save(data, digits[0].reshape(-1, 1, 8, 8))
    done = _torchrun(str(data), "--out", str(root / "ddp"), *_cli_options(SETTINGS))
    return root / "ddp", data, done


@needs_gloo
def test_two_processes_match_one_process_fed_the_same_global_batches(tmp_path, ddp_run):
    ddp, data, done = ddp_run
    assert done.stdout.count("run:") == 1 and done.stdout.count("test ELBO:") == 1  # rank 1 prints nothing
    one = train_run(data, tmp_path / "one", SETTINGS)  # one process: `vaelab train` with the same settings
    diff = _max_difference(ddp, tmp_path / "one")
    assert max(diff.values()) < TOLERANCE, diff
    # The tolerance means something: another seed ends far further away.
    train_run(data, tmp_path / "seed1", {**SETTINGS, "seed": 1})
    assert _max_difference(tmp_path / "seed1", tmp_path / "one")["model.safetensors"] > 100 * TOLERANCE

    metrics = json.loads((ddp / "metrics.json").read_text())
    assert metrics["training"]["epochs_run"] == 3
    assert metrics["test"]["elbo"] == pytest.approx(one.metrics["test"]["elbo"], rel=1e-5)
    history = (ddp / "history.csv").read_text().splitlines()
    assert len(history) == 4
    for row, expected in zip(history[1:], one.model.history_):
        train_loss, val_loss = float(row.split(",")[1]), float(row.split(",")[4])
        assert train_loss == pytest.approx(expected["train_loss"], rel=1e-5)
        assert val_loss == pytest.approx(expected["val_loss"], rel=1e-5)


@needs_gloo
def test_a_two_process_run_resumes_in_one_process(tmp_path, ddp_run):
    ddp, data, _ = ddp_run
    shutil.copytree(ddp, tmp_path / "two_then_one")
    resumed = train_run(None, tmp_path / "two_then_one", {"epochs": 5}, resume=True)
    whole = train_run(data, tmp_path / "whole", {**SETTINGS, "epochs": 5})
    assert resumed.metrics["training"]["epochs_run"] == 5
    diff = _max_difference(resumed.run.path, whole.run.path)
    assert max(diff.values()) < TOLERANCE, diff


@needs_gloo
def test_a_one_process_run_resumes_with_two(tmp_path, digits_npy):
    # 240 training examples in global batches of 239 and 1: on the last one rank 1 holds nothing.
    settings = {**SETTINGS, "batch_size": 239, "epochs": 2}
    train_run(digits_npy, tmp_path / "one_then_two", settings)
    _torchrun("--out", str(tmp_path / "one_then_two"), "--resume", "--epochs", "4")
    whole = train_run(digits_npy, tmp_path / "whole", {**settings, "epochs": 4})
    metrics = json.loads((tmp_path / "one_then_two" / "metrics.json").read_text())
    assert metrics["training"]["epochs_run"] == 4
    diff = _max_difference(tmp_path / "one_then_two", whole.run.path)
    assert max(diff.values()) < TOLERANCE, diff


@needs_gloo
@pytest.mark.parametrize("kind", ["table", "series"])
def test_two_processes_train_a_table_or_series_run_to_the_weights_of_one(tmp_path, kind):
    """Every kind of run trains under torchrun (one train_run): the same weights as one process,
    the kind's state written once; a series run's forecaster trains data-parallel too."""
    from vaelab.data.table_demo import make_mixed_table
    from vaelab.data.timeseries import make_sine_panel

    if kind == "table":
        source, options = tmp_path / "t.csv", {}
        make_mixed_table(400, seed=2).to_csv(source, index=False)
    else:
        source, options = tmp_path / "s.csv", {"window": 12, "horizon": 4, "id_column": "id", "time_column": "time"}
        make_sine_panel(n_series=4, length=120, n_features=2, seed=2).to_csv(source, index=False)
    cli = [f"--{k.removesuffix('_column')}" if k.endswith("_column") else f"--{k}" for k in options]
    flags = [str(part) for flag, value in zip(cli, options.values()) for part in (flag, value)]
    done = _torchrun(str(source), "--out", str(tmp_path / "two"), *flags, *_cli_options(SETTINGS))
    assert done.stdout.count("run:") == 1  # rank 1 prints nothing
    train_run(source, tmp_path / "one", SETTINGS, options=options)
    diff = _max_difference(tmp_path / "two", tmp_path / "one")
    assert max(diff.values()) < TOLERANCE, diff
    cfg = json.loads((tmp_path / "two" / "config.json").read_text())
    assert cfg["data"]["kind"] == kind
    if kind == "series":
        a, b = load_file(tmp_path / "two" / "forecast.safetensors"), load_file(tmp_path / "one" / "forecast.safetensors")
        assert max((a[k].double() - b[k].double()).abs().max().item() for k in a) < TOLERANCE
