"""What `agentos init` was told: one frozen `InitAnswers`, and the parsers that turn a raw answer into a value.

Every parser raises `ValueError` with a message fit to follow the flag's name; the question table
(questions.py) turns it into an `AnswerError` that names the flag, so a bad answer from a flag, from stdin or
from a default always reads `--repo: expected owner/name …`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.config.rules import AGENT_KINDS
from orchestrator.config.schema import LOGIN, REPO_NAME, SHORT_NAME
from orchestrator.config.secret_scan import token_shape

# Agent kinds `--agent` can add with nothing but their defaults (deepseek and script need a command).
DEFAULT_AGENT_KINDS = ("claude", "codex", "gemini")
REPO_MODES = ("auto", "create", "adopt")
BOARD_MODES = ("project", "labels")
GITHUB_COM_API = "https://api.github.com"
TELEGRAM_API = "https://api.telegram.org"


class AnswerError(ValueError):
    """An answer `init` cannot use. `flag` is the command-line flag that gives that answer."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"{flag}: {message}")
        self.flag = flag


@dataclass(frozen=True)
class TelegramAnswers:
    token_env: str
    api_url: str
    chat_id: int | None  # None (with user_id None): pair now through /start
    user_id: int | None
    pair_timeout_s: float


@dataclass(frozen=True)
class InitAnswers:
    what: str  # "What are you building?" — one paragraph
    repo_owner: str
    repo_name: str
    repo_key: str
    repo_mode: str  # auto (adopt when it exists, else create) | create | adopt
    private: bool
    base_branch: str | None  # None: the repository's default branch (main for a new one)
    test_command: str
    api_url: str
    graphql_url: str | None  # None: derived from api_url
    token_env: str
    seconds_between_writes: float
    board_mode: str
    board_owner: str | None  # None: the repo owner
    board_number: int | None  # None: create a board (project mode)
    agents: tuple[str, ...]  # agent names to have in the config (new ones get their kind's defaults)
    llm_agent: str | None  # write the charter through this agent in print mode; None: templates
    charter: bool  # write charter docs and file seed issues
    seed_ready: bool  # seed issues go straight to Ready (default: Todo, for a human to review)
    telegram: TelegramAnswers | None
    max_parallel_workers: int
    max_attempts: int
    max_generations: int
    per_task_usd: float
    sprint_days: int
    cron: bool

    @property
    def full_name(self) -> str:
        return f"{self.repo_owner}/{self.repo_name}"


# --- parsers: raw text → value, ValueError with a message otherwise ------------------------------------------


def text(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError("an answer is required")
    return value


def repo_full_name(raw: str) -> tuple[str, str]:
    owner, sep, name = raw.strip().partition("/")
    assert LOGIN.pattern is not None and REPO_NAME.pattern is not None
    if not sep or not LOGIN.pattern.fullmatch(owner) or not REPO_NAME.pattern.fullmatch(name):
        raise ValueError(
            f"expected owner/name (a GitHub login, a slash, a repository name such as acme/widgets), got {raw!r}"
        )
    return owner, name


def login(raw: str) -> str:
    assert LOGIN.pattern is not None
    return _matching(raw, LOGIN.pattern, "a GitHub login (letters, digits and -)")


def short_name(raw: str) -> str:
    assert SHORT_NAME.pattern is not None
    return _matching(raw, SHORT_NAME.pattern, "a short name (letters, digits, . _ -)")


def _matching(raw: str, pattern: re.Pattern[str], what: str) -> str:
    value = raw.strip()
    if not pattern.fullmatch(value):
        raise ValueError(f"expected {what}, got {raw!r}")
    return value


def env_name(raw: str) -> str:
    value = raw.strip()
    valid = bool(value) and (value[0].isalpha() or value[0] == "_") and value.replace("_", "a").isalnum()
    if not valid or token_shape(value) is not None:
        raise ValueError(
            f"expected the NAME of an environment variable (e.g. GITHUB_TOKEN), got {_shown(raw)}; "
            "secrets are never written into the config"
        )
    return value


def http_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or " " in value or len(value.split("/")[2]) == 0:
        raise ValueError(f"expected an http(s) URL, got {raw!r}")
    return value


def choice(options: Sequence[str]) -> _Choice:
    return _Choice(tuple(options))


@dataclass(frozen=True)
class _Choice:
    options: tuple[str, ...]

    def __call__(self, raw: str) -> str:
        value = raw.strip().lower()
        if value not in self.options:
            raise ValueError(f"expected one of {', '.join(self.options)}, got {raw!r}")
        return value


def yes_no(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("y", "yes", "true", "1", "on"):
        return True
    if value in ("n", "no", "false", "0", "off"):
        return False
    raise ValueError(f"expected yes or no, got {raw!r}")


def positive_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"expected a whole number ≥ 1, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"expected a whole number ≥ 1, got {value}")
    return value


def chat_id(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(
            f"expected a Telegram chat id (an integer; groups are negative), got {raw!r}"
        ) from None


def positive_number(raw: str) -> float:
    return _number(raw, "> 0", lambda value: value > 0)


def non_negative_number(raw: str) -> float:
    return _number(raw, "≥ 0", lambda value: value >= 0)


def _number(raw: str, bound: str, within: Callable[[float], bool]) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"expected a number {bound}, got {raw!r}") from None
    if not within(value):
        raise ValueError(f"expected a number {bound}, got {value:g}")
    return value


def agent_names(configured: Mapping[str, object]) -> _AgentNames:
    return _AgentNames(tuple(configured))


@dataclass(frozen=True)
class _AgentNames:
    """A comma-separated list of agents: each one already configured, or a kind `init` can configure."""

    configured: tuple[str, ...]

    def __call__(self, raw: str) -> tuple[str, ...]:
        names: list[str] = []
        for part in raw.replace(" ", ",").split(","):
            name = part.strip()
            if not name or name in names:
                continue
            if name not in self.configured and name not in DEFAULT_AGENT_KINDS:
                raise ValueError(unknown_agent_message(name, self.configured))
            names.append(name)
        if not names:
            raise ValueError(
                f"name at least one agent ({', '.join(DEFAULT_AGENT_KINDS)} or a configured one)"
            )
        return tuple(names)


def unknown_agent_message(name: str, configured: Sequence[str]) -> str:
    known = ", ".join(configured) if configured else "none"
    kinds = ", ".join(DEFAULT_AGENT_KINDS)
    if name in AGENT_KINDS:
        return (
            f"agent {name!r} needs a command: configure it under `agents:` in the config first "
            f"(agents init can add by itself: {kinds}; configured: {known})"
        )
    return (
        f"unknown agent {name!r} (agents init can add: {kinds}; configured in the existing config: {known})"
    )


def _shown(raw: str) -> str:
    value = raw.strip()
    return f"{value[:4]}… ({len(value)} characters)" if len(value) > 12 else repr(value)
