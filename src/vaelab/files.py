"""Files written all at once, and read with one clear error: the floor every writer stands on.

``atomic_write`` writes to a temporary file in the same folder, flushes it to disk and
renames it over the old one, so a reader (or a crash) never sees half a file. Failures
of writes and reads are :class:`vaelab.errors.RunError` lines that name the file, the
cause and what to do. Nothing here knows what a run is (see :mod:`vaelab.checkpoint`).
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vaelab.errors import ConfigError, RunError

try:  # POSIX; elsewhere concurrent writers of one run are not serialized (see lock_file)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

# Temporary files name their writer: .NAME.PID-HOST.XXXXXXXX.tmp, so a later write of NAME can
# tell a file whose writer was killed (no such process on this host) from one still being written.
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
AGAIN = "then run the command again"

def atomic_write(path: Path, data: bytes, again: str = AGAIN) -> None:
    """Replace ``path`` with ``data`` all at once; on failure the old file is untouched.

    Temporary files of earlier writes of ``path`` whose writer was killed are removed first
    (:func:`remove_stale_temp_files`). ``again`` is what a failure message advises after the fix."""
    path = Path(path)
    tmp = None
    remove_stale_temp_files(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-{HOST}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise write_error(f"write {path.name}", path.parent, e, f"the previous {path.name} (if any) is intact", again) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):  # never hide the write's own error behind this one
                os.unlink(tmp)


def write_error(what: str, folder: Path, e: OSError, kept: str, again: str = AGAIN) -> RunError:
    """One line that names the folder, the cause and what to do, for a failed write or mkdir.

    ``again`` says how to carry on once the disk is fixed (training: ``train --resume``)."""
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        cause = f"the disk holding {folder} is full (or over quota): free some space, {again}"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "read-only file system" if e.errno == errno.EROFS else "permission denied"
        cause = f"cannot write to {folder} ({reason}): make it writable, {again}"
    else:
        cause = f"{e.strerror or e} in {folder}: check the folder and the disk, {again}"
    return RunError(f"Could not {what}: {cause}; {kept}.")


def make_folder(path: Path) -> None:
    """``mkdir -p`` whose failure is a clear :class:`RunError`."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunError(f"{path} exists and is not a folder; choose another --out.") from None
    except OSError as e:
        raise write_error(f"create the folder {path}", Path(path), e, "nothing was written") from None


# What mkstemp leaves behind when a write is killed: .NAME.XXXXXXXX.tmp (8 random characters;
# since the writer is named, .NAME.PID-HOST.XXXXXXXX.tmp).
TEMP_FILE = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_WRITER = re.compile(r"(\d+)-([0-9a-f]{6})\.[a-z0-9_]{8}\.tmp")


def _alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process (alive), or not a pid at all
        return True
    return True


def being_written(name: str) -> bool:
    """Whether a temporary file (named as :data:`TEMP_FILE`) may still be being written: its writer, named in it, is
    a live process of this host, or runs on another host (which this one cannot tell). Files of older vaelab versions
    (no writer named) are not."""
    m = re.search(r"\.(\d+)-([0-9a-f]{6})\.[a-z0-9_]{8}\.tmp\Z", name)
    return m is not None and (m.group(2) != HOST or _alive(int(m.group(1))))


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete the temporary files of earlier writes of ``path`` whose writer (a process of this
    host) no longer runs: a killed ``report`` or ``score --out`` would otherwise leave them forever.
    Files of live writers, of other hosts, and of older vaelab versions (no writer named) stay."""
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        m = _WRITER.fullmatch(entry.name[len(prefix):]) if entry.name.startswith(prefix) else None
        if m is None or m.group(2) != HOST or _alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


class LockHeld(Exception):
    """:func:`lock_file` without waiting: another process holds the lock."""


@contextlib.contextmanager
def lock_file(path: Path, wait: bool = True) -> Iterator[int | None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block: writers that
    read, change and rewrite a file (metrics.json) take it so none loses another's update.
    Yields the lock file's descriptor (None where there are no POSIX locks). With ``wait`` False, a lock another
    process holds raises :class:`LockHeld` at once.

    ``flock`` locks are released by the kernel when their process dies, so a killed writer
    never leaves a run locked. The lock file is opened without following a symlink and must be
    a regular file (never a FIFO a reader would wait on)."""
    if fcntl is None:  # pragma: no cover - no POSIX locks on this platform
        yield None
        return
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RunError(f"{path} is a symbolic link; vaelab locks only a regular file there. Delete it.") from None
        raise write_error(f"lock {path.name}", Path(path).parent, e, "nothing was written") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RunError(f"{path} is not a regular file; vaelab uses it as a lock. Delete it and run the command again.")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockHeld(str(path)) from None
        yield fd
    finally:
        os.close(fd)  # releases the lock


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """A file the user asked vaelab to write: refused, before any work, when it names a folder,
    a FIFO, a device or a socket (atomic_write would replace it with a regular file), or when its
    folder cannot be made or written (:func:`check_output_folder`). A missing folder is fine: the
    writer makes it (:func:`write_output`), as every --out does."""
    path = Path(path)
    check_output_folder(path, option)
    try:
        st = os.stat(path)  # follows a link: what the name points to
    except FileNotFoundError:
        return path
    except OSError as e:
        raise ConfigError(f"{option} {path} cannot be used ({e.strerror or e}); choose another file.") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{option} {path} is a folder; name a file to write (e.g. {path}/out{path.suffix or '.csv'}).")
    if not stat.S_ISREG(st.st_mode):
        what = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device")  # fmt: skip
        raise ConfigError(f"{option} {path} is {what}, not a regular file; vaelab writes files atomically and would "
                          "replace it. Name a regular file.")  # fmt: skip
    return path


def check_output_folder(path: Path, option: str = "--out") -> None:
    """The folder of an output file, checked before any work: the nearest part of it that exists must
    be a folder vaelab may write in (the missing rest is made when the file is written)."""
    folder = Path(os.path.abspath(path)).parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"{option} {path} cannot be written: {folder} is not a folder (Not a directory); "
                          "choose a file in a folder.")  # fmt: skip
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path} cannot be written: {folder} is not writable (permission denied); "
                          "make it writable or choose another file.")  # fmt: skip


def write_output(path: Path, data: bytes) -> Path:
    """An output file the user named (checked by :func:`check_output_file`), its missing folders made
    first, written atomically."""
    path = Path(path)
    make_folder(path.parent)
    atomic_write(path, data)
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_json(path: Path, advice: str) -> Any:
    """A JSON file's value; any failure (not UTF-8, not JSON, nested too deep, an integer of
    over 4300 digits, unreadable) is a RunError that names the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RunError(f"{path} is not valid JSON ({type(e).__name__}: {str(e)[:200]}); {advice}.") from None
    except OSError as e:
        raise RunError(f"{path} could not be read ({e.strerror or e}); {advice}.") from None


def safetensors_metadata(raw: bytes) -> dict[str, str]:
    """The __metadata__ of a safetensors blob (8-byte little-endian header length, then JSON)."""
    if len(raw) < 8:
        raise ValueError("file shorter than the 8-byte header")
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    return header.get("__metadata__", {}) or {}


def sorted_metadata(raw: bytes) -> bytes:
    """A safetensors blob with its ``__metadata__`` keys in sorted order, everything else unchanged.

    safetensors keeps metadata in a Rust HashMap and writes its keys in a random order, a new
    one on every save; files saved twice from the same tensors would then differ. The header is
    re-serialized compactly (as safetensors writes it) and padded with spaces to its old length,
    so the tensor offsets stay valid; a blob whose header cannot be rewritten so is returned as is.
    """
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or len(meta) < 2:
        return raw
    header["__metadata__"] = dict(sorted(meta.items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(text) > n:
        return raw
    return raw[:8] + text + b" " * (n - len(text)) + raw[8 + n :]
