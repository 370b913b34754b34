"""A `Forge` that delegates to another and attributes the GitHub cost of every call to the method called.

Wrap the client before handing it to a JobContext; after the run, `by_method()` says which calls were the
reads, the writes and the GraphQL points. The cost of a call is the change of the inner client's own
`RequestStats` across it; calls through the wrapper are serialized (the queue's lease heartbeat thread
waits for the worker's call in flight) so the attribution is exact. Meant for runs with one worker.
"""

from __future__ import annotations

from orchestrator.github.call_costs import CostMeter
from orchestrator.github.protocol import Forge


class CountingForge(CostMeter[str]):
    def __init__(self, inner: Forge) -> None:
        super().__init__(inner, lambda method, _args: method)

    def by_method(self) -> dict[str, dict[str, int]]:
        return {name: cost.as_dict() for name, cost in sorted(self.cost_by_key().items())}
