"""#13.13 Stall detection counts progress, not output: each adapter names its model/tool events, and chatter
("Reconnecting… waiting for network", retries, warnings) no longer keeps a stuck run alive."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from orchestrator.agents import AgentSpec
from orchestrator.agents.claude import is_progress as claude_progress
from orchestrator.agents.codex import is_progress as codex_progress
from orchestrator.agents.gemini import is_progress as gemini_progress
from orchestrator.edges import process
from tests.agents.conftest import cli_spec, processes_using, run_cli
from tests.agents.fake_http import Hang

SAMPLES = Path(__file__).parent / "samples"
RECONNECT = json.dumps({"type": "error", "message": "Reconnecting... 1/5 (waiting for network)"})
RECONNECT_ITEM = json.dumps({"type": "item.completed", "item": {"id": "i", "type": "error", "message": "x"}})


@pytest.mark.parametrize(
    ("line", "progress"),
    [
        ('{"type":"thread.started","thread_id":"t"}', True),
        ('{"type":"turn.started"}', True),
        ('{"type":"item.started","item":{"type":"command_execution"}}', True),
        ('{"type":"item.completed","item":{"type":"agent_message","text":"hi"}}', True),
        ('{"type":"turn.completed","usage":{}}', True),
        (RECONNECT, False),
        (RECONNECT_ITEM, False),
        ("Reconnecting... waiting for network", False),
        ("", False),
        ("{not json", False),
    ],
)
def test_codex_progress_is_turns_and_non_error_items(line: str, progress: bool) -> None:
    assert codex_progress(line) is progress


def test_every_line_of_a_successful_recorded_run_is_progress_except_warnings() -> None:
    lines = (SAMPLES / "codex_success.jsonl").read_text().splitlines()
    assert [codex_progress(line) for line in lines].count(False) == 1  # the model-metadata warning item
    claude = (SAMPLES / "claude_stream_success.jsonl").read_text().splitlines()
    assert all(claude_progress(line) for line in claude)
    gemini = (SAMPLES / "gemini_stream_success.jsonl").read_text().splitlines()
    assert all(gemini_progress(line) for line in gemini if line.strip())


@pytest.mark.parametrize(
    ("predicate", "line", "progress"),
    [
        (claude_progress, '{"type":"system","subtype":"api_retry","attempt":1}', False),
        (claude_progress, '{"type":"system","subtype":"init"}', True),
        (claude_progress, '{"type":"assistant","message":{}}', True),
        (gemini_progress, '{"type":"error","severity":"warning","message":"retrying"}', False),
        (gemini_progress, '{"type":"tool_use","tool_name":"run_shell_command"}', True),
    ],
)
def test_retries_and_warnings_of_claude_and_gemini_are_not_progress(
    predicate, line: str, progress: bool
) -> None:
    assert predicate(line) is progress


def test_process_run_stalls_on_chatter_that_is_not_progress() -> None:
    noisy = f"while :; do echo '{RECONNECT}'; echo chatter >&2; sleep 0.2; done"
    started = time.monotonic()
    res = process.run(["sh", "-c", noisy], timeout=30, stall_timeout=1.5, progress=codex_progress)
    assert res.stalled and not res.timed_out
    assert time.monotonic() - started < 10
    assert "Reconnecting" in res.stdout


def test_process_run_keeps_a_run_alive_while_progress_lines_come() -> None:
    line = '{"type":"item.completed","item":{"type":"command_execution"}}'
    steady = f"for i in 1 2 3 4 5 6 7 8; do echo '{line}'; sleep 0.3; done"
    res = process.run(["sh", "-c", steady], timeout=30, stall_timeout=1.0, progress=codex_progress)
    assert res.ok and res.stdout.count("command_execution") == 8


def test_a_progress_line_split_across_reads_still_counts() -> None:
    line = '{"type":"turn.started"}'
    split = f"for i in 1 2 3 4 5; do printf '{line[:10]}'; sleep 0.4; printf '{line[10:]}\\n'; done"
    res = process.run(["sh", "-c", split], timeout=30, stall_timeout=1.0, progress=codex_progress)
    assert res.ok, "each line completed within the stall limit"


@pytest.mark.npm
def test_real_codex_against_a_silent_server_stops_at_the_stall_limit(worktree: Path, run_dir: Path) -> None:
    def spec_for(url: str) -> AgentSpec:
        return cli_spec("codex", f"{url}/v1", model="gpt-5-codex", timeout_s=120.0, stall_timeout_s=3.0)

    started = time.monotonic()
    environ = {"PATH": "/usr/local/bin:/usr/bin:/bin", "OPENAI_API_KEY": "sk-openai-fake"}
    run, _ = run_cli(spec_for, lambda request: Hang(), worktree, run_dir, environ)
    assert run.stalled and not run.timed_out, run.error
    assert time.monotonic() - started < 30, "stopped at the stall limit, far before the hard timeout"
    assert run.error.startswith("stalled: no progress (no model or tool event) for 3 s")
    assert processes_using(worktree, run_dir) == []
