"""Labels the workflow needs, and the seed issues: filed once, labelled, and put on the board (Todo or Ready).

A re-run for the same repo files nothing new: seed issues carry the `agent-os:seed` label, and when any issue
(open or closed) has it, seeding is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from orchestrator.init_wizard.charter import SeedIssue
from orchestrator.values.models import Board, Issue

SEED_LABEL = "agent-os:seed"
# The default label names of the config (labels mode uses all of them; project mode needs-info and blocked).
WORKFLOW_LABELS: Mapping[str, str] = {
    "ready": "0e8a16",
    "in-progress": "fbca04",
    "in-review": "5319e7",
}
ALWAYS_LABELS: Mapping[str, str] = {
    "needs-info": "d876e3",
    "blocked": "b60205",
    "agent-os:approved": "0052cc",
    SEED_LABEL: "c5def5",
}


class SeedForge(Protocol):
    def ensure_labels(self, repo: str, labels: Mapping[str, str]) -> None: ...

    def list_issues(self, repo: str, *, state: str = "open", labels: Sequence[str] = ()) -> list[Issue]: ...

    def create_issue(self, repo: str, title: str, body: str, labels: Sequence[str] = ()) -> Issue: ...

    def add_board_item(self, board: Board, content_node_id: str) -> str: ...

    def set_item_status(self, board: Board, item_id: str, status: str) -> None: ...


@dataclass(frozen=True)
class SeedOutcome:
    filed: tuple[Issue, ...]
    already: tuple[int, ...]  # numbers of seed issues an earlier run filed (nothing filed then)

    @property
    def summary(self) -> str:
        if self.already:
            numbers = ", ".join(f"#{n}" for n in self.already)
            return f"seed issues: already filed by an earlier run ({numbers}); none added"
        return "seed issues: filed " + ", ".join(f"#{issue.number}" for issue in self.filed)


def ensure_workflow_labels(forge: SeedForge, repo: str, *, labels_mode: bool) -> None:
    forge.ensure_labels(repo, {**(WORKFLOW_LABELS if labels_mode else {}), **ALWAYS_LABELS})


def file_seed_issues(
    forge: SeedForge, repo: str, issues: Sequence[SeedIssue], board: Board | None, *, ready: bool
) -> SeedOutcome:
    """File each issue with the seed label; on the board as Todo (or Ready), in labels mode `ready` if asked."""
    earlier = forge.list_issues(repo, state="all", labels=[SEED_LABEL])
    if earlier:
        return SeedOutcome((), tuple(sorted(issue.number for issue in earlier)))
    labels = [SEED_LABEL] + (["ready"] if ready and board is None else [])
    filed = []
    for seed in issues:
        issue = forge.create_issue(repo, seed.title, seed.body, labels)
        if board is not None:
            item = forge.add_board_item(board, issue.node_id)
            forge.set_item_status(board, item, "Ready" if ready else "Todo")
        filed.append(issue)
    return SeedOutcome(tuple(filed), ())
