"""Set-user-ID and set-group-ID files a sandboxed process left in a directory it could write.

Inside the sandbox the agent owns the files it makes; on the host they belong to the uid its user maps to —
ours, or root when Agent OS runs as root (with `sudo_user`, the agent user). The owner may set the set-id bits
without any capability, so an executable left with them in a worktree or a run directory would let any local
user who can reach that path run code as us. `disarm` clears the bits once the sandboxed processes are gone;
a file we may not change (another user's) is deleted.

GNU find does the walk: at any depth (a tree deeper than PATH_MAX is no hiding place: `-execdir` works
relative to each file's directory), never following a link, never leaving the directory's file system.
"""

from __future__ import annotations

import logging
from pathlib import Path

from orchestrator.edges import process

log = logging.getLogger(__name__)

_ARMED = ("-xdev", "-type", "f", "-perm", "/6000")


def disarm(directory: Path, timeout: float = 300.0) -> tuple[str, ...]:
    """Clear the set-id bits of every file below `directory`; the paths found (relative to it)."""
    if not directory.is_dir() or directory.is_symlink():
        return ()
    root = str(directory)
    found = process.run(["find", root, *_ARMED, "-print0"], timeout=timeout)
    names = tuple(sorted(p[len(root) + 1 :] for p in found.stdout.split("\0") if p.startswith(root + "/")))
    if not names and found.ok:
        return ()
    process.run(["find", root, *_ARMED, "-execdir", "chmod", "ug-s", "--", "{}", "+"], timeout=timeout)
    left = process.run(["find", root, *_ARMED, "-delete", "-print0"], timeout=timeout)  # not ours to chmod
    if not left.ok:  # e.g. a directory we may not read (sudo_user): said, not fatal
        log.warning("set-id files below %s may be left: %s", directory, left.stderr.strip()[:300])
    return names
