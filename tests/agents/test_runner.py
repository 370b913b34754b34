"""run_agent / print_mode with the `script` kind: real subprocesses, real timeouts, real environment."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from orchestrator.agents import AgentSpec, PrintModeFailed, print_mode, run_agent
from tests.agents.conftest import processes_using

PARENT_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "GITHUB_TOKEN": "ghp_parent_secret",
    "GH_TOKEN": "gho_parent_secret",
    "OPENAI_API_KEY": "sk-other-agent",
    "AWS_SECRET_ACCESS_KEY": "aws-parent-secret",
    "SCRIPT_AGENT_KEY": "sk-this-agent",
}


def script(command: str, **overrides: object) -> AgentSpec:
    fields: dict[str, object] = {
        "name": "scripted",
        "kind": "script",
        "command": ("/bin/sh", "-c", command, "agent", "{prompt_file}", "{worktree}", "{run_dir}"),
        "timeout_s": 20.0,
        "stall_timeout_s": 20.0,
    }
    fields.update(overrides)
    return AgentSpec(**fields)  # type: ignore[arg-type]


def test_script_edits_the_worktree_and_reports_cost_and_turns(worktree: Path, run_dir: Path) -> None:
    spec = script(
        'printf "changed\\n" > hello.txt; printf "STATUS: complete\\nSUMMARY: ok\\n" > .agent_result.md;'
        ' echo "working"; echo \'{"cost_usd": 0.25, "turns": 4, "input_tokens": 10, "output_tokens": 2}\''
    )
    run = run_agent(spec, "do it", worktree, run_dir, environ=PARENT_ENV)
    assert run.ok, run.error
    assert (worktree / "hello.txt").read_text() == "changed\n"
    assert (worktree / ".agent_result.md").read_text().startswith("STATUS: complete")
    assert (run.cost_usd, run.turns, run.input_tokens, run.output_tokens) == (0.25, 4, 10, 2)
    assert run.exit_code == 0 and run.duration_s > 0
    assert "working" in run.stdout_tail


def test_cost_is_priced_from_tokens_when_the_script_reports_none(worktree: Path, run_dir: Path) -> None:
    spec = script(
        'echo \'{"input_tokens": 1000000, "output_tokens": 500000}\'',
        price_per_million_input=2.0,
        price_per_million_output=10.0,
    )
    run = run_agent(spec, "x", worktree, run_dir, environ=PARENT_ENV)
    assert run.cost_usd == pytest.approx(7.0)


def test_environment_is_scrubbed_with_own_key_home_and_extra_env(worktree: Path, run_dir: Path) -> None:
    # the run directory itself is not visible inside the sandbox: the agent writes into its worktree ($2)
    spec = script('env > "$2/env.txt"', api_key_env="SCRIPT_AGENT_KEY", env={"AGENT_MODE": "test"})
    run = run_agent(spec, "x", worktree, run_dir, environ=PARENT_ENV)
    assert run.ok, run.error
    env = dict(line.split("=", 1) for line in (worktree / "env.txt").read_text().splitlines() if "=" in line)
    for secret in ("ghp_parent_secret", "gho_parent_secret", "sk-other-agent", "aws-parent-secret"):
        assert secret not in env.values()
    assert not {"GITHUB_TOKEN", "GH_TOKEN", "OPENAI_API_KEY", "SCRIPT_AGENT_KEY"} & env.keys()
    assert env["AGENT_API_KEY"] == "sk-this-agent"
    assert env["AGENT_MODE"] == "test"
    assert env["PATH"] == PARENT_ENV["PATH"]
    home = Path(env["HOME"])
    assert home.is_dir() and run_dir in home.parents
    assert Path(env["XDG_CONFIG_HOME"]).parent == home
    assert Path(env["TMPDIR"]).is_dir() and Path(env["TMPDIR"]).parent == home.parent


def test_large_prompt_reaches_stdin_and_prompt_file_intact(worktree: Path, run_dir: Path) -> None:
    prompt = "line of the task prompt ✓\n" * 60_000  # ≈ 1.6 MB, far beyond a pipe buffer
    spec = script('cat > "$2/stdin.txt"; cp "$1" "$2/file.txt"')
    run = run_agent(spec, prompt, worktree, run_dir, environ=PARENT_ENV)
    assert run.ok, run.error
    assert (worktree / "stdin.txt").read_text(encoding="utf-8") == prompt
    assert (worktree / "file.txt").read_text(encoding="utf-8") == prompt


def test_a_command_that_never_reads_a_large_prompt_still_times_out(worktree: Path, run_dir: Path) -> None:
    spec = script("sleep 60", timeout_s=1.0)
    started = time.monotonic()
    run = run_agent(spec, "x" * 1_000_000, worktree, run_dir, environ=PARENT_ENV)
    assert run.timed_out and time.monotonic() - started < 10
    assert run.exit_code is None and not run.ok
    assert "timed out after 1 s" in run.error


def test_timeout_kills_the_whole_process_group(worktree: Path, run_dir: Path) -> None:
    spec = script("sleep 300 & sleep 301 & echo started; wait", timeout_s=1.5)
    run = run_agent(spec, "x", worktree, run_dir, environ=PARENT_ENV)
    assert run.timed_out
    assert "started" in run.stdout_tail
    assert processes_using(worktree) == []


def test_stall_timeout_when_the_agent_goes_quiet(worktree: Path, run_dir: Path) -> None:
    spec = script("echo thinking; sleep 300", timeout_s=30.0, stall_timeout_s=1.0)
    started = time.monotonic()
    run = run_agent(spec, "x", worktree, run_dir, environ=PARENT_ENV)
    assert run.stalled and not run.timed_out
    assert time.monotonic() - started < 10
    assert run.error.startswith("stalled: no output for 1 s")
    assert processes_using(worktree) == []


def test_non_zero_exit_is_an_error_naming_the_last_stderr_line(worktree: Path, run_dir: Path) -> None:
    run = run_agent(
        script("echo warming up >&2; echo boom >&2; exit 3"), "x", worktree, run_dir, environ=PARENT_ENV
    )
    assert run.is_error and run.exit_code == 3
    assert run.error == "exited with code 3: boom"
    assert not run.rate_limited


def test_a_reported_error_line_marks_the_run_failed_and_rate_limited(worktree: Path, run_dir: Path) -> None:
    line = json.dumps({"is_error": True, "error": "429 Too Many Requests"})
    run = run_agent(script(f"echo '{line}'"), "x", worktree, run_dir, environ=PARENT_ENV)
    assert run.exit_code == 0 and run.is_error and run.rate_limited
    assert run.error == "429 Too Many Requests"


def test_missing_binary_is_a_clear_error(worktree: Path, run_dir: Path) -> None:
    spec = AgentSpec(name="ghost", kind="script", command=("no-such-agent-cli",))
    run = run_agent(spec, "x", worktree, run_dir, environ=PARENT_ENV)
    assert run.is_error and run.exit_code is None
    assert run.error == "cannot start 'no-such-agent-cli': not found on PATH"


def test_missing_worktree_is_a_clear_error(tmp_path: Path, run_dir: Path) -> None:
    run = run_agent(script("true"), "x", tmp_path / "gone", run_dir, environ=PARENT_ENV)
    assert run.is_error and run.error == f"worktree {tmp_path / 'gone'} is not a directory"


def test_missing_api_key_is_a_clear_error(worktree: Path, run_dir: Path) -> None:
    spec = script("true", api_key_env="NOT_SET_ANYWHERE")
    run = run_agent(spec, "x", worktree, run_dir, environ=PARENT_ENV)
    assert run.is_error and "NOT_SET_ANYWHERE is not set" in run.error


def test_run_output_is_kept_in_the_run_directory(worktree: Path, run_dir: Path) -> None:
    run_agent(
        script("echo to-stdout; echo to-stderr >&2"), "the prompt", worktree, run_dir, environ=PARENT_ENV
    )
    (directory,) = [p for p in run_dir.iterdir() if p.is_dir()]
    assert (directory / "stdout.log").read_text() == "to-stdout\n"
    assert (directory / "stderr.log").read_text() == "to-stderr\n"
    assert (directory / "prompt.md").read_text() == "the prompt"


def test_print_mode_returns_the_answer(run_dir: Path) -> None:
    spec = script('read question; echo "answer to: $question"')
    assert print_mode(spec, "what?\n", run_dir, PARENT_ENV) == "answer to: what?"


def test_print_mode_failure_raises_with_the_run(run_dir: Path) -> None:
    with pytest.raises(PrintModeFailed) as failure:
        print_mode(script("echo nope >&2; exit 2"), "q", run_dir, PARENT_ENV)
    assert failure.value.run.error == "exited with code 2: nope"
    with pytest.raises(PrintModeFailed, match="printed no answer"):
        print_mode(script("true"), "q", run_dir, PARENT_ENV)
