"""Any command as an agent: the demo's scripted agent, the tests, or a home-made wrapper.

`command` is the whole command line; `{prompt_file}`, `{worktree}` and `{run_dir}` in any argument are
replaced. The prompt is also given on stdin. The command runs in the worktree with the scrubbed environment
(plus `AGENT_API_KEY` when `api_key_env` is configured). If its last JSON line on stdout is an object with
`cost_usd`, `turns`, `input_tokens` or `output_tokens`, those are recorded; `{"is_error": true, "error": "…"}`
marks a failed run even when the exit code is 0, and `"rate_limited": true` (with an optional
`"retry_after_s"`) a rate-limited one.
"""

from __future__ import annotations

from orchestrator.agents.adapter import (
    Invocation,
    Outcome,
    ProgressFilter,
    as_float,
    as_int,
    last_json_line,
    mentions_rate_limit,
    one_line,
    retry_after_seconds,
)
from orchestrator.agents.environment import Workspace
from orchestrator.agents.spec import AgentSpec
from orchestrator.edges.process import ProcessResult

KEY_VARIABLE = "AGENT_API_KEY"


class ScriptAdapter:
    def invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        values = {
            "prompt_file": str(workspace.prompt_file),
            "worktree": str(workspace.worktree),
            "run_dir": str(workspace.run_dir),
        }
        argv = tuple(_fill(arg, values) for arg in spec.command)
        env = dict(workspace.env)
        if workspace.api_key is not None:
            env[KEY_VARIABLE] = workspace.api_key
        return Invocation(argv=argv, env=env, stdin_file=workspace.prompt_file)

    def print_invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        return self.invocation(spec, workspace)

    def progress_filter(self, spec: AgentSpec) -> ProgressFilter | None:
        return None  # a script has no structured events: any output is progress

    def parse(self, spec: AgentSpec, result: ProcessResult) -> Outcome:
        report = last_json_line(result.stdout)
        answer = result.stdout.strip()
        if report is None:
            return Outcome(answer=answer)
        input_tokens = as_int(report.get("input_tokens"))
        output_tokens = as_int(report.get("output_tokens"))
        cost = as_float(report.get("cost_usd"))
        raw_error = report.get("error")
        error = raw_error if isinstance(raw_error, str) else ""
        is_error = report.get("is_error") is True
        rate_limited = report.get("rate_limited") is True or (is_error and mentions_rate_limit(error))
        retry_after = as_float(report.get("retry_after_s"))
        return Outcome(
            is_error=is_error,
            error=one_line(error or "the script reported an error") if is_error else "",
            rate_limited=rate_limited,
            retry_after_s=(retry_after if retry_after is not None else retry_after_seconds(error))
            if rate_limited
            else None,
            cost_usd=cost if cost is not None else spec.cost_from_tokens(input_tokens, output_tokens),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            turns=as_int(report.get("turns")),
            answer=answer,
        )


def _fill(arg: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        arg = arg.replace("{" + name + "}", value)
    return arg
