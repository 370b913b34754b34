"""Per repo: a trusted clone, a working clone and a worktree pool, under runtime/clones and runtime/worktrees.

The trusted clone (`runtime/clones/<key>.trusted.git`) is the only one that talks to the forge, and only its
network commands carry the token; the working clone (`runtime/clones/<key>`) hosts the pool and fetches from
the trusted clone locally (see `git_layout`)."""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from orchestrator import git
from orchestrator.git import git_layout
from orchestrator.git.worktree_pool import WorktreePool
from orchestrator.state import metrics
from orchestrator.state.runtime import JobContext

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

_pools: dict[tuple[str, str], WorktreePool] = {}
_lock = threading.Lock()


def clone_url(api_url: str, repo: RepoConfig) -> str:
    """The configured clone URL, else the forge's conventional one (github.com or a GHES-style host)."""
    if repo.clone_url:
        return repo.clone_url
    parsed = urlparse(api_url)
    host = "github.com" if parsed.netloc == "api.github.com" else parsed.netloc
    return f"{parsed.scheme}://{host}/{repo.owner}/{repo.name}.git"


def git_settings(ctx: JobContext, repo: RepoConfig) -> git.GitSettings:
    """Git settings for this repo: commits made by git itself carry the configured identity, the push guard
    gets the operator's secret allow-list, and an HTTPS remote gets the forge token as an `http.extraheader`
    — in the environment of the trusted clone's network commands only (never in a config file, never in a
    command that touches a worktree)."""
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
        remote_config=config,
        committer_name=ident.author_name,
        committer_email=ident.author_email,
        secret_allowlist=tuple(repo.secret_allowlist),
    )


def pool_for(ctx: JobContext, repo: RepoConfig) -> WorktreePool:
    """The repo's pool (one per process and runtime dir; threads of the queue share it). Its git settings are
    refreshed on every call (a GitHub App's installation token lasts one hour). A clone config someone else
    changed is restored and recorded as a `security` event."""
    key = (str(ctx.paths.root), repo.full_name)
    settings = git_settings(ctx, repo)
    with _lock:
        pool = _pools.get(key)
        if pool is None:
            clone_dir = ctx.paths.clones / repo.key
            report = _security_report(ctx, repo)
            git.ensure_clone(clone_url(ctx.config.github.api_url, repo), clone_dir, settings, report)
            pool = WorktreePool(
                clone_dir,
                ctx.paths.worktrees / repo.key,
                size=ctx.config.limits.worktree_pool_size,
                settings=settings,
            )
            _pools[key] = pool
        pool.settings = settings
        return pool


def _security_report(ctx: JobContext, repo: RepoConfig) -> git_layout.Report:
    def report(message: str) -> None:
        metrics.record_event(ctx.paths.metrics, repo=repo.full_name, state="security", reason=message)

    return report


def has_ref(pool: WorktreePool, ref: str) -> bool:
    """Whether `ref` (e.g. "origin/agent/1-x") exists in the pool's clone, as of its last fetch."""
    try:
        git.head_sha(pool.repo_dir, ref)
    except git.GitError:
        return False
    return True
