"""The maildir-style task queue under `runtime/mailbox/`.

    tmp/                       files being written (never read as tasks)
    inbox/ running/ done/ failed/ blocked/ escalated/   <task-id>.md — the folder is the state

A task file's format is `orchestrator.state.task_file`. Every state change is one `os.rename` within the mailbox,
so a task is always in exactly one folder. Creation writes the whole file in tmp/ and then `os.link`s it
into inbox/ (fails if the name exists), so a half-written task is never visible. A claim is the rename
inbox → running: of two processes claiming the same task exactly one rename succeeds, the other gets
`AlreadyClaimed`. The lease's heartbeat is the mtime of the running file (`heartbeat()` touches it); the
task's record (`orchestrator.state.task_records`, `runtime/state/tasks/<task-id>.json`) says which host and
pid hold it, and counts the infrastructure retries (`recover`). A task that leaves running/ loses its lease;
one that reaches a terminal folder loses its live state (lease, remote lease, wait) too. A file that does not
parse is moved to failed/ with the parse error appended under "## Log", so it never blocks the queue.

`find()` / `task_for_branch()` / `last_generations()` are the one lookup of "the task of this issue or branch":
they read the index (`orchestrator.state.task_index`, kept in step with every change made here and reconciled
with the folders before it answers) and parse only the files they return, never the finished history.
Finished tasks older than the retention are moved into monthly archives (`orchestrator.state.task_archive`);
a lookup that needs one back restores it.
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.state import task_record_migration
from orchestrator.state.mailbox_types import (
    TERMINAL_STATES,
    AlreadyClaimed,
    ClaimedTask,
    ExpiredLease,
    Lease,
    MailboxError,
    MalformedTask,
    TaskEntry,
    TaskExists,
    TaskNotFound,
    local_process_alive,
)
from orchestrator.state.store import atomic_write_text, fsync_dir
from orchestrator.state.task_file import (
    TaskDocument,
    TaskFileError,
    append_log_entry,
    append_log_to_raw,
    parse_task,
    render_task,
)
from orchestrator.state.task_index import ARCHIVED, GONE, Change, IndexedTask, TaskIndex
from orchestrator.state.task_records import TaskRecords
from orchestrator.values.models import Task, TaskState
from orchestrator.values.task_record import TaskRecord

__all__ = [
    "TERMINAL_STATES",
    "AlreadyClaimed",
    "ClaimedTask",
    "ExpiredLease",
    "Lease",
    "Mailbox",
    "MailboxError",
    "MalformedTask",
    "TaskEntry",
    "TaskExists",
    "TaskNotFound",
    "local_process_alive",
]

log = logging.getLogger(__name__)


def queue_order(task: Task, mtime: datetime) -> tuple[object, ...]:
    """Highest priority first, then oldest (`created_at`, else the file's mtime); ties keep the dispatcher's
    order by repo, issue number and generation — numbers compared as numbers (#1 before #10), not as the
    characters of the task id."""
    created = task.created_at or mtime
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (-task.priority, created, task.repo, task.issue, task.generation)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Mailbox:
    def __init__(
        self, root: Path, clock: Callable[[], datetime] = _utc_now, records: TaskRecords | None = None
    ) -> None:
        self.root = root
        self.clock = clock
        self.records = records or TaskRecords(records_dir(root))
        self.tmp_dir = root / "tmp"
        for folder in [self.tmp_dir, *(root / s.value for s in TaskState)]:
            folder.mkdir(parents=True, exist_ok=True)
        self.index = TaskIndex(root, (s.value for s in TaskState), _branch_of, self._archived_rows)
        if records is None and root.name == "mailbox":  # the standard layout: first run after an upgrade
            task_record_migration.migrate(root.parent / "state", root, self.records)

    # ------------------------------------------------------------------------------------------ paths

    def path(self, state: TaskState, task_id: str) -> Path:
        return self.root / state.value / f"{task_id}.md"

    def locate(self, task_id: str) -> tuple[TaskState, Path] | None:
        for state in TaskState:
            path = self.path(state, task_id)
            if path.exists():
                return state, path
        return None

    def _require(self, task_id: str) -> tuple[TaskState, Path]:
        found = self.locate(task_id)
        if found is None:
            raise TaskNotFound(f"no task file for {task_id} in {self.root}")
        return found

    # ------------------------------------------------------------------------------------- operations

    def enqueue(self, task: Task) -> Path:
        """Create inbox/<id>.md; TaskExists if any folder already holds that id."""
        found = self.locate(task.id)
        if found is not None:
            raise TaskExists(f"task {task.id} already exists in {found[0].value}/")
        target = self.path(TaskState.INBOX, task.id)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, prefix=f"{task.id}.", suffix=".md")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(render_task(task))
                handle.flush()
                os.fsync(handle.fileno())
            with self.index.change() as change:
                os.link(tmp_name, target)
                change.put(task.id, task.branch, TaskState.INBOX.value)
        except FileExistsError:
            raise TaskExists(f"task {task.id} already exists in inbox/") from None
        finally:
            Path(tmp_name).unlink(missing_ok=True)
        fsync_dir(target.parent)
        return target

    def claim(self, task_id: str, lease: Lease) -> ClaimedTask:
        """Move inbox → running and record the lease. Exactly one of several concurrent claims wins."""
        source = self.path(TaskState.INBOX, task_id)
        target = self.path(TaskState.RUNNING, task_id)
        if target.exists():
            raise AlreadyClaimed(f"task {task_id} is already running")
        with self.index.change() as change:
            try:
                os.rename(source, target)
            except FileNotFoundError:
                raise AlreadyClaimed(f"task {task_id} is no longer in inbox/") from None
            change.move(task_id, TaskState.RUNNING.value)
        os.utime(target)  # the heartbeat starts now, not when the file was written
        self.records.update(task_id, lambda r: dataclasses.replace(r, lease=lease))
        document = self._parse_or_quarantine(target)
        return ClaimedTask(task=document.task, path=target, lease=lease)

    def heartbeat(self, task_id: str) -> None:
        try:
            os.utime(self.path(TaskState.RUNNING, task_id))
        except FileNotFoundError:
            raise TaskNotFound(f"task {task_id} is not running") from None

    def read_lease(self, task_id: str) -> Lease | None:
        return self.records.load(task_id).lease

    def update(self, task: Task) -> Path:
        """Rewrite the task's file in place (whatever folder it is in), keeping its log."""
        _, path = self._require(task.id)
        document = self._parse_or_quarantine(path)
        atomic_write_text(path, render_task(task, document.log))
        return path

    def finish(self, task_id: str, state: TaskState, note: str = "") -> Path:
        """Move the task to a terminal folder, appending `note` under "## Log"."""
        if state not in TERMINAL_STATES:
            raise ValueError(f"finish() moves to done/failed/blocked/escalated, not {state.value}")
        current, path = self._require(task_id)
        document = self._parse_or_quarantine(path)
        return self._move(document.task, document.log, current, state, note)

    def requeue(self, task_id: str, task: Task, note: str = "") -> Path:
        """Put the task (as updated by the caller, e.g. attempt+1) back in inbox/ from any folder."""
        if task.id != task_id:
            raise ValueError(f"task {task.id} cannot replace {task_id}")
        current, path = self._require(task_id)
        document = self._parse_or_quarantine(path)
        return self._move(task, document.log, current, TaskState.INBOX, note or "requeued")

    def recover(self, task_id: str, reason: str = "lease expired") -> Task:
        """Running → inbox after its process died: counted as an infrastructure retry in the task's record
        (the notes say so too, for humans)."""
        path = self.path(TaskState.RUNNING, task_id)
        if not path.exists():
            raise TaskNotFound(f"task {task_id} is not running")
        document = self._parse_or_quarantine(path)
        record = self.records.update(
            task_id, lambda r: dataclasses.replace(r, infra_retries=r.infra_retries + 1)
        )
        line = f"infra-retry {record.infra_retries}: {reason}"
        notes = f"{document.task.notes}\n{line}" if document.task.notes else line
        task = dataclasses.replace(document.task, notes=notes)
        self._move(task, document.log, TaskState.RUNNING, TaskState.INBOX, f"recovered: {reason}")
        return task

    def infra_retries(self, task_id: str) -> int:
        """How many times the task was recovered after its process died (from its record)."""
        return self.records.load(task_id).infra_retries

    def get(self, task_id: str) -> tuple[TaskState, Task]:
        state, path = self._require(task_id)
        return state, self._parse_or_quarantine(path).task

    def _move(self, task: Task, log_text: str, source: TaskState, target: TaskState, note: str) -> Path:
        """Rewrite in place with the new content and log entry, then rename into `target`."""
        entry = f"{self.clock():%Y-%m-%dT%H:%M:%SZ} {source.value} → {target.value}"
        entry = f"{entry}: {note}" if note else entry
        source_path = self.path(source, task.id)
        atomic_write_text(source_path, render_task(task, append_log_entry(log_text, entry)))
        target_path = self.path(target, task.id)
        if source != target:
            if target_path.exists():
                raise TaskExists(f"task {task.id} exists in both {source.value}/ and {target.value}/")
            try:
                with self.index.change() as change:
                    os.rename(source_path, target_path)
                    change.put(task.id, task.branch, target.value)
                fsync_dir(target_path.parent)
            finally:  # moved, even if the index or the fsync failed after the rename: its state follows
                if not source_path.exists():
                    self._forget_live_state(task.id, source, target)
        return target_path

    def _forget_live_state(self, task_id: str, source: TaskState, target: TaskState) -> None:
        """Out of running/: no lease. In a terminal folder: no remote lease, no wait either."""
        if target in TERMINAL_STATES:
            change: Callable[[TaskRecord], TaskRecord] = TaskRecord.without_live_state
        elif source == TaskState.RUNNING and target != source:
            change = _without_lease
        else:
            return
        if task_id in self.records.ids():
            self.records.update(task_id, change)

    # ---------------------------------------------------------------------------------------- queries

    def list(self, state: TaskState) -> builtins.list[TaskEntry]:
        """Every task file in one folder, parsed (or with its parse error). Read-only."""
        entries = []
        for path in self._task_files(state):
            try:
                mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue  # moved by another process while listing
            except UnicodeDecodeError as exc:
                entries.append(
                    TaskEntry(path.stem, state, path, mtime, None, f"not UTF-8 at byte {exc.start}")
                )
                continue
            try:
                document = parse_task(text)
            except TaskFileError as exc:
                entries.append(TaskEntry(path.stem, state, path, mtime, None, str(exc)))
                continue
            entries.append(TaskEntry(path.stem, state, path, mtime, document.task, None, document.log))
        return entries

    def next_tasks(self, limit: int) -> builtins.list[Task]:
        """Up to `limit` inbox tasks in queue order (`queue_order`). Malformed ones are quarantined."""
        ready: builtins.list[tuple[tuple[object, ...], Task]] = []
        for entry in self.list(TaskState.INBOX):
            if entry.task is None:
                self._quarantine(entry.path, entry.error or "unreadable")
                continue
            ready.append((queue_order(entry.task, entry.mtime), entry.task))
        ready.sort(key=lambda item: item[0])
        return [task for _, task in ready[: max(limit, 0)]]

    def expired_leases(
        self, now: datetime, lease_seconds: float, is_alive: Callable[[str, int], bool]
    ) -> builtins.list[ExpiredLease]:
        """Running tasks whose heartbeat is older than `lease_seconds` and whose process is gone."""
        expired = []
        for path in self._task_files(TaskState.RUNNING):
            try:
                heartbeat = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except FileNotFoundError:
                continue
            if (now - heartbeat).total_seconds() <= lease_seconds:
                continue
            lease = self.read_lease(path.stem)
            if lease is not None and is_alive(lease.host, lease.pid):
                continue
            expired.append(ExpiredLease(path.stem, path, heartbeat, lease))
        return expired

    def sweep_malformed(self, states: Iterable[TaskState] | None = None) -> builtins.list[Path]:
        """Move every unparseable file in `states` (default: all but failed/) to failed/. Returns new paths."""
        chosen = [s for s in (states or TaskState) if s != TaskState.FAILED]
        moved = []
        for state in chosen:
            for entry in self.list(state):
                if entry.task is None:
                    moved.append(self._quarantine(entry.path, entry.error or "unreadable"))
        return moved

    # ---------------------------------------------------------------------------------------- lookups

    def ids(self, state: TaskState) -> builtins.list[str]:
        """The task ids in one folder, from the file names alone (nothing is parsed)."""
        return [p.stem for p in self._task_files(state)]

    def count(self, state: TaskState) -> int:
        self.refresh_index()
        return self.index.count(state.value)

    def find(
        self, repo: str, *, issue: int | None = None, branch: str | None = None, restore: bool = False
    ) -> builtins.list[TaskEntry]:
        """The tasks of `repo` on `issue` (or on `branch`), newest generation first, each parsed.

        The one lookup of "the task of this issue / branch": from the index, so nothing else is listed or
        parsed. A file that does not parse is quarantined and left out; an archived task is left out unless
        `restore`, which puts it back into its folder first."""
        if (issue is None) == (branch is None):
            raise ValueError("find() takes exactly one of issue= and branch=")
        self.refresh_index()
        rows = (
            self.index.by_issue(repo, issue) if issue is not None else self.index.by_branch(repo, str(branch))
        )
        entries = []
        for row in rows:
            entry = self._entry_for(row, restore)
            if entry is None or entry.task is None or entry.task.repo != repo:
                continue
            if branch is None or entry.task.branch == branch:
                entries.append(entry)
        return entries

    def task_for_branch(self, repo: str, branch: str, restore: bool = True) -> Task | None:
        """The task working on `branch` of `repo` (archived ones restored), or None."""
        found = self.find(repo, branch=branch, restore=restore)
        return max((e.task for e in found if e.task), key=lambda t: t.attempt, default=None)

    def last_generations(self, repo: str, issues: Iterable[int]) -> dict[int, int]:
        """The highest generation each issue reached on this host, archived and vanished tasks included."""
        self.refresh_index()
        found = {issue: self.index.last_generation(repo, issue) for issue in issues}
        return {issue: generation for issue, generation in found.items() if generation}

    def refresh_index(self) -> None:
        """Reconcile the index with folders changed outside it; quarantine the files that do not parse."""
        for path in self.index.refresh():
            if path.exists():
                self._quarantine(path, _parse_error(path))

    def _archived_rows(self) -> Iterable[tuple[str, str, str]]:
        from orchestrator.state.task_archive import archived_rows

        return archived_rows(self.root)

    def _entry_for(self, row: IndexedTask, restore: bool) -> TaskEntry | None:
        if row.state == ARCHIVED:
            if not restore:
                return None
            from orchestrator.state.task_archive import restore_task

            restore_task(self, row)
        found = self._locate_hinted(row.id, row.state)
        if found is None:
            return None
        state, path = found
        try:
            mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            document = self._parse_or_quarantine(path)
        except FileNotFoundError:
            return None  # moved by another process meanwhile
        except MalformedTask as exc:
            log.warning("task lookup skipped %s: %s", row.id, exc)
            return None
        return TaskEntry(row.id, state, path, mtime, document.task, None, document.log)

    def _locate_hinted(self, task_id: str, state: str) -> tuple[TaskState, Path] | None:
        try:
            hinted = self.path(TaskState(state), task_id)
        except ValueError:  # "archived" or "gone": no folder to try first
            return self.locate(task_id)
        if hinted.exists():
            return TaskState(state), hinted
        return self.locate(task_id)

    # -------------------------------------------------------------------------------------- internals

    def _task_files(self, state: TaskState) -> builtins.list[Path]:
        folder = self.root / state.value
        return sorted(p for p in folder.glob("*.md") if not p.name.startswith("."))

    def _parse_or_quarantine(self, path: Path) -> TaskDocument:
        try:
            return parse_task(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            error = f"not UTF-8 at byte {exc.start}"
        except TaskFileError as exc:
            error = str(exc)
        moved = self._quarantine(path, error)
        raise MalformedTask(path.name, moved, error)

    def _quarantine(self, path: Path, error: str) -> Path:
        """Append the parse error to the file and move it to failed/ (a new name if that one is taken)."""
        entry = (
            f"{self.clock():%Y-%m-%dT%H:%M:%SZ} moved to failed/: malformed task file {path.name}: {error}"
        )
        if path.parent.name == TaskState.FAILED.value:
            return path  # already quarantined; reading it again must not grow it
        raw = path.read_bytes().decode("utf-8", errors="replace")
        atomic_write_text(path, append_log_to_raw(raw, entry))
        target = self.root / TaskState.FAILED.value / path.name
        if target.exists():
            target = target.with_name(f"{path.stem}.{self.clock():%Y%m%dT%H%M%S}.{os.getpid()}.md")
        with self.index.change() as change:
            os.rename(path, target)
            _record_quarantine(change, path.stem, target)
        fsync_dir(target.parent)
        if path.stem in self.records.ids():  # in failed/ now: no lease, no wait, no remote lease
            self.records.update(path.stem, TaskRecord.without_live_state)
        log.warning("quarantined malformed task file %s: %s", target, error)
        return target


def records_dir(mailbox_root: Path) -> Path:
    """Where the task records of this mailbox live: `runtime/state/tasks/` beside `runtime/mailbox/`; a
    mailbox folder with another name (tests, tools) keeps them inside itself, in `records/`."""
    if mailbox_root.name == "mailbox":
        return mailbox_root.parent / "state" / "tasks"
    return mailbox_root / "records"


def _without_lease(record: TaskRecord) -> TaskRecord:
    return dataclasses.replace(record, lease=None)


def _branch_of(path: Path) -> str | None:
    """The branch of a task file for the index; None when it does not parse or its name is not its id."""
    try:
        task = parse_task(path.read_text(encoding="utf-8")).task
    except (OSError, UnicodeDecodeError, TaskFileError):
        return None
    return task.branch if task.id == path.stem else None


def _parse_error(path: Path) -> str:
    try:
        task = parse_task(path.read_text(encoding="utf-8")).task
    except UnicodeDecodeError as exc:
        return f"not UTF-8 at byte {exc.start}"
    except (OSError, TaskFileError) as exc:
        return str(exc)
    return f"the file name is not the id of the task it holds (expected {task.id}.md)"


def _record_quarantine(change: Change, task_id: str, target: Path) -> None:
    if target.stem == task_id:
        change.move(task_id, TaskState.FAILED.value)
    else:
        change.move(task_id, GONE)  # the id's own name in failed/ belongs to an earlier quarantined file
