"""The scripted-agent harness of the end-to-end tests: a demo setup on the sandbox forge whose agents are small
Python scripts (run in the worktree, the prompt on stdin), and what the tests read back (events, every PR) or
start (a cron job as its own process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from orchestrator.demo.runner import REPO, TOKEN_ENV, prepare
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.state import metrics

ROOT = Path(__file__).resolve().parents[2]

SLUG_ISSUE = {
    "title": "Add slugify()",
    "status": "Ready",
    "body": "## Goal\nAdd `textkit.slug.slugify(text)` for URL slugs.\n\n## Success Criteria\n- tests in tests/test_slug.py pass\n",
}

# A scripted agent: a Python file run in the worktree with the prompt on stdin.
AGENT_PRELUDE = """
import os, subprocess, sys
from pathlib import Path
prompt = sys.stdin.read()
def done(status="complete", summary="did it"):
    Path(".agent_result.md").write_text(f"STATUS: {status}\\nSUMMARY: {summary}\\n")
def slugify_files():
    Path("textkit/slug.py").write_text("import re\\n\\ndef slugify(t):\\n    return re.sub(r'[^a-z0-9]+', '-', t.lower()).strip('-')\\n")
    Path("tests/test_slug.py").write_text("from textkit.slug import slugify\\n\\ndef test_slug():\\n    assert slugify('A B') == 'a-b'\\n")
"""


def note_issues(n: int) -> list[dict[str, Any]]:
    """`n` Ready issues "Write note i" that never conflict when each agent writes a file of its own."""
    return [
        {
            "title": f"Write note {i}",
            "status": "Ready",
            "body": f"## Goal\nWrite note number {i} for the team handbook.\n\n## Success Criteria\n- notes/ has note {i}\n",
        }
        for i in range(n)
    ]


# CI that fails while the tree holds a file BREAKS_CI (set it with `sandbox.set_ci_command(REPO, CI_BREAKER)`).
CI_BREAKER = f"{sys.executable} -m pytest -q && test ! -f BREAKS_CI"
# An agent's body: its task adds slugify() and breaks CI; its fix-CI follow-up ("Make CI pass") repairs it.
BREAKS_CI_THEN_FIXES = """
if "Make CI pass" in prompt:
    Path("BREAKS_CI").unlink(); done(summary="removed the CI breaker")
else:
    slugify_files(); Path("BREAKS_CI").write_text("x"); done()
"""


def python_agent(args: Sequence[str], timeout_minutes: float = 1.0) -> dict[str, Any]:
    """The config of an agent that is `python ARGS` (a script file, or `-c CODE`), stopped after
    `timeout_minutes` (or as long silent)."""
    return {
        "kind": "script",
        "command": [sys.executable, *args],
        "timeout_minutes": timeout_minutes,
        "stall_minutes": timeout_minutes,
    }


def script_agent(script: Path, timeout_minutes: float = 1.0) -> dict[str, Any]:
    """`python_agent` running the Python file `script`."""
    return python_agent([str(script)], timeout_minutes)


def agent(tmp_path: Path, name: str, body: str, timeout_minutes: float = 1.0) -> dict[str, Any]:
    """`script_agent` of `tmp_path/<name>.py`: AGENT_PRELUDE, then `body` (dedented)."""
    script = tmp_path / f"{name}.py"
    script.write_text(AGENT_PRELUDE + textwrap.dedent(body))
    return script_agent(script, timeout_minutes)


def setup(
    sandbox, tmp_path: Path, agents: dict[str, Any], chain: list[str], issues: list[dict], **limits: Any
):
    overrides = {
        "agents": agents,
        "routing": {"default": chain},
        "limits": {"max_parallel_workers": 1, "max_attempts": 3, "lease_seconds": 60, **limits},
    }
    return prepare(sandbox, tmp_path / "case", issues=issues, overrides=overrides)


def one_agent(
    sandbox,
    tmp_path: Path,
    body: str,
    *,
    name: str = "worker",
    timeout_minutes: float = 1.0,
    issues: Sequence[dict] = (SLUG_ISSUE,),
    **limits: Any,
):
    """`setup` with one scripted agent, `name` running `body`, as the whole chain."""
    agents = {name: agent(tmp_path, name, body, timeout_minutes)}
    return setup(sandbox, tmp_path, agents, [name], list(issues), **limits)


def events(ctx) -> list[dict]:
    return [json.loads(e.to_json()) for e in metrics.read_events(ctx.paths.metrics)]


def forge_api(
    sandbox,
    method: str,
    path: str,
    body: Any = None,
    *,
    ok: tuple[int, ...] = (200, 201, 204),
    params: Mapping[str, str] | None = None,
) -> Any:
    """A REST call to the sandbox forge as its admin (what a person does, not what we do): `path` below the API
    URL, `body` as JSON, `params` as the query. Fails the test unless the status is in `ok`; the JSON answer
    (None when empty)."""
    response = requests.request(
        method,
        f"{sandbox.api_url}{path}",
        json=body,
        params=params,
        headers={"Authorization": f"token {sandbox.token}"},
        timeout=10,
    )
    assert response.status_code in ok, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def all_pulls(sandbox) -> list[dict]:
    return list(forge_api(sandbox, "GET", f"/repos/{REPO}/pulls", params={"state": "all", "per_page": "100"}))


def the_pull(sandbox) -> dict:
    """The one PR on the forge (fails when there is not exactly one)."""
    (pull,) = all_pulls(sandbox)
    return pull


def later(ctx, **delta: float) -> None:
    """The job's clock stands at now + `delta` (`timedelta`'s keywords) from here on."""
    moment = datetime.now(UTC) + timedelta(**delta)
    ctx.clock = lambda: moment


def work(ctx, sandbox) -> None:
    """Dispatch and run the agent, then let CI finish."""
    dispatcher.run(ctx)
    queue.run(ctx)
    sandbox.wait_ci_idle(timeout=120)


def monitor_until_closed(ctx, sandbox, number: int, ticks: int = 4) -> bool:
    """Up to `ticks` rounds of CI then pr_monitor, until issue `number` is closed: whether it is."""
    for _ in range(ticks):
        sandbox.wait_ci_idle(timeout=120)
        pr_monitor.run(ctx)
        if ctx.forge.get_issue(REPO, number).state == "closed":
            return True
    return False


def run_until_settled(ctx, sandbox, numbers: Sequence[int], ticks: int = 10) -> None:
    """Up to `ticks` rounds of dispatcher, queue, CI and pr_monitor, until every issue of `numbers` is closed or
    blocked."""
    for _ in range(ticks):
        work(ctx, sandbox)
        pr_monitor.run(ctx)
        states = [ctx.forge.get_issue(REPO, n) for n in numbers]
        if all(i.state == "closed" or "blocked" in i.labels for i in states):
            return


def start_cron_job(job: str, config: Path, token: str, **env_vars: str) -> subprocess.Popen[bytes]:
    """`bin/cron-run job` as its own process (as cron starts it) with `config`, the forge's `token` and
    `env_vars`."""
    env = {**os.environ, "AGENT_OS_CONFIG": str(config), TOKEN_ENV: token, **env_vars}
    command = [str(ROOT / "bin" / "cron-run"), job]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
