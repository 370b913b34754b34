"""Migration into task records (`orchestrator.state.task_records`) from the files that held a task's state before.

Folded, each into the sub-record of its task:

    mailbox/running/<id>.lease       {host, pid, started}                          → lease
    state/leases.json                {id: {repo, comment, body, generation, renewed}} → remote_lease
    state/task_waits.json            {id: wait | ISO time}                           → wait
    state/infra_backoff.json         {id: ISO time} (the file before task_waits)     → wait (a backoff)
    state/escalations_pending.json   {id: {repo, reason}}                            → escalation
    state/pr_monitor.json            {"owner/name#N": {blocker, since, head, …}}     → pr, under the PR's key
                                     (`pr_record_key`; pr_monitor folds it into the task's record once it
                                     reads the PR's task identity)
    `infra-retry N:` lines in the notes of unfinished task files                    → infra_retries

Run on first use of a mailbox in the standard layout (`Mailbox` calls `migrate`); it costs a few `stat`s and one
listing of running/ when there is nothing to do. Crash-safe and idempotent: every value is set only where the
record has none (infra_retries: the larger count), and an old file is renamed `<name>.migrated` only after
all its entries are in records — a kill in the middle and a re-run give the same records. An old file that
is not JSON is renamed `<name>.unreadable` and reported by name; an entry that does not decode is reported by
file and key and left out of the records (it stays in the `.migrated` file). Done once for the notes:
`state/tasks/.migrated-v1` marks it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.state.store import FileLock, atomic_write_text
from orchestrator.state.task_file import TaskFileError, parse_task
from orchestrator.state.task_records import TaskRecords
from orchestrator.values.task_record import (
    RecordError,
    TaskRecord,
    Wait,
    decode_escalation,
    decode_lease,
    decode_pr,
    decode_remote_lease,
    decode_wait,
    pr_record_key,
)

log = logging.getLogger(__name__)

MARKER = ".migrated-v1"
LEGACY_FILES = (
    "leases.json",
    "task_waits.json",
    "infra_backoff.json",
    "escalations_pending.json",
    "pr_monitor.json",
)
UNFINISHED = ("inbox", "running", "failed", "blocked", "escalated")  # folders whose tasks may run again
_INFRA_RETRY = re.compile(r"^infra-retry (\d+):", re.MULTILINE)

Change = Callable[[TaskRecord], TaskRecord]


def pending(state_dir: Path, mailbox_root: Path, records: TaskRecords) -> bool:
    """Whether there is anything to migrate (reads nothing but names)."""
    if not (records.directory / MARKER).exists():
        return True
    if any((state_dir / name).exists() for name in LEGACY_FILES):
        return True
    return any(_lease_files(mailbox_root))


def migrate(state_dir: Path, mailbox_root: Path, records: TaskRecords) -> list[str]:
    """Fold the old files into records (see the module docstring); the names of the files migrated."""
    if not pending(state_dir, mailbox_root, records):
        return []
    records.directory.mkdir(parents=True, exist_ok=True)
    with FileLock(records.directory / ".migration.lock"):
        done = [*_sidecars(mailbox_root, records)]
        live = _unfinished_ids(mailbox_root, ("inbox", "running"))
        for name, fold in _FOLDS.items():
            path = state_dir / name
            only = live if name in _LIVE_STATE else None
            if path.exists() and _fold_file(path, records, fold, only):
                done.append(name)
        marker = records.directory / MARKER
        if not marker.exists():
            _fold_notes(mailbox_root, records)
            atomic_write_text(marker, "task records v1: the old state files were folded in\n")
    if done:
        log.warning("migrated into task records: %s", ", ".join(done))
    return done


# --- the files -----------------------------------------------------------------------------------------------


def _fold_file(
    path: Path, records: TaskRecords, fold: Callable[[str, Any], tuple[str, Change]], live: set[str] | None
) -> bool:
    """Fold every entry of one old file; `live`: only entries of these tasks (live state of a task that has
    finished since is not carried over — the old code would have swept it)."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, got {type(data).__name__}")
    except (UnicodeDecodeError, ValueError) as exc:
        aside = path.with_name(path.name + ".unreadable")
        path.rename(aside)
        log.error("old state file %s does not parse (%s): kept as %s, not migrated", path, exc, aside)
        return False
    for key, value in sorted(data.items()):
        if live is not None and key not in live:
            continue
        try:
            task_id, change = fold(key, value)
        except (RecordError, KeyError, TypeError, ValueError) as exc:
            log.error("%s: entry %r not migrated (%s); it stays in %s.migrated", path, key, exc, path.name)
            continue
        records.update(task_id, change)
    path.rename(path.with_name(path.name + ".migrated"))
    return True


def _fold_remote_lease(task_id: str, raw: Any) -> tuple[str, Change]:
    return task_id, _set("remote_lease", decode_remote_lease(raw, task_id))


def _fold_wait(task_id: str, raw: Any) -> tuple[str, Change]:
    if isinstance(raw, str):  # the oldest form: an ISO time only
        return task_id, _set("wait", Wait("backoff", until=datetime.fromisoformat(raw)))
    return task_id, _set("wait", decode_wait(raw, task_id))


def _fold_escalation(task_id: str, raw: Any) -> tuple[str, Change]:
    return task_id, _set("escalation", decode_escalation(raw, task_id))


def _fold_pr(key: str, raw: Any) -> tuple[str, Change]:
    repo, _, number = key.rpartition("#")
    if not repo or not number.isdigit() or not isinstance(raw, dict):
        raise RecordError(f"not a PR record: {key!r}")
    ready = raw.get("ready") if isinstance(raw.get("ready"), dict) else {}
    today = {
        **{k: v for k, v in raw.items() if k != "ready"},
        "repo": repo,
        "number": int(number),
        "ready_sha": (ready or {}).get("sha"),
        "ready_since": (ready or {}).get("since"),
    }
    state = decode_pr(today, key)
    assert state is not None
    return pr_record_key(repo, int(number)), _set("pr", state)


def _set(name: str, value: Any) -> Change:
    """Set one sub-record where the record has none (so a re-run after a crash changes nothing)."""

    def change(record: TaskRecord) -> TaskRecord:
        if getattr(record, name) is not None:
            return record
        return dataclasses.replace(record, **{name: value})

    return change


def _at_least(count: int) -> Change:
    def change(record: TaskRecord) -> TaskRecord:
        return dataclasses.replace(record, infra_retries=max(record.infra_retries, count))

    return change


_LIVE_STATE = ("leases.json", "task_waits.json", "infra_backoff.json")

_FOLDS: dict[str, Callable[[str, Any], tuple[str, Change]]] = {
    "leases.json": _fold_remote_lease,
    "task_waits.json": _fold_wait,
    "infra_backoff.json": _fold_wait,
    "escalations_pending.json": _fold_escalation,
    "pr_monitor.json": _fold_pr,
}


# --- the mailbox: lease sidecars and notes -----------------------------------------------------------------


def _lease_files(mailbox_root: Path) -> Iterator[Path]:
    running = mailbox_root / "running"
    if running.is_dir():
        yield from sorted(running.glob("*.lease"))


def _sidecars(mailbox_root: Path, records: TaskRecords) -> Iterable[str]:
    for path in _lease_files(mailbox_root):
        try:
            lease = decode_lease(json.loads(path.read_text(encoding="utf-8")), str(path))
        except (UnicodeDecodeError, ValueError) as exc:  # RecordError is a ValueError
            log.error("lease file %s not migrated (%s): kept as %s.migrated", path, exc, path.name)
        else:
            records.update(path.stem, _set("lease", lease))
        path.rename(path.with_name(path.name + ".migrated"))
        yield f"running/{path.name}"


def _unfinished_ids(mailbox_root: Path, folders: Iterable[str]) -> set[str]:
    return {p.stem for folder in folders for p in (mailbox_root / folder).glob("*.md")}


def _fold_notes(mailbox_root: Path, records: TaskRecords) -> None:
    """The infra-retry count that `recover` used to keep only in the notes."""
    for folder in UNFINISHED:
        for path in sorted((mailbox_root / folder).glob("*.md")):
            try:
                task = parse_task(path.read_text(encoding="utf-8")).task
            except (OSError, UnicodeDecodeError, TaskFileError):
                continue  # the mailbox quarantines it when it reads it
            count = max((int(n) for n in _INFRA_RETRY.findall(task.notes)), default=0)
            if count and task.id == path.stem:
                records.update(task.id, _at_least(count))
