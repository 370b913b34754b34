"""Requirement guard: an issue is dispatched only when it says what to build and how we know it is done.

Pure: takes the issue text, returns the parsed task fields or the specific questions to ask.
Sections are markdown headings (`## Goal`) or bold/plain labels on their own line (`**Goal:**`, `Goal:`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Canonical section name → accepted spellings (compared case-insensitively, punctuation ignored).
SECTION_ALIASES: dict[str, tuple[str, ...]] = {
    "goal": ("goal", "objective", "summary", "what"),
    "success_criteria": (
        "success criteria",
        "acceptance criteria",
        "done when",
        "definition of done",
        "success",
    ),
    "constraints": ("constraints", "non goals", "out of scope", "limits"),
    "context": ("context", "background", "notes", "details"),
    "task_type": ("task type", "type"),
    "agent": ("agent", "preferred agent"),
}

_MIN_GOAL_CHARS = 15
_HEADING = re.compile(
    r"^\s{0,3}(?:#{1,6}\s*(?P<h>[^#\n]+?)\s*#*\s*|\*\*(?P<b>[^*\n]+?):?\*\*:?\s*(?P<rest>.*))$"
)
_LABEL_LINE = re.compile(r"^\s{0,3}(?P<l>[A-Za-z][A-Za-z ]{1,30}):\s*(?P<rest>.*)$")


@dataclass(frozen=True)
class IssueSections:
    goal: str = ""
    success_criteria: str = ""
    constraints: str = ""
    context: str = ""
    task_type: str = ""
    agent: str = ""


@dataclass(frozen=True)
class GuardResult:
    sections: IssueSections
    questions: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.questions


def _canonical(label: str) -> str | None:
    key = re.sub(r"[^a-z ]", "", label.lower()).strip()
    key = re.sub(r"\s+", " ", key)
    for name, aliases in SECTION_ALIASES.items():
        if key in aliases:
            return name
    return None


def _section_start(line: str) -> tuple[str, str] | None:
    """If `line` opens a known section, return (section name, text after the label on the same line)."""
    heading = _HEADING.match(line)
    if heading:
        label = heading.group("h") or heading.group("b") or ""
        name = _canonical(label.rstrip(":"))
        if name:
            return name, (heading.group("rest") or "").strip()
        return None
    plain = _LABEL_LINE.match(line)
    if plain:
        name = _canonical(plain.group("l"))
        if name:
            return name, plain.group("rest").strip()
    return None


def parse_sections(body: str) -> IssueSections:
    """Split an issue body into the known sections. Text before the first section and unknown sections are
    kept in `context` only when no explicit Context section exists."""
    found: dict[str, list[str]] = {}
    preamble: list[str] = []
    current: str | None = None
    in_fence = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        start = None if in_fence else _section_start(line)
        if start:
            current, rest = start
            found.setdefault(current, [])
            if rest:
                found[current].append(rest)
            continue
        if current is None:
            preamble.append(line)
        else:
            found[current].append(line)
    text = {name: "\n".join(lines).strip() for name, lines in found.items()}
    if "context" not in text and "\n".join(preamble).strip():
        text["context"] = "\n".join(preamble).strip()
    return IssueSections(**{k: text.get(k, "") for k in IssueSections.__dataclass_fields__})


def check_requirements(title: str, body: str) -> GuardResult:
    """The guard: a goal and success criteria are required; return the specific questions otherwise."""
    sections = parse_sections(body)
    questions: list[str] = []
    if len(sections.goal) < _MIN_GOAL_CHARS:
        if sections.goal:
            questions.append(
                f"The goal ({sections.goal!r}) is too short to act on: what exactly should change, and for whom?"
            )
        else:
            questions.append(
                f"What is the goal of “{title}”? Add a `## Goal` section saying what should change and why."
            )
    if not _has_substance(sections.success_criteria):
        questions.append(
            "How will we know it is done? Add a `## Success Criteria` section with checkable outcomes "
            "(e.g. a test that passes, a command's output, a behaviour a user sees)."
        )
    return GuardResult(sections=sections, questions=tuple(questions))


def _has_substance(text: str) -> bool:
    words = re.findall(r"[A-Za-z0-9]+", text)
    return len(words) >= 3
