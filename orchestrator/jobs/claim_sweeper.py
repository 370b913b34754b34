"""jobs/claim_sweeper: clean up after issues a human closed on GitHub (hourly).

Snapshot (the repo's claim branches, open PR heads, this host's unfinished tasks, the state of each issue
concerned — conditional requests, free while nothing changed) → policy.claims.plan_sweep → delete the
branches, finish the tasks. Retry and Close from the control plane clean up at once (control_hooks); this job
catches the close nobody told us about. With `merge.delete_branch: false` branches are kept (the operator
keeps task branches) and only local tasks are finished.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from orchestrator.github.errors import GitHubError, NotFound
from orchestrator.policy.claims import LocalTask, SweepPlan, candidates, plan_sweep
from orchestrator.values.models import TaskState

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig
    from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)
UNFINISHED = (TaskState.INBOX, TaskState.RUNNING, TaskState.BLOCKED, TaskState.ESCALATED)


def run_job(ctx: JobContext, argv: list[str]) -> int:
    errors = 0
    for repo in ctx.config.repos:
        if not repo.enabled:
            continue
        try:
            plan = sweep_repo(ctx, repo)
        except GitHubError as exc:
            log.error("claim_sweeper repo=%s error=%s", repo.full_name, exc)
            errors += 1
            continue
        log.info(
            "claim_sweeper repo=%s deleted=%s finished=%s",
            repo.full_name,
            list(plan.delete_branches),
            list(plan.finish_tasks),
        )
    return 1 if errors else 0


def sweep_repo(ctx: JobContext, repo: RepoConfig) -> SweepPlan:
    branches = ctx.forge.matching_branches(repo.full_name, "agent/")
    heads = [p.head_ref for p in ctx.forge.list_pulls(repo.full_name)]
    tasks = _local_tasks(ctx, repo)
    closed = {n: _is_closed(ctx, repo, n) for n in sorted(candidates(branches, heads, tasks))}
    plan = plan_sweep(branches, heads, tasks, closed, delete_branches=ctx.config.merge.delete_branch)
    for branch in plan.delete_branches:
        ctx.forge.delete_branch(repo.full_name, branch)
        ctx.audit("delete_branch", f"{repo.full_name}:{branch}", reason="its issue was closed on GitHub")
    for task_id in plan.finish_tasks:
        ctx.mailbox.finish(task_id, TaskState.FAILED, "its issue was closed on GitHub")
    return plan


def _local_tasks(ctx: JobContext, repo: RepoConfig) -> list[LocalTask]:
    return [
        LocalTask(entry.id, entry.task.issue, state is TaskState.RUNNING)
        for state in UNFINISHED
        for entry in ctx.mailbox.list(state)
        if entry.task is not None and entry.task.repo == repo.full_name
    ]


def _is_closed(ctx: JobContext, repo: RepoConfig, number: int) -> bool:
    try:
        return ctx.forge.get_issue(repo.full_name, number).state == "closed"
    except NotFound:
        return False  # a branch named like a claim for an issue that is not there: not ours to judge
