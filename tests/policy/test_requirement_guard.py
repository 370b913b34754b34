"""The requirement guard dispatches only issues with a goal and success criteria, and asks precise questions."""

from pathlib import Path

import pytest
import yaml

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
        ("", 2, "Which code does “Title” concern"),
        ("## Goal\nMake the login page load faster for users.\n", 2, "How will we know it is done"),
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
        ("```\n## Goal\ninside a fence does not count at all\n```\n", 2, "What should change"),
    ],
)
def test_guard_table(body, n_questions, needle):
    result = check_requirements("Title", body)
    assert len(result.questions) == n_questions, result.questions
    assert result.ok is (n_questions == 0)
    if needle:
        assert any(needle in q for q in result.questions)


# --- calibration on real-looking issue texts (tests/policy/data/requirement_corpus.yaml) -------------------

CORPUS = yaml.safe_load((Path(__file__).parent / "data" / "requirement_corpus.yaml").read_text())


def test_the_corpus_has_both_kinds():
    verdicts = [case["verdict"] for case in CORPUS]
    assert len(CORPUS) >= 30 and verdicts.count("pass") >= 15 and verdicts.count("ask") >= 15


@pytest.mark.parametrize("case", CORPUS, ids=[c["title"] for c in CORPUS])
def test_corpus_verdicts(case):
    result = check_requirements(case["title"], case["body"] or "")
    assert ("pass" if result.ok else "ask") == case["verdict"], result.questions
    if result.ok:
        assert result.sections.goal and result.sections.success_criteria, "a passing issue becomes a task"
    for wanted in case.get("asks", []):
        assert any(wanted in q for q in result.questions), (wanted, result.questions)


def test_a_free_form_issue_becomes_a_task_with_derived_criteria():
    body = "windowed() skipped items at the end when step was larger than n."
    result = check_requirements("Fix windowed() when step > n", body)
    assert result.ok
    assert result.sections.goal == "Fix windowed() when step > n"
    assert result.sections.context == body
    assert "test suite passes" in result.sections.success_criteria


def test_template_headings_of_github_issue_forms():
    body = (
        "**Describe the bug**\nThe `report` command ignores NO_COLOR.\n\n**Expected behavior**\nNo colours.\n"
    )
    result = check_requirements("CLI ignores NO_COLOR", body)
    assert result.ok and "ignores NO_COLOR" in result.sections.goal
    assert "No colours." in result.sections.success_criteria
