"""Documents (STRATEGY.md, CODEBASE.md, PRODUCT_INSPECTION.md, dependency pins …) change through a PR.

`propose_documents` writes files in a pooled worktree (never the operator's clone), commits, pushes an
`agent/docs-<slug>-<date>` branch and opens a PR against the repo's base branch — or, when a PR for the same
slug is still open, adds a commit to that PR's branch and refreshes its title and body, so a job that runs
every day batches into one PR instead of opening a conflicting one each time. Nothing is ever pushed to a
base branch: `git.push` refuses anything outside `agent/`, and the PR flows through pr_monitor like every
agent PR (its body has no `Closes #N`, so no issue is closed when it merges).

A file's content is either the new text or an edit function `(current text or None) -> new text`, applied
to the file as it is on the branch the commit goes on (the open PR's head, else the base tip).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from orchestrator import git
from orchestrator.edges.worktree_files import UnsafeWorktreePath, read_regular_file, write_regular_file
from orchestrator.executors.worktrees import has_ref, pool_for
from orchestrator.git.publish_guard import PublishRefused
from orchestrator.github.errors import GitHubError
from orchestrator.security.secret_scan import scan_text
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import PullRequest

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

log = logging.getLogger(__name__)

DOCS_BRANCH_PREFIX = "agent/docs-"
MAX_SLUG_CHARS = 40

DocumentEdit = Callable[[str | None], str]
DocumentContent = str | DocumentEdit


class UnsafeDocumentPath(ValueError):
    """A document path that is absolute, climbs out of the repository or points into .git."""


class SecretInDocument(Exception):
    """A generated document holds something shaped like a credential; it is not pushed."""


# Everything opening a documents PR can fail with that a loop job reports and moves on from (per repo).
DOC_PR_ERRORS: tuple[type[Exception], ...] = (
    git.GitError,
    git.PoolExhausted,
    git.PushRefused,
    SecretInDocument,
    UnsafeWorktreePath,
    PublishRefused,
    GitHubError,
)
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


def _is_link(path: Path) -> bool:
    return path.is_symlink()


def slugify(text: str) -> str:
    """Lowercase words joined by dashes, bounded (branch-name safe)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:MAX_SLUG_CHARS].strip("-") or "update"


def docs_branch_prefix(branch_hint: str) -> str:
    return f"{DOCS_BRANCH_PREFIX}{slugify(branch_hint)}"


def is_docs_branch_for(head_ref: str, prefix: str) -> bool:
    """Whether `head_ref` is `prefix` itself or `prefix-<date>` (not a longer slug that merely starts alike)."""
    if head_ref == prefix:
        return True
    rest = head_ref[len(prefix) :] if head_ref.startswith(prefix + "-") else ""
    return bool(re.fullmatch(r"-\d{8}(-\d+)?", rest))


def check_document_path(path: str) -> PurePosixPath:
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or (pure.parts and pure.parts[0] == ".git"):
        raise UnsafeDocumentPath(f"document path {path!r} must be relative, inside the repo and not in .git")
    return pure


def open_docs_pull(ctx: JobContext, repo: RepoConfig, branch_hint: str) -> PullRequest | None:
    """The open docs PR for this hint against the base branch (the newest when there are several)."""
    prefix = docs_branch_prefix(branch_hint)
    found = [
        pr
        for pr in ctx.forge.list_pulls(repo.full_name, state="open", base=repo.base_branch)
        if is_docs_branch_for(pr.head_ref, prefix)
    ]
    return max(found, key=lambda pr: pr.number) if found else None


def propose_documents(
    ctx: JobContext,
    repo: RepoConfig,
    files: Mapping[str, DocumentContent],
    title: str,
    body: str,
    branch_hint: str,
) -> PullRequest | None:
    """Commit `files` on a docs branch and open (or update) its PR; None when nothing would change."""
    for path in files:
        check_document_path(path)
    existing = open_docs_pull(ctx, repo, branch_hint)
    pool = pool_for(ctx, repo)
    pool.fetch()
    if existing is not None and has_ref(pool, f"origin/{existing.head_ref}"):
        branch, start = existing.head_ref, f"origin/{existing.head_ref}"
    else:
        existing = None
        branch, start = (
            f"{docs_branch_prefix(branch_hint)}-{ctx.clock():%Y%m%d}",
            f"origin/{repo.base_branch}",
        )
    if branch == repo.base_branch:
        raise git.PushRefused(f"refusing to write documents on the base branch {branch!r}")
    lease = git.head_sha(pool.repo_dir, f"origin/{branch}") if has_ref(pool, f"origin/{branch}") else ""
    worktree = pool.acquire(branch, start, owner=f"docs:{repo.key}:{branch}")
    try:
        sha = _write_and_commit(ctx, worktree, files, title)
        if sha is None:
            log.info("documents unchanged repo=%s branch=%s", repo.full_name, branch)
            return None
        git.push(worktree, branch, force_with_lease=lease, settings=pool.settings)
    finally:
        pool.release(worktree)
    ctx.audit("push", f"{repo.full_name}:{branch}", sha=sha, documents=sorted(files))
    return _open_or_update_pull(ctx, repo, branch, existing, title, body)


def _write_and_commit(
    ctx: JobContext, worktree: Path, files: Mapping[str, DocumentContent], title: str
) -> str | None:
    for path, content in files.items():
        # no-follow (worktree_files): a committed `CODEBASE.md -> /proc/self/environ` or a link into runtime/
        # is neither read into the document nor written through; the document replaces the link
        read = None if _is_link(worktree / path) else read_regular_file(worktree, path, MAX_DOCUMENT_BYTES)
        current = read.data.decode("utf-8", errors="replace") if read is not None else None
        text = content if isinstance(content, str) else content(current)
        findings = scan_text(text, path)
        if findings:
            ctx.audit("secret_blocked", f"{path}", findings=[str(f) for f in findings[:20]])
            raise SecretInDocument(f"{path}: {findings[0]}")
        if current == text:
            continue
        write_regular_file(worktree, path, text.encode("utf-8"))
    identity = ctx.config.git
    return git.commit_all(worktree, title, identity.author_name, identity.author_email)


def _open_or_update_pull(
    ctx: JobContext,
    repo: RepoConfig,
    branch: str,
    existing: PullRequest | None,
    title: str,
    body: str,
) -> PullRequest:
    if existing is None:
        adopted = ctx.forge.list_pulls(repo.full_name, state="open", head=branch)
        existing = adopted[0] if adopted else None  # opened by a run that died before recording it
    if existing is None:
        pr = ctx.forge.create_pull(repo.full_name, title=title, body=body, head=branch, base=repo.base_branch)
        log.info("docs PR opened repo=%s pr=%s branch=%s", repo.full_name, pr.number, branch)
        return pr
    if existing.title != title or existing.body != body:
        ctx.forge.update_pull(repo.full_name, existing.number, title=title, body=body)
    log.info("docs PR updated repo=%s pr=%s branch=%s", repo.full_name, existing.number, branch)
    return ctx.forge.get_pull(repo.full_name, existing.number)
