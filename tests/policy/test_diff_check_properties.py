"""`check_diff` agrees with real `git diff --check` on generated changes (property-based, hypothesis).

For any old and new file made of lines that mix text, spaces, tabs, blank lines and conflict markers, the lines
`check_diff` flags for trailing whitespace, space before tab and conflict markers in git's own unified diff are
exactly the lines `git diff --check` flags for them, with one of git's reasons; blank lines added at the end of
a file are flagged at the line git names.

Differences hypothesis found, left out of the properties below and reported (policy/diff_check.py):
- git counts the trailing blank lines of the whole new file, so a change that makes an existing blank line the
  last one (deleting what followed it) is "new blank line at EOF" for git; check_diff looks at added lines
  only and lets it pass.
- git never counts a file's first line as a trailing blank line: for a file of blank lines only it names a
  later line (or none); check_diff names the first.
- a carriage return before the newline is not trailing whitespace for check_diff (CRLF files are common);
  git counts it unless `core.whitespace` has cr-at-eol. This one is deliberate and has its own property.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.policy.diff_check import (
    BLANK_AT_EOF,
    CONFLICT_MARKER,
    SPACE_BEFORE_TAB,
    TRAILING_WHITESPACE,
    check_diff,
    line_problem,
)

GIT_REASONS = {
    "trailing whitespace": TRAILING_WHITESPACE,
    "space before tab in indent": SPACE_BEFORE_TAB,
    "leftover conflict marker": CONFLICT_MARKER,
    "new blank line at EOF": BLANK_AT_EOF,
}
_GIT_LINE = re.compile(r"^new:(\d+): (.+?)\.?$")

PIECES = st.sampled_from(
    ["a", "text", "x = 1", "", " ", "\t", "  ", " \t", "\t ", "<<<<<<<", "=======", ">>>>>>>"]
)
LINE = st.one_of(
    st.lists(PIECES, min_size=1, max_size=3).map("".join),
    st.sampled_from(["<<<<<<< HEAD", ">>>>>>> theirs", "||||||| base", "======= x", "=======x", "<<<<<<"]),
)
FILE = st.lists(LINE, min_size=0, max_size=12)
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _git(args: list[str], cwd: Path) -> str:
    result = subprocess.run(
        ["git", "-c", "core.whitespace=", "diff", "--no-index", "--no-color", *args, "old", "new"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode in (0, 1, 2, 3), result.stderr  # 1: differs, 2/3: --check found problems
    return result.stdout


def git_diff_and_check(old: list[str], new: list[str]) -> tuple[str, dict[int, set[str]]]:
    with tempfile.TemporaryDirectory() as directory:
        cwd = Path(directory)
        (cwd / "old").write_text("".join(f"{line}\n" for line in old))
        (cwd / "new").write_text("".join(f"{line}\n" for line in new))
        diff = _git([], cwd)
        flagged: dict[int, set[str]] = defaultdict(set)
        for line in _git(["--check"], cwd).splitlines():
            match = _GIT_LINE.match(line)
            if match:
                flagged[int(match.group(1))] |= {GIT_REASONS[r] for r in match.group(2).split(", ")}
        return diff, dict(flagged)


@SETTINGS
@given(old=FILE, new=FILE)
def test_the_lines_flagged_are_the_lines_git_flags(old: list[str], new: list[str]) -> None:
    diff, git_flagged = git_diff_and_check(old, new)
    line_rules = {
        n: reasons - {BLANK_AT_EOF} for n, reasons in git_flagged.items() if reasons - {BLANK_AT_EOF}
    }
    ours = [p for p in check_diff(diff) if p.what != BLANK_AT_EOF]
    assert {p.line for p in ours} == set(line_rules), diff
    for problem in ours:
        assert problem.path == "new"
        assert problem.what in line_rules[problem.line], (problem, git_flagged, diff)


@SETTINGS
@given(old=FILE.filter(lambda lines: bool(lines) and bool(lines[-1].strip())), blanks=st.integers(1, 3))
def test_blank_lines_added_at_the_end_are_flagged_where_git_flags_them(old: list[str], blanks: int) -> None:
    diff, git_flagged = git_diff_and_check(old, [*old, *[""] * blanks])
    at_eof = [p for p in check_diff(diff) if p.what == BLANK_AT_EOF]
    assert [p.line for p in at_eof] == [n for n, reasons in git_flagged.items() if BLANK_AT_EOF in reasons]
    assert [p.line for p in at_eof] == [len(old) + 1]


@given(line=LINE)
def test_a_carriage_return_before_the_newline_adds_no_problem(line: str) -> None:
    assert line_problem(line + "\r") == line_problem(line)


@given(text=st.text(alphabet="ab \t<=>|", max_size=20))
def test_one_added_line_is_flagged_as_its_own_diff_says(text: str) -> None:
    diff = f"--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+{text}\n"
    own = line_problem(text)
    expected = [own] if own else [BLANK_AT_EOF] if not text.strip() else []  # a blank last line is at EOF
    assert [p.what for p in check_diff(diff)] == expected
