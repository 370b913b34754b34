"""The mailbox index and archive: one lookup by issue / branch that never parses the finished history, kept
true when folders change outside it, rebuilt when lost, and generations that survive archiving."""

from __future__ import annotations

import multiprocessing
import os
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.state.mailbox import Lease, Mailbox
from orchestrator.state.task_archive import archive_finished
from orchestrator.state.task_file import render_task
from orchestrator.values.models import Task, TaskState
from tests import task_factory

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
REPO = "acme/widgets"


def make_task(issue: int = 7, generation: int = 1, repo: str = REPO, **changes: object) -> Task:
    return task_factory.make_task(issue, generation, repo=repo, created_at=NOW, **changes)


@pytest.fixture
def mailbox(tmp_path: Path) -> Mailbox:
    return Mailbox(tmp_path / "mailbox", clock=lambda: NOW)


def finished(mailbox: Mailbox, task: Task, state: TaskState = TaskState.DONE) -> Path:
    mailbox.enqueue(task)
    mailbox.claim(task.id, Lease.for_this_process(NOW))
    return mailbox.finish(task.id, state, "finished")


def age(path: Path, days: float) -> None:
    old = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    os.utime(path, (old, old))


# --------------------------------------------------------------------------------------------- lookups


def test_find_by_issue_and_branch_newest_generation_first(mailbox: Mailbox) -> None:
    finished(mailbox, make_task(7, 1), TaskState.ESCALATED)
    finished(mailbox, make_task(7, 2))
    mailbox.enqueue(make_task(7, 3))
    mailbox.enqueue(make_task(8, 1))
    mailbox.enqueue(make_task(7, 1, repo="acme/other"))

    found = mailbox.find(REPO, issue=7)
    assert [(e.task.generation, e.state) for e in found if e.task] == [
        (3, TaskState.INBOX),
        (2, TaskState.DONE),
        (1, TaskState.ESCALATED),
    ]
    by_branch = mailbox.find(REPO, branch="agent/7-fix-it-g2")
    assert [e.id for e in by_branch] == [make_task(7, 2).id]
    assert mailbox.task_for_branch(REPO, "agent/7-fix-it-g2") == make_task(7, 2)
    assert mailbox.task_for_branch(REPO, "agent/99-nothing") is None
    assert mailbox.last_generations(REPO, [7, 8, 9]) == {7: 3, 8: 1}


def test_a_lookup_parses_only_the_files_it_returns(mailbox: Mailbox) -> None:
    for issue in range(1, 30):
        finished(mailbox, make_task(issue))
    mailbox.find(REPO, issue=1)  # the index is warm
    other = mailbox.path(TaskState.DONE, make_task(5).id)
    other.write_text("not a task file at all\n")  # the folder's mtime does not change: no re-listing

    assert [e.id for e in mailbox.find(REPO, issue=1)] == [make_task(1).id]
    assert other.exists(), "a finished task nobody asked for was read (and quarantined)"
    assert mailbox.find(REPO, issue=5) == [], "the one asked for is read, found malformed and quarantined"
    assert not other.exists()
    (quarantined,) = mailbox.list(TaskState.FAILED)
    assert "malformed task file" in quarantined.path.read_text()


def test_an_existing_mailbox_is_indexed_on_first_use(tmp_path: Path) -> None:
    root = tmp_path / "mailbox"
    for state in TaskState:
        (root / state.value).mkdir(parents=True)
    for issue, state in [(1, TaskState.DONE), (2, TaskState.FAILED), (3, TaskState.RUNNING)]:
        (root / state.value / f"{make_task(issue).id}.md").write_text(render_task(make_task(issue)))
    (root / "done" / f"{make_task(1, 4).id}.md").write_text(render_task(make_task(1, 4)))

    mailbox = Mailbox(root)
    assert not (root / "index.sqlite3").exists(), "opening the mailbox does not build the index"
    assert mailbox.last_generations(REPO, [1, 2, 3]) == {1: 4, 2: 1, 3: 1}
    assert [e.state for e in mailbox.find(REPO, issue=3)] == [TaskState.RUNNING]
    assert mailbox.count(TaskState.DONE) == 2


def test_changes_made_outside_the_mailbox_are_seen(mailbox: Mailbox) -> None:
    path = finished(mailbox, make_task(4))
    assert [e.state for e in mailbox.find(REPO, issue=4)] == [TaskState.DONE]
    # a human moves it back by hand, right after the mailbox's own change (same coarse timestamp)
    os.rename(path, mailbox.path(TaskState.INBOX, make_task(4).id))
    assert [e.state for e in mailbox.find(REPO, issue=4)] == [TaskState.INBOX]
    # and drops a task in by hand, and deletes another
    (mailbox.root / "blocked" / f"{make_task(6).id}.md").write_text(render_task(make_task(6)))
    assert [e.state for e in mailbox.find(REPO, issue=6)] == [TaskState.BLOCKED]
    mailbox.path(TaskState.INBOX, make_task(4).id).unlink()
    assert mailbox.find(REPO, issue=4) == []
    assert mailbox.last_generations(REPO, [4]) == {4: 1}, "a vanished task's generation is not reused"


def test_malformed_and_misnamed_files_found_by_the_index_are_quarantined(mailbox: Mailbox) -> None:
    finished(mailbox, make_task(1))
    done = mailbox.root / "done"
    (done / f"{make_task(2).id}.md").write_text("---\nid: [unclosed\n---\n")
    (done / f"{make_task(3).id}.md").write_text(render_task(make_task(4)))  # the file of another task
    (done / "notes.md").write_text("a human's notes")

    assert [e.id for e in mailbox.find(REPO, issue=1)] == [make_task(1).id]
    failed = {p.name: p.read_text() for p in (mailbox.root / "failed").iterdir()}
    assert set(failed) == {f"{make_task(2).id}.md", f"{make_task(3).id}.md", "notes.md"}
    assert "front matter is not valid YAML" in failed[f"{make_task(2).id}.md"]
    assert f"expected {make_task(4).id}.md" in failed[f"{make_task(3).id}.md"]
    assert os.listdir(done) == [f"{make_task(1).id}.md"]


def test_a_corrupt_or_deleted_index_is_rebuilt_from_the_folders(mailbox: Mailbox) -> None:
    finished(mailbox, make_task(1))
    mailbox.enqueue(make_task(2))
    mailbox.index.close()
    (mailbox.root / "index.sqlite3").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{mailbox.root / 'index.sqlite3'}{suffix}").unlink(missing_ok=True)

    fresh = Mailbox(mailbox.root)
    assert [e.state for e in fresh.find(REPO, issue=1)] == [TaskState.DONE]
    assert [e.state for e in fresh.find(REPO, issue=2)] == [TaskState.INBOX]
    assert (mailbox.root / "index.sqlite3.corrupt").exists()


def _finish_many(root: str, issues: list[int]) -> None:
    box = Mailbox(Path(root))
    for issue in issues:
        task = make_task(issue)
        box.enqueue(task)
        box.claim(task.id, Lease.for_this_process(NOW))
        box.finish(task.id, TaskState.DONE if issue % 2 else TaskState.FAILED)


def test_concurrent_writers_leave_the_index_equal_to_the_folders(mailbox: Mailbox) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_finish_many, args=(str(mailbox.root), list(range(k, 40, 3)))) for k in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    for issue in range(40):
        (entry,) = mailbox.find(REPO, issue=issue)
        assert entry.state == (TaskState.DONE if issue % 2 else TaskState.FAILED)
    assert mailbox.count(TaskState.DONE) == 20 and mailbox.count(TaskState.INBOX) == 0


# --------------------------------------------------------------------------------------------- archive


def test_finished_tasks_past_the_retention_are_archived_by_month_and_restored_on_demand(
    mailbox: Mailbox, tmp_path: Path
) -> None:
    old = finished(mailbox, make_task(1))
    old_failed = finished(mailbox, make_task(2), TaskState.FAILED)
    recent = finished(mailbox, make_task(3))
    runs = tmp_path / "agent-runs"
    (runs / make_task(1).id / "attempt-1-claude").mkdir(parents=True)
    (runs / make_task(1).id / "attempt-1-claude" / "stdout.log").write_text("x" * 10 + "the end")
    age(old, 40)
    age(old_failed, 35)
    age(recent, 3)

    report = archive_finished(mailbox, datetime.now(UTC), timedelta(days=30), runs)

    assert sorted(report.archived) == sorted([make_task(1).id, make_task(2).id])
    assert not old.exists() and not old_failed.exists() and recent.exists()
    assert not (runs / make_task(1).id).exists()
    (archive,) = report.archives
    with zipfile.ZipFile(mailbox.root / "archive" / archive) as zf:
        names = set(zf.namelist())
        assert f"done/{make_task(1).id}.md" in names
        assert zf.read(f"runs/{make_task(1).id}/attempt-1-claude/stdout.log").endswith(b"the end")
    month = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m")
    assert archive.startswith(month) or len(report.archives) == 1
    assert mailbox.count(TaskState.DONE) == 1
    assert mailbox.find(REPO, issue=1) == [], "archived tasks are not returned unless asked for"
    assert mailbox.last_generations(REPO, [1, 2]) == {1: 1, 2: 1}

    # a PR of an archived task needs it again: the lookup by branch restores it
    assert mailbox.task_for_branch(REPO, make_task(1).branch) == make_task(1)
    assert mailbox.locate(make_task(1).id) == (TaskState.DONE, mailbox.path(TaskState.DONE, make_task(1).id))
    assert archive_finished(mailbox, datetime.now(UTC), timedelta(days=30)).archived == ()


def test_a_rebuilt_index_remembers_archived_generations(mailbox: Mailbox) -> None:
    age(finished(mailbox, make_task(5, 3)), 60)
    archive_finished(mailbox, datetime.now(UTC), timedelta(days=30))
    mailbox.index.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{mailbox.root / 'index.sqlite3'}{suffix}").unlink(missing_ok=True)

    fresh = Mailbox(mailbox.root)
    assert fresh.last_generations(REPO, [5]) == {5: 3}
    assert fresh.task_for_branch(REPO, make_task(5, 3).branch) == make_task(5, 3)


def test_a_task_changed_while_being_archived_stays(mailbox: Mailbox) -> None:
    path = finished(mailbox, make_task(1))
    age(path, 40)
    mailbox.refresh_index()
    # rewritten between the read and the removal: simulated by a newer mtime seen at removal time
    os.utime(path, (datetime.now(UTC).timestamp(),) * 2)
    report = archive_finished(mailbox, datetime.now(UTC), timedelta(days=30))
    assert report.archived == () and path.exists()
