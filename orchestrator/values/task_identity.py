"""A task's identity carried on GitHub, so that any host acts on an agent PR as the task it belongs to.

The identity is (repo, issue, generation) and the task id derived from it. It is in the branch name
(`agent/<issue>-<slug>[-g<generation>]`, created by our claim) and in a hidden marker at the end of the PR body
(`<!-- agent-os:task repo=… issue=… gen=… id=… -->`, rendered by templates/pr_body.md.j2). The body also holds
the agent's summary, so only the last marker counts, and only when it agrees with the branch's issue number and
generation suffix; otherwise the branch alone decides (a slug that happens to end in `-g3` is told apart by
the marker).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.values.models import PullRequest, task_id

_MARKER = re.compile(
    r"<!-- agent-os:task repo=(?P<repo>\S+) issue=(?P<issue>\d+) gen=(?P<gen>\d+) id=(?P<id>\S+) -->"
)
_BRANCH = re.compile(r"^agent/(?P<issue>\d+)-(?P<slug>.*?)(?:-g(?P<gen>\d+))?$")


@dataclass(frozen=True)
class TaskIdentity:
    repo: str
    issue: int
    generation: int

    @property
    def task_id(self) -> str:
        return task_id(self.repo, self.issue, self.generation)


def marker(repo: str, issue: int, generation: int) -> str:
    return f"<!-- agent-os:task repo={repo} issue={issue} gen={generation} id={task_id(repo, issue, generation)} -->"


def identity_of(pr: PullRequest) -> TaskIdentity | None:
    """The task behind an agent PR, from its branch and body marker; None for a branch not made by a claim."""
    branch = _BRANCH.match(pr.head_ref)
    if branch is None:
        return None
    issue = int(branch.group("issue"))
    suffix = int(branch.group("gen")) if branch.group("gen") else None
    found = list(_MARKER.finditer(pr.body or ""))
    if found:
        last = found[-1]
        gen = int(last.group("gen"))
        agrees = (
            last.group("repo").lower() == pr.repo.lower()
            and int(last.group("issue")) == issue
            and (gen == 1 or suffix == gen)
            and last.group("id") == task_id(pr.repo, issue, gen)
        )
        if agrees:
            return TaskIdentity(pr.repo, issue, gen)
    return TaskIdentity(pr.repo, issue, suffix or 1)
