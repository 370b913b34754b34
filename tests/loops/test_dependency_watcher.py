"""dependency_watcher on the sandbox: a fake `pip-audit` on the job's PATH, real worktrees, issues and bump PRs."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator import git
from orchestrator.demo.runner import REPO
from orchestrator.executors.worktrees import git_settings, pool_for
from orchestrator.jobs import dependency_watcher as job
from orchestrator.loops.common import last_run
from tests.loops.conftest import NOW, sent_texts
from tests.loops.test_dependency_policy import PIP_AUDIT

REQUIREMENTS = "Jinja2==3.1.2\nurllib3==2.0.6\nrequests==2.31.0\nidna==3.6\n"


def push_to_main(ctx, tmp_path: Path, files: dict[str, str]) -> None:
    """What a maintainer does: commit on main and push (the test's own clone, not the job's)."""
    work = tmp_path / "maintainer"
    clone_url = ctx.config.repos[0].clone_url
    git.run_git(["clone", "-q", clone_url, str(work)], tmp_path)
    for name, text in files.items():
        (work / name).write_text(text)
    git.run_git(["add", "-A"], work)
    git.run_git(["-c", "user.name=M", "-c", "user.email=m@x.invalid", "commit", "-q", "-m", "deps"], work)
    git.run_git(
        ["push", "-q", "origin", "HEAD:refs/heads/main"],
        work,
        git_settings(ctx, ctx.config.repos[0]),
        auth=True,
    )


def fake_tool(tmp_path: Path, name: str, output: str, exit_code: int = 1, stderr: str = "") -> Path:
    """A script called `name` that records its argv, cwd, uid and environment names in its HOME (the audit's
    private HOME: the tool runs contained) and prints `output` (and `stderr`)."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, pathlib, sys\n"
        "record = {'argv': sys.argv[1:], 'cwd': os.getcwd(), 'env': sorted(os.environ), 'uid': os.getuid()}\n"
        "with open(pathlib.Path(os.environ['HOME']) / 'calls.jsonl', 'a') as f:\n"
        "    f.write(json.dumps(record) + '\\n')\n"
        f"sys.stdout.write({output!r})\n"
        f"sys.stderr.write({stderr!r})\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(0o755)
    return bin_dir


def calls(ctx) -> list[dict]:
    found = []
    for path in sorted(ctx.paths.agent_runs.glob("audits/*/audit-*/home/calls.jsonl")):
        found += [json.loads(line) for line in path.read_text().splitlines()]
    return found


@pytest.fixture
def ctx(make_ctx, tmp_path: Path):
    ctx = make_ctx(loops={"max_issues_per_run": 3})
    ctx.environ["SECRET_TOKEN_FOR_TEST"] = "do-not-leak"
    return ctx


def with_tool(ctx, bin_dir: Path) -> None:
    ctx.environ["PATH"] = f"{bin_dir}{os.pathsep}{ctx.environ.get('PATH', '')}"


def security_issues(ctx) -> list:
    return [i for i in ctx.forge.list_issues(REPO, state="open") if "security" in i.labels]


AUDITED = {**PIP_AUDIT, "dependencies": [r for r in PIP_AUDIT["dependencies"] if "skip_reason" not in r]}


def test_vulnerable_pins_become_issues_once_and_patch_bumps_become_prs(ctx, tmp_path):
    push_to_main(ctx, tmp_path, {"requirements.txt": REQUIREMENTS})
    bin_dir = fake_tool(tmp_path, "pip-audit", json.dumps(AUDITED))
    with_tool(ctx, bin_dir)

    assert job.run_job(ctx, []) == 0
    (call,) = calls(ctx)
    assert (
        call["argv"][:4] == ["-r", "requirements.txt", "--format", "json"] and "--disable-pip" in call["argv"]
    )
    assert Path(call["cwd"]).is_relative_to(ctx.paths.worktrees)  # a pooled worktree, never the clone
    assert "SECRET_TOKEN_FOR_TEST" not in call["env"]
    assert call["uid"] == 1000, "the audit tool ran in the sandbox"
    assert len(security_issues(ctx)) == 3  # four vulnerable dependencies, the cap is three

    pulls = {p.head_ref: p for p in ctx.forge.list_pulls(REPO, state="open")}
    assert sorted(pulls) == [
        "agent/docs-deps-jinja2-3-1-4-" + NOW.strftime("%Y%m%d"),
        "agent/docs-deps-urllib3-2-0-7-" + NOW.strftime("%Y%m%d"),
    ]
    pool = pool_for(ctx, ctx.config.repos[0])
    pool.fetch()
    jinja = next(p for name, p in pulls.items() if "jinja2" in name)
    assert ctx.forge.pull_files(REPO, jinja.number) == ["requirements.txt"]
    bumped = git.run_git(["show", f"origin/{jinja.head_ref}:requirements.txt"], pool.repo_dir).stdout
    assert bumped == REQUIREMENTS.replace("Jinja2==3.1.2", "Jinja2==3.1.4")
    assert "Closes #" not in jinja.body

    assert job.run_job(ctx, []) == 0  # cadence: not due again the same day
    assert len(calls(ctx)) == 1

    ctx.clock = lambda: NOW + timedelta(days=1)
    assert job.run_job(ctx, []) == 0
    titles = [i.title for i in security_issues(ctx)]
    assert len(titles) == 4 and len(set(titles)) == 4  # the fourth one now; none twice
    assert len(ctx.forge.list_pulls(REPO, state="open")) == 2  # the same bumps are not proposed twice


def test_nothing_to_audit_is_not_a_failure(ctx, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="orchestrator.jobs.dependency_watcher")
    with_tool(ctx, fake_tool(tmp_path, "pip-audit", json.dumps(AUDITED)))
    assert job.run_job(ctx, []) == 0
    assert "pip-audit skipped: no requirements.txt" in caplog.text
    assert "npm skipped: no package.json" in caplog.text
    assert security_issues(ctx) == [] and last_run(ctx, job.JOB, "textkit") == NOW


@pytest.mark.parametrize(
    ("tool", "why"),
    [
        pytest.param(
            None, "pip-audit: not installed (not on PATH), so requirements.txt was not audited", id="no tool"
        ),
        pytest.param(
            ("", 1, "ConnectionError: Max retries exceeded (NewConnectionError: [Errno -3] name resolution)"),
            "pip-audit: ",
            id="offline",
        ),
        pytest.param(
            (json.dumps(PIP_AUDIT), 1, ""), "1 dependency not audited: internal-tool==?", id="skip_reason"
        ),
        pytest.param(
            (json.dumps({"dependencies": [{"name": "a", "version": "1", "skip_reason": "offline"}]}), 0, ""),
            "a==1: offline",
            id="all skipped, exit 0",
        ),
    ],
)
def test_could_not_audit_is_a_failed_run_with_the_reason_and_a_telegram_note(
    make_ctx, bot_api, tmp_path, tool, why
):
    ctx = make_ctx(loops={"max_issues_per_run": 3}, telegram=bot_api)
    push_to_main(ctx, tmp_path, {"requirements.txt": REQUIREMENTS})
    ctx.environ["PATH"] = str(tmp_path / "empty-bin")
    if tool is not None:
        output, code, stderr = tool
        with_tool(ctx, fake_tool(tmp_path, "pip-audit", output, exit_code=code, stderr=stderr))
    assert job.run_job(ctx, []) == 1
    assert last_run(ctx, job.JOB, "textkit") is None  # never recorded as audited: the next tick tries again
    (note,) = sent_texts(bot_api)
    assert f"could not audit {REPO}" in note and why in note
    if tool is not None and "jinja2" in tool[0].lower():
        assert len(security_issues(ctx)) == 3  # what was audited is still reported


def test_unreadable_tool_output_fails_the_run_and_it_is_retried(ctx, tmp_path):
    push_to_main(ctx, tmp_path, {"requirements.txt": REQUIREMENTS})
    with_tool(ctx, fake_tool(tmp_path, "pip-audit", "Traceback: resolver exploded", exit_code=2))
    assert job.run_job(ctx, []) == 1
    assert last_run(ctx, job.JOB, "textkit") is None  # not gated: the next tick tries again
    assert security_issues(ctx) == []


def test_switched_off_in_config(make_ctx):
    ctx = make_ctx(loops={"dependency_audit": False})
    assert job.run_job(ctx, ["--force"]) == 0
    assert last_run(ctx, job.JOB, "textkit") is None


def test_status_shows_the_failed_run_and_why(make_ctx, tmp_path, monkeypatch):
    """Through the cron entry point: the run is recorded as failed and `status` says why."""
    from orchestrator.demo.runner import TOKEN_ENV
    from orchestrator.jobs.entry import run_job
    from orchestrator.views.status import render_status

    ctx = make_ctx(loops={"max_issues_per_run": 3})
    push_to_main(ctx, tmp_path, {"requirements.txt": REQUIREMENTS})
    monkeypatch.setenv(TOKEN_ENV, ctx.environ[TOKEN_ENV])
    monkeypatch.setenv("PATH", str(Path(shutil.which("git") or "/usr/bin/git").parent))
    config = ctx.paths.root.parent / "config.yaml"  # what demo.runner.prepare wrote
    outcome = run_job("dependency_watcher", str(config), [])
    assert outcome.code == 1
    status = render_status(ctx.config, ctx.paths, width=400)
    row = next(line for line in status.splitlines() if line.strip().startswith("dependency_watcher"))
    assert "exit 1" in row and "could not audit" in row and "pip-audit: not installed" in row
