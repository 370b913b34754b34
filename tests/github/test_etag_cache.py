"""The persisted ETag cache: round trip, bounds, concurrent writers, corruption."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from orchestrator.github.etag_cache import CachedResponse, EtagCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def test_round_trip_and_private_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "etags.json"
    cache = EtagCache(path)
    cache.store_response("https://x/a", CachedResponse('W/"1"', "[1]", '<https://x/a?page=2>; rel="next"'))
    cache.store_record("board PVT", {"updated_at": "t", "items": []})
    cache.save()
    again = EtagCache(path)
    assert again.lookup_response("https://x/a") == CachedResponse(
        'W/"1"', "[1]", '<https://x/a?page=2>; rel="next"'
    )
    assert again.lookup_record("board PVT") == {"updated_at": "t", "items": []}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob("*.tmp"))


def test_save_without_changes_does_not_write(tmp_path: Path) -> None:
    path = tmp_path / "etags.json"
    EtagCache(path).save()
    assert not path.exists()


def test_least_recently_used_entries_are_evicted(tmp_path: Path) -> None:
    path = tmp_path / "etags.json"
    cache = EtagCache(path, max_entries=2, clock=Clock())
    for key in ("a", "b"):
        cache.store_response(key, CachedResponse("e", key))
    cache.lookup_response("a")  # a is now more recent than b
    cache.store_response("c", CachedResponse("e", "c"))
    cache.save()
    kept = EtagCache(path)
    assert [k for k in "abc" if kept.lookup_response(k)] == ["a", "c"]


def test_use_by_idle_ticks_is_saved_hourly_so_the_polled_entry_is_not_evicted_first(tmp_path: Path) -> None:
    path = tmp_path / "etags.json"
    now = [0.0]
    first = EtagCache(path, max_entries=2, clock=lambda: now[0])
    first.store_response("polled every tick", CachedResponse("e", "1"))
    first.store_response("written once", CachedResponse("e", "2"))
    first.save()
    written = path.stat().st_mtime_ns
    for minute in range(1, 121):  # two hours of idle ticks, each a fresh process answering a 304
        now[0] = minute * 60.0
        tick = EtagCache(path, max_entries=2, clock=lambda: now[0])
        assert tick.lookup_response("polled every tick") is not None
        tick.save()
        if minute < 60:
            assert path.stat().st_mtime_ns == written, "an idle tick writes nothing within the hour"
    last = EtagCache(path, max_entries=2, clock=lambda: now[0])
    last.store_response("new", CachedResponse("e", "3"))
    last.save()
    kept = EtagCache(path)
    assert [k for k in ("polled every tick", "written once", "new") if kept.lookup_response(k)] == [
        "polled every tick",
        "new",
    ]


def test_total_size_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "etags.json"
    cache = EtagCache(path, max_bytes=3000, clock=Clock())
    for key in "abcde":
        cache.store_response(key, CachedResponse("e", key * 1000))
    cache.save()
    assert EtagCache(path).entry_count() == 2


def test_two_processes_saving_keep_each_others_entries(tmp_path: Path) -> None:
    path = tmp_path / "etags.json"
    first, second = EtagCache(path), EtagCache(path)
    first.store_response("issues", CachedResponse("1", "[]"))
    second.store_response("pulls", CachedResponse("2", "[]"))
    first.save()
    second.save()
    merged = EtagCache(path)
    assert merged.lookup_response("issues") and merged.lookup_response("pulls")


def test_a_removed_entry_stays_removed(tmp_path: Path) -> None:
    path = tmp_path / "etags.json"
    cache = EtagCache(path)
    cache.store_record("board 1", {"x": 1})
    cache.save()
    cache.remove_record("board 1")
    cache.save()
    assert EtagCache(path).lookup_record("board 1") is None


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xffgarbage",
        b"[]",
        json.dumps({"version": 99, "entries": {}}).encode(),
        json.dumps({"version": 1, "entries": {"k": {"data": {}}}}).encode(),
    ],
)
def test_corrupt_file_is_logged_kept_aside_and_rebuilt(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "etags.json"
    path.write_bytes(content)
    with caplog.at_level(logging.ERROR, logger="orchestrator.github.etag_cache"):
        cache = EtagCache(path)
    assert cache.entry_count() == 0
    assert "corrupt" in caplog.text and str(path) in caplog.text
    assert (tmp_path / "etags.json.corrupt").read_bytes() == content
    cache.store_response("k", CachedResponse("e", "b"))
    cache.save()
    assert EtagCache(path).lookup_response("k") == CachedResponse("e", "b")
