"""DeepSeek through an existing coding CLI, chosen by the agent's `command`.

DeepSeek serves an Anthropic-compatible API (https://api.deepseek.com/anthropic) and an OpenAI-compatible
chat-completions API (https://api.deepseek.com/v1). What the user configures (`agents.<name>` with
`kind: deepseek`, `api_key_env: DEEPSEEK_API_KEY`, prices from DeepSeek's price list):

- `command: ["claude"]` (recommended; works against DeepSeek as is): Claude Code with ANTHROPIC_BASE_URL =
  `base_url` (default — also when `base_url` is DeepSeek's bare https://api.deepseek.com — the
  Anthropic-compatible endpoint above) and the DeepSeek key as ANTHROPIC_API_KEY;
  `model` e.g. `deepseek-v4-pro` (Claude model names are mapped by DeepSeek).
- `command: ["codex"]`: Codex with a provider whose `base_url` defaults to https://api.deepseek.com/v1 and
  whose `env_key` is DEEPSEEK_API_KEY. Codex speaks only the Responses wire API, which DeepSeek does not
  serve itself, so `base_url` must point at a Responses-compatible gateway in front of DeepSeek.
- any other command: run like the `script` kind ({prompt_file}/{worktree}/{run_dir} placeholders, prompt on
  stdin, optional final JSON line with cost/turns), with the key in `api_key_env` and OPENAI_API_KEY and the
  base URL in OPENAI_BASE_URL / OPENAI_API_BASE, the names OpenAI-compatible CLIs read.

Cost is always tokens × the configured prices: the CLIs price tokens at their own vendor's rates.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePath

from orchestrator.agents.adapter import Adapter, Invocation, Outcome, ProgressFilter
from orchestrator.agents.claude import ClaudeAdapter
from orchestrator.agents.codex import CodexAdapter
from orchestrator.agents.environment import Workspace
from orchestrator.agents.script import ScriptAdapter
from orchestrator.agents.spec import AgentSpec
from orchestrator.edges.process import ProcessResult

ANTHROPIC_COMPATIBLE_URL = "https://api.deepseek.com/anthropic"
OPENAI_COMPATIBLE_URL = "https://api.deepseek.com/v1"
KEY_ENV = "DEEPSEEK_API_KEY"


class DeepSeekAdapter:
    def __init__(self) -> None:
        self._claude = ClaudeAdapter(trust_reported_cost=False)
        self._codex = CodexAdapter(default_base_url=OPENAI_COMPATIBLE_URL, default_key_env=KEY_ENV)
        self._other = OpenAICompatibleCommand()

    def invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        return self._adapter(spec).invocation(_with_defaults(spec), workspace)

    def print_invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        return self._adapter(spec).print_invocation(_with_defaults(spec), workspace)

    def parse(self, spec: AgentSpec, result: ProcessResult) -> Outcome:
        return self._adapter(spec).parse(_with_defaults(spec), result)

    def progress_filter(self, spec: AgentSpec) -> ProgressFilter | None:
        return self._adapter(spec).progress_filter(spec)

    def _adapter(self, spec: AgentSpec) -> Adapter:
        cli = underlying_cli(spec)
        if cli == "claude":
            return self._claude
        if cli == "codex":
            return self._codex
        return self._other


class OpenAICompatibleCommand:
    """Any other CLI: the script conventions plus the variables OpenAI-compatible tools read."""

    def __init__(self) -> None:
        self._script = ScriptAdapter()

    def invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        return self._with_openai_env(spec, workspace, self._script.invocation(spec, workspace))

    def print_invocation(self, spec: AgentSpec, workspace: Workspace) -> Invocation:
        return self._with_openai_env(spec, workspace, self._script.print_invocation(spec, workspace))

    def parse(self, spec: AgentSpec, result: ProcessResult) -> Outcome:
        return self._script.parse(spec, result)

    def progress_filter(self, spec: AgentSpec) -> ProgressFilter | None:
        return None

    def _with_openai_env(self, spec: AgentSpec, workspace: Workspace, invocation: Invocation) -> Invocation:
        env = dict(invocation.env)
        if workspace.api_key is not None:
            env[spec.api_key_env or KEY_ENV] = workspace.api_key
            env["OPENAI_API_KEY"] = workspace.api_key
        env["OPENAI_BASE_URL"] = env["OPENAI_API_BASE"] = spec.base_url or OPENAI_COMPATIBLE_URL
        return replace(invocation, env=env)


def underlying_cli(spec: AgentSpec) -> str:
    """ "claude" or "codex" when the command runs one of them (also via e.g. `npx codex`), else "other"."""
    names = {PurePath(arg).name for arg in spec.command[:2]}
    for cli in ("claude", "codex"):
        if cli in names:
            return cli
    return "other"


DEEPSEEK_ROOT = "https://api.deepseek.com"


def _with_defaults(spec: AgentSpec) -> AgentSpec:
    """The endpoint the chosen CLI speaks when none (or DeepSeek's bare root URL) is configured: the
    Anthropic-compatible API for Claude Code, the OpenAI-compatible one for the others."""
    configured = (spec.base_url or "").rstrip("/")
    if configured and configured != DEEPSEEK_ROOT:
        return spec
    cli = underlying_cli(spec)
    return replace(spec, base_url=ANTHROPIC_COMPATIBLE_URL if cli == "claude" else OPENAI_COMPATIBLE_URL)
