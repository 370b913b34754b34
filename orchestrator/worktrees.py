"""One local clone and one worktree pool per repo, under runtime/clones and runtime/worktrees."""

from __future__ import annotations

import base64
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


def git_settings(ctx: JobContext, repo: RepoConfig) -> git.GitSettings:
    """Git settings for this repo: commits made by git itself carry the configured identity, and an HTTPS
    remote gets the forge token as an `http.extraheader` through the environment (never written to the clone's
    .git/config, which the agents' worktrees share)."""
    url = clone_url(ctx.config.github.api_url, repo)
    ident = ctx.config.git
    config: tuple[tuple[str, str], ...] = ()
    token_for_git = getattr(ctx.forge, "git_authorization", None)
    if url.startswith(("https://", "http://")) and token_for_git is not None:
        parsed = urlparse(url)
        basic = base64.b64encode(f"x-access-token:{token_for_git()}".encode()).decode()
        config = ((f"http.{parsed.scheme}://{parsed.netloc}/.extraheader", f"AUTHORIZATION: basic {basic}"),)
    if ctx.config.github.ca_bundle is not None:  # a forge with its own CA (the sandbox with --tls)
        config = (*config, ("http.sslCAInfo", str(ctx.config.github.ca_bundle)))
    return git.GitSettings(
        config=config, committer_name=ident.author_name, committer_email=ident.author_email
    )


def pool_for(ctx: JobContext, repo: RepoConfig) -> git.WorktreePool:
    """The repo's pool (one per process and runtime dir; threads of the queue share it). Its git settings are
    refreshed on every call (a GitHub App's installation token lasts one hour)."""
    key = (str(ctx.paths.root), repo.full_name)
    settings = git_settings(ctx, repo)
    with _lock:
        pool = _pools.get(key)
        if pool is None:
            clone_dir = ctx.paths.clones / repo.key
            git.ensure_clone(clone_url(ctx.config.github.api_url, repo), clone_dir, settings)
            pool = git.WorktreePool(
                clone_dir,
                ctx.paths.worktrees / repo.key,
                size=ctx.config.limits.worktree_pool_size,
                settings=settings,
            )
            _pools[key] = pool
        pool.settings = settings
        return pool


def has_ref(pool: git.WorktreePool, ref: str) -> bool:
    """Whether `ref` (e.g. "origin/agent/1-x") exists in the pool's clone, as of its last fetch."""
    try:
        git.head_sha(pool.repo_dir, ref)
    except git.GitError:
        return False
    return True
