"""One typed, versioned record per task: everything this host remembers about a task beside its task file.

A `TaskRecord` holds, for one task id:

- `lease`: the local claim of a running task (host, pid, started) — was `mailbox/running/<id>.lease`;
- `remote_lease`: the GitHub-visible lease comment this host renews (repo, comment id, body, generation,
  last heartbeat) — was `state/leases.json`;
- `wait`: why the task is not run yet (a backoff, a rate-limit wait, a park) — was `state/task_waits.json`
  (and before it `infra_backoff.json`);
- `infra_retries`: how often the task was recovered after its process died — was parsed out of the notes;
- `escalation`: an escalation not fully posted yet (repo, reason) — was `state/escalations_pending.json`;
- `pr`: pr_monitor's memory of the task's open PR (blocker and since when, head first seen, ready since,
  the verifier's verdict under its input key, approval asked, escalated, follow-up claims made, merge slot)
  — was `state/pr_monitor.json`, keyed by `owner/name#N`.

`encode` / `decode` are the JSON form (`version` = `RECORD_VERSION`); `decode` raises `RecordError` naming the
field that is wrong. The store is `orchestrator.state.task_records`. Not per task, so not here: agent
cooldowns (per agent) and budget overrides (per agent and month) — `state/agent_cooldowns.json` and
`state/budget_overrides.json`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

RECORD_VERSION = 1


class RecordError(ValueError):
    """A record's JSON is not a record this version understands; the message names the field."""


@dataclass(frozen=True)
class Lease:
    """The local claim of a running task: which host and process hold it, since when."""

    host: str
    pid: int
    started: datetime

    @classmethod
    def for_this_process(cls, now: datetime) -> Lease:
        """This process on this host (the node name is what `socket.gethostname()` answers on Linux)."""
        return cls(host=os.uname().nodename, pid=os.getpid(), started=now)


@dataclass(frozen=True)
class RemoteLease:
    """The picked-up comment on the issue whose lease marker this host renews as its heartbeat."""

    repo: str
    comment: int
    body: str
    generation: int
    renewed: datetime


@dataclass(frozen=True)
class Wait:
    """Why a task in the inbox is not run yet: a time (backoff, cooldown) and/or a parked condition."""

    reason: str
    until: datetime | None = None  # run no sooner than this
    base_sha: str | None = None  # parked: run once the base branch is no longer at this commit …
    issues: tuple[int, ...] = ()  # … or once one of these issues is closed …
    give_up_at: datetime | None = None  # … or, at the latest, at this time


@dataclass(frozen=True)
class PendingEscalation:
    """An escalation whose GitHub side (comment, label, board) has not all gone through yet."""

    repo: str
    reason: str


@dataclass(frozen=True)
class PRState:
    """pr_monitor's memory of one open PR of the task (see `executors.pr_records`)."""

    repo: str
    number: int
    blocker: str | None = None
    since: datetime | None = None  # since when the PR waits on `blocker`
    head: str | None = None
    head_seen: datetime | None = None  # when this host first saw `head`
    ready_sha: str | None = None
    ready_since: datetime | None = None  # since when the merge queue has had `ready_sha` ready
    verdict: Mapping[str, Any] | None = None  # {"key": input key, …the verdict's JSON}
    asked: str | None = None  # the verdict key the approval request was posted for
    escalated: bool = False
    claims: Mapping[str, str] = field(default_factory=dict)  # follow-up claim ref → its task id
    slot: str | None = None  # the merge slot this PR waited on …
    slot_since: datetime | None = None  # … since then


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    version: int = RECORD_VERSION
    lease: Lease | None = None
    remote_lease: RemoteLease | None = None
    wait: Wait | None = None
    infra_retries: int = 0
    escalation: PendingEscalation | None = None
    pr: PRState | None = None

    @property
    def empty(self) -> bool:
        """Nothing worth keeping: the store deletes the file."""
        return self == TaskRecord(self.task_id)

    def without_live_state(self) -> TaskRecord:
        """The record once its task has finished: no lease, no remote lease, no wait (history stays)."""
        return replace(self, lease=None, remote_lease=None, wait=None)


def pr_record_key(repo: str, number: int) -> str:
    """The record key of a PR that carries no task identity (a merge queue candidate, a migrated record)."""
    return f"pr__{repo.replace('/', '__')}__{number}"


# --- the JSON form ------------------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def encode(record: TaskRecord) -> dict[str, Any]:
    data: dict[str, Any] = {"version": RECORD_VERSION, "task_id": record.task_id}
    if record.lease is not None:
        lease = record.lease
        data["lease"] = {"host": lease.host, "pid": lease.pid, "started": lease.started.isoformat()}
    if record.remote_lease is not None:
        rl = record.remote_lease
        data["remote_lease"] = {
            "repo": rl.repo,
            "comment": rl.comment,
            "body": rl.body,
            "generation": rl.generation,
            "renewed": rl.renewed.isoformat(),
        }
    if record.wait is not None:
        data["wait"] = encode_wait(record.wait)
    if record.infra_retries:
        data["infra_retries"] = record.infra_retries
    if record.escalation is not None:
        data["escalation"] = {"repo": record.escalation.repo, "reason": record.escalation.reason}
    if record.pr is not None:
        data["pr"] = _encode_pr(record.pr)
    return data


def encode_wait(wait: Wait) -> dict[str, Any]:
    return {
        "reason": wait.reason,
        "until": _time(wait.until),
        "base_sha": wait.base_sha,
        "issues": list(wait.issues),
        "give_up_at": _time(wait.give_up_at),
    }


def _encode_pr(pr: PRState) -> dict[str, Any]:
    return {
        "repo": pr.repo,
        "number": pr.number,
        "blocker": pr.blocker,
        "since": _time(pr.since),
        "head": pr.head,
        "head_seen": _time(pr.head_seen),
        "ready_sha": pr.ready_sha,
        "ready_since": _time(pr.ready_since),
        "verdict": dict(pr.verdict) if pr.verdict is not None else None,
        "asked": pr.asked,
        "escalated": pr.escalated,
        "claims": dict(pr.claims),
        "slot": pr.slot,
        "slot_since": _time(pr.slot_since),
    }


class _Fields:
    """Typed reads out of one JSON object, each error naming `where.field`."""

    def __init__(self, raw: object, where: str) -> None:
        if not isinstance(raw, dict):
            raise RecordError(f"{where}: expected an object, got {type(raw).__name__}")
        self.raw: dict[str, Any] = raw
        self.where = where

    def _get(self, name: str, kind: type | tuple[type, ...], required: bool) -> Any:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise RecordError(f"{self.where}.{name}: missing")
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RecordError(f"{self.where}.{name}: expected {_kind_name(kind)}, got {value!r}")
        return value

    def text(self, name: str, required: bool = False) -> Any:
        return self._get(name, str, required)

    def integer(self, name: str, required: bool = False) -> Any:
        return self._get(name, int, required)

    def flag(self, name: str) -> bool:
        return bool(self._get(name, bool, False))

    def time(self, name: str, required: bool = False) -> datetime | None:
        value = self.text(name, required)
        if value is None:
            return None
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise RecordError(f"{self.where}.{name}: not an ISO time: {value!r}") from None

    def mapping(self, name: str) -> dict[str, Any] | None:
        return self._get(name, dict, False)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {str: "text", int: "an integer", bool: "true/false", dict: "an object"}[k] for k in kinds
    )


def decode(raw: object, where: str = "record") -> TaskRecord:
    """The record in its JSON form; RecordError (naming the field) for anything else, an unknown version
    included — a record written by a newer Agent OS is never read as if it were ours."""
    f = _Fields(raw, where)
    version = f.integer("version", required=True)
    if version != RECORD_VERSION:
        raise RecordError(
            f"{where}.version: {version} is not a version this Agent OS reads ({RECORD_VERSION})"
        )
    retries = f.integer("infra_retries") or 0
    if retries < 0:
        raise RecordError(f"{where}.infra_retries: negative ({retries})")
    return TaskRecord(
        task_id=f.text("task_id", required=True),
        lease=decode_lease(f.raw.get("lease"), f"{where}.lease"),
        remote_lease=decode_remote_lease(f.raw.get("remote_lease"), f"{where}.remote_lease"),
        wait=decode_wait(f.raw["wait"], f"{where}.wait") if f.raw.get("wait") is not None else None,
        infra_retries=retries,
        escalation=decode_escalation(f.raw.get("escalation"), f"{where}.escalation"),
        pr=decode_pr(f.raw.get("pr"), f"{where}.pr"),
    )


def decode_lease(raw: object, where: str) -> Lease | None:
    if raw is None:
        return None
    f = _Fields(raw, where)
    started = f.time("started", required=True)
    assert started is not None
    return Lease(host=f.text("host", required=True), pid=f.integer("pid", required=True), started=started)


def decode_remote_lease(raw: object, where: str) -> RemoteLease | None:
    if raw is None:
        return None
    f = _Fields(raw, where)
    renewed = f.time("renewed", required=True)
    assert renewed is not None
    return RemoteLease(
        repo=f.text("repo", required=True),
        comment=f.integer("comment", required=True),
        body=f.text("body") or "",
        generation=f.integer("generation", required=True),
        renewed=renewed,
    )


def decode_wait(raw: object, where: str) -> Wait:
    f = _Fields(raw, where)
    issues = f.raw.get("issues") or []
    if not isinstance(issues, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in issues
    ):
        raise RecordError(f"{where}.issues: expected a list of issue numbers, got {issues!r}")
    return Wait(
        reason=f.text("reason") or "",
        until=f.time("until"),
        base_sha=f.text("base_sha") or None,
        issues=tuple(issues),
        give_up_at=f.time("give_up_at"),
    )


def decode_escalation(raw: object, where: str) -> PendingEscalation | None:
    if raw is None:
        return None
    f = _Fields(raw, where)
    return PendingEscalation(repo=f.text("repo", required=True), reason=f.text("reason") or "escalated")


def decode_pr(raw: object, where: str) -> PRState | None:
    if raw is None:
        return None
    f = _Fields(raw, where)
    claims = f.mapping("claims") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in claims.items()):
        raise RecordError(f"{where}.claims: expected claim ref → task id (text), got {claims!r}")
    return PRState(
        repo=f.text("repo", required=True),
        number=f.integer("number", required=True),
        blocker=f.text("blocker"),
        since=f.time("since"),
        head=f.text("head"),
        head_seen=f.time("head_seen"),
        ready_sha=f.text("ready_sha"),
        ready_since=f.time("ready_since"),
        verdict=f.mapping("verdict"),
        asked=f.text("asked"),
        escalated=f.flag("escalated"),
        claims=claims,
        slot=f.text("slot"),
        slot_since=f.time("slot_since"),
    )
