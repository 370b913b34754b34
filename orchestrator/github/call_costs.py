"""What the calls through a `Forge` cost on GitHub, charged to a key the caller chooses: the method called (the
benchmarks' `CountingForge`), the issue a call is about (the replay's `IssueCostForge`).

`CostMeter(inner, key_of)` delegates every Forge method to `inner`. The cost of one call is the change of the
inner client's own `RequestStats` across it; calls through the meter are serialized (the queue's lease
heartbeat thread waits for the worker's call in flight), so the attribution is exact. `key_of(method, args)`
is asked after the call returns or raises, and `seen(result)` (when given) is then shown what it returned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from orchestrator.github.protocol import Forge, RequestStats

# The Forge protocol's methods, read from the protocol itself.
FORGE_METHODS = frozenset(
    name for name in dir(Forge) if not name.startswith("_") and callable(getattr(Forge, name, None))
)

Key = TypeVar("Key")


@dataclass
class CallCost:
    calls: int = 0
    counted: int = 0
    not_modified: int = 0
    writes: int = 0
    graphql_points: int = 0

    def add(self, before: tuple[int, ...], after: tuple[int, ...]) -> None:
        """One more call, which moved the client's counts from `before` to `after` (see `counts`)."""
        counted, not_modified, writes, points = (a - b for a, b in zip(after, before, strict=True))
        self.calls += 1
        self.counted += counted
        self.not_modified += not_modified
        self.writes += writes
        self.graphql_points += points

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def counts(stats: RequestStats) -> tuple[int, int, int, int]:
    return (stats.counted, stats.not_modified, stats.writes, stats.graphql_points)


class CostMeter(Generic[Key]):
    def __init__(
        self,
        inner: Forge,
        key_of: Callable[[str, tuple[Any, ...]], Key],
        seen: Callable[[Any], None] | None = None,
    ) -> None:
        self.inner = inner
        self.stats: RequestStats = inner.stats
        self._key_of = key_of
        self._seen = seen
        self._costs: dict[Key, CallCost] = {}
        self._serial = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in FORGE_METHODS or not callable(attr):
            return attr
        return self._metered(name, attr)

    def as_forge(self) -> Forge:
        """This object typed as the protocol it implements (its methods come through __getattr__)."""
        return cast(Forge, self)

    def cost_by_key(self) -> dict[Key, CallCost]:
        with self._serial:
            return {key: CallCost(**cost.as_dict()) for key, cost in self._costs.items()}

    def _metered(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._serial:
                before = counts(self.stats)
                try:
                    result = method(*args, **kwargs)
                finally:
                    key = self._key_of(name, (*args, *kwargs.values()))
                    self._costs.setdefault(key, CallCost()).add(before, counts(self.stats))
                if self._seen is not None:
                    self._seen(result)
                return result

        return call
