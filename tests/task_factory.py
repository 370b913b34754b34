"""One way to make a Task value for tests that need a task, not particular task text."""

from __future__ import annotations

import dataclasses

from orchestrator.values.models import Task

REPO = "acme/widgets"


def make_task(issue: int = 7, generation: int = 1, *, repo: str = REPO, **changes: object) -> Task:
    """Issue `issue` of `repo`, generation `generation` (its branch says `-gN` past the first), assigned to
    claude; `changes` replace any other field (e.g. created_at, agents, attempt)."""
    suffix = f"-g{generation}" if generation > 1 else ""
    task = Task(
        repo=repo,
        issue=issue,
        generation=generation,
        branch=f"agent/{issue}-fix-it{suffix}",
        title=f"Fix widget {issue}",
        goal="Make the widget spin.",
        success_criteria="- spins",
        agents=("claude",),
    )
    return dataclasses.replace(task, **changes)  # type: ignore[arg-type]
