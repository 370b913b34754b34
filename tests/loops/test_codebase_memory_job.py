"""codebase_memory on the sandbox: merged-task events → one batched CODEBASE.md PR, bounded, LLM optional."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator import git
from orchestrator.demo.runner import REPO
from orchestrator.executors.worktrees import git_settings, pool_for
from orchestrator.jobs import codebase_memory as job
from orchestrator.values.models import Task
from tests.loops.conftest import NOW, event, oracle_prompt

PR_BODY = """Closes #{issue}

## Summary

{summary}

## Files changed

- `textkit/f{n}.py`

## Tests (run by Agent OS, not the agent)

✅ passed: `pytest -q` in 1.2 s

### Decisions

{decisions}

## Agent

| agent | attempt | duration | cost |
|---|---|---|---|
| demo | 1 | 3 s | $0.00 |

<!-- agent-os task=t{n} -->
"""


@pytest.fixture
def maintainer(ctx, tmp_path: Path) -> Path:
    work = tmp_path / "maintainer"
    git.run_git(["clone", "-q", ctx.config.repos[0].clone_url, str(work)], tmp_path)
    return work


def open_task_pr(ctx, work: Path, n: int, issue: int, summary: str = "", decisions: str = "none") -> int:
    """A branch with one new file and an agent-style PR for it (as the queue would have opened)."""
    git.run_git(["switch", "-q", "-C", f"agent/{issue}-f{n}", "origin/main"], work)
    (work / "textkit" / f"f{n}.py").write_text(f"VALUE = {n}\n")
    git.run_git(["add", "-A"], work)
    git.run_git(["-c", "user.name=A", "-c", "user.email=a@x.invalid", "commit", "-q", "-m", f"f{n}"], work)
    auth = git_settings(ctx, ctx.config.repos[0])  # the token, as the queue pushes
    git.run_git(["push", "-q", "origin", f"HEAD:refs/heads/agent/{issue}-f{n}"], work, auth, auth=True)
    body = PR_BODY.format(issue=issue, n=n, summary=summary or f"Added f{n}.", decisions=decisions)
    pr = ctx.forge.create_pull(REPO, title=f"Add f{n}", body=body, head=f"agent/{issue}-f{n}", base="main")
    return pr.number


def memory_on(ctx, branch: str) -> str:
    pool = pool_for(ctx, ctx.config.repos[0])
    pool.fetch()
    return git.run_git(["show", f"origin/{branch}:CODEBASE.md"], pool.repo_dir).stdout


@pytest.fixture
def ctx(make_ctx):
    return make_ctx()


def test_merged_tasks_become_one_batched_pr_and_later_merges_extend_it(ctx, maintainer):
    first = open_task_pr(
        ctx, maintainer, 1, issue=101, summary="Added the f1 parser.", decisions="Used a regex."
    )
    second = open_task_pr(ctx, maintainer, 2, issue=102)
    task = Task(REPO, 102, 1, "agent/102-f2", "Add f2", "Give textkit an f2 helper.", "tests pass")
    ctx.mailbox.enqueue(task)
    event(ctx, "merged", timedelta(hours=3), issue=101, pr=first, task="gone-task")
    event(ctx, "merged", timedelta(hours=2), issue=102, pr=second, task=task.id)
    event(ctx, "merged", timedelta(hours=2), pr=77)  # a docs PR (no issue): never an entry
    event(ctx, "merged", timedelta(hours=2), issue=5, pr=6, repo="someone/else")
    event(ctx, "merged", timedelta(days=9), issue=1, pr=2)  # before the first run's lookback

    assert job.run_job(ctx, []) == 0
    (pr,) = ctx.forge.list_pulls(
        REPO, state="open", head="agent/docs-codebase-memory-" + NOW.strftime("%Y%m%d")
    )
    assert pr.title == "CODEBASE.md: 2 merged tasks" and "Closes" not in pr.body
    assert ctx.forge.pull_files(REPO, pr.number) == ["CODEBASE.md"]
    text = memory_on(ctx, pr.head_ref)
    assert text.index(f"### PR #{second} · #102 Add f2") < text.index(f"### PR #{first} · #101 Add f1")
    assert "What changed: Added the f1 parser." in text and "Decisions: Used a regex." in text
    assert "Goal: Give textkit an f2 helper." in text  # from the task file in the mailbox
    assert "Files: textkit/f1.py" in text and "PR #77" not in text and "PR #6 " not in text

    assert job.run_job(ctx, ["--force"]) == 0  # nothing new: no new commit
    assert ctx.forge.get_pull(REPO, pr.number).head_sha == pr.head_sha

    third = open_task_pr(ctx, maintainer, 3, issue=103)
    event(ctx, "merged", timedelta(minutes=30), issue=103, pr=third)
    assert job.run_job(ctx, []) == 0  # the cadence gate: not yet
    assert ctx.forge.get_pull(REPO, pr.number).head_sha == pr.head_sha
    ctx.clock = lambda: NOW + job.CADENCE
    assert job.run_job(ctx, []) == 0
    assert len(ctx.forge.list_pulls(REPO, state="open", head=pr.head_ref)) == 1
    text = memory_on(ctx, pr.head_ref)
    assert text.count("### PR #") == 3 and text.index(f"PR #{third}") < text.index(f"PR #{second}")


def _many_merges(ctx, work: Path, count: int) -> list[int]:
    """`count` task PRs (their branches pushed in one go) and a merged event for each."""
    identity = ["-c", "user.name=A", "-c", "user.email=a@x.invalid"]
    for n in range(count):
        git.run_git(["switch", "-q", "-C", f"agent/{200 + n}-f{n}", "origin/main"], work)
        (work / "textkit" / f"f{n}.py").write_text(f"VALUE = {n}\n")
        git.run_git(["add", "-A"], work)
        git.run_git([*identity, "commit", "-q", "-m", f"f{n}"], work)
    refs = [f"agent/{200 + n}-f{n}:refs/heads/agent/{200 + n}-f{n}" for n in range(count)]
    git.run_git(["push", "-q", "origin", *refs], work, git_settings(ctx, ctx.config.repos[0]), auth=True)
    numbers = []
    for n in range(count):
        body = PR_BODY.format(issue=200 + n, n=n, summary=f"Added helper number {n}. " * 8, decisions="none")
        pr = ctx.forge.create_pull(
            REPO, title=f"Add f{n}", body=body, head=f"agent/{200 + n}-f{n}", base="main"
        )
        event(ctx, "merged", timedelta(hours=5, minutes=-n), issue=200 + n, pr=pr.number)
        numbers.append(pr.number)
    return numbers


@pytest.mark.parametrize("llm", ["none", "good", "fails"])
def test_the_file_stays_within_its_cap_with_or_without_an_llm(make_ctx, tmp_path, llm):
    loops = {"codebase_memory_max_bytes": 1024}
    if llm == "none":
        ctx = make_ctx(loops=loops)
    else:
        ctx = make_ctx(loops=loops, llm_answer="PLACEHOLDER", llm_fails=llm == "fails")
    work = tmp_path / "maintainer"
    git.run_git(["clone", "-q", ctx.config.repos[0].clone_url, str(work)], tmp_path)
    numbers = _many_merges(ctx, work, 3)
    if llm == "good":  # the oracle answers with one short line naming every PR
        script = tmp_path / "oracle.py"
        line = "- PR #" + ", PR #".join(str(n) for n in numbers) + ": helpers added one by one"
        script.write_text(script.read_text().replace("'PLACEHOLDER'", repr(line)))
    assert job.run_job(ctx, []) == 0
    (pr,) = [p for p in ctx.forge.list_pulls(REPO, state="open") if p.head_ref.startswith("agent/docs-")]
    text = memory_on(ctx, pr.head_ref)
    assert len(text.encode()) <= 1024
    assert f"### PR #{numbers[-1]} " in text and "## Earlier changes (summarized)" in text
    if llm == "good":
        assert "helpers added one by one" in text and "Added helper number 0" in oracle_prompt(ctx)
    else:
        assert re.search(r"^- PR #\d+ · #20\d Add f\d · \d{4}-\d\d-\d\d: Added helper number", text, re.M)


def test_an_entry_that_looks_like_it_holds_a_credential_keeps_only_its_heading():
    from datetime import UTC, datetime

    from orchestrator.policy import codebase_memory as policy

    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    task = policy.MergedTask(9, 8, "Rotate keys", datetime(2025, 3, 1, tzinfo=UTC), summary=f"set {token}")
    withheld = job.withhold_secrets(policy.build_entry(task))
    assert token not in withheld.render() and withheld.heading.startswith("### PR #9 · #8 Rotate keys")
    clean = policy.build_entry(policy.MergedTask(9, 8, "Rotate keys", datetime(2025, 3, 1, tzinfo=UTC)))
    assert job.withhold_secrets(clean) == clean
