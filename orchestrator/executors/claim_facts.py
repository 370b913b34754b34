"""The facts a claim decision needs, read from GitHub, and the claim branches seen without a lease.

A claim is the task branch `agent/<issue>-<slug>[-gN]`; its holder announces it with a lease marker in the
picked-up comment (remote_lease). `claim_facts` reads the issue's branches and newest lease, so the next
generation is recoverable from GitHub alone. A branch with no lease, no PR and no task anywhere — its
dispatcher died between creating it and announcing the task — is remembered in
`runtime/state/orphan_claims.json` from the first tick that saw it; `policy.dispatch.next_claim` supersedes
it after `limits.lease_seconds`. `describe` lists those claims for `agentos status`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.executors.remote_lease import latest_lease
from orchestrator.policy import dispatch as policy
from orchestrator.state.store import read_json, update_json
from orchestrator.values.models import PullRequest

if TYPE_CHECKING:
    from orchestrator.state.runtime import JobContext

ORPHANS_FILE = "orphan_claims.json"


def _key(repo: str, issue: int) -> str:
    return f"{repo}#{issue}"


def claim_facts(
    ctx: JobContext, repo: str, issue: int, local_generation: int, pulls: Iterable[PullRequest]
) -> policy.ClaimFacts:
    """Branches, open PR and newest lease of one issue (three conditional GETs) as ClaimFacts."""
    branches = ctx.forge.matching_branches(repo, f"agent/{issue}-")
    open_pr = next((p.number for p in pulls if p.state == "open" and p.head_ref in branches), None)
    lease = latest_lease(ctx.forge.list_comments(repo, issue), ctx.forge.viewer_login())
    seen = read_json(ctx.paths.state / ORPHANS_FILE, dict).get(_key(repo, issue))
    newest = max(branches, key=lambda b: (policy.generation_of(b), b), default=None)
    orphan_since = (
        datetime.fromisoformat(seen["since"]) if seen and newest and seen.get("branch") == newest else None
    )
    return policy.ClaimFacts(
        issue=issue,
        branches=branches,
        open_pr=open_pr,
        lease=policy.LeaseView(lease.host, lease.generation, lease.heartbeat) if lease else None,
        local_generation=local_generation,
        this_host=ctx.host,
        orphan_seen_at=orphan_since,
    )


def note_decision(
    ctx: JobContext, repo: str, issue: int, decision: policy.Claim | policy.Hold, facts: policy.ClaimFacts
) -> bool:
    """Remember a claim branch first seen without a lease; forget it once it is not one any more.
    Writes only when something changed. True when an orphan claim was seen for the first time."""
    key = _key(repo, issue)
    orphan = decision.orphan_branch if isinstance(decision, policy.Hold) else None
    known = read_json(ctx.paths.state / ORPHANS_FILE, dict).get(key)
    if orphan is None and known is None:
        return False
    if orphan is not None and facts.orphan_seen_at is not None:
        return False
    now = ctx.clock()

    def put(data: dict[str, Any]) -> dict[str, Any]:
        if orphan is None:
            data.pop(key, None)
        else:
            data[key] = {"branch": orphan, "since": now.isoformat(), "repo": repo, "issue": issue}
        return data

    update_json(ctx.paths.state / ORPHANS_FILE, put)
    return orphan is not None


def describe(state_dir: Path, lease_seconds: int) -> Mapping[str, str]:
    """`owner/repo#N` → one line about a claim branch seen without a task (read-only, for status)."""
    lines = {}
    for key, entry in read_json(state_dir / ORPHANS_FILE, dict).items():
        try:
            since = datetime.fromisoformat(entry["since"])
        except (KeyError, TypeError, ValueError):
            continue
        lines[key] = (
            f"claim branch {entry.get('branch')} has no task anywhere since {since:%Y-%m-%d %H:%M} UTC; "
            f"re-dispatched as the next generation {lease_seconds} s after that"
        )
    return lines
