"""What an issue's free text says about how actionable it is: pure text signals for the requirement guard.

Calibrated on real issue texts and commit messages of small Python libraries (the corpus in
tests/policy/data/requirement_corpus.yaml): a specific title ("Add strictly_n()", "Fix windowed() when step
> n", "TypeError in chunked with n=0") names a change and the code it touches; a vague one ("Improve
performance", "It doesn't work", "Question about usage") names neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Verbs a title starts with when it asks for a change (imperative, or the -s/-ed forms of commit subjects).
_ACTION_VERBS = frozenset(
    [
        "accept",
        "add",
        "allow",
        "avoid",
        "bump",
        "cache",
        "change",
        "clarify",
        "close",
        "convert",
        "correct",
        "deprecate",
        "detect",
        "disable",
        "document",
        "drop",
        "emit",
        "enable",
        "ensure",
        "exclude",
        "expose",
        "extend",
        "fix",
        "forbid",
        "format",
        "handle",
        "honor",
        "honour",
        "ignore",
        "implement",
        "include",
        "introduce",
        "keep",
        "limit",
        "log",
        "make",
        "merge",
        "move",
        "normalize",
        "normalise",
        "parse",
        "pass",
        "pin",
        "port",
        "preserve",
        "prevent",
        "print",
        "raise",
        "read",
        "reject",
        "release",  # "Release 2.4.0" with its changelog: the listed changes, shipped
        "remove",
        "rename",
        "reorder",
        "replace",
        "report",
        "require",
        "reset",
        "respect",
        "restore",
        "return",
        "reuse",
        "revert",
        "run",
        "set",
        "show",
        "simplify",
        "skip",
        "sort",
        "speed",
        "split",
        "stop",
        "strip",
        "support",
        "switch",
        "test",
        "treat",
        "trim",
        "turn",
        "unify",
        "upgrade",
        "use",
        "validate",
        "warn",
        "wrap",
        "write",
    ]
)
# Verbs that say "make it better" without saying how: they need a concrete object and, for speed, a target.
_VAGUE_VERBS = frozenset(
    [
        "improve",
        "optimize",
        "optimise",
        "enhance",
        "refactor",
        "cleanup",
        "clean",
        "update",
        "modernize",
        "rework",
        "polish",
        "tidy",
    ]
)
_VAGUE_WORDS = re.compile(
    r"\b(?:better|faster|slower|nicer|cleaner|stuff|things|somehow|various|general(?:ly)?|overall|"
    r"doesn'?t work|does not work|not working|broken|weird|strange|issues?|problems?|etc)\b",
    re.IGNORECASE,
)
_QUESTION_START = re.compile(
    r"^(?:how|why|what|when|where|which|who|is|are|can|could|should|would|does|do|did|will|any)\b", re.I
)
_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*|[a-z]+(?:\([^)]*\))?!?:\s*)+", re.IGNORECASE)
_BUG_WORDS = re.compile(
    r"\b(?:\w*error|\w*exception|fails?|failing|failed|crash(?:es|ed)?|raises?|wrong|incorrect|broken|"
    r"hangs?|freezes?|leaks?|loses?|lost|drops?|skips?|flickers?|duplicates?|regression|doesn'?t|does not|"
    r"cannot|can'?t|returns?|ignores?|ignored|missing|instead of|bug)\b",
    re.IGNORECASE,
)
_EXPECTED = re.compile(r"\b(?:expected|should|instead|actual(?:ly)?|but (?:it|got|the))\b", re.IGNORECASE)
_MEASURABLE = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:ms|s|sec|seconds?|minutes?|%|x|times|mb|kb|gb|mib|kib)\b", re.I
)

_CODE_PATTERNS = (
    re.compile(r"`[^`\n]+`"),  # code span
    re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\(\)?"),  # call: name( or name()
    re.compile(r"\b[a-z_][a-z0-9_]*\.[a-z_][A-Za-z0-9_]+\b"),  # dotted name: module.attr
    re.compile(r"\b[\w.-]+\.(?:py|pyi|js|ts|md|rst|toml|cfg|ini|ya?ml|json|txt|sh|html|css)\b"),  # file
    re.compile(r"\b(?:src|tests?|docs|lib|bin|scripts|examples|\.github)/[\w./-]+"),  # path
    re.compile(r"\b[a-z_][a-z0-9_]*=[\w'\"-]+"),  # keyword argument: n=0, strict=True
    re.compile(
        r"\b[A-Za-z_][\w]* (?:parameter|argument|option|flag|method|function|class|module|attribute|"
        r"keyword|field|endpoint|command|docstring|recipe|decorator|fixture|hook|subcommand)s?\b",
        re.IGNORECASE,
    ),
    re.compile(r"(?<![\w-])--?[a-z][a-z0-9-]+\b"),  # CLI flag
    re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b"),  # snake_case identifier
    re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+\b"),  # CamelCase identifier
    re.compile(r"\b\w+(?:Error|Exception|Warning)\b"),  # exception name
    re.compile(r"\bPython\s*3\.\d+|\bpy3\d+\b|\bPEP\s*\d+\b", re.IGNORECASE),  # versions and PEPs
    re.compile(r"\b(?:HTTP\s*)?[1-5]\d\d\b(?=\s*(?:error|response|status))", re.IGNORECASE),
    re.compile(r"\bv?\d+\.\d+(?:\.\d+)*\b"),  # a version: 1.0.5, 3.12
)
_NOT_CODE = frozenset(
    {
        "e",
        "i",
        "s",
        "etc",
        "github",
        "gitlab",
        "javascript",
        "typescript",
        "youtube",
        "the function",
        "a function",
        "this function",
        "the method",
        "this method",
        "the class",
        "the module",
        "the command",
        "the option",
        "a command",
        "an option",
        "new option",
        "new feature",
    }
)


@dataclass(frozen=True)
class Signals:
    verb: str  # the title's first word (after a "fix:" / "[bug]" prefix), lower-case
    action: bool  # the title asks for a change (an action verb)
    vague_verb: bool  # … but with a verb that does not say how ("improve", "refactor")
    bug: bool  # the title reports a defect ("TypeError when …", "… returns wrong …")
    question: bool  # the title is a question
    references: int  # concrete references to code: identifiers, calls, files, flags, errors
    title_references: int
    measurable: bool  # a number with a unit (a target for speed, size)
    expected: bool  # says what should happen instead
    vague_words: tuple[str, ...]
    body_words: int
    subject_words: int


def title_subject(title: str) -> str:
    """The title without a conventional-commit or bracket prefix ("fix(core): ", "[bug] ")."""
    return _PREFIX.sub("", title).strip()


def code_references(text: str) -> int:
    """How many distinct concrete references to code the text makes."""
    found: set[str] = set()
    for pattern in _CODE_PATTERNS:
        for match in pattern.finditer(text):
            token = match.group(0).strip("`(). ").lower()
            if token and token not in _NOT_CODE:
                found.add(token)
    return len(found)


def _verb(subject: str) -> tuple[str, bool, bool]:
    """(first word, is an action verb, is a vague verb)."""
    words = re.findall(r"[A-Za-z']+", subject)
    verb = words[0].lower() if words else ""
    forms = {verb, re.sub(r"(?:es|s|ed|ing)$", "", verb), re.sub(r"(?:s|d|ing)$", "", verb)}
    forms |= {f + "e" for f in set(forms)}
    return verb, bool(forms & _ACTION_VERBS), bool(forms & _VAGUE_VERBS)


def signals(title: str, body: str, alternative_subject: str = "") -> Signals:
    """`alternative_subject` (e.g. the first line of a Goal section) is read for the verb when the title
    does not start with one."""
    subject = title_subject(title)
    verb, is_action, is_vague = _verb(subject)
    if not (is_action or is_vague) and alternative_subject:
        verb, is_action, is_vague = _verb(title_subject(alternative_subject))
    text = f"{subject}\n{body}"
    return Signals(
        verb=verb,
        action=is_action or is_vague,
        vague_verb=is_vague,
        bug=bool(_BUG_WORDS.search(subject)),
        question=subject.endswith("?") or bool(_QUESTION_START.match(subject)),
        references=code_references(text),
        title_references=code_references(subject),
        measurable=bool(_MEASURABLE.search(text)),
        expected=bool(_EXPECTED.search(body)),
        vague_words=tuple(
            dict.fromkeys(
                m.group(0).lower() for m in _VAGUE_WORDS.finditer(f"{subject}\n{alternative_subject}")
            )
        ),
        body_words=len(re.findall(r"\w+", body)),
        subject_words=len(re.findall(r"\w+", subject)),
    )
