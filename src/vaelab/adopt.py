"""``vaelab.adopt``: a VAE trained elsewhere, behind the model interface every analysis uses.

Most users already have a model. ``vaelab.adopt(encoder, decoder, likelihood=..., data=X)``
wraps its two halves, PyTorch modules or callables or ONNX files (Keras/TensorFlow via
tf2onnx, JAX, PyTorch via ``torch.onnx.export``; run with onnxruntime), as an
:class:`AdoptedModel`: a :class:`vaelab.model.Model`, so ``vaelab.diagnose``,
``vaelab.analysis.log_likelihood``, the samplers and sample-quality metrics and the
exploration functions take it as they take a :class:`vaelab.VAE`.

What the halves must do (checked once, on a few examples, with a one-line error that says
what was expected and what came back):

* ``encoder(x)`` (``encoder(x, y)`` for a conditional model) returns q(z|x): a pair
  ``(mu, logvar)`` (``scale="sigma"``: ``(mu, sigma)``; ``scale="var"``: ``(mu, sigma²)``), or a
  ``torch.distributions.Normal``; each (N, L).
* ``decoder(z)`` (``decoder(z, y)``) returns p(x|z)'s parameters: Bernoulli logits
  (``probabilities=True``: probabilities), a Gaussian mean (``likelihood="gaussian-fixed"``, SD
  ``sigma``), or a Gaussian's ``(mean, logvar)`` or ``Normal`` (``likelihood="gaussian"``); shaped
  like the examples or flat (N, D).
* ``y`` reaches a conditional model as integer codes of ``classes`` (``label_format="onehot"``:
  one-hot float rows).

Nothing after training needs gradients: the halves are called under ``torch.no_grad``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vaelab.analysis.likelihood import log_likelihood
from vaelab.checkpoint import CONFIG, MODEL, RunConfig, RunDir
from vaelab.config import DataConfig, ModelConfig, TrainConfig, check_choice, check_seed
from vaelab.data.arrays import encode_labels, to_examples
from vaelab.errors import ConfigError, DataError, RunError
from vaelab.files import atomic_write, make_folder, read_json
from vaelab.model import Model, check_unit_interval
from vaelab.model_libraries import is_library_model, library_halves
from vaelab.nn.likelihoods import Bernoulli, ContinuousBernoulli, GaussianFixed, GaussianMeanLogvar, Likelihood
from vaelab.nn.priors import StandardNormal
from vaelab.runtime import seeded
from vaelab.specs import OnnxGraph, is_onnx, load_weights, resolve, sha256

LIKELIHOODS = ("bernoulli", "continuous-bernoulli", "gaussian", "gaussian-fixed")
SCALES = ("logvar", "sigma", "var")  # how the encoder's second output measures q(z|x)'s spread
LABEL_FORMATS = ("codes", "onehot")
CHECK_EXAMPLES = 8  # examples the halves are first called on
EVAL_SEED_OFFSET = 1  # binarize=True: evaluation data binarized with seed + 1, as vaelab.VAE does
ADOPTED = "adopted.json"  # how an adopted run's halves are called
SAVE_FILES = frozenset({CONFIG, ADOPTED, MODEL, "encoder.onnx", "decoder.onnx"})  # what AdoptedModel.save writes
ADOPTED_FORMAT = 1
PROBABILITY_SLACK = 1e-5  # how far a decoder's probabilities may stray outside [0, 1] (float rounding)


def _callable(part: Any, what: str) -> Callable:
    """A half as something to call: a module, a callable, or the path of an ONNX file."""
    if isinstance(part, (str, os.PathLike)):
        if is_onnx(str(part)):
            return OnnxGraph(part)
        raise ConfigError(f"The {what} {str(part)!r} is a path but not an .onnx file; pass a PyTorch module or "
                          "callable, or an ONNX file.")  # fmt: skip
    if isinstance(part, nn.Module):
        part.eval()  # dropout and batch norm as at inference
        return part
    if callable(part):
        return part
    raise ConfigError(f"The {what} must be a PyTorch module, a callable or an ONNX file; got {type(part).__name__}.")


def _device(*parts: Callable) -> torch.device:
    for p in parts:
        if isinstance(p, nn.Module):
            for t in list(p.parameters()) + list(p.buffers()):
                return t.device
    return torch.device("cpu")


def _shape(t: Any) -> str:
    return str(tuple(t.shape)) if hasattr(t, "shape") else type(t).__name__


def _tensor(t: Any, what: str) -> torch.Tensor:
    if isinstance(t, np.ndarray):
        t = torch.from_numpy(t)
    if not isinstance(t, torch.Tensor):
        raise ConfigError(f"The {what} must be a tensor; got {type(t).__name__}.")
    return t.float()


class AdoptedModel(Model):
    """A model trained elsewhere (an encoder and a decoder) as vaelab's analyses see it. Make one
    with :func:`adopt`; its attributes are the model interface's (:mod:`vaelab.model`)."""

    trained_elsewhere = True

    def __init__(self, encoder: Callable, decoder: Callable, likelihood: Likelihood, *, input_shape: tuple[int, ...],
                 latent_dim: int, scale: str, probabilities: bool, classes: np.ndarray | None, label_format: str,
                 seed: int, binarize: bool, heads: dict[str, nn.Module], likelihood_name: str = "",
                 sigma: float = 1.0, deterministic: bool | None = None,
                 latent_shape: Sequence[int] | None = None):  # fmt: skip
        self.encoder, self.decoder = encoder, decoder
        self.scale, self.probabilities, self.label_format = scale, probabilities, label_format
        self.binarize = binarize
        self.seed = int(seed)
        self.input_shape_ = tuple(int(s) for s in input_shape)
        self.n_features_in_ = math.prod(self.input_shape_)
        self.latent_dim_ = int(latent_dim)
        self.classes_ = classes
        self.device_ = _device(encoder, decoder)
        self.px_z_ = likelihood.to(self.device_)
        self.prior_ = StandardNormal(self.latent_dim_).to(self.device_)
        self._heads = dict(heads)
        # True: a plain autoencoder; None: decided by the encoder's first output (one tensor: deterministic).
        self.deterministic_: bool | None = deterministic
        self.latent_shape_ = None if latent_shape is None else tuple(int(s) for s in latent_shape)
        self.likelihood_name, self.sigma = likelihood_name, float(sigma)
        self.specs: dict[str, str | None] = {"encoder": None, "decoder": None}  # SPECs the halves came from
        self.weight_files: dict[str, dict[str, str] | None] = {"encoder": None, "decoder": None}

    # ------------------------------------------------------------ the model interface
    def _labels(self, y: torch.Tensor | None) -> torch.Tensor | None:
        if y is None or self.label_format == "codes":
            return y
        return nn.functional.one_hot(y, len(self.classes_)).float()

    def _call(self, fn: Callable, first: torch.Tensor, y: torch.Tensor | None) -> Any:
        if self.classes_ is not None:
            if y is None:
                raise DataError("This adopted model is conditional: pass the labels (y).")
            with torch.no_grad():
                return fn(first, self._labels(y))
        with torch.no_grad():
            return fn(first)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        out = self._call(self.encoder, x, y)
        if self.deterministic_ is not False and (self.deterministic_ or isinstance(out, (torch.Tensor, np.ndarray))):
            # A deterministic encoder (a plain autoencoder): the code, and q(z|x) a point (log-variance -inf).
            self.deterministic_ = True
            code = _tensor(out[0] if isinstance(out, (tuple, list)) else out, "encoder's code")
            n, latent = x.shape[0], self.latent_dim_ or "L"
            if code.dim() != 2 or code.shape[0] != n or (self.latent_dim_ and code.shape[1] != latent):
                raise ConfigError(f"The encoder's code has shape {_shape(code)} for {n} examples; expected ({n}, {latent}).")
            return code.to(self.device_), torch.full_like(code, -math.inf).to(self.device_)
        mu, spread = _posterior(out, self.scale)
        n, latent = x.shape[0], self.latent_dim_ or "L"
        if mu.dim() != 2 or mu.shape[0] != n or spread.shape != mu.shape or (self.latent_dim_ and mu.shape[1] != latent):
            raise ConfigError(f"The encoder's mu has shape {_shape(mu)} and its {self.scale} {_shape(spread)} for {n} "
                              f"examples; expected both ({n}, {latent}).")  # fmt: skip
        logvar = {"logvar": spread, "sigma": 2.0 * torch.log(spread), "var": torch.log(spread)}[self.scale]
        return mu.to(self.device_), logvar.to(self.device_)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        lead = z.shape[:-1]  # (..., N): sample dimensions before the examples
        flat = z.reshape(-1, z.shape[-1])
        yy = None if y is None else y.expand(*lead).reshape(-1)
        out = self._call(self.decoder, flat, yy)
        params = self._parameters(out, flat.shape[0])
        return params.reshape(*lead, *params.shape[1:]).to(self.device_)

    def _parameters(self, out: Any, n: int) -> torch.Tensor:
        """The decoder's output as the likelihood's parameters (n, *input_shape) (gaussian: (n, 2, *shape))."""
        if isinstance(self.px_z_, GaussianMeanLogvar):
            if isinstance(out, torch.distributions.Independent):
                out = out.base_dist
            if isinstance(out, torch.distributions.Normal):
                out = (out.loc, 2.0 * torch.log(out.scale))
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise ConfigError("likelihood 'gaussian' needs the decoder to return (mean, logvar) or a Normal; it "
                                  f"returned {_shape(out)}. For a decoder that returns the mean only, use "
                                  "likelihood='gaussian-fixed' with sigma=.", setting=("likelihood", "sigma"))  # fmt: skip
            parts = [self._example_shaped(_tensor(t, "decoder output"), n) for t in out]
            return torch.stack(parts, 1)
        if isinstance(out, (tuple, list)):
            raise ConfigError(f"The decoder returned {len(out)} outputs; likelihood {self._name()!r} takes one "
                              "tensor (for a mean and a log-variance, use likelihood 'gaussian').")  # fmt: skip
        params = self._example_shaped(_tensor(out, "decoder output"), n)
        if self.probabilities:  # probabilities → logits, clipped away from 0 and 1
            if params.numel() and (params.min() < -PROBABILITY_SLACK or params.max() > 1 + PROBABILITY_SLACK):
                # logits taken for probabilities were clipped to 0 and 1 without a word (an audit)
                raise ConfigError(f"The decoder was declared to output probabilities (probabilities=True), "
                                  f"but it returned "
                                  f"values from {float(params.min()):.4g} to {float(params.max()):.4g}; expected values "
                                  "in [0, 1]. If it outputs logits, leave the option out.", setting="probabilities")  # fmt: skip
            p = params.clamp(1e-6, 1 - 1e-6)
            params = torch.log(p) - torch.log1p(-p)
        return params

    def _example_shaped(self, t: torch.Tensor, n: int) -> torch.Tensor:
        if t.shape[0] != n or math.prod(t.shape[1:]) != self.n_features_in_:
            shaped, flat = f"({n}, {', '.join(map(str, self.input_shape_))})", f"({n}, {self.n_features_in_})"
            raise ConfigError(f"The decoder's output has shape {_shape(t)} for {n} codes; expected {shaped}"
                              + ("" if shaped == flat else f" or {flat}") + ".")  # fmt: skip
        return t.reshape(n, *self.input_shape_)

    def _name(self) -> str:
        return {Bernoulli: "bernoulli", ContinuousBernoulli: "continuous-bernoulli",
                GaussianFixed: "gaussian-fixed"}.get(type(self.px_z_), "gaussian")  # fmt: skip

    def evaluation_seed(self) -> int | None:
        return self.seed + EVAL_SEED_OFFSET if self.binarize else None

    def heads(self) -> dict[str, nn.Module]:
        return self._heads

    # ---------------------------------------------------------------- helpers
    def sample(self, n_samples: int = 1, y: Any = None, seed: int | None = None) -> np.ndarray:
        """n_samples draws z ~ p(z) decoded to E[x|z], shape (n_samples, *input_shape); seeded."""
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ConfigError(f"n_samples must be a positive integer; got {n_samples!r}.")
        seed = None if seed is None else check_seed(seed)  # the one limit of every seed (an audit, s14)
        with seeded(self.seed if seed is None else seed, self.device_), torch.no_grad():
            z = self.prior_.sample(int(n_samples))
        return self.inverse_transform(z.cpu().numpy(), y)

    def log_likelihood(self, X: Any, y: Any = None, n_samples: int = 1000, **options: Any):
        """Importance-sampled log p(x) per example (see :func:`vaelab.analysis.log_likelihood`)."""
        return log_likelihood(self, X, y, n_samples, **options)

    def save(self, path: str | os.PathLike, data: DataConfig | None = None) -> RunDir:
        """A run folder every vaelab command opens: config.json (model.arch "adopted"), adopted.json
        (how the halves are called), model.safetensors (the weights of PyTorch halves: their code
        stays the user's, named again when the run is opened) and encoder.onnx / decoder.onnx. The
        folder is new or empty, or one an earlier ``save`` of an adopted model wrote (replaced); a
        folder holding anything else (a run vaelab train wrote, its metrics and split) is refused."""
        run = RunDir(path)
        run.check_save(SAVE_FILES, "AdoptedModel.save")
        return self.write(run, data)

    def write(self, run: RunDir, data: DataConfig | None = None) -> RunDir:
        """:meth:`save` into ``run`` without its check of the folder (vaelab adopt checked it, and wrote the split)."""
        halves, tensors, graphs = {}, {}, {}
        shared = _shares_weights(self.encoder, self.decoder)
        for name, part in (("encoder", self.encoder), ("decoder", self.decoder)):
            if isinstance(part, OnnxGraph):
                graphs[name] = raw = part.path.read_bytes()
                halves[name] = {"kind": "onnx", "spec": str(part.path), "sha256": hashlib.sha256(raw).hexdigest()}
            elif isinstance(part, nn.Module):
                halves[name] = {"kind": "module", "spec": self.specs[name],
                                "class": f"{type(part).__module__}.{type(part).__qualname__}",
                                "weights": self.weight_files[name]}  # fmt: skip
                if name == "decoder" and shared:  # one model behind both halves (diffusers): its weights once
                    halves[name]["shares"] = "encoder"
                    continue
                tensors.update({f"{name}.{k}": v for k, v in part.state_dict().items()})
            else:
                raise ConfigError(f"The {name} is a {type(part).__name__}, not a torch.nn.Module or an ONNX graph; a run "
                                  "folder can hold only those (adopt the modules themselves, or export them to ONNX).")  # fmt: skip
        n_classes = 0 if self.classes_ is None else len(self.classes_)
        model = ModelConfig(input_shape=self.input_shape_, latent_dim=self.latent_dim_, arch="adopted", hidden=(),
                            likelihood=self.likelihood_name, prior="normal", sigma=self.sigma, n_classes=n_classes)  # fmt: skip
        record = {"format": ADOPTED_FORMAT, "halves": halves, "scale": self.scale, "probabilities": self.probabilities,
                  "deterministic": bool(self.deterministic_), "latent_shape": self.latent_shape_,
                  "label_format": self.label_format, "binarize": self.binarize,
                  "classes": None if self.classes_ is None else self.classes_.tolist()}  # fmt: skip
        make_folder(run.path)
        run.file(CONFIG).unlink(missing_ok=True)  # a save cut short leaves no run (not new files under an old config)
        for name in ("encoder", "decoder"):  # a graph an earlier save of this folder held, this model does not use
            if name not in graphs:
                run.file(f"{name}.onnx").unlink(missing_ok=True)
        for name, raw in graphs.items():
            atomic_write(run.file(f"{name}.onnx"), raw)
        run.write_weights(tensors)
        atomic_write(run.file(ADOPTED), (json.dumps(record, indent=2) + "\n").encode())
        # config.json's train block holds what adoption used: its seed and the binarization of the evaluation data
        # ("fixed" with binarize=True, else "none"), not train's default "dynamic" it never did (an audit); the other
        # training settings keep their defaults, which RunConfig needs and which no reader takes for an adopted run.
        binarize = "fixed" if self.binarize else "none"
        if data is not None:
            data = dataclasses.replace(data, binarized_eval=bool(self.binarize))
        run.write_config(RunConfig(model, TrainConfig(seed=self.seed, binarize=binarize), data))  # last: now a run
        return run

    def _how_called(self, err: Exception, call: str) -> str:
        """For a half that failed on its arguments (a TypeError: too many, too few), how vaelab calls it."""
        if not isinstance(err, TypeError) or "argument" not in str(err):
            return ""
        return _how_called_text(self.classes_ is not None, self.label_format, call)

    def check(self, X: np.ndarray, y: Any = None) -> None:
        """Call both halves on a few examples: shapes, finite values, value ranges; one line if not."""
        x = self.model_input(X[:CHECK_EXAMPLES], evaluation=True).to(self.device_)
        yc = self.label_codes(None if y is None else np.asarray(y)[:CHECK_EXAMPLES], x.shape[0])
        yc = None if yc is None else yc.to(self.device_)
        try:
            mu, logvar = self.encode(x, yc)
        except ConfigError:
            raise
        except Exception as err:  # the user's code: any failure becomes one line
            raise ConfigError(f"The encoder failed on {x.shape[0]} examples of shape {self.input_shape_}: "
                              f"{type(err).__name__}: {_first_line(err)}{self._how_called(err, 'encoder(x, y)')}") from None  # fmt: skip
        if not self.latent_dim_:
            self.latent_dim_ = int(mu.shape[1])
            self.prior_ = StandardNormal(self.latent_dim_).to(self.device_)
        self.deterministic_ = bool(self.deterministic_)
        for name, t in (("mu", mu), ("log-variance", logvar)):
            if name != "mu" and self.deterministic_:
                continue  # a point: its log-variance is -inf by definition
            if not torch.isfinite(t).all():
                raise ConfigError(f"The encoder returned non-finite {name} values (NaN or ±inf) on the first "
                                  f"{x.shape[0]} examples; expected finite values"
                                  + (" (scale='sigma' needs sigma > 0)" if name != "mu" and self.scale != "logvar" else "")
                                  + ".")  # fmt: skip
        try:
            params = self.decode(mu, yc)
        except ConfigError:
            raise
        except Exception as err:
            raise ConfigError(f"The decoder failed on codes of shape {_shape(mu)}: {type(err).__name__}: "
                              f"{_first_line(err)}{self._how_called(err, 'decoder(z, y)')}") from None  # fmt: skip
        if not torch.isfinite(params).all():
            raise ConfigError(f"The decoder returned non-finite values (NaN or ±inf) for the codes of the first "
                              f"{x.shape[0]} examples; expected finite parameters of p(x|z).")  # fmt: skip


def _how_called_text(conditional: bool, label_format: str, call: str) -> str:
    if conditional:  # a half that takes x alone, called with (x, y): say how the labels reach it (an audit, s12)
        y = ("one-hot float rows (N, classes)" if label_format == "onehot" else
             "integer codes (N,) of the classes (--label-format onehot: one-hot float rows)")  # fmt: skip
        return (f". A conditional model's halves must take the labels too, {call}, y as {y}; the classes are the "
                "sorted label names, or --classes' order. Halves that take x alone are adopted without --conditional.")
    return (f". This model is not conditional, so its halves are called with one argument; halves that take labels "
            f"({call}) need --conditional with --labels FILE or --label-column COL (labels= or classes= in Python).")


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [""])[0][:200]


def _posterior(out: Any, scale: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, spread) from what an encoder returned."""
    if isinstance(out, torch.distributions.Independent):
        out = out.base_dist
    if isinstance(out, torch.distributions.Normal):
        spread = out.scale
        return out.loc.float(), {"logvar": 2.0 * torch.log(spread), "sigma": spread, "var": spread**2}[scale].float()
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return _tensor(out[0], "encoder's mu"), _tensor(out[1], "encoder's second output")
    if isinstance(out, (torch.Tensor, np.ndarray)):
        raise ConfigError(f"The encoder returned one tensor of shape {_shape(out)} but was declared stochastic "
                          "(deterministic=False); return (mu, logvar) or a Normal, or leave deterministic out.")  # fmt: skip
    n = len(out) if isinstance(out, (tuple, list)) else None
    raise ConfigError(f"The encoder returned {type(out).__name__}" + (f" of {n} items" if n is not None else "")
                      + "; expected (mu, logvar), (mu, sigma) with scale='sigma', or a torch.distributions.Normal; "
                      "a plain autoencoder's code as one tensor (deterministic=True, --deterministic: a tuple's first "
                      "item).")  # fmt: skip


def adopt(
    encoder: Any,
    decoder: Any = None,
    *,
    likelihood: str,
    prior: str = "normal",
    data: Any = None,
    labels: Sequence[Any] | None = None,
    input_shape: Sequence[int] | None = None,
    scale: str = "logvar",
    probabilities: bool = False,
    sigma: float | None = None,
    classes: Sequence[Any] | None = None,
    label_format: str = "codes",
    binarize: bool = False,
    heads: dict[str, nn.Module] | None = None,
    deterministic: bool | None = None,
    seed: int = 0,
) -> AdoptedModel:
    """A model trained elsewhere, ready for every vaelab analysis (what the halves must return: the docstring of the
    module ``vaelab.adopt``, which this function's name hides as an attribute of ``vaelab``).

    ``encoder``, ``decoder``: modules, plain callables or ONNX paths. ``likelihood``: ``"bernoulli"``,
    ``"continuous-bernoulli"``, ``"gaussian"`` (the decoder gives mean and logvar, or a Normal) or ``"gaussian-fixed"``
    (the mean; SD ``sigma``, default 1, refused for the other likelihoods). ``prior``: ``"normal"`` only.
    ``scale``: what the encoder's second output is, ``"logvar"`` (default), ``"sigma"`` or ``"var"``.
    ``probabilities``: a Bernoulli decoder that outputs probabilities, not logits. ``label_format``: ``"codes"``
    (default) or ``"onehot"``, how y reaches a conditional model. ``seed``: of the fixed binarization of evaluation
    data and of ``sample`` (default 0).

    ``data``: examples the model takes (N, ...); a few are used to check the halves, and the
    example shape is read from them (or give ``input_shape``). ``labels`` (with ``data``) or
    ``classes`` make the model conditional; ``classes`` fixes the order of the codes the model
    was trained with (default: the sorted label names). ``binarize``: the model was trained on
    binarized data, so evaluation data gets vaelab's fixed binarization. ``heads``: the modules
    that output mu and logvar, for the head lint of ``vaelab.diagnose`` (their outputs are linted
    in any case). ``deterministic``: the encoder gives one code per input (a plain autoencoder;
    with a tuple, its first item); by default an encoder that returns one tensor is taken as one.
    Analyses that need q(z|x)'s variance (KL per dimension, ELBO surgery, log p(x)) then say they
    do not apply; the rest run on the codes.

    A **pythae model** or a **diffusers AutoencoderKL** goes in alone, ``adopt(model, likelihood=...)``
    (:mod:`vaelab.model_libraries`): its halves are read from it, a pythae decoder's probabilities
    recognised, a spatial latent's shape kept so the diagnostics report per channel.
    """
    check_seed(seed)
    check_choice("likelihood", likelihood, LIKELIHOODS)
    check_choice("prior", prior, ("normal",))
    check_choice("scale", scale, SCALES)
    check_choice("label_format", label_format, LABEL_FORMATS)
    if probabilities and likelihood != "bernoulli":
        raise ConfigError("probabilities=True describes a Bernoulli decoder; leave it out for Gaussian likelihoods.")
    # options that cannot apply are refused, not ignored (an audit: --binarize with a Gaussian binarized the data it
    # scored, and a density of binarized points was called the NLL)
    if binarize and likelihood != "bernoulli":
        raise ConfigError(f"binarize=True says the model was trained on binarized data, which the Bernoulli likelihood "
                          f"models; likelihood {likelihood!r} scores the data as they are. Drop it.", setting="binarize")  # fmt: skip
    if sigma is not None and likelihood != "gaussian-fixed":
        raise ConfigError(f"sigma={sigma!r} is the SD of likelihood 'gaussian-fixed'; likelihood {likelihood!r} has "
                          "none to set. Drop it.", setting="sigma")  # fmt: skip
    if deterministic and scale != "logvar":  # an audit (s12): the scale of a spread that is not there was ignored
        raise ConfigError(f"scale={scale!r} says how the encoder's second output measures q(z|x)'s spread; "
                          "deterministic=True declares one code per input and no spread. Drop one.",
                          setting=("scale", "deterministic"))  # fmt: skip
    sigma = 1.0 if sigma is None else sigma
    if likelihood == "gaussian-fixed" and not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ConfigError(f"sigma must be a positive number (the SD of p(x|z)); got {sigma!r}.", setting="sigma")
    X = None if data is None else to_examples(data)
    latent_shape = None
    if decoder is None:  # a library's model, both halves in one object
        found = library_halves(encoder, X, likelihood)
        encoder, decoder, latent_shape = found.encoder, found.decoder, found.latent_shape
        input_shape = input_shape if input_shape is not None else found.input_shape  # the library's, if it says
        probabilities = found.options.get("probabilities", probabilities)
    if data is None and input_shape is None:
        raise ConfigError("Pass data= (a few examples the model takes, to check it on) or input_shape=.")
    shape = tuple(X.shape[1:]) if input_shape is None else tuple(int(s) for s in input_shape)
    if X is not None and math.prod(X.shape[1:]) != math.prod(shape):
        raise DataError(f"data has examples of shape {tuple(X.shape[1:])}; input_shape is {shape}.")
    if likelihood in ("bernoulli", "continuous-bernoulli") and X is not None:
        check_unit_interval(X)
    if labels is not None and X is None:
        raise ConfigError("labels= go with data=: one label per example of data.")
    names = None
    if labels is not None:
        _, found = encode_labels(np.asarray(labels), X.shape[0], "labels")
        names = found
    if classes is not None:
        names = tuple(str(c) for c in classes)
        if labels is not None:
            unknown = sorted(set(np.asarray(labels).astype(str).tolist()) - set(names))
            if unknown:
                raise DataError(f"labels {unknown[:5]} are not among classes {list(names)[:10]}.")
    if label_format != "codes" and names is None:
        raise ConfigError(f"label_format={label_format!r} is how a conditional model takes y; this model "
                          "is not conditional (no labels= or classes=; --conditional with its labels). Drop it.",
                          setting="label_format")  # fmt: skip
    lik = _likelihood(likelihood, shape, sigma)
    model = AdoptedModel(
        _callable(encoder, "encoder"), _callable(decoder, "decoder"), lik, input_shape=shape, latent_dim=0,
        scale=scale, probabilities=probabilities, classes=None if names is None else np.asarray(names),
        label_format=label_format, seed=seed, binarize=binarize, heads=heads or {}, likelihood_name=likelihood,
        sigma=sigma, deterministic=deterministic, latent_shape=latent_shape,
    )  # fmt: skip
    if X is None:  # no examples: call the halves on zeros of the declared shape
        X = np.zeros((2, *shape), dtype=np.float32)
        labels = None if names is None else np.full(2, names[0])
    model.check(X, labels)
    if model.deterministic_ and scale != "logvar":  # one tensor, taken as a code: no second output to measure
        raise ConfigError(f"scale={scale!r} says how the encoder's second output measures q(z|x)'s spread; "
                          "the encoder returned one tensor, taken as a deterministic code (a plain autoencoder). Drop "
                          "it, or have the encoder return (mu, spread) or a Normal.", setting="scale")  # fmt: skip
    if model.latent_shape_ is not None and math.prod(model.latent_shape_) != model.latent_dim_:
        raise ConfigError(f"The latent's shape {model.latent_shape_} does not hold {model.latent_dim_} values.")
    return model


def _check_record(record: Any, where: Path) -> dict[str, Any]:
    """adopted.json, field by field."""
    try:
        if not isinstance(record, dict) or record.get("format") != ADOPTED_FORMAT:
            raise ValueError(f"format must be {ADOPTED_FORMAT}")
        halves = record["halves"]
        if not isinstance(halves, dict) or set(halves) != {"encoder", "decoder"}:
            raise ValueError("halves must name the encoder and the decoder")
        for name, h in halves.items():
            if not isinstance(h, dict) or h.get("kind") not in ("onnx", "module"):
                raise ValueError(f"{name}.kind must be onnx or module")
            if h["kind"] == "onnx" and not (isinstance(h.get("sha256"), str) and len(h["sha256"]) == 64):
                raise ValueError(f"{name}.sha256 must be a SHA-256")
            if h.get("spec") is not None and not isinstance(h["spec"], str):
                raise ValueError(f"{name}.spec must be a string")
            if h.get("shares") not in (None, "encoder") or (h.get("shares") and (name != "decoder" or h["kind"] != "module")):
                raise ValueError("only a module decoder may share the encoder's weights (shares: encoder)")
        check_choice("scale", record["scale"], SCALES)
        check_choice("label_format", record["label_format"], LABEL_FORMATS)
        for key in ("probabilities", "binarize", "deterministic"):
            if not isinstance(record[key], bool):
                raise ValueError(f"{key} must be true or false")
        shape = record.get("latent_shape")
        if shape is not None and not (isinstance(shape, list) and all(type(s) is int and s > 0 for s in shape)):
            raise ValueError("latent_shape must be null or a list of positive integers")
        classes = record["classes"]
        if classes is not None and not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
            raise ValueError("classes must be null or a list of names")
    except (KeyError, TypeError, ValueError, ConfigError) as err:
        raise RunError(f"{where} is damaged ({str(err)[:200]}); adopt the model again.") from None
    return record


def load_adopted(path: str | os.PathLike, *, encoder: Any = None, decoder: Any = None, trust: bool = False) -> AdoptedModel:
    """The adopted model of a run folder (:meth:`AdoptedModel.save`).

    ONNX halves are read from the run (their SHA-256 checked). A PyTorch half is code: vaelab
    never imports what a run folder names, so pass it again (``encoder=`` a module or a SPEC
    string), or ``trust=True`` to import the SPEC the run recorded (only for runs you made).
    A pythae model or a diffusers AutoencoderKL (or a SPEC building one) goes in as ``encoder=``
    alone: both halves are read from it, as :func:`adopt` does.
    """
    run = RunDir(path)
    config = run.read_config()
    record = _check_record(read_json(run.file(ADOPTED), "adopt the model again"), run.file(ADOPTED))
    if decoder is None and encoder is not None:
        if isinstance(encoder, str) and not is_onnx(encoder):
            encoder = resolve(encoder, "encoder")
        if is_library_model(encoder):
            decoder = encoder
    given = {"encoder": encoder, "decoder": decoder}
    weights = None
    parts = {}
    for name in ("encoder", "decoder"):
        h = record["halves"][name]
        if h["kind"] == "onnx":
            file = run.file(f"{name}.onnx")
            if not file.is_file() or sha256(file) != h["sha256"]:
                raise RunError(f"{file} is missing or has changed since the model was adopted (its SHA-256 differs); "
                               "adopt the model again.")  # fmt: skip
            parts[name] = OnnxGraph(file)
            continue
        part = given[name]
        if part is None and trust and h.get("spec"):
            part = h["spec"]
        if part is None:
            spec = h.get("spec")
            # in Python terms (encoder='x.py:E', trust=True), which the CLI says as the flags typed (--trust-run)
            how = (f"pass {name}={spec!r} (or trust=True to import what the run names)" if spec else
                   f"pass it again: {name}=SPEC ('file.py:Class') or, in Python, the module itself")  # fmt: skip
            raise RunError(f"{run.path} holds an adopted model whose {name} is Python code ({h.get('class')}); vaelab "
                           f"never imports code a run folder names: {how}.", setting=(name, "trust"))  # fmt: skip
        module = resolve(part, name) if isinstance(part, str) else part
        if is_library_model(module):  # the whole pythae / diffusers model: take this half of it
            shape = record.get("latent_shape")
            module = getattr(library_halves(module, None, config.model.likelihood, None if shape is None else tuple(shape)), name)
        if not isinstance(module, nn.Module):
            raise ConfigError(f"The {name} must be a torch.nn.Module to take the run's weights; got {type(module).__name__}.")
        weights = run.read_weights(adopted=True) if weights is None else weights
        prefix = ("encoder" if h.get("shares") == "encoder" else name) + "."
        load_weights(module, {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}, str(run.file("model.safetensors")))
        parts[name] = module.eval()
    m = config.model
    lik = _likelihood(m.likelihood, tuple(m.input_shape), m.sigma)
    classes = None if record["classes"] is None else np.asarray(record["classes"])
    model = AdoptedModel(parts["encoder"], parts["decoder"], lik, input_shape=m.input_shape, latent_dim=m.latent_dim,
                         scale=record["scale"], probabilities=record["probabilities"], classes=classes,
                         label_format=record["label_format"], seed=config.train.seed, binarize=record["binarize"],
                         heads={}, likelihood_name=m.likelihood, sigma=m.sigma,
                         deterministic=record["deterministic"], latent_shape=record.get("latent_shape"))  # fmt: skip
    model.config_ = config
    return model


def adopted_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """A run's adopted.json, checked (None for a run vaelab trained); no code is run."""
    run = RunDir(path)
    if run.read_config().model.arch != "adopted":
        return None
    return _check_record(read_json(run.file(ADOPTED), "adopt the model again"), run.file(ADOPTED))


TRAINED_ELSEWHERE = ("training", "this model was trained elsewhere and adopted (vaelab adopt); vaelab did not train it.")


def model_not_applicable(path: str | os.PathLike, record: dict[str, Any] | None = None) -> tuple[tuple[str, str], ...]:
    """The report's sections that do not apply to a run's model, and why: an adopted model's training (read from
    adopted.json, or ``record`` when given; no code is run). A deterministic encoder's likelihood section applies:
    it shows the reconstruction error that score and anomaly-eval use in place of log p(x)."""
    record = adopted_record(path) if record is None else record
    if record is None:
        return ()
    return (TRAINED_ELSEWHERE,)


def _shares_weights(encoder: Any, decoder: Any) -> bool:
    """Whether both halves hold the same weights under the same names (a diffusers AutoencoderKL's halves
    both wrap the whole model): then the run stores them once (safetensors refuses shared tensors)."""
    if not (isinstance(encoder, nn.Module) and isinstance(decoder, nn.Module)):
        return False
    enc, dec = encoder.state_dict(), decoder.state_dict()
    return bool(dec) and enc.keys() == dec.keys() and all(enc[k].data_ptr() == dec[k].data_ptr() for k in enc)


def _likelihood(name: str, shape: tuple[int, ...], sigma: float) -> Likelihood:
    if name not in LIKELIHOODS:
        raise RunError(f"An adopted model's likelihood must be one of {LIKELIHOODS}; config.json says {name!r}.")
    return {"bernoulli": lambda: Bernoulli(shape), "continuous-bernoulli": lambda: ContinuousBernoulli(shape),
            "gaussian": lambda: GaussianMeanLogvar(shape),
            "gaussian-fixed": lambda: GaussianFixed(shape, float(sigma))}[name]()  # fmt: skip


__all__ = ["AdoptedModel", "adopt", "load_adopted"]
