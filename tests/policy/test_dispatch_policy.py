"""Dispatch policy: ordering, in-flight skip, guard, trusted authors, routing and generations."""

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.policy.dispatch import (
    AskForInfo,
    Claim,
    ClaimFacts,
    Dispatch,
    Hold,
    LeaseView,
    RepoSnapshot,
    Skip,
    branch_name,
    choose_chain,
    decide,
    next_claim,
)
from orchestrator.values.models import Issue

NOW = datetime(2026, 11, 22, tzinfo=UTC)
GOOD = "## Goal\nAdd a health endpoint that returns ok.\n## Success Criteria\nGET /health returns 200 ok\n"


def issue(n, body=GOOD, labels=(), author="alice", title="Add health endpoint", state="open", ready_by=None):
    return Issue("o/r", n, title, body, state, tuple(labels), author, NOW, ready_by=ready_by)


def snap(*issues, in_flight=(), gens=None, trusted=()):
    return RepoSnapshot(
        repo="o/r",
        ready=tuple(issues),
        in_flight=frozenset(in_flight),
        last_generation=gens or {},
        needs_info_label="needs-info",
        blocked_label="blocked",
        trusted_authors=frozenset(trusted),
        routing={"default": ("claude", "codex"), "docs": ("gemini", "claude")},
        known_agents=frozenset({"claude", "codex", "gemini"}),
        issue_body_max_bytes=65536,
    )


def test_orders_by_priority_then_age_and_builds_tasks():
    actions = decide(snap(issue(5), issue(3), issue(9, labels=["priority:high"])), NOW)
    assert [a.issue.number for a in actions] == [9, 3, 5]
    first = actions[0]
    assert isinstance(first, Dispatch)
    assert first.task.branch == "agent/9-add-health-endpoint"
    assert first.task.generation == 1 and first.task.agents == ("claude", "codex")
    assert first.task.priority == 2 and first.task.created_at == NOW


def test_skips_in_flight_blocked_untrusted_and_asks_once():
    actions = decide(
        snap(
            issue(1),
            issue(2, labels=["blocked"]),
            issue(3, author="mallory"),
            issue(4, body="please fix", title="It is broken"),
            issue(5, body="please fix", title="It is broken", labels=["needs-info"]),
            in_flight={1},
            trusted={"alice"},
        ),
        NOW,
    )
    kinds = {a.issue.number: type(a) for a in actions}
    assert kinds == {1: Skip, 2: Skip, 3: Skip, 4: AskForInfo, 5: Skip}
    ask = next(a for a in actions if isinstance(a, AskForInfo))
    assert len(ask.questions) == 2


@pytest.mark.parametrize(
    ("author", "ready_by", "trusted", "dispatched"),
    [
        ("mallory", None, {"alice"}, False),  # a stranger's issue, nobody trusted made it Ready
        ("mallory", "mallory", {"alice"}, False),  # a stranger moved their own issue to Ready
        ("mallory", "eve", {"alice"}, False),  # another stranger did
        ("mallory", "alice", {"alice"}, True),  # a trusted user moved it to Ready / labelled it ready
        ("mallory", "Alice", {"alice"}, True),  # logins compare case-insensitively, as on GitHub
        ("ALICE", None, {"alice"}, True),  # a trusted author needs nobody else
        ("alice", "mallory", {"alice"}, True),  # whoever moved a trusted author's issue
        ("mallory", None, set(), True),  # no trusted list: anyone
    ],
)
def test_trusted_author_or_trusted_mover(author, ready_by, trusted, dispatched):
    (action,) = decide(snap(issue(1, author=author, ready_by=ready_by), trusted=trusted), NOW)
    assert isinstance(action, Dispatch) is dispatched
    if not dispatched:
        assert isinstance(action, Skip)
        assert repr(author) in action.reason
        assert (repr(ready_by) if ready_by else "an unknown user") in action.reason


def test_an_untrusted_issue_with_missing_requirements_gets_no_questions():
    """Strangers' issues are left alone: no comment asking for info, no label."""
    (action,) = decide(snap(issue(1, body="please fix", author="mallory"), trusted={"alice"}), NOW)
    assert isinstance(action, Skip)


def test_generation_and_branch_suffix():
    (action,) = decide(snap(issue(7), gens={7: 1}), NOW)
    assert isinstance(action, Dispatch)
    assert action.task.generation == 2
    assert action.task.branch == "agent/7-add-health-endpoint-g2"


def test_routing_by_type_label_and_agent_label():
    chain, note = choose_chain(
        "docs",
        ["agent:codex"],
        "",
        {"default": ("claude",), "docs": ("gemini", "claude")},
        {"claude", "codex", "gemini"},
    )
    assert chain == ("codex", "gemini", "claude") and note == ""
    chain, note = choose_chain("default", ["agent:nope"], "", {"default": ("claude",)}, {"claude"})
    assert chain == ("claude",) and "nope" in note
    (action,) = decide(snap(issue(2, labels=["type:docs"])), NOW)
    assert isinstance(action, Dispatch) and action.task.agents == ("gemini", "claude")


def test_branch_name_is_git_safe():
    assert branch_name(12, "Fix: crash on ÜTF-8 input!!", 1) == "agent/12-fix-crash-on-tf-8-input"
    assert branch_name(1, "???", 3) == "agent/1-task-g3"


# --- next_claim: the generation to claim, from GitHub's state -----------------------------------------------

T = datetime(2026, 11, 22, 12, tzinfo=UTC)
LEASE_S = 900
B1, B2 = "agent/7-fix-it", "agent/7-fix-it-g2"


def facts(branches=None, pr=None, lease=None, local=0, seen=None, host="me"):
    return ClaimFacts(7, branches or {}, pr, lease, local, host, seen)


def lease(host="other", gen=1, age_s=60):
    return LeaseView(host, gen, T - timedelta(seconds=age_s))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        # nothing on GitHub: a plain first dispatch
        (facts(), Claim(1, None, "", "dispatched")),
        # this host remembers generation 2 (e.g. retried after an escalation): generation 3
        (facts(local=2), Claim(3, None, "", "dispatched")),
        # a lease marker remembers a generation whose branch is gone (deleted on retry): never reused
        (facts(lease=lease(gen=2, age_s=99999)), Claim(3, None, "", "dispatched")),
        # an open PR: alive
        (facts({B1: "s1"}, pr=12, lease=lease(age_s=99999)), Hold("PR #12 is open for it")),
        # held by another host whose heartbeat is fresh
        (
            facts({B1: "s1"}, lease=lease(age_s=60)),
            Hold("held by host other (heartbeat 11:59:00 UTC)", held_by="other", branch=B1),
        ),
        # our own lease but no task here: a fresh generation from the base
        (facts({B1: "s1"}, lease=lease(host="me", age_s=60)), Claim(2, None, "", "dispatched")),
        # the holder stopped beating: taken over from its branch head
        (facts({B1: "s1"}, lease=lease(age_s=2 * LEASE_S + 1)), "taken_over"),
        # a branch of a newer generation than the lease, without a lease of its own: orphan, first seen now
        (facts({B1: "s1", B2: "s2"}, lease=lease(age_s=10)), Hold.__name__),
        # seen for less than the lease time: still waiting
        (facts({B1: "s1"}, seen=T - timedelta(seconds=LEASE_S - 1)), Hold.__name__),
        # seen for the lease time: superseded from the orphan's head
        (facts({B1: "s1"}, seen=T - timedelta(seconds=LEASE_S)), "claim_recovered"),
    ],
)
def test_next_claim_table(case, expected):
    decision = next_claim(case, T, LEASE_S)
    if isinstance(expected, Claim | Hold):
        assert decision == expected
    elif expected == Hold.__name__:
        assert isinstance(decision, Hold) and decision.orphan_branch in case.branches
    else:
        assert isinstance(decision, Claim) and decision.event == expected
        newest = max(case.branches, key=len)
        assert decision.start_sha == case.branches[newest] and decision.generation == len(case.branches) + 1


def test_tasks_dispatched_in_one_tick_keep_the_dispatchers_order():
    actions = decide(snap(issue(10), issue(1), issue(12), issue(2, labels=["priority:high"])), NOW)
    ordered = [a.task for a in actions if isinstance(a, Dispatch)]
    assert [t.issue for t in ordered] == [2, 1, 10, 12]
    created = [t.created_at or NOW for t in ordered]
    assert created == sorted(created) and len(set(created)) == 4
    assert created[0] == NOW
