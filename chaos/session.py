"""One chaos run's world: a work directory, `runtime/` on its own small filesystem, the sandbox forge seeded
with the plan's issues, a config for real cron ticks, and the cron ticker."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.aim import World
from chaos.disk import DiskError, RuntimeDisk
from chaos.plan import API_TIMEOUT_SECONDS, ChaosPlan
from chaos.ticker import Ticker
from orchestrator.config import load_config
from orchestrator.containment.forge_ci import ContainedCI
from orchestrator.demo.runner import prepare
from orchestrator.jobs.entry import build_context
from orchestrator.sandbox.client_config import client_environ, github_section
from orchestrator.sandbox.faults import FaultConfig
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
AGENTS = ("chaos-a", "chaos-b")


@dataclass
class Session:
    workdir: Path
    forge: SandboxForge
    disk: RuntimeDisk
    disk_skipped: str | None  # why the disk-full phase cannot run, when it cannot
    config_path: Path
    ctx: JobContext
    numbers: tuple[int, ...]
    project: int
    ticker: Ticker

    @property
    def runtime(self) -> Path:
        return self.workdir / "runtime"

    def close(self) -> None:
        self.forge.set_faults(FaultConfig())
        close = getattr(self.ctx.forge, "close", None)
        if close is not None:
            close()
        self.disk.unmount(keep_copy=self.workdir / "runtime-final")
        self.forge.stop()


class SandboxCounts:
    """What chaos/aim.py asks of the forge, read from the sandbox's own database (no API request)."""

    def __init__(self, forge: SandboxForge) -> None:
        self.db = forge.db

    def open_pull_count(self) -> int:
        row = self.db.one("SELECT count(*) AS n FROM issues WHERE is_pull = 1 AND state = 'open'")
        return int(row["n"]) if row else 0

    def open_issue_numbers(self) -> set[int]:
        rows = self.db.all("SELECT number FROM issues WHERE is_pull = 0 AND state = 'open'")
        return {int(r["number"]) for r in rows}


def chaos_agents(workdir: Path, seed: int, names: tuple[str, ...] = AGENTS) -> dict[str, Any]:
    """Config entries for the scripted chaos agent (chaos/agent.py) under each of `names`."""
    agent_env = {
        "PYTHONPATH": str(ROOT),
        "CHAOS_STATE_DIR": str(workdir / "agent-state"),
        "CHAOS_SEED": str(seed),
    }
    agents: dict[str, Any] = {
        name: {
            "kind": "script",
            "command": [sys.executable, "-m", "chaos.agent"],
            "timeout_minutes": 1,
            "stall_minutes": 1,
            "env": {**agent_env, "CHAOS_AGENT": name},
        }
        for name in names
    }
    # The chaos agent is part of the harness, not an agent under test: it keeps its script state outside the
    # worktree (CHAOS_STATE_DIR) and imports this checkout, which the sandbox hides by design.
    return {"isolation": "none", **agents}


def overrides(workdir: Path, plan: ChaosPlan, forge: SandboxForge) -> dict[str, Any]:
    agents = chaos_agents(workdir, plan.seed)
    return {
        "github": github_section(forge, request_timeout_seconds=API_TIMEOUT_SECONDS),
        "agents": agents,
        "routing": {"default": list(AGENTS)},
        "limits": {
            "max_parallel_workers": 2,
            "max_attempts": 3,
            "lease_seconds": 3,
            "wedge_hours": 1,
            "worktree_pool_size": 4,
        },
    }


def open_session(workdir: Path, plan: ChaosPlan, disk_mb: int) -> Session:
    disk = RuntimeDisk(workdir / "runtime", size_mb=disk_mb)
    skipped = None
    try:
        disk.mount()
    except DiskError as exc:
        skipped = f"runtime/ could not get its own filesystem ({exc}); the disk-full phase is skipped"
        log.warning("%s", skipped)
    forge = SandboxForge(workdir / "sandbox", ci_runner=ContainedCI()).start()  # the agents' pushed code
    try:
        issues = [issue.seed_data() for issue in plan.issues]
        setup = prepare(forge, workdir, issues=issues, overrides=overrides(workdir, plan, forge))
    except BaseException:
        forge.stop()
        disk.unmount()
        raise
    config_path = workdir / "config.yaml"
    env = client_environ(forge)
    ctx = build_context(load_config(str(config_path)), environ=env)
    world = World(SandboxCounts(forge), workdir / "runtime" / "mailbox")
    ticker = Ticker(config_path, env, workdir / "ticks.log", workdir, world)
    return Session(
        workdir=workdir,
        forge=forge,
        disk=disk,
        disk_skipped=skipped,
        config_path=config_path,
        ctx=ctx,
        numbers=tuple(setup.seeded.issue_numbers),
        project=setup.seeded.project_number or 1,
        ticker=ticker,
    )
