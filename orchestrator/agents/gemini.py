"""Google Gemini CLI (`gemini -p`): prompt on stdin, one JSON object on stdout (errors: JSON on stderr)."""

from __future__ import annotations

import json

from orchestrator.agents.adapter import (
    Invocation,
    Outcome,
    as_int,
    last_json_object,
    last_stderr_line,
    mentions_rate_limit,
    one_line,
)
from orchestrator.agents.environment import Workspace
from orchestrator.agents.spec import AgentSpec
from orchestrator.process import ProcessResult

SETTINGS = {"security": {"auth": {"selectedType": "gemini-api-key"}}}


class GeminiAdapter:
    def invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        return self._invocation(spec, workspace, ["--yolo"])

    def print_invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        return self._invocation(spec, workspace, ["--approval-mode", "plan"])

    def _invocation(self, spec: AgentSpec, workspace: Workspace, mode: list[str]) -> Invocation:
        settings_dir = workspace.home / ".gemini"
        settings_dir.mkdir(exist_ok=True)
        (settings_dir / "settings.json").write_text(json.dumps(SETTINGS, indent=2), encoding="utf-8")
        env = {**workspace.env, "GEMINI_CLI_TRUST_WORKSPACE": "true"}
        if workspace.api_key is not None:
            env["GEMINI_API_KEY"] = workspace.api_key
        if spec.base_url:
            env["GOOGLE_GEMINI_BASE_URL"] = spec.base_url
        argv = [*spec.command, "-p", "", "--output-format", "json", *mode]
        if spec.model:
            argv += ["-m", spec.model]
        return Invocation(argv=tuple(argv), env=env, stdin_file=workspace.prompt_file)

    def parse(self, spec: AgentSpec, result: ProcessResult) -> Outcome:
        data = last_json_object(result.stdout)
        if data is None:
            error = last_json_object(result.stderr)
            message = str((error or {}).get("error", "")) or last_stderr_line(result)
            return Outcome(is_error=True, error=one_line(message), rate_limited=mentions_rate_limit(message))
        stats = data.get("stats") if isinstance(data.get("stats"), dict) else {}
        return Outcome(turns=as_int(stats.get("turns")), answer=str(data.get("response", "")))
