"""One read of everything the terminal views show: switches, repos, tasks in the mailbox, job runs, API budget.

Collected once per frame (`collect`), then rendered by status.py and task_watch.py without further I/O.
Only the tail of the event log is read (the last agent of each running task, each repo's last event), so a
frame stays cheap however long the history is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.config import Config, RepoConfig
from orchestrator.state import decisions
from orchestrator.state.mailbox import Mailbox
from orchestrator.state.metrics import Event
from orchestrator.state.metrics import tail_events as metrics_tail
from orchestrator.state.runtime import RuntimePaths
from orchestrator.state.store import CorruptStateError
from orchestrator.state.switches import Switches, SwitchState
from orchestrator.values.job_registry import JOB_NAMES
from orchestrator.values.models import TaskState
from orchestrator.views.job_runs import (
    ApiUsage,
    JobRun,
    last_error,
    last_log_record,
    read_api_usage,
    read_job_runs,
)

log = logging.getLogger(__name__)

EVENT_TAIL_BYTES = 1 << 20
CLOSED_PR_CODES = frozenset({"merged", "wedged"})
SHOWN_STATES = (TaskState.RUNNING, TaskState.INBOX, TaskState.ESCALATED, TaskState.BLOCKED)


@dataclass(frozen=True)
class RepoView:
    key: str
    full_name: str
    enabled: bool  # the config's `enabled`
    switch_on: bool
    mode: str  # "auto" | "review" (switched at runtime) | "default" (the config's behaviour)
    counts: dict[str, int]  # task state → tasks of this repo in that folder
    last_event: Event | None


@dataclass(frozen=True)
class TaskView:
    id: str
    state: TaskState
    repo: str
    issue: int | None
    title: str
    agent: str
    attempt: int | None
    since: datetime  # running: the lease start (else the heartbeat); inbox: created; else: the file's mtime
    host: str = ""
    error: str = ""  # a malformed file's parse error
    pr: int | None = None  # the task's PR, once it has one


@dataclass(frozen=True)
class PullView:
    """An open agent PR and pr_monitor's latest decision about it (orchestrator.state.decisions)."""

    repo: str
    number: int
    issue: int | None
    title: str
    code: str  # "waiting_ci", "needs_approval", "behind_base", … ("" when nothing was recorded)
    words: str
    since: datetime | None


@dataclass(frozen=True)
class OperatorSnapshot:
    now: datetime
    switches: SwitchState | None
    switch_error: str
    repos: tuple[RepoView, ...]
    tasks: tuple[TaskView, ...]
    jobs: tuple[tuple[str, JobRun | None], ...]
    api: ApiUsage
    pulls: tuple[PullView, ...] = ()
    waits: tuple[str, ...] = ()  # tasks waiting (backoff, cooldown, parked) and claims without a task


def collect(config: Config | None, paths: RuntimePaths, now: datetime) -> OperatorSnapshot:
    """Read the runtime dir. `config` may be None (no repos are listed then, only tasks)."""
    switches, switch_error = _switches(paths)
    tail = tail_events(paths.metrics)
    tasks = mailbox_tasks(paths, tail)
    repos = tuple(_repo_view(repo, switches, tasks, tail) for repo in (config.repos if config else ()))
    recorded = read_job_runs(paths)
    jobs = tuple(
        (job, _with_reason(paths, recorded.get(job)) or last_log_record(paths.logs, job)) for job in JOB_NAMES
    )
    pulls = tuple(p for repo in (config.repos if config else ()) for p in open_pulls(paths, repo.full_name))
    waits = _waits(paths, now, config.limits.lease_seconds if config else 900)
    api = read_api_usage(paths)
    return OperatorSnapshot(now, switches, switch_error, repos, tasks, jobs, api, pulls, waits)


def _waits(paths: RuntimePaths, now: datetime, lease_seconds: int) -> tuple[str, ...]:
    """What the queue and the dispatcher are waiting for (task waits, orphan claims), one line each, and the
    task records that cannot be read."""
    from orchestrator.executors import claim_facts
    from orchestrator.state import task_waits

    try:
        lines = [f"{task}: {why}" for task, why in sorted(task_waits.describe(paths.state, now).items())]
        lines += [
            f"{issue}: {why}"
            for issue, why in sorted(claim_facts.describe(paths.state, lease_seconds).items())
        ]
        lines += task_waits.records_of(paths.state).problems()  # task records that do not decode, by name
    except CorruptStateError as exc:
        return (f"unreadable: {exc}",)
    return tuple(lines)


def open_pulls(paths: RuntimePaths, repo: str) -> list[PullView]:
    """The agent PRs pr_monitor saw open on its last tick, each with its latest word about it."""
    views = []
    for number in decisions.open_prs(paths.state, repo) or ():
        try:
            subject = decisions.subject(paths.state, repo, number)
        except decisions.CorruptDecisions as exc:
            log.warning("decisions of %s#%s unreadable: %s", repo, number, exc)
            subject = None
        said = subject.decisions.get("pr_monitor") if subject else None
        if said is not None and said.pr != number:
            said = None
        if said is not None and said.code in CLOSED_PR_CODES:
            continue  # merged or closed during pr_monitor's last tick
        views.append(
            PullView(
                repo,
                number,
                subject.issue if subject else None,
                subject.title if subject else "",
                said.code if said else "",
                said.words if said else "no decision recorded yet",
                said.since if said else None,
            )
        )
    return views


def _with_reason(paths: RuntimePaths, run: JobRun | None) -> JobRun | None:
    """A failed run whose recorded message does not say why gets the last error its job logged in that run."""
    if run is None or not run.code:
        return run
    reason = last_error(paths.logs, run.job, run.started)
    if not reason or reason in run.message:
        return run
    return replace(run, message=f"{run.message}: {reason}")


def _switches(paths: RuntimePaths) -> tuple[SwitchState | None, str]:
    try:
        return Switches.load(paths.root).state, ""
    except CorruptStateError as exc:
        return None, str(exc)


def tail_events(metrics_dir: Path, max_bytes: int = EVENT_TAIL_BYTES) -> list[Event]:
    """The events in the last `max_bytes` of the log, across months (the first, possibly cut, line dropped)."""
    return metrics_tail(metrics_dir, max_bytes)


def mailbox_tasks(paths: RuntimePaths, tail: Sequence[Event] = ()) -> tuple[TaskView, ...]:
    """The tasks of this host's mailbox that `status` and the dashboard show (running, queued, escalated,
    blocked; a malformed file as its error). The agent is the last one `tail` saw start, else the chain's
    first."""
    last_agent = {e.task_id: e.agent for e in tail if e.state == "agent_started" and e.task_id}
    mailbox = Mailbox(paths.mailbox)
    views = []
    for state in SHOWN_STATES:
        for entry in mailbox.list(state):
            if entry.task is None:
                views.append(
                    TaskView(entry.id, state, "", None, "", "", None, entry.mtime, error=entry.error or "")
                )
                continue
            task, since, host = entry.task, entry.mtime, ""
            if state == TaskState.INBOX and task.created_at is not None:
                since = task.created_at if task.created_at.tzinfo else task.created_at.replace(tzinfo=UTC)
            if state == TaskState.RUNNING:
                lease = mailbox.read_lease(entry.id)
                if lease is not None:
                    since, host = lease.started, lease.host
            agent = last_agent.get(task.id) or (task.agents[0] if task.agents else "")
            views.append(
                TaskView(
                    task.id,
                    state,
                    task.repo,
                    task.issue,
                    task.title,
                    agent,
                    task.attempt,
                    since,
                    host,
                    pr=task.pr_number,
                )
            )
    return tuple(views)


def _repo_view(
    repo: RepoConfig, switches: SwitchState | None, tasks: Sequence[TaskView], tail: Sequence[Event]
) -> RepoView:
    switch = switches.repo(repo.key) if switches else None
    counts: dict[str, int] = {}
    for task in tasks:
        if task.repo.lower() == repo.full_name.lower():
            counts[task.state.value] = counts.get(task.state.value, 0) + 1
    last = next((e for e in reversed(tail) if e.repo.lower() == repo.full_name.lower()), None)
    return RepoView(
        key=repo.key,
        full_name=repo.full_name,
        enabled=repo.enabled,
        switch_on=switch.on if switch else True,
        mode=(switch.mode if switch and switch.mode else "default"),
        counts=counts,
        last_event=last,
    )
