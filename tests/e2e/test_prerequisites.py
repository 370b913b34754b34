"""A change that needs earlier work waits for it instead of being escalated: an issue that says "Depends on
#N" is not dispatched while #N is open (and says so once); an agent that reports `needs_prerequisite` is
parked and runs again when the base branch moves."""

from __future__ import annotations

import pytest

from orchestrator.demo.runner import REPO
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.state.task_waits import describe
from orchestrator.values.models import TaskState
from tests.e2e.scripted import SLUG_ISSUE, all_pulls, events, one_agent

pytestmark = pytest.mark.slow

TITLE_BODY = (
    "## Goal\nAdd `textkit.title.slug_title(text)` built on slugify().\n\n"
    "## Success Criteria\n- slug_title('a b') == 'A-B'\n"
)
BUILDS_ON_SLUGIFY = """
if "slug_title" in prompt:
    if not Path("textkit/slug.py").exists():
        Path(".agent_result.md").write_text(
            "STATUS: blocked\\nSUMMARY: slug_title needs slugify, which is not on main yet\\n"
            "BLOCKERS: needs #1 (Add slugify) merged first\\nBLOCKER_CODE: needs_prerequisite\\n"
        )
    else:
        Path("textkit/title.py").write_text(
            "from textkit.slug import slugify\\n\\n\\ndef slug_title(t):\\n    return slugify(t).upper()\\n"
        )
        done(summary="added slug_title")
else:
    slugify_files(); done()
"""


def settle(ctx, sandbox) -> None:
    sandbox.wait_ci_idle(timeout=120)
    for _ in range(3):
        pr_monitor.run(ctx)
        sandbox.wait_ci_idle(timeout=120)


def test_depends_on_an_open_issue_waits_and_says_so_once(sandbox, tmp_path):
    issues = [
        SLUG_ISSUE,
        {"title": "Add slug_title()", "status": "Ready", "body": "Depends on #1\n\n" + TITLE_BODY},
    ]
    s = one_agent(sandbox, tmp_path, BUILDS_ON_SLUGIFY, name="w", issues=issues)
    ctx, (first, second) = s.ctx, s.seeded.issue_numbers
    assert first == 1
    report = dispatcher.run(ctx)
    assert [t.split("__")[-2] for t in report.dispatched] == [str(first)]
    assert "depends on #1, still open" in report.skipped[second]
    assert dispatcher.run(ctx).dispatched == [], "still waiting"
    queue.run(ctx)
    settle(ctx, sandbox)
    assert ctx.forge.get_issue(REPO, first).state == "closed"
    report = dispatcher.run(ctx)
    assert [t.split("__")[-2] for t in report.dispatched] == [str(second)]
    queue.run(ctx)
    settle(ctx, sandbox)
    assert ctx.forge.get_issue(REPO, second).state == "closed"
    waiting = [c for c in ctx.forge.list_comments(REPO, second) if "agent-os:waiting" in c.body]
    assert len(waiting) == 1 and "#1" in waiting[0].body
    assert not [e for e in events(ctx) if e["state"] in ("blocked", "escalated")]


def test_an_agent_blocked_on_a_prerequisite_is_parked_until_the_base_moves(sandbox, tmp_path):
    issues = [SLUG_ISSUE, {"title": "Add slug_title()", "status": "Ready", "body": TITLE_BODY}]
    s = one_agent(sandbox, tmp_path, BUILDS_ON_SLUGIFY, name="w", issues=issues, max_attempts=1)
    ctx, (first, second) = s.ctx, s.seeded.issue_numbers
    assert len(dispatcher.run(ctx).dispatched) == 2
    report = queue.run(ctx)
    assert len(report.opened) == 1 and not report.escalated, (
        "parked, not escalated (even on its last attempt)"
    )
    (parked,) = [e for e in events(ctx) if e["state"] == "parked"]
    assert parked["issue"] == second and "#1" in parked["reason"]
    waits = describe(ctx.paths.state, ctx.clock())
    assert any("parked" in line and "#1" in line for line in waits.values())
    assert not queue.run(ctx).opened, "the base has not moved yet: still parked"
    settle(ctx, sandbox)  # the first PR merges: the base branch moves
    assert ctx.forge.get_issue(REPO, first).state == "closed"
    assert queue.run(ctx).opened, "released by the base moving"
    settle(ctx, sandbox)
    assert ctx.forge.get_issue(REPO, second).state == "closed"
    assert len(all_pulls(sandbox)) == 2
    done = {e.task.issue: e.task for e in ctx.mailbox.list(TaskState.DONE) if e.task}
    assert [r.outcome for r in done[second].prior_attempts] == ["parked"]
