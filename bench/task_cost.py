"""(b) GitHub requests per task, Ready → merged, with every call attributed to the Forge method that made it.

Runs the demo flow (`orchestrator.demo.runner.prepare`: the textkit repo, its three Ready issues on a board,
sandbox CI running pytest, the scripted demo agent) with one worker, so calls never overlap and the
per-method attribution of `CountingForge` is exact. Ticks: dispatcher → queue → (CI) → pr_monitor, until
every issue is closed. Counts are the client's (`RequestStats`) and the sandbox's (its request accounting).

Two variants run side by side: "automations" — the board's built-in "Item closed" workflow on (a new project's
default on GitHub) and the repository's "Automatically delete head branches" on (the recommended setting) —
and "plain", both off, where we make the Done move and the branch delete ourselves (the earlier figure).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from bench.counting_forge import CountingForge
from orchestrator.containment.forge_ci import ContainedCI
from orchestrator.demo.runner import REPO, DemoSetup, prepare
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.sandbox import automations
from orchestrator.sandbox.server import SandboxForge

MAX_TICKS = 12


def run(workdir: Path) -> dict[str, Any]:
    """The "automations" variant's numbers, with the "plain" one's beside them under `variants`."""
    lean = _run_variant(workdir / "automations", github_automations=True)
    plain = _run_variant(workdir / "plain", github_automations=False)
    keep = ("tasks_merged", "per_task", "writes_per_task_by_method")
    return {
        **lean,
        "variants": {"automations": {k: lean[k] for k in keep}, "plain": {k: plain[k] for k in keep}},
    }


def _use_github_automations(forge: SandboxForge, setup: DemoSetup, on: bool) -> None:
    """What a board owner and a repository admin set on GitHub: the workflow in the project's settings, the
    repository setting through the API (PATCH /repos/{owner}/{repo})."""
    if setup.seeded.project_id is not None:
        automations.set_workflow(forge.db, setup.seeded.project_id, automations.ITEM_CLOSED, on)
    answer = requests.patch(
        f"{forge.api_url}/repos/{REPO}",
        json={"delete_branch_on_merge": on},
        headers={"Authorization": f"token {forge.token}"},
        timeout=30,
    )
    answer.raise_for_status()


def _run_variant(workdir: Path, github_automations: bool) -> dict[str, Any]:
    with SandboxForge(workdir / "forge", ci_runner=ContainedCI()).start() as forge:
        limits = {"max_parallel_workers": 1, "lease_seconds": 300, "wedge_hours": 1}
        setup = prepare(forge, workdir / "demo", overrides={"limits": limits})
        _use_github_automations(forge, setup, github_automations)
        ctx = setup.ctx
        counting = CountingForge(ctx.forge)
        ctx.forge = counting.as_forge()
        forge.reset_stats()
        started = time.perf_counter()
        ticks = 0
        closed = 0
        while ticks < MAX_TICKS and closed < len(setup.seeded.issue_numbers):
            ticks += 1
            dispatcher.run(ctx)
            queue.run(ctx)
            forge.wait_ci_idle(timeout=180)
            pr_monitor.run(ctx)
            closed = _closed(forge, setup.seeded.issue_numbers)
        seconds = time.perf_counter() - started
        client = ctx.forge.stats
        server = forge.stats()
        tasks = max(1, closed)
        by_method = counting.by_method()
        return {
            "tasks_merged": closed,
            "tasks": len(setup.seeded.issue_numbers),
            "ticks": ticks,
            "seconds": round(seconds, 2),
            "client_total": {
                "counted": client.counted,
                "not_modified": client.not_modified,
                "writes": client.writes,
                "graphql_points": client.graphql_points,
            },
            "sandbox_total": server,
            "per_task": {
                "counted": round(client.counted / tasks, 2),
                "not_modified": round(client.not_modified / tasks, 2),
                "writes": round(client.writes / tasks, 2),
                "graphql_points": round(client.graphql_points / tasks, 2),
                "sandbox_requests": round(server["requests"] / tasks, 2),
            },
            "writes_per_task_by_method": {
                name: round(cost["writes"] / tasks, 2) for name, cost in by_method.items() if cost["writes"]
            },
            "by_method": by_method,
            "git_pushes_per_task": round(_audit_count(ctx.paths.root, "push") / tasks, 2),
        }


def _closed(forge: SandboxForge, numbers: tuple[int, ...]) -> int:
    repo = forge.core.repo(*REPO.split("/", 1))
    marks = ",".join("?" for _ in numbers)
    row = forge.db.one(
        f"SELECT COUNT(*) AS n FROM issues WHERE repo_id = ? AND state = 'closed' AND number IN ({marks})",
        (repo.id, *numbers),
    )
    return int(row["n"]) if row else 0


def _audit_count(runtime: Path, action: str) -> int:
    path = runtime / "audit" / "audit.jsonl"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if json.loads(line).get("action") == action)
