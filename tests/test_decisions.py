"""Decision records: deduplicated per (issue, job), history in the event log, bounded, never breaking a job."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestrator.state import decisions
from orchestrator.state.metrics import read_events
from orchestrator.state.runtime import RuntimePaths

T0 = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)
REPO = "acme/api"


@dataclass
class Ctx:
    paths: RuntimePaths
    now: list[datetime] = field(default_factory=lambda: [T0])

    def clock(self) -> datetime:
        return self.now[0]

    def advance(self, **delta: float) -> None:
        self.now[0] += timedelta(**delta)


def make_ctx(tmp_path: Path) -> Ctx:
    paths = RuntimePaths(tmp_path / "runtime")
    paths.ensure()
    return Ctx(paths)


def decision_events(ctx: Ctx) -> list:
    return [e for e in read_events(ctx.paths.metrics) if e.state == "decision"]


def test_repeating_the_same_decision_writes_nothing(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    said: dict[str, Any] = {
        "job": "dispatcher",
        "repo": REPO,
        "issue": 7,
        "code": "untrusted",
        "words": "not dispatched: x",
    }
    assert decisions.record(ctx, **said, facts={"author": "x"}) is True
    path = decisions.repo_dir(ctx.paths.state, REPO) / "7.json"
    before = path.stat().st_mtime_ns, path.read_bytes()
    for _ in range(5):  # idle ticks deciding the same again
        ctx.advance(minutes=1)
        assert decisions.record(ctx, **said, facts={"author": "x"}) is False
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    assert len(decision_events(ctx)) == 1
    subject = decisions.subject(ctx.paths.state, REPO, 7)
    assert subject is not None and subject.decisions["dispatcher"].since == T0


def test_a_changed_decision_is_written_and_each_job_keeps_its_own(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    decisions.record(
        ctx, job="dispatcher", repo=REPO, issue=7, code="dispatched", words="dispatched", title="T"
    )
    ctx.advance(minutes=5)
    decisions.record(ctx, job="queue", repo=REPO, issue=7, code="running", words="running on host a")
    ctx.advance(minutes=5)
    decisions.record(ctx, job="queue", repo=REPO, issue=7, code="pr_opened", words="PR #9 opened", pr=9)
    subject = decisions.subject(ctx.paths.state, REPO, 7)
    assert subject is not None
    assert subject.title == "T" and subject.pr == 9
    assert [d.job for d in subject.newest_first()] == ["queue", "dispatcher"]
    assert subject.decisions["queue"].code == "pr_opened"
    assert subject.decisions["queue"].since == T0 + timedelta(minutes=10)
    history = decision_events(ctx)
    assert [(e.extra["job"], e.extra["code"]) for e in history] == [
        ("dispatcher", "dispatched"),
        ("queue", "running"),
        ("queue", "pr_opened"),
    ]
    assert history[-1].extra["pr"] == 9 and history[-1].issue == 7


def test_a_pr_number_finds_its_issue_and_a_pr_without_issue_is_its_own_subject(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    decisions.record(ctx, job="pr_monitor", repo=REPO, issue=7, pr=9, code="waiting_ci", words="waits")
    decisions.record(ctx, job="pr_monitor", repo=REPO, pr=40, code="waiting", words="docs PR waits")
    by_pr = decisions.subject(ctx.paths.state, REPO, 9)
    assert by_pr is not None and by_pr.issue == 7
    orphan = decisions.subject(ctx.paths.state, REPO, 40)
    assert orphan is not None and orphan.issue is None and orphan.pr == 40
    assert decisions.subject(ctx.paths.state, REPO, 41) is None
    assert decisions.subject(ctx.paths.state, "other/repo", 7) is None


def test_a_corrupt_file_is_replaced_and_recording_never_raises(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    path = decisions.repo_dir(ctx.paths.state, REPO) / "7.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    # the unreadable file is replaced by the new decision (the event log keeps the history)
    assert decisions.record(ctx, job="queue", repo=REPO, issue=7, code="running", words="running") is True
    subject = decisions.subject(ctx.paths.state, REPO, 7)
    assert subject is not None and subject.decisions["queue"].words == "running"
    path.write_text("{not json")
    try:
        decisions.subject(ctx.paths.state, REPO, 7)
    except decisions.CorruptDecisions as exc:
        assert "7.json" in str(exc)
    else:
        raise AssertionError("a corrupt file must be reported, not read as empty")


def test_unwritable_directory_is_logged_not_raised(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    blocker = ctx.paths.state / decisions.DIR
    blocker.write_text("a file where the directory should be")
    assert decisions.record(ctx, job="queue", repo=REPO, issue=7, code="running", words="x") is False


def test_old_files_are_pruned_once_a_day(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    decisions.record(ctx, job="queue", repo=REPO, issue=1, code="running", words="old")
    old = decisions.repo_dir(ctx.paths.state, REPO) / "1.json"
    stamp = (T0 - timedelta(days=decisions.RETENTION_DAYS + 1)).timestamp()
    os.utime(old, (stamp, stamp))
    ctx.advance(hours=1)  # within a day of the last prune (the first record pruned): nothing goes yet
    decisions.record(ctx, job="queue", repo=REPO, issue=2, code="running", words="new")
    assert old.exists()
    ctx.advance(days=1)
    decisions.record(ctx, job="queue", repo=REPO, issue=3, code="running", words="newer")
    assert not old.exists()
    assert (decisions.repo_dir(ctx.paths.state, REPO) / "2.json").exists()


def test_open_prs_are_written_only_when_the_set_changes(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    assert decisions.open_prs(ctx.paths.state, REPO) is None
    decisions.note_open_prs(ctx, REPO, [9, 4])
    path = decisions.repo_dir(ctx.paths.state, REPO) / decisions.OPEN_PRS
    written = path.stat().st_mtime_ns
    ctx.advance(minutes=1)
    decisions.note_open_prs(ctx, REPO, [4, 9])
    assert path.stat().st_mtime_ns == written
    decisions.note_open_prs(ctx, REPO, [])
    assert decisions.open_prs(ctx.paths.state, REPO) == []
    assert json.loads(path.read_text())["prs"] == []
