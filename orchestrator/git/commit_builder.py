"""The commit is ours: an agent's result becomes a commit built in the trusted clone from the worktree's files
read as data.

- **What is included** follows `git add --all`: every path of the parent commit, plus every new file that
  `.gitignore` does not exclude (git lists those — `ls-files --others --exclude-standard`, run against the
  trusted clone with the worktree as its work tree and an empty index, so the agent's index, config,
  attributes and hooks play no part; git does not follow a `.gitignore` that is a link).
- **How a path is read** (`worktree_files.read_entry`): never through a link. A link becomes a link entry (its
  target is the blob; the target is never read), a regular file is read with `O_NOFOLLOW` and hashed as the
  bytes it holds (no filters, no attributes: `hash-object --no-filters`).
- **What is refused**: nested repositories and new gitlinks, FIFOs, sockets and devices, files over GitHub's
  100 MB limit, names that are not UTF-8 — each named in `Snapshot.refused`.
- **What is left as the parent has it**: blocked paths (`publish_guard.blocked_reason`: the result file, any
  `.git` component), whatever the agent did to them; existing gitlinks (submodule pointers).

The agent's own commits are never used: a token committed and removed again never leaves the machine.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.edges.worktree_files import Entry, StatKey, WorktreeReader, git_rule_hazards, read_entry
from orchestrator.git import GitSettings, run_git
from orchestrator.git.clones import scratch_dir
from orchestrator.git.git_runner import git_listing
from orchestrator.git.publish_guard import blocked_reason
from orchestrator.git.result_contract import RESULT_FILE_NAME

MAX_FILE_BYTES = 100 * 1024 * 1024  # GitHub refuses larger files
MAX_NEW_BYTES = 2 * 1024 * 1024 * 1024  # new content in one commit (GitHub refuses pushes over 2 GB)
MAX_NEW_FILES = 100_000  # new or changed files in one commit
GITLINK = "160000"
GIT_CONTROL_NAMES = frozenset({".gitmodules", ".gitattributes", ".gitignore", ".mailmap"})
_MODES = {"link": "120000"}

TreeEntries = dict[str, tuple[str, str]]  # path -> (mode, object id)


@dataclass(frozen=True)
class Snapshot:
    """The tree the worktree holds, relative to the parent commit it started from."""

    parent: str
    before: TreeEntries  # the parent's tree
    entries: TreeEntries  # the whole new tree
    contents: dict[str, Path] = field(default_factory=dict)  # new or changed blobs by path: a copy on disk
    dropped: tuple[str, ...] = ()  # blocked paths the agent wrote (beyond its result file): left as they were
    refused: tuple[str, ...] = ()  # "path: why" — nothing is committed while any is left
    blob_dir: Path | None = None  # where `contents` are kept until written (`discard` removes it)

    @property
    def changed(self) -> bool:
        return self.entries != self.before

    def discard(self) -> None:
        """Remove the copies of the new blobs (once written, or when nothing will be)."""
        if self.blob_dir is not None:
            shutil.rmtree(self.blob_dir, ignore_errors=True)

    def changed_paths(self) -> tuple[str, ...]:
        paths = self.entries.keys() | self.before.keys()
        return tuple(sorted(p for p in paths if self.entries.get(p) != self.before.get(p)))


def tree_entries(trusted: Path, treeish: str, settings: GitSettings) -> TreeEntries:
    out = git_listing(["ls-tree", "-r", "-z", "--full-tree", treeish], trusted, settings)
    entries: TreeEntries = {}
    for record in out.split("\0"):
        if record:
            meta, _, path = record.partition("\t")
            mode, _, sha = meta.split(" ")
            entries[path] = (mode, sha)
    return entries


def read_worktree(
    trusted: Path,
    worktree: Path,
    parent: str,
    settings: GitSettings,
    unchanged_if: Mapping[str, StatKey] | None = None,
    max_new_bytes: int = MAX_NEW_BYTES,
) -> Snapshot:
    """Read the worktree as data against `parent` (a commit of the trusted clone).

    `unchanged_if`: stat keys taken before the agent ran of paths that then held exactly the parent's
    content; a path whose key is the same now (inode, size, mtime and ctime — ctime cannot be set back) keeps
    the parent's entry without being read again. New content is copied to disk as it is read (memory holds
    one file at a time); more than `max_new_bytes` of it, or more than MAX_NEW_FILES files, is refused."""
    before = tree_entries(trusted, parent, settings)
    hazards = _rule_file_problems(worktree, before, len(parent))
    if hazards:  # git would block on (or follow) them: it does not run in this worktree at all
        return Snapshot(parent, before, dict(before), refused=tuple(hazards))
    gitlinks = [path for path, (mode, _) in before.items() if mode == GITLINK]
    entries: TreeEntries = {path: before[path] for path in gitlinks}
    spill = _Spill(trusted, max_new_bytes)
    dropped: list[str] = []
    refused: list[str] = []
    known = unchanged_if or {}
    with WorktreeReader(worktree) as reader:
        for path in sorted(_candidates(trusted, worktree, before, settings)):
            if path in entries or any(path.startswith(link + "/") for link in gitlinks):
                continue
            if blocked_reason(path) is not None:
                if path in before:
                    entries[path] = before[path]
                dropped.append(path)
                continue
            if path.endswith("/") or "\ufffd" in path:
                why = "a nested git repository" if path.endswith("/") else "its name is not UTF-8"
                refused.append(f"{path.rstrip('/')}: {why}")
                continue
            if path in known and path in before and reader.stat_key(path) == known[path]:
                entries[path] = before[path]
                continue
            problem = _add_entry(
                reader.entry(path, MAX_FILE_BYTES), path, before, entries, spill, len(parent)
            )
            if problem:
                refused.append(problem)
    dropped = [path for path in dropped if path != RESULT_FILE_NAME]  # the one expected there
    return Snapshot(
        parent, before, entries, spill.contents, tuple(dropped), tuple(refused), blob_dir=spill.directory
    )


class _Spill:
    """The new blobs of a snapshot, each written to a file as soon as it is read, within the limits."""

    def __init__(self, trusted: Path, max_bytes: int) -> None:
        self.trusted = trusted
        self.max_bytes = max_bytes
        self.directory: Path | None = None
        self.contents: dict[str, Path] = {}
        self.total = 0

    def add(self, path: str, data: bytes) -> str | None:
        """Keep `data` for `path`; a refusal ("path: why") instead when it would pass a limit."""
        if len(self.contents) >= MAX_NEW_FILES:
            return f"{path}: the work changes more than {MAX_NEW_FILES} files (not committed)"
        if self.total + len(data) > self.max_bytes:
            return f"{path}: the work adds more than {self.max_bytes} bytes of new content (not committed)"
        if self.directory is None:
            self.directory = scratch_dir(self.trusted)  # <pid>-…: removed once this process is gone
            self.directory.mkdir(parents=True)
        copy = self.directory / f"blob-{len(self.contents)}"
        copy.write_bytes(data)
        self.contents[path] = copy
        self.total += len(data)
        return None


def _rule_file_problems(worktree: Path, before: TreeEntries, id_length: int) -> list[str]:
    """A `.gitignore` / `.gitattributes` that is a FIFO, socket or device, or a link the parent commit does
    not have: refused before any git command reads the worktree."""
    problems = []
    for path, kind in git_rule_hazards(worktree):
        if kind == "special":
            problems.append(
                f"{path}: a FIFO, socket or device where git reads its rules (git would block on it)"
            )
            continue
        entry = read_entry(worktree, path, MAX_FILE_BYTES)
        if entry.kind == "link" and before.get(path) == (_MODES["link"], blob_id(entry.data, id_length)):
            continue  # the repository's own link, unchanged
        problems.append(
            f"{path}: a link where git reads its rules (git before 2.32 follows it); make it a file"
        )
    return problems


def _add_entry(
    entry: Entry,
    path: str,
    before: TreeEntries,
    entries: TreeEntries,
    spill: _Spill,
    id_length: int,
) -> str | None:
    """Record one read path; a refusal ("path: why") instead when it cannot be committed."""
    if entry.kind in ("missing", "dir"):
        return None
    if entry.kind == "other":
        return f"{path}: not a file, link or directory (a FIFO, socket or device)"
    if entry.kind == "too-large":
        return f"{path}: {entry.size} bytes, over GitHub's 100 MB file limit"
    mode = _MODES.get(entry.kind) or ("100755" if entry.executable else "100644")
    sha = blob_id(entry.data, id_length)
    if before.get(path) != (mode, sha):
        name = path.rsplit("/", 1)[-1].lower()
        if entry.kind == "link" and name in GIT_CONTROL_NAMES:
            return (
                f"{path}: a link where git reads {name} (git's fsck refuses it, a checkout would follow it)"
            )
        problem = spill.add(path, entry.data)
        if problem:
            return problem
    entries[path] = (mode, sha)
    return None


def stat_keys(worktree: Path, paths: Iterable[str]) -> dict[str, StatKey]:
    """Stat keys of `paths` now (see `read_worktree`); missing paths are left out."""
    keys: dict[str, StatKey] = {}
    with WorktreeReader(worktree) as reader:
        for path in paths:
            key = reader.stat_key(path)
            if key is not None:
                keys[path] = key
    return keys


# Untracked files that tools leave behind (an agent running pytest, mypy or npm in a repository without a
# .gitignore) and that nobody means to commit. Only *new* files are excluded: a path the branch already tracks
# is still committed as the agent left it.
BUILD_LEFTOVERS = (
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".coverage",
    "node_modules/",
    ".DS_Store",
)


def _candidates(
    trusted: Path, worktree: Path, before: Mapping[str, object], settings: GitSettings
) -> set[str]:
    """Every path of the parent, plus new files git would add (ignored ones and build leftovers excluded; a
    nested repository shows as `dir/`)."""
    scratch = scratch_dir(trusted)
    env = {"GIT_WORK_TREE": str(worktree), "GIT_INDEX_FILE": str(scratch / "empty-index")}
    leftovers = [f"--exclude={pattern}" for pattern in BUILD_LEFTOVERS]
    args = ["ls-files", "-z", "--others", "--exclude-standard", *leftovers]
    out = git_listing(args, trusted, settings, env=env)
    return set(before) | {name for name in out.split("\0") if name}


def blob_id(data: bytes, id_length: int = 40) -> str:
    """The object id git gives `data` as a blob (sha1, or sha256 in a sha256 repository)."""
    digest = hashlib.sha256() if id_length == 64 else hashlib.sha1(usedforsecurity=False)
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def write_tree(trusted: Path, snapshot: Snapshot, settings: GitSettings) -> str:
    """Write the snapshot's new blobs and its tree into the trusted clone; the tree id. The copies of the new
    blobs are removed whatever happens.

    The parent's tree is read into a scratch index and only the differences are applied (its cached tree
    hashes make `write-tree` rehash only the directories that changed)."""
    scratch = scratch_dir(trusted)
    scratch.mkdir(parents=True)
    try:
        _write_blobs(trusted, snapshot, settings)
        index = {"GIT_INDEX_FILE": str(scratch / "index")}
        run_git(["read-tree", snapshot.parent], trusted, settings, env=index)
        zero = "0" * len(snapshot.parent)
        removed = [f"0 {zero}\t{path}\0" for path in sorted(snapshot.before.keys() - snapshot.entries.keys())]
        changed = [
            f"{mode} {sha}\t{path}\0"
            for path, (mode, sha) in sorted(snapshot.entries.items())
            if snapshot.before.get(path) != (mode, sha)
        ]
        if removed or changed:
            args = ["update-index", "--add", "--remove", "--replace", "-z", "--index-info"]
            run_git(args, trusted, settings, stdin="".join(removed + changed), env=index)
        return run_git(["write-tree"], trusted, settings, env=index).stdout.strip()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        snapshot.discard()


def _write_blobs(trusted: Path, snapshot: Snapshot, settings: GitSettings) -> None:
    if not snapshot.contents:
        return
    names = [str(copy) for copy in snapshot.contents.values()]
    out = git_listing(
        ["hash-object", "-w", "--no-filters", "--stdin-paths"],
        trusted,
        settings,
        stdin="\n".join(names) + "\n",
    ).split()
    expected = [snapshot.entries[path][1] for path in snapshot.contents]
    if out != expected:
        raise RuntimeError(f"git hashed the blobs differently from us: {out[:3]} vs {expected[:3]}")


def commit_tree(
    trusted: Path,
    tree: str,
    parents: list[str],
    message: str,
    identity: tuple[str, str],
    settings: GitSettings,
) -> str:
    """A commit of `tree` on `parents` in the trusted clone, by `identity` (name, e-mail)."""
    name, email = identity
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    args = ["commit-tree", tree, *(item for parent in parents for item in ("-p", parent)), "-F", "-"]
    return run_git(args, trusted, settings, stdin=message, env=env).stdout.strip()
