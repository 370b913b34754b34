"""No wait behind a busy queue (#15.3): an issue that becomes Ready while the queue is busy with a long task
starts at once — in the queue process the dispatcher starts (it takes a free worker slot), or in the busy
queue itself as soon as one of its workers is free — never after the long task ends or at a later tick."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from orchestrator.demo.runner import REPO
from orchestrator.executors.tracker import Tracker
from orchestrator.jobs import dispatcher, queue
from orchestrator.state.worker_slots import WorkerSlots
from orchestrator.values.models import TaskState
from tests.e2e.scripted import agent, events, setup
from tests.polling import wait_until

pytestmark = pytest.mark.slow

ISSUES = [
    {
        "title": f"Write note {n}",
        "status": status,
        "body": f"## Goal\nWrite note number {n} for the team handbook.\n\n## Success Criteria\n- notes/{n}.md exists\n",
    }
    for n, status in ((1, "Ready"), (2, "Todo"))
]
# Note 1 takes until the test releases it; note 2 is instant.
BODY = """
import re, time
n = re.search(r"note number (\\d+)", prompt).group(1)
release = Path({release!r})
while n == "1" and not release.exists():
    time.sleep(0.05)
Path("notes").mkdir(exist_ok=True)
Path("notes", n + ".md").write_text("note " + n + "\\n")
done(summary="wrote note " + n)
"""


def start_in_thread(target, *args, **kw) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, kwargs=kw, daemon=True)
    thread.start()
    return thread


def started_at(ctx, issue: int) -> float | None:
    from datetime import datetime

    for e in events(ctx):
        if e["state"] == "agent_started" and e.get("issue") == issue:
            return datetime.fromisoformat(e["ts"]).timestamp()
    return None


def busy_with_note_1(sandbox, tmp_path: Path, workers: int):
    signals = tmp_path / "signals"  # shown read-only in the sandbox: the test releases note 1 through it
    signals.mkdir()
    release = signals / "release-note-1"
    s = setup(
        sandbox,
        tmp_path,
        {
            "read_only_paths": [str(signals)],
            "w": agent(tmp_path, "w", BODY.format(release=str(release)), 5),
        },
        ["w"],
        ISSUES,
        max_parallel_workers=workers,
    )
    ctx, (first, second) = s.ctx, s.seeded.issue_numbers
    dispatcher.run(ctx)
    busy = start_in_thread(queue.run, ctx)
    assert wait_until(lambda: started_at(ctx, first) is not None, 60), "the first task never started"
    issue = ctx.forge.get_issue(REPO, second)
    Tracker(ctx.forge, ctx.paths.state, ctx.audit).move(ctx.config.repo(REPO), issue, "ready")
    return ctx, first, second, release, busy


def test_a_new_task_starts_in_a_second_queue_while_the_first_is_busy(sandbox, tmp_path):
    ctx, first, second, release, busy = busy_with_note_1(sandbox, tmp_path, workers=2)
    second_queue: list[threading.Thread] = []
    report = dispatcher.run(ctx, start_queue=lambda: second_queue.append(start_in_thread(queue.run, ctx)))
    assert len(report.dispatched) == 1 and second_queue
    assert wait_until(lambda: started_at(ctx, second) is not None, 30), "the second task never started"
    assert not release.exists() and busy.is_alive(), "started while note 1 still runs, not after it"
    second_queue[0].join(timeout=60)
    assert not second_queue[0].is_alive(), "the second queue finished its task and exited"
    release.write_text("go")
    busy.join(timeout=60)
    done = {e.task.issue for e in ctx.mailbox.list(TaskState.DONE) if e.task}
    assert done == {first, second}


def test_when_every_slot_is_busy_the_busy_queue_takes_the_task_as_soon_as_a_worker_is_free(sandbox, tmp_path):
    ctx, _first, second, release, busy = busy_with_note_1(sandbox, tmp_path, workers=1)
    assert WorkerSlots(ctx.paths.locks, 1).busy() == 1
    second_queue: list[threading.Thread] = []
    dispatcher.run(ctx, start_queue=lambda: second_queue.append(start_in_thread(queue.run, ctx)))
    second_queue[0].join(timeout=30)
    assert not second_queue[0].is_alive(), "no free slot: the second queue exits at once"
    assert started_at(ctx, second) is None, "the worker limit holds"
    (waiting,) = ctx.mailbox.list(TaskState.INBOX)
    assert waiting.task is not None and waiting.task.issue == second
    freed = time.time()
    release.write_text("go")
    assert wait_until(lambda: started_at(ctx, second) is not None, 30), "the second task never started"
    assert (started_at(ctx, second) or 0) - freed < 30, "the busy queue went on to it, no later tick needed"
    busy.join(timeout=60)
    assert not busy.is_alive()


def test_a_busy_queue_with_a_free_worker_picks_up_new_work_by_itself(sandbox, tmp_path):
    ctx, _first, second, release, busy = busy_with_note_1(sandbox, tmp_path, workers=2)
    ready_at = time.time()
    report = dispatcher.run(ctx)  # no second queue started: the busy one must notice
    assert len(report.dispatched) == 1
    assert wait_until(lambda: started_at(ctx, second) is not None, 30), "the second task never started"
    assert busy.is_alive() and not release.exists(), "picked up while note 1 still runs"
    assert (started_at(ctx, second) or 0) - ready_at < 30
    release.write_text("go")
    busy.join(timeout=60)
    assert not busy.is_alive()
