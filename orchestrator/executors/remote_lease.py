"""Leases visible through GitHub, so several hosts can share repos and a dead host's task is taken over.

The dispatcher's "picked up" comment on the issue carries a lease marker (task, host, generation, heartbeat);
the queue edits that comment as its heartbeat while the task runs. Another host's dispatcher that sees an issue
In Progress with no task of its own, no open agent PR and a lease whose heartbeat is older than twice
`limits.lease_seconds` takes the task over: it claims the next generation's branch through the API (the same
atomic 422 claim as any dispatch — exactly one host wins) starting from the abandoned branch's head, so work
already pushed is kept. A host that comes back after being taken over is fenced: before each attempt and
before opening a PR it checks that no newer generation's branch exists for the issue.

Lease markers are trusted only from the account Agent OS acts as (GET /user), or — for a GitHub App, which
has no /user — from `[bot]` accounts, so a stranger's comment cannot fake or block a lease.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from orchestrator.values.models import Comment
from orchestrator.values.task_record import RemoteLease as StoredLease
from orchestrator.values.task_record import TaskRecord

if TYPE_CHECKING:
    from orchestrator.state.runtime import JobContext

_MARKER = re.compile(
    r"<!-- agent-os:lease task=(?P<task>\S+) host=(?P<host>\S+) gen=(?P<gen>\d+) heartbeat=(?P<beat>\S+) -->"
)
_GENERATION = re.compile(r"-g(\d+)$")


@dataclass(frozen=True)
class RemoteLease:
    comment_id: int
    task_id: str
    host: str
    generation: int
    heartbeat: datetime
    author: str


def lease_marker(task_id: str, host: str, generation: int, heartbeat: datetime) -> str:
    return f"<!-- agent-os:lease task={task_id} host={host} gen={generation} heartbeat={heartbeat.isoformat()} -->"


def lease_line(host: str, heartbeat: datetime, lease_seconds: int) -> str:
    minutes = max(1, round(2 * lease_seconds / 60))
    return (
        f"Host `{host}` holds this task; last heartbeat {heartbeat:%Y-%m-%d %H:%M:%S} UTC. "
        f"If it stops for {minutes} min, another Agent OS host takes over."
    )


def replace_marker(body: str, marker: str) -> str:
    """The comment with its lease marker (and the heartbeat line before it) brought up to date."""
    if _MARKER.search(body):
        return _MARKER.sub(marker, body)
    return f"{body.rstrip()}\n\n{marker}\n"


def latest_lease(comments: Iterable[Comment], trusted: str | None) -> RemoteLease | None:
    """The newest lease marker posted by the account Agent OS acts as (see the module docstring)."""
    found: RemoteLease | None = None
    for c in comments:
        if not _trusted(c.author, trusted):
            continue
        for m in _MARKER.finditer(c.body):
            try:
                beat = datetime.fromisoformat(m.group("beat"))
            except ValueError:
                continue
            lease = RemoteLease(c.id, m.group("task"), m.group("host"), int(m.group("gen")), beat, c.author)
            if found is None or (lease.generation, lease.heartbeat) >= (found.generation, found.heartbeat):
                found = lease
    return found


def _trusted(author: str, trusted: str | None) -> bool:
    return author == trusted if trusted else author.endswith("[bot]")


def expired(lease: RemoteLease, now: datetime, lease_seconds: int) -> bool:
    return now - lease.heartbeat > timedelta(seconds=2 * lease_seconds)


def newest_generation(branches: Iterable[str]) -> int:
    """The highest generation among an issue's task branches (`agent/N-slug` is 1, `…-gK` is K)."""
    best = 0
    for name in branches:
        match = _GENERATION.search(name)
        best = max(best, int(match.group(1)) if match else 1)
    return best


# --- the edge: posting and renewing the lease comment ----------------------------------------------------
# What this host needs to renew a task's lease comment is the `remote_lease` sub-record of the task's record
# (`orchestrator.state.task_records`); the mailbox drops it when the task reaches a terminal folder.


def post_lease(ctx: JobContext, repo: str, issue: int, task_id: str, generation: int, body: str) -> None:
    """Post the picked-up comment with its lease marker and remember it for heartbeats."""
    now = ctx.clock()
    lease_seconds = ctx.config.limits.lease_seconds
    text = f"{body.rstrip()}\n\n{lease_line(ctx.host, now, lease_seconds)}\n{lease_marker(task_id, ctx.host, generation, now)}\n"
    comment_id = ctx.forge.comment_issue(repo, issue, text)
    held = StoredLease(repo=repo, comment=comment_id, body=body, generation=generation, renewed=now)
    ctx.mailbox.records.update(task_id, lambda r: replace(r, remote_lease=held))


def announced(ctx: JobContext, task_ids: Iterable[str]) -> set[str]:
    """Those of `task_ids` whose lease comment this host posted (and still renews)."""
    found = ctx.mailbox.records.load_many(task_ids)
    return {task_id for task_id, record in found.items() if record.remote_lease is not None}


def renew_lease(ctx: JobContext, task_id: str) -> bool:
    """Edit the task's lease comment with a fresh heartbeat when the last one is older than a third of the
    lease (so at most one write per heartbeat interval, whoever calls). True when a heartbeat was posted."""
    return _renew(ctx, task_id, ctx.mailbox.records.load(task_id).remote_lease)


def _renew(ctx: JobContext, task_id: str, held: StoredLease | None) -> bool:
    if held is None:
        return False
    now = ctx.clock()
    lease_seconds = ctx.config.limits.lease_seconds
    if now - held.renewed < timedelta(seconds=lease_seconds / 3):
        return False
    text = (
        f"{held.body.rstrip()}\n\n{lease_line(ctx.host, now, lease_seconds)}\n"
        f"{lease_marker(task_id, ctx.host, held.generation, now)}\n"
    )
    ctx.forge.edit_comment(held.repo, held.comment, text)

    def put(record: TaskRecord) -> TaskRecord:
        if record.remote_lease is None:
            return record
        return replace(record, remote_lease=replace(record.remote_lease, renewed=now))

    ctx.mailbox.records.update(task_id, put)
    return True


def renew_waiting(ctx: JobContext, task_ids: Iterable[str]) -> None:
    """Keep the leases of tasks still waiting in this host's inbox alive, so a busy host's queue is not
    mistaken for a dead one (only tasks with a record are read)."""
    for task_id, record in ctx.mailbox.records.load_many(task_ids).items():
        _renew(ctx, task_id, record.remote_lease)


def superseded(ctx: JobContext, repo: str, issue: int, generation: int) -> int | None:
    """The newer generation that another host claimed for this issue, if any (fencing)."""
    newest = newest_generation(ctx.forge.matching_branches(repo, f"agent/{issue}-"))
    return newest if newest > generation else None
