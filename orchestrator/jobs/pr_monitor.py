"""pr_monitor job: gate, rebase and merge agent PRs — one merge line per base branch (zuul-style), safe to run
on every host.

Per repo: the open PRs' list (conditional: free when unchanged) says whether there is anything to gate; if so,
every open PR is read in one GraphQL query (`Forge.open_pulls`: heads, mergeability, labels, checks, base tips,
blocked issues), the shared facts (required checks, claims, this host's tasks) and a `PRSnapshot`
per open `agent/*` PR (`pr_snapshot`) → `policy.merge.plan` (verifying heads it asks for, then planning again) →
act (`pr_actions`). Only the PR at the head of a base's merge line is rebased or merged; merges and follow-ups
are claimed through refs so that several hosts never do the same one twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchestrator import git
from orchestrator.executors import merge_queue_pass, pr_actions, queue_candidates, ref_claims
from orchestrator.executors.decision_hooks import note_open_prs, note_pr
from orchestrator.executors.escalation import NotifyFn, escalate
from orchestrator.executors.pr_records import PRRecords
from orchestrator.executors.pr_snapshot import RepoFacts, local_tasks, snapshot
from orchestrator.executors.verification import VerifierError, run_verifier, verdict_key
from orchestrator.executors.worktrees import pool_for
from orchestrator.git.publish_guard import PublishRefused
from orchestrator.github.errors import GitHubError
from orchestrator.policy import merge as policy
from orchestrator.state import metrics
from orchestrator.state.runtime import JobContext
from orchestrator.state.switches import Switches, is_allowed
from orchestrator.values.models import CheckRun, OpenPull, PullRequest

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig


@dataclass
class MonitorReport:
    merged: list[int] = field(default_factory=list)
    rebased: list[int] = field(default_factory=list)
    follow_ups: list[int] = field(default_factory=list)
    waiting: dict[int, str] = field(default_factory=dict)
    escalated: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class RepoPass:
    """One repo's tick: the context, its shared facts, pr_monitor's records and the report."""

    ctx: JobContext
    repo: RepoConfig
    facts: RepoFacts
    records: PRRecords
    report: MonitorReport
    notify: NotifyFn | None


def run(ctx: JobContext, notify: NotifyFn | None = None) -> MonitorReport:
    report = MonitorReport()
    switches = Switches.load(ctx.paths.root).reload()
    for repo in ctx.config.repos:
        if not repo.enabled or not is_allowed(switches, "pr_monitor", repo.key)[0]:
            continue
        review_only = switches.repo(repo.key).mode == "review"
        try:
            _monitor_repo(ctx, repo, report, notify, review_only)
        except GitHubError as exc:
            report.errors.append(f"{repo.full_name}: {exc}")
            ctx.log.error("pr_monitor failed repo=%s error=%s", repo.full_name, exc)
    return report


def _monitor_repo(
    ctx: JobContext, repo: RepoConfig, report: MonitorReport, notify: NotifyFn | None, review_only: bool
) -> None:
    records = PRRecords(ctx.mailbox.records, repo.full_name)
    if not any(_ours(p.head_ref) for p in ctx.forge.list_pulls(repo.full_name)):  # conditional: a 304 is free
        note_open_prs(ctx, repo.full_name, [])  # views: `status` lists PRs waiting
        records.save(())  # the idle path: leftover claims are swept when PRs are open again
        return
    listing = ctx.forge.open_pulls(repo.full_name, repo.labels.blocked)  # one GraphQL query for every PR
    listed = sorted((p for p in listing.pulls if _ours(p.pr.head_ref)), key=lambda p: p.pr.number)
    agent_prs = [p for p in listed if p.pr.head_ref.startswith("agent/")]
    prs = [p.pr for p in agent_prs]
    candidates = [p.pr for p in listed if p.pr.head_ref.startswith(queue_candidates.PREFIX)]
    note_open_prs(ctx, repo.full_name, [p.number for p in prs])
    records.bind(p.pr for p in listed)  # each PR's record is its task's (one read per PR that has one)
    if not listed:  # closed since the list was read
        records.save(())
        return
    batching = ctx.config.merge.batch_size > 1
    claims = ref_claims.read_claims(ctx.forge, repo.full_name, blame=batching)
    facts = RepoFacts(claims, local_tasks(ctx, repo.full_name), blocked=listing.blocked_issues)
    facts.tips.update({p.pr.base_ref: p.base_sha for p in listed if p.base_sha})
    try:
        _gate(RepoPass(ctx, repo, facts, records, report, notify), agent_prs, candidates, review_only)
    finally:
        records.save([p.number for p in (*prs, *candidates)])


def _ours(head_ref: str) -> bool:
    """An agent PR or a merge queue candidate: the PRs pr_monitor gates (people's PRs are left alone)."""
    return head_ref.startswith(("agent/", queue_candidates.PREFIX))


def _gate(run_: RepoPass, listed: list[OpenPull], candidates: list[PullRequest], review_only: bool) -> None:
    ctx, repo = run_.ctx, run_.repo
    pool = pool_for(ctx, repo)
    pool.fetch()

    def is_ancestor(ancestor: str, descendant: str) -> bool:
        try:
            return git.is_ancestor(pool.repo_dir, ancestor, descendant)
        except git.GitError:  # a commit made since our fetch (e.g. a merge earlier in this tick)
            pool.fetch()
            return git.is_ancestor(pool.repo_dir, ancestor, descendant)

    def moved_past(base: str, tip: str) -> bool:
        current = ctx.forge.get_branch_sha(repo.full_name, base)
        try:
            return bool(current) and current != tip and git.is_ancestor(pool.repo_dir, tip, current or "")
        except git.GitError:
            return False  # a tip this host has not fetched: never delete what may be newer

    pulls, snaps = [], []
    for pr in listed:
        pull, snap = snapshot(ctx, repo, pr, run_.facts, run_.records, is_ancestor)
        pulls.append(pull)
        snaps.append(snap)
    batching = ctx.config.merge.batch_size > 1
    actions = policy.plan(snaps, ctx.clock(), review_only, batching)
    while any(isinstance(a, policy.Verify) for a in actions):
        snaps = [
            _verified(run_, s) if isinstance(a, policy.Verify) else s
            for s, a in zip(snaps, actions, strict=True)
        ]
        actions = policy.plan(snaps, ctx.clock(), review_only, batching)
    enqueued = []
    for pull, snap, action in zip(pulls, snaps, actions, strict=True):
        if isinstance(action, policy.Enqueue):
            enqueued.append((pull, action))
            run_.records.note_blocker(pull.number, None, ctx.clock())
        else:
            _act(run_, pull, snap, action)
            note_pr(ctx, repo.full_name, pull, action, snap, run_.report)  # views: what `agentos why` shows
    if batching and (enqueued or candidates):
        _queue(run_, enqueued, candidates, pool, {s.pr.number: s for s in snaps})
        for pull, action in enqueued:
            note_pr(ctx, repo.full_name, pull, action, snaps[pulls.index(pull)], run_.report)
    claims = run_.facts.claims
    if claims.follow_ups or claims.slots or claims.blamed:
        try:
            heads = {p.number: p.head_sha for p in pulls}
            ref_claims.sweep(ctx.forge, repo.full_name, claims, heads, moved_past)
        except GitHubError as exc:
            ctx.log.warning("claims not swept repo=%s error=%s", repo.full_name, exc)


def _queue(
    run_: RepoPass,
    enqueued: list[tuple[PullRequest, policy.Enqueue]],
    candidates: list[PullRequest],
    pool: git.WorktreePool,
    snaps: dict[int, policy.PRSnapshot],
) -> None:
    """The batching merge queue: PRs the gate let through are tested together and land by fast-forward."""
    ctx = run_.ctx

    def parents_of(sha: str) -> list[str] | None:
        for attempt in range(2):
            try:
                out = git.run_git(["rev-list", "--parents", "-n", "1", sha], pool.repo_dir, pool.settings)
                return out.stdout.split()[1:]
            except git.GitError:
                if attempt == 0:
                    pool.fetch()
        return None

    def follow_up(pr: PullRequest, kind: str, reason: str) -> None:
        if policy.may_fix_ci(snaps[pr.number]):
            _follow_up(run_, pr, kind, reason)

    outcome = merge_queue_pass.run(
        ctx, run_.repo, run_.facts, run_.records, enqueued, candidates, parents_of, follow_up
    )
    run_.report.merged += outcome.merged
    for number, reason in outcome.waiting.items():
        run_.report.waiting.setdefault(number, reason)
    for pr, _ in enqueued:
        if pr.number in outcome.merged:
            _drop_claims(run_, pr)


def _verified(run_: RepoPass, snap: policy.PRSnapshot) -> policy.PRSnapshot:
    """The snapshot with the verifier's verdict on its head (cached under the key of its inputs); fails closed."""
    ctx, repo, pr = run_.ctx, run_.repo, snap.pr
    try:
        verdict = run_verifier(ctx, repo, pr)
    except (GitHubError, VerifierError) as exc:
        return policy.with_verdict(snap, None, str(exc))
    run_.records.store_verdict(pr.number, verdict_key(ctx, repo, pr.head_sha), verdict)
    metrics.record_event(
        ctx.paths.metrics, repo=repo.full_name, pr=pr.number, state="verified", reason=verdict.summary()
    )
    return policy.with_verdict(snap, verdict)


def _act(run_: RepoPass, pr: PullRequest, snap: policy.PRSnapshot, action: policy.MergeAction) -> None:
    ctx, report, records = run_.ctx, run_.report, run_.records
    now = ctx.clock()
    if isinstance(action, policy.Wait):
        _wait(run_, pr, snap, action.reason, action.kind)
        return
    records.note_blocker(pr.number, None, now)
    if isinstance(action, policy.Merge):
        _merge(run_, pr, snap, action)
    elif isinstance(action, policy.Rebase):
        _rebase(run_, pr, snap)
    elif isinstance(action, policy.FixCI):
        _follow_up(run_, pr, "fix_ci", f"CI failed on PR #{pr.number}:\n{_ci_log(run_, pr, action.failing)}")
    elif isinstance(action, policy.FixVerifier):
        findings = "\n".join(f"- {f}" for f in action.findings)
        _follow_up(run_, pr, "fix_verifier", f"The verifier found:\n{findings}")
    elif isinstance(action, policy.ResolveConflict):
        _follow_up(run_, pr, "resolve_conflict", action.reason)
    elif isinstance(action, policy.CloseWedged):
        pr_actions.close_wedged(ctx, run_.repo, pr, action.reason)
        report.closed.append(pr.number)
        _drop_claims(run_, pr)
    elif isinstance(action, policy.Escalate):
        escalate(ctx, run_.repo, pr_actions.task_of(ctx, run_.repo, pr), action.reason, run_.notify)
        records.set(pr.number, escalated=True)
        report.escalated.append(pr.number)


def _ci_log(run_: RepoPass, pr: PullRequest, failing: tuple[CheckRun, ...]) -> str:
    """The failing checks' logs for the fix-CI follow-up. The repo's query reads checks without their logs
    (one query for every PR, every tick): they are read here, once, for the head that gets the follow-up."""
    logs: dict[str, str] = {}
    if any(not r.summary for r in failing):
        try:
            logs = {r.name: r.summary for r in run_.ctx.forge.checks(run_.repo.full_name, pr.head_sha).runs}
        except GitHubError as exc:
            run_.ctx.log.warning("logs of failing checks not read pr=%s error=%s", pr.number, exc)
    return "\n\n".join(f"### {r.name}\n{(r.summary or logs.get(r.name, ''))[-4000:]}" for r in failing)


def _wait(run_: RepoPass, pr: PullRequest, snap: policy.PRSnapshot, reason: str, kind: str) -> None:
    run_.report.waiting[pr.number] = reason
    run_.records.note_blocker(pr.number, reason, run_.ctx.clock())
    if kind == "human" and snap.verdict is not None and snap.verdict.needs_human and not snap.approved:
        key = verdict_key(run_.ctx, run_.repo, pr.head_sha)
        if run_.records.get(pr.number).get("asked") != key:
            findings = "\n".join(f"- {f}" for f in (*snap.verdict.needs_human, *snap.verdict.fixable))
            pr_actions.ask_for_approval(run_.ctx, run_.repo, pr, findings, key)
            run_.records.set(pr.number, asked=key)


def _merge(run_: RepoPass, pr: PullRequest, snap: policy.PRSnapshot, action: policy.Merge) -> None:
    ctx = run_.ctx
    strict = run_.facts.strict.get(pr.base_ref, False)
    refused = pr_actions.merge(ctx, run_.repo, pr, action.sha, snap.base_sha, strict)
    if refused:
        run_.report.waiting[pr.number] = refused
        if "merge slot" in refused:
            _expire_slot(run_, pr, snap.base_sha)
        return
    run_.report.merged.append(pr.number)
    run_.facts.tips.pop(pr.base_ref, None)
    pr_actions.finish_merged(run_.ctx, run_.repo, pr, action.approved_findings)
    _drop_claims(run_, pr)


def _drop_claims(run_: RepoPass, pr: PullRequest) -> None:
    """The PR is done: its follow-up claims go (the sweep of a later tick is only the backstop)."""
    for claim in run_.facts.claims.of_pr(pr.number):
        try:
            run_.ctx.forge.delete_branch(run_.repo.full_name, claim.ref)
        except GitHubError as exc:
            run_.ctx.log.warning("claim %s not deleted error=%s", claim.ref, exc)


def _expire_slot(run_: RepoPass, pr: PullRequest, tip: str) -> None:
    """A merge slot held for the same tip for more than twice the lease time belongs to a host that died
    between claiming and releasing it: delete it, so the next tick can claim it."""
    slot = ref_claims.slot_name(pr.base_ref, tip)
    record, now = run_.records.get(pr.number), run_.ctx.clock()
    if record.get("slot") != slot or record.get("slot_since") is None:
        run_.records.set(pr.number, slot=slot, slot_since=now)
        return
    held = (now - record["slot_since"]).total_seconds()
    if held > 2 * run_.ctx.config.limits.lease_seconds:
        run_.ctx.forge.delete_branch(run_.repo.full_name, slot)
        run_.ctx.log.warning("expired merge slot %s held for %.0f s", slot, held)


def _rebase(run_: RepoPass, pr: PullRequest, snap: policy.PRSnapshot) -> None:
    ctx, report = run_.ctx, run_.report
    try:
        rebased = pr_actions.rebase_branch(ctx, run_.repo, pr)
    except git.PoolExhausted:
        report.waiting[pr.number] = "every pooled worktree is busy; rebase on the next tick"
        return
    except git.PushRejected:
        report.waiting[pr.number] = "the branch moved while rebasing (another host or a push): next tick"
        return
    except PublishRefused as exc:  # e.g. a credential or blocked path in the rebased commits
        reason = f"PR #{pr.number} cannot be rebased onto {pr.base_ref} by Agent OS: {exc}"
        _act(run_, pr, snap, policy.Escalate(reason))
        return
    if rebased:
        report.rebased.append(pr.number)
        metrics.record_event(ctx.paths.metrics, repo=run_.repo.full_name, pr=pr.number, state="rebased")
        return
    _act(run_, pr, snap, policy.after_rebase_conflict(snap))  # a follow-up, or past the limit an escalation


def _follow_up(run_: RepoPass, pr: PullRequest, kind: str, reason: str) -> None:
    ref = pr_actions.follow_up(run_.ctx, run_.repo, pr, kind, reason, run_.facts.claims)
    if ref is None:
        run_.report.waiting[pr.number] = (
            f"{kind} follow-up already claimed (another host) or the task is escalated"
        )
        return
    task_id = pr_actions.task_of(run_.ctx, run_.repo, pr).id
    run_.records.made_claim(pr.number, ref, task_id)
    run_.report.follow_ups.append(pr.number)
