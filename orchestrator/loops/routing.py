"""Where a loop's proposals go: product work to its own repo, ops work to `loops.ops_repo` or Telegram.

`file_proposals(ctx, repos, proposals, job=...)`:

- a `product` proposal is filed in `proposal.repo` when that is one of the due `repos` (capped at
  loops.max_issues_per_run per repo); a proposal naming no enabled repo is not filed anywhere (it is listed in
  `unrouted` with the reason) — it is never dropped into some other product's backlog;
- `ops` proposals (about the agent host or Agent OS itself) are filed in `loops.ops_repo` when one is
  configured, else each is sent once per `closed_within` as a Telegram note (`notify_ops`) and listed in
  `noted` — never filed in a product repo, where the agents could not fix them;
- each due repo filed without a GitHub error is marked as ran (not in a dry run).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestrator.github.errors import GitHubError
from orchestrator.loops.common import (
    DEFAULT_CLOSED_WITHIN,
    FilingReport,
    file_issues,
    log_report,
    loop_data,
    mark_ran,
    proposal_draft,
    update_loop_data,
)
from orchestrator.policy.proposal import Proposal

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig
    from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)

NOTED = "ops_noted"  # loop state: proposal key → when its Telegram note was sent


@dataclass
class RepoFilings:
    filings: dict[str, FilingReport] = field(default_factory=dict)  # repo full name → its report
    errors: list[str] = field(default_factory=list)
    unrouted: list[tuple[Proposal, str]] = field(default_factory=list)  # (proposal, why it was not filed)
    noted: list[Proposal] = field(default_factory=list)  # ops proposals told on Telegram (no ops_repo)


@dataclass
class LoopFilingReport:
    """What a loop job that files proposals (incident_scanner, log_analyzer) reports, besides what it found."""

    filings: dict[str, FilingReport] = field(default_factory=dict)
    not_due: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    noted: list[Proposal] = field(default_factory=list)  # ops proposals told on Telegram (no ops_repo)

    def take(self, filed: RepoFilings) -> None:
        self.filings, self.errors, self.noted = filed.filings, filed.errors, filed.noted


def file_proposals(
    ctx: JobContext,
    repos: Sequence[RepoConfig],
    proposals: Iterable[Proposal],
    *,
    job: str,
    closed_within: timedelta = DEFAULT_CLOSED_WITHIN,
    dry_run: bool = False,
) -> RepoFilings:
    enabled = {r.full_name for r in ctx.config.enabled_repos}
    product: dict[str, list[Proposal]] = {}
    ops: list[Proposal] = []
    result = RepoFilings()
    for proposal in proposals:
        if proposal.scope == "ops":
            ops.append(proposal)
        elif proposal.repo in enabled:
            product.setdefault(proposal.repo, []).append(proposal)
        else:
            why = f"{proposal.repo!r} is not an enabled repo" if proposal.repo else "it names no repo"
            result.unrouted.append((proposal, why))
            log.warning("%s: proposal %s not filed: %s", job, proposal.key, why)
    for repo in repos:
        filed = _file_into(
            ctx, repo.full_name, product.get(repo.full_name, []), job, closed_within, dry_run, result
        )
        if filed and not dry_run:
            mark_ran(ctx, job, repo.key)
    if ops and repos:
        ops_repo = ctx.config.loops.ops_repo
        if ops_repo:
            _file_into(ctx, ops_repo, ops, job, closed_within, dry_run, result)
        else:
            result.noted = ops if dry_run else notify_ops(ctx, job, ops, closed_within)
    return result


def _file_into(
    ctx: JobContext,
    repo: str,
    proposals: list[Proposal],
    job: str,
    closed_within: timedelta,
    dry_run: bool,
    result: RepoFilings,
) -> bool:
    """File `proposals` in `repo`; False when GitHub failed (recorded in `result.errors`)."""
    drafts = [proposal_draft(p, job) for p in proposals]
    cap = ctx.config.loops.max_issues_per_run
    try:
        filing = file_issues(ctx, repo, drafts, cap, job=job, closed_within=closed_within, dry_run=dry_run)
    except GitHubError as exc:
        result.errors.append(f"{repo}: {exc}")
        log.error("%s failed repo=%s error=%s", job, repo, exc)
        return False
    result.filings[repo] = filing
    result.errors += filing.errors
    log_report(job, repo, filing)
    return True


def notify_ops(ctx: JobContext, job: str, proposals: Sequence[Proposal], window: timedelta) -> list[Proposal]:
    """Tell a human about ops proposals on Telegram (there is no ops repo to file them in): each at most once
    per `window`. Returns the proposals told now."""
    from orchestrator.executors.notify import Notifier

    now = ctx.clock()
    noted: dict[str, Any] = loop_data(ctx, job).get(NOTED, {})
    fresh = [p for p in proposals if not _recent(noted.get(p.key), now, window)]
    if not fresh:
        return []
    notifier = Notifier.for_context(ctx)
    for proposal in fresh:
        notifier.notify("ops", ops_note(job, proposal), key=f"ops:{proposal.key}", severity="warning")

    def remember(data: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in data.get(NOTED, {}).items() if _recent(v, now, window)}
        kept.update({p.key: now.isoformat() for p in fresh})
        return {**data, NOTED: kept}

    update_loop_data(ctx, job, remember)
    return fresh


def ops_note(job: str, proposal: Proposal) -> str:
    """The Telegram text for an ops proposal: what, why, and the evidence the policy wrote (no excerpts)."""
    evidence = "\n".join(proposal.evidence.strip().splitlines()[:5])
    return (
        f"Agent OS needs its operator ({job}): {proposal.title}\n{proposal.goal}\n{evidence}\n"
        "(about this host or Agent OS itself, not a product: set loops.ops_repo to get these as issues)"
    ).strip()


def _recent(stamp: object, now: datetime, window: timedelta) -> bool:
    if not isinstance(stamp, str):
        return False
    try:
        return now - datetime.fromisoformat(stamp) < window
    except ValueError:
        return False
