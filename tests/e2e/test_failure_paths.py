"""Failure paths end to end on the sandbox with scripted agents (real subprocesses, real git, real HTTP).

Every issue must end merged exactly once or escalated with a stated reason; no duplicate PRs; no lost task;
attempt counters count real attempts.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from orchestrator.control.control_hooks import retry_issue
from orchestrator.demo.runner import REPO, prepare
from orchestrator.edges import process
from orchestrator.jobs import dispatcher, queue
from orchestrator.policy.control_commands import IssueRef
from orchestrator.sandbox.faults import FaultConfig
from orchestrator.state import metrics
from orchestrator.values.models import TaskState
from tests.e2e.scripted import (
    BREAKS_CI_THEN_FIXES,
    CI_BREAKER,
    SLUG_ISSUE,
    agent,
    all_pulls,
    events,
    later,
    monitor_until_closed,
    one_agent,
    run_until_settled,
    setup,
    start_cron_job,
)
from tests.polling import wait_until

pytestmark = pytest.mark.slow


def test_partial_then_complete_continues_on_the_same_branch(sandbox, tmp_path):
    body = """
    if not Path("WIP.md").exists():
        Path("WIP.md").write_text("half")
        done("partial", "started; tests next")
    else:
        slugify_files(); Path("WIP.md").unlink(); done()
    """
    s = one_agent(sandbox, tmp_path, body)
    run_until_settled(s.ctx, sandbox, s.seeded.issue_numbers)
    assert s.ctx.forge.get_issue(REPO, s.seeded.issue_numbers[0]).state == "closed"
    states = [e["state"] for e in events(s.ctx) if e.get("agent") == "worker"]
    assert states[:3] == ["dispatched", "agent_started", "partial"] and "pr_opened" in states
    (done,) = s.ctx.mailbox.list(TaskState.DONE)
    assert done.task is not None and done.task.attempt == 2
    assert done.task.prior_attempts[0].outcome == "partial"
    assert len(all_pulls(sandbox)) == 1


def test_crashing_agent_falls_back_to_the_next_in_the_chain(sandbox, tmp_path):
    agents = {
        "flaky": agent(tmp_path, "flaky", "sys.exit(3)"),
        "steady": agent(tmp_path, "steady", "slugify_files(); done()"),
    }
    s = setup(sandbox, tmp_path, agents, ["flaky", "steady"], [SLUG_ISSUE])
    run_until_settled(s.ctx, sandbox, s.seeded.issue_numbers)
    assert s.ctx.forge.get_issue(REPO, s.seeded.issue_numbers[0]).state == "closed"
    (done,) = s.ctx.mailbox.list(TaskState.DONE)
    assert done.task is not None and done.task.tried_agents == ("flaky", "steady")
    crash = next(e for e in events(s.ctx) if e["state"] == "crash")
    assert crash["agent"] == "flaky" and "3" in crash["reason"]


def test_always_blocked_escalates_and_retry_dispatches_a_new_generation(sandbox, tmp_path):
    agents = {
        "a": agent(tmp_path, "a", "done('blocked', 'needs a database I cannot reach')"),
        "b": agent(tmp_path, "b", "done('blocked', 'same: no database')"),
    }
    s = setup(sandbox, tmp_path, agents, ["a", "b"], [SLUG_ISSUE])
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    run_until_settled(ctx, sandbox, s.seeded.issue_numbers)
    issue = ctx.forge.get_issue(REPO, number)
    assert issue.state == "open" and "blocked" in issue.labels
    comment = ctx.forge.list_comments(REPO, number)[-1].body
    assert "every agent in the chain has been tried" in comment and "needs a database" in comment
    board = ctx.forge.get_board("agentos-admin", s.seeded.project_number)
    assert {i.issue_number: i.status for i in ctx.forge.board_items(board)}[number] == "Blocked"

    reply = retry_issue(ctx, IssueRef(REPO, number), "alice")
    assert "new generation" in reply
    dispatcher.run(ctx)
    (queued,) = ctx.mailbox.list(TaskState.INBOX)
    assert queued.task is not None and queued.task.generation == 2 and queued.task.branch.endswith("-g2")
    assert "blocked" not in ctx.forge.get_issue(REPO, number).labels
    assert retry_issue(ctx, IssueRef(REPO, number), "alice").endswith("nothing to retry")


def test_red_ci_gets_a_fix_follow_up_then_merges(sandbox, tmp_path):
    s = one_agent(sandbox, tmp_path, BREAKS_CI_THEN_FIXES)
    sandbox.set_ci_command(REPO, CI_BREAKER)
    run_until_settled(s.ctx, sandbox, s.seeded.issue_numbers)
    assert s.ctx.forge.get_issue(REPO, s.seeded.issue_numbers[0]).state == "closed"
    states = [e["state"] for e in events(s.ctx)]
    assert states.count("fix_ci") == 1 and states.count("merged") == 1
    assert len(all_pulls(sandbox)) == 1


def test_conflicting_prs_merge_one_after_the_other(sandbox, tmp_path):
    body = """
    which = "upper" if "upper" in prompt else "lower"
    core = Path("textkit/core.py")
    if "Resolve the conflicts of PR" in prompt:
        ident = ["-c", "user.name=bot", "-c", "user.email=bot@example.invalid"]
        subprocess.run(["git", *ident, "merge", "origin/main"], capture_output=True)
        core.write_text(core.read_text().split("<<<<<<<")[0] + "def shout(t):\\n    return t.upper()\\n\\n\\ndef whisper(t):\\n    return t.lower()\\n")
        subprocess.run(["git", "add", "-A"], check=True)
        subprocess.run(["git", *ident, "commit", "-qm", "merge main"], check=True)
        done(summary="merged main, kept both functions")
    else:
        name, fn = ("shout", "upper") if which == "upper" else ("whisper", "lower")
        core.write_text(core.read_text() + f"\\n\\ndef {name}(t):\\n    return t.{fn}()\\n")
        done()
    """
    issues = [
        {
            "title": "Add shout()",
            "status": "Ready",
            "body": "## Goal\nAdd shout(t) returning upper case text.\n\n## Success Criteria\n- shout('a') == 'A' (upper)\n",
        },
        {
            "title": "Add whisper()",
            "status": "Ready",
            "body": "## Goal\nAdd whisper(t) returning lower case text.\n\n## Success Criteria\n- whisper('A') == 'a' (lower)\n",
        },
    ]
    s = one_agent(sandbox, tmp_path, body, issues=issues)
    run_until_settled(s.ctx, sandbox, s.seeded.issue_numbers, ticks=12)
    closed = [s.ctx.forge.get_issue(REPO, n).state for n in s.seeded.issue_numbers]
    assert closed == ["closed", "closed"]
    states = [e["state"] for e in events(s.ctx)]
    assert "resolve_conflict" in states and states.count("merged") == 2
    pulls = all_pulls(sandbox)
    assert len(pulls) == 2 and all(p["merged_at"] for p in pulls)


def test_api_faults_at_twenty_percent_still_merge_everything_exactly_once(sandbox, tmp_path):
    s = prepare(sandbox, tmp_path / "case")  # the three demo issues and the scripted demo agent
    sandbox.set_faults(
        FaultConfig(
            error_rate=0.1, error_statuses=(502, 503), rate_limit_rate=0.1, retry_after_seconds=0, seed=4
        )
    )
    run_until_settled(s.ctx, sandbox, s.seeded.issue_numbers, ticks=15)
    sandbox.set_faults(FaultConfig())
    assert [s.ctx.forge.get_issue(REPO, n).state for n in s.seeded.issue_numbers] == ["closed"] * 3
    pulls = all_pulls(sandbox)
    assert len(pulls) == 3 and all(p["merged_at"] for p in pulls)
    assert s.ctx.forge.stats.retries > 0


def test_kill_minus_nine_mid_agent_is_recovered_without_duplicates_or_orphans(sandbox, tmp_path):
    signals = tmp_path / "signals"  # shown read-only in the sandbox: the retried agent sees the marker
    signals.mkdir()
    marker = signals / "first-run-started"
    body = f"""
    if not os.path.exists({str(marker)!r} + ".seen"):
        subprocess.Popen(["setsid", "sleep", "1000"])  # a detached child in its own session
        Path("started").write_text("yes")
        import time; time.sleep(120)
    slugify_files(); done()
    """
    agents = {"read_only_paths": [str(signals)], "worker": agent(tmp_path, "worker", body, 5)}
    s = setup(sandbox, tmp_path, agents, ["worker"], [SLUG_ISSUE], lease_seconds=2)
    ctx = s.ctx
    dispatcher.run(ctx)
    job = start_cron_job("queue", tmp_path / "case" / "config.yaml", sandbox.token)
    assert wait_until(lambda: list(ctx.paths.worktrees.glob("*/*/started")), 60), "the agent never started"
    (pidfile,) = ctx.paths.agent_runs.glob("*/*/*/agent.pid")
    run_marker = pidfile.read_text().split()[2]
    assert process.members(None, run_marker), "the agent and its detached child run"
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=10)
    # the sandbox dies with the queue (--die-with-parent) and its pid namespace with its init: the agent
    # and the child it detached into its own session are gone at once, before any recovery
    wait_until(lambda: not process.members(None, run_marker), 5)
    assert process.members(None, run_marker) == [], "nothing the agent started survives the queue"
    Path(str(marker) + ".seen").write_text("yes")
    time.sleep(3)  # the lease (2 s) expires: no heartbeat from the dead queue

    report = queue.run(ctx)
    assert report.recovered and process.members(None, run_marker) == []
    assert not report.opened, "an infrastructure retry waits out its backoff first"
    assert len(ctx.mailbox.list(TaskState.INBOX)) == 1, "recovered, not lost"
    later(ctx, hours=1)
    assert queue.run(ctx).opened
    assert monitor_until_closed(ctx, sandbox, s.seeded.issue_numbers[0])
    assert len(all_pulls(sandbox)) == 1
    (done,) = ctx.mailbox.list(TaskState.DONE)
    assert done.task is not None and "infra-retry 1" in done.task.notes
    assert not list(ctx.mailbox.list(TaskState.RUNNING)) and not list(ctx.mailbox.list(TaskState.INBOX))


def test_per_task_budget_stops_a_task_that_keeps_costing(sandbox, tmp_path):
    body = """
    print('{"cost_usd": 3.0, "turns": 4}')
    Path("WIP.md").write_text(Path("WIP.md").read_text() + "x" if Path("WIP.md").exists() else "x")
    done("partial", "still going")
    """
    s = one_agent(sandbox, tmp_path, body, name="pricey", max_attempts=5)
    ctx = s.ctx
    dispatcher.run(ctx)
    queue.run(ctx)
    (escalated,) = ctx.mailbox.list(TaskState.ESCALATED)
    assert escalated.task is not None and escalated.task.attempt == 2  # 2 × $3 > $5 per task
    comment = ctx.forge.list_comments(REPO, s.seeded.issue_numbers[0])[-1].body
    assert "per-task limit $5.00" in comment


def test_monthly_budget_blocks_the_agent_until_the_operator_answers(sandbox, tmp_path):
    from orchestrator.executors.budgets import budget_decision

    agents = {"worker": agent(tmp_path, "worker", "slugify_files(); done()")}
    s = prepare(
        sandbox,
        tmp_path / "case",
        issues=[SLUG_ISSUE],
        overrides={
            "agents": agents,
            "routing": {"default": ["worker"]},
            "budgets": {"monthly_usd": {"worker": 1.0}},
        },
    )
    ctx = s.ctx
    metrics.record_event(ctx.paths.metrics, state="complete", agent="worker", task="earlier", cost_usd=1.5)
    asked: list[tuple[str, str, tuple]] = []
    dispatcher.run(ctx)
    queue.run(ctx, ask=lambda key, text, buttons: asked.append((key, text, buttons)))
    assert [e.id for e in ctx.mailbox.list(TaskState.INBOX)], "the task waits; it is not lost"
    assert not [e for e in events(ctx) if e["state"] == "agent_started"]
    key, text, buttons = asked[0]
    assert key.startswith("budget-hard-worker-")  # one question per agent and month (notifier dedup key)
    assert "monthly budget" in text and ("Continue", "budget:continue:worker") in buttons

    assert "may run past its budget" in budget_decision(ctx, "continue:worker", "alice")
    report = queue.run(ctx)
    assert report.opened, "after Continue the agent runs and the PR opens"


def test_off_now_stops_the_running_agent_pushes_its_work_and_resumes_when_on(sandbox, tmp_path):
    import threading

    from orchestrator.state.switches import Switches

    body = """
    if not Path("WIP.md").exists():
        Path("WIP.md").write_text("half")
        import time; time.sleep(120)
    slugify_files(); done()
    """
    s = one_agent(sandbox, tmp_path, body, timeout_minutes=5)
    ctx = s.ctx
    switches = Switches.load(ctx.paths.root)
    dispatcher.run(ctx)
    worker = threading.Thread(
        target=queue.run,
        args=(ctx,),
        kwargs={
            "should_stop": lambda: switches.should_stop("queue"),
            "stop_now": lambda: switches.stop_request() is not None,
        },
    )
    worker.start()
    wait_until(lambda: list(ctx.paths.worktrees.glob("*/*/WIP.md")), 60)
    switches.set_global(False, "test", now=True)
    worker.join(timeout=60)
    assert not worker.is_alive(), "the queue stopped promptly"
    (entry,) = ctx.mailbox.list(TaskState.INBOX)
    assert entry.task is not None and entry.task.prior_attempts[-1].outcome == "stopped"
    branch_sha = ctx.forge.get_branch_sha(REPO, entry.task.branch)
    assert branch_sha != ctx.forge.get_branch_sha(REPO, "main"), "the work so far was pushed"

    switches.set_global(True, "test")
    report = queue.run(ctx, stop_now=lambda: switches.stop_request() is not None)
    assert report.opened
