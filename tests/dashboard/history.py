"""A synthetic but realistic event history: tasks dispatched, attempted by a chain of agents, PRs opened,
merged or escalated, as the jobs write them (merged events carry no task id; follow-ups name only the PR)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from orchestrator.state.metrics import Event, events_dir, events_path, month_of

AGENTS = ("claude", "codex", "gemini")
FAILURES = ("partial", "timeout", "crash", "contract_error", "tests_failed")


def synthetic_events(count: int, now: datetime, days: int = 20, seed: int = 7) -> list[Event]:
    """Exactly `count` events, time-sorted, none after `now`: tasks starting within `days` before `now` (the
    oldest events are dropped to make the count exact, as a rotated log would)."""
    rng = random.Random(seed)
    events: list[Event] = []
    number = 0
    while len(events) < count:
        number += 1
        start = now - timedelta(seconds=rng.uniform(0, days * 86400))
        events.extend(e for e in _task_events(rng, number, start) if e.ts <= now)
    return sorted(events, key=lambda e: e.ts)[-count:] if count else []


def _task_events(rng: random.Random, number: int, start: datetime) -> Iterator[Event]:
    repo = rng.choice(("acme/api", "acme/web"))
    task = f"{repo.replace('/', '__')}__{number}__g1"
    chain = rng.sample(AGENTS, k=3)
    ts = start
    yield Event(ts, "dispatched", task, repo, number, chain[0], f"chain {', '.join(chain)}")
    for attempt, agent in enumerate(chain * 2, start=1):
        ts += timedelta(seconds=rng.uniform(5, 60))
        yield Event(ts, "agent_started", task, repo, number, agent)
        run_s = rng.uniform(60, 5400)
        ts += timedelta(seconds=run_s)
        state = "complete" if rng.random() < 0.6 else rng.choice(FAILURES)
        cost = round(rng.uniform(0.01, 2.5), 4)
        yield Event(ts, state, task, repo, number, agent, "", round(run_s, 3), cost, {"attempt": attempt})
        if state == "complete":
            yield from _after_pr(rng, ts, task, repo, number, agent, number + 10000)
            return
        if attempt >= 4:
            break
    yield Event(ts + timedelta(seconds=2), "escalated", task, repo, number, "", "chain exhausted")


def _after_pr(
    rng: random.Random, ts: datetime, task: str, repo: str, number: int, agent: str, pr: int
) -> Iterator[Event]:
    ts += timedelta(seconds=rng.uniform(5, 60))
    yield Event(ts, "pr_opened", task, repo, number, agent, f"PR #{pr}", extra={"pr": pr})
    if rng.random() < 0.2:
        ts += timedelta(seconds=rng.uniform(60, 3600))
        yield Event(ts, "rebased", "", repo, None, "", "", extra={"pr": pr})
    if rng.random() < 0.9:
        ts += timedelta(seconds=rng.uniform(300, 4 * 86400 if rng.random() < 0.1 else 7200))
        yield Event(ts, "merged", "", repo, number, "", "", extra={"pr": pr})


def write_events(metrics_dir: Path, events: list[Event]) -> Path:
    """Write the whole history at once, one file per month (record_event's lock per line is too slow for
    100k lines); returns the events folder."""
    by_month: dict[str, list[str]] = {}
    for event in events:
        by_month.setdefault(month_of(event.ts), []).append(event.to_json() + "\n")
    events_dir(metrics_dir).mkdir(parents=True, exist_ok=True)
    for month, lines in by_month.items():
        with events_path(metrics_dir, month).open("a", encoding="utf-8") as handle:
            handle.writelines(lines)
    return events_dir(metrics_dir)
