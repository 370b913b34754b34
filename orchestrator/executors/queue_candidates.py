"""The merge queue's candidates on GitHub, and the executors of `policy.merge_queue`'s actions.

A candidate is a branch `agent-os/merge-queue/<base>/<root[:12]>-<digest>` (named after what it holds) with a
draft PR into the base, so the repo's CI runs on it as on any PR. The draft PR's body carries the marker
`<!-- agent-os:merge-queue base=… root=… steps=N:head:commit,… -->`; a candidate is trusted only when that PR
was opened by the account Agent OS acts as and its commits really are the merges it names (checked in the local
clone: every step's parents are the step before and the PR head), because the base fast-forwards to it.

Builds merge each PR through the API (`POST /merges`) on a per-host scratch branch, so candidates need no push
from a worktree; bisection marks new candidates at commits a red candidate already has; landing is a
fast-forward of the base (`PATCH git/refs`, no force), which GitHub refuses if the base moved — the base never
receives a combination that was not tested as it lands. Discarding a candidate deletes its branch, which closes
its draft PR.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

from orchestrator.executors import ref_claims
from orchestrator.github.errors import ClaimLost, GitHubError, MergeConflict
from orchestrator.policy.merge_queue import Candidate, QueuedPR, Step
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import PullRequest

PREFIX = "agent-os/merge-queue/"
BUILD_PREFIX = "agent-os/merge-queue-build/"
_MARKER = re.compile(
    r"<!-- agent-os:merge-queue base=(?P<base>\S+) root=(?P<root>[0-9a-f]{40}) steps=(?P<steps>\S+) -->"
)
_STEP = re.compile(r"^(\d+):([0-9a-f]{40}):([0-9a-f]{40})$")


def branch_name(base: str, root: str, steps: Sequence[Step]) -> str:
    digest = hashlib.sha1(",".join(s.sha for s in steps).encode()).hexdigest()[:10]
    return f"{PREFIX}{base}/{root[:12]}-{digest}"


def marker(base: str, root: str, steps: Sequence[Step]) -> str:
    listed = ",".join(f"{s.pr.number}:{s.pr.head_sha}:{s.sha}" for s in steps)
    return f"<!-- agent-os:merge-queue base={base} root={root} steps={listed} -->"


def parse(pull: PullRequest, result: str) -> Candidate | None:
    """The candidate a draft PR carries, or None when its body has no well-formed marker."""
    found = list(_MARKER.finditer(pull.body or ""))
    if not found or found[-1].group("base") != pull.base_ref:
        return None
    steps = []
    for item in found[-1].group("steps").split(","):
        match = _STEP.match(item)
        if match is None:
            return None
        steps.append(Step(QueuedPR(int(match.group(1)), match.group(2)), match.group(3)))
    if not steps or steps[-1].sha != pull.head_sha:
        return None
    return Candidate(pull.head_ref, pull.number, found[-1].group("root"), tuple(steps), result)


def well_formed(candidate: Candidate, parents_of: Callable[[str], list[str] | None]) -> bool | None:
    """Every step is a merge of exactly the step before (the root first) and the PR head it names; None when
    a commit is not known here yet (this host fetched before the candidate was made)."""
    before = candidate.root
    for step in candidate.steps:
        parents = parents_of(step.sha)
        if parents is None:
            return None
        if parents != [before, step.pr.head_sha]:
            return False
        before = step.sha
    return True


# --- executors ---------------------------------------------------------------------------------------------


def build(ctx: JobContext, repo: str, base: str, prs: Sequence[PullRequest], tip: str) -> Candidate | None:
    """Merge the PRs one by one onto `tip` (skipping one that conflicts) and open the candidate."""
    scratch = f"{BUILD_PREFIX}{re.sub(r'[^A-Za-z0-9._-]+', '-', ctx.host)}/{base}"
    try:
        ctx.forge.create_branch(repo, scratch, tip)
    except ClaimLost:
        ctx.forge.update_branch(repo, scratch, tip, force=True)  # ours, left by an earlier run of this host
    steps: list[Step] = []
    try:
        for pr in prs:
            try:
                sha = ctx.forge.merge_into(
                    repo, scratch, pr.head_sha, f"Merge #{pr.number}: {pr.title} (merge queue)"
                )
            except MergeConflict:
                ctx.log.info("merge queue: #%s conflicts with the batch; left for the next one", pr.number)
                continue
            if sha is not None:
                steps.append(Step(QueuedPR(pr.number, pr.head_sha), sha))
    finally:
        ctx.forge.delete_branch(repo, scratch)
    return _open(ctx, repo, base, tip, tuple(steps)) if steps else None


def mark(ctx: JobContext, repo: str, base: str, within: Candidate, lengths: Sequence[int]) -> list[Candidate]:
    """Candidates at the ends of these prefixes of a red candidate's steps (its commits already exist)."""
    made = []
    for length in lengths:
        opened = _open(ctx, repo, base, within.root, within.steps[:length])
        if opened is not None:
            made.append(opened)
    return made


def _open(ctx: JobContext, repo: str, base: str, root: str, steps: tuple[Step, ...]) -> Candidate | None:
    name = branch_name(base, root, steps)
    if not ref_claims.claim(ctx.forge, repo, name, steps[-1].sha):
        return None  # another host made the same candidate
    listed = ", ".join(f"#{s.pr.number}" for s in steps)
    body = (
        f"Agent OS merge queue: tests {listed} together on top of `{base}` at `{root[:12]}`. When this is green, "
        f"`{base}` fast-forwards to it and each of them is merged; this pull request is never merged on its own.\n\n"
        f"{marker(base, root, steps)}\n"
    )
    pull = ctx.forge.create_pull(
        repo, title=f"Merge queue: {listed} → {base}", body=body, head=name, base=base, draft=True
    )
    return Candidate(name, pull.number, root, steps, "pending")


def land(ctx: JobContext, repo: str, base: str, candidate: Candidate) -> bool:
    """Fast-forward the base to the candidate; False when the base moved (GitHub: not a fast-forward)."""
    return ctx.forge.update_branch(repo, base, candidate.sha, force=False)


def discard(ctx: JobContext, repo: str, candidate: Candidate) -> None:
    try:
        ctx.forge.delete_branch(repo, candidate.branch)  # closes its draft PR
    except GitHubError as exc:
        ctx.log.warning("candidate %s not deleted error=%s", candidate.branch, exc)


def blame(ctx: JobContext, repo: str, pr: PullRequest) -> None:
    """Remember on GitHub that this PR, at this head, broke a candidate: it stays out of the queue until it
    changes (the ref moves with a new blame; it goes when the PR is done)."""
    name = f"{ref_claims.BLAME_PREFIX}{pr.number}"
    if not ref_claims.claim(ctx.forge, repo, name, pr.head_sha):
        ctx.forge.update_branch(repo, name, pr.head_sha, force=True)


def failing_log(ctx: JobContext, repo: str, candidate: Candidate) -> str:
    checks = ctx.forge.checks(repo, candidate.sha)
    return "\n\n".join(f"### {r.name}\n{r.summary[-4000:]}" for r in checks.failing) or "(no log)"
