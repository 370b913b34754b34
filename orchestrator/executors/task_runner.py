"""One attempt at one task: worktree → prompt → agent → result contract → our commit → our own test run → push.

Returns an `AttemptOutcome` value; the queue job decides what follows (PR, follow-up, next agent, escalation)
through `policy.retry`. Work is committed and pushed whatever the outcome (partial work is never lost) unless
the publishing guard refuses it — then the outcome says why (`secret_in_diff`, `refused`, `push_rejected`) and
the commit stays in the trusted clone. The worktree always goes back to the pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from orchestrator import git
from orchestrator.agents import AgentSpec, run_agent
from orchestrator.agents.environment import plain_environment
from orchestrator.config.isolation import Isolation
from orchestrator.containment import setid
from orchestrator.containment.commands import first_word, private_dirs, run_contained
from orchestrator.containment.private_git import GitSource, agent_bases
from orchestrator.containment.sandbox import IsolationUnavailable
from orchestrator.edges import process
from orchestrator.edges.worktree_files import UnsafeWorktreePath, read_regular_file
from orchestrator.executors import budgets
from orchestrator.executors.prompt import render_prompt
from orchestrator.executors.worktrees import git_settings
from orchestrator.git import agent_commit, git_layout
from orchestrator.git.publish_guard import PublishRefused
from orchestrator.git.result_contract import RESULT_FILE_NAME, ContractError, contract_text, read_result
from orchestrator.policy.retry import Outcome, classify
from orchestrator.state import metrics
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import AgentResult, AgentRun, Task
from orchestrator.values.untrusted_text import agent_text, title_text

if TYPE_CHECKING:
    from orchestrator.config import AgentConfig, RepoConfig

_TEST_LOG_TAIL = 8000


class AgentRunner(Protocol):
    def __call__(
        self, spec: AgentSpec, prompt: str, worktree: Path, run_dir: Path, git: GitSource | None = None
    ) -> AgentRun: ...


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
        isolation=cfg.isolation,
    )


def default_runner(environ: dict[str, str]) -> AgentRunner:
    def runner(
        spec: AgentSpec, prompt: str, worktree: Path, run_dir: Path, git: GitSource | None = None
    ) -> AgentRun:
        return run_agent(spec, prompt, worktree, run_dir, environ=environ, git=git)

    return runner


def attempt(
    ctx: JobContext,
    repo: RepoConfig,
    task: Task,
    agent: str,
    worktree: Path,
    runner: AgentRunner,
) -> AttemptOutcome:
    """Run `agent` on `task` in `worktree` (already on the task branch) and push what it produced.

    The worktree is data: the commit is built in the trusted clone from its files (`agent_commit`), guarded
    (secrets, blocked paths, conflict markers) and pushed with a lease on the head the
    worktree started from. A refusal or a rejected push is an outcome with its reason, never a crash."""
    settings = git_settings(ctx, repo)
    start = agent_commit.prepare(worktree, task.id, task.branch, repo.base_branch, task.kind, settings)
    prompt = render_prompt(
        task,
        repo_readme=_read_bounded(ctx, task, worktree, "README.md", 8192),
        codebase_md=_read_bounded(
            ctx, task, worktree, "CODEBASE.md", ctx.config.limits.codebase_md_max_bytes
        ),
        codebase_max_bytes=ctx.config.limits.codebase_md_max_bytes,
        contract=contract_text(),
        merge=start.merge,
    )
    run_dir = ctx.paths.agent_runs / task.id / f"attempt-{task.attempt}-{agent}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "prompt.md").write_text(prompt)
    (worktree / RESULT_FILE_NAME).unlink(missing_ok=True)
    spec = agent_spec(ctx.config.agents[agent])
    _know_agent_key(ctx, spec)
    spent = budgets.task_spend(ctx, task)
    spec = replace(
        spec, max_budget_usd=ctx.config.budgets.per_task_usd - spent
    )  # the task's remaining budget
    git_view = _git_source(worktree)
    run = runner(spec, prompt, worktree, run_dir, git_view)
    _check_git_config(ctx, task, agent, worktree, "the agent")
    _disarm_set_id(ctx, task, agent, (worktree, run_dir), "the agent")
    start = _with_agent_merge(ctx, start, run_dir, settings)
    result, contract_error = _read_contract(worktree)
    if not worktree.is_dir():
        contract_error = "the agent deleted its worktree"
    built = agent_commit.build(start, settings)  # read before our test run: its leftovers are not the work
    changed = built.changed
    tests = None
    if result is not None and result.status == "complete" and changed and not run.timed_out:
        if removed := agent_commit.leave_only_the_work(built, settings):
            ctx.log.info("not in the commit, removed before our tests task=%s: %s", task.id, removed[:10])
        tests = run_tests(repo, worktree, spec.isolation, run_dir, ctx.environ, git_view, ctx.paths.root)
        _check_git_config(ctx, task, agent, worktree, "the test step")
        _disarm_set_id(ctx, task, agent, (worktree, run_dir), "the test step")
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
    message = _message(ctx, task, agent, result, run)
    outcome, detail, head = _publish(ctx, task, agent, built, message, settings, outcome, detail)
    if built.snapshot is not None and built.snapshot.dropped:
        detail = _join(detail, "left out of the commit: " + ", ".join(built.snapshot.dropped[:5]))
    return AttemptOutcome(task, agent, outcome, detail, run, result, tests, head, changed)


def _know_agent_key(ctx: JobContext, spec: AgentSpec) -> None:
    """The agent sees its model key: whatever it writes is checked for that value (commit message, pushed
    files, PR text, logs) — also when the job did not start through the entry point that registers it."""
    from orchestrator.security.redact import default_redactor

    key = ctx.environ.get(spec.api_key_env) if spec.api_key_env else None
    if key:
        default_redactor().add(key)


def _publish(
    ctx: JobContext,
    task: Task,
    agent: str,
    built: agent_commit.Built,
    message: str,
    settings: git.GitSettings,
    outcome: Outcome,
    detail: str,
) -> tuple[Outcome, str, str | None]:
    """Guard, commit and push; the outcome, its detail and the branch head after it (None: nothing there).

    A secret always escalates (`secret_in_diff`). Any other refusal, or a push the forge rejected, turns a
    complete attempt into `refused` / `push_rejected` (no PR from work that is not on the branch); an attempt
    that ended otherwise (partial, timeout, …) keeps its outcome and the reason is added to its detail."""
    from orchestrator.security.redact import default_redactor

    target = f"{task.repo}:{task.branch}"
    on_branch = built.start.lease or None  # the forge branch as last seen (usually the start head)
    redactor = default_redactor()

    def known(text: str) -> bool:
        return redactor.contains_known(text) or redactor.contains_disguised(text)

    secrets, other = agent_commit.refusals(built, message, known, settings)
    if secrets:
        ctx.audit("secret_blocked", target, findings=secrets[:20], agent=agent)
        return Outcome.SECRET_IN_DIFF, "not pushed: " + "; ".join(secrets[:5]), on_branch
    identity = (ctx.config.git.author_name, ctx.config.git.author_email)
    sha = agent_commit.commit(built, task.id, redactor.redact(message), identity, settings)
    if other:
        why = "refused before push: " + "; ".join(other[:5])
        _security_event(ctx, task, agent, why)
        return (*_not_published(outcome, detail, Outcome.REFUSED, why), on_branch)
    if sha is None:
        return outcome, detail, on_branch if built.changed else None
    try:
        head = agent_commit.push(built, task.id, sha, settings)
    except PublishRefused as exc:
        if exc.secrets:
            ctx.audit("secret_blocked", target, findings=list(exc.problems[:20]), agent=agent)
            return Outcome.SECRET_IN_DIFF, "not pushed: " + "; ".join(exc.problems[:5]), on_branch
        why = "refused before push: " + "; ".join(exc.problems[:5])
        return (*_not_published(outcome, detail, Outcome.REFUSED, why), on_branch)
    except git.PushRejected as exc:
        why = (
            f"push refused by the forge: {task.branch} is no longer at {built.start.lease[:12] or 'nothing'} "
            f"(someone else pushed); our commit {sha[:12]} is kept in the trusted clone"
        )
        ctx.log.warning("push rejected task=%s error=%s", task.id, exc)
        return (*_not_published(outcome, detail, Outcome.PUSH_REJECTED, why), on_branch)
    ctx.audit("push", target, sha=head, attempt=task.attempt, lease=built.start.lease, parent=built.parent)
    return outcome, detail, head


def _not_published(outcome: Outcome, detail: str, instead: Outcome, why: str) -> tuple[Outcome, str]:
    if outcome in (Outcome.COMPLETE, Outcome.NO_CHANGES):
        return instead, why
    return outcome, _join(detail, why)


def _join(detail: str, more: str) -> str:
    return f"{detail}; {more}" if detail else more


def _message(ctx: JobContext, task: Task, agent: str, result: AgentResult | None, run: AgentRun) -> str:
    """Our commit message: built from the agent's summary (then guarded like everything we publish). The
    summary is the agent's text: control characters go, and a closing keyword (`Fixes #7`) is neutralized —
    on the base branch a commit message closes the issues it names."""
    if result is not None:
        first = agent_text(result.summary, 4096).splitlines()[0] if result.summary.strip() else ""
        subject = first[:72] or title_text(task.title)[:72]
        status = result.status
    else:
        subject, status = f"work in progress on #{task.issue}", "incomplete"
    why = " (stopped: timeout)" if run.timed_out or run.stalled else ""
    return f"{subject}\n\nAgent: {agent}, attempt {task.attempt}, status {status}{why}\nRefs #{task.issue}\n"


def _check_git_config(ctx: JobContext, task: Task, agent: str, worktree: Path, who: str) -> None:
    """Our clones' config must be as we wrote it; a change (a filter, a receivepack, a credential helper
    planted by the agent or the code it wrote) is undone before any git command of ours and recorded."""
    layout = git_layout.layout_for(worktree)
    if layout is None:
        return
    changed = layout.check_configs()
    if changed:
        ctx.log.warning("git config changed during %s; restored task=%s files=%s", who, task.id, changed)
        names = ", ".join(str(path) for path in changed)
        _security_event(ctx, task, agent, f"{who} changed {names}; restored before any git command")
    if worktree.is_dir() and (what := layout.git_file_tampered(worktree)):
        ctx.log.warning("worktree .git tampered during %s task=%s: %s", who, task.id, what)
        _security_event(ctx, task, agent, f"{who} {what}; ignored (our git names its repository itself)")
        layout.restore_git_file(worktree)


def _disarm_set_id(ctx: JobContext, task: Task, agent: str, directories: tuple[Path, ...], who: str) -> None:
    """Set-id executables left where the sandbox could write would run as us for any local user: their bits
    are cleared (`containment.setid`) and the files named in a security event."""
    for directory in directories:
        if changed := setid.disarm(directory):
            names = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
            _security_event(
                ctx, task, agent, f"{who} left set-id files in {directory.name}: {names}; cleared"
            )


def _security_event(ctx: JobContext, task: Task, agent: str, reason: str) -> None:
    metrics.record_event(
        ctx.paths.metrics,
        task=task.id,
        repo=task.repo,
        issue=task.issue,
        agent=agent,
        state="security",
        reason=reason,
    )


def run_tests(
    repo: RepoConfig,
    worktree: Path,
    isolation: Isolation,
    run_dir: Path,
    environ: Mapping[str, str],
    git: GitSource | None = None,
    runtime_root: Path | None = None,
) -> TestRun:
    """The orchestrator's own test run: the agent's word for tests is never trusted.

    The tests are the agent's code: they run contained like the agent (same isolation and network), with an
    environment built from scratch (no token, no key) and their own HOME/TMP under `run_dir`."""
    directory = private_dirs(run_dir, prefix="tests-")
    try:
        res = run_contained(
            isolation,
            ["/bin/sh", "-c", repo.test_command],
            workdir=worktree,
            run_dir=run_dir,
            env=plain_environment(directory, environ),
            timeout=repo.test_timeout_seconds,
            git=git,
            tools=first_word(repo.test_command),
            protected=(runtime_root,) if runtime_root is not None else (),
        )
    except (IsolationUnavailable, process.ProcessError) as exc:
        return TestRun(False, repo.test_command, 0.0, f"the tests could not run: {exc}")
    log = process.tail(res.stdout + ("\n" + res.stderr if res.stderr else ""), _TEST_LOG_TAIL)
    return TestRun(res.ok, repo.test_command, res.duration_s, log)


def _git_source(worktree: Path) -> GitSource | None:
    """The worktree's metadata in our working clone, named by the pool's layout (never read from the
    worktree's own `.git` file): what the agent's private git dir in the sandbox is made from."""
    layout = git_layout.layout_for(worktree)
    if layout is None:
        return None
    return GitSource(git_dir=layout.admin_dir(worktree), common_dir=layout.common_dir)


def _with_agent_merge(
    ctx: JobContext, start: agent_commit.StartPoint, run_dir: Path, settings: git.GitSettings
) -> agent_commit.StartPoint:
    """In the sandbox the agent's own merge or rebase onto a newer base lives in its private git dir, not in
    the worktree's HEAD: read it there (as data: its loose objects) and offer the commit of ours it builds on
    as the integrated base — `agent_commit.build` still accepts it only for a base commit H lacks."""
    runs = sorted(run_dir.glob("*/sandbox/git"), key=lambda p: p.stat().st_mtime_ns)
    if start.integrated is not None or not runs:
        return start

    def known(sha: str) -> bool:
        return git.head_exists(start.trusted, f"{sha}^{{commit}}", settings)

    bases = agent_bases(runs[-1], start.head, known)  # the latest run: a re-run reuses the directory
    if len(bases) != 1:
        return start
    ctx.log.info("the agent integrated %s in its own git dir", bases[0][:12])
    return replace(start, integrated=bases[0])


def _read_contract(worktree: Path) -> tuple[AgentResult | None, str | None]:
    try:
        return read_result(worktree), None
    except ContractError as exc:
        return None, str(exc)


def _detail(
    outcome: Outcome,
    run: AgentRun,
    contract_error: str | None,
    tests: TestRun | None,
    result: AgentResult | None,
) -> str:
    if outcome is Outcome.TIMEOUT:
        return run.error.split(";")[0] if run.stalled and run.error else "hit the hard timeout"
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


def _read_bounded(ctx: JobContext, task: Task, worktree: Path, name: str, limit: int) -> str:
    """A repository file for the prompt, read as data: a link (to /proc/self/environ, into runtime/) or
    anything but a regular file is not read, and is recorded."""
    try:
        read = read_regular_file(worktree, name, limit)
    except UnsafeWorktreePath as exc:
        ctx.log.warning("not read into the prompt task=%s: %s", task.id, exc)
        _security_event(ctx, task, "", f"{exc}: not read into the prompt")
        return ""
    return "" if read is None else read.text(limit)
