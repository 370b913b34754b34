"""Dispatcher job: Ready issues → claimed task branches → task files in the inbox.

One tick, per enabled repo: snapshot (Ready issues, in-flight tasks, open agent PRs) → `policy.dispatch.decide`
→ act. The claim is the creation of the task branch through the API (422 = someone else holds it); only then is
the task file written (O_EXCL), the card moved to In Progress and a comment posted. When anything was enqueued
the queue is started in the same tick so the agent starts within a minute of the issue becoming Ready; while a
queue has work in flight it also runs this pass between ticks (`between_ticks`, dispatch.busy_poll_seconds).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from orchestrator.executors import claim_facts
from orchestrator.executors.decision_hooks import note_dispatch
from orchestrator.executors.remote_lease import announced, post_lease, renew_waiting
from orchestrator.executors.tracker import Tracker
from orchestrator.github.errors import ClaimLost, GitHubError, NotFound
from orchestrator.policy import dispatch as policy
from orchestrator.state import metrics
from orchestrator.state.mailbox import TaskExists
from orchestrator.state.runtime import JobContext
from orchestrator.state.store import FileLock, LockTimeout, read_json, update_json
from orchestrator.state.switches import Switches, is_allowed
from orchestrator.state.task_index import identity_of
from orchestrator.values.models import Issue, PullRequest, Task, TaskState

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


def run(
    ctx: JobContext, start_queue: Callable[[], None] | None = None, tracker: Tracker | None = None
) -> DispatchReport:
    report = DispatchReport()
    tracker = tracker or Tracker(ctx.forge, ctx.paths.state, ctx.audit)  # given: the caller reads it after
    switches = Switches.load(ctx.paths.root).reload()
    due: list[RepoConfig] = []
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
        due.append(repo)
    tracker.probe(due)  # speed: every board's updatedAt in one query
    for repo in due:
        try:
            _dispatch_repo(ctx, tracker, repo, report)
        except GitHubError as exc:
            report.errors.append(f"{repo.full_name}: {exc}")
            ctx.log.error("dispatch failed repo=%s error=%s", repo.full_name, exc)
    _renew_waiting_leases(ctx, report)
    if report.dispatched and start_queue is not None:
        start_queue()
    return report


def between_ticks(ctx: JobContext) -> int | None:
    """A pass run by a busy queue between cron ticks (orchestrator/executors/busy_poll.py): the cron tick's
    pass under the same kill switches and job lock, so it never overlaps a tick's; it starts no queue (the
    busy one takes what it enqueues as soon as a worker frees). The number of tasks enqueued, or None when it
    did not run (switched off, or the dispatcher is running right now)."""
    allowed, why = is_allowed(Switches.load(ctx.paths.root).reload(), "dispatcher")
    if not allowed:
        ctx.log.debug("busy dispatcher pass skipped reason=%s", why)
        return None
    lock = FileLock(ctx.paths.locks / "dispatcher.lock", timeout_s=0)  # the cron tick's (jobs/entry.py)
    try:
        lock.acquire()
    except LockTimeout:
        return None
    try:
        report = run(ctx)
    finally:
        lock.release()
    if report.dispatched or report.lost_claims or report.errors:
        ctx.log.info(
            "busy dispatcher pass dispatched=%s lost=%s errors=%s",
            len(report.dispatched),
            len(report.lost_claims),
            len(report.errors),
        )
    return len(report.dispatched)


def _renew_waiting_leases(ctx: JobContext, report: DispatchReport) -> None:
    """Tasks waiting in this host's inbox keep their GitHub-visible lease alive (a finished task's lease
    record is dropped by the mailbox when it reaches its terminal folder)."""
    waiting = [task_id for task_id in ctx.mailbox.ids(TaskState.INBOX) if task_id not in report.dispatched]
    try:
        renew_waiting(ctx, waiting)
    except GitHubError as exc:
        ctx.log.warning("lease renewal failed error=%s", exc)


def _routing(ctx: JobContext) -> dict[str, tuple[str, ...]]:
    """The configured chains, reordered by the agent scorer's weights (imported only when there is work)."""
    from orchestrator.jobs.agent_scorer import load_routing_weights
    from orchestrator.policy.scoring import apply_weights

    return dict(apply_weights(ctx.config.routing, load_routing_weights(ctx.paths.state)))


def sanitize_untrusted(text: str, max_bytes: int) -> str:
    from orchestrator.executors.prompt import sanitize_untrusted as sanitize

    return sanitize(text, max_bytes)


def render_issue_comment(kind: str, **values: object) -> str:
    from orchestrator.executors.prompt import render_issue_comment as render

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


def snapshot(
    ctx: JobContext, tracker: Tracker, repo: RepoConfig, in_progress: list[Issue] | None = None
) -> policy.RepoSnapshot:
    ready = tracker.ready_issues(repo)
    if ready and ctx.config.llm.format_issues:
        from orchestrator.executors.issue_formatting import format_issues

        ready = format_issues(ctx, ready, repo.labels.needs_info)
    in_flight: set[int] = set()
    for task_id in (*ctx.mailbox.ids(TaskState.INBOX), *ctx.mailbox.ids(TaskState.RUNNING)):
        who = identity_of(task_id)
        if who is not None and who.repo == repo.full_name:
            in_flight.add(who.issue)
    wanted = [i.number for i in (*ready, *(in_progress or ()))]
    generations = ctx.mailbox.last_generations(repo.full_name, wanted) if wanted else {}
    pulls: tuple[PullRequest, ...] = ()
    if ready or in_progress:
        pulls = tuple(ctx.forge.list_pulls(repo.full_name))
        for pr in pulls:
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
        routing=_routing(ctx) if ready or in_progress else dict(ctx.config.routing),
        known_agents=frozenset(ctx.config.agents),
        issue_body_max_bytes=ctx.config.limits.issue_body_max_bytes,
        pulls=pulls,
        issue_states=_dependency_states(ctx, repo.full_name, ready),
    )


def _dependency_states(ctx: JobContext, repo: str, ready: list[Issue]) -> dict[tuple[str, int], str]:
    """Open/closed for every issue a Ready issue says it depends on (conditional GETs; Ready ones are open).
    An issue that does not exist does not hold anything up; one GitHub could not tell is taken as open."""
    states: dict[tuple[str, int], str] = {(repo, i.number): i.state for i in ready}
    for issue in ready:
        for ref in policy.dependencies(issue.body, repo, issue.number):
            if ref in states:
                continue
            try:
                states[ref] = ctx.forge.get_issue(*ref).state
            except NotFound:
                continue
            except GitHubError as exc:
                ctx.log.warning("dependency not read issue=%s#%s error=%s", ref[0], ref[1], exc)
                states[ref] = "open"
    return states


def _dispatch_repo(ctx: JobContext, tracker: Tracker, repo: RepoConfig, report: DispatchReport) -> None:
    # A conditional GET that makes a wrong repo name or base branch a clear error instead of a silently idle
    # repo — on the first tick for this repo and branch; afterwards the claim of a Ready issue reads the base.
    if not _base_verified(ctx, repo):
        if ctx.forge.get_branch_sha(repo.full_name, repo.base_branch) is None:
            raise GitHubError(
                f"{repo.full_name}: branch {repo.base_branch!r} not found — check repos[].owner/name/base_branch "
                "and that the token can see the repository"
            )
        _remember_base(ctx, repo)
    _repair_announcements(ctx, tracker, repo)
    in_progress = tracker.in_progress_issues(repo)
    snap = snapshot(ctx, tracker, repo, in_progress)
    _take_over_abandoned(ctx, tracker, repo, snap, in_progress, report)
    if not snap.ready:
        return
    for action in policy.decide(snap, ctx.clock(), sanitize_untrusted):
        if isinstance(action, policy.Skip):
            report.skipped[action.issue.number] = action.reason
            if action.waits_for:
                _say_waiting(ctx, repo, action)
        elif isinstance(action, policy.AskForInfo):
            _ask_for_info(ctx, repo, action)
            report.asked.append(action.issue.number)
        else:
            action = _claim(ctx, tracker, repo, snap, action, report)
        note_dispatch(ctx, repo.full_name, action, report)  # views: the decision `agentos why` shows


VERIFIED_BASES = "verified_bases.json"


def _base_verified(ctx: JobContext, repo: RepoConfig) -> bool:
    return read_json(ctx.paths.state / VERIFIED_BASES, dict).get(repo.full_name) == repo.base_branch


def _remember_base(ctx: JobContext, repo: RepoConfig) -> None:
    def put(data: dict) -> dict:
        data[repo.full_name] = repo.base_branch
        return data

    update_json(ctx.paths.state / VERIFIED_BASES, put)


def _take_over_abandoned(
    ctx: JobContext,
    tracker: Tracker,
    repo: RepoConfig,
    snap: policy.RepoSnapshot,
    in_progress: list[Issue],
    report: DispatchReport,
) -> None:
    """Issues In Progress with no task on this host and no open PR: a claim whose holder stopped beating, or
    a claim branch that never got a lease, is claimed as the next generation here (see next_claim)."""
    for issue in in_progress:
        if issue.number in snap.in_flight or snap.blocked_label in issue.labels:
            continue
        takeover = replace(snap, ready=(issue,), in_flight=frozenset())
        (action,) = policy.decide(takeover, ctx.clock(), sanitize_untrusted)
        if isinstance(action, policy.Dispatch):
            _claim(ctx, tracker, repo, snap, action, report)


def _claim(
    ctx: JobContext,
    tracker: Tracker,
    repo: RepoConfig,
    snap: policy.RepoSnapshot,
    action: policy.Dispatch,
    report: DispatchReport,
) -> policy.DispatchAction:
    """Claim the generation GitHub's state allows (next_claim), then enqueue and announce the task. Returns
    what was decided (the task as claimed, or a Skip naming why the claim was held) for the decision log."""
    issue = action.issue
    local = snap.last_generation.get(issue.number, 0)
    facts = claim_facts.claim_facts(ctx, repo.full_name, issue.number, local, snap.pulls)
    decision = policy.next_claim(facts, ctx.clock(), ctx.config.limits.lease_seconds)
    if claim_facts.note_decision(ctx, repo.full_name, issue.number, decision, facts):
        metrics.record_event(
            ctx.paths.metrics,
            repo=repo.full_name,
            issue=issue.number,
            state="orphan_claim",
            reason=decision.reason if isinstance(decision, policy.Hold) else "",
        )
    if isinstance(decision, policy.Hold) and decision.held_by:  # GitHub shows another host's live claim
        report.lost_claims.append(issue.number)
        ctx.log.info(
            "claim held elsewhere repo=%s issue=%s reason=%s", repo.full_name, issue.number, decision.reason
        )
        return replace(action, task=replace(action.task, branch=decision.branch or action.task.branch))
    if isinstance(decision, policy.Hold):
        report.skipped[issue.number] = decision.reason
        ctx.log.info("claim held repo=%s issue=%s reason=%s", repo.full_name, issue.number, decision.reason)
        return policy.Skip(issue, decision.reason)
    g = decision.generation
    notes = "; ".join(n for n in (action.task.notes, decision.note) if n)
    task = replace(
        action.task, generation=g, branch=policy.branch_name(issue.number, issue.title, g), notes=notes
    )
    start = decision.start_sha or ctx.forge.get_branch_sha(repo.full_name, repo.base_branch)
    if start is None:
        raise GitHubError(f"{repo.full_name}: base branch {repo.base_branch!r} does not exist")
    try:
        ctx.forge.create_branch(repo.full_name, task.branch, start)
    except ClaimLost:
        report.lost_claims.append(issue.number)
        ctx.log.info("claim lost repo=%s issue=%s branch=%s", repo.full_name, issue.number, task.branch)
        return replace(action, task=task)
    try:
        ctx.mailbox.enqueue(task)
    except TaskExists:
        report.skipped[issue.number] = f"task {task.id} already exists on this host"
        return policy.Skip(issue, report.skipped[issue.number])
    report.dispatched.append(task.id)
    metrics.record_event(
        ctx.paths.metrics,
        task=task.id,
        repo=repo.full_name,
        issue=issue.number,
        agent=task.agents[0],
        state=decision.event,
        reason=decision.note or f"chain {', '.join(task.agents)}",
    )
    _announce(ctx, tracker, repo, issue, task)
    return replace(action, task=task)


def _repair_announcements(ctx: JobContext, tracker: Tracker, repo: RepoConfig) -> None:
    """A task of this host whose picked-up comment (its GitHub-visible lease) was never posted — the
    dispatcher stopped or GitHub failed right after the claim — is announced now, before other hosts take
    its branch for an orphan claim."""
    for state in (TaskState.INBOX, TaskState.RUNNING):
        entries = ctx.mailbox.list(state)
        posted = announced(ctx, (e.id for e in entries))
        for entry in entries:
            task = entry.task
            if task is None or task.repo != repo.full_name or task.id in posted:
                continue
            if task.kind != "implement" or task.pr_number is not None:
                continue
            try:
                issue = ctx.forge.get_issue(repo.full_name, task.issue)
            except GitHubError as exc:
                ctx.log.warning("announce repair failed task=%s error=%s", task.id, exc)
                continue
            if issue.state == "open":
                _announce(ctx, tracker, repo, issue, task)


WAITING_FILE = "dependency_waits.json"


def _say_waiting(ctx: JobContext, repo: RepoConfig, action: policy.Skip) -> None:
    """Tell the issue once (per set of open dependencies) that it waits for them."""
    key = f"{repo.full_name}#{action.issue.number}"
    names = [policy.issue_ref(ref, repo.full_name) for ref in action.waits_for]
    if read_json(ctx.paths.state / WAITING_FILE, dict).get(key) == names:
        return
    body = render_issue_comment("waiting", issue=action.issue, waits_for=names)
    try:
        ctx.forge.comment_issue(repo.full_name, action.issue.number, body)
    except GitHubError as exc:
        ctx.log.warning("waiting comment not posted issue=%s error=%s", key, exc)
        return

    def put(data: dict) -> dict:
        data[key] = names
        return data

    update_json(ctx.paths.state / WAITING_FILE, put)
    metrics.record_event(
        ctx.paths.metrics,
        repo=repo.full_name,
        issue=action.issue.number,
        state="waiting",
        reason=action.reason,
    )


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
