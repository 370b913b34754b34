"""Notifier: dedup window, rate limit with a coalesced summary, redaction, log-only mode (fake clock)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.executors.notify import Notifier, NotifyLimits, Outcome, SendFailed

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LIMITS = NotifyLimits(dedup_window=timedelta(minutes=30), per_minute=3)


class FakeClock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


class RecordingSender:
    def __init__(self, fail=False):
        self.sent: list[tuple[str, tuple]] = []
        self.fail = fail

    def send(self, text, buttons):
        if self.fail:
            raise SendFailed("network down")
        self.sent.append((text, tuple(buttons)))


def redact(text):
    return text.replace("hunter2", "[REDACTED]")


# (seconds since start, key, text, expected outcome)
DEDUP_STEPS = [
    (0, "esc:1", "issue 1 escalated", Outcome.SENT),
    (10, "esc:1", "issue 1 escalated", Outcome.DUPLICATE),
    (20, "esc:2", "issue 2 escalated", Outcome.SENT),
    (29 * 60, "esc:1", "issue 1 escalated", Outcome.DUPLICATE),
    (30 * 60, "esc:1", "issue 1 escalated", Outcome.SENT),  # window over
    (30 * 60 + 5, "esc:1", "issue 1 escalated", Outcome.DUPLICATE),
]

RATE_STEPS = [
    (0, "a", "one", Outcome.SENT),
    (1, "b", "two", Outcome.SENT),
    (2, "c", "three", Outcome.SENT),
    (3, "d", "four", Outcome.RATE_LIMITED),
    (4, "e", "five", Outcome.RATE_LIMITED),
    (59, "f", "six", Outcome.RATE_LIMITED),
    (61, "g", "seven", Outcome.SENT),  # first send fell out of the minute
]


@pytest.mark.parametrize(("steps", "sent_count"), [(DEDUP_STEPS, 3), (RATE_STEPS, 4)], ids=["dedup", "rate"])
def test_outcome_table(tmp_path, steps, sent_count):
    clock, sender = FakeClock(), RecordingSender()
    notifier = Notifier(tmp_path, sender, redact, clock, LIMITS)
    for seconds, key, text, expected in steps:
        clock.now = T0 + timedelta(seconds=seconds)
        assert notifier.notify("test", text, key=key) is expected, (seconds, key)
    assert len(sender.sent) == sent_count


def test_repeats_are_counted_and_reported_after_the_window(tmp_path):
    clock, sender = FakeClock(), RecordingSender()
    notifier = Notifier(tmp_path, sender, redact, clock, LIMITS)
    for _ in range(4):
        notifier.notify("ci", "CI red on #5", key="ci:5")
    clock.now = T0 + timedelta(minutes=31)
    assert notifier.notify("ci", "CI red on #5", key="ci:5") is Outcome.SENT
    assert "repeated 3 more times" in sender.sent[-1][0]


def test_held_messages_are_coalesced_into_one_summary(tmp_path):
    clock, sender = FakeClock(), RecordingSender()
    notifier = Notifier(tmp_path, sender, redact, clock, LIMITS)
    for i in range(8):
        notifier.notify("escalation", f"issue {i} escalated\ndetails", key=f"esc:{i}")
    assert len(sender.sent) == 3
    assert notifier.flush() is None  # still inside the minute: nothing may be sent
    clock.now = T0 + timedelta(seconds=61)
    assert notifier.flush() is Outcome.SENT
    summary = sender.sent[-1][0]
    assert summary.startswith("5 notifications held back by the rate limit")
    assert "escalation×5" in summary
    assert "issue 3 escalated" in summary and "and 2 more" in summary
    assert notifier.flush() is None  # summary sent once


def test_next_allowed_message_carries_the_summary(tmp_path):
    clock, sender = FakeClock(), RecordingSender()
    notifier = Notifier(tmp_path, sender, redact, clock, LIMITS)
    for i in range(4):
        notifier.notify("x", f"m{i}", key=f"k{i}")
    clock.now = T0 + timedelta(seconds=61)
    notifier.notify("y", "fresh", key="fresh")
    assert sender.sent[-1][0].startswith("fresh")
    assert "1 notification held back" in sender.sent[-1][0]


def test_state_is_shared_between_notifier_instances(tmp_path):
    clock = FakeClock()
    first = Notifier(tmp_path, RecordingSender(), redact, clock, LIMITS)
    second = Notifier(tmp_path, RecordingSender(), redact, clock, LIMITS)
    assert first.notify("k", "same", key="same") is Outcome.SENT
    assert second.notify("k", "same", key="same") is Outcome.DUPLICATE


def test_default_key_deduplicates_identical_text(tmp_path):
    notifier = Notifier(tmp_path, RecordingSender(), redact, FakeClock(), LIMITS)
    assert notifier.notify("k", "same text") is Outcome.SENT
    assert notifier.notify("k", "same text") is Outcome.DUPLICATE
    assert notifier.notify("k", "other text") is Outcome.SENT


def test_redacted_before_sending_and_logging(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    sender = RecordingSender()
    notifier = Notifier(tmp_path, sender, redact, FakeClock(), LIMITS)
    notifier.notify(
        "leak", "token is hunter2", buttons=[("Retry hunter2", "retry:a/b#1")], severity="warning"
    )
    text, buttons = sender.sent[0]
    assert text == "⚠️ token is [REDACTED]"
    assert buttons == (("Retry [REDACTED]", "retry:a/b#1"),)
    assert "hunter2" not in caplog.text
    assert "token is [REDACTED]" in caplog.text


def test_without_sender_everything_goes_to_the_log(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    notifier = Notifier(tmp_path, None, redact, FakeClock(), LIMITS)
    for _ in range(2):
        assert notifier.notify("digest", "daily digest", severity="error") is Outcome.LOGGED
    assert caplog.text.count("daily digest") == 2
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]


def test_send_failure_is_logged_not_raised(tmp_path, caplog):
    notifier = Notifier(tmp_path, RecordingSender(fail=True), redact, FakeClock(), LIMITS)
    assert notifier.notify("k", "hello") is Outcome.SEND_FAILED
    assert "could not be sent: network down" in caplog.text


def test_bad_arguments_are_rejected(tmp_path):
    notifier = Notifier(tmp_path, RecordingSender(), redact, FakeClock(), LIMITS)
    with pytest.raises(ValueError, match="severity"):
        notifier.notify("k", "x", severity="loud")
    with pytest.raises(ValueError, match="64 bytes"):
        notifier.notify("k", "x", buttons=[("Retry", "retry:" + "x" * 80)])
