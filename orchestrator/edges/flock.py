"""A non-blocking exclusive `flock`: the one way a job tells "someone else holds this" without waiting.

Used by the idle tick (the job's own lock, so it never runs beside a full tick) and the worker slots. Only the
standard library's `os` and `fcntl`: the idle tick imports it on its fast path. The lock is released when the
descriptor closes, so a killed process never leaves it held.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on `path` (close it to release), or None when another holds it.
    Creates the file (not its directory); other OSErrors (no directory, no permission) are raised."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd
