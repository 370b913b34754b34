"""`runtime/` out of disk space: the run's runtime directory is a small tmpfs of its own, and "disk full" is a
ballast file written until the filesystem answers ENOSPC, held for a while, then deleted.

Mounting needs root (CAP_SYS_ADMIN); without it the phase is skipped with the reason printed.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator.edges import process

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


class DiskError(Exception):
    """The runtime filesystem could not be set up (the message says why)."""


@dataclass
class RuntimeDisk:
    path: Path
    size_mb: int = 256
    mounted: bool = False

    @property
    def ballast(self) -> Path:
        return self.path / ".chaos-ballast"

    def mount(self) -> None:
        """Mount a tmpfs of `size_mb` at `path` (created empty); DiskError when that is not permitted."""
        self.path.mkdir(parents=True, exist_ok=True)
        if any(self.path.iterdir()):
            raise DiskError(f"{self.path} is not empty")
        result = process.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs", str(self.path)],
            timeout=30,
        )
        if not result.ok:
            raise DiskError(f"mount -t tmpfs failed: {result.stderr.strip() or result.returncode}")
        self.mounted = True

    def fill(self) -> int:
        """Write the ballast until ENOSPC; returns the bytes written (the filesystem is then full)."""
        written = 0
        with self.ballast.open("wb", buffering=0) as handle:
            for size in (_CHUNK, 4096, 1):
                block = b"\0" * size
                try:
                    while True:
                        written += handle.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
        return written

    def free(self) -> None:
        self.ballast.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def unmount(self, keep_copy: Path | None = None) -> None:
        """Copy what is left (logs, mailbox) to `keep_copy` for the post-mortem, then unmount."""
        if not self.mounted:
            return
        self.free()
        if keep_copy is not None:
            shutil.copytree(
                self.path, keep_copy, symlinks=True, ignore_dangling_symlinks=True, dirs_exist_ok=True
            )
        result = process.run(["umount", str(self.path)], timeout=30)
        if not result.ok:
            result = process.run(["umount", "-l", str(self.path)], timeout=30)
        if not result.ok:
            log.warning("could not unmount %s: %s", self.path, result.stderr.strip())
            return
        self.mounted = False
