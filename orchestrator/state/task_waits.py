"""Why a task in the inbox is not run yet: backoffs, agent cooldowns, parking.

- A task's wait is a field of its record (`orchestrator.state.task_records`, `runtime/state/tasks/<id>.json`):
  a `Wait` — a backoff after a transient failure or a crash recovery (`until`), a rate-limit wait, or a parked
  task (run again once one of the `issues` it names closes — or, naming none, once the base branch moves away
  from `base_sha` — or `give_up_at` passes). It goes when it is over, or when the task reaches a terminal
  folder (the mailbox clears a finished task's live state).
- `agent_cooldowns.json` (in `runtime/state/`): agent name → until when it rests after a rate limit. Per
  agent, not per task, so not in a task record.

The queue asks `hold_back` before it claims a task, so a waiting task is never claimed, rewritten or
spun on; `describe` gives the operator's view (`agentos status`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from orchestrator.github.errors import GitHubError
from orchestrator.policy.retry import Wait, all_cooling, wait_over
from orchestrator.state.store import read_json, update_json
from orchestrator.state.task_records import TaskRecords
from orchestrator.values.models import Task

if TYPE_CHECKING:
    from pathlib import Path

    from orchestrator.state.runtime import JobContext

COOLDOWNS_FILE = "agent_cooldowns.json"


def records_of(state_dir: Path) -> TaskRecords:
    """The task records kept under `runtime/state/` (see `Mailbox.records`)."""
    return TaskRecords(state_dir / "tasks")


def load_waits(records: TaskRecords, task_ids: Iterable[str] | None = None) -> dict[str, Wait]:
    """Task id → its wait, for `task_ids` (default: every task with a record)."""
    wanted = records.ids() if task_ids is None else task_ids
    found = records.load_many(wanted)
    return {task_id: r.wait for task_id, r in found.items() if r.wait is not None}


def set_wait(ctx: JobContext, task_id: str, wait: Wait) -> None:
    ctx.mailbox.records.update(task_id, lambda r: dataclasses.replace(r, wait=wait))


def clear_waits(ctx: JobContext, task_ids: Iterable[str]) -> None:
    records = ctx.mailbox.records
    present = records.ids()
    for task_id in task_ids:
        if task_id in present:
            records.update(task_id, lambda r: dataclasses.replace(r, wait=None))


def cooldowns(state_dir: Path) -> dict[str, datetime]:
    raw = read_json(state_dir / COOLDOWNS_FILE, dict)
    return {agent: datetime.fromisoformat(until) for agent, until in raw.items()}


def set_cooldown(ctx: JobContext, agent: str, until: datetime) -> None:
    def put(data: dict[str, str]) -> dict[str, str]:
        known = data.get(agent)
        if known is None or datetime.fromisoformat(known) < until:
            data[agent] = until.isoformat()
        return data

    update_json(ctx.paths.state / COOLDOWNS_FILE, put)


@dataclass
class _BaseTips:
    """Base branch tips and issue states, read at most once per hold_back call (conditional requests)."""

    ctx: JobContext
    tips: dict[str, str | None]
    closed: dict[tuple[str, int], bool]

    def tip(self, repo: str) -> str | None:
        if repo not in self.tips:
            try:
                base = self.ctx.config.repo(repo).base_branch
                self.tips[repo] = self.ctx.forge.get_branch_sha(repo, base)
            except (KeyError, GitHubError):
                self.tips[repo] = None
        return self.tips[repo]

    def closed_of(self, repo: str, numbers: Iterable[int]) -> set[int]:
        found = set()
        for number in numbers:
            key = (repo, number)
            if key not in self.closed:
                try:
                    self.closed[key] = self.ctx.forge.get_issue(repo, number).state == "closed"
                except GitHubError:
                    self.closed[key] = False
            if self.closed[key]:
                found.add(number)
        return found


def hold_back(ctx: JobContext, tasks: Iterable[Task]) -> dict[str, str]:
    """Task id → why it must not be claimed now, for the given inbox tasks. Waits that are over are
    forgotten (one write per such task; none when nothing is over); a finished task's wait is cleared by
    the mailbox when it reaches its terminal folder."""
    now = ctx.clock()
    tasks = list(tasks)
    waits = load_waits(ctx.mailbox.records, (t.id for t in tasks))
    resting = cooldowns(ctx.paths.state)
    tips = _BaseTips(ctx, {}, {})
    held: dict[str, str] = {}
    over: list[str] = []
    for task in tasks:
        wait = waits.get(task.id)
        if wait is not None:
            parked = wait.base_sha is not None and (wait.until is None or now >= wait.until)
            tip = tips.tip(task.repo) if parked else None
            closed = tips.closed_of(task.repo, wait.issues) if parked else set()
            if not wait_over(wait, now, tip, closed):
                held[task.id] = wait.reason
                continue
            over.append(task.id)
        if all_cooling(task.agents, resting, now):
            back = min(resting[a] for a in task.agents)
            held[task.id] = f"every agent of its chain is cooling down (until {back:%H:%M} UTC)"
    clear_waits(ctx, over)
    return held


def describe(state_dir: Path, now: datetime) -> Mapping[str, str]:
    """Task id → one line for the operator: what the task waits for (read-only)."""
    lines = {}
    for task_id, wait in load_waits(records_of(state_dir)).items():
        parts = [wait.reason]
        if wait.until is not None and wait.until > now:
            parts.append(f"until {wait.until:%Y-%m-%d %H:%M} UTC")
        if wait.issues:
            parts.append("until " + " or ".join(f"#{n}" for n in wait.issues) + " closes")
        elif wait.base_sha:
            parts.append(f"until the base branch moves from {wait.base_sha[:8]}")
        lines[task_id] = "; ".join(parts)
    return lines
