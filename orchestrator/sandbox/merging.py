"""Merging a pull request for real: a commit made with git plumbing in the bare repo, the base moved by CAS.

squash: one commit whose tree is `git merge-tree` of base and head, parent = base tip.
merge:  the same tree with two parents (base tip, head).
rebase: the head's commits replayed onto the base tip (a fast-forward when the head already contains it).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass

from orchestrator.edges.process import run
from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.gitrepo import BareRepo, Identity
from orchestrator.sandbox.routing import ApiError

# GitHub's closing keywords: close/closes/closed, fix/fixes/fixed, resolve/resolves/resolved, then "#N"
# (or "owner/repo#N"), optionally after a colon.
CLOSING_REFERENCE = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+(?:([\w.-]+/[\w.-]+))?#(\d+)\b", re.IGNORECASE
)

NOT_MERGEABLE = "Pull Request is not mergeable"


@dataclass(frozen=True)
class MergeRequest:
    number: int
    title: str
    head_ref: str
    head_sha: str
    base_ref: str
    method: str  # "squash" | "merge" | "rebase"
    commit_title: str | None
    commit_message: str | None
    author: Identity


def closing_references(text: str, repo_full_name: str) -> list[int]:
    """Issue numbers of this repo that `text` says it closes ("Closes #3", "fixed: owner/repo#4")."""
    numbers = []
    for match in CLOSING_REFERENCE.finditer(text or ""):
        other_repo = match.group(1)
        if other_repo is None or other_repo.lower() == repo_full_name.lower():
            numbers.append(int(match.group(2)))
    return sorted(set(numbers))


def merge_pull(core: ForgeCore, repo: Repo, request: MergeRequest) -> tuple[str, str]:
    """Make the merge commit(s) and move the base branch; returns (new base tip, base tip before)."""
    bare = core.bare(repo)
    with core.repo_lock(repo):
        base_sha = bare.resolve(request.base_ref)
        if base_sha is None:
            raise ApiError(422, "Base branch does not exist")
        for guard in core.merge_guards:  # branch protection (routes_protection)
            guard(repo, request.base_ref, base_sha, request.head_sha)
        if request.method == "rebase":
            new_tip = _rebase(core, bare, base_sha, request)
        else:
            tree = bare.merge_tree(base_sha, request.head_sha)
            if tree is None:
                raise ApiError(405, NOT_MERGEABLE)
            parents = [base_sha] if request.method == "squash" else [base_sha, request.head_sha]
            new_tip = bare.commit_tree(tree, parents, _message(bare, base_sha, request), request.author)
        if not bare.compare_and_set(f"refs/heads/{request.base_ref}", new_tip, base_sha):
            raise ApiError(405, "Base branch was modified. Review and try the merge again.")
    return new_tip, base_sha


def _message(bare: BareRepo, base_sha: str, request: MergeRequest) -> str:
    if request.method == "squash":
        title = request.commit_title or f"{request.title} (#{request.number})"
        body = request.commit_message
        if body is None:
            body = "\n\n".join(bare.subjects(base_sha, request.head_sha))
    else:
        title = request.commit_title or f"Merge pull request #{request.number} from {request.head_ref}"
        body = request.commit_message if request.commit_message is not None else request.title
    return f"{title}\n\n{body}\n" if body else f"{title}\n"


def _rebase(core: ForgeCore, bare: BareRepo, base_sha: str, request: MergeRequest) -> str:
    """Replay head's commits onto the base tip in a throw-away worktree; 405 when they do not apply."""
    if bare.is_ancestor(base_sha, request.head_sha):
        return request.head_sha
    workdir = core.data_dir / "merge" / uuid.uuid4().hex
    workdir.parent.mkdir(parents=True, exist_ok=True)
    bare.git("worktree", "add", "-q", "--detach", str(workdir), base_sha)
    try:
        env = {
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
            "GIT_AUTHOR_NAME": request.author.name,
            "GIT_AUTHOR_EMAIL": request.author.email,
        }
        commits = bare.commits_between(base_sha, request.head_sha)
        result = run(
            ["git", "-C", str(workdir), "cherry-pick", "--allow-empty", "--keep-redundant-commits", *commits],
            env={**_base_env(), **env},
            timeout=120,
        )
        if not result.ok:
            raise ApiError(405, "This branch can't be rebased")
        return run(["git", "-C", str(workdir), "rev-parse", "HEAD"], timeout=30).stdout.strip()
    finally:
        bare.git("worktree", "remove", "--force", str(workdir), check=False)
        shutil.rmtree(workdir, ignore_errors=True)
        bare.git("worktree", "prune", check=False)


def _base_env() -> dict[str, str]:
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
