"""GitHub cost per replayed issue: a `Forge` wrapper that charges each call to the issue it is about.

The cost of a call is the change of the client's own `RequestStats` across it (calls through the wrapper
are serialized, so the attribution is exact even with several workers). A call is about an issue when one
of its arguments names it: a replayed issue's number or a known PR's number (a PR is mapped to its issue once it is known), an
`agent/<issue>-…` branch, or the head SHA of a known PR. Calls about no one issue (listing issues or PRs,
the board, the viewer) are charged to polling.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.github.call_costs import CostMeter
from orchestrator.github.protocol import Forge
from orchestrator.values.models import PullRequest

POLLING = 0  # the bucket of calls about no single issue
_BRANCH = re.compile(r"^agent/(\d+)(?:-|$)")


class IssueCostForge(CostMeter[int]):
    def __init__(self, inner: Forge, issues: set[int]) -> None:
        super().__init__(inner, lambda _method, args: self._issue_of(args), self._learn_from)
        self.issues = issues  # the replayed issues (an int argument naming none of them is no issue)
        self.pr_issue: dict[int, int] = {}  # PR number → issue number
        self.head_pr: dict[str, int] = {}  # head SHA → PR number

    def costs(self) -> dict[int, dict[str, int]]:
        return {issue: cost.as_dict() for issue, cost in sorted(self.cost_by_key().items())}

    def learn(self, pr: PullRequest) -> None:
        """Remember which issue a PR (and its head) belongs to, from its branch name."""
        match = _BRANCH.match(pr.head_ref)
        if match:
            self.pr_issue[pr.number] = int(match.group(1))
        self.head_pr[pr.head_sha] = pr.number

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
