"""``vaelab adopt``: a run folder for a model trained elsewhere, so every command opens it.

The halves are named by SPECs (:mod:`vaelab.specs`: an ONNX file, or the user's Python code,
imported because the user names it), their weights come from safetensors files, and the
data is read, split and stored as ``vaelab train`` does (an array run: the split is what
``score``'s calibration and ``compare-samplers``' held-out set use). The run records the
SPECs and the SHA-256 of every weights and ONNX file; it keeps the ONNX graphs and the
weights (never a pickle), not the code.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from vaelab.adopt import ADOPTED, AdoptedModel, adopt
from vaelab.checkpoint import RunDir
from vaelab.data.dataset import Dataset
from vaelab.data.rows import blocks
from vaelab.data.split import indices
from vaelab.config import check_seed
from vaelab.errors import ConfigError, DataError
from vaelab.files import make_folder
from vaelab.model import check_unit_interval
from vaelab.model_libraries import is_library_model
from vaelab.runs.base import Request, check_fresh_folder
from vaelab.runs.kinds import BY_NAME, KIND_FILES
from vaelab.specs import is_onnx, load_weights, read_weights, resolve, sha256, split_weights

# What an adoption killed before config.json may leave (beside split.npy): a new one may start there.
ADOPTION_FILES = frozenset({ADOPTED, "encoder.onnx", "decoder.onnx", "model.safetensors"})


@dataclass
class Adopted:
    run: RunDir
    model: AdoptedModel
    dataset: Dataset
    split: np.ndarray
    n_examples: int
    split_sizes: tuple[int, int, int]


def adopt_run(
    encoder: str | None,
    decoder: str | None,
    out: str | os.PathLike,
    *,
    model: str | None = None,
    likelihood: str,
    data: str | os.PathLike,
    weights: str | None = None,
    encoder_weights: str | None = None,
    decoder_weights: str | None = None,
    labels: str | None = None,
    label_column: str | None = None,
    conditional: bool = False,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    **options: Any,
) -> Adopted:
    """Adopt the halves named by ``encoder`` and ``decoder`` (SPECs), or the pythae / diffusers model
    named by ``model`` (one SPEC; ``weights`` its state dict), and write the run to ``out``.

    ``options`` go to :func:`vaelab.adopt` (``scale``, ``probabilities``, ``sigma``,
    ``label_format``, ``binarize``, ``prior``)."""
    check_seed(seed)  # before the split, which NumPy refused in a traceback (an audit, s12: --seed -1)
    run = RunDir(out)
    halves_named = encoder is not None or decoder is not None
    if (model is not None and halves_named) or (model is None and (encoder is None or decoder is None)):
        raise ConfigError("Name the model as --encoder SPEC --decoder SPEC, or as --model SPEC (a pythae model or a "
                          "diffusers AutoencoderKL, both halves in one object), not both.")  # fmt: skip
    check_fresh_folder(run, KIND_FILES | ADOPTION_FILES)
    if weights is not None and (encoder_weights is not None or decoder_weights is not None):
        raise ConfigError("Give --weights (one state dict with encoder.* and decoder.* keys) or --encoder-weights and "
                          "--decoder-weights, not both.")  # fmt: skip
    if model is not None:
        return _adopt_library_run(model, run, likelihood=likelihood, data=data, weights=weights,
                                  encoder_weights=encoder_weights, decoder_weights=decoder_weights, labels=labels,
                                  label_column=label_column, conditional=conditional, val_fraction=val_fraction,
                                  test_fraction=test_fraction, seed=seed, **options)  # fmt: skip
    halves = {"encoder": resolve(encoder, "encoder"), "decoder": resolve(decoder, "decoder")}
    files = {"encoder": encoder_weights, "decoder": decoder_weights}
    states = dict.fromkeys(halves)
    if weights is not None:
        states["encoder"], states["decoder"] = split_weights(read_weights(weights), weights)
        files = {"encoder": weights, "decoder": weights}
    else:
        states = {k: None if f is None else read_weights(f) for k, f in files.items()}
    for name, part in halves.items():
        spec = encoder if name == "encoder" else decoder
        if states[name] is not None:
            if is_onnx(spec):
                raise ConfigError(f"--{name} {spec} is an ONNX graph, which holds its own weights; drop its weights file.")
            load_weights(part, states[name], str(files[name]))
    specs = {"encoder": encoder, "decoder": decoder}
    return _adopt_and_save(halves["encoder"], halves["decoder"], run, specs, files, likelihood=likelihood, data=data,
                           labels=labels, label_column=label_column, conditional=conditional,
                           val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, **options)  # fmt: skip


def _adopt_library_run(spec: str, run: RunDir, *, weights: str | None, encoder_weights: str | None,
                       decoder_weights: str | None, **rest: Any) -> Adopted:  # fmt: skip
    """``--model SPEC``: a pythae model or a diffusers AutoencoderKL, both halves in one object (its
    weights, if given, one state dict of the whole model)."""
    if encoder_weights is not None or decoder_weights is not None:
        raise ConfigError("--model takes one state dict of the whole model (--weights FILE), not "
                          "--encoder-weights/--decoder-weights.")  # fmt: skip
    whole = resolve(spec, "model")
    if not is_library_model(whole):
        raise ConfigError(f"--model {spec!r} gives a {type(whole).__name__}; --model takes a pythae model or a diffusers "
                          "AutoencoderKL. For other models name the halves: --encoder SPEC --decoder SPEC.")  # fmt: skip
    if weights is not None:
        load_weights(whole, read_weights(weights), weights)
    specs = {"encoder": spec, "decoder": spec}
    return _adopt_and_save(whole, None, run, specs, {"encoder": weights, "decoder": weights}, **rest)


def _adopt_and_save(encoder: Any, decoder: Any, run: RunDir, specs: dict[str, str], files: dict[str, str | None], *,
                    likelihood: str, data: str | os.PathLike, labels: str | None, label_column: str | None,
                    conditional: bool, val_fraction: float, test_fraction: float, seed: int, **options: Any) -> Adopted:  # fmt: skip
    """Read and split the data as train does, adopt the model checked on training examples, write the run."""
    classes = options.pop("classes", None)
    if classes is not None and not conditional:
        raise ConfigError("--classes names the classes of a conditional model; add --conditional (and its labels), "
                          "or drop --classes.")  # fmt: skip
    prepared = BY_NAME["array"].prepare(Request(data, {}, labels, label_column, val_fraction, test_fraction),
                                        SimpleNamespace(conditional=conditional, seed=seed, trains=False))  # fmt: skip
    dataset, split = prepared.dataset, prepared.split
    if likelihood in ("bernoulli", "continuous-bernoulli"):
        # all of it, as train checks: adopt checked the first 64 training examples only, and a run on data that its
        # likelihood is not defined on was written (then scored, or refused by score) (an audit)
        for _, block in blocks(dataset.X):
            check_unit_interval(np.asarray(block))
    train = dataset.view(indices(split, "train"))
    check_x = train.X[: min(64, train.n_examples)]
    check_y = None
    if conditional:
        check_y = train.label_names()[: len(check_x)]
    if classes is not None:  # the model's own order of codes: every label of DATA must be one of them
        classes = [str(c) for c in classes]
        unknown = [c for c in prepared.data.classes or () if c not in classes]
        if unknown or len(set(classes)) != len(classes):
            raise DataError(f"--classes {classes[:10]} must name each class once and hold every label of the data; "
                            + (f"the labels {unknown[:5]} are not among them." if unknown else "a name repeats."))  # fmt: skip
    model = adopt(encoder, decoder, likelihood=likelihood, data=check_x, labels=check_y,
                  classes=(classes or prepared.data.classes) if conditional else None, seed=seed, **options)  # fmt: skip
    for name, spec in specs.items():
        model.specs[name] = spec if is_onnx(spec) else _absolute(spec)
        if files[name] is not None:
            model.weight_files[name] = {"file": str(Path(files[name]).resolve()), "sha256": sha256(files[name])}
    make_folder(run.path)
    run.remove_temp_files()
    run.write_split(split)
    model.write(run, data=prepared.data)
    sizes = tuple(int((split == code).sum()) for code in range(3))
    return Adopted(run, model, dataset, split, dataset.n_examples, sizes)


def _absolute(spec: str) -> str:
    """A file SPEC with an absolute path (so the run's record names the file wherever it is opened)."""
    where, _, name = spec.rpartition(":")
    return f"{Path(where).resolve()}:{name}" if where.endswith(".py") else spec
