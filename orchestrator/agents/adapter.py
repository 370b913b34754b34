"""The shape every agent adapter has: build one invocation, read back one outcome."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orchestrator.agents.environment import Workspace
from orchestrator.agents.spec import AgentSpec
from orchestrator.edges.process import ProcessResult


@dataclass(frozen=True)
class Invocation:
    """A ready-to-run command: argv, its full environment, and the file its stdin reads (the prompt)."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    stdin_file: Path | None = None


@dataclass(frozen=True)
class Outcome:
    """What an adapter read from the CLI's output (the runner adds exit code, timing and timeouts)."""

    is_error: bool = False
    error: str = ""
    rate_limited: bool = False
    retry_after_s: float | None = None  # how long the provider asked us to wait (rate limits), if it said
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    turns: int | None = None
    answer: str = ""  # the final text answer (used by print mode)
    extra: Mapping[str, str] = field(default_factory=dict)


ProgressFilter = Callable[[str], bool]


class Adapter(Protocol):
    """One agent CLI. `invocation` may write config files under `workspace.home`.

    `progress_filter` names the stdout lines that are model or tool progress (the CLI's structured events),
    which alone reset the stall timer; None means any output counts."""

    def invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation: ...

    def print_invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation: ...

    def parse(self, spec: AgentSpec, result: ProcessResult) -> Outcome: ...

    def progress_filter(self, spec: AgentSpec) -> ProgressFilter | None: ...


_RATE_LIMIT = re.compile(
    r"\b429\b|\b529\b|rate[ _-]?limit|overloaded|quota|resource[ _]exhausted|too many requests|usage limit",
    re.IGNORECASE,
)


def mentions_rate_limit(text: str) -> bool:
    """True when an error text says the provider throttled us (429, overloaded, quota, ...)."""
    return bool(_RATE_LIMIT.search(text))


_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_NUMBER_UNIT = re.compile(
    r"(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)?(?![a-z])",
    re.IGNORECASE,
)
_RETRY_AFTER = re.compile(
    r"(?:retry[ _-]?after|retry[ _-]?delay|retry in|try again in|retrydelayms)[\"'\s:=]*"
    r"(?P<amount>\d+(?:\.\d+)?\s*[a-z]*(?:\s*\d+(?:\.\d+)?\s*[a-z]+)*)",
    re.IGNORECASE,
)
_RESET_EPOCH = re.compile(r"limit reached\|(\d{10})\b", re.IGNORECASE)


def retry_after_seconds(text: str, now: float | None = None) -> float | None:
    """How long an error text asks us to wait before trying again, in seconds, when it says.

    Understands what the CLIs print: "Please retry in 34.5s", "Suggested retry after 34s",
    `retryDelayMs: 34000`, `"retryDelay": "34s"`, "try again in 1m30s" / "in 20 minutes", "Retry-After: 42",
    and Claude's "usage limit reached|<epoch>". The longest figure found wins (the safe choice).
    """
    found: list[float] = []
    for match in _RETRY_AFTER.finditer(text):
        keyword = match.group(0).lower()
        seconds = _duration(match.group("amount"), default_unit="ms" if "ms" in keyword[:14] else "s")
        if seconds is not None:
            found.append(seconds)
    for match in _RESET_EPOCH.finditer(text):
        current = time.time() if now is None else now
        found.append(max(0.0, int(match.group(1)) - current))
    return max(found) if found else None


def _duration(text: str, default_unit: str) -> float | None:
    total, matched = 0.0, False
    for number, unit in _NUMBER_UNIT.findall(text):
        key = (unit or default_unit).lower()
        key = "ms" if key.startswith("milli") or key == "ms" else key[0]
        total += float(number) * _UNIT_SECONDS[key]
        matched = True
    return total if matched else None


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so an error fits one log line / one issue-comment line."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def json_objects(text: str) -> Iterator[dict[str, Any]]:
    """Every line of `text` that is a JSON object (JSONL output; other lines are skipped)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("{"):
            continue
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value


_OBJECT_START = re.compile(r"^(?:\[[A-Z]+\] )?\{", re.MULTILINE)


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last top-level JSON object in `text`: a JSONL line or a pretty-printed block starting a line.

    CLIs print warnings, stack traces and log lines around their JSON; objects are found where a line
    starts with `{` (or a log tag such as `[ERROR] {`), and the last one that parses wins.
    """
    decoder = json.JSONDecoder()
    for match in reversed(list(_OBJECT_START.finditer(text))):
        try:
            value, _ = decoder.raw_decode(text, match.end() - 1)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def last_json_line(text: str) -> dict[str, Any] | None:
    """The last line of `text` that is a JSON object, if any."""
    objects = list(json_objects(text))
    return objects[-1] if objects else None


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def last_stderr_line(result: ProcessResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
