"""The busy queue's dispatcher passes (orchestrator/executors/busy_poll.py): one at a time, in their own thread,
one polling process per host, failures kept and reported, never raised into the queue's loop."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import wait
from pathlib import Path

from orchestrator.executors.busy_poll import POLLER_LOCK, BusyPoll
from orchestrator.github.errors import GitHubError
from orchestrator.state.worker_slots import try_lock

LOG = logging.getLogger("test")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def poller(tmp_path: Path, dispatch, clock: Clock, interval: float = 10.0, rate=lambda: None) -> BusyPoll:
    return BusyPoll(dispatch, interval, tmp_path, LOG, rate_remaining=rate, clock=clock)


def counting(calls: list[str], enqueued: int = 0):
    def dispatch() -> int:
        calls.append(threading.current_thread().name)
        return enqueued

    return dispatch


def finish(poll: BusyPoll) -> int:
    assert poll.pending is not None
    wait([poll.pending], timeout=10)
    return poll.collect()


def test_a_pass_every_interval_while_work_runs(tmp_path):
    clock, calls = Clock(), list[str]()
    poll = poller(tmp_path, counting(calls, 2), clock)
    assert poll.start_if_due(1, stopping=False) == 10.0  # the queue just started: wait a whole interval
    assert poll.pending is None
    clock.now += 10
    assert poll.start_if_due(1, stopping=False) == 10.0
    assert finish(poll) == 2
    assert calls and calls[0].startswith("busy-poll"), "in a thread of its own, not the queue's loop"
    clock.now += 4
    assert poll.start_if_due(1, stopping=False) == 6.0
    assert poll.pending is None
    poll.close()


def test_no_pass_without_work_when_stopping_or_low_on_requests(tmp_path):
    clock, calls = Clock(), list[str]()
    poll = poller(tmp_path, counting(calls), clock, rate=lambda: 10)
    clock.now += 60
    poll.start_if_due(1, stopping=False)  # 10 requests left this hour
    poll.rate_remaining = lambda: None
    poll.start_if_due(0, stopping=False)  # nothing in flight
    poll.start_if_due(1, stopping=True)  # kill switch
    assert poll.pending is None and calls == []
    assert poller(tmp_path, None, clock).start_if_due(1, stopping=False) is None  # no pass given: off


def test_one_polling_process_per_host(tmp_path):
    clock, calls = Clock(), list[str]()
    held = try_lock(tmp_path / POLLER_LOCK)  # another busy queue process of this host polls
    assert held is not None
    poll = poller(tmp_path, counting(calls), clock)
    clock.now += 10
    poll.start_if_due(1, stopping=False)
    assert poll.pending is None and calls == []
    os.close(held)  # it exited
    clock.now += 10
    poll.start_if_due(1, stopping=False)
    finish(poll)
    assert len(calls) == 1
    assert try_lock(tmp_path / POLLER_LOCK) is None, "held while this queue has work in flight"
    poll.start_if_due(0, stopping=False)  # its work is done: it lets go
    fd = try_lock(tmp_path / POLLER_LOCK)
    assert fd is not None
    os.close(fd)
    poll.close()


def test_a_failed_or_crashed_pass_is_reported_not_raised(tmp_path):
    clock = Clock()

    def down() -> int:
        raise GitHubError("502 from the API")

    poll = poller(tmp_path, down, clock)
    clock.now += 10
    poll.start_if_due(1, stopping=False)
    assert finish(poll) == 0
    assert poll.errors == ["busy dispatcher pass: 502 from the API"]

    def bug() -> int:
        raise KeyError("oops")

    poll.dispatch = bug
    clock.now += 10
    poll.start_if_due(1, stopping=False)
    assert finish(poll) == 0
    assert "crashed" in poll.errors[-1] and "oops" in poll.errors[-1]
    poll.close()


def test_close_waits_for_a_running_pass(tmp_path):
    clock, gate, done = Clock(), threading.Event(), []

    def slow() -> int:
        gate.wait(10)
        done.append(1)
        return 1

    poll = poller(tmp_path, slow, clock)
    clock.now += 10
    poll.start_if_due(1, stopping=False)
    threading.Timer(0.2, gate.set).start()
    poll.close()
    assert done == [1] and poll.pending is None
    fd = try_lock(tmp_path / POLLER_LOCK)
    assert fd is not None, "let go on close"
