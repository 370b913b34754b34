"""Housekeeping keeps runtime/ bounded: archives old finished tasks, gzips old event months, rotates and
expires logs, deletes old agent-run folders and finished task branches of the clones — and runs at most once
per period, one process at a time."""

from __future__ import annotations

import fcntl
import gzip
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.executors.housekeeping import compress_month, run, run_if_due
from orchestrator.state import metrics
from orchestrator.state.mailbox import Lease
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import Task, TaskState
from tests import task_factory
from tests.offline_context import offline_context

NOW = datetime.now(UTC).replace(microsecond=0)
REPO = "acme/widgets"


def make_task(issue: int) -> Task:
    return task_factory.make_task(issue, repo=REPO, branch=f"agent/{issue}-fix", created_at=NOW)


@pytest.fixture
def ctx(tmp_path: Path) -> JobContext:
    return offline_context(tmp_path, NOW, retention={"log_max_mb": 0.001, "log_backups": 2})


def age(path: Path, days: float) -> None:
    moment = (NOW - timedelta(days=days)).timestamp()
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(item, (moment, moment))


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_clone(ctx: JobContext, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README.md").write_text("hi\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "init")
    clone = ctx.paths.clones / ctx.config.repos[0].key
    git(tmp_path, "clone", "-q", "--no-checkout", str(work), str(clone))
    for branch in ("agent/1-fix", "agent/2-fix", "agent/3-fix", "agent/9-unknown"):
        git(clone, "branch", branch, "origin/main")
    git(clone, "worktree", "add", "-q", str(tmp_path / "slot"), "agent/3-fix")
    return clone


def test_one_run_bounds_every_kind_of_history(ctx: JobContext, tmp_path: Path) -> None:
    mailbox = ctx.mailbox
    for issue, state in ((1, TaskState.DONE), (3, TaskState.DONE)):
        task = make_task(issue)
        mailbox.enqueue(task)
        mailbox.claim(task.id, Lease.for_this_process(NOW))
        age(mailbox.finish(task.id, state), 40)
    mailbox.enqueue(make_task(2))
    clone = make_clone(ctx, tmp_path)

    old_month = NOW - timedelta(days=95)
    metrics.record_event(ctx.paths.metrics, state="old", agent="claude", cost_usd=1.0, ts=old_month)
    metrics.record_event(ctx.paths.metrics, state="new", ts=NOW)

    logs = ctx.paths.logs
    (logs / "cron.log").write_text("x" * 2000)
    (logs / "queue.log.2").write_text("old rotated")
    age(logs / "queue.log.2", 40)
    (logs / "dispatcher.log").write_text("small")

    runs = ctx.paths.agent_runs
    for name in ("loops/old-run", "loops/new-run", make_task(2).id, "acme__widgets__77__g1"):
        (runs / name).mkdir(parents=True)
        (runs / name / "stdout.log").write_text("output")
    for name in ("loops/old-run", make_task(2).id, "acme__widgets__77__g1"):
        age(runs / name, 40)

    report = run(ctx, NOW)

    assert report.errors == []
    assert report.archived_tasks == 2 and mailbox.count(TaskState.DONE) == 0
    assert mailbox.count(TaskState.INBOX) == 1
    assert report.compressed_months == [metrics.month_of(old_month)]
    assert [e.state for e in metrics.read_events(ctx.paths.metrics)] == ["old", "new"]
    assert sorted(p.name for p in logs.iterdir()) == ["cron.log.1", "dispatcher.log"]
    assert sorted(report.removed_runs) == ["acme__widgets__77__g1", "loops/old-run"]
    assert (runs / make_task(2).id).exists(), "a queued task keeps its runs"
    assert (runs / "loops" / "new-run").exists()
    branches = set(git(clone, "for-each-ref", "--format=%(refname:short)", "refs/heads/agent/").split())
    # 1 finished → deleted; 2 queued, 3 checked out in a worktree, 9 unknown to the index → kept
    assert branches == {"agent/2-fix", "agent/3-fix", "agent/9-unknown"}
    assert report.pruned_branches == {ctx.config.repos[0].key: 1}


def test_archives_older_than_the_kept_months_are_deleted(ctx: JobContext) -> None:
    archive = ctx.mailbox.root / "archive"
    old, recent = metrics.month_of(NOW - timedelta(days=430)), metrics.month_of(NOW - timedelta(days=60))
    for month in (old, recent):
        (archive / month).mkdir(parents=True)
        (archive / month / "run.zip").write_bytes(b"zip")
    report = run(ctx, NOW)
    assert report.expired_archives == [old]
    assert sorted(p.name for p in archive.iterdir() if p.is_dir()) == [recent]


def test_the_clones_are_garbage_collected_although_our_git_runs_with_gc_auto_off(
    ctx: JobContext, tmp_path: Path
) -> None:
    clone = make_clone(ctx, tmp_path)
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    for n in range(7000):  # past git's gc.auto threshold of loose objects
        (blobs / str(n)).write_text(f"unreferenced {n}\n")
    subprocess.run(
        ["git", "hash-object", "-w", "--stdin-paths"],
        cwd=clone,
        input="\n".join(str(p) for p in blobs.iterdir()),
        text=True,
        check=True,
        capture_output=True,
    )
    for loose in (clone / ".git" / "objects").glob("??/*"):
        age(loose, 30)  # unreferenced for a month: what gc prunes
    before = git(clone, "count-objects", "-v")
    assert "count: 7" in before
    assert run(ctx, NOW).errors == []
    after = dict(line.split(": ") for line in git(clone, "count-objects", "-v").splitlines())
    assert int(after["count"]) < 100, after


def test_it_runs_once_per_period_and_never_twice_at_once(ctx: JobContext) -> None:
    assert run_if_due(ctx) is not None
    assert run_if_due(ctx) is None, "not due again within the period"
    stamp = ctx.paths.state / "housekeeping.stamp"
    age(stamp, 2)
    fd = os.open(ctx.paths.locks / "housekeeping.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert run_if_due(ctx) is None, "another process is running it"
    finally:
        os.close(fd)
    assert run_if_due(ctx) is not None


def test_a_failing_step_is_reported_and_the_others_still_run(ctx: JobContext) -> None:
    (ctx.paths.clones / ctx.config.repos[0].key / ".git").mkdir(parents=True)  # not a repository
    (ctx.paths.logs / "cron.log").write_text("x" * 2000)
    report = run(ctx, NOW)
    assert [e.split(":")[0] for e in report.errors] == ["clones"]
    assert report.rotated_logs == ["cron.log"]


def test_compressing_a_month_resumes_after_a_crash_without_duplicates(tmp_path: Path) -> None:
    line = b'{"ts":"2024-03-01T00:00:00+00:00","state":"a"}\n'
    later = b'{"ts":"2024-03-02T00:00:00+00:00","state":"b"}\n'
    folder = metrics.events_dir(tmp_path)
    folder.mkdir(parents=True)
    # crash 1: the archive was replaced, the file set aside was not removed yet
    (folder / "2024-03.jsonl.gz").write_bytes(gzip.compress(line))
    (folder / "2024-03.jsonl.compressing").write_bytes(line)
    assert compress_month(tmp_path, "2024-03")
    assert [e.state for e in metrics.read_events(tmp_path)] == ["a"]
    # crash 2: set aside, archive not written yet
    (folder / "2024-03.jsonl.compressing").write_bytes(later)
    assert compress_month(tmp_path, "2024-03")
    assert [e.state for e in metrics.read_events(tmp_path)] == ["a", "b"]
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["2024-03.jsonl.gz"]


def test_an_old_run_folder_holding_a_tree_deeper_than_path_max_is_removed(ctx: JobContext) -> None:
    """The sandbox's HOME and TMP live in the run folder, and the agent can leave a directory chain there
    deeper than any recursive walk goes (`Path.rglob`, `shutil.rmtree`: RecursionError): pruning removes
    it like any other old folder, and the rest of housekeeping runs."""
    try:
        run_dir = ctx.paths.agent_runs / "acme__widgets__5__g1" / "attempt-1-claude" / "run-x" / "home"
        run_dir.mkdir(parents=True)
        fd = os.open(run_dir, os.O_RDONLY)
        try:
            for _ in range(3000):
                os.mkdir("d", dir_fd=fd)
                inner = os.open("d", os.O_RDONLY, dir_fd=fd)
                os.close(fd)
                fd = inner
        finally:
            os.close(fd)
        old = f"@{(NOW - timedelta(days=60)).timestamp()}"
        subprocess.run(
            ["find", str(ctx.paths.agent_runs), "-execdir", "touch", "-h", "-d", old, "{}", "+"], check=True
        )
        report = run(ctx)
        assert "acme__widgets__5__g1" in report.removed_runs
        assert not (ctx.paths.agent_runs / "acme__widgets__5__g1").exists()
    finally:  # pytest's clean-up of old temp dirs recurses: leave no deep tree behind
        subprocess.run(["rm", "-rf", "--", str(ctx.paths.agent_runs)], check=False)
