"""What every self-improvement loop shares: cadence gates, filing issues without duplicates, the optional LLM.

A loop job is `run_job(ctx, argv)` (registered in orchestrator.values.job_registry), run by the one loop-job runner
(orchestrator.loops.runner) and shaped like

    def run_job(ctx, argv):
        return run_loop_job(JOB, ctx, argv, body)     # --force, --repo KEY, --dry-run; failures → exit 1

    def body(ctx, args):
        def step(repo):
            drafts = policy.decide(snapshot(...), ctx.clock())      # pure, table-tested
            report = file_issues(ctx, repo.full_name, drafts, ctx.config.loops.max_issues_per_run,
                                 job=JOB, dry_run=args.dry_run)
            mark_ran(ctx, JOB, repo.key)
            return not report.errors
        return for_each_repo(JOB, ctx, args, step, every=EVERY)  # the cadence gate, per-repo failures

Cadence — `due(ctx, job, repo_key, every)` is True when the (job, repo) pair never ran or last ran at least
`every` ago (minus a small slack, 5 % of `every` capped at 15 minutes, so cron jitter never skips a cycle);
`mark_ran(ctx, job, repo_key)` records `ctx.clock()`. Both live in runtime/state/loops.json under "runs";
`loop_data` / `update_loop_data` keep a loop's own small JSON state in the same file under "data".

Filing — `IssueDraft(title, body, labels, dedup_key)`; build `body` with `render_issue_body(...)` so it has the
`## Goal` / `## Success Criteria` sections the requirement guard needs (a draft whose body fails the guard is
rejected, not filed) and the hidden `<!-- agentos-loop job=... key=... -->` marker dedup uses.
`file_issues(ctx, repo, drafts, cap, ...)` files at most `cap` drafts, labelled `bot-generated` + the draft's
labels, skipping near-duplicates (orchestrator.policy.dedup) of any open issue, of issues closed within
`closed_within`, and of drafts accepted earlier in the same call; it returns a FilingReport.
Pure policies return `Proposal`s (orchestrator.policy.proposal) instead: `proposal_draft(p, job)` renders one
(Evidence / Reasoning sections, untrusted excerpts sanitized in a code block) and
`orchestrator.loops.routing.file_proposals(ctx, repos, proposals, job=...)` routes them by scope: product
work to its own repo, ops work (the agent host, Agent OS itself) to `loops.ops_repo` or a Telegram note.

LLM — `llm_text(ctx, prompt, purpose=...)` asks `config.llm.agent` in print mode and returns its answer, or
None when no agent is configured or the call fails (logged). `llm_json` does the same and parses a JSON answer
(`parse_json_answer`). Every loop therefore has a deterministic path that runs when these return None.

Text from agents or logs put into an issue must go through `orchestrator.executors.prompt.agent_text` (neutralizes
`Closes #N` and @mentions) and, for excerpts, `orchestrator.executors.prompt.code_block`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.github.errors import GitHubError
from orchestrator.loops.llm import llm_json as llm_json
from orchestrator.loops.llm import llm_proposals as llm_proposals
from orchestrator.loops.llm import llm_text as llm_text
from orchestrator.loops.llm import parse_json_answer as parse_json_answer
from orchestrator.loops.llm import text_field as text_field
from orchestrator.policy.dedup import (
    DEFAULT_THRESHOLD,
    Candidate,
    duplicate_of,
    marker_key,
)
from orchestrator.policy.proposal import Proposal
from orchestrator.policy.requirement_guard import check_requirements
from orchestrator.state import decisions, metrics
from orchestrator.state.store import read_json, update_json

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig
    from orchestrator.state.runtime import JobContext
    from orchestrator.values.models import Issue

log = logging.getLogger(__name__)

BOT_LABEL = "bot-generated"
LABEL_COLORS: dict[str, str] = {
    BOT_LABEL: "ededed",
    "autonomous-fix": "d93f0b",
    "stale": "cfd3d7",
    "improvement": "a2eeef",
}
STATE_FILE = "loops.json"
LOOP_FILED = "loop_filed"  # the event of a filed issue (the dashboard's "loops' own activity")
MAX_BODY_CHARS = 60_000  # GitHub refuses bodies over 65,536 characters
DEFAULT_CLOSED_WITHIN = timedelta(days=14)
_MAX_SLACK = timedelta(minutes=15)


# --- arguments ------------------------------------------------------------------------------------------


class LoopArgsError(ValueError):
    """The job's command-line arguments are not understood."""


@dataclass(frozen=True)
class LoopArgs:
    force: bool = False  # ignore the cadence gate
    repo: str | None = None  # only this repo (config key or owner/name)
    dry_run: bool = False  # decide and report, file nothing


def parse_loop_args(argv: Sequence[str]) -> LoopArgs:
    """`--force`, `--dry-run`, `--repo KEY` (also `--repo=KEY`)."""
    force = dry_run = False
    repo: str | None = None
    items = list(argv)
    while items:
        arg = items.pop(0)
        if arg == "--force":
            force = True
        elif arg == "--dry-run":
            dry_run = True
        elif arg == "--repo" and items:
            repo = items.pop(0)
        elif arg.startswith("--repo="):
            repo = arg.split("=", 1)[1]
        else:
            raise LoopArgsError(f"unknown argument {arg!r} (expected --force, --dry-run, --repo KEY)")
    return LoopArgs(force=force, repo=repo, dry_run=dry_run)


def selected_repos(ctx: JobContext, args: LoopArgs) -> tuple[RepoConfig, ...]:
    """The enabled repos, or only `args.repo` (raises UnknownRepoError for an unknown one)."""
    if args.repo is not None:
        return (ctx.config.repo(args.repo),)
    return ctx.config.enabled_repos


# --- cadence gate and loop state ------------------------------------------------------------------------


def _state_path(ctx: JobContext) -> Path:
    return ctx.paths.state / STATE_FILE


def last_run(ctx: JobContext, job: str, repo_key: str) -> datetime | None:
    raw = read_json(_state_path(ctx), dict).get("runs", {}).get(job, {}).get(repo_key)
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def is_due(last: datetime | None, now: datetime, every: timedelta) -> bool:
    """Pure gate: never ran, or `every` (minus the jitter slack) has passed since `last`."""
    if last is None:
        return True
    slack = min(every * 0.05, _MAX_SLACK)
    return now - last >= every - slack


def due(ctx: JobContext, job: str, repo_key: str, every: timedelta) -> bool:
    return is_due(last_run(ctx, job, repo_key), ctx.clock(), every)


def mark_ran(ctx: JobContext, job: str, repo_key: str, when: datetime | None = None) -> None:
    stamp = (when or ctx.clock()).isoformat()

    def apply(data: dict[str, Any]) -> dict[str, Any]:
        data.setdefault("runs", {}).setdefault(job, {})[repo_key] = stamp
        return data

    update_json(_state_path(ctx), apply)


def loop_data(ctx: JobContext, job: str) -> dict[str, Any]:
    """A loop's own state (a JSON object), {} when it has none yet."""
    data: dict[str, Any] = read_json(_state_path(ctx), dict).get("data", {}).get(job, {})
    return data


def update_loop_data(
    ctx: JobContext, job: str, fn: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Lock, apply `fn` to the loop's state, write it back; returns the new state."""
    result: dict[str, Any] = {}

    def apply(data: dict[str, Any]) -> dict[str, Any]:
        jobs = data.setdefault("data", {})
        jobs[job] = fn(dict(jobs.get(job, {})))
        result.update(jobs[job])
        return data

    update_json(_state_path(ctx), apply)
    return result


# --- issue drafts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueDraft:
    title: str
    body: str  # markdown with ## Goal and ## Success Criteria (see render_issue_body)
    labels: tuple[str, ...] = ()
    dedup_key: str = ""  # stable name of the subject, e.g. "incident:blocker:demo/x:tests_failed"

    @property
    def key(self) -> str:
        return self.dedup_key or marker_key(self.body)


def render_issue_body(
    *,
    job: str,
    key: str,
    goal: str,
    success_criteria: str,
    summary: str = "",
    constraints: str = "",
    sections: Sequence[tuple[str, str]] = (),
) -> str:
    """The standard body of a loop's issue (templates/loops/issue.md.j2).

    `sections` are extra `## Title` blocks after Context, e.g. (("Evidence", ...), ("Reasoning", ...)).
    The requirement guard reads them as part of the task's context."""
    from orchestrator.executors.prompt import environment

    template = environment().get_template("loops/issue.md.j2")
    return template.render(
        job=job,
        key=_marker_safe(key),
        goal=goal,
        success_criteria=success_criteria,
        summary=summary,
        constraints=constraints,
        sections=[(title, text) for title, text in sections if text.strip()],
    )


def proposal_draft(proposal: Proposal, job: str) -> IssueDraft:
    """A policy's Proposal rendered into a draft; `excerpts` are sanitized, references and @mentions
    neutralized, and shown in a code block so they cannot add sections of their own."""
    from orchestrator.executors.prompt import agent_text, code_block

    evidence = proposal.evidence.strip()
    if proposal.excerpts:
        shown = "\n\n".join(_no_fences(agent_text(text, 2000)) for text in proposal.excerpts)
        evidence = f"{evidence}\n\nExcerpts:\n\n{code_block(shown)}".strip()
    body = render_issue_body(
        job=job,
        key=proposal.key,
        goal=proposal.goal,
        success_criteria=proposal.success_criteria,
        summary=proposal.summary,
        constraints=proposal.constraints,
        sections=(("Evidence", evidence), ("Reasoning", proposal.reasoning)),
    )
    return IssueDraft(proposal.title, body, proposal.labels, proposal.key)


def _no_fences(text: str) -> str:
    """Backtick runs of 3+ would toggle the requirement guard's fence tracking inside our code block."""
    return re.sub(r"`{3,}", lambda m: "'" * len(m.group()), text)


def _marker_safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:/#@+-]", "_", key)


def _with_marker(draft: IssueDraft, job: str) -> str:
    body = draft.body
    if draft.dedup_key and marker_key(body) != _marker_safe(draft.dedup_key):
        body = f"{body.rstrip()}\n\n<!-- agentos-loop job={job} key={_marker_safe(draft.dedup_key)} -->\n"
    if len(body) <= MAX_BODY_CHARS:
        return body
    marker = body[body.rfind("<!-- agentos-loop") :] if "<!-- agentos-loop" in body else ""
    keep = MAX_BODY_CHARS - len(marker) - 40
    return f"{body[:keep]}\n\n[truncated]\n\n{marker}"


# --- filing ---------------------------------------------------------------------------------------------


@dataclass
class FilingReport:
    filed: list[Issue] = field(default_factory=list)
    would_file: list[IssueDraft] = field(default_factory=list)  # dry run: what would have been filed
    duplicates: list[tuple[IssueDraft, str]] = field(default_factory=list)  # (draft, "#12 same title")
    over_cap: list[IssueDraft] = field(default_factory=list)
    rejected: list[tuple[IssueDraft, str]] = field(default_factory=list)  # failed the requirement guard
    errors: list[str] = field(default_factory=list)
    labels_ensured: set[str] = field(default_factory=set)  # labels already created in this call

    @property
    def filed_numbers(self) -> list[int]:
        return [issue.number for issue in self.filed]


def existing_candidates(
    ctx: JobContext, repo: str, closed_within: timedelta = DEFAULT_CLOSED_WITHIN
) -> list[Candidate]:
    """Open issues and issues closed (updated) within `closed_within`, as dedup candidates."""
    since = ctx.clock() - closed_within
    issues = [*ctx.forge.list_issues(repo, state="open")]
    issues += ctx.forge.list_issues(repo, state="closed", since=since)
    return [Candidate(i.title, i.body, marker_key(i.body), f"#{i.number}") for i in issues]


def file_issues(
    ctx: JobContext,
    repo: str,
    drafts: Iterable[IssueDraft],
    cap: int,
    *,
    job: str,
    closed_within: timedelta = DEFAULT_CLOSED_WITHIN,
    threshold: float = DEFAULT_THRESHOLD,
    dry_run: bool = False,
) -> FilingReport:
    """File at most `cap` of `drafts` in `repo` (owner/name), skipping near-duplicates; never raises for
    one issue that GitHub refuses (recorded in `errors`)."""
    report = FilingReport()
    pending = list(drafts)
    if not pending:
        return report
    known = existing_candidates(ctx, repo, closed_within)
    accepted: list[Candidate] = []
    for draft in pending:
        questions = check_requirements(draft.title, draft.body).questions
        if questions:
            report.rejected.append((draft, " ".join(questions)))
            log.error("loop draft rejected job=%s title=%r: %s", job, draft.title, questions)
            continue
        candidate = Candidate(draft.title, draft.body, draft.key, "draft")
        match = duplicate_of(candidate, [*known, *accepted], threshold)
        if match is not None:
            report.duplicates.append((draft, f"{match.ref} {match.reason}"))
            continue
        if len(accepted) >= cap:
            report.over_cap.append(draft)
            continue
        accepted.append(replace(candidate, ref=f"draft {draft.title!r}"))
        if dry_run:
            report.would_file.append(draft)
        else:
            _create(ctx, repo, draft, job, report)
    return report


def _create(ctx: JobContext, repo: str, draft: IssueDraft, job: str, report: FilingReport) -> None:
    labels = list(dict.fromkeys((BOT_LABEL, *draft.labels)))
    missing = [name for name in labels if name not in report.labels_ensured]
    try:
        if missing:
            ctx.forge.ensure_labels(repo, {name: LABEL_COLORS.get(name, "c5def5") for name in missing})
            report.labels_ensured.update(missing)
        issue = ctx.forge.create_issue(repo, draft.title, _with_marker(draft, job), labels)
    except GitHubError as exc:
        report.errors.append(f"{draft.title}: {exc}")
        log.error("filing failed job=%s repo=%s title=%r error=%s", job, repo, draft.title, exc)
        return
    report.filed.append(issue)
    log.info("filed issue job=%s repo=%s issue=%s key=%s", job, repo, issue.number, draft.key)
    metrics.record_event(
        ctx.paths.metrics, state=LOOP_FILED, repo=repo, issue=issue.number, reason=draft.title, job=job
    )
    words = f"filed by the {job} loop (labels {', '.join(labels)}; dedup key {draft.key})"
    decisions.record(
        ctx, job=job, repo=repo, issue=issue.number, title=issue.title, code="filed", words=words
    )


def log_report(job: str, repo: str, report: FilingReport) -> None:
    log.info(
        "%s repo=%s filed=%s would_file=%s duplicates=%s over_cap=%s rejected=%s errors=%s",
        job,
        repo,
        report.filed_numbers,
        len(report.would_file),
        len(report.duplicates),
        len(report.over_cap),
        len(report.rejected),
        len(report.errors),
    )


# --- shared snapshots -----------------------------------------------------------------------------------


def objectives_dir(ctx: JobContext) -> Path:
    """`objectives/` next to the config file (the working directory when the config has no file)."""
    base = ctx.config.source.parent if ctx.config.source is not None else Path.cwd()
    return base / "objectives"


def task_types(ctx: JobContext) -> dict[str, str]:
    """Task id → task type, from every task file in the mailbox (events do not all carry the type)."""
    from orchestrator.values.models import TaskState

    found: dict[str, str] = {}
    for state in TaskState:
        for entry in ctx.mailbox.list(state):
            if entry.task is not None:
                found[entry.task.id] = entry.task.task_type
    return found


def render_loop_template(name: str, **values: Any) -> str:
    """templates/loops/<name> rendered with the prompt module's filters (data, code, agent_text)."""
    from orchestrator.executors.prompt import environment

    return environment().get_template(f"loops/{name}").render(**values)
