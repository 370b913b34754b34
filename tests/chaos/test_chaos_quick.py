"""`python -m chaos.run --quick`: five issues through real cron ticks under API faults, kill -9, a corrupt task
file and a full runtime disk — every invariant must hold (so `make chaos` cannot rot unnoticed)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from orchestrator.edges import process

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_quick_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    results_path = tmp_path / "results.json"
    try:
        run = process.run(
            [
                sys.executable,
                "-m",
                "chaos.run",
                "--quick",
                "--seed",
                "3",
                "--results",
                str(results_path),
                "--workdir",
                str(tmp_path / "work"),
            ],
            cwd=ROOT,
            timeout=280,
        )
    finally:
        # a run killed by its timeout never unmounts runtime/'s tmpfs; a mount left under pytest's base temp
        # makes every later pytest's cleanup of old temp dirs fail (RecursionError at exit)
        runtime = tmp_path / "work" / "runtime"
        if os.path.ismount(runtime):
            process.run(["umount", "-l", str(runtime)], timeout=30)
    assert results_path.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(results_path.read_text())
    failed = [i for i in results["invariants"] if not i["passed"]]
    assert run.returncode == 0 and not failed, json.dumps(failed, indent=1) + run.stdout[-3000:]
    counts = {i["name"]: i["count"] for i in results["invariants"]}
    assert counts["issues merged exactly once or escalated"] == 5
    assert counts["duplicate PRs"] == counts["lost tasks"] == 0
    assert counts["orphan worktrees"] == counts["orphan processes"] == 0
    assert counts["corrupt task files quarantined"] == 2
    # every kill lands on a tick that holds work (chaos/aim.py); the first one on a queue running a task
    assert results["kills"], "at least one cron tick was killed with SIGKILL"
    assert all(k["work"] for k in results["kills"]), results["kills"]
    assert any(k["job"] == "queue" and "running a task" in k["work"] for k in results["kills"]), results[
        "kills"
    ]
    assert any(
        p["error_rate"] or p["rate_limit_rate"] or p["secondary_limit_rate"] for p in results["fault_phases"]
    )
    assert results["disk"].get("freed_at_s") or results["disk"].get("skipped"), (
        "the disk phase ran or said why not"
    )
    assert "ALL INVARIANTS HOLD" in run.stdout
