"""Settings as data: one frozen dataclass per concern, validated on creation.

Each is written to ``config.json`` and read back through :func:`from_dict`, which
checks every field, so a hand-edited or damaged config fails with a clear message
instead of deep inside the model.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from vaelab.errors import ConfigError

# Allowed values, declared once; every check below reads this table.
CHOICES: dict[str, tuple[str, ...]] = {
    "arch": ("mlp", "conv", "timevae", "custom", "adopted"),
    "likelihood": ("bernoulli", "continuous-bernoulli", "gaussian", "gaussian-fixed", "mixed"),
    "prior": ("normal", "mog", "vamp"),
    "binarize": ("dynamic", "fixed", "none"),
    "precision": ("fp32", "bf16"),
}


def check_choice(name: str, value: Any, allowed: tuple[str, ...] | None = None) -> None:
    allowed = CHOICES[name] if allowed is None else allowed
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}.", setting=name)


MAX_INT = 2**63 - 1  # the largest integer torch and NumPy hold (int64); sizes above it overflow there
# Every seed a user gives (train, adopt, the analyses): scikit-learn's random_state takes 0 .. 2**32 - 1, and a training
# seed is the seed of later fits too (a table run's aggregate-gmm: train --seed 2**40 ended in sklearn's traceback
# after training, where adopt's and train's took up to 2**63 - 1 and the analyses' --seed up to 2**32 - 1: an audit, s14)
MAX_SEED = 2**32 - 1
AUTO = "auto"  # a table run's default draw temperature: chosen on its validation rows (analysis.table_generation)


# ----------------------------------------------- checks of a command's options (at the boundary)
def check_count(name: str, n: Any, most: int | None = None, why: str = "") -> int:
    """A positive integer count given as ``name`` (an option), at most ``most`` (``why`` says why)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"{name} must be a positive integer; got {n!r:.80}.")
    if most is not None and n > most:
        raise ConfigError(f"{name} {int(n):,} is too large: {why}; give at most {most:,}.")
    return int(n)


def check_measured_count(name: str, n: Any, n_real: int) -> int:
    """A count of generated examples that are measured against ``n_real`` real ones: at most 100 times
    as many (10,000 at least). Beyond that the real sample's own noise dominates every figure, and the
    measuring (distances to the real rows, models trained on the generated ones) only takes longer."""
    most = max(100 * int(n_real), 10_000)
    return check_count(name, n, most, f"they are measured against {int(n_real):,} real examples, and more than "
                       f"{most:,} generated ones change no figure")  # fmt: skip


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed: an integer from 0 to 2**32 - 1, every command's and setting's the same (the CLI says ``name`` as the
    command's flag: "--seed (seed) must be ...")."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{name} must be an integer from 0 to 2**32 - 1 ({MAX_SEED}); got {seed!r:.80}.", setting=name)
    return int(seed)


def check_number(name: str, value: Any, low: float, high: float = math.inf, *, low_open: bool = False,
                 high_open: bool = False, unit: str = "") -> float:  # fmt: skip
    """A finite number in [low, high] (ends excluded where open), or a one-line error naming the range."""
    try:
        ok = not isinstance(value, bool) and math.isfinite(value)
    except (TypeError, OverflowError):
        ok = False
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
        span = f"{left}{low:g}, {high:g}{right}" if high != math.inf else f"{left}{low:g}, ∞)"
        raise ConfigError(f"{name} must be a finite number in {span}{unit}; got {value!r:.80}.")
    return float(value)


def check_setting_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}; got {value!r:.80}.", setting=name)
    if value > MAX_INT:
        raise ConfigError(f"{name} must be an integer from {low} to 2**63 - 1; got {value!r:.80}, which is larger.", setting=name)


def _check_float(name: str, value: Any, low: float, *, inclusive: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    try:
        ok = ok and math.isfinite(value)
    except OverflowError:  # an int too large for a float
        ok = False
    ok = ok and (value >= low if inclusive else value > low)
    if not ok:
        relation = ">=" if inclusive else ">"
        raise ConfigError(f"{name} must be a finite number {relation} {low}; got {value!r:.80}.", setting=name)


def _check_blocks(blocks: Any, likelihood: str, shape: tuple[int, ...]) -> None:
    """The layout of a mixed likelihood: blocks of known terms tiling the features exactly once."""
    if not isinstance(blocks, tuple):
        raise ConfigError(f"blocks must be a list of [term, start, width, mask] blocks (empty unless the likelihood "
                          f"is 'mixed'); got {blocks!r:.80}.")
    if likelihood != "mixed":
        if blocks:
            raise ConfigError(f"blocks describe a 'mixed' likelihood; this model's likelihood is {likelihood!r}.")
        return
    d = shape[0] if len(shape) == 1 else -1
    if d < 1 or not isinstance(blocks, tuple) or not blocks:
        raise ConfigError(f"likelihood 'mixed' needs flat rows (D,) and a non-empty list of blocks; got shape {shape}.")
    for b in blocks:
        ok = isinstance(b, (tuple, list)) and len(b) == 4 and b[0] in ("gaussian", "categorical", "bernoulli")
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in b[1:])
        if not ok or b[2] < 1 or b[1] < 0 or b[1] + b[2] > d or not -1 <= b[3] < d:
            raise ConfigError(f"Each block must be [term, start, width, mask] within {d} features; got {b!r:.80}.")
    # Sorted by start, each block must begin where the previous one ended, the last at d (no list of d
    # counters: d may be huge in a damaged file).
    spans = sorted((b[1], b[2]) for b in blocks)
    ends = [0] + [start + width for start, width in spans]
    if any(start != end for (start, _), end in zip(spans, ends)) or ends[-1] != d:
        raise ConfigError(f"The blocks of a mixed likelihood must cover each of the {d} features exactly once.")


def _check_time_layout(window: Any, arch: str, shape: tuple[int, ...]) -> None:
    """The layout arch 'timevae' needs: rows of S steps x F features, then extras."""
    if arch != "timevae":
        if window:
            raise ConfigError(f"time_layout describes the rows of arch 'timevae'; this model's arch is {arch!r}.")
        return
    ok = isinstance(window, tuple) and len(window) == 2
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_INT for v in window)
    if not ok or len(shape) != 1 or window[0] * window[1] > shape[0]:
        raise ConfigError(f"arch 'timevae' models windows of time series (series runs: vaelab train --window N "
                          f"--horizon M, which set its layout); in Python it needs time_layout = (steps, features) "
                          f"within rows of shape (D,); got {window!r:.80} for examples of shape {shape}.")  # fmt: skip


@dataclass(frozen=True)
class ModelConfig:
    """The network, likelihood and prior: everything needed to rebuild the module."""

    input_shape: tuple[int, ...]  # one example: (D,) or (C, H, W)
    latent_dim: int = 16  # size of z
    arch: str = "mlp"  # mlp | conv | timevae (windows) | custom (user-supplied encoder/decoder) | adopted (vaelab.adopt)
    hidden: tuple[int, ...] = (512, 256)  # dense layer sizes; () makes the maps linear
    likelihood: str = "bernoulli"  # p(x|z): bernoulli | continuous-bernoulli | gaussian | gaussian-fixed | mixed
    prior: str = "normal"  # p(z): normal | mog | vamp
    n_components: int = 10  # mixture components (mog) or pseudo-inputs (vamp)
    sigma: float = 1.0  # observation SD of the gaussian-fixed likelihood
    n_classes: int = 0  # > 0: a conditional VAE on one-hot labels (or on a condition vector of this width)
    # likelihood "mixed": (term, start, width, mask) per block of features; see vaelab.nn.likelihoods.Mixed
    blocks: tuple[tuple[str, int, int, int], ...] = ()
    # arch "timevae": (S, F), each row is S time steps x F features (time-major), then per-window extras
    time_layout: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        shape = self.input_shape
        if not isinstance(shape, tuple) or len(shape) not in (1, 3) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 < s <= MAX_INT for s in shape
        ):
            raise ConfigError(f"input_shape must be (D,) or (C, H, W) of positive integers; got {shape!r}.")
        check_setting_int("latent_dim", self.latent_dim, 1)
        check_choice("arch", self.arch)
        if not isinstance(self.hidden, tuple) or not all(
            isinstance(h, int) and not isinstance(h, bool) and 0 < h <= MAX_INT for h in self.hidden
        ):
            raise ConfigError(f"hidden must be a list of positive layer sizes (or empty); got {self.hidden!r}.", setting="hidden")
        check_choice("likelihood", self.likelihood)
        check_choice("prior", self.prior)
        check_setting_int("n_components", self.n_components, 1)
        _check_float("sigma", self.sigma, 0.0, inclusive=False)
        check_setting_int("n_classes", self.n_classes, 0)
        _check_blocks(self.blocks, self.likelihood, shape)
        if self.arch == "conv" and len(shape) != 3:
            raise ConfigError(
                f"arch 'conv' needs image data of shape (C, H, W); got examples of shape {shape}. "
                "Use arch 'mlp' for vectors."
            )
        _check_time_layout(self.time_layout, self.arch, shape)
        if self.prior == "vamp" and self.n_classes:
            raise ConfigError(
                "prior 'vamp' is defined through the encoder, which a conditional model feeds "
                "labels; use prior 'normal' or 'mog' with a conditional VAE."
            )


@dataclass(frozen=True)
class TrainConfig:
    """The objective and the optimisation."""

    epochs: int = 50  # upper bound; early stopping may end sooner
    batch_size: int = 100
    lr: float = 1e-3  # Adam step size
    patience: int = 10  # epochs without validation improvement before stopping (0: never stop early)
    beta: float = 1.0  # weight of the KL term (beta-VAE); 1 is the ELBO
    warmup_epochs: int = 0  # KL weight rises linearly from 0 to beta over these epochs
    iw_samples: int = 1  # K > 1 trains the IWAE-K bound instead of the ELBO
    grad_clip: float = 10.0  # max gradient norm; 0 turns clipping off
    binarize: str = "dynamic"  # bernoulli on [0,1] data: redraw binary pixels every batch
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 (training's forward pass and loss under bfloat16 autocast)
    compile: bool = False  # train with torch.compile (the objective's graph compiled once; meant for GPUs)

    def __post_init__(self) -> None:
        check_setting_int("epochs", self.epochs, 1)
        check_setting_int("batch_size", self.batch_size, 1)
        _check_float("lr", self.lr, 0.0, inclusive=False)
        check_setting_int("patience", self.patience, 0)
        _check_float("beta", self.beta, 0.0)
        check_setting_int("warmup_epochs", self.warmup_epochs, 0)
        check_setting_int("iw_samples", self.iw_samples, 1)
        _check_float("grad_clip", self.grad_clip, 0.0)
        check_choice("binarize", self.binarize)
        check_choice("precision", self.precision)
        if not isinstance(self.compile, bool):
            raise ConfigError(f"compile must be true or false; got {self.compile!r}.", setting="compile")
        check_setting_int("seed", self.seed, 0)
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "cuda")
            or (self.device.startswith("cuda:") and self.device[5:].isascii() and self.device[5:].isdecimal())
        ):
            raise ConfigError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {self.device!r}.", setting="device")


@dataclass(frozen=True)
class DataConfig:
    """Where the run's data came from and how it was split (the split itself is in split.npy)."""

    source: str  # built-in name or absolute path
    labels: str | None = None  # labels file, if any
    label_column: str | None = None  # labels column / npz key, if any
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    n_examples: int = 0
    fingerprint: str = ""  # SHA-256 of the examples and labels, checked when data is reloaded
    classes: tuple[str, ...] | None = None  # label names, in code order
    binarized_eval: bool = False  # validation/test were binarized once with the run's seed
    kind: str = "array"  # the kind of run (vaelab.runs.kinds): array, table (see table.json), series (series.json)

    def __post_init__(self) -> None:
        # Which kinds exist is the run registry's business (vaelab.runs.kinds), checked when a run is opened.
        if not isinstance(self.kind, str) or not self.kind.isidentifier():
            raise ConfigError(f"data.kind must be the name of a kind of run; got {self.kind!r:.80}.")
        if not isinstance(self.source, str) or not self.source:
            raise ConfigError(f"data.source must be a non-empty string; got {self.source!r}.")
        for name in ("labels", "label_column"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"data.{name} must be a string or null; got {value!r}.")
        _check_float("val_fraction", self.val_fraction, 0.0)
        _check_float("test_fraction", self.test_fraction, 0.0)
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError(
                f"val_fraction + test_fraction must leave training data; got "
                f"{self.val_fraction} + {self.test_fraction}.", setting=("val_fraction", "test_fraction")
            )
        check_setting_int("n_examples", self.n_examples, 0)
        if not isinstance(self.fingerprint, str):
            raise ConfigError(f"data.fingerprint must be a string; got {self.fingerprint!r}.")
        if self.classes is not None and not (
            isinstance(self.classes, tuple) and all(isinstance(c, str) for c in self.classes)
        ):
            raise ConfigError(f"data.classes must be a list of strings or null; got {self.classes!r}.")
        if not isinstance(self.binarized_eval, bool):
            raise ConfigError(f"data.binarized_eval must be true or false; got {self.binarized_eval!r}.")


def to_dict(cfg: Any) -> dict[str, Any]:
    """JSON-ready dict (tuples become lists)."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: Any, where: str) -> Any:
    """Build ``cls`` from a JSON dict, field by field; unknown or missing keys are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a JSON object; got {type(data).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where} has unknown setting(s) {unknown}; known: {sorted(fields)}.")
    required = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and name not in data
    ]
    if required:
        raise ConfigError(f"{where} lacks required setting(s) {required}.")
    values = {}
    for name, value in data.items():
        # JSON has no tuples: lists come back as the tuples the dataclasses hold.
        if name == "blocks" and isinstance(value, list):
            value = tuple(tuple(b) if isinstance(b, list) else b for b in value)
        values[name] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**values)
    except ConfigError as e:  # a file's setting, not an option given (no setting: the CLI names no flag)
        raise ConfigError(f"{where}: {e}") from None
    except TypeError as e:  # e.g. an unhashable value in a tuple field
        raise ConfigError(f"{where}: {e}") from None


__all__ = ["CHOICES", "ModelConfig", "TrainConfig", "DataConfig", "to_dict", "from_dict", "check_choice"]
