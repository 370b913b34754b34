"""Google Gemini CLI (`gemini -p`): prompt on stdin, one JSON object on stdout, error JSON on failure.

Run: `gemini -p "" --output-format json --yolo [-m MODEL]` — `-p` makes the run headless and its text is
appended to stdin, so the whole prompt arrives on stdin and never on the command line.
Files: $HOME/.gemini/settings.json selects API-key auth, turns off update checks and usage statistics,
sets `general.maxAttempts = 1` (no client-side retries: Gemini otherwise retries a 429 or 5xx for
minutes) and `model.maxSessionTurns` = the agent's max_turns.
Environment: the key as GEMINI_API_KEY, GOOGLE_GEMINI_BASE_URL when `base_url` is set,
GEMINI_CLI_TRUST_WORKSPACE=true (headless runs refuse an untrusted folder) and GEMINI_CLI_NO_RELAUNCH=true
(saves a second Node start; an agent's `env` may override either).
Result: `response` and `stats` (tokens and requests per model and role) on success; on failure a non-zero
exit and `{"error": {"type", "message", "code"}}` (on stdout or stderr, depending on the failure).
Gemini reports no cost, so cost = tokens × the agent's configured prices.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from orchestrator.agents.adapter import (
    Invocation,
    Outcome,
    as_dict,
    as_int,
    last_json_object,
    mentions_rate_limit,
    one_line,
)
from orchestrator.agents.environment import Workspace
from orchestrator.agents.spec import AgentSpec
from orchestrator.process import ProcessResult

DEFAULT_ENV = {"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_CLI_NO_RELAUNCH": "true"}


class GeminiAdapter:
    def invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        return self._invocation(spec, workspace, ["--yolo"])

    def print_invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        return self._invocation(spec, workspace, ["--approval-mode", "plan"])

    def _invocation(self, spec: AgentSpec, workspace: Workspace, mode: list[str]) -> Invocation:
        settings_dir = workspace.home / ".gemini"
        settings_dir.mkdir(exist_ok=True)
        (settings_dir / "settings.json").write_text(json.dumps(settings(spec), indent=2), encoding="utf-8")
        env = {**DEFAULT_ENV, **workspace.env}
        if workspace.api_key is not None:
            env["GEMINI_API_KEY"] = workspace.api_key
        if spec.base_url:
            env["GOOGLE_GEMINI_BASE_URL"] = spec.base_url
        argv = [*spec.command, "-p", "", "--output-format", "json", *mode]
        if spec.model:
            argv += ["-m", spec.model]
        return Invocation(argv=tuple(argv), env=env, stdin_file=workspace.prompt_file)

    def parse(self, spec: AgentSpec, result: ProcessResult) -> Outcome:
        return parse_output(spec, result.stdout, result.stderr)


def settings(spec: AgentSpec) -> dict[str, Any]:
    return {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "general": {"maxAttempts": 1, "enableAutoUpdate": False, "enableAutoUpdateNotification": False},
        "model": {"maxSessionTurns": spec.max_turns},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
    }


def parse_output(spec: AgentSpec, stdout: str, stderr: str) -> Outcome:
    """Read `gemini --output-format json`: the result object on stdout, or an error object."""
    data = last_json_object(stdout) or {}
    failure = as_dict(data.get("error")) or as_dict(as_dict(last_json_object(stderr)).get("error"))
    stats = as_dict(data.get("stats"))
    input_tokens, output_tokens, requests = _usage(stats)
    outcome = Outcome(
        cost_usd=spec.cost_from_tokens(input_tokens, output_tokens),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        turns=requests,
        answer=data["response"] if isinstance(data.get("response"), str) else "",
        extra={"session_id": str(data["session_id"])} if data.get("session_id") else {},
    )
    if failure:
        error, rate_limited = _failure(spec, failure)
        return replace(outcome, is_error=True, error=error, rate_limited=rate_limited)
    if not data:
        lines = [line for line in stderr.splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else "no output"
        return replace(outcome, is_error=True, error=one_line(f"gemini printed no JSON result: {detail}"))
    return outcome


def _failure(spec: AgentSpec, failure: dict[str, Any]) -> tuple[str, bool]:
    """One line for the error object, and whether it is a rate limit / quota error."""
    kind = str(failure.get("type", ""))
    message = _inner_message(str(failure.get("message") or kind or "unknown error"))
    code = failure.get("code")
    if kind == "FatalTurnLimitedError":
        return f"turn cap: reached max_turns={spec.max_turns}", False
    rate_limited = code == 429 or mentions_rate_limit(f"{kind} {message}")
    label = f"API error {code}" if isinstance(code, int) and code >= 400 else f"gemini error ({kind or code})"
    return one_line(f"{label}: {message}"), rate_limited


def _inner_message(message: str) -> str:
    """Gemini passes some API errors through as their raw JSON body; keep just its message."""
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
