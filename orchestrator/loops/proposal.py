"""`Proposal`: what a loop's pure policy wants filed, before it is rendered into an issue body.

Policies return Proposals (no I/O, no templates); `orchestrator.loops.common.proposal_draft` renders one into
an `IssueDraft` — the standard body with Goal, Success Criteria, Context, Evidence and Reasoning — making the
untrusted parts (`excerpts`: event reasons, log lines, agent text) safe to post.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Proposal:
    repo: str  # "owner/name" to file in; "" lets the job choose (e.g. its first enabled repo)
    key: str  # the dedup key: a stable name of the subject, e.g. "incident:job_errors:queue"
    title: str
    goal: str
    success_criteria: str  # markdown, usually a "- ..." list
    summary: str = ""  # one line after "Filed automatically by the Agent OS <job> loop: "
    evidence: str = ""  # markdown the policy wrote itself: counts, task ids, issue numbers
    excerpts: tuple[str, ...] = ()  # untrusted text shown verbatim in a code block under Evidence
    reasoning: str = ""
    constraints: str = ""
    labels: tuple[str, ...] = ()
