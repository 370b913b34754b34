"""`check_diff` agrees with real `git diff --check` on generated changes (property-based, hypothesis).

For any old and new file made of lines that mix text, spaces, tabs, blank lines and conflict markers, the lines
`check_diff` flags in git's own unified diff are exactly the lines `git diff --check` flags, and the reason it
gives for a line is one of git's reasons for that line. The one documented difference — a carriage return
before the newline is not trailing whitespace for us (CRLF files are common) — has its own property.
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
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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
    ours = check_diff(diff)
    assert {p.line for p in ours} == set(git_flagged), diff
    for problem in ours:
        assert problem.path == "new"
        assert problem.what in git_flagged[problem.line], (problem, git_flagged, diff)


@SETTINGS
@given(new=FILE)
def test_a_new_file_is_checked_line_by_line_like_git(new: list[str]) -> None:
    diff, git_flagged = git_diff_and_check([], new)
    assert {p.line for p in check_diff(diff)} == set(git_flagged)


@given(line=LINE)
def test_a_carriage_return_before_the_newline_adds_no_problem(line: str) -> None:
    assert line_problem(line + "\r") == line_problem(line)


@given(text=st.text(alphabet="ab \t<=>|", max_size=20))
def test_one_added_line_is_flagged_as_its_own_diff_says(text: str) -> None:
    diff = f"--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+{text}\n"
    own = line_problem(text)
    expected = [own] if own else [BLANK_AT_EOF] if not text.strip() else []  # a blank last line is at EOF
    assert [p.what for p in check_diff(diff)] == expected
