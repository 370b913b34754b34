"""Charter drafting without a forge: the templates, and parsing an agent's answer.

Proves: the templates give the four docs (quoting the owner's paragraph) and 3-5 seed issues that pass the
requirement guard; an agent's answer is accepted fenced or bare, capped at five issues, and every way it can
be wrong is a CharterAnswerInvalid that says where.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.init_wizard.charter import (
    CHARTER_DOCS,
    CharterAnswerInvalid,
    CharterContext,
    parse_charter_answer,
    render,
    template_charter,
)
from orchestrator.policy.requirement_guard import check_requirements

CTX = CharterContext(
    name="wordcount",
    full_name="acme/wordcount",
    what="A tiny CLI that counts words.",
    test_command="make test",
    base_branch="main",
    sprint_days=14,
)


def _issue(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "title": f"Issue {n}",
        "goal": "Count the words of every file given on the command line.",
        "success_criteria": ["wordcount a.txt prints the count", "a test covers it"],
        **changes,
    }


def _answer(issues: list[Any] | None = None, **changes: Any) -> dict[str, Any]:
    docs = {key: f"# {path}\n\ntext" for key, path in CHARTER_DOCS}
    return {**docs, "issues": issues if issues is not None else [_issue(n) for n in range(4)], **changes}


def test_templates_give_the_docs_and_seed_issues_that_pass_the_guard() -> None:
    charter = template_charter(CTX)
    assert [path for path, _ in charter.docs] == [path for _, path in CHARTER_DOCS]
    assert all(
        "A tiny CLI that counts words." in text
        for path, text in charter.docs
        if path != "PLANNING_PRINCIPLES.md"
    )
    assert "every 14 days" in dict(charter.docs)["STRATEGY.md"]
    assert 3 <= len(charter.issues) <= 5
    for issue in charter.issues:
        assert check_requirements(issue.title, issue.body).ok, issue.body
    assert "make test" in charter.issues[0].title


def test_the_prompt_carries_the_description_as_data() -> None:
    prompt = render("charter_prompt.md.j2", CTX)
    assert "<<<DATA owner's description" in prompt and "A tiny CLI that counts words." in prompt
    assert '"issues"' in prompt and "acme/wordcount" in prompt


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(_answer()),
        "```json\n" + json.dumps(_answer(), indent=2) + "\n```",
        "Here it is:\n" + json.dumps(_answer()) + "\nHope it helps.",
    ],
)
def test_an_answer_is_accepted_fenced_or_bare(text: str) -> None:
    charter = parse_charter_answer(text, "scribe")
    assert charter.source == "scribe" and len(charter.issues) == 4
    assert dict(charter.docs)["VISION.md"] == "# VISION.md\n\ntext\n"


def test_more_than_five_issues_are_capped() -> None:
    charter = parse_charter_answer(json.dumps(_answer([_issue(n) for n in range(8)])), "scribe")
    assert [issue.title for issue in charter.issues] == [f"Issue {n}" for n in range(5)]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("no json at all", "no JSON object"),
        ("{not json}", "does not parse"),
        ("[1, 2]", "no JSON object"),
        (json.dumps(_answer(vision="")), "vision: expected a non-empty string"),
        (json.dumps(_answer([_issue(1), _issue(2)])), "a list of 3 to 5"),
        (json.dumps(_answer([_issue(1), _issue(2), _issue(3, goal="")])), r"issues\[2\]\.goal"),
        (
            json.dumps(_answer([_issue(1), _issue(2), _issue(3, goal="Fix it.")])),
            "fails the requirement guard",
        ),
        (json.dumps(_answer([_issue(1), _issue(2), _issue(3, success_criteria=[])])), "success_criteria"),
        (json.dumps(_answer([_issue(1), _issue(2), "just a title"])), r"issues\[2\]: expected an object"),
    ],
)
def test_a_wrong_answer_says_what_is_wrong(answer: str, message: str) -> None:
    with pytest.raises(CharterAnswerInvalid, match=message):
        parse_charter_answer(answer, "scribe")
