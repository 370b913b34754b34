"""The batching merge queue end to end on the sandbox forge: PRs green on their own are tested together as one
candidate; a PR that breaks the combination is found by bisection and gets the fix-CI follow-up while the others
land by fast-forward; every commit the base ever points at was a green candidate; the PRs show merged and their
issues are closed (as GitHub shows a PR whose head reached its base)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from orchestrator.demo.runner import REPO, prepare
from orchestrator.executors import ref_claims
from orchestrator.executors.queue_candidates import PREFIX
from orchestrator.jobs import pr_monitor, queue
from orchestrator.values.models import CheckState
from tests.e2e.scripted import agent, all_pulls, events
from tests.e2e.test_merge_gate import work

pytestmark = pytest.mark.slow

# Each task writes its own note; the one titled "careless" also drops a BAD marker. CI fails when BAD sits next
# to another PR's note — green for that PR alone, red in any batch with it. Which PR is to blame depends on the
# order (the one whose merge turns the candidate red): the PRs are opened in issue order, careless third.
NOTES_AGENT = """
import hashlib, re
title = re.search(r"Write note (\\w+)", prompt).group(1)
Path("notes").mkdir(exist_ok=True)
if "Make CI pass" in prompt:
    Path("BAD").unlink(missing_ok=True); done(summary="removed BAD")
else:
    Path("notes", title + ".md").write_text("note\\n")
    if title == "careless":
        Path("BAD").write_text("x")
    done()
"""
CI = f"{sys.executable} -m pytest -q && (test ! -f BAD || test $(ls notes | wc -l) -lt 2)"


def issue(name: str) -> dict[str, Any]:
    return {
        "title": f"Write note {name}",
        "status": "Ready",
        "body": f"## Goal\nWrite note {name} for the team handbook.\n\n## Success Criteria\n- notes/{name}.md exists\n",
    }


def test_a_batch_lands_by_fast_forward_and_a_bad_pr_is_found_by_bisection(sandbox, tmp_path):
    names = ["alpha", "bravo", "careless", "delta", "echo"]
    overrides = {
        "agents": {"worker": agent(tmp_path, "worker", NOTES_AGENT)},
        "routing": {"default": ["worker"]},
        "limits": {"max_parallel_workers": 1, "max_attempts": 3, "lease_seconds": 60},  # PRs in issue order
        "merge": {"batch_size": 5, "batch_wait_seconds": 0},
    }
    s = prepare(sandbox, tmp_path / "case", issues=[issue(n) for n in names], overrides=overrides)
    ctx = s.ctx
    sandbox.set_ci_command(REPO, CI)
    work(ctx, sandbox)
    assert len(all_pulls(sandbox)) == 5
    tips = []
    for _ in range(12):
        report = pr_monitor.run(ctx)
        tips.append(ctx.forge.get_branch_sha(REPO, "main"))
        queue.run(ctx)  # the blamed PR's fix-CI follow-up
        sandbox.wait_ci_idle(timeout=120)
        if all(ctx.forge.get_issue(REPO, n).state == "closed" for n in s.seeded.issue_numbers):
            break
    assert all(ctx.forge.get_issue(REPO, n).state == "closed" for n in s.seeded.issue_numbers), report.waiting
    agent_pulls = [p for p in all_pulls(sandbox) if p["head"]["ref"].startswith("agent/")]
    assert len(agent_pulls) == 5 and all(p["merged_at"] for p in agent_pulls), "shown merged, as on GitHub"

    states = [e["state"] for e in events(ctx)]
    (blamed,) = [e for e in events(ctx) if e["state"] == "queue_blamed"]
    careless = next(p for p in agent_pulls if "careless" in p["title"])
    assert blamed["pr"] == careless["number"] and states.count("fix_ci") == 1
    assert states.count("queue_landed") >= 2 and states.count("rebased") == 0

    # the base only ever pointed at commits that were tested green as candidates
    for tip in dict.fromkeys(tips[:-1]):
        assert tip is not None
        if tip != s.seeded.head_sha:
            assert ctx.forge.checks(REPO, tip).state is CheckState.SUCCESS, tip
    candidate_runs = [p for p in all_pulls(sandbox) if p["head"]["ref"].startswith(PREFIX)]
    assert 3 <= len(candidate_runs) <= 10, len(candidate_runs)
    assert not ctx.forge.matching_branches(REPO, PREFIX) or all(
        p["state"] == "closed" for p in candidate_runs
    ), "no candidate left open"
    assert not ctx.forge.matching_branches(REPO, ref_claims.BLAME_PREFIX)
