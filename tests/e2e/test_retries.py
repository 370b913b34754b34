"""Transient failures end to end on the sandbox: a crash, a rate limit, a refused PR creation and a refused
push are retried (after a backoff or the cooldown, with an injected clock) and merge — never escalated at
once, never left in running/."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agents import run_agent
from orchestrator.executors.task_runner import AgentRunner
from orchestrator.github.errors import GitHubError
from orchestrator.jobs import dispatcher, queue
from orchestrator.values.models import AgentRun, TaskState
from orchestrator.views.status import render_status
from tests.e2e.scripted import all_pulls, events, forge_api, later, monitor_until_closed, one_agent

pytestmark = pytest.mark.slow


def merged(ctx, sandbox, number: int) -> None:
    """pr_monitor merges the open PR within four ticks: the issue is closed by that one PR."""
    assert monitor_until_closed(ctx, sandbox, number) and len(all_pulls(sandbox)) == 1


def retried_and_merged(ctx, sandbox, number: int, runner: AgentRunner | None = None, **wait: float) -> None:
    """Once `wait` (default five minutes: past the backoff) has passed, the retry opens a PR, which is `merged`."""
    later(ctx, **(wait or {"minutes": 5}))
    assert queue.run(ctx, runner=runner).opened
    merged(ctx, sandbox, number)


def nothing_running(ctx) -> bool:
    return not ctx.mailbox.list(TaskState.RUNNING)


def outcome(ctx, report, state: str) -> str:
    """The queue run ended the attempt as `state` (one event), without errors and with nothing left running:
    the reason it gave."""
    assert not report.errors and nothing_running(ctx)
    (event,) = [e for e in events(ctx) if e["state"] == state]
    return event["reason"]


def solo_dispatched(sandbox, tmp_path):
    """The setup with one issue, dispatched to the one agent `solo`, which adds slugify() and is done."""
    s = one_agent(sandbox, tmp_path, "slugify_files(); done()", name="solo")
    dispatcher.run(s.ctx)
    return s


def runner_then(ctx, after: Callable[[], None]) -> AgentRunner:
    """The real agent runner, then `after()`: what happens once the agent has run, before our push."""

    def runner(spec, prompt, worktree: Path, run_dir: Path, git=None) -> AgentRun:
        run = run_agent(spec, prompt, worktree, run_dir, environ=ctx.environ, git=git)
        after()
        return run

    return runner


def first_try(outcome: str) -> str:
    """Agent code: true on the first try, judged from what the sandboxed agent legitimately sees — the prompt
    lists every earlier attempt with its outcome (the agent cannot keep state outside its worktree)."""
    return f"not re.search(r'### Attempt \\d+ by solo: {outcome}', prompt)"


def test_one_agent_that_crashes_once_is_merged_on_its_second_attempt(sandbox, tmp_path):
    body = f"""
    import re
    if {first_try("crash")}:
        print("segfault in the agent", file=sys.stderr)
        sys.exit(3)
    slugify_files(); done()
    """
    s = one_agent(sandbox, tmp_path, body, name="solo")
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    dispatcher.run(ctx)
    report = queue.run(ctx)
    assert not report.escalated and report.waiting and nothing_running(ctx)
    assert not queue.run(ctx).opened, "the retry waits out its backoff"
    retried_and_merged(ctx, sandbox, number)
    (done,) = ctx.mailbox.list(TaskState.DONE)
    assert done.task is not None and done.task.attempt == 2
    assert [e["state"] for e in events(ctx) if e.get("agent") == "solo"][2:4] == ["crash", "agent_started"]


def test_a_one_agent_chain_hitting_a_429_waits_for_the_cooldown_then_merges(sandbox, tmp_path):
    body = f"""
    import re
    if {first_try("rate_limited")}:
        print('{{"is_error": true, "error": "429 Too Many Requests: retry after 120 seconds"}}')
        sys.exit(1)
    slugify_files(); done()
    """
    s = one_agent(sandbox, tmp_path, body, name="solo", max_attempts=1)
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    dispatcher.run(ctx)
    report = queue.run(ctx)
    assert not report.escalated, "a rate limit is not the agent's fault, even on its last attempt"
    limited = [e for e in events(ctx) if e["state"] == "rate_limited"]
    assert len(limited) == 1
    later(ctx, seconds=60)
    assert not queue.run(ctx).opened, "still cooling down (the CLI said 120 s)"
    status = render_status(ctx.config, ctx.paths, now=ctx.clock(), width=200)
    assert "rate limited: solo cools down" in status
    assert [e["state"] for e in events(ctx)].count("agent_started") == 1, "not even claimed while cooling"
    retried_and_merged(ctx, sandbox, number, seconds=130)


class PushLostForge:
    """The forge as seen by the queue, except that the first PR creation finds the task branch back at the
    base (as when a push did not reach the branch): GitHub then answers 422 "No commits between"."""

    def __init__(self, forge: Any, sandbox: Any) -> None:
        self._forge, self._sandbox = forge, sandbox
        self.sabotaged = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._forge, name)

    def create_pull(self, repo: str, **kw: Any) -> Any:
        if not self.sabotaged:
            self.sabotaged = True
            base = self._forge.get_branch_sha(repo, kw["base"])
            forge_api(
                self._sandbox,
                "PATCH",
                f"/repos/{repo}/git/refs/heads/{kw['head']}",
                {"sha": base, "force": True},
            )
        return self._forge.create_pull(repo, **kw)


def test_a_refused_pr_creation_is_an_outcome_and_the_retry_merges(sandbox, tmp_path):
    s = solo_dispatched(sandbox, tmp_path)
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    ctx.forge = PushLostForge(ctx.forge, sandbox)
    report = queue.run(ctx)
    assert not report.opened and "No commits between" in outcome(ctx, report, "pr_failed")
    retried_and_merged(ctx, sandbox, number)


def test_a_refused_push_is_an_outcome_and_the_retry_merges(sandbox, tmp_path):
    """Someone else pushes to the task branch while the agent runs: our push is refused (not a fast-forward)."""
    s = solo_dispatched(sandbox, tmp_path)
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    (queued,) = ctx.mailbox.list(TaskState.INBOX)
    assert queued.task is not None
    branch = queued.task.branch
    other = tmp_path / "other-host"
    url = s.seeded.clone_url.replace("://", f"://x-access-token:{sandbox.token}@")
    subprocess.run(["git", "clone", "-q", url, str(other)], check=True)
    pushed: list[str] = []

    def a_rival_push() -> None:
        if not pushed:
            (other / "RIVAL.md").write_text("someone else's commit\n")
            git = ["git", "-C", str(other)]
            subprocess.run([*git, "add", "RIVAL.md"], check=True)
            subprocess.run([*git, "commit", "-qm", "rival"], check=True)
            subprocess.run([*git, "push", "-q", "origin", f"HEAD:refs/heads/{branch}"], check=True)
            pushed.append(branch)

    runner = runner_then(ctx, a_rival_push)
    report = queue.run(ctx, runner=runner)
    assert "someone else pushed" in outcome(ctx, report, "push_rejected")
    if report.opened:  # the same agent goes on at once (gittrust's push_rejected); else after a wait
        merged(ctx, sandbox, number)
    else:
        retried_and_merged(ctx, sandbox, number, runner=runner)


def test_a_git_error_after_the_agent_ran_is_an_outcome_and_the_retry_merges(sandbox, tmp_path):
    """The forge's repository cannot be reached while the agent's work is pushed (an outage): the push fails
    with a git error — the attempt ends as `push_failed`, never left in running/, and is retried later."""
    s = solo_dispatched(sandbox, tmp_path)
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    (remote,) = (tmp_path / "sandbox").glob("git/*/textkit.git")
    away = remote.with_name("textkit.git.away")

    try:  # the forge's git goes away before our push
        report = queue.run(ctx, runner=runner_then(ctx, lambda: remote.rename(away)))
    finally:
        away.rename(remote)
    assert not report.opened and "not pushed" in outcome(ctx, report, "push_failed")
    retried_and_merged(ctx, sandbox, number)


def test_github_down_before_the_agent_is_an_infrastructure_retry(sandbox, tmp_path):
    ctx = solo_dispatched(sandbox, tmp_path).ctx

    class Down:
        """The forge while GitHub is down: every call answers 502; its request statistics stay readable."""

        def __init__(self, forge: Any) -> None:
            self._forge = forge

        def __getattr__(self, name: str) -> Any:
            if not callable(value := getattr(self._forge, name)):
                return value

            def fail(*args: Any, **kw: Any) -> Any:
                raise GitHubError("GitHub answered 502 (test)", 502)

            return fail

    real = ctx.forge
    ctx.forge = Down(real)
    report = queue.run(ctx)
    ctx.forge = real
    assert not report.opened and nothing_running(ctx)
    (entry,) = ctx.mailbox.list(TaskState.INBOX)
    assert entry.task is not None and "infra-retry 1" in entry.task.notes and "502" in entry.task.notes
    later(ctx, minutes=5)
    assert queue.run(ctx).opened
