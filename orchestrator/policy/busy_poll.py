"""When a busy queue runs a dispatcher pass between cron ticks (issue 15 item 3). Pure: times passed in.

While a queue process has work in flight, nothing else looks for Ready issues until the dispatcher's next cron
tick (up to a minute away), so an issue made Ready meanwhile could not start when a worker freed. The queue
therefore runs a dispatcher pass every `dispatch.busy_poll_seconds` while its work runs: the issue is claimed
(the same atomic claim as a cron tick's) and waits in the inbox, and the queue starts it as soon as a worker is
free. This module decides whether a pass is due now and, if not, how long the queue may sleep before asking
again. Times are monotonic seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

# Below this many REST requests left in the hour, the busy poll stops (the cron tick still runs): the queue's
# own work (pushes, PRs, lease heartbeats) must not starve for a latency nicety.
RATE_RESERVE = 500


@dataclass(frozen=True)
class PollState:
    interval_s: float  # dispatch.busy_poll_seconds; 0 = off
    tasks_in_flight: int  # tasks this queue process is running now
    last_pass_at: float | None  # when this process last started a pass (None: never)
    pass_running: bool  # a pass started by this process has not finished yet
    stopping: bool  # the queue is being stopped (kill switch, queue switch)
    rate_remaining: int | None  # the REST requests left this hour, as last seen (None: not seen yet)


@dataclass(frozen=True)
class Due:
    """Start a pass now."""


@dataclass(frozen=True)
class NotDue:
    reason: str
    wake_in_s: float | None = None  # ask again after this long (None: nothing to wait for)


def next_pass(state: PollState, now: float) -> Due | NotDue:
    if state.interval_s <= 0:
        return NotDue("busy poll is off (dispatch.busy_poll_seconds: 0)")
    if state.stopping:
        return NotDue("the queue is stopping")
    if state.tasks_in_flight <= 0:
        return NotDue("no work in flight: the dispatcher's cron tick is enough")
    if state.pass_running:
        return NotDue("a pass is still running")
    if state.rate_remaining is not None and state.rate_remaining < RATE_RESERVE:
        return NotDue(f"only {state.rate_remaining} GitHub requests left this hour (reserve {RATE_RESERVE})")
    if state.last_pass_at is not None:
        wait = state.last_pass_at + state.interval_s - now
        if wait > 0:
            return NotDue("the last pass was recent", wake_in_s=wait)
    return Due()
