"""Why a task in the inbox is not run yet, kept in `runtime/state/`: backoffs, agent cooldowns, parking.

- `task_waits.json`: task id → a `policy.retry.Wait` — a backoff after a transient failure or a crash
  recovery (`until`), a rate-limit wait, or a parked task (run again once one of the `issues` it names
  closes — or, naming none, once the base branch moves away from `base_sha` — or `give_up_at` passes).
- `agent_cooldowns.json`: agent name → until when it rests after a rate limit.

The queue asks `hold_back` before it claims a task, so a waiting task is never claimed, rewritten or
spun on; `describe` gives the operator's view (`agentos status`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator.github.errors import GitHubError
from orchestrator.policy.retry import Wait, all_cooling, wait_over
from orchestrator.state.store import read_json, update_json
from orchestrator.values.models import Task

if TYPE_CHECKING:
    from pathlib import Path

    from orchestrator.state.runtime import JobContext

WAITS_FILE = "task_waits.json"
COOLDOWNS_FILE = "agent_cooldowns.json"


def _encode(wait: Wait) -> dict[str, Any]:
    return {
        "reason": wait.reason,
        "until": wait.until.isoformat() if wait.until else None,
        "base_sha": wait.base_sha,
        "issues": list(wait.issues),
        "give_up_at": wait.give_up_at.isoformat() if wait.give_up_at else None,
    }


def _decode(raw: object) -> Wait | None:
    if isinstance(raw, str):  # the older format: an ISO time only
        return Wait("backoff", until=datetime.fromisoformat(raw))
    if not isinstance(raw, dict):
        return None
    try:
        return Wait(
            reason=str(raw.get("reason", "")),
            until=datetime.fromisoformat(raw["until"]) if raw.get("until") else None,
            base_sha=raw.get("base_sha") or None,
            issues=tuple(int(n) for n in raw.get("issues") or ()),
            give_up_at=datetime.fromisoformat(raw["give_up_at"]) if raw.get("give_up_at") else None,
        )
    except (TypeError, ValueError):
        return None


def load_waits(state_dir: Path) -> dict[str, Wait]:
    raw = read_json(state_dir / WAITS_FILE, dict)
    waits = {task_id: _decode(value) for task_id, value in raw.items()}
    return {task_id: wait for task_id, wait in waits.items() if wait is not None}


def set_wait(ctx: JobContext, task_id: str, wait: Wait) -> None:
    def put(data: dict[str, Any]) -> dict[str, Any]:
        data[task_id] = _encode(wait)
        return data

    update_json(ctx.paths.state / WAITS_FILE, put)


def clear_waits(ctx: JobContext, task_ids: Iterable[str]) -> None:
    gone = set(task_ids)
    if not gone:
        return

    def drop(data: dict[str, Any]) -> dict[str, Any]:
        return {task_id: value for task_id, value in data.items() if task_id not in gone}

    update_json(ctx.paths.state / WAITS_FILE, drop)


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


def hold_back(ctx: JobContext, tasks: Iterable[Task], live: Iterable[str] = ()) -> dict[str, str]:
    """Task id → why it must not be claimed now, for the given inbox tasks. Waits that are over, and
    waits of tasks neither given nor `live` (running), are forgotten in one write."""
    now = ctx.clock()
    tasks = list(tasks)
    waits = load_waits(ctx.paths.state)
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
    known = {t.id for t in tasks} | set(live)
    clear_waits(ctx, [*over, *(task_id for task_id in waits if task_id not in known)])
    return held


def describe(state_dir: Path, now: datetime) -> Mapping[str, str]:
    """Task id → one line for the operator: what the task waits for (read-only)."""
    lines = {}
    for task_id, wait in load_waits(state_dir).items():
        parts = [wait.reason]
        if wait.until is not None and wait.until > now:
            parts.append(f"until {wait.until:%Y-%m-%d %H:%M} UTC")
        if wait.issues:
            parts.append("until " + " or ".join(f"#{n}" for n in wait.issues) + " closes")
        elif wait.base_sha:
            parts.append(f"until the base branch moves from {wait.base_sha[:8]}")
        lines[task_id] = "; ".join(parts)
    return lines
