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
"""

from __future__ import annotations

import re
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.containment.spec import Mount

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
REF_ROOTS = ("refs/heads", "refs/remotes", "refs/tags")
OBJECTS_INSIDE = Path("/agentos/objects")  # where the sandbox sees our clone's objects, read-only
MERGE_STATE = ("MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "ORIG_HEAD")  # a merge we started for the agent


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
    """The git metadata a worktree points at, read as data; None when it is not a repository."""
    dot_git = worktree / ".git"
    if dot_git.is_dir() and not dot_git.is_symlink():
        return GitSource(git_dir=dot_git, common_dir=dot_git) if (dot_git / "objects").is_dir() else None
    if not dot_git.is_file():
        return None
    text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
    if not text.startswith("gitdir:"):
        return None
    git_dir = (worktree / text.removeprefix("gitdir:").strip()).resolve()
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        common = (git_dir / commondir.read_text(encoding="utf-8").strip()).resolve()
    if not (common / "objects").is_dir():
        return None
    return GitSource(git_dir=git_dir, common_dir=common)


def private_git(source: GitSource, worktree: Path, dest: Path) -> tuple[Mount, ...]:
    """Create the private git dir at `dest` and return the mounts that show it to the sandbox."""
    head_ref, head_sha = _head(source)
    refs = _refs(source.common_dir)
    if head_ref and head_sha:
        refs[head_ref] = head_sha
    if dest.exists():
        shutil.rmtree(dest)  # our scratch from an earlier run in the same directory
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
    try:
        lines = (common / "packed-refs").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    refs = {}
    for line in lines:
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
        parents = _loose_commit_parents(dest / "objects", sha)
        if parents is None:
            return ()
        pending += parents
    return tuple(sorted(bases - {start}))


def _private_head(dest: Path) -> str | None:
    try:
        text = (dest / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if _SHA.fullmatch(text):
        return text
    ref = text.removeprefix("ref:").strip()
    if not ref.startswith("refs/heads/") or ".." in ref:
        return None
    loose = dest / ref
    if loose.is_file() and not loose.is_symlink():
        sha = loose.read_text(encoding="utf-8", errors="replace").strip()
        return sha if _SHA.fullmatch(sha) else None
    return _packed(dest).get(ref)


def _loose_commit_parents(objects: Path, sha: str) -> list[str] | None:
    path = objects / sha[:2] / sha[2:]
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = zlib.decompress(path.read_bytes())
    except (OSError, zlib.error):
        return None
    header, _, body = data.partition(b"\0")
    if not header.startswith(b"commit "):
        return None
    parents = []
    for line in body.split(b"\n"):
        if not line:
            break
        if line.startswith(b"parent "):
            parent = line[7:].decode("ascii", errors="replace")
            if not _SHA.fullmatch(parent):
                return None
            parents.append(parent)
    return parents
