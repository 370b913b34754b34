"""The persisted cache behind conditional requests: ETag + body of every polled GET, and small records.

Cron starts a fresh process every tick, so the ETags that make an idle poll free (a 304 costs no rate limit)
must survive on disk. The cache is a folder with one small JSON file per entry (named by a hash of its key):

    <dir>/<sha256(key)[:40]>.json    {"version": 1, "key": "...", "data": {...}}

so a tick reads only the entries it asks for — its cost does not grow with the number of PRs and issues the
cache has seen over months (a single-file cache had to parse every entry on every tick).

- Writes happen in `save()` (one atomic rename per changed entry, no fsync: a cache can always be refilled);
  two jobs saving at once never erase each other's entries.
- The last use of an entry is its file's mtime. A hit on an entry whose last use is more than
  `touch_seconds` (an hour) old moves it forward at `save()`, so an idle tick writes nothing, and an endpoint
  that is polled every minute and never changes is not the first one evicted.
- The size is bounded (`github.etag_cache_max_entries` / `_max_mb`): after a save that added entries (at most
  once per `evict_seconds`), the least recently used files are deleted until both bounds hold.
- An unreadable entry is logged, moved aside to `<file>.corrupt` and treated as a miss; the single-file cache
  of earlier versions (`etag_cache.json`) is split into entries on first use (or moved aside to `.corrupt`
  with an error when it does not parse): the loss is never silent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_RESPONSE_PREFIX = "GET "
_RECORD_PREFIX = "record "
_EVICT_STAMP = ".evicted"


@dataclass(frozen=True)
class CachedResponse:
    """What a conditional GET needs to replay a 304: the validator, the body and the pagination links."""

    etag: str
    body: str
    link: str = ""


class CorruptCache(ValueError):
    """A cache file exists but is not one this code wrote."""


class EtagCache:
    def __init__(
        self,
        path: Path | str,
        *,
        max_entries: int = 5000,
        max_bytes: int = 64 * 1024 * 1024,
        lock_timeout: float = 10.0,  # kept for callers; entries are written by atomic renames, unlocked
        clock: Callable[[], float] = time.time,
        touch_seconds: float = 3600.0,
        evict_seconds: float = 300.0,
        legacy_path: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.touch_seconds = touch_seconds
        self.evict_seconds = evict_seconds
        self._clock = clock
        self._read: dict[str, dict[str, Any] | None] = {}  # key → data as read from disk (None = miss)
        self._pending: dict[str, dict[str, Any] | None] = {}  # key → data to write (None = remove)
        self._touch: set[str] = set()  # keys hit whose file is more than touch_seconds old
        self._lock = threading.RLock()  # the queue's worker threads share one client and its cache
        if self.path.is_file():
            self._migrate(self.path)  # a single-file cache at the very path
        else:
            self._migrate(legacy_path or self.path.with_name(self.path.name + ".json"))

    # --- typed access ------------------------------------------------------------------------------------
    def lookup_response(self, key: str) -> CachedResponse | None:
        data = self._get(_RESPONSE_PREFIX + key)
        if data is None:
            return None
        try:
            return CachedResponse(
                etag=str(data["etag"]), body=str(data["body"]), link=str(data.get("link", ""))
            )
        except (KeyError, TypeError):
            logger.warning("ETag cache %s: dropping malformed entry %s", self.path, key)
            self.remove_response(key)
            return None

    def store_response(self, key: str, response: CachedResponse) -> None:
        self._put(
            _RESPONSE_PREFIX + key, {"etag": response.etag, "body": response.body, "link": response.link}
        )

    def remove_response(self, key: str) -> None:
        self._put(_RESPONSE_PREFIX + key, None)

    def lookup_record(self, key: str) -> dict[str, Any] | None:
        data = self._get(_RECORD_PREFIX + key)
        return dict(data) if isinstance(data, dict) else None

    def store_record(self, key: str, record: dict[str, Any]) -> None:
        self._put(_RECORD_PREFIX + key, dict(record))

    def remove_record(self, key: str) -> None:
        self._put(_RECORD_PREFIX + key, None)

    def entry_count(self) -> int:
        return len(self._entry_files())

    # --- persistence -------------------------------------------------------------------------------------
    def persist(self) -> bool:
        """`save()` for callers in the middle of a job: the cache only saves rate limit, so one that cannot
        be written (a full disk) is a warning, never the end of the job. The unwritten entries stay pending
        for the next save. Returns whether it was written."""
        try:
            self.save()
        except OSError as exc:
            logger.warning("ETag cache not saved (requests will count until it is): %s", exc)
            return False
        return True

    def save(self) -> None:
        """Write the entries this process changed, move forward the last use of old hits, and evict when
        entries were added. A no-op (no write at all) on an idle tick."""
        with self._lock:
            pending, touch = dict(self._pending), self._touch - self._pending.keys()
            self._pending.clear()
            self._touch.clear()
            self._read.update(pending)
        if not pending and not touch:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        now = self._clock()
        added = False
        try:
            for key, data in pending.items():
                file = self._file(key)
                if data is None:
                    file.unlink(missing_ok=True)
                else:
                    self._write(file, key, data, now)
                    added = True
        except BaseException:
            with self._lock:  # not written: keep them for the next save (newer changes win)
                self._pending = {**pending, **self._pending}
            raise
        for key in touch:
            try:
                os.utime(self._file(key), (now, now))
            except FileNotFoundError:
                continue  # evicted or removed by another process meanwhile
        if added:
            self._evict_if_due(now)

    # --- raw entries -------------------------------------------------------------------------------------
    def _get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            if key in self._pending:
                return self._pending[key]
            cached = key in self._read
            data = self._read.get(key)
        if not cached:
            data = self._load(key)
            with self._lock:
                self._read.setdefault(key, data)
        if data is not None and self._clock() - self._mtime(key) >= self.touch_seconds:
            with self._lock:
                self._touch.add(key)
        return data

    def _put(self, key: str, data: dict[str, Any] | None) -> None:
        with self._lock:
            self._pending[key] = data

    def _file(self, key: str) -> Path:
        return self.path / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:40]}.json"

    def _mtime(self, key: str) -> float:
        try:
            return self._file(key).stat().st_mtime
        except FileNotFoundError:
            return self._clock()

    def _load(self, key: str) -> dict[str, Any] | None:
        file = self._file(key)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            self._move_aside(file, error)
            return None
        try:
            document = json.loads(text)
            if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
                raise CorruptCache(f"expected an object with version {FORMAT_VERSION}")
            if not isinstance(document.get("data"), dict):
                raise CorruptCache("'data' is not an object")
        except (json.JSONDecodeError, CorruptCache) as error:
            self._move_aside(file, error)
            return None
        if document.get("key") != key:
            return None  # another key with the same hash prefix: a miss, never the wrong body
        data: dict[str, Any] = document["data"]
        return data

    def _write(self, file: Path, key: str, data: dict[str, Any], now: float) -> None:
        document = json.dumps({"version": FORMAT_VERSION, "key": key, "data": data}, separators=(",", ":"))
        fd, tmp_name = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=self.path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(document)
            os.chmod(tmp_name, 0o600)  # cached bodies can hold private issue text
            os.utime(tmp_name, (now, now))
            os.replace(tmp_name, file)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def _entry_files(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.path) as entries:
                return [e for e in entries if e.name.endswith(".json") and not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _evict_if_due(self, now: float) -> None:
        stamp = self.path / _EVICT_STAMP
        try:
            last = stamp.stat().st_mtime
            if 0 <= now - last < self.evict_seconds:
                return  # a stamp from the future (the clock was set back) never stops eviction
        except FileNotFoundError:
            pass
        stamp.touch()
        os.utime(stamp, (now, now))
        self.evict()

    def evict(self) -> int:
        """Delete the least recently used entries until both bounds hold; returns how many went."""
        files = []
        for entry in self._entry_files():
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            files.append((st.st_mtime, entry.name, st.st_size))
        total = sum(size for _, _, size in files)
        removed = 0
        for _, name, size in sorted(files):
            if len(files) - removed <= self.max_entries and total <= self.max_bytes:
                break
            (self.path / name).unlink(missing_ok=True)
            total -= size
            removed += 1
        if removed:
            with self._lock:
                self._read.clear()
        return removed

    def _move_aside(self, file: Path, error: Exception) -> None:
        aside = file.with_name(file.name + ".corrupt")
        try:
            os.replace(file, aside)
        except OSError as move_error:
            logger.error(
                "ETag cache entry %s is unreadable (%s) and could not be moved: %s", file, error, move_error
            )
            return
        logger.error("ETag cache entry %s is corrupt (%s): moved to %s, refetched", file, error, aside)

    # --- the single-file cache of earlier versions --------------------------------------------------------
    def _migrate(self, legacy: Path | None) -> None:
        if legacy is None or not legacy.is_file():
            return
        aside = legacy.with_name(legacy.name + ".migrating")
        os.replace(legacy, aside)
        try:
            entries = _parse_legacy(aside.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, CorruptCache) as error:
            corrupt = legacy.with_name(legacy.name + ".corrupt")
            os.replace(aside, corrupt)
            logger.error(
                "ETag cache %s is corrupt (%s): moved to %s, rebuilding from empty", legacy, error, corrupt
            )
            return
        self.path.mkdir(parents=True, exist_ok=True)
        for key, entry in entries.items():
            self._write(self._file(key), key, entry["data"], float(entry["used"]))
        aside.unlink()
        logger.info("ETag cache %s: %d entries moved to %s", legacy, len(entries), self.path)


def _parse_legacy(text: str) -> dict[str, dict[str, Any]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise CorruptCache(f"not JSON: {error}") from error
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise CorruptCache(f"expected an object with version {FORMAT_VERSION}")
    entries = document.get("entries")
    if not isinstance(entries, dict):
        raise CorruptCache("'entries' is not an object")
    for key, entry in entries.items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("used"), int | float)
            and isinstance(entry.get("size"), int)
            and isinstance(entry.get("data"), dict)
        ):
            raise CorruptCache(f"entry {key!r} lacks used/size/data")
    return entries
