"""`agentos replay`: a repository's real history through the whole loop, on the sandbox forge.

1. read the next N first-parent commits after REV from the user's repository (history.py);
2. start a sandbox forge, seed it with the real history up to REV (sandbox/seed_git.py) and one issue per
   commit, written as a user would (title = the commit's subject, body = its message body);
3. write the replay agent's data file (changes.py) and a config: labels board mode, the built-in replay
   agent (agent.py) as the only agent, the repository's own test command as the sandbox CI and Agent OS's
   test step;
4. run dispatcher → queue → pr_monitor ticks, making the issues Ready in K waves (the next wave once every
   issue of the previous one has settled), until every issue is merged or escalated (or sent back for
   information), or the time limit;
5. report (report.py).

The replay plays the maintainer who accepted these changes upstream: a PR the verifier holds for a human
(protected path, removed tests, a large diff) is approved with the approval label (`approve_held`), and the
report says which and why.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from orchestrator.config import parse_config
from orchestrator.edges.log import setup_logging
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.jobs.entry import build_context
from orchestrator.replay.accounting import IssueCostForge
from orchestrator.replay.changes import write_changes
from orchestrator.replay.history import Commit, History, git, read_history
from orchestrator.replay.observe import ForgeObserver
from orchestrator.sandbox.ci import CHECK_NAME
from orchestrator.sandbox.client_config import client_environ, github_section
from orchestrator.state import metrics
from orchestrator.state.runtime import JobContext

AGENT_SCRIPT = Path(__file__).resolve().parent / "agent.py"
READY = "ready"
APPROVAL_LABEL = "agent-os:approved"
SETTLED = ("merged", "escalated", "needs_info")


class ReplayError(Exception):
    """The replay could not go on; the message says what failed."""


@dataclass(frozen=True)
class ReplayOptions:
    repo: Path
    rev: str
    count: int
    workdir: Path
    waves: int = 1
    workers: int = 2
    test_command: str | None = None  # None: detected (pytest when the repository has tests)
    until: str = "HEAD"
    max_seconds: float = 3600.0
    approve_held: bool = True


@dataclass
class Progress:
    """What the replay saw while the loop ran (the rest is read from events at the end)."""

    heads: dict[int, set[str]] = field(default_factory=dict)  # PR number → every head SHA it had
    approved: dict[int, str] = field(default_factory=dict)  # PR number → the findings a human approved
    waves_released: list[float] = field(default_factory=list)
    ticks: int = 0
    timed_out: bool = False
    stuck: dict[int, int] = field(default_factory=dict)  # issue → the settled, unmerged issue it waits for


@dataclass
class ReplaySession:
    options: ReplayOptions
    history: History
    issue_of: dict[str, int]  # commit sha → issue number
    waves: list[list[int]]
    test_command: str | None
    ctx: JobContext
    observer: ForgeObserver
    costs: IssueCostForge
    repo: str
    forge: Any  # SandboxForge
    progress: Progress = field(default_factory=Progress)
    started: float = field(default_factory=time.monotonic)


def detect_test_command(repo: Path, rev: str) -> str | None:
    """pytest when the tree at `rev` has tests (a tests/ or test/ folder, test_*.py, conftest.py)."""
    names = git(repo, "ls-tree", "-r", "--name-only", rev).splitlines()
    pattern = re.compile(r"(^|/)(tests?/|test_[^/]*\.py$|[^/]*_test\.py$|conftest\.py$)")
    if any(pattern.search(name) for name in names):
        return f"{sys.executable} -m pytest -q -p no:cacheprovider"
    return None


def issue_text(commit: Commit) -> dict[str, Any]:
    """The issue a user would have written for this change: the subject as title, the body as body."""
    return {"title": commit.subject or f"Change {commit.sha[:12]}", "body": commit.body}


def plan_waves(numbers: list[int], waves: int) -> list[list[int]]:
    """Split the issues, in order, into `waves` groups of (nearly) equal size."""
    waves = max(1, min(waves, len(numbers) or 1))
    size, extra = divmod(len(numbers), waves)
    out, start = [], 0
    for i in range(waves):
        end = start + size + (1 if i < extra else 0)
        out.append(numbers[start:end])
        start = end
    return [w for w in out if w]


def replay_config(
    options: ReplayOptions, forge: Any, clone_url: str, test_command: str | None
) -> dict[str, Any]:
    name = repo_key(options.repo)
    repo: dict[str, Any] = {
        "key": name,
        "owner": forge.admin_login,
        "name": name,
        "clone_url": clone_url,
        "base_branch": "main",
        "test_command": test_command or "true",
        "test_timeout_seconds": 900,
        "board": {"mode": "labels"},
        "auto_merge_without_checks": test_command is None,
    }
    if test_command is not None:
        repo["required_checks"] = [CHECK_NAME]  # the sandbox CI is the one required check: no grace period
    return {
        "runtime_dir": str(options.workdir / "runtime"),
        "github": github_section(forge, request_timeout_seconds=30),
        "git": {"author_name": "Agent OS replay", "author_email": "replay@agent-os.invalid"},
        "repos": [repo],
        "agents": {
            "replay": {
                "kind": "script",
                "command": [sys.executable, str(AGENT_SCRIPT), str(changes_path(options))],
                "timeout_minutes": 15,
                "stall_minutes": 15,
            }
        },
        "routing": {"default": ["replay"]},
        "limits": {"max_parallel_workers": options.workers, "lease_seconds": 1800, "wedge_hours": 24},
        "verifier": {"approval_label": APPROVAL_LABEL},
        # a history without tests has no CI on the sandbox: no checks will appear after a push to wait for
        "merge": {"checks_grace_seconds": 0} if test_command is None else {},
    }


def repo_key(path: Path) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", path.resolve().name.lower()).strip("-") or "repo"


def changes_path(options: ReplayOptions) -> Path:
    # outside runtime/: the agent sandbox shows this one file read-only
    return options.workdir / "replay" / "changes.json.gz"


def start(options: ReplayOptions, forge: Any, say: Callable[[str], None]) -> ReplaySession:
    """Read the history, seed the forge, write the agent's data and the config; a session ready to run."""
    from orchestrator.sandbox.seed_git import seed_from_git

    history = read_history(options.repo, options.rev, options.count, options.until)
    test_command = options.test_command or detect_test_command(options.repo, history.base)
    replayed = [c for c in history.commits if c.changes]
    for commit in history.commits:
        if not commit.changes:
            say(f"skipping {commit.sha[:12]} “{commit.subject}”: it changes no files")
    name = f"{forge.admin_login}/{repo_key(options.repo)}"
    seeded = seed_from_git(
        forge.api_url,
        forge.token,
        name,
        options.repo,
        history.base,
        ci_command=test_command,
        issues=[issue_text(c) for c in replayed],
        ca_bundle=forge.ca_bundle,
    )
    issue_of = {c.sha: n for c, n in zip(replayed, seeded.issue_numbers, strict=True)}
    write_changes(changes_path(options), history, issue_of, "main", test_command)
    data = replay_config(options, forge, seeded.clone_url, test_command)
    config_file = options.workdir / "config.yaml"
    config_file.write_text(yaml.safe_dump(data, sort_keys=False))
    config = parse_config(data, source=str(config_file), base_dir=options.workdir)
    ctx = build_context(config, environ=client_environ(forge))
    costs = IssueCostForge(ctx.forge, set(seeded.issue_numbers))
    ctx.forge = costs.as_forge()
    setup_logging("replay", ctx.paths.logs, logging.INFO, stream=io.StringIO())
    waves = plan_waves(list(seeded.issue_numbers), options.waves)
    return ReplaySession(
        options, history, issue_of, waves, test_command, ctx, ForgeObserver(forge, name), costs, name, forge
    )


def run_loop(session: ReplaySession, say: Callable[[str], None]) -> None:
    """Ticks until every issue settled or the time limit; the next wave once the previous one settled."""
    ctx, options = session.ctx, session.options
    released = 0
    while True:
        if released < len(session.waves) and _wave_settled(session, released - 1):
            _release(session, session.waves[released])
            say(f"wave {released + 1}/{len(session.waves)}: issues {_numbers(session.waves[released])} Ready")
            released += 1
        if time.monotonic() - session.started > options.max_seconds:
            session.progress.timed_out = True
            say(f"time limit of {options.max_seconds:.0f} s reached")
            return
        before = _event_count(ctx)
        errors = dispatcher.run(ctx).errors + queue.run(ctx).errors
        _observe(session)
        session.forge.wait_ci_idle(timeout=options.max_seconds)
        errors += pr_monitor.run(ctx).errors
        _observe(session)
        session.progress.ticks += 1
        for error in dict.fromkeys(errors):
            say(f"job error: {error}")
        if options.approve_held:
            _approve_held(session, say)
        if released == len(session.waves) and _wave_settled(session, len(session.waves) - 1, all_waves=True):
            return
        stuck = _stuck_behind_settled(session, [n for w in session.waves[:released] for n in w])
        if stuck:
            session.progress.stuck = stuck
            say("stopping: every open issue is parked behind one that will not merge: " + _why_stuck(stuck))
            return
        if _event_count(ctx) == before:
            time.sleep(1.0)  # nothing moved: tasks wait (backoff, parked) — do not spin


_PARKED_ON = re.compile(r"#(\d+)")


def _stuck_behind_settled(session: ReplaySession, released: list[int]) -> dict[int, int]:
    """Issue → prerequisite, when every released, unsettled issue is parked waiting for an issue that settled
    without merging (escalated, sent back): nothing can move any more. Empty otherwise."""
    open_issues = [n for n in released if settled_state(session, n) is None]
    if not open_issues:
        return {}
    last_park: dict[int, int] = {}
    last_state: dict[int, str] = {}
    for event in metrics.read_events(session.ctx.paths.metrics):
        if event.issue is None or event.state == "decision":
            continue
        last_state[event.issue] = event.state
        match = _PARKED_ON.search(event.reason) if event.state == "parked" else None
        if match:
            last_park[event.issue] = int(match.group(1))
    waits: dict[int, int] = {}
    for number in open_issues:
        if last_state.get(number) != "parked" or number not in last_park:
            return {}
        waits[number] = last_park[number]
    stuck: dict[int, int] = {}
    changed = True
    while changed:  # stuck: waits for an issue that settled unmerged, or for one that is stuck itself
        changed = False
        for number, prerequisite in waits.items():
            if number not in stuck and (
                prerequisite in stuck or settled_state(session, prerequisite) not in (None, "merged")
            ):
                stuck[number] = prerequisite
                changed = True
    return stuck if len(stuck) == len(waits) else {}


def _why_stuck(stuck: dict[int, int]) -> str:
    return ", ".join(f"#{n} waits for #{p}" for n, p in sorted(stuck.items()))


def settled_state(session: ReplaySession, number: int) -> str | None:
    issue = session.observer.issues().get(number)
    labels = session.ctx.config.repos[0].labels
    if issue is None:
        return None
    if issue.state == "closed":
        return "merged"
    if labels.blocked in issue.labels:
        return "escalated"
    if labels.needs_info in issue.labels:
        return "needs_info"
    return None


def _wave_settled(session: ReplaySession, index: int, all_waves: bool = False) -> bool:
    if index < 0:
        return True
    numbers = [n for w in session.waves for n in w] if all_waves else session.waves[index]
    return all(settled_state(session, n) is not None for n in numbers)


def _release(session: ReplaySession, numbers: list[int]) -> None:
    for number in numbers:
        _label_as_human(session, number, READY)
    session.progress.waves_released.append(time.monotonic() - session.started)


def _label_as_human(session: ReplaySession, number: int, label: str) -> None:
    """A maintainer's label, through the forge's REST API (not Agent OS's client: it is no cost of ours)."""
    response = requests.post(
        f"{session.forge.api_url}/repos/{session.repo}/issues/{number}/labels",
        json={"labels": [label]},
        headers={"Authorization": f"token {session.forge.token}", "Accept": "application/vnd.github+json"},
        timeout=30,
    )
    if response.status_code != 200:
        raise ReplayError(
            f"labelling #{number} {label!r} failed: {response.status_code} {response.text[:200]}"
        )


def _numbers(numbers: list[int]) -> str:
    return ", ".join(f"#{n}" for n in numbers)


def _observe(session: ReplaySession) -> None:
    for pull in session.observer.pulls().values():
        session.progress.heads.setdefault(pull.number, set()).add(pull.head_sha)


def _event_count(ctx: JobContext) -> int:
    return sum(1 for _ in metrics.read_events(ctx.paths.metrics))


def _approve_held(session: ReplaySession, say: Callable[[str], None]) -> None:
    """Approve open PRs the verifier holds for a human, as the upstream maintainer did by merging them."""
    pulls = session.observer.pulls()
    for event in metrics.read_events(session.ctx.paths.metrics):
        number = event.extra.get("pr")
        if event.state != "verified" or not isinstance(number, int) or event.reason in ("", "ok"):
            continue
        pull = pulls.get(number)
        if pull is None or pull.state != "open" or number in session.progress.approved:
            continue
        _label_as_human(session, number, APPROVAL_LABEL)
        session.progress.approved[number] = event.reason
        say(f"PR #{number} held by the verifier ({event.reason}): approved, as the maintainer did upstream")
