"""A `Forge` that delegates to another and attributes the GitHub cost of every call to the method called.

Wrap the client before handing it to a JobContext; after the run, `by_method()` says which calls were the
reads, the writes and the GraphQL points. The cost of a call is the change of the inner client's own
`RequestStats` across it; calls through the wrapper are serialized (the queue's lease heartbeat thread
waits for the worker's call in flight) so the attribution is exact. Meant for runs with one worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from orchestrator.github.protocol import Forge, RequestStats

# The Forge protocol's methods (orchestrator/github/protocol.py), read from the protocol itself.
FORGE_METHODS = frozenset(
    name for name in dir(Forge) if not name.startswith("_") and callable(getattr(Forge, name, None))
)


@dataclass
class MethodCost:
    calls: int = 0
    counted: int = 0
    not_modified: int = 0
    writes: int = 0
    graphql_points: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class CountingForge:
    def __init__(self, inner: Forge) -> None:
        self.inner = inner
        self.stats: RequestStats = inner.stats
        self._costs: dict[str, MethodCost] = {}
        self._lock = threading.Lock()
        self._serial = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in FORGE_METHODS or not callable(attr):
            return attr
        return self._counted(name, attr)

    def as_forge(self) -> Forge:
        """This object typed as the protocol it implements (its methods come through __getattr__)."""
        return cast(Forge, self)

    def by_method(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: cost.as_dict() for name, cost in sorted(self._costs.items())}

    def _counted(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._serial:
                before = _snapshot(self.stats)
                try:
                    return method(*args, **kwargs)
                finally:
                    self._add(name, before, _snapshot(self.stats))

        return call

    def _add(self, name: str, before: tuple[int, ...], after: tuple[int, ...]) -> None:
        counted, not_modified, writes, points = (a - b for a, b in zip(after, before, strict=True))
        with self._lock:
            cost = self._costs.setdefault(name, MethodCost())
            cost.calls += 1
            cost.counted += counted
            cost.not_modified += not_modified
            cost.writes += writes
            cost.graphql_points += points


def _snapshot(stats: RequestStats) -> tuple[int, int, int, int]:
    return (stats.counted, stats.not_modified, stats.writes, stats.graphql_points)
