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


def _count_host_reads(monkeypatch) -> list:
    """Record every tensor read by the host (bool/int/float/item/tolist) made from vaelab/train.py:
    each one waits for the device to finish the work queued so far."""
    import sys

    reads = []
    for name in ("__bool__", "__int__", "__float__", "item", "tolist"):
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, _name=name, **k):
            if sys._getframe(1).f_code.co_filename.endswith("vaelab/train.py"):
                reads.append(_name)
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return reads


def test_training_reads_the_device_every_n_steps_not_every_step(digits, monkeypatch):
    import vaelab.train as train

    X = torch.from_numpy(digits[0])
    module, cfg = _setup(X, epochs=2, batch_size=4)  # 63 steps per epoch
    reads = _count_host_reads(monkeypatch)
    fit(module, cfg, X[:250])
    steps = 2 * math.ceil(250 / 4)
    # Per epoch: one finite check every CHECK_EVERY steps and at the epoch's end, and the epoch's sums.
    # Before, the loss and the gradient norm were each read at every step (2 x 126 reads).
    per_epoch = math.ceil(63 / train.CHECK_EVERY) + 1
    assert len(reads) == 2 * per_epoch < steps


def test_a_non_finite_gradient_norm_is_found_and_the_last_good_epoch_kept(digits):
    X = torch.from_numpy(digits[0])
    module, cfg = _setup(X, epochs=4)
    steps = {"n": 0}

    def poison(grad):  # a finite loss whose gradient goes wrong at the 20th step (epoch 3 of 8-step epochs)
        steps["n"] += 1
        return grad * math.inf if steps["n"] == 20 else grad

    module.mu_head.weight.register_hook(poison)
    saved = []
    with pytest.raises(TrainingError, match=r"gradient norm became NaN or infinite in epoch 3.*epoch 2"):
        fit(module, cfg, X[:250], on_epoch=lambda st, m: saved.append((st.epoch, {k: v.clone() for k, v in m.state_dict().items()})))
    assert [e for e, _ in saved] == [1, 2]
    # The module holds epoch 2's weights again, bit for bit, and nothing of the bad steps after it.
    assert all(torch.equal(v, saved[-1][1][k]) for k, v in module.state_dict().items())


def test_compile_wraps_the_objective_and_passes_beta_as_a_tensor(digits, monkeypatch):
    X = torch.from_numpy(digits[0])
    module, cfg = _setup(X, epochs=1, compile=True, warmup_epochs=1)
    betas = []

    def fake_compile(fn):  # torch.compile on a CPU first builds C++ for minutes: record what it is given
        def run(x, y, beta, k):
            betas.append(beta)
            return fn(x, y, beta, k)
        return run

    monkeypatch.setattr(torch, "compile", fake_compile)
    state = fit(module, cfg, X[:250])
    assert len(betas) == 8 and all(isinstance(b, torch.Tensor) and b.ndim == 0 for b in betas)
    assert state.history[0]["beta"] == pytest.approx(1.0)
    with pytest.raises(Exception, match="compile must be true or false"):
        TrainConfig(compile="yes")


@pytest.mark.slow
def test_compiled_training_repeats_its_weights(digits):
    X = torch.from_numpy(digits[0])
    weights = []
    for _ in range(2):
        module, cfg = _setup(X, epochs=2, compile=True)
        fit(module, cfg, X[:250])
        weights.append(torch.cat([p.detach().flatten() for p in module.parameters()]))
    assert torch.equal(weights[0], weights[1]) and torch.isfinite(weights[0]).all()


def test_iwae_objective_trains(digits):
    X = torch.from_numpy(digits[0])
    module, cfg = _setup(X, epochs=3, iw_samples=4)
    state = fit(module, cfg, X[:250], X_val=X[250:])
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"]
