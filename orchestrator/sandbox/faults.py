"""Fault injection for chaos tests: server errors, 429 with Retry-After, secondary limits, latency.

Deterministic for a given seed: the n-th faultable request always gets the same outcome.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, fields
from typing import Any

from orchestrator.sandbox.routing import ApiError

SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out "
    "to GitHub Support for help, please include the request ID."
)


@dataclass(frozen=True)
class FaultConfig:
    error_rate: float = 0.0  # share of requests answered with one of error_statuses
    error_statuses: tuple[int, ...] = (500, 502)
    rate_limit_rate: float = 0.0  # share answered 429 with Retry-After
    retry_after_seconds: int = 1
    secondary_limit_rate: float = 0.0  # share answered 403 "secondary rate limit" with Retry-After
    latency_ms: int = 0  # added to every faultable request
    seed: int | None = None

    @staticmethod
    def from_json(data: dict[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(FaultConfig)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        values = dict(data)
        if "error_statuses" in values:
            values["error_statuses"] = tuple(int(s) for s in values["error_statuses"])
        config = FaultConfig(**values)
        for name in ("error_rate", "rate_limit_rate", "secondary_limit_rate"):
            rate = getattr(config, name)
            if not isinstance(rate, int | float) or not 0 <= rate <= 1:
                raise ValueError(f"{name} must be a number between 0 and 1")
        return config


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._random = random.Random(0)

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._random = random.Random(config.seed)

    def apply(self) -> None:
        """Sleep the configured latency, then maybe raise the configured fault as an ApiError."""
        with self._lock:
            config = self._config
            draw = self._random.random()
            status = self._random.choice(config.error_statuses) if config.error_statuses else 500
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        retry_after = {"Retry-After": str(config.retry_after_seconds)}
        if draw < config.error_rate:
            raise ApiError(status, "Server Error" if status != 502 else "Bad Gateway")
        draw -= config.error_rate
        if draw < config.rate_limit_rate:
            raise ApiError(429, "API rate limit exceeded (sandbox fault injection).", headers=retry_after)
        draw -= config.rate_limit_rate
        if draw < config.secondary_limit_rate:
            raise ApiError(403, SECONDARY_LIMIT_MESSAGE, headers=retry_after)
