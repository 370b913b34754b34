"""Several hosts (separate runtime dirs, one forge) share the work: each issue is claimed exactly once, and a
host killed mid-task has its task taken over by another host once its GitHub-visible lease stops beating."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from orchestrator.demo.runner import REPO, TOKEN_ENV, prepare
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.jobs.entry import build_context
from orchestrator.state import metrics
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import TaskState

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

# Writes a file named after the task (so tasks never conflict), then the result contract. With `slow`, a run on
# host A (its worktree is under host-a/) first leaves a marker in its worktree (the sandbox shows the agent
# nothing else of the host) and hangs.
NOTE_AGENT = """
import hashlib, os, sys
from pathlib import Path
prompt = sys.stdin.read()
name = hashlib.sha1(prompt.split("## Prior attempts")[0].encode()).hexdigest()[:10]
marker = Path({marker!r}).name
if marker and {slow} and "/host-a/" in os.getcwd():
    Path(marker).write_text("started")
    import time; time.sleep(120)
Path("notes").mkdir(exist_ok=True)
Path("notes", name + ".md").write_text("done\\n")
Path(".agent_result.md").write_text("STATUS: complete\\nSUMMARY: wrote a note\\n")
"""


def issues(n: int) -> list[dict[str, Any]]:
    return [
        {
            "title": f"Write note {i}",
            "status": "Ready",
            "body": f"## Goal\nWrite note number {i} for the team handbook.\n\n## Success Criteria\n- notes/ has note {i}\n",
        }
        for i in range(n)
    ]


def hosts(setup_ctx: JobContext, tmp_path: Path, names: list[str]) -> list[JobContext]:
    contexts = []
    for name in names:
        config = replace(setup_ctx.config, runtime_dir=tmp_path / name / "runtime")
        ctx = build_context(config, environ=setup_ctx.environ)
        ctx.host = name
        contexts.append(ctx)
    return contexts


def agent_override(tmp_path: Path, marker: str = "", slow: bool = False) -> dict[str, Any]:
    script = tmp_path / "note_agent.py"
    script.write_text(NOTE_AGENT.format(marker=marker, slow=slow))
    return {
        "agents": {
            "note": {
                "kind": "script",
                "command": [sys.executable, str(script)],
                "timeout_minutes": 5,
                "stall_minutes": 5,
            }
        },
        "routing": {"default": ["note"]},
        "limits": {"max_parallel_workers": 2, "lease_seconds": 2},
    }


def pulls(sandbox) -> list[dict]:
    return requests.get(
        f"{sandbox.api_url}/repos/{REPO}/pulls",
        params={"state": "all", "per_page": "100"},
        headers={"Authorization": f"token {sandbox.token}"},
        timeout=10,
    ).json()


def test_three_hosts_claim_each_issue_exactly_once(sandbox, tmp_path):
    setup = prepare(sandbox, tmp_path / "seed", issues=issues(12), overrides=agent_override(tmp_path))
    contexts = hosts(setup.ctx, tmp_path, ["h1", "h2", "h3"])
    barrier = threading.Barrier(len(contexts))
    errors: list[BaseException] = []

    def host_loop(ctx: JobContext) -> None:
        try:
            barrier.wait()
            for _ in range(2):
                dispatcher.run(ctx)
                queue.run(ctx)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=host_loop, args=(c,)) for c in contexts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    claimed = [e.task.issue for c in contexts for e in c.mailbox.list(TaskState.DONE) if e.task]
    assert sorted(claimed) == sorted(setup.seeded.issue_numbers), "each issue worked on by exactly one host"
    heads = [p["head"]["ref"] for p in pulls(sandbox)]
    assert len(heads) == 12 == len(set(heads)), "one PR per issue, no duplicates"
    assert len({c.host for c in contexts for e in c.mailbox.list(TaskState.DONE)}) >= 2, "the work was shared"


def test_a_killed_host_is_taken_over_after_its_lease_expires_and_fenced_when_it_returns(sandbox, tmp_path):
    marker = tmp_path / "first-run"
    setup = prepare(
        sandbox,
        tmp_path / "seed",
        issues=issues(1),
        overrides=agent_override(tmp_path, str(marker), slow=True),
    )
    host_a, host_b = hosts(setup.ctx, tmp_path, ["host-a", "host-b"])
    number = setup.seeded.issue_numbers[0]
    dispatcher.run(host_a)

    config_file = tmp_path / "host-a.yaml"
    data = yaml.safe_load((tmp_path / "seed" / "config.yaml").read_text())
    data["runtime_dir"] = str(host_a.paths.root)
    config_file.write_text(yaml.safe_dump(data))
    env = {
        **os.environ,
        "AGENT_OS_CONFIG": str(config_file),
        TOKEN_ENV: sandbox.token,
        "AGENT_OS_HOST": "host-a",
    }
    job = subprocess.Popen(
        [str(ROOT / "bin" / "cron-run"), "queue"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    started = lambda: list(host_a.paths.worktrees.glob(f"*/*/{marker.name}"))  # noqa: E731
    while not started() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert started(), "host A's agent never started"
    time.sleep(1.5)  # at least one heartbeat reaches the lease comment
    job.send_signal(signal.SIGKILL)  # host A dies mid-task
    job.wait(timeout=10)

    assert dispatcher.run(host_b).dispatched == [], "the lease is still fresh: no takeover yet"
    time.sleep(5)  # 2 × lease_seconds without a heartbeat
    report = dispatcher.run(host_b)
    (taken,) = report.dispatched
    assert taken.endswith("__g2")
    events = [json.loads(e.to_json()) for e in metrics.read_events(host_b.paths.metrics)]
    assert any(e["state"] == "taken_over" and "host-a" in e["reason"] for e in events)
    assert queue.run(host_b).opened, "host B finishes the task"

    # host A comes back: its recovery requeues the task, and the fence stops it before any work or PR
    time.sleep(2.5)
    back = queue.run(host_a)
    assert back.recovered and not back.opened
    later = datetime.now(UTC) + timedelta(hours=1)  # past the infrastructure-retry backoff
    host_a.clock = lambda: later
    assert not queue.run(host_a).opened
    (fenced,) = host_a.mailbox.list(TaskState.FAILED)
    assert "superseded" in fenced.log
    sandbox.wait_ci_idle(timeout=120)
    pr_monitor.run(host_b)
    assert len(pulls(sandbox)) == 1
    assert host_b.forge.get_issue(REPO, number).state == "closed"
