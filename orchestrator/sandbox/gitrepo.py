"""The forge's bare git repositories, driven with git plumbing through orchestrator.process.run.

Ref changes are compare-and-set (`git update-ref REF NEW OLD`), so two requests racing to create the same
branch or to move the base branch cannot both win.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.process import ProcessResult, run

log = logging.getLogger(__name__)

ZERO_SHA = "0" * 40
_GIT_TIMEOUT = 60.0

POST_RECEIVE_HOOK = """#!{python}
# Installed by the Agent OS sandbox forge: tell the server which refs a push moved.
import json, sys, urllib.request
from pathlib import Path

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
    urllib.request.urlopen(request, timeout=10).read()
except (OSError, ValueError, KeyError) as exc:
    print("sandbox forge not notified of the push:", exc, file=sys.stderr)
"""


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

    def init(self, default_branch: str, data_dir: Path, full_name: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        result = run(
            ["git", "init", "-q", "--bare", "-b", default_branch, str(self.path)], timeout=_GIT_TIMEOUT
        )
        if not result.ok:
            raise GitError(f"git init {self.path}: {result.stderr.strip()}")
        self.git("config", "receive.denyDeleteCurrent", "warn")
        self.git("config", "uploadpack.allowAnySHA1InWant", "true")
        hook = self.path / "hooks" / "post-receive"
        hook.write_text(
            POST_RECEIVE_HOOK.format(python=sys.executable, data_dir=str(data_dir), full_name=full_name)
        )
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

    # --- diffs --------------------------------------------------------------------------------------------
    def diff(self, base: str, head: str) -> str:
        """The three-dot diff GitHub shows for a PR: merge-base(base, head) → head."""
        return self.git("diff", "--no-color", "--no-ext-diff", "-M", f"{base}...{head}").stdout

    def changed_files(self, base: str, head: str) -> list[ChangedFile]:
        spec = f"{base}...{head}"
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
