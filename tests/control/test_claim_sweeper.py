"""claim_sweeper on the sandbox forge: an issue a human closes on GitHub loses its claim branches and this
host's unfinished tasks for it; open issues and running tasks keep theirs."""

from __future__ import annotations

from orchestrator.demo.runner import REPO, prepare
from orchestrator.jobs import claim_sweeper
from orchestrator.state.mailbox import Lease
from orchestrator.values.models import Task, TaskState

ISSUES = [
    {"title": f"Issue {n}", "status": "Ready", "body": f"## Goal\nDo thing {n}.\n"}
    for n in ("one", "two", "three")
]


def task(number: int, branch: str) -> Task:
    return Task(REPO, number, 1, branch, f"Issue {number}", goal="do it", success_criteria="tests pass")


def test_a_human_close_on_github_is_cleaned_up_by_the_sweeper(sandbox, tmp_path):
    ctx = prepare(sandbox, tmp_path / "demo", issues=ISSUES).ctx
    base = ctx.forge.get_branch_sha(REPO, "main") or ""
    claims = {1: "agent/1-issue-one", 2: "agent/2-issue-two", 3: "agent/3-issue-three"}
    for branch in claims.values():
        ctx.forge.create_branch(REPO, branch, base)
    ctx.forge.create_branch(REPO, "agent/1-issue-one-g2", base)
    escalated = task(1, claims[1])
    ctx.mailbox.enqueue(escalated)
    ctx.mailbox.finish(escalated.id, TaskState.ESCALATED, "every agent tried")
    running = task(3, claims[3])
    ctx.mailbox.enqueue(running)
    ctx.mailbox.claim(running.id, Lease.for_this_process(ctx.clock()))  # → running/
    ctx.forge.close_issue(REPO, 1, reason="not_planned")  # a human closes them on GitHub
    ctx.forge.close_issue(REPO, 3)

    assert claim_sweeper.run_job(ctx, []) == 0

    left = set(ctx.forge.matching_branches(REPO, "agent/"))
    assert left == {claims[2], claims[3]}  # open issue kept; running task kept
    assert [e.id for e in ctx.mailbox.list(TaskState.FAILED)] == [escalated.id]
    assert "closed on GitHub" in ctx.mailbox.path(TaskState.FAILED, escalated.id).read_text()
    assert [e.id for e in ctx.mailbox.list(TaskState.RUNNING)] == [running.id]

    assert claim_sweeper.run_job(ctx, []) == 0  # nothing left to do: nothing changes
    assert set(ctx.forge.matching_branches(REPO, "agent/")) == left
