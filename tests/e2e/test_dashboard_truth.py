"""The dashboard equals an independent count from the forge after retries and closes.

Four Ready issues on the sandbox forge, a scripted agent that can do two of them: one merges at once; one is
escalated, retried by a human and then merged; one is escalated and closed by a human; one stays escalated.
The dashboard built afterwards must say exactly what the forge says (merged PRs, open issues labelled
blocked, issues closed as not planned, nothing in progress) — and link each issue it lists.
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.control.control_hooks import close_issue, retry_issue
from orchestrator.demo.runner import REPO, prepare
from orchestrator.jobs import dashboard as dashboard_job
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.policy.control_commands import IssueRef
from orchestrator.views.dashboard_data import web_base
from tests.e2e.scripted import script_agent

pytestmark = pytest.mark.slow

AGENT = """
import re, sys
from pathlib import Path
prompt = sys.stdin.read()
allowed = Path({allowed!r})
def result(status):
    Path(".agent_result.md").write_text(f"STATUS: {{status}}\\nSUMMARY: {{status}}\\n")
for name in ("slugify", "shout"):
    if f"Add {{name}}()" in prompt and (name == "slugify" or allowed.exists()):
        Path(f"textkit/{{name}}.py").write_text(f"def {{name}}(t):\\n    return t.upper()\\n")
        Path(f"tests/test_{{name}}.py").write_text(
            f"from textkit.{{name}} import {{name}}\\n\\ndef test_it():\\n    assert {{name}}('a') == 'A'\\n"
        )
        result("complete")
        break
else:
    result("blocked")
"""


def _body(name: str) -> str:
    return f"## Goal\nAdd `textkit.{name}.{name}(text)`.\n\n## Success Criteria\n- tests in tests/test_{name}.py pass\n"


def _forge_get(sandbox, path: str, **params: str) -> list[dict[str, Any]]:
    answer = requests.get(
        f"{sandbox.api_url}/repos/{REPO}/{path}",
        params={"per_page": "100", **params},
        headers={"Authorization": f"token {sandbox.token}"},
        timeout=10,
    )
    answer.raise_for_status()
    return list(answer.json())


def _tick(ctx, sandbox) -> None:
    dispatcher.run(ctx)
    queue.run(ctx)
    sandbox.wait_ci_idle(timeout=120)
    pr_monitor.run(ctx)


def test_dashboard_equals_the_forge_after_retries_and_closes(sandbox, tmp_path: Path) -> None:
    signals = tmp_path / "signals"  # shown read-only in the sandbox: the test allows `shout` through it
    signals.mkdir()
    allowed = signals / "shout-allowed"
    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(AGENT).format(allowed=str(allowed)))
    names = ("slugify", "shout", "whisper", "reverse", "wrap")
    overrides = {
        "agents": {
            "read_only_paths": [str(signals)],
            "worker": script_agent(script),
        },
        "routing": {"default": ["worker"]},
        "limits": {"max_parallel_workers": 2, "max_attempts": 1, "lease_seconds": 60},
    }
    issues = [{"title": f"Add {n}()", "status": "Ready", "body": _body(n)} for n in names]
    setup = prepare(sandbox, tmp_path / "case", issues=issues, overrides=overrides)
    ctx = setup.ctx
    slug, shout, whisper, reverse, wrap = setup.seeded.issue_numbers

    for _ in range(3):
        _tick(ctx, sandbox)
        if ctx.forge.get_issue(REPO, slug).state == "closed":
            break
    assert ctx.forge.get_issue(REPO, slug).state == "closed"
    assert all("blocked" in ctx.forge.get_issue(REPO, n).labels for n in (shout, whisper, reverse, wrap))

    allowed.touch()
    retry_issue(ctx, IssueRef(REPO, shout), "alice")
    close_issue(ctx, IssueRef(REPO, whisper), "bob")
    ctx.forge.close_issue(REPO, wrap, reason="not_planned")  # a human, on GitHub itself
    for _ in range(3):
        _tick(ctx, sandbox)
        if ctx.forge.get_issue(REPO, shout).state == "closed":
            break

    out = tmp_path / "dashboard"
    web = web_base(ctx.config.github.api_url)
    later = datetime.now(UTC) + timedelta(minutes=20)  # the hourly dashboard job, once things settled
    ctx.clock = lambda: later
    assert dashboard_job.run_job(ctx, ["--out", str(out)]) == 0
    data = json.loads((out / "metrics.json").read_text())

    # the independent count, from the forge
    pulls = _forge_get(sandbox, "pulls", state="all")
    merged_prs = [p for p in pulls if p["merged_at"]]
    all_issues = [i for i in _forge_get(sandbox, "issues", state="all") if "pull_request" not in i]
    open_blocked = [
        i for i in all_issues if i["state"] == "open" and "blocked" in [x["name"] for x in i["labels"]]
    ]
    not_planned = [i for i in all_issues if i["state"] == "closed" and i["state_reason"] == "not_planned"]
    in_progress = [
        i for i in all_issues if i["state"] == "open" and "blocked" not in [x["name"] for x in i["labels"]]
    ]

    h = data["headline"]
    assert h["merged"] == len(merged_prs) == 2
    assert data["open_escalations_count"] == len(open_blocked) == 1
    assert h["closed"] == len(not_planned) == 2  # one through Agent OS, one on GitHub directly
    assert h["escalated"] == 1
    assert h["success_rate"] == pytest.approx(2 / 5)
    assert h["running"] == h["queued"] == len(in_progress) == 0 and data["in_flight"] == []
    (escalation,) = data["open_escalations"]
    assert escalation["ref"] == f"{REPO}#{reverse}" == f"{REPO}#{open_blocked[0]['number']}"
    assert escalation["url"] == f"{web}/{REPO}/issues/{reverse}"
    (row,) = data["repos"]
    assert (row["repo"], row["merged"], row["closed"], row["open_escalations"]) == (REPO, 2, 2, 1)
    assert row["pr_opened"] == len(pulls)
    assert data["states"]["human_retry"] == 1 and data["states"]["human_close"] == 2

    html = (out / "index.html").read_text()
    assert f'href="{web}/{REPO}/issues/{reverse}"' in html
    assert 'data-metric="open_escalations_count">1<' in html and 'data-metric="closed">2<' in html


def test_a_pr_a_human_merged_by_hand_counts_as_merged(sandbox, tmp_path: Path) -> None:
    from orchestrator.state.switches import Switches

    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(AGENT).format(allowed=str(tmp_path / "unused")))
    overrides = {
        "agents": {"worker": script_agent(script)},
        "routing": {"default": ["worker"]},
        "limits": {"max_parallel_workers": 1, "max_attempts": 1, "lease_seconds": 60},
    }
    issues = [{"title": "Add slugify()", "status": "Ready", "body": _body("slugify")}]
    setup = prepare(sandbox, tmp_path / "case", issues=issues, overrides=overrides)
    ctx = setup.ctx
    (number,) = setup.seeded.issue_numbers
    Switches.load(ctx.paths.root).set_repo_mode("textkit", "review", actor="test")
    _tick(ctx, sandbox)  # the PR is green and waits for a human
    (pr,) = ctx.forge.list_pulls(REPO, state="open")
    ctx.forge.merge_pull(REPO, pr.number, sha=pr.head_sha, method="squash", title=pr.title)  # by hand
    ctx.forge.close_issue(REPO, number)  # what "Closes #N" does on github.com

    out = tmp_path / "dashboard"
    later = datetime.now(UTC) + timedelta(minutes=20)
    ctx.clock = lambda: later
    assert dashboard_job.run_job(ctx, ["--out", str(out)]) == 0
    data = json.loads((out / "metrics.json").read_text())
    merged_prs = [p for p in _forge_get(sandbox, "pulls", state="all") if p["merged_at"]]
    assert data["headline"]["merged"] == len(merged_prs) == 1
    assert data["headline"]["success_rate"] == 1.0 and data["open_escalations_count"] == 0
    assert dashboard_job.run_job(ctx, ["--out", str(out)]) == 0  # recorded once, not on every run
    assert json.loads((out / "metrics.json").read_text())["states"]["merged"] == 1
