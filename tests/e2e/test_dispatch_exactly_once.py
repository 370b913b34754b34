"""Five dispatchers (five hosts: separate runtime dirs, one forge) started at once dispatch each issue once.

The claim is the task branch created through the API; the sandbox answers 422 to all but one creator.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.demo.runner import prepare
from orchestrator.jobs import dispatcher
from orchestrator.values.models import TaskState
from tests.e2e.hosts import at_once, hosts

pytestmark = pytest.mark.slow

GOOD = "## Goal\nImplement feature number {n} of the demo backlog.\n\n## Success Criteria\n- a test for feature {n} passes\n"


def test_five_dispatchers_at_once_claim_each_issue_exactly_once(sandbox, tmp_path: Path):
    issues = [{"title": f"Feature {n}", "body": GOOD.format(n=n), "status": "Ready"} for n in range(8)]
    setup = prepare(sandbox, tmp_path / "host0", issues=issues)
    contexts = [setup.ctx, *hosts(setup.ctx, tmp_path, [f"host{n}" for n in range(1, 5)])]
    reports = at_once(contexts, dispatcher.run, timeout=120)
    claimed = [t.task.issue for ctx in contexts for t in ctx.mailbox.list(TaskState.INBOX) if t.task]
    assert sorted(claimed) == sorted(setup.seeded.issue_numbers), "each issue claimed by exactly one host"
    assert sum(len(r.dispatched) for r in reports) == len(issues)
    # a second round on every host changes nothing: the issues are in flight (board moved / branch exists)
    for ctx in contexts:
        again = dispatcher.run(ctx)
        assert again.dispatched == []
