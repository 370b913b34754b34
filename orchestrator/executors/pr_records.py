"""pr_monitor's own memory of each open agent PR, written only by pr_monitor: the `pr` sub-record of the task
record (`orchestrator.state.task_records`) of the task the PR belongs to.

Per PR: the blocker it waits on and since when (wedge detection), when its head was first seen (the checks
grace period), since when the merge queue has had it ready, the verifier's verdict under the key of every input
it depends on, whether pr_monitor escalated it, whether the approval request was posted, the follow-up claims
this host made and the merge slot it waited on. Counters of attempts are not kept here: they are the follow-up
claims on GitHub (`ref_claims`), which every host shares.

The record is the task's, found from the PR's branch and body marker (`values.task_identity`); a PR that
carries no task identity (a merge queue candidate) is kept under a key derived from the PR itself,
`pr__<owner>__<name>__<number>`. Records are loaded once per repo pass (`bind`, after the PR list is read) and
written at its end, each only when it changed, so an idle tick writes nothing. A derived-key record is dropped
once its PR is no longer open; a task's record keeps its PR state until the task is archived (a PR with
another number starts afresh).
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from orchestrator.executors.verification import verdict_from_json, verdict_to_json
from orchestrator.policy.verifier import Verdict
from orchestrator.state.task_records import TaskRecords
from orchestrator.values.models import PullRequest
from orchestrator.values.task_identity import identity_of
from orchestrator.values.task_record import PRState, TaskRecord, pr_record_key


class PRRecords:
    def __init__(self, records: TaskRecords, repo: str) -> None:
        self.store = records
        self.repo = repo
        self._keys: dict[int, str] = {}
        self._records: dict[int, dict[str, Any]] = {}
        self._before: dict[int, dict[str, Any]] = {}
        self._adopted: builtins.set[str] = (
            builtins.set()
        )  # derived-key records (migrated) folded into their task's record

    def bind(self, prs: Iterable[PullRequest]) -> None:
        """Load the records of these open PRs (one listing of the store, one read per PR with a record)."""
        present = self.store.ids()
        for pr in prs:
            identity = identity_of(pr)
            key = identity.task_id if identity is not None else pr_record_key(self.repo, pr.number)
            self._keys[pr.number] = key
            state = self.store.load(key).pr if key in present else None
            fallback = pr_record_key(self.repo, pr.number)
            if (state is None or state.number != pr.number) and key != fallback and fallback in present:
                state = self.store.load(fallback).pr  # kept under the PR's key (migrated): adopted
                self._adopted.add(fallback)
            data = _as_dict(state) if state is not None and state.number == pr.number else {}
            self._records[pr.number] = data
            self._before[pr.number] = {} if fallback in self._adopted else _copy(data)  # adopted: written

    def key(self, number: int) -> str:
        return self._keys.get(number) or pr_record_key(self.repo, number)

    def get(self, number: int) -> dict[str, Any]:
        if number not in self._records:
            self._records[number] = {}
            self._before[number] = {}
        return self._records[number]

    def set(self, number: int, **values: Any) -> None:
        self.get(number).update(values)

    # --- the facts the snapshot needs -----------------------------------------------------------------------
    def head_seen_at(self, number: int, head_sha: str, now: datetime) -> datetime:
        """When this host first saw `head_sha` as the PR's head (recorded now if it is new)."""
        return self._first_seen(number, "head", "head_seen", head_sha, now)

    def ready_since(self, number: int, head_sha: str, now: datetime) -> datetime:
        """Since when the merge queue has had this PR (at this head) ready (recorded now if it is new)."""
        return self._first_seen(number, "ready_sha", "ready_since", head_sha, now)

    def _first_seen(
        self, number: int, sha_field: str, time_field: str, head_sha: str, now: datetime
    ) -> datetime:
        """The time kept under `time_field` for `head_sha` (kept under `sha_field`); now when the head is new."""
        record = self.get(number)
        if record.get(sha_field) != head_sha or not record.get(time_field):
            record.update({sha_field: head_sha, time_field: now})
        seen: datetime = record[time_field]
        return seen

    def verdict(self, number: int, key: str) -> Verdict | None:
        cached = self.get(number).get("verdict")
        if not isinstance(cached, dict) or cached.get("key") != key:
            return None
        return verdict_from_json(cached)

    def store_verdict(self, number: int, key: str, verdict: Verdict) -> None:
        self.set(number, verdict={"key": key, **verdict_to_json(verdict)})

    def note_blocker(self, number: int, reason: str | None, now: datetime) -> None:
        """Remember since when the PR waits on the same blocker; clear it on progress."""
        record = self.get(number)
        if record.get("blocker") == reason:
            return
        record.update(blocker=reason, since=now if reason else None)

    def blocker(self, number: int) -> tuple[str | None, datetime | None]:
        record = self.get(number)
        return record.get("blocker"), record.get("since")

    def made_claim(self, number: int, ref: str, task_id: str) -> None:
        claims = dict(self.get(number).get("claims") or {})
        claims[ref] = task_id
        self.set(number, claims=claims)

    def claims_made(self, number: int) -> dict[str, str]:
        claims = self.get(number).get("claims")
        return dict(claims) if isinstance(claims, dict) else {}

    # --- persistence --------------------------------------------------------------------------------------
    def save(self, open_prs: Collection[int]) -> bool:
        """Write the records that changed (of open PRs); drop derived-key records of PRs no longer open."""
        wrote = False
        for number in sorted(builtins.set(open_prs) & builtins.set(self._records)):
            current = self._records[number]
            if current == self._before[number]:
                continue
            state = _as_state(self.repo, number, current)
            self.store.update(self.key(number), lambda r, s=state: replace(r, pr=s))  # type: ignore[misc]
            self._before[number] = _copy(current)
            wrote = True
        in_use = {pr_record_key(self.repo, n) for n in open_prs if self.key(n) == pr_record_key(self.repo, n)}
        for key in sorted(self._derived_keys() - in_use):  # closed PRs', and those adopted by their task
            self.store.update(key, _without_pr)
            wrote = True
        return wrote

    def _derived_keys(self) -> builtins.set[str]:
        prefix = pr_record_key(self.repo, 0)[:-1]
        return {key for key in self.store.ids() if key.startswith(prefix) and key[len(prefix) :].isdigit()}


def _without_pr(record: TaskRecord) -> TaskRecord:
    return replace(record, pr=None)


_FIELDS = (
    "blocker",
    "since",
    "head",
    "head_seen",
    "ready_sha",
    "ready_since",
    "verdict",
    "asked",
    "escalated",
    "claims",
    "slot",
    "slot_since",
)


def _as_dict(state: PRState) -> dict[str, Any]:
    data = {name: getattr(state, name) for name in _FIELDS}
    data["verdict"] = dict(state.verdict) if state.verdict is not None else None
    data["claims"] = dict(state.claims)
    return {k: v for k, v in data.items() if v not in (None, False, {})}


def _as_state(repo: str, number: int, data: dict[str, Any]) -> PRState:
    return PRState(
        repo=repo,
        number=number,
        **{name: data[name] for name in _FIELDS if data.get(name) is not None},
    )


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
