"""Where our git lives, and how each git command finds its repository without asking the worktree.

Per repo there are two clones under `runtime/clones/`:

- **`<key>.trusted.git`**, a bare clone no agent, sandbox or worktree ever sees. Only it talks to the forge
  (fetch, push), and only its network commands get the token. Agent results become commits here, built from
  the worktree's files read as data (`commit_builder`).
- **`<key>`**, the working clone that hosts the worktree pool. It fetches from the trusted clone over the
  local file system (no token, no network). Agents may write its metadata (in `agents.isolation: none` mode
  even its config); nothing they write there reaches the forge.

Every git command we run against either clone or a pooled worktree gets its repository explicitly
(`GIT_DIR`, `GIT_COMMON_DIR`, `GIT_WORK_TREE` — `target_for`), never by discovery through the worktree's
`.git` file, which the agent controls. Before each such command the clones' config files are compared with
the canonical content we wrote (`ConfigGuard`); a difference is rewritten and reported as a security event.
This module does no git itself; `git.py` runs the commands.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.edges.worktree_files import remove_tree
from orchestrator.state.store import atomic_write_bytes

log = logging.getLogger(__name__)

TRUSTED_SUFFIX = ".trusted.git"
STAMP_NAME = "agentos-config.sha256"  # hash of the config content we last wrote (a config change vs tamper)
Report = Callable[[str], None]


def trusted_dir_for(working: Path) -> Path:
    return working.with_name(working.name + TRUSTED_SUFFIX)


def _quote(value: str) -> str:
    if any(c in value for c in "\n\r\0"):
        raise ValueError(f"refusing a git config value with a line break: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def trusted_config(url: str) -> bytes:
    """The whole config of a trusted clone: bare, one remote, nothing that runs anything."""
    return (
        "[core]\n"
        "\trepositoryformatversion = 0\n"
        "\tfilemode = true\n"
        "\tbare = true\n"
        "\tlogallrefupdates = false\n"
        '[remote "origin"]\n'
        f"\turl = {_quote(url)}\n"
        "\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
    ).encode()


def working_config(trusted: Path) -> bytes:
    """The whole config of a working clone: its only remote is the trusted clone, mirrored as origin/*."""
    return (
        "[core]\n"
        "\trepositoryformatversion = 0\n"
        "\tfilemode = true\n"
        "\tbare = false\n"
        "\tlogallrefupdates = true\n"
        '[remote "origin"]\n'
        f"\turl = {_quote(str(trusted))}\n"
        "\tfetch = +refs/remotes/origin/*:refs/remotes/origin/*\n"
    ).encode()


@dataclass
class ConfigGuard:
    """Keeps one git config file equal to the content we wrote: `check` rewrites any difference.

    A difference whose content hash equals our last write's stamp is a change of *our* config (a new clone
    URL): rewritten silently. Anything else is tampering: rewritten, and reported."""

    path: Path
    canonical: bytes
    report: Report | None = None

    def write(self) -> None:
        atomic_write_bytes(self.path, self.canonical)
        atomic_write_bytes(self.path.parent / STAMP_NAME, _digest(self.canonical).encode())

    def check(self) -> bool:
        """True when the file was as we wrote it; else it is rewritten (and reported unless it was ours)."""
        try:
            current: bytes | None = self.path.read_bytes()
        except OSError:
            current = None
        if current == self.canonical:
            return True
        try:
            stamp = (self.path.parent / STAMP_NAME).read_text().strip()
        except OSError:
            stamp = ""
        ours = current is not None and stamp == _digest(current)
        self.write()
        if not ours:
            what = "missing" if current is None else "changed"
            message = f"git config {self.path} was {what} by someone else; restored before running git"
            log.warning("%s", message)
            if self.report is not None:
                self.report(message)
        return False


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Target:
    """How to run git for one directory: explicit repository paths (None = leave it to git)."""

    git_dir: Path
    common_dir: Path | None = None
    work_tree: Path | None = None

    def env(self) -> dict[str, str]:
        env = {"GIT_DIR": str(self.git_dir)}
        if self.common_dir is not None:
            env["GIT_COMMON_DIR"] = str(self.common_dir)
        if self.work_tree is not None:
            env["GIT_WORK_TREE"] = str(self.work_tree)
        return env


@dataclass
class Layout:
    """One repo's clones and worktree pool, as registered by the pool that owns them."""

    working: Path  # the working clone's directory (its git dir is working/.git)
    pools: tuple[Path, ...] = ()  # the pools' directories (worktrees/wt-0, wt-1, …) using this clone
    trusted: Path | None = None  # None: a plain clone made by someone else (pushes go from it directly)
    guards: list[ConfigGuard] = field(default_factory=list)

    @property
    def common_dir(self) -> Path:
        return self.working / ".git"

    def admin_dir(self, worktree: Path) -> Path:
        """The git dir of a pooled worktree (under our common dir, named after the slot — and after its pool
        when several pools share the clone)."""
        pool = worktree.parent
        name = worktree.name if not self.pools or pool == self.pools[0] else f"{pool.name}-{worktree.name}"
        return self.common_dir / "worktrees" / name

    def add_pool(self, directory: Path) -> None:
        if directory not in self.pools:
            self.pools = (*self.pools, directory)

    def check_configs(self) -> list[Path]:
        """Verify (and restore) every guarded config; the ones that had been changed."""
        return [guard.path for guard in self.guards if not guard.check()]

    def target(self, cwd: Path) -> Target | None:
        if self.trusted is not None and _within(cwd, self.trusted):
            return Target(self.trusted)
        for pool in self.pools:
            if _within(cwd, pool) and cwd != pool:
                slot = pool / cwd.relative_to(pool).parts[0]
                return Target(self.admin_dir(slot), self.common_dir, slot)
        if _within(cwd, self.working):
            return Target(self.common_dir)
        return None

    def git_file_tampered(self, worktree: Path) -> str | None:
        """What the agent did to the worktree's `.git` file, if anything (we never read it; this is for the
        record). Looked at without following it and read only when it is a plain file (a FIFO would block)."""
        dot_git = worktree / ".git"
        try:
            mode = dot_git.lstat().st_mode
        except FileNotFoundError:
            return "removed .git"
        except OSError:
            return "made .git unreadable"
        if stat.S_ISLNK(mode):
            return "replaced .git with a link"
        if stat.S_ISDIR(mode):
            return "replaced the .git file with a directory (a repository of its own)"
        if not stat.S_ISREG(mode):
            return "replaced .git with something else (a FIFO, socket or device node)"
        content = _read_head(dot_git)
        if content is None:
            return "made .git unreadable"
        if content != f"gitdir: {self.admin_dir(worktree)}\n".encode():
            return "pointed .git at " + content.decode(errors="replace").strip()[:200]
        return None

    def restore_git_file(self, worktree: Path) -> None:
        """Point the worktree's `.git` file (and the admin dir's back-links) at our admin dir again, whatever
        the agent left there (a file naming its own git dir, a directory, a link, a FIFO)."""
        admin = self.admin_dir(worktree)
        dot_git = worktree / ".git"
        try:
            mode: int | None = dot_git.lstat().st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and stat.S_ISDIR(mode):
            remove_tree(dot_git)
        elif mode is not None:
            dot_git.unlink()
        atomic_write_bytes(dot_git, f"gitdir: {admin}\n".encode())
        if admin.is_dir():
            atomic_write_bytes(admin / "gitdir", f"{dot_git}\n".encode())
            atomic_write_bytes(admin / "commondir", b"../..\n")
            (admin / "config.worktree").unlink(missing_ok=True)


def _read_head(path: Path, limit: int = 4096) -> bytes | None:
    """The first `limit` bytes of a regular file, opened without following a link or blocking on a FIFO
    swapped in since it was looked at; None when it cannot be read or is no longer a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


_layouts: list[Layout] = []
_lock = threading.Lock()


def register(layout: Layout) -> Layout:
    """Remember a layout (one per working clone; a later registration of the same clone replaces it)."""
    with _lock:
        for known in _layouts:
            if known.working == layout.working:
                for pool in known.pools:  # the pools of the clone stay registered
                    layout.add_pool(pool)
        _layouts[:] = [known for known in _layouts if known.working != layout.working]
        _layouts.append(layout)
    return layout


def layout_for(cwd: Path) -> Layout | None:
    where = Path(os.path.abspath(cwd))
    with _lock:
        known = list(_layouts)
    for layout in known:
        if layout.target(where) is not None:
            return layout
    return None


def target_for(cwd: Path) -> tuple[Layout, Target] | None:
    """The registered layout and explicit repository paths for a command run in `cwd`, if any."""
    where = Path(os.path.abspath(cwd))
    layout = layout_for(where)
    if layout is None:
        return None
    target = layout.target(where)
    return (layout, target) if target is not None else None
