"""Cron, sped up: each core-loop job started through `bin/cron-run` on its own schedule, whether or not its
previous tick has finished (overlapping ticks meet the job lock), and `kill -9` of a live tick that holds work
(chaos/aim.py says which do)."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from chaos.aim import World, work_of
from chaos.procs import run_processes
from orchestrator.edges import process

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
CRON_RUN = ROOT / "bin" / "cron-run"
TICK_TIMEOUT_S = 300.0
MAX_TICKS_IN_FLIGHT = 4  # per job: more would only queue behind the job lock and load the machine


@dataclass(frozen=True)
class Kill:
    at_s: float
    pid: int
    job: str
    age_s: float
    work: str = ""  # what the tick was doing (chaos/aim.py)


@dataclass
class TickStats:
    started: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(
        default_factory=Counter
    )  # "queue ok", "queue skipped", "queue killed", ...
    crashes: list[str] = field(default_factory=list)  # last line of each traceback a tick died with
    kills: list[Kill] = field(default_factory=list)


class Ticker:
    """Starts ticks of `schedule`'s jobs until `stop()`; `kill_working()` kills one live tick that holds work
    with SIGKILL."""

    def __init__(
        self, config_path: Path, env: dict[str, str], log_path: Path, workdir: Path, world: World
    ) -> None:
        self.config_path = config_path
        self.world = world
        self.env = {**env, "AGENT_OS_CONFIG": str(config_path)}
        self.log_path = log_path
        self.workdir = workdir
        self.stats = TickStats()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._in_flight: Counter[str] = Counter()

    # --- ticks ------------------------------------------------------------------------------------------
    def start(self, schedule: dict[str, float]) -> None:
        self._stop.clear()
        for job, every in schedule.items():
            thread = threading.Thread(
                target=self._schedule, args=(job, every), name=f"cron-{job}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, wait_s: float = TICK_TIMEOUT_S) -> None:
        """Start no more ticks and wait for the running ones to end."""
        self._stop.set()
        deadline = time.monotonic() + wait_s
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]

    def tick_now(self, job: str) -> int | None:
        """One tick of `job`, waited for (the settle phase); its exit code (None when killed by a timeout)."""
        return self._tick(job)

    def _schedule(self, job: str, every: float) -> None:
        while not self._stop.is_set():
            with self._lock:
                busy = self._in_flight[job] >= MAX_TICKS_IN_FLIGHT
            if not busy:
                worker = threading.Thread(target=self._tick, args=(job,), name=f"tick-{job}", daemon=True)
                worker.start()
                self._threads.append(worker)
            self._stop.wait(every)

    def _tick(self, job: str) -> int | None:
        with self._lock:
            self._in_flight[job] += 1
            self.stats.started[job] += 1
        started = time.monotonic()
        try:
            result = process.run(
                [str(CRON_RUN), job], cwd=ROOT, env=self.env, timeout=TICK_TIMEOUT_S, max_output=256 * 1024
            )
        finally:
            with self._lock:
                self._in_flight[job] -= 1
        outcome = _outcome(result)
        with self._lock:
            self.stats.outcomes[f"{job} {outcome}"] += 1
            if outcome == "crashed":
                crash = f"{job}: {_last_line(result.stderr)}"
                if crash not in self.stats.crashes:  # the first traceback of each kind, for the post-mortem
                    with (self.workdir / "tick-crashes.log").open("a") as handle:
                        handle.write(f"=== {time.time():.3f} {crash}\n{process.tail(result.stderr, 6000)}\n")
                self.stats.crashes.append(crash)
        self._log(
            f"{time.time():.3f} {job} {outcome} rc={result.returncode} {time.monotonic() - started:.1f}s "
            f"{_last_line(result.stderr)}"
        )
        return result.returncode

    # --- kill -9 ----------------------------------------------------------------------------------------
    def kill_working(self, rng: random.Random, at_s: float, jobs: tuple[str, ...]) -> Kill | None:
        """SIGKILL one live tick of `jobs` that holds work right now (a task in a worker slot, a pr_monitor
        with open PRs, a dispatcher with issues to claim: chaos/aim.py); None when no such tick runs. Only
        the job process dies: its agents, git and test processes are left running, as after a real crash."""
        processes = run_processes(self.workdir, self.config_path, self.world.mailbox.parent / "locks")
        working = [
            (tick, work)
            for tick in processes
            if tick.job in jobs and (work := work_of(tick, processes, self.world)) is not None
        ]
        if not working:
            return None
        victim, work = rng.choice(working)
        try:
            os.kill(victim.pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        kill = Kill(at_s, victim.pid, victim.job or "?", round(victim.age_s, 1), work)
        with self._lock:
            self.stats.kills.append(kill)
        self._log(
            f"{time.time():.3f} kill -9 pid={victim.pid} job={victim.job} age={victim.age_s:.1f}s: {work}"
        )
        return kill

    def _log(self, line: str) -> None:
        with self._lock, self.log_path.open("a") as handle:
            handle.write(line + "\n")


def _outcome(result: process.ProcessResult) -> str:
    if result.returncode == -signal.SIGKILL:
        return "killed"
    if result.returncode is None:
        return "timed out"
    if "Traceback (most recent call last)" in result.stderr:
        return "crashed"
    if result.returncode == 0:
        return "skipped" if "already running" in result.stderr else "ok"
    return "failed"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
