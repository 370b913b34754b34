"""Small JSON state files: atomic writes under a short file lock, corrupt files reported by name.

A write goes to a temporary file in the same directory, is fsynced, replaces the target with `os.replace`
and then fsyncs the directory, so a reader sees either the old or the new content, never half of one.
Bookkeeping that may be lost in a power cut (when a job last ran, API usage per hour) passes
`durable=False`: still atomic, without the two fsyncs, so an idle tick syncs nothing.
Each state file `x.json` is guarded by a sibling lock file `x.json.lock` (`FileLock`: an `fcntl.flock`, a
short timeout): `update_json` holds it across read → change → write so concurrent processes never lose an
update. The lock is released when its descriptor closes, so a killed process never leaves it held.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

DEFAULT_LOCK_TIMEOUT_S = 10.0


_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# SQLite's errors carry no errno: SQLITE_FULL, and SQLITE_IOERR — what it reports on a full disk when it
# cannot extend its -wal/-shm files (seen in make chaos on a full tmpfs)
_SQLITE_DISK_FULL = ("database or disk is full", "disk I/O error")


FULL_BELOW_BYTES = 1 << 20  # `is_disk_full(exc, on=…)`: less free space than this counts as full


def is_disk_full(exc: BaseException, on: Path | None = None) -> bool:
    """Whether `exc`, or an exception it was raised from or while handling, is the disk being full
    (ENOSPC/EDQUOT, or SQLite's SQLITE_FULL / SQLITE_IOERR): a condition to report in one line, not a bug.
    With `on`, also any failure while the filesystem of `on` has less than `FULL_BELOW_BYTES` free: a
    subprocess that ran out of space says so in its own words (git: `unpack-objects failed`, `could not
    write …`, `Out of diskspace`), which only the free space explains."""
    if on is not None and _free_bytes(on) < FULL_BELOW_BYTES:
        return True
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _DISK_FULL_ERRNOS:
            return True
        if any(text in str(current) for text in _SQLITE_DISK_FULL):
            return True
        current = current.__cause__ or current.__context__
    return False


def _free_bytes(path: Path) -> int:
    try:
        stat = os.statvfs(path)
    except OSError:
        return FULL_BELOW_BYTES  # cannot tell: not full
    return stat.f_bavail * stat.f_frsize


class StoreError(Exception):
    """A state file could not be read or written."""


class CorruptStateError(StoreError):
    """A state file exists but does not hold valid JSON. Never silently replaced by an empty value."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"corrupt state file {path}: {reason}")
        self.path = path
        self.reason = reason


class StateLockTimeout(StoreError):
    """Another process held a state file's lock for longer than the timeout."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        super().__init__(f"timed out after {timeout_s:g}s waiting for the lock on {path}")
        self.path = path
        self.timeout_s = timeout_s


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


class LockTimeout(StoreError):
    """Another process held a lock file for longer than the timeout."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        super().__init__(f"timed out after {timeout_s:g}s waiting for the lock {path}")
        self.path = path
        self.timeout_s = timeout_s


class FileLock:
    """An exclusive `fcntl.flock` on `path` (created if missing), waiting up to `timeout_s` (0 = one try).

    Held by this object's open descriptor: two objects (threads, processes) exclude each other, and the lock
    goes away with the process. Interoperates with the `filelock` package on the same file (it flocks too),
    at a fraction of its import cost."""

    POLL_S = 0.01

    def __init__(self, path: Path | str, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._fd: int | None = None

    @property
    def is_locked(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout_s: float | None = None) -> None:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        delay = self.POLL_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeout(self.path, timeout) from None
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 0.1)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def state_lock(path: Path, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> FileLock:
    """The lock guarding `path` (not yet acquired). Use as a context manager; see `locked`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(lock_path(path), timeout_s)


@contextmanager
def locked(path: Path, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock of `path`; StateLockTimeout when another process holds it past the timeout."""
    lock = state_lock(path, timeout_s)
    try:
        lock.acquire()
    except LockTimeout as exc:
        raise StateLockTimeout(path, timeout_s) from exc
    try:
        yield
    finally:
        lock.release()


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Write `data` to `path` atomically: tmp file in the same directory, os.replace — with an fsync of the
    file before and of the directory after unless `durable` is false."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, mode: int = 0o644, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode, durable)


def fsync_dir(directory: Path) -> None:
    """Make a rename or create in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_unlocked(path: Path, default_factory: Callable[[], Any]) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return default_factory()
    if not raw.strip():
        raise CorruptStateError(path, "file is empty")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CorruptStateError(path, f"not UTF-8 at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise CorruptStateError(path, f"{exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def _write_unlocked(path: Path, data: Any, durable: bool = True) -> None:
    try:
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot serialise state for {path}: {exc}") from exc
    atomic_write_text(path, text, durable=durable)


def read_json(
    path: Path, default_factory: Callable[[], Any], timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> Any:
    """The JSON value in `path`, or `default_factory()` when the file does not exist.

    Raises CorruptStateError when the file exists but is empty or not valid JSON.
    """
    with locked(path, timeout_s):
        return _read_unlocked(path, default_factory)


def write_json_atomic(path: Path, data: Any, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
    with locked(path, timeout_s):
        _write_unlocked(path, data)


def update_json(
    path: Path,
    fn: Callable[[Any], Any],
    default_factory: Callable[[], Any] = dict,
    timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    durable: bool = True,
) -> Any:
    """Lock, read (default when missing), apply `fn`, write the result atomically, return it.

    `fn` receives the current value and returns the new one (it may mutate and return its argument).
    If `fn` raises, nothing is written. `durable=False`: no fsync (bookkeeping a power cut may lose).
    """
    with locked(path, timeout_s):
        new_value = fn(_read_unlocked(path, default_factory))
        _write_unlocked(path, new_value, durable)
        return new_value


class JsonStateFile:
    """One JSON state file with a fixed default: `read()`, `write(data)`, `update(fn)`."""

    def __init__(
        self,
        path: Path,
        default_factory: Callable[[], Any] = dict,
        timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    ) -> None:
        self.path = path
        self.default_factory = default_factory
        self.timeout_s = timeout_s

    def read(self) -> Any:
        return read_json(self.path, self.default_factory, self.timeout_s)

    def write(self, data: Any) -> None:
        write_json_atomic(self.path, data, self.timeout_s)

    def update(self, fn: Callable[[Any], Any]) -> Any:
        return update_json(self.path, fn, self.default_factory, self.timeout_s)
