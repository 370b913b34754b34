"""One attempt at one task: worktree → prompt → agent → result contract → our own test run → commit → push.

Returns an `AttemptOutcome` value; the queue job decides what follows (PR, follow-up, next agent, escalation)
through `policy.retry`. Work is committed and pushed whatever the outcome (partial work is never lost), and the
worktree always goes back to the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from orchestrator import budgets, git, metrics, process
from orchestrator.agents import AgentSpec, run_agent
from orchestrator.models import AgentResult, AgentRun, Task
from orchestrator.policy.retry import Outcome, classify
from orchestrator.prompt import render_prompt
from orchestrator.result_contract import ContractError, contract_text, read_result
from orchestrator.runtime import JobContext
from orchestrator.worktrees import git_settings

if TYPE_CHECKING:
    from orchestrator.config import AgentConfig, RepoConfig

_TEST_LOG_TAIL = 8000


class AgentRunner(Protocol):
    def __call__(self, spec: AgentSpec, prompt: str, worktree: Path, run_dir: Path) -> AgentRun: ...


@dataclass(frozen=True)
class TestRun:
    passed: bool
    command: str
    duration_s: float
    log_tail: str


@dataclass(frozen=True)
class AttemptOutcome:
    task: Task
    agent: str
    outcome: Outcome
    detail: str  # one line: why, for the next prompt and the event log
    run: AgentRun
    result: AgentResult | None
    tests: TestRun | None
    head_sha: str | None  # the branch head after our push (None when nothing was ever committed)
    files_changed: tuple[str, ...]


def agent_spec(cfg: AgentConfig) -> AgentSpec:
    return AgentSpec(
        name=cfg.name,
        kind=cfg.kind,
        command=tuple(cfg.command),
        model=cfg.model,
        api_key_env=cfg.api_key_env,
        base_url=cfg.base_url,
        timeout_s=cfg.timeout_minutes * 60,
        stall_timeout_s=cfg.stall_minutes * 60,
        max_turns=cfg.max_turns,
        env=dict(cfg.env),
        price_per_million_input=cfg.price_per_million_input,
        price_per_million_output=cfg.price_per_million_output,
    )


def default_runner(environ: dict[str, str]) -> AgentRunner:
    def runner(spec: AgentSpec, prompt: str, worktree: Path, run_dir: Path) -> AgentRun:
        return run_agent(spec, prompt, worktree, run_dir, environ=environ)

    return runner


def attempt(
    ctx: JobContext,
    repo: RepoConfig,
    task: Task,
    agent: str,
    worktree: Path,
    runner: AgentRunner,
) -> AttemptOutcome:
    """Run `agent` on `task` in `worktree` (already on the task branch) and push what it produced."""
    base_ref = f"origin/{repo.base_branch}"
    prompt = render_prompt(
        task,
        repo_readme=_read_bounded(worktree / "README.md", 8192),
        codebase_md=_read_bounded(worktree / "CODEBASE.md", ctx.config.limits.codebase_md_max_bytes),
        codebase_max_bytes=ctx.config.limits.codebase_md_max_bytes,
        contract=contract_text(),
    )
    run_dir = ctx.paths.agent_runs / task.id / f"attempt-{task.attempt}-{agent}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "prompt.md").write_text(prompt)
    result_file = worktree / ".agent_result.md"
    result_file.unlink(missing_ok=True)
    guarded = git.snapshot_files(git.shared_config_files(worktree))
    spec = agent_spec(ctx.config.agents[agent])
    spent = budgets.task_spend(ctx, task)
    spec = replace(
        spec, max_budget_usd=ctx.config.budgets.per_task_usd - spent
    )  # the task's remaining budget
    run = runner(spec, prompt, worktree, run_dir)
    tampered = git.restore_files(guarded)
    if tampered:  # a filter or alias planted in git config would run inside the orchestrator, token nearby
        ctx.log.warning("agent changed git config; restored task=%s files=%s", task.id, tampered)
        metrics.record_event(
            ctx.paths.metrics,
            task=task.id,
            repo=task.repo,
            issue=task.issue,
            agent=agent,
            state="security",
            reason=f"agent changed {', '.join(p.name for p in tampered)}; restored before any git command",
        )
    result, contract_error = _read_contract(worktree)
    if not worktree.is_dir():
        contract_error = "the agent deleted its worktree"
    committed = _commit(ctx, task, agent, worktree, result, run)
    changed = tuple(git.changed_files(worktree, base_ref)) if worktree.is_dir() else ()
    tests = None
    if result is not None and result.status == "complete" and changed and not run.timed_out:
        tests = run_tests(repo, worktree)
    outcome = classify(
        timed_out=run.timed_out or run.stalled,
        rate_limited=run.rate_limited,
        process_failed=not run.ok,
        contract_error=contract_error is not None,
        status=result.status if result else None,
        tests_passed=tests.passed if tests else None,
        changed=bool(changed),
    )
    detail = _detail(outcome, run, contract_error, tests, result)
    secrets = _secret_findings(worktree, base_ref) if changed else []
    if secrets:
        outcome, detail = Outcome.SECRET_IN_DIFF, "; ".join(secrets[:5])
        ctx.audit("secret_blocked", f"{task.repo}:{task.branch}", findings=secrets[:20], agent=agent)
        head = None
    else:
        head = _push(ctx, repo, task, worktree) if committed or changed else None
    return AttemptOutcome(task, agent, outcome, detail, run, result, tests, head, changed)


def run_tests(repo: RepoConfig, worktree: Path) -> TestRun:
    """The orchestrator's own test run: the agent's word for tests is never trusted."""
    res = process.run(
        ["/bin/sh", "-c", repo.test_command],
        cwd=worktree,
        timeout=repo.test_timeout_seconds,
    )
    log = process.tail(res.stdout + ("\n" + res.stderr if res.stderr else ""), _TEST_LOG_TAIL)
    return TestRun(res.ok, repo.test_command, res.duration_s, log)


def _read_contract(worktree: Path) -> tuple[AgentResult | None, str | None]:
    try:
        return read_result(worktree), None
    except ContractError as exc:
        return None, str(exc)


def _commit(
    ctx: JobContext, task: Task, agent: str, worktree: Path, result: AgentResult | None, run: AgentRun
) -> str | None:
    if not worktree.is_dir():
        return None
    if result is not None:
        subject = result.summary.splitlines()[0][:72] if result.summary else task.title
        status = result.status
    else:
        subject, status = f"work in progress on #{task.issue}", "incomplete"
    why = " (stopped: timeout)" if run.timed_out or run.stalled else ""
    message = f"{subject}\n\nAgent: {agent}, attempt {task.attempt}, status {status}{why}\nRefs #{task.issue}"
    ident = ctx.config.git
    return git.commit_all(worktree, message, ident.author_name, ident.author_email)


def _push(ctx: JobContext, repo: RepoConfig, task: Task, worktree: Path) -> str:
    git.push(worktree, task.branch, settings=git_settings(ctx, repo))
    sha = git.head_sha(worktree)
    ctx.audit("push", f"{task.repo}:{task.branch}", sha=sha, attempt=task.attempt)
    return sha


def _secret_findings(worktree: Path, base_ref: str) -> list[str]:
    """Credentials the branch adds (path:line: kind, value masked) — the same scanner as the pre-commit hook."""
    from orchestrator.security.secret_scan import scan_diff

    return [str(f) for f in scan_diff(git.diff(worktree, base_ref))]


def _detail(
    outcome: Outcome,
    run: AgentRun,
    contract_error: str | None,
    tests: TestRun | None,
    result: AgentResult | None,
) -> str:
    if outcome is Outcome.TIMEOUT:
        return "stalled: no output" if run.stalled else "hit the hard timeout"
    if outcome in (Outcome.CRASH, Outcome.RATE_LIMITED):
        return run.error or f"exit code {run.exit_code}"
    if outcome is Outcome.CONTRACT_ERROR:
        return contract_error or "result contract error"
    if outcome is Outcome.TESTS_FAILED and tests is not None:
        last = [line for line in tests.log_tail.splitlines() if line.strip()][-3:]
        return f"`{tests.command}` failed: " + " | ".join(last)
    if outcome is Outcome.NO_CHANGES:
        return "reported complete but changed no files"
    if result is not None and outcome in (Outcome.PARTIAL, Outcome.BLOCKED):
        return (result.blockers or result.next_step or result.summary).strip().splitlines()[0][:300]
    return ""


def _read_bounded(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError:
        return ""
    text = data[:limit].decode(errors="replace")
    return text + ("\n[truncated]" if len(data) > limit else "")
