"""Files a read-only view must not show: whatever its owner keeps from others.

Inside the sandbox the command runs as uid 1000, but the kernel checks file permissions against the host uid
that user maps to — ours. When Agent OS runs as root, every root-owned file of a bound tree is "its own"
(`/etc/ssl/private`, a key of mode 0600 in a toolchain directory); as another user, every file of that user
is. So a read-only view shows only what any user of the host could read: a directory others may not enter is
covered by an empty tmpfs, a file others may not read by /dev/null (on a `nodev` mount: it cannot be opened). Found once per process and tree (the
trees are system and toolchain directories, which do not change while we run).
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

from orchestrator.containment.spec import Mount

EMPTY_FILE = Path("/dev/null")
MAX_ENTRIES = 200_000  # a tree larger than this is masked only as far as it was walked (logged by the caller)


def masks(source: Path, dest: Path) -> tuple[Mount, ...]:
    """Mounts that hide, at `dest` (where `source` is shown), everything of `source` others cannot read."""
    return tuple(
        Mount("tmpfs", dest / relative) if is_dir else Mount("ro", dest / relative, EMPTY_FILE)
        for relative, is_dir in _private_entries(str(source))
    )


@functools.lru_cache(maxsize=256)
def _private_entries(source: str) -> tuple[tuple[str, bool], ...]:
    """(relative path, is a directory) of each entry under `source` that others may not read (directories:
    enter and list), not descending into those or into links."""
    found: list[tuple[str, bool]] = []
    try:
        top = os.lstat(source)
    except OSError:
        return ()
    if stat.S_ISREG(top.st_mode) or not stat.S_ISDIR(top.st_mode):
        return ()  # a single file is shown as it is (the caller named it)
    pending, seen = [""], 0
    while pending and seen < MAX_ENTRIES:
        relative = pending.pop()
        try:
            entries = list(os.scandir(os.path.join(source, relative) if relative else source))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            path = f"{relative}/{entry.name}" if relative else entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                if info.st_mode & 0o005 != 0o005:
                    found.append((path, True))
                else:
                    pending.append(path)
            elif stat.S_ISREG(info.st_mode) and not info.st_mode & 0o004:
                found.append((path, False))
    return tuple(sorted(found))
