"""jobs/codebase_memory: tasks merged since the last run → one bounded CODEBASE.md entry each, batched into one
PR through doc_pr (never pushed to the base branch).

Per repo, at most every CADENCE: the `merged` events newer than the last one remembered (the first run looks
back FIRST_RUN_LOOKBACK) of tasks with an issue — documentation and dependency PRs have none, so this job's
own PRs never become entries. For each: the merged PR (title, `## Summary`, `### Decisions`), its files, and
the task file's goal when the mailbox still has it. Past `loops.codebase_memory_max_bytes` the oldest entries
are summarized (by the configured LLM when there is one and its answer checks out, else deterministically).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestrator.executors import doc_pr
from orchestrator.loops.common import (
    LoopArgs,
    llm_text,
    loop_data,
    mark_ran,
    update_loop_data,
)
from orchestrator.loops.runner import for_each_repo, run_loop_job
from orchestrator.policy import codebase_memory as policy
from orchestrator.security.secret_scan import scan_text
from orchestrator.state.mailbox import MailboxError
from orchestrator.state.metrics import Event, read_events
from orchestrator.state.runtime import JobContext

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

log = logging.getLogger(__name__)

JOB = "codebase_memory"
CADENCE = timedelta(hours=6)
FIRST_RUN_LOOKBACK = timedelta(days=7)
DOCUMENT = "CODEBASE.md"
MAX_TASKS_PER_RUN = 50


def merged_events(ctx: JobContext, repo: RepoConfig, since: datetime) -> list[Event]:
    """Merges of issue tasks in `repo` strictly after `since`, oldest first."""
    return [
        event
        for event in read_events(ctx.paths.metrics, since)
        if event.state == "merged"
        and event.ts > since
        and event.repo == repo.full_name
        and event.issue is not None
        and isinstance(event.extra.get("pr"), int)
    ]


def merged_task(ctx: JobContext, repo: RepoConfig, event: Event) -> policy.MergedTask:
    number = int(event.extra["pr"])
    pr = ctx.forge.get_pull(repo.full_name, number)
    files = tuple(ctx.forge.pull_files(repo.full_name, number))
    goal = ""
    if event.task_id:
        try:
            goal = ctx.mailbox.get(event.task_id)[1].goal
        except MailboxError as exc:
            log.info("%s: no task file for %s (%s)", JOB, event.task_id, exc)
    return policy.MergedTask(
        pr=number,
        issue=event.issue,
        title=pr.title,
        merged_at=event.ts,
        summary=policy.pr_body_section(pr.body, "Summary"),
        files=files,
        decisions=policy.pr_body_section(pr.body, "Decisions"),
        goal=goal,
    )


def withhold_secrets(entry: policy.MemoryEntry) -> policy.MemoryEntry:
    """An entry whose text looks like it holds a credential keeps only its heading (doc_pr would refuse the
    whole batch otherwise, every run)."""
    if not scan_text(entry.render(), DOCUMENT):
        return entry
    log.warning("%s: PR #%s's entry looked like it held a credential; its text is withheld", JOB, entry.pr)
    heading = entry.heading if not scan_text(entry.heading, DOCUMENT) else f"### PR #{entry.pr}"
    return replace(
        entry, heading=heading, lines=("What changed: (withheld: the text looked like a credential)",)
    )


def summarizer(ctx: JobContext) -> policy.Summarizer:
    """The LLM's checked summary when one is configured, else (or when it fails the check) the heading +
    first line of each entry."""

    def summarize(rotated: Sequence[policy.MemoryEntry]) -> list[str]:
        if ctx.config.llm.agent:
            answer = llm_text(ctx, policy.summary_prompt(rotated), purpose=JOB)
            accepted = policy.accept_llm_summary(answer, rotated)
            if accepted is not None:
                return accepted
            log.info("%s: LLM summary not usable; using the deterministic one", JOB)
        return policy.deterministic_summary(rotated)

    return summarize


def run_job(ctx: JobContext, argv: list[str]) -> int:
    return run_loop_job(JOB, ctx, argv, _remember_all)


def _remember_all(ctx: JobContext, args: LoopArgs) -> bool:
    def step(repo: RepoConfig) -> bool:
        remember(ctx, repo, dry_run=args.dry_run)
        return True

    return for_each_repo(JOB, ctx, args, step, every=CADENCE, failures=doc_pr.DOC_PR_ERRORS)


def remember(ctx: JobContext, repo: RepoConfig, dry_run: bool = False) -> int | None:
    """Record the new merges of `repo`; the CODEBASE.md PR number (None when there was nothing new)."""
    now = ctx.clock()
    seen = loop_data(ctx, JOB).get(repo.key, {}).get("last_merge")
    since = datetime.fromisoformat(seen) if isinstance(seen, str) else now - FIRST_RUN_LOOKBACK
    events = merged_events(ctx, repo, since)[:MAX_TASKS_PER_RUN]
    pr_number = None
    if events:
        tasks = [merged_task(ctx, repo, event) for event in events]
        entries = [withhold_secrets(policy.build_entry(task)) for task in tasks]
        if dry_run:
            log.info("%s: would record %s", JOB, [t.pr for t in tasks])
            return None
        pr = doc_pr.propose_documents(
            ctx,
            repo,
            {DOCUMENT: _edit(entries, ctx.config.loops.codebase_memory_max_bytes, summarizer(ctx))},
            title=f"CODEBASE.md: {len(tasks)} merged task{'s' if len(tasks) != 1 else ''}",
            body=_pr_body(tasks),
            branch_hint="codebase-memory",
        )
        pr_number = pr.number if pr is not None else None
        last = max(event.ts for event in events).isoformat()
        update_loop_data(ctx, JOB, lambda data: _remember_last(data, repo.key, last))
        log.info("%s repo=%s recorded=%s pr=%s", JOB, repo.full_name, [t.pr for t in tasks], pr_number)
    if not dry_run:
        mark_ran(ctx, JOB, repo.key, now)
    return pr_number


def _edit(entries: Sequence[policy.MemoryEntry], max_bytes: int, summarize: policy.Summarizer) -> Any:
    def edit(current: str | None) -> str:
        doc = policy.add_entries(policy.parse_memory(current), entries)
        bounded = policy.bound(doc, max_bytes, summarize)
        if policy.size(bounded) > max_bytes:
            log.warning("%s: CODEBASE.md stays over %d bytes (its preamble is that large)", JOB, max_bytes)
        return policy.render_memory(bounded)

    return edit


def _remember_last(data: dict[str, Any], repo_key: str, last: str) -> dict[str, Any]:
    data.setdefault(repo_key, {})["last_merge"] = last
    return data


def _pr_body(tasks: Sequence[policy.MergedTask]) -> str:
    lines = [
        "Adds one CODEBASE.md entry per merged task (the newest first; the file stays within its size cap):",
        "",
    ]
    lines += [
        f"- PR #{t.pr}" + (f" (issue #{t.issue})" if t.issue is not None else "") + f": {t.title}"
        for t in tasks
    ]
    lines += ["", "Written by the Agent OS `codebase_memory` job; only CODEBASE.md changes."]
    return "\n".join(lines)
