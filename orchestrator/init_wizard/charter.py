"""The charter docs (NORTH_STAR, VISION, STRATEGY, PLANNING_PRINCIPLES) and the seed issues `init` files.

Two sources, one result (`Charter`): jinja2 templates in templates/init/, or a configured agent asked once in
print mode for a JSON object (`charter_prompt.md.j2` states the shape). An agent's answer is parsed here and
every seed issue is checked with the requirement guard: an answer that does not fit is `CharterAnswerInvalid`
(the wizard then falls back to the templates and says why).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from orchestrator.agents import AgentSpec, print_mode
from orchestrator.executors.prompt import TEMPLATES_DIR, agent_text, data_block, sanitize_untrusted
from orchestrator.policy.requirement_guard import check_requirements

INIT_TEMPLATES = TEMPLATES_DIR / "init"
CHARTER_DOCS: tuple[tuple[str, str], ...] = (
    ("north_star", "NORTH_STAR.md"),
    ("vision", "VISION.md"),
    ("strategy", "STRATEGY.md"),
    ("planning_principles", "PLANNING_PRINCIPLES.md"),
)
MIN_SEED_ISSUES, MAX_SEED_ISSUES = 3, 5
_DOC_MAX_BYTES = 64 * 1024
_FIELD_MAX_BYTES = 8 * 1024
_FENCE = re.compile(r"^```[a-zA-Z]*\s*$", re.MULTILINE)


class CharterAnswerInvalid(ValueError):
    """An agent's answer is not the JSON object the prompt asked for; the message says what is wrong."""


@dataclass(frozen=True)
class CharterContext:
    name: str
    full_name: str
    what: str
    test_command: str
    base_branch: str
    sprint_days: int


@dataclass(frozen=True)
class SeedIssue:
    title: str
    body: str


@dataclass(frozen=True)
class Charter:
    docs: tuple[tuple[str, str], ...]  # (path in the repo, markdown)
    issues: tuple[SeedIssue, ...]
    source: str  # "templates" or the agent's name


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(INIT_TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # markdown
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["data"] = data_block
    return env


def render(template: str, ctx: CharterContext, **extra: Any) -> str:
    return environment().get_template(template).render(**ctx.__dict__, **extra)


# --- templates --------------------------------------------------------------------------------------------


def template_charter(ctx: CharterContext) -> Charter:
    docs = tuple((path, render(f"{path}.j2", ctx)) for _, path in CHARTER_DOCS)
    specs = yaml.safe_load((INIT_TEMPLATES / "seed_issues.yaml").read_text(encoding="utf-8"))
    env = environment()
    issues = []
    for spec in specs:
        fields = {
            key: (
                [env.from_string(item).render(**ctx.__dict__) for item in value]
                if isinstance(value, list)
                else env.from_string(str(value)).render(**ctx.__dict__)
            )
            for key, value in spec.items()
        }
        issues.append(seed_issue(fields, "templates/init/seed_issues.yaml"))
    return Charter(docs=docs, issues=tuple(issues), source="templates")


def seed_issue(fields: Mapping[str, Any], where: str) -> SeedIssue:
    """Title + body with the sections the requirement guard requires; CharterAnswerInvalid when it fails it."""
    title = _text(fields.get("title"), f"{where}.title").replace("\n", " ")[:200]
    criteria = fields.get("success_criteria")
    if isinstance(criteria, str):
        criteria = [line.lstrip("-* ").strip() for line in criteria.splitlines() if line.strip()]
    if not isinstance(criteria, list) or not criteria or not all(isinstance(c, str) for c in criteria):
        raise CharterAnswerInvalid(f"{where}.success_criteria: expected a non-empty list of strings")
    body = (
        environment()
        .get_template("seed_issue.md.j2")
        .render(
            goal=_text(fields.get("goal"), f"{where}.goal"),
            success_criteria=[c.strip() for c in criteria if c.strip()],
            constraints=str(fields.get("constraints") or "").strip(),
            context=str(fields.get("context") or "").strip(),
        )
    )
    verdict = check_requirements(title, body)
    if not verdict.ok:
        raise CharterAnswerInvalid(
            f"{where} ({title!r}) fails the requirement guard: {' '.join(verdict.questions)}"
        )
    return SeedIssue(title=title, body=body)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CharterAnswerInvalid(f"{where}: expected a non-empty string")
    return value.strip()


# --- an agent in print mode -------------------------------------------------------------------------------


def llm_charter(
    ctx: CharterContext, spec: AgentSpec, run_dir: Path, environ: Mapping[str, str] = os.environ
) -> Charter:
    """Ask `spec` once; raises PrintModeFailed (the agent failed) or CharterAnswerInvalid (its answer did)."""
    answer = print_mode(spec, render("charter_prompt.md.j2", ctx), run_dir, environ)
    return parse_charter_answer(answer, spec.name)


def parse_charter_answer(answer: str, source: str) -> Charter:
    data = _json_object(answer)
    docs = []
    for key, path in CHARTER_DOCS:
        markdown = sanitize_untrusted(_text(data.get(key), key), _DOC_MAX_BYTES).strip()
        docs.append((path, markdown + "\n"))
    raw_issues = data.get("issues")
    if not isinstance(raw_issues, list) or len(raw_issues) < MIN_SEED_ISSUES:
        raise CharterAnswerInvalid(
            f"issues: expected a list of {MIN_SEED_ISSUES} to {MAX_SEED_ISSUES} objects"
        )
    issues = tuple(
        seed_issue(_cleaned(item, f"issues[{index}]"), f"issues[{index}]")
        for index, item in enumerate(raw_issues[:MAX_SEED_ISSUES])
    )
    return Charter(docs=tuple(docs), issues=issues, source=source)


def _json_object(answer: str) -> dict[str, Any]:
    """The JSON object in an answer, tolerating a code fence or words around it."""
    text = _FENCE.sub("", answer)
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end <= start:
        raise CharterAnswerInvalid("the answer holds no JSON object")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise CharterAnswerInvalid(f"the answer's JSON does not parse: {exc}") from None
    if not isinstance(data, dict):
        raise CharterAnswerInvalid("the answer's JSON is not an object")
    return data


def _cleaned(item: object, where: str) -> dict[str, Any]:
    """An agent's issue fields, made safe to post: no invisible characters, no @mentions or #references."""
    if not isinstance(item, dict):
        raise CharterAnswerInvalid(f"{where}: expected an object")
    cleaned: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, str):
            cleaned[key] = agent_text(value, _FIELD_MAX_BYTES)
        elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            cleaned[key] = [agent_text(v, _FIELD_MAX_BYTES) for v in value]
        else:
            cleaned[key] = value
    return cleaned
