"""Five dispatchers (five hosts: separate runtime dirs, one forge) started at once dispatch each issue once.

The claim is the task branch created through the API; the sandbox answers 422 to all but one creator.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.demo.runner import prepare
from orchestrator.jobs import dispatcher
from orchestrator.jobs.entry import build_context
from orchestrator.values.models import TaskState

pytestmark = pytest.mark.slow

GOOD = "## Goal\nImplement feature number {n} of the demo backlog.\n\n## Success Criteria\n- a test for feature {n} passes\n"


def test_five_dispatchers_at_once_claim_each_issue_exactly_once(sandbox, tmp_path: Path):
    issues = [{"title": f"Feature {n}", "body": GOOD.format(n=n), "status": "Ready"} for n in range(8)]
    setup = prepare(sandbox, tmp_path / "host0", issues=issues)
    contexts = [setup.ctx]
    for host in range(1, 5):
        config = replace(setup.ctx.config, runtime_dir=tmp_path / f"host{host}" / "runtime")
        ctx = build_context(config, environ=setup.ctx.environ)
        ctx.host = f"host{host}"
        contexts.append(ctx)
    barrier = threading.Barrier(len(contexts))
    reports: list[Any] = [None] * len(contexts)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            reports[i] = dispatcher.run(contexts[i])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(contexts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    claimed = [t.task.issue for ctx in contexts for t in ctx.mailbox.list(TaskState.INBOX) if t.task]
    assert sorted(claimed) == sorted(setup.seeded.issue_numbers), "each issue claimed by exactly one host"
    assert sum(len(r.dispatched) for r in reports) == len(issues)
    # a second round on every host changes nothing: the issues are in flight (board moved / branch exists)
    for ctx in contexts:
        again = dispatcher.run(ctx)
        assert again.dispatched == []
