"""Value types shared by every part of Agent OS.

Everything here is a frozen dataclass or an enum: snapshots read from the edges (GitHub, git, agent CLIs,
the mailbox) are turned into these at the boundary, and pure policies take and return them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class TaskState(StrEnum):
    """A task's state is the mailbox folder its file lives in."""

    INBOX = "inbox"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"
    ESCALATED = "escalated"


class CheckState(StrEnum):
    """The combined verdict of every check run and commit status on one commit."""

    NONE = "none"  # no check runs and no statuses at all
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class Issue:
    repo: str  # "owner/name"
    number: int
    title: str
    body: str
    state: str  # "open" | "closed"
    labels: tuple[str, ...]
    author: str
    updated_at: datetime
    node_id: str = ""
    html_url: str = ""
    ready_by: str | None = None  # who moved it into Ready (board) or labelled it ready, when known


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class PullRequest:
    repo: str
    number: int
    title: str
    body: str
    state: str  # "open" | "closed"
    head_ref: str
    head_sha: str
    base_ref: str
    merged: bool
    mergeable: bool | None  # None while GitHub is still computing it
    mergeable_state: str  # "clean" | "dirty" | "behind" | "blocked" | "unstable" | "unknown" | ...
    author: str
    html_url: str = ""
    node_id: str = ""
    draft: bool = False
    updated_at: datetime | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequiredChecks:
    """The checks the base branch requires, as far as the token may read them: branch protection and rulesets.

    `unreadable` names each source the API would not show (403/404): "cannot tell", which is not "none"."""

    names: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()
    strict: bool = False  # GitHub refuses to merge a head that does not contain the branch's tip


@dataclass(frozen=True)
class CheckRun:
    name: str
    status: str  # "queued" | "in_progress" | "completed" (commit statuses are mapped onto this too)
    conclusion: str | None  # "success" | "failure" | "neutral" | "cancelled" | "timed_out" | ... | None
    summary: str = ""  # output.summary + output.text, or a status's description
    details_url: str = ""


@dataclass(frozen=True)
class ChecksSummary:
    sha: str
    state: CheckState
    runs: tuple[CheckRun, ...] = ()

    @property
    def failing(self) -> tuple[CheckRun, ...]:
        return tuple(
            r
            for r in self.runs
            if r.status == "completed" and r.conclusion not in ("success", "neutral", "skipped")
        )


@dataclass(frozen=True)
class OpenPull:
    """One open pull request as pr_monitor reads it in its repository's query (`Forge.open_pulls`).

    `checks`: its head's check runs and statuses without their logs (`summary` empty; a run's log is read
    when a fix-CI follow-up needs it), or None when the query could not hold them all (read them alone).
    `labels_complete`: False when the PR has more labels than the query returns (read the PR alone)."""

    pr: PullRequest
    base_sha: str | None  # the base branch's tip at the time of the query; None when the branch is gone
    checks: ChecksSummary | None
    labels_complete: bool = True


@dataclass(frozen=True)
class OpenPulls:
    """Every open pull request of a repository, and its open issues carrying the blocked label (None when
    there are more of them than one page holds: ask each issue instead)."""

    pulls: tuple[OpenPull, ...]
    blocked_issues: frozenset[int] | None


@dataclass(frozen=True)
class Board:
    """A Projects v2 board as far as Agent OS uses it: its id and the Status single-select field."""

    project_id: str
    status_field_id: str
    options: tuple[tuple[str, str], ...]  # (option name, option id)

    def option_id(self, name: str) -> str | None:
        for option_name, option_id in self.options:
            if option_name.casefold() == name.casefold():
                return option_id
        return None


@dataclass(frozen=True)
class BoardItem:
    item_id: str
    repo: str  # "owner/name" of the issue
    issue_number: int
    content_node_id: str
    status: str | None
    status_by: str | None = None  # login of the actor who set the Status value (GraphQL `creator`)


@dataclass(frozen=True)
class AttemptRecord:
    """What one earlier attempt at a task did; carried into the next attempt's prompt."""

    attempt: int
    agent: str
    outcome: str  # "complete" | "partial" | "blocked" | "timeout" | "crash" | "contract_error" | ...
    summary: str = ""
    blockers: str = ""
    approaches: str = ""
    files_changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    """One unit of work in the mailbox: an issue at a given generation."""

    repo: str
    issue: int
    generation: int
    branch: str
    title: str
    goal: str
    success_criteria: str
    constraints: str = ""
    context: str = ""
    task_type: str = "default"
    agents: tuple[str, ...] = ()  # fallback chain, first = preferred
    attempt: int = 1
    priority: int = 0  # higher runs first
    created_at: datetime | None = None
    kind: str = "implement"  # "implement" | "fix_ci" | "resolve_conflict" | "follow_up"
    pr_number: int | None = None
    tried_agents: tuple[str, ...] = ()
    prior_attempts: tuple[AttemptRecord, ...] = ()
    notes: str = ""

    @property
    def id(self) -> str:
        return task_id(self.repo, self.issue, self.generation)


def task_id(repo: str, issue: int, generation: int) -> str:
    """The mailbox name of a task: stable, filesystem-safe, unique per (repo, issue, generation)."""
    return f"{repo.replace('/', '__')}__{issue}__g{generation}"


@dataclass(frozen=True)
class AgentResult:
    """The parsed `.agent_result.md` an agent leaves in its worktree."""

    status: str  # "complete" | "partial" | "blocked"
    summary: str
    done: str = ""
    blockers: str = ""
    blocker_code: str = ""
    next_step: str = ""
    files_changed: tuple[str, ...] = ()
    tests_run: str = ""
    decisions: str = ""
    risks: str = ""
    attempted_approaches: str = ""
    unblock_notes: str = ""


@dataclass(frozen=True)
class AgentRun:
    """What running one agent CLI once produced, as read from its process and output."""

    agent: str
    exit_code: int | None  # None when killed
    duration_s: float
    timed_out: bool = False
    stalled: bool = False
    is_error: bool = False
    error: str = ""  # a one-line reason when is_error / timed out / crashed
    rate_limited: bool = False  # quota or rate-limit error reported by the CLI
    retry_after_s: float | None = None  # how long the provider asked us to wait, when the CLI said
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    turns: int | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.timed_out or self.stalled or self.is_error) and self.exit_code == 0
