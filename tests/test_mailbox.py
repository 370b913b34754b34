from __future__ import annotations

import dataclasses
import multiprocessing
import os
import random
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.state.mailbox import (
    AlreadyClaimed,
    Lease,
    Mailbox,
    MalformedTask,
    TaskExists,
    TaskNotFound,
    local_process_alive,
)
from orchestrator.state.task_file import TaskFileError, parse_task, render_task
from orchestrator.values.models import AttemptRecord, Task, TaskState

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def make_task(issue: int = 7, **changes: object) -> Task:
    task = Task(
        repo="acme/widgets",
        issue=issue,
        generation=1,
        branch=f"agent/{issue}-fix-it",
        title=f"Fix widget {issue}",
        goal="Make the widget spin.",
        success_criteria="- spins\n- does not wobble",
        created_at=NOW,
        agents=("claude", "codex"),
    )
    return dataclasses.replace(task, **changes)  # type: ignore[arg-type]


def lease() -> Lease:
    return Lease.for_this_process(NOW)


@pytest.fixture
def mailbox(tmp_path: Path) -> Mailbox:
    return Mailbox(tmp_path / "mailbox", clock=lambda: NOW)


# ------------------------------------------------------------------------------------ task file format

ROUND_TRIP_CASES = {
    "minimal": make_task(),
    "every field": make_task(
        constraints="No new dependencies.",
        context="See `docs/x.md`.\n\n```py\nprint('hi')\n```",
        task_type="bugfix",
        attempt=3,
        priority=5,
        kind="fix_ci",
        pr_number=42,
        tried_agents=("claude",),
        notes="infra-retry 1: lease expired",
        prior_attempts=(
            AttemptRecord(
                1, "claude", "partial", "did half\n---\nthen stopped  ", "tests red", "a; b", ("a.py",)
            ),
            AttemptRecord(2, "codex", "contract_error"),
        ),
    ),
    "heading-like lines in text": make_task(
        goal="## Success Criteria\n\\## Goal\n\\\\## Log\n# title\n---\n## ",
        success_criteria="## Log",
    ),
    "surrounding whitespace kept": make_task(goal="\n\n  indented\n\n", success_criteria=" x "),
    "empty texts": make_task(goal="", success_criteria=""),
    "unicode and quotes": make_task(
        title='Fix "ünïcode" — 🚀: yes', goal="‘quotes’ \"double\" 'single' : - |"
    ),
    "naive datetime and no created_at": make_task(created_at=datetime(2024, 1, 1, 8, 30)),  # noqa: DTZ001
    "created_at none": make_task(created_at=None),
    "title with newline": make_task(title="two\nlines"),
}


@pytest.mark.parametrize("task", ROUND_TRIP_CASES.values(), ids=ROUND_TRIP_CASES.keys())
def test_task_file_round_trips_exactly(task: Task) -> None:
    text = render_task(task, log="- 2024 inbox → running\n  second line")
    document = parse_task(text)
    assert document.task == task
    assert document.log == "- 2024 inbox → running\n  second line"
    assert render_task(document.task, document.log) == text


def test_task_file_round_trips_random_texts() -> None:
    rng = random.Random(1234)
    alphabet = [
        "\n",
        "#",
        "## ",
        "\\",
        " ",
        "-",
        "---",
        ":",
        "|",
        "'",
        '"',
        "a",
        "é",
        "\t",
        "`",
        ">",
        "\u2028",
    ]
    for _ in range(120):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(4)]
        task = make_task(
            goal=texts[0],
            success_criteria=texts[1],
            context=texts[2],
            prior_attempts=(AttemptRecord(1, "claude", "partial", texts[3]),),
        )
        assert parse_task(render_task(task)).task == task, texts


def test_task_file_is_human_readable() -> None:
    text = render_task(make_task(constraints="Keep it small."))
    assert text.startswith("---\nid: acme__widgets__7__g1\nrepo: acme/widgets\nissue: 7\n")
    assert "agents: [claude, codex]\n" in text
    assert "created_at: '2024-05-01T12:00:00+00:00'\n" in text
    assert "# Fix widget 7\n\n## Goal\n\nMake the widget spin.\n\n## Success Criteria\n\n- spins\n" in text
    assert "## Constraints\n\nKeep it small.\n" in text
    assert "## Context" not in text  # empty optional sections are left out


BAD_FILES = [
    ("no front matter", "# hello\n", "line 1: no front matter: the file must start with a '---' line"),
    ("unclosed", "---\nrepo: a/b\n", "line 1: front matter is not closed by a '---' line"),
    ("bad yaml", "---\nrepo: a/b\nissue: [1\n---\n", "line 3: front matter is not valid YAML"),
    ("not a mapping", "---\n- a\n---\n", "line 2: front matter must be a mapping of field: value"),
    (
        "wrong type",
        "---\nrepo: a/b\nissue: seven\n---\n",
        "line 3: field 'issue': expected an integer, got 'seven'",
    ),
    ("unknown field", "---\nrepo: a/b\ncolour: red\n---\n", "line 3: unknown front matter field 'colour'"),
    ("goal in front matter", "---\ngoal: x\n---\n", "line 2: unknown front matter field 'goal'"),
    (
        "missing field",
        "---\nrepo: a/b\nissue: 1\ngeneration: 1\nbranch: agent/1\n---\n## Goal\n\nx\n",
        "missing front matter field 'title'",
    ),
    (
        "missing section",
        "---\nrepo: a/b\nissue: 1\ngeneration: 1\nbranch: agent/1\ntitle: t\n---\n## Goal\n\nx\n",
        "missing section '## Success Criteria'",
    ),
    (
        "unknown section",
        "---\nrepo: a/b\n---\n# t\n\n## Goal\n\nx\n\n## Steps\n",
        "line 10: unknown section '## Steps' (use ### inside a section)",
    ),
    ("twice", "---\nrepo: a/b\n---\n## Goal\n\n## Goal\n", "line 6: section '## Goal' appears twice"),
    (
        "bad date",
        "---\nrepo: a/b\ncreated_at: yesterday\n---\n",
        "line 3: field 'created_at': expected an ISO 8601 date-time, got 'yesterday'",
    ),
    (
        "bad attempt",
        "---\nrepo: a/b\nprior_attempts:\n- attempt: 1\n  agent: x\n---\n",
        "line 3: field 'prior_attempts[0]': missing key 'outcome'",
    ),
]


@pytest.mark.parametrize(("content", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_task_file_errors_name_the_line_or_field(content: str, message: str) -> None:
    with pytest.raises(TaskFileError) as info:
        parse_task(content)
    assert str(info.value).startswith(message)


def test_task_file_id_must_match() -> None:
    text = render_task(make_task()).replace("id: acme__widgets__7__g1", "id: other__1__g1")
    with pytest.raises(TaskFileError, match="line 2: id 'other__1__g1' does not match"):
        parse_task(text)


# ------------------------------------------------------------------------------------------- enqueue


def test_enqueue_creates_inbox_file_and_no_leftovers(mailbox: Mailbox) -> None:
    task = make_task()
    path = mailbox.enqueue(task)
    assert path == mailbox.root / "inbox" / f"{task.id}.md"
    assert parse_task(path.read_text()).task == task
    assert list((mailbox.root / "tmp").iterdir()) == []
    assert mailbox.get(task.id) == (TaskState.INBOX, task)


def test_enqueue_refuses_an_id_present_in_any_folder(mailbox: Mailbox) -> None:
    task = make_task()
    mailbox.enqueue(task)
    with pytest.raises(TaskExists, match="inbox/"):
        mailbox.enqueue(task)
    mailbox.claim(task.id, lease())
    mailbox.finish(task.id, TaskState.DONE, "merged")
    with pytest.raises(TaskExists, match="done/"):
        mailbox.enqueue(task)
    mailbox.enqueue(make_task(generation=2))  # the next generation is a different task


def _enqueue_once(root: str, barrier: multiprocessing.synchronize.Barrier, out: str) -> None:
    barrier.wait()
    try:
        Mailbox(Path(root)).enqueue(make_task())
        Path(out).write_text("won")
    except TaskExists:
        Path(out).write_text("lost")


def test_concurrent_enqueues_of_one_task_create_exactly_one_file(mailbox: Mailbox, tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    outs = [tmp_path / f"{n}.txt" for n in range(4)]
    procs = [ctx.Process(target=_enqueue_once, args=(str(mailbox.root), barrier, str(o))) for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(o.read_text() for o in outs) == ["lost", "lost", "lost", "won"]
    assert [e.task for e in mailbox.list(TaskState.INBOX)] == [make_task()]
    assert list((mailbox.root / "tmp").iterdir()) == []


# --------------------------------------------------------------------------------------------- claim


def test_claim_moves_to_running_and_writes_lease(mailbox: Mailbox) -> None:
    task = make_task()
    mailbox.enqueue(task)
    old = NOW.timestamp() - 3600
    os.utime(mailbox.path(TaskState.INBOX, task.id), (old, old))
    claimed = mailbox.claim(task.id, lease())
    assert claimed.task == task
    assert claimed.path == mailbox.path(TaskState.RUNNING, task.id)
    assert not mailbox.path(TaskState.INBOX, task.id).exists()
    assert mailbox.read_lease(task.id) == lease()
    assert claimed.path.stat().st_mtime > old + 1800  # heartbeat restarted at claim time
    with pytest.raises(AlreadyClaimed):
        mailbox.claim(task.id, lease())


def test_claim_of_missing_task_is_already_claimed(mailbox: Mailbox) -> None:
    with pytest.raises(AlreadyClaimed, match="no longer in inbox"):
        mailbox.claim("nope", lease())


def _claim_all(root: str, ids: list[str], barrier: multiprocessing.synchronize.Barrier, out: str) -> None:
    box = Mailbox(Path(root))
    won = []
    barrier.wait()
    for task_id in ids:
        try:
            box.claim(task_id, Lease.for_this_process(NOW))
            won.append(task_id)
        except AlreadyClaimed:
            pass
    Path(out).write_text("\n".join(won))


def test_two_processes_claiming_the_same_tasks_each_task_has_one_winner(
    mailbox: Mailbox, tmp_path: Path
) -> None:
    ids = [mailbox.enqueue(make_task(issue=n)).stem for n in range(1, 31)]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    outs = [tmp_path / "a.txt", tmp_path / "b.txt"]
    procs = [ctx.Process(target=_claim_all, args=(str(mailbox.root), ids, barrier, str(o))) for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    won = [set(filter(None, o.read_text().split("\n"))) for o in outs]
    assert won[0].isdisjoint(won[1])
    assert won[0] | won[1] == set(ids)
    assert sorted(e.id for e in mailbox.list(TaskState.RUNNING)) == sorted(ids)
    assert mailbox.list(TaskState.INBOX) == []


# -------------------------------------------------------------------------------------- transitions


def test_heartbeat_touches_running_file(mailbox: Mailbox) -> None:
    task = make_task()
    mailbox.enqueue(task)
    claimed = mailbox.claim(task.id, lease())
    os.utime(claimed.path, (1000, 1000))
    mailbox.heartbeat(task.id)
    assert claimed.path.stat().st_mtime > 1000
    mailbox.finish(task.id, TaskState.DONE)
    with pytest.raises(TaskNotFound):
        mailbox.heartbeat(task.id)


def test_finish_moves_with_note_in_log_and_drops_lease(mailbox: Mailbox) -> None:
    task = make_task()
    mailbox.enqueue(task)
    mailbox.claim(task.id, lease())
    path = mailbox.finish(task.id, TaskState.ESCALATED, "chain exhausted\nclaude: blocked")
    assert path == mailbox.path(TaskState.ESCALATED, task.id)
    assert mailbox.read_lease(task.id) is None
    assert not mailbox.records.path(task.id).exists(), "nothing left to keep: the record is gone"
    assert "## Log\n\n- 2024-05-01T12:00:00Z running → escalated: chain exhausted\n  claude: blocked\n" in (
        path.read_text()
    )
    assert mailbox.get(task.id) == (TaskState.ESCALATED, task)
    with pytest.raises(ValueError, match="not inbox"):
        mailbox.finish(task.id, TaskState.INBOX)
    with pytest.raises(TaskNotFound):
        mailbox.finish("missing", TaskState.DONE)


def test_update_rewrites_in_place_keeping_log(mailbox: Mailbox) -> None:
    task = make_task()
    mailbox.enqueue(task)
    mailbox.claim(task.id, lease())
    mailbox.finish(task.id, TaskState.BLOCKED, "waiting")
    changed = dataclasses.replace(task, attempt=2, tried_agents=("claude",))
    path = mailbox.update(changed)
    assert path == mailbox.path(TaskState.BLOCKED, task.id)
    entry = mailbox.list(TaskState.BLOCKED)[0]
    assert entry.task == changed
    assert entry.log == "- 2024-05-01T12:00:00Z running → blocked: waiting"


def test_requeue_returns_updated_task_to_inbox(mailbox: Mailbox) -> None:
    task = make_task()
    mailbox.enqueue(task)
    mailbox.claim(task.id, lease())
    follow_up = dataclasses.replace(task, attempt=2, kind="follow_up")
    mailbox.requeue(task.id, follow_up, "partial result")
    assert mailbox.get(task.id) == (TaskState.INBOX, follow_up)
    assert mailbox.read_lease(task.id) is None
    assert "running → inbox: partial result" in mailbox.path(TaskState.INBOX, task.id).read_text()
    with pytest.raises(ValueError, match="cannot replace"):
        mailbox.requeue(task.id, make_task(issue=8))


# --------------------------------------------------------------------------------- leases, recovery


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_expired_leases_need_old_heartbeat_and_dead_process(mailbox: Mailbox) -> None:
    alive, dead, orphan, fresh = (make_task(issue=n) for n in (1, 2, 3, 4))
    host = socket.gethostname()
    for task, pid in ((alive, os.getpid()), (dead, _dead_pid()), (orphan, 0), (fresh, _dead_pid())):
        mailbox.enqueue(task)
        mailbox.claim(task.id, Lease(host, pid, NOW))
    mailbox.records.path(orphan.id).unlink()  # crashed between the rename and writing the lease
    old = datetime.now(UTC).timestamp() - 1000
    for task in (alive, dead, orphan):
        os.utime(mailbox.path(TaskState.RUNNING, task.id), (old, old))
    expired = mailbox.expired_leases(datetime.now(UTC), 900, local_process_alive)
    assert sorted(e.task_id for e in expired) == sorted([dead.id, orphan.id])
    by_id = {e.task_id: e for e in expired}
    assert by_id[orphan.id].lease is None
    assert by_id[dead.id].lease is not None
    calls: list[tuple[str, int]] = []

    def everything_dead(host: str, pid: int) -> bool:
        calls.append((host, pid))
        return False

    expired = mailbox.expired_leases(datetime.now(UTC), 900, everything_dead)
    assert (host, os.getpid()) in calls  # the callable decides liveness
    assert alive.id in {e.task_id for e in expired}


def test_recover_counts_infrastructure_retries(mailbox: Mailbox) -> None:
    task = make_task()
    mailbox.enqueue(task)
    for expected in (1, 2):
        mailbox.claim(task.id, lease())
        recovered = mailbox.recover(task.id, "lease expired (pid gone)")
        assert mailbox.infra_retries(task.id) == expected
        assert mailbox.records.load(task.id).infra_retries == expected
        assert mailbox.get(task.id) == (TaskState.INBOX, recovered)
        assert recovered.attempt == task.attempt
    assert (
        recovered.notes == "infra-retry 1: lease expired (pid gone)\ninfra-retry 2: lease expired (pid gone)"
    )
    with pytest.raises(TaskNotFound):
        mailbox.recover(task.id)


def test_local_process_alive() -> None:
    assert local_process_alive(socket.gethostname(), os.getpid())
    assert not local_process_alive(socket.gethostname(), _dead_pid())
    assert not local_process_alive("some-other-host", os.getpid())


# ------------------------------------------------------------------------------ ordering, malformed


def test_next_tasks_orders_by_priority_then_age(mailbox: Mailbox) -> None:
    tasks = [
        make_task(1, priority=0, created_at=NOW - timedelta(hours=3)),
        make_task(2, priority=5, created_at=NOW),
        make_task(3, priority=0, created_at=NOW - timedelta(hours=5)),
        make_task(4, priority=5, created_at=NOW - timedelta(hours=1)),
    ]
    for task in tasks:
        mailbox.enqueue(task)
    assert [t.issue for t in mailbox.next_tasks(10)] == [4, 2, 3, 1]
    assert [t.issue for t in mailbox.next_tasks(2)] == [4, 2]
    assert mailbox.next_tasks(0) == []


def test_malformed_inbox_file_is_moved_to_failed_and_queue_continues(mailbox: Mailbox) -> None:
    good = make_task()
    mailbox.enqueue(good)
    bad = mailbox.root / "inbox" / "broken.md"
    bad.write_text("---\nrepo: a/b\nissue: seven\n---\n")
    (mailbox.root / "inbox" / ".editor-swap.md").write_text("ignored")
    assert mailbox.next_tasks(5) == [good]
    assert not bad.exists()
    moved = mailbox.root / "failed" / "broken.md"
    text = moved.read_text()
    assert text.startswith("---\nrepo: a/b\nissue: seven\n---\n")
    assert (
        "## Log\n\n- 2024-05-01T12:00:00Z moved to failed/: malformed task file broken.md: "
        "line 3: field 'issue': expected an integer, got 'seven'\n"
    ) in text
    [entry] = mailbox.list(TaskState.FAILED)
    assert entry.task is None and entry.error is not None and "line 3" in entry.error
    mailbox.sweep_malformed()
    assert moved.read_text() == text  # re-reading a quarantined file does not grow it


def test_claim_of_malformed_file_quarantines_it(mailbox: Mailbox) -> None:
    (mailbox.root / "inbox" / "x.md").write_bytes(b"---\nrepo: \xff\n---\n")
    with pytest.raises(MalformedTask) as info:
        mailbox.claim("x", lease())
    assert info.value.path == mailbox.root / "failed" / "x.md"
    assert info.value.error == "not UTF-8 at byte 10"
    assert mailbox.read_lease("x") is None and "x" not in mailbox.records.ids()
    assert "moved to failed/: malformed task file x.md: not UTF-8" in info.value.path.read_text(
        errors="replace"
    )


def test_sweep_malformed_everywhere_and_name_collisions(mailbox: Mailbox) -> None:
    (mailbox.root / "failed" / "dup.md").write_text("old failure")
    (mailbox.root / "running" / "dup.md").write_text("garbage")
    (mailbox.root / "done" / "other.md").write_text("garbage")
    moved = mailbox.sweep_malformed()
    assert len(moved) == 2
    assert (mailbox.root / "failed" / "dup.md").read_text() == "old failure"
    assert {p.parent.name for p in moved} == {"failed"}
    assert mailbox.list(TaskState.RUNNING) == [] and mailbox.list(TaskState.DONE) == []
    with pytest.raises(MalformedTask):
        mailbox.get("other")


def test_next_tasks_breaks_ties_by_issue_number_not_by_the_characters_of_the_id(mailbox: Mailbox) -> None:
    for number in (12, 1, 10, 2):  # dispatched in one tick: the same created_at
        mailbox.enqueue(make_task(issue=number))
    assert [t.issue for t in mailbox.next_tasks(10)] == [1, 2, 10, 12]
