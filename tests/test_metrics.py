from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator.metrics import Event, events_path, parse_event, read_events, record_event

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_record_then_read_round_trips(tmp_path: Path) -> None:
    written = record_event(
        tmp_path,
        state="merged",
        task_id="o__r__7__g1",
        repo="o/r",
        issue=7,
        agent="claude",
        reason="green",
        duration_s=12.5,
        cost_usd=0.42,
        ts=T0,
        pr=3,
        labels=("a", "b"),
    )
    record_event(tmp_path, state="claimed", ts=T0 + timedelta(seconds=1))
    events = list(read_events(tmp_path))
    assert events[0] == Event(
        ts=T0,
        state="merged",
        task_id="o__r__7__g1",
        repo="o/r",
        issue=7,
        agent="claude",
        reason="green",
        duration_s=12.5,
        cost_usd=0.42,
        extra={"pr": 3, "labels": ["a", "b"]},
    )
    assert written.ts == T0
    assert events[1] == Event(ts=T0 + timedelta(seconds=1), state="claimed")
    first_line = events_path(tmp_path).read_text().splitlines()[0]
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
    with events_path(tmp_path).open("ab") as handle:
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
    with events_path(tmp_path).open("a") as handle:
        handle.write('{"ts": "2024-05-01T12:00:00+00:00", "state": "old", "task": "o__r__2__g1"}\n')
    assert [(e.task_id, dict(e.extra)) for e in read_events(tmp_path)] == [
        ("o__r__1__g1", {"pr": 4}),
        ("o__r__2__g1", {}),
    ]
