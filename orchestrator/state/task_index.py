"""The mailbox's index: task id → (repo, issue, generation, branch, folder), in `mailbox/index.sqlite3`.

It answers "which task works on this issue / this branch" and "which generation did this issue reach" without
listing or parsing finished task files, so a tick costs the same with 20 or 20,000 tasks behind it.

The folders stay the truth; the index is a cache that is never trusted blindly:

- Every mailbox change runs inside `change()`: one SQLite write transaction, so the rows are updated together
  with the rename (and mailbox writers of all processes are serialized for the milliseconds a rename takes).
- Before answering, `refresh()` stats the folders (six syscalls). A folder whose mtime differs from the one
  recorded at its last listing — changed by the mailbox, by a human `mv`, by a crash between rename and
  commit — is listed (names only) and reconciled: new names are parsed once (their branch is cached), rows of
  vanished names follow the file to its new folder, and the caller is told which files did not parse so it
  can quarantine them. A listing taken within the file system's timestamp granularity of the folder's last
  change is repeated next time, since a later change could carry the same mtime.
- A missing or corrupt index file is moved aside and rebuilt from the folders (and the archive's rows).

Rows of archived tasks stay (state "archived", with the archive's name), so a generation is never reused.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where the index is first opened: an idle tick never opens it
    import sqlite3

log = logging.getLogger(__name__)

INDEX_FILE = "index.sqlite3"
ARCHIVED = "archived"
GONE = "gone"  # the file vanished outside the mailbox; the row keeps the generation from being reused
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000
# A listing taken less than this after the folder's mtime could miss a change that got the same coarse
# timestamp: one jiffy on file systems with nanosecond mtimes, up to two seconds on the others.
FINE_MARGIN_NS = 50_000_000
COARSE_MARGIN_NS = 2_100_000_000
_ARCHIVES_META = "archives_indexed"
_ID_RE = re.compile(r"^(?P<owner>[A-Za-z0-9-]+)__(?P<name>.+)__(?P<issue>\d+)__g(?P<gen>\d+)$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks(
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    issue INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    branch TEXT NOT NULL,
    state TEXT NOT NULL,
    archive TEXT NOT NULL DEFAULT '',
    changed REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_issue ON tasks(repo, issue);
CREATE INDEX IF NOT EXISTS tasks_by_branch ON tasks(repo, branch);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks(state);
CREATE TABLE IF NOT EXISTS folders(name TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, seen_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class TaskIndexError(Exception):
    """The index could not be opened or repaired (the mailbox folders are untouched)."""


@dataclass(frozen=True)
class IndexedTask:
    id: str
    repo: str
    issue: int
    generation: int
    branch: str  # "" when the file did not parse
    state: str  # a TaskState value, "archived" or "gone"
    archive: str = ""  # the archive file holding it when state is "archived"
    changed: float = 0.0  # epoch seconds of the last change the index saw


@dataclass(frozen=True)
class Identity:
    repo: str
    issue: int
    generation: int


def identity_of(task_id: str) -> Identity | None:
    """(repo, issue, generation) from a task id (`owner__name__12__g1`), or None for any other name."""
    match = _ID_RE.match(task_id)
    if match is None:
        return None
    return Identity(f"{match['owner']}/{match['name']}", int(match["issue"]), int(match["gen"]))


BranchOf = Callable[[Path], str | None]  # the branch of a task file; None when the file does not parse
ArchivedRows = Callable[
    [], Iterable[tuple[str, str, str]]
]  # (task id, branch, archive name) of every archive


class Change:
    """The rows a mailbox operation writes inside its transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def put(
        self, task_id: str, branch: str, state: str, archive: str = "", changed: float | None = None
    ) -> None:
        who = identity_of(task_id)
        if who is None:
            return  # not a task name (e.g. a quarantined duplicate): nothing to look up by
        self._db.execute(
            "INSERT INTO tasks(id, repo, issue, generation, branch, state, archive, changed)"
            " VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
            " state=excluded.state, archive=excluded.archive, changed=excluded.changed,"
            " branch=CASE WHEN excluded.branch != '' THEN excluded.branch ELSE tasks.branch END",
            (task_id, who.repo, who.issue, who.generation, branch, state, archive, changed or time.time()),
        )

    def move(self, task_id: str, state: str) -> None:
        self.put(task_id, "", state)


class TaskIndex:
    def __init__(
        self,
        mailbox_root: Path,
        folders: Iterable[str],
        branch_of: BranchOf,
        archived_rows: ArchivedRows | None = None,
    ) -> None:
        self.root = mailbox_root
        self.path = mailbox_root / INDEX_FILE
        self.folders = tuple(folders)
        self._branch_of = branch_of
        self._archived_rows = archived_rows
        self._local = threading.local()  # one connection per thread (the queue's workers are threads)
        self._pid = os.getpid()

    # ------------------------------------------------------------------------------------------ access

    @property
    def db(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # a forked child never uses its parent's connections
            self._local, self._pid = threading.local(), os.getpid()
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._open()
        return db

    def close(self) -> None:
        """Close this thread's connection (the next query opens a new one)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @contextmanager
    def change(self) -> Iterator[Change]:
        """One mailbox change: its rows and renames under the index's write lock (all processes)."""
        with self._transaction() as db:
            yield Change(db)

    def refresh(self) -> list[Path]:
        """Reconcile the folders that changed outside the index; returns files that did not parse."""
        stale = [name for name in self.folders if self._needs_listing(name)]
        if self._archived_rows is not None and self.meta(_ARCHIVES_META) is None:
            self._index_archives(self._archived_rows)
        if not stale:
            return []
        unreadable: list[Path] = []
        with self._transaction():
            for name in stale:
                if self._needs_listing(name):
                    unreadable += self._reconcile(name)
        return unreadable

    # ----------------------------------------------------------------------------------------- queries

    def by_branch(self, repo: str, branch: str) -> list[IndexedTask]:
        return self._select("WHERE repo=? AND branch=? ORDER BY generation DESC", (repo, branch))

    def by_issue(self, repo: str, issue: int) -> list[IndexedTask]:
        return self._select("WHERE repo=? AND issue=? ORDER BY generation DESC", (repo, issue))

    def get(self, task_id: str) -> IndexedTask | None:
        rows = self._select("WHERE id=?", (task_id,))
        return rows[0] if rows else None

    def in_state(self, state: str) -> list[IndexedTask]:
        return self._select("WHERE state=? ORDER BY id", (state,))

    def count(self, state: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM tasks WHERE state=?", (state,)).fetchone()[0])

    def last_generation(self, repo: str, issue: int) -> int:
        row = self.db.execute(
            "SELECT MAX(generation) FROM tasks WHERE repo=? AND issue=?", (repo, issue)
        ).fetchone()
        return int(row[0] or 0)

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _select(self, where: str, args: tuple[object, ...]) -> list[IndexedTask]:
        rows = self.db.execute(
            f"SELECT id, repo, issue, generation, branch, state, archive, changed FROM tasks {where}", args
        ).fetchall()
        return [IndexedTask(*row) for row in rows]

    # -------------------------------------------------------------------------------------- reconcile

    def _needs_listing(self, name: str) -> bool:
        recorded = self.db.execute("SELECT mtime_ns, seen_ns FROM folders WHERE name=?", (name,)).fetchone()
        if recorded is None:
            return True
        mtime, seen = recorded
        margin = FINE_MARGIN_NS if mtime % 1_000_000_000 else COARSE_MARGIN_NS
        return bool(mtime != _mtime_ns(self.root / name) or seen - mtime < margin)

    def _reconcile(self, name: str) -> list[Path]:
        """Make the rows of folder `name` match its files (names only; unknown files parsed once)."""
        folder = self.root / name
        mtime = _mtime_ns(folder)
        seen = time.time_ns()
        present = {p[:-3] for p in _names(folder) if p.endswith(".md") and not p.startswith(".")}
        rows = {row[0] for row in self.db.execute("SELECT id FROM tasks WHERE state=?", (name,)).fetchall()}
        change = Change(self.db)
        unreadable: list[Path] = []
        for task_id in sorted(present - rows):
            path = folder / f"{task_id}.md"
            if identity_of(task_id) is None:
                if name != "failed":
                    unreadable.append(path)  # not a task name: the caller quarantines it
                continue
            branch = self._known_branch(task_id) or self._branch_of(path)
            if branch is None and name != "failed":
                unreadable.append(path)
            change.put(task_id, branch or "", name, changed=_mtime_s(path))
        for task_id in rows - present:
            elsewhere = next((f for f in self.folders if (self.root / f / f"{task_id}.md").exists()), None)
            change.move(task_id, elsewhere or GONE)
        self.db.execute(
            "INSERT OR REPLACE INTO folders(name, mtime_ns, seen_ns) VALUES(?,?,?)", (name, mtime, seen)
        )
        return unreadable

    def _index_archives(self, archived_rows: ArchivedRows) -> None:
        """A new index learns the archived tasks once (their generations must never be reused)."""
        with self._transaction() as db:
            change = Change(db)
            for task_id, branch, archive in archived_rows():
                if self.get(task_id) is None:
                    change.put(task_id, branch, ARCHIVED, archive=archive)
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (_ARCHIVES_META, "1"))

    def _known_branch(self, task_id: str) -> str:
        row = self.db.execute("SELECT branch FROM tasks WHERE id=?", (task_id,)).fetchone()
        return str(row[0]) if row else ""

    # --------------------------------------------------------------------------------------- plumbing

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        if db.in_transaction:  # nested (refresh inside a change): the outer one commits
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        db.commit()

    def _open(self) -> sqlite3.Connection:
        import sqlite3

        try:
            return _connect(self.path)
        except sqlite3.OperationalError as exc:  # locked, disk full, I/O: the file is not at fault
            raise TaskIndexError(f"cannot open the task index {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # not a database, malformed: set it aside and rebuild
            aside = self.path.with_name(f"{self.path.name}.corrupt")
            log.error("task index %s is unreadable (%s): moved to %s, rebuilding", self.path, exc, aside)
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{self.path}{suffix}")
                if source.exists():
                    os.replace(source, Path(f"{aside}{suffix}"))
            try:
                return _connect(self.path)
            except sqlite3.DatabaseError as again:
                raise TaskIndexError(f"cannot create the task index {self.path}: {again}") from again


def _connect(path: Path) -> sqlite3.Connection:
    """Open (creating when needed) the index. SQLite answers "database is locked" at once, without its busy
    handler, when several processes create or switch the same new file to WAL at the same moment: such an
    open is tried again until `BUSY_TIMEOUT_MS` has passed."""
    import sqlite3

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.01
    while True:
        try:
            return _connect_once(path)
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.25)


def _connect_once(path: Path) -> sqlite3.Connection:
    import sqlite3

    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":  # persistent: set once per file
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a lost commit is repaired by the folder signatures
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("SELECT COUNT(*) FROM folders").fetchone()
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


def _mtime_ns(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return -1


def _mtime_s(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return time.time()


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []
