"""How the plan's kills wait for a tick that holds work (chaos/phases.py PlannedKills): the first (the queue)
as long as it takes, the others `AIM_PATIENCE_S` for their own job and then any job, none after `aim_until`,
and kills the chaos phase ended before are not reported as missed."""

from __future__ import annotations

import random
from dataclasses import replace

from chaos.phases import AIM_PATIENCE_S, PlannedKills
from chaos.plan import KILL_TARGETS, QUICK, ChaosPlan
from chaos.ticker import Kill


class Ticker:
    """Which jobs have a working tick right now; records what each kill asked for."""

    def __init__(self) -> None:
        self.working: set[str] = set()
        self.asked: list[tuple[str, ...]] = []

    def kill_working(self, rng: random.Random, at_s: float, jobs: tuple[str, ...]) -> Kill | None:
        self.asked.append(jobs)
        hit = [job for job in jobs if job in self.working]
        return Kill(at_s, 1, hit[0], 2.0, f"{hit[0]} at work") if hit else None


def plan(times: tuple[float, ...], jobs: tuple[str, ...], aim_until: float = 26) -> ChaosPlan:
    return ChaosPlan(1, (), (), times, jobs, replace(QUICK, aim_until=aim_until))


def test_the_first_kill_waits_for_a_working_queue_however_long_it_takes():
    kills, ticker, rng = PlannedKills(plan((3.0,), ("queue",))), Ticker(), random.Random(1)
    ticker.working = {"pr_monitor", "dispatcher"}
    assert kills.step(ticker, rng, 2.0) is None and ticker.asked == []  # not due yet
    for t in (3.0, 8.0, 20.0):
        assert kills.step(ticker, rng, t) is None
    assert set(ticker.asked) == {("queue",)}
    ticker.working.add("queue")
    kill = kills.step(ticker, rng, 21.0)
    assert kill is not None and kill.job == "queue" and kills.due == []


def test_a_later_kill_takes_any_working_job_after_its_patience():
    kills, ticker, rng = PlannedKills(plan((3.0, 6.0), ("queue", "dispatcher"))), Ticker(), random.Random(1)
    ticker.working = {"queue"}
    assert kills.step(ticker, rng, 3.0) is not None
    ticker.working = {"pr_monitor"}
    assert kills.step(ticker, rng, 6.0) is None  # only the dispatcher, which has nothing to lose
    assert ticker.asked[-1] == ("dispatcher",)
    kill = kills.step(ticker, rng, 6.0 + AIM_PATIENCE_S + 0.1)
    assert ticker.asked[-1] == KILL_TARGETS
    assert kill is not None and kill.job == "pr_monitor"


def test_kills_still_waiting_at_aim_until_are_missed_and_unreached_ones_are_not():
    kills, ticker, rng = (
        PlannedKills(plan((3.0, 30.0), ("queue", "pr_monitor"), aim_until=10)),
        Ticker(),
        random.Random(1),
    )
    assert kills.step(ticker, rng, 5.0) is None
    assert kills.step(ticker, rng, 10.5) is None
    assert kills.missed == [{"planned_at_s": 3.0, "job": "queue"}]
    assert kills.due == []

    early = PlannedKills(plan((3.0, 30.0), ("queue", "pr_monitor")))
    ticker.working = {"queue"}
    assert early.step(ticker, rng, 3.0) is not None
    early.drop(12.0)  # every issue settled at 12 s: the 30 s kill was never due
    assert early.missed == []
