"""The product inspector's policy: what a probe result means, the report history, the incident proposals. Pure.

A probe fails on any of: no answer (connection error, timeout), a status other than the expected one, an
answer slower than `max_latency_ms`, a body without the expected text (checked only when the status is the
expected one: an error page never contains it, and saying so adds nothing). PRODUCT_INSPECTION.md shows the latest
results and a bounded history of one line per run (the newest first).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from orchestrator.config.settings import ProductProbe
from orchestrator.policy.proposal import Proposal
from orchestrator.values.untrusted_text import code_block

JOB = "product_inspector"
INCIDENT_LABEL = "incident"
HISTORY_HEADING = "## History"
HISTORY_MAX_LINES = 30
_HISTORY_LINE = re.compile(r"^- (\d{4}-\d{2}-\d{2}) \d{2}:\d{2} UTC: ")


@dataclass(frozen=True)
class ProbeResult:
    """What one request to a product URL returned (from the probe edge)."""

    url: str
    status: int | None  # None when no answer came
    latency_ms: float | None
    body_excerpt: str = ""  # the first bytes of the body, for evidence
    contains_found: bool | None = None  # None when no content check ran (not configured, or no body)
    error: str = ""  # "timed out after 3s", "connection refused", …


@dataclass(frozen=True)
class ProbeVerdict:
    probe: ProductProbe
    result: ProbeResult
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def judge(probe: ProductProbe, result: ProbeResult) -> ProbeVerdict:
    problems: list[str] = []
    if result.error:
        problems.append(f"no answer: {result.error}")
    if result.status is not None and result.status != probe.expect_status:
        problems.append(f"status {result.status}, expected {probe.expect_status}")
    if result.latency_ms is not None and result.latency_ms > probe.max_latency_ms:
        problems.append(f"answered in {result.latency_ms:.0f} ms, over the {probe.max_latency_ms} ms limit")
    if probe.contains is not None and result.status == probe.expect_status and result.contains_found is False:
        problems.append(f"the body does not contain {probe.contains!r}")
    return ProbeVerdict(probe, result, tuple(problems))


def history_line(verdicts: Sequence[ProbeVerdict], now: datetime) -> str:
    failing = [v.probe.url for v in verdicts if not v.ok]
    ok = len(verdicts) - len(failing)
    tail = f" (failing: {', '.join(failing)})" if failing else ""
    return f"- {now:%Y-%m-%d %H:%M} UTC: {ok}/{len(verdicts)} checks passed{tail}"


def previous_history(text: str | None) -> list[str]:
    """The history lines of an earlier PRODUCT_INSPECTION.md (newest first), [] when there is none."""
    if not text or HISTORY_HEADING not in text:
        return []
    section = text.split(HISTORY_HEADING, 1)[1]
    return [line for line in section.splitlines() if _HISTORY_LINE.match(line)]


def merged_history(line: str, previous: Sequence[str], max_lines: int = HISTORY_MAX_LINES) -> list[str]:
    """Today's line first; an earlier line of the same day is replaced (a forced re-run), bounded."""
    day = line[2:12]
    kept = [old for old in previous if old[2:12] != day]
    return [line, *kept][:max_lines]


def table_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def incident_proposals(verdicts: Sequence[ProbeVerdict], now: datetime, repo: str = "") -> list[Proposal]:
    """One incident per failing URL (the dedup key is the URL, so an open incident is not filed again)."""
    proposals = []
    for verdict in verdicts:
        if verdict.ok:
            continue
        probe, result = verdict.probe, verdict.result
        evidence = [f"- checked at {now:%Y-%m-%d %H:%M} UTC", *(f"- {p}" for p in verdict.problems)]
        if result.body_excerpt.strip():
            evidence += ["", "Start of the body:", "", code_block(result.body_excerpt[:800])]
        expected = f"status {probe.expect_status} within {probe.max_latency_ms} ms"
        if probe.contains:
            expected += f" with a body containing {probe.contains!r}"
        proposals.append(
            Proposal(
                repo=repo,
                key=f"product:{probe.url}",
                title=f"Product check failing: {probe.url}",
                goal=f"The product check of {probe.url} fails: {verdict.problems[0]}. Find the cause and fix it.",
                success_criteria=f"- {probe.url} answers with {expected}\n- the next product inspection passes",
                summary="a configured product check failed",
                evidence="\n".join(evidence),
                labels=(INCIDENT_LABEL,),
            )
        )
    return proposals
