"""`git diff --check` semantics over a parsed diff: leftover conflict markers and whitespace errors in added lines.

Pure, shared by the gate (pr_monitor's verifier) and anything that wants to refuse such a diff before pushing.
It applies git's default `core.whitespace` rules (blank-at-eol, space-before-tab, blank-at-eof) and its conflict
marker rule (seven `<`, `=`, `>` or `|` at the start of a line followed by whitespace or the end of the line),
whatever `.gitattributes` in the tree says — that file is written by the agent. One deliberate difference: a
trailing carriage return is not an error (git's `cr-at-eol`), so CRLF files are not flagged on every line.
Binary files are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from orchestrator.policy.unified_diff import FileDiff, Hunk, parse_diff

MARKER_SIZE = 7
_MARKER_CHARS = "<=>|"
CONFLICT_MARKER = "leftover conflict marker"
TRAILING_WHITESPACE = "trailing whitespace"
SPACE_BEFORE_TAB = "space before tab in indent"
BLANK_AT_EOF = "new blank line at EOF"


@dataclass(frozen=True)
class DiffProblem:
    path: str
    line: int  # 1-based line number in the new version of the file
    what: str  # one of the four constants above

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"

    @property
    def is_conflict_marker(self) -> bool:
        return self.what == CONFLICT_MARKER


def check_diff(diff: str | Iterable[FileDiff]) -> list[DiffProblem]:
    """Every problem in the lines a diff adds, in file order."""
    files = parse_diff(diff) if isinstance(diff, str) else diff
    problems: list[DiffProblem] = []
    for f in files:
        if f.binary or f.deleted or f.is_symlink:
            continue
        for hunk in f.hunks:
            problems += _hunk_problems(f.path, hunk)
        if f.hunks:
            problems += _blank_at_eof(f.path, f.hunks[-1])
    return problems


def is_conflict_marker(text: str) -> bool:
    if len(text) < MARKER_SIZE or text[0] not in _MARKER_CHARS:
        return False
    if text[:MARKER_SIZE] != text[0] * MARKER_SIZE:
        return False
    return len(text) == MARKER_SIZE or text[MARKER_SIZE].isspace()


def line_problem(text: str) -> str | None:
    """What is wrong with one added line (without the leading "+"), or None; one problem per line, as git."""
    if is_conflict_marker(text):
        return CONFLICT_MARKER
    body = text.removesuffix("\r")
    if body != body.rstrip(" \t\v\f"):
        return TRAILING_WHITESPACE
    indent = body[: len(body) - len(body.lstrip(" \t"))]
    if " \t" in indent:
        return SPACE_BEFORE_TAB
    return None


def _hunk_problems(path: str, hunk: Hunk) -> list[DiffProblem]:
    found = []
    for line in hunk.lines:
        what = line_problem(line.text) if line.op == "+" else None
        if what is not None:
            found.append(DiffProblem(path, line.new_line or 0, what))
    return found


def _blank_at_eof(path: str, hunk: Hunk) -> list[DiffProblem]:
    """Added blank lines that end the last hunk with no context after them are at the end of the file (a diff
    with context shows the lines after a change, and there are none)."""
    trailing = []
    for line in reversed(hunk.lines):
        if line.op != "+" or line.text.strip():
            break
        trailing.append(line)
    if not trailing:
        return []
    first = trailing[-1]
    return [DiffProblem(path, first.new_line or 0, BLANK_AT_EOF)]
