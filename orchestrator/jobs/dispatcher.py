"""Dispatcher job: Ready issues → claimed task branches → task files in the inbox.

One tick, per enabled repo: snapshot (Ready issues, in-flight tasks, open agent PRs) → `policy.dispatch.decide`
→ act. The claim is the creation of the task branch through the API (422 = someone else holds it); only then is
the task file written (O_EXCL), the card moved to In Progress and a comment posted. When anything was enqueued
the queue is started in the same tick so the agent starts within a minute of the issue becoming Ready.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from orchestrator import metrics
from orchestrator.decision_hooks import note_dispatch
from orchestrator.github.errors import ClaimLost, GitHubError
from orchestrator.mailbox import TaskExists
from orchestrator.models import Issue, Task, TaskState
from orchestrator.policy import dispatch as policy
from orchestrator.remote_lease import (
    expired,
    latest_lease,
    newest_generation,
    post_lease,
    prune_leases,
    renew_waiting,
)
from orchestrator.runtime import JobContext
from orchestrator.store import read_json, update_json
from orchestrator.switches import Switches, is_allowed
from orchestrator.tracker import Tracker

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

_AGENT_BRANCH = re.compile(r"^agent/(\d+)-")


@dataclass
class DispatchReport:
    dispatched: list[str] = field(default_factory=list)  # task ids
    asked: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    lost_claims: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run(ctx: JobContext, start_queue: Callable[[], None] | None = None) -> DispatchReport:
    report = DispatchReport()
    tracker = Tracker(ctx.forge, ctx.paths.state, ctx.audit)
    switches = Switches.load(ctx.paths.root).reload()
    for repo in ctx.config.repos:
        allowed, why = is_allowed(switches, "dispatcher", repo.key)
        if (
            not repo.enabled
            or not allowed
            or not _cadence_due(ctx, repo.key, switches.repo(repo.key).cadence_minutes)
        ):
            if why:
                ctx.log.info("repo skipped repo=%s reason=%s", repo.full_name, why)
            continue
        try:
            _dispatch_repo(ctx, tracker, repo, report)
        except GitHubError as exc:
            report.errors.append(f"{repo.full_name}: {exc}")
            ctx.log.error("dispatch failed repo=%s error=%s", repo.full_name, exc)
    _renew_waiting_leases(ctx, report)
    if report.dispatched and start_queue is not None:
        start_queue()
    return report


def _renew_waiting_leases(ctx: JobContext, report: DispatchReport) -> None:
    """Tasks waiting in this host's inbox keep their GitHub-visible lease alive; finished ones are forgotten."""
    waiting = [e.id for e in ctx.mailbox.list(TaskState.INBOX) if e.id not in report.dispatched]
    running = {e.id for e in ctx.mailbox.list(TaskState.RUNNING)}
    try:
        renew_waiting(ctx, waiting)
    except GitHubError as exc:
        ctx.log.warning("lease renewal failed error=%s", exc)
    prune_leases(ctx, keep={*waiting, *running, *report.dispatched})


def _routing(ctx: JobContext) -> dict[str, tuple[str, ...]]:
    """The configured chains, reordered by the agent scorer's weights (imported only when there is work)."""
    from orchestrator.jobs.agent_scorer import load_routing_weights
    from orchestrator.policy.scoring import apply_weights

    return dict(apply_weights(ctx.config.routing, load_routing_weights(ctx.paths.state)))


def sanitize_untrusted(text: str, max_bytes: int) -> str:
    from orchestrator.prompt import sanitize_untrusted as sanitize

    return sanitize(text, max_bytes)


def render_issue_comment(kind: str, **values: object) -> str:
    from orchestrator.prompt import render_issue_comment as render

    return render(kind, **values)


def _cadence_due(ctx: JobContext, key: str, minutes: int | None) -> bool:
    """A per-repo dispatch cadence set from Telegram (`/repo cadence KEY MIN`); None = every tick."""
    if not minutes:
        return True
    path = ctx.paths.state / "dispatch_cadence.json"
    last = read_json(path, dict).get(key)
    now = ctx.clock()
    if last and now - datetime.fromisoformat(last) < timedelta(minutes=minutes):
        return False

    def put(data: dict) -> dict:
        data[key] = now.isoformat()
        return data

    update_json(path, put)
    return True


def snapshot(ctx: JobContext, tracker: Tracker, repo: RepoConfig) -> policy.RepoSnapshot:
    ready = tracker.ready_issues(repo)
    if ready and ctx.config.llm.format_issues:
        from orchestrator.issue_formatting import format_issues

        ready = format_issues(ctx, ready, repo.labels.needs_info)
    in_flight: set[int] = set()
    generations: dict[int, int] = {}
    for state in TaskState:
        for entry in ctx.mailbox.list(state):
            task = entry.task
            if task is None or task.repo != repo.full_name:
                continue
            generations[task.issue] = max(generations.get(task.issue, 0), task.generation)
            if state in (TaskState.INBOX, TaskState.RUNNING):
                in_flight.add(task.issue)
    if ready:
        for pr in ctx.forge.list_pulls(repo.full_name):
            match = _AGENT_BRANCH.match(pr.head_ref)
            if match:
                in_flight.add(int(match.group(1)))
    return policy.RepoSnapshot(
        repo=repo.full_name,
        ready=tuple(ready),
        in_flight=frozenset(in_flight),
        last_generation=generations,
        needs_info_label=repo.labels.needs_info,
        blocked_label=repo.labels.blocked,
        trusted_authors=frozenset(repo.trusted_authors),
        routing=_routing(ctx) if ready else dict(ctx.config.routing),
        known_agents=frozenset(ctx.config.agents),
        issue_body_max_bytes=ctx.config.limits.issue_body_max_bytes,
    )


def _dispatch_repo(ctx: JobContext, tracker: Tracker, repo: RepoConfig, report: DispatchReport) -> None:
    # A conditional GET (free while unchanged) that makes a wrong repo name or base branch a clear error
    # instead of a silently idle repo.
    if ctx.forge.get_branch_sha(repo.full_name, repo.base_branch) is None:
        raise GitHubError(
            f"{repo.full_name}: branch {repo.base_branch!r} not found — check repos[].owner/name/base_branch "
            "and that the token can see the repository"
        )
    snap = snapshot(ctx, tracker, repo)
    _take_over_abandoned(ctx, tracker, repo, snap, report)
    if not snap.ready:
        return
    for action in policy.decide(snap, ctx.clock(), sanitize_untrusted):
        if isinstance(action, policy.Skip):
            report.skipped[action.issue.number] = action.reason
        elif isinstance(action, policy.AskForInfo):
            _ask_for_info(ctx, repo, action)
            report.asked.append(action.issue.number)
        else:
            _dispatch(ctx, tracker, repo, action, report)
        note_dispatch(ctx, repo.full_name, action, report)  # views: the decision `agentos why` shows


def _take_over_abandoned(
    ctx: JobContext, tracker: Tracker, repo: RepoConfig, snap: policy.RepoSnapshot, report: DispatchReport
) -> None:
    """Issues In Progress whose lease (held by another host) stopped beating: claim the next generation from
    the abandoned branch's head and run it here. The claim is atomic, so one host wins."""
    for issue in tracker.in_progress_issues(repo):
        if issue.number in snap.in_flight:
            continue
        lease = latest_lease(ctx.forge.list_comments(repo.full_name, issue.number), ctx.forge.viewer_login())
        if (
            lease is None
            or lease.host == ctx.host
            or not expired(lease, ctx.clock(), ctx.config.limits.lease_seconds)
        ):
            continue
        branches = ctx.forge.matching_branches(repo.full_name, f"agent/{issue.number}-")
        generation = max(lease.generation, newest_generation(branches))
        takeover = replace(
            snap, ready=(issue,), in_flight=frozenset(), last_generation={issue.number: generation}
        )
        (action,) = policy.decide(takeover, ctx.clock(), sanitize_untrusted)
        if not isinstance(action, policy.Dispatch):
            continue
        start = _newest_branch_head(branches) or ctx.forge.get_branch_sha(repo.full_name, repo.base_branch)
        note = f"taken over from host {lease.host} (its lease heartbeat stopped at {lease.heartbeat:%Y-%m-%d %H:%M} UTC)"
        task = replace(action.task, notes="; ".join(n for n in (action.task.notes, note) if n))
        try:
            ctx.forge.create_branch(repo.full_name, task.branch, start or "")
        except ClaimLost:
            report.lost_claims.append(issue.number)
            continue
        ctx.mailbox.enqueue(task)
        report.dispatched.append(task.id)
        metrics.record_event(
            ctx.paths.metrics,
            task=task.id,
            repo=repo.full_name,
            issue=issue.number,
            state="taken_over",
            reason=note,
        )
        body = render_issue_comment(
            "picked_up", issue=issue, branch=task.branch, agents=task.agents, notes=note
        )
        post_lease(ctx, repo.full_name, issue.number, task.id, task.generation, body)


def _newest_branch_head(branches: dict[str, str]) -> str | None:
    if not branches:
        return None
    newest = newest_generation(branches)
    for name, sha in branches.items():
        if newest_generation([name]) == newest:
            return sha
    return None


def _ask_for_info(ctx: JobContext, repo: RepoConfig, action: policy.AskForInfo) -> None:
    body = render_issue_comment("needs_info", issue=action.issue, questions=action.questions)
    ctx.forge.comment_issue(repo.full_name, action.issue.number, body)
    ctx.forge.add_labels(repo.full_name, action.issue.number, [repo.labels.needs_info])
    metrics.record_event(
        ctx.paths.metrics,
        repo=repo.full_name,
        issue=action.issue.number,
        state="needs_info",
        reason="; ".join(action.questions),
    )
    ctx.log.info("asked for info repo=%s issue=%s", repo.full_name, action.issue.number)


def _dispatch(
    ctx: JobContext, tracker: Tracker, repo: RepoConfig, action: policy.Dispatch, report: DispatchReport
) -> None:
    task, issue = action.task, action.issue
    base_sha = ctx.forge.get_branch_sha(repo.full_name, repo.base_branch)
    if base_sha is None:
        raise GitHubError(f"{repo.full_name}: base branch {repo.base_branch!r} does not exist")
    try:
        ctx.forge.create_branch(repo.full_name, task.branch, base_sha)
    except ClaimLost:
        report.lost_claims.append(issue.number)
        ctx.log.info("claim lost repo=%s issue=%s branch=%s", repo.full_name, issue.number, task.branch)
        return
    try:
        ctx.mailbox.enqueue(task)
    except TaskExists:
        report.skipped[issue.number] = f"task {task.id} already exists on this host"
        return
    report.dispatched.append(task.id)
    metrics.record_event(
        ctx.paths.metrics,
        task=task.id,
        repo=repo.full_name,
        issue=issue.number,
        agent=task.agents[0],
        state="dispatched",
        reason=f"chain {', '.join(task.agents)}",
    )
    _announce(ctx, tracker, repo, issue, task)


def _announce(ctx: JobContext, tracker: Tracker, repo: RepoConfig, issue: Issue, task: Task) -> None:
    """Board → In Progress and the picked-up comment, which carries the GitHub-visible lease. Failures here
    are repaired by later ticks (the task is already safely in the inbox), so they are logged, not raised."""
    try:
        tracker.move(repo, issue, "in_progress")
        if repo.labels.needs_info in issue.labels:
            ctx.forge.remove_label(repo.full_name, issue.number, repo.labels.needs_info)
        body = render_issue_comment(
            "picked_up", issue=issue, branch=task.branch, agents=task.agents, notes=task.notes
        )
        post_lease(ctx, repo.full_name, issue.number, task.id, task.generation, body)
    except GitHubError as exc:
        ctx.log.warning("announce failed repo=%s issue=%s error=%s", repo.full_name, issue.number, exc)
    ctx.log.info(
        "dispatched repo=%s issue=%s branch=%s agents=%s",
        repo.full_name,
        issue.number,
        task.branch,
        task.agents,
    )
