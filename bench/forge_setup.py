"""Sandbox forges, seeded repositories, configs and job contexts for the benchmarks.

Repos are created over HTTP with `orchestrator.sandbox.seed.seed_repo` (what a user's setup does). Large issue
backlogs are inserted straight into the sandbox's SQLite tables (`add_issues`): 50 repos x 1,000 issues over
HTTP takes minutes (`http_seed_rate` measures by how much), and the idle tick does not care how the rows got
there. Bulk-seeded rows and boards are dated an hour back: an idle board is one that has not changed lately
(the GitHub edge does not trust a board snapshot read within 5 s of the board's last change).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import parse_config
from orchestrator.edges import process
from orchestrator.jobs.entry import build_context
from orchestrator.sandbox import projects_store
from orchestrator.sandbox.client_config import client_environ, github_section
from orchestrator.sandbox.db import make_node_id
from orchestrator.sandbox.seed import SeedIssue, SeedResult, seed_repo
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state.runtime import JobContext
from orchestrator.values.task_identity import marker

ROOT = Path(__file__).resolve().parents[1]
ORG = "bench"
_GITHUB_TIME = "%Y-%m-%dT%H:%M:%SZ"
_SEED_IDENTITY = {
    "GIT_AUTHOR_NAME": "Agent OS bench",
    "GIT_AUTHOR_EMAIL": "bench@agent-os.invalid",
    "GIT_COMMITTER_NAME": "Agent OS bench",
    "GIT_COMMITTER_EMAIL": "bench@agent-os.invalid",
}


def hour_ago() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).strftime(_GITHUB_TIME)


def task_issue(n: int, status: str = "Ready") -> SeedIssue:
    """An issue the zero-time agent (bench.zero_agent) knows how to do: write bench_tasks/task-<n>.txt."""
    body = (
        "## Goal\n"
        f"Record benchmark task {n} by writing the file `bench_tasks/task-{n}.txt`.\n\n"
        "## Success Criteria\n"
        f"- `bench_tasks/task-{n}.txt` exists and names the task\n"
    )
    return SeedIssue(title=f"Benchmark task {n}", body=body, status=status)


def write_tiny_repo(path: Path) -> Path:
    """A two-file repository: what a task changes does not matter to the orchestration cost."""
    (path / "bench_tasks").mkdir(parents=True, exist_ok=True)
    (path / "README.md").write_text("# bench\n\nA repository the benchmarks open PRs against.\n")
    (path / "bench_tasks" / "README.md").write_text("One file per benchmark task.\n")
    return path


def write_large_repo(path: Path, files: int, per_dir: int = 100) -> Path:
    """`files` small source files in directories of `per_dir` (a mid-sized monorepo's shape)."""
    write_tiny_repo(path)
    for i in range(files):
        folder = path / "src" / f"pkg{i // per_dir:04d}"
        if i % per_dir == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{i % per_dir:03d}.py").write_text(f'"""Module {i}."""\n\nVALUE = {i}\n')
    return path


def commit_source(path: Path) -> Path:
    """Make `path` a one-commit git repository (auto-gc off: a large first commit would start a background
    gc that races whoever deletes the directory next)."""
    env = {**os.environ, **_SEED_IDENTITY}
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "-c", "gc.auto=0", "commit", "-q", "-m", "Initial commit"],
    ):
        _checked(process.run(argv, cwd=path, env=env, timeout=600))
    return path


def push_source(repo_dir: Path, clone_url: str, auth: dict[str, str]) -> None:
    """Push a committed source repository as the forge repo's main branch, over HTTP with the token (`auth`:
    SandboxForge.git_env())."""
    argv = ["git", "-c", "gc.auto=0", "push", "-q", clone_url, "HEAD:refs/heads/main"]
    _checked(process.run(argv, cwd=repo_dir, env={**os.environ, **auth}, timeout=600))


def _checked(result: process.ProcessResult) -> None:
    if not result.ok:
        raise RuntimeError(f"git failed ({result.returncode}): {result.stderr.strip()[-1000:]}")


def tiny_source(forge: SandboxForge) -> Path:
    """The tiny repository's files, written once per forge (repos need a base branch to be dispatched to)."""
    path = forge.data_dir / "tiny-source"
    return path if path.is_dir() else write_tiny_repo(path)


def seed(
    forge: SandboxForge,
    name: str,
    *,
    source: Path | None = None,
    ci_command: str | None = None,
    issues: Sequence[SeedIssue] = (),
    board: bool = True,
) -> SeedResult:
    return seed_repo(
        forge.api_url,
        forge.token,
        f"{ORG}/{name}",
        source_dir=source,
        ci_command=ci_command,
        issues=issues,
        board=board,
    )


def add_issues(
    forge: SandboxForge, repo: str, count: int, project_id: str | None, status: str = "Todo"
) -> None:
    """Insert `count` open issues (dated an hour back) into `repo`, each on the board in `status`."""
    owner, name = repo.split("/", 1)
    repo_row = forge.core.repo(owner, name)
    stamp = hour_ago()
    with forge.db.transaction() as conn:
        (first,) = conn.execute("SELECT next_number FROM repos WHERE id = ?", (repo_row.id,)).fetchone()
        project = projects_store.project_by_node_id(conn, project_id) if project_id else None
        field = projects_store.field_by_name(conn, project.id, "Status") if project else None
        options = {o.name: o.option_id for o in projects_store.field_options(conn, field.id)} if field else {}
        for number in range(first, first + count):
            values = {
                "repo_id": repo_row.id,
                "number": number,
                "title": f"Backlog item {number}",
                "body": "## Goal\nSomething for later.\n",
                "state": "open",
                "user_login": forge.admin_login,
                "is_pull": 0,
                "created_at": stamp,
                "updated_at": stamp,
            }
            issue_id = forge.db.insert_with_node_id("issues", "issues", values)
            if project is not None and field is not None:
                item = projects_store.add_item(conn, project, make_node_id("issues", issue_id), stamp)
                projects_store.set_item_option(conn, project, item, field, options[status], stamp)
        conn.execute("UPDATE repos SET next_number = ? WHERE id = ?", (first + count, repo_row.id))
        if project is not None:
            projects_store.touch_project(conn, project.id, stamp)


def settle_boards(forge: SandboxForge) -> None:
    """Date every board's last change an hour back (boards seeded over HTTP were changed just now)."""
    with forge.db.transaction() as conn:
        conn.execute("UPDATE projects_v2 SET updated_at = ?", (hour_ago(),))


def http_seed_rate(forge: SandboxForge, issues: int) -> dict[str, Any]:
    """Seconds to seed `issues` board issues over HTTP (issue + add-to-board + set status = 3 requests each)."""
    started = time.perf_counter()
    seed(forge, "http-seed", issues=[SeedIssue(f"Item {i}", status="Todo") for i in range(issues)])
    seconds = time.perf_counter() - started
    return {"issues": issues, "seconds": round(seconds, 2), "issues_per_s": round(issues / seconds, 1)}


def repo_entry(
    seeded: SeedResult,
    key: str,
    mode: str,
    *,
    test_command: str = "true",
    auto_merge_without_checks: bool = False,
) -> dict[str, Any]:
    owner, name = seeded.repo.split("/", 1)
    board: dict[str, Any] = {"mode": mode}
    if mode == "project":
        board["project_number"] = seeded.project_number
    return {
        "key": key,
        "owner": owner,
        "name": name,
        "clone_url": seeded.clone_url,
        "base_branch": "main",
        "test_command": test_command,
        "test_timeout_seconds": 120,
        "board": board,
        "auto_merge_without_checks": auto_merge_without_checks,
    }


def config_data(
    forge: SandboxForge, runtime: Path, repos: list[dict[str, Any]], workers: int = 2
) -> dict[str, Any]:
    zero_agent = {  # run as a file: the sandbox shows it (read-only) and nothing else of this checkout
        "kind": "script",
        "command": [sys.executable, str(ROOT / "bench" / "zero_agent.py")],
        "timeout_minutes": 2,
        "stall_minutes": 1,
    }
    return {
        "runtime_dir": str(runtime),
        "github": github_section(forge, request_timeout_seconds=30),
        "git": {"author_name": "Agent OS bench", "author_email": "bench@agent-os.invalid"},
        "repos": repos,
        "agents": {"zero": zero_agent},
        "routing": {"default": ["zero"]},
        "limits": {"max_parallel_workers": workers, "lease_seconds": 300, "wedge_hours": 1},
    }


def write_config(workdir: Path, data: dict[str, Any]) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def open_context(forge: SandboxForge, data: dict[str, Any], workdir: Path) -> JobContext:
    """A job context as a cron process builds it (a fresh client that loads the ETag cache from disk)."""
    path = write_config(workdir, data)
    config = parse_config(data, source=str(path), base_dir=workdir)
    return build_context(config, environ=job_environ(forge))


def job_environ(forge: SandboxForge) -> dict[str, str]:
    return client_environ(forge)


def close_context(ctx: JobContext) -> None:
    """What bin/cron-run does at the end of a job: persist the ETag cache, close the session."""
    close = getattr(ctx.forge, "close", None)
    if close is not None:
        close()


def open_note_prs(
    ctx: JobContext, git_auth: dict[str, str], workdir: Path, seeded: SeedResult, bad_position: int = 0
) -> list[int]:
    """One agent branch per issue (agent/<n>-note-<n>) adding notes/<n>.md — the one at `bad_position`
    (1-based; 0: none) also BAD — pushed at once, and its PR with the task marker in the body, as Agent OS
    opens them."""
    env = {
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "b@x.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "b@x.invalid",
        **git_auth,  # the forge's remotes are HTTP with a token, as GitHub's
    }
    work = workdir / "work"
    _git(workdir, env, "clone", "-q", seeded.clone_url, str(work))
    refspecs = []
    for position, number in enumerate(seeded.issue_numbers, start=1):
        branch = f"agent/{number}-note-{number}"
        _git(work, env, "checkout", "-q", "-B", branch, "origin/main")
        (work / "notes").mkdir(exist_ok=True)
        (work / "notes" / f"{number}.md").write_text(f"note {number}\n")
        if position == bad_position:
            (work / "BAD").write_text("x\n")
        _git(work, env, "add", "-A")
        _git(work, env, "commit", "-qm", f"Note {number}")
        refspecs.append(f"{branch}:{branch}")
    _git(work, env, "push", "-q", "origin", *refspecs)
    return [
        ctx.forge.create_pull(
            seeded.repo,
            title=f"Write note {n}",
            body=f"Closes #{n}\n\n{marker(seeded.repo, n, 1)}\n",
            head=f"agent/{n}-note-{n}",
            base="main",
        ).number
        for n in seeded.issue_numbers
    ]


def _git(cwd: Path, env: dict[str, str], *args: str) -> None:
    _checked(process.run(["git", *args], cwd=cwd, env={**os.environ, **env}, timeout=120))
