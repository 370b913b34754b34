"""Claude Code (`claude -p`): prompt on stdin, JSON events on stdout ending with one result object.

Run: `claude -p --output-format stream-json --verbose --dangerously-skip-permissions --max-turns N
[--model M]`. Streaming (one JSON line per message) rather than `--output-format json` (silent until the
end) keeps a long, healthy run from looking stalled; the last line is the same result object.
Print mode (one answer, no tools): `claude -p --output-format json --tools "" --max-turns 1`.
Environment: the key as ANTHROPIC_API_KEY (or under its own name when `api_key_env` is
ANTHROPIC_AUTH_TOKEN / CLAUDE_CODE_OAUTH_TOKEN), ANTHROPIC_BASE_URL when `base_url` is set, no
auto-update, no non-essential traffic, no client-side retries (CLAUDE_CODE_MAX_RETRIES=0, which an agent's
`env` may override), IS_SANDBOX=1 when running as root (required by --dangerously-skip-permissions).
Result: `is_error` is the verdict — API errors arrive with `subtype: "success"` and `is_error: true`;
`subtype: "error_max_turns"` is the turn cap; `total_cost_usd`, `num_turns` and `usage` give the cost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from orchestrator.agents.adapter import (
    Invocation,
    Outcome,
    ProgressFilter,
    as_dict,
    as_float,
    as_int,
    json_objects,
    last_json_object,
    last_stderr_line,
    mentions_rate_limit,
    one_line,
    retry_after_seconds,
)
from orchestrator.agents.environment import Workspace
from orchestrator.agents.spec import AgentSpec
from orchestrator.edges.process import ProcessResult

KEY_NAMES_KEPT = frozenset({"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"})
RATE_LIMIT_STATUSES = frozenset({429, 529})
DEFAULT_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_MAX_RETRIES": "0",
}


@dataclass(frozen=True)
class ClaudeAdapter:
    """`trust_reported_cost=False` prices tokens at the agent's configured rates instead (other vendors)."""

    trust_reported_cost: bool = True

    def invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        argv = [
            *spec.command,
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--dangerously-skip-permissions",
            "--max-turns",
            str(spec.max_turns),
        ]
        if spec.max_budget_usd is not None:
            argv += ["--max-budget-usd", f"{max(spec.max_budget_usd, 0.01):.2f}"]
        return self._invocation(spec, workspace, argv)

    def print_invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        argv = [*spec.command, "-p", "--output-format", "json", "--tools", "", "--max-turns", "1"]
        return self._invocation(spec, workspace, argv)

    def _invocation(self, spec: AgentSpec, workspace: Workspace, argv: list[str]) -> Invocation:
        if spec.model:
            argv += ["--model", spec.model]
        env = {**DEFAULT_ENV, **workspace.env}
        if workspace.api_key is not None:
            key_name = spec.api_key_env if spec.api_key_env in KEY_NAMES_KEPT else "ANTHROPIC_API_KEY"
            env[key_name or "ANTHROPIC_API_KEY"] = workspace.api_key
        if spec.base_url:
            env["ANTHROPIC_BASE_URL"] = spec.base_url
        if os.geteuid() == 0:
            env["IS_SANDBOX"] = "1"
        return Invocation(argv=tuple(argv), env=env, stdin_file=workspace.prompt_file)

    def parse(self, spec: AgentSpec, result: ProcessResult) -> Outcome:
        return parse_result(spec, result.stdout, last_stderr_line(result), self.trust_reported_cost)

    def progress_filter(self, spec: AgentSpec) -> ProgressFilter | None:
        return is_progress


PROGRESS_TYPES = frozenset({"assistant", "user", "result"})


def is_progress(line: str) -> bool:
    """A stream-json message from the model (`assistant`), a tool result (`user`), the final `result`, or
    the session's `system/init`; other system messages (API retries, status) are not progress."""
    for event in json_objects(line):
        kind = event.get("type")
        return kind in PROGRESS_TYPES or (kind == "system" and event.get("subtype") == "init")
    return False


def parse_result(
    spec: AgentSpec, stdout: str, stderr_line: str = "", trust_reported_cost: bool = True
) -> Outcome:
    """Read Claude Code's result object (the whole `json` output, or the last `stream-json` line)."""
    data = last_json_object(stdout)
    if data is None or data.get("type") != "result":
        detail = stderr_line or one_line(stdout, 200) or "no output"
        return Outcome(is_error=True, error=one_line(f"claude printed no JSON result: {detail}"))
    cost, input_tokens, output_tokens = _highest_spend(spec, stdout, data, trust_reported_cost)
    is_error, error = _verdict(spec, data)
    status = as_int(data.get("api_error_status"))
    text = f"{data.get('api_error_type', '')} {data.get('result', '')}"
    extra = {
        key: str(data[key])
        for key in ("session_id", "subtype", "terminal_reason", "api_error_status")
        if data.get(key) is not None
    }
    rate_limited = is_error and (status in RATE_LIMIT_STATUSES or mentions_rate_limit(text))
    return Outcome(
        is_error=is_error,
        error=error,
        rate_limited=rate_limited,
        retry_after_s=retry_after_seconds(f"{text} {error}") if rate_limited else None,
        cost_usd=cost,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        turns=as_int(data.get("num_turns")),
        answer=data["result"] if isinstance(data.get("result"), str) else "",
        extra=extra,
    )


def _verdict(spec: AgentSpec, data: dict[str, Any]) -> tuple[bool, str]:
    subtype = str(data.get("subtype", ""))
    if subtype == "error_max_turns":
        return True, f"turn cap: stopped after {data.get('num_turns')} turns (max_turns={spec.max_turns})"
    if subtype.startswith("error_max_budget"):
        return True, f"budget cap: stopped at ${data.get('total_cost_usd')} (limit ${spec.max_budget_usd})"
    if data.get("is_error") is not True and subtype == "success":
        return False, ""
    message = data.get("result")
    if not isinstance(message, str) or not message.strip():
        errors = data.get("errors")
        message = "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else subtype
    status = data.get("api_error_status")
    if message.lower().startswith("api error"):
        return True, one_line(message)
    prefix = f"API error {status}" if status is not None else f"claude error ({subtype or 'unknown'})"
    return True, one_line(f"{prefix}: {message}")


def _highest_spend(
    spec: AgentSpec, stdout: str, last: dict[str, Any], trust_reported_cost: bool
) -> tuple[float | None, int | None, int | None]:
    """(cost, input tokens, output tokens) of the costliest result object in `stdout`. A process the agent
    runs can write lines of its own into the CLI's stdout (`/proc/<cli>/fd/1`), also after the real result:
    such a line may raise the spend we record, never lower it."""
    reports = [e for e in json_objects(stdout) if e.get("type") == "result"] or [last]
    spends = []
    for report in reports:
        input_tokens, output_tokens = _tokens(as_dict(report.get("usage")))
        cost = as_float(report.get("total_cost_usd")) if trust_reported_cost else None
        if cost is None or (cost == 0 and (input_tokens or output_tokens)):
            cost = spec.cost_from_tokens(input_tokens, output_tokens)
        spends.append((cost, input_tokens, output_tokens))
    return max(spends, key=lambda spend: (spend[0] or 0.0, (spend[1] or 0) + (spend[2] or 0)))


def _tokens(usage: dict[str, Any]) -> tuple[int | None, int | None]:
    parts = [
        as_int(usage.get(k))
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    known = [p for p in parts if p is not None]
    return (sum(known) if known else None), as_int(usage.get("output_tokens"))
