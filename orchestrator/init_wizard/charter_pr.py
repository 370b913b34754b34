"""Charter docs into the repository through a pull request, never a direct push to the base branch.

The one exception is a brand-new empty repository: there is no base branch to open a PR against, so its first
commit (a README holding the "what are you building" paragraph, nothing else) creates the base branch. The
charter docs then go on `agent/init-charter` and into a PR like any agent's work.

Idempotent: a doc already in the base branch is kept as it is (never overwritten); when the charter branch
already exists, its open PR is reported and nothing is pushed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from orchestrator import git
from orchestrator.github.setup import RepoInfo
from orchestrator.init_wizard.charter import Charter, CharterContext, render
from orchestrator.state.store import atomic_write_text
from orchestrator.values.models import PullRequest

CHARTER_BRANCH = "agent/init-charter"
PR_TITLE = "Charter: north star, vision, strategy and planning principles"


class PullForge(Protocol):
    def create_pull(
        self, repo: str, *, title: str, body: str, head: str, base: str, draft: bool = False
    ) -> PullRequest: ...

    def list_pulls(
        self, repo: str, *, state: str = "open", head: str | None = None, base: str | None = None
    ) -> list[PullRequest]: ...


@dataclass(frozen=True)
class CommitIdentity:
    name: str
    email: str


@dataclass(frozen=True)
class CharterOutcome:
    pull: PullRequest | None
    created_base: bool  # the repo was empty: its first commit created the base branch
    written: tuple[str, ...]  # docs in the PR
    kept: tuple[str, ...]  # docs already in the base branch, left as they were
    branch_existed: bool  # an earlier run's charter branch was found; nothing was pushed


def git_settings(clone_url: str, token: str) -> git.GitSettings:
    """Push credentials for an http(s) remote as an extra header scoped to its origin (in the environment,
    never on a command line); none for local or ssh remotes."""
    parts = urlsplit(clone_url)
    if parts.scheme not in ("http", "https"):
        return git.GitSettings()
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    key = f"http.{parts.scheme}://{parts.netloc}/.extraheader"
    return git.GitSettings(config=((key, f"Authorization: Basic {basic}"),))


def publish_charter(
    forge: PullForge,
    repo: RepoInfo,
    base: str,
    charter: Charter,
    ctx: CharterContext,
    identity: CommitIdentity,
    settings: git.GitSettings,
    work: Path,
) -> CharterOutcome:
    work.mkdir(parents=True, exist_ok=True)
    git.run_git(["init", "--quiet", "-b", base], work, settings)
    git.run_git(["remote", "add", "origin", repo.clone_url], work, settings)
    if git.remote_branch_sha(work, CHARTER_BRANCH, settings=settings) is not None:
        pulls = forge.list_pulls(repo.full_name, state="open", head=CHARTER_BRANCH)
        return CharterOutcome(pulls[0] if pulls else None, False, (), (), branch_existed=True)
    created_base = git.remote_branch_sha(work, base, settings=settings) is None
    if created_base:
        _create_base_branch(work, base, ctx, identity, settings)
        git.run_git(["checkout", "--quiet", "-b", CHARTER_BRANCH], work, settings)
    else:
        git.run_git(["fetch", "--quiet", "--depth=1", "origin", base], work, settings, network=True)
        git.run_git(["checkout", "--quiet", "-B", CHARTER_BRANCH, "FETCH_HEAD"], work, settings)
    written, kept = [], []
    for path, markdown in charter.docs:
        target = work / path
        if target.exists():
            kept.append(path)
            continue
        atomic_write_text(target, markdown)
        written.append(path)
    if not written:
        return CharterOutcome(None, created_base, (), tuple(kept), branch_existed=False)
    git.commit_all(work, PR_TITLE, identity.name, identity.email, settings)
    git.push(work, CHARTER_BRANCH, force_with_lease="", settings=settings)
    body = render("charter_pr.md.j2", ctx, paths=written, source=charter.source)
    pull = forge.create_pull(repo.full_name, title=PR_TITLE, body=body, head=CHARTER_BRANCH, base=base)
    return CharterOutcome(pull, created_base, tuple(written), tuple(kept), branch_existed=False)


def _create_base_branch(
    work: Path, base: str, ctx: CharterContext, identity: CommitIdentity, settings: git.GitSettings
) -> None:
    """The documented exception: an empty repository's first commit creates its base branch."""
    atomic_write_text(work / "README.md", render("README.md.j2", ctx))
    git.commit_all(work, "Initial commit", identity.name, identity.email, settings)
    git.run_git(
        ["push", "--quiet", "--no-verify", "origin", f"HEAD:refs/heads/{base}"], work, settings, network=True
    )
