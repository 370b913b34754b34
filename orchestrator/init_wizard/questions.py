"""The questions `agentos init` asks, as one table: flag, prompt, parser, default, and when it applies.

How a question is answered is collect.py's business. Defaults come from the existing config when there is
one, so a re-run proposes what is already configured.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.init_wizard import answers as parse

Got = Mapping[str, Any]
Parser = Callable[[str, Got], Any]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Question:
    name: str  # the answer's key (and the argparse dest)
    flag: str
    prompt: str | None  # None: given by flag only, never asked
    parse: Parser
    default: Callable[[Got], Any]  # REQUIRED when there is none
    when: Callable[[Got], bool] = lambda got: True
    optional: bool = False  # an empty answer (or "none") means None
    help: str = ""  # for --help; default: the prompt
    required_why: str = ""  # the error when there is no answer and no default (default: "required")


def _p(fn: Callable[[str], Any]) -> Parser:
    return lambda raw, got: fn(raw)


def _const(value: Any) -> Callable[[Got], Any]:
    return lambda got: value


def _section(existing: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = existing.get(name)
    return value if isinstance(value, Mapping) else {}


def _existing(existing: Mapping[str, Any], section: str, key: str, fallback: Any) -> Any:
    value = _section(existing, section).get(key)
    return fallback if value is None else value


def build_questions(existing: Mapping[str, Any], installed: tuple[str, ...] = ()) -> tuple[Question, ...]:
    """The table, with defaults and checks drawn from the existing config (empty mapping: none) and the agent
    CLIs `installed` on this host (the agents' default when the config has none)."""
    repos = [r for r in existing.get("repos") or [] if isinstance(r, Mapping)]
    agents = _section(existing, "agents")
    telegram = _section(existing, "telegram")
    return (
        Question(
            "what", "--what", "What are you building? (one paragraph)", _p(parse.text), _const(REQUIRED)
        ),
        Question(
            "repo",
            "--repo",
            "Repository (owner/name; created when it does not exist)",
            _p(parse.repo_full_name),
            _const(REQUIRED),
        ),
        Question(
            "repo_mode",
            "--repo-mode",
            "Repository: auto (adopt if it exists, else create), create or adopt",
            _p(parse.choice(parse.REPO_MODES)),
            _const("auto"),
        ),
        Question(
            "private",
            "--private/--public",
            "Make a new repository private? (yes/no)",
            _p(parse.yes_no),
            _const(True),
            when=lambda got: got["repo_mode"] != "adopt",
        ),
        Question("repo_key", "--repo-key", "Short key for this repo", _repo_key(repos), _default_key(repos)),
        Question(
            "base_branch",
            "--base-branch",
            "Base branch (empty: the repository's default branch; main for a new one)",
            _p(parse.text),
            _const(None),
            optional=True,
        ),
        Question(
            "test_command", "--test-command", "Test command", _p(parse.text), _const("python -m pytest -q")
        ),
        Question(
            "api_url",
            "--api-url",
            "GitHub API URL",
            _api_url(existing),
            _const(_existing(existing, "github", "api_url", parse.GITHUB_COM_API)),
        ),
        Question(
            "graphql_url",
            "--graphql-url",
            None,
            _p(parse.http_url),
            _const(None),
            optional=True,
            help="GraphQL URL (default: derived from --api-url)",
        ),
        Question(
            "token_env",
            "--token-env",
            "Environment variable holding the GitHub token",
            _p(parse.env_name),
            _const(_existing(existing, "github", "token_env", "GITHUB_TOKEN")),
        ),
        Question(
            "seconds_between_writes",
            "--seconds-between-writes",
            None,
            _p(parse.non_negative_number),
            _const(_existing(existing, "github", "seconds_between_writes", 1.0)),
            help="pause between write requests (default 1.0; 0 for the sandbox forge)",
        ),
        Question(
            "board_mode",
            "--board-mode",
            "Board: project (a Projects v2 board) or labels",
            _p(parse.choice(parse.BOARD_MODES)),
            _const("project"),
        ),
        Question(
            "board_number",
            "--board-number",
            "Existing project number to adopt (empty: create a board)",
            _p(parse.positive_int),
            _const(None),
            when=lambda got: got["board_mode"] == "project",
            optional=True,
        ),
        Question(
            "board_owner",
            "--board-owner",
            None,
            _p(parse.login),
            _const(None),
            optional=True,
            help="login owning the board (default: the repo owner)",
        ),
        Question(
            "agents",
            "--agent",
            f"Agent CLIs to configure (comma-separated: {', '.join(parse.DEFAULT_AGENT_KINDS)})",
            _p(parse.agent_names(agents)),
            _const(tuple(agents) or installed or REQUIRED),
            help=(
                "an agent CLI to configure (repeatable); default: the configured ones, else those on PATH "
                f"({', '.join(parse.DEFAULT_AGENT_KINDS)}); with none of either init refuses"
            ),
            required_why=(
                f"required: the config names no agent and none of {', '.join(parse.DEFAULT_AGENT_KINDS)} is on "
                "PATH, so nothing could work on the issues — install one (e.g. npm install -g "
                "@anthropic-ai/claude-code) or name it: --agent claude"
            ),
        ),
        Question(
            "llm_agent",
            "--llm-agent",
            "Agent that drafts the charter docs and seed issues (empty: templates)",
            _llm_agent(agents),
            _const(_existing(existing, "llm", "agent", None)),
            optional=True,
        ),
        Question(
            "charter",
            "--no-charter",
            None,
            _p(parse.yes_no),
            _const(True),
            help="write no charter docs and file no seed issues",
        ),
        Question(
            "seed_ready",
            "--seed-ready",
            None,
            _p(parse.yes_no),
            _const(False),
            help="put the seed issues in Ready at once (default: Todo, for a human to review)",
        ),
        *_telegram_questions(telegram),
        *_limit_questions(existing),
        Question(
            "cron",
            "--cron/--no-cron",
            "Install the cron block now? (yes/no)",
            _p(parse.yes_no),
            _const(False),
        ),
    )


def _telegram_questions(telegram: Mapping[str, Any]) -> tuple[Question, ...]:
    def paired(got: Got) -> bool:
        return got["telegram_token_env"] is not None

    enabled = telegram.get("enabled") is True
    return (
        Question(
            "telegram_token_env",
            "--telegram-token-env",
            "Environment variable holding the Telegram bot token (empty: no Telegram)",
            _p(parse.env_name),
            _const(telegram.get("token_env") if enabled else None),
            optional=True,
        ),
        Question(
            "telegram_api_url",
            "--telegram-api-url",
            None,
            _p(parse.http_url),
            _const(telegram.get("api_url") or parse.TELEGRAM_API),
            when=paired,
            help="Telegram Bot API server (default https://api.telegram.org)",
        ),
        Question(
            "telegram_chat_id",
            "--telegram-chat-id",
            "Telegram chat id (empty: pair now by sending /start to the bot)",
            _p(parse.chat_id),
            _const(None),
            when=paired,
            optional=True,
        ),
        Question(
            "telegram_user_id",
            "--telegram-user-id",
            "Telegram user id (empty: pair now)",
            _p(parse.positive_int),
            _const(None),
            when=paired,
            optional=True,
        ),
        Question(
            "telegram_pair_timeout",
            "--telegram-pair-timeout",
            None,
            _p(parse.positive_number),
            _const(120.0),
            when=paired,
            help="seconds to wait for /start when pairing (default 120)",
        ),
    )


def _limit_questions(existing: Mapping[str, Any]) -> tuple[Question, ...]:
    def limit(key: str, fallback: int) -> Any:
        return _const(_existing(existing, "limits", key, fallback))

    return (
        Question(
            "max_parallel_workers",
            "--max-parallel-workers",
            "Agent runs at once on this host",
            _p(parse.positive_int),
            limit("max_parallel_workers", 2),
        ),
        Question(
            "max_attempts",
            "--max-attempts",
            "Agent attempts per task before escalating",
            _p(parse.positive_int),
            limit("max_attempts", 3),
        ),
        Question(
            "max_generations",
            "--max-generations",
            None,
            _p(parse.positive_int),
            limit("max_generations", 2),
            help="dispatches per issue, re-dispatches after a wedged PR included (default 2)",
        ),
        Question(
            "per_task_usd",
            "--per-task-usd",
            "Budget per task in USD",
            _p(parse.positive_number),
            _const(_existing(existing, "budgets", "per_task_usd", 5.0)),
        ),
        Question(
            "sprint_days",
            "--sprint-days",
            "Planning cadence: days per sprint",
            _p(parse.positive_int),
            _const(_existing(existing, "loops", "sprint_days", 7)),
        ),
    )


def _repo_key(repos: list[Mapping[str, Any]]) -> Parser:
    def check(raw: str, got: Got) -> str:
        key = parse.short_name(raw)
        owner, name = got["repo"]
        for entry in repos:
            same_repo = _same_repo(entry, owner, name)
            if _key_of(entry) == key and not same_repo:
                raise ValueError(
                    f"key {key!r} already names {entry.get('owner')}/{entry.get('name')} in the config: "
                    "choose another key"
                )
            if same_repo and _key_of(entry) != key:
                raise ValueError(f"{owner}/{name} is already configured with key {_key_of(entry)!r}")
        return key

    return check


def _default_key(repos: list[Mapping[str, Any]]) -> Callable[[Got], Any]:
    def default(got: Got) -> str:
        owner, name = got["repo"]
        for entry in repos:
            if _same_repo(entry, owner, name):
                return _key_of(entry)
        return str(name)

    return default


def _same_repo(entry: Mapping[str, Any], owner: str, name: str) -> bool:
    return (str(entry.get("owner", "")).casefold(), str(entry.get("name", "")).casefold()) == (
        owner.casefold(),
        name.casefold(),
    )


def _key_of(entry: Mapping[str, Any]) -> str:
    return str(entry.get("key") or entry.get("name"))


def _api_url(existing: Mapping[str, Any]) -> Parser:
    configured = _section(existing, "github").get("api_url")

    def check(raw: str, got: Got) -> str:
        url = parse.http_url(raw)
        if configured and str(configured).rstrip("/") != url:
            raise ValueError(
                f"the existing config talks to {configured} (github.api_url); one config talks to one forge: "
                "use another --config for another forge"
            )
        return url

    return check


def _llm_agent(configured: Mapping[str, Any]) -> Parser:
    def check(raw: str, got: Got) -> str:
        name = parse.short_name(raw)
        available = list(dict.fromkeys([*configured, *got["agents"]]))
        if name not in available:
            raise ValueError(
                parse.unknown_agent_message(name, available) + "; add it with --agent (or configure it first)"
            )
        return name

    return check
