"""Several hosts: 3 hosts (separate runtime dirs, one sandbox) run dispatcher and queue at once over N issues.

Reports how many hosts claimed each issue (must be exactly one), PRs per issue (must be one), lost claims (422s
answered to the losing hosts), how the work spread over the hosts, and the wall time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import forge_setup
from orchestrator.jobs import dispatcher, queue
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import TaskState


def run(workdir: Path, issues: int, hosts: int = 3, rounds: int = 3) -> dict[str, Any]:
    with SandboxForge(workdir / "sandbox").start() as forge:
        seeded = forge_setup.seed(
            forge,
            "hosts",
            source=forge_setup.tiny_source(forge),
            issues=[forge_setup.task_issue(n, "Ready") for n in range(issues)],
        )
        contexts = []
        for h in range(hosts):
            data = forge_setup.config_data(
                forge, workdir / f"host{h}" / "runtime", [forge_setup.repo_entry(seeded, "hosts", "project")]
            )
            ctx = forge_setup.open_context(forge, data, workdir / f"host{h}")
            ctx.host = f"host{h}"
            contexts.append(ctx)
        lost: Counter[str] = Counter()
        started = time.perf_counter()
        barrier = threading.Barrier(hosts)

        def host_loop(ctx: JobContext) -> None:
            barrier.wait()
            for _ in range(rounds):
                lost[ctx.host] += len(dispatcher.run(ctx).lost_claims)
                queue.run(ctx)

        threads = [threading.Thread(target=host_loop, args=(c,)) for c in contexts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        claims: Counter[int] = Counter()
        per_host: dict[str, int] = {}
        for ctx in contexts:
            done = [e.task.issue for e in ctx.mailbox.list(TaskState.DONE) if e.task]
            claims.update(done)
            per_host[ctx.host] = len(done)
            forge_setup.close_context(ctx)
        pulls = contexts[0].forge.list_pulls(seeded.repo, state="all")
    heads = Counter(p.head_ref.split("-")[0] for p in pulls)
    return {
        "hosts": hosts,
        "issues": issues,
        "seconds": round(seconds, 1),
        "claimed_exactly_once": sum(1 for n in seeded.issue_numbers if claims[n] == 1),
        "claimed_twice_or_more": sum(1 for n in seeded.issue_numbers if claims[n] > 1),
        "unclaimed": sum(1 for n in seeded.issue_numbers if claims[n] == 0),
        "pull_requests": len(pulls),
        "duplicate_prs": sum(c - 1 for c in heads.values() if c > 1),
        "lost_claims_per_host": dict(lost),
        "tasks_per_host": per_host,
    }
