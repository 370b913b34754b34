"""CODEBASE.md memory, pure: entries bounded, newest first, idempotent, rotated and summarized past the cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.policy import codebase_memory as m

DAY = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def task(pr: int, days: int = 0, **fields: Any) -> m.MergedTask:
    defaults: dict[str, Any] = {
        "issue": pr - 1,
        "title": f"Feature {pr}",
        "merged_at": DAY + timedelta(days=days),
        "summary": f"Added feature {pr} to the parser.",
        "files": (f"src/f{pr}.py", f"tests/test_f{pr}.py"),
        "decisions": "Kept the old API.",
        "goal": f"Support feature {pr}.",
    }
    defaults.update(fields)
    return m.MergedTask(pr=pr, **defaults)


def test_an_entry_says_what_changed_where_and_why():
    entry = m.build_entry(task(15, issue=12, title="Add slugify()"))
    assert entry.render() == (
        "### PR #15 · #12 Add slugify() · 2025-03-01\n"
        "What changed: Added feature 15 to the parser.\n"
        "Goal: Support feature 15.\n"
        "Files: src/f15.py, tests/test_f15.py\n"
        "Decisions: Kept the old API."
    )


def test_an_entry_is_bounded_whatever_the_agent_wrote():
    huge = m.build_entry(
        task(
            7,
            summary="word " * 5000,
            decisions="## Heading\n" * 500,
            files=tuple(f"f{i}.py" for i in range(400)),
        )
    )
    text = huge.render()
    assert len(text.encode()) <= m.ENTRY_MAX_BYTES
    assert "(+388 more)" in text and all(not line.startswith("#") for line in huge.lines)
    bare = m.build_entry(task(8, summary="", goal="", decisions="none", files=()))
    assert bare.lines == ("What changed: Feature 8",)


def test_a_new_file_gets_a_preamble_and_round_trips():
    doc = m.add_entries(m.parse_memory(None), [m.build_entry(task(3)), m.build_entry(task(5, days=2))])
    text = m.render_memory(doc)
    assert text.startswith("# CODEBASE.md\n") and m.RECENT_HEADING in text
    assert text.index("PR #5") < text.index("PR #3")  # newest first: the prompt reads the head
    assert m.parse_memory(text) == doc
    assert m.render_memory(m.parse_memory(text)) == text


def test_human_text_above_the_log_is_kept_and_entries_are_not_added_twice():
    human = "# Our code\n\nThe parser lives in src/. Do not touch vendor/.\n"
    doc = m.add_entries(m.parse_memory(human), [m.build_entry(task(3))])
    text = m.render_memory(doc)
    assert text.startswith(human)
    again = m.add_entries(m.parse_memory(text), [m.build_entry(task(3)), m.build_entry(task(4, days=1))])
    assert [e.pr for e in again.entries] == [4, 3]


def test_past_the_cap_the_oldest_entries_are_summarized_and_the_newest_kept():
    doc = m.parse_memory(None)
    for pr in range(1, 21):
        doc = m.add_entries(doc, [m.build_entry(task(pr, days=pr))])
    assert m.size(doc) > 2048
    bounded = m.bound(doc, 2048)
    assert m.size(bounded) <= 2048
    assert bounded.entries[0].pr == 20 and len(bounded.entries) < 20
    assert bounded.earlier[0].startswith(f"- PR #{bounded.entries[-1].pr - 1} · ")
    assert ": Added feature" in bounded.earlier[0]  # heading + first line
    text = m.render_memory(bounded)
    assert m.parse_memory(text) == bounded and m.EARLIER_HEADING in text
    # a summarized PR is still known: it is never added again
    assert m.add_entries(bounded, [m.build_entry(task(1, days=1))]) == bounded


def test_summaries_themselves_are_dropped_oldest_first_when_needed():
    doc = m.parse_memory(None)
    for pr in range(1, 80):
        doc = m.bound(m.add_entries(doc, [m.build_entry(task(pr, days=pr))]), 1500)
        assert m.size(doc) <= 1500
    assert doc.entries[0].pr == 79
    assert str(doc.earlier[0]).startswith("- PR #")
    assert all("PR #1 " not in line for line in doc.earlier)


def test_a_preamble_over_the_cap_is_left_alone():
    doc = m.add_entries(m.parse_memory("# Big\n" + "x" * 3000 + "\n"), [m.build_entry(task(1))])
    bounded = m.bound(doc, 1024)
    assert bounded.preamble == doc.preamble and bounded.entries == doc.entries


ROTATED = (m.build_entry(task(3)), m.build_entry(task(4)))


@pytest.mark.parametrize(
    ("answer", "accepted"),
    [
        ("- PR #3: feature 3 in the parser\n- PR #4: feature 4 in the parser", True),
        ("- PR #3 and PR #4: features 3 and 4 in the parser", True),
        ("- PR #3: feature 3", False),  # PR #4 lost
        ("Here is the summary:\n- PR #3: x\n- PR #4: y", False),  # not only list lines
        ("- PR #3 " + "very " * 200 + "\n- PR #4", False),  # longer than the deterministic summary
        ("", False),
        (None, False),
    ],
)
def test_an_llm_summary_is_used_only_when_it_is_checked_good(answer, accepted):
    assert (m.accept_llm_summary(answer, ROTATED) is not None) is accepted


def test_bound_uses_the_given_summarizer_for_the_rotated_entries():
    doc = m.parse_memory(None)
    for pr in range(1, 12):
        doc = m.add_entries(doc, [m.build_entry(task(pr, days=pr))])
    seen: list[list[int]] = []

    def summarize(entries):
        seen.append([e.pr for e in entries])
        return [f"- PR #{e.pr}: short" for e in entries]

    bounded = m.bound(doc, 1800, summarize)
    assert len(seen) == 1 and seen[0] == sorted(seen[0], reverse=True) and 1 in seen[0]
    assert bounded.earlier[-1] == "- PR #1: short" and m.size(bounded) <= 1800
    assert "PR #1" in m.summary_prompt([e for e in doc.entries if e.pr == 1])
