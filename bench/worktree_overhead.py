"""(d) Orchestration overhead per task, without agent time, on a generated large repo: pooled vs fresh worktrees.

Two copies of a repo of `files` source files (no CI; `auto_merge_without_checks`, test command `true`), each
with T Ready issues and its own runtime dir. Tasks run one at a time through the real jobs: `queue.run`
(worktree, agent, our test run, commit, push, PR, board, comment) and `pr_monitor.run` (verifier, merge,
cleanup). Overhead = dispatcher tick + queue wall − the agent's own run time + pr_monitor wall (issues are moved to
Ready one at a time, so each task starts from the tip the previous one merged into). "Pooled" is the product as it
is (the pool reuses its worktree: `git switch -C` + `clean`); "fresh" removes the worktree before each task
so the pool must `git worktree add` a new one, as a design without a pool would (the removal is timed apart).
The micro numbers time the worktree step alone: WorktreePool.acquire on a used slot vs a new one.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.forge_setup import (
    close_context,
    commit_source,
    config_data,
    open_context,
    push_source,
    repo_entry,
    seed,
    task_issue,
    write_large_repo,
)
from orchestrator import git
from orchestrator.executors.tracker import Tracker
from orchestrator.executors.worktrees import pool_for
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state import metrics
from orchestrator.state.runtime import JobContext

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig


def run(workdir: Path, files: int, tasks: int, micro_repeats: int = 5) -> dict[str, Any]:
    with SandboxForge(workdir / "forge", ci_workers=1).start() as forge:
        started = time.perf_counter()
        source = commit_source(write_large_repo(workdir / "large-source", files))
        generate_s = time.perf_counter() - started
        result: dict[str, Any] = {"files": files, "tasks": tasks, "generate_s": round(generate_s, 2)}
        for variant in ("pooled", "fresh"):
            result[variant] = _variant(forge, workdir / variant, source, tasks, fresh=variant == "fresh")
        pooled, fresh = result["pooled"]["per_task_s"], result["fresh"]["per_task_s"]
        result["ratio_per_task"] = round(pooled / fresh, 3) if fresh else None
        result["micro"] = _micro(forge, workdir / "pooled", micro_repeats)
        return result


def _variant(forge: SandboxForge, workdir: Path, source: Path, tasks: int, fresh: bool) -> dict[str, Any]:
    started = time.perf_counter()
    issues = [task_issue(n, status="Todo") for n in range(1, tasks + 1)]
    seeded = seed(forge, f"large-{workdir.name}", issues=issues)  # seed_repo's own push copies the tree
    push_source(source, seeded.clone_url, forge.git_env())
    seed_s = time.perf_counter() - started
    entry = repo_entry(seeded, "large", "project", auto_merge_without_checks=True)
    data = config_data(forge, workdir / "runtime", [entry], workers=1)
    data["merge"] = {"checks_grace_seconds": 0}  # no CI at all: no checks to wait for after a push
    ctx = open_context(forge, data, workdir)
    repo = ctx.config.repos[0]
    started = time.perf_counter()
    pool = pool_for(ctx, repo)  # the one-time clone of the repo (no checkout)
    clone_s = time.perf_counter() - started
    rows = []
    for number in seeded.issue_numbers:
        cleanup_s = _drop_worktrees(pool) if fresh else 0.0
        rows.append({**_one_task(ctx, repo, number), "cleanup_s": round(cleanup_s, 3)})
    close_context(ctx)
    # the first pooled task creates the pool's worktree, so the steady state is every task after it
    steady = rows[1:] if len(rows) > 1 and not fresh else rows
    return {
        "seed_s": round(seed_s, 2),
        "clone_s": round(clone_s, 2),
        "tasks": rows,
        "merged": sum(r["merged"] for r in rows),
        "per_task_s": round(statistics.mean(r["overhead_s"] for r in steady), 3),
        "per_task_with_cleanup_s": round(
            statistics.mean(r["overhead_s"] + r["cleanup_s"] for r in steady), 3
        ),
    }


def _one_task(ctx: JobContext, repo: RepoConfig, number: int) -> dict[str, Any]:
    """Move one issue to Ready, then time its dispatch, its queue run and the pr_monitor tick that merges it."""
    Tracker(ctx.forge, ctx.paths.state).move(repo, ctx.forge.get_issue(repo.full_name, number), "ready")
    started = time.perf_counter()
    dispatched = dispatcher.run(ctx).dispatched
    dispatch_s = time.perf_counter() - started
    mark = time.time()
    started = time.perf_counter()
    report = queue.run(ctx, max_tasks=1)
    queue_s = time.perf_counter() - started
    agent_s = _agent_seconds(ctx, mark)
    started = time.perf_counter()
    monitor = pr_monitor.run(ctx)
    merge_s = time.perf_counter() - started
    return {
        "dispatch_s": round(dispatch_s, 3),
        "queue_s": round(queue_s, 3),
        "agent_s": round(agent_s, 3),
        "merge_s": round(merge_s, 3),
        "overhead_s": round(dispatch_s + queue_s - agent_s + merge_s, 3),
        "dispatched": len(dispatched),
        "opened": len(report.opened),
        "merged": len(monitor.merged),
        "waiting": dict(monitor.waiting),
    }


def _agent_seconds(ctx: JobContext, since_epoch: float) -> float:
    """The agent's own run time, from the attempt's outcome event (duration_s)."""
    return sum(
        event.duration_s or 0.0
        for event in metrics.read_events(ctx.paths.metrics)
        if event.ts.timestamp() >= since_epoch and event.duration_s is not None
    )


def _drop_worktrees(pool: git.WorktreePool) -> float:
    """Remove every worktree of the pool, so its next acquire must `git worktree add` a new one."""
    started = time.perf_counter()
    for path in sorted(pool.worktrees_dir.glob("wt-*")):
        git.run_git(["worktree", "remove", "--force", "--force", str(path)], pool.repo_dir, pool.settings)
    pool.reconcile([])
    return time.perf_counter() - started


def _micro(forge: SandboxForge, workdir: Path, repeats: int) -> dict[str, Any]:
    """The worktree step alone, on the pooled variant's clone: reuse a slot vs add a new worktree."""
    clone = workdir / "runtime" / "clones" / "large"
    reuse_pool = git.WorktreePool(clone, workdir / "micro-reuse", size=1)
    add_pool = git.WorktreePool(clone, workdir / "micro-add", size=1)
    reuse_pool.release(reuse_pool.acquire("bench/micro", "origin/main", owner="warm"))
    reuse, add, remove = [], [], []
    for i in range(repeats):
        started = time.perf_counter()
        reuse_pool.release(reuse_pool.acquire(f"bench/reuse-{i}", "origin/main", owner=f"r{i}"))
        reuse.append(time.perf_counter() - started)
        started = time.perf_counter()
        add_pool.release(add_pool.acquire(f"bench/add-{i}", "origin/main", owner=f"a{i}"))
        add.append(time.perf_counter() - started)
        remove.append(_drop_worktrees(add_pool))
    return {
        "repeats": repeats,
        "reuse_s": round(statistics.median(reuse), 3),
        "add_s": round(statistics.median(add), 3),
        "remove_s": round(statistics.median(remove), 3),
        "ratio": round(statistics.median(reuse) / statistics.median(add), 3),
    }
