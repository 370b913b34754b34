"""The chaos plan: every random choice of a run, drawn up front from one seed.

Which issues exist and how their agent behaves, which API faults are on in which phase, when a job is killed
and when the disk fills are all fixed by `--seed`. What the faults hit is not: the jobs are real processes,
so the interleaving with them varies from run to run (the log of a run says what was hit).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from orchestrator.sandbox.faults import FaultConfig

# How the scripted agent treats an issue (chaos/agent.py reads it back from the issue body).
BEHAVIOURS = ("steady", "flaky", "partial", "slow", "blocked")
_WEIGHTS = (0.35, 0.2, 0.2, 0.17, 0.08)


@dataclass(frozen=True)
class ChaosIssue:
    key: str  # e.g. "c07": names the note file the agent writes
    behaviour: str

    def seed_data(self) -> dict[str, Any]:
        body = (
            f"## Goal\nWrite the handbook note `chaos_notes/{self.key}.md` for chaos case {self.key}.\n\n"
            f"## Success Criteria\n- `chaos_notes/{self.key}.md` exists and names case {self.key}\n\n"
            f"## Context\nchaos-key: {self.key} chaos-behaviour: {self.behaviour}\n"
        )
        return {"title": f"Chaos note {self.key} ({self.behaviour})", "status": "Ready", "body": body}


@dataclass(frozen=True)
class FaultPhase:
    start_s: float  # seconds after the chaos started
    name: str
    faults: FaultConfig


@dataclass(frozen=True)
class Timing:
    chaos_seconds: float  # faults on, then the settle phase
    settle_seconds: float  # clean ticks at most this long
    tick_seconds: dict[str, float]  # job → seconds between tick starts
    kill_every: tuple[float, float]  # a kill -9 every uniform(a, b) seconds
    kill_until: float  # no kill planned after this (a recovered task backs off 15–45 s before its retry)
    aim_until: float  # a planned kill waits for a tick that holds work until this, then is dropped (missed)
    disk_full_at: float
    disk_full_seconds: float
    corrupt_at: float


@dataclass(frozen=True)
class ChaosPlan:
    seed: int
    issues: tuple[ChaosIssue, ...]
    phases: tuple[FaultPhase, ...]
    kill_times: tuple[float, ...]
    kill_jobs: tuple[str, ...]  # which job each kill aims at (any live tick when that job has none)
    timing: Timing

    def phase_at(self, elapsed: float) -> FaultPhase:
        current = self.phases[0]
        for phase in self.phases:
            if phase.start_s <= elapsed:
                current = phase
        return current


QUICK = Timing(
    chaos_seconds=30,
    settle_seconds=150,
    tick_seconds={"dispatcher": 1.5, "queue": 1.0, "pr_monitor": 1.5},
    kill_every=(3, 6),
    kill_until=14,
    aim_until=26,
    disk_full_at=12,
    disk_full_seconds=4,
    corrupt_at=3,
)
FULL = Timing(
    chaos_seconds=540,
    settle_seconds=240,
    tick_seconds={"dispatcher": 2.0, "queue": 1.5, "pr_monitor": 2.0},
    kill_every=(6, 15),
    kill_until=420,
    aim_until=480,
    disk_full_at=200,
    disk_full_seconds=25,
    corrupt_at=20,
)


def make_plan(seed: int, issue_count: int, timing: Timing) -> ChaosPlan:
    rng = random.Random(seed)
    issues = tuple(ChaosIssue(f"c{i:02d}", rng.choices(BEHAVIOURS, _WEIGHTS)[0]) for i in range(issue_count))
    phases = _phases(rng, timing)
    kill_times = _kill_times(rng, timing)
    # the first kill aims at the queue, so even a short run kills an agent's queue mid-task
    kill_jobs = ("queue", *rng.choices(KILL_TARGETS, KILL_WEIGHTS, k=max(len(kill_times) - 1, 0)))
    return ChaosPlan(seed, issues, phases, kill_times, kill_jobs[: len(kill_times)], timing)


KILL_TARGETS = ("queue", "dispatcher", "pr_monitor")
KILL_WEIGHTS = (0.4, 0.3, 0.3)


def _phases(rng: random.Random, timing: Timing) -> tuple[FaultPhase, ...]:
    """Fault phases cycling through the kinds, each 10–30 % with its own rate, then off for the settle."""
    kinds = ("server errors", "rate limits (429)", "secondary limits", "mixed + latency", "api timeouts")
    length = max(timing.chaos_seconds / 8, 5.0)
    phases = []
    start = 0.0
    index = 0
    while start < timing.chaos_seconds:
        kind = kinds[index % len(kinds)]
        phases.append(FaultPhase(start, kind, _faults(kind, rng, length)))
        start += length if kind != "api timeouts" else min(length, 6.0)
        index += 1
    phases.append(FaultPhase(timing.chaos_seconds, "off (settle)", FaultConfig()))
    return tuple(phases)


def _faults(kind: str, rng: random.Random, length: float) -> FaultConfig:
    rate = round(rng.uniform(0.10, 0.30), 2)
    seed = rng.randrange(1 << 30)
    if kind == "server errors":
        return FaultConfig(error_rate=rate, error_statuses=(500, 502, 503), seed=seed)
    if kind == "rate limits (429)":
        return FaultConfig(rate_limit_rate=rate, retry_after_seconds=1, seed=seed)
    if kind == "secondary limits":
        return FaultConfig(secondary_limit_rate=rate, retry_after_seconds=1, seed=seed)
    if kind == "api timeouts":  # every request answers later than the client's timeout
        return FaultConfig(latency_ms=API_TIMEOUT_SECONDS * 1000 + 500, seed=seed)
    third = round(rate / 3, 3)
    return FaultConfig(
        error_rate=third,
        rate_limit_rate=third,
        secondary_limit_rate=third,
        retry_after_seconds=1,
        latency_ms=rng.randrange(100, 400),
        seed=seed,
    )


API_TIMEOUT_SECONDS = 3  # github.request_timeout_seconds in the chaos config


def _kill_times(rng: random.Random, timing: Timing) -> tuple[float, ...]:
    times = []
    t = rng.uniform(*timing.kill_every)
    while t < min(timing.chaos_seconds, timing.kill_until):
        times.append(round(t, 2))
        t += rng.uniform(*timing.kill_every)
    return tuple(times)
