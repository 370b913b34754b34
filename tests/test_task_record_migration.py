"""Migration from today's layout (a task's state spread over the mailbox's `.lease` sidecars, `leases.json`,
`task_waits.json`, `infra_backoff.json`, `escalations_pending.json`, `pr_monitor.json` and infra-retry lines in
the notes) into one record per task: the records, the renamed files, idempotence, a kill in the middle, and the
queue / status / lease renewal carrying on from the records."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import shutil
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from orchestrator.config import parse_config
from orchestrator.control.doctor import run_checks
from orchestrator.executors import remote_lease
from orchestrator.executors.escalation import repair_pending
from orchestrator.github.errors import GitHubError
from orchestrator.state import task_record_migration
from orchestrator.state.mailbox import Lease, Mailbox
from orchestrator.state.runtime import JobContext, RuntimePaths
from orchestrator.state.store import atomic_write_text, update_json
from orchestrator.state.task_records import TaskRecords
from orchestrator.state.task_waits import describe, hold_back
from orchestrator.values.models import Task, TaskState
from orchestrator.values.task_record import PendingEscalation, RemoteLease, Wait, pr_record_key
from orchestrator.views.snapshot import collect

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
REPO = "acme/widgets"


def _task(issue: int, notes: str = "") -> Task:
    return Task(REPO, issue, 1, f"agent/{issue}-x", "t", "g", "s", created_at=NOW, notes=notes)


RUNNING, WAITING, ESCALATED, FINISHED = (
    _task(1),
    _task(2, "infra-retry 1: x\ninfra-retry 2: lease expired"),
    _task(3),
    _task(4),
)


def build_todays_layout(runtime: Path, pending: int = 0) -> None:
    """The files exactly as the code before task records wrote them (same shapes, same writers)."""
    mailbox = Mailbox(runtime / "mailbox-setup")  # another name: no migration while setting up
    for task in (RUNNING, WAITING, ESCALATED, FINISHED):
        mailbox.enqueue(task)
    for task in (RUNNING, ESCALATED, FINISHED):
        mailbox.claim(task.id, Lease("host-a", 4242, NOW))
    mailbox.finish(ESCALATED.id, TaskState.ESCALATED, "chain exhausted")
    mailbox.finish(FINISHED.id, TaskState.DONE, "merged")
    shutil.rmtree(mailbox.root / "records")
    (mailbox.root / "index.sqlite3").unlink(missing_ok=True)
    mailbox.root.rename(runtime / "mailbox")
    state = runtime / "state"
    # Mailbox.claim: atomic_write_text(running/<id>.lease, lease_json(lease))
    sidecar = {"host": "host-a", "pid": 4242, "started": NOW.isoformat()}
    atomic_write_text(
        runtime / "mailbox" / "running" / f"{RUNNING.id}.lease", json.dumps(sidecar, sort_keys=True) + "\n"
    )

    def put(key: str, value: object):
        def change(data: dict) -> dict:
            data[key] = value
            return data

        return change

    # remote_lease.post_lease
    for task in (RUNNING, WAITING, FINISHED):
        update_json(
            state / "leases.json",
            put(
                task.id,
                {
                    "repo": REPO,
                    "comment": 100 + task.issue,
                    "body": "Picked up",
                    "generation": 1,
                    "renewed": NOW.isoformat(),
                },
            ),
        )
    # task_waits.set_wait (_encode)
    wait: dict[str, object] = {
        "reason": "infrastructure retry 2: lease expired",
        "until": (NOW + timedelta(hours=1)).isoformat(),
        "base_sha": None,
        "issues": [],
        "give_up_at": None,
    }
    update_json(state / "task_waits.json", put(WAITING.id, wait))
    update_json(
        state / "task_waits.json", put(FINISHED.id, wait)
    )  # finished since: the old sweep would drop it
    bulk = {
        f"acme__widgets__{1000 + n}__g1": {"repo": REPO, "reason": f"escalated {n}"} for n in range(pending)
    }
    update_json(state / "escalations_pending.json", lambda data: {**data, **bulk})  # bulk, for the kill test
    # the queue's infra backoff before task_waits: task id → ISO time
    update_json(state / "infra_backoff.json", put(WAITING.id, (NOW + timedelta(minutes=5)).isoformat()))
    # escalation._mark
    update_json(
        state / "escalations_pending.json", put(ESCALATED.id, {"repo": REPO, "reason": "chain exhausted"})
    )
    # pr_records.PRRecords.save (records as head_seen_at / ready_since / note_blocker / store_verdict / made_claim set them)
    pr = {
        "head": "f" * 40,
        "head_seen": NOW.isoformat(),
        "ready": {"sha": "f" * 40, "since": NOW.isoformat()},
        "blocker": "checks pending",
        "since": NOW.isoformat(),
        "verdict": {"key": "k" * 64, "fixable": [], "needs_human": [], "blocked": []},
        "asked": "k" * 64,
        "claims": {"agent-os/claims/fix/12/1": WAITING.id},
        "slot": "agent-os/slots/main/abc",
        "slot_since": NOW.isoformat(),
    }
    update_json(state / "pr_monitor.json", put(f"{REPO}#12", pr))
    update_json(state / "pr_monitor.json", put(f"{REPO}#oops", {"head": 1}))  # an entry that does not decode


def snapshot(records: TaskRecords) -> dict[str, str]:
    return {task_id: records.path(task_id).read_text() for task_id in sorted(records.ids())}


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    root = tmp_path / "runtime"
    build_todays_layout(root)
    return root


def test_the_old_files_fold_into_one_record_per_task(runtime: Path) -> None:
    mailbox = Mailbox(runtime / "mailbox")  # the first use migrates
    records = mailbox.records
    running = records.load(RUNNING.id)
    assert running.lease == Lease("host-a", 4242, NOW)
    assert running.remote_lease == RemoteLease(REPO, 101, "Picked up", 1, NOW)
    waiting = records.load(WAITING.id)
    assert waiting.wait == Wait("infrastructure retry 2: lease expired", until=NOW + timedelta(hours=1))
    assert waiting.infra_retries == 2, "read from the notes once"
    assert records.load(ESCALATED.id).escalation == PendingEscalation(REPO, "chain exhausted")
    assert FINISHED.id not in records.ids(), "a finished task's live state is not carried over"
    pr = records.load(pr_record_key(REPO, 12)).pr
    assert pr is not None and pr.number == 12 and pr.head_seen == NOW and pr.ready_since == NOW
    assert (
        pr.claims == {"agent-os/claims/fix/12/1": WAITING.id} and pr.verdict and pr.verdict["key"] == "k" * 64
    )
    state = runtime / "state"
    for name in task_record_migration.LEGACY_FILES:
        assert not (state / name).exists() and (state / f"{name}.migrated").exists(), name
    assert (runtime / "mailbox" / "running" / f"{RUNNING.id}.lease.migrated").exists()
    assert f"{REPO}#oops" in json.loads((state / "pr_monitor.json.migrated").read_text()), "never lost"
    assert not task_record_migration.pending(state, mailbox.root, records)
    before = snapshot(records)
    Mailbox(runtime / "mailbox")
    assert snapshot(records) == before, "a second run changes nothing"


def test_a_rerun_after_a_crash_at_any_step_gives_the_same_records(runtime: Path, tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    shutil.copytree(runtime, pristine)
    expected = snapshot(Mailbox(runtime / "mailbox").records)
    crashed = tmp_path / "crashed"
    shutil.copytree(pristine, crashed)
    records = TaskRecords(crashed / "state" / "tasks")
    task_record_migration.migrate(crashed / "state", crashed / "mailbox", records)
    for name in task_record_migration.LEGACY_FILES:  # killed after the records, before the renames
        os.replace(crashed / "state" / f"{name}.migrated", crashed / "state" / name)
    (records.directory / task_record_migration.MARKER).unlink()
    records.path(WAITING.id).unlink()  # … and before one record was written
    assert snapshot(Mailbox(crashed / "mailbox").records) == expected


def _migrate(runtime: str) -> None:
    Mailbox(Path(runtime) / "mailbox")


def test_a_kill_in_the_middle_of_a_migration_and_a_rerun(tmp_path: Path) -> None:
    big = tmp_path / "big"
    build_todays_layout(big, pending=120)
    clean = tmp_path / "clean"
    shutil.copytree(big, clean)
    expected = snapshot(Mailbox(clean / "mailbox").records)
    worker = multiprocessing.get_context("fork").Process(target=_migrate, args=(str(big),))
    worker.start()
    deadline = time.monotonic() + 20
    tasks = big / "state" / "tasks"
    while time.monotonic() < deadline and len(list(tasks.glob("*.json"))) < 30:
        time.sleep(0.005)
    os.kill(worker.pid or 0, signal.SIGKILL)
    worker.join(10)
    assert (big / "state" / "escalations_pending.json").exists(), "killed in the middle: not renamed yet"
    assert snapshot(Mailbox(big / "mailbox").records) == expected


class LeaseComments:
    """The part of the forge lease renewal and escalation use: it records the edits; GitHub is down for the
    rest (so an escalation stays pending)."""

    def __init__(self) -> None:
        self.edits: list[tuple[str, int]] = []
        self.issues_read: list[tuple[str, int]] = []

    def edit_comment(self, repo: str, comment_id: int, body: str) -> None:
        self.edits.append((repo, comment_id))

    def get_issue(self, repo: str, number: int) -> None:
        self.issues_read.append((repo, number))
        raise GitHubError("503 Service Unavailable", status=503)


def test_the_queue_status_lease_renewal_and_escalation_repair_carry_on_from_the_records(
    runtime: Path,
) -> None:
    config = parse_config(
        {
            "github": {"api_url": "https://api.github.com"},
            "repos": [{"owner": "acme", "name": "widgets"}],
            "runtime_dir": str(runtime),
            "limits": {"lease_seconds": 600},
        }
    )
    paths = RuntimePaths(config.runtime_dir)
    forge = LeaseComments()
    ctx = JobContext(config, paths, forge=forge, mailbox=Mailbox(paths.mailbox), clock=lambda: NOW)  # type: ignore[arg-type]
    held = hold_back(ctx, ctx.mailbox.next_tasks(10))
    assert held == {WAITING.id: "infrastructure retry 2: lease expired"}, "the migrated wait holds it back"
    assert ctx.mailbox.infra_retries(WAITING.id) == 2
    line = describe(paths.state, NOW)[WAITING.id]
    assert line.startswith("infrastructure retry 2: lease expired; until 2024-05-01 13:00")
    [expired] = ctx.mailbox.expired_leases(
        datetime.now(UTC) + timedelta(days=1), 600, lambda host, pid: False
    )
    assert (expired.task_id, expired.lease) == (RUNNING.id, Lease("host-a", 4242, NOW))
    later = NOW + timedelta(minutes=5)
    ctx.clock = lambda: later
    remote_lease.renew_waiting(ctx, [WAITING.id])
    assert forge.edits == [(REPO, 102)], "the migrated lease comment is renewed"
    renewed = ctx.mailbox.records.load(WAITING.id).remote_lease
    assert renewed is not None and renewed.renewed == later
    assert repair_pending(ctx) == [ESCALATED.id] and forge.issues_read == [(REPO, ESCALATED.issue)], (
        "the repair tried it"
    )
    assert ctx.mailbox.records.load(ESCALATED.id).escalation == PendingEscalation(REPO, "chain exhausted")
    ctx.clock = lambda: NOW + timedelta(hours=2)
    assert hold_back(ctx, ctx.mailbox.next_tasks(10)) == {}
    assert ctx.mailbox.records.load(WAITING.id).wait is None, "a wait that is over is forgotten"


def test_status_shows_waits_from_the_records_and_names_an_unreadable_one(runtime: Path) -> None:
    paths = RuntimePaths(runtime)
    records = Mailbox(paths.mailbox).records
    records.path(ESCALATED.id).write_text('{"version": 7, "task_id": "x"}')
    waits = collect(None, paths, NOW).waits
    assert f"{WAITING.id}: infrastructure retry 2: lease expired; until 2024-05-01 13:00 UTC" in waits
    [problem] = [line for line in waits if ESCALATED.id in line]
    assert str(records.path(ESCALATED.id)) in problem and "version: 7" in problem


def test_doctor_names_an_unreadable_task_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_OS_CRONTAB", str(tmp_path / "crontab"))
    data = {
        "github": {"api_url": "http://127.0.0.1:9/api/v3", "graphql_url": "http://127.0.0.1:9/api/graphql"},
        "repos": [{"owner": "acme", "name": "widgets"}],
        "runtime_dir": str(tmp_path / "runtime"),
    }
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(data))
    env = {"GITHUB_TOKEN": "x" * 20}
    assert {c.name: c for c in run_checks(str(cfg), env, run_cron_lines=False)}["task records"].ok
    records = TaskRecords(tmp_path / "runtime" / "state" / "tasks")
    records.update(WAITING.id, lambda r: dataclasses.replace(r, infra_retries=1))
    records.path(WAITING.id).write_text("{")
    check = {c.name: c for c in run_checks(str(cfg), env, run_cron_lines=False)}["task records"]
    assert not check.ok and str(records.path(WAITING.id)) in check.detail
