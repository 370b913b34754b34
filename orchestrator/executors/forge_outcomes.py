"""What humans did on GitHub directly, recorded as events so the numbers stay true.

Agent OS records what its own jobs and its control plane do (retry, close, approve are `human_*` events). A
human can also act on GitHub itself: close an escalated issue, merge an agent PR by hand (review mode), close
an issue that is in flight. `reconcile(ctx, issues, now)` asks GitHub about each issue the event log still shows
in flight or escalated — conditional requests, free while nothing changed — once it has been quiet for
`SETTLE` (so a job's own event is never raced), and records what it finds:

- the issue is closed and an agent PR of it merged → `merged` (with the PR), as pr_monitor would have;
- the issue is closed without a merge → `human_close`;

both with `by: github`. The dashboard job runs it before computing the page (`build_dashboard(reconcile=…)`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from orchestrator.github.errors import GitHubError, NotFound
from orchestrator.state import metrics

if TYPE_CHECKING:
    from orchestrator.policy.issue_outcomes import IssueRecord
    from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)

SETTLE = timedelta(minutes=15)
MAX_CHECKS = 200  # issues asked about per run (oldest activity first); the rest wait for the next run


def reconcile(ctx: JobContext, issues: Iterable[IssueRecord], now: datetime) -> int:
    """Record the outcomes GitHub shows for issues the log has as in flight or escalated; how many."""
    configured = {r.full_name for r in ctx.config.repos}
    quiet = [
        i for i in issues if i.repo in configured and i.last_at is not None and now - i.last_at >= SETTLE
    ]
    recorded = 0
    for issue in sorted(quiet, key=lambda i: i.last_at or now)[:MAX_CHECKS]:
        try:
            recorded += _check(ctx, issue, now)
        except GitHubError as exc:
            log.warning("reconcile: %s not checked: %s", issue.ref, exc)
    if recorded:
        log.info("reconcile: %d outcomes recorded from GitHub", recorded)
    return recorded


def _check(ctx: JobContext, issue: IssueRecord, now: datetime) -> int:
    try:
        current = ctx.forge.get_issue(issue.repo, issue.issue)
    except NotFound:
        current = None
    if current is not None and current.state == "open":
        return 0
    prefix = f"agent/{issue.issue}-"
    merged = [
        p for p in ctx.forge.list_pulls(issue.repo, state="all") if p.head_ref.startswith(prefix) and p.merged
    ]
    if merged:
        pr = max(merged, key=lambda p: p.number)
        metrics.record_event(
            ctx.paths.metrics,
            ts=now,
            state="merged",
            repo=issue.repo,
            issue=issue.issue,
            pr=pr.number,
            by="github",
        )
        return 1
    reason = "deleted on GitHub" if current is None else "closed on GitHub"
    metrics.record_event(
        ctx.paths.metrics,
        ts=now,
        state="human_close",
        repo=issue.repo,
        issue=issue.issue,
        reason=reason,
        actor="github",
        by="github",
    )
    return 1
