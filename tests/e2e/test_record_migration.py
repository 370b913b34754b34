"""pr_monitor and the task records: it carries on from a `pr_monitor.json` of today's layout (the migration keeps
it under the PR's key, pr_monitor folds it into the record of the PR's task, named by the PR body marker, and
merges), and it writes a record only when something in it changed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.demo.runner import REPO
from orchestrator.jobs import dispatcher, pr_monitor
from orchestrator.state.mailbox import Mailbox
from orchestrator.state.store import update_json
from orchestrator.values.task_identity import identity_of
from orchestrator.values.task_record import pr_record_key
from tests.e2e.test_failure_paths import SLUG_ISSUE, agent, setup
from tests.e2e.test_follow_up_attempts import CI_BREAKER
from tests.e2e.test_merge_gate import the_pull, work

pytestmark = pytest.mark.slow

SEEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_pr_monitor_carries_on_from_a_migrated_pr_monitor_json(sandbox, tmp_path):
    s = setup(
        sandbox,
        tmp_path,
        {"worker": agent(tmp_path, "worker", "slugify_files(); done()")},
        ["worker"],
        [SLUG_ISSUE],
    )
    ctx = s.ctx
    work(ctx, sandbox)
    pull = the_pull(sandbox)
    number, head = pull["number"], pull["head"]["sha"]
    identity = identity_of(ctx.forge.get_pull(REPO, number))
    assert identity is not None
    # today's layout, as PRRecords.save wrote it: the record under "owner/name#N"
    old = {
        "head": head,
        "head_seen": SEEN.isoformat(),
        "blocker": "checks pending",
        "since": SEEN.isoformat(),
    }
    update_json(ctx.paths.state / "pr_monitor.json", lambda data: {**data, f"{REPO}#{number}": old})
    ctx.mailbox = Mailbox(ctx.paths.mailbox)  # the next job's first use migrates
    records = ctx.mailbox.records
    assert (ctx.paths.state / "pr_monitor.json.migrated").exists()
    kept = records.load(pr_record_key(REPO, number)).pr
    assert kept is not None and kept.head_seen == SEEN

    assert pr_monitor.run(ctx).merged == [number]
    adopted = records.load(identity.task_id).pr
    assert adopted is not None and adopted.number == number
    assert adopted.head_seen == SEEN, "what pr_monitor knew before the upgrade is carried on"
    assert pr_record_key(REPO, number) not in records.ids(), "folded into the task's record once"


def _files(folder):
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir() if p.is_file()}


def test_pr_monitor_writes_a_record_only_when_something_changed(sandbox, tmp_path):
    body = 'slugify_files(); Path("BREAKS_CI").write_text("x"); done()'
    s = setup(
        sandbox,
        tmp_path,
        {"worker": agent(tmp_path, "worker", body)},
        ["worker"],
        [SLUG_ISSUE],
        max_ci_fix_attempts=0,
    )
    ctx = s.ctx
    sandbox.set_ci_command(REPO, CI_BREAKER)
    work(ctx, sandbox)
    number = the_pull(sandbox)["number"]
    assert pr_monitor.run(ctx).escalated == [number]  # red, no fix allowed: escalated (recorded)
    assert number in pr_monitor.run(ctx).waiting  # waits on the escalation: the blocker is recorded
    tasks = ctx.paths.state / "tasks"
    before = _files(tasks)
    for _ in range(2):
        assert number in pr_monitor.run(ctx).waiting
    assert _files(tasks) == before, "nothing changed: no record written"


def test_an_idle_dispatcher_tick_writes_no_record(sandbox, tmp_path):
    s = setup(sandbox, tmp_path, {"worker": agent(tmp_path, "worker", "done()")}, ["worker"], [SLUG_ISSUE])
    ctx = s.ctx
    [task_id] = dispatcher.run(ctx).dispatched
    assert ctx.mailbox.records.load(task_id).remote_lease is not None, "the lease comment is in the record"
    tasks = ctx.paths.state / "tasks"
    before = _files(tasks)
    for _ in range(2):  # the task waits in the inbox; its heartbeat is not due yet
        assert dispatcher.run(ctx).dispatched == []
    assert _files(tasks) == before
