"""The requirement guard dispatches only issues with a goal and success criteria, and asks precise questions."""

import pytest

from orchestrator.policy.requirement_guard import check_requirements, parse_sections

FULL = """Some intro text.

## Goal
Add a `--version` flag to the CLI so users can report bugs.

## Success Criteria
- `tool --version` prints the version from pyproject
- a test covers it

## Constraints
No new dependencies.

### Task Type
bugfix
"""


def test_full_issue_parses_every_section():
    s = parse_sections(FULL)
    assert s.goal.startswith("Add a `--version` flag")
    assert "tool --version" in s.success_criteria
    assert s.constraints == "No new dependencies."
    assert s.task_type == "bugfix"
    assert s.context == "Some intro text."


@pytest.mark.parametrize(
    ("body", "n_questions", "needle"),
    [
        (FULL, 0, None),
        ("", 2, "What is the goal"),
        ("## Goal\nMake the login page load faster for users.\n", 1, "How will we know it is done"),
        ("## Goal\nFix it\n## Success Criteria\nthe tests pass again\n", 1, "too short"),
        (
            "**Goal:** Support dark mode in the settings page\n**Acceptance criteria:** toggle persists across reloads",
            0,
            None,
        ),
        (
            "Goal: Support dark mode in the settings page\nDone when: toggle persists across reloads\n",
            0,
            None,
        ),
        ("```\n## Goal\ninside a fence does not count at all\n```\n", 2, "What is the goal"),
    ],
)
def test_guard_table(body, n_questions, needle):
    result = check_requirements("Title", body)
    assert len(result.questions) == n_questions, result.questions
    assert result.ok is (n_questions == 0)
    if needle:
        assert any(needle in q for q in result.questions)
