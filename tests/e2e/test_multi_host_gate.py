"""pr_monitor on several hosts (separate runtime dirs, one forge): follow-ups are built for the PR's real task
(its identity is on GitHub) and made once; merges are made once.

- A task taken over as generation 2, whose PR is red, gets a real fix-CI attempt from pr_monitor on a third host
  that never saw the task (not a generation-1 stub that is then fenced "superseded").
- pr_monitor on three hosts at the same moment: one follow-up claim, one queued follow-up, one merge.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from orchestrator.demo.runner import REPO
from orchestrator.executors import ref_claims
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.values.models import TaskState
from tests.e2e.hosts import at_once, hosts
from tests.e2e.scripted import BREAKS_CI_THEN_FIXES, CI_BREAKER, all_pulls, forge_api, one_agent

pytestmark = pytest.mark.slow


def one_fixing_agent(sandbox: Any, tmp_path: Any) -> Any:
    """The setup: one issue, its agent breaks CI then fixes it in the follow-up; a lease of one second."""
    return one_agent(sandbox, tmp_path, BREAKS_CI_THEN_FIXES, timeout_minutes=2, lease_seconds=1)


def test_a_taken_over_task_with_red_ci_gets_a_real_fix_from_a_third_host(sandbox, tmp_path):
    setup = one_fixing_agent(sandbox, tmp_path)
    sandbox.set_ci_command(REPO, CI_BREAKER)
    first, second, third = hosts(setup.ctx, tmp_path, ["first", "second", "third"])
    number = setup.seeded.issue_numbers[0]
    assert dispatcher.run(first).dispatched, "generation 1 claimed by the first host, which then goes silent"
    time.sleep(2.5)  # 2 × lease_seconds without a heartbeat
    (taken,) = dispatcher.run(second).dispatched
    assert taken.endswith("__g2")
    assert queue.run(second).opened, "the second host opens the PR of generation 2"
    sandbox.wait_ci_idle(timeout=120)
    (pull,) = all_pulls(sandbox)
    assert "gen=2" in pull["body"] and pull["head"]["ref"].endswith("-g2")

    report = pr_monitor.run(third)  # a host that never saw the task
    assert report.follow_ups == [pull["number"]]
    (queued,) = third.mailbox.list(TaskState.INBOX)
    assert queued.task is not None and queued.task.generation == 2 and queued.task.kind == "fix_ci"
    assert queue.run(third).errors == []
    assert not third.mailbox.list(TaskState.FAILED), "not fenced as superseded"
    sandbox.wait_ci_idle(timeout=120)
    merged = [r.merged for r in (pr_monitor.run(c) for c in (third, first, second))]
    assert sum(len(m) for m in merged) == 1
    assert third.forge.get_issue(REPO, number).state == "closed"
    assert len(all_pulls(sandbox)) == 1


@pytest.mark.parametrize("strict", [True, False], ids=["strict-protection", "merge-slot"])
def test_three_hosts_at_once_make_one_follow_up_and_one_merge(sandbox, tmp_path, strict):
    """Strict protection: GitHub refuses a head not up to date; without it the merge slot serializes."""

    setup = one_fixing_agent(sandbox, tmp_path)
    sandbox.set_ci_command(REPO, CI_BREAKER)
    protection = {
        "required_status_checks": {"strict": strict, "contexts": ["sandbox-ci"]},
        "enforce_admins": None,
        "required_pull_request_reviews": None,
        "restrictions": None,
    }
    forge_api(sandbox, "PUT", f"/repos/{REPO}/branches/main/protection", protection, ok=(200,))
    contexts = hosts(setup.ctx, tmp_path, ["a", "b", "c"])
    dispatcher.run(contexts[0])
    queue.run(contexts[0])
    sandbox.wait_ci_idle(timeout=120)
    (pull,) = all_pulls(sandbox)

    reports = at_once(contexts, pr_monitor.run)
    assert sum(len(r.follow_ups) for r in reports) == 1, [r.waiting for r in reports]
    queued = [e for c in contexts for e in c.mailbox.list(TaskState.INBOX)]
    assert len(queued) == 1
    claims = ref_claims.read_claims(contexts[0].forge, REPO).of_pr(pull["number"])
    assert [c.ref for c in claims] == [f"agent-os/follow-up/{pull['number']}/fix-1"]
    for _ in range(3):  # more ticks everywhere while the follow-up waits in one host's inbox: nothing new
        assert not any(r.follow_ups for r in at_once(contexts, pr_monitor.run))

    owner = next(c for c in contexts if c.mailbox.list(TaskState.INBOX))
    queue.run(owner)
    sandbox.wait_ci_idle(timeout=120)
    slots_seen: list[dict[str, str]] = []
    real_merge = contexts[0].forge.merge_pull

    def merge_watching_slots(*args: Any, **kwargs: Any) -> str:
        slots_seen.append(contexts[0].forge.matching_branches(REPO, ref_claims.SLOT_PREFIX))
        return real_merge(*args, **kwargs)

    for c in contexts:
        c.forge.merge_pull = merge_watching_slots  # type: ignore[method-assign]
    reports = at_once(contexts, pr_monitor.run)
    assert sum(len(r.merged) for r in reports) == 1, [r.waiting for r in reports]
    assert slots_seen and all(bool(slots) != strict for slots in slots_seen), "a slot is held iff not strict"
    assert contexts[0].forge.get_issue(REPO, setup.seeded.issue_numbers[0]).state == "closed"
    assert not contexts[0].forge.matching_branches(REPO, ref_claims.SLOT_PREFIX), (
        "the merge slot was released"
    )
