"""Text Agent OS writes: the agent prompt, the PR body and issue comments (jinja2 templates in templates/).

Anything that did not come from Agent OS itself — issue text, the repository's README and CODEBASE.md,
earlier agents' summaries — is `sanitize_untrusted`-ed and placed between DATA markers whose nonce is a
hash of the content (so the content cannot close its own block); the prompt's rules tell the agent that
instructions inside DATA are not to be followed. Agent-written text that goes back to GitHub has its
closing keywords (`Closes #12`) and @mentions put in code spans so it cannot close issues or ping people.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jinja2

from orchestrator.models import AgentResult, AgentRun, Task

TEMPLATES_DIR = Path(__file__).parent / "templates"
COMMENT_KINDS = ("picked_up", "pr_opened", "needs_info", "merged", "escalated", "wedged", "needs_approval")
DEFAULT_README_MAX_BYTES = 16 * 1024
DEFAULT_FIELD_MAX_BYTES = 64 * 1024
AGENT_TEXT_MAX_BYTES = 8 * 1024

# Zero-width, invisible and bidirectional-control characters, soft hyphen, BOM and the tag block.
_INVISIBLE_RE = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\U000e0000-\U000e007f]"
)
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HTML_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_CLOSING_REF_RE = re.compile(
    r"\b((?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b\s*:?\s*)((?:[\w.-]+/[\w.-]+)?#\d+)", re.IGNORECASE
)
_MENTION_RE = re.compile(r"(?<![\w`/@])@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9_.-]+)?)")


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


def sanitize_untrusted(text: str, max_bytes: int) -> str:
    """Strip HTML comments, invisible / bidi / control characters; truncate to max_bytes (UTF-8) with a note."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", _INVISIBLE_RE.sub("", text))
    text = _HTML_COMMENT_RE.sub("", text)  # after removing invisibles, so `<!\u200b--` cannot dodge it
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    kept = encoded[: max(max_bytes, 0)].decode("utf-8", errors="ignore")
    omitted = len(encoded) - len(kept.encode("utf-8"))
    return f"{kept}\n\n[truncated: {omitted} bytes omitted]"


def neutralize_references(text: str) -> str:
    """Put `Closes #12`-style references and @mentions in code spans (agent text posted to GitHub)."""
    text = _CLOSING_REF_RE.sub(lambda m: f"{m.group(1)}`{m.group(2)}`", text)
    return _MENTION_RE.sub(lambda m: f"`@{m.group(1)}`", text)


def data_block(text: str, label: str) -> str:
    """`text` between DATA markers; the nonce is derived from the content, so it cannot forge the end."""
    nonce = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"<<<DATA {label} {nonce}>>>\n{text}\n<<<END DATA {nonce}>>>"


def code_block(text: str, info: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def agent_text(text: str, max_bytes: int = AGENT_TEXT_MAX_BYTES) -> str:
    """An agent's words made safe to post on GitHub."""
    return neutralize_references(sanitize_untrusted(text, max_bytes)).strip()


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
