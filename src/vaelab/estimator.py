"""``vaelab.VAE``: a scikit-learn style facade over the VAE module.

Settings share their names with the CLI options (``latent_dim`` ↔ ``--latent-dim``).
``__init__`` only stores them; ``fit`` validates, builds, trains and sets the
fitted attributes (ending in ``_``). Everything file-shaped goes through
:class:`vaelab.checkpoint.RunDir`.
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from vaelab import distributed
from vaelab.adopt import AdoptedModel, load_adopted
from vaelab.analysis.likelihood import log_likelihood
from vaelab.checkpoint import CONFIG, HISTORY, MODEL, RunConfig, RunDir
from vaelab.config import CHOICES, DataConfig, ModelConfig, TrainConfig, check_choice, check_seed
from vaelab.data.arrays import encode_labels, to_examples
from vaelab.data.rows import TensorRows, as_rows, is_lazy
from vaelab.data.rows import blocks as row_blocks  # (blocks= is also a setting here)
from vaelab.data.split import GREY_LEVELS, binarize_fixed, check_trained_classes, indices, split_assignment, value_kind
from vaelab.data.streams import ELBO, ExampleStreams
from vaelab.errors import ConfigError, DataError, RunError, TrainingError, VaelabError
from vaelab.files import make_folder
from vaelab.nn import VAEModule, build_vae
from vaelab.nn.priors import VampPrior
from vaelab.model import Model, lazy_examples
from vaelab.progress import ProgressBar
from vaelab.runtime import memory_budget, resolve_device, seeded
from vaelab.train import TrainState, fit

ELBO_SAMPLES = 8  # draws of z per example when scoring the ELBO (averaged: lower variance)
# Seconds of training between two writes of a run folder's checkpoint (VAE(save_every=...)); the last epoch is
# always written. Long epochs (large data) are written after each, as before.
SAVE_EVERY = 10.0
EVAL_SEED_OFFSET = 1  # evaluation data is binarized with seed + 1: a stream apart from training's


class VAE(Model, TransformerMixin, BaseEstimator):
    """A variational autoencoder with the scikit-learn estimator interface.

    Parameters
    ----------
    latent_dim : size of z.
    arch : ``"mlp"``, ``"conv"`` (images of shape (C, H, W)) or ``"timevae"`` (windows of time series:
        a convolutional encoder and a decoder of trend, seasonality and a convolutional residual, as
        in TimeVAE, Desai et al. 2021; needs ``time_layout``, which series runs set).
    hidden : dense layer sizes; ``[]`` makes encoder and decoder linear maps.
    likelihood : ``"bernoulli"`` (logits), ``"continuous-bernoulli"`` (a density on [0, 1] for grey
        values, Loaiza-Ganem & Cunningham 2019), ``"gaussian"`` (learned per-feature variance),
        ``"gaussian-fixed"`` (SD ``sigma``) or ``"auto"``: bernoulli (binarized) for binary data and
        data on at most 256 grey levels in [0, 1] (images), gaussian otherwise; the choice and its
        reason are in ``likelihood_choice_``. ``"mixed"`` is a table's (one term per column), laid out by
        ``blocks``: :class:`vaelab.TableVAE` and table runs set both.
    prior : ``"normal"``, ``"mog"`` (learned mixture) or ``"vamp"`` (VampPrior).
    n_components : mixture components / pseudo-inputs of the mog / vamp prior.
    sigma : observation SD of the ``gaussian-fixed`` likelihood.
    conditional : condition encoder and decoder on the labels ``y`` (one-hot).
    beta, warmup_epochs, iw_samples : the objective (beta-VAE weight, linear KL warm-up, IWAE-K).
    epochs, batch_size, lr, patience, grad_clip : Adam training with early stopping.
    binarize : for the bernoulli likelihood: ``"dynamic"`` (redraw every batch), ``"fixed"`` or ``"none"``.
    validation_fraction : share of ``X`` held out by ``fit`` for validation and early stopping.
    seed : same seed, same data, same machine → same weights on CPU.
    device : ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    precision : ``"fp32"``, or ``"bf16"``: training's forward pass and loss under bfloat16
        autocast (GPUs with bfloat16, and CPUs); scoring stays float32.
    compile : train with ``torch.compile`` (the objective compiled once, on the first step); meant
        for GPUs. On a CPU compiling takes minutes and a small model trains no faster. Compiled
        kernels draw their random numbers their own way: the same seed gives the same weights
        again, but not those of an uncompiled fit.
    save_every : seconds of training between two writes of a run folder's checkpoint (``vaelab train``;
        :meth:`fit` writes no files): the folder is written at the end of the first epoch that ends at
        least this long after the last write, and after the last epoch; 0 writes it after every epoch.
        A run killed in between keeps its last written epoch, and ``--resume`` continues from there with
        the same result.
    verbose : show a progress bar while fitting.
    encoder, decoder : optional custom ``nn.Module``s: encoder x (N, *shape) → (N, H);
        decoder (N, latent_dim [+ n_classes]) → (N, *shape) likelihood parameters.
    blocks : for ``likelihood="mixed"``: the row's layout, one (term, start, width, mask) per block, as
        :meth:`vaelab.data.table_transformer.TableTransformer.likelihood_blocks` gives it; set by table models.
    time_layout : for ``arch="timevae"``: (S, F), each row of X is S time steps × F features flattened
        time-major, followed by per-window extras.

    ``X`` may be a NumPy memory map (``np.load(path, mmap_mode="r")``) or
    :class:`vaelab.data.rows.Rows` (``load_dataset(path, lazy=True).X``): ``fit``,
    ``transform``, ``score_samples`` and ``log_likelihood`` then read it block by block
    (memory bounded by the batch) with the results they give on the same data in memory.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data / 16
    >>> vae = VAE(latent_dim=4, epochs=2).fit(X)
    >>> vae.transform(X[:3]).shape
    (3, 4)
    """

    def __init__(
        self,
        latent_dim: int = 16,
        arch: str = "mlp",
        hidden: list[int] | tuple[int, ...] = (512, 256),
        likelihood: str = "auto",
        prior: str = "normal",
        n_components: int = 10,
        sigma: float = 1.0,
        conditional: bool = False,
        beta: float = 1.0,
        warmup_epochs: int = 0,
        iw_samples: int = 1,
        epochs: int = 50,
        batch_size: int = 100,
        lr: float = 1e-3,
        patience: int = 10,
        grad_clip: float = 10.0,
        binarize: str = "dynamic",
        validation_fraction: float = 0.1,
        seed: int = 0,
        device: str = "auto",
        precision: str = "fp32",
        compile: bool = False,
        save_every: float = SAVE_EVERY,
        verbose: bool = False,
        encoder: torch.nn.Module | None = None,
        decoder: torch.nn.Module | None = None,
        blocks: tuple | None = None,
        time_layout: tuple | None = None,
    ):
        self.latent_dim = latent_dim
        self.arch = arch
        self.hidden = hidden
        self.likelihood = likelihood
        self.prior = prior
        self.n_components = n_components
        self.sigma = sigma
        self.conditional = conditional
        self.beta = beta
        self.warmup_epochs = warmup_epochs
        self.iw_samples = iw_samples
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.grad_clip = grad_clip
        self.binarize = binarize
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.device = device
        self.precision = precision
        self.compile = compile
        self.save_every = save_every
        self.verbose = verbose
        self.encoder = encoder
        self.decoder = decoder
        self.blocks = blocks
        self.time_layout = time_layout

    def __sklearn_tags__(self):
        """scikit-learn's tags, declared honestly: dense numeric input only (sparse is refused with a message
        saying so), and transform keeps float32 and float64 (the model computes in float32)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ------------------------------------------------------------ settings
    def train_config(self, new: bool = True) -> TrainConfig:
        """The training settings as the trainer takes them; ``new``: for a training that starts, whose seed must be
        one every later fit takes (:func:`check_seed`; a run resumed keeps the seed it was trained with)."""
        if new:
            check_seed(self.seed)
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience,
            beta=self.beta, warmup_epochs=self.warmup_epochs, iw_samples=self.iw_samples,
            grad_clip=self.grad_clip, binarize=self.binarize, seed=self.seed, device=self.device,
            precision=self.precision, compile=self.compile,
        )  # fmt: skip

    def check_settings(self, input_shape: tuple[int, ...], n_classes: int = 0) -> None:
        """Check every setting for examples of ``input_shape`` before anything is written (a
        ConfigError names the first bad one); :meth:`fit` checks the data's values itself (so the
        values are taken to be grey levels here, which every likelihood accepts, and an error names
        no likelihood "auto" would choose for values it has not seen)."""
        train = self.train_config()
        check_save_every(self.save_every)
        cfg = self._model_config(tuple(input_shape), n_classes, ("levels", GREY_LEVELS), seen=False)
        if self.encoder is None and self.decoder is None:
            _check_sizes(cfg, train)

    def _model_config(self, shape: tuple[int, ...], n_classes: int, values: tuple[str, int],
                      seen: bool = True) -> ModelConfig:
        """The model's config for data of ``shape`` whose values are ``values`` (:func:`value_kind`;
        ``seen=False``: a stand-in, the data not read yet); sets ``likelihood_choice_``: the
        likelihood, and why."""
        likelihood = self.likelihood
        check_choice("likelihood", likelihood, ("auto", *CHOICES["likelihood"]))
        blocks = tuple(tuple(b) for b in self.blocks) if self.blocks else ()
        if blocks and likelihood not in ("auto", "mixed"):
            # said to a table run's --likelihood too, which never set blocks= (an audit: "blocks= describes ...")
            raise ConfigError(f"likelihood={likelihood!r} does not apply to the columns of a table: a table run's is "
                              "'mixed', one term per column type (laid out by blocks=). Leave likelihood= at 'auto'.",
                              setting="likelihood")  # fmt: skip
        if likelihood == "mixed" and not blocks:
            raise ConfigError("likelihood='mixed' is a table's (one term per column), laid out by blocks=; it is set up "
                              "for you by a table run (vaelab train on a CSV/Parquet with text columns, or --table; "
                              "vaelab.TableVAE in Python). Leave likelihood= at 'auto'.", setting="likelihood")  # fmt: skip
        kind, n_values = values
        if blocks:
            likelihood, reason = "mixed", "the columns of a table: one term per column type"
        elif likelihood == "auto":
            likelihood, reason = auto_likelihood(kind, n_values, self.binarize)
        else:  # a run kind that chose it says why (vaelab.runs.base.RunKind.default_reasons)
            reason = getattr(self, "likelihood_reason_", None) or "set explicitly"
        if likelihood in ("bernoulli", "continuous-bernoulli") and kind == "real":
            raise DataError(
                f"likelihood {likelihood!r} needs data in [0, 1], but X has values outside it. "
                "Scale X to [0, 1] or use likelihood 'gaussian'."
            )
        # Options of another likelihood would be stored and do nothing: refused, as the CLI refuses other kinds' options.
        if self.binarize != "dynamic" and likelihood != "bernoulli":
            raise ConfigError(f"binarize={self.binarize!r} binarizes data for the Bernoulli likelihood; this "
                              f"model's is {likelihood!r} ({reason}). Drop it.", setting="binarize")  # fmt: skip
        if self.sigma != 1.0 and likelihood != "gaussian-fixed":
            if not seen and self.likelihood == "auto" and not blocks:  # the choice depends on values not read yet
                raise ConfigError(f"sigma={self.sigma!r} is the fixed SD of likelihood 'gaussian-fixed'; "
                                  "likelihood 'auto' never chooses it (a Bernoulli for binary data and grey-level "
                                  "images, else a Gaussian that learns its own SD). Drop it, or set "
                                  "likelihood='gaussian-fixed'.", setting=("sigma", "likelihood"))  # fmt: skip
            # each case in its own words: a Bernoulli has no SD, and a table run takes no other likelihood (an audit)
            what, then = {
                "gaussian": ("which learns its own SD", " Drop it, or set likelihood='gaussian-fixed'."),
                "mixed": ("whose numeric columns' Gaussians learn their own SDs, and a table run takes no other "
                          "likelihood", " Drop it."),
            }.get(likelihood, ("which has no SD", " Drop it, or set likelihood='gaussian-fixed' for a Gaussian of "
                                                  "that fixed SD."))  # fmt: skip
            raise ConfigError(f"sigma={self.sigma!r} is the fixed SD of likelihood 'gaussian-fixed'; this "
                              f"model's is {likelihood!r} ({reason}), {what}.{then}", setting=("sigma", "likelihood"))  # fmt: skip
        binarized = likelihood == "bernoulli" and self.binarize != "none" and kind != "binary"
        self.likelihood_choice_ = {"likelihood": likelihood, "values": kind, "n_values": n_values,
                                   "binarized": binarized, "reason": reason}  # fmt: skip
        custom = self.encoder is not None or self.decoder is not None
        if self.arch == "adopted":
            raise ConfigError("arch 'adopted' marks models trained elsewhere: use vaelab.adopt(encoder, decoder, ...).")
        if self.arch == "custom" and not custom:
            raise ConfigError("arch 'custom' needs encoder= and decoder= modules.")
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (int(hidden),)
        try:
            hidden = tuple(int(h) if isinstance(h, (int, np.integer)) else h for h in hidden)
        except TypeError:
            raise ConfigError(f"hidden must be a list of layer sizes; got {self.hidden!r}.", setting="hidden") from None
        return ModelConfig(
            input_shape=shape, latent_dim=self.latent_dim, arch="custom" if custom else self.arch,
            hidden=hidden, likelihood=likelihood, prior=self.prior, n_components=self.n_components,
            sigma=self.sigma, n_classes=n_classes, blocks=blocks,
            time_layout=tuple(int(v) if isinstance(v, np.integer) else v for v in self.time_layout) if self.time_layout else (),
        )  # fmt: skip

    # ----------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None) -> "VAE":
        """Train on X (a ``validation_fraction`` share held out for early stopping); returns self.

        y is used only when ``conditional=True`` (then it is required).
        """
        lazy = lazy_examples(X)  # a memory map or Rows: validated in blocks, never copied whole
        X = to_examples(X) if lazy is None else lazy
        codes, classes = self._labels(y, X.shape[0])
        return self._fit_split(X, lazy, codes, classes)

    def fit_coded(self, X: Any, codes: np.ndarray | None, classes: tuple[str, ...] | None) -> "VAE":
        """:meth:`fit` with the labels already coded: ``codes`` 0..C-1 per example and the class names, taken as
        they are (a table's condition values: :meth:`fit` reads names as a label file's, stripping them and
        reading "007" as 7, and the model then refused the values it was trained on)."""
        lazy = lazy_examples(X)
        X = to_examples(X) if lazy is None else lazy
        if not self.conditional:
            codes, classes = None, None
        elif codes is None or not classes or len(classes) < 2:
            raise DataError("A conditional VAE needs label codes of at least 2 classes.")
        return self._fit_split(X, lazy, codes, classes)

    def _fit_split(self, X: Any, lazy: Any, codes: np.ndarray | None, classes: tuple[str, ...] | None) -> "VAE":
        split = split_assignment(X.shape[0], self.validation_fraction, 0.0, self.seed)
        if codes is not None:  # a class only the validation examples hold would have only an untrained condition
            check_trained_classes(codes, classes, split, "conditional=True",
                                  "Give such a class training examples, drop its examples, or fit with another seed "
                                  "or a smaller validation_fraction.")  # fmt: skip
        train, val = indices(split, "train"), indices(split, "val")
        data = DataConfig(source="array", val_fraction=float(self.validation_fraction), test_fraction=0.0,
                          n_examples=X.shape[0], classes=classes)  # fmt: skip
        take = (lambda idx: as_rows(X).take(idx)) if lazy is not None else (lambda idx: X[idx])
        self.fit_splits(take(train), _take(codes, train), take(val), _take(codes, val), data)
        return self

    def _labels(self, y: Any, n: int) -> tuple[np.ndarray | None, tuple[str, ...] | None]:
        if not self.conditional:
            return None, None
        if y is None:
            raise DataError("conditional=True needs labels: call fit(X, y).")
        codes, classes = encode_labels(y.to_numpy() if hasattr(y, "to_numpy") else y, n, "y")
        if len(classes) < 2:
            raise DataError(f"A conditional VAE needs at least 2 classes; y has only {list(classes)}.")
        return codes, classes

    def fit_splits(
        self,
        X: np.ndarray,
        y: np.ndarray | None,
        X_val: np.ndarray,
        y_val: np.ndarray | None,
        data: DataConfig,
        run: RunDir | None = None,
        resume: bool = False,
        progress: Callable[[str, dict], None] | None = None,
    ) -> TrainState:
        """Train on prepared splits; with ``run``, write the run directory as ``save_every`` says (at the end of
        an epoch at least that many seconds after the last write, and after the last epoch; 0: every epoch).

        :meth:`fit` splits X itself and calls this; the run layer (:mod:`vaelab.runs.train`)
        calls it with a run's own splits. X and X_val are arrays in memory, or memory maps /
        :class:`Rows` (:func:`is_lazy`), which the trainer reads batch by batch (with the same
        results); y and y_val are label codes (conditional models) or None; ``data`` is
        config.json's data block. With ``resume``, training continues from ``run``'s
        train_state. Returns the final :class:`TrainState`.
        """
        cfg = self.train_config(new=not resume)
        n_classes = len(data.classes) if (self.conditional and data.classes) else 0
        model_cfg = self._model_config(X.shape[1:], n_classes, value_kind(X, X_val))
        if self.encoder is None and self.decoder is None:  # vaelab.VAE(...).fit in Python too
            _check_sizes(model_cfg, cfg)
        if resume:  # a resumed run keeps the reason its likelihood was first chosen for
            earlier = (run.read_metrics().get("training") or {}).get("likelihood_choice")
            if isinstance(earlier, dict) and earlier.get("likelihood") == model_cfg.likelihood:
                self.likelihood_choice_ = earlier
        binary = model_cfg.likelihood == "bernoulli" and cfg.binarize != "none"
        data = dataclasses.replace(data, binarized_eval=binary)
        device = distributed.local_device(resolve_device(cfg.device))  # cuda:LOCAL_RANK under torchrun
        # Under torchrun every rank trains; only rank 0 writes the run and draws progress.
        main = distributed.world().main

        state = None  # a fresh fit
        if resume:
            state, current = run.read_train_state()
            module = self._build(model_cfg, device)
            _load_weights(module, current, run.file("train_state.safetensors"))
        else:
            with seeded(cfg.seed, device):
                module = self._build(model_cfg, device)
                if isinstance(module.prior, VampPrior):
                    module.prior.init_from_data(TensorRows(X) if is_lazy(X) else torch.from_numpy(X))
                init_output_bias(module, X)
        config = RunConfig(model_cfg, cfg, data)
        if run is not None and main:
            run.write_config(config)

        fixed = binary and cfg.binarize == "fixed"
        if is_lazy(X):  # read batch by batch; each row binarized with the draw it gets in memory
            Xt = TensorRows(X, device, binarize_seed=cfg.seed if fixed else None)
        else:
            Xt = torch.from_numpy(X).to(device)
            Xt = binarize_fixed(Xt, cfg.seed) if fixed else Xt
        Xv = None
        if X_val.shape[0]:
            # Evaluation data is binarized once, with the seed: every epoch sees the same set.
            if is_lazy(X_val):
                Xv = TensorRows(X_val, device, binarize_seed=cfg.seed + EVAL_SEED_OFFSET if binary else None)
            else:
                Xv = torch.from_numpy(X_val).to(device)
                Xv = binarize_fixed(Xv, cfg.seed + EVAL_SEED_OFFSET) if binary else Xv
        yt = None if y is None else torch.from_numpy(y).to(device)
        yv = None if y_val is None or Xv is None else torch.from_numpy(y_val).to(device)

        writes = run is not None and main
        check_save_every(self.save_every)
        # The epoch the run folder holds (a resumed run: the one it was resumed from) and when it was written.
        saved = {"epoch": state.epoch if state is not None else 0, "at": time.monotonic()}

        def on_epoch(st: TrainState, m: VAEModule) -> None:
            # One check per epoch (no extra host sync per step): weights that are not finite are never
            # saved, so the run keeps its last good checkpoint.
            if not bool(torch.stack([torch.isfinite(p).all() for p in m.parameters()]).all()):  # one host sync
                kept = (f"the checkpoint of epoch {saved['epoch']} in {run.path} is kept" if writes and saved["epoch"]
                        else "nothing was saved")  # fmt: skip
                raise TrainingError(f"The weights became NaN or infinite in epoch {st.epoch}; {kept}. Try a lower "
                                    f"learning rate (--lr, now {cfg.lr:g}) or tighter gradient clipping (--grad-clip).")  # fmt: skip
            last = st.epoch >= cfg.epochs or st.stopped_early
            # A crash-safe write of the whole training state (fsync'd, renamed into place) costs ~0.1 s; on a small
            # table whose epoch takes as long it was ~40% of the fit (BENCHMARKS.md, issue 17). Written every
            # save_every seconds and after the last epoch instead: a kill loses at most that much training, and a
            # resumed run still ends bitwise equal to an uninterrupted one (every epoch is seeded by its number).
            if writes and (last or time.monotonic() - saved["at"] >= self.save_every):
                run.write_train_state(st, m)
                run.write_weights(st.best_weights)
                run.write_history(st.history)
                run.update_metrics(training=training_summary(st, self.likelihood_choice_))
                saved.update(epoch=st.epoch, at=time.monotonic())

        bar = ProgressBar() if (self.verbose and progress is None and main) else None
        try:
            state = fit(module, cfg, Xt, yt, Xv, yv, state=state, dynamic_binarize=binary and cfg.binarize == "dynamic",
                        on_epoch=on_epoch, progress=(progress or bar) if main else None)  # fmt: skip
        finally:
            if bar is not None:
                bar.close()
        # Only a finished fit makes a fitted estimator; an interrupted run lives on in its folder.
        self._set_fitted(module, config, state.history)
        return state

    def _build(self, model_cfg: ModelConfig, device: torch.device) -> VAEModule:
        encoder = decoder = None
        if self.encoder is not None or self.decoder is not None:
            # The user's modules are copied, so fitting twice starts from the same weights.
            encoder, decoder = copy.deepcopy(self.encoder), copy.deepcopy(self.decoder)
        return build_vae(model_cfg, encoder, decoder).to(device)

    def _set_fitted(self, module: VAEModule, config: RunConfig, history: list[dict]) -> None:
        module.eval()
        self.module_ = module
        self.config_ = config
        self.history_ = list(history)
        self.input_shape_ = config.model.input_shape
        self.n_features_in_ = math.prod(config.model.input_shape)
        self.likelihood_ = config.model.likelihood
        self.device_ = next(module.parameters()).device
        self.classes_ = np.asarray(config.data.classes) if (config.data and config.model.n_classes) else None
        self.latent_dim_ = int(module.latent_dim)
        self.prior_ = module.prior
        self.px_z_ = module.likelihood

    # ------------------------------------------------- the model interface (vaelab.model)
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """mu, logvar of q(z|x), each (N, L), for x on ``device_``."""
        return self.module_.encode_params(x, y)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """p(x|z)'s parameters (..., N, *input_shape_) for z (..., N, L) on ``device_``."""
        return self.module_.decode_params(z, y)

    def evaluation_seed(self) -> int | None:
        """Bernoulli models trained on binarized data score a fixed binarization seeded with seed + 1."""
        return self.seed + EVAL_SEED_OFFSET if self.likelihood_ == "bernoulli" and self.binarize != "none" else None

    def heads(self) -> dict[str, torch.nn.Module]:
        """The linear layers that output mu and logvar, for the head lint of :func:`vaelab.diagnose`."""
        return {"mu_head": self.module_.mu_head, "logvar_head": self.module_.logvar_head}

    # ----------------------------------------------------------- after fit
    def sample(self, n_samples: int = 1, y: Any = None, seed: int | None = None) -> np.ndarray:
        """n_samples draws z ~ p(z) decoded to E[x|z], shape (n_samples, *input_shape); seeded by ``seed`` (default:
        the model's ``seed``). A conditional model needs ``y``: one label for every draw, or one per draw."""
        self.check_fitted()
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ConfigError(f"n_samples must be a positive integer; got {n_samples!r}.")
        yc = self.label_codes(y, int(n_samples))
        seed = None if seed is None else check_seed(seed)  # the one limit of every seed (an audit, s14)
        with seeded(self.seed if seed is None else seed, self.device_), torch.no_grad():
            z = self.module_.prior.sample(int(n_samples))
        return self.inverse_transform(z.cpu().numpy(), None if yc is None else self.classes_[yc.numpy()])

    def elbo_terms(self, X: Any, y: Any = None, n_samples: int = ELBO_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
        """Per-example reconstruction E_q log p(x|z) and KL(q(z|x)||p(z)) in nats, each of shape (N,) for the N
        examples of X; the expectation is estimated from ``n_samples`` z draws per example."""
        self.check_fitted()
        x = self.model_rows(X, evaluation=True)
        yc = self.label_codes(y, x.shape[0])

        def terms_of(xb: torch.Tensor, yb: torch.Tensor | None) -> torch.Tensor:
            # Each example's z draws come from its own stream: its ELBO does not depend on the batch.
            streams = ExampleStreams(xb.cpu().numpy(), self.seed, ELBO)
            eps = torch.from_numpy(streams.normal(n_samples, self.latent_dim_)).to(xb.device)
            return torch.stack(self.module_.elbo_terms(xb, yb, n_samples, eps), 1)

        terms = self.map_batches(terms_of, x, yc)
        return terms[:, 0].double().numpy(), terms[:, 1].double().numpy()

    def score_samples(self, X: Any, y: Any = None) -> np.ndarray:
        """Per-example ELBO in nats (a lower bound on log p(x)), shape (N,) for the N examples of X."""
        rec, kl = self.elbo_terms(X, y)
        return rec - kl

    def score(self, X: Any, y: Any = None) -> float:
        """Mean ELBO per example in nats (higher is better)."""
        return float(np.mean(self.score_samples(X, y)))

    def log_likelihood(self, X: Any, y: Any = None, n_samples: int = 1000, **options: Any):
        """Importance-sampled log p(x) per example, with standard errors, the ELBO and its parts.

        Returns a :class:`vaelab.analysis.LikelihoodResult`; see
        :func:`vaelab.analysis.log_likelihood` for ``chunk_size``, ``seed`` and ``progress``.
        """
        return log_likelihood(self, X, y, n_samples, **options)

    def save(self, path: str | os.PathLike) -> RunDir:
        """Write a run directory (config.json, model.safetensors, history.csv) that vaelab.load reads: a new or
        empty folder, or one an earlier ``save`` of a VAE wrote (replaced); a folder holding anything else (a run
        vaelab train wrote, its metrics and split) is refused."""
        self.check_fitted()
        run = RunDir(path)
        run.check_save(SAVE_FILES, "VAE.save")
        make_folder(run.path)
        run.file(CONFIG).unlink(missing_ok=True)  # a save cut short leaves no run (not new weights under an old config)
        run.write_weights(self.module_.state_dict())
        run.write_history(self.history_)
        run.write_config(self.config_)  # last: now a run
        return run


def init_output_bias(module: VAEModule, X: Any) -> bool:
    """Start a table model's missing-value flags at the training rows' missing shares: their entries of the
    decoder's last bias at :meth:`Mixed.missing_flag_logits` of the rows' feature means (read block by block
    from a memory map); every other weight and bias as initialized. Other likelihoods, tables without missing
    values, and decoders that do not end in a linear layer (a user's own) start as built. Returns whether
    any bias was set."""
    from vaelab.nn.likelihoods import Mixed
    from vaelab.nn.networks import MLPDecoder

    if not isinstance(module.likelihood, Mixed) or not isinstance(module.decoder, MLPDecoder) or X.shape[0] == 0:
        return False
    if module.likelihood.missing_flags.numel() == 0:  # no pass over the rows for a table without missing values
        return False
    last = [m for m in module.decoder if isinstance(m, torch.nn.Linear)][-1]
    total = np.zeros(last.out_features, dtype=np.float64)
    for _, rows in row_blocks(X):
        total += rows.reshape(len(rows), -1).sum(0, dtype=np.float64)
    index, logits = module.likelihood.missing_flag_logits(torch.from_numpy(total / X.shape[0]))
    with torch.no_grad():
        last.bias[index.to(last.bias.device)] = logits.to(last.bias)
    return True


def training_summary(state: TrainState, likelihood_choice: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``training`` block of metrics.json (with ``likelihood_choice``: the likelihood and why)."""
    best = state.history[state.best_epoch - 1] if state.best_epoch else {}
    # torch's CPU threads the epochs ran with (rows of a vaelab before it have none): the same seed gives the same
    # weights on one machine with the same count, since another sums in another order (an audit, s13 g)
    threads = sorted({row["threads"] for row in state.history if isinstance(row.get("threads"), int)})
    return {
        "likelihood_choice": likelihood_choice,
        "epochs_run": state.epoch,
        "best_epoch": state.best_epoch,
        "stopped_early": state.stopped_early,
        "best_val_loss": best.get("val_loss"),
        "best_val_reconstruction": best.get("val_reconstruction"),
        "best_val_kl": best.get("val_kl"),
        "seconds": sum(row["seconds"] for row in state.history),
        **({"threads": threads} if threads else {}),
    }


def auto_likelihood(kind: str, n_values: int, binarize: str = "dynamic") -> tuple[str, str]:
    """likelihood="auto": the likelihood for data whose values are ``kind`` (:func:`value_kind`), and why
    (``binarize="none"``: the Bernoulli of grey levels is on the grey values, and the reason says so).

    A Bernoulli on binarized pixels only for binary data or data that looks like grey-level images
    (the MNIST convention); anything else in [0, 1] (min-max scaled readings, say) would be silently
    binarized, so it gets the Gaussian that unbounded data gets.
    """
    if kind == "binary":
        return "bernoulli", "the data is binary (only 0 and 1): a Bernoulli is its exact likelihood"
    if kind == "levels" and binarize == "none":
        return "bernoulli", (f"the values lie in [0, 1] on {n_values} grey levels (at most {GREY_LEVELS}), like "
                             "8-bit images; with binarize='none' the Bernoulli is on the grey values themselves: a "
                             "cross-entropy, not a density (likelihood='continuous-bernoulli' is one on [0, 1])")  # fmt: skip
    if kind == "levels":
        return "bernoulli", (f"the values lie in [0, 1] on {n_values} grey levels (at most {GREY_LEVELS}), like "
                             "8-bit images: a Bernoulli on binarized pixels, the usual convention for such images "
                             "(likelihood='continuous-bernoulli' models the grey values themselves)")  # fmt: skip
    if kind == "unit":
        count = (f"more than {GREY_LEVELS} distinct values" if n_values > GREY_LEVELS else
                 f"{n_values} distinct values, not on a grid k/m with m < {GREY_LEVELS}")  # fmt: skip
        return "gaussian", (f"the values lie in [0, 1] but are not grey levels ({count}), so they are "
                            "continuous readings: a Gaussian with learned variance (not a "
                            "binarized Bernoulli; likelihood='continuous-bernoulli' gives a density on [0, 1])")  # fmt: skip
    return "gaussian", "the data has values outside [0, 1]: a Gaussian with learned variance"


def _take(codes: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if codes is None else codes[idx]


def _load_weights(module: torch.nn.Module, weights: dict[str, torch.Tensor], where: os.PathLike) -> None:
    try:
        module.load_state_dict(weights)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise RunError(
            f"The weights in {where} do not fit the model its config describes ({first[0] if first else e}); "
            "the run is damaged or its files come from different runs."
        ) from None


def _read_history(run: RunDir) -> list[dict]:
    path = run.file("history.csv")
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return [{k: (float(v) if v not in ("", None) else math.nan) for k, v in row.items()}
                    for row in csv.DictReader(f)]  # fmt: skip
    except (ValueError, TypeError, csv.Error, OSError) as e:  # UnicodeDecodeError is a ValueError
        raise RunError(
            f"{path} is damaged ({type(e).__name__}: {str(e)[:200]}); expected one row of numbers per epoch. "
            "Delete it to load the run without its history."
        ) from None


SAVE_FILES = frozenset({CONFIG, MODEL, HISTORY})  # what VAE.save writes
TRAINING_BYTES_PER_WEIGHT = 16  # float32 weights, their gradients and Adam's two moments


def _check_sizes(cfg: ModelConfig, train: TrainConfig) -> None:
    """Sizes that cannot be trained in this machine's memory (:func:`vaelab.runtime.memory_budget`), refused before
    anything is written (an audit, s13: --hidden 99999999999 or --iw-samples 99999999999 was torch's allocation
    traceback, after the run folder was started). The network is built on PyTorch's meta device (no memory) to count
    its weights; a training step holds at least K draws of one example's code and decoded values."""
    budget, gib = memory_budget(), 2**30
    d = math.prod(cfg.input_shape)
    try:  # the prior's weights counted apart: a VampPrior's pseudo-inputs on the meta device import torch's decompositions (seconds)
        with torch.device("meta"):
            n = sum(p.numel() for p in build_vae(dataclasses.replace(cfg, prior="normal")).parameters())
    except (RuntimeError, ValueError, OverflowError, MemoryError):  # not countable here: training says what it finds
        return
    n += {"mog": cfg.n_components * (2 * cfg.latent_dim + 1), "vamp": cfg.n_components * d}.get(cfg.prior, 0)
    if n * TRAINING_BYTES_PER_WEIGHT > budget:
        mixture = f", n_components={cfg.n_components}" if cfg.prior != "normal" else ""
        raise ConfigError(f"hidden={list(cfg.hidden)}, latent_dim={cfg.latent_dim}{mixture} make a network of {n:,} "
                          f"weights for examples of {d:,} values, which needs about "
                          f"{n * TRAINING_BYTES_PER_WEIGHT / gib:,.0f} GiB to train (weights, gradients and Adam's "
                          f"moments); a command here may plan {budget / gib:,.1f} GiB (half the memory). Give smaller "
                          "sizes.", setting=("hidden", "latent_dim", "n_components"))  # fmt: skip
    step = train.iw_samples * (d + cfg.latent_dim) * 4  # one example's K codes and decoded values, float32
    if step > budget:
        raise ConfigError(f"iw_samples={train.iw_samples} importance samples of one example (its code and its {d:,} "
                          f"decoded values each) need about {step / gib:,.0f} GiB in a training step, before the batch "
                          f"multiplies it; a command here may plan {budget / gib:,.1f} GiB (half the memory). Give fewer.",
                          setting="iw_samples")  # fmt: skip


def check_save_every(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"save_every must be a number of seconds >= 0 (0: write the run after every epoch); "
                          f"got {value!r}.", setting="save_every")  # fmt: skip


def settings_from_config(config: RunConfig) -> dict[str, Any]:
    """The VAE settings a run was trained with (device and custom networks aside)."""
    m, t = config.model, config.train
    return dict(
        latent_dim=m.latent_dim, arch="mlp" if m.arch == "custom" else m.arch, hidden=list(m.hidden),
        likelihood=m.likelihood, prior=m.prior, n_components=m.n_components, sigma=m.sigma,
        conditional=m.n_classes > 0, beta=t.beta, warmup_epochs=t.warmup_epochs, iw_samples=t.iw_samples,
        epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, patience=t.patience, grad_clip=t.grad_clip,
        binarize=t.binarize, validation_fraction=config.data.val_fraction if config.data else 0.1, seed=t.seed,
        precision=t.precision, compile=t.compile, blocks=m.blocks or None, time_layout=m.time_layout or None,
    )  # fmt: skip


def load(
    run: str | os.PathLike,
    *,
    encoder: torch.nn.Module | None = None,
    decoder: torch.nn.Module | None = None,
    device: str = "auto",
    trust: bool = False,
) -> VAE | AdoptedModel:
    """Rebuild a fitted :class:`VAE` from a run directory (config.json + model.safetensors); for a run written
    by ``vaelab adopt`` / :func:`vaelab.adopt`, its :class:`~vaelab.adopt.AdoptedModel` instead (the model interface
    of :mod:`vaelab.model`, not a VAE: no ``fit``; ``device`` does not apply to it, it runs where its halves are).

    Runs trained with custom networks need the same ``encoder``/``decoder`` classes passed in;
    so do adopted runs (:func:`vaelab.adopt.load_adopted`) whose halves are PyTorch modules, or ``trust=True`` to
    import the SPECs an adopted run recorded (only for runs you made; as ``load_adopted``'s).
    """
    rd = RunDir(run)
    config = rd.read_config()
    m = config.model
    if m.arch == "adopted":  # a model trained elsewhere (vaelab.adopt)
        return load_adopted(rd.path, encoder=encoder, decoder=decoder, trust=trust)
    vae = VAE(**settings_from_config(config), device=device, encoder=encoder, decoder=decoder)
    if m.arch == "custom" and encoder is None:
        build_vae(m)  # raises the error that explains what to pass
    weights = rd.read_weights()
    try:
        module = vae._build(m, resolve_device(device))
    except VaelabError:
        raise
    except (RuntimeError, TypeError, ValueError, OverflowError, MemoryError) as e:  # sizes torch cannot allocate
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise RunError(
            f"{rd.file('config.json')} describes a model that cannot be built here ({first}); its sizes "
            "(input_shape, hidden, latent_dim, n_classes, n_components) are damaged or too large. Retrain the run."
        ) from None
    _load_weights(module, weights, rd.file("model.safetensors"))
    vae._set_fitted(module, config, _read_history(rd))
    return vae
