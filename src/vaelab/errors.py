"""Errors vaelab raises on purpose.

Every error a user can cause is a :class:`VaelabError`; the CLI turns it into one
line on stderr and exit status 2. Messages say what was expected, what arrived
and what to do.
"""


class VaelabError(Exception):
    """Base class of every error vaelab raises on purpose."""


class DataError(VaelabError, ValueError):
    """The input data is missing, malformed or of the wrong kind.

    ``setting``: as :class:`ConfigError`'s, the settings (``name=VALUE`` in the message) the data does not fit, which
    the CLI says as the flags the user typed ("one window of --window 40 past + --horizon 5 future")."""

    def __init__(self, *args, setting: str | tuple[str, ...] | None = None):
        super().__init__(*args)
        self.setting = setting


class DataTypeError(DataError, TypeError):
    """The input holds values that are not numbers at all (a TypeError too, as NumPy raises it)."""


class ConfigError(VaelabError, ValueError):
    """A setting has a value vaelab does not accept.

    ``setting``: the Python name of the setting the message is about ("lr must be ..."), or a tuple of them
    ("val_fraction + test_fraction must ..."). The message is in Python terms, naming each as ``name=VALUE`` or
    bare; the CLI says each as the flag the user typed: "--lr (lr) must be ...", "--sigma 0.5 is ...".
    """

    def __init__(self, *args, setting: str | tuple[str, ...] | None = None):
        super().__init__(*args)
        self.setting = setting


class RunError(VaelabError, ValueError):
    """A run directory is missing, damaged or from an unknown version.

    ``setting``: as :class:`ConfigError`'s, the settings (``name=VALUE`` in the message) that would open it, which the
    CLI says as the flags the user types ("pass --encoder x.py:E")."""

    def __init__(self, *args, setting: str | tuple[str, ...] | None = None):
        super().__init__(*args)
        self.setting = setting


class TrainingError(VaelabError, RuntimeError):
    """Training could not go on (for example the loss became NaN)."""


class NotFittedError(VaelabError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""
