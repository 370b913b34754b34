"""When a busy queue runs a dispatcher pass between cron ticks (orchestrator/policy/busy_poll.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.policy.busy_poll import RATE_RESERVE, Due, NotDue, PollState, next_pass

NOW = 1000.0
BUSY = PollState(
    interval_s=15,
    tasks_in_flight=1,
    last_pass_at=NOW - 20,
    pass_running=False,
    stopping=False,
    rate_remaining=4000,
)


@pytest.mark.parametrize(
    ("change", "due", "reason_has", "wake_in"),
    [
        ({}, True, "", None),
        ({"last_pass_at": None}, True, "", None),
        ({"last_pass_at": NOW - 15}, True, "", None),
        ({"rate_remaining": None}, True, "", None),
        ({"rate_remaining": RATE_RESERVE}, True, "", None),
        ({"tasks_in_flight": 3}, True, "", None),
        ({"last_pass_at": NOW - 5}, False, "recent", 10.0),
        ({"last_pass_at": NOW - 14.5}, False, "recent", 0.5),
        ({"interval_s": 0}, False, "off", None),
        ({"interval_s": 0, "last_pass_at": None}, False, "off", None),
        ({"tasks_in_flight": 0}, False, "no work in flight", None),
        ({"stopping": True}, False, "stopping", None),
        ({"pass_running": True}, False, "still running", None),
        ({"pass_running": True, "last_pass_at": NOW - 60}, False, "still running", None),
        ({"rate_remaining": RATE_RESERVE - 1}, False, "requests left", None),
        ({"rate_remaining": 0, "last_pass_at": NOW - 5}, False, "requests left", None),
    ],
)
def test_next_pass(change: dict[str, object], due: bool, reason_has: str, wake_in: float | None) -> None:
    decision = next_pass(replace(BUSY, **change), NOW)  # type: ignore[arg-type]
    if due:
        assert decision == Due()
        return
    assert isinstance(decision, NotDue)
    assert reason_has in decision.reason
    assert decision.wake_in_s == pytest.approx(wake_in) if wake_in is not None else decision.wake_in_s is None
