"""Helpers for the hostile-agent tests: script agents on the sandbox forge, and checks judged from the forge's
objects, our clones and the marker files a filter or hook would have written."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import parse_config
from orchestrator.demo.runner import REPO, DemoSetup
from orchestrator.edges.process import run
from orchestrator.git import git_layout
from orchestrator.jobs import dispatcher, queue
from orchestrator.jobs.entry import build_context
from tests.e2e import scripted
from tests.security.fake_secrets import GITHUB_CLASSIC

TOKEN = GITHUB_CLASSIC
# How agent code spells the token without a token-shaped literal in the config (the config loader refuses one).
TOKEN_EXPR = f"({TOKEN[:3]!r} + {TOKEN[3:]!r})"
GOOD = "## Goal\nImplement slugify() in the textkit package.\n\n## Success Criteria\n- `slugify('A B') == 'a-b'`\n"

PRELUDE = """
import os, pathlib, subprocess, sys
def git(*args, check=True):
    return subprocess.run(["git", "-c", "user.name=Agent", "-c", "user.email=agent@x.invalid", *args],
                          check=check, capture_output=True, text=True)
def result(summary="Implemented slugify()", status="complete"):
    pathlib.Path(".agent_result.md").write_text(
        f"STATUS: {status}\\nSUMMARY: {summary}\\nDONE: slugify\\nFILES_CHANGED: textkit/slug.py\\n"
        "TESTS_RUN: python -m pytest -q\\n")
def good_change(extra=""):
    pathlib.Path("textkit/slug.py").write_text(
        "def slugify(text):\\n    return '-'.join(text.lower().split())\\n" + extra)
"""


def agent_code(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


def setup_case(
    sandbox: Any,
    tmp_path: Path,
    body: str,
    max_attempts: int = 1,
    repo_extra: dict[str, Any] | None = None,
    isolation: str = "none",
    issues: list[dict[str, Any]] | None = None,
    agent_extra: dict[str, Any] | None = None,
) -> DemoSetup:
    agents = {
        # Most cases prove our git's own defences against an agent that can reach everything: it runs
        # unisolated on purpose (in the bwrap sandbox it could not even try — tests/containment/).
        "isolation": isolation,
        "bad": {**scripted.python_agent(["-c", agent_code(body)]), **(agent_extra or {})},
    }
    issues = issues or [{"title": "Add slugify()", "body": GOOD, "status": "Ready"}]
    setup = scripted.setup(sandbox, tmp_path, agents, ["bad"], issues, max_attempts=max_attempts)
    if repo_extra:
        config_file = tmp_path / "case" / "config.yaml"
        data = yaml.safe_load(config_file.read_text())
        data["repos"][0].update(repo_extra)
        config = parse_config(data, source=str(config_file), base_dir=tmp_path / "case")
        setup.ctx = build_context(config, environ=dict(setup.ctx.environ))
    return setup


def run_once(setup: DemoSetup) -> None:
    dispatcher.run(setup.ctx)
    queue.run(setup.ctx)


def bare_repo(setup: DemoSetup) -> Path:
    return Path(setup.forge.bare_path(setup.seeded.repo))


def forge_git(setup: DemoSetup, *args: str, max_output: int = 64 * 1024 * 1024) -> str:
    env = {**os.environ, "GIT_DIR": str(bare_repo(setup)), "GIT_CONFIG_NOSYSTEM": "1"}
    result = run(["git", *args], env=env, timeout=60, max_output=max_output)
    assert result.returncode == 0, result.stderr
    return result.stdout


def every_forge_object(setup: DemoSetup) -> str:
    """The content of every object in the forge's bare repository (commits, trees, blobs, loose or packed)."""
    return forge_git(setup, "cat-file", "--batch-all-objects", "--batch", "--unordered")


def branch_of(setup: DemoSetup) -> str:
    number = setup.seeded.issue_numbers[0]
    branches = [
        b for b in forge_git(setup, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split()
    ]
    return next(b for b in branches if b.startswith(f"agent/{number}-"))


def events(setup: DemoSetup) -> list[dict[str, Any]]:
    return scripted.events(setup.ctx)


def security_reasons(setup: DemoSetup) -> list[str]:
    return [e.get("reason", "") for e in events(setup) if e["state"] == "security"]


def recorded_text(setup: DemoSetup) -> str:
    """Every byte we recorded about the run, as written (all event files, whatever their layout)."""
    files = sorted(p for p in setup.ctx.paths.metrics.rglob("*") if p.is_file())
    return "\n".join(p.read_bytes().decode(errors="replace") for p in files)


def escalation_reasons(setup: DemoSetup) -> list[str]:
    return [e.get("reason", "") for e in events(setup) if e["state"] == "escalated"] + [
        c.body for c in setup.ctx.forge.list_comments(REPO, setup.seeded.issue_numbers[0])
    ]


def assert_clones_are_ours(setup: DemoSetup) -> None:
    """Our clones' config is exactly what we wrote and they have no hooks."""
    working = setup.ctx.paths.clones / "textkit"
    trusted = git_layout.trusted_dir_for(working)
    assert (trusted / "config").read_bytes() == git_layout.trusted_config(setup.seeded.clone_url)
    assert (working / ".git" / "config").read_bytes() == git_layout.working_config(trusted)
    for hooks in (trusted / "hooks", working / ".git" / "hooks"):
        assert not hooks.exists() or not any(hooks.iterdir()), f"hooks appeared in {hooks}"


def push_to_main(setup: DemoSetup, workdir: Path, change: Any, message: str = "main moves on") -> str:
    """Commit `change(checkout)` on the forge's main, as a human would; the new main."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, **setup.forge.git_env()}

    def git(*args: str, cwd: Path) -> str:
        result = run(["git", *args], cwd=cwd, env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    checkout = workdir / "human"
    if not checkout.exists():
        git("clone", "-q", setup.seeded.clone_url, str(checkout), cwd=workdir)
    git("pull", "-q", "--ff-only", "origin", "main", cwd=checkout)
    change(checkout)
    git("add", "-A", cwd=checkout)
    git("-c", "user.name=Human", "-c", "user.email=human@x.invalid", "commit", "-qm", message, cwd=checkout)
    git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=checkout)
    return git("rev-parse", "HEAD", cwd=checkout).strip()
