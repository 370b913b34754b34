"""Chronic failure patterns over a week, by agent, by task type and by repo → fix proposals. Pure.

A pattern is a value of one dimension (agent `codex`, task type `docs`, repo `o/r`) whose attempts over the
window failed at least `min_failure_rate` of the time with at least `min_runs` attempts. Failed means blocked,
tests failed, timeout, crash, contract error, no changes or secret in diff; partial is progress and counts
as neither success nor failure; rate-limited attempts are ignored (see policy/scoring.py).

Each pattern becomes a proposal with `## Evidence` (counts by outcome, top reasons, task ids) and
`## Reasoning` (the rate against the overall rate, the dominant outcome and what usually causes it). An agent
or task type failing is Agent OS's own setup (scope `ops`: `loops.ops_repo` or Telegram); a repository
failing is filed in that repository unless the machinery is the cause (`scope_of`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.policy.incidents import HOST_OUTCOMES, fingerprint, names_the_host
from orchestrator.policy.proposal import Proposal, Scope
from orchestrator.policy.scoring import ATTEMPT_OUTCOMES, BLOCKED, FAILED, PARTIAL, RATE_LIMITED, Attempt

FAILURES = (BLOCKED | FAILED | PARTIAL) - {"partial"}
DIMENSIONS = ("agent", "task_type", "repo")
WINDOW = timedelta(days=7)
DEFAULT_MIN_RUNS = 5
DEFAULT_MIN_FAILURE_RATE = 0.5
LABEL = "autonomous-fix"
MAX_IDS = 10


@dataclass(frozen=True)
class ChronicPattern:
    dimension: str  # "agent" | "task_type" | "repo"
    value: str
    runs: int
    failures: int
    overall_failure_rate: float
    outcomes: tuple[tuple[str, int], ...]  # most common first
    top_reasons: tuple[tuple[str, int], ...]  # (fingerprint, count)
    examples: tuple[str, ...]  # one raw reason per top fingerprint (untrusted)
    task_ids: tuple[str, ...]
    repo: str  # where most of its failures happened

    @property
    def failure_rate(self) -> float:
        return self.failures / self.runs if self.runs else 0.0

    @property
    def key(self) -> str:
        return f"chronic:{self.dimension}:{self.value}"


def find_chronic(
    attempts: Sequence[Attempt],
    now: datetime,
    window: timedelta = WINDOW,
    min_runs: int = DEFAULT_MIN_RUNS,
    min_failure_rate: float = DEFAULT_MIN_FAILURE_RATE,
) -> list[ChronicPattern]:
    """Every (dimension, value) whose attempts in the window fail chronically, worst first."""
    recent = [
        a
        for a in attempts
        if now - window <= a.ts <= now and a.outcome in ATTEMPT_OUTCOMES and a.outcome != RATE_LIMITED
    ]
    overall = sum(a.outcome in FAILURES for a in recent) / len(recent) if recent else 0.0
    patterns = []
    for dimension in DIMENSIONS:
        groups: dict[str, list[Attempt]] = defaultdict(list)
        for a in recent:
            value = getattr(a, dimension) or ("default" if dimension == "task_type" else "")
            if value:
                groups[value].append(a)
        for value, items in sorted(groups.items()):
            pattern = _pattern(dimension, value, items, overall)
            if pattern.runs >= min_runs and pattern.failure_rate >= min_failure_rate:
                patterns.append(pattern)
    return sorted(patterns, key=lambda p: (-p.failure_rate, -p.runs, p.key))


def _pattern(dimension: str, value: str, items: Sequence[Attempt], overall: float) -> ChronicPattern:
    failed = [a for a in items if a.outcome in FAILURES]
    reasons = Counter(fingerprint(a.reason) for a in failed if a.reason.strip())
    examples: dict[str, str] = {}
    for a in failed:
        examples.setdefault(fingerprint(a.reason), a.reason.strip()[:400])
    top = tuple(reasons.most_common(3))
    repos = Counter(a.repo for a in failed if a.repo)
    return ChronicPattern(
        dimension=dimension,
        value=value,
        runs=len(items),
        failures=len(failed),
        overall_failure_rate=overall,
        outcomes=tuple(Counter(a.outcome for a in items).most_common()),
        top_reasons=top,
        examples=tuple(examples[f] for f, _ in top if f in examples),
        task_ids=tuple(dict.fromkeys(a.task_id for a in failed if a.task_id))[:MAX_IDS],
        repo=repos.most_common(1)[0][0] if repos else "",
    )


_SUBJECT = {"agent": "agent", "task_type": "task type", "repo": "repository"}
_CAUSES = {
    "agent": "For one agent, the usual causes are its configuration (model, timeout, max_turns), its CLI "
    "adapter (output not parsed, result file not written) or a missing credential.",
    "task_type": "For one task type, the usual causes are issues of that type lacking context the agents "
    "need, or a routing entry that sends them to agents not suited to them.",
    "repo": "For one repository, the usual causes are its environment: a test command that fails or is "
    "flaky, missing setup, or instructions (README, CODEBASE.md) that mislead the agents.",
}


def scope_of(pattern: ChronicPattern) -> Scope:
    """An agent or a task type failing is Agent OS's setup (ops); a repository failing is the product's work,
    unless its failures are the machinery's (crashes, timeouts, …) or their reasons name the host."""
    if pattern.dimension != "repo":
        return "ops"
    top = pattern.outcomes[0][0] if pattern.outcomes else ""
    if top in HOST_OUTCOMES or any(names_the_host(r) for r, _n in pattern.top_reasons):
        return "ops"
    return "product"


def proposal(pattern: ChronicPattern, extra_reasoning: str = "") -> Proposal:
    subject = f"{_SUBJECT[pattern.dimension]} `{pattern.value}`"
    rate = f"{pattern.failure_rate:.0%}"
    top_outcome = pattern.outcomes[0][0] if pattern.outcomes else "unknown"
    return Proposal(
        scope=scope_of(pattern),
        repo=pattern.repo,
        key=pattern.key,
        title=f"Chronic failures: {subject} fails {rate} of attempts (7 days)",
        goal=f"Find and fix why the {subject} fails {rate} of its attempts ({pattern.failures} of "
        f"{pattern.runs} in 7 days) so its tasks succeed at least as often as the rest.",
        success_criteria=f"- the cause of the dominant failure (`{top_outcome}`) is identified and fixed\n"
        f"- a test or check covers the fix\n"
        f"- over the next 7 days the {subject} fails less often than {pattern.overall_failure_rate:.0%} "
        "(the current rate across all attempts) or than half its current rate",
        summary=f"weekly log analysis found a chronic failure pattern for the {subject}.",
        evidence=_evidence(pattern),
        excerpts=pattern.examples,
        reasoning=_reasoning(pattern, subject, rate, top_outcome, extra_reasoning),
        labels=(LABEL,),
    )


def _evidence(p: ChronicPattern) -> str:
    lines = [
        f"- {p.failures} failed of {p.runs} attempts ({p.failure_rate:.0%}); all attempts: "
        f"{p.overall_failure_rate:.0%} failed",
        "- outcomes: " + ", ".join(f"`{o}` {n}" for o, n in p.outcomes),
    ]
    if p.top_reasons:
        lines.append("- most common reasons: " + "; ".join(f"{r} ({n})" for r, n in p.top_reasons))
    if p.task_ids:
        lines.append("- failed tasks: " + ", ".join(f"`{t}`" for t in p.task_ids))
    return "\n".join(lines)


def _reasoning(p: ChronicPattern, subject: str, rate: str, top_outcome: str, extra: str) -> str:
    share = dict(p.outcomes).get(top_outcome, 0)
    text = (
        f"The {subject} failed {rate} of its attempts against {p.overall_failure_rate:.0%} overall, over "
        f"{p.runs} attempts — too many to be chance. `{top_outcome}` accounts for {share} of them, so one "
        f"cause probably dominates. {_CAUSES[p.dimension]}"
    )
    return f"{text}\n\n{extra.strip()}" if extra.strip() else text


def summaries(patterns: Sequence[ChronicPattern]) -> Mapping[str, str]:
    """One line per pattern for an LLM prompt: key → facts."""
    return {
        p.key: f"{p.dimension}={p.value} failed {p.failures}/{p.runs}; outcomes "
        + ", ".join(f"{o}:{n}" for o, n in p.outcomes)
        + "; reasons "
        + "; ".join(r for r, _ in p.top_reasons)
        for p in patterns
    }
