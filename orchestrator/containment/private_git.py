"""The agent's own git directory: it may commit, diff and log in its worktree; nothing it writes reaches us.

Per sandboxed run we create a private git dir under the run's directory:
- `objects/info/alternates` names our clone's object directory, which the sandbox sees read-only at
  `/agentos/objects` (so history,
  blobs and `git diff origin/main` work without copying anything); new objects go to the private `objects/`;
- `HEAD` is the worktree's branch at its current commit; every branch, remote-tracking ref and tag of our
  clone is copied into `packed-refs`;
- `index` is a copy of the worktree's index (so `git status` is instant and right), and so is the state of a
  merge we started for a resolve-conflict task (`MERGE_HEAD`, …); `info/exclude` and `shallow` when present;
- `config` is a fresh minimal file (no hooks, filters or remotes of ours).
After the run, `agent_bases` reads (as data: zlib and text, never a git command in that directory) which
commits of ours the agent's own new commits are built on, so a merge of the base branch the agent made
(resolving a conflict) can be recorded in the commit we build, without trusting anything else it wrote.

Inside the sandbox the worktree's `.git` is covered: a `.git` file by a read-only file saying
`gitdir: <private dir>`, a `.git` directory (a plain repository) by the private dir itself. Our own git never
reads the private dir, and the real `.git` is never writable from inside.

The source is read as data (files, never a git command that could honour config), from our clone's
directories (`GitSource`) — never from what the worktree's `.git` file says, when the caller knows better.
Whatever the agent could have written (its private dir after the run, a worktree's `.git`) is read through
`worktree_files`: never through a link, never a FIFO or device (no blocking open), at most a few bytes per
file, and a loose object is inflated only as far as its header and parent lines — a planted
`HEAD -> /dev/zero`, a FIFO for `packed-refs` or an object that inflates to gigabytes cannot hang or
exhaust the queue.
"""

from __future__ import annotations

import re
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.containment.spec import Mount
from orchestrator.edges.worktree_files import UnsafeWorktreePath, read_regular_file, remove_tree

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
REF_ROOTS = ("refs/heads", "refs/remotes", "refs/tags")
OBJECTS_INSIDE = Path("/agentos/objects")  # where the sandbox sees our clone's objects, read-only
MERGE_STATE = ("MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "ORIG_HEAD")  # a merge we started for the agent
REF_FILE_BYTES = 4096  # HEAD, a loose ref, a `.git` file: a line
PACKED_REFS_BYTES = 32 * 1024 * 1024
OBJECT_FILE_BYTES = 16 * 1024 * 1024  # a loose commit object as stored (compressed)
COMMIT_HEADER_BYTES = 1024 * 1024  # how far a commit is inflated: its header and parent lines


class GitSourceError(Exception):
    """The worktree's git metadata could not be read (not a repository, or unreadable)."""


@dataclass(frozen=True)
class GitSource:
    """Where the worktree's metadata lives in a clone we own: `git_dir` holds HEAD and the index (the
    worktree's admin dir, or the repository's `.git`), `common_dir` the objects and refs."""

    git_dir: Path
    common_dir: Path

    @property
    def objects(self) -> Path:
        return self.common_dir / "objects"


def source_from_clone(clone_git_dir: Path, worktree: Path) -> GitSource:
    """The admin dir of `worktree` in our clone (`<clone>/.git/worktrees/*` whose `gitdir` names it)."""
    wanted = (worktree / ".git").resolve()
    for admin in sorted((clone_git_dir / "worktrees").glob("*")):
        try:
            named = Path((admin / "gitdir").read_text(encoding="utf-8").strip())
        except OSError:
            continue
        if named.resolve() == wanted:
            return GitSource(git_dir=admin, common_dir=clone_git_dir)
    raise GitSourceError(f"{worktree} is not a worktree of {clone_git_dir}")


def source_from_worktree(worktree: Path) -> GitSource | None:
    """The git metadata a worktree points at, read as data; None when it is not a repository (or its `.git`
    is a link, a FIFO or anything but a directory or a regular file)."""
    dot_git = worktree / ".git"
    if dot_git.is_dir() and not dot_git.is_symlink():
        return GitSource(git_dir=dot_git, common_dir=dot_git) if (dot_git / "objects").is_dir() else None
    text = _small_file(worktree, ".git")
    if text is None or not text.startswith("gitdir:"):
        return None
    git_dir = (worktree / text.removeprefix("gitdir:").strip()).resolve()
    commondir = _small_file(git_dir, "commondir") if git_dir.is_dir() else None
    common = (git_dir / commondir).resolve() if commondir else git_dir
    if not (common / "objects").is_dir():
        return None
    return GitSource(git_dir=git_dir, common_dir=common)


def _small_file(root: Path, relative: str, limit: int = REF_FILE_BYTES) -> str | None:
    """The text of a small regular file under `root`, read as data (no link followed, no FIFO opened);
    None when it is missing, not a regular file or larger than `limit`."""
    try:
        read = read_regular_file(root, relative, limit)
    except UnsafeWorktreePath:
        return None
    if read is None or len(read.data) > limit:
        return None
    return read.data.decode("utf-8", errors="replace").strip()


def private_git(source: GitSource, worktree: Path, dest: Path) -> tuple[Mount, ...]:
    """Create the private git dir at `dest` and return the mounts that show it to the sandbox."""
    head_ref, head_sha = _head(source)
    refs = _refs(source.common_dir)
    if head_ref and head_sha:
        refs[head_ref] = head_sha
    if dest.exists():
        remove_tree(dest)  # our scratch from an earlier run in the same directory (the agent wrote in it)
    dest.mkdir(parents=True)
    (dest / "objects" / "info").mkdir(parents=True)
    (dest / "refs" / "heads").mkdir(parents=True)
    (dest / "info").mkdir()
    (dest / "objects" / "info" / "alternates").write_text(f"{OBJECTS_INSIDE}\n", encoding="utf-8")
    (dest / "HEAD").write_text(f"ref: {head_ref}\n" if head_ref else f"{head_sha}\n", encoding="utf-8")
    (dest / "config").write_text(
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"
        "\tlogallrefupdates = true\n",
        encoding="utf-8",
    )
    packed = "".join(f"{sha} {name}\n" for name, sha in sorted(refs.items()))
    (dest / "packed-refs").write_text("# pack-refs with: sorted\n" + packed, encoding="utf-8")
    copies = [(name, source.git_dir / name) for name in ("index", *MERGE_STATE)]
    copies += [
        ("info/exclude", source.common_dir / "info" / "exclude"),
        ("shallow", source.common_dir / "shallow"),
    ]
    for name, origin in copies:
        if origin.is_file():
            shutil.copyfile(origin, dest / name)
    mounts = [Mount("ro", OBJECTS_INSIDE, source.objects.resolve())]
    dot_git = worktree / ".git"
    if dot_git.is_dir():
        mounts.append(Mount("rw", dot_git, dest))
    else:
        mounts.append(Mount("rw", dest, dest))
        pointer = dest.parent / f"{dest.name}.gitfile"
        pointer.write_text(f"gitdir: {dest}\n", encoding="utf-8")
        mounts.append(Mount("ro", dot_git, pointer))
    return tuple(mounts)


def _head(source: GitSource) -> tuple[str | None, str | None]:
    """(symbolic ref or None when detached, commit sha or None when unborn)."""
    try:
        text = (source.git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise GitSourceError(f"cannot read {source.git_dir / 'HEAD'}: {exc}") from exc
    if text.startswith("ref:"):
        ref = text.removeprefix("ref:").strip()
        if not ref.startswith("refs/") or ".." in ref:
            raise GitSourceError(f"{source.git_dir / 'HEAD'}: unexpected ref {ref!r}")
        return ref, _resolve(source, ref)
    if _SHA.fullmatch(text):
        return None, text
    raise GitSourceError(f"{source.git_dir / 'HEAD'}: not a ref or a commit")


def _resolve(source: GitSource, ref: str) -> str | None:
    for base in (source.git_dir, source.common_dir):
        loose = base / ref
        if loose.is_file():
            sha = loose.read_text(encoding="utf-8").strip()
            return sha if _SHA.fullmatch(sha) else None
    return _packed(source.common_dir).get(ref)


def _refs(common: Path) -> dict[str, str]:
    refs = _packed(common)
    for root in REF_ROOTS:
        base = common / root
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            if path.is_file() and not path.is_symlink():
                sha = path.read_text(encoding="utf-8", errors="replace").strip()
                if _SHA.fullmatch(sha):
                    refs[path.relative_to(common).as_posix()] = sha
    return refs


def _packed(common: Path) -> dict[str, str]:
    text = _small_file(common, "packed-refs", PACKED_REFS_BYTES)
    refs: dict[str, str] = {}
    for line in (text or "").splitlines():
        sha, _, name = line.partition(" ")
        if _SHA.fullmatch(sha) and name.startswith(REF_ROOTS):
            refs[name] = sha
    return refs


MAX_AGENT_COMMITS = 1000


def agent_bases(dest: Path, start: str, known: Callable[[str], bool]) -> tuple[str, ...]:
    """The commits of ours (`known`) that the agent's new commits in its private git dir `dest` sit on,
    other than `start` (the commit it began from): e.g. the base branch's tip after it merged or rebased
    onto it. Empty when the agent made no commits, made only linear commits on `start`, or its history
    cannot be read (packed objects, foreign objects, too many commits)."""
    head = _private_head(dest)
    if head is None or head == start:
        return ()
    bases: set[str] = set()
    pending, seen = [head], set()
    while pending:
        sha = pending.pop()
        if sha in seen:
            continue
        seen.add(sha)
        if len(seen) > MAX_AGENT_COMMITS:
            return ()
        if known(sha):
            bases.add(sha)
            continue
        parents = _loose_commit_parents(dest, sha)
        if parents is None:
            return ()
        pending += parents
    return tuple(sorted(bases - {start}))


def _private_head(dest: Path) -> str | None:
    text = _small_file(dest, "HEAD")
    if text is None:
        return None
    if _SHA.fullmatch(text):
        return text
    ref = text.removeprefix("ref:").strip()
    if not ref.startswith("refs/heads/") or ".." in ref.split("/"):
        return None
    loose = _small_file(dest, ref)
    if loose is not None:
        return loose if _SHA.fullmatch(loose) else None
    return _packed(dest).get(ref)


def _loose_commit_parents(dest: Path, sha: str) -> list[str] | None:
    """The parents of the loose commit `sha` in the agent's git dir `dest`; None when it is not a loose
    commit we can read within the bounds (packed, missing, a link, not a commit, a header that never ends)."""
    try:
        read = read_regular_file(dest, f"objects/{sha[:2]}/{sha[2:]}", OBJECT_FILE_BYTES)
    except UnsafeWorktreePath:
        return None
    if read is None or len(read.data) > OBJECT_FILE_BYTES:
        return None
    try:
        data = zlib.decompressobj().decompress(read.data, COMMIT_HEADER_BYTES)
    except zlib.error:
        return None
    header, _, body = data.partition(b"\0")
    end = body.find(b"\n\n")
    if not header.startswith(b"commit ") or end < 0:
        return None  # not a commit, or its header runs past what we inflate
    parents = []
    for line in body[:end].split(b"\n"):
        if line.startswith(b"parent "):
            parent = line[7:].decode("ascii", errors="replace")
            if not _SHA.fullmatch(parent):
                return None
            parents.append(parent)
    return parents
