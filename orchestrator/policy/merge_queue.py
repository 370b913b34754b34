"""The batching merge queue of one base branch (GitHub merge queue / bors / zuul style), as a pure policy.

PRs that pass the gate on their own (`policy.merge`: green, verified or approved, mergeable, nothing at work on
them) are *ready*. Up to `batch_size` of them are tested together as a **candidate**: the base tip with each PR
merged in turn (one merge commit per PR — the *steps*), built by us on an `agent-os/merge-queue/<base>/…` branch
and run through the repo's CI. When the candidate is green the base fast-forwards to it, so the base only ever
receives a commit that was tested as it lands, and every PR in it is merged (its head is now in the base).

When a candidate is red it is bisected without building anything new: its steps are already the commits
"tip + PR1", "tip + PR1 + PR2", …, so its PRs are split into groups and a candidate branch is made at the end of
each group but the last (whose end is the red candidate itself). Those stacked candidates run at once; the base
fast-forwards to the longest green one, and the first red group is split again — down to one PR, which is to
blame (it gets the fix-CI follow-up) while the others go on. Groups of up to `_SINGLES_UP_TO` PRs are split into
single PRs, larger ones into about √n groups: one bad PR among twenty costs three rounds of CI and eight runs.

All the queue knows lives on GitHub (each candidate's draft PR names the tip it started from and its steps), so
pr_monitor on any host reaches the same decisions; the names of candidates are derived from what they hold, so
two hosts creating the same one collide on the ref (422) instead of testing it twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

_SINGLES_UP_TO = 6


@dataclass(frozen=True)
class QueuedPR:
    number: int
    head_sha: str


@dataclass(frozen=True)
class Step:
    pr: QueuedPR
    sha: str  # the candidate commit once this PR is merged in


@dataclass(frozen=True)
class Candidate:
    branch: str  # agent-os/merge-queue/<base>/<id>
    pull: int  # the draft PR that runs the repo's CI on it
    root: str  # the base tip its first step was merged onto
    steps: tuple[Step, ...]
    result: str  # "pending" | "success" | "failure" (required checks and the grace period applied)

    @property
    def sha(self) -> str:
        return self.steps[-1].sha

    def remaining(self, tip: str) -> tuple[Step, ...] | None:
        """The steps not yet in the base when the base is at `tip`; None when it was not built on it."""
        if tip == self.root:
            return self.steps
        for i, step in enumerate(self.steps[:-1]):
            if step.sha == tip:
                return self.steps[i + 1 :]
        return None


@dataclass(frozen=True)
class QueueSnapshot:
    base: str
    tip: str
    ready: tuple[QueuedPR, ...]  # in queue order
    oldest_ready_since: datetime | None
    candidates: tuple[Candidate, ...]
    batch_size: int
    batch_wait_seconds: float


@dataclass(frozen=True)
class Build:
    """Merge these PRs one by one onto `tip` into a new candidate."""

    prs: tuple[QueuedPR, ...]
    tip: str


@dataclass(frozen=True)
class Mark:
    """New candidates at the ends of these prefixes of `within`'s steps (no new merges: the commits exist)."""

    within: Candidate
    lengths: tuple[int, ...]


@dataclass(frozen=True)
class FastForward:
    candidate: Candidate
    steps: tuple[Step, ...]  # the steps that land (every PR in them is merged)


@dataclass(frozen=True)
class Blame:
    pr: QueuedPR
    candidate: Candidate


@dataclass(frozen=True)
class Discard:
    candidate: Candidate
    reason: str


@dataclass(frozen=True)
class QueueWait:
    reason: str


QueueAction = Build | Mark | FastForward | Blame | Discard | QueueWait


def decide(snap: QueueSnapshot, now: datetime) -> list[QueueAction]:
    chain, stale = _chain(snap)
    actions: list[QueueAction] = [Discard(c, reason) for c, reason in stale]
    if chain:
        return actions + _settle(chain, snap.tip)
    return actions + _new_batch(snap, now)


def _chain(snap: QueueSnapshot) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """(the stacked candidates being tested on the current tip, shortest first; the ones to discard, with why)."""
    ready = {p.number: p.head_sha for p in snap.ready}
    chain: list[Candidate] = []
    stale: list[tuple[Candidate, str]] = []
    for c in sorted(snap.candidates, key=lambda c: (len(c.remaining(snap.tip) or ()), c.branch)):
        rest = c.remaining(snap.tip)
        if rest is None:
            stale.append((c, f"built on {c.root[:10]}; {snap.base} is at {snap.tip[:10]}"))
        elif not all(ready.get(s.pr.number) == s.pr.head_sha for s in rest):
            stale.append((c, "a PR in it changed or is no longer ready"))
        elif chain and not _extends(rest, chain[-1].remaining(snap.tip) or ()):
            stale.append((c, "not part of the chain being tested"))
        elif not chain or len(rest) > len(chain[-1].remaining(snap.tip) or ()):
            chain.append(c)
        else:
            stale.append((c, "the same as another candidate"))
    return chain, stale


def _extends(longer: tuple[Step, ...], shorter: tuple[Step, ...]) -> bool:
    return longer[: len(shorter)] == shorter


def _settle(chain: list[Candidate], tip: str) -> list[QueueAction]:
    """The longest green prefix lands; the first red candidate's new steps are split (or one PR is to blame)."""
    first_red = next((i for i, c in enumerate(chain) if c.result == "failure"), None)
    if first_red is None:
        if all(c.result == "success" for c in chain):
            last = chain[-1]
            return [FastForward(last, last.remaining(tip) or ()), *(Discard(c, "landed") for c in chain)]
        return [QueueWait(f"the merge queue is testing {_names(chain[-1], tip)}")]
    if any(c.result != "success" for c in chain[:first_red]):
        return [QueueWait(f"the merge queue is testing {_names(chain[first_red - 1], tip)}")]
    actions: list[QueueAction] = []
    done = 0
    if first_red > 0:
        landed = chain[first_red - 1]
        done = len(landed.remaining(tip) or ())
        actions += [
            FastForward(landed, landed.remaining(tip) or ()),
            *(Discard(c, "landed") for c in chain[:first_red]),
        ]
    red = chain[first_red]
    rest = red.remaining(tip) or ()
    group = rest[done:]
    if len(group) == 1:
        actions += [Blame(group[0].pr, red), Discard(red, f"#{group[0].pr.number} broke it")]
    else:
        offset = len(red.steps) - len(rest) + done
        ends = [offset + sum(len(g) for g in split(group)[: i + 1]) for i in range(len(split(group)) - 1)]
        actions.append(Mark(red, tuple(ends)))
    actions += [Discard(c, "stacked on a red candidate") for c in chain[first_red + 1 :]]
    return actions


def _new_batch(snap: QueueSnapshot, now: datetime) -> list[QueueAction]:
    if not snap.ready:
        return []
    batch = snap.ready[: snap.batch_size]
    since = snap.oldest_ready_since
    waited = since is not None and now - since >= timedelta(seconds=snap.batch_wait_seconds)
    if len(batch) < snap.batch_size and not waited:
        return [QueueWait(f"the merge queue waits up to {snap.batch_wait_seconds:g} s for a fuller batch")]
    return [Build(batch, snap.tip)]


def split(group: Sequence[object]) -> tuple[tuple[object, ...], ...]:
    """How a red group is split: single PRs when small, else about √n groups of near-equal size."""
    if len(group) <= _SINGLES_UP_TO:
        return tuple((p,) for p in group)
    parts = math.ceil(math.sqrt(len(group)))
    size, extra = divmod(len(group), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(tuple(group[start:end]))
        start = end
    return tuple(out)


def _names(candidate: Candidate, tip: str) -> str:
    return ", ".join(f"#{s.pr.number}" for s in candidate.remaining(tip) or candidate.steps)
