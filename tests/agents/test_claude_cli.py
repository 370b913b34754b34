"""The real Claude Code CLI driven through run_agent against a fake Anthropic Messages API (SSE)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator.agents import AgentSpec, print_mode
from orchestrator.values.models import AgentRun
from tests.agents.conftest import (
    ORIGINAL_GREETING,
    assert_greeting_changed,
    cli_spec,
    processes_using,
    run_cli,
)
from tests.agents.fake_anthropic import INPUT_TOKENS, OUTPUT_TOKENS, AnthropicScript, failing
from tests.agents.fake_http import Hang, RecordedRequest, Reply, Responder, serving
from tests.agents.scripts import RESULT_TEXT, Say, claude_script

pytestmark = pytest.mark.npm

ENVIRON = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "ANTHROPIC_API_KEY": "sk-ant-fake",
    "GITHUB_TOKEN": "ghp_x",
}


def run_claude(
    responder: Responder, worktree: Path, run_dir: Path, *, timeout_s: float = 30.0, max_turns: int = 10
) -> tuple[AgentRun, list[str]]:
    def spec_for(url: str) -> AgentSpec:
        return cli_spec("claude", url, timeout_s=timeout_s, max_turns=max_turns)

    return run_cli(spec_for, responder, worktree, run_dir, ENVIRON)


def test_claude_edits_the_worktree_and_reports_cost_and_turns(worktree: Path, run_dir: Path) -> None:
    script = AnthropicScript(claude_script(worktree))
    run, paths = run_claude(script, worktree, run_dir)
    assert_greeting_changed(run, worktree)
    assert run.turns == 3
    assert (run.input_tokens, run.output_tokens) == (3 * INPUT_TOKENS, 3 * OUTPUT_TOKENS)
    assert run.cost_usd is not None and run.cost_usd > 0
    assert all(path.startswith("/v1/messages") for path in paths)
    headers = {name.lower(): value for name, value in script.last_headers.items()}
    assert headers["x-api-key"] == "sk-ant-fake"


def test_a_healthy_run_longer_than_the_stall_timeout_is_not_killed(worktree: Path, run_dir: Path) -> None:
    """Each model answer takes 1.5 s and the whole run > 4.5 s, yet stdout streams one line per message."""
    script = AnthropicScript(claude_script(worktree))

    def slow(request: RecordedRequest) -> Reply:
        time.sleep(1.5)
        return script(request)

    def spec_for(url: str) -> AgentSpec:
        return cli_spec("claude", url, timeout_s=30.0, stall_timeout_s=4.0)

    run, _ = run_cli(spec_for, slow, worktree, run_dir, ENVIRON)
    assert run.ok, run.error
    assert run.duration_s > 4.0  # the stall limit


def test_claude_api_error_is_an_error_not_rate_limited(worktree: Path, run_dir: Path) -> None:
    run, _ = run_claude(failing(500, "api_error", "Internal server error"), worktree, run_dir)
    assert run.is_error and not run.rate_limited and not run.ok
    assert run.error.startswith("API Error: 500 Internal server error")
    assert (worktree / "hello.txt").read_text() == ORIGINAL_GREETING


def test_claude_overloaded_is_rate_limited(worktree: Path, run_dir: Path) -> None:
    run, paths = run_claude(failing(529, "overloaded_error", "Overloaded"), worktree, run_dir)
    assert run.is_error and run.rate_limited
    assert len(paths) == 1  # CLAUDE_CODE_MAX_RETRIES=0: no client-side retries


def test_claude_turn_cap(worktree: Path, run_dir: Path) -> None:
    run, _ = run_claude(AnthropicScript(claude_script(worktree)), worktree, run_dir, max_turns=1)
    assert run.is_error
    assert run.error.startswith("turn cap:")
    assert not (worktree / ".agent_result.md").exists()


def test_claude_hung_server_is_killed_by_our_timeout(worktree: Path, run_dir: Path) -> None:
    run, paths = run_claude(lambda request: Hang(), worktree, run_dir, timeout_s=3.0)
    assert paths, "claude never reached the fake server"
    assert run.timed_out and run.exit_code is None and not run.ok
    assert run.duration_s < 10
    assert processes_using(worktree, run_dir) == []


def test_claude_print_mode_answers_without_tools(run_dir: Path) -> None:
    script = AnthropicScript([Say("Goal: greet\nSuccess criteria: hello.txt says hi")])
    with serving(script) as server:
        answer = print_mode(cli_spec("claude", server.url), "Format this issue.", run_dir, ENVIRON)
    assert answer == "Goal: greet\nSuccess criteria: hello.txt says hi"
    assert not script.last_body.get("tools")


def test_deepseek_through_claude_code_prices_tokens_at_configured_rates(
    worktree: Path, run_dir: Path
) -> None:
    script = AnthropicScript(claude_script(worktree))

    def spec_for(url: str) -> AgentSpec:
        return cli_spec(
            "deepseek",
            url,
            cli="claude",
            model="deepseek-v4-pro",
            api_key_env="DEEPSEEK_API_KEY",
            price_per_million_input=0.5,
            price_per_million_output=2.0,
        )

    environ = {"PATH": ENVIRON["PATH"], "DEEPSEEK_API_KEY": "sk-deepseek-fake"}
    run, _ = run_cli(spec_for, script, worktree, run_dir, environ)
    assert run.ok, run.error
    assert (worktree / ".agent_result.md").read_text() == RESULT_TEXT
    assert run.cost_usd == pytest.approx((3 * INPUT_TOKENS * 0.5 + 3 * OUTPUT_TOKENS * 2.0) / 1e6)
    assert script.last_body["model"] == "deepseek-v4-pro"
    assert {k.lower(): v for k, v in script.last_headers.items()}["x-api-key"] == "sk-deepseek-fake"
