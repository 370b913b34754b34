"""The core loop end to end on the sandbox forge: Ready issues become merged PRs and closed issues.

Real HTTP (GitHubClient against SandboxForge), real git (clones, worktrees, pushes, merges in bare repos), real
subprocesses (the scripted demo agent, the repo's pytest run by us and by the sandbox CI).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.demo.runner import REPO, prepare
from orchestrator.jobs import dispatcher, pr_monitor
from orchestrator.values.models import TaskState
from tests.e2e.scripted import all_pulls, events, run_until_settled, work

pytestmark = pytest.mark.slow


def test_ready_issues_become_merged_prs(sandbox, tmp_path: Path):
    setup = prepare(sandbox, tmp_path / "demo")
    ctx = setup.ctx
    run_until_settled(ctx, sandbox, setup.seeded.issue_numbers, ticks=8)
    assert [ctx.forge.get_issue(REPO, n).state for n in setup.seeded.issue_numbers] == ["closed"] * 3

    # every PR merged exactly once, from agent/* branches, each closing its issue
    pulls = all_pulls(sandbox)
    assert len(pulls) == 3
    assert all(p["merged_at"] and p["head"]["ref"].startswith("agent/") for p in pulls)
    assert sorted(int(p["body"].split("Closes #")[1].split()[0]) for p in pulls) == list(
        setup.seeded.issue_numbers
    )

    # the base branch has the three features, and the board shows Done
    board = ctx.forge.get_board("agentos-admin", setup.seeded.project_number)
    statuses = {i.issue_number: i.status for i in ctx.forge.board_items(board)}
    assert all(statuses[n] == "Done" for n in setup.seeded.issue_numbers)

    states = [e["state"] for e in events(ctx)]
    assert states.count("dispatched") == 3 and states.count("pr_opened") == 3 and states.count("merged") == 3
    assert ctx.mailbox.list(TaskState.INBOX) == [] and ctx.mailbox.list(TaskState.RUNNING) == []
    assert len(ctx.mailbox.list(TaskState.DONE)) == 3


def test_idle_ticks_after_the_work_cost_no_counted_requests(sandbox, tmp_path: Path):
    setup = prepare(sandbox, tmp_path / "demo", issues=[])
    ctx = setup.ctx
    dispatcher.run(ctx)
    pr_monitor.run(ctx)
    before = sandbox.stats()["counted"]
    dispatcher.run(ctx)
    pr_monitor.run(ctx)
    assert sandbox.stats()["counted"] - before == 0


def test_repo_switch_and_review_mode_are_honoured(sandbox, tmp_path: Path):
    from orchestrator.state.switches import Switches

    setup = prepare(sandbox, tmp_path / "demo")
    ctx = setup.ctx
    switches = Switches.load(ctx.paths.root)
    switches.set_repo("textkit", False, actor="test")
    assert dispatcher.run(ctx).dispatched == []
    switches.set_repo("textkit", True, actor="test")
    switches.set_repo_mode("textkit", "review", actor="test")
    work(ctx, sandbox)
    report = pr_monitor.run(ctx)
    assert report.merged == []
    assert any("review mode" in reason for reason in report.waiting.values()), report.waiting
