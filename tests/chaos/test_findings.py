"""Reproductions of what `make chaos` found (docs/chaos.md, "Findings"), each made deterministic: the crash
that chaos caused with `kill -9` at a random moment is placed exactly, by a forge that "dies" (raises
ProcessDied, which nothing in the product catches) around one call, and by a lease rewritten to name a dead pid.

Each test reproduces a chaos finding step by step and raises BugReproduced if the bug comes back (F1–F3 are
fixed: recovered tasks adopt their merged/open PR, half-posted escalations are repaired, reconcile frees only
slots whose holder process is gone).
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chaos.plan import ChaosIssue
from chaos.session import chaos_agents
from orchestrator.demo.runner import REPO, prepare
from orchestrator.edges import process
from orchestrator.executors.worktrees import pool_for
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.values.models import TaskState
from tests.e2e.scripted import all_pulls

pytestmark = pytest.mark.slow


class ProcessDied(BaseException):
    """The job process is gone at this point (what kill -9 did in the chaos run)."""


class BugReproduced(AssertionError):
    """The finding is still there."""


class DyingForge:
    """The job's forge, except that the process dies before (or right after) one named call."""

    def __init__(self, forge: Any, method: str, after: bool) -> None:
        self._forge, self._method, self._after = forge, method, after

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._forge, name)
        if name != self._method:
            return attr

        def dying(*args: Any, **kwargs: Any) -> Any:
            if self._after:
                attr(*args, **kwargs)
            raise ProcessDied(name)

        return dying


def setup(sandbox: Any, tmp_path: Path, behaviour: str, chain: tuple[str, ...]) -> Any:
    overrides = {
        "agents": chaos_agents(tmp_path, seed=1, names=chain),
        "routing": {"default": list(chain)},
        "limits": {"max_parallel_workers": 1, "lease_seconds": 1},
    }
    issue = ChaosIssue("c00", behaviour).seed_data()
    return prepare(sandbox, tmp_path / "case", issues=[issue], overrides=overrides)


def as_if_killed(ctx: Any, task_id: str) -> None:
    """The queue that held the task is gone: its lease names a dead pid and its heartbeat is old."""
    dead = process.run(["true"], timeout=10).pid
    lease = ctx.mailbox.read_lease(task_id)
    assert lease is not None and lease.pid == os.getpid()
    ctx.mailbox.records.update(
        task_id, lambda r: dataclasses.replace(r, lease=dataclasses.replace(lease, pid=dead))
    )
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    os.utime(ctx.mailbox.path(TaskState.RUNNING, task_id), (hour_ago, hour_ago))


def merge_all(ctx: Any, sandbox: Any, number: int) -> None:
    for _ in range(4):
        sandbox.wait_ci_idle(timeout=120)
        pr_monitor.run(ctx)
        if ctx.forge.get_issue(REPO, number).state == "closed":
            return


def test_a_task_recovered_after_its_pr_merged_opens_no_second_pr(sandbox, tmp_path):
    s = setup(sandbox, tmp_path, "steady", ("chaos-a",))
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    dispatcher.run(ctx)
    real = ctx.forge
    ctx.forge = DyingForge(real, "create_pull", after=True)  # killed right after the PR was created
    assert queue.run(ctx).errors
    ctx.forge = real
    (running,) = ctx.mailbox.list(TaskState.RUNNING)
    as_if_killed(ctx, running.id)
    merge_all(ctx, sandbox, number)
    assert ctx.forge.get_issue(REPO, number).state == "closed", "the first PR merged"

    later = datetime.now(UTC) + timedelta(hours=1)
    ctx.clock = lambda: later
    assert queue.run(ctx).recovered == [running.id]
    even_later = later + timedelta(hours=1)  # past the infrastructure-retry backoff
    ctx.clock = lambda: even_later
    queue.run(ctx)
    merge_all(ctx, sandbox, number)
    merged = [p["number"] for p in all_pulls(sandbox) if p["merged_at"]]
    if len(all_pulls(sandbox)) > 1:
        raise BugReproduced(f"issue #{number}: {len(all_pulls(sandbox))} PRs, merged {merged}")


def test_an_escalation_cut_short_is_completed_by_a_later_tick(sandbox, tmp_path):
    s = setup(sandbox, tmp_path, "blocked", ("chaos-a",))
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    dispatcher.run(ctx)
    real = ctx.forge
    ctx.forge = DyingForge(real, "add_labels", after=False)  # killed while labelling the issue blocked
    assert queue.run(ctx).errors
    ctx.forge = real
    assert [e.id for e in ctx.mailbox.list(TaskState.ESCALATED)], "the mailbox already says escalated"
    for _ in range(3):
        dispatcher.run(ctx)
        queue.run(ctx)
        pr_monitor.run(ctx)
    issue = ctx.forge.get_issue(REPO, number)
    board = ctx.forge.get_board("agentos-admin", s.seeded.project_number)
    status = {i.issue_number: i.status for i in ctx.forge.board_items(board)}[number]
    if "blocked" not in issue.labels or status != "Blocked":
        raise BugReproduced(
            f"issue #{number} stays {issue.state}, labels {list(issue.labels)}, board {status}"
        )


def test_the_queue_reconcile_leaves_a_worktree_a_running_rebase_holds(sandbox, tmp_path):
    s = setup(sandbox, tmp_path, "steady", ("chaos-a",))
    ctx = s.ctx
    pool = pool_for(ctx, ctx.config.repos[0])
    pool.fetch()
    held = pool.acquire("agent/1-x", "origin/main", owner="rebase-42")  # what pr_monitor's rebase holds
    queue.run(ctx)  # a queue tick of the same host meanwhile: _recover → pool.reconcile(running task ids)
    owner = pool.owners()[held.name]
    if owner != "rebase-42":
        raise BugReproduced(f"{held.name} was held by rebase-42 (a live pr_monitor); now owned by {owner}")
