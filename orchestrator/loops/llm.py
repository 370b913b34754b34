"""The loops' optional LLM: `config.llm.agent` asked one question in print mode; None whenever it cannot help.

`llm_text(ctx, prompt, purpose=...)` returns the answer or None (no agent configured, unknown agent, the call
failed — logged). `llm_json` parses the answer as JSON (`parse_json_answer`: whole text, a ```json fence, or
the outermost [...] / {...}). `llm_proposals` turns a JSON list of {title, goal, success_criteria, reasoning,
evidence} into Proposals with every text made safe to post (`text_field`). Also re-exported by
orchestrator.loops.common.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from orchestrator.policy.dedup import normalize_title
from orchestrator.policy.proposal import Proposal

if TYPE_CHECKING:
    from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)


def llm_text(ctx: JobContext, prompt: str, *, purpose: str = "loop") -> str | None:
    """`config.llm.agent`'s print-mode answer to `prompt`; None when none is configured or the call fails."""
    name = ctx.config.llm.agent
    if not name:
        return None
    agent = ctx.config.agents.get(name)
    if agent is None:
        log.warning("llm agent %r is not configured; using the deterministic path", name)
        return None
    from orchestrator.agents import PrintModeFailed, print_mode
    from orchestrator.executors.task_runner import agent_spec

    spec = replace(agent_spec(agent), timeout_s=ctx.config.llm.timeout_minutes * 60)
    run_dir = ctx.paths.agent_runs / "loops" / f"{purpose}-{ctx.clock():%Y%m%dT%H%M%S%f}"
    try:
        return print_mode(spec, prompt, run_dir, ctx.environ)
    except PrintModeFailed as exc:
        log.warning("llm call failed purpose=%s agent=%s error=%s", purpose, name, exc)
    except OSError as exc:
        log.warning("llm call could not run purpose=%s agent=%s error=%s", purpose, name, exc)
    return None


def llm_json(ctx: JobContext, prompt: str, *, purpose: str = "loop") -> Any | None:
    """`llm_text` parsed as JSON (see parse_json_answer); None when absent, failed or not JSON."""
    text = llm_text(ctx, prompt, purpose=purpose)
    if text is None:
        return None
    value = parse_json_answer(text)
    if value is None:
        log.warning("llm answer is not JSON purpose=%s answer=%r", purpose, text[:200])
    return value


_FENCE_RE = re.compile(r"```(?:json)?\s*\n(?P<body>.*?)\n\s*```", re.DOTALL)


def parse_json_answer(text: str) -> Any | None:
    """The JSON value in an LLM answer: the whole text, a ```json fence, or the outermost [...] / {...}."""
    attempts = [text.strip()]
    attempts += [m.group("body") for m in _FENCE_RE.finditer(text)]
    for opener, closer in (("[", "]"), ("{", "}")):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            attempts.append(text[start : end + 1])
    for attempt in attempts:
        try:
            return json.loads(attempt)
        except json.JSONDecodeError:
            continue
    return None


def text_field(item: Mapping[str, Any], name: str, max_chars: int = 4000) -> str:
    """A string field of an LLM-produced object made safe to post: sanitized, references neutralized, and
    markdown headings turned into bold lines so they cannot open sections of their own."""
    from orchestrator.executors.prompt import agent_text

    value = item.get(name)
    if not isinstance(value, str):
        return ""
    return _HEADING_RE.sub(lambda m: f"**{m.group(1).strip()}**", agent_text(value, max_chars))


_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}\s*(.*?)\s*#*\s*$", re.MULTILINE)


def llm_proposals(
    value: Any, *, repo: str, key_prefix: str, labels: tuple[str, ...] = (), limit: int = 10
) -> list[Proposal]:
    """Proposals from an LLM's JSON answer: a list of objects with `title`, `goal`, `success_criteria` and
    optionally `reasoning` / `evidence`. Items missing a title, goal or success criteria are dropped; every
    text is sanitized (text_field). The key is `key_prefix` + the normalized title."""
    if not isinstance(value, list):
        return []
    proposals: list[Proposal] = []
    for item in value[:limit]:
        if not isinstance(item, dict):
            continue
        title = " ".join(text_field(item, "title", 200).split())
        goal, criteria = text_field(item, "goal"), text_field(item, "success_criteria")
        if not (title and goal and criteria):
            continue
        proposals.append(
            Proposal(
                repo=repo,
                key=f"{key_prefix}:{normalize_title(title)[:80].replace(' ', '-')}",
                title=title,
                goal=goal,
                success_criteria=criteria,
                evidence=text_field(item, "evidence"),
                reasoning=text_field(item, "reasoning"),
                labels=labels,
            )
        )
    return proposals
