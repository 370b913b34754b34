"""Every agent default works with the pinned CLI: each test builds its spec from a config that leaves the
key at its default (only the command path and the fake server's URL are set, as a user pointing at a local
model server would), then runs the real CLI from tools/npm."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agents import run_agent
from orchestrator.config import parse_config
from orchestrator.config.rules import AGENT_KIND_DEFAULTS
from orchestrator.executors.task_runner import agent_spec
from tests.agents.conftest import NPM_BIN, ORIGINAL_GREETING, REPO_ROOT, npm_cli
from tests.agents.fake_anthropic import AnthropicScript
from tests.agents.fake_gemini import GeminiScript
from tests.agents.fake_http import JsonReply, serving
from tests.agents.fake_openai import ResponsesScript
from tests.agents.fake_tls_proxy import intercepting_proxy
from tests.agents.scripts import NEW_GREETING, RESULT_TEXT, apply_patch_script, claude_script, shell_script

pytestmark = pytest.mark.npm
PATH = "/usr/local/bin:/usr/bin:/bin"


def spec_from_config(name: str, **agent: Any):
    """The AgentSpec the queue would build for `agents.<name>` with only `agent` set."""
    data = {
        "github": {"api_url": "https://api.github.com"},
        "repos": [{"owner": "acme", "name": "widgets"}],
        "agents": {name: agent},
    }
    return agent_spec(parse_config(data, base_dir=REPO_ROOT).agents[name])


def test_codex_default_model_has_apply_patch_and_edits_with_it(worktree: Path, run_dir: Path) -> None:
    script = ResponsesScript(apply_patch_script())
    with serving(script) as server:
        spec = spec_from_config("codex", command=[str(npm_cli("codex"))], base_url=f"{server.url}/v1")
        environ = {"PATH": PATH, "OPENAI_API_KEY": "sk-openai-fake"}
        run = run_agent(spec, "Change the greeting in hello.txt.", worktree, run_dir, environ=environ)
    assert spec.model == AGENT_KIND_DEFAULTS["codex"]["model"]
    assert run.ok, run.error
    assert script.last_body["model"] == spec.model
    tools = {(t.get("type"), t.get("name")) for t in script.last_body.get("tools", [])}
    assert ("custom", "apply_patch") in tools, "the default model must come with the apply_patch tool"
    assert (worktree / "hello.txt").read_text() == NEW_GREETING != ORIGINAL_GREETING
    assert (worktree / ".agent_result.md").read_text() == RESULT_TEXT


def test_claude_defaults(worktree: Path, run_dir: Path) -> None:
    script = AnthropicScript(claude_script(worktree))
    with serving(script) as server:
        spec = spec_from_config("claude", command=[str(npm_cli("claude"))], base_url=server.url)
        environ = {"PATH": PATH, "ANTHROPIC_API_KEY": "sk-ant-fake"}
        run = run_agent(spec, "Change the greeting in hello.txt.", worktree, run_dir, environ=environ)
    assert spec.model is None and spec.api_key_env == "ANTHROPIC_API_KEY"
    assert run.ok, run.error
    assert (worktree / ".agent_result.md").read_text() == RESULT_TEXT
    assert run.cost_usd is not None and run.turns == 3


def test_gemini_defaults(worktree: Path, run_dir: Path) -> None:
    script = GeminiScript(shell_script("run_shell_command", "command"))
    with serving(script) as server:
        spec = spec_from_config("gemini", command=[str(npm_cli("gemini"))], base_url=server.url)
        environ = {"PATH": PATH, "GEMINI_API_KEY": "gm-fake"}
        run = run_agent(spec, "Change the greeting in hello.txt.", worktree, run_dir, environ=environ)
    assert spec.model is None
    assert run.ok, run.error
    assert (worktree / ".agent_result.md").read_text() == RESULT_TEXT


def test_deepseek_default_reaches_its_anthropic_compatible_api_through_claude_code(
    worktree: Path, run_dir: Path, tmp_path: Path
) -> None:
    """No base_url configured: Claude Code must talk to https://api.deepseek.com/anthropic. An intercepting
    proxy answers for that host (Claude Code trusts its CA through NODE_EXTRA_CA_CERTS) and records paths."""
    script = AnthropicScript(claude_script(worktree))
    spec = spec_from_config(
        "deepseek", kind="deepseek", command=[str(npm_cli("claude"))], model="deepseek-chat"
    )
    assert spec.base_url is None, "the config leaves the endpoint to the adapter"
    with intercepting_proxy(_strip_prefix(script, "/anthropic"), "api.deepseek.com", tmp_path) as (
        url,
        ca,
        proxy,
        fake,
    ):
        environ = {
            "PATH": PATH,
            "DEEPSEEK_API_KEY": "sk-deepseek-fake",
            "HTTPS_PROXY": url,
            "NODE_EXTRA_CA_CERTS": str(ca),
        }
        run = run_agent(spec, "Change the greeting in hello.txt.", worktree, run_dir, environ=environ)
    assert run.ok, run.error
    assert proxy.tunnels and all(t.startswith("CONNECT api.deepseek.com:443") for t in proxy.tunnels)
    assert fake.paths() and all(p.startswith("/anthropic/v1/messages") for p in fake.paths()), fake.paths()
    assert (worktree / ".agent_result.md").read_text() == RESULT_TEXT
    assert script.last_body["model"] == "deepseek-chat"


def _strip_prefix(responder: Any, prefix: str) -> Any:
    """The fake Anthropic API mounted under `prefix` (as DeepSeek serves it under /anthropic)."""

    def respond(request: Any) -> Any:
        if not request.path.startswith(prefix + "/"):
            return JsonReply(
                404, {"type": "error", "error": {"type": "not_found_error", "message": request.path}}
            )
        return responder(dataclasses.replace(request, path=request.path[len(prefix) :]))

    return respond


def test_pinned_clis_are_installed() -> None:
    for name in ("claude", "codex", "gemini"):
        assert (NPM_BIN / name).exists(), f"{name} not under tools/npm (run `make npm-tools`)"
