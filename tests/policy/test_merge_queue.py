"""The batching merge queue as a pure policy: batches, fast-forward of the longest green prefix, bisection by
stacked chains down to one PR to blame, stale candidates dropped; and a simulation of twenty PRs with a
five-minute CI and one bad PR (the numbers `make bench` measures on the sandbox forge)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.policy.merge_queue import (
    Blame,
    Build,
    Candidate,
    Discard,
    FastForward,
    Mark,
    QueuedPR,
    QueueSnapshot,
    QueueWait,
    Step,
    decide,
    split,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def prs(*numbers: int) -> tuple[QueuedPR, ...]:
    return tuple(QueuedPR(n, f"h{n}") for n in numbers)


THREE = prs(1, 2, 3)


def snap(ready=THREE, candidates=(), batch_size=4, wait=0.0, since=NOW - timedelta(hours=1), tip="t0"):
    return QueueSnapshot("main", tip, tuple(ready), since, tuple(candidates), batch_size, wait)


def steps(*numbers: int, root: str = "t0") -> tuple[Step, ...]:
    return tuple(
        Step(QueuedPR(n, f"h{n}"), f"{root}+" + ".".join(map(str, numbers[: i + 1])))
        for i, n in enumerate(numbers)
    )


def cand(*numbers: int, result="pending", root="t0", upto=None) -> Candidate:
    all_steps = steps(*numbers, root=root)[:upto]
    return Candidate(f"mq/{root}/{len(all_steps)}-{all_steps[-1].sha}", 1, root, all_steps, result)


def test_a_batch_is_built_from_the_ready_prs_up_to_the_batch_size():
    assert decide(snap(batch_size=2), NOW) == [Build(prs(1, 2), "t0")]
    assert decide(snap(ready=()), NOW) == []


def test_a_short_batch_waits_for_more_prs_until_the_wait_is_over():
    fresh = snap(batch_size=5, wait=120, since=NOW - timedelta(seconds=30))
    assert isinstance(decide(fresh, NOW)[0], QueueWait)
    later = replace(fresh, oldest_ready_since=NOW - timedelta(seconds=121))
    assert decide(later, NOW) == [Build(prs(1, 2, 3), "t0")]


def test_a_green_candidate_fast_forwards_the_base():
    c = cand(1, 2, 3, result="success")
    assert decide(snap(candidates=[c]), NOW) == [FastForward(c, c.steps), Discard(c, "landed")]
    assert isinstance(decide(snap(candidates=[replace(c, result="pending")]), NOW)[0], QueueWait)


def test_a_red_batch_is_bisected_at_its_own_steps():
    red = cand(1, 2, 3, result="failure")
    assert decide(snap(candidates=[red]), NOW) == [Mark(red, (1, 2))]


def test_the_longest_green_prefix_lands_and_the_single_red_pr_is_blamed():
    c3 = cand(1, 2, 3, result="failure")
    c1, c2 = cand(1, 2, 3, upto=1, result="success"), cand(1, 2, 3, upto=2, result="failure")
    actions = decide(snap(candidates=[c1, c2, c3]), NOW)
    assert actions[0] == FastForward(c1, c1.steps)
    assert Blame(QueuedPR(2, "h2"), c2) in actions
    discarded = {a.candidate.branch for a in actions if isinstance(a, Discard)}
    assert discarded == {c1.branch, c2.branch, c3.branch}


def test_a_red_group_after_a_green_prefix_is_split_within_the_red_candidate():
    big = cand(1, 2, 3, 4, result="failure")
    c2 = cand(1, 2, 3, 4, upto=2, result="success")
    actions = decide(snap(ready=prs(1, 2, 3, 4), candidates=[c2, big]), NOW)
    assert actions[0] == FastForward(c2, c2.steps)
    assert Mark(big, (3,)) in actions
    assert big not in [a.candidate for a in actions if isinstance(a, Discard)], (
        "the red tail stays in the chain"
    )
    # next tick: the base is at c2's commit, the red candidate is still the chain's tail
    after = snap(ready=prs(3, 4), candidates=[cand(1, 2, 3, 4, upto=3, result="success"), big], tip=c2.sha)
    actions = decide(after, NOW)
    assert isinstance(actions[0], FastForward) and Blame(QueuedPR(4, "h4"), big) in actions


def test_stale_candidates_are_dropped():
    old = cand(1, root="old")
    changed = Candidate("mq/x", 2, "t0", (Step(QueuedPR(2, "h2-old"), "x"),), "pending")
    actions = decide(snap(candidates=[old, changed]), NOW)
    reasons = [a.reason for a in actions if isinstance(a, Discard)]
    assert reasons == ["built on old; main is at t0", "a PR in it changed or is no longer ready"]
    assert isinstance(actions[-1], Build)


def test_split_sizes():
    assert [len(g) for g in split(prs(*range(20)))] == [4, 4, 4, 4, 4]
    assert [len(g) for g in split(prs(*range(10)))] == [3, 3, 2, 2]
    assert [len(g) for g in split(prs(1, 2, 3))] == [1, 1, 1]


# --- simulation: twenty PRs, five-minute CI, one bad PR ---------------------------------------------------


def simulate(
    n: int, bad: set[int], batch_size: int, ci_minutes: int = 5
) -> tuple[int, int, list[int], list[int]]:
    """A tick every minute; a candidate's CI result is known `ci_minutes` after it is made, red when it holds
    a bad PR. Returns (minutes until the queue is empty, candidate CI runs, merged, blamed)."""
    ready = list(prs(*range(1, n + 1)))
    tip, runs, made = "t0", 0, 0
    live: dict[str, tuple[Candidate, int]] = {}  # branch → (candidate, minute its result is known)
    merged: list[int] = []
    blamed: list[int] = []

    def add(candidate: Candidate, minute: int) -> None:
        nonlocal runs
        live[candidate.branch] = (candidate, minute + ci_minutes)
        runs += 1

    for minute in range(ci_minutes, 300):  # the PRs' own CI ran first
        shown = []
        for c, due in live.values():
            red = any(s.pr.number in bad for s in c.steps)
            shown.append(replace(c, result=("failure" if red else "success") if due <= minute else "pending"))
        for action in decide(QueueSnapshot("main", tip, tuple(ready), NOW, tuple(shown), batch_size, 0), NOW):
            if isinstance(action, FastForward):
                tip = action.candidate.sha
                merged += [s.pr.number for s in action.steps]
                ready = [p for p in ready if p.number not in {s.pr.number for s in action.steps}]
            elif isinstance(action, Blame):
                blamed.append(action.pr.number)
                ready = [p for p in ready if p != action.pr]
            elif isinstance(action, Discard):
                live.pop(action.candidate.branch, None)
            elif isinstance(action, Build):
                made += 1
                built = tuple(Step(p, f"{action.tip}+{made}.{p.number}") for p in action.prs)
                add(Candidate(f"b{made}", 0, action.tip, built, "pending"), minute)
            elif isinstance(action, Mark):
                for end in action.lengths:
                    within = action.within
                    add(
                        Candidate(f"{within.branch}:{end}", 0, within.root, within.steps[:end], "pending"),
                        minute,
                    )
        if not ready and not live:
            return minute, runs, merged, blamed
    raise AssertionError("the queue never emptied")


@pytest.mark.parametrize("bad", [1, 4, 7, 13, 20])
def test_twenty_prs_one_bad_within_thirty_minutes_and_forty_ci_runs(bad):
    minutes, runs, merged, blamed = simulate(20, {bad}, batch_size=20)
    assert blamed == [bad] and sorted(merged) == [n for n in range(1, 21) if n != bad]
    assert minutes <= 30 and 20 + runs <= 40, (minutes, runs)


def test_a_batch_of_one_is_one_candidate_per_pr():
    _, runs, merged, blamed = simulate(4, {3}, batch_size=1)
    assert runs == 4 and blamed == [3] and merged == [1, 2, 4]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 24), st.sets(st.integers(1, 24), max_size=3), st.integers(1, 24))
def test_every_good_pr_lands_and_only_bad_ones_are_blamed(n, bad, batch_size):
    bad = {b for b in bad if b <= n}
    _, _, merged, blamed = simulate(n, bad, batch_size)
    assert sorted(blamed) == sorted(bad)
    assert sorted(merged) == [i for i in range(1, n + 1) if i not in bad]
