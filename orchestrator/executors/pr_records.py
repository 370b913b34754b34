"""pr_monitor's own memory of each open agent PR (runtime/state/pr_monitor.json), written only by pr_monitor.

Per PR (`owner/name#N`): the blocker it waits on and since when (wedge detection), when its head was first
seen (the checks grace period), the verifier's verdict under the key of every input it depends on, whether
pr_monitor escalated it, whether the approval request was posted, and the follow-up claims this host made.
Counters of attempts are not kept here: they are the follow-up claims on GitHub (`ref_claims`), which every
host shares. Loaded once per repo pass and written once at its end, only when something changed, so an idle
tick writes nothing; records of PRs that are no longer open are dropped.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.executors.verification import verdict_from_json, verdict_to_json
from orchestrator.policy.verifier import Verdict
from orchestrator.state.store import read_json, update_json

STATE_FILE = "pr_monitor.json"


class PRRecords:
    def __init__(self, state_dir: Path, repo: str) -> None:
        self.path = state_dir / STATE_FILE
        self.repo = repo
        raw = read_json(self.path, dict)
        self._records: dict[str, dict[str, Any]] = {
            key: dict(value)
            for key, value in raw.items()
            if key.startswith(f"{repo}#") and isinstance(value, dict)
        }
        self._before = {key: dict(value) for key, value in self._records.items()}

    def key(self, number: int) -> str:
        return f"{self.repo}#{number}"

    def get(self, number: int) -> dict[str, Any]:
        return self._records.setdefault(self.key(number), {})

    def set(self, number: int, **values: Any) -> None:
        self.get(number).update(values)

    # --- the facts the snapshot needs -----------------------------------------------------------------------
    def head_seen_at(self, number: int, head_sha: str, now: datetime) -> datetime:
        """When this host first saw `head_sha` as the PR's head (recorded now if it is new)."""
        record = self.get(number)
        if record.get("head") != head_sha or not record.get("head_seen"):
            record.update(head=head_sha, head_seen=now.isoformat())
        return datetime.fromisoformat(record["head_seen"])

    def ready_since(self, number: int, head_sha: str, now: datetime) -> datetime:
        """Since when the merge queue has had this PR (at this head) ready (recorded now if it is new)."""
        record = self.get(number)
        ready = record.get("ready")
        if not isinstance(ready, dict) or ready.get("sha") != head_sha:
            ready = {"sha": head_sha, "since": now.isoformat()}
            record["ready"] = ready
        return datetime.fromisoformat(ready["since"])

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
        record.update(blocker=reason, since=now.isoformat() if reason else None)

    def blocker(self, number: int) -> tuple[str | None, datetime | None]:
        record = self.get(number)
        since = record.get("since")
        return record.get("blocker"), datetime.fromisoformat(since) if since else None

    def made_claim(self, number: int, ref: str, task_id: str) -> None:
        claims = dict(self.get(number).get("claims") or {})
        claims[ref] = task_id
        self.set(number, claims=claims)

    def claims_made(self, number: int) -> dict[str, str]:
        claims = self.get(number).get("claims")
        return dict(claims) if isinstance(claims, dict) else {}

    # --- persistence --------------------------------------------------------------------------------------
    def save(self, open_prs: Collection[int]) -> bool:
        """Write the records of this repo's open PRs (dropping the others) when anything changed."""
        keep = {self.key(n) for n in open_prs}
        current = {k: v for k, v in self._records.items() if k in keep and v}
        if current == self._before:
            return False
        prefix = f"{self.repo}#"

        def put(data: dict[str, Any]) -> dict[str, Any]:
            others = {k: v for k, v in data.items() if not k.startswith(prefix)}
            return {**others, **current}

        update_json(self.path, put)
        self._before = {k: dict(v) for k, v in current.items()}
        return True
