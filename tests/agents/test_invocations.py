"""What each adapter runs: argv, environment and config files (no process started)."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agents.adapter import Invocation
from orchestrator.agents.environment import prepare_workspace
from orchestrator.agents.runner import ADAPTERS, with_stdin_from_file
from orchestrator.agents.spec import AgentKind, AgentSpec

PROMPT = "Implement issue #7: make the greeting friendlier."
ENVIRON = {
    "PATH": "/usr/bin:/bin",
    "ANTHROPIC_API_KEY": "sk-ant",
    "OPENAI_API_KEY": "sk-openai",
    "GEMINI_API_KEY": "gm-key",
    "DEEPSEEK_API_KEY": "sk-deepseek",
    "GITHUB_TOKEN": "ghp_secret",
}


FAKE_API = "http://127.0.0.1:9999"


def invocation(
    tmp_path: Path, kind: AgentKind, for_print: bool = False, **fields: Any
) -> tuple[Invocation, Path]:
    """What the adapter of `kind` builds for an agent named `kind` running `kind` (unless `fields` say)."""
    fields.setdefault("name", kind)
    fields.setdefault("command", (kind,))
    spec = AgentSpec(kind=kind, **fields)
    workspace = prepare_workspace(spec, PROMPT, tmp_path, tmp_path / "run", ENVIRON)
    adapter = ADAPTERS[spec.kind]
    built = adapter.print_invocation(spec, workspace) if for_print else adapter.invocation(spec, workspace)
    return built, workspace.home


def env_subset(built: Invocation, expected: Mapping[str, str | None]) -> dict[str, str | None]:
    """The values `built` gives the variables `expected` names (None: not set), to compare with it."""
    return {name: built.env.get(name) for name in expected}


@pytest.mark.parametrize("kind", ["claude", "codex", "gemini", "deepseek", "script"])
def test_prompt_goes_through_a_file_never_the_command_line(tmp_path: Path, kind: AgentKind) -> None:
    built, _ = invocation(tmp_path, kind)
    assert all(PROMPT not in arg for arg in built.argv)
    assert built.stdin_file is not None and built.stdin_file.read_text() == PROMPT
    assert "ghp_secret" not in built.env.values()
    wrapped = with_stdin_from_file(built)
    assert wrapped[:3] == ("/bin/sh", "-c", 'exec "$@" < "$0"') and wrapped[4:] == built.argv


def test_claude_command_and_environment(tmp_path: Path) -> None:
    built, _ = invocation(
        tmp_path,
        "claude",
        model="claude-sonnet-4-5",
        api_key_env="ANTHROPIC_API_KEY",
        base_url=FAKE_API,
        max_turns=12,
        env={"CLAUDE_CODE_MAX_RETRIES": "2"},
    )
    assert built.argv == (
        "claude",
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--dangerously-skip-permissions",
        "--max-turns",
        "12",
        "--model",
        "claude-sonnet-4-5",
    )
    expected = {
        "ANTHROPIC_API_KEY": "sk-ant",
        "ANTHROPIC_BASE_URL": FAKE_API,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_MAX_RETRIES": "2",  # the agent's env overrides the default 0
        "IS_SANDBOX": "1" if os.geteuid() == 0 else None,
    }
    assert env_subset(built, expected) == expected


def test_claude_gets_the_tasks_remaining_budget(tmp_path: Path) -> None:
    built, _ = invocation(tmp_path, "claude", api_key_env="ANTHROPIC_API_KEY", max_budget_usd=1.234)
    assert built.argv[-2:] == ("--max-budget-usd", "1.23")
    assert "OPENAI_API_KEY" not in built.env


def test_claude_oauth_token_keeps_its_name(tmp_path: Path) -> None:
    environ_key = "CLAUDE_CODE_OAUTH_TOKEN"
    spec = AgentSpec(name="c", kind="claude", command=("claude",), api_key_env=environ_key)
    workspace = prepare_workspace(spec, PROMPT, tmp_path, tmp_path / "run", {environ_key: "oauth-1"})
    built = ADAPTERS["claude"].invocation(spec, workspace)
    assert built.env[environ_key] == "oauth-1" and "ANTHROPIC_API_KEY" not in built.env


def test_claude_print_mode_has_no_tools(tmp_path: Path) -> None:
    built, _ = invocation(tmp_path, "claude", for_print=True, name="c")
    assert built.argv == ("claude", "-p", "--output-format", "json", "--tools", "", "--max-turns", "1")


def test_codex_config_toml_and_command(tmp_path: Path) -> None:
    built, home = invocation(
        tmp_path,
        "codex",
        model="gpt-5-codex",
        api_key_env="OPENAI_API_KEY",
        base_url=f"{FAKE_API}/v1",
    )
    assert built.argv == (
        "codex",
        "exec",
        "--json",
        "--dangerously-bypass-approvals-and-sandbox",
        "--skip-git-repo-check",
        "-m",
        "gpt-5-codex",
        "-",
    )
    expected = {"CODEX_HOME": str(home / ".codex"), "OPENAI_API_KEY": "sk-openai"}
    assert env_subset(built, expected) == expected
    config = tomllib.loads((home / ".codex" / "config.toml").read_text())
    assert config["model_provider"] == "agentos" and config["model"] == "gpt-5-codex"
    assert config["model_providers"]["agentos"] == {
        "name": "codex",
        "base_url": f"{FAKE_API}/v1",
        "env_key": "OPENAI_API_KEY",
        "wire_api": "responses",
        "request_max_retries": 0,
        "stream_max_retries": 0,
    }
    assert config["analytics"] == {"enabled": False}


def test_gemini_settings_and_command(tmp_path: Path) -> None:
    built, home = invocation(
        tmp_path,
        "gemini",
        model="gemini-2.5-pro",
        api_key_env="GEMINI_API_KEY",
        base_url=FAKE_API,
        max_turns=20,
    )
    assert built.argv == (
        "gemini",
        "-p",
        "",
        "--output-format",
        "stream-json",
        "--yolo",
        "-m",
        "gemini-2.5-pro",
    )
    expected = {
        "GEMINI_API_KEY": "gm-key",
        "GOOGLE_GEMINI_BASE_URL": FAKE_API,
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
    }
    assert env_subset(built, expected) == expected
    settings = json.loads((home / ".gemini" / "settings.json").read_text())
    assert settings["security"]["auth"]["selectedType"] == "gemini-api-key"
    assert settings["general"]["maxAttempts"] == 1
    assert settings["model"]["maxSessionTurns"] == 20


def test_deepseek_through_claude_uses_the_anthropic_compatible_endpoint(tmp_path: Path) -> None:
    built, _ = invocation(
        tmp_path,
        "deepseek",
        name="ds",
        command=("/usr/local/bin/claude",),
        api_key_env="DEEPSEEK_API_KEY",
    )
    assert built.argv[:2] == ("/usr/local/bin/claude", "-p")
    assert built.env["ANTHROPIC_BASE_URL"] == "https://api.deepseek.com/anthropic"
    assert built.env["ANTHROPIC_API_KEY"] == "sk-deepseek"


def test_deepseek_through_codex_configures_a_deepseek_provider(tmp_path: Path) -> None:
    built, home = invocation(
        tmp_path, "deepseek", name="ds", command=("npx", "codex"), api_key_env="DEEPSEEK_API_KEY"
    )
    assert built.argv[:3] == ("npx", "codex", "exec")
    provider = tomllib.loads((home / ".codex" / "config.toml").read_text())["model_providers"]["agentos"]
    assert (provider["base_url"], provider["env_key"]) == ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY")
    assert built.env["DEEPSEEK_API_KEY"] == "sk-deepseek"


def test_deepseek_through_any_other_command_gets_openai_compatible_variables(tmp_path: Path) -> None:
    built, _ = invocation(
        tmp_path,
        "deepseek",
        name="ds",
        command=("my-coder", "--task", "{prompt_file}"),
        api_key_env="DEEPSEEK_API_KEY",
    )
    assert built.argv[:2] == ("my-coder", "--task") and built.argv[2].endswith("prompt.md")
    assert built.env["DEEPSEEK_API_KEY"] == built.env["OPENAI_API_KEY"] == "sk-deepseek"
    assert built.env["OPENAI_BASE_URL"] == "https://api.deepseek.com/v1"


def test_spec_rejects_unknown_kind_and_empty_command() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        AgentSpec(name="x", kind="cursor", command=("x",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="command is empty"):
        AgentSpec(name="x", kind="script", command=())
