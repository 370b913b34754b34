"""Variations of the hostile-agent classes, end to end on the sandbox forge with the agent in the bubblewrap
sandbox (the default): what it leaves in its worktree for our git, what it writes for us to publish.
Judged from the forge's objects, PRs and comments, our events, and how long our own steps took."""

from __future__ import annotations

import time

import pytest

from orchestrator.demo.runner import REPO
from tests.e2e.hostile import (
    GOOD,
    escalation_reasons,
    events,
    forge_git,
    run_once,
    setup_case,
)

pytestmark = pytest.mark.slow

TWO_ISSUES = [
    {"title": "Add slugify()", "body": GOOD, "status": "Ready"},
    {
        "title": "Add shout()",
        "body": "## Goal\nImplement shout() in the textkit package.\n\n## Success Criteria\n- `shout('a') == 'A'`\n",
        "status": "Ready",
    },
]


def test_fifos_where_git_reads_its_rules_are_refused_fast_and_the_slot_serves_the_next_task(
    sandbox, tmp_path
):
    """A FIFO named `.gitignore` or `.gitattributes` blocks every git command that reads the tree (until its
    timeout, again at each reuse of the slot: `git clean` leaves FIFOs). The agent's work is refused naming
    the FIFO, without waiting on git, and the next task in the same slot runs normally."""
    body = """
    prompt = sys.stdin.read()
    if "slugify" in prompt:
        os.mkfifo(".gitattributes")
        os.makedirs("textkit/deep", exist_ok=True)
        os.mkfifo("textkit/deep/.gitignore")
        good_change()
        result()
    else:
        pathlib.Path("textkit/shout.py").write_text("def shout(text):\\n    return text.upper()\\n")
        result("Added shout()")
    """
    setup = setup_case(sandbox, tmp_path, body, isolation="bwrap", issues=TWO_ISSUES)
    started = time.monotonic()
    run_once(setup)
    run_once(setup)
    took = time.monotonic() - started

    first, second = setup.seeded.issue_numbers
    refused = [e for e in events(setup) if e.get("issue") == first and e["state"] == "escalated"]
    assert refused, [(e["state"], e.get("reason")) for e in events(setup)]
    reasons = " ".join(escalation_reasons(setup))
    assert ".gitattributes: a FIFO" in reasons and "textkit/deep/.gitignore: a FIFO" in reasons
    pulls = setup.ctx.forge.list_pulls(REPO, state="open")
    assert [p.head_ref.split("-")[0] for p in pulls] == [f"agent/{second}"], "the next task used the slot"
    assert "textkit/shout.py" in forge_git(setup, "ls-tree", "-r", "--name-only", pulls[0].head_ref).split()
    assert took < 90, f"our git waited on a FIFO: {took:.0f} s"
