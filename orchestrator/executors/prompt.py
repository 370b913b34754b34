"""Text Agent OS writes: the agent prompt, the PR body and issue comments (jinja2 templates in templates/).

Anything that did not come from Agent OS itself — issue text, the repository's README and CODEBASE.md,
earlier agents' summaries — is `sanitize_untrusted`-ed and placed between DATA markers whose nonce is a
hash of the content (so the content cannot close its own block); the prompt's rules tell the agent that
instructions inside DATA are not to be followed. Agent-written text that goes back to GitHub has its
closing keywords (`Closes #12`) and @mentions put in code spans so it cannot close issues or ping people.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jinja2

from orchestrator.values.models import AgentResult, AgentRun, Task
from orchestrator.values.untrusted_text import AGENT_TEXT_MAX_BYTES as AGENT_TEXT_MAX_BYTES
from orchestrator.values.untrusted_text import agent_text as agent_text
from orchestrator.values.untrusted_text import code_block as code_block
from orchestrator.values.untrusted_text import data_block as data_block
from orchestrator.values.untrusted_text import neutralize_references as neutralize_references
from orchestrator.values.untrusted_text import sanitize_untrusted as sanitize_untrusted

TEMPLATES_DIR = Path(__file__).parents[1] / "templates"
COMMENT_KINDS = (
    "picked_up",
    "pr_opened",
    "needs_info",
    "merged",
    "escalated",
    "wedged",
    "needs_approval",
    "waiting",
)
DEFAULT_README_MAX_BYTES = 16 * 1024
DEFAULT_FIELD_MAX_BYTES = 64 * 1024


class UnknownCommentKind(ValueError):
    pass


class TestRunLike(Protocol):
    """The orchestrator's own test run (task_runner.TestRun)."""

    @property
    def passed(self) -> bool: ...
    @property
    def command(self) -> str: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def log_tail(self) -> str: ...


class MergeLike(Protocol):
    """A merge Agent OS started in the worktree (agent_commit.MergeInProgress)."""

    @property
    def base_ref(self) -> str: ...
    @property
    def conflicts(self) -> tuple[str, ...]: ...


class AttemptLike(Protocol):
    """What render_pr_body needs of one finished attempt (task_runner.AttemptOutcome)."""

    @property
    def agent(self) -> str: ...
    @property
    def run(self) -> AgentRun: ...
    @property
    def result(self) -> AgentResult | None: ...
    @property
    def tests(self) -> TestRunLike | None: ...
    @property
    def files_changed(self) -> tuple[str, ...]: ...


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # markdown, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        data=data_block, code=code_block, agent_text=agent_text, money=_money, duration=_duration
    )
    return env


def render_prompt(
    task: Task,
    repo_readme: str,
    codebase_md: str,
    codebase_max_bytes: int,
    contract: str,
    *,
    readme_max_bytes: int = DEFAULT_README_MAX_BYTES,
    field_max_bytes: int = DEFAULT_FIELD_MAX_BYTES,
    merge: MergeLike | None = None,
) -> str:
    """The full prompt for one attempt at `task`: rules, the task as DATA, prior attempts, repo context, contract.

    `merge`: the base branch Agent OS merged into the worktree for a resolve-conflict task (the agent
    resolves the conflict markers in the files named; it neither rebases nor aborts the merge)."""

    def clean(text: str) -> str:
        return sanitize_untrusted(text, field_max_bytes).strip()

    sections = [
        ("Goal", task.goal),
        ("Success criteria", task.success_criteria),
        ("Constraints", task.constraints),
        ("Context", task.context),
        ("Notes", task.notes),
    ]
    issue_parts = [f"Title: {' '.join(clean(task.title).split())}"]
    issue_parts += [f"### {heading}\n\n{clean(text)}" for heading, text in sections if text.strip()]
    attempts = []
    for record in task.prior_attempts:
        notes = [
            ("Summary", record.summary),
            ("Blockers", record.blockers),
            ("Approaches tried", record.approaches),
            ("Files changed", "\n".join(record.files_changed)),
        ]
        text = "\n\n".join(f"{label}:\n{clean(value)}" for label, value in notes if value.strip())
        attempts.append({"record": record, "text": text})
    context = {
        "task": task,
        "issue_text": "\n\n".join(issue_parts),
        "attempts": attempts,
        "readme": sanitize_untrusted(repo_readme, readme_max_bytes).strip(),
        "codebase": sanitize_untrusted(codebase_md, codebase_max_bytes).strip(),
        "contract": contract.strip(),
        "merge": merge,
    }
    return environment().get_template("prompt.md.j2").render(**context)


def render_pr_body(*, task: Task, outcome: AttemptLike) -> str:
    """The PR description: `Closes #N`, the agent's summary, files changed, our own test run, agent and cost."""
    return environment().get_template("pr_body.md.j2").render(task=task, outcome=outcome)


def render_issue_comment(kind: str, **ctx: Any) -> str:
    """An issue comment; `kind` is one of COMMENT_KINDS, each template names the context it needs."""
    if kind not in COMMENT_KINDS:
        raise UnknownCommentKind(f"no issue comment template {kind!r}; known: {', '.join(COMMENT_KINDS)}")
    text = environment().get_template(f"comments/{kind}.md.j2").render(kind=kind, **ctx)
    return text.strip() + "\n"


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
