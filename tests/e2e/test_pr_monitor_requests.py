"""pr_monitor reads a repo's open agent PRs in one GraphQL query (#15.2), on the sandbox forge.

Five open agent PRs wait for a required check that never reports. Once the first tick has verified them, an
idle tick costs one GraphQL request (the PRs' heads, mergeability, labels, checks and statuses, and the repo's
blocked issues) and a constant number of REST requests (claims, base protection) — not a handful per PR.
Counted at the forge (every API request it answered, 304s included) and per Forge method on our side.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bench.counting_forge import CountingForge
from bench.forge_setup import close_context, config_data, open_context, repo_entry, seed, tiny_source
from orchestrator import process
from orchestrator.jobs import pr_monitor
from orchestrator.sandbox.seed import SeedIssue
from orchestrator.task_identity import marker

pytestmark = pytest.mark.slow
PRS = 5


def _git(cwd: Path, env: dict[str, str], *args: str) -> None:
    result = process.run(["git", *args], cwd=cwd, env={**os.environ, **env}, timeout=60)
    assert result.ok, result.stderr


def open_prs(ctx: Any, sandbox: Any, workdir: Path, seeded: Any) -> list[int]:
    """One agent branch per issue adding notes/<n>.md, pushed in one go, and its PR with the task marker."""
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x.invalid",
        **sandbox.git_env(),
    }
    work = workdir / "work"
    _git(workdir, env, "clone", "-q", seeded.clone_url, str(work))
    refspecs = []
    for number in seeded.issue_numbers:
        branch = f"agent/{number}-note-{number}"
        _git(work, env, "checkout", "-q", "-B", branch, "origin/main")
        (work / "notes").mkdir(exist_ok=True)
        (work / "notes" / f"{number}.md").write_text(f"note {number}\n")
        _git(work, env, "add", "-A")
        _git(work, env, "commit", "-qm", f"Note {number}")
        refspecs.append(f"{branch}:{branch}")
    _git(work, env, "push", "-q", "origin", *refspecs)
    return [
        ctx.forge.create_pull(
            seeded.repo,
            title=f"Write note {n}",
            body=f"Closes #{n}\n\n{marker(seeded.repo, n, 1)}\n",
            head=f"agent/{n}-note-{n}",
            base="main",
        ).number
        for n in seeded.issue_numbers
    ]


def test_an_idle_tick_over_five_open_prs_is_one_query_and_constant_rest(sandbox: Any, tmp_path: Path) -> None:
    issues = [SeedIssue(f"Write note {n}", f"## Goal\nWrite note {n}.\n") for n in range(1, PRS + 1)]
    seeded = seed(sandbox, "prq", source=tiny_source(sandbox), ci_command="true", issues=issues)
    entry = {**repo_entry(seeded, "prq", "project"), "required_checks": ["never-reported"]}
    ctx = open_context(sandbox, config_data(sandbox, tmp_path / "runtime", [entry]), tmp_path)
    numbers = open_prs(ctx, sandbox, tmp_path, seeded)
    sandbox.wait_ci_idle(timeout=60)
    counting = CountingForge(ctx.forge)
    ctx.forge = counting.as_forge()

    first = pr_monitor.run(ctx)  # verifies each head (its diff: a per-PR read, once per head)
    assert sorted(first.waiting) == numbers and not first.merged and not first.errors
    assert all("never-reported" in reason for reason in first.waiting.values()), first.waiting

    sandbox.reset_stats()
    before = counting.by_method()
    idle = pr_monitor.run(ctx)
    after = counting.by_method()
    stats = sandbox.stats()

    assert idle.waiting == first.waiting and not idle.errors
    calls = {m: after[m]["calls"] - before.get(m, {}).get("calls", 0) for m in after}
    calls = {m: n for m, n in calls.items() if n}
    assert calls.get("open_pulls") == 1, calls
    for per_pr in ("get_pull", "checks", "get_issue", "list_pulls", "pull_diff", "get_branch_sha"):
        assert per_pr not in calls, calls
    assert stats["graphql_points"] >= 1 and stats["writes"] == 0, stats
    rest = stats["requests"] - 1  # the one GraphQL query
    assert rest <= 4, (stats, calls)  # claims (1) + the base's protection and rules (2): not O(PRs)
    close_context(ctx)
