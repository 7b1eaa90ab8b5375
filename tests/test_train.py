"""The training loop: loss goes down, seeds reproduce, warm-up, early stopping, NaN handling."""
import math

import pytest
import torch

from vaelab.config import ModelConfig, TrainConfig
from vaelab.errors import TrainingError
from vaelab.nn import VAEModule, build_vae
from vaelab.train import fit
from vaelab.runtime import seeded


def _setup(X, seed=0, **train):
    with seeded(seed):
        module = build_vae(ModelConfig(input_shape=(64,), latent_dim=2, hidden=(32,)))
    cfg = TrainConfig(**{"epochs": 3, "batch_size": 32, "device": "cpu", "seed": seed, **train})
    return module, cfg


def test_training_reduces_the_loss(digits):
    X = torch.from_numpy(digits[0])
    module, cfg = _setup(X, epochs=8)
    state = fit(module, cfg, X[:250], X_val=X[250:])
    history = state.history
    assert len(history) == 8
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 5
    assert history[-1]["val_loss"] < history[0]["val_loss"]


def test_same_seed_same_weights_other_seed_other_weights(digits):
    X = torch.from_numpy(digits[0])
    weights = []
    for seed in (0, 0, 1):
        module, cfg = _setup(X, seed=seed)
        fit(module, cfg, X[:250], X_val=X[250:], dynamic_binarize=True)
        weights.append(torch.cat([p.flatten() for p in module.parameters()]))
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])


def test_caller_rng_is_left_alone(digits):
    X = torch.from_numpy(digits[0])
    module, cfg = _setup(X, epochs=1)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(module, cfg, X[:250])
    assert torch.equal(torch.rand(3), expected)


def test_warmup_raises_beta_linearly_to_its_target(digits):
    X = torch.from_numpy(digits[0])
    module, cfg = _setup(X, epochs=4, warmup_epochs=2, beta=0.5)
    state = fit(module, cfg, X[:256])
    betas = [row["beta"] for row in state.history]  # beta at each epoch's last step
    assert betas[0] == pytest.approx(0.25)
    assert betas[1:] == [0.5, 0.5, 0.5]


def test_early_stopping_restores_the_best_weights(digits):
    X = torch.from_numpy(digits[0])
    module, cfg = _setup(X, epochs=40, patience=2, lr=3e-2)
    state = fit(module, cfg, X[:250], X_val=X[250:])
    assert state.stopped_early and state.epoch < 40
    assert state.epoch - state.best_epoch == 2
    best = min(row["val_loss"] for row in state.history)
    assert state.history[state.best_epoch - 1]["val_loss"] == best
    for name, value in module.state_dict().items():
        assert torch.equal(value, state.best_weights[name])


def test_non_finite_loss_stops_with_advice_and_keeps_the_last_good_weights(digits, monkeypatch):
    X = torch.from_numpy(digits[0])
    module, cfg = _setup(X, epochs=5)
    calls = {"n": 0}
    real_loss = VAEModule.loss

    def poisoned(self, *a, **k):
        out = real_loss(self, *a, **k)
        calls["n"] += 1
        # Calls per epoch: ceil(250 / 32) = 8 batches + 1 validation pass; go wrong in epoch 3.
        return out._replace(loss=out.loss * math.nan) if calls["n"] > 2 * 9 + 3 else out

    monkeypatch.setattr(VAEModule, "loss", poisoned)
    epochs_seen = []
    with pytest.raises(TrainingError, match=r"NaN or infinite in epoch 3.*epoch 2.*--lr"):
        fit(module, cfg, X[:250], X_val=X[250:], on_epoch=lambda st, m: epochs_seen.append(st.epoch))
    assert epochs_seen == [1, 2]
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_iwae_objective_trains(digits):
    X = torch.from_numpy(digits[0])
    module, cfg = _setup(X, epochs=3, iw_samples=4)
    state = fit(module, cfg, X[:250], X_val=X[250:])
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"]
