"""Helpers of the tests that work on run folders (imported as ``run_helpers``: a conftest is not a module
to import from, and tests/report has a conftest of its own)."""
import contextlib
import shutil
import signal


def copy_tree(src, dest):
    """A copy of a run (links kept as links) to change in a test."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


@contextlib.contextmanager
def within(seconds):
    """Fail with TimeoutError (instead of hanging) when the block runs longer than ``seconds`` (POSIX)."""
    def timeout(*_):
        raise TimeoutError(f"no answer after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
