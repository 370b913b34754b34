from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.executors.housekeeping import compress_month
from orchestrator.policy.budget import spend_from_events
from orchestrator.state.event_totals import month_totals, totals_path
from orchestrator.state.metrics import (
    Event,
    events_path,
    migrate_legacy,
    parse_event,
    read_events,
    record_event,
    tail_events,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_record_then_read_round_trips(tmp_path: Path) -> None:
    fields = {
        "task_id": "o__r__7__g1",
        "repo": "o/r",
        "issue": 7,
        "agent": "claude",
        "reason": "green",
        "duration_s": 12.5,
        "cost_usd": 0.42,
    }
    written = record_event(tmp_path, state="merged", ts=T0, pr=3, labels=("a", "b"), **fields)  # type: ignore[arg-type]
    record_event(tmp_path, state="claimed", ts=T0 + timedelta(seconds=1))
    events = list(read_events(tmp_path))
    assert events[0] == Event(ts=T0, state="merged", extra={"pr": 3, "labels": ["a", "b"]}, **fields)  # type: ignore[arg-type]
    assert written.ts == T0
    assert events[1] == Event(ts=T0 + timedelta(seconds=1), state="claimed")
    first_line = events_path(tmp_path, "2024-05").read_text().splitlines()[0]
    assert first_line.startswith('{"ts":"2024-05-01T12:00:00+00:00","state":"merged","task_id":"o__r__7__g1"')


def test_default_timestamp_is_now_utc(tmp_path: Path) -> None:
    event = record_event(tmp_path, state="x")
    assert event.ts.tzinfo is UTC
    assert abs((datetime.now(UTC) - event.ts).total_seconds()) < 5


def test_missing_file_reads_as_no_events(tmp_path: Path) -> None:
    stream = read_events(tmp_path / "nowhere")
    assert list(stream) == []
    assert stream.corrupt == 0


def test_corrupt_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    record_event(tmp_path, state="a", ts=T0)
    with events_path(tmp_path, "2024-05").open("ab") as handle:
        handle.write(b"{not json\n")
        handle.write(b'{"state": "no ts"}\n')
        handle.write(b'{"ts": "2024-05-01T12:00:00+00:00", "state": "b", "issue": "seven"}\n')
        handle.write(b"[1, 2]\n\n")
        handle.write(b"\xff\xfe\n")
    record_event(tmp_path, state="c", ts=T0)
    stream = read_events(tmp_path)
    assert [e.state for e in stream] == ["a", "c"]
    assert stream.corrupt == 5
    assert stream.corrupt_lines == [2, 3, 4, 5, 7]


def test_since_filters_older_events(tmp_path: Path) -> None:
    for minutes in (0, 10, 20):
        record_event(tmp_path, state=f"m{minutes}", ts=T0 + timedelta(minutes=minutes))
    assert [e.state for e in read_events(tmp_path, since=T0 + timedelta(minutes=10))] == ["m10", "m20"]


def test_naive_timestamps_in_file_are_read_as_utc() -> None:
    assert parse_event('{"ts": "2024-05-01T12:00:00", "state": "x"}').ts == T0


def _write_many(metrics_dir: str, writer: int, count: int) -> None:
    for i in range(count):
        record_event(Path(metrics_dir), state="tick", task_id=f"w{writer}", reason=f"{i}:" + "x" * 3000)


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), w, 150)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    stream = read_events(tmp_path)
    events = list(stream)
    assert stream.corrupt == 0
    assert len(events) == 600
    for writer in range(4):
        seen = [int(e.reason.split(":")[0]) for e in events if e.task_id == f"w{writer}"]
        assert seen == list(range(150))


def test_task_is_an_alias_of_task_id(tmp_path: Path) -> None:
    record_event(tmp_path, state="follow_up", task="o__r__1__g1", pr=4, ts=T0)
    with events_path(tmp_path, "2024-05").open("a") as handle:
        handle.write('{"ts": "2024-05-01T12:00:00+00:00", "state": "old", "task": "o__r__2__g1"}\n')
    assert [(e.task_id, dict(e.extra)) for e in read_events(tmp_path)] == [
        ("o__r__1__g1", {"pr": 4}),
        ("o__r__2__g1", {}),
    ]


# ------------------------------------------------------------------------------ monthly files and totals


def test_events_go_to_the_file_of_their_month_and_since_opens_only_later_months(tmp_path: Path) -> None:
    record_event(tmp_path, state="april", ts=datetime(2024, 4, 30, 23, 59, tzinfo=UTC))
    record_event(tmp_path, state="may", ts=T0)
    record_event(tmp_path, state="june", ts=datetime(2024, 6, 1, tzinfo=UTC))
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == [
        "2024-04.jsonl",
        "2024-05.jsonl",
        "2024-06.jsonl",
    ]
    assert [e.state for e in read_events(tmp_path)] == ["april", "may", "june"]
    # a file of a month before `since` is not even opened: make it unreadable to prove it
    events_path(tmp_path, "2024-04").write_bytes(b"\xff garbage\n")
    stream = read_events(tmp_path, since=T0)
    assert [e.state for e in stream] == ["may", "june"] and stream.corrupt == 0
    assert [e.state for e in tail_events(tmp_path, 10_000)][-2:] == ["may", "june"]


def test_month_totals_equal_a_full_scan_and_catch_up_incrementally(tmp_path: Path) -> None:
    for i in range(30):
        record_event(
            tmp_path,
            state="complete" if i % 3 else "crash",
            task_id=f"o__r__{i % 4}__g1",
            agent=("claude", "codex", "")[i % 3],
            cost_usd=0.25 * (i % 5) or None,
            ts=T0 + timedelta(minutes=i),
        )
    first = month_totals(tmp_path, "2024-05")
    expected = spend_from_events(read_events(tmp_path), T0)
    assert first.cost_by_agent == pytest.approx(expected.by_agent)
    assert first.cost_by_task == pytest.approx(expected.by_task)
    assert first.events == 30 and first.events_by_state == {"complete": 20, "crash": 10}
    assert totals_path(tmp_path, "2024-05").exists()

    # the cache is what is read: poison the covered part of the file (past the first bytes, which tell a
    # file from its successor); only new lines are read
    path = events_path(tmp_path, "2024-05")
    data = path.read_bytes()
    with path.open("r+b") as handle:  # same size, same inode, garbage inside
        handle.seek(1000)
        handle.write(b"x" * (len(data) - 1001))
    record_event(tmp_path, state="complete", task_id="o__r__9__g1", agent="claude", cost_usd=2.0, ts=T0)
    second = month_totals(tmp_path, "2024-05")
    assert second.events == 31
    assert second.cost_by_agent["claude"] == pytest.approx(first.cost_by_agent["claude"] + 2.0)
    assert second.cost_by_task["o__r__9__g1"] == 2.0


def test_month_totals_recompute_when_the_cache_is_corrupt_or_the_file_shrank(tmp_path: Path) -> None:
    record_event(tmp_path, state="a", agent="claude", cost_usd=1.0, ts=T0)
    record_event(tmp_path, state="b", agent="claude", cost_usd=2.0, ts=T0)
    assert month_totals(tmp_path, "2024-05").cost_usd == 3.0
    totals_path(tmp_path, "2024-05").write_text("{not json")
    assert month_totals(tmp_path, "2024-05").cost_usd == 3.0
    path = events_path(tmp_path, "2024-05")
    path.write_bytes(path.read_bytes().splitlines(keepends=True)[0])  # a human cut the file
    assert month_totals(tmp_path, "2024-05").cost_usd == 1.0
    with path.open("ab") as handle:
        handle.write(b'{"ts": "2024-05-01T12:00:00+00:00", "state": "c", "agent": "x", "cost_')  # mid-write
    assert month_totals(tmp_path, "2024-05").events == 1, "a line without its newline waits"


def test_an_old_single_events_file_is_split_into_months_once(tmp_path: Path) -> None:
    legacy = tmp_path / "events.jsonl"
    lines = [
        '{"ts":"2024-04-30T10:00:00+00:00","state":"a","agent":"claude","cost_usd":1.5}',
        "{corrupt line",
        '{"ts":"2024-05-02T10:00:00+00:00","state":"b","agent":"claude","cost_usd":2.5}',
        '{"ts":"2024-05-03T10:00:00+00:00","state":"c"}',
    ]
    legacy.write_text("\n".join(lines) + "\n")

    assert month_totals(tmp_path, "2024-05").cost_by_agent == {"claude": 2.5}
    assert not legacy.exists()
    assert events_path(tmp_path, "2024-04").read_text().splitlines() == lines[:2]
    stream = read_events(tmp_path)
    assert [e.state for e in stream] == ["a", "b", "c"] and stream.corrupt == 1
    assert migrate_legacy(tmp_path) == 0, "nothing left to migrate"


def test_a_migration_cut_by_a_crash_resumes_without_duplicates(tmp_path: Path) -> None:
    # state left by a crash: the file renamed aside, April appended, May half-written
    source = tmp_path / "events.jsonl.migrating-1"
    april = '{"ts":"2024-04-30T10:00:00+00:00","state":"a"}\n'
    may = '{"ts":"2024-05-02T10:00:00+00:00","state":"b"}\n'
    source.write_text(april + may)
    (tmp_path / "events").mkdir()
    events_path(tmp_path, "2024-04").write_text(april)
    events_path(tmp_path, "2024-05").write_text(may[:20])
    progress = {"done": ["2024-04"], "pending": {"month": "2024-05", "size": 0}}
    (tmp_path / "events.jsonl.migrating-1.progress").write_text(json.dumps(progress))

    record_event(tmp_path, state="new", ts=T0)
    assert [e.state for e in read_events(tmp_path)] == ["a", "b", "new"]
    assert not source.exists()


def test_a_month_compressed_by_housekeeping_is_still_read_and_totalled(tmp_path: Path) -> None:
    record_event(tmp_path, state="a", agent="claude", cost_usd=1.0, ts=T0)
    assert month_totals(tmp_path, "2024-05").cost_usd == 1.0
    assert compress_month(tmp_path, "2024-05")
    assert not events_path(tmp_path, "2024-05").exists()
    record_event(tmp_path, state="late", agent="claude", cost_usd=2.0, ts=T0)  # after compression
    assert [e.state for e in read_events(tmp_path)] == ["a", "late"]
    assert month_totals(tmp_path, "2024-05").cost_usd == 3.0
    assert compress_month(tmp_path, "2024-05")  # merges the late line into the archive
    assert [e.state for e in read_events(tmp_path)] == ["a", "late"]
    assert month_totals(tmp_path, "2024-05").cost_usd == 3.0
