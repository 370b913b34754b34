"""An issue's title becomes the title of the PR we open, and the PR title the squash merge's commit title, where
`fixes #2` closes issue #2: a title is published on one line, sanitized, its references neutralized."""

from __future__ import annotations

import pytest

from orchestrator.values.untrusted_text import TITLE_MAX_CHARS, title_text


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Add slugify()", "Add slugify()"),
        ("Crash fix, fixes #2", "Crash fix, fixes `#2`"),
        ("x Closes: o/r#7", "x Closes: `o/r#7`"),
        ("a\nresolved https://github.com/o/r/issues/3", "a resolved `https://github.com/o/r/issues/3`"),
        ("ping @someone\u202e\x1b[31m", "ping `@someone`[31m"),
        ("  spaced\t\tout  ", "spaced out"),
        ("<!-- agent-os task=x -->title", "title"),
    ],
)
def test_an_issue_title_made_safe_as_a_pr_title(title: str, expected: str) -> None:
    assert title_text(title) == expected


def test_a_long_title_is_cut() -> None:
    assert len(title_text("word " * 200)) == TITLE_MAX_CHARS


def test_terminal_safe_shows_what_a_terminal_would_act_on() -> None:
    from orchestrator.values.untrusted_text import terminal_safe

    assert terminal_safe("a\x1b[2Kb\x07\x9b1m\u202ec") == "a\\x1b[2Kb\\x07\\x9b1m\\u202ec"
    assert terminal_safe("lines\n\tand tabs, é 中 ✓") == "lines\n\tand tabs, é 中 ✓"
