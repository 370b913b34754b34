"""The real Gemini CLI driven through run_agent against a fake Gemini API (streamGenerateContent, SSE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.agents import AgentSpec, print_mode
from orchestrator.values.models import AgentRun
from tests.agents.conftest import assert_greeting_changed, cli_spec, processes_using, run_cli
from tests.agents.fake_gemini import CANDIDATE_TOKENS, PROMPT_TOKENS, GeminiScript, failing
from tests.agents.fake_http import Hang, Responder, serving
from tests.agents.scripts import Say, shell_script

pytestmark = pytest.mark.npm

ENVIRON = {"PATH": "/usr/local/bin:/usr/bin:/bin", "GEMINI_API_KEY": "gm-fake-key", "GITHUB_TOKEN": "ghp_x"}
STREAM_PATH = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"


def gemini_spec(base_url: str, timeout_s: float, max_turns: int = 10) -> AgentSpec:
    return cli_spec(
        "gemini",
        base_url,
        timeout_s=timeout_s,
        model="gemini-2.5-pro",
        max_turns=max_turns,
        price_per_million_input=1.25,
        price_per_million_output=10.0,
    )


def run_gemini(
    responder: Responder, worktree: Path, run_dir: Path, timeout_s: float = 40.0, max_turns: int = 10
) -> tuple[AgentRun, list[str]]:
    return run_cli(lambda url: gemini_spec(url, timeout_s, max_turns), responder, worktree, run_dir, ENVIRON)


def test_gemini_edits_the_worktree_and_reports_tokens_cost_and_turns(worktree: Path, run_dir: Path) -> None:
    script = GeminiScript(shell_script("run_shell_command", "command"))
    run, paths = run_gemini(script, worktree, run_dir)
    assert_greeting_changed(run, worktree)
    assert (run.input_tokens, run.output_tokens, run.turns) == (3 * PROMPT_TOKENS, 3 * CANDIDATE_TOKENS, 3)
    assert run.cost_usd == pytest.approx((3 * PROMPT_TOKENS * 1.25 + 3 * CANDIDATE_TOKENS * 10.0) / 1e6)
    assert paths == [STREAM_PATH] * 3
    headers = {name.lower(): value for name, value in script.last_headers.items()}
    assert headers["x-goog-api-key"] == "gm-fake-key"
    prompt_parts = [part.get("text", "") for part in script.last_body["contents"][0]["parts"]]
    assert "Change the greeting in hello.txt." in prompt_parts  # the prompt came in on stdin


def test_gemini_api_error_exits_non_zero_with_the_error(worktree: Path, run_dir: Path) -> None:
    run, paths = run_gemini(failing(500, "INTERNAL", "Internal error encountered."), worktree, run_dir)
    assert run.is_error and not run.rate_limited and run.exit_code not in (0, None)
    assert run.error == "API error 500: Internal error encountered."
    assert paths == [STREAM_PATH]  # general.maxAttempts = 1: no retries for minutes
    # Quota errors and the turn cap are checked on recorded output in test_parsers.py.


def test_gemini_hung_server_is_killed_by_our_timeout(worktree: Path, run_dir: Path) -> None:
    run, paths = run_gemini(lambda request: Hang(), worktree, run_dir, timeout_s=10.0)
    assert paths, "gemini never reached the fake server"
    assert run.timed_out and run.exit_code is None and run.is_error
    assert processes_using(worktree, run_dir) == []


def test_gemini_print_mode_returns_the_response(run_dir: Path) -> None:
    with serving(GeminiScript([Say("Goal: greet")])) as server:
        answer = print_mode(gemini_spec(server.url, 40.0), "Format this issue.", run_dir, ENVIRON)
    assert answer == "Goal: greet"


def test_gemini_quota_error_is_rate_limited_with_the_servers_retry_delay(
    worktree: Path, run_dir: Path
) -> None:
    from tests.agents.fake_http import JsonReply

    def quota(request):  # what Google answers: RESOURCE_EXHAUSTED with a RetryInfo detail
        return JsonReply(
            429,
            {
                "error": {
                    "code": 429,
                    "message": "You exceeded your current quota. Please retry in 34.5s.",
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34s"}],
                }
            },
        )

    run, paths = run_gemini(quota, worktree, run_dir)
    assert run.is_error and run.rate_limited
    assert run.retry_after_s is not None and 34 <= run.retry_after_s <= 35
    assert len(paths) == 1, "no client-side retries (general.maxAttempts = 1)"
