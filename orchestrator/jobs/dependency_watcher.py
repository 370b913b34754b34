"""jobs/dependency_watcher (daily per repo): audit the dependencies in a pooled worktree → an issue per
vulnerable dependency, and a PR for each safe patch-level pin bump.

The audit runs in a worktree of the pool at origin/<base> (never the operator's clone):
- `pip-audit -r requirements.txt --format json --no-deps --disable-pip` when the repo has requirements.txt
  (only the pinned lines are audited, and no package is installed or built, so nothing from the repo runs);
- `npm audit --json` when it has package.json and a lockfile.
A repo without the manifest has nothing to audit. Everything else that keeps an audit from covering the
dependencies — the tool is not installed, it failed or timed out (offline), its output is not a report, or it
skipped dependencies (pip-audit's `skip_reason`) — is "could not audit: …": the run fails with that reason
(so `status` shows it), a Telegram note says it, and the repo is not marked as audited. It is never reported
as clean. Tools are looked up on the PATH of the job's environment, so an install (or a test) decides which
binary runs.
The tools read repository files, so they run contained like an agent (`agents.isolation`,
`agents.network`), with a private HOME and TMP.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.config.isolation import Isolation
from orchestrator.config.settings import isolation_of
from orchestrator.containment.commands import private_dirs, run_contained
from orchestrator.containment.sandbox import IsolationUnavailable
from orchestrator.edges import process
from orchestrator.edges.worktree_files import UnsafeWorktreePath, read_regular_file
from orchestrator.executors import doc_pr
from orchestrator.executors.worktrees import pool_for
from orchestrator.loops.common import (
    LoopArgs,
    file_issues,
    log_report,
    mark_ran,
    proposal_draft,
)
from orchestrator.loops.runner import for_each_repo, run_loop_job
from orchestrator.policy import dependencies as policy
from orchestrator.state.runtime import JobContext

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig

log = logging.getLogger(__name__)

JOB = policy.JOB
EVERY = timedelta(days=1)
AUDIT_TIMEOUT_S = 600.0
REQUIREMENTS = "requirements.txt"
MAX_REQUIREMENTS_BYTES = 1024 * 1024
PIP_AUDIT_ARGS = (
    "-r",
    REQUIREMENTS,
    "--format",
    "json",
    "--progress-spinner",
    "off",
    "--no-deps",
    "--disable-pip",
)
NPM_LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json")
# What the audit tools see of the job's environment: enough to find themselves, reach the advisory
# databases (proxies, CA bundles, mirrors) and keep a cache — no tokens or keys.
TOOL_ENV = (
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "PIP_INDEX_URL",
    "PIP_CACHE_DIR",
    "npm_config_registry",
    "npm_config_cache",
)


class AuditFailed(Exception):
    """An audit tool ran but its output could not be used."""


@dataclass
class AuditOutcome:
    found: list[policy.VulnerableDependency] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # nothing to audit for a tool (no manifest)
    failed: list[str] = field(default_factory=list)  # could not audit: tool missing, failed, skipped rows
    requirements: str | None = None  # requirements.txt as audited

    @property
    def could_not_audit(self) -> str:
        """ "" when every manifest was audited; else the reasons, for the log, status and Telegram."""
        return "; ".join(self.failed)


@dataclass(frozen=True)
class Containment:
    """How the audit tools run: the isolation in force and where their private HOME/TMP go."""

    isolation: Isolation
    run_dir: Path


def run_audits(worktree: Path, environ: dict[str, str], contain: Containment | None = None) -> AuditOutcome:
    outcome = AuditOutcome()
    tools: list[
        tuple[str, str, Sequence[str], Callable[[str], tuple[policy.VulnerableDependency, ...]], str]
    ] = [
        ("pip-audit", REQUIREMENTS, PIP_AUDIT_ARGS, policy.parse_pip_audit, ""),
        ("npm", "package.json", ("audit", "--json"), policy.parse_npm_audit, "lockfile"),
    ]
    try:  # read as data (worktree_files): a committed link to /proc or runtime/ is not followed
        read = read_regular_file(worktree, REQUIREMENTS, MAX_REQUIREMENTS_BYTES)
    except UnsafeWorktreePath as exc:
        log.warning("%s: %s not read: %s", JOB, REQUIREMENTS, exc)
        read = None
    if read is not None:
        outcome.requirements = read.data[:MAX_REQUIREMENTS_BYTES].decode("utf-8", errors="replace")
    for tool, manifest, args, parse, needs in tools:
        reason = _skip_reason(worktree, tool, manifest, needs)
        if reason:
            outcome.skipped.append(reason)
            log.info("%s: %s", JOB, reason)
            continue
        try:
            if shutil.which(tool, path=environ.get("PATH")) is None:
                raise AuditFailed(f"{tool}: not installed (not on PATH), so {manifest} was not audited")
            report = _run_tool(worktree, environ, tool, args, contain)
            outcome.found += parse(report)
            unaudited = policy.pip_audit_unaudited(report) if tool == "pip-audit" else ()
            if unaudited:
                count = f"{len(unaudited)} dependenc{'y' if len(unaudited) == 1 else 'ies'}"
                raise AuditFailed(f"{tool}: {count} not audited: {'; '.join(unaudited)}")
        except (AuditFailed, policy.AuditParseError) as exc:
            outcome.failed.append(str(exc))
            log.error("%s: could not audit: %s", JOB, exc)
    return outcome


def tool_environment(environ: dict[str, str]) -> dict[str, str]:
    return {name: environ[name] for name in TOOL_ENV if name in environ}


def _skip_reason(worktree: Path, tool: str, manifest: str, needs: str) -> str:
    """Why there is nothing for `tool` to audit here ("" when there is)."""
    if not (worktree / manifest).is_file():
        return f"{tool} skipped: no {manifest}"
    if needs == "lockfile" and not any((worktree / name).is_file() for name in NPM_LOCKFILES):
        return f"{tool} skipped: {manifest} without {' or '.join(NPM_LOCKFILES)}"
    return ""


def _run_tool(
    worktree: Path,
    environ: dict[str, str],
    tool: str,
    args: Sequence[str],
    contain: Containment | None = None,
) -> str:
    binary = shutil.which(tool, path=environ.get("PATH")) or tool
    try:
        if contain is None:
            result = process.run([binary, *args], cwd=worktree, env=environ, timeout=AUDIT_TIMEOUT_S)
        else:
            result = _contained(contain, worktree, environ, [binary, *args])
    except (process.ProcessError, IsolationUnavailable) as exc:
        raise AuditFailed(f"{tool}: {exc}") from exc
    if result.timed_out:
        raise AuditFailed(f"{tool}: timed out after {AUDIT_TIMEOUT_S:g}s")
    if result.returncode not in (0, 1) and not result.stdout.strip():  # 1 = vulnerabilities found
        raise AuditFailed(f"{tool}: exit code {result.returncode}: {result.stderr.strip()[-500:]}")
    return result.stdout


def _contained(
    contain: Containment, worktree: Path, environ: dict[str, str], argv: list[str]
) -> process.ProcessResult:
    directory = private_dirs(contain.run_dir, prefix="audit-")
    env = {**environ, "HOME": str(directory / "home"), "TMPDIR": str(directory / "tmp")}
    return run_contained(
        contain.isolation,
        argv,
        workdir=worktree,
        run_dir=contain.run_dir,
        env=env,
        timeout=AUDIT_TIMEOUT_S,
    )


def audit_repo(ctx: JobContext, repo: RepoConfig) -> AuditOutcome:
    pool = pool_for(ctx, repo)
    pool.fetch()
    worktree = pool.acquire(
        f"agent/audit-{repo.key}", f"origin/{repo.base_branch}", owner=f"audit:{repo.key}"
    )
    try:
        contain = Containment(isolation_of(ctx.config), ctx.paths.agent_runs / "audits" / repo.key)
        return run_audits(worktree, tool_environment(ctx.environ), contain)
    finally:
        pool.release(worktree)


def propose_bumps(ctx: JobContext, repo: RepoConfig, outcome: AuditOutcome, cap: int) -> list[int]:
    """A PR per safe patch bump of a pinned requirement (at most `cap`); the PR numbers."""
    opened: list[int] = []
    for dep in outcome.found:
        target = dep.patch_fix
        if dep.ecosystem != "pip" or target is None or outcome.requirements is None:
            continue
        if policy.bump_pin(outcome.requirements, dep.name, dep.version, target) is None:
            continue
        if len(opened) >= cap:
            log.info("%s: bump cap reached; %s %s → %s waits", JOB, dep.name, dep.version, target)
            continue
        pr = doc_pr.propose_documents(
            ctx,
            repo,
            {REQUIREMENTS: _bump(dep, target)},
            title=f"Bump {dep.name} from {dep.version} to {target} (security fix)",
            body=_bump_body(dep, target),
            branch_hint=f"deps-{dep.name}-{target}",
        )
        if pr is not None:
            opened.append(pr.number)
    return opened


def _bump(dep: policy.VulnerableDependency, target: str) -> Callable[[str | None], str]:
    def edit(current: str | None) -> str:
        if current is None:
            return ""
        return policy.bump_pin(current, dep.name, dep.version, target) or current

    return edit


def _bump_body(dep: policy.VulnerableDependency, target: str) -> str:
    ids = ", ".join(a.id for a in dep.advisories)
    return (
        f"Patch-level bump of `{dep.name}` from {dep.version} to {target}, the lowest version that fixes {ids}.\n\n"
        f"Only the pin in `{REQUIREMENTS}` changes; CI must pass before pr_monitor merges it.\n\n"
        "Proposed by the Agent OS `dependency_watcher` job."
    )


def run_job(ctx: JobContext, argv: list[str]) -> int:
    return run_loop_job(JOB, ctx, argv, _watch_all)


def _watch_all(ctx: JobContext, args: LoopArgs) -> bool:
    if not ctx.config.loops.dependency_audit:
        log.info("%s: loops.dependency_audit is false; nothing to do", JOB)
        return True
    step = lambda repo: _watch(ctx, repo, args)  # noqa: E731
    return for_each_repo(JOB, ctx, args, step, every=EVERY, failures=doc_pr.DOC_PR_ERRORS)


def _watch(ctx: JobContext, repo: RepoConfig, args: LoopArgs) -> bool:
    outcome = audit_repo(ctx, repo)
    cap = ctx.config.loops.max_issues_per_run
    drafts = [proposal_draft(p, JOB) for p in policy.proposals(outcome.found, repo.full_name)]
    report = file_issues(ctx, repo.full_name, drafts, cap, job=JOB, dry_run=args.dry_run)
    log_report(JOB, repo.full_name, report)
    if args.dry_run:
        return True
    bumps = propose_bumps(ctx, repo, outcome, cap)
    log.info(
        "%s repo=%s vulnerable=%d bump_prs=%s skipped=%s failed=%s",
        JOB,
        repo.full_name,
        len(outcome.found),
        bumps,
        outcome.skipped,
        outcome.failed,
    )
    if outcome.could_not_audit:
        _tell_could_not_audit(ctx, repo, outcome.could_not_audit)
        return False  # a failed run, not marked as ran: the next tick tries again
    mark_ran(ctx, JOB, repo.key)
    return not report.errors


def _tell_could_not_audit(ctx: JobContext, repo: RepoConfig, reasons: str) -> None:
    from orchestrator.executors.notify import Notifier

    text = f"{JOB}: could not audit {repo.full_name}: {reasons}"
    log.error("%s", text)
    Notifier.for_context(ctx).notify("dependency_audit", text, key=f"{JOB}:{repo.key}", severity="error")
