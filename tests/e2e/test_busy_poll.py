"""Ready issues found between cron ticks while the queue is busy (#15.3): the busy queue runs the dispatcher's
pass every `dispatch.busy_poll_seconds`, so an issue made Ready while the only worker is busy is claimed
before the next cron tick and its agent starts as soon as the worker frees — and a race between that pass and
a cron dispatcher (here or on another host) never dispatches an issue twice."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.demo.runner import REPO, prepare
from orchestrator.executors.tracker import Tracker
from orchestrator.jobs import dispatcher, queue
from orchestrator.jobs.entry import build_context
from orchestrator.state.store import FileLock
from orchestrator.state.switches import Switches
from orchestrator.values.models import TaskState
from tests.e2e.test_busy_queue import BODY, ISSUES, start_in_thread, started_at
from tests.e2e.test_failure_paths import agent

pytestmark = pytest.mark.slow

POLL_S = 1.0


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def busy_host(sandbox, tmp_path: Path, poll_s: float = POLL_S):
    """One worker, held by note 1 (until the test writes `release`); note 2 is on the board in Todo."""
    signals = tmp_path / "signals"  # shown read-only in the sandbox: the test releases note 1 through it
    signals.mkdir()
    release = signals / "release-note-1"
    overrides = {
        "agents": {
            "read_only_paths": [str(signals)],
            "w": agent(tmp_path, "w", BODY.format(release=str(release)), 5),
        },
        "routing": {"default": ["w"]},
        "limits": {"max_parallel_workers": 1, "max_attempts": 3, "lease_seconds": 60},
        "dispatch": {"busy_poll_seconds": poll_s},
    }
    s = prepare(sandbox, tmp_path / "case", issues=ISSUES, overrides=overrides)
    return s.ctx, s.seeded.issue_numbers, release


def make_ready(ctx, number: int) -> None:
    issue = ctx.forge.get_issue(REPO, number)
    Tracker(ctx.forge, ctx.paths.state, ctx.audit).move(ctx.config.repo(REPO), issue, "ready")


def claim_branches(ctx, number: int) -> list[str]:
    return list(ctx.forge.matching_branches(REPO, f"agent/{number}-"))


def picked_up_comments(ctx, number: int) -> list[str]:
    return [c.body for c in ctx.forge.list_comments(REPO, number) if "<!-- agent-os:lease" in c.body]


def start_busy_queue(ctx, first: int) -> threading.Thread:
    """The cron tick that dispatches note 1 and the queue it starts, with the busy poll the entry wires."""
    assert dispatcher.run(ctx).dispatched
    busy = start_in_thread(queue.run, ctx, dispatch=lambda: dispatcher.between_ticks(ctx))
    wait_for(lambda: started_at(ctx, first) is not None, "note 1's agent")
    return busy


def test_an_issue_made_ready_while_the_only_worker_is_busy_is_claimed_and_started_when_it_frees(
    sandbox, tmp_path
):
    ctx, (first, second), release = busy_host(sandbox, tmp_path)
    busy = start_busy_queue(ctx, first)
    make_ready(ctx, second)
    ready = time.monotonic()
    # no cron tick from here on: only the busy queue's pass can find the issue
    wait_for(lambda: len(claim_branches(ctx, second)) == 1, "the claim of note 2", timeout=30)
    claimed_after = time.monotonic() - ready
    assert claimed_after < 20, f"claimed {claimed_after:.1f} s after Ready: by the busy poll, not a tick"
    wait_for(lambda: len(picked_up_comments(ctx, second)) == 1, "the picked-up comment", timeout=10)
    (waiting,) = ctx.mailbox.list(TaskState.INBOX)
    assert waiting.task is not None and waiting.task.issue == second
    time.sleep(2 * POLL_S)  # more passes while the worker is still busy: nothing claimed twice, no start
    assert started_at(ctx, second) is None, "the worker limit holds"
    assert len(claim_branches(ctx, second)) == 1 and len(picked_up_comments(ctx, second)) == 1
    freed = time.time()
    release.write_text("go")
    wait_for(lambda: started_at(ctx, second) is not None, "note 2's agent", timeout=30)
    assert (started_at(ctx, second) or 0) - freed < 15, "started as soon as the worker freed"
    busy.join(timeout=60)
    assert not busy.is_alive(), "the busy queue ran both and exited"
    done = {e.task.issue for e in ctx.mailbox.list(TaskState.DONE) if e.task}
    assert done == {first, second}


def test_with_the_busy_poll_off_the_issue_waits_for_the_cron_tick(sandbox, tmp_path):
    ctx, (first, second), release = busy_host(sandbox, tmp_path, poll_s=0)
    busy = start_busy_queue(ctx, first)
    make_ready(ctx, second)
    time.sleep(3)
    assert claim_branches(ctx, second) == [], "nothing looks for Ready issues between ticks"
    release.write_text("go")
    busy.join(timeout=60)
    assert started_at(ctx, second) is None


def test_the_pass_honours_the_dispatcher_lock_and_switch(sandbox, tmp_path):
    ctx, (first, _second), _release = busy_host(sandbox, tmp_path)
    with_lock = FileLock(ctx.paths.locks / "dispatcher.lock", timeout_s=0)
    with_lock.acquire()  # a cron tick of the dispatcher is running on this host
    try:
        assert dispatcher.between_ticks(ctx) is None
    finally:
        with_lock.release()
    assert claim_branches(ctx, first) == []
    switches = Switches.load(ctx.paths.root)
    switches.set_job("dispatcher", False, "test")
    assert dispatcher.between_ticks(ctx) is None
    assert claim_branches(ctx, first) == []
    switches.set_job("dispatcher", True, "test")
    switches.set_global(False, "test")
    assert dispatcher.between_ticks(ctx) is None
    switches.set_global(True, "test")
    assert dispatcher.between_ticks(ctx) == 1
    assert len(claim_branches(ctx, first)) == 1
    assert dispatcher.between_ticks(ctx) == 0  # reads what the claim changed
    time.sleep(5.5)  # a board changed in the last 5 s is read again (github/graphql.py): let it settle
    assert dispatcher.between_ticks(ctx) == 0
    sandbox.reset_stats()
    assert dispatcher.between_ticks(ctx) == 0
    spent = sandbox.stats()  # a pass with nothing new: conditional reads and the board probe only
    assert spent["counted"] == 0 and spent["writes"] == 0, spent
    assert spent["graphql_points"] == 1, spent  # every board's updatedAt in one query


class ClaimRace:
    """Host A's forge (passed in through the Forge interface): just before A's pass creates the claim branch
    for `issue`, host B's cron dispatcher runs and claims it — so A's create meets GitHub's 422."""

    def __init__(self, forge: Any, issue: int, other_host_tick) -> None:
        self._forge, self._issue, self._tick = forge, issue, other_host_tick
        self.raced: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._forge, name)

    def create_branch(self, repo: str, branch: str, sha: str) -> None:
        if branch.startswith(f"agent/{self._issue}-") and not self.raced:
            self.raced.append(self._tick())
        self._forge.create_branch(repo, branch, sha)


def test_no_double_dispatch_when_the_busy_poll_races_another_hosts_cron_tick(sandbox, tmp_path):
    ctx, (first, second), release = busy_host(sandbox, tmp_path, poll_s=0.5)
    other = build_context(
        replace(ctx.config, runtime_dir=tmp_path / "host-b" / "runtime"), environ=ctx.environ
    )
    other.host = "host-b"
    race = ClaimRace(ctx.forge, second, lambda: dispatcher.run(other))
    ctx_a = replace(ctx, forge=race)
    busy = start_busy_queue(ctx_a, first)
    make_ready(ctx, second)
    wait_for(lambda: bool(race.raced), "host A's claim", timeout=30)
    (tick_b,) = race.raced
    assert tick_b.dispatched, "host B's cron tick claimed the issue first"
    time.sleep(3 * 0.5)  # host A's busy poll keeps passing: it must not claim again
    assert len(claim_branches(ctx, second)) == 1
    assert [e.task.issue for e in other.mailbox.list(TaskState.INBOX) if e.task] == [second]
    here = [e.task.issue for s in TaskState for e in ctx.mailbox.list(s) if e.task]
    assert second not in here, "host A lost the claim (422) and enqueued nothing"
    assert len(picked_up_comments(ctx, second)) == 1
    release.write_text("go")
    busy.join(timeout=60)
    assert started_at(ctx, second) is None, "host A never ran host B's task"
