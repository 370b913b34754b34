"""Queue job: a burst worker that drains the inbox, up to `max_parallel_workers` tasks at once, then exits.

For each task: claim (rename into running/ with a lease) → one attempt (task_runner) → retry policy →
open the PR | follow-up on the same branch | next agent | escalate. Expired leases of crashed runs are recovered
first; pooled worktrees whose task is gone are reconciled.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orchestrator import budgets, metrics, process
from orchestrator.decision_hooks import note_attempt, note_pr_opened, note_running, note_waiting_for_agent
from orchestrator.escalation import NotifyFn, escalate, mark_pending, repair_pending
from orchestrator.github.errors import GitHubError
from orchestrator.mailbox import AlreadyClaimed, Lease, TaskNotFound, infra_retries
from orchestrator.models import AttemptRecord, Task, TaskState
from orchestrator.policy import retry
from orchestrator.prompt import render_issue_comment, render_pr_body
from orchestrator.remote_lease import renew_lease, superseded
from orchestrator.runtime import JobContext
from orchestrator.store import read_json, update_json
from orchestrator.switches import Switches, is_allowed
from orchestrator.task_runner import AgentRunner, AttemptOutcome, attempt, default_runner
from orchestrator.tracker import Tracker
from orchestrator.worktrees import has_ref, pool_for

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig


@dataclass
class QueueReport:
    opened: list[int] = field(default_factory=list)  # PR numbers
    follow_ups: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


StopCheck = Callable[[], str | None]


@dataclass(frozen=True)
class Hooks:
    """How a burst talks to the outside: the agent runner, notifications, budget questions, and the
    `off --now` request (running agents are stopped and their work pushed)."""

    runner: AgentRunner
    notify: NotifyFn | None = None
    ask: budgets.Ask | None = None
    stop_now: Callable[[], bool] = lambda: False


def run(
    ctx: JobContext,
    runner: AgentRunner | None = None,
    should_stop: StopCheck = lambda: None,
    notify: NotifyFn | None = None,
    max_tasks: int | None = None,
    ask: budgets.Ask | None = None,
    stop_now: Callable[[], bool] = lambda: False,
) -> QueueReport:
    report = QueueReport()
    hooks = Hooks(runner or default_runner(ctx.environ), notify, ask, stop_now)
    _recover(ctx, report)
    workers = max(1, ctx.config.limits.max_parallel_workers)
    started = 0
    running: dict[Future[None], str] = {}
    # task id → attempt already run in this burst: a follow-up (attempt+1) continues at once, a task put back
    # unchanged (every agent cooling down or over budget) waits for the next tick instead of spinning
    seen: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="task") as pool:
        while True:
            stop_reason = should_stop()
            free = workers - len(running)
            if max_tasks is not None:
                free = min(free, max_tasks - started)
            if not stop_reason and free > 0:
                waiting = _backing_off(ctx)
                for queued in ctx.mailbox.next_tasks(free + len(seen) + len(waiting)):
                    if queued.id in running.values() or seen.get(queued.id, 0) >= queued.attempt:
                        continue
                    if queued.id in waiting or not _repo_allowed(ctx, queued.repo):
                        continue
                    seen[queued.id] = queued.attempt
                    fut = pool.submit(_work_on, ctx, queued.id, hooks, report)
                    running[fut] = queued.id
                    started += 1
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                task_id = running.pop(fut)
                exc = fut.exception()
                if exc is not None:
                    report.errors.append(f"{task_id}: {exc!r}")
                    ctx.log.error("task crashed task=%s error=%r", task_id, exc)
    return report


def _recover(ctx: JobContext, report: QueueReport) -> None:
    """Requeue tasks whose lease expired and whose process is gone; free orphaned worktrees."""
    now = ctx.clock()
    for expired in ctx.mailbox.expired_leases(now, ctx.config.limits.lease_seconds, _is_alive(ctx.host)):
        for pidfile in (ctx.paths.agent_runs / expired.task_id).glob("**/agent.pid"):
            if process.kill_recorded_group(pidfile):
                ctx.log.warning("killed an orphaned agent task=%s pidfile=%s", expired.task_id, pidfile)
        task = ctx.mailbox.recover(expired.task_id)
        report.recovered.append(expired.task_id)
        retries = infra_retries(task)
        if retries > retry.MAX_INFRA_RETRIES:
            reason = f"the task's process died {retries} times (infrastructure); last: lease expired"
            mark_pending(ctx, task.id, task.repo, reason)
            ctx.mailbox.finish(task.id, TaskState.ESCALATED, reason)
            escalate(ctx, ctx.config.repo(task.repo), task, reason)
            continue
        _set_backoff(ctx, task.id, now + retry.infra_backoff(retries, task.id))
        metrics.record_event(
            ctx.paths.metrics, task=expired.task_id, state="recovered", reason="lease expired"
        )
    repair_pending(ctx)
    live = {e.id for e in ctx.mailbox.list(TaskState.RUNNING)}
    for repo in ctx.config.repos:
        if repo.enabled:
            pool_for(ctx, repo).reconcile(sorted(live))


def _is_alive(this_host: str) -> Callable[[str, int], bool]:
    def alive(host: str, pid: int) -> bool:
        if host != this_host:
            return True  # another host's lease: only its own expiry can free it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    return alive


def _work_on(ctx: JobContext, task_id: str, hooks: Hooks, report: QueueReport) -> None:
    try:
        claimed = ctx.mailbox.claim(task_id, Lease(host=ctx.host, pid=os.getpid(), started=ctx.clock()))
    except AlreadyClaimed:
        return
    task = claimed.task
    repo = ctx.config.repo(task.repo)
    if _nothing_left_to_do(ctx, task):
        return
    stop_beat = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(ctx, task_id, stop_beat, hooks.stop_now), daemon=True)
    beat.start()
    try:
        outcome = _run_attempt(ctx, repo, task, hooks.runner, hooks.ask)
        if outcome is None:
            ctx.mailbox.requeue(task_id, task)  # every agent cooling down: try again next tick
            note_waiting_for_agent(ctx, task)  # views: the decision `agentos why` shows
            return
        if hooks.stop_now():
            _stopped(ctx, outcome)
            return
        _after_attempt(ctx, repo, outcome, hooks.notify, report)
    finally:
        stop_beat.set()
        beat.join()


def _nothing_left_to_do(ctx: JobContext, task: Task) -> bool:
    """Pre-flight of every attempt (a re-run after a crash is the common case): finish the task instead of
    running an agent when another host took the issue over, when its PR already merged, or when a crashed run
    already opened its PR (a follow-up task, which works on an open PR on purpose, still runs)."""
    newer = superseded(ctx, task.repo, task.issue, task.generation)
    if newer is not None:
        ctx.mailbox.finish(
            task.id, TaskState.FAILED, f"superseded: another host took over as generation {newer}"
        )
        metrics.record_event(
            ctx.paths.metrics, task=task.id, repo=task.repo, issue=task.issue, state="superseded"
        )
        return True
    pulls = ctx.forge.list_pulls(task.repo, state="all", head=task.branch)
    merged = [p for p in pulls if p.merged]
    opened = [p for p in pulls if p.state == "open"]
    if merged or (opened and task.kind == "implement"):
        pr = (merged or opened)[0]
        ctx.mailbox.update(replace(task, pr_number=pr.number))
        note = f"PR #{pr.number} already {'merged' if merged else 'open'}: nothing to redo"
        ctx.mailbox.finish(task.id, TaskState.DONE, note)
        metrics.record_event(
            ctx.paths.metrics, task=task.id, repo=task.repo, issue=task.issue, state="adopted", reason=note
        )
        return True
    return False


def _heartbeat(ctx: JobContext, task_id: str, stop: threading.Event, stop_now: Callable[[], bool]) -> None:
    """Renew the lease; on `off --now`, kill the running agent's group (its work is then committed and
    pushed by the attempt as with any stopped run)."""
    interval = max(1.0, ctx.config.limits.lease_seconds / 3)
    last_beat = 0.0
    killed = False
    while not stop.wait(1.0):
        now = time.monotonic()
        if now - last_beat >= interval:
            try:
                ctx.mailbox.heartbeat(task_id)
            except TaskNotFound:
                return  # the attempt already moved the task on (finished, requeued)
            try:
                renew_lease(ctx, task_id)  # the lease other hosts see
            except GitHubError as exc:
                ctx.log.warning("lease heartbeat not posted task=%s error=%s", task_id, exc)
            last_beat = now
        if not killed and stop_now():
            killed = True
            for pidfile in (ctx.paths.agent_runs / task_id).glob("**/agent.pid"):
                process.kill_recorded_group(pidfile)


def _stopped(ctx: JobContext, out: AttemptOutcome) -> None:
    """`off --now` stopped this attempt: its work is pushed; the task waits in the inbox (same attempt
    number — it was not allowed to finish) until Agent OS is switched on again."""
    record = AttemptRecord(
        attempt=out.task.attempt,
        agent=out.agent,
        outcome="stopped",
        summary="stopped by `off --now`; work so far is on the branch",
        files_changed=out.files_changed,
    )
    task = replace(out.task, prior_attempts=(*out.task.prior_attempts, record))
    ctx.mailbox.requeue(task.id, task, "stopped by off --now")
    metrics.record_event(
        ctx.paths.metrics, task=task.id, repo=task.repo, issue=task.issue, agent=out.agent, state="stopped"
    )


def _run_attempt(
    ctx: JobContext, repo: RepoConfig, task: Task, runner: AgentRunner, ask: budgets.Ask | None
) -> AttemptOutcome | None:
    cooldowns = _cooldowns(ctx)
    for agent_name in budgets.blocked_agents(ctx, budgets.current_spend(ctx), ask):
        cooldowns[agent_name] = datetime.max.replace(tzinfo=UTC)  # over its monthly budget
    agent = retry.first_agent(task, cooldowns, ctx.clock())
    if agent is None:
        return None
    pool = pool_for(ctx, repo)
    pool.fetch()
    branch_ref = f"origin/{task.branch}"
    start = branch_ref if has_ref(pool, branch_ref) else f"origin/{repo.base_branch}"
    worktree = pool.acquire(task.branch, start, owner=task.id)
    metrics.record_event(
        ctx.paths.metrics, task=task.id, repo=task.repo, issue=task.issue, agent=agent, state="agent_started"
    )
    note_running(ctx, task, agent)  # views: the decision `agentos why` shows
    try:
        return attempt(ctx, repo, task, agent, worktree, runner)
    finally:
        pool.release(worktree)


def _after_attempt(
    ctx: JobContext,
    repo: RepoConfig,
    out: AttemptOutcome,
    notify: NotifyFn | None,
    report: QueueReport,
) -> None:
    task = replace(out.task, tried_agents=tuple(dict.fromkeys((*out.task.tried_agents, out.agent))))
    metrics.record_event(
        ctx.paths.metrics,
        task=task.id,
        repo=task.repo,
        issue=task.issue,
        agent=out.agent,
        state=out.outcome.value,
        reason=out.detail,
        duration_s=round(out.run.duration_s, 3),
        cost_usd=out.run.cost_usd,
        attempt=task.attempt,
        task_type=task.task_type,
    )
    action = retry.decide(
        task, out.agent, out.outcome, out.detail, ctx.config.limits.max_attempts, _cooldowns(ctx), ctx.clock()
    )
    spent = budgets.current_spend(ctx).by_task.get(task.id, 0.0)
    cap = ctx.config.budgets.per_task_usd
    if spent > cap and not isinstance(action, retry.OpenPR):
        action = retry.Escalate(
            f"budget: this task has cost ${spent:.2f}, over the per-task limit ${cap:.2f}"
        )
    note_attempt(ctx, task, out.agent, out.outcome.value, action)  # views: the decision `agentos why` shows
    if isinstance(action, retry.OpenPR):
        _open_pr(ctx, repo, task, out, report)
    elif isinstance(action, retry.Escalate):
        mark_pending(ctx, task.id, repo.full_name, action.reason)  # before the move: a crash is repaired
        ctx.mailbox.finish(task.id, TaskState.ESCALATED, action.reason)
        escalate(ctx, repo, task, action.reason, notify)
        report.escalated.append(task.id)
    else:
        if isinstance(action, retry.NextAgent) and action.cooldown_agent and action.cooldown_until:
            _set_cooldown(ctx, action.cooldown_agent, action.cooldown_until.isoformat())
        ctx.mailbox.requeue(task.id, _follow_up(task, out, action.agent))
        report.follow_ups.append(task.id)


def _follow_up(task: Task, out: AttemptOutcome, next_agent: str) -> Task:
    record = AttemptRecord(
        attempt=task.attempt,
        agent=out.agent,
        outcome=out.outcome.value,
        summary=out.result.summary if out.result else out.detail,
        blockers=(out.result.blockers if out.result else "") or out.detail,
        approaches=out.result.attempted_approaches if out.result else "",
        files_changed=out.files_changed,
    )
    chain = (next_agent, *(a for a in task.agents if a != next_agent))
    return replace(
        task, attempt=task.attempt + 1, agents=chain, prior_attempts=(*task.prior_attempts, record)
    )


def _open_pr(ctx: JobContext, repo: RepoConfig, task: Task, out: AttemptOutcome, report: QueueReport) -> None:
    """Open the PR (or adopt the one a crashed earlier run opened), move the card, comment, finish."""
    newer = superseded(ctx, task.repo, task.issue, task.generation)
    if newer is not None:  # fenced: our work is on our branch, but another host owns the issue now
        ctx.mailbox.finish(task.id, TaskState.FAILED, f"superseded by generation {newer} before the PR")
        return
    body = render_pr_body(task=task, outcome=out)
    existing = [
        p
        for p in ctx.forge.list_pulls(repo.full_name, state="all", head=task.branch)
        if p.state == "open" or p.merged
    ]
    if any(p.merged for p in existing):
        ctx.mailbox.finish(task.id, TaskState.DONE, f"PR #{existing[0].number} already merged")
        return
    if existing:
        pr = existing[0]
        if task.kind == "implement":
            ctx.forge.update_pull(repo.full_name, pr.number, body=body)
    else:
        pr = ctx.forge.create_pull(
            repo.full_name, title=task.title, body=body, head=task.branch, base=repo.base_branch
        )
    task = replace(task, pr_number=pr.number)
    ctx.mailbox.update(task)
    ctx.mailbox.finish(task.id, TaskState.DONE, f"PR #{pr.number} at {out.head_sha}")
    report.opened.append(pr.number)
    note_pr_opened(ctx, task, pr.number, out.agent)  # views: the decision `agentos why` shows
    metrics.record_event(
        ctx.paths.metrics,
        task=task.id,
        repo=task.repo,
        issue=task.issue,
        agent=out.agent,
        state="pr_opened",
        reason=f"PR #{pr.number}",
        pr=pr.number,
    )
    try:
        issue = ctx.forge.get_issue(repo.full_name, task.issue)
        Tracker(ctx.forge, ctx.paths.state, ctx.audit).move(repo, issue, "in_review")
        comment = render_issue_comment("pr_opened", task=task, pr=pr, agent=out.agent)
        ctx.forge.comment_issue(repo.full_name, task.issue, comment)
    except GitHubError as exc:
        ctx.log.warning("PR opened but the issue was not updated task=%s error=%s", task.id, exc)


def _repo_allowed(ctx: JobContext, repo: str) -> bool:
    """A repo switched off (or removed from the config) starts no new task; its tasks wait in the inbox."""
    try:
        key = ctx.config.repo(repo).key
    except KeyError:
        return False
    return is_allowed(Switches.load(ctx.paths.root).reload(), "queue", key)[0]


BACKOFF = "infra_backoff.json"


def _set_backoff(ctx: JobContext, task_id: str, until: datetime) -> None:
    def put(data: dict[str, str]) -> dict[str, str]:
        data[task_id] = until.isoformat()
        return data

    update_json(ctx.paths.state / BACKOFF, put)


def _backing_off(ctx: JobContext) -> set[str]:
    """Recovered tasks still inside their backoff window."""
    now = ctx.clock()
    raw = read_json(ctx.paths.state / BACKOFF, dict)
    return {task_id for task_id, until in raw.items() if datetime.fromisoformat(until) > now}


def _cooldowns(ctx: JobContext) -> dict[str, datetime]:
    raw = read_json(ctx.paths.state / "agent_cooldowns.json", dict)
    return {agent: datetime.fromisoformat(until) for agent, until in raw.items()}


def _set_cooldown(ctx: JobContext, agent: str, until_iso: str) -> None:
    def put(data: dict) -> dict:
        data[agent] = until_iso
        return data

    update_json(ctx.paths.state / "agent_cooldowns.json", put)
