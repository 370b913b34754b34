"""jobs/product_inspector (daily): probe the configured product URLs → PRODUCT_INSPECTION.md through a PR,
an incident issue and a notification for each failing check.

`loops.product_urls` is global, so the report and the incidents go to one repository: `--repo KEY`, else the
first enabled repo. This module is the only one that sends HTTP requests to the product (`requests`, with a
connect and read timeout and a deadline on the whole body).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import requests

from orchestrator import git
from orchestrator.config import ProductProbe, RepoConfig
from orchestrator.executors import doc_pr
from orchestrator.executors.notify import Notifier
from orchestrator.executors.prompt import environment
from orchestrator.github.errors import GitHubError
from orchestrator.loops.common import (
    LoopArgs,
    file_issues,
    log_report,
    mark_ran,
    proposal_draft,
    selected_repos,
)
from orchestrator.loops.runner import for_each_repo, run_loop_job
from orchestrator.policy import product as policy
from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)

JOB = policy.JOB
EVERY = timedelta(days=1)
DOCUMENT = "PRODUCT_INSPECTION.md"
MAX_BODY_BYTES = 256 * 1024
EXCERPT_CHARS = 2000
INCIDENT_DEDUP_WINDOW = timedelta(days=1)  # a check failing again a day after its incident closed is news


def timeout_for(probe: ProductProbe) -> float:
    """Seconds to wait for the whole answer: three times the latency limit, between 1 s and 30 s."""
    return min(max(probe.max_latency_ms * 3 / 1000, 1.0), 30.0)


def probe_url(probe: ProductProbe, session: requests.Session) -> policy.ProbeResult:
    """One GET with a connect/read timeout and a deadline on the whole body (a trickling server is cut off)."""
    limit = timeout_for(probe)
    start = time.monotonic()
    try:
        with session.get(probe.url, timeout=(min(limit, 10.0), limit), stream=True) as response:
            body, cut_off = _read_body(response, start + limit)
            status = response.status_code
    except requests.Timeout:
        return policy.ProbeResult(probe.url, None, None, error=f"timed out after {limit:g}s")
    except requests.RequestException as exc:
        return policy.ProbeResult(probe.url, None, None, error=_one_line(exc))
    latency = (time.monotonic() - start) * 1000
    if cut_off:
        return policy.ProbeResult(probe.url, status, latency, error=f"body not complete after {limit:g}s")
    found = None if probe.contains is None else probe.contains in body
    return policy.ProbeResult(probe.url, status, latency, body[:EXCERPT_CHARS], found)


def _read_body(response: requests.Response, deadline: float) -> tuple[str, bool]:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=16384):
        chunks.append(chunk)
        size += len(chunk)
        if time.monotonic() > deadline:
            return "", True
        if size >= MAX_BODY_BYTES:
            break
    encoding = response.encoding or "utf-8"
    return b"".join(chunks)[:MAX_BODY_BYTES].decode(encoding, errors="replace"), False


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def render_inspection(
    verdicts: Sequence[policy.ProbeVerdict], now: datetime, previous_text: str | None
) -> str:
    """PRODUCT_INSPECTION.md: the latest results and the history kept from `previous_text`."""
    history = policy.merged_history(
        policy.history_line(verdicts, now), policy.previous_history(previous_text)
    )
    return (
        environment()
        .get_template("planning/product_inspection.md.j2")
        .render(
            verdicts=verdicts,
            now=now,
            passed=sum(1 for v in verdicts if v.ok),
            history=history,
            cell=policy.table_cell,
        )
    )


def inspect(probes: Sequence[ProductProbe]) -> list[policy.ProbeVerdict]:
    with requests.Session() as session:
        session.headers["User-Agent"] = "agent-os-product-inspector"
        return [policy.judge(probe, probe_url(probe, session)) for probe in probes]


def run_job(ctx: JobContext, argv: list[str]) -> int:
    return run_loop_job(JOB, ctx, argv, _inspect)


def _inspect(ctx: JobContext, args: LoopArgs) -> bool:
    """The product is probed once a day, on behalf of the first selected repo (its backlog gets the issues)."""
    probes = ctx.config.loops.product_urls
    repos = selected_repos(ctx, args)
    if not probes or not repos:
        log.info("%s: nothing to do (no loops.product_urls or no enabled repo)", JOB)
        return True
    return for_each_repo(
        JOB, ctx, args, lambda repo: _inspect_for(ctx, repo, args), every=EVERY, only=repos[:1]
    )


def _inspect_for(ctx: JobContext, repo: RepoConfig, args: LoopArgs) -> bool:
    now = ctx.clock()
    verdicts = inspect(ctx.config.loops.product_urls)
    for verdict in verdicts:
        log.info("%s url=%s ok=%s problems=%s", JOB, verdict.probe.url, verdict.ok, list(verdict.problems))
    report = file_issues(
        ctx,
        repo.full_name,
        [proposal_draft(p, JOB) for p in policy.incident_proposals(verdicts, now, repo.full_name)],
        ctx.config.loops.max_issues_per_run,
        job=JOB,
        closed_within=INCIDENT_DEDUP_WINDOW,
        dry_run=args.dry_run,
    )
    log_report(JOB, repo.full_name, report)
    if args.dry_run:
        return True
    _notify_failures(ctx, verdicts)
    try:
        doc_pr.propose_documents(
            ctx,
            repo,
            {DOCUMENT: lambda current: render_inspection(verdicts, now, current)},
            title=f"Product inspection {now:%Y-%m-%d}: {sum(v.ok for v in verdicts)}/{len(verdicts)} passed",
            body=_pr_body(verdicts, report.filed_numbers),
            branch_hint="product-inspection",
        )
    except (git.GitError, git.PoolExhausted, git.PushRefused, GitHubError) as exc:
        log.error("%s: the report PR failed repo=%s error=%s", JOB, repo.full_name, exc)
        return False
    mark_ran(ctx, JOB, repo.key, now)
    return not report.errors


def _notify_failures(ctx: JobContext, verdicts: Sequence[policy.ProbeVerdict]) -> None:
    failing = [v for v in verdicts if not v.ok]
    if not failing:
        return
    notifier = Notifier.for_context(ctx)
    for verdict in failing:
        text = f"Product check failing: {verdict.probe.url}\n" + "\n".join(verdict.problems)
        notifier.notify("product", text, key=f"product:{verdict.probe.url}", severity="error")


def _pr_body(verdicts: Sequence[policy.ProbeVerdict], incidents: Sequence[int]) -> str:
    lines = [f"The daily product inspection: {sum(v.ok for v in verdicts)} of {len(verdicts)} checks passed."]
    lines += [f"- {v.probe.url}: {'ok' if v.ok else '; '.join(v.problems)}" for v in verdicts]
    if incidents:
        lines += ["", "Incidents filed: " + ", ".join(f"#{n}" for n in incidents)]
    lines += ["", "Written by the Agent OS `product_inspector` job; only PRODUCT_INSPECTION.md changes."]
    return "\n".join(lines)
