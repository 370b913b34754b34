"""Running git: one scrubbed, hardened environment for every command, explicit repositories for ours.

No system or global git config, no terminal prompts, no editor or pager, and safety config on top of anything a
repository says (no hooks, no fsmonitor, no `ext::` transport, no credential helper, no submodule recursion, no
auto gc). A command in a registered clone or pooled worktree names its repository explicitly (`git_layout`) and
runs only after the clones' config was verified. The remote credentials (`GitSettings.remote_config`) reach a
command only when it asks for them (`auth=True`: the trusted clone's network commands).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.edges import process
from orchestrator.git import git_layout

if TYPE_CHECKING:
    from orchestrator.security.secret_scan import AllowedSecret

log = logging.getLogger(__name__)
_PASSTHROUGH_ENV = ("PATH", "HOME", "TMPDIR", "SSH_AUTH_SOCK", "http_proxy", "https_proxy", "no_proxy")
SAFETY_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.hooksPath", os.devnull),
    ("core.fsmonitor", "false"),
    ("core.untrackedCache", "false"),
    ("core.excludesFile", os.devnull),
    ("core.attributesFile", os.devnull),
    ("core.pager", "cat"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("protocol.ext.allow", "never"),
    ("credential.helper", ""),
    ("fetch.recurseSubmodules", "false"),
    ("submodule.recurse", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
)


class GitError(Exception):
    """A git command failed. `returncode` is None when it was killed on timeout."""

    def __init__(self, cmd: Sequence[str], returncode: int | None, stderr: str) -> None:
        shown = " ".join(cmd)
        outcome = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"`{shown}` {outcome}: {stderr.strip()[-2000:]}")
        self.cmd = tuple(cmd)
        self.returncode = returncode
        self.stderr = stderr


class GitConflict(GitError):
    """A rebase stopped on conflicts in `paths`; it was aborted, so the worktree is as before."""

    def __init__(
        self, cmd: Sequence[str], returncode: int | None, stderr: str, paths: tuple[str, ...]
    ) -> None:
        super().__init__(cmd, returncode, stderr)
        self.paths = paths


class PushRejected(GitError):
    """The remote refused the push (not a fast-forward, or the lease no longer held)."""


class PushRefused(Exception):
    """We refuse to push this branch at all: only `agent/…` branches are ever pushed."""


class PoolExhausted(Exception):
    """Every worktree in the pool is busy."""


@dataclass(frozen=True)
class GitSettings:
    timeout_s: float = 120.0  # local commands
    network_timeout_s: float = 600.0  # clone, fetch, push, ls-remote
    config: tuple[tuple[str, str], ...] = ()  # extra config for every command of these settings
    remote_config: tuple[tuple[str, str], ...] = ()  # only the trusted clone's network commands (the token)
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment
    committer_name: str = "Agent OS"  # identity for commits git makes itself (rebase)
    committer_email: str = "agent-os@users.noreply.github.com"
    secret_allowlist: tuple[AllowedSecret, ...] = ()  # the operator's allow-list for the push guard


DEFAULT_SETTINGS = GitSettings()


def git_env(settings: GitSettings, *, auth: bool = False) -> dict[str, str]:
    """The environment of one git command; `auth` adds the remote credentials (trusted clone only)."""
    env = {k: v for k, v in os.environ.items() if k in _PASSTHROUGH_ENV or k.upper() in _PASSTHROUGH_ENV}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_SSH_COMMAND="ssh -o BatchMode=yes",
        GIT_EDITOR=":",
        GIT_SEQUENCE_EDITOR=":",
        GIT_PAGER="cat",
        LC_ALL="C",
    )
    pairs = (*SAFETY_CONFIG, *settings.config, *(settings.remote_config if auth else ()))
    env["GIT_CONFIG_COUNT"] = str(len(pairs))
    for i, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    env.update(settings.env)
    return env


def run_git(
    args: Sequence[str],
    cwd: Path,
    settings: GitSettings = DEFAULT_SETTINGS,
    *,
    network: bool = False,
    ok_codes: tuple[int, ...] = (0,),
    auth: bool = False,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    max_output: int = 4 * 1024 * 1024,
    binary: bool = False,
) -> process.ProcessResult:
    """Run `git <args>` in cwd; GitError unless the exit code is in ok_codes.

    In a registered clone or pooled worktree the repository is named explicitly and the clones' config is
    verified first. `auth` (the trusted clone's network commands only) adds the remote credentials."""
    argv = ["git", *args]
    timeout = settings.network_timeout_s if network else settings.timeout_s
    full_env = git_env(settings, auth=auth)
    found = git_layout.target_for(cwd)
    if found is not None:
        layout, target = found
        layout.check_configs()
        full_env.update(target.env())
    if env:
        full_env.update(env)
    try:
        result = process.run(
            argv, cwd=cwd, env=full_env, timeout=timeout, stdin=stdin, max_output=max_output, binary=binary
        )
    except process.ProcessError as exc:
        raise GitError(argv, -1, str(exc)) from exc
    if result.returncode is None:
        raise GitError(argv, None, f"timed out after {timeout:g}s\n{result.stderr}")
    if result.returncode not in ok_codes:
        raise GitError(argv, result.returncode, "\n".join(t for t in (result.stderr, result.stdout) if t))
    return result


LISTING_MAX_BYTES = 1024 * 1024 * 1024


def git_listing(
    args: Sequence[str],
    cwd: Path,
    settings: GitSettings = DEFAULT_SETTINGS,
    *,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> str:
    """The whole output of a command that lists paths or objects. Never cut to its tail (run_git's default
    bound would silently drop the first paths: files taken for deleted, new objects left unscanned); a
    listing over LISTING_MAX_BYTES raises GitError instead of being taken as complete."""
    result = run_git(args, cwd, settings, env=env, stdin=stdin, max_output=LISTING_MAX_BYTES)
    if len(result.stdout) >= LISTING_MAX_BYTES // 4 and len(result.stdout.encode()) >= LISTING_MAX_BYTES:
        raise GitError(["git", *args], result.returncode, f"more than {LISTING_MAX_BYTES} bytes of listing")
    return result.stdout


def abort_rebase(worktree: Path, settings: GitSettings = DEFAULT_SETTINGS) -> bool:
    """Abort a rebase in progress (left by a crash or a conflict); True if there was one.

    A rebase cut short by kill -9 or a full disk can leave state git cannot abort (`invalid orig-head: ''`):
    then the state is dropped (`rebase --quit`, else removed) and the worktree is left as it is: every caller
    resets it (`switch --force`, `reset --hard`) or throws it away."""
    for name in ("rebase-merge", "rebase-apply"):
        git_path = run_git(["rev-parse", "--git-path", name], worktree, settings).stdout.strip()
        state = worktree / git_path
        if not state.exists():
            continue
        try:
            run_git(["rebase", "--abort"], worktree, settings)
        except GitError as exc:
            log.warning("rebase --abort failed in %s (%s): dropping the rebase state", worktree, exc)
            try:
                run_git(["rebase", "--quit"], worktree, settings)
            except GitError:
                shutil.rmtree(state, ignore_errors=True)
        return True
    return False
