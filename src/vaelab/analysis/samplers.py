"""Samplers of the latent space: where to draw z from before decoding.

One interface: ``fit`` (on the training codes where the sampler needs them), then
``sample(n, seed)`` → z (n, L), decodable by :func:`decode` to the decoder mean
E[x|z] or to one draw from p(x|z). :func:`generate` does both.

- ``prior``: z ~ p(z), the model's own prior (standard normal, learned MoG or VampPrior).
- ``posterior``: z ~ q(z|x) for given inputs: "more like this one".
- ``aggregate-gmm``: a full-covariance Gaussian mixture fitted to the posterior means of
  the training split, its number of components chosen by BIC on the validation split.
- ``aggregate-flow``: a neural spline flow (zuko) fitted to the same codes, early-stopped
  on the validation codes' log-likelihood.

The two aggregate samplers fit the posterior *means* E_q[z|x] of the training split,
not draws z ~ q(z|x): this is "ex-post density estimation" (Ghosh et al. 2020, "From
variational to deterministic autoencoders"). The means are what the decoder maps to the
cleanest outputs, the fit sees one deterministic point per example (no noise to average
away, so a few hundred steps suffice), and the GMM and the flow model the same target,
so their sample quality can be compared. Prior samples that land where no training code
lies ("prior holes", see :mod:`vaelab.analysis.diagnostics`) are what these avoid.

Conditional models: z is drawn as above, and the decoder is conditioned on the
requested class ``y``. Nothing here reads or writes files.

Examples
--------
>>> from sklearn.datasets import load_digits
>>> from vaelab import VAE
>>> X = load_digits().data / 16
>>> vae = VAE(latent_dim=2, hidden=[16], epochs=2, device="cpu").fit(X[:1500])
>>> gmm = make_sampler("aggregate-gmm").fit(vae, posterior_codes(vae, X[:1500]), posterior_codes(vae, X[1500:]))
>>> generate(vae, gmm, 5).shape
(5, 64)
"""
from __future__ import annotations

import copy
import inspect
import math
import warnings
from typing import Any

import numpy as np
import torch

from vaelab.analysis.aggregate import subsample
from vaelab.config import check_choice
from vaelab.data.dataset import Dataset
from vaelab.errors import ConfigError, DataError, NotFittedError, TrainingError
from vaelab.model import Model, check_model
from vaelab.runtime import EVAL_BATCH, one_thread, seeded

SAMPLERS = ("prior", "posterior", "aggregate-gmm", "aggregate-flow")
GMM_CANDIDATES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)  # numbers of components tried (capped by the codes)
HOLDOUT_FRACTION = 0.2  # share of codes_train held out for validation when no codes_val is given
DECODE_SEED_OFFSET = 1  # generate decodes with seed + 1: p(x|z) noise on a stream apart from z's
MAX_FLOW_VAL = 2_000  # validation codes the flow's early stopping reads (a seeded subsample beyond)
MAX_FIT_EXAMPLES = 10_000  # training (and validation) examples fit_sampler uses; beyond: a seeded subsample


# ------------------------------------------------------------------ helpers
def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be a positive integer; got {n!r}.")
    return int(n)


def _as_codes(codes: Any, name: str, latent_dim: int | None) -> np.ndarray:
    """Codes as a finite float64 array (N, L)."""
    arr = np.asarray(codes, dtype=np.float64)
    if arr.ndim != 2 or (latent_dim is not None and arr.shape[1] != latent_dim):
        want = f"(n, {latent_dim})" if latent_dim is not None else "(n, latent_dim)"
        raise DataError(f"{name} must have shape {want}; got {arr.shape}.")
    if not np.isfinite(arr).all():
        raise DataError(f"{name} has NaN or infinite values.")
    return arr


def _split_codes(model, codes_train, codes_val, seed: int, who: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Training and validation codes, checked. Without codes_val, a seeded HOLDOUT_FRACTION
    of codes_train is held out (and not trained on), so validation is always on unseen codes."""
    if codes_train is None:
        raise DataError(
            f"Sampler {who!r} is fitted to latent codes: pass codes_train=posterior_codes(model, X_train) "
            "and codes_val=posterior_codes(model, X_val)."
        )
    L = None if model is None else check_model(model, f"Sampler {who!r}").latent_dim_
    train = _as_codes(codes_train, "codes_train", L)
    if codes_val is not None:
        val, how = _as_codes(codes_val, "codes_val", train.shape[1]), "given"
    else:
        perm = np.random.default_rng(seed).permutation(train.shape[0])
        n_val = int(round(HOLDOUT_FRACTION * train.shape[0]))
        train, val, how = train[perm[n_val:]], train[perm[:n_val]], f"{HOLDOUT_FRACTION:.0%} of codes_train held out"
    if train.shape[0] < 2 or val.shape[0] < 1:
        raise DataError(
            f"Sampler {who!r} needs at least 2 training codes and 1 validation code; "
            f"got {train.shape[0]} and {val.shape[0]}."
        )
    return train, val, how


def _rises(bic: dict[int, float], times: int) -> bool:
    """Whether the last ``times`` candidates (in order tried) all scored worse than the best."""
    scores = list(bic.values())
    best_at = int(np.argmin(scores))
    return len(scores) - 1 - best_at >= times


# ----------------------------------------------------------------- samplers
class Sampler:
    """Base class: ``fit`` returns self, ``sample(n, seed)`` gives z (n, L) float32.

    Subclasses implement ``_sample`` and, where the sampler has a density, ``_log_prob``.
    Fitted state ends in ``_``; ``latent_dim_`` marks a fitted sampler.
    """

    name = ""

    def fit(self, model: Model | None = None, codes_train: np.ndarray | None = None,
            codes_val: np.ndarray | None = None) -> "Sampler":  # fmt: skip
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "latent_dim_"):
            raise NotFittedError(f"This {self.name!r} sampler is not fitted yet; call fit(...) first.")

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """n draws of z, shape (n, L), float32; the same seed gives the same draws."""
        self._check_fitted()
        return np.ascontiguousarray(self._sample(_check_n(n), int(seed)), dtype=np.float32)

    def log_prob(self, z: np.ndarray) -> np.ndarray | None:
        """log density of the sampler at each row of z (m, L), shape (m,), float64; None where
        the sampler has no density (``posterior``)."""
        self._check_fitted()
        out = self._log_prob(_as_codes(z, "z", self.latent_dim_))
        return None if out is None else np.asarray(out, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """What was fitted, as plain JSON-ready values."""
        self._check_fitted()
        return {"name": self.name, "latent_dim": self.latent_dim_, **self._summary()}

    def default_labels(self, n: int) -> np.ndarray | None:
        """Labels a conditional decoder gets when the caller gives none (only ``posterior`` has any)."""
        return None

    # hooks
    def _sample(self, n: int, seed: int) -> np.ndarray:
        raise NotImplementedError

    def _log_prob(self, z: np.ndarray) -> np.ndarray | None:
        return None

    def _summary(self) -> dict[str, Any]:
        return {}


class PriorSampler(Sampler):
    """z ~ p(z), the model's prior. Draws are the ones ``VAE.sample(n, seed=seed)`` decodes."""

    name = "prior"

    def fit(self, model=None, codes_train=None, codes_val=None) -> "PriorSampler":
        self.model_ = check_model(model, "Sampler 'prior'")
        self.latent_dim_ = int(model.latent_dim_)
        return self

    def _sample(self, n, seed):
        with seeded(seed, self.model_.device_), torch.no_grad():
            return self.model_.prior_.sample(n).cpu().numpy()

    def _log_prob(self, z):
        prior = self.model_.prior_
        zt = torch.from_numpy(z.astype(np.float32))
        return self.model_.map_batches(lambda zb: prior.log_prob(zb).double(), zt).numpy()

    def _summary(self):
        return {"prior": type(self.model_.prior_).__name__}


class PosteriorSampler(Sampler):
    """z ~ q(z|x) for given inputs: "more like this one".

    With one input, all n draws come from its q(z|x). With m inputs, draws cycle over
    them: draw i comes from input i mod m, so each input gets n // m or n // m + 1 draws
    and the rows of ``sample(n)`` keep the inputs' order.

    Parameters
    ----------
    X : the inputs: several as ``VAE.transform`` takes them, or one, with or without its batch axis.
    y : their labels, required by conditional models; decoding then uses the same labels
        unless :func:`generate` is given others.
    """

    name = "posterior"

    def __init__(self, X: Any, y: Any = None):
        self.X = X
        self.y = y

    def fit(self, model=None, codes_train=None, codes_val=None) -> "PosteriorSampler":
        model = check_model(model, "Sampler 'posterior'")
        X = self.X
        if not hasattr(X, "columns"):  # DataFrames are always rows of examples
            arr = np.asarray(X)
            if arr.shape == tuple(model.input_shape_) or (arr.ndim == 1 and arr.size == model.n_features_in_):
                X = arr[None]  # one example without its batch axis
        x = model.model_input(X)
        yc = model.label_codes(self.y, x.shape[0])
        params = model.map_batches(lambda xb, yb: torch.cat(model.encode(xb, yb), -1), x, yc).double().numpy()
        L = model.latent_dim_
        self.mu_ = params[:, :L]  # (m, L)
        self.sd_ = np.exp(0.5 * params[:, L:])  # (m, L)
        self.labels_ = None if yc is None else model.classes_[yc.numpy()]
        self.latent_dim_ = int(L)
        return self

    def _sample(self, n, seed):
        idx = np.arange(n) % self.mu_.shape[0]  # the cycling rule
        eps = np.random.default_rng(seed).standard_normal((n, self.latent_dim_))
        return self.mu_[idx] + self.sd_[idx] * eps

    def default_labels(self, n):
        return None if self.labels_ is None else self.labels_[np.arange(n) % self.labels_.shape[0]]

    def _summary(self):
        return {"n_inputs": int(self.mu_.shape[0]), "rule": "draw i comes from input i mod n_inputs"}


class AggregateGMMSampler(Sampler):
    """A full-covariance Gaussian mixture fitted to the training codes (posterior means).

    Each candidate number of components is fitted on the training codes and scored by
    BIC with its likelihood term measured on the validation codes:
    BIC_k = -2 N_train · mean log-likelihood(val) + p_k log N_train; the lowest wins.
    The held-out likelihood guards against overfitting (on its own training codes a
    mixture's likelihood keeps rising with more components, up to one per code), and
    the penalty is taken at the size the mixture was fitted on. scikit-learn's
    ``bic(val)`` would instead weigh a few hundred validation codes against a penalty of
    ~p log N_val: measured on mnist5k's 16-D codes, that picks 1 component while the
    held-out likelihood keeps rising to 16 (Fréchet 124 against 52 for 10 components).

    Parameters
    ----------
    candidates : numbers of components to try; those above the number of training codes are dropped.
    reg_covar : added to each covariance's diagonal (codes are O(1), so 1e-4 is an SD of 0.01);
        keeps a collapsed latent dimension, whose codes barely vary, from a singular covariance.
    n_init, max_iter : EM restarts and iterations per candidate.
    stop_after : stop trying larger candidates once validation BIC has not improved on the best for
        this many candidates in a row (None tries them all).
    seed : the EM initialisation; same seed, same mixture.
    """

    name = "aggregate-gmm"

    def __init__(self, candidates: tuple[int, ...] = GMM_CANDIDATES, reg_covar: float = 1e-4,
                 n_init: int = 1, max_iter: int = 200, stop_after: int | None = 2, seed: int = 0):  # fmt: skip
        self.candidates = candidates
        self.reg_covar = reg_covar
        self.n_init = n_init
        self.max_iter = max_iter
        self.stop_after = stop_after
        self.seed = seed

    def fit(self, model=None, codes_train=None, codes_val=None) -> "AggregateGMMSampler":
        cands = tuple(self.candidates) if np.iterable(self.candidates) else ()
        if not cands or not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1 for k in cands):
            raise ConfigError(f"candidates must be positive integers (numbers of components); got {self.candidates!r}.")
        stop = self.stop_after
        if stop is not None and (isinstance(stop, bool) or not isinstance(stop, (int, np.integer)) or stop < 1):
            raise ConfigError(f"stop_after must be a positive integer or None; got {stop!r}.")
        train, val, how = _split_codes(model, codes_train, codes_val, self.seed, self.name)
        ks = sorted({int(k) for k in cands if k <= train.shape[0]})
        if not ks:
            raise DataError(f"Every candidate in {cands} exceeds the {train.shape[0]} training codes; pass smaller candidates.")
        # One thread (OpenMP and BLAS): small EM problems only spin against torch's threads and each
        # other (see diagnostics._clustering); measured 5x faster for 4000 16-D codes on 2 busy cores.
        L = train.shape[1]
        with one_thread(), warnings.catch_warnings():
            from sklearn.exceptions import ConvergenceWarning
            from sklearn.mixture import GaussianMixture

            warnings.simplefilter("ignore", ConvergenceWarning)  # recorded per candidate instead
            fits, self.bic_, self.converged_ = {}, {}, {}
            for k in ks:
                if self.bic_ and self.stop_after is not None and _rises(self.bic_, int(self.stop_after)):
                    break  # BIC on held-out codes rose stop_after times in a row: larger k only overfits more
                gm = GaussianMixture(k, covariance_type="full", reg_covar=self.reg_covar, n_init=self.n_init,
                                     max_iter=self.max_iter, random_state=self.seed).fit(train)  # fmt: skip
                n_params = k * L + k * L * (L + 1) // 2 + (k - 1)  # means, full covariances, weights
                bic = -2 * train.shape[0] * float(gm.score(val)) + n_params * math.log(train.shape[0])
                fits[k], self.bic_[k], self.converged_[k] = gm, bic, bool(gm.converged_)
        self.n_components_ = min(self.bic_, key=self.bic_.get)
        self.gmm_ = fits[self.n_components_]
        self.chol_ = np.linalg.cholesky(self.gmm_.covariances_)  # (K, L, L): z = m_k + C_k eps
        self.val_log_likelihood_ = float(self.gmm_.score(val))
        self.n_train_, self.n_val_, self.validation_ = train.shape[0], val.shape[0], how
        self.latent_dim_ = int(train.shape[1])
        return self

    def _sample(self, n, seed):
        rng = np.random.default_rng(seed)
        k = rng.choice(self.n_components_, size=n, p=self.gmm_.weights_)  # (n,)
        eps = rng.standard_normal((n, self.latent_dim_, 1))
        return self.gmm_.means_[k] + (self.chol_[k] @ eps)[..., 0]

    def _log_prob(self, z):
        return self.gmm_.score_samples(z)

    def _summary(self):
        return {
            "n_components": self.n_components_,
            "candidates_tried": [int(k) for k in self.bic_],
            "bic_validation": {str(k): v for k, v in self.bic_.items()},
            "converged": {str(k): v for k, v in self.converged_.items()},
            "val_log_likelihood": self.val_log_likelihood_,
            "n_train": self.n_train_, "n_val": self.n_val_, "validation": self.validation_,
        }  # fmt: skip


class AggregateFlowSampler(Sampler):
    """A neural spline flow (zuko NSF) fitted to the training codes (posterior means).

    Codes are standardized per dimension first (the splines act on [-5, 5]); densities
    are reported in the codes' own units. Adam on minibatches; every ``eval_every``
    steps the mean validation log-likelihood is measured (on at most MAX_FLOW_VAL of the
    validation codes, a seeded subsample), the best weights are kept,
    and training stops after ``patience`` evaluations without improvement or at
    ``max_steps``. Fitted on the CPU with one thread: the codes are small.

    Parameters
    ----------
    transforms, hidden_features, bins : the flow (autoregressive spline layers, their MLP widths, spline bins).
    lr, batch_size, max_steps, eval_every, patience : training and early stopping.
    seed : weights, minibatches and draws; same seed, same flow.
    """

    name = "aggregate-flow"

    def __init__(self, transforms: int = 3, hidden_features: tuple[int, ...] = (64, 64), bins: int = 8,
                 lr: float = 3e-3, batch_size: int = 256, max_steps: int = 1500, eval_every: int = 20,
                 patience: int = 4, seed: int = 0):  # fmt: skip
        self.transforms = transforms
        self.hidden_features = hidden_features
        self.bins = bins
        self.lr = lr
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.eval_every = eval_every
        self.patience = patience
        self.seed = seed

    def _check_settings(self) -> None:
        for name in ("transforms", "bins", "batch_size", "max_steps", "eval_every", "patience"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{name} must be a positive integer; got {v!r}.")
        hidden = self.hidden_features
        if not np.iterable(hidden) or not all(isinstance(h, (int, np.integer)) and h >= 1 for h in hidden):
            raise ConfigError(f"hidden_features must be a list of positive layer sizes; got {hidden!r}.")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ConfigError(f"lr must be a positive number; got {self.lr!r}.")

    def fit(self, model=None, codes_train=None, codes_val=None) -> "AggregateFlowSampler":
        import zuko

        self._check_settings()
        train, val, how = _split_codes(model, codes_train, codes_val, self.seed, self.name)
        # Early stopping reads the mean validation log-likelihood every eval_every steps: on 10,000
        # codes that was 40% of the fit. A seeded subsample of MAX_FLOW_VAL codes measures the same mean
        # (its standard error √5 times that of 10,000 codes'), which is all early stopping compares.
        val = val[subsample(val.shape[0], MAX_FLOW_VAL, np.random.default_rng(self.seed))]
        self.loc_ = train.mean(0)
        self.scale_ = np.maximum(train.std(0), 1e-6)  # a constant dimension would divide by 0
        zt = torch.from_numpy(((train - self.loc_) / self.scale_).astype(np.float32))  # (N, L), standardized
        zv = torch.from_numpy(((val - self.loc_) / self.scale_).astype(np.float32))
        log_det = float(np.log(self.scale_).sum())  # log p(z) = log p_std((z - loc) / scale) - Σ log scale
        L = train.shape[1]
        history, best, best_step, since_best = [], -math.inf, 0, 0
        with one_thread(), seeded(self.seed):
            flow = zuko.flows.NSF(features=L, transforms=int(self.transforms), bins=int(self.bins),
                                  hidden_features=[int(h) for h in self.hidden_features])  # fmt: skip
            opt = torch.optim.Adam(flow.parameters(), lr=float(self.lr))
            best_weights = copy.deepcopy(flow.state_dict())
            step = 0
            while step < self.max_steps:
                flow.train()
                idx = torch.randint(0, zt.shape[0], (min(int(self.batch_size), zt.shape[0]),))
                loss = -flow().log_prob(zt[idx]).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                if step % self.eval_every and step != self.max_steps:
                    continue
                flow.eval()
                with torch.no_grad():
                    val_ll = float(flow().log_prob(zv).mean()) - log_det  # mean nats per code
                history.append({"step": step, "train_nll": loss.item() + log_det, "val_log_likelihood": val_ll})
                if not math.isfinite(val_ll):
                    break  # diverged: keep the best weights so far
                if val_ll > best:
                    best, best_step, since_best = val_ll, step, 0
                    best_weights = copy.deepcopy(flow.state_dict())
                else:
                    since_best += 1
                    if since_best >= self.patience:
                        break
        if best_step == 0:
            raise TrainingError(
                f"The flow's validation log-likelihood was never finite ({history[-1]['val_log_likelihood']}); "
                "lower lr or check the codes for extreme values."
            )
        flow.load_state_dict(best_weights)
        flow.eval()
        self.flow_ = flow
        self.log_det_ = log_det
        self.history_ = history
        self.steps_run_, self.best_step_, self.val_log_likelihood_ = step, best_step, best
        self.stopped_early_ = step < self.max_steps
        self.n_train_, self.n_val_, self.validation_ = train.shape[0], val.shape[0], how
        self.latent_dim_ = int(L)
        return self

    def _sample(self, n, seed):
        with one_thread(), seeded(seed), torch.no_grad():
            z = self.flow_().sample((n,)).double().numpy()  # (n, L), standardized
        return self.loc_ + self.scale_ * z

    def _log_prob(self, z):
        zs = torch.from_numpy(((z - self.loc_) / self.scale_).astype(np.float32))
        with one_thread(), torch.no_grad():
            out = [self.flow_().log_prob(zs[s : s + EVAL_BATCH]).double() for s in range(0, zs.shape[0], EVAL_BATCH)]
        return (torch.cat(out).numpy() if out else np.zeros(0)) - self.log_det_

    def _summary(self):
        return {
            "flow": "NSF", "transforms": int(self.transforms), "hidden_features": [int(h) for h in self.hidden_features],
            "bins": int(self.bins), "steps_run": self.steps_run_, "best_step": self.best_step_,
            "stopped_early": self.stopped_early_, "val_log_likelihood": self.val_log_likelihood_,
            "history": self.history_, "n_train": self.n_train_, "n_val": self.n_val_, "validation": self.validation_,
        }  # fmt: skip


_CLASSES = {"prior": PriorSampler, "posterior": PosteriorSampler,
            "aggregate-gmm": AggregateGMMSampler, "aggregate-flow": AggregateFlowSampler}  # fmt: skip


def make_sampler(name: str, **options: Any) -> Sampler:
    """The sampler called ``name`` (one of :data:`SAMPLERS`), built with its options.

    >>> make_sampler("aggregate-gmm", candidates=(1, 2, 3)).candidates
    (1, 2, 3)
    """
    check_choice("sampler", name, SAMPLERS)
    cls = _CLASSES[name]
    params = inspect.signature(cls).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        allowed = ", ".join(params) or "none"
        raise ConfigError(f"Sampler {name!r} has no option(s) {unknown}; its options are: {allowed}.")
    missing = [p for p, v in params.items() if v.default is inspect.Parameter.empty and p not in options]
    if missing:
        raise ConfigError(f"Sampler {name!r} needs {', '.join(f'{p}=' for p in missing)} (the inputs to draw around).")
    return cls(**options)


def fit_sampler(name: str, model: Model, train: Dataset | None = None, val: Dataset | None = None,
                seed: int = 0) -> Sampler:  # fmt: skip
    """The sampler ``name`` fitted for ``model``: density samplers fit the posterior means of the
    ``train`` examples (those of ``val`` select and stop them); the posterior sampler draws from
    q(z|x) of the training inputs; the prior needs no data. Conditional models get the labels.
    Splits larger than MAX_FIT_EXAMPLES are subsampled (seeded) first."""
    check_choice("sampler", name, SAMPLERS)
    if name == "prior":
        return make_sampler(name).fit(model)
    if train is None:
        raise DataError(f"Sampler {name!r} is fitted to the training data; pass train= (and val=).")
    labels = (lambda part: part.label_names()) if model.classes_ is not None else (lambda part: None)
    # A density of L-dimensional codes is fitted as well from 10,000 codes as from a million (and EM
    # and the flow's validation cost grow with them): large splits are subsampled, seeded.
    rng = np.random.default_rng(seed)
    if train.n_examples > MAX_FIT_EXAMPLES:
        train = train.subset(subsample(train.n_examples, MAX_FIT_EXAMPLES, rng))
    if val is not None and val.n_examples > MAX_FIT_EXAMPLES:
        val = val.subset(subsample(val.n_examples, MAX_FIT_EXAMPLES, rng))
    if name == "posterior":
        # Shuffled (seeded): the sampler cycles over its inputs, and files are often sorted by class.
        shuffled = train.subset(np.random.default_rng(seed).permutation(train.n_examples))
        return make_sampler(name, X=shuffled.X, y=labels(shuffled)).fit(model)
    codes_train = posterior_codes(model, train.X, labels(train))
    codes_val = posterior_codes(model, val.X, labels(val)) if val is not None and val.n_examples else None
    return make_sampler(name, seed=seed).fit(model, codes_train, codes_val)


# ----------------------------------------------------------------- decoding
def posterior_codes(model: Model, X: Any, y: Any = None) -> np.ndarray:
    """Posterior means E_q[z|x], shape (N, L), float32: the codes the aggregate samplers fit."""
    return check_model(model, "posterior_codes").transform(X, y).astype(np.float32)


def decode(model: Model, z: np.ndarray, y: Any = None, mean: bool = True, seed: int = 0,
           temperature: float = 1.0) -> np.ndarray:  # fmt: skip
    """Decode z (n, L) to E[x|z] (``mean=True``, the same as ``model.inverse_transform``) or
    to one seeded draw from p(x|z): shape (n, *input_shape).

    ``y``: one label per row, or one label for all rows; required by conditional models.
    ``temperature``: for draws of a table model (mixed likelihood), the categories', modes' and 0/1
    features' logits are divided by it (see :func:`check_temperature`); 1 draws from p(x|z) itself.
    """
    model = check_model(model, "decode")
    check_temperature(temperature)
    if temperature != 1.0 and not (hasattr(model, "px_z_") and hasattr(model.px_z_, "categorical_blocks")):
        raise ConfigError(f"temperature {temperature:g} sharpens the categories and booleans of a table model's "
                          "draws; this model has none. Leave temperature at 1.")  # fmt: skip
    if temperature != 1.0 and mean:
        raise ConfigError("temperature applies to draws from p(x|z) (mean=False), not to decoder means.")
    if y is not None and model.classes_ is None:
        raise DataError("y was given, but this VAE is not conditional (fitted without labels); leave y out.")
    if mean:
        return model.inverse_transform(z, y)
    zt = torch.from_numpy(np.ascontiguousarray(_as_codes(z, "z", model.latent_dim_), dtype=np.float32))
    yc = model.label_codes(y, zt.shape[0])
    with seeded(int(seed), model.device_):
        if temperature == 1.0:
            return model.map_batches(lambda zb, yb: model.px_z_.dist(model.decode(zb, yb)).sample(), zt, yc).numpy()
        return model.map_batches(lambda zb, yb: model.px_z_.dist(model.decode(zb, yb)).sample(temperature),
                                 zt, yc).numpy()  # fmt: skip


def check_temperature(value: Any) -> None:
    """A decoding temperature: a number in (0, 1]. Below 1 a table model's categories, modes, booleans and missing
    flags are drawn from softmax(logits / T): the links between columns come out sharper than the model's own
    (as TVAE's argmax decoding, T -> 0, does) and rare values rarer: a trade of faithfulness for predictive
    contrast, like a GAN's truncation trick (Brock et al. 2019, BigGAN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= 1):
        raise ConfigError(f"temperature must be a number in (0, 1] (1: draws from the model itself); got {value!r}.")


def generate(model: Model, sampler: Sampler, n: int, y: Any = None, mean: bool = True, seed: int = 0) -> np.ndarray:
    """n new examples: z from ``sampler`` (seed), decoded by :func:`decode` (seed + 1), (n, *input_shape).

    For a conditional model, ``y`` picks the class(es) the decoder is conditioned on; a
    posterior sampler fitted with labels decodes with its inputs' labels when y is None.
    """
    model = check_model(model, "generate")
    n = _check_n(n)
    if not isinstance(sampler, Sampler):
        raise ConfigError(f"sampler must be a fitted Sampler (see make_sampler); got {type(sampler).__name__}.")
    sampler._check_fitted()
    if sampler.latent_dim_ != model.latent_dim_:
        raise DataError(f"The sampler draws z of size {sampler.latent_dim_}; this model's latent_dim is {model.latent_dim_}.")
    if y is None:
        y = sampler.default_labels(n)
    if model.classes_ is not None:
        model.label_codes(y, n)  # a missing or unknown label fails before any sampling
    z = sampler.sample(n, seed)
    return decode(model, z, y, mean, int(seed) + DECODE_SEED_OFFSET)
