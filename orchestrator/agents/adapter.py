"""The shape every agent adapter has: build one invocation, read back one outcome."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orchestrator.agents.environment import Workspace
from orchestrator.agents.spec import AgentSpec
from orchestrator.process import ProcessResult


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
