"""Near-duplicate detection: table tests of the pure functions in orchestrator.policy.dedup."""

from __future__ import annotations

import pytest

from orchestrator.policy.dedup import (
    Candidate,
    duplicate_of,
    marker_job,
    marker_key,
    normalize_title,
    similarity,
)

BODY = (
    "## Goal\nMake the CSV importer skip blank lines instead of failing on them.\n\n"
    "## Success Criteria\n- importing a file with blank lines succeeds\n- a test covers it\n"
)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Fix: Flaky  CI!", "fix flaky ci"),
        ("  Add `slugify()` ", "add slugify"),
        ("Bump requests 2.31.0", "bump requests 2.31.0"),
        ("Épée — test", "épée test"),
        ("Ошибка импорта", "ошибка импорта"),
        ("", ""),
    ],
)
def test_normalize_title(title: str, expected: str) -> None:
    assert normalize_title(title) == expected


@pytest.mark.parametrize(
    ("body", "key", "job"),
    [
        (
            "text\n<!-- agentos-loop job=incident_scanner key=incident:x:y -->\n",
            "incident:x:y",
            "incident_scanner",
        ),
        ("<!--agentos-loop key=a job=b-->", "a", "b"),
        ("<!-- agent-os:stale issue=3 -->", "", ""),
        ("no marker", "", ""),
    ],
)
def test_marker(body: str, key: str, job: str) -> None:
    assert marker_key(body) == key
    assert marker_job(body) == job


CASES = [
    # (draft, existing, expected reason or None)
    (
        Candidate("Skip blank lines in CSV import", BODY),
        [Candidate("skip blank lines in csv import!", "x", ref="#1")],
        "same title",
    ),
    (Candidate("A", "b", key="k1"), [Candidate("Totally different", "zzz", key="k1", ref="#2")], "same key"),
    # reworded title, same body → similar
    (
        Candidate("CSV importer: blank lines", BODY),
        [Candidate("Blank lines break the CSV importer", BODY + "\n- also log the line number\n", ref="#3")],
        "similar",
    ),
    # different subject, different body → new
    (
        Candidate(
            "Add a dark mode",
            "## Goal\nOffer a dark colour scheme in settings.\n## Success Criteria\n- toggle works",
        ),
        [Candidate("Skip blank lines in CSV import", BODY, ref="#4")],
        None,
    ),
    # both keyed with different keys: template-alike bodies are not duplicates
    (
        Candidate("Recurring timeout in a/b", BODY, key="incident:timeout"),
        [Candidate("Recurring crash in a/b", BODY, key="incident:crash", ref="#5")],
        None,
    ),
    # …but the same normalized title still is
    (
        Candidate("Recurring timeout", BODY, key="k-a"),
        [Candidate("recurring  TIMEOUT", "other", key="k-b", ref="#6")],
        "same title",
    ),
    # a keyed draft against an unkeyed (human) issue with the same content → similar
    (
        Candidate("Skip blank CSV lines", BODY, key="groom:x"),
        [Candidate("Blank CSV lines", BODY, ref="#7")],
        "similar",
    ),
    (Candidate("Anything", BODY), [], None),
    # non-Latin titles are words too; an empty draft matches nothing by similarity
    (Candidate("Ошибка импорта", "текст"), [Candidate("Другая задача", "иное", ref="#8")], None),
    (Candidate("", ""), [Candidate("", "", ref="#9")], None),
]


@pytest.mark.parametrize(("draft", "existing", "expected"), CASES)
def test_duplicate_of(draft: Candidate, existing: list[Candidate], expected: str | None) -> None:
    match = duplicate_of(draft, existing)
    if expected is None:
        assert match is None
    else:
        assert match is not None and match.reason.startswith(expected)
        assert match.ref == existing[0].ref


def test_similarity_ignores_the_marker_and_is_symmetric_in_range() -> None:
    a = Candidate("Title", BODY + "<!-- agentos-loop job=a key=one -->")
    b = Candidate("Title", BODY + "<!-- agentos-loop job=b key=two -->")
    assert similarity(a, b) == 1.0
    c = Candidate("Other", "completely unrelated words here")
    assert 0.0 <= similarity(a, c) < 0.5


def test_threshold_is_respected() -> None:
    draft = Candidate("CSV importer: blank lines", BODY)
    other = Candidate("Blank lines break the CSV importer", BODY + "\n- also log the line number\n", ref="#3")
    score = similarity(draft, other)
    assert duplicate_of(draft, [other], threshold=score) is not None
    assert duplicate_of(draft, [other], threshold=min(1.0, score + 0.01)) is None
