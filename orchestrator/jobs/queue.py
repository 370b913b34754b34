"""Queue job: a burst worker that drains the inbox, up to `max_parallel_workers` tasks at once, then exits.

For each task: claim (rename into running/ with a lease) → one attempt (task_runner) → retry policy →
open the PR | follow-up on the same branch | next agent | retry later | park | escalate (queue_actions).
Expired leases of crashed runs are recovered first; pooled worktrees whose task is gone are reconciled.
A task that waits (backoff, rate-limit cooldown, parked) is not claimed until its wait is over.

Whatever goes wrong during an attempt, the task leaves running/: before the agent starts (fetch, worktree)
it is an infrastructure retry with a backoff; after, a named outcome (`push_failed`, `pr_failed`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import git
from orchestrator.config.settings import isolation_of
from orchestrator.containment.report import refusal as isolation_refusal
from orchestrator.edges import process
from orchestrator.executors import budgets
from orchestrator.executors.busy_poll import BusyPoll, DispatchPass
from orchestrator.executors.decision_hooks import note_running, note_waiting_for_agent
from orchestrator.executors.escalation import NotifyFn, escalate, mark_pending, repair_pending
from orchestrator.executors.queue_actions import QueueReport, after_attempt
from orchestrator.executors.remote_lease import renew_lease, superseded
from orchestrator.executors.task_runner import AgentRunner, AttemptOutcome, attempt, default_runner
from orchestrator.executors.worktrees import has_ref, pool_for
from orchestrator.github.errors import GitHubError
from orchestrator.policy import retry
from orchestrator.state import metrics
from orchestrator.state.mailbox import AlreadyClaimed, Lease, MailboxError, TaskNotFound
from orchestrator.state.runtime import JobContext
from orchestrator.state.store import StoreError
from orchestrator.state.switches import Switches, is_allowed
from orchestrator.state.task_waits import cooldowns, hold_back, set_wait
from orchestrator.state.worker_slots import Slot, WorkerSlots, try_lock
from orchestrator.values.models import AgentRun, AttemptRecord, Task, TaskState

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

__all__ = ["Hooks", "QueueReport", "run"]

StopCheck = Callable[[], str | None]
_PREPARE_ERRORS = (GitHubError, git.GitError, git.PoolExhausted, OSError)


@dataclass(frozen=True)
class Hooks:
    """How a burst talks to the outside: the agent runner, notifications, budget questions, and the
    `off --now` request (running agents are stopped and their work pushed)."""

    runner: AgentRunner
    notify: NotifyFn | None = None
    ask: budgets.Ask | None = None
    stop_now: Callable[[], bool] = lambda: False


class NotStarted(Exception):
    """The attempt failed before its agent started (fetch, worktree): an infrastructure retry."""


POLL_S = 5.0  # how often a queue with a free worker looks for newly dispatched tasks while its others run
RESCAN_S = 30.0  # … and re-reads the inbox even when its folder did not change (waits that ended)


def run(
    ctx: JobContext,
    runner: AgentRunner | None = None,
    should_stop: StopCheck = lambda: None,
    notify: NotifyFn | None = None,
    max_tasks: int | None = None,
    ask: budgets.Ask | None = None,
    stop_now: Callable[[], bool] = lambda: False,
    dispatch: DispatchPass | None = None,
) -> QueueReport:
    """Drain the inbox. Several queue processes may run at once (the dispatcher starts one each tick it
    enqueues work): each task runs in one of the host's `max_parallel_workers` worker slots, whichever
    process holds it, and a busy queue keeps picking up new tasks while a worker of its own is free.
    `dispatch` is a dispatcher pass the queue runs every `dispatch.busy_poll_seconds` while it has work in
    flight, so issues made Ready between cron ticks are claimed and start as soon as a worker frees."""
    report = QueueReport()
    hooks = Hooks(runner or default_runner(ctx.environ), notify, ask, stop_now)
    _maintain(ctx, report)
    refused = isolation_refusal(isolation_of(ctx.config)) if runner is None else None
    if refused:  # no agent starts without the configured isolation (containment/report.py)
        ctx.log.error("queue: no agent started: %s", refused)
        report.errors.append(refused)
        return report
    poll = BusyPoll(
        dispatch,
        ctx.config.dispatch.busy_poll_seconds,
        ctx.paths.locks,
        ctx.log,
        rate_remaining=lambda: ctx.forge.stats.rate_remaining,
    )
    try:
        _drain(ctx, hooks, report, should_stop, max_tasks, poll)
    finally:
        poll.close()
        report.errors.extend(poll.errors)
    return report


def _drain(
    ctx: JobContext,
    hooks: Hooks,
    report: QueueReport,
    should_stop: StopCheck,
    max_tasks: int | None,
    poll: BusyPoll,
) -> None:
    """Start inbox tasks while workers are free, until nothing runs here and no dispatcher pass is pending."""
    workers = max(1, ctx.config.limits.max_parallel_workers)
    slots = WorkerSlots(ctx.paths.locks, workers)
    inbox = _InboxWatch(ctx.mailbox.root / TaskState.INBOX.value)
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
            if not stop_reason and free > 0 and inbox.changed():
                for queued in _runnable(ctx, set(running.values()), seen)[:free]:
                    # nothing running here: a slot that looks held may be a released one a forked child
                    # still holds for a moment, so look again briefly before leaving work in the inbox
                    slot = slots.try_acquire() if running else slots.acquire_within()
                    if slot is None:
                        break  # every worker slot of this host is busy (maybe in another queue process)
                    seen[queued.id] = queued.attempt
                    fut = pool.submit(_work_in_slot, ctx, queued.id, hooks, report, slot)
                    running[fut] = queued.id
                    started += 1
            wake_in = poll.start_if_due(len(running), stopping=bool(stop_reason) or hooks.stop_now())
            waiting: list[Future[Any]] = [*running, *([poll.pending] if poll.pending else [])]
            if not waiting:
                break
            timeout = POLL_S if wake_in is None else max(0.05, min(POLL_S, wake_in))
            done, _ = wait(waiting, timeout=timeout, return_when=FIRST_COMPLETED)
            if poll.collect():
                inbox.force()  # the pass enqueued work: look at once
            for fut in done:
                if fut not in running:
                    continue  # the dispatcher pass, collected above
                task_id = running.pop(fut)
                inbox.force()  # a worker is free: look again
                exc = fut.exception()
                if exc is not None:
                    report.errors.append(f"{task_id}: {exc!r}")
                    ctx.log.error("task crashed task=%s error=%r", task_id, exc)


class _InboxWatch:
    """Whether the inbox may hold something new: its folder changed (a task arrived or left), a worker
    became free, or `RESCAN_S` passed (a wait ended) since the last look."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.last: tuple[int, float] | None = None

    def force(self) -> None:
        self.last = None

    def changed(self) -> bool:
        try:
            stamp = self.folder.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = 0
        now = time.monotonic()
        if self.last is not None and self.last[0] == stamp and now - self.last[1] < RESCAN_S:
            return False
        self.last = (stamp, now)
        return True


def _work_in_slot(ctx: JobContext, task_id: str, hooks: Hooks, report: QueueReport, slot: Slot) -> None:
    try:
        _work_on(ctx, task_id, hooks, report)
    finally:
        slot.release()


def _runnable(ctx: JobContext, running: set[str], seen: dict[str, int]) -> list[Task]:
    """Inbox tasks that may start now, in queue order: not running here, not already run at this attempt
    in this burst, not waiting (backoff, cooldown, parked), and of a repo that is switched on."""
    queued = ctx.mailbox.next_tasks(10_000)
    held = hold_back(ctx, queued)
    return [
        task
        for task in queued
        if task.id not in running
        and seen.get(task.id, 0) < task.attempt
        and task.id not in held
        and _repo_allowed(ctx, task.repo)
    ]


def _maintain(ctx: JobContext, report: QueueReport) -> None:
    """Recovery, by one queue process at a time (another one doing it right now is enough)."""
    fd = try_lock(ctx.paths.locks / "queue-maintenance.lock")
    if fd is None:
        return
    try:
        _recover(ctx, report)
    finally:
        os.close(fd)


def _recover(ctx: JobContext, report: QueueReport) -> None:
    """Requeue tasks whose lease expired and whose process is gone; free orphaned worktrees."""
    now = ctx.clock()
    for expired in ctx.mailbox.expired_leases(now, ctx.config.limits.lease_seconds, _is_alive(ctx.host)):
        for pidfile in (ctx.paths.agent_runs / expired.task_id).glob("**/agent.pid"):
            if process.kill_recorded_group(pidfile):
                ctx.log.warning("killed an orphaned agent task=%s pidfile=%s", expired.task_id, pidfile)
        try:
            _infra_retry(ctx, expired.task_id, "lease expired")
        except MailboxError as exc:  # moved meanwhile (finished by its holder) or malformed (quarantined)
            ctx.log.warning("recovery skipped task=%s error=%s", expired.task_id, exc)
            continue
        report.recovered.append(expired.task_id)
    repair_pending(ctx)
    live = set(ctx.mailbox.ids(TaskState.RUNNING))
    for repo in ctx.config.repos:
        if repo.enabled:
            try:  # the pool's settings carry the forge token for git over HTTPS: none while GitHub is down
                pool = pool_for(ctx, repo)
            except GitHubError as exc:
                ctx.log.warning("worktree pool not reconciled repo=%s error=%s", repo.full_name, exc)
                continue
            pool.reconcile(sorted(live))


def _infra_retry(ctx: JobContext, task_id: str, reason: str) -> None:
    """Running → inbox after an infrastructure failure (the process died, no worktree could be prepared):
    counted in the task's record, retried after a backoff, escalated past `MAX_INFRA_RETRIES`. The wait is
    recorded before the task leaves running/, so no other queue process can claim it inside its backoff."""
    now = ctx.clock()
    ctx.mailbox.get(task_id)  # TaskNotFound / MalformedTask when it moved meanwhile
    retries = ctx.mailbox.infra_retries(task_id) + 1
    if retries <= retry.MAX_INFRA_RETRIES:
        until = now + retry.infra_backoff(retries, task_id)
        set_wait(ctx, task_id, retry.Wait(f"infrastructure retry {retries}: {reason}", until=until))
    task = ctx.mailbox.recover(task_id, reason)
    if retries > retry.MAX_INFRA_RETRIES:
        why = f"the task failed {retries} times for infrastructure reasons; last: {reason}"
        mark_pending(ctx, task.id, task.repo, why)
        ctx.mailbox.finish(task.id, TaskState.ESCALATED, why)
        escalate(ctx, ctx.config.repo(task.repo), task, why)
        return
    metrics.record_event(
        ctx.paths.metrics, task=task_id, repo=task.repo, issue=task.issue, state="recovered", reason=reason
    )


def _is_alive(this_host: str) -> Callable[[str, int], bool]:
    def alive(host: str, pid: int) -> bool:
        if host != this_host:
            return True  # another host's lease: only its own expiry can free it
        return process.pid_exists(pid)

    return alive


def _work_on(ctx: JobContext, task_id: str, hooks: Hooks, report: QueueReport) -> None:
    try:
        claimed = ctx.mailbox.claim(task_id, Lease(host=ctx.host, pid=os.getpid(), started=ctx.clock()))
    except AlreadyClaimed:
        return
    task = claimed.task
    stop_beat = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(ctx, task_id, stop_beat, hooks.stop_now), daemon=True)
    beat.start()
    try:
        _attempt_and_decide(ctx, task, hooks, report)
    except NotStarted as exc:
        ctx.log.warning("attempt not started task=%s error=%s", task_id, exc)
        _infra_retry(ctx, task_id, str(exc))
    except (GitHubError, git.GitError, MailboxError, StoreError, OSError) as exc:
        # the last resort: whatever failed, the task does not stay in running/
        ctx.log.error("attempt failed task=%s error=%r", task_id, exc)
        report.errors.append(f"{task_id}: {exc}")
        if _still_running(ctx, task_id):
            _infra_retry(ctx, task_id, f"{type(exc).__name__}: {exc}")
    finally:
        stop_beat.set()
        beat.join()


def _attempt_and_decide(ctx: JobContext, task: Task, hooks: Hooks, report: QueueReport) -> None:
    repo = ctx.config.repo(task.repo)
    try:
        if _nothing_left_to_do(ctx, task):
            return
        base_sha = ctx.forge.get_branch_sha(task.repo, repo.base_branch)
    except GitHubError as exc:
        raise NotStarted(f"GitHub could not be read before the attempt: {exc}") from exc
    outcome = _run_attempt(ctx, repo, task, hooks.runner, hooks.ask)
    if outcome is None:
        ctx.mailbox.requeue(task.id, task)  # every agent cooling down or over budget: next tick
        note_waiting_for_agent(ctx, task)  # views: the decision `agentos why` shows
        return
    if hooks.stop_now():
        _stopped(ctx, outcome)
        return
    after_attempt(ctx, repo, outcome, hooks.notify, report, base_sha)


def _still_running(ctx: JobContext, task_id: str) -> bool:
    found = ctx.mailbox.locate(task_id)
    return found is not None and found[0] is TaskState.RUNNING


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
            except (GitHubError, OSError) as exc:  # a full disk must not end the heartbeat: beat again
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
    resting = cooldowns(ctx.paths.state)
    for agent_name in budgets.blocked_agents(ctx, budgets.current_spend(ctx), ask):
        resting[agent_name] = datetime.max.replace(tzinfo=UTC)  # over its monthly budget
    agent = retry.first_agent(task, resting, ctx.clock())
    if agent is None:
        return None
    pool = pool_for(ctx, repo)
    try:
        pool.fetch()
        worktree = pool.acquire(task.branch, _start_point(pool, task, repo), owner=task.id)
    except _PREPARE_ERRORS as exc:
        raise NotStarted(f"could not prepare a worktree: {exc}") from exc
    metrics.record_event(
        ctx.paths.metrics, task=task.id, repo=task.repo, issue=task.issue, agent=agent, state="agent_started"
    )
    note_running(ctx, task, agent)  # views: the decision `agentos why` shows
    try:
        return attempt(ctx, repo, task, agent, worktree, runner)
    except (GitHubError, git.GitError) as exc:  # after the agent ran: committing or pushing its work
        return _failed_after_agent(task, agent, exc)
    finally:
        pool.release(worktree)


def _start_point(pool: git.WorktreePool, task: Task, repo: RepoConfig) -> str:
    """The task branch when it holds work of its own; else the base tip (a claim branch left behind the
    base, e.g. by a task parked until a prerequisite merged, starts from the current base)."""
    branch_ref, base_ref = f"origin/{task.branch}", f"origin/{repo.base_branch}"
    if not has_ref(pool, branch_ref):
        return base_ref
    if git.is_ancestor(pool.repo_dir, branch_ref, base_ref, pool.settings):
        return base_ref
    return branch_ref


def _failed_after_agent(task: Task, agent: str, exc: Exception) -> AttemptOutcome:
    detail = f"the agent's work was not pushed: {exc}"
    run = AgentRun(agent=agent, exit_code=None, duration_s=0.0, is_error=True, error=detail[:300])
    return AttemptOutcome(task, agent, retry.Outcome.PUSH_FAILED, detail[:500], run, None, None, None, ())


def _repo_allowed(ctx: JobContext, repo: str) -> bool:
    """A repo switched off (or removed from the config) starts no new task; its tasks wait in the inbox."""
    try:
        key = ctx.config.repo(repo).key
    except KeyError:
        return False
    return is_allowed(Switches.load(ctx.paths.root).reload(), "queue", key)[0]
