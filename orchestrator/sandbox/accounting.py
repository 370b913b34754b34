"""Rate-limit windows per token (5,000 an hour, as on GitHub) and the forge's request statistics."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

LIMIT_PER_HOUR = 5000
WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class RateState:
    limit: int
    used: int
    reset: int  # epoch seconds

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self, resource: str = "core") -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-resource": resource,
        }

    def overview(self) -> dict[str, int]:
        return {"limit": self.limit, "used": self.used, "remaining": self.remaining, "reset": self.reset}


class Accounting:
    """Thread-safe counters. `count` charges one request to a token's window; `peek` reads it for free."""

    def __init__(self, limit: int = LIMIT_PER_HOUR) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}  # (token, resource) → (used, reset)
        self._stats = self._zero()

    @staticmethod
    def _zero() -> dict[str, int]:
        return {"requests": 0, "counted": 0, "not_modified": 0, "graphql_points": 0, "writes": 0}

    def _window(self, key: tuple[str, str]) -> tuple[int, int]:
        used, reset = self._windows.get(key, (0, 0))
        now = int(time.time())
        if reset <= now:
            used, reset = 0, now + WINDOW_SECONDS
            self._windows[key] = (used, reset)
        return used, reset

    def peek(self, token: str, resource: str = "core") -> RateState:
        with self._lock:
            used, reset = self._window((token, resource))
            return RateState(self.limit, used, reset)

    def charge(self, token: str, cost: int = 1, resource: str = "core") -> RateState:
        with self._lock:
            used, reset = self._window((token, resource))
            used += cost
            self._windows[(token, resource)] = (used, reset)
            return RateState(self.limit, used, reset)

    def record(
        self,
        *,
        counted: bool = False,
        not_modified: bool = False,
        write: bool = False,
        graphql_points: int = 0,
    ) -> None:
        with self._lock:
            self._stats["requests"] += 1
            self._stats["counted"] += int(counted)
            self._stats["not_modified"] += int(not_modified)
            self._stats["writes"] += int(write)
            self._stats["graphql_points"] += graphql_points

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = self._zero()
