"""Errors vaelab raises on purpose.

Every error a user can cause is a :class:`VaelabError`; the CLI turns it into one
line on stderr and exit status 2. Messages say what was expected, what arrived
and what to do.
"""


class VaelabError(Exception):
    """Base class of every error vaelab raises on purpose."""


class DataError(VaelabError, ValueError):
    """The input data is missing, malformed or of the wrong kind."""


class DataTypeError(DataError, TypeError):
    """The input holds values that are not numbers at all (a TypeError too, as NumPy raises it)."""


class ConfigError(VaelabError, ValueError):
    """A setting has a value vaelab does not accept.

    ``setting``: the Python name of the one setting the message begins with ("lr must be ..."), where there is
    one; the CLI names the flag the user typed beside it ("--lr (lr) must be ...").
    """

    def __init__(self, *args, setting: str | None = None):
        super().__init__(*args)
        self.setting = setting


class RunError(VaelabError, ValueError):
    """A run directory is missing, damaged or from an unknown version."""


class TrainingError(VaelabError, RuntimeError):
    """Training could not go on (for example the loss became NaN)."""


class NotFittedError(VaelabError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""
