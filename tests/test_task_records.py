"""One typed, versioned record per task: its JSON form, its store (per-task files, atomic, locked) and what the
mailbox keeps in it (lease, infra retries, live state dropped at the end)."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.config import parse_config
from orchestrator.executors import housekeeping
from orchestrator.state.mailbox import Lease, Mailbox
from orchestrator.state.runtime import JobContext, RuntimePaths
from orchestrator.state.task_records import TaskRecords
from orchestrator.values.models import Task, TaskState
from orchestrator.values.task_record import (
    RECORD_VERSION,
    PendingEscalation,
    PRState,
    RecordError,
    RemoteLease,
    TaskRecord,
    Wait,
    decode,
    encode,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TASK = "acme__widgets__7__g1"

FULL = TaskRecord(
    task_id=TASK,
    lease=Lease("host-a", 4242, NOW),
    remote_lease=RemoteLease("acme/widgets", 99, "Picked up", 1, NOW),
    wait=Wait("parked", until=NOW, base_sha="abc", issues=(3, 4), give_up_at=NOW),
    infra_retries=2,
    escalation=PendingEscalation("acme/widgets", "chain exhausted"),
    pr=PRState(
        repo="acme/widgets",
        number=12,
        blocker="checks pending",
        since=NOW,
        head="f" * 40,
        head_seen=NOW,
        ready_sha="f" * 40,
        ready_since=NOW,
        verdict={"key": "k" * 64, "fixable": [], "needs_human": ["look"], "blocked": []},
        asked="k" * 64,
        escalated=True,
        claims={"agent-os/claims/fix/12/1": "acme__widgets__7__g1"},
        slot="agent-os/slots/main/abc",
        slot_since=NOW,
    ),
)


def test_a_record_round_trips_through_its_json_form() -> None:
    text = json.dumps(encode(FULL))
    assert decode(json.loads(text)) == FULL
    assert decode(encode(TaskRecord(TASK))) == TaskRecord(TASK)
    assert encode(TaskRecord(TASK)) == {"version": RECORD_VERSION, "task_id": TASK}
    assert TaskRecord(TASK).empty and not FULL.empty


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"version": 2, "task_id": TASK}, "record.version: 2 is not a version this Agent OS reads"),
        ({"task_id": TASK}, "record.version: missing"),
        ({"version": 1}, "record.task_id: missing"),
        ({"version": 1, "task_id": TASK, "infra_retries": "2"}, "record.infra_retries: expected an integer"),
        ({"version": 1, "task_id": TASK, "infra_retries": -1}, "record.infra_retries: negative"),
        ({"version": 1, "task_id": TASK, "lease": {"host": "h", "pid": 1}}, "record.lease.started: missing"),
        (
            {"version": 1, "task_id": TASK, "wait": {"reason": "x", "until": "soon"}},
            "record.wait.until: not an ISO time: 'soon'",
        ),
        ({"version": 1, "task_id": TASK, "wait": {"issues": ["3"]}}, "record.wait.issues: expected a list"),
        ({"version": 1, "task_id": TASK, "pr": {"repo": "a/b", "number": True}}, "record.pr.number"),
        ([], "record: expected an object, got list"),
    ],
)
def test_a_record_that_is_not_ours_is_refused_naming_the_field(raw: object, message: str) -> None:
    with pytest.raises(RecordError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode(raw)


def test_the_store_writes_one_file_per_task_only_when_it_changes(tmp_path: Path) -> None:
    store = TaskRecords(tmp_path / "tasks")
    assert store.load(TASK) == TaskRecord(TASK) and store.ids() == set()
    store.update(TASK, lambda r: FULL)
    path = store.path(TASK)
    assert store.load(TASK) == FULL and store.ids() == {TASK}
    written = path.stat().st_mtime_ns
    store.update(TASK, lambda r: r)  # no change: no write
    assert path.stat().st_mtime_ns == written
    assert store.load_many([TASK, "other__repo__1__g1"]) == {TASK: FULL}
    store.update(TASK, lambda r: TaskRecord(TASK))  # nothing left: the file goes
    assert not path.exists() and store.ids() == set()
    with pytest.raises(ValueError, match="not a task id"):
        store.path("../escape")


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        b'{"version": 9, "task_id": "acme__widgets__7__g1"}',
        b'{"version": 1, "task_id": "x"}',
    ],
)
def test_an_unreadable_record_is_reported_by_name_and_kept(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = TaskRecords(tmp_path / "tasks")
    path = store.path(TASK)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with caplog.at_level(logging.ERROR):
        assert store.load(TASK) == TaskRecord(TASK), "read as no record: the task stays recoverable"
    assert str(path) in caplog.text
    assert path.read_bytes() == content, "a read never changes it"
    [problem] = store.problems()
    assert str(path) in problem
    store.update(TASK, lambda r: dataclasses.replace(r, infra_retries=1))
    aside = path.with_name(path.name + ".unreadable-1")
    assert aside.read_bytes() == content, "moved aside on a write, never overwritten"
    assert store.load(TASK).infra_retries == 1
    assert any(str(aside) in line for line in store.problems())


def _bump(directory: str, times: int) -> None:
    store = TaskRecords(Path(directory))
    for _ in range(times):
        store.update(TASK, lambda r: dataclasses.replace(r, infra_retries=r.infra_retries + 1))


def test_concurrent_updates_of_one_task_lose_nothing(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_bump, args=(str(tmp_path / "tasks"), 25)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert TaskRecords(tmp_path / "tasks").load(TASK).infra_retries == 75


def _task(issue: int = 7) -> Task:
    return Task("acme/widgets", issue, 1, f"agent/{issue}-x", "t", "g", "s", created_at=NOW)


def test_the_mailbox_keeps_lease_and_infra_retries_in_the_record(tmp_path: Path) -> None:
    mailbox = Mailbox(tmp_path / "runtime" / "mailbox", clock=lambda: NOW)
    assert mailbox.records.directory == tmp_path / "runtime" / "state" / "tasks"
    task = _task()
    mailbox.enqueue(task)
    lease = Lease("host-a", 1, NOW)
    mailbox.claim(task.id, lease)
    assert mailbox.read_lease(task.id) == lease == mailbox.records.load(task.id).lease
    mailbox.recover(task.id, "lease expired")
    record = mailbox.records.load(task.id)
    assert record.lease is None and record.infra_retries == 1
    mailbox.update(dataclasses.replace(task, notes="rewritten by a human"))  # the old count lived here
    assert mailbox.infra_retries(task.id) == 1, "the count survives notes being overwritten"
    mailbox.records.update(task.id, lambda r: dataclasses.replace(r, wait=Wait("backoff", until=NOW)))
    mailbox.claim(task.id, lease)
    mailbox.finish(task.id, TaskState.FAILED, "gave up")
    record = mailbox.records.load(task.id)
    assert (record.lease, record.wait, record.infra_retries) == (None, None, 1), "live state goes at the end"


def test_archiving_keeps_only_what_outlives_the_task_file(tmp_path: Path) -> None:
    store = TaskRecords(tmp_path / "tasks")
    other = "acme__widgets__8__g1"
    store.update(TASK, lambda r: FULL)
    store.update(other, lambda r: dataclasses.replace(r, infra_retries=3, wait=Wait("backoff", until=NOW)))
    store.forget_archived([TASK, other, "never__had__1__g1"])
    assert store.load(TASK) == TaskRecord(TASK, escalation=FULL.escalation, pr=FULL.pr), "its PR may be open"
    assert other not in store.ids() and not (store.directory / ".locks" / f"{other}.lock").exists()


def test_housekeeping_archives_a_task_and_keeps_only_its_pr_state(tmp_path: Path) -> None:
    config = parse_config(
        {
            "github": {"api_url": "https://api.github.com"},
            "repos": [{"owner": "acme", "name": "widgets"}],
            "runtime_dir": str(tmp_path / "runtime"),
        }
    )
    paths = RuntimePaths(config.runtime_dir)
    paths.ensure()
    now = datetime.now(UTC)
    ctx = JobContext(config, paths, forge=None, mailbox=Mailbox(paths.mailbox), clock=lambda: now)  # type: ignore[arg-type]
    done, recovered = _task(7), _task(8)
    for task in (done, recovered):
        ctx.mailbox.enqueue(task)
        ctx.mailbox.claim(task.id, Lease.for_this_process(now))
    ctx.mailbox.recover(recovered.id)
    ctx.mailbox.claim(recovered.id, Lease.for_this_process(now))
    ctx.mailbox.records.update(done.id, lambda r: dataclasses.replace(r, pr=FULL.pr))
    for task in (done, recovered):
        old = (now - timedelta(days=400)).timestamp()
        os.utime(ctx.mailbox.finish(task.id, TaskState.DONE), (old, old))
    assert housekeeping.run(ctx, now).archived_tasks == 2
    assert ctx.mailbox.records.load(done.id) == TaskRecord(done.id, pr=FULL.pr)
    assert recovered.id not in ctx.mailbox.records.ids(), "its infra-retry count went with its file"


_text = st.text(max_size=20)
_times = st.datetimes(timezones=st.just(UTC))
_maybe = st.none
_records = st.builds(
    TaskRecord,
    task_id=st.just(TASK),
    lease=_maybe() | st.builds(Lease, _text, st.integers(0, 2**31), _times),
    remote_lease=_maybe()
    | st.builds(RemoteLease, _text, st.integers(0, 2**40), _text, st.integers(1, 9), _times),
    wait=_maybe()
    | st.builds(
        Wait,
        _text,
        _maybe() | _times,
        _maybe() | st.text(min_size=1, max_size=8),
        st.tuples(st.integers(1, 10**6)),
        _maybe() | _times,
    ),
    infra_retries=st.integers(0, 50),
    escalation=_maybe() | st.builds(PendingEscalation, _text, st.text(min_size=1, max_size=20)),
    pr=_maybe()
    | st.builds(
        PRState,
        repo=_text,
        number=st.integers(1, 10**6),
        blocker=_maybe() | _text,
        since=_maybe() | _times,
        head_seen=_maybe() | _times,
        verdict=_maybe() | st.fixed_dictionaries({"key": _text, "fixable": st.lists(_text, max_size=2)}),
        escalated=st.booleans(),
        claims=st.dictionaries(_text, _text, max_size=3),
    ),
)


@settings(max_examples=200, deadline=None)
@given(_records)
def test_any_record_round_trips_through_json(record: TaskRecord) -> None:
    assert decode(json.loads(json.dumps(encode(record)))) == record
