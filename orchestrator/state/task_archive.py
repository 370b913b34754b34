"""Finished tasks older than the retention leave the mailbox for one compressed archive per month.

    mailbox/archive/2024-05/20240612T030000Z.zip
        <folder>/<task-id>.md  for every task this run archived whose file last changed in May 2024
        runs/<task-id>/…       its agent runs' prompts and logs (the last MiB of each), when asked

Each run writes new zip files only (never rewrites an old one, so the work is proportional to what is
archived): written to a temporary name, fsynced, renamed, all under an exclusive lock on the archive folder.
Only then are the task files removed, each inside the index's write transaction and only if it did not
change since it was read. A crash at any point leaves every task in its folder or in an archive (possibly
both, never neither). The index keeps a row per archived task naming its zip, so
`Mailbox.find(..., restore=True)` can put one back.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from orchestrator.edges.worktree_files import remove_tree
from orchestrator.state.store import fsync_dir
from orchestrator.state.task_index import ARCHIVED, IndexedTask, TaskIndex
from orchestrator.values.models import TaskState

log = logging.getLogger(__name__)


class Mailbox(Protocol):
    """What archiving needs of orchestrator.state.mailbox.Mailbox (which imports this module lazily)."""

    root: Path
    tmp_dir: Path
    index: TaskIndex

    def path(self, state: TaskState, task_id: str) -> Path: ...

    def locate(self, task_id: str) -> tuple[TaskState, Path] | None: ...

    def refresh_index(self) -> None: ...


ARCHIVE_DIR = "archive"
FINISHED = (TaskState.DONE, TaskState.FAILED, TaskState.BLOCKED, TaskState.ESCALATED)
RUN_FILE_SUFFIXES = (".md", ".log", ".json", ".txt")
MAX_RUN_FILE_BYTES = 1024 * 1024  # a longer log keeps its last MiB in the archive


@dataclass(frozen=True)
class ArchiveReport:
    archived: tuple[str, ...]  # task ids moved out of the mailbox
    archives: tuple[str, ...]  # archive files written
    skipped: tuple[str, ...] = ()  # changed while being archived: left in place for the next run


@dataclass(frozen=True)
class _Item:
    task_id: str
    state: TaskState
    path: Path
    mtime_ns: int
    data: bytes


def archive_dir(mailbox: Mailbox) -> Path:
    return mailbox.root / ARCHIVE_DIR


def archive_finished(
    mailbox: Mailbox, now: datetime, older_than: timedelta, run_dirs: Path | None = None
) -> ArchiveReport:
    """Move every finished task whose file has not changed for `older_than` into its month's archive."""
    mailbox.refresh_index()
    cutoff = (now - older_than).timestamp()
    months: dict[str, list[_Item]] = {}
    for state in FINISHED:
        for row in mailbox.index.in_state(state.value):
            item = _read_item(mailbox.path(state, row.id), row.id, state, cutoff)
            if item is not None:
                month = datetime.fromtimestamp(item.mtime_ns / 1e9, UTC).strftime("%Y-%m")
                months.setdefault(month, []).append(item)
    archived: list[str] = []
    skipped: list[str] = []
    written: list[str] = []
    if not months:
        return ArchiveReport((), ())
    folder = archive_dir(mailbox)
    with _archive_lock(folder):
        for month, items in sorted(months.items()):
            name = f"{month}/{now:%Y%m%dT%H%M%S}Z-{os.getpid()}.zip"
            _write_archive(folder / name, _members(items, run_dirs))
            written.append(name)
            done, changed = _remove_archived(mailbox, items, name)
            archived += done
            skipped += changed
    if run_dirs is not None:
        for task_id in archived:
            try:
                remove_tree(run_dirs / task_id)  # the agent's HOME/TMP: any depth
            except OSError as exc:
                log.warning("run directories of %s not removed: %s", task_id, exc)
    return ArchiveReport(tuple(archived), tuple(written), tuple(skipped))


def restore_task(mailbox: Mailbox, row: IndexedTask) -> Path | None:
    """Put an archived task back into the folder it was archived from; None when it cannot be found."""
    if mailbox.locate(row.id) is not None:
        return None  # already back (restored by another process, or re-created)
    path = archive_dir(mailbox) / row.archive
    try:
        with zipfile.ZipFile(path) as archive:
            member = next(
                (n for n in archive.namelist() if n.endswith(f"/{row.id}.md") and not n.startswith("runs/")),
                None,
            )
            if member is None:
                log.error("archive %s has no file for task %s", path, row.id)
                return None
            data = archive.read(member)
    except (OSError, zipfile.BadZipFile) as exc:
        log.error("cannot restore task %s from %s: %s", row.id, path, exc)
        return None
    state = TaskState(member.split("/", 1)[0])
    target = mailbox.path(state, row.id)
    fd, tmp_name = tempfile.mkstemp(dir=mailbox.tmp_dir, prefix=f"{row.id}.", suffix=".md")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with mailbox.index.change() as change:
            os.link(tmp_name, target)
            change.put(row.id, row.branch, state.value)
    except FileExistsError:
        return None
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    fsync_dir(target.parent)
    log.info("restored task %s from %s into %s/", row.id, row.archive, state.value)
    return target


def archived_rows(mailbox_root: Path) -> Iterator[tuple[str, str, str]]:
    """(task id, branch, archive name) of every task in every archive: what a new index learns once."""
    folder = mailbox_root / ARCHIVE_DIR
    for path in sorted(folder.glob("*/*.zip")):
        name = path.relative_to(folder).as_posix()
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    if member.endswith(".md") and not member.startswith("runs/"):
                        task_id = member.rsplit("/", 1)[1][:-3]
                        yield task_id, _branch_in(archive.read(member)), name
        except (OSError, zipfile.BadZipFile) as exc:
            log.error("archive %s is unreadable: %s (its tasks are not in the index)", path, exc)


def _branch_in(data: bytes) -> str:
    from orchestrator.state.task_file import TaskFileError, parse_task

    try:
        return parse_task(data.decode("utf-8")).task.branch
    except (UnicodeDecodeError, TaskFileError):
        return ""


# ------------------------------------------------------------------------------------------- internals


def _read_item(path: Path, task_id: str, state: TaskState, cutoff: float) -> _Item | None:
    try:
        before = path.stat()
        if before.st_mtime >= cutoff:
            return None
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return _Item(task_id, state, path, before.st_mtime_ns, data)


def _members(items: list[_Item], run_dirs: Path | None) -> Iterator[tuple[str, bytes]]:
    for item in items:
        yield f"{item.state.value}/{item.task_id}.md", item.data
        if run_dirs is not None:
            yield from _run_files(run_dirs / item.task_id, f"runs/{item.task_id}")


def _two_levels(directory: Path) -> Iterator[Path]:
    """The entries of `directory` and of its subdirectories — never deeper: the agent's HOME below may hold a
    chain deeper than a recursive walk (`Path.rglob`) goes."""
    for child in directory.iterdir():
        yield child
        if child.is_dir() and not child.is_symlink():
            yield from child.iterdir()


def _run_files(directory: Path, prefix: str) -> Iterator[tuple[str, bytes]]:
    """The agent runs' prompts and logs (not their private HOME): the last MiB of each."""
    if not directory.is_dir():
        return
    for path in sorted(_two_levels(directory)):
        relative = path.relative_to(directory)
        if path.is_symlink() or not path.is_file():
            continue
        if path.suffix not in RUN_FILE_SUFFIXES:
            continue
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - MAX_RUN_FILE_BYTES))
            yield f"{prefix}/{relative.as_posix()}", handle.read()


def _write_archive(path: Path, members: Iterator[tuple[str, bytes]]) -> None:
    """A new zip at `path` holding `members`: temporary name, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as out:
            for name, data in members:
                out.writestr(name, data)
        with open(tmp_name, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o600)  # task texts can hold private issue content
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _remove_archived(mailbox: Mailbox, items: list[_Item], archive: str) -> tuple[list[str], list[str]]:
    archived: list[str] = []
    changed: list[str] = []
    with mailbox.index.change() as change:
        for item in items:
            try:
                unchanged = item.path.stat().st_mtime_ns == item.mtime_ns
            except FileNotFoundError:
                unchanged = False
            if not unchanged:
                changed.append(item.task_id)  # moved or rewritten since it was read: archived copy is old
                continue
            item.path.unlink()
            change.put(item.task_id, "", ARCHIVED, archive=archive)
            archived.append(item.task_id)
    return archived, changed


@contextmanager
def _archive_lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
