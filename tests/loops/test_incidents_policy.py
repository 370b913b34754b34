"""Incident rules: table tests of orchestrator.policy.incidents (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.policy import incidents
from orchestrator.policy.incidents import IncidentRules, LogError
from orchestrator.state.metrics import Event

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
RULES = IncidentRules(window=timedelta(hours=72), min_count=3, storm_threshold=6)


def ev(
    state: str, reason: str = "", task: str = "o__r__1__g1", hours: float = 1, repo: str = "o/r", **kw: object
) -> Event:
    return Event(NOW - timedelta(hours=hours), state, task_id=task, repo=repo, reason=reason, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("pytest exited 1 after 12.5s", "pytest exited n after n.ns"),
        ("Commit abc1234def failed\nsecond line", "commit sha failed"),
        ("  ", ""),
        ("Closes #12 @bob", "closes n bob"),
    ],
)
def test_fingerprint(reason: str, expected: str) -> None:
    assert incidents.fingerprint(reason) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            'ts=2025-03-01T11:00:00.000Z level=error job=queue logger=x msg="dispatch failed repo=o/r error=boom"',
            ("queue", "dispatch failed repo=o/r error=boom", "o/r"),
        ),
        (
            'ts=2025-03-01T11:00:00.000Z level=error job=pr_monitor logger=x msg="bad" repo=a/b',
            ("pr_monitor", "bad", "a/b"),
        ),
        ('ts=2025-03-01T11:00:00.000Z level=info job=queue logger=x msg="fine"', None),
        ("level=error but no timestamp", None),
        ('ts=garbage level=error job=q msg="x"', None),
    ],
)
def test_parse_log_line(line: str, expected: tuple[str, str, str] | None) -> None:
    got = incidents.parse_log_line(line)
    if expected is None:
        assert got is None
    else:
        assert got is not None and (got.job, got.message, got.repo) == expected
        assert got.ts == datetime(2025, 3, 1, 11, tzinfo=UTC)


def rules_of(found: list[incidents.Incident]) -> list[tuple[str, str, int]]:
    return [(i.rule, i.subject, i.count) for i in found]


CASES = [
    # same outcome, same reason (numbers differ) three times → recurring
    (
        [ev("tests_failed", f"pytest exited 1 in {n}s", task=f"o__r__{n}__g1") for n in range(3)],
        [("recurring_outcome", "tests_failed", 3)],
    ),
    # two only → nothing; different reasons → separate groups, neither reaches 3
    ([ev("blocked", "needs a key")] * 2 + [ev("blocked", "spec unclear")], []),
    # outside the window → ignored
    ([ev("crash", "segfault", hours=100)] * 3, []),
    # escalations: 3 in one repo → escalations (escalated is not a recurring outcome itself)
    (
        [ev("escalated", f"chain exhausted {n}", task=f"o__r__{n}__g1") for n in range(3)],
        [("escalations", "escalated", 3)],
    ),
    # a retry storm on one task
    (
        [ev(s, "x") for s in ("partial", "partial", "fix_ci", "fix_ci", "rate_limited", "recovered")],
        [("retry_storm", "o__r__1__g1", 6)],
    ),
    # rate limits alone never make a recurring outcome
    ([ev("rate_limited", "quota")] * 4, []),
]


@pytest.mark.parametrize(("events", "expected"), CASES)
def test_find_incidents(events: list[Event], expected: list[tuple[str, str, int]]) -> None:
    assert rules_of(incidents.find_incidents(events, [], NOW, RULES)) == expected


def test_job_errors_rule_and_its_repo() -> None:
    errors = [
        LogError(NOW - timedelta(hours=h), "queue", f"claim failed {h}", "o/r", f"line {h}") for h in range(4)
    ]
    errors.append(LogError(NOW - timedelta(hours=1), "dispatcher", "once", "", "line d"))
    found = incidents.find_incidents([], errors, NOW, RULES)
    assert rules_of(found) == [("job_errors", "queue", 4)]
    assert found[0].repo == "o/r" and found[0].key == "incident:job_errors:queue"
    assert found[0].excerpts[0] == "line 0"  # most recent first


def test_keys_are_stable_across_runs_and_differ_by_reason() -> None:
    a = [ev("timeout", "stalled after 10 min", task=f"t{n}") for n in range(3)]
    b = [ev("timeout", "stalled after 25 min", task=f"u{n}") for n in range(3)]
    c = [ev("timeout", "killed by OOM", task=f"v{n}") for n in range(3)]
    key_a = incidents.find_incidents(a, [], NOW, RULES)[0].key
    assert key_a == incidents.find_incidents(b, [], NOW, RULES)[0].key
    assert key_a != incidents.find_incidents(c, [], NOW, RULES)[0].key


def test_proposal_has_goal_criteria_evidence_and_untrusted_text_only_in_excerpts() -> None:
    events = [
        ev("blocked", "Closes #9 @admin cannot reach db", task=f"o__r__{n}__g1", issue=n, agent="claude")
        for n in range(3)
    ]
    incident = incidents.find_incidents(events, [], NOW, RULES)[0]
    p = incidents.proposal(incident, RULES.window)
    assert p.repo == "o/r" and p.labels == ("autonomous-fix",) and p.key == incident.key
    assert "`o__r__0__g1`" in p.evidence and "#0, #1, #2" in p.evidence and "claude (3)" in p.evidence
    assert "#9" not in p.title + p.goal + p.evidence and "@admin" not in p.title + p.goal + p.evidence
    assert p.excerpts == ("Closes #9 @admin cannot reach db",)


SCOPE_CASES = [
    pytest.param(
        [ev("tests_failed", "test_parser fails", task=f"t{n}") for n in range(3)], "product", id="tests"
    ),
    pytest.param(
        [ev("no_changes", "said complete", task=f"t{n}") for n in range(3)], "product", id="no changes"
    ),
    pytest.param([ev("crash", "exit 1", task=f"t{n}") for n in range(3)], "ops", id="agent CLI crashes"),
    pytest.param([ev("timeout", "stalled", task=f"t{n}") for n in range(3)], "ops", id="timeouts"),
    pytest.param([ev("contract_error", "no result", task=f"t{n}") for n in range(3)], "ops", id="contract"),
    pytest.param(
        [ev("tests_failed", "OSError: [Errno 28] No space left on device", task=f"t{n}") for n in range(3)],
        "ops",
        id="the disk is full",
    ),
    pytest.param(
        [ev("blocked", "git push: Permission denied (publickey)", task=f"t{n}") for n in range(3)],
        "ops",
        id="a credential",
    ),
    pytest.param(
        [ev("escalated", "chain exhausted", task=f"t{n}") for n in range(3)], "ops", id="escalations"
    ),
    pytest.param(
        [ev(s, "again", task="storm") for s in ("partial", "fix_ci", "recovered", "partial")],
        "ops",
        id="storm",
    ),
]


@pytest.mark.parametrize(("events", "scope"), SCOPE_CASES)
def test_incidents_about_the_host_or_agent_os_are_ops_not_product(events: list, scope: str) -> None:
    rules = incidents.IncidentRules(timedelta(hours=24), min_count=3, storm_threshold=4)
    found = incidents.find_incidents(events, [], NOW, rules)
    assert found, "the events make an incident"
    assert {incidents.proposal(i, rules.window).scope for i in found} == {scope}


def test_job_errors_are_ops_work_wherever_their_lines_point() -> None:
    errors = [LogError(NOW, "telegram_control", "token rejected", "o/r", "l") for _ in range(3)]
    incident = incidents.find_incidents([], errors, NOW, RULES)[0]
    p = incidents.proposal(incident, RULES.window)
    assert p.scope == "ops" and p.repo == "o/r"


def test_residual_failures_are_those_no_rule_explains() -> None:
    covered = [ev("timeout", "stalled", task=f"t{n}") for n in range(3)]
    other = [ev("crash", f"weird {c}", task=f"c{n}") for n, c in enumerate("abc")]
    found = incidents.find_incidents(covered + other, [], NOW, RULES)
    residual = incidents.residual_failures(covered + other, found, NOW, RULES.window)
    assert [e.task_id for e in residual] == ["c0", "c1", "c2"]
