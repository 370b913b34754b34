"""GitHub cost per replayed issue: a `Forge` wrapper that charges each call to the issue it is about.

The cost of a call is the change of the client's own `RequestStats` across it (calls through the wrapper
are serialized, so the attribution is exact even with several workers). A call is about an issue when one
of its arguments names it: a replayed issue's number or a known PR's number (a PR is mapped to its issue once it is known), an
`agent/<issue>-…` branch, or the head SHA of a known PR. Calls about no one issue (listing issues or PRs,
the board, the viewer) are charged to polling.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from orchestrator.github.protocol import Forge, RequestStats
from orchestrator.values.models import PullRequest

FORGE_METHODS = frozenset(
    name for name in dir(Forge) if not name.startswith("_") and callable(getattr(Forge, name, None))
)
POLLING = 0  # the bucket of calls about no single issue
_BRANCH = re.compile(r"^agent/(\d+)(?:-|$)")


@dataclass
class Cost:
    calls: int = 0
    counted: int = 0
    not_modified: int = 0
    writes: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class IssueCostForge:
    def __init__(self, inner: Forge, issues: set[int]) -> None:
        self.inner = inner
        self.issues = issues  # the replayed issues (an int argument naming none of them is no issue)
        self.stats: RequestStats = inner.stats
        self.pr_issue: dict[int, int] = {}  # PR number → issue number
        self.head_pr: dict[str, int] = {}  # head SHA → PR number
        self._costs: dict[int, Cost] = {}
        self._serial = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in FORGE_METHODS or not callable(attr):
            return attr
        return self._charged(attr)

    def as_forge(self) -> Forge:
        return cast(Forge, self)

    def costs(self) -> dict[int, dict[str, int]]:
        with self._serial:
            return {issue: cost.as_dict() for issue, cost in sorted(self._costs.items())}

    def learn(self, pr: PullRequest) -> None:
        """Remember which issue a PR (and its head) belongs to, from its branch name."""
        match = _BRANCH.match(pr.head_ref)
        if match:
            self.pr_issue[pr.number] = int(match.group(1))
        self.head_pr[pr.head_sha] = pr.number

    def _charged(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._serial:
                before = _snapshot(self.stats)
                try:
                    result = method(*args, **kwargs)
                finally:
                    after = _snapshot(self.stats)
                    self._add(self._issue_of((*args, *kwargs.values())), before, after)
                self._learn_from(result)
                return result

        return call

    def _learn_from(self, result: Any) -> None:
        items = result if isinstance(result, list) else [result]
        for item in items:
            if isinstance(item, PullRequest):
                self.learn(item)

    def _issue_of(self, values: tuple[Any, ...]) -> int:
        for value in values:
            if isinstance(value, bool):
                continue
            if isinstance(value, int) and (value in self.issues or value in self.pr_issue):
                return self.pr_issue.get(value, value)
            if isinstance(value, str):
                match = _BRANCH.match(value)
                if match:
                    return int(match.group(1))
                if value in self.head_pr:
                    pr = self.head_pr[value]
                    return self.pr_issue.get(pr, pr)
        return POLLING

    def _add(self, issue: int, before: tuple[int, int, int], after: tuple[int, int, int]) -> None:
        counted, not_modified, writes = (a - b for a, b in zip(after, before, strict=True))
        cost = self._costs.setdefault(issue, Cost())
        cost.calls += 1
        cost.counted += counted
        cost.not_modified += not_modified
        cost.writes += writes


def _snapshot(stats: RequestStats) -> tuple[int, int, int]:
    return (stats.counted, stats.not_modified, stats.writes)
