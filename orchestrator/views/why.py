"""`bin/agentos why OWNER/NAME#N` (and Telegram's `/why N`): why an issue is, or is not, moving.

    acme/api#42  Add slugify()
    now: PR #57 waits: CI is running — waiting for check tests
    GitHub: open · column In Review · PR #57 open · last lease by host vps-2
    this host: task acme__api__42__g1 in running/ since 2025-05-20 11:02 UTC (attempt 2, claude)
    decisions (newest first):
      pr_monitor  2025-05-20 12:03 UTC (5m 00s ago)   PR #57 waits: CI is running — waiting for check tests
      queue       2025-05-20 11:40 UTC (28m 00s ago)  PR #57 opened after attempt 1 by claude; …

The answer comes from what the jobs recorded (orchestrator.state.decisions) and this host's mailbox; with a forge
it also says what GitHub shows now (open or closed, column, agent PRs, whose lease) — which is how an issue
no job has looked at is explained ("not in Ready"). GitHub failing is said, not fatal.

`why_text(config, paths, ref, forge=None)` is the one function both the CLI and the Telegram command call;
`gather` reads, `render` is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orchestrator.github.errors import GitHubError, NotFound
from orchestrator.state import decisions
from orchestrator.state.mailbox import Mailbox
from orchestrator.values.models import TaskState
from orchestrator.values.untrusted_text import terminal_safe
from orchestrator.views import formatting

if TYPE_CHECKING:
    from orchestrator.config import Config, RepoConfig
    from orchestrator.github.protocol import Forge
    from orchestrator.policy.control_commands import IssueRef
    from orchestrator.state.runtime import RuntimePaths

LOCAL_STATES = (TaskState.RUNNING, TaskState.INBOX, TaskState.ESCALATED, TaskState.BLOCKED)


@dataclass(frozen=True)
class LiveIssue:
    """What GitHub shows about the issue now."""

    state: str  # "open" | "closed" | "missing"
    title: str
    labels: tuple[str, ...]
    column: str | None  # the board column (project mode) or the workflow label (labels mode); None: none
    ready: bool
    prs: tuple[tuple[int, str], ...] = ()  # agent PRs: (number, "open" | "merged" | "closed")
    lease_host: str | None = None
    is_pr: bool = False


@dataclass(frozen=True)
class LocalTask:
    id: str
    state: TaskState
    attempt: int
    agent: str
    host: str
    since: datetime | None


@dataclass(frozen=True)
class WhyView:
    repo: str
    number: int
    now: datetime
    subject: decisions.Subject | None
    tasks: tuple[LocalTask, ...]
    live: LiveIssue | None
    live_error: str = ""  # why GitHub was not asked or did not answer


# --- reading ---------------------------------------------------------------------------------------------------


def why_text(
    config: Config,
    paths: RuntimePaths,
    ref: IssueRef,
    forge: Forge | None = None,
    now: datetime | None = None,
) -> str:
    """The answer to "why is REF (not) moving?" as plain text (the CLI prints it, Telegram sends it)."""
    return terminal_safe(render(gather(config, paths, ref, forge, now or datetime.now(UTC))))


def gather(config: Config, paths: RuntimePaths, ref: IssueRef, forge: Forge | None, now: datetime) -> WhyView:
    repo = config.repo(ref.repo)
    try:
        subject = decisions.subject(paths.state, repo.full_name, ref.number)
    except decisions.CorruptDecisions as exc:
        subject, error = None, f"recorded decisions unreadable: {exc}"
    else:
        error = ""
    issue = subject.issue if subject is not None and subject.issue is not None else ref.number
    tasks = _local_tasks(paths, repo.full_name, issue)
    if forge is None:
        return WhyView(repo.full_name, ref.number, now, subject, tasks, None, error or "GitHub not asked")
    try:
        live = live_issue(forge, paths, repo, issue)
    except GitHubError as exc:
        return WhyView(repo.full_name, ref.number, now, subject, tasks, None, f"GitHub did not answer: {exc}")
    return WhyView(repo.full_name, ref.number, now, subject, tasks, live, error)


def _local_tasks(paths: RuntimePaths, repo: str, issue: int) -> tuple[LocalTask, ...]:
    mailbox = Mailbox(paths.mailbox)
    entries = mailbox.find(repo, issue=issue)  # from the index: the mailbox is not listed
    found = []
    for state in LOCAL_STATES:
        for entry in entries:
            task = entry.task
            if entry.state != state or task is None:
                continue
            lease = mailbox.read_lease(entry.id) if state == TaskState.RUNNING else None
            since = lease.started if lease else (task.created_at if state == TaskState.INBOX else entry.mtime)
            agent = task.agents[0] if task.agents else ""
            found.append(LocalTask(task.id, state, task.attempt, agent, lease.host if lease else "", since))
    return tuple(found)


def live_issue(forge: Forge, paths: RuntimePaths, repo: RepoConfig, number: int) -> LiveIssue:
    """The issue as GitHub shows it now: state, column, agent PRs, the host holding its lease."""
    from orchestrator.executors.remote_lease import latest_lease
    from orchestrator.executors.tracker import Tracker

    try:
        issue = forge.get_issue(repo.full_name, number)
    except NotFound:
        return LiveIssue("missing", "", (), None, False)
    prs = tuple(
        (p.number, "merged" if p.merged else p.state)
        for p in forge.list_pulls(repo.full_name, state="all")
        if p.head_ref.startswith(f"agent/{number}-")
    )
    if repo.board.mode == "labels":
        names = repo.labels
        columns = (names.ready, names.in_progress, names.in_review, names.blocked)
        column = next((label for label in columns if label in issue.labels), None)
        ready = names.ready in issue.labels
    else:
        items = Tracker(forge, paths.state).board_items(repo)
        column = next(
            (
                i.status
                for i in items
                if i.issue_number == number and i.repo.casefold() == repo.full_name.casefold()
            ),
            None,
        )
        ready = (column or "").casefold() == repo.board.statuses.ready.casefold()
    lease = latest_lease(forge.list_comments(repo.full_name, number), forge.viewer_login())
    return LiveIssue(
        issue.state, issue.title, issue.labels, column, ready, prs, lease.host if lease else None
    )


# --- rendering (pure) ------------------------------------------------------------------------------------------


def headline(view: WhyView) -> str:
    """One line: where the issue stands now."""
    live = view.live
    newest = view.subject.newest_first()[0] if view.subject and view.subject.decisions else None
    queued = next((t for t in view.tasks if t.state == TaskState.INBOX), None)
    if live is not None and live.state == "missing":
        return f"#{view.number} does not exist in {view.repo}"
    if live is not None and live.state == "closed":
        merged = [n for n, state in live.prs if state == "merged"]
        return f"closed — PR #{merged[-1]} merged" if merged else "closed (no agent PR merged)"
    running = next((t for t in view.tasks if t.state == TaskState.RUNNING), None)
    if running is not None:
        return f"running on host {running.host or '?'} (attempt {running.attempt}, task {running.id})"
    not_ready = live is not None and not live.ready
    if newest is None or (newest.job == "dispatcher" and newest.code != "dispatched" and not_ready):
        if queued is not None:
            return _queued(queued)
        if live is not None and not_ready:
            where = (
                f"it is in {live.column}"
                if live.column
                else "it is not on the board and has no workflow label"
            )
            return f"not Ready: the dispatcher only takes issues in Ready; {where}"
        if live is not None:
            return "Ready, and no job has decided anything about it yet: the next dispatcher tick takes it"
        return "no job has recorded a decision about it on this host"
    if newest.code == "dispatched" and queued is not None:
        return _queued(queued)
    return newest.words


def _queued(task: LocalTask) -> str:
    return f"queued in this host's inbox as {task.id} (attempt {task.attempt})"


def render(view: WhyView) -> str:
    subject = view.subject
    title = (view.live.title if view.live else "") or (subject.title if subject else "")
    lines = [f"{view.repo}#{view.number}" + (f"  {title}" if title else "")]
    if subject is not None and subject.issue is not None and subject.issue != view.number:
        lines.append(f"(#{view.number} is the PR of issue #{subject.issue})")
    lines.append(f"now: {headline(view)}")
    lines.append(_github_line(view))
    for task in view.tasks:
        since = formatting.timestamp(task.since) if task.since else formatting.MISSING
        host = f" on host {task.host}" if task.host else ""
        lines.append(
            f"this host: task {task.id} in {task.state.value}/{host} since {since} "
            f"(attempt {task.attempt}, {task.agent or '-'})"
        )
    if subject is None or not subject.decisions:
        lines.append("decisions: none recorded")
        return "\n".join(lines) + "\n"
    lines.append("decisions (newest first):")
    width = max(len(d.job) for d in subject.decisions.values())
    for decision in subject.newest_first():
        when = f"{formatting.timestamp(decision.since)} ({formatting.ago(decision.since, view.now)})"
        lines.append(f"  {decision.job:<{width}}  {when}  {decision.words}")
    return "\n".join(lines) + "\n"


def _github_line(view: WhyView) -> str:
    live = view.live
    if live is None:
        return f"GitHub: {view.live_error or 'not asked'}"
    if live.state == "missing":
        return "GitHub: no such issue"
    parts = [live.state, f"column {live.column}" if live.column else "not on the board"]
    interesting = [label for label in live.labels if label != live.column]
    if interesting:
        parts.append("labels: " + ", ".join(interesting))
    parts += [f"PR #{n} {state}" for n, state in live.prs]
    if live.lease_host:
        parts.append(f"last lease by host {live.lease_host}")
    return "GitHub: " + " · ".join(parts)
