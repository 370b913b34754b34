"""Incident rules: recurring runtime failures → `autonomous-fix` proposals with their evidence. Pure.

Input is what happened in the window: metrics events and the error lines of the job logs. Rules:

- recurring_outcome: the same failure outcome with the same reason (fingerprinted: numbers, hashes and
  spacing ignored) in one repo at least `min_count` times;
- job_errors: one job logged at least `min_count` error lines;
- retry_storm: one task (one generation) went through at least `storm_threshold` retries / follow-ups;
- escalations: at least `min_count` tasks of one repo were escalated to a human.

Each incident has a stable dedup key (`incident:<rule>:...`), so the same incident is filed once per window.

Each incident also has a **scope** (`scope_of`): `ops` when it is about the agent host or Agent OS itself — a
job's own errors, a retry storm, escalations piling up, and outcomes whose cause is the machinery (agent CLIs
crashing or timing out, unreadable results, rate limits, and failures whose reason names the host: disk,
permissions, network, credentials, a missing command) — else `product`: the product repo's own work (its
tests fail the same way, its tasks keep coming back without changes). Ops incidents go to `loops.ops_repo`
or only to Telegram; they never enter a product backlog, where the agents could not fix them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from orchestrator.policy.event_join import EventLike
from orchestrator.policy.proposal import Proposal, Scope

E = TypeVar("E", bound=EventLike)

FAILURE_OUTCOMES = frozenset(
    {
        "blocked",
        "timeout",
        "crash",
        "contract_error",
        "no_changes",
        "tests_failed",
        "secret_in_diff",
        "security",
    }
)
RETRY_STATES = frozenset(
    {
        "partial",
        "tests_failed",
        "contract_error",
        "timeout",
        "crash",
        "rate_limited",
        "no_changes",
        "fix_ci",
        "resolve_conflict",
        "recovered",
    }
)
LABEL = "autonomous-fix"
# Outcomes caused by the machinery that runs the agents, not by the product's code.
HOST_OUTCOMES = frozenset({"crash", "timeout", "contract_error", "rate_limited", "security"})
# Words in a failure reason that point at the host or the agent setup rather than the product.
HOST_WORDS = (
    "no space left",
    "disk",
    "permission denied",
    "operation not permitted",
    "read-only file system",
    "command not found",
    "not on path",
    "no such file or directory: '/",
    "network",
    "connection refused",
    "connection reset",
    "name resolution",
    "dns",
    "proxy",
    "certificate",
    "ssl",
    "out of memory",
    "oom",
    "killed",
    "api key",
    "credential",
    "token",
    "unauthorized",
    "401",
    "403",
    "quota",
    "rate limit",
    "bwrap",
    "sandbox",
    "lease",
    "worktree",
)
OPS_RULES = frozenset({"job_errors", "retry_storm", "escalations"})
MAX_IDS = 10
MAX_EXCERPTS = 3
_HEX_RE = re.compile(r"\b[0-9a-f]{7,40}\b")
_NUM_RE = re.compile(r"\d+")
_WORD_RE = re.compile(r"[a-z][a-z0-9_.-]*")
_LOG_FIELD_RE = re.compile(r'(?P<k>[A-Za-z0-9_.-]+)=(?P<v>"(?:[^"\\]|\\.)*"|\S*)')


@dataclass(frozen=True)
class LogError:
    """One `level=error` line of a job log (orchestrator.edges.log format)."""

    ts: datetime
    job: str
    message: str
    repo: str = ""
    line: str = ""


@dataclass(frozen=True)
class IncidentRules:
    window: timedelta
    min_count: int
    storm_threshold: int


@dataclass(frozen=True)
class Incident:
    rule: str  # "recurring_outcome" | "job_errors" | "retry_storm" | "escalations"
    repo: str  # "" when it is not tied to one repo (a job's errors)
    subject: str  # the outcome state, the job name or the task id
    key: str
    count: int
    first: datetime
    last: datetime
    task_ids: tuple[str, ...] = ()
    issues: tuple[int, ...] = ()
    agents: tuple[tuple[str, int], ...] = ()
    excerpts: tuple[str, ...] = ()
    fingerprint: str = ""


# --- parsing log lines ----------------------------------------------------------------------------------


def parse_log_line(line: str) -> LogError | None:
    """A `level=error` line of orchestrator.edges.log's key=value format as a LogError; None for anything else."""
    if "level=error" not in line:
        return None
    fields = {m.group("k"): _unquote(m.group("v")) for m in _LOG_FIELD_RE.finditer(line)}
    if fields.get("level") != "error" or "ts" not in fields:
        return None
    try:
        ts = datetime.fromisoformat(fields["ts"].replace("Z", "+00:00"))
    except ValueError:
        return None
    repo = fields.get("repo", "")
    if not repo:
        found = re.search(r"\brepo=([\w.-]+/[\w.-]+)", fields.get("msg", ""))
        repo = found.group(1) if found else ""
    return LogError(ts, fields.get("job", ""), fields.get("msg", ""), repo, line.strip())


def _unquote(value: str) -> str:
    if value.startswith('"'):
        try:
            text: str = json.loads(value)
            return text
        except json.JSONDecodeError:
            return value.strip('"')
    return value


# --- rules ----------------------------------------------------------------------------------------------


def fingerprint(reason: str) -> str:
    """A failure reason with what varies between occurrences removed: first line, lower case, hashes and
    numbers replaced, words only, at most 12 words."""
    first = (reason.strip().splitlines() or [""])[0].lower()
    first = _NUM_RE.sub("n", _HEX_RE.sub("sha", first))
    return " ".join(_WORD_RE.findall(first)[:12])


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def find_incidents(
    events: Iterable[EventLike], log_errors: Iterable[LogError], now: datetime, rules: IncidentRules
) -> list[Incident]:
    start = now - rules.window
    recent = [e for e in events if start <= e.ts <= now]
    errors = [e for e in log_errors if start <= e.ts <= now]
    found = [
        *_recurring_outcomes(recent, rules.min_count),
        *_job_errors(errors, rules.min_count),
        *_retry_storms(recent, rules.storm_threshold),
        *_escalations(recent, rules.min_count),
    ]
    return sorted(found, key=lambda i: (-i.count, i.key))


def _incident(
    rule: str, repo: str, subject: str, key: str, items: Sequence[EventLike], **kw: object
) -> Incident:
    agents = Counter(e.agent for e in items if e.agent)
    reasons = list(dict.fromkeys(e.reason.strip() for e in items if e.reason.strip()))
    return Incident(
        rule=rule,
        repo=repo,
        subject=subject,
        key=key,
        count=len(items),
        first=min(e.ts for e in items),
        last=max(e.ts for e in items),
        task_ids=tuple(dict.fromkeys(e.task_id for e in items if e.task_id))[:MAX_IDS],
        issues=tuple(sorted({e.issue for e in items if e.issue is not None}))[:MAX_IDS],
        agents=tuple(agents.most_common()),
        excerpts=tuple(r[:500] for r in reasons[:MAX_EXCERPTS]),
        **kw,  # type: ignore[arg-type]
    )


def _recurring_outcomes(events: Sequence[EventLike], min_count: int) -> list[Incident]:
    groups: dict[tuple[str, str, str], list[EventLike]] = defaultdict(list)
    for e in events:
        if e.state in FAILURE_OUTCOMES:
            groups[(e.repo, e.state, fingerprint(e.reason))].append(e)
    return [
        _incident(
            "recurring_outcome",
            repo,
            state,
            f"incident:outcome:{repo}:{state}:{short_hash(print_)}",
            items,
            fingerprint=print_,
        )
        for (repo, state, print_), items in sorted(groups.items())
        if len(items) >= min_count
    ]


def _job_errors(errors: Sequence[LogError], min_count: int) -> list[Incident]:
    groups: dict[str, list[LogError]] = defaultdict(list)
    for e in errors:
        groups[e.job or "unknown"].append(e)
    incidents = []
    for job, items in sorted(groups.items()):
        if len(items) < min_count:
            continue
        repos = Counter(e.repo for e in items if e.repo)
        messages = Counter(fingerprint(e.message) for e in items)
        newest = sorted(items, key=lambda e: e.ts, reverse=True)
        excerpts = tuple(dict.fromkeys(e.line[:500] for e in newest))[:MAX_EXCERPTS]
        incidents.append(
            Incident(
                rule="job_errors",
                repo=repos.most_common(1)[0][0] if repos else "",
                subject=job,
                key=f"incident:job_errors:{job}",
                count=len(items),
                first=min(e.ts for e in items),
                last=max(e.ts for e in items),
                excerpts=excerpts,
                fingerprint=messages.most_common(1)[0][0],
            )
        )
    return incidents


def _retry_storms(events: Sequence[EventLike], threshold: int) -> list[Incident]:
    groups: dict[str, list[EventLike]] = defaultdict(list)
    for e in events:
        if e.task_id and e.state in RETRY_STATES:
            groups[e.task_id].append(e)
    return [
        _incident("retry_storm", items[0].repo, task, f"incident:retry_storm:{task}", items)
        for task, items in sorted(groups.items())
        if len(items) >= threshold
    ]


def _escalations(events: Sequence[EventLike], min_count: int) -> list[Incident]:
    groups: dict[str, list[EventLike]] = defaultdict(list)
    for e in events:
        if e.state == "escalated":
            groups[e.repo].append(e)
    return [
        _incident("escalations", repo, "escalated", f"incident:escalations:{repo}", items)
        for repo, items in sorted(groups.items())
        if len(items) >= min_count
    ]


def residual_failures(
    events: Iterable[E], incidents: Sequence[Incident], now: datetime, window: timedelta
) -> list[E]:
    """Failure events in the window that no recurring_outcome incident explains (for the LLM fallback)."""
    covered = {(i.repo, i.subject, i.fingerprint) for i in incidents if i.rule == "recurring_outcome"}
    return [
        e
        for e in events
        if now - window <= e.ts <= now
        and e.state in FAILURE_OUTCOMES | {"escalated"}
        and (e.repo, e.state, fingerprint(e.reason)) not in covered
    ]


# --- proposals ------------------------------------------------------------------------------------------


def names_the_host(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in HOST_WORDS)


def scope_of(incident: Incident) -> Scope:
    """`ops` when the incident is about the agent host or Agent OS itself, else `product`."""
    if incident.rule in OPS_RULES or incident.subject in HOST_OUTCOMES:
        return "ops"
    texts = (incident.fingerprint, *incident.excerpts)
    return "ops" if any(names_the_host(t) for t in texts) else "product"


def proposal(incident: Incident, window: timedelta) -> Proposal:
    hours = _hours(window)
    goal, criteria, title = _texts(incident, hours)
    return Proposal(
        scope=scope_of(incident),
        repo=incident.repo,
        key=incident.key,
        title=title,
        goal=goal,
        success_criteria=criteria,
        summary=f"rule `{incident.rule}` matched {incident.count} times in the last {hours} h.",
        evidence=_evidence(incident, hours),
        excerpts=incident.excerpts,
        reasoning=_REASONING[incident.rule],
        labels=(LABEL,),
    )


def _texts(i: Incident, hours: str) -> tuple[str, str, str]:
    after = f"- no new matching events in the {hours} h after the fix is merged"
    if i.rule == "recurring_outcome":
        what = f" ({i.fingerprint})" if i.fingerprint else ""
        return (
            f"Find and remove the cause of the recurring `{i.subject}` outcome in {i.repo}{what}: it happened "
            f"{i.count} times in {hours} h, so tasks keep failing the same way.",
            f"- the cause is identified and fixed, or shown in the PR to be outside this repository\n"
            f"- a test or check covers the fix\n{after}",
            f"Recurring `{i.subject}` in {i.repo}: {i.fingerprint or 'no reason given'}"[:120],
        )
    if i.rule == "job_errors":
        return (
            f"Make the `{i.subject}` job stop failing: it logged {i.count} errors in {hours} h "
            f"(most often: {i.fingerprint or 'see the excerpts'}).",
            f"- the error's cause is fixed or handled with a named outcome\n- a test reproduces it\n{after}",
            f"Job `{i.subject}` is failing repeatedly ({i.count} errors in {hours} h)",
        )
    if i.rule == "retry_storm":
        return (
            f"Find why task `{i.subject}` went through {i.count} retries and follow-ups in {hours} h and make "
            "the retry bounds hold.",
            f"- the retry or follow-up path that loops is found and bounded\n- a test covers it\n{after}",
            f"Retry storm on task {i.subject} ({i.count} retries)",
        )
    return (
        f"Reduce escalations in {i.repo}: {i.count} tasks were handed to a human in {hours} h.",
        "- the common causes of these escalations are found (see the evidence)\n"
        "- the most frequent cause is fixed or filed as its own issue\n"
        f"- fewer than {i.count} escalations in the next {hours} h",
        f"{i.count} escalations in {i.repo} in {hours} h",
    )


def _evidence(i: Incident, hours: str) -> str:
    lines = [
        f"- rule: `{i.rule}`, {i.count} occurrences between {i.first:%Y-%m-%d %H:%M} and "
        f"{i.last:%Y-%m-%d %H:%M} UTC (window {hours} h)"
    ]
    if i.task_ids:
        lines.append("- tasks: " + ", ".join(f"`{t}`" for t in i.task_ids))
    if i.issues:
        lines.append("- issues: " + ", ".join(f"#{n}" for n in i.issues))
    if i.agents:
        lines.append("- agents: " + ", ".join(f"{a} ({n})" for a, n in i.agents))
    return "\n".join(lines)


_REASONING = {
    "recurring_outcome": "The same outcome with the same reason keeps coming back, so it is not chance: each "
    "occurrence costs an attempt and delays the task. Fixing the common cause once is cheaper than "
    "retrying it on every task.",
    "job_errors": "A cron job that errors on every tick does its work late or not at all; the errors are in "
    "its log (runtime/logs/), quoted in the evidence.",
    "retry_storm": "A task that is retried more often than the configured bounds allow means a retry or "
    "follow-up path does not count its attempts, or keeps re-creating the same work.",
    "escalations": "Each escalation waits for a human. Many in a short window usually share one cause "
    "(environment, missing context, an agent that cannot do this kind of task).",
}


def _hours(window: timedelta) -> str:
    return f"{window.total_seconds() / 3600:g}"
