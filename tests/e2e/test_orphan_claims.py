"""A claim without a task (the dispatcher died between creating the task branch and writing the task file,
or before announcing it) never strands the issue: the claim and its generation are recovered from GitHub
alone, on one host or several, with exactly one PR in the end."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from orchestrator.demo.runner import REPO
from orchestrator.executors import claim_facts
from orchestrator.github.errors import GitHubError
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.jobs.entry import build_context
from orchestrator.policy.dispatch import branch_name
from orchestrator.values.models import TaskState
from orchestrator.views.status import render_status
from tests.e2e.scripted import SLUG_ISSUE, all_pulls, events, one_agent

pytestmark = pytest.mark.slow
T0 = datetime.now(UTC)


def at(ctx, seconds: float) -> None:
    moment = T0 + timedelta(seconds=seconds)
    ctx.clock = lambda: moment


def second_host(ctx, tmp_path, name: str):
    config = replace(ctx.config, runtime_dir=tmp_path / name / "runtime")
    other = build_context(config, environ=ctx.environ)
    other.host = name
    return other


def create_orphan_branch(sandbox, number: int) -> str:
    """What a dispatcher killed right after its claim leaves behind: the branch, nothing else."""
    branch = branch_name(number, SLUG_ISSUE["title"], 1)
    headers = {"Authorization": f"token {sandbox.token}"}
    main = requests.get(f"{sandbox.api_url}/repos/{REPO}/git/ref/heads/main", headers=headers, timeout=10)
    sha = main.json()["object"]["sha"]
    created = requests.post(
        f"{sandbox.api_url}/repos/{REPO}/git/refs",
        json={"ref": f"refs/heads/{branch}", "sha": sha},
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201
    return branch


def finish(ctx, sandbox, number: int) -> None:
    assert queue.run(ctx).opened
    for _ in range(4):
        sandbox.wait_ci_idle(timeout=120)
        pr_monitor.run(ctx)
        if ctx.forge.get_issue(REPO, number).state == "closed":
            break
    assert ctx.forge.get_issue(REPO, number).state == "closed"
    assert len(all_pulls(sandbox)) == 1, "exactly one PR"


def test_a_branch_created_with_no_task_is_dispatched_again_within_the_lease_time(sandbox, tmp_path):
    s = one_agent(sandbox, tmp_path, "slugify_files(); done()", name="w")
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    orphan = create_orphan_branch(sandbox, number)
    lease = ctx.config.limits.lease_seconds

    at(ctx, 0)
    report = dispatcher.run(ctx)
    assert report.dispatched == [] and "no task lease" in report.skipped[number]
    assert orphan in claim_facts.describe(ctx.paths.state, lease)[f"{REPO}#{number}"]
    status = render_status(ctx.config, ctx.paths, now=ctx.clock())
    assert f"{REPO}#{number}: claim branch {orphan} has no task anywhere" in status
    at(ctx, lease / 2)
    assert dispatcher.run(ctx).dispatched == [], "a claim this young may still be announced"
    at(ctx, lease + 1)
    (task_id,) = dispatcher.run(ctx).dispatched
    assert task_id.endswith("__g2")
    recovered = [e for e in events(ctx) if e["state"] == "claim_recovered"]
    assert len(recovered) == 1 and orphan in recovered[0]["reason"]
    assert claim_facts.describe(ctx.paths.state, lease) == {}
    finish(ctx, sandbox, number)


def test_two_hosts_recover_an_orphan_claim_exactly_once(sandbox, tmp_path):
    s = one_agent(sandbox, tmp_path, "slugify_files(); done()", name="w")
    host_a, number = s.ctx, s.seeded.issue_numbers[0]
    host_a.host = "host-a"
    host_b = second_host(host_a, tmp_path, "host-b")
    create_orphan_branch(sandbox, number)
    lease = host_a.config.limits.lease_seconds
    for ctx in (host_a, host_b):
        at(ctx, 0)
        assert dispatcher.run(ctx).dispatched == []
    for ctx in (host_a, host_b):
        at(ctx, lease + 1)
    won = [ctx for ctx in (host_b, host_a) if dispatcher.run(ctx).dispatched]
    assert len(won) == 1, "one host recovers the claim, the other sees it held"
    loser = host_a if won[0] is host_b else host_b
    for seconds in (lease + 30, 3 * lease):
        at(loser, seconds)
        at(won[0], seconds)
        assert dispatcher.run(loser).dispatched == [], "the new claim is announced and its lease renewed"
        dispatcher.run(won[0])  # renews the waiting task's lease
    finish(won[0], sandbox, number)


class CommentsFailOnce:
    """The forge, except that the first issue comment fails: the picked-up comment (the lease) is lost, as
    when the dispatcher dies after moving the card but before announcing the task."""

    def __init__(self, forge: Any) -> None:
        self._forge, self.failed = forge, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._forge, name)

    def comment_issue(self, repo: str, number: int, body: str) -> int:
        if not self.failed:
            self.failed = True
            raise GitHubError("GitHub answered 502 (test)", 502)
        return int(self._forge.comment_issue(repo, number, body))


def test_an_unannounced_task_is_announced_by_its_host_before_others_supersede_it(sandbox, tmp_path):
    s = one_agent(sandbox, tmp_path, "slugify_files(); done()", name="w")
    host_a, number = s.ctx, s.seeded.issue_numbers[0]
    host_a.host = "host-a"
    host_b = second_host(host_a, tmp_path, "host-b")
    real = host_a.forge
    host_a.forge = CommentsFailOnce(real)
    at(host_a, 0)
    (task_id,) = dispatcher.run(host_a).dispatched
    host_a.forge = real
    assert not any("agent-os:lease" in c.body for c in real.list_comments(REPO, number))
    at(host_b, 0)
    assert dispatcher.run(host_b).dispatched == []  # In Progress without a lease: first seen
    at(host_a, 10)
    dispatcher.run(host_a)  # the repair: the lease comment is posted now
    assert any("agent-os:lease" in c.body for c in real.list_comments(REPO, number))
    at(host_b, 3 * host_a.config.limits.lease_seconds)
    at(host_a, 3 * host_a.config.limits.lease_seconds)
    dispatcher.run(host_a)  # renews the lease of its waiting task
    assert dispatcher.run(host_b).dispatched == [], "announced and alive: not superseded"
    (entry,) = host_a.mailbox.list(TaskState.INBOX)
    assert entry.id == task_id
    finish(host_a, sandbox, number)
