"""The real Codex CLI driven through run_agent against a fake OpenAI Responses API (SSE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.agents import AgentSpec, print_mode
from orchestrator.values.models import AgentRun
from tests.agents.conftest import assert_greeting_changed, cli_spec, processes_using, run_cli
from tests.agents.fake_http import Hang, Responder, serving
from tests.agents.fake_openai import INPUT_TOKENS, OUTPUT_TOKENS, ResponsesScript, failing, failing_stream
from tests.agents.scripts import Say, shell_script

pytestmark = pytest.mark.npm

ENVIRON = {"PATH": "/usr/local/bin:/usr/bin:/bin", "OPENAI_API_KEY": "sk-openai-fake", "GH_TOKEN": "gho_x"}


def codex_spec(base_url: str, timeout_s: float) -> AgentSpec:
    return cli_spec(
        "codex",
        base_url,
        timeout_s=timeout_s,
        model="gpt-5.5",
        price_per_million_input=1.25,
        price_per_million_output=10.0,
    )


def run_codex(
    responder: Responder, worktree: Path, run_dir: Path, timeout_s: float = 30.0
) -> tuple[AgentRun, list[str]]:
    return run_cli(lambda url: codex_spec(f"{url}/v1", timeout_s), responder, worktree, run_dir, ENVIRON)


def test_codex_edits_the_worktree_and_reports_tokens_cost_and_turns(worktree: Path, run_dir: Path) -> None:
    script = ResponsesScript(shell_script("exec_command", "cmd"))
    run, paths = run_codex(script, worktree, run_dir)
    assert_greeting_changed(run, worktree)
    assert (run.input_tokens, run.output_tokens) == (3 * INPUT_TOKENS, 3 * OUTPUT_TOKENS)
    assert run.cost_usd == pytest.approx((3 * INPUT_TOKENS * 1.25 + 3 * OUTPUT_TOKENS * 10.0) / 1e6)
    assert run.turns == 3  # two shell calls + the final answer
    assert paths == ["/v1/responses"] * 3
    headers = {name.lower(): value for name, value in script.last_headers.items()}
    assert headers["authorization"] == "Bearer sk-openai-fake"
    assert script.last_body["model"] == "gpt-5.5"


def test_codex_turn_failed_is_an_error(worktree: Path, run_dir: Path) -> None:
    run, paths = run_codex(failing_stream("server_error", "The model failed."), worktree, run_dir)
    assert run.is_error and not run.rate_limited and run.exit_code == 1
    assert run.error.startswith("turn failed:") and "The model failed." in run.error
    assert len(paths) == 1  # request_max_retries = stream_max_retries = 0


def test_codex_rate_limit_is_flagged(worktree: Path, run_dir: Path) -> None:
    run, _ = run_codex(failing(429, "rate_limit_exceeded", "Rate limit reached"), worktree, run_dir)
    assert run.is_error and run.rate_limited
    assert "429" in run.error


def test_codex_hung_server_is_killed_by_our_timeout(worktree: Path, run_dir: Path) -> None:
    run, paths = run_codex(lambda request: Hang(), worktree, run_dir, timeout_s=3.0)
    assert paths == ["/v1/responses"]
    assert run.timed_out and run.exit_code is None and run.is_error
    assert run.duration_s < 10
    assert processes_using(worktree, run_dir) == []


def test_codex_print_mode_returns_the_last_message(run_dir: Path) -> None:
    script = ResponsesScript([Say("Goal: greet")])
    with serving(script) as server:
        answer = print_mode(codex_spec(f"{server.url}/v1", 30.0), "Format this issue.", run_dir, ENVIRON)
    assert answer == "Goal: greet"
