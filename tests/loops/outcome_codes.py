"""The one-letter outcome codes the scoring and log-analysis table tests write attempt histories in."""

from __future__ import annotations

OUTCOME = {
    "c": "complete",
    "p": "partial",
    "b": "blocked",
    "t": "timeout",
    "r": "rate_limited",
    "f": "tests_failed",
}
