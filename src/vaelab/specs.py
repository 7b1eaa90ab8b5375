"""Model halves named by a SPEC: ``FILE.onnx``, ``path/to/file.py:NAME`` or ``package.module:NAME``.

``NAME`` is a ``torch.nn.Module`` or a callable returning one (a class, a factory: the
``module:app`` convention of uvicorn). **Resolving a Python SPEC imports and runs the user's
code**: it is done only for a SPEC the user names (an option, an argument), never for one
read from a run folder unless the user passes it again or confirms. An ONNX file runs no
Python code: onnxruntime executes its graph (:class:`OnnxGraph`).

Weights come from safetensors files only (nothing is ever unpickled); a state dict whose keys
do not match the module is one clear error.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vaelab.errors import ConfigError


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


# ONNX input types and the NumPy types fed to them (anything else: float32)
ONNX_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32}  # fmt: skip


class OnnxGraph:
    """An ONNX file run with onnxruntime, called like a PyTorch function: tensors in, tensors out.

    Its inputs are fed in order (x, or z; then y for a conditional model), each cast to the type
    the graph declares; a graph with one output returns a tensor, with several a tuple. A graph
    exported with a fixed batch size (torch.onnx.export without dynamic_axes fixes the example's)
    is run on chunks of that size, the last one padded with copies of its last example and cut
    back: each example's outputs are its own (a graph for inference computes them apart)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"{self.path}: no such ONNX file.")
        try:
            import onnxruntime
        except ImportError:
            raise ConfigError("Running an ONNX model needs onnxruntime: pip install 'vaelab[onnx]'.") from None
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for unreadable graphs
            raise ConfigError(f"{self.path} is not an ONNX model onnxruntime can load ({_first_line(err)}).") from None
        self.inputs = [(i.name, i.type) for i in self.session.get_inputs()]
        # a fixed first dimension shared by every input: the batch size the graph was exported with (an audit, s13:
        # score fed it 1000 examples, and onnxruntime's "Got invalid dimensions" ended in a traceback)
        firsts = {i.shape[0] if i.shape and isinstance(i.shape[0], int) else None for i in self.session.get_inputs()}
        self.batch = firsts.pop() if len(firsts) == 1 and None not in firsts and min(firsts) > 0 else None

    def __call__(self, *args: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if len(args) != len(self.inputs):
            names = [name for name, _ in self.inputs]
            raise ConfigError(f"{self.path.name} takes {len(names)} input(s) {names}; it was given {len(args)} "
                              "(a conditional model's halves take (x, y) and (z, y)).")  # fmt: skip
        # the graph's own type (a float64 graph was fed float32 and refused by onnxruntime: an audit)
        arrays = [np.ascontiguousarray(a.detach().cpu().numpy(), dtype=ONNX_TYPES.get(kind, np.float32))
                  for (_, kind), a in zip(self.inputs, args)]  # fmt: skip
        n = arrays[0].shape[0] if arrays and arrays[0].ndim else None
        if self.batch is None or n is None or n == self.batch:
            outs = self._run(arrays)
        else:
            b, parts = self.batch, []
            for start in range(0, n, b):
                chunk = [a[start:start + b] for a in arrays]
                short = b - chunk[0].shape[0]
                if short:  # pad with the chunk's last example; its outputs are cut off below
                    chunk = [np.concatenate([c, np.repeat(c[-1:], short, 0)]) for c in chunk]
                parts.append([o[: b - short] for o in self._run(chunk)])
            outs = [np.concatenate(o) for o in zip(*parts)]
        outs = [torch.from_numpy(np.ascontiguousarray(o)) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, {name: a for (name, _), a in zip(self.inputs, arrays)})


def is_onnx(spec: str) -> bool:
    return str(spec).lower().endswith(".onnx")


def _module_object(spec: str, what: str) -> Any:
    """Import what ``spec`` (``file.py:NAME`` or ``package.module:NAME``) names. Runs the user's code."""
    where, sep, name = str(spec).rpartition(":")
    if not sep or not where or not name:
        raise ConfigError(f"{what}={spec!r}: expected FILE.onnx, path/to/file.py:NAME or package.module:NAME.", setting=what)
    if where.endswith(".py"):
        path = Path(where).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"{what}={spec!r}: no such file {path}.", setting=what)
        module_name = f"vaelab_user_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
        try:
            loader = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(loader)
            sys.modules[module_name] = module  # dataclasses and pickling-free typing look it up
            loader.loader.exec_module(module)
        except Exception as err:  # the user's code: any failure becomes one line
            sys.modules.pop(module_name, None)
            raise ConfigError(f"{what}={spec!r}: importing {path.name} failed: {type(err).__name__}: "
                              f"{_first_line(err)}", setting=what) from None  # fmt: skip
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as err:
            raise ConfigError(f"{what}={spec!r}: no module named {err.name!r} (is it installed, or on PYTHONPATH?).", setting=what) from None
        except Exception as err:
            raise ConfigError(f"{what}={spec!r}: importing {where} failed: {type(err).__name__}: {_first_line(err)}", setting=what) from None
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            found = sorted(n for n in vars(module) if not n.startswith("_"))[:12]
            raise ConfigError(f"{what}={spec!r}: {where} has no {name!r} (it defines {found}).", setting=what)
        obj = getattr(obj, part)
    return obj


def resolve(spec: str, what: str = "encoder") -> nn.Module | OnnxGraph:
    """The module or ONNX graph a SPEC names (``what``: the setting, ``encoder``, ``decoder`` or ``model``; its
    errors say ``what='SPEC'``, which the CLI says as the flag typed, ``--encoder SPEC``: an audit, s14, found
    ``--encoder`` said to a Python caller of ``vaelab.adopt('x.py:E', ...)``)."""
    if is_onnx(spec):
        return OnnxGraph(spec)
    obj = _module_object(spec, what)
    if not isinstance(obj, nn.Module) and callable(obj):
        try:
            obj = obj()
        except Exception as err:
            raise ConfigError(f"{what}={spec!r}: calling {spec.rpartition(':')[2]}() failed: {type(err).__name__}: "
                              f"{_first_line(err)} (it must build the module with no arguments).", setting=what) from None  # fmt: skip
    if not isinstance(obj, nn.Module):
        raise ConfigError(f"{what}={spec!r} gives a {type(obj).__name__}, not a torch.nn.Module (or a callable "
                          "returning one).", setting=what)  # fmt: skip
    return obj


_REFIT = ("Give the weights of this very module: its SPEC must build the architecture they were saved from (same "
          "layer names and sizes), saved with safetensors.torch.save_file(module.state_dict(), PATH) (a prefix such as "
          "'model.' in every key is a wrapper's: save the inner module's state_dict()).")


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """``state`` into ``module``, every key matched; a mismatch is one line naming the first few."""
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ConfigError(f"The weights in {where} do not fit the module: {len(missing)} of its keys missing "
                          f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}. {_REFIT}")  # fmt: skip
    wrong = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if wrong:
        k = wrong[0]
        raise ConfigError(f"The weights in {where} do not fit the module: {k} has shape {tuple(state[k].shape)}, "
                          f"the module's {tuple(own[k].shape)} ({len(wrong)} key(s) differ). {_REFIT}")  # fmt: skip
    module.load_state_dict(state)


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A safetensors state dict (never a pickle)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not str(path).strip():  # "" is the current folder to pathlib: it read ". : no such weights file" (an audit, s13)
        raise ConfigError("The weights file path is empty; give the path of a .safetensors file.")
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a weights file; give the path of a .safetensors file.")
    if not path.is_file():
        raise ConfigError(f"{path}: no such weights file; check the path (a .safetensors file).")
    if path.suffix.lower() != ".safetensors":
        raise ConfigError(f"{path.name}: weights must be a .safetensors file (vaelab never unpickles .pt/.pth/.pkl; "
                          "save them with safetensors.torch.save_file(module.state_dict(), PATH)).")  # fmt: skip
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ConfigError(f"{path} is not a readable safetensors file ({_first_line(err)}).") from None


def split_weights(state: dict[str, torch.Tensor], where: str) -> tuple[dict, dict]:
    """A combined module's state dict → the encoder's and the decoder's (keys ``encoder.*``, ``decoder.*``)."""
    parts: tuple[dict, dict] = ({}, {})
    others = []
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head in ("encoder", "decoder") and rest:
            parts[head == "decoder"][rest] = value
        else:
            others.append(key)
    if not parts[0] or not parts[1]:
        heads = sorted({k.partition(".")[0] for k in state})[:8]
        raise ConfigError(f"{where}: a combined state dict needs keys encoder.* and decoder.*; its keys start with "
                          f"{heads}. Pass --encoder-weights and --decoder-weights instead.")  # fmt: skip
    if others:  # a learned prior's weights, say: dropped without a word, the model was scored under N(0, I) (an audit)
        raise ConfigError(f"{where} holds {len(others)} key(s) outside encoder.* and decoder.* (e.g. {sorted(others)[:3]}), "
                          "which the adopted model would not use: it takes the two halves and a standard normal "
                          "prior. Save the halves' weights alone (--encoder-weights and --decoder-weights, or a "
                          "state dict of encoder.* and decoder.* only).")  # fmt: skip
    return parts
