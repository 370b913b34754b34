"""The forge's bare git repositories, driven with git plumbing through orchestrator.edges.process.run.

Ref changes are compare-and-set (`git update-ref REF NEW OLD`), so two requests racing to create the same
branch or to move the base branch cannot both win.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.edges.process import BytesResult, ProcessResult, run, run_bytes

log = logging.getLogger(__name__)

ZERO_SHA = "0" * 40
_GIT_TIMEOUT = 60.0

# The env var the forge sets when it runs `git http-backend` itself (and so sees the moved refs itself).
PUSH_VIA_HTTP_ENV = "AGENTOS_SANDBOX_PUSH_VIA_HTTP"
MAX_FILE_BYTES_ENV = "AGENTOS_SANDBOX_MAX_FILE_BYTES"
GITHUB_MAX_FILE_BYTES = 100 * 1024 * 1024

POST_RECEIVE_HOOK = """#!{python}
# Installed by the Agent OS sandbox forge: tell the server which refs a push moved. A push over HTTP is seen
# by the server itself; this hook reports the pushes made straight to the directory (file:// remotes).
import json, os, ssl, sys, urllib.request
from pathlib import Path

if os.environ.get({via_http!r}):
    sys.exit(0)
DATA = Path({data_dir!r})
REPO = {full_name!r}
updates = []
for line in sys.stdin:
    parts = line.split()
    if len(parts) == 3:
        updates.append({{"old": parts[0], "new": parts[1], "ref": parts[2]}})
try:
    server = json.loads((DATA / "server.json").read_text())
    token = (DATA / "token").read_text().strip()
    request = urllib.request.Request(
        server["url"] + "/_sandbox/hooks/push",
        data=json.dumps({{"repo": REPO, "updates": updates}}).encode(),
        headers={{"Authorization": "token " + token, "Content-Type": "application/json"}},
        method="POST",
    )
    context = ssl.create_default_context(cafile=server["ca_bundle"]) if server.get("ca_bundle") else None
    urllib.request.urlopen(request, timeout=10, context=context).read()
except (OSError, ValueError, KeyError) as exc:
    print("sandbox forge not notified of the push:", exc, file=sys.stderr)
"""

# GitHub's push refusals that git's own receive.* settings cannot express: files over 100 MB (GH001).
PRE_RECEIVE_HOOK = """#!{python}
# Installed by the Agent OS sandbox forge: refuse what GitHub refuses on push (GH001: a file over 100 MB).
import os, subprocess, sys

ZERO = "0" * 40
LIMIT = int(os.environ.get({max_env!r}) or {limit})
tips = [line.split()[1] for line in sys.stdin if len(line.split()) == 3 and line.split()[1] != ZERO]
if not tips:
    sys.exit(0)
objects = subprocess.run(
    ["git", "rev-list", "--objects", *tips, "--not", "--all"], capture_output=True, text=True, timeout=300
).stdout
paths = {{}}
for line in objects.splitlines():
    sha, _, path = line.partition(" ")
    if path:
        paths[sha] = path
sizes = subprocess.run(
    ["git", "cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"],
    input="\\n".join(paths), capture_output=True, text=True, timeout=300,
).stdout
large = []
for line in sizes.splitlines():
    sha, kind, size = line.split()
    if kind == "blob" and int(size) > LIMIT:
        large.append((paths[sha], int(size)))
if large:
    print("error: GH001: Large files detected. You may want to try Git Large File Storage - "
          "https://git-lfs.github.com.", file=sys.stderr)
    for path, size in large:
        print(f"error: File {{path}} is {{size / 1048576:.2f}} MB; this exceeds GitHub's file size limit of "
              f"{{LIMIT / 1048576:.2f}} MB", file=sys.stderr)
    sys.exit(1)
"""

# What GitHub's receive-pack refuses, as git settings (given to every receive-pack the forge runs, and
# written into each bare repo for pushes straight to the directory): hidden refs/pull/*, deleting the
# default branch, malformed objects.
RECEIVE_CONFIG = (
    ("receive.hideRefs", "refs/pull"),
    ("receive.denyDeleteCurrent", "refuse"),
    ("receive.fsckObjects", "true"),
    ("uploadpack.allowAnySHA1InWant", "true"),
)


class GitError(Exception):
    """A git command failed in a bare repository."""


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # GitHub's words: added | removed | modified | renamed
    blob_sha: str
    additions: int
    deletions: int
    previous_path: str | None = None


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str
    committer_name: str
    committer_email: str
    committer_date: str
    message: str


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    kind: str  # blob | tree | commit (a submodule)
    sha: str
    size: int  # 0 for trees and submodules
    path: str

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


class BareRepo:
    """One bare repository on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path

    # --- plumbing -----------------------------------------------------------------------------------------
    def git(
        self, *args: str, env: Mapping[str, str] | None = None, check: bool = True, stdin: str | None = None
    ) -> ProcessResult:
        full_env = dict(os.environ)
        full_env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
        if env:
            full_env.update(env)
        result = run(
            ["git", "--git-dir", str(self.path), *args], env=full_env, stdin=stdin, timeout=_GIT_TIMEOUT
        )
        if check and not result.ok:
            raise GitError(f"git {' '.join(args)}: {result.stderr.strip() or result.returncode}")
        return result

    def git_bytes(self, *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None) -> BytesResult:
        """`git` with binary input and output (blobs); GitError when it fails."""
        full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
        result = run_bytes(
            ["git", "--git-dir", str(self.path), *args], env=full_env, stdin=stdin, timeout=_GIT_TIMEOUT
        )
        if result.returncode != 0:
            raise GitError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
        return result

    def init(self, default_branch: str, data_dir: Path, full_name: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        result = run(
            ["git", "init", "-q", "--bare", "-b", default_branch, str(self.path)], timeout=_GIT_TIMEOUT
        )
        if not result.ok:
            raise GitError(f"git init {self.path}: {result.stderr.strip()}")
        for key, value in RECEIVE_CONFIG:
            self.git("config", key, value)
        self.install_hooks(data_dir, full_name)

    def install_hooks(self, data_dir: Path, full_name: str) -> None:
        """(Re)write the forge's hooks: post-receive (report file:// pushes) and pre-receive (GitHub's limits)."""
        hooks = {
            "post-receive": POST_RECEIVE_HOOK.format(
                python=sys.executable, data_dir=str(data_dir), full_name=full_name, via_http=PUSH_VIA_HTTP_ENV
            ),
            "pre-receive": PRE_RECEIVE_HOOK.format(
                python=sys.executable, max_env=MAX_FILE_BYTES_ENV, limit=GITHUB_MAX_FILE_BYTES
            ),
        }
        for name, text in hooks.items():
            hook = self.path / "hooks" / name
            if not hook.exists() or hook.read_text() != text:
                hook.write_text(text)
                hook.chmod(0o755)

    # --- refs ---------------------------------------------------------------------------------------------
    def heads(self) -> dict[str, str]:
        """Every branch → its tip sha."""
        out = self.git("for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/heads/").stdout
        pairs = (line.split(" ", 1) for line in out.splitlines() if line)
        return {name: sha for name, sha in pairs}

    def resolve(self, rev: str) -> str | None:
        """The commit sha `rev` names (a branch, a sha, a ref), or None."""
        for candidate in (f"refs/heads/{rev}", f"refs/tags/{rev}", rev):
            result = self.git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False)
            if result.ok:
                return result.stdout.strip()
        return None

    def is_empty(self) -> bool:
        return not self.git("for-each-ref", "--count=1", "refs/heads/").stdout.strip()

    def object_exists(self, sha: str) -> bool:
        return self.git("cat-file", "-e", f"{sha}^{{commit}}", check=False).ok

    def compare_and_set(self, ref: str, new: str, old: str) -> bool:
        """Move `ref` from `old` to `new` atomically (old=ZERO_SHA: create; new=ZERO_SHA: delete)."""
        if new == ZERO_SHA:
            result = self.git("update-ref", "-d", ref, old, check=False)
        else:
            result = self.git("update-ref", ref, new, old, check=False)
        return result.ok

    # --- history ------------------------------------------------------------------------------------------
    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.git("merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0

    def merge_base(self, a: str, b: str) -> str | None:
        result = self.git("merge-base", a, b, check=False)
        return result.stdout.strip() if result.ok else None

    def commits_between(self, base: str, head: str) -> list[str]:
        """Commits reachable from head and not from base, oldest first."""
        out = self.git("rev-list", "--reverse", f"{base}..{head}").stdout
        return out.split()

    def merge_tree(self, base: str, head: str) -> str | None:
        """The tree of merging head into base, or None on a conflict (a real `git merge-tree --write-tree`)."""
        result = self.git("merge-tree", "--write-tree", "--no-messages", base, head, check=False)
        if result.returncode == 0:
            return result.stdout.split()[0]
        if result.returncode == 1:
            return None
        raise GitError(f"git merge-tree {base} {head}: {result.stderr.strip()}")

    def commit_tree(self, tree: str, parents: Sequence[str], message: str, author: Identity) -> str:
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
        }
        parent_args = [arg for parent in parents for arg in ("-p", parent)]
        return self.git("commit-tree", tree, *parent_args, "-F", "-", env=env, stdin=message).stdout.strip()

    def commit_info(self, sha: str) -> CommitInfo:
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        fields = self.git("show", "-s", f"--format={fmt}", sha).stdout.split("\x00")
        return CommitInfo(
            sha=fields[0],
            tree=fields[1],
            parents=tuple(fields[2].split()),
            author_name=fields[3],
            author_email=fields[4],
            author_date=fields[5],
            committer_name=fields[6],
            committer_email=fields[7],
            committer_date=fields[8],
            message=fields[9].rstrip("\n"),
        )

    def subjects(self, base: str, head: str) -> list[str]:
        """`* subject` lines of base..head, oldest first (GitHub's default squash message)."""
        out = self.git("log", "--reverse", "--format=* %s", f"{base}..{head}").stdout
        return [line for line in out.splitlines() if line]

    # --- trees and blobs ----------------------------------------------------------------------------------
    def tree_entries(self, rev: str, path: str, children: bool) -> list[TreeEntry]:
        """The entry at `path` of `rev` (children=False), or the entries inside the directory `path`."""
        spec = (path.rstrip("/") + "/") if children and path else path
        args = ["ls-tree", "-l", "-z", rev] + (["--", spec] if spec else [])
        out = self.git(*args, check=False)
        if not out.ok:
            return []
        entries = []
        for record in out.stdout.split("\x00"):
            if not record:
                continue
            meta, _, entry_path = record.partition("\t")
            mode, kind, sha, size = meta.split()
            entries.append(TreeEntry(mode, kind, sha, int(size) if size.isdigit() else 0, entry_path))
        return entries

    def blob(self, sha: str) -> bytes:
        return self.git_bytes("cat-file", "blob", sha).stdout

    def write_blob(self, data: bytes) -> str:
        return self.git_bytes("hash-object", "-w", "--stdin", stdin=data).stdout.decode().strip()

    def tree_with(self, commit: str | None, path: str, blob_sha: str | None) -> str:
        """The tree of `commit` (None: empty) with `path` set to a regular file `blob_sha` (None: removed)."""
        index = self.path / f"index.sandbox-{uuid.uuid4().hex}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            self.git("read-tree", commit or "--empty", env=env)
            entry = f"0 {ZERO_SHA}\t{path}\n" if blob_sha is None else f"100644 {blob_sha}\t{path}\n"
            self.git("update-index", "--index-info", env=env, stdin=entry)  # needs no work tree
            return self.git("write-tree", env=env).stdout.strip()
        finally:
            index.unlink(missing_ok=True)

    # --- diffs --------------------------------------------------------------------------------------------
    def diff(self, base: str, head: str) -> str:
        """The three-dot diff GitHub shows for a PR: merge-base(base, head) → head."""
        return self.git("diff", "--no-color", "--no-ext-diff", "-M", f"{base}...{head}").stdout

    def changed_files(self, base: str, head: str, three_dot: bool = True) -> list[ChangedFile]:
        """What changed from `base` to `head`: from their merge base (three_dot, as a PR shows) or from base."""
        spec = f"{base}...{head}" if three_dot else f"{base}..{head}"
        raw = self.git("diff", "--no-color", "-M", "--raw", "-z", "--abbrev=40", spec).stdout
        numstat = self.git("diff", "--no-color", "-M", "--numstat", "-z", spec).stdout
        counts = _parse_numstat(numstat)
        files: list[ChangedFile] = []
        tokens = raw.split("\x00")
        i = 0
        while i < len(tokens) - 1:
            meta = tokens[i].split()
            status_letter = meta[4][0]
            new_blob = meta[3]
            if status_letter in "RC":
                old_path, path = tokens[i + 1], tokens[i + 2]
                i += 3
            else:
                old_path, path = None, tokens[i + 1]
                i += 2
            added, deleted = counts.get(path, (0, 0))
            files.append(
                ChangedFile(
                    path=path,
                    status=_STATUS_WORDS.get(status_letter, "modified"),
                    blob_sha=meta[2] if status_letter == "D" else new_blob,
                    additions=added,
                    deletions=deleted,
                    previous_path=old_path,
                )
            )
        return files


_STATUS_WORDS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}


def _parse_numstat(text: str) -> dict[str, tuple[int, int]]:
    """`git diff --numstat -z` → path → (additions, deletions); binary files count 0."""
    counts: dict[str, tuple[int, int]] = {}
    tokens = text.split("\x00")
    i = 0
    while i < len(tokens) and tokens[i]:
        added, deleted, path = tokens[i].split("\t", 2)
        if path == "":  # a rename: the next two tokens are the old and new path
            path = tokens[i + 2]
            i += 3
        else:
            i += 1
        counts[path] = (int(added) if added.isdigit() else 0, int(deleted) if deleted.isdigit() else 0)
    return counts


def patches_by_path(diff: str) -> dict[str, str]:
    """Split a unified diff into each file's hunks (GitHub's per-file `patch`), keyed by the new path."""
    patches: dict[str, str] = {}
    path: str | None = None
    hunks: list[str] = []
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            if path is not None and hunks:
                patches[path] = "\n".join(hunks)
            path, hunks = line.rsplit(" b/", 1)[-1], []
        elif line.startswith("@@") or hunks:
            hunks.append(line)
    if path is not None and hunks:
        patches[path] = "\n".join(hunks)
    return patches
