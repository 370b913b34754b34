"""`bin/agentos doctor`: is this host ready to run Agent OS? A pass/fail table with the fix for each failure."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator import process
from orchestrator.config import ConfigError, load_config
from orchestrator.github.errors import BadCredentials, GitHubError, NotFound

if TYPE_CHECKING:
    from orchestrator.config import Config
    from orchestrator.github.protocol import Forge

MIN_FREE_BYTES = 1 << 30


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks(
    config_path: str | None,
    environ: Mapping[str, str] = os.environ,
    forge_factory: Callable[[Config], Forge] | None = None,
) -> list[Check]:
    try:
        config = load_config(config_path, environ)
    except ConfigError as exc:
        return [
            Check("config", False, problem, "fix the key named above (docs/configuration.md lists every key)")
            for problem in exc.problems
        ]
    checks = [Check("config", True, f"{config.source} is valid ({len(config.repos)} repos)")]
    checks += list(_runtime_checks(config))
    checks += list(_agent_checks(config, environ))
    checks += _isolation_checks(config)
    checks += list(_github_checks(config, environ, forge_factory))
    checks.append(_cron_check())
    if config.telegram.enabled:
        present = bool(environ.get(config.telegram.token_env))
        checks.append(
            Check(
                "telegram token",
                present,
                f"${config.telegram.token_env} {'is set' if present else 'is not set'}",
                "" if present else f"export {config.telegram.token_env}=<token from @BotFather>",
            )
        )
    return checks


def _runtime_checks(config: Config) -> Iterator[Check]:
    root = config.runtime_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
        yield Check("runtime dir", True, f"{root} is writable")
    except OSError as exc:
        yield Check(
            "runtime dir", False, f"{root}: {exc}", f"create it and make it writable: mkdir -p {root}"
        )
        return
    free = shutil.disk_usage(root).free
    yield Check(
        "disk space",
        free >= MIN_FREE_BYTES,
        f"{free / (1 << 30):.1f} GiB free under {root}",
        "" if free >= MIN_FREE_BYTES else "free at least 1 GiB (worktrees and agent runs live there)",
    )
    git = shutil.which("git")
    yield Check(
        "git",
        git is not None,
        f"{git}; commits as {config.git.author_name} <{config.git.author_email}>" if git else "git not found",
        "" if git else "apt-get install git",
    )


def _agent_checks(config: Config, environ: Mapping[str, str]) -> Iterator[Check]:
    for name, agent in config.agents.items():
        binary = shutil.which(agent.command[0])
        if binary is None:
            yield Check(
                f"agent {name}",
                False,
                f"{agent.command[0]!r} is not on PATH",
                _install_hint(agent.kind),
            )
            continue
        version = _version(binary) if agent.kind != "script" else "script"
        key_ok = agent.api_key_env is None or bool(environ.get(agent.api_key_env))
        detail = f"{binary} ({version})" + ("" if key_ok else f"; ${agent.api_key_env} is not set")
        fix = "" if key_ok else f"export {agent.api_key_env}=<your key>"
        yield Check(f"agent {name}", key_ok, detail, fix)


def _isolation_checks(config: Config) -> list[Check]:
    """The isolation in force (containment/report.py): bwrap working, user namespaces, uid inside, network."""
    from orchestrator.config.settings import isolation_of
    from orchestrator.containment.report import doctor_checks

    return [Check(c.name, c.ok, c.detail, c.fix) for c in doctor_checks(isolation_of(config))]


def _version(binary: str) -> str:
    try:
        res = process.run([binary, "--version"], timeout=20)
    except process.ProcessError as exc:
        return str(exc)
    out = (res.stdout or res.stderr).strip().splitlines()
    return out[0] if out else f"exit {res.returncode}"


def _install_hint(kind: str) -> str:
    return {
        "claude": "npm install -g @anthropic-ai/claude-code",
        "codex": "npm install -g @openai/codex",
        "gemini": "npm install -g @google/gemini-cli",
    }.get(kind, "install the command or fix agents.<name>.command")


def _github_checks(
    config: Config, environ: Mapping[str, str], forge_factory: Callable[[Config], Forge] | None
) -> Iterator[Check]:
    try:
        forge = forge_factory(config) if forge_factory else _default_forge(config, environ)
    except GitHubError as exc:
        yield Check(
            "github auth",
            False,
            str(exc),
            f"export {config.github.token_env}=<token> or configure github.app",
        )
        return
    for repo in config.repos:
        try:
            sha = forge.get_branch_sha(repo.full_name, repo.base_branch)
        except BadCredentials as exc:
            yield Check("github auth", False, str(exc), f"check the token in ${config.github.token_env}")
            return
        except GitHubError as exc:
            yield Check(
                f"repo {repo.key}", False, str(exc), "check repos[].owner/name and the token's access"
            )
            continue
        if sha is None:
            yield Check(
                f"repo {repo.key}", False, f"branch {repo.base_branch!r} not found", "fix repos[].base_branch"
            )
            continue
        yield Check(f"repo {repo.key}", True, f"{repo.full_name}@{repo.base_branch} = {sha[:10]}")
        if repo.board.mode == "project" and repo.board.project_number is not None:
            yield _board_check(
                forge, repo.key, repo.board_owner, repo.board.project_number, repo.board.status_field
            )


def _board_check(forge: Forge, key: str, owner: str, number: int, field: str) -> Check:
    try:
        board = forge.get_board(owner, number, field)
    except NotFound as exc:
        return Check(f"board {key}", False, str(exc), "fix board.owner / board.project_number / status_field")
    except GitHubError as exc:
        return Check(f"board {key}", False, str(exc), "the token needs Projects read/write")
    names = ", ".join(name for name, _ in board.options)
    return Check(f"board {key}", True, f"{owner} project #{number}: {field} = {names}")


def _default_forge(config: Config, environ: Mapping[str, str]) -> Forge:
    from orchestrator.jobs.entry import build_context

    return build_context(config, dict(environ)).forge


def _cron_check() -> Check:
    from orchestrator import cron

    try:
        installed = cron.current_block(cron.read_crontab()) is not None
    except cron.CronError as exc:
        return Check("cron", False, str(exc), "install cron, or use bin/agentos cron install --systemd")
    return Check(
        "cron",
        installed,
        "Agent OS block installed" if installed else "no Agent OS block in the crontab",
        "" if installed else "bin/agentos cron install",
    )


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{'PASS' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"{'':4}  {'':<{width}}  fix: {c.fix}")
    failed = sum(not c.ok for c in checks)
    lines.append(
        f"\n{len(checks) - failed} of {len(checks)} checks pass"
        + (" — fix the FAIL lines above" if failed else "")
    )
    return "\n".join(lines)
