"""OpenAI Codex CLI (`codex exec`): prompt on stdin (`-`), JSONL events on stdout.

Run: `codex exec --json --dangerously-bypass-approvals-and-sandbox --skip-git-repo-check [-m MODEL] -`
with CODEX_HOME under the run's HOME holding a config.toml that defines one model provider: `base_url`
(default https://api.openai.com/v1), `env_key` (the variable the key is passed in, `api_key_env`),
`wire_api = "responses"` (the only wire API Codex still speaks) and no client-side retries, so a failing
server is reported at once. Codex hangs when the server never answers: the runner's timeouts end it.
Events read: `turn.completed{usage}` (tokens, summed), `turn.failed{error}` and `error` (the failure),
completed tool items (counted as turns, with the final answer, like Claude's num_turns). Codex reports no
cost, so cost = tokens × the agent's configured prices.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.agents.adapter import (
    Invocation,
    Outcome,
    ProgressFilter,
    as_dict,
    as_int,
    json_objects,
    last_stderr_line,
    mentions_rate_limit,
    one_line,
    retry_after_seconds,
)
from orchestrator.agents.environment import Workspace
from orchestrator.agents.spec import AgentSpec
from orchestrator.edges.process import ProcessResult

OPENAI_BASE_URL = "https://api.openai.com/v1"
PROVIDER_ID = "agentos"
TOOL_ITEM_TYPES = frozenset({"command_execution", "file_change", "mcp_tool_call", "web_search"})


@dataclass(frozen=True)
class CodexAdapter:
    """`default_base_url` and `default_key_env` apply when the agent's spec leaves them unset."""

    default_base_url: str = OPENAI_BASE_URL
    default_key_env: str = "OPENAI_API_KEY"
    extra_config: Mapping[str, str] = field(default_factory=dict)

    def invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        argv = [*spec.command, "exec", "--json", "--dangerously-bypass-approvals-and-sandbox"]
        return self._invocation(spec, workspace, argv)

    def print_invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        argv = [*spec.command, "exec", "--json", "--sandbox", "read-only"]
        return self._invocation(spec, workspace, argv)

    def _invocation(self, spec: AgentSpec, workspace: Workspace, argv: list[str]) -> Invocation:
        codex_home = workspace.home / ".codex"
        codex_home.mkdir(exist_ok=True)
        key_env = spec.api_key_env or self.default_key_env
        (codex_home / "config.toml").write_text(self.config_toml(spec, key_env), encoding="utf-8")
        env = {**workspace.env, "CODEX_HOME": str(codex_home)}
        if workspace.api_key is not None:
            env[key_env] = workspace.api_key
        argv += ["--skip-git-repo-check"]
        if spec.model:
            argv += ["-m", spec.model]
        argv.append("-")
        return Invocation(argv=tuple(argv), env=env, stdin_file=workspace.prompt_file)

    def config_toml(self, spec: AgentSpec, key_env: str) -> str:
        """$CODEX_HOME/config.toml: one provider, no retries, no update checks or analytics."""
        provider = {
            "name": spec.name,
            "base_url": spec.base_url or self.default_base_url,
            "env_key": key_env,
            "wire_api": "responses",
            "request_max_retries": 0,
            "stream_max_retries": 0,
        }
        top: dict[str, Any] = {"model_provider": PROVIDER_ID, "check_for_update_on_startup": False}
        if spec.model:
            top["model"] = spec.model
        lines = [f"{key} = {_toml(value)}" for key, value in {**top, **self.extra_config}.items()]
        lines += ["", "[analytics]", "enabled = false", "", "[history]", 'persistence = "none"', ""]
        lines.append(f"[model_providers.{PROVIDER_ID}]")
        lines += [f"{key} = {_toml(value)}" for key, value in provider.items()]
        return "\n".join(lines) + "\n"

    def parse(self, spec: AgentSpec, result: ProcessResult) -> Outcome:
        return parse_events(spec, result.stdout, last_stderr_line(result))

    def progress_filter(self, spec: AgentSpec) -> ProgressFilter | None:
        return is_progress


def is_progress(line: str) -> bool:
    """Model or tool progress: `thread.started`, `turn.*`, and `item.*` events other than error items.
    `error` events and error items ("Reconnecting… 1/5", warnings) are not progress."""
    stripped = line.strip()
    if not stripped.startswith("{"):
        return False
    try:
        event = json.loads(stripped)
    except json.JSONDecodeError:
        return False
    kind = event.get("type") if isinstance(event, dict) else None
    if not isinstance(kind, str):
        return False
    if kind == "thread.started" or kind.startswith("turn."):
        return True
    return kind.startswith("item.") and as_dict(event.get("item")).get("type") != "error"


def parse_events(spec: AgentSpec, stdout: str, stderr_line: str = "") -> Outcome:
    """Read `codex exec --json` JSONL events."""
    input_tokens = output_tokens = 0
    saw_usage = completed = False
    tool_items = 0
    answer = failure = last_error = ""
    extra: dict[str, str] = {}
    for event in json_objects(stdout):
        kind = event.get("type")
        if kind == "thread.started" and isinstance(event.get("thread_id"), str):
            extra["thread_id"] = event["thread_id"]
        elif kind == "turn.completed":
            completed = True
            usage = as_dict(event.get("usage"))
            saw_usage = saw_usage or bool(usage)
            input_tokens += as_int(usage.get("input_tokens")) or 0
            output_tokens += as_int(usage.get("output_tokens")) or 0
        elif kind == "turn.failed":
            failure = _message(event.get("error")) or "turn failed"
        elif kind == "error":
            last_error = _message(event)
        elif kind == "item.completed" and isinstance(event.get("item"), dict):
            item = event["item"]
            if item.get("type") in TOOL_ITEM_TYPES:
                tool_items += 1
            elif item.get("type") == "agent_message" and isinstance(item.get("text"), str):
                answer = item["text"]
    error = _error(failure, last_error, completed, stdout, stderr_line)
    tokens_in = input_tokens if saw_usage else None
    tokens_out = output_tokens if saw_usage else None
    rate_limited = bool(error) and mentions_rate_limit(error)
    return Outcome(
        is_error=bool(error),
        error=error,
        rate_limited=rate_limited,
        retry_after_s=retry_after_seconds(f"{error}\n{stdout[-4000:]}") if rate_limited else None,
        cost_usd=spec.cost_from_tokens(tokens_in, tokens_out),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        turns=tool_items + 1 if completed else (tool_items or None),
        answer=answer,
        extra=extra,
    )


def _error(failure: str, last_error: str, completed: bool, stdout: str, stderr_line: str) -> str:
    if failure:
        return one_line(f"turn failed: {failure}")
    if completed:
        return ""  # `error` events before a completed turn were retries that recovered
    if last_error:
        return one_line(f"codex error: {last_error}")
    if not stdout.strip():
        return one_line(f"codex printed no events: {stderr_line or 'no output'}")
    return "codex stopped before the turn completed"


def _message(value: object) -> str:
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    return ""


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))
