"""Several hosts (separate runtime dirs, one forge) share the work: each issue is claimed exactly once, and a
host killed mid-task has its task taken over by another host once its GitHub-visible lease stops beating."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.demo.runner import REPO, prepare
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import TaskState
from tests.e2e.hosts import at_once, hosts
from tests.e2e.scripted import all_pulls, events, later, note_issues, script_agent, start_cron_job
from tests.polling import wait_until

pytestmark = pytest.mark.slow

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


def agent_override(tmp_path: Path, marker: str = "", slow: bool = False) -> dict[str, Any]:
    script = tmp_path / "note_agent.py"
    script.write_text(NOTE_AGENT.format(marker=marker, slow=slow))
    return {
        "agents": {"note": script_agent(script, timeout_minutes=5)},
        "routing": {"default": ["note"]},
        "limits": {"max_parallel_workers": 2, "lease_seconds": 2},
    }


def test_three_hosts_claim_each_issue_exactly_once(sandbox, tmp_path):
    setup = prepare(sandbox, tmp_path / "seed", issues=note_issues(12), overrides=agent_override(tmp_path))
    contexts = hosts(setup.ctx, tmp_path, ["h1", "h2", "h3"])

    def host_loop(ctx: JobContext) -> None:
        for _ in range(2):
            dispatcher.run(ctx)
            queue.run(ctx)

    at_once(contexts, host_loop, timeout=600)
    claimed = [e.task.issue for c in contexts for e in c.mailbox.list(TaskState.DONE) if e.task]
    assert sorted(claimed) == sorted(setup.seeded.issue_numbers), "each issue worked on by exactly one host"
    heads = [p["head"]["ref"] for p in all_pulls(sandbox)]
    assert len(heads) == 12 == len(set(heads)), "one PR per issue, no duplicates"
    assert len({c.host for c in contexts for e in c.mailbox.list(TaskState.DONE)}) >= 2, "the work was shared"


def test_a_killed_host_is_taken_over_after_its_lease_expires_and_fenced_when_it_returns(sandbox, tmp_path):
    marker = tmp_path / "first-run"
    setup = prepare(
        sandbox,
        tmp_path / "seed",
        issues=note_issues(1),
        overrides=agent_override(tmp_path, str(marker), slow=True),
    )
    host_a, host_b = hosts(setup.ctx, tmp_path, ["host-a", "host-b"])
    number = setup.seeded.issue_numbers[0]
    dispatcher.run(host_a)

    config_file = tmp_path / "host-a.yaml"
    data = yaml.safe_load((tmp_path / "seed" / "config.yaml").read_text())
    data["runtime_dir"] = str(host_a.paths.root)
    config_file.write_text(yaml.safe_dump(data))
    job = start_cron_job("queue", config_file, sandbox.token, AGENT_OS_HOST="host-a")
    started = wait_until(lambda: list(host_a.paths.worktrees.glob(f"*/*/{marker.name}")), 60)
    assert started, "host A's agent never started"
    time.sleep(1.5)  # at least one heartbeat reaches the lease comment
    job.send_signal(signal.SIGKILL)  # host A dies mid-task
    job.wait(timeout=10)

    assert dispatcher.run(host_b).dispatched == [], "the lease is still fresh: no takeover yet"
    time.sleep(5)  # 2 × lease_seconds without a heartbeat
    report = dispatcher.run(host_b)
    (taken,) = report.dispatched
    assert taken.endswith("__g2")
    assert any(e["state"] == "taken_over" and "host-a" in e["reason"] for e in events(host_b))
    assert queue.run(host_b).opened, "host B finishes the task"

    # host A comes back: its recovery requeues the task, and the fence stops it before any work or PR
    time.sleep(2.5)
    back = queue.run(host_a)
    assert back.recovered and not back.opened
    later(host_a, hours=1)  # past the infrastructure-retry backoff
    assert not queue.run(host_a).opened
    (fenced,) = host_a.mailbox.list(TaskState.FAILED)
    assert "superseded" in fenced.log
    sandbox.wait_ci_idle(timeout=120)
    pr_monitor.run(host_b)
    assert len(all_pulls(sandbox)) == 1
    assert host_b.forge.get_issue(REPO, number).state == "closed"
