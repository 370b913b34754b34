"""Claims through refs on GitHub, so pr_monitor may run on every host: each follow-up and each merge is made by
exactly one of them.

A claim is the creation of a branch through the API (POST git/refs): GitHub answers 422 when it exists, so
creation is an atomic compare-and-set and the 422 means another host holds the claim.

- Follow-ups: `agent-os/follow-up/<pr>/<kind>-<n>` (kind `fix` for CI and verifier fixes, `conflict` for
  conflict resolution; n counts from 1), pointing at the PR head the follow-up was made for. The refs are the
  record of attempts that every host shares: an attempt whose head the PR has moved past has ended.
- The merge slot: `agent-os/merge-slot/<base>/<tip sha>`: whoever creates it merges onto that tip of the base;
  it is deleted after the merge, and a slot left behind by a dead host expires.

`sweep` deletes the claims of PRs that are no longer open and slots of tips the base has moved past.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchestrator.github.errors import ClaimLost

if TYPE_CHECKING:
    from orchestrator.github.protocol import Forge

FOLLOW_UP_PREFIX = "agent-os/follow-up/"
SLOT_PREFIX = "agent-os/merge-slot/"
BLAME_PREFIX = "agent-os/blame/"  # the merge queue found this PR (at this head) to break a candidate
_FOLLOW_UP = re.compile(r"^agent-os/follow-up/(\d+)/(fix|conflict)-(\d+)$")
_SLOT = re.compile(r"^agent-os/merge-slot/(.+)/([0-9a-f]{40})$")
FOLLOW_UP_CLASS = {"fix_ci": "fix", "fix_verifier": "fix", "resolve_conflict": "conflict"}


@dataclass(frozen=True)
class FollowUpClaim:
    pr: int
    kind: str  # "fix" | "conflict"
    number: int  # 1, 2, … per PR and kind
    head_sha: str  # the PR head it was made for

    @property
    def ref(self) -> str:
        return f"{FOLLOW_UP_PREFIX}{self.pr}/{self.kind}-{self.number}"


@dataclass(frozen=True)
class Claims:
    """Every claim of one repository, read with two conditional GETs."""

    follow_ups: tuple[FollowUpClaim, ...]
    slots: Mapping[str, str]  # branch name of the slot → base branch
    blamed: Mapping[int, str] = field(default_factory=dict)  # PR → the head the merge queue blamed

    def of_pr(self, pr: int, kind: str | None = None) -> list[FollowUpClaim]:
        found = [c for c in self.follow_ups if c.pr == pr and (kind is None or c.kind == kind)]
        return sorted(found, key=lambda c: (c.kind, c.number))

    def slot(self, base: str, tip: str) -> str | None:
        name = slot_name(base, tip)
        return name if name in self.slots else None


def read_claims(forge: Forge, repo: str, blame: bool = False) -> Claims:
    follow_ups = []
    for name, sha in forge.matching_branches(repo, FOLLOW_UP_PREFIX).items():
        match = _FOLLOW_UP.match(name)
        if match:
            follow_ups.append(FollowUpClaim(int(match.group(1)), match.group(2), int(match.group(3)), sha))
    slots = {}
    for name in forge.matching_branches(repo, SLOT_PREFIX):
        match = _SLOT.match(name)
        if match:
            slots[name] = match.group(1)
    blamed = {}
    if blame:
        for name, sha in forge.matching_branches(repo, BLAME_PREFIX).items():
            number = name.removeprefix(BLAME_PREFIX)
            if number.isdigit():
                blamed[int(number)] = sha
    return Claims(tuple(follow_ups), slots, blamed)


def claim(forge: Forge, repo: str, name: str, sha: str) -> bool:
    """True when this host now holds `name`; False when another one does."""
    try:
        forge.create_branch(repo, name, sha)
    except ClaimLost:
        return False
    return True


def slot_name(base: str, tip: str) -> str:
    return f"{SLOT_PREFIX}{base}/{tip}"


def sweep(
    forge: Forge,
    repo: str,
    claims: Claims,
    open_prs: Collection[int],
    moved_past: Callable[[str, str], bool] | None = None,
) -> int:
    """Delete claims that can no longer matter: follow-up claims of PRs that are not open, and — when
    `moved_past(base, tip)` can tell — merge slots of tips the base has moved past (never a slot of a tip newer
    than what this host knows). Returns how many were deleted."""
    stale = [c.ref for c in claims.follow_ups if c.pr not in open_prs]
    heads = open_prs if isinstance(open_prs, Mapping) else {}
    stale += [
        f"{BLAME_PREFIX}{pr}"
        for pr, sha in claims.blamed.items()
        if pr not in open_prs or heads.get(pr, sha) != sha  # gone, or changed since it was blamed
    ]
    if moved_past is not None:
        stale += [name for name, base in claims.slots.items() if moved_past(base, name.rsplit("/", 1)[1])]
    for name in stale:
        forge.delete_branch(repo, name)
    return len(stale)
