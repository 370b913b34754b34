"""Run an agent CLI once, contained: a sandbox (containment/), fresh HOME, an environment built from scratch,
hard and stall timeouts, and everything it started killed when it ends.

An AgentRun's `is_error` is true whenever the run failed: the CLI reported an error, exited non-zero, could
not start, or was killed (then `timed_out` / `stalled` say which timeout); `error` is one line saying why.

`run_agent` is what the queue calls for a task; `print_mode` asks an agent for a one-shot text answer
(formatting an issue into a task, judging a result) without letting it touch a worktree: it runs in an empty
scratch directory with no repository.
The stall timeout counts progress, not output: each adapter names the output lines that are model or tool
progress (its structured events), so a CLI printing "reconnecting…" forever is still stopped.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from orchestrator.agents.adapter import Adapter, Invocation, Outcome, last_stderr_line, one_line
from orchestrator.agents.claude import ClaudeAdapter
from orchestrator.agents.codex import CodexAdapter
from orchestrator.agents.deepseek import DeepSeekAdapter
from orchestrator.agents.environment import MissingApiKey, Workspace, prepare_workspace
from orchestrator.agents.gemini import GeminiAdapter
from orchestrator.agents.script import ScriptAdapter
from orchestrator.agents.spec import AgentSpec
from orchestrator.containment.layout import Job
from orchestrator.containment.private_git import GitSource, GitSourceError, source_from_worktree
from orchestrator.containment.sandbox import IsolationUnavailable, contained
from orchestrator.edges import process
from orchestrator.values.models import AgentRun

log = logging.getLogger(__name__)

TAIL_CHARS = 8000

ADAPTERS: Mapping[str, Adapter] = {
    "claude": ClaudeAdapter(),
    "codex": CodexAdapter(),
    "gemini": GeminiAdapter(),
    "deepseek": DeepSeekAdapter(),
    "script": ScriptAdapter(),
}


class PrintModeFailed(Exception):
    """A print-mode call produced no usable answer; `run` says why (error, timeout, exit code)."""

    def __init__(self, run: AgentRun) -> None:
        super().__init__(f"agent {run.agent}: {run.error or 'no answer'}")
        self.run = run


def run_agent(
    spec: AgentSpec,
    prompt: str,
    worktree: Path,
    run_dir: Path,
    *,
    environ: Mapping[str, str] = os.environ,
    git: GitSource | None = None,
) -> AgentRun:
    """Let the agent work on `prompt` in `worktree`; never raises for anything the agent does.

    `git` is our clone's view of the worktree (from which the agent's private git dir is made); without it,
    the worktree's own `.git` is read as data."""
    if not worktree.is_dir():
        return not_started(spec, f"worktree {worktree} is not a directory")
    adapter = ADAPTERS[spec.kind]
    try:
        source = git if git is not None else source_from_worktree(worktree)
        workspace = prepare_workspace(spec, prompt, worktree, run_dir, environ)
    except MissingApiKey as exc:
        return not_started(spec, str(exc))
    except (GitSourceError, OSError) as exc:
        return not_started(spec, f"cannot read the worktree's git metadata: {exc}")
    run, _ = _execute(spec, adapter, adapter.invocation(spec, workspace), workspace, source)
    return run


def print_mode(spec: AgentSpec, prompt: str, run_dir: Path, environ: Mapping[str, str] = os.environ) -> str:
    """A one-shot text answer to `prompt` (no editing tools, run in an empty scratch directory).

    Raises PrintModeFailed when the agent errs, times out or answers nothing.
    """
    adapter = ADAPTERS[spec.kind]
    scratch = run_dir / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        workspace = prepare_workspace(spec, prompt, scratch, run_dir, environ)
    except MissingApiKey as exc:
        raise PrintModeFailed(not_started(spec, str(exc))) from exc
    run, answer = _execute(spec, adapter, adapter.print_invocation(spec, workspace), workspace)
    if not run.ok:
        raise PrintModeFailed(run)
    if not answer.strip():
        raise PrintModeFailed(_with_error(run, "the agent printed no answer"))
    return answer.strip()


def _execute(
    spec: AgentSpec,
    adapter: Adapter,
    invocation: Invocation,
    workspace: Workspace,
    git: GitSource | None = None,
) -> tuple[AgentRun, str]:
    log.info(
        "agent start agent=%s kind=%s isolation=%s dir=%s",
        spec.name,
        spec.kind,
        spec.isolation.mode,
        workspace.directory,
    )
    missing = _missing_binary(invocation, workspace.worktree)
    if missing:
        log.warning("agent cannot start agent=%s error=%s", spec.name, missing)
        return not_started(spec, missing), ""
    job = Job(
        command=with_stdin_from_file(invocation),
        env=invocation.env,
        workdir=workspace.worktree,
        home=workspace.home,
        tmp=workspace.tmp,
        scratch=workspace.sandbox_dir,
        tools=(invocation.argv[0],),
        read_only=_files_named(invocation),
        git=git,
    )
    try:
        with contained(spec.isolation, job) as launch:
            result = process.run(
                launch.argv,
                cwd=launch.cwd,
                env=launch.env,
                timeout=spec.timeout_s,
                stall_timeout=spec.stall_timeout_s,
                # recorded so a queue that crashes mid-run can have everything the agent started killed
                on_start=lambda pid: process.write_pidfile(
                    workspace.directory / "agent.pid", pid, launch.marker
                ),
                progress=adapter.progress_filter(spec),
                marker=launch.marker,
            )
    except IsolationUnavailable as exc:
        log.error("agent not started agent=%s isolation unavailable: %s", spec.name, exc)
        return not_started(spec, one_line(f"isolation unavailable: {exc}", 600)), ""
    except process.ProcessError as exc:
        run = AgentRun(
            agent=spec.name, exit_code=None, duration_s=0.0, is_error=True, error=one_line(str(exc))
        )
        log.warning("agent cannot start agent=%s error=%s", spec.name, run.error)
        return run, ""
    (workspace.directory / "stdout.log").write_text(result.stdout, encoding="utf-8")
    (workspace.directory / "stderr.log").write_text(result.stderr, encoding="utf-8")
    outcome = adapter.parse(spec, result)
    run = _agent_run(spec, result, outcome, counts_events=adapter.progress_filter(spec) is not None)
    log.info(
        "agent end agent=%s exit=%s ok=%s duration_s=%.1f cost_usd=%s turns=%s error=%s",
        spec.name,
        run.exit_code,
        run.ok,
        run.duration_s,
        run.cost_usd,
        run.turns,
        run.error or "-",
    )
    return run, outcome.answer


def with_stdin_from_file(invocation: Invocation) -> tuple[str, ...]:
    """argv that reads stdin from the prompt file: `sh -c 'exec "$@" < "$0"' FILE argv...`.

    The shell replaces itself with the CLI (same pid, same process group). A file, unlike a pipe written
    before the output is read, cannot block on a prompt larger than the pipe buffer or on a CLI that never
    reads its stdin, both of which would escape the timeouts.
    """
    if invocation.stdin_file is None:
        return invocation.argv
    return ("/bin/sh", "-c", 'exec "$@" < "$0"', str(invocation.stdin_file), *invocation.argv)


def _files_named(invocation: Invocation) -> tuple[Path, ...]:
    """What the sandbox shows read-only besides the CLI's installation: the prompt file, and files the
    configured command names by absolute path (a script agent's own script, e.g. `python3 /opt/agent.py`)."""
    named = [Path(arg) for arg in invocation.argv[1:] if arg.startswith("/") and Path(arg).is_file()]
    if invocation.stdin_file is not None:
        named.append(invocation.stdin_file)
    return tuple(dict.fromkeys(named))


def _missing_binary(invocation: Invocation, cwd: Path) -> str:
    binary = invocation.argv[0]
    if "/" in binary:
        path = Path(binary) if Path(binary).is_absolute() else cwd / binary
        return (
            ""
            if os.access(path, os.X_OK) and path.is_file()
            else f"cannot start {binary!r}: not an executable file"
        )
    if shutil.which(binary, path=invocation.env.get("PATH", os.defpath)):
        return ""
    return f"cannot start {binary!r}: not found on PATH"


def _agent_run(
    spec: AgentSpec, result: process.ProcessResult, outcome: Outcome, counts_events: bool = False
) -> AgentRun:
    is_error, error = outcome.is_error, outcome.error
    if result.timed_out:
        is_error, error = True, f"timed out after {spec.timeout_s:g} s; everything it started was killed"
    elif result.stalled:
        what = "no progress (no model or tool event)" if counts_events else "no output"
        error = f"stalled: {what} for {spec.stall_timeout_s:g} s; everything it started was killed"
        is_error = True
    elif result.returncode != 0 and not is_error:
        is_error = True
        detail = last_stderr_line(result) or "no message on stderr"
        error = one_line(f"exited with code {result.returncode}: {detail}")
    return AgentRun(
        agent=spec.name,
        exit_code=result.returncode,
        duration_s=result.duration_s,
        timed_out=result.timed_out,
        stalled=result.stalled,
        is_error=is_error,
        error=error,
        rate_limited=outcome.rate_limited,
        retry_after_s=outcome.retry_after_s,
        cost_usd=outcome.cost_usd,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        turns=outcome.turns,
        stdout_tail=process.tail(result.stdout, TAIL_CHARS),
        stderr_tail=process.tail(result.stderr, TAIL_CHARS),
        extra=dict(outcome.extra),
    )


def not_started(spec: AgentSpec, error: str) -> AgentRun:
    """The AgentRun of an agent that could not be started at all."""
    return AgentRun(agent=spec.name, exit_code=None, duration_s=0.0, is_error=True, error=error)


def _with_error(run: AgentRun, error: str) -> AgentRun:
    return replace(run, is_error=True, error=error)
