"""One local clone and one worktree pool per repo, under runtime/clones and runtime/worktrees."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from orchestrator import git
from orchestrator.runtime import JobContext

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

_pools: dict[tuple[str, str], git.WorktreePool] = {}
_lock = threading.Lock()


def clone_url(api_url: str, repo: RepoConfig) -> str:
    """The configured clone URL, else the forge's conventional one (github.com or a GHES-style host)."""
    if repo.clone_url:
        return repo.clone_url
    parsed = urlparse(api_url)
    host = "github.com" if parsed.netloc == "api.github.com" else parsed.netloc
    return f"{parsed.scheme}://{host}/{repo.owner}/{repo.name}.git"


def pool_for(ctx: JobContext, repo: RepoConfig) -> git.WorktreePool:
    """The repo's pool (one per process and runtime dir; threads of the queue share it)."""
    key = (str(ctx.paths.root), repo.full_name)
    with _lock:
        pool = _pools.get(key)
        if pool is None:
            clone_dir = ctx.paths.clones / repo.key
            git.ensure_clone(clone_url(ctx.config.github.api_url, repo), clone_dir)
            pool = git.WorktreePool(
                clone_dir,
                ctx.paths.worktrees / repo.key,
                size=ctx.config.limits.worktree_pool_size,
            )
            _pools[key] = pool
        return pool


def has_ref(pool: git.WorktreePool, ref: str) -> bool:
    """Whether `ref` (e.g. "origin/agent/1-x") exists in the pool's clone, as of its last fetch."""
    try:
        git.head_sha(pool.repo_dir, ref)
    except git.GitError:
        return False
    return True
