"""The mailbox's value types and outcomes (orchestrator.state.mailbox re-exports them): errors, leases, entries."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from orchestrator.edges.process import pid_exists
from orchestrator.values.models import Task, TaskState
from orchestrator.values.task_record import Lease

TERMINAL_STATES = (TaskState.DONE, TaskState.FAILED, TaskState.BLOCKED, TaskState.ESCALATED)


class MailboxError(Exception):
    """Base of every mailbox outcome."""


class TaskExists(MailboxError):
    """enqueue(): a file for this task id already exists in some folder."""


class TaskNotFound(MailboxError):
    """No folder holds a file for this task id (or not the folder the operation needs)."""


class AlreadyClaimed(MailboxError):
    """claim(): the task was not in inbox/ any more — another process claimed (or moved) it first."""


class MalformedTask(MailboxError):
    """The task file did not parse; it has been moved to `path` (in failed/) with the error appended."""

    def __init__(self, task_name: str, path: Path, error: str) -> None:
        super().__init__(f"malformed task file {task_name}: {error} (moved to {path})")
        self.path = path
        self.error = error


@dataclass(frozen=True)
class ClaimedTask:
    task: Task
    path: Path
    lease: Lease


@dataclass(frozen=True)
class TaskEntry:
    id: str
    state: TaskState
    path: Path
    mtime: datetime
    task: Task | None  # None when the file does not parse
    error: str | None = None  # the parse error, naming the line or field
    log: str = ""


@dataclass(frozen=True)
class ExpiredLease:
    task_id: str
    path: Path
    heartbeat: datetime
    lease: Lease | None  # None when the sidecar is missing or unreadable


def local_process_alive(host: str, pid: int) -> bool:
    """Liveness for `expired_leases`: the pid exists on this host. A lease from another host name is dead
    (the mailbox lives on local disk; a different name means the host was renamed or the disk moved)."""
    return host == socket.gethostname() and pid_exists(pid)
