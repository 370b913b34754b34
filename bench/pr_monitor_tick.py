"""Requests per idle pr_monitor tick with N open agent PRs (#15.2): one GraphQL query vs the per-PR REST reads.

N agent PRs (one branch per issue, the task marker in the body) wait for a required check that never reports,
so after the first tick (which verifies each head) every tick is idle. Ours: `pr_monitor.run` as it is — the
conditional PR list (are any of them ours?), the repo's open PRs in one GraphQL query, plus the reads shared by
every PR (follow-up claims, the base's required checks); `ours_reads` times those reads alone. Before: the reads pr_monitor made per tick until #15.2, replayed through the same client on the same
PRs — the PR list, then per PR its GET, its check runs, its combined status and its issue, plus the base tip
and the same shared reads. Counted at the forge: every API request it answered (304s included), the counted
ones (non-304 REST), and GraphQL points.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import forge_setup
from orchestrator.executors import ref_claims
from orchestrator.jobs import pr_monitor
from orchestrator.sandbox.seed import SeedIssue
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state.runtime import JobContext

NEVER = "never-reported"  # a required check no CI reports: the PRs wait, every tick after the first is idle


def run(workdir: Path, prs: int, repeats: int = 5) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    with SandboxForge(workdir / "forge").start() as forge:
        issues = [SeedIssue(f"Write note {n}", f"## Goal\nWrite note {n}.\n") for n in range(1, prs + 1)]
        seeded = forge_setup.seed(
            forge, "monitor", source=forge_setup.tiny_source(forge), ci_command="true", issues=issues
        )
        entry = {**forge_setup.repo_entry(seeded, "monitor", "project"), "required_checks": [NEVER]}
        ctx = forge_setup.open_context(
            forge, forge_setup.config_data(forge, workdir / "runtime", [entry]), workdir
        )
        numbers = forge_setup.open_note_prs(ctx, forge.git_env(), workdir, seeded)
        forge.wait_ci_idle(timeout=120)
        first = pr_monitor.run(ctx)
        waiting = sorted(n for n, why in first.waiting.items() if NEVER in why)
        ours = [_measured(forge, lambda: _tick(ctx)) for _ in range(repeats)]
        reads = [_measured(forge, lambda: _query_reads(ctx, seeded.repo)) for _ in range(repeats)]
        before = [_measured(forge, lambda: _rest_reads(ctx, seeded.repo)) for _ in range(repeats)]
        forge_setup.close_context(ctx)
    return {
        "prs": prs,
        "waiting_on_the_required_check": len(waiting) == len(numbers) == prs,
        "ours": _summary(ours),  # the whole tick: reads, git fetch, policy, records
        "ours_reads": _summary(reads),  # the tick's GitHub reads alone, as `before` measures them
        "before": _summary(before),
    }


def _tick(ctx: JobContext) -> None:
    report = pr_monitor.run(ctx)
    if report.errors or report.merged or report.follow_ups:
        raise RuntimeError(f"the pr_monitor tick was not idle: {report}")


def _query_reads(ctx: JobContext, repo: str) -> None:
    """The GitHub reads of an idle pr_monitor tick now: the conditional PR list, the repo's query, claims, the
    base's required checks."""
    ctx.forge.list_pulls(repo)
    listing = ctx.forge.open_pulls(repo, ctx.config.repos[0].labels.blocked)
    ref_claims.read_claims(ctx.forge, repo, blame=False)
    for base in {p.pr.base_ref for p in listing.pulls}:
        ctx.forge.required_checks(repo, base)


def _rest_reads(ctx: JobContext, repo: str) -> None:
    """The reads of an idle pr_monitor tick before #15.2 (list, then per PR: GET, check runs + combined
    status, its issue; the base tip once; claims and required checks as now)."""
    pulls = [p for p in ctx.forge.list_pulls(repo) if p.head_ref.startswith("agent/")]
    ref_claims.read_claims(ctx.forge, repo, blame=False)
    bases = {p.base_ref for p in pulls}
    for base in bases:
        ctx.forge.get_branch_sha(repo, base)
        ctx.forge.required_checks(repo, base)
    for listed in pulls:
        pr = ctx.forge.get_pull(repo, listed.number)
        ctx.forge.checks(repo, pr.head_sha)
        ctx.forge.get_issue(repo, int(pr.head_ref.split("/")[1].split("-")[0]))


def _measured(forge: SandboxForge, call: Any) -> dict[str, float]:
    forge.reset_stats()
    started = time.perf_counter()
    call()
    elapsed = time.perf_counter() - started
    stats = forge.stats()
    return {
        "requests": stats["requests"],
        "counted": stats["counted"],
        "not_modified": stats["not_modified"],
        "graphql_points": stats["graphql_points"],
        "ms": elapsed * 1000,
    }


def _summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    last = runs[-1]
    return {
        "requests": int(last["requests"]),
        "counted": int(last["counted"]),
        "not_modified": int(last["not_modified"]),
        "graphql_points": int(last["graphql_points"]),
        "median_ms": round(statistics.median(r["ms"] for r in runs), 1),
    }


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(Path(tmp) / "p", int(sys.argv[1]) if len(sys.argv) > 1 else 20), indent=2))
