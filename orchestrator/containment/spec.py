"""What one sandboxed process may see: a frozen `SandboxSpec` of mounts, working directory and namespaces.

Built by `layout.py` from the host's facts, turned into a bwrap command line by `bwrap.py` (pure).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MountKind = Literal["ro", "rw", "symlink", "tmpfs", "dir"]


@dataclass(frozen=True)
class Mount:
    """`ro`/`rw`: bind `source` at `dest`; `symlink`: `dest` → `source` (a link text); `tmpfs`/`dir`: an
    empty writable tmpfs / directory at `dest`."""

    kind: MountKind
    dest: Path
    source: Path | str | None = None


@dataclass(frozen=True)
class SandboxSpec:
    """One sandbox: every path it sees is in `mounts` (in order: later mounts cover earlier ones)."""

    mounts: tuple[Mount, ...]
    cwd: Path
    uid: int = 1000
    gid: int = 1000
    hostname: str = "agentos-sandbox"
    share_net: bool = True

    def bound_sources(self) -> tuple[Path, ...]:
        """Every host path the sandbox can reach (read-only or writable)."""
        return tuple(
            Path(m.source) for m in self.mounts if m.kind in ("ro", "rw") and isinstance(m.source, Path)
        )

    def writable(self) -> tuple[Path, ...]:
        return tuple(Path(m.source) for m in self.mounts if m.kind == "rw" and isinstance(m.source, Path))
