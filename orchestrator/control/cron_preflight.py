"""A cron line's dry run: everything a job needs before its first unit of work, without doing any work.

`bin/agentos doctor` runs each installed cron line once in a cron-like environment with `AGENT_OS_PREFLIGHT=1`
set. `bin/cron-run` then goes through the same steps as a real tick — the shell and Python cron finds, the
config, the secrets file, the kill switches, the job lock, the GitHub client — and, instead of running the
job, checks the credentials that job uses and prints what it found. Names of variables only, never values.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from orchestrator.github.errors import GitHubError

if TYPE_CHECKING:
    from orchestrator.config import Config
    from orchestrator.state.runtime import JobContext

PREFLIGHT_ENV = "AGENT_OS_PREFLIGHT"
CHECK_TIMEOUT_S = 5.0


def one_try(config: Config) -> Config:
    """The config with GitHub asked once, briefly: a check reports an unreachable API, it does not retry it."""
    timeout = min(config.github.request_timeout_seconds, CHECK_TIMEOUT_S)
    return replace(config, github=replace(config.github, max_retries=0, request_timeout_seconds=timeout))


@dataclass(frozen=True)
class Preflight:
    ok: bool
    message: str


def preflight(job: str, ctx: JobContext) -> Preflight:
    """The credentials `job` uses, checked in the job's own environment; GitHub is asked who we are."""
    problems = [f"{name} is not set" for name in _needed_variables(job, ctx) if not ctx.environ.get(name)]
    try:
        login = ctx.forge.viewer_login()
        github = f"GitHub as {login}" if login else "GitHub as an App installation"
    except GitHubError as exc:
        problems.append(f"GitHub: {exc}")
        github = "GitHub not reachable"
    where = f"config {ctx.config.source}" if ctx.config.source else "config"
    found = f"{where}, {github}, python {sys.executable}"
    if problems:
        return Preflight(False, f"{job} would fail: {'; '.join(problems)} ({found})")
    return Preflight(True, f"{job} ready: {found}")


def _needed_variables(job: str, ctx: JobContext) -> list[str]:
    """Secrets the job reads besides the GitHub token (`vault:` refs are resolved into the environment by
    then; an unresolvable one already failed the context)."""
    config = ctx.config
    names: list[str] = []
    if job == "telegram_control" and config.telegram.enabled:
        names.append(config.telegram.token_env)
    if job == "queue":
        names += [a.api_key_env for a in config.agents.values() if a.api_key_env]
    return names
