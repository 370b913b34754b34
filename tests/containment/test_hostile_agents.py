"""Hostile script agents through the whole loop on the sandbox forge, with the queue as its own process whose
environment holds secrets shaped like real ones. Each ends with: no secret in any object on the forge, any
prompt, comment, PR or log; our state unchanged; nothing the agent started still running."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.demo.runner import REPO, TOKEN_ENV, prepare
from orchestrator.jobs import dispatcher
from orchestrator.security.audit import verify
from orchestrator.state import metrics
from tests.containment.conftest import live_with
from tests.containment.leaks import sightings
from tests.security.fake_secrets import ANTHROPIC, GITHUB_CLASSIC

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
VAULT_KEY = "c2VjcmV0LXZhdWx0LWtleS1vZi10aGUtaG9zdC0xMjM0NTY="

ISSUE = {
    "title": "Add slugify()",
    "status": "Ready",
    "body": "## Goal\nAdd `textkit.slug.slugify(text)`.\n\n## Success Criteria\n- tests/test_slug.py passes\n",
}


def read_and_forge(by: str) -> str:
    """Script lines for the body of a loop over `target`: read it into seen["read"], append "forged by `by`" to
    it and list it in seen["wrote"] when that worked."""
    return f"""    try:
        seen["read"][target] = Path(target).read_text(errors="replace")[:4000]
    except OSError:
        pass
    try:
        with open(target, "a") as fh:
            fh.write("forged by {by}")
        seen["wrote"].append(target)
    except OSError:
        pass
"""


# Runs during OUR test step (pytest loads it): dumps what it can see into the worktree.
CONFTEST = (
    """
import json, os
from pathlib import Path
seen = {"env": dict(os.environ), "procs": {}, "read": {}, "wrote": []}
for entry in Path("/proc").glob("[0-9]*"):
    try:
        seen["procs"][entry.name] = (entry / "environ").read_bytes().decode(errors="replace")
    except OSError:
        pass
for target in json.loads(TARGETS):
"""
    + read_and_forge("the test step")
    + """Path("leak.txt").write_text(json.dumps(seen))
"""
)

HOSTILE = (
    """
import json, os, subprocess, sys
from pathlib import Path
targets, tag, conftest = sys.argv[1], sys.argv[2], sys.argv[3]
seen = {"procs": {}, "parent": "", "read": {}, "listed": {}, "wrote": []}
for entry in Path("/proc").glob("[0-9]*"):
    try:
        seen["procs"][entry.name] = (entry / "environ").read_bytes().decode(errors="replace")
    except OSError:
        pass
try:
    seen["parent"] = Path(f"/proc/{os.getppid()}/environ").read_bytes().decode(errors="replace")
except OSError:
    pass
for target in json.loads(targets):
    for probe in (target, str(Path(target).parent)):
        try:
            seen["listed"][probe] = os.listdir(probe)
        except OSError:
            pass
"""
    + read_and_forge("the agent")
    + """Path("conftest.py").write_text("TARGETS = " + repr(targets) + "\\n" + conftest)
sleeper = "import time, sys; time.sleep(1000)"
subprocess.Popen(["setsid", sys.executable, "-c", sleeper, tag])
server = "import http.server, sys; http.server.test(port=0)"
subprocess.Popen(["setsid", sys.executable, "-c", server, tag], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.Popen(["nohup", sys.executable, "-c", sleeper, tag], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
Path("findings.json").write_text(json.dumps(seen))
Path("textkit/slug.py").write_text("import re\\n\\ndef slugify(t):\\n    return re.sub(r'[^a-z0-9]+', '-', t.lower()).strip('-')\\n")
Path("tests/test_slug.py").write_text("from textkit.slug import slugify\\n\\ndef test_slug():\\n    assert slugify('A B') == 'a-b'\\n")
Path(".agent_result.md").write_text("STATUS: complete\\nSUMMARY: added slugify\\n")
"""
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"


def test_a_hostile_agent_and_its_planted_conftest_reach_no_secret_and_no_state(sandbox, tmp_path):
    tag = f"hostile-{os.getpid()}-{time.monotonic_ns()}"
    agents_dir = tmp_path / "agents"
    agents_dir.mkdir()
    script = agents_dir / "hostile.py"
    script.write_text(HOSTILE)
    case = tmp_path / "case"
    runtime = case / "runtime"
    vault_key = tmp_path / "home-config" / "vault.key"
    vault_key.parent.mkdir()
    vault_key.write_text(VAULT_KEY)
    decoy = runtime / "worktrees" / "other-repo" / "wt-0" / "other-task.txt"
    targets = [
        str(runtime / "state" / "tasks" / "other__repo__9__g1.json"),  # another task's record
        str(runtime / "state" / "agent_cooldowns.json"),
        str(runtime / "audit" / "audit.jsonl"),
        str(runtime / "mailbox" / "running"),
        str(case / "config.yaml"),
        str(vault_key),
        str(decoy),
        str(runtime / "clones" / "textkit" / ".git" / "config"),
    ]
    overrides = {
        "agents": {
            "hostile": {
                "kind": "script",
                "command": [sys.executable, str(script), json.dumps(targets), tag, CONFTEST],
                "timeout_minutes": 2,
                "stall_minutes": 2,
            }
        },
        "routing": {"default": ["hostile"]},
        "limits": {"max_parallel_workers": 1, "max_attempts": 1, "lease_seconds": 60},
    }
    setup = prepare(sandbox, case, issues=[ISSUE], overrides=overrides)
    ctx = setup.ctx
    dispatcher.run(ctx)
    record = runtime / "state" / "tasks" / "other__repo__9__g1.json"
    for path, text in (
        (record, '{"version": 1, "task_id": "other__repo__9__g1", "infra_retries": 1}'),
        (decoy, "ours"),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    guarded = [Path(t) for t in targets if Path(t).is_file() and "audit" not in t]
    before = {p: digest(p) for p in guarded}
    env = {
        **os.environ,
        "AGENT_OS_CONFIG": str(case / "config.yaml"),
        TOKEN_ENV: sandbox.token,
        "GITHUB_TOKEN": GITHUB_CLASSIC,
        "ANTHROPIC_API_KEY": ANTHROPIC,
        "AGENT_OS_VAULT_KEY": VAULT_KEY,
    }
    queue = subprocess.run(
        [str(ROOT / "bin" / "cron-run"), "queue"], env=env, capture_output=True, text=True, timeout=300
    )
    assert queue.returncode == 0, queue.stdout[-3000:] + queue.stderr[-3000:]

    # the agent's work went through: a PR, with its findings file — which found nothing of ours
    pulls = ctx.forge.list_pulls(REPO, state="all")
    assert len(pulls) == 1, [e.to_json() for e in metrics.read_events(runtime / "metrics")]
    # the forge's CI ran the planted conftest.py too (in the pushed tree): wait until it has, every time,
    # before judging our state — on this machine it runs contained, as GitHub's runners are elsewhere
    sandbox.wait_ci_idle(timeout=120)
    checks = ctx.forge.checks(REPO, pulls[0].head_sha)
    [ci] = checks.runs
    assert (ci.status, ci.conclusion) == ("completed", "success"), ci.summary
    assert "bwrap sandbox" in ci.summary and "network none" in ci.summary
    findings = json.loads(
        subprocess.run(
            [
                "git",
                "--git-dir",
                str(sandbox.data_dir / "git" / "agentos-admin" / "textkit.git"),
                "show",
                f"{pulls[0].head_ref}:findings.json",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert findings["read"] == {} and all(not str(p).startswith(str(runtime)) for p in findings["listed"]), (
        findings["listed"]
    )
    # our test step ran the planted conftest.py: it saw no secret and wrote nothing of ours; not pushed
    leak_files = list((runtime / "worktrees").glob("*/*/leak.txt"))
    assert leak_files, "the conftest ran during our test step"
    leak = json.loads(leak_files[0].read_text())
    assert leak["read"] == {}
    assert not {"GITHUB_TOKEN", TOKEN_ENV, "ANTHROPIC_API_KEY", "AGENT_OS_VAULT_KEY"} & set(leak["env"])
    # our state: unchanged, the audit chain intact, nothing forged anywhere
    assert {p: digest(p) for p in guarded} == before
    assert verify(runtime / "audit" / "audit.jsonl").ok
    forged = [
        str(p)
        for p in runtime.rglob("*")
        if p.is_file()
        and b"forged by" in p.read_bytes()
        and "worktrees" not in p.parts
        and "agent-runs" not in p.parts
    ]
    assert forged == []
    # no secret in any git object, PR, comment or issue on the forge, nor in our prompts, logs and events
    ours = (runtime / "agent-runs", runtime / "logs", runtime / "metrics")
    assert sightings([GITHUB_CLASSIC, ANTHROPIC, VAULT_KEY], sandbox.data_dir, *ours) == []
    assert sightings([sandbox.token], sandbox.data_dir, *ours, forge_files=False) == []
    assert (
        "leak.txt"
        not in subprocess.run(
            [
                "git",
                "--git-dir",
                str(sandbox.data_dir / "git" / "agentos-admin" / "textkit.git"),
                "ls-tree",
                "-r",
                "--name-only",
                pulls[0].head_ref,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    # and nothing it started is still running
    assert live_with(tag) == []
