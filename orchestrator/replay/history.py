"""The history to replay, read from the user's repository: the next N first-parent commits after a revision,
each with its message and every file it changes (both versions, byte for byte).

Read-only git commands in the source repository, with no system or global config and no hooks. A commit's
change is its diff against its first parent (so a merge commit on the first-parent line is the whole change
its branch brought in). Blob contents are read with `git unpack-file` (raw bytes: no filters, no eol
conversion), because the agent must write exactly what the real commit holds.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator.edges import process
from orchestrator.edges.local_git import local_git_argv, local_git_env

GIT_TIMEOUT = 120.0
_ZERO = "0" * 40
SYMLINK_MODE = "120000"
GITLINK_MODE = "160000"


class HistoryError(Exception):
    """The repository or revision cannot be replayed; the message says which and why."""


@dataclass(frozen=True)
class FileChange:
    """One path a commit changes: its version before (None = added) and after (None = deleted)."""

    path: str
    before: bytes | None
    after: bytes | None
    mode: str  # the mode after the change ("100644", "100755", "120000"); the old mode when deleted


@dataclass(frozen=True)
class Commit:
    sha: str
    parent: str
    subject: str
    body: str
    author_date: str  # ISO 8601
    tree: str
    changes: tuple[FileChange, ...]
    skipped_paths: tuple[str, ...] = ()  # submodule entries: no agent can apply them

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(c.path for c in self.changes)


@dataclass(frozen=True)
class History:
    repo: Path
    base: str  # the full sha of REV
    base_tree: str
    commits: tuple[Commit, ...]

    @property
    def final(self) -> str:
        return self.commits[-1].sha if self.commits else self.base

    @property
    def final_tree(self) -> str:
        return self.commits[-1].tree if self.commits else self.base_tree


def git(
    repo: Path,
    *args: str,
    timeout: float = GIT_TIMEOUT,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run one read-only git command on `repo` (a work tree or a bare repository); stdout, or HistoryError
    naming the command. `cwd` (default: `repo`) is where git runs."""
    try:
        result = process.run(local_git_argv(*args), cwd=cwd or repo, env=local_git_env(env), timeout=timeout)
    except process.ProcessError as exc:
        raise HistoryError(f"{repo}: {exc}") from exc
    if not result.ok:
        raise HistoryError(f"{repo}: `git {' '.join(args)}` failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def read_history(repo: Path, rev: str, count: int, until: str = "HEAD") -> History:
    """The first `count` first-parent commits after `rev` on the way to `until` (oldest first).

    Fewer than `count` when the line has fewer; HistoryError when `rev` is not an ancestor of `until`."""
    if count < 1:
        raise HistoryError(f"--count must be at least 1, got {count}")
    if not repo.is_dir():
        raise HistoryError(f"{repo}: not a directory")
    try:
        git(repo, "rev-parse", "--absolute-git-dir")
    except HistoryError:
        raise HistoryError(f"{repo}: not a git repository") from None
    base = _resolve(repo, rev)
    tip = _resolve(repo, until)
    listed = git(repo, "rev-list", "--first-parent", "--reverse", f"{base}..{tip}").split()
    line = set(git(repo, "rev-list", "--first-parent", tip).split())
    if base not in line:
        raise HistoryError(f"{rev} ({base[:12]}) is not on the first-parent line of {until}")
    chosen = [sha for sha in listed if sha in line][:count]
    return History(
        repo=repo,
        base=base,
        base_tree=git(repo, "rev-parse", f"{base}^{{tree}}").strip(),
        commits=tuple(read_commit(repo, sha) for sha in chosen),
    )


def _resolve(repo: Path, rev: str) -> str:
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
    except HistoryError:
        raise HistoryError(f"{repo}: {rev!r} is not a commit") from None


def read_commit(repo: Path, sha: str) -> Commit:
    fields = git(repo, "show", "-s", "--format=%P%x00%aI%x00%T%x00%B", sha).split("\0", 3)
    parents, date, tree, message = fields
    parent = parents.split()[0] if parents.split() else ""
    subject, _, body = message.strip("\n").partition("\n")
    raw = git(repo, "diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", parent or "--root", sha)
    changes, skipped = _changes(repo, git(repo, "rev-parse", "--absolute-git-dir").strip(), raw)
    return Commit(sha, parent, subject.strip(), body.strip("\n"), date, tree, changes, skipped)


def _changes(repo: Path, git_dir: str, raw: str) -> tuple[tuple[FileChange, ...], tuple[str, ...]]:
    """Parse `diff-tree -z` records (`:oldmode newmode oldsha newsha status\\0path\\0`)."""
    parts = raw.split("\0")
    changes: list[FileChange] = []
    skipped: list[str] = []
    for meta, path in zip(parts[0::2], parts[1::2], strict=False):
        if not meta.startswith(":"):
            continue
        old_mode, new_mode, old_sha, new_sha, _status = meta[1:].split()
        if GITLINK_MODE in (old_mode, new_mode):
            skipped.append(path)
            continue
        before = None if old_sha == _ZERO else blob(repo, git_dir, old_sha)
        after = None if new_sha == _ZERO else blob(repo, git_dir, new_sha)
        changes.append(FileChange(path, before, after, new_mode if after is not None else old_mode))
    return tuple(changes), tuple(skipped)


def blob(repo: Path, git_dir: str, sha: str) -> bytes:
    """A blob's raw bytes (no filters or eol conversion). `unpack-file` writes the blob into the directory
    git runs in: a temporary one, with the repository named by --git-dir."""
    with tempfile.TemporaryDirectory(prefix="agentos-replay-blob-") as tmp:
        name = git(repo, "--git-dir", git_dir, "unpack-file", sha, cwd=Path(tmp)).strip()
        return (Path(tmp) / name).read_bytes()
