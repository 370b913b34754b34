"""What the replay watches on the sandbox forge, read from the forge's own state (in this process).

The replay must not spend the orchestrator's GitHub budget (or shift its rate-limit window) to watch it,
so it reads the in-process forge's database, as the benchmarks do: issue states and labels, PRs and their
heads, CI runs per head. One module, so a change of the forge's schema has one place to follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.sandbox.server import SandboxForge


@dataclass(frozen=True)
class IssueView:
    number: int
    state: str
    labels: frozenset[str]


@dataclass(frozen=True)
class PullView:
    number: int
    head_ref: str
    head_sha: str
    state: str
    merged: bool
    merge_commit_sha: str | None


class ForgeObserver:
    def __init__(self, forge: SandboxForge, repo: str) -> None:
        owner, _, name = repo.partition("/")
        self.forge = forge
        self.repo_id = forge.core.repo(owner, name).id

    def issues(self) -> dict[int, IssueView]:
        rows = self.forge.db.all(
            "SELECT i.id, i.number, i.state FROM issues i WHERE i.repo_id = ? AND i.is_pull = 0",
            (self.repo_id,),
        )
        labels: dict[int, set[str]] = {}
        for row in self.forge.db.all(
            "SELECT il.issue_id, l.name FROM issue_labels il JOIN labels l ON l.id = il.label_id "
            "WHERE l.repo_id = ?",
            (self.repo_id,),
        ):
            labels.setdefault(int(row["issue_id"]), set()).add(str(row["name"]))
        return {
            int(r["number"]): IssueView(
                int(r["number"]), str(r["state"]), frozenset(labels.get(int(r["id"]), ()))
            )
            for r in rows
        }

    def pulls(self) -> dict[int, PullView]:
        rows = self.forge.db.all(
            "SELECT i.number, i.state, p.head_ref, p.head_sha, p.merged, p.merge_commit_sha "
            "FROM issues i JOIN pulls p ON p.issue_id = i.id WHERE i.repo_id = ?",
            (self.repo_id,),
        )
        return {int(r["number"]): _pull(r) for r in rows}

    def ci_runs(self, shas: set[str]) -> dict[str, int]:
        """How many CI runs (check runs) each of these head SHAs had."""
        counts: dict[str, int] = {}
        for row in self.forge.db.all(
            "SELECT head_sha, COUNT(*) AS n FROM check_runs WHERE repo_id = ? GROUP BY head_sha",
            (self.repo_id,),
        ):
            if row["head_sha"] in shas:
                counts[str(row["head_sha"])] = int(row["n"])
        return counts


def _pull(row: Any) -> PullView:
    return PullView(
        number=int(row["number"]),
        head_ref=str(row["head_ref"]),
        head_sha=str(row["head_sha"]),
        state=str(row["state"]),
        merged=bool(row["merged"]),
        merge_commit_sha=row["merge_commit_sha"],
    )
