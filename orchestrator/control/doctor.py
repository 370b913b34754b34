"""`bin/agentos doctor`: is this host ready to run Agent OS? A pass/fail table with the fix for each failure.

It checks what the jobs will meet, not just what this shell has: the secrets file cron jobs read, each
installed cron line run once the way cron runs it (orchestrator.control.cron_check), Telegram's getMe with the token,
GitHub with one try and a short timeout (an unreachable API is one FAIL line within seconds, not minutes of
retries), and values still equal to example.config.yaml's placeholders.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import yaml

from orchestrator.config import ConfigError, load_config
from orchestrator.control.cron_preflight import CHECK_TIMEOUT_S
from orchestrator.edges import process
from orchestrator.github.errors import BadCredentials, GitHubError, GitHubUnavailable, NotFound
from orchestrator.values.check import Check

if TYPE_CHECKING:
    from orchestrator.config import Config
    from orchestrator.github.protocol import Forge

MIN_FREE_BYTES = 1 << 30
GITHUB_TIMEOUT_S = (
    CHECK_TIMEOUT_S  # doctor asks once, briefly (cron_preflight.one_try): reported, not retried
)
TELEGRAM_TIMEOUT_S = 5.0
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "example.config.yaml"
RESERVED_HOSTS = ("example.com", "example.org", "example.net")


def run_checks(
    config_path: str | None,
    environ: Mapping[str, str] = os.environ,
    forge_factory: Callable[[Config], Forge] | None = None,
    run_cron_lines: bool = True,
) -> list[Check]:
    try:
        config = load_config(config_path, environ)
    except ConfigError as exc:
        return [
            Check("config", False, problem, "fix the key named above (docs/configuration.md lists every key)")
            for problem in exc.problems
        ]
    checks = [Check("config", True, f"{config.source} is valid ({len(config.repos)} repos)")]
    checks += placeholder_checks(config)
    env, secrets = _with_secrets_file(config, environ)
    checks.append(secrets)
    checks += list(_runtime_checks(config))
    checks += list(_agent_checks(config, env))
    checks += _isolation_checks(config)
    checks += list(_github_checks(config, env, forge_factory))
    checks += _cron_checks(config, env, run_cron_lines)
    if config.telegram.enabled:
        checks += telegram_checks(config, env)
    return checks


def _with_secrets_file(config: Config, environ: Mapping[str, str]) -> tuple[dict[str, str], Check]:
    """This shell's environment plus runtime/secrets.env — what the jobs see (bin/cron-run reads the file)."""
    from orchestrator.state.env_file import EnvFileError, apply_env_file, env_file_path

    env = dict(environ)
    path = env_file_path(config.runtime_dir)
    try:
        filled = apply_env_file(config.runtime_dir, env)
    except EnvFileError as exc:
        return env, Check("secrets file", False, str(exc), f"chmod 600 {path}, one NAME=value per line")
    if not path.exists():
        return env, Check("secrets file", True, f"{path} does not exist (jobs see only their environment)")
    used = f"; used here for {', '.join(filled)}" if filled else ""
    return env, Check("secrets file", True, f"{path} (mode 0600){used}")


def _cron_checks(config: Config, env: Mapping[str, str], run_lines: bool) -> list[Check]:
    from orchestrator.control.cron_check import cron_checks

    return list(cron_checks(config, env, run_lines))


def placeholder_checks(config: Config) -> list[Check]:
    """Values still equal to example.config.yaml's placeholders (or on a reserved example domain)."""
    found = []
    example = _example_placeholders()
    for index, repo in enumerate(config.repos):
        if repo.owner in example["owners"] or repo.name in example["names"]:
            found.append(f"repos[{index}] is {repo.full_name}")
    for index, probe in enumerate(config.loops.product_urls):
        host = urlparse(probe.url).hostname or ""
        if probe.url in example["urls"] or host.endswith(RESERVED_HOSTS):
            found.append(f"loops.product_urls[{index}] is {probe.url}")
    if not found:
        return [Check("placeholders", True, "no value left from example.config.yaml")]
    return [
        Check(
            "placeholders",
            False,
            "; ".join(found) + " — example values, not yours",
            "put your repo's owner/name (and your product's URLs, or product_urls: []) in the config",
        )
    ]


def _example_placeholders() -> dict[str, set[str]]:
    try:
        data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {"owners": set(), "names": set(), "urls": set()}
    repos = [r for r in data.get("repos") or [] if isinstance(r, dict)]
    probes = [p for p in (data.get("loops") or {}).get("product_urls") or [] if isinstance(p, dict)]
    return {
        "owners": {str(r["owner"]) for r in repos if r.get("owner")},
        "names": {str(r["name"]) for r in repos if r.get("name")},
        "urls": {str(p["url"]) for p in probes if p.get("url")},
    }


def telegram_checks(config: Config, environ: Mapping[str, str]) -> list[Check]:
    """The token answers getMe (one short try), and which host reads the updates."""
    from orchestrator.state.runtime import host_name
    from orchestrator.telegram.bot_api import (
        TelegramApiError,
        TelegramBot,
        TelegramConfigError,
        token_from_env,
    )

    tg = config.telegram
    try:
        token = token_from_env(tg.token_env, environ)
        with TelegramBot(token, tg.api_url, request_timeout_s=TELEGRAM_TIMEOUT_S) as bot:
            username = bot.username
    except TelegramConfigError as exc:
        return [
            Check("telegram", False, str(exc), f"bin/agentos env set {tg.token_env} (token from @BotFather)")
        ]
    except TelegramApiError as exc:
        return [
            Check(
                "telegram",
                False,
                f"getMe at {tg.api_url} failed: {exc}",
                "check the token and telegram.api_url",
            )
        ]
    host = host_name()
    if not tg.poller_host or tg.poller_host == host:
        poller = f"this host ({host}) reads updates"
    else:
        poller = f"{tg.poller_host} reads updates; this host ({host}) only sends"
    return [Check("telegram", True, f"getMe: @{username}; {poller}")]


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
    yield _task_records_check(root)
    git = shutil.which("git")
    yield Check(
        "git",
        git is not None,
        f"{git}; commits as {config.git.author_name} <{config.git.author_email}>" if git else "git not found",
        "" if git else "apt-get install git",
    )


def _task_records_check(root: Path) -> Check:
    """Task records that do not decode (each named): their task runs on, without what the record held."""
    from orchestrator.state.task_records import TaskRecords

    problems = TaskRecords(root / "state" / "tasks").problems()
    if not problems:
        return Check("task records", True, "every record in runtime/state/tasks/ reads")
    return Check(
        "task records",
        False,
        "; ".join(problems),
        "look at the file named (the task file in runtime/mailbox/ is the truth), then move it out of "
        "runtime/state/tasks/",
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
        fix = "" if key_ok else f"bin/agentos env set {agent.api_key_env} (the jobs read runtime/secrets.env)"
        yield Check(f"agent {name}", key_ok, detail, fix)


def _isolation_checks(config: Config) -> list[Check]:
    """The isolation in force (containment/report.py): bwrap working, user namespaces, uid inside, network."""
    from orchestrator.config.settings import isolation_of
    from orchestrator.containment.report import doctor_checks

    return doctor_checks(isolation_of(config))


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
            f"bin/agentos env set {config.github.token_env} (or configure github.app)",
        )
        return
    except ConfigError as exc:  # the secrets file or the vault cannot be read: reported above / here
        yield Check("github auth", False, "; ".join(exc.problems), "fix the secrets file or vault named")
        return
    for repo in config.repos:
        try:
            sha = forge.get_branch_sha(repo.full_name, repo.base_branch)
        except BadCredentials as exc:
            yield Check("github auth", False, str(exc), f"check the token in ${config.github.token_env}")
            return
        except GitHubUnavailable as exc:  # one try: the other repos would only wait for the same timeout
            fix = "check the network and github.api_url; the jobs retry with backoff, doctor does not"
            yield Check("github", False, f"{exc} (one try, {GITHUB_TIMEOUT_S:.0f} s timeout)", fix)
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
    """The jobs' client, but with one try and a short timeout."""
    from orchestrator.control.cron_preflight import one_try
    from orchestrator.state.job_context import build_context

    return build_context(one_try(config), dict(environ)).forge


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
