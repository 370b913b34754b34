"""The scripted-agent harness of the end-to-end tests: a demo setup on the sandbox forge whose agents are small
Python scripts (run in the worktree, the prompt on stdin), and what the tests read back (events, every PR) or
start (a cron job as its own process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from orchestrator.demo.runner import REPO, TOKEN_ENV, prepare
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


def script_agent(script: Path, timeout_minutes: float = 1.0) -> dict[str, Any]:
    """The config of an agent that is the Python file `script`, stopped after `timeout_minutes` (or as long
    silent)."""
    return {
        "kind": "script",
        "command": [sys.executable, str(script)],
        "timeout_minutes": timeout_minutes,
        "stall_minutes": timeout_minutes,
    }


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


def all_pulls(sandbox) -> list[dict]:
    return requests.get(
        f"{sandbox.api_url}/repos/{REPO}/pulls",
        params={"state": "all", "per_page": "100"},
        headers={"Authorization": f"token {sandbox.token}"},
        timeout=10,
    ).json()


def start_cron_job(job: str, config: Path, token: str) -> subprocess.Popen[bytes]:
    """`bin/cron-run job` as its own process (as cron starts it) with `config` and the forge's `token`."""
    env = {**os.environ, "AGENT_OS_CONFIG": str(config), TOKEN_ENV: token}
    command = [str(ROOT / "bin" / "cron-run"), job]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
