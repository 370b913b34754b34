"""Append-only audit log of privileged actions, tamper-evident through a hash chain.

One JSON object per line:

    {"seq": 7, "ts": "...", "actor": "pr_monitor", "action": "merge", "target": "demo#42",
     "details": {...}, "prev": "<hash of seq 6>", "hash": "<sha256 of the canonical JSON of the other fields>"}

The first entry's `prev` is 64 zeros. Appends take an exclusive `flock` on the log and write one line with
`O_APPEND`; after each append the head (last seq and hash) is copied to `<log>.head`, so cutting lines off
the end is detected too. What a chain cannot show: someone who rewrites every line after the one they
changed *and* the head file. Publishing the head elsewhere (the daily digest) closes that gap.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.security.errors import SecurityError
from orchestrator.security.redact import Redactor

GENESIS = "0" * 64
_FIELDS = ("seq", "ts", "actor", "action", "target", "details", "prev", "hash")


class AuditAction(enum.StrEnum):
    MERGE = "merge"
    CLOSE = "close"
    PUSH = "push"
    LABEL = "label"
    BOARD = "board"
    TELEGRAM_COMMAND = "telegram_command"
    ESCALATE = "escalate"
    SECRET_BLOCKED = "secret_blocked"
    APPROVE = "approve"  # a human's approval label let a PR merge despite verifier findings
    RETRY = "retry"
    DELETE_BRANCH = "delete_branch"


class AuditLogError(SecurityError):
    """The log cannot be appended to (its last line is not a valid entry)."""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: str
    actor: str
    action: str
    target: str
    details: Mapping[str, Any]
    prev: str
    hash: str


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    count: int  # entries verified before the first problem (all of them when ok)
    first_bad_seq: int | None = None  # the seq that is missing, edited, rewritten or out of place
    line_number: int | None = None  # the physical line where the problem shows
    reason: str = ""


def entry_hash(fields: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of every field except `hash`."""
    body = {key: fields[key] for key in _FIELDS if key != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    def __init__(
        self,
        path: Path,
        clock: Callable[[], datetime] = _utc_now,
        redactor: Redactor | None = None,
    ) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")
        self._clock = clock
        self._redactor = redactor

    def append(self, actor: str, action: AuditAction | str, target: str, **details: Any) -> AuditEntry:
        """Record one privileged action; details must be JSON-serialisable (strings are redacted)."""
        action = AuditAction(action)
        if self._redactor is not None:
            details = _redact_values(details, self._redactor)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = _parse_last_line(_last_line(fd), self.path)
            fields: dict[str, Any] = {
                "seq": 1 if last is None else last.seq + 1,
                "ts": self._clock().isoformat(),
                "actor": actor,
                "action": action.value,
                "target": target,
                "details": details,
                "prev": GENESIS if last is None else last.hash,
            }
            fields["hash"] = entry_hash(fields)
            line = json.dumps(fields, sort_keys=True, ensure_ascii=False) + "\n"
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
            _write_head(self.head_path, fields["seq"], fields["hash"])
        finally:
            os.close(fd)
        return AuditEntry(**fields)


def _redact_values(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, Mapping):
        return {key: _redact_values(item, redactor) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_values(item, redactor) for item in value]
    return value


def _last_line(fd: int, chunk: int = 8192) -> bytes:
    """The last non-empty line of the file open at `fd` (b"" for an empty file)."""
    end = os.fstat(fd).st_size
    data = b""
    position = end
    while position > 0:
        start = max(0, position - chunk)
        data = os.pread(fd, position - start, start) + data
        position = start
        stripped = data.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
    return data.rstrip(b"\n")


def _parse_last_line(raw: bytes, path: Path) -> AuditEntry | None:
    if not raw:
        return None
    try:
        fields = json.loads(raw)
        return AuditEntry(**{key: fields[key] for key in _FIELDS})
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise AuditLogError(
            f"the last line of {path} is not an audit entry ({exc}); run `agentos audit verify`"
        ) from exc


def _write_head(head_path: Path, seq: int, digest: str) -> None:
    tmp = head_path.with_name(head_path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"seq": seq, "hash": digest}) + "\n", encoding="utf-8")
    os.replace(tmp, head_path)


class _Broken(Exception):
    def __init__(self, first_bad_seq: int, reason: str) -> None:
        super().__init__(reason)
        self.first_bad_seq = first_bad_seq
        self.reason = reason


def verify(path: Path) -> VerifyReport:
    """Walk the chain from seq 1; stop at the first line that is edited, missing, out of place or cut off."""
    path = Path(path)
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return VerifyReport(ok=True, count=0, reason=f"no audit log at {path} yet")
    if lines and lines[-1] == b"":
        lines.pop()
    seqs_present = _seqs_present(lines)
    expected_seq, prev = 1, GENESIS
    hashes: dict[int, str] = {}
    for number, raw in enumerate(lines, start=1):
        try:
            entry = _check_line(raw, number, expected_seq, prev, seqs_present)
        except _Broken as broken:
            return VerifyReport(False, expected_seq - 1, broken.first_bad_seq, number, broken.reason)
        expected_seq, prev = entry.seq + 1, entry.hash
        hashes[entry.seq] = entry.hash
    return _check_head(path.with_name(path.name + ".head"), hashes)


def _check_line(raw: bytes, number: int, expected_seq: int, prev: str, seqs_present: set[int]) -> AuditEntry:
    try:
        fields = json.loads(raw)
        entry = AuditEntry(**{key: fields[key] for key in _FIELDS})
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise _Broken(expected_seq, f"line {number} is not a complete audit entry ({exc})") from exc
    if entry_hash(fields) != entry.hash or not isinstance(entry.seq, int):
        raise _Broken(
            expected_seq,
            f"line {number} (seq {expected_seq}) was edited: its content does not match its hash",
        )
    if entry.seq != expected_seq:
        raise _Broken(expected_seq, _misplaced_reason(number, entry.seq, expected_seq, seqs_present))
    if entry.prev != prev:
        if expected_seq == 1:
            raise _Broken(
                1, f"line {number} (seq 1) does not start the chain: its prev is not the genesis hash"
            )
        raise _Broken(
            expected_seq - 1,
            f"seq {expected_seq - 1} was rewritten: its hash is not the prev recorded by seq {entry.seq} "
            f"on line {number}",
        )
    return entry


def _misplaced_reason(number: int, seq: int, expected: int, seqs_present: set[int]) -> str:
    if expected == 1:
        return (
            f"the log starts at seq {seq} on line {number}: the first entries were cut off (truncated chain)"
        )
    if seq < expected:
        return f"line {number} repeats or moves back to seq {seq} after seq {expected - 1} (reordered or duplicated)"
    if expected in seqs_present:
        return f"line {number} holds seq {seq} where seq {expected} belongs: lines were reordered"
    missing = f"seq {expected}" if seq == expected + 1 else f"seqs {expected}–{seq - 1}"
    return f"{missing} missing before line {number}: lines were deleted"


def _seqs_present(lines: list[bytes]) -> set[int]:
    present = set()
    for raw in lines:
        try:
            seq = json.loads(raw).get("seq")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            continue
        if isinstance(seq, int):
            present.add(seq)
    return present


def _check_head(head_path: Path, hashes: Mapping[int, str]) -> VerifyReport:
    """The head written at the last append must name an entry the chain still holds, with the same hash."""
    last_seq = len(hashes)
    try:
        head = json.loads(head_path.read_text(encoding="utf-8"))
        head_seq, head_hash = int(head["seq"]), str(head["hash"])
    except FileNotFoundError:
        return VerifyReport(ok=True, count=last_seq)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        return VerifyReport(False, last_seq, None, None, f"the head file {head_path} is unreadable ({exc})")
    if head_seq > last_seq:
        return VerifyReport(
            False,
            last_seq,
            last_seq + 1,
            last_seq + 1,
            f"truncated chain: the log ends at seq {last_seq} but the head records seq {head_seq}",
        )
    if head_seq > 0 and hashes.get(head_seq) != head_hash:
        return VerifyReport(
            False,
            last_seq,
            head_seq,
            head_seq,
            f"seq {head_seq} differs from the hash recorded in the head file",
        )
    return VerifyReport(ok=True, count=last_seq)
