"""The store of task records (`orchestrator.values.task_record`): one JSON file per task.

    runtime/state/tasks/<task-id>.json          the record ({"version": 1, "task_id": …, sub-records})
    runtime/state/tasks/.locks/<task-id>.lock   its lock (an flock; the file stays, empty, until the task is
                                                archived with nothing left in its record)
    runtime/state/tasks/<name>.unreadable-<n>   a record that did not decode, moved aside on a write

Why files and not a table in the task index (`mailbox/index.sqlite3`): the index is a cache that is rebuilt
from the folders whenever it is missing or corrupt; a record is the only copy of what it holds, so it must not
live in a file that may be thrown away. One file per task gives per-task locking (two tasks never wait on each
other), a write of one task rewrites only its own few hundred bytes, and a damaged file costs one task's
bookkeeping, never every task's.

Writes (`update`) hold the task's lock across read → change → write, are atomic (`store.atomic_write_text`:
tmp file, fsync, rename, fsync of the folder) and happen only when the record changed; a record that becomes
empty is deleted. A file that does not decode (not JSON, a wrong field, an unknown version) is reported by
name: a read logs it and answers as if there were no record (the task stays recoverable — its task file is the
truth); a write moves it aside as `<name>.unreadable-<n>` (never deleted, never overwritten) before writing
the new record, and `problems()` lists both for `agentos status` and doctor.

Reads that touch many tasks (`load_many`) list the folder once and open only the files that exist, so a tick
over tasks without records reads one directory. Agent cooldowns (per agent) and budget overrides (per agent and
month) are not per task and stay in their own files (`task_waits`, `executors.budgets`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from orchestrator.state.store import FileLock, LockTimeout, StateLockTimeout, atomic_write_text, fsync_dir
from orchestrator.values.task_record import RecordError, TaskRecord, decode, encode

log = logging.getLogger(__name__)

SUFFIX = ".json"
UNREADABLE = ".unreadable-"
LOCK_TIMEOUT_S = 10.0


class TaskRecords:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, task_id: str) -> Path:
        if not task_id or "/" in task_id or task_id.startswith("."):
            raise ValueError(f"not a task id: {task_id!r}")
        return self.directory / f"{task_id}{SUFFIX}"

    # --- reads -------------------------------------------------------------------------------------------

    def ids(self) -> set[str]:
        """The task ids that have a record (one listing, nothing opened)."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return set()
        return {n[: -len(SUFFIX)] for n in names if n.endswith(SUFFIX) and not n.startswith(".")}

    def load(self, task_id: str) -> TaskRecord:
        """The task's record; an empty one when there is none or it does not decode (reported by name)."""
        try:
            return self._read(task_id)
        except RecordError as exc:
            log.error("%s", exc)
            return TaskRecord(task_id)

    def load_many(self, task_ids: Iterable[str]) -> dict[str, TaskRecord]:
        """The records of those of `task_ids` that have one (unreadable ones left out and reported)."""
        present = self.ids()
        return {task_id: self.load(task_id) for task_id in task_ids if task_id in present}

    def _read(self, task_id: str) -> TaskRecord:
        path = self.path(task_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return TaskRecord(task_id)
        try:
            record = decode(json.loads(raw.decode("utf-8")), path.name)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(f"unreadable task record {path}: {exc}") from exc
        except RecordError as exc:
            raise RecordError(f"unreadable task record {path}: {exc}") from exc
        if record.task_id != task_id:
            raise RecordError(f"unreadable task record {path}: it holds task {record.task_id!r}")
        return record

    def problems(self) -> list[str]:
        """One line per record that does not decode or was moved aside (for status and doctor)."""
        lines = []
        for task_id in sorted(self.ids()):
            try:
                self._read(task_id)
            except RecordError as exc:
                lines.append(str(exc))
        try:
            aside = sorted(n for n in os.listdir(self.directory) if UNREADABLE in n)
        except FileNotFoundError:
            aside = []
        lines += [f"unreadable task record kept as {self.directory / n} (not read)" for n in aside]
        return lines

    # --- writes ------------------------------------------------------------------------------------------

    def update(self, task_id: str, change: Callable[[TaskRecord], TaskRecord]) -> TaskRecord:
        """Lock the task's record, apply `change`, write the result when it differs (delete it when empty)."""
        with self._locked(task_id):
            try:
                before = self._read(task_id)
            except RecordError as exc:
                self._move_aside(task_id, str(exc))
                before = TaskRecord(task_id)
            after = change(before)
            if after.task_id != task_id:
                raise ValueError(f"a change of {task_id}'s record returned {after.task_id}'s")
            if after != before:
                self._write(after)
            return after

    def _write(self, record: TaskRecord) -> None:
        path = self.path(record.task_id)
        if record.empty:
            try:
                path.unlink()
            except FileNotFoundError:
                return
            fsync_dir(path.parent)
            return
        text = json.dumps(encode(record), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        atomic_write_text(path, text)

    def forget_archived(self, task_ids: Iterable[str]) -> None:
        """The tasks' files went into an archive: their records keep only what outlives the task file — the
        PR state (its PR may still be open) and an escalation not posted yet; the rest goes (and with it the
        file, when nothing is left)."""
        present = self.ids()
        for task_id in task_ids:
            if task_id in present:
                self.update(task_id, lambda r: TaskRecord(r.task_id, escalation=r.escalation, pr=r.pr))
            if not self.path(task_id).exists():  # nothing left of an archived task: its lock file goes too
                (self.directory / ".locks" / f"{task_id}.lock").unlink(missing_ok=True)

    def _move_aside(self, task_id: str, reason: str) -> None:
        path = self.path(task_id)
        n = 1
        while (target := path.with_name(f"{path.name}{UNREADABLE}{n}")).exists():
            n += 1
        os.rename(path, target)
        log.error("%s; moved aside to %s, a new record is started", reason, target)

    def _locked(self, task_id: str) -> FileLock:
        locks = self.directory / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        return _RecordLock(locks / f"{task_id}.lock", LOCK_TIMEOUT_S)


class _RecordLock(FileLock):
    """The task's lock; a timeout is reported as the record's (StateLockTimeout names the record)."""

    def acquire(self, timeout_s: float | None = None) -> None:
        try:
            super().acquire(timeout_s)
        except LockTimeout as exc:
            raise StateLockTimeout(self.path, exc.timeout_s) from exc
