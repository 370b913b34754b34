"""`bin/agentos status`: kill switches, per-repo state, tasks in flight, open agent PRs and what each waits on,
each job's last run, API budget left.

`render_status(config, paths)` returns plain text (rich tables, no colour codes) for the CLI to print; the
pieces (`switch_lines`, `repo_table`, `task_table`, `job_table`, `api_line`) are shared with `tasks --watch`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from orchestrator.config import Config
from orchestrator.state.runtime import RuntimePaths
from orchestrator.state.switches import Change
from orchestrator.values.models import TaskState
from orchestrator.values.untrusted_text import terminal_safe
from orchestrator.views import formatting
from orchestrator.views.snapshot import OperatorSnapshot, TaskView, collect

DEFAULT_WIDTH = 120


def render_status(
    config: Config | None, paths: RuntimePaths, now: datetime | None = None, width: int = DEFAULT_WIDTH
) -> str:
    snapshot = collect(config, paths, now or datetime.now(UTC))
    parts = status_renderables(snapshot)
    if config is not None:  # which isolation agents run under (containment/report.py)
        from orchestrator.config.settings import isolation_of
        from orchestrator.containment.report import status_line

        parts.insert(1, Text(status_line(isolation_of(config))))
    return to_text(parts, width)


def to_text(renderables: Iterable[RenderableType], width: int = DEFAULT_WIDTH) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False, record=True)
    for renderable in renderables:
        console.print(renderable)
    text = "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"
    return terminal_safe(text)  # task reasons quote agent text and our test run of its code


def status_renderables(snap: OperatorSnapshot) -> list[RenderableType]:
    parts: list[RenderableType] = [Text(f"Agent OS status at {formatting.timestamp(snap.now)}", style="bold")]
    parts += [Text(line) for line in switch_lines(snap)]
    if snap.repos:
        parts.append(repo_table(snap))
    in_flight = [t for t in snap.tasks if t.state in (TaskState.RUNNING, TaskState.INBOX)]
    parts.append(task_table(in_flight, snap.now, "Tasks in flight"))
    if snap.waits:
        parts.append(Text("Waiting (retry backoff, rate-limit cooldown, parked, claims without a task):"))
        parts += [Text(f"  {line}") for line in snap.waits]
    waiting = [t for t in snap.tasks if t.state in (TaskState.ESCALATED, TaskState.BLOCKED)]
    if waiting:
        parts.append(task_table(waiting, snap.now, "Escalated / blocked (waiting for a human)"))
    if snap.repos:
        parts.append(pull_table(snap))
    parts.append(job_table(snap))
    parts.append(Text(api_line(snap)))
    return parts


def switch_lines(snap: OperatorSnapshot) -> list[str]:
    if snap.switches is None:
        return [f"kill switches: UNREADABLE ({snap.switch_error}) — jobs treat this as an error"]
    state = snap.switches
    lines = [f"global: {'ON' if state.global_switch.on else 'OFF'}{_change(state.global_switch.change)}"]
    if state.stop_now is not None:
        lines.append(f"stop now requested{_change(state.stop_now)}: running agents are being stopped")
    off_jobs = [f"{name}{_change(s.change)}" for name, s in sorted(state.jobs.items()) if not s.on]
    if off_jobs:
        lines.append("jobs switched off: " + "; ".join(off_jobs))
    return lines


def _change(change: Change | None) -> str:
    return f" ({change.describe()})" if change else ""


def repo_table(snap: OperatorSnapshot) -> Table:
    table = Table(title="Repos", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("repo", "owner/name", "state", "mode", "running", "queued", "escalated", "last event"):
        table.add_column(column, justify="right" if column in ("running", "queued", "escalated") else "left")
    for repo in snap.repos:
        state = (
            "on"
            if repo.enabled and repo.switch_on
            else ("disabled in config" if not repo.enabled else "switched off")
        )
        last = repo.last_event
        last_text = f"{last.state} {formatting.ago(last.ts, snap.now)}" if last else formatting.MISSING
        table.add_row(
            repo.key,
            repo.full_name,
            state,
            repo.mode,
            str(repo.counts.get("running", 0)),
            str(repo.counts.get("inbox", 0)),
            str(repo.counts.get("escalated", 0)),
            last_text,
        )
    return table


def task_table(tasks: Iterable[TaskView], now: datetime, title: str) -> Table | Text:
    rows = list(tasks)
    if not rows:
        return Text(f"{title}: none")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("state", "issue", "agent", "elapsed", "attempt", "host", "title"):
        table.add_column(column, overflow="ellipsis", no_wrap=column == "title")
    for task in rows:
        if task.error:
            table.add_row(task.state.value, task.id, "-", "-", "-", "-", f"MALFORMED: {task.error}")
            continue
        table.add_row(
            task.state.value,
            f"{task.repo}#{task.issue}",
            task.agent or "-",
            formatting.duration((now - task.since).total_seconds()),
            str(task.attempt) if task.attempt is not None else "-",
            task.host or "-",
            task.title,
        )
    return table


def pull_table(snap: OperatorSnapshot) -> Table | Text:
    """Open agent PRs and what each waits on (pr_monitor's latest decision; `agentos why` has the rest)."""
    if not snap.pulls:
        return Text("Open agent PRs: none")
    table = Table(title="Open agent PRs (waiting on)", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("PR", "issue", "waiting on", "since", "pr_monitor's latest word"):
        table.add_column(column, overflow="fold" if column.startswith("pr_") else "ellipsis")
    for pull in snap.pulls:
        table.add_row(
            f"{pull.repo}#{pull.number}",
            f"#{pull.issue}" if pull.issue is not None else "-",
            pull.code.replace("_", " ") or "-",
            formatting.ago(pull.since, snap.now),
            pull.words,
        )
    return table


def job_table(snap: OperatorSnapshot) -> Table:
    table = Table(title="Jobs (last run)", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("job", "switch", "last run", "result", "message"):
        # the message wraps: a long failure reason must not squeeze the job name and result out of the table
        table.add_column(column, overflow="fold", no_wrap=column != "message")
    for job, run in snap.jobs:
        switch_on = snap.switches.job(job).on if snap.switches else True
        if run is None:
            table.add_row(job, "on" if switch_on else "OFF", "never", "-", "")
            continue
        if run.code is not None:
            result = "ok" if run.code == 0 else f"exit {run.code}"
        else:
            result = f"log: {run.level or '?'}"
        table.add_row(
            job, "on" if switch_on else "OFF", formatting.ago(run.finished, snap.now), result, run.message
        )
    return table


def api_line(snap: OperatorSnapshot) -> str:
    api = snap.api
    if api.last_remaining is None:
        return "GitHub API budget: no request recorded yet"
    current = snap.now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hour = next((h for h in api.hours if h.hour == current), None)
    spent = (
        f"; this hour {hour.counted} counted, {hour.not_modified} free 304s, {hour.graphql_points} GraphQL points"
        if hour
        else ""
    )
    return (
        f"GitHub API budget: {api.last_remaining} requests left "
        f"(seen {formatting.ago(api.last_seen, snap.now)} by {api.last_job or '?'}){spent}"
    )
