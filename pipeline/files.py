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
    """Put `data` at `path` atomically; an OSError becomes a UserError naming the path.

    A symbolic link is written through (its target is replaced, the link stays); a read-only
    file is never replaced."""
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    had = "the previous file is unchanged" if os.path.exists(target) else "nothing was written"
    if read_only(target):
        raise UserError(f"{path}: the file is read-only, so it is not replaced; {had}")
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
        os.replace(tmp, target)
    except OSError as e:
        raise UserError(f"{path}: cannot be written ({_reason(e)}); {had}") from None
    finally:  # Ctrl-C and other signals included: no litter
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def read_only(path: str) -> bool:
    """A file whose mode lets no one write it (chmod a-w), as root too: keep it as it is."""
    try:
        return os.path.isfile(path) and not os.stat(path).st_mode & 0o222
    except OSError:
        return False


def check_writable(path: str) -> str | None:
    """Why `path` cannot be written as a file, if that can be told now; None if it can."""
    folder = os.path.dirname(os.path.realpath(path))
    if os.path.isdir(path):
        return f"{path} is a folder; give a file name inside it"
    if read_only(os.path.realpath(path)):
        return f"{path} is read-only (chmod a-w): it would not be replaced"
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
