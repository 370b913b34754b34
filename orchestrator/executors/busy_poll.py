"""A busy queue's dispatcher passes between cron ticks (issue 15 item 3; when: orchestrator/policy/busy_poll.py).

The queue job calls `start_if_due` on every turn of its loop and waits on `pending` together with its tasks.
A pass runs in a thread of its own, so a slow GitHub never delays starting a task when a worker frees, and at
most one pass runs per host at a time: the process that polls holds `locks/busy-poll.lock` while its work
runs (another busy queue process then leaves the polling to it), and the pass itself — the dispatcher job's
code, given by the caller — takes the dispatcher's own lock and honours its switches, so it never overlaps
the cron tick's pass. What a pass enqueues is claimed exactly as at a cron tick (the task branch through the
API, 422 = someone else has it), so a race with the cron tick or another host dispatches nothing twice.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from orchestrator.github.errors import GitHubError
from orchestrator.policy.busy_poll import Due, PollState, next_pass
from orchestrator.state.store import StoreError
from orchestrator.state.worker_slots import try_lock

# One dispatcher pass; returns how many tasks it enqueued, or None when it did not run (switched off, the
# dispatcher's lock held by its cron tick).
DispatchPass = Callable[[], int | None]

POLLER_LOCK = "busy-poll.lock"


class BusyPoll:
    def __init__(
        self,
        dispatch: DispatchPass | None,
        interval_s: float,
        locks_dir: Path,
        log: logging.Logger,
        rate_remaining: Callable[[], int | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dispatch = dispatch
        self.interval_s = interval_s if dispatch is not None else 0.0
        self.lock_path = locks_dir / POLLER_LOCK
        self.log = log
        self.rate_remaining = rate_remaining
        self.clock = clock
        self.last_pass_at = clock()  # the queue was just started, most often by a dispatcher pass
        self.pending: Future[int | None] | None = None
        self.errors: list[str] = []
        self._lock_fd: int | None = None
        self._threads: ThreadPoolExecutor | None = None

    def start_if_due(self, tasks_in_flight: int, stopping: bool) -> float | None:
        """Start a pass when one is due; returns how long the caller may wait before asking again."""
        state = PollState(
            interval_s=self.interval_s,
            tasks_in_flight=tasks_in_flight,
            last_pass_at=self.last_pass_at,
            pass_running=self.pending is not None,
            stopping=stopping,
            rate_remaining=self.rate_remaining(),
        )
        decision = next_pass(state, self.clock())
        if not isinstance(decision, Due):
            if tasks_in_flight <= 0 and self.pending is None:
                self._let_go()  # another busy queue process may poll now
            return decision.wake_in_s
        self.last_pass_at = self.clock()
        if not self._hold_poller_lock():
            return self.interval_s  # another queue process of this host polls
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="busy-poll")
        assert self.dispatch is not None  # interval_s is 0 without one, so no pass is ever due
        self.pending = self._threads.submit(self.dispatch)
        return self.interval_s

    def collect(self) -> int:
        """The tasks the finished pass enqueued (0 while it runs or when it failed; the failure is logged and
        kept in `errors`, and the next pass or cron tick tries again)."""
        if self.pending is None or not self.pending.done():
            return 0
        finished, self.pending = self.pending, None
        try:
            enqueued = finished.result()
        except (GitHubError, StoreError, OSError) as exc:
            self.errors.append(f"busy dispatcher pass: {exc}")
            self.log.warning("busy dispatcher pass failed error=%s", exc)
            return 0
        except Exception as exc:  # a bug in the pass must not stop the tasks of this queue: the job's error
            self.errors.append(f"busy dispatcher pass crashed: {exc!r}")
            self.log.exception("busy dispatcher pass crashed")
            return 0
        if enqueued:
            self.log.info("busy dispatcher pass enqueued=%s", enqueued)
        return enqueued or 0

    def close(self) -> None:
        """Wait for a pass still running (what it enqueues stays in the inbox for the next queue) and let go."""
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None
        self.collect()
        self._let_go()

    def _hold_poller_lock(self) -> bool:
        if self._lock_fd is None:
            self._lock_fd = try_lock(self.lock_path)
        return self._lock_fd is not None

    def _let_go(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
