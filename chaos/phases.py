"""The chaos phase (faults on while cron ticks run) and the settle phase (faults off, clean ticks)."""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from chaos.plan import KILL_TARGETS, ChaosPlan
from chaos.procs import run_processes
from chaos.session import Session
from chaos.ticker import Kill
from orchestrator.github.errors import GitHubError
from orchestrator.sandbox.faults import FaultConfig

log = logging.getLogger(__name__)

CORRUPT_FILES = {
    # front matter that is not YAML
    "chaos-corrupt-yaml.md": b"---\nrepo: [agentos-admin/textkit\nissue: {{\n---\n## Goal\nbroken\n",
    # not UTF-8 at all
    "chaos-corrupt-binary.md": bytes(range(128, 256)) * 4,
}


AIM_PATIENCE_S = 3.0  # a kill aimed at one job takes a working tick of any job after waiting this long
KILL_GAP_S = 1.0  # kills that fell due together (while waiting for work) land at least this far apart
POLL_S, POLL_KILL_S = 0.2, 0.05  # the chaos loop's step; while a kill is due it looks for work more often


class KillsTicks(Protocol):
    def kill_working(self, rng: random.Random, at_s: float, jobs: tuple[str, ...]) -> Kill | None: ...


class PlannedKills:
    """The plan's kills, each landing on a tick that holds work (chaos/aim.py). A kill falls due at its
    planned time and waits for a working tick of the job it aims at — the first kill (the queue) as long
    as it takes, the others `AIM_PATIENCE_S`, then a working tick of any job; a kill still waiting at
    `aim_until` (or when the chaos phase ends) is dropped and reported as missed."""

    def __init__(self, plan: ChaosPlan) -> None:
        self.due = list(zip(plan.kill_times, plan.kill_jobs, strict=True))
        self.aim_until = plan.timing.aim_until
        self.missed: list[dict] = []
        self.last_at = float("-inf")
        self.landed = 0

    def waiting(self, elapsed: float) -> bool:
        return bool(self.due) and elapsed >= self.due[0][0]

    def step(self, ticker: KillsTicks, rng: random.Random, elapsed: float) -> Kill | None:
        if not self.waiting(elapsed) or elapsed - self.last_at < KILL_GAP_S:
            return None
        if elapsed > self.aim_until:
            self.drop(elapsed)
            return None
        planned, target = self.due[0]
        patient = self.landed == 0 or elapsed - planned < AIM_PATIENCE_S
        kill = ticker.kill_working(rng, round(elapsed, 1), (target,) if patient else KILL_TARGETS)
        if kill is not None:
            self.due.pop(0)
            self.last_at = elapsed
            self.landed += 1
        return kill

    def drop(self, elapsed: float) -> None:
        """Stop: the kills that fell due by `elapsed` and found no working tick are missed; the ones the
        chaos phase ended before (every issue settled early) were never due."""
        self.missed.extend({"planned_at_s": at, "job": job} for at, job in self.due if at <= elapsed)
        self.due.clear()


@dataclass
class ChaosLog:
    phases: list[dict] = field(default_factory=list)
    kills_missed: list[dict] = field(default_factory=list)
    disk: dict = field(default_factory=dict)
    corrupt_files: tuple[str, ...] = ()
    chaos_seconds: float = 0.0
    settle_seconds: float = 0.0
    settled: bool = False


def run_chaos(session: Session, plan: ChaosPlan) -> ChaosLog:
    """Faults on, ticks on a schedule, kill -9 on the plan's times; until every issue is merged or escalated
    (as far as the events say) or the plan's time is up. Faults are off when this returns."""
    record = ChaosLog(disk={"skipped": session.disk_skipped} if session.disk_skipped else {})
    rng = random.Random(plan.seed)
    kills = PlannedKills(plan)
    timing = plan.timing
    phase = None
    filled_at: float | None = None
    t0 = time.monotonic()
    session.ticker.start(timing.tick_seconds)
    next_check = 5.0
    try:
        while (elapsed := time.monotonic() - t0) < timing.chaos_seconds:
            current = plan.phase_at(elapsed)
            if current is not phase:
                phase = current
                session.forge.set_faults(current.faults)
                record.phases.append(
                    {"at_s": round(elapsed, 1), "name": current.name, **_faults_json(current.faults)}
                )
                log.info("[%6.1fs] API faults: %s %s", elapsed, current.name, _faults_text(current.faults))
            kill = kills.step(session.ticker, rng, elapsed)
            if kill is not None:
                log.info("[%6.1fs] kill -9 %s tick (pid %s): %s", elapsed, kill.job, kill.pid, kill.work)
            if not record.corrupt_files and elapsed >= timing.corrupt_at:
                record.corrupt_files = drop_corrupt_files(session.runtime / "mailbox" / "inbox")
                log.info(
                    "[%6.1fs] dropped %d corrupt task files into inbox/", elapsed, len(record.corrupt_files)
                )
            filled_at = _disk_phase(session, record, elapsed, filled_at, plan)
            if elapsed >= next_check:
                next_check = elapsed + 3.0
                if settled_by_events(session):
                    log.info("[%6.1fs] every issue merged or escalated (events): chaos phase over", elapsed)
                    break
            time.sleep(POLL_KILL_S if kills.waiting(elapsed) else POLL_S)
    finally:
        kills.drop(time.monotonic() - t0)
        record.kills_missed = kills.missed
        session.forge.set_faults(FaultConfig())
        session.disk.free()
        record.chaos_seconds = round(time.monotonic() - t0, 1)
    return record


def _disk_phase(
    session: Session, record: ChaosLog, elapsed: float, filled_at: float | None, plan: ChaosPlan
) -> float | None:
    if session.disk_skipped or record.disk.get("freed_at_s") is not None:
        return filled_at
    if filled_at is None and elapsed >= plan.timing.disk_full_at:
        written = session.disk.fill()
        record.disk.update(
            filled_at_s=round(elapsed, 1), ballast_bytes=written, free_after=session.disk.free_bytes()
        )
        log.info("[%6.1fs] runtime/ is full (%d MiB of ballast)", elapsed, written >> 20)
        return elapsed
    if filled_at is not None and elapsed >= filled_at + plan.timing.disk_full_seconds:
        session.disk.free()
        record.disk["freed_at_s"] = round(elapsed, 1)
        log.info("[%6.1fs] runtime/ has space again", elapsed)
    return filled_at


def settle(session: Session, plan: ChaosPlan, record: ChaosLog) -> None:
    """Clean ticks (no faults, no kills) until every issue is merged or escalated or the settle time is up;
    then stop the ticks, wait for every job process of the run to end, and run one last queue tick (its
    reconcile frees worktrees of dead tasks) and pr_monitor tick."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < plan.timing.settle_seconds:
        if settled_on_forge(session):
            record.settled = True
            break
        time.sleep(3.0)
    session.ticker.stop()
    wait_for_jobs(session, 120.0)
    session.forge.wait_ci_idle(timeout=120)
    session.ticker.tick_now("queue")
    session.ticker.tick_now("pr_monitor")
    wait_for_jobs(session, 120.0)
    session.forge.wait_ci_idle(timeout=120)
    record.settle_seconds = round(time.monotonic() - t0, 1)
    log.info("settle phase over after %.1f s (settled: %s)", record.settle_seconds, record.settled)


def wait_for_jobs(session: Session, timeout: float) -> None:
    """Until no cron job of the run (ticks, queues the dispatcher started detached) is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [p for p in run_processes(session.workdir, session.config_path) if p.job is not None]:
            return
        time.sleep(0.5)


def settled_by_events(session: Session) -> bool:
    from chaos.facts import read_events

    done: set[int] = set()
    for event in read_events(session.runtime / "metrics"):
        if event.get("state") in ("merged", "escalated") and isinstance(event.get("issue"), int):
            done.add(event["issue"])
    return done >= set(session.numbers)


def settled_on_forge(session: Session) -> bool:
    ctx = session.ctx
    repo = ctx.config.repos[0]
    try:
        issues = [ctx.forge.get_issue(repo.full_name, n) for n in session.numbers]
    except GitHubError as exc:
        log.warning("settle check failed: %s", exc)
        return False
    return all(i.state == "closed" or repo.labels.blocked in i.labels for i in issues)


def drop_corrupt_files(inbox: Path) -> tuple[str, ...]:
    """Write the corrupt task files into inbox/ (each complete before it appears: tmp + rename)."""
    for name, data in CORRUPT_FILES.items():
        tmp = inbox.parent / "tmp" / f".{name}.{os.getpid()}"
        tmp.write_bytes(data)
        os.replace(tmp, inbox / name)
    return tuple(CORRUPT_FILES)


def _faults_json(faults: FaultConfig) -> dict:
    return {
        "error_rate": faults.error_rate,
        "rate_limit_rate": faults.rate_limit_rate,
        "secondary_limit_rate": faults.secondary_limit_rate,
        "latency_ms": faults.latency_ms,
    }


def _faults_text(faults: FaultConfig) -> str:
    return " ".join(f"{k}={v}" for k, v in _faults_json(faults).items() if v)
