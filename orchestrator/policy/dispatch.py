"""Dispatch policy: which Ready issues become tasks, in what order, with which agent chain.

Pure: a snapshot of one repo goes in, a list of action values comes out. The dispatcher job executes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from orchestrator.models import Issue, Task
from orchestrator.policy.requirement_guard import check_requirements

_PRIORITY_LABELS = {"priority:critical": 3, "priority:high": 2, "priority:medium": 1, "priority:low": -1}


@dataclass(frozen=True)
class Dispatch:
    issue: Issue
    task: Task


@dataclass(frozen=True)
class AskForInfo:
    issue: Issue
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Skip:
    issue: Issue
    reason: str


DispatchAction = Dispatch | AskForInfo | Skip


@dataclass(frozen=True)
class RepoSnapshot:
    """Everything the dispatch decision for one repo needs."""

    repo: str
    ready: tuple[Issue, ...]  # open issues in the Ready column / with the ready label
    in_flight: frozenset[int]  # issue numbers with a task in inbox/ or running/ on this host
    last_generation: Mapping[int, int]  # issue number → highest generation this host has seen
    needs_info_label: str
    blocked_label: str
    trusted_authors: frozenset[str]  # empty = anyone
    routing: Mapping[str, tuple[str, ...]]  # task type → chain; "default" present
    known_agents: frozenset[str]
    issue_body_max_bytes: int


def branch_name(issue: int, title: str, generation: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].rstrip("-") or "task"
    suffix = f"-g{generation}" if generation > 1 else ""
    return f"agent/{issue}-{slug}{suffix}"


def priority_of(labels: Sequence[str]) -> int:
    return max((_PRIORITY_LABELS.get(label.lower(), 0) for label in labels), default=0)


def choose_chain(
    task_type: str,
    labels: Sequence[str],
    section_agent: str,
    routing: Mapping[str, tuple[str, ...]],
    known_agents: Collection[str],
) -> tuple[tuple[str, ...], str]:
    """The fallback chain for a task, and a note when a requested agent was unknown."""
    chain = list(routing.get(task_type) or routing.get("default", ()))
    wanted = [label.split(":", 1)[1].strip() for label in labels if label.lower().startswith("agent:")]
    if section_agent.strip():
        wanted.append(section_agent.strip().split()[0].lower())
    note = ""
    for agent in reversed(wanted):
        if agent in known_agents:
            chain = [agent, *(a for a in chain if a != agent)]
        else:
            note = f"requested agent {agent!r} is not configured; using {', '.join(chain)}"
    return tuple(chain), note


def task_type_of(section_type: str, labels: Sequence[str], routing: Mapping[str, object]) -> str:
    candidates = [section_type.strip().lower()] if section_type.strip() else []
    candidates += [
        label.split(":", 1)[1].strip().lower() for label in labels if label.lower().startswith("type:")
    ]
    for candidate in candidates:
        if candidate in routing:
            return candidate
    return "default"


def is_trusted(login: str | None, trusted: Collection[str]) -> bool:
    """Logins compare as GitHub compares them: case-insensitively."""
    return login is not None and login.casefold() in {t.casefold() for t in trusted}


def untrusted_reason(issue: Issue, trusted: Collection[str]) -> str:
    """Why the issue may not be dispatched: neither its author nor whoever made it Ready is trusted.

    "" when it may be: no trusted list (anyone), a trusted author, or a trusted user moved it to Ready
    (board mode) or labelled it ready (labels mode). Others are left alone, never closed or commented on.
    """
    if not trusted or is_trusted(issue.author, trusted) or is_trusted(issue.ready_by, trusted):
        return ""
    mover = repr(issue.ready_by) if issue.ready_by else "an unknown user"
    return (
        f"author {issue.author!r} is not a trusted author and it was made Ready by {mover}, "
        "who is not trusted either"
    )


def decide(
    snapshot: RepoSnapshot,
    now: datetime,
    sanitize: Callable[[str, int], str] = lambda text, _limit: text,
) -> list[DispatchAction]:
    """One action per Ready issue, highest priority first, then oldest issue first."""
    actions: list[DispatchAction] = []
    ordered = sorted(snapshot.ready, key=lambda i: (-priority_of(i.labels), i.number))
    for issue in ordered:
        actions.append(_decide_one(snapshot, issue, now, sanitize))
    return actions


def _decide_one(
    snapshot: RepoSnapshot, issue: Issue, now: datetime, sanitize: Callable[[str, int], str]
) -> DispatchAction:
    if issue.state != "open":
        return Skip(issue, "issue is closed")
    if issue.number in snapshot.in_flight:
        return Skip(issue, "already in flight on this host")
    if snapshot.blocked_label in issue.labels:
        return Skip(issue, f"labelled {snapshot.blocked_label!r}: waiting for a human")
    untrusted = untrusted_reason(issue, snapshot.trusted_authors)
    if untrusted:
        return Skip(issue, untrusted)
    body = sanitize(issue.body, snapshot.issue_body_max_bytes)
    guard = check_requirements(issue.title, body)
    if not guard.ok:
        if snapshot.needs_info_label in issue.labels:
            return Skip(issue, "still missing requirements; questions already asked")
        return AskForInfo(issue, guard.questions)
    sections = guard.sections
    task_type = task_type_of(sections.task_type, issue.labels, snapshot.routing)
    chain, note = choose_chain(
        task_type, issue.labels, sections.agent, snapshot.routing, snapshot.known_agents
    )
    if not chain:
        return Skip(issue, f"no agent chain configured for task type {task_type!r}")
    generation = snapshot.last_generation.get(issue.number, 0) + 1
    task = Task(
        repo=snapshot.repo,
        issue=issue.number,
        generation=generation,
        branch=branch_name(issue.number, issue.title, generation),
        title=issue.title,
        goal=sections.goal,
        success_criteria=sections.success_criteria,
        constraints=sections.constraints,
        context=sections.context,
        task_type=task_type,
        agents=chain,
        priority=priority_of(issue.labels),
        created_at=now,
        notes=note,
    )
    return Dispatch(issue, task)
