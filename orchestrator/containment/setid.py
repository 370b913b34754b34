"""Set-user-ID and set-group-ID files a sandboxed process left in a directory it could write.

Inside the sandbox the agent owns the files it makes; on the host they belong to the uid its user maps to —
ours, or root when Agent OS runs as root (with `sudo_user`, the agent user). The owner may set the set-id bits
without any capability, so an executable left with them in a worktree or a run directory would let any local
user who can reach that path run code as us. `disarm` clears the bits once the sandboxed processes are gone
(a file we may not change, another user's, is removed instead). Links are never followed and the walk stays
on the directory's file system.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SET_ID = stat.S_ISUID | stat.S_ISGID


def disarm(directory: Path) -> tuple[str, ...]:
    """Clear the set-id bits of every file below `directory`; the paths changed (relative to it)."""
    if not directory.is_dir() or directory.is_symlink():
        return ()
    device = directory.lstat().st_dev
    changed: list[str] = []
    pending = [directory]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode) and info.st_dev == device:
                pending.append(Path(entry.path))
            elif stat.S_ISREG(info.st_mode) and info.st_mode & SET_ID:
                _clear(Path(entry.path), info.st_mode)
                changed.append(str(Path(entry.path).relative_to(directory)))
    return tuple(sorted(changed))


def _clear(path: Path, mode: int) -> None:
    """Drop the set-id bits through a descriptor of the very file (no link followed); remove it if we may
    not change it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        path.unlink(missing_ok=True)
        return
    try:
        os.fchmod(fd, stat.S_IMODE(mode) & ~SET_ID)
    except PermissionError:
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)
