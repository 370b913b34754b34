"""Merge throughput per base branch (#15.5): N green PRs, a CI that takes `ci_minutes`, one planted bad PR.

Simulated time, real everything else: the sandbox CI runs a script (the repo's real CI command) that notes the
simulated minute it started and finishes when the bench's clock file says `ci_minutes` have passed; the bench
advances the clock one minute per tick once every run due by then has finished, and runs pr_monitor each minute
(its clock is the simulated one). The runs are real processes on real merge commits, as many at once as a
hosted CI would run them.

The bad PR is green on its own and red next to any other PR (it adds `BAD`; CI fails when `BAD` sits beside two
notes). Side by side: the batching queue (`merge.batch_size` = N) and one PR at a time (`batch_size` 1, the merge
line: only its head is rebased onto the tip and re-tested). Reported: simulated minutes until every good PR
merged, CI runs (the PRs' own and the candidates'), whether the bad PR was isolated (fix-CI follow-up queued,
never merged), and whether the base ever pointed at a commit whose CI was not green.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import forge_setup
from orchestrator.jobs import pr_monitor
from orchestrator.sandbox.seed import SeedIssue
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import TaskState

SIM_CI = """
import os, sys, time
from pathlib import Path
clock, running, minutes = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
def now():
    return float(clock.read_text())  # the bench replaces the file atomically
due = now() + minutes
me = running / str(os.getpid())
tmp = running / f".{os.getpid()}"
tmp.write_text(str(due))
os.replace(tmp, me)
try:
    while now() < due:
        time.sleep(0.05)
finally:
    me.unlink()
notes = len(list(Path("notes").glob("*.md"))) if Path("notes").is_dir() else 0
sys.exit(1 if Path("BAD").exists() and notes >= 2 else 0)
"""
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def run(workdir: Path, prs: int, ci_minutes: int, bad_position: int) -> dict[str, Any]:
    return {
        "prs": prs,
        "ci_minutes": ci_minutes,
        "bad_pr_position": bad_position,
        "batching": _one(workdir / "batching", prs, ci_minutes, bad_position, batch_size=prs),
        "one_at_a_time": _one(workdir / "serial", prs, ci_minutes, bad_position, batch_size=1),
    }


class SimClock:
    def __init__(self, workdir: Path, forge: SandboxForge) -> None:
        self.file = workdir / "clock"
        self.running = workdir / "running"
        self.running.mkdir(parents=True)
        self.forge = forge
        self.minute = 0
        self._write()

    def advance(self) -> None:
        """Every run started at the current minute has registered; the next minute; every run due by then has
        finished and been reported."""
        self._until(lambda: self._count("queued") == 0 and self._registered())
        self.minute += 1
        self._write()
        self._until(lambda: self._registered() and self._all_later())

    def _write(self) -> None:
        tmp = self.file.with_name(".clock")
        tmp.write_text(str(self.minute))
        os.replace(tmp, self.file)

    def _registered(self) -> bool:
        return self._count("in_progress") == len(
            [f for f in self.running.iterdir() if not f.name.startswith(".")]
        )

    def _all_later(self) -> bool:
        dues = []
        for f in self.running.iterdir():
            if f.name.startswith("."):
                continue
            try:
                dues.append(float(f.read_text() or "inf"))
            except (OSError, ValueError):
                return False
        return all(d > self.minute for d in dues)

    def _count(self, status: str) -> int:
        row = self.forge.db.one("SELECT COUNT(*) AS n FROM check_runs WHERE status = ?", (status,))
        return int(row["n"]) if row else 0

    def _until(self, ready: Any, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulated CI did not settle at minute {self.minute}")
            time.sleep(0.02)


def _one(workdir: Path, prs: int, ci_minutes: int, bad_position: int, batch_size: int) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    script = workdir / "sim_ci.py"
    script.write_text(SIM_CI)
    with SandboxForge(workdir / "forge", ci_workers=prs + 8).start() as forge:
        clock = SimClock(workdir, forge)
        ci = f"{sys.executable} {script} {clock.file} {clock.running} {ci_minutes}"
        issues = [SeedIssue(f"Write note {n}", f"## Goal\nWrite note {n}.\n") for n in range(1, prs + 1)]
        seeded = forge_setup.seed(
            forge, "queue", source=forge_setup.tiny_source(forge), ci_command=ci, issues=issues
        )
        entry = forge_setup.repo_entry(seeded, "queue", "project")
        data = forge_setup.config_data(forge, workdir / "runtime", [entry])
        data["merge"] = {"batch_size": batch_size, "batch_wait_seconds": 0}
        ctx = forge_setup.open_context(forge, data, workdir)
        ctx.clock = lambda: T0
        numbers = forge_setup.open_note_prs(ctx, forge.git_env(), workdir, seeded, bad_position)
        bad = numbers[bad_position - 1]
        tips: list[str] = []
        merged: set[int] = set()
        started = time.perf_counter()
        while clock.minute < 600 and len(merged) < prs - 1:
            clock.advance()
            ctx.clock = _at(T0 + timedelta(minutes=clock.minute))
            merged |= set(pr_monitor.run(ctx).merged)
            tips.append(forge.core.bare(forge.core.repo(*seeded.repo.split("/"))).resolve("main") or "")
        result = _measure(ctx, forge, seeded.repo, seeded.head_sha or "", tips, merged, bad, clock.minute)
        result["wall_s"] = round(time.perf_counter() - started, 1)
        forge_setup.close_context(ctx)
        return result


def _at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _measure(
    ctx: JobContext,
    forge: SandboxForge,
    repo: str,
    seed_sha: str,
    tips: list[str],
    merged: set[int],
    bad: int,
    minutes: int,
) -> dict[str, Any]:
    runs = forge.db.one("SELECT COUNT(*) AS n FROM check_runs WHERE name = 'sandbox-ci'")
    bare = forge.core.bare(forge.core.repo(*repo.split("/")))
    green = forge.db.all(
        "SELECT DISTINCT head_sha FROM check_runs WHERE name = 'sandbox-ci' AND conclusion = 'success'"
    )
    tested_trees = {bare.commit_info(row["head_sha"]).tree for row in green}
    # a squash merge lands a new commit whose tree is the tested head's: compare trees, not commits
    untested = [
        t for t in dict.fromkeys(tips) if t and t != seed_sha and bare.commit_info(t).tree not in tested_trees
    ]
    follow_ups = [
        e.task for e in ctx.mailbox.list(TaskState.INBOX) if e.task is not None and e.task.kind == "fix_ci"
    ]
    return {
        "simulated_minutes": minutes,
        "ci_runs": int(runs["n"]) if runs else 0,
        "merged": len(merged),
        "bad_pr_merged": bad in merged,
        "bad_pr_got_fix_follow_up": any(t.pr_number == bad for t in follow_ups),
        "base_tips_not_green": len(untested),
    }
