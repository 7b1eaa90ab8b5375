"""Files written all at once, and read with one clear error: the floor every writer stands on.

``atomic_write`` writes to a temporary file in the same folder, flushes it to disk and
renames it over the old one, so a reader (or a crash) never sees half a file. Failures
of writes and reads are :class:`vaelab.errors.RunError` lines that name the file, the
cause and what to do. Nothing here knows what a run is (see :mod:`vaelab.checkpoint`).
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from vaelab.errors import RunError

def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once; on failure the old file is untouched."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise write_error(f"write {path.name}", path.parent, e, f"the previous {path.name} (if any) is intact") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):  # never hide the write's own error behind this one
                os.unlink(tmp)


def write_error(what: str, folder: Path, e: OSError, kept: str) -> RunError:
    """One line that names the folder, the cause and what to do, for a failed write or mkdir."""
    again = "then run the command again (`vaelab train --resume --out RUN` continues a run from its last saved epoch)"
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


# What mkstemp leaves behind when a write is killed: .NAME.XXXXXXXX.tmp (8 random characters).
TEMP_FILE = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


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
