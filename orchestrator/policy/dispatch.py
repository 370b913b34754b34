"""Dispatch policy: which Ready issues become tasks, in what order, with which agent chain.

Pure: a snapshot of one repo goes in, a list of action values comes out. The dispatcher job executes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orchestrator.policy.requirement_guard import check_requirements
from orchestrator.values.models import Issue, PullRequest, Task

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
    waits_for: tuple[tuple[str, int], ...] = ()  # open issues it depends on (the dispatcher says so once)


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
    pulls: tuple[PullRequest, ...] = ()  # open PRs of the repo (read when there is anything to claim)
    # ("owner/repo", number) → "open" | "closed" for the issues that Ready issues say they depend on
    issue_states: Mapping[tuple[str, int], str] = field(default_factory=dict)


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
    """One action per Ready issue, highest priority first, then oldest issue first.

    Tasks dispatched in one tick get `created_at` one microsecond apart in this order, so the queue (which
    runs oldest first) keeps it: #1 before #10, never the string order of their ids."""
    ordered = sorted(snapshot.ready, key=lambda i: (-priority_of(i.labels), i.number))
    return [
        _decide_one(snapshot, issue, now + timedelta(microseconds=index), sanitize)
        for index, issue in enumerate(ordered)
    ]


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
    waiting = tuple(
        ref
        for ref in dependencies(issue.body, snapshot.repo, issue.number)
        if snapshot.issue_states.get(ref) == "open"
    )
    if waiting:
        names = ", ".join(issue_ref(ref, snapshot.repo) for ref in waiting)
        return Skip(issue, f"depends on {names}, still open: waits until it is closed", waiting)
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


# --- dependencies: "Depends on #N" ---------------------------------------------------------------------------

_DEPENDS = re.compile(
    r"\b(?:depends[ -]on|blocked[ -]by|requires|prerequisites?)\b\s*:?\s*"
    r"(?P<refs>(?:[\w.-]+/[\w.-]+)?#\d+(?:\s*(?:,|;|&|\band\b|\s)\s*(?:[\w.-]+/[\w.-]+)?#\d+)*)",
    re.IGNORECASE,
)
_REF = re.compile(r"(?:(?P<repo>[\w.-]+/[\w.-]+))?#(?P<n>\d+)")


def dependencies(body: str, repo: str, own: int) -> tuple[tuple[str, int], ...]:
    """The issues an issue says it depends on ("Depends on #12", "Blocked by #3 and acme/lib#4",
    "Requires: #5, #6"), outside code fences; `#N` is in the same repo."""
    text = re.sub(r"```.*?(?:```|$)", "", body, flags=re.DOTALL)
    found: dict[tuple[str, int], None] = {}
    for match in _DEPENDS.finditer(text):
        for ref in _REF.finditer(match.group("refs")):
            key = (ref.group("repo") or repo, int(ref.group("n")))
            if key != (repo, own):
                found[key] = None
    return tuple(found)


def issue_ref(ref: tuple[str, int], repo: str) -> str:
    return f"#{ref[1]}" if ref[0] == repo else f"{ref[0]}#{ref[1]}"


# --- claims: the generation to claim, recovered from GitHub alone -----------------------------------------

_GENERATION_SUFFIX = re.compile(r"-g(\d+)$")


def generation_of(branch: str) -> int:
    """`agent/N-slug` is generation 1, `agent/N-slug-gK` is K."""
    match = _GENERATION_SUFFIX.search(branch)
    return int(match.group(1)) if match else 1


@dataclass(frozen=True)
class LeaseView:
    """The newest lease marker on the issue (the picked-up comment and its heartbeat)."""

    host: str
    generation: int
    heartbeat: datetime


@dataclass(frozen=True)
class ClaimFacts:
    """What GitHub (and this host) know about an issue's claims, read just before claiming it."""

    issue: int
    branches: Mapping[str, str]  # the issue's task branches `agent/N-…` → head SHA
    open_pr: int | None  # an open PR from one of those branches
    lease: LeaseView | None
    local_generation: int  # the highest generation this host's mailbox has seen
    this_host: str
    orphan_seen_at: datetime | None  # when this host first saw the newest branch without a lease


@dataclass(frozen=True)
class Claim:
    generation: int
    start_sha: str | None  # None: the base branch's tip
    note: str  # why this generation (a takeover or a recovered claim), "" for a plain dispatch
    event: str  # "dispatched" | "taken_over" | "claim_recovered"


@dataclass(frozen=True)
class Hold:
    reason: str
    orphan_branch: str | None = None  # a claim branch with no lease: remember when it was first seen
    held_by: str = ""  # another host holds a live claim (its branch below): a claim lost to it
    branch: str = ""


def next_claim(facts: ClaimFacts, now: datetime, lease_seconds: int) -> Claim | Hold:
    """Whether to claim an issue (Ready, or In Progress with no task on this host) and as which generation.

    The generation is one past everything GitHub shows (branches, lease markers) and this host remembers,
    so a claim never reuses a generation another host may hold. A claim that is alive — an open PR, or a
    lease whose heartbeat is fresh — is left alone. A claim whose holder stopped beating is taken over; a
    claim branch that never got a lease (its dispatcher died between creating the branch and announcing the
    task) is superseded once it has been seen without one for `lease_seconds`. Both start from the newest
    branch's head, so work already pushed is kept.
    """
    if facts.open_pr is not None:
        return Hold(f"PR #{facts.open_pr} is open for it")
    newest = max(facts.branches, key=lambda b: (generation_of(b), b), default=None)
    newest_gen = generation_of(newest) if newest else 0
    lease = facts.lease
    seen = max(newest_gen, lease.generation if lease else 0, facts.local_generation)
    start = facts.branches[newest] if newest else None
    if lease is not None and lease.generation >= newest_gen:
        if lease.host == facts.this_host or newest is None:
            # our own lease with no task here (it ended: retried, escalated, re-dispatched), or a claim
            # whose branch is gone: a fresh generation from the base
            return Claim(seen + 1, None, "", "dispatched")
        if now - lease.heartbeat <= timedelta(seconds=2 * lease_seconds):
            why = f"held by host {lease.host} (heartbeat {lease.heartbeat:%H:%M:%S} UTC)"
            return Hold(why, held_by=lease.host, branch=newest)
        return Claim(seen + 1, start, _taken_over(lease), "taken_over")
    if newest is None:
        return Claim(seen + 1, None, "", "dispatched")
    if facts.orphan_seen_at is None or now - facts.orphan_seen_at < timedelta(seconds=lease_seconds):
        since = facts.orphan_seen_at or now
        return Hold(
            f"claim branch {newest} has no task lease (first seen {since:%H:%M:%S} UTC; superseded "
            f"after {lease_seconds} s without one)",
            orphan_branch=newest,
        )
    note = (
        f"claim branch {newest} had no task, lease or PR for {lease_seconds} s "
        "(its dispatcher stopped before announcing it)"
    )
    return Claim(seen + 1, start, note, "claim_recovered")


def _taken_over(lease: LeaseView) -> str:
    return f"taken over from host {lease.host} (its lease heartbeat stopped at {lease.heartbeat:%Y-%m-%d %H:%M} UTC)"
