"""Writing the run's files: whole or not at all, and one line when the disk says no.

Every file a run writes (checkpoint, saved model, metrics, plot) goes through `write_bytes`:
a temporary file in the same folder, flushed to disk, then renamed over the target. A full
disk, a read-only folder or a signal in the middle leaves the previous file as it was and no
temporary file behind. `check_writable` says before a run what can already be known.
"""
from __future__ import annotations

import contextlib
import os
import tempfile

from .errors import UserError


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def write_bytes(path: str, data: bytes) -> None:
    """Put `data` at `path` atomically; an OSError becomes a UserError naming the path."""
    folder = os.path.dirname(os.path.abspath(path))
    had = "the previous file is unchanged" if os.path.exists(path) else "nothing was written"
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                   suffix=".tmp")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise UserError(f"{path}: cannot be written ({_reason(e)}); {had}") from None
    finally:  # Ctrl-C and other signals included: no litter
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def check_writable(path: str) -> str | None:
    """Why `path` cannot be written as a file, if that can be told now; None if it can."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{path} is a folder; give a file name inside it"
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            return f"{folder} is not a folder"
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} cannot be written ({_access_reason(folder)})"
    return None


def _access_reason(folder: str) -> str:
    """Why access() said no: a read-only file system or the folder's permissions."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    return "permission denied"
