"""Follow-ups on real timescales: an agent slower than the pr_monitor cadence. An attempt is counted once, when
it ends (no escalation while the first one still runs, one claim per attempt); a task the queue escalated is not
re-queued by pr_monitor while its PR stays red; a good push after an escalation still merges."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from orchestrator.demo.runner import REPO
from orchestrator.edges.process import run
from orchestrator.executors import ref_claims
from orchestrator.jobs import pr_monitor, queue
from orchestrator.values.models import TaskState
from orchestrator.values.task_identity import identity_of
from tests.e2e.scripted import all_pulls, events, one_agent
from tests.e2e.test_merge_gate import the_pull, work

pytestmark = pytest.mark.slow
CI_BREAKER = f"{sys.executable} -m pytest -q && test ! -f BREAKS_CI"


def test_a_slow_fix_spanning_several_ticks_is_one_attempt_and_its_good_push_merges(sandbox, tmp_path):
    # the agent runs sandboxed: it sees only its worktree, so the test talks to it through files there
    body = """
    if "Make CI pass" in prompt:
        Path("FIX_STARTED").write_text("x")
        while not Path("GO").exists():
            import time; time.sleep(0.1)
        for name in ("FIX_STARTED", "GO", "BREAKS_CI"):
            Path(name).unlink()
        done(summary="removed the CI breaker")
    else:
        slugify_files(); Path("BREAKS_CI").write_text("x"); done()
    """
    s = one_agent(sandbox, tmp_path, body, timeout_minutes=5, max_ci_fix_attempts=1)
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    sandbox.set_ci_command(REPO, CI_BREAKER)
    work(ctx, sandbox)
    pull = the_pull(sandbox)
    assert pr_monitor.run(ctx).follow_ups == [pull["number"]]

    worker = threading.Thread(target=queue.run, args=(ctx,))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not list(ctx.paths.worktrees.glob("*/*/FIX_STARTED")) and time.monotonic() < deadline:
            time.sleep(0.1)
        started = list(ctx.paths.worktrees.glob("*/*/FIX_STARTED"))
        assert started, "the fix never started"
        for _ in range(4):  # pr_monitor ticks every minute; the agent takes longer
            report = pr_monitor.run(ctx)
            assert not report.follow_ups and not report.escalated, report
            assert "follow-up is at work" in report.waiting[pull["number"]]
    finally:
        for marker in ctx.paths.worktrees.glob("*/*/FIX_STARTED"):
            (marker.parent / "GO").write_text("go")
        worker.join(timeout=120)
    sandbox.wait_ci_idle(timeout=120)
    assert pr_monitor.run(ctx).merged == [pull["number"]]
    assert ctx.forge.get_issue(REPO, number).state == "closed"
    assert [e["state"] for e in events(ctx)].count("fix_ci") == 1
    assert not ctx.forge.matching_branches(REPO, ref_claims.FOLLOW_UP_PREFIX), "claims swept after the merge"


def test_an_escalated_task_is_not_requeued_and_a_good_push_still_merges(sandbox, tmp_path):
    body = """
    if "Make CI pass" in prompt:
        done("blocked", "I cannot see why CI fails")
    else:
        slugify_files(); Path("BREAKS_CI").write_text("x"); done()
    """
    s = one_agent(sandbox, tmp_path, body)
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    sandbox.set_ci_command(REPO, CI_BREAKER)
    work(ctx, sandbox)
    pull = the_pull(sandbox)
    pr_monitor.run(ctx)
    queue.run(ctx)  # the fix reports blocked: the one-agent chain is exhausted → escalated by the queue
    (escalated,) = ctx.mailbox.list(TaskState.ESCALATED)
    assert "blocked" in ctx.forge.get_issue(REPO, number).labels
    for _ in range(3):  # the PR is still red: nothing runs until a human says retry
        report = pr_monitor.run(ctx)
        assert not report.follow_ups and report.waiting[pull["number"]].startswith("escalated")
        assert queue.run(ctx).opened == [] and not ctx.mailbox.list(TaskState.INBOX)
    assert [e["state"] for e in events(ctx)].count("fix_ci") == 1
    comments = [c.body for c in ctx.forge.list_comments(REPO, number) if "agent-os:escalated" in c.body]
    assert len(comments) == 1, "the user is told once"

    work_copy = tmp_path / "human"
    assert run(
        ["git", "clone", "-q", "-b", pull["head"]["ref"], s.seeded.clone_url, str(work_copy)],
        timeout=60,
        env={**os.environ, **sandbox.git_env()},
    ).ok
    (work_copy / "BREAKS_CI").unlink()
    for argv in (["commit", "-qam", "Fix CI by hand"], ["push", "-q", "origin", "HEAD"]):
        assert run(
            ["git", "-C", str(work_copy), *argv], timeout=60, env={**os.environ, **sandbox.git_env()}
        ).ok
    sandbox.wait_ci_idle(timeout=120)
    assert pr_monitor.run(ctx).merged == [pull["number"]]
    issue = ctx.forge.get_issue(REPO, number)
    assert issue.state == "closed" and "blocked" not in issue.labels
    assert len(all_pulls(sandbox)) == 1
    assert escalated.id in {e.id for e in ctx.mailbox.list(TaskState.DONE)}
    identity = identity_of(ctx.forge.get_pull(REPO, pull["number"]))
    assert identity is not None
    kept = ctx.mailbox.records.load(identity.task_id).pr
    assert kept is not None and kept.number == pull["number"], "pr_monitor's memory is in the task's record"
