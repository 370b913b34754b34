"""Google Gemini CLI (`gemini -p`): prompt on stdin, JSON events on stdout ending with a result event.

Run: `gemini -p "" --output-format stream-json --yolo [-m MODEL]` — `-p` makes the run headless and its
text is appended to stdin, so the whole prompt arrives on stdin and never on the command line. Streaming
(one JSON line per event) keeps a long, healthy run from looking stalled; the last line is
`{"type": "result", "status": "success"|"error", "error": {...}, "stats": {input_tokens, output_tokens}}`.
Print mode: `--output-format json --approval-mode plan` (read-only), one object with `response` and
`stats`, or `{"error": {"type", "message", "code"}}` on stderr with a non-zero exit.
Files: $HOME/.gemini/settings.json selects API-key auth, turns off update checks and usage statistics,
sets `general.maxAttempts = 1` (no client-side retries: Gemini otherwise retries a 429 or 5xx for
minutes) and `model.maxSessionTurns` = the agent's max_turns.
Environment: the key as GEMINI_API_KEY, GOOGLE_GEMINI_BASE_URL when `base_url` is set,
GEMINI_CLI_TRUST_WORKSPACE=true (headless runs refuse an untrusted folder) and GEMINI_CLI_NO_RELAUNCH=true
(saves a second Node start; an agent's `env` may override either). The HTTP status of a failed call is
read from the error dump on stderr. Gemini reports no cost, so cost = tokens × the configured prices.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from orchestrator.agents.adapter import (
    Invocation,
    Outcome,
    ProgressFilter,
    as_dict,
    as_int,
    json_objects,
    last_json_object,
    mentions_rate_limit,
    one_line,
    retry_after_seconds,
)
from orchestrator.agents.environment import Workspace
from orchestrator.agents.spec import AgentSpec
from orchestrator.edges.process import ProcessResult

STREAM_EVENTS = frozenset({"init", "message", "tool_use", "tool_result", "error", "result"})
_STATUS_LINE = re.compile(r"^\s*status: (\d{3})\b", re.MULTILINE)
_API_ERROR = re.compile(r"^\[API Error: (.*)\]", re.DOTALL)
DEFAULT_ENV = {"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_CLI_NO_RELAUNCH": "true"}


class GeminiAdapter:
    def invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        return self._invocation(spec, workspace, "stream-json", ["--yolo"])

    def print_invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        return self._invocation(spec, workspace, "json", ["--approval-mode", "plan"])

    def _invocation(
        self, spec: AgentSpec, workspace: Workspace, output_format: str, mode: list[str]
    ) -> Invocation:
        settings_dir = workspace.home / ".gemini"
        settings_dir.mkdir(exist_ok=True)
        (settings_dir / "settings.json").write_text(json.dumps(settings(spec), indent=2), encoding="utf-8")
        env = {**DEFAULT_ENV, **workspace.env}
        if workspace.api_key is not None:
            env["GEMINI_API_KEY"] = workspace.api_key
        if spec.base_url:
            env["GOOGLE_GEMINI_BASE_URL"] = spec.base_url
        argv = [*spec.command, "-p", "", "--output-format", output_format, *mode]
        if spec.model:
            argv += ["-m", spec.model]
        return Invocation(argv=tuple(argv), env=env, stdin_file=workspace.prompt_file)

    def parse(self, spec: AgentSpec, result: ProcessResult) -> Outcome:
        return parse_output(spec, result.stdout, result.stderr)

    def progress_filter(self, spec: AgentSpec) -> ProgressFilter | None:
        return is_progress


PROGRESS_EVENTS = STREAM_EVENTS - {"error"}


def is_progress(line: str) -> bool:
    """A stream-json event of the session (init, model message, tool use or result, final result); `error`
    events (retries, warnings) are not progress. Print mode's single `json` object counts too."""
    for event in json_objects(line):
        kind = event.get("type")
        return kind in PROGRESS_EVENTS or (kind is None and "response" in event)
    return False


def settings(spec: AgentSpec) -> dict[str, Any]:
    return {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "general": {"maxAttempts": 1, "enableAutoUpdate": False, "enableAutoUpdateNotification": False},
        "model": {"maxSessionTurns": spec.max_turns},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
    }


def parse_output(spec: AgentSpec, stdout: str, stderr: str) -> Outcome:
    """Read Gemini's output: `stream-json` events (agent runs) or the one `json` object (print mode)."""
    events = [event for event in json_objects(stdout) if event.get("type") in STREAM_EVENTS]
    status = _logged_status(stderr)
    outcome = _from_stream(spec, events, status) if events else _from_json(spec, stdout, stderr, status)
    if outcome.rate_limited:  # "Suggested retry after 34s" / `retryDelayMs: 34000` in the error dump
        outcome = replace(outcome, retry_after_s=retry_after_seconds(f"{outcome.error}\n{stderr[-8000:]}"))
    return outcome


def _from_stream(spec: AgentSpec, events: list[dict[str, Any]], status: int | None) -> Outcome:
    result: dict[str, Any] = next((e for e in reversed(events) if e.get("type") == "result"), {})
    input_tokens, output_tokens = _highest_usage(spec, [e for e in events if e.get("type") == "result"])
    tool_uses = sum(1 for event in events if event.get("type") == "tool_use")
    session = next(
        (str(e["session_id"]) for e in events if e.get("type") == "init" and e.get("session_id")), ""
    )
    outcome = Outcome(
        cost_usd=spec.cost_from_tokens(input_tokens, output_tokens),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        turns=tool_uses + 1 if result else (tool_uses or None),
        answer=_final_answer(events),
        extra={"session_id": session} if session else {},
    )
    if not result:
        return replace(outcome, is_error=True, error="gemini stopped before its result event")
    if result.get("status") != "success":
        error, rate_limited = _failure(spec, as_dict(result.get("error")), status)
        return replace(outcome, is_error=True, error=error, rate_limited=rate_limited)
    return outcome


def _highest_usage(spec: AgentSpec, results: list[dict[str, Any]]) -> tuple[int | None, int | None]:
    """The token counts of the costliest result event. A process the agent runs can write events of its own
    into the CLI's stdout (`/proc/<cli>/fd/1`), also after the real result: they may raise what we record,
    never lower it."""
    usages = [
        (as_int(stats.get("input_tokens")), as_int(stats.get("output_tokens")))
        for stats in (as_dict(result.get("stats")) for result in results)
    ]
    return max(
        usages,
        key=lambda usage: (spec.cost_from_tokens(*usage) or 0.0, (usage[0] or 0) + (usage[1] or 0)),
        default=(None, None),
    )


def _final_answer(events: list[dict[str, Any]]) -> str:
    """The assistant text after the last tool call (streamed in chunks)."""
    parts: list[str] = []
    for event in events:
        if event.get("type") == "tool_use":
            parts = []
        elif event.get("type") == "message" and event.get("role") == "assistant":
            parts.append(str(event.get("content", "")))
    return "".join(parts)


def _from_json(spec: AgentSpec, stdout: str, stderr: str, status: int | None) -> Outcome:
    data = last_json_object(stdout) or {}
    failure = as_dict(data.get("error")) or as_dict(as_dict(last_json_object(stderr)).get("error"))
    input_tokens, output_tokens, requests = _usage(as_dict(data.get("stats")))
    outcome = Outcome(
        cost_usd=spec.cost_from_tokens(input_tokens, output_tokens),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        turns=requests,
        answer=data["response"] if isinstance(data.get("response"), str) else "",
        extra={"session_id": str(data["session_id"])} if data.get("session_id") else {},
    )
    if failure:
        error, rate_limited = _failure(spec, failure, status)
        return replace(outcome, is_error=True, error=error, rate_limited=rate_limited)
    if not data:
        lines = [line for line in stderr.splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else "no output"
        return replace(outcome, is_error=True, error=one_line(f"gemini printed no JSON result: {detail}"))
    return outcome


def _logged_status(stderr: str) -> int | None:
    """The HTTP status of the last failed API call, from the error dump Gemini writes to stderr."""
    statuses = _STATUS_LINE.findall(stderr)
    return int(statuses[-1]) if statuses else None


def _failure(spec: AgentSpec, failure: dict[str, Any], status: int | None) -> tuple[str, bool]:
    """One line for the error object, and whether it is a rate limit / quota error."""
    kind = str(failure.get("type", ""))
    message = _inner_message(str(failure.get("message") or kind or "unknown error"))
    code = failure.get("code") if isinstance(failure.get("code"), int) else status
    if kind == "FatalTurnLimitedError":
        return f"turn cap: reached max_turns={spec.max_turns}", False
    rate_limited = code == 429 or mentions_rate_limit(f"{kind} {message}")
    label = f"API error {code}" if isinstance(code, int) and code >= 400 else f"gemini error ({kind or code})"
    return one_line(f"{label}: {message}"), rate_limited


def _inner_message(message: str) -> str:
    """Gemini wraps API errors as `[API Error: …]` and passes some through as raw JSON; keep the message."""
    wrapped = _API_ERROR.match(message)
    if wrapped:
        message = wrapped.group(1)
    if not message.startswith("{"):
        return message
    try:
        body = json.loads(message)
    except json.JSONDecodeError:
        return message
    inner = as_dict(as_dict(body).get("error")).get("message")
    return inner if isinstance(inner, str) and inner else message


def _usage(stats: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    """Tokens in/out and model requests, summed over models; requests of the `main` role when given."""
    models = [as_dict(m) for m in as_dict(stats.get("models")).values()]
    if not models:
        return None, None, None
    input_tokens = output_tokens = requests = 0
    for model in models:
        tokens = as_dict(model.get("tokens"))
        input_tokens += as_int(tokens.get("prompt")) or as_int(tokens.get("input")) or 0
        output_tokens += (as_int(tokens.get("candidates")) or 0) + (as_int(tokens.get("thoughts")) or 0)
        main = as_dict(as_dict(model.get("roles")).get("main"))
        counted = main if main else as_dict(model.get("api"))
        requests += as_int(counted.get("totalRequests")) or 0
    return input_tokens, output_tokens, requests
