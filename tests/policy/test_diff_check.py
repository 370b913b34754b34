"""policy.diff_check: `git diff --check` semantics on added lines — the table, and agreement with real git."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.edges.process import run
from orchestrator.policy.diff_check import (
    BLANK_AT_EOF,
    CONFLICT_MARKER,
    SPACE_BEFORE_TAB,
    TRAILING_WHITESPACE,
    check_diff,
    line_problem,
)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("<<<<<<< HEAD", CONFLICT_MARKER),
        ("<<<<<<<", CONFLICT_MARKER),
        ("=======", CONFLICT_MARKER),
        (">>>>>>> origin/main", CONFLICT_MARKER),
        ("||||||| merged common ancestors", CONFLICT_MARKER),
        ("======= ", CONFLICT_MARKER),
        ("========", None),  # eight: a heading underline, not a marker
        ("<<<<<<<<", None),
        ("x <<<<<<< y", None),
        ("<<<<<<", None),
        ("ok = 1", None),
        ("ok = 1 ", TRAILING_WHITESPACE),
        ("ok = 1\t", TRAILING_WHITESPACE),
        ("ok = 1\r", None),  # CRLF line endings are not an error by themselves
        ("ok = 1 \r", TRAILING_WHITESPACE),
        (" \tindented", SPACE_BEFORE_TAB),
        ("\t indented", None),
        ("    x = ' \t'", None),  # only the indent counts
        ("", None),
    ],
)
def test_line_table(line: str, problem: str | None) -> None:
    assert line_problem(line) == problem


DIFF = """diff --git a/app.py b/app.py
index 1111111..2222222 100644
--- a/app.py
+++ b/app.py
@@ -1,5 +1,11 @@
 import os
+<<<<<<< HEAD
 x = 1
+=======
+x = 2
+>>>>>>> theirs
 y = 2\x20
-z = 3
+z = 3\x20
 end
+
+
diff --git a/logo.png b/logo.png
Binary files a/logo.png and b/logo.png differ
"""


def test_diff_problems_name_file_and_new_line() -> None:
    assert [str(p) for p in check_diff(DIFF)] == [
        f"app.py:2: {CONFLICT_MARKER}",
        f"app.py:4: {CONFLICT_MARKER}",
        f"app.py:6: {CONFLICT_MARKER}",
        f"app.py:8: {TRAILING_WHITESPACE}",  # the context line 7 already had it: not this change's
        f"app.py:10: {BLANK_AT_EOF}",
    ]


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    result = run(["git", *args], cwd=cwd, env=env, timeout=30)
    assert result.returncode in (0, 1, 2), result.stderr
    return result.stdout


def test_agrees_with_git_diff_check_on_a_real_repository(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("one\ntwo\nthree\n")
    (tmp_path / "b.md").write_text("Title\n=====\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "base")
    (tmp_path / "a.txt").write_text("one\n<<<<<<< ours\ntwo \n=======\n \tthree\n>>>>>>> theirs\n\n\n")
    (tmp_path / "b.md").write_text("Title\n=====\n\nBody\n")
    (tmp_path / "c.py").write_text("new = 1\t\n")

    expected = sorted(
        line.split(": ", 1)[0] + ": " + line.split(": ", 1)[1].rstrip(".")
        for line in _git(tmp_path, "diff", "--check").splitlines()
        if not line.startswith(("+", " "))
    )
    _git(tmp_path, "add", "-N", "c.py")
    expected_with_new = sorted(
        line.rstrip(".")
        for line in _git(tmp_path, "diff", "--check").splitlines()
        if not line.startswith(("+", " "))
    )
    ours = sorted(str(p) for p in check_diff(_git(tmp_path, "diff", "--no-color")))

    assert expected  # git found problems in a.txt
    assert ours == expected_with_new
