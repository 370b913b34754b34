"""`git diff --check` semantics over a unified diff, as a pure function: leftover conflict markers and
whitespace errors on the lines a change adds.

Used before we push an agent's work (the publishing guard) and by the verifier on a PR's diff, so both refuse
the same things. What counts, as git counts it by default (`core.whitespace` unset):

- **leftover conflict marker**: an added line of seven `<`, `=`, `>` or `|` followed by whitespace or the end
  of the line (`<<<<<<< HEAD`, `=======`, `>>>>>>> branch`, `||||||| base`);
- **trailing whitespace** (`blank-at-eol`): spaces or tabs at the end of an added line. A line ending in CRLF
  is not an error by itself (files with Windows line endings are common in real repositories);
- **space before tab in indent** (`space-before-tab`);
- **new blank line at EOF** (`blank-at-eof`): added blank lines at the end of the file. This needs a diff
  with context (git's default of three lines, as GitHub serves PR diffs): with `-U0` it is not detectable.

Binary files ("Binary files … differ") have no lines and are skipped, as git skips them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from orchestrator.security.secret_scan import diff_lines

MARKER_SIZE = 7
_MARKER = re.compile(r"^([<=>|])\1{6}(?:\s|$)")

CONFLICT_MARKER = "leftover conflict marker"
TRAILING_WHITESPACE = "trailing whitespace"
SPACE_BEFORE_TAB = "space before tab in indent"
BLANK_AT_EOF = "new blank line at EOF"


@dataclass(frozen=True)
class DiffProblem:
    path: str
    line: int  # 1-based line number in the new version of the file
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"

    @property
    def is_conflict_marker(self) -> bool:
        return self.what == CONFLICT_MARKER


def line_problem(text: str) -> str | None:
    """What is wrong with one added line (without its newline), or None."""
    if _MARKER.match(text):
        return CONFLICT_MARKER
    body = text.removesuffix("\r")
    if body != body.rstrip(" \t"):
        return TRAILING_WHITESPACE
    indent = body[: len(body) - len(body.lstrip(" \t"))]
    if " \t" in indent:
        return SPACE_BEFORE_TAB
    return None


def check_diff(unified_diff: str) -> list[DiffProblem]:
    """Every problem on the added lines of `unified_diff`, in diff order (one per line at most)."""
    problems: list[DiffProblem] = []
    for path, hunk in _hunks(unified_diff):
        blank_run: list[int] = []  # new line numbers of the trailing added blank lines seen so far
        for tag, number, text in hunk:
            if tag == "+":
                what = line_problem(text)
                if what is not None:
                    problems.append(DiffProblem(path, number, what))
                blank_run = [*blank_run, number] if not text.strip() else []
            elif tag == " ":
                blank_run = []
        if blank_run and not _reported(problems, path, blank_run[0]):
            problems.append(DiffProblem(path, blank_run[0], BLANK_AT_EOF))
    return problems


def _reported(problems: list[DiffProblem], path: str, line: int) -> bool:
    return any(p.path == path and p.line == line for p in problems)


def _hunks(unified_diff: str) -> Iterator[tuple[str, list[tuple[str, int, str]]]]:
    """(path, [(tag, new line number, text)]) per complete hunk; tag is "+", "-" or " "."""
    lines: list[tuple[str, int, str]] = []
    for path, tag, number, text, ends_hunk in diff_lines(unified_diff):
        lines.append((tag, number, text))
        if ends_hunk:
            yield path, lines
            lines = []
