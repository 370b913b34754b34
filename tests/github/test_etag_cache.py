"""The persisted ETag cache: round trip, reads only what is asked, bounds by last use, concurrent writers,
corruption, and the single-file cache of earlier versions."""

from __future__ import annotations

import json
import logging
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orchestrator.github.etag_cache import CachedResponse, EtagCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix == ".json" and not p.name.startswith("."))


def test_round_trip_and_private_files(tmp_path: Path) -> None:
    path = tmp_path / "state" / "etag_cache"
    cache = EtagCache(path)
    cache.store_response("https://x/a", CachedResponse('W/"1"', "[1]", '<https://x/a?page=2>; rel="next"'))
    cache.store_record("board PVT", {"updated_at": "t", "items": []})
    cache.save()
    again = EtagCache(path)
    assert again.lookup_response("https://x/a") == CachedResponse(
        'W/"1"', "[1]", '<https://x/a?page=2>; rel="next"'
    )
    assert again.lookup_record("board PVT") == {"updated_at": "t", "items": []}
    assert again.entry_count() == 2
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files(path))
    assert not list(path.glob("*.tmp"))


def test_save_without_changes_does_not_write(tmp_path: Path) -> None:
    path = tmp_path / "etag_cache"
    EtagCache(path).save()
    assert not path.exists()


def test_a_lookup_reads_only_its_own_entry(tmp_path: Path) -> None:
    path = tmp_path / "etag_cache"
    cache = EtagCache(path)
    for n in range(300):
        cache.store_response(f"https://x/pulls/{n}", CachedResponse("e", "{}" + " " * 1000))
    cache.save()
    for entry in files(path):
        if entry.name != EtagCache(path)._file("GET https://x/pulls/7").name:
            entry.write_text("garbage that would be reported if it were read")
    tick = EtagCache(path)
    assert tick.lookup_response("https://x/pulls/7") is not None
    assert not list(path.glob("*.corrupt")), "no other entry was opened"


def test_least_recently_used_entries_are_evicted(tmp_path: Path) -> None:
    path = tmp_path / "etag_cache"
    clock = Clock()
    cache = EtagCache(path, max_entries=2, clock=clock, touch_seconds=0, evict_seconds=0)
    for key in ("a", "b"):
        cache.store_response(key, CachedResponse("e", key))
    cache.save()
    cache = EtagCache(path, max_entries=2, clock=clock, touch_seconds=0, evict_seconds=0)
    cache.lookup_response("a")  # a is now more recent than b
    cache.store_response("c", CachedResponse("e", "c"))
    cache.save()
    kept = EtagCache(path)
    assert [k for k in "abc" if kept.lookup_response(k)] == ["a", "c"]


def test_use_by_idle_ticks_is_saved_hourly_so_the_polled_entry_is_not_evicted_first(tmp_path: Path) -> None:
    path = tmp_path / "etag_cache"
    now = [0.0]
    first = EtagCache(path, max_entries=2, clock=lambda: now[0], evict_seconds=0)
    first.store_response("polled every tick", CachedResponse("e", "1"))
    first.store_response("written once", CachedResponse("e", "2"))
    first.save()
    before = {f.name: f.stat().st_mtime for f in files(path)}
    for minute in range(1, 121):  # two hours of idle ticks, each a fresh process answering a 304
        now[0] = minute * 60.0
        tick = EtagCache(path, max_entries=2, clock=lambda: now[0], evict_seconds=0)
        assert tick.lookup_response("polled every tick") is not None
        tick.save()
        if minute < 60:
            assert {f.name: f.stat().st_mtime for f in files(path)} == before, "an idle tick writes nothing"
    last = EtagCache(path, max_entries=2, clock=lambda: now[0], evict_seconds=0)
    last.store_response("new", CachedResponse("e", "3"))
    last.save()
    kept = EtagCache(path)
    assert [k for k in ("polled every tick", "written once", "new") if kept.lookup_response(k)] == [
        "polled every tick",
        "new",
    ]


def test_total_size_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "etag_cache"
    cache = EtagCache(path, max_bytes=3000, clock=Clock(), evict_seconds=0)
    for key in "abcde":
        cache.store_response(key, CachedResponse("e", key * 1000))
    cache.save()
    assert EtagCache(path).entry_count() == 2


def test_eviction_runs_at_most_once_per_period(tmp_path: Path) -> None:
    path = tmp_path / "etag_cache"
    clock = Clock()
    for key in "abc":
        cache = EtagCache(path, max_entries=1, clock=clock, evict_seconds=300)
        cache.store_response(key, CachedResponse("e", key))
        cache.save()
    assert EtagCache(path).entry_count() == 3, "the second and third saves came within the period"
    clock.now += 300
    cache = EtagCache(path, max_entries=1, clock=clock, evict_seconds=300)
    cache.store_response("d", CachedResponse("e", "d"))
    cache.save()
    assert [k for k in "abcd" if EtagCache(path).lookup_response(k)] == ["d"]


def test_a_stamp_from_the_future_does_not_stop_eviction(tmp_path: Path) -> None:
    path = tmp_path / "etag_cache"
    future = EtagCache(path, max_entries=1, clock=lambda: 10_000.0, evict_seconds=300)
    future.store_response("a", CachedResponse("e", "a"))
    future.save()  # eviction stamp dated 10,000
    past = EtagCache(path, max_entries=1, clock=lambda: 1_000.0, evict_seconds=300)
    past.store_response("b", CachedResponse("e", "b"))  # the clock went back: dated before the stamp
    past.save()
    assert EtagCache(path).entry_count() == 1


def test_two_processes_saving_keep_each_others_entries(tmp_path: Path) -> None:
    path = tmp_path / "etag_cache"
    first, second = EtagCache(path), EtagCache(path)
    first.store_response("issues", CachedResponse("1", "[]"))
    second.store_response("pulls", CachedResponse("2", "[]"))
    first.save()
    second.save()
    merged = EtagCache(path)
    assert merged.lookup_response("issues") and merged.lookup_response("pulls")


def test_threads_sharing_one_cache_store_look_up_and_save_at_once(tmp_path: Path) -> None:
    cache = EtagCache(tmp_path / "etag_cache", touch_seconds=0)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                cache.store_response(f"{n}/{i}", CachedResponse("e", str(i)))
                cache.lookup_response(f"{n}/{i // 2}")
                if i % 20 == 0:
                    cache.save()
            cache.save()
        except BaseException as exc:  # a RuntimeError from a dict changed during iteration, say
            errors.append(exc)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert errors == []
    assert EtagCache(tmp_path / "etag_cache").entry_count() == 800


def test_a_removed_entry_stays_removed(tmp_path: Path) -> None:
    path = tmp_path / "etag_cache"
    cache = EtagCache(path)
    cache.store_record("board 1", {"x": 1})
    cache.save()
    cache.remove_record("board 1")
    cache.save()
    assert EtagCache(path).lookup_record("board 1") is None


def test_a_corrupt_entry_is_logged_kept_aside_and_refetched(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "etag_cache"
    cache = EtagCache(path)
    cache.store_response("k", CachedResponse("e", "b"))
    cache.save()
    (entry,) = files(path)
    entry.write_bytes(b"\x00\xffgarbage")
    with caplog.at_level(logging.ERROR, logger="orchestrator.github.etag_cache"):
        assert EtagCache(path).lookup_response("k") is None
    assert "corrupt" in caplog.text and entry.name in caplog.text
    assert entry.with_name(entry.name + ".corrupt").read_bytes() == b"\x00\xffgarbage"


def test_the_single_file_cache_of_earlier_versions_is_moved_into_entries(tmp_path: Path) -> None:
    legacy = tmp_path / "etag_cache.json"
    entries = {
        "GET https://x/a": {"used": 5.0, "size": 10, "data": {"etag": "e", "body": "[]", "link": ""}},
        "record board 1": {"used": 6.0, "size": 10, "data": {"items": []}},
    }
    legacy.write_text(json.dumps({"version": 1, "entries": entries}))
    cache = EtagCache(tmp_path / "etag_cache")
    assert not legacy.exists()
    assert cache.lookup_response("https://x/a") == CachedResponse("e", "[]")
    assert cache.lookup_record("board 1") == {"items": []}
    assert sorted(os.stat(f).st_mtime for f in files(tmp_path / "etag_cache")) == [5.0, 6.0]


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xffgarbage",
        b"[]",
        json.dumps({"version": 99, "entries": {}}).encode(),
        json.dumps({"version": 1, "entries": {"k": {"data": {}}}}).encode(),
    ],
)
def test_a_corrupt_single_file_cache_is_logged_kept_aside_and_rebuilt(
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
