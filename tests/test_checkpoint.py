"""The run directory: atomic writes, round trips, and clear errors on damaged or foreign folders."""
import json
import os

import numpy as np
import pytest
import torch

import vaelab
from vaelab.checkpoint import RunDir, atomic_write
from vaelab.errors import RunError
from tests.conftest import FAST


@pytest.fixture
def saved(tmp_path, digits):
    model = vaelab.VAE(**FAST).fit(digits[0])
    run = model.save(tmp_path / "run")
    return model, run


def test_save_load_round_trip_gives_the_same_model(saved, digits):
    model, run = saved
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "history.csv", "model.safetensors"]
    loaded = vaelab.load(run.path, device="cpu")
    X = digits[0][:20]
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    assert loaded.get_params()["hidden"] == [32]
    assert len(loaded.history_) == FAST["epochs"]


def test_files_are_written_atomically_and_failures_keep_the_old_file(tmp_path):
    path = tmp_path / "f.json"
    atomic_write(path, b"old")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temporary left behind
    with pytest.raises(RunError, match="Could not write .*previous f.json.*intact"):
        atomic_write(tmp_path / "missing-folder" / "f.json", b"new")
    assert path.read_bytes() == b"old"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_unwritable_folder_is_a_clear_error(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(RunError, match="Could not write"):
            atomic_write(tmp_path / "x", b"data")
    finally:
        tmp_path.chmod(0o700)


def test_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        vaelab.load(tmp_path / "nope")
    with pytest.raises(RunError, match="not a vaelab run: it has no config.json"):
        vaelab.load(tmp_path)
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"\x80\x04pickle")
    with pytest.raises(RunError, match="is a file, not a run folder.*never loads pickled.*adopt"):
        vaelab.load(pt)


def test_save_refuses_a_folder_holding_anything_it_does_not_write(saved, tmp_path):
    """VAE.save wrote into any folder: into a run vaelab train wrote it replaced config and weights and kept that run's
    metrics.json and split beside them (a report then showed the old model's numbers as this one's), and it scattered
    its files among a folder's others (an audit, s13). A folder an earlier VAE.save wrote is replaced as before."""
    model, run = saved
    mtime = {p.name: p.stat().st_mtime_ns for p in run.path.iterdir()}
    (run.path / "metrics.json").write_text("{}")  # as a trained run holds
    with pytest.raises(RunError, match="holds metrics.json, which VAE.save does not write"):
        model.save(run.path)
    assert {p.name: p.stat().st_mtime_ns for p in run.path.iterdir() if p.name != "metrics.json"} == mtime
    (run.path / "metrics.json").unlink()
    assert model.save(run.path).path == run.path  # its own save again: replaced
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "history.csv", "model.safetensors"]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.npy").write_bytes(b"")
    with pytest.raises(RunError, match="holds x.npy"):
        model.save(tmp_path / "data")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["x.npy"]


def test_truncated_weights_are_reported(saved):
    _, run = saved
    weights = run.file("model.safetensors")
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(RunError, match="model.safetensors is damaged"):
        vaelab.load(run.path)


def test_weights_from_another_model_are_reported(saved, tmp_path, digits):
    _, run = saved
    other = vaelab.VAE(**{**FAST, "latent_dim": 3}).fit(digits[0]).save(tmp_path / "other")
    run.file("model.safetensors").write_bytes(other.file("model.safetensors").read_bytes())
    with pytest.raises(RunError, match="do not fit the model its config describes"):
        vaelab.load(run.path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(format_version=99), r"run format 99; this vaelab .* reads format 1"),
        (lambda c: c.pop("format_version"), "no valid format_version"),
        (lambda c: c["model"].update(latent_dim=0), r"latent_dim must be an integer >= 1; got 0"),
        (lambda c: c["model"].update(prior="flow"), r"prior must be one of 'normal', 'mog', 'vamp'; got 'flow'"),
        (lambda c: c["train"].update(lr="fast"), r"lr must be a finite number > 0"),
        (lambda c: c["train"].update(surprise=1), r"unknown setting\(s\) \['surprise'\]"),
        (lambda c: c["model"].pop("input_shape"), r"lacks required setting\(s\) \['input_shape'\]"),
    ],
)
def test_config_is_validated_field_by_field(saved, edit, message):
    _, run = saved
    config = json.loads(run.file("config.json").read_text())
    edit(config)
    run.file("config.json").write_text(json.dumps(config))
    with pytest.raises(RunError, match=message):
        vaelab.load(run.path)


def test_config_that_is_not_json(saved):
    _, run = saved
    run.file("config.json").write_text("{not json")
    with pytest.raises(RunError, match="not valid JSON"):
        vaelab.load(run.path)


def test_train_state_round_trip_restores_adam_exactly(tmp_path, digits):
    from vaelab.config import ModelConfig, TrainConfig
    from vaelab.nn import build_vae
    from vaelab.train import fit

    X = torch.from_numpy(digits[0])
    module = build_vae(ModelConfig(input_shape=(64,), latent_dim=2, hidden=(8,)))
    state = fit(module, TrainConfig(epochs=2, device="cpu"), X)
    run = RunDir(tmp_path)
    run.write_train_state(state, module)
    back, current = run.read_train_state()
    assert (back.epoch, back.step, back.best_epoch) == (state.epoch, state.step, state.best_epoch)
    assert json.dumps(back.history) == json.dumps(state.history)  # NaN == NaN as text
    for k, v in module.state_dict().items():
        assert torch.equal(current[k], v)
    for pid, slots in state.optimizer["state"].items():
        for key, value in slots.items():
            assert torch.equal(back.optimizer["state"][pid][key], value)


def test_tensors_bytes_are_the_same_for_the_same_tensors_and_metadata():
    """safetensors writes metadata keys in a random order on every save (a Rust HashMap): a run
    file saved twice from the same state must still be the same bytes (model.safetensors has
    two keys, a series run's forecast.safetensors two, the caches three)."""
    import torch
    from safetensors.torch import load

    from vaelab.checkpoint import checksum, tensors_bytes
    from vaelab.files import safetensors_metadata

    tensors = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.ones(3, dtype=torch.float64)}
    meta = {"config": '{"a": 1}', "shape": "[12, 4, 2]", "seed": "0", "fingerprint": "ab" * 32, "ünï": "cödé"}
    blobs = {tensors_bytes(tensors, dict(reversed(list(meta.items())) if i % 2 else meta.items())) for i in range(20)}
    assert len(blobs) == 1
    raw = blobs.pop()
    stored = safetensors_metadata(raw)
    assert stored.pop("vaelab_sha256") == checksum(load(raw), meta)  # the checksum every read verifies
    assert stored == meta
    back = load(raw)
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in tensors)
