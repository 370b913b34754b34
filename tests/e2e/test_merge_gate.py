"""The merge gate end to end on the sandbox forge, judged from the forge's state (PRs, merged trees, labels,
comments) and the audit log: the approval label takes effect on the next tick and a PR waiting for a human is
never wedged; required checks that report late hold the merge; the verifier refuses conflict markers, renames of
protected files and of tests out of collection, skips, symlinks out of the tree — with the reason — until a
follow-up fixes them; a human's approval clears any finding but credentials; the verdict cache is keyed by its
inputs; only the head of the merge line is rebased after a merge.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.demo.runner import REPO
from orchestrator.edges.process import run
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.values.models import TaskState
from orchestrator.values.task_identity import identity_of
from orchestrator.values.task_record import PRState
from tests.e2e.test_failure_paths import SLUG_ISSUE, agent, all_pulls, events, setup

pytestmark = pytest.mark.slow
APPROVAL = "agent-os:approved"


def api(sandbox: Any, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 204)) -> Any:
    response = requests.request(
        method,
        f"{sandbox.api_url}{path}",
        json=body,
        headers={"Authorization": f"token {sandbox.token}"},
        timeout=10,
    )
    assert response.status_code in ok, response.text
    return response.json() if response.content else None


def work(ctx: Any, sandbox: Any) -> None:
    """Dispatch and run the agent, then let CI finish."""
    dispatcher.run(ctx)
    queue.run(ctx)
    sandbox.wait_ci_idle(timeout=120)


def later(ctx: Any, **delta: float) -> None:
    moment = datetime.now(UTC) + timedelta(**delta)
    ctx.clock = lambda: moment


def the_pull(sandbox: Any) -> dict:
    (pull,) = all_pulls(sandbox)
    return pull


def audit(ctx: Any, action: str) -> list[dict]:
    path = ctx.paths.root / "audit" / "audit.jsonl"
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["action"] == action]


def settle(ctx: Any, sandbox: Any, number: int, ticks: int = 8) -> None:
    for _ in range(ticks):
        dispatcher.run(ctx)
        queue.run(ctx)
        sandbox.wait_ci_idle(timeout=120)
        pr_monitor.run(ctx)
        issue = ctx.forge.get_issue(REPO, number)
        if issue.state == "closed" or "blocked" in issue.labels:
            return


def git_env(sandbox: Any) -> dict[str, str]:
    """A plain git of the test (someone else pushing) authenticates to the sandbox's HTTP remotes."""
    return {**os.environ, **sandbox.git_env()}


def merged_tree(sandbox: Any, tmp_path: Path) -> Path:
    clone = tmp_path / "merged"
    result = run(
        ["git", "clone", "-q", sandbox.core.clone_url(sandbox.core.repo(*REPO.split("/"))), str(clone)],
        timeout=60,
        env=git_env(sandbox),
    )
    assert result.ok, result.stderr
    return clone


# --- approval -------------------------------------------------------------------------------------------------


def test_the_approval_label_takes_effect_on_the_next_tick_and_waiting_is_never_wedged(sandbox, tmp_path):
    body = """
    slugify_files()
    Path(".github/workflows").mkdir(parents=True, exist_ok=True)
    Path(".github/workflows/docs.yml").write_text("on: push\\njobs: {}\\n")
    done()
    """
    s = setup(sandbox, tmp_path, {"worker": agent(tmp_path, "worker", body)}, ["worker"], [SLUG_ISSUE])
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    work(ctx, sandbox)
    report = pr_monitor.run(ctx)
    pull = the_pull(sandbox)
    assert "needs a human" in report.waiting[pull["number"]] and not report.merged
    asked = [c for c in ctx.forge.list_comments(REPO, pull["number"]) if "agent-os:needs_approval" in c.body]
    assert (
        len(asked) == 1 and f"`{APPROVAL}`" in asked[0].body and ".github/workflows/docs.yml" in asked[0].body
    )

    later(ctx, hours=30)  # far past wedge_hours (6): a PR waiting for a human is not wedged
    report = pr_monitor.run(ctx)
    assert not report.closed and not report.escalated and the_pull(sandbox)["state"] == "open"
    assert len([c for c in ctx.forge.list_comments(REPO, pull["number"]) if "needs_approval" in c.body]) == 1

    ctx.forge.add_labels(REPO, pull["number"], [APPROVAL])
    report = pr_monitor.run(ctx)
    assert report.merged == [pull["number"]]
    assert ctx.forge.get_issue(REPO, number).state == "closed"
    (approval,) = audit(ctx, "approve")
    assert approval["target"] == f"{REPO}#{pull['number']}" and approval["actor"] == sandbox.admin_login
    assert any("protected path" in finding for finding in approval["details"]["cleared"])


def test_approval_clears_a_deleted_obsolete_test_even_when_escalated(sandbox, tmp_path):
    body = """
    slugify_files()
    subprocess.run(["git", "rm", "-q", "tests/test_core.py"], check=True)
    done()
    """
    s = setup(
        sandbox,
        tmp_path,
        {"worker": agent(tmp_path, "worker", body)},
        ["worker"],
        [SLUG_ISSUE],
        max_ci_fix_attempts=0,
    )
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    work(ctx, sandbox)
    pr_monitor.run(ctx)
    pull = the_pull(sandbox)
    assert "blocked" in ctx.forge.get_issue(REPO, number).labels, "no fix attempts allowed: escalated"
    ctx.forge.add_labels(REPO, pull["number"], [APPROVAL])
    assert pr_monitor.run(ctx).merged == [pull["number"]], "escalated, but the approval is a human's word"
    assert not (merged_tree(sandbox, tmp_path) / "tests" / "test_core.py").exists()
    assert "blocked" not in ctx.forge.get_issue(REPO, number).labels
    assert "test file is deleted" in " ".join(audit(ctx, "approve")[0]["details"]["cleared"])


# --- required checks --------------------------------------------------------------------------------------------


def test_a_late_required_check_holds_the_merge_until_it_is_green(sandbox, tmp_path):
    s = setup(
        sandbox,
        tmp_path,
        {"worker": agent(tmp_path, "worker", "slugify_files(); done()")},
        ["worker"],
        [SLUG_ISSUE],
    )
    ctx = s.ctx
    api(
        sandbox,
        "PUT",
        f"/repos/{REPO}/branches/main/protection",
        {
            "required_status_checks": {"strict": False, "contexts": ["sandbox-ci", "slow-ci"]},
            "enforce_admins": None,
            "required_pull_request_reviews": None,
            "restrictions": None,
        },
    )
    work(ctx, sandbox)
    pull = the_pull(sandbox)
    sha = pull["head"]["sha"]
    report = pr_monitor.run(ctx)
    assert report.waiting[pull["number"]] == "waiting for required check(s) slow-ci to report"
    api(sandbox, "POST", f"/repos/{REPO}/statuses/{sha}", {"state": "pending", "context": "slow-ci"})
    assert pr_monitor.run(ctx).waiting[pull["number"]] == "CI is running"
    api(sandbox, "POST", f"/repos/{REPO}/statuses/{sha}", {"state": "success", "context": "slow-ci"})
    assert pr_monitor.run(ctx).merged == [pull["number"]]


def test_without_known_required_checks_the_grace_period_lets_a_late_check_appear(sandbox, tmp_path):
    s = setup(
        sandbox,
        tmp_path,
        {"worker": agent(tmp_path, "worker", "slugify_files(); done()")},
        ["worker"],
        [SLUG_ISSUE],
    )
    ctx = s.ctx
    api(sandbox, "DELETE", f"/repos/{REPO}/branches/main/protection")
    work(ctx, sandbox)
    pull = the_pull(sandbox)
    report = pr_monitor.run(ctx)  # sandbox-ci (fast) is green, but no check is known to be required
    assert "giving checks 120 s after the push" in report.waiting[pull["number"]]
    api(
        sandbox,
        "POST",
        f"/repos/{REPO}/statuses/{pull['head']['sha']}",
        {"state": "pending", "context": "real-ci"},
    )
    later(ctx, seconds=200)
    assert pr_monitor.run(ctx).waiting[pull["number"]] == "CI is running", "the real CI showed up in time"
    api(
        sandbox,
        "POST",
        f"/repos/{REPO}/statuses/{pull['head']['sha']}",
        {"state": "success", "context": "real-ci"},
    )
    assert pr_monitor.run(ctx).merged == [pull["number"]]


# --- the verifier's classes -------------------------------------------------------------------------------------

FIXED_BY_FOLLOW_UP = """
if "Address the verifier's findings" in prompt:
    {fix}
    done(summary="fixed the findings")
else:
    slugify_files()
    {harm}
    done()
"""
VERIFIER_CASES = {
    "skipif(True)": (
        "p = Path('tests/test_core.py'); p.write_text(p.read_text().replace('def test_normalize', 'import pytest\\n\\n@pytest.mark.skipif(True, reason=\\'later\\')\\ndef test_normalize'))",
        "subprocess.run(['git', 'checkout', 'origin/main', '--', 'tests/test_core.py'], check=True)",
        "skipped test",
        "tests/test_core.py",
    ),
    "test renamed out of collection": (
        "subprocess.run(['git', 'mv', 'tests/test_core.py', 'tests/core_checks.py'], check=True)",
        "subprocess.run(['git', 'mv', 'tests/core_checks.py', 'tests/test_core.py'], check=True)",
        "counts as deleted",
        "tests/test_core.py",
    ),
    "trailing whitespace (pushed: the verifier's, not the publishing guard's)": (
        "Path('NOTES.md').write_text('a line  \\n')",
        "Path('NOTES.md').write_text('a line\\n')",
        "trailing whitespace",
        "NOTES.md",
    ),
    "symlink out of the tree": (
        "os.symlink('/proc/self/environ', 'env.txt')",
        "os.unlink('env.txt')",
        "symlink pointing out of the repository",
        "env.txt",
    ),
}


@pytest.mark.parametrize("case", VERIFIER_CASES)
def test_the_verifier_refuses_with_the_reason_until_a_follow_up_fixes_it(sandbox, tmp_path, case):
    harm, fix, reason, path = VERIFIER_CASES[case]
    body = FIXED_BY_FOLLOW_UP.format(harm=harm, fix=fix)
    s = setup(sandbox, tmp_path, {"worker": agent(tmp_path, "worker", body)}, ["worker"], [SLUG_ISSUE])
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    work(ctx, sandbox)
    report = pr_monitor.run(ctx)
    assert not report.merged and report.follow_ups, report
    (follow_up,) = [e for e in events(ctx) if e["state"] == "fix_verifier"]
    assert reason in follow_up["reason"] and path in follow_up["reason"]
    settle(ctx, sandbox, number)
    assert ctx.forge.get_issue(REPO, number).state == "closed"
    tree = merged_tree(sandbox, tmp_path)
    assert (tree / "tests" / "test_core.py").exists() and not (tree / "env.txt").exists()


def test_conflict_markers_pushed_to_a_pr_are_refused_with_the_reason(sandbox, tmp_path):
    """Our own pushes never carry conflict markers (the publishing guard refuses them); a push by someone else
    to the PR's branch can — the gate refuses it, and a follow-up fixes it."""
    body = """
    if "Address the verifier's findings" in prompt:
        Path("NOTES.md").write_text("a\\nours and theirs\\n")
        done(summary="resolved the leftover markers")
    else:
        slugify_files(); done()
    """
    s = setup(sandbox, tmp_path, {"worker": agent(tmp_path, "worker", body)}, ["worker"], [SLUG_ISSUE])
    ctx, number = s.ctx, s.seeded.issue_numbers[0]
    work(ctx, sandbox)
    pull = the_pull(sandbox)
    other = tmp_path / "someone-else"
    assert run(
        ["git", "clone", "-q", "-b", pull["head"]["ref"], s.seeded.clone_url, str(other)],
        timeout=60,
        env=git_env(sandbox),
    ).ok
    (other / "NOTES.md").write_text("a\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> x\n")
    for argv in (["add", "-A"], ["commit", "-qm", "notes"], ["push", "-q", "origin", "HEAD"]):
        assert run(["git", "-C", str(other), *argv], timeout=60, env=git_env(sandbox)).ok
    sandbox.wait_ci_idle(timeout=120)
    report = pr_monitor.run(ctx)
    assert not report.merged and report.follow_ups == [pull["number"]]
    (follow_up,) = [e for e in events(ctx) if e["state"] == "fix_verifier"]
    assert "NOTES.md: leftover conflict marker at line 2, 4, 6" in follow_up["reason"]
    settle(ctx, sandbox, number)
    assert ctx.forge.get_issue(REPO, number).state == "closed"
    assert "<<<<<<<" not in (merged_tree(sandbox, tmp_path) / "NOTES.md").read_text()


def test_moving_the_ci_workflow_away_waits_for_a_human(sandbox, tmp_path):
    body = """
    slugify_files()
    subprocess.run(["git", "mv", ".github/workflows/ci.yml", "ci.yml.disabled"], check=True)
    done()
    """
    s = setup(sandbox, tmp_path, {"worker": agent(tmp_path, "worker", body)}, ["worker"], [SLUG_ISSUE])
    ctx = s.ctx
    seed = tmp_path / "seed-ci"
    assert run(["git", "clone", "-q", s.seeded.clone_url, str(seed)], timeout=60, env=git_env(sandbox)).ok
    (seed / ".github" / "workflows").mkdir(parents=True)
    (seed / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    for argv in (["add", "-A"], ["commit", "-qm", "CI workflow"], ["push", "-q", "origin", "HEAD:main"]):
        assert run(["git", "-C", str(seed), *argv], timeout=60, env=git_env(sandbox)).ok
    work(ctx, sandbox)
    report = pr_monitor.run(ctx)
    pull = the_pull(sandbox)
    assert ".github/workflows/ci.yml is a protected path (renamed" in report.waiting[pull["number"]]
    assert not report.merged and pull["state"] == "open"


def test_a_forged_verdict_for_other_inputs_is_not_reused(sandbox, tmp_path):
    body = "slugify_files(); os.symlink('/proc/self/environ', 'env.txt'); done()"
    s = setup(
        sandbox,
        tmp_path,
        {"worker": agent(tmp_path, "worker", body)},
        ["worker"],
        [SLUG_ISSUE],
        max_ci_fix_attempts=0,
    )
    ctx = s.ctx
    work(ctx, sandbox)
    pull = the_pull(sandbox)
    forged = {"key": "0" * 64, "fixable": [], "needs_human": [], "blocked": []}  # an ok verdict, wrong key
    identity = identity_of(ctx.forge.get_pull(REPO, pull["number"]))
    assert identity is not None
    state = PRState(REPO, pull["number"], verdict=forged)
    ctx.mailbox.records.update(identity.task_id, lambda r: dataclasses.replace(r, pr=state))
    report = pr_monitor.run(ctx)
    assert not report.merged and report.escalated == [pull["number"]]
    assert "symlink pointing out" in ctx.forge.list_comments(REPO, s.seeded.issue_numbers[0])[-1].body


# --- the merge line ----------------------------------------------------------------------------------------------


def test_after_a_merge_only_the_head_of_the_merge_line_is_rebased(sandbox, tmp_path):
    body = """
    import hashlib
    name = hashlib.sha1(prompt.split("## Prior")[0].encode()).hexdigest()[:10]
    Path("notes").mkdir(exist_ok=True)
    Path("notes", name + ".md").write_text("note\\n")
    done()
    """
    issues = [
        {
            "title": f"Write note {i}",
            "status": "Ready",
            "body": f"## Goal\nWrite note number {i} for the team handbook.\n\n## Success Criteria\n- notes/ has note {i}\n",
        }
        for i in range(3)
    ]
    s = setup(
        sandbox,
        tmp_path,
        {"worker": agent(tmp_path, "worker", body)},
        ["worker"],
        issues,
        max_parallel_workers=3,
    )
    ctx = s.ctx
    work(ctx, sandbox)
    assert len(all_pulls(sandbox)) == 3
    rebased_per_tick = []
    for _ in range(8):
        report = pr_monitor.run(ctx)
        rebased_per_tick.append(len(report.rebased))
        sandbox.wait_ci_idle(timeout=120)
        if all(ctx.forge.get_issue(REPO, n).state == "closed" for n in s.seeded.issue_numbers):
            break
    assert all(ctx.forge.get_issue(REPO, n).state == "closed" for n in s.seeded.issue_numbers)
    assert max(rebased_per_tick) == 1 and sum(rebased_per_tick) == 2, rebased_per_tick
    assert [e["state"] for e in events(ctx)].count("rebased") == 2
    assert not ctx.mailbox.list(TaskState.INBOX)
