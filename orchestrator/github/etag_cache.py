"""The persisted cache behind conditional requests: ETag + body of every polled GET, and small records.

Cron starts a fresh process every tick, so the ETags that make an idle poll free (a 304 costs no rate limit)
must survive on disk. The file is one JSON document:

    {"version": 1, "entries": {"<key>": {"used": <epoch s>, "size": <bytes>, "data": {...}}}}

- Writes are atomic (temporary file + fsync + os.replace) and happen under a file lock; before writing, the
  current file is re-read and only this process's changes are applied on top, so two jobs polling at the same
  time do not erase each other's entries.
- The size is bounded (entry count and total bytes, `github.etag_cache_max_*`); the least recently used
  entries are dropped first. "Used" includes a 304 replayed from the cache: an idle tick changes nothing and
  writes nothing, but the last-use times it moved are saved once they are more than `touch_seconds` old
  (an hour), so an endpoint that is polled every minute and never changes is not the first one evicted.
- A corrupt file is logged, moved aside to `<path>.corrupt` for inspection, and rebuilt from empty: a cache
  can always be refilled, but the loss is never silent.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_RESPONSE_PREFIX = "GET "
_RECORD_PREFIX = "record "


@dataclass(frozen=True)
class CachedResponse:
    """What a conditional GET needs to replay a 304: the validator, the body and the pagination links."""

    etag: str
    body: str
    link: str = ""


class CorruptCache(ValueError):
    """The cache file exists but is not a cache this code wrote."""


class EtagCache:
    def __init__(
        self,
        path: Path | str,
        *,
        max_entries: int = 5000,
        max_bytes: int = 64 * 1024 * 1024,
        lock_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        touch_seconds: float = 3600.0,
    ) -> None:
        self.path = Path(path)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.touch_seconds = touch_seconds
        self._lock_timeout = lock_timeout
        self._clock = clock
        self._entries: dict[str, dict[str, Any]] = self._load_or_rebuild()
        self._changed: set[str] = set()  # keys written or removed by this process since the last save
        self._touched: dict[str, float] = {}  # keys read by this process → their `used` time on disk

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
        data = {"etag": response.etag, "body": response.body, "link": response.link}
        self._put(_RESPONSE_PREFIX + key, data, size=len(response.body) + len(response.link) + 64)

    def remove_response(self, key: str) -> None:
        self._remove(_RESPONSE_PREFIX + key)

    def lookup_record(self, key: str) -> dict[str, Any] | None:
        data = self._get(_RECORD_PREFIX + key)
        return dict(data) if isinstance(data, dict) else None

    def store_record(self, key: str, record: dict[str, Any]) -> None:
        self._put(_RECORD_PREFIX + key, record, size=len(json.dumps(record)))

    def remove_record(self, key: str) -> None:
        self._remove(_RECORD_PREFIX + key)

    def entry_count(self) -> int:
        return len(self._entries)

    # --- persistence -------------------------------------------------------------------------------------
    def save(self) -> None:
        """Write this process's changes (merged onto the file's current content). A no-op when nothing changed
        and no entry's recorded last use is more than `touch_seconds` behind."""
        if not self._changed and not self._touches_due():
            return
        from filelock import FileLock, Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(self.path) + ".lock", timeout=self._lock_timeout):
                merged = self._merge_onto(self._load_or_rebuild())
                self._evict(merged)
                self._write_atomically(merged)
        except Timeout:
            logger.warning(
                "ETag cache %s: lock busy for %.0f s, changes not saved", self.path, self._lock_timeout
            )
            return
        self._entries = merged
        self._changed.clear()
        self._touched.clear()

    def _merge_onto(self, on_disk: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        merged = dict(on_disk)
        for key in self._changed:
            if key in self._entries:
                merged[key] = self._entries[key]
            else:
                merged.pop(key, None)
        for key in self._touched.keys() - self._changed:
            if key in merged and key in self._entries:
                merged[key] = {**merged[key], "used": max(merged[key]["used"], self._entries[key]["used"])}
        return merged

    def _evict(self, entries: dict[str, dict[str, Any]]) -> None:
        total = sum(int(entry["size"]) for entry in entries.values())
        if len(entries) <= self.max_entries and total <= self.max_bytes:
            return
        for key in sorted(entries, key=lambda k: float(entries[k]["used"])):
            if len(entries) <= self.max_entries and total <= self.max_bytes:
                break
            total -= int(entries.pop(key)["size"])

    def _write_atomically(self, entries: dict[str, dict[str, Any]]) -> None:
        document = json.dumps({"version": FORMAT_VERSION, "entries": entries}, separators=(",", ":"))
        fd, tmp_name = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(document)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, 0o600)  # cached bodies can hold private issue text
            os.replace(tmp_name, self.path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def _load_or_rebuild(self) -> dict[str, dict[str, Any]]:
        try:
            return _parse_document(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, CorruptCache) as error:
            self._move_aside(error)
            return {}

    def _move_aside(self, error: Exception) -> None:
        aside = self.path.with_name(self.path.name + ".corrupt")
        try:
            os.replace(self.path, aside)
        except OSError as move_error:
            logger.error(
                "ETag cache %s is unreadable (%s) and could not be moved: %s", self.path, error, move_error
            )
            return
        logger.error(
            "ETag cache %s is corrupt (%s): moved to %s, rebuilding from empty", self.path, error, aside
        )

    # --- raw entries -------------------------------------------------------------------------------------
    def _get(self, key: str) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._touched.setdefault(key, float(entry["used"]))
        entry["used"] = self._clock()
        return entry["data"]

    def _touches_due(self) -> bool:
        now = self._clock()
        return any(now - used >= self.touch_seconds for used in self._touched.values())

    def _put(self, key: str, data: dict[str, Any], *, size: int) -> None:
        self._entries[key] = {"used": self._clock(), "size": size, "data": data}
        self._changed.add(key)

    def _remove(self, key: str) -> None:
        if self._entries.pop(key, None) is not None:
            self._changed.add(key)


def _parse_document(text: str) -> dict[str, dict[str, Any]]:
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
            and "data" in entry
        ):
            raise CorruptCache(f"entry {key!r} lacks used/size/data")
    return entries
