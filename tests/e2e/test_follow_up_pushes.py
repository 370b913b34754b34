"""Follow-ups that integrate a newer base are pushed safely (squashed onto the base, `--force-with-lease` on
the head we started from); a resolve-conflict follow-up gets the base merged into its worktree; and building a
prompt never follows a symbolic link. End to end on the sandbox forge, judged from the forge's objects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.demo.runner import REPO
from orchestrator.executors.pr_actions import follow_up_task
from orchestrator.jobs import queue
from orchestrator.values.models import TaskState
from tests.e2e.hostile import (
    escalation_reasons,
    forge_git,
    push_to_main,
    run_once,
    security_reasons,
    setup_case,
)

pytestmark = pytest.mark.slow

FOLLOW_UP_AGENT = """
prompt = sys.stdin.read()
if "This attempt: make CI pass" in prompt:
    git("rebase", "-q", "origin/main")  # the agent brings its branch up to date on its own
    good_change(extra="# fixed after the rebase\\n")
    result()
elif "Agent OS has merged" in prompt:
    text = pathlib.Path("textkit/slug.py").read_text()
    if MODE == "abort":
        git("merge", "--abort")
        good_change(extra="# resolved by throwing the merge away\\n")
    else:
        assert "<<<<<<<" in text, text
        good_change(extra="# resolved: both sides kept\\n")
    result()
else:
    good_change()
    result()
"""


def _open_pr(sandbox, tmp_path: Path, mode: str = "keep", max_attempts: int = 3):
    setup = setup_case(sandbox, tmp_path, f"MODE = {mode!r}\n" + FOLLOW_UP_AGENT, max_attempts=max_attempts)
    run_once(setup)
    (pr,) = setup.ctx.forge.list_pulls(REPO, state="open")
    return setup, pr


def _parents(setup, ref: str) -> list[str]:
    return forge_git(setup, "rev-list", "--parents", "-n", "1", ref).split()[1:]


def test_a_follow_up_that_rebased_the_branch_is_pushed_with_a_lease(sandbox, tmp_path):
    setup, pr = _open_pr(sandbox, tmp_path)
    first_head = pr.head_sha
    main = push_to_main(setup, tmp_path, lambda c: (c / "other.txt").write_text("from main\n"))
    follow_up_task(setup.ctx, setup.ctx.config.repos[0], pr, "fix_ci", "CI failed: test_slugify")
    queue.run(setup.ctx)

    head = forge_git(setup, "rev-parse", pr.head_ref).strip()
    assert head != first_head
    assert _parents(setup, head) == [main], "squashed onto the base the agent rebased onto"
    names = forge_git(setup, "ls-tree", "-r", "--name-only", head).split()
    assert {"other.txt", "textkit/slug.py"} <= set(names)
    assert "fixed after the rebase" in forge_git(setup, "show", f"{head}:textkit/slug.py")
    diff = forge_git(setup, "diff", "--name-only", f"{main}...{head}").split()
    assert diff == ["textkit/slug.py"], "the PR's diff holds only the PR's own change"
    assert not setup.ctx.mailbox.list(TaskState.RUNNING) and not setup.ctx.mailbox.list(TaskState.ESCALATED)
    assert security_reasons(setup) == []


def _conflicting_main(setup, tmp_path: Path) -> str:
    def change(checkout: Path) -> None:
        (checkout / "textkit" / "slug.py").write_text(
            "def slugify(text):\n    return text.replace(' ', '_')\n"
        )
        (checkout / "other.txt").write_text("from main\n")

    return push_to_main(setup, tmp_path, change)


def test_a_resolve_conflict_follow_up_resolves_the_merge_we_started(sandbox, tmp_path):
    setup, pr = _open_pr(sandbox, tmp_path)
    main = _conflicting_main(setup, tmp_path)
    follow_up_task(setup.ctx, setup.ctx.config.repos[0], pr, "resolve_conflict", "conflicts with main")
    queue.run(setup.ctx)

    head = forge_git(setup, "rev-parse", pr.head_ref).strip()
    assert _parents(setup, head) == [main]
    slug = forge_git(setup, "show", f"{head}:textkit/slug.py")
    assert "both sides kept" in slug and "<<<<<<<" not in slug
    assert "from main" in forge_git(setup, "show", f"{head}:other.txt")
    prompts = sorted(setup.ctx.paths.agent_runs.glob("*/attempt-2-*/prompt.md"))
    prompt = prompts[0].read_text()
    assert "Agent OS has merged `origin/main`" in prompt and "- `textkit/slug.py`" in prompt


def test_a_follow_up_that_throws_the_base_away_is_refused(sandbox, tmp_path):
    setup, pr = _open_pr(sandbox, tmp_path, mode="abort", max_attempts=2)
    _conflicting_main(setup, tmp_path)
    follow_up_task(setup.ctx, setup.ctx.config.repos[0], pr, "resolve_conflict", "conflicts with main")
    queue.run(setup.ctx)

    reasons = escalation_reasons(setup)
    assert any("other.txt: the base branch changed it" in r for r in reasons), reasons
    assert forge_git(setup, "rev-parse", pr.head_ref).strip() == pr.head_sha, "nothing was pushed"


def test_building_a_prompt_never_follows_a_symlink(sandbox, tmp_path):
    setup = setup_case(sandbox, tmp_path, "good_change()\nresult()\n")
    canary = setup.ctx.paths.state / "canary.txt"
    canary.parent.mkdir(parents=True, exist_ok=True)
    canary.write_text("CANARY-STATE-4711\n")

    def plant(checkout: Path) -> None:
        (checkout / "README.md").unlink()
        os.symlink("/proc/self/environ", checkout / "README.md")
        os.symlink(str(canary), checkout / "CODEBASE.md")

    push_to_main(setup, tmp_path, plant, "links into /proc and runtime/")
    run_once(setup)

    (prompt_file,) = setup.ctx.paths.agent_runs.glob("*/*/prompt.md")
    prompt = prompt_file.read_text()
    assert "CANARY-STATE-4711" not in prompt
    assert f"PATH={os.environ['PATH']}" not in prompt and "HOME=" not in prompt
    reasons = security_reasons(setup)
    assert any("README.md" in r and "symbolic link" in r for r in reasons), reasons
    assert any("CODEBASE.md" in r and "symbolic link" in r for r in reasons), reasons
    (pr,) = setup.ctx.forge.list_pulls(REPO, state="open")  # the task itself went on
    assert pr.head_ref
