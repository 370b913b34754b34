"""Waiting in a test for what another process or thread brings about: a condition polled until it holds or a
deadline passes; the test asserts on what was seen last, with its own message."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """`condition()` every `interval` seconds until it returns a true value or `timeout` seconds have passed:
    its last value (a false one when the time ran out)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(interval)
    return value
