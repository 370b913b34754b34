"""`Proposal`: what a loop's pure policy wants filed, before it is rendered into an issue body.

Policies return Proposals (no I/O, no templates); `orchestrator.loops.common.proposal_draft` renders one into
an `IssueDraft` — the standard body with Goal, Success Criteria, Context, Evidence and Reasoning — making the
untrusted parts (`excerpts`: event reasons, log lines, agent text) safe to post.

`scope` says whose work it is: `product` work goes to its own repo's backlog (the agents can do it there);
`ops` work is about the agent host or Agent OS itself (its jobs, agent CLIs, credentials, retry bounds) and
goes to `loops.ops_repo`, or only to Telegram when none is configured — never into a product backlog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["product", "ops"]


@dataclass(frozen=True)
class Proposal:
    repo: str  # the product repo ("owner/name") it is about; ops work may name one or ""
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
    scope: Scope = "product"
