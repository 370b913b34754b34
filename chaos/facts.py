"""Everything the invariants look at, read once after the run has settled: from the forge (issues, comments,
PRs, branches, board) and from this host (mailbox, leases, worktree pool, events, /proc)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

from chaos.procs import RunProcess, run_processes
from orchestrator.executors.worktrees import pool_for
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import TaskState

_AGENT_BRANCH = re.compile(r"^agent/(\d+)-")


@dataclass(frozen=True)
class PullFact:
    number: int
    issue: int
    head_ref: str
    state: str
    merged: bool
    created_at: datetime
    closed_at: datetime | None
    closed_with_reason: bool  # an Agent OS comment on it says why it was closed (wedged / superseded)


@dataclass(frozen=True)
class IssueFact:
    number: int
    state: str
    labels: tuple[str, ...]
    board_status: str | None
    escalation_reason: str | None  # from the last Agent OS escalation comment
    agent_branches: tuple[str, ...]
    tasks: dict[str, str]  # task id → mailbox folder
    leases: tuple[str, ...]  # running task ids whose record holds a lease


@dataclass(frozen=True)
class RunFacts:
    issues: tuple[IssueFact, ...]
    pulls: tuple[PullFact, ...]
    pool_owners: dict[str, str | None]  # worktree slot → task id holding it
    running_tasks: frozenset[str]
    processes: tuple[RunProcess, ...]
    corrupt_files: tuple[str, ...]  # names dropped into inbox/
    quarantined: tuple[str, ...]  # of those, the ones found in failed/ with the parse error appended
    events: tuple[dict, ...]
    scratch_left: tuple[str, ...] = ()  # commit-build scratch dirs in the trusted clones (agentos-tmp/*)


def collect(
    ctx: JobContext,
    api_url: str,
    token: str,
    numbers: tuple[int, ...],
    project: int,
    workdir: Path,
    config_path: Path,
    corrupt_files: tuple[str, ...],
) -> RunFacts:
    repo = ctx.config.repos[0]
    pulls = tuple(_pulls(api_url, token, repo.full_name))
    board = ctx.forge.get_board(repo.owner, project)
    status = {item.issue_number: item.status for item in ctx.forge.board_items(board)}
    tasks: dict[int, dict[str, str]] = {}
    for state in TaskState:
        for entry in ctx.mailbox.list(state):
            if entry.task is not None:
                tasks.setdefault(entry.task.issue, {})[entry.id] = state.value
    running = frozenset(e.id for e in ctx.mailbox.list(TaskState.RUNNING))
    held = ctx.mailbox.records.load_many(running)  # the lease is a field of the task's record
    leases = {task_id for task_id, record in held.items() if record.lease is not None}
    issues = []
    for n in numbers:
        issue = ctx.forge.get_issue(repo.full_name, n)
        mine = tasks.get(n, {})
        issues.append(
            IssueFact(
                number=n,
                state=issue.state,
                labels=issue.labels,
                board_status=status.get(n),
                escalation_reason=_escalation_reason(ctx, repo.full_name, n),
                agent_branches=tuple(sorted(ctx.forge.matching_branches(repo.full_name, f"agent/{n}-"))),
                tasks=mine,
                leases=tuple(sorted(leases & set(mine))),
            )
        )
    failed = ctx.paths.mailbox / "failed"
    quarantined = tuple(
        name
        for name in corrupt_files
        if any("malformed task file" in _text(p) for p in failed.glob(f"{Path(name).stem}*.md"))
    )
    return RunFacts(
        issues=tuple(issues),
        pulls=pulls,
        pool_owners=pool_for(ctx, repo).owners(),
        running_tasks=running,
        processes=tuple(run_processes(workdir, config_path)),
        corrupt_files=corrupt_files,
        quarantined=quarantined,
        events=tuple(read_events(ctx.paths.metrics)),
        scratch_left=tuple(
            str(p.relative_to(ctx.paths.root)) for p in sorted(ctx.paths.root.glob("clones/*/agentos-tmp/*"))
        ),
    )


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _escalation_reason(ctx: JobContext, repo: str, number: int) -> str | None:
    reason = None
    for comment in ctx.forge.list_comments(repo, number):
        if "<!-- agent-os:escalated" not in comment.body:
            continue
        for line in comment.body.splitlines():
            if line.startswith("Reason:") and line.removeprefix("Reason:").strip():
                reason = line.removeprefix("Reason:").strip()
    return reason


def _pulls(api_url: str, token: str, repo: str) -> list[PullFact]:
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    found = []
    page = 1
    while True:
        batch = session.get(
            f"{api_url}/repos/{repo}/pulls",
            params={"state": "all", "per_page": "100", "page": str(page)},
            timeout=30,
        ).json()
        for item in batch:
            match = _AGENT_BRANCH.match(item["head"]["ref"])
            if match is None:
                continue
            comments_url = f"{api_url}/repos/{repo}/issues/{item['number']}/comments"
            comments = session.get(comments_url, params={"per_page": "100"}, timeout=30).json()
            found.append(
                PullFact(
                    number=item["number"],
                    issue=int(match.group(1)),
                    head_ref=item["head"]["ref"],
                    state=item["state"],
                    merged=bool(item.get("merged_at")),
                    created_at=_time(item["created_at"]),
                    closed_at=_time(item["closed_at"]) if item.get("closed_at") else None,
                    closed_with_reason=any(
                        "<!-- agent-os:wedged" in c["body"] or "superseded" in c["body"].lower()
                        for c in comments
                    ),
                )
            )
        if len(batch) < 100:
            return found
        page += 1


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def read_events(metrics_dir: Path) -> list[dict]:
    """Every event line of every month (raw, so an unparseable line is reported, not skipped)."""
    from orchestrator.state.metrics import month_files, read_file_lines

    events = []
    for month in month_files(metrics_dir):
        for path in month.paths:
            for _, raw in read_file_lines(path):
                line = raw.decode("utf-8", errors="replace").strip()
                if not line:
                    continue
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    events.append({"state": "unparseable_event_line", "reason": line[:200]})
    return events
