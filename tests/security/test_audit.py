from __future__ import annotations

import itertools
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.edges.process import run
from orchestrator.security.audit import GENESIS, AuditAction, AuditLog, AuditLogError, entry_hash, verify
from orchestrator.security.commands import main
from orchestrator.security.redact import Redactor
from tests.security.fake_secrets import GITHUB_CLASSIC

REPO_ROOT = Path(__file__).resolve().parents[2]


def _fixed_clock() -> datetime:
    return datetime(2024, 6, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit" / "audit.jsonl"
    log = AuditLog(path, clock=_fixed_clock)
    log.append("pr_monitor", AuditAction.MERGE, "demo#1", pr=11, sha="abc")
    log.append("pr_monitor", "close", "demo#1", reason="merged")
    log.append("queue", AuditAction.PUSH, "demo:agent/3-x", sha="def")
    log.append("telegram_control", AuditAction.TELEGRAM_COMMAND, "demo#4", user_id=42, command="/retry 4")
    log.append("dispatcher", AuditAction.BOARD, "demo#5", column="In Progress")
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def test_appended_entries_form_a_verified_chain(log_path: Path) -> None:
    entries = [json.loads(line) for line in _lines(log_path)]

    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == GENESIS
    assert all(later["prev"] == earlier["hash"] for earlier, later in itertools.pairwise(entries))
    assert all(entry_hash(e) == e["hash"] for e in entries)
    assert entries[3]["details"] == {"user_id": 42, "command": "/retry 4"}
    assert entries[0]["ts"] == "2024-06-07T12:00:00+00:00"
    report = verify(log_path)
    assert (report.ok, report.count, report.first_bad_seq) == (True, 5, None)


def test_edited_line_is_detected_at_its_seq(log_path: Path) -> None:
    lines = _lines(log_path)
    lines[2] = lines[2].replace("agent/3-x", "main")
    _write(log_path, lines)

    report = verify(log_path)

    assert (report.ok, report.first_bad_seq, report.line_number, report.count) == (False, 3, 3, 2)
    assert "edited" in report.reason


def test_deleted_line_is_detected_as_the_missing_seq(log_path: Path) -> None:
    lines = _lines(log_path)
    del lines[2]
    _write(log_path, lines)

    report = verify(log_path)

    assert (report.ok, report.first_bad_seq, report.line_number) == (False, 3, 3)
    assert "seq 3 missing" in report.reason and "deleted" in report.reason


def test_reordered_lines_are_detected(log_path: Path) -> None:
    lines = _lines(log_path)
    lines[2], lines[3] = lines[3], lines[2]
    _write(log_path, lines)

    report = verify(log_path)

    assert (report.ok, report.first_bad_seq, report.line_number) == (False, 3, 3)
    assert "reordered" in report.reason


def test_rewritten_line_with_a_recomputed_hash_is_detected_by_the_next_link(log_path: Path) -> None:
    lines = _lines(log_path)
    forged = json.loads(lines[1])
    forged["details"] = {"reason": "nothing to see"}
    forged["hash"] = entry_hash(forged)
    lines[1] = json.dumps(forged)
    _write(log_path, lines)

    report = verify(log_path)

    assert (report.ok, report.first_bad_seq, report.line_number) == (False, 2, 3)
    assert "seq 2 was rewritten" in report.reason


def test_cut_off_start_is_detected(log_path: Path) -> None:
    _write(log_path, _lines(log_path)[2:])

    report = verify(log_path)

    assert (report.ok, report.first_bad_seq, report.line_number) == (False, 1, 1)
    assert "truncated" in report.reason


def test_cut_off_end_is_detected_through_the_head_file(log_path: Path) -> None:
    _write(log_path, _lines(log_path)[:3])

    report = verify(log_path)

    assert (report.ok, report.count, report.first_bad_seq) == (False, 3, 4)
    assert "truncated chain: the log ends at seq 3 but the head records seq 5" in report.reason


def test_half_written_last_line_is_reported_and_blocks_appends(log_path: Path) -> None:
    with log_path.open("a") as handle:
        handle.write('{"seq": 6, "ts": "2024')

    report = verify(log_path)

    assert (report.ok, report.first_bad_seq, report.line_number) == (False, 6, 6)
    with pytest.raises(AuditLogError, match="not an audit entry"):
        AuditLog(log_path).append("queue", "push", "demo:agent/9")


def test_unknown_action_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="deploy"):
        AuditLog(tmp_path / "a.jsonl").append("queue", "deploy", "prod")


def test_details_pass_through_the_redactor(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    AuditLog(path, redactor=Redactor()).append(
        "queue",
        AuditAction.SECRET_BLOCKED,
        "demo#8",
        finding=f"src/a.py:3 {GITHUB_CLASSIC}",
        files=["src/a.py"],
    )

    assert GITHUB_CLASSIC not in path.read_text()
    assert verify(path).ok


def test_concurrent_appends_from_processes_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    script = (
        "import sys; from pathlib import Path; from orchestrator.security.audit import AuditLog\n"
        "log = AuditLog(Path(sys.argv[1]))\n"
        "for n in range(25): log.append(sys.argv[2], 'label', f'demo#{n}', n=n)\n"
    )
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}

    def writer(name: str) -> bool:
        return run([sys.executable, "-c", script, str(path), name], env=env, timeout=60).ok

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(writer, ["w1", "w2", "w3", "w4"]))

    report = verify(path)
    assert (report.ok, report.count) == (True, 100), report.reason


def test_audit_verify_command_exit_codes(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--path", str(log_path)]) == 0
    assert "ok: 5 entries" in capsys.readouterr().out

    lines = _lines(log_path)
    del lines[1]
    _write(log_path, lines)
    assert main(["audit", "verify", "--path", str(log_path)]) == 1
    assert f"{log_path}:2: tampered (first bad seq 2)" in capsys.readouterr().err


def test_audit_verify_uses_the_runtime_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    AuditLog(tmp_path / "rt" / "audit" / "audit.jsonl").append(
        "queue", "escalate", "demo#2", reason="chain exhausted"
    )

    assert main(["audit", "--runtime", str(tmp_path / "rt"), "verify"]) == 0
    assert "ok: 1 entries" in capsys.readouterr().out
