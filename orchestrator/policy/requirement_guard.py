"""Requirement guard: an issue is dispatched only when it says what to change and how we know it is done.

Pure: takes the issue text, returns the task fields or the specific questions to ask. Two kinds of issue
pass. Templated ones state a goal and success criteria in sections — markdown headings (`## Goal`) or bold
or plain labels on their own line (`**Goal:**`, `Goal:`), also the common GitHub template headings
(`Describe the bug`, `Expected behavior`, …). Free-form ones — most real issues and commit messages — pass
when the title asks for a change (or reports a defect) and the text names the code it concerns
(`policy.issue_signals`); their success criteria are derived. A vague issue gets questions about exactly
what it lacks: which code, what should change, what "faster" means, what happened instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from orchestrator.policy.issue_signals import Signals, signals, title_subject

# Canonical section name → accepted spellings (compared case-insensitively, punctuation ignored).
SECTION_ALIASES: dict[str, tuple[str, ...]] = {
    "goal": (
        "goal",
        "objective",
        "summary",
        "what",
        "description",
        "describe the bug",
        "problem",
        "proposal",
        "proposed solution",
        "proposed change",
        "feature request",
        "describe the solution youd like",
    ),
    "success_criteria": (
        "success criteria",
        "acceptance criteria",
        "done when",
        "definition of done",
        "success",
        "expected behavior",
        "expected behaviour",
        "expected result",
        "expected",
    ),
    "constraints": ("constraints", "non goals", "out of scope", "limits"),
    "context": (
        "context",
        "background",
        "notes",
        "details",
        "additional context",
        "motivation",
        "to reproduce",
        "steps to reproduce",
        "reproduction",
        "actual behavior",
        "actual behaviour",
    ),
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


DERIVED_CRITERIA = (
    "- the change the issue describes is made (see the goal and the context)\n"
    "- a test covers it wherever behaviour changes\n"
    "- the repository's test suite passes"
)
_CODE_QUESTION = (
    "Which code does “{subject}” concern? Name the function, class, command, file or error message involved."
)
_CHANGE_QUESTION = (
    "What should change? Say what the code should do once this is done (e.g. “`parse()` accepts an empty "
    "string and returns []”)."
)
_QUESTION_QUESTION = (
    "This reads as a question rather than a task. What change should be made to the code, and what should "
    "it do afterwards?"
)
_REPRO_QUESTION = (
    "What did you run, what did you expect, and what happened instead? Paste the command or code and the "
    "error or traceback."
)
_SUCCESS_QUESTION = (
    "How will we know it is done? Add a `## Success Criteria` section with checkable outcomes "
    "(e.g. a test that passes, a command's output, a behaviour a user sees)."
)


def check_requirements(title: str, body: str) -> GuardResult:
    """The guard: the task fields when the issue is actionable, else the specific questions to ask."""
    sections = parse_sections(body)
    sig = signals(title, body, sections.goal.split("\n", 1)[0])
    if sections.goal or sections.success_criteria:
        questions = _templated_questions(title, sections, sig)
    else:
        questions = _free_form_questions(title, sig)
    if questions:
        return GuardResult(sections=sections, questions=tuple(questions))
    return GuardResult(sections=_completed(title, sections), questions=())


def _specific(sig: Signals) -> bool:
    """Asks for a change (or reports a defect) and names the code it concerns; a vague verb ("update",
    "refactor") also says how (a few more words than "Update README.md")."""
    if sig.question and not sig.action:
        return False
    if sig.vague_verb and not sig.bug and sig.subject_words < 4 and sig.body_words < 8:
        return False
    return (sig.action or sig.bug) and sig.references >= 1


def _templated_questions(title: str, sections: IssueSections, sig: Signals) -> list[str]:
    questions: list[str] = []
    goal = sections.goal
    if len(goal) < _MIN_GOAL_CHARS and not (not goal and _specific(sig)):
        if goal:
            questions.append(
                f"The goal ({goal!r}) is too short to act on: what exactly should change, and for whom?"
            )
        else:
            questions.append(
                f"What is the goal of “{title}”? Add a `## Goal` section saying what should change and why."
            )
    if not _has_substance(sections.success_criteria) and not _specific(sig):
        questions.append(_SUCCESS_QUESTION)
        questions += _vagueness_questions(sig)
    return questions


def _free_form_questions(title: str, sig: Signals) -> list[str]:
    """No template sections: judge the title and text the way a maintainer would."""
    if _specific(sig):
        return []
    if sig.question and not sig.action:
        return [_QUESTION_QUESTION]
    questions: list[str] = []
    if sig.references == 0:
        questions.append(_CODE_QUESTION.format(subject=title_subject(title) or title))
    if not sig.action and not sig.bug:
        questions.append(_CHANGE_QUESTION)
    questions += _vagueness_questions(sig)
    if sig.bug and not sig.expected:
        questions.append(_REPRO_QUESTION)
    return questions


def _vagueness_questions(sig: Signals) -> list[str]:
    words = [w for w in (sig.verb if sig.vague_verb else "", *sig.vague_words) if w]
    targets = [w for w in words if w in _TARGET_WORDS]
    if targets or (sig.vague_verb and not sig.measurable):
        word = (targets or words)[0]
        return [
            f"“{word}” in what way? Name the operation it is about and a checkable target (a time, a size, "
            "or the behaviour before and after)."
        ]
    return []


_TARGET_WORDS = frozenset(
    {"faster", "slower", "better", "nicer", "cleaner", "improve", "optimize", "optimise"}
)


def _completed(title: str, sections: IssueSections) -> IssueSections:
    """A free-form issue as task fields: the title is the goal, the text its context."""
    goal = sections.goal if len(sections.goal) >= _MIN_GOAL_CHARS else title_subject(title) or title
    given = sections.success_criteria.strip()
    if _has_substance(given):
        criteria = given
    else:
        criteria = f"- {given}\n{DERIVED_CRITERIA}" if given else DERIVED_CRITERIA
    return replace(sections, goal=goal, success_criteria=criteria)


def _has_substance(text: str) -> bool:
    words = re.findall(r"[A-Za-z0-9]+", text)
    return len(words) >= 3
