"""Variations of the hostile-agent classes, end to end on the sandbox forge with the agent in the bubblewrap
sandbox (the default): what it leaves in its worktree for our git, what it writes for us to publish.
Judged from the forge's objects, PRs and comments, our events, and how long our own steps took."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
import time

import pytest

from orchestrator.demo.runner import REPO
from orchestrator.jobs import dispatcher, queue
from tests.e2e.hostile import (
    GOOD,
    TOKEN,
    TOKEN_EXPR,
    escalation_reasons,
    events,
    every_forge_object,
    forge_git,
    recorded_text,
    run_once,
    security_reasons,
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


def on_slugify(lines: str) -> str:
    """An agent body: script `lines` on the slugify issue; on any other it adds shout() honestly."""
    return (
        'prompt = sys.stdin.read()\nif "slugify" in prompt:\n'
        + textwrap.indent(textwrap.dedent(lines), "    ")
        + 'else:\n    pathlib.Path("textkit/shout.py").write_text("def shout(text):\\n    return text.upper()\\n")\n'
        + '    result("Added shout()")\n'
    )


def test_fifos_where_git_reads_its_rules_are_refused_fast_and_the_slot_serves_the_next_task(
    sandbox, tmp_path
):
    """A FIFO named `.gitignore` or `.gitattributes` blocks every git command that reads the tree (until its
    timeout, again at each reuse of the slot: `git clean` leaves FIFOs). The agent's work is refused naming
    the FIFO, without waiting on git, and the next task in the same slot runs normally."""
    body = on_slugify("""
    os.mkfifo(".gitattributes")
    os.makedirs("textkit/deep", exist_ok=True)
    os.mkfifo("textkit/deep/.gitignore")
    good_change()
    result()
    """)
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


TOKEN_PLACES = {
    "file name": "pathlib.Path('notes-' + TOKEN + '.txt').write_text('hello\\n')",
    "directory name": "os.makedirs('cfg/' + TOKEN); pathlib.Path('cfg/' + TOKEN + '/x.txt').write_text('x\\n')",
    "link target": "os.symlink('/srv/' + TOKEN, 'shortcut')",
}


@pytest.mark.parametrize("where", sorted(TOKEN_PLACES))
def test_a_token_in_a_name_or_a_link_target_never_reaches_the_forge(sandbox, tmp_path, where):
    """Tree entries are published like blobs: a token spelled as a file or directory name (or as a link's
    target) is refused like a token in a file, and named without repeating it."""
    body = f"""
    TOKEN = {TOKEN_EXPR}
    {TOKEN_PLACES[where]}
    good_change()
    result()
    """
    setup = setup_case(sandbox, tmp_path, body, isolation="bwrap")
    run_once(setup)

    assert TOKEN.encode() not in every_forge_object(setup).encode(errors="surrogateescape")
    assert not setup.ctx.forge.list_pulls(REPO, state="all")
    escalated = [e for e in events(setup) if e["state"] == "escalated"]
    assert escalated and "github-token" in escalated[0]["reason"], [e["reason"] for e in events(setup)]
    published = " ".join(escalation_reasons(setup)) + recorded_text(setup)
    assert TOKEN not in published
    audit = (setup.ctx.paths.root / "audit" / "audit.jsonl").read_text()
    assert "secret_blocked" in audit and TOKEN not in audit


def test_the_agents_own_model_key_is_never_pushed_whatever_its_shape(sandbox, tmp_path, monkeypatch):
    """The CLI needs its key, so the agent can read it. A gateway key matches no token shape: the guard
    knows the value itself, refuses the file that holds it and names the file, not the key."""
    key = "gw" + "9f3Kq2LmZ8xR4vT7nB1cY6pW0sD5hJ"  # no known shape
    monkeypatch.setenv("GATEWAY_KEY", key)
    body = """
    pathlib.Path("settings_local.py").write_text("API_KEY = " + repr(os.environ["AGENT_API_KEY"]) + "\\n")
    good_change()
    result()
    """
    setup = setup_case(sandbox, tmp_path, body, isolation="bwrap", agent_extra={"api_key_env": "GATEWAY_KEY"})
    run_once(setup)

    assert key not in every_forge_object(setup)
    assert not setup.ctx.forge.list_pulls(REPO, state="all")
    (escalated,) = [e for e in events(setup) if e["state"] == "escalated"]
    assert "settings_local.py" in escalated["reason"] and "known-secret" in escalated["reason"]
    assert key not in " ".join(escalation_reasons(setup))


def test_the_agents_summary_cannot_close_other_issues_through_our_commit_message(sandbox, tmp_path):
    """Our commit message starts with the agent's summary; on the base branch a commit message closes the
    issues its closing keywords name (a squash merge carries it). Every spelling is neutralized there and
    in the PR body, and terminal escapes are gone."""
    body = """
    good_change()
    result("Fixes #2, closes agentos-admin/textkit#2, resolves http://127.0.0.1/agentos-admin/textkit/issues/2 \\x1b[2J")
    """
    setup = setup_case(sandbox, tmp_path, body, isolation="bwrap", issues=TWO_ISSUES[:1] + TWO_ISSUES[1:])
    dispatcher.run(setup.ctx)
    queue.run(setup.ctx)

    first = setup.seeded.issue_numbers[0]
    (pr,) = [
        p for p in setup.ctx.forge.list_pulls(REPO, state="open") if p.head_ref.startswith(f"agent/{first}-")
    ]
    message = forge_git(setup, "log", "-1", "--format=%B", pr.head_ref)
    for text in (message, pr.body):
        other = r"(#2\b|[\w.-]+/[\w.-]+#2\b|https?://\S+/issues/2\b)"
        assert not re.search(rf"(?i)\b(fixes|closes|resolves)\s*:?\s*{other}", text), text
        assert "\x1b" not in text
    assert "Fixes `#2`" in message


def test_the_agents_key_in_disguise_never_reaches_the_pr_or_the_forge(sandbox, tmp_path, monkeypatch):
    """The agent writes its own key base64-encoded, hex-encoded and split across lines into its summary
    (and, in a second attempt of the class, base64-encoded into a file): the PR body on the forge holds none
    of those spellings, and the file is refused."""
    key = "gw" + "9f3Kq2LmZ8xR4vT7nB1cY6pW0sD5hJ"
    monkeypatch.setenv("GATEWAY_KEY", key)
    body = """
    import base64
    key = os.environ["AGENT_API_KEY"]
    lines = [base64.b64encode(b"k=" + key.encode()).decode(), key.encode().hex(), key[:12], key[12:]]
    good_change()
    pathlib.Path(".agent_result.md").write_text(
        "STATUS: complete\\nSUMMARY: Implemented slugify()\\nRISKS:\\n" + "".join(f"  {l}\\n" for l in lines))
    """
    setup = setup_case(sandbox, tmp_path, body, isolation="bwrap", agent_extra={"api_key_env": "GATEWAY_KEY"})
    run_once(setup)

    (pr,) = setup.ctx.forge.list_pulls(REPO, state="open")
    assert "[REDACTED:secret]" in pr.body
    from orchestrator.security.disguise import DisguisedSecrets

    finder = DisguisedSecrets([key])
    assert not finder.search(pr.body), pr.body
    assert not finder.search(every_forge_object(setup))


def test_the_agents_key_base64_encoded_in_a_file_is_refused(sandbox, tmp_path, monkeypatch):
    key = "gw" + "9f3Kq2LmZ8xR4vT7nB1cY6pW0sD5hJ"
    monkeypatch.setenv("GATEWAY_KEY", key)
    body = """
    import base64
    encoded = base64.b64encode(os.environ["AGENT_API_KEY"].encode()).decode()
    pathlib.Path("fixtures.json").write_text('{"blob": "' + encoded + '"}\\n')
    good_change()
    result()
    """
    setup = setup_case(sandbox, tmp_path, body, isolation="bwrap", agent_extra={"api_key_env": "GATEWAY_KEY"})
    run_once(setup)

    from orchestrator.security.disguise import DisguisedSecrets

    assert not DisguisedSecrets([key]).search(every_forge_object(setup))
    (escalated,) = [e for e in events(setup) if e["state"] == "escalated"]
    assert "fixtures.json" in escalated["reason"] and "known-secret" in escalated["reason"]


def test_an_unisolated_agent_that_replaces_git_with_a_fifo_does_not_hang_us(sandbox, tmp_path):
    """With `isolation: none` the agent can replace its worktree's `.git` file: with a FIFO, the check of
    what it did must not block on it, and the slot gets its `.git` back."""
    body = """
    os.unlink(".git")
    os.mkfifo(".git")
    good_change()
    result()
    """
    setup = setup_case(sandbox, tmp_path, body)
    started = time.monotonic()
    run_once(setup)
    assert time.monotonic() - started < 60
    assert any("replaced .git with something else" in r for r in security_reasons(setup)), security_reasons(
        setup
    )
    (pr,) = setup.ctx.forge.list_pulls(REPO, state="open")
    assert "textkit/slug.py" in forge_git(setup, "ls-tree", "-r", "--name-only", pr.head_ref).split()


HIDDEN_FROM_THE_COMMIT = {
    "conftest behind a self-ignoring .gitignore": """
    pathlib.Path("tests/.gitignore").write_text(".gitignore\\nconftest.py\\n")
    pathlib.Path("tests/conftest.py").write_text("import os\\nos._exit(0)\\n")
    """,
    "pytest.pyc build leftover": """
    import py_compile
    pathlib.Path("fake.py").write_text("import os\\nos._exit(0)\\n")
    py_compile.compile("fake.py", cfile="pytest.pyc", doraise=True)
    os.unlink("fake.py")
    """,
}


@pytest.mark.parametrize("hidden", sorted(HIDDEN_FROM_THE_COMMIT))
def test_our_test_run_judges_what_is_pushed_not_files_the_commit_leaves_out(sandbox, tmp_path, hidden):
    """Our test step runs in the worktree; the commit holds only what `.gitignore` and the build-leftover
    rules let in. An agent that leaves a file the commit does not hold but the test run loads (a
    `conftest.py` behind a `.gitignore` that ignores itself, a `pytest.pyc` that `python -m pytest` imports
    first) must not make our tests pass for a pushed tree whose tests fail."""
    failing_test = (
        'pathlib.Path("tests/test_pushed.py").write_text("def test_pushed():\\n    assert False\\n")\n'
    )
    body = "good_change()\n" + failing_test + textwrap.dedent(HIDDEN_FROM_THE_COMMIT[hidden]) + "result()\n"
    setup = setup_case(sandbox, tmp_path, body, isolation="bwrap")
    run_once(setup)

    assert not setup.ctx.forge.list_pulls(REPO, state="all"), "a PR for a tree whose tests fail"
    failed = [e for e in events(setup) if e["state"] == "tests_failed"]
    assert failed and "test_pushed" in failed[0].get("reason", ""), [
        (e["state"], e.get("reason")) for e in events(setup)
    ]


CLOSING_REFERENCE = re.compile(
    r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b\s*:?\s*(?:(?:[\w.-]+/[\w.-]+)?#\d+|https?://\S+/issues/\d+)"
)


def test_an_issue_title_carries_no_closing_reference_into_the_pr_title(sandbox, tmp_path):
    """The PR title is the issue's title, and the squash merge's commit title is the PR title: `fixes #2`
    there closes issue #2 (or another repository's issue the token can reach) when the PR merges. A title's
    closing references are neutralized, its control, bidi and invisible characters dropped, its lines joined."""
    issues = [
        {
            "title": "Add slugify(), fixes #2 and Closes: other-org/other#7\u202e\x1b[31m\nresolves https://github.com/o/r/issues/3",
            "body": GOOD,
            "status": "Ready",
        },
        {"title": "Keep me open", "body": GOOD, "status": "Todo"},
    ]
    body = """
    good_change()
    result()
    """
    setup = setup_case(sandbox, tmp_path, body, isolation="bwrap", issues=issues)
    run_once(setup)

    (pr,) = setup.ctx.forge.list_pulls(REPO, state="open")
    assert pr.title.startswith("Add slugify(), fixes"), pr.title
    assert not CLOSING_REFERENCE.search(pr.title), pr.title
    assert not re.search("[\x00-\x1f\x7f\u202a-\u202e]", pr.title), repr(pr.title)
    message = forge_git(setup, "log", "-1", "--format=%B", pr.head_ref)
    assert not CLOSING_REFERENCE.search(message), message


def test_a_git_planted_in_the_worktree_never_runs_as_us_whatever_path_says(sandbox, tmp_path, monkeypatch):
    """Operators' PATHs carry relative entries (`.`, `node_modules/.bin`, an empty one). Looked up in the
    child's working directory, a `git` the agent left in its worktree would run as us — outside the sandbox —
    the next time our git works in that slot. It never runs, and the slot serves the next task."""
    monkeypatch.setenv("PATH", ".:node_modules/.bin::" + os.environ["PATH"])
    ran = tmp_path / "planted-git-ran"
    body = on_slugify(f"""
    for where in (".", "node_modules/.bin"):
        os.makedirs(where, exist_ok=True)
        pathlib.Path(where, "git").write_text("#!/bin/sh\\necho ran >> {ran}\\nexec /usr/bin/git \\"$@\\"\\n")
        os.chmod(os.path.join(where, "git"), 0o755)
    good_change()
    result()
    """)
    setup = setup_case(sandbox, tmp_path, body, isolation="bwrap", issues=TWO_ISSUES)
    run_once(setup)
    run_once(setup)

    assert not ran.exists(), ran.read_text()
    titles = sorted(p.title for p in setup.ctx.forge.list_pulls(REPO, state="open"))
    assert titles == ["Add shout()", "Add slugify()"], [(e["state"], e.get("reason")) for e in events(setup)]


def test_setuid_and_setgid_files_the_agent_leaves_are_disarmed(sandbox, tmp_path):
    """Inside the sandbox the agent owns its files; on the host they belong to us (to root when Agent OS runs
    as root). A setuid or setgid executable it leaves in the worktree would let any local user who can reach
    the worktree run code as us. After the agent and after our test step, no such bit is left; the security
    event names the files."""
    body = """
    import shutil
    shutil.copy("/bin/true", "suid-tool")
    os.chmod("suid-tool", 0o4755)
    os.makedirs("build", exist_ok=True)
    shutil.copy("/bin/true", "build/sgid-tool")
    os.chmod("build/sgid-tool", 0o2755)
    good_change()
    os.chmod("textkit/slug.py", 0o6755)
    pathlib.Path("tests/test_plant.py").write_text(
        "import os, shutil\\ndef test_plant():\\n    shutil.copy('/bin/true', 'later')\\n    os.chmod('later', 0o4755)\\n"
    )
    result()
    """
    setup = setup_case(sandbox, tmp_path, body, isolation="bwrap")
    run_once(setup)

    armed = [
        str(path)
        for path in (setup.ctx.paths.root / "worktrees").rglob("*")
        if not path.is_symlink() and path.is_file() and path.stat().st_mode & 0o6000
    ]
    assert armed == []
    reasons = " ".join(security_reasons(setup))
    assert "suid-tool" in reasons and "textkit/slug.py" in reasons and "later" in reasons, reasons
    assert setup.ctx.forge.list_pulls(REPO, state="open"), "the work itself went through"


def test_what_agent_code_prints_reaches_no_terminal_as_control_sequences(sandbox, tmp_path):
    """Our test run's output (the agent's code) is quoted in the reasons we record; `agentos why`, `log`
    and `status` print them to the operator's terminal. Escape sequences there (clear the line, rewrite the
    title, OSC 52 clipboard writes) and bidi overrides are shown inert, never sent to the terminal."""
    from orchestrator.policy.control_commands import IssueRef
    from orchestrator.state.runtime import RuntimePaths
    from orchestrator.views import activity
    from orchestrator.views.status import render_status
    from orchestrator.views.why import why_text

    hostile = "\\x1b[2K\\x1b]52;c;cHduZWQ=\\x07\\x1b]0;title\\x07\\x9b31m\\u202eevil"
    body = f"""
    good_change()
    pathlib.Path("tests/test_loud.py").write_text(
        "def test_loud():\\n    print({hostile!r})\\n    assert False, {hostile!r}\\n"
    )
    result(summary={hostile!r})
    """
    setup = setup_case(sandbox, tmp_path, body, isolation="bwrap")
    run_once(setup)
    paths = RuntimePaths(setup.ctx.config.runtime_dir)
    issue = setup.seeded.issue_numbers[0]

    assert any(e["state"] == "escalated" and "loud" in e.get("reason", "") for e in events(setup))
    printed = why_text(setup.ctx.config, paths, IssueRef(REPO, issue))
    from orchestrator.state.metrics import read_events

    everything = activity.select(read_events(paths.metrics), activity.FeedFilter(), None)
    printed += "\n".join(activity.format_line(line) for line in everything)
    printed += render_status(setup.ctx.config, paths)
    assert "loud" in printed
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", printed), repr(printed)


@pytest.mark.parametrize("status", ["complete", "blocked"])  # blocked: no test step, the pool meets the tree
def test_a_tree_deeper_than_path_max_neither_crashes_the_attempt_nor_kills_the_slot(
    sandbox, tmp_path, status
):
    """A directory chain 3000 levels deep (6000 characters of path) is beyond what a full path or a
    recursive walk reaches: `shutil.rmtree` raises RecursionError, `git clean` gives up on it. Left by the
    agent next to real work, it must not crash the attempt, and the slot must serve the next task."""
    body = on_slugify("""
    for top in ("deep", "node_modules"):
        fd = os.open(".", os.O_RDONLY)
        os.mkdir(top, dir_fd=fd)
        for _ in range(3000):
            inner = os.open(top if _ == 0 else "d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
            os.mkdir("d", dir_fd=fd)
        os.close(fd)
    good_change()
    result(status=STATUS)
    """)
    try:
        body = body.replace("STATUS", repr(status))
        setup = setup_case(sandbox, tmp_path, body, isolation="bwrap", issues=TWO_ISSUES)
        run_once(setup)
        run_once(setup)
        titles = sorted(p.title for p in setup.ctx.forge.list_pulls(REPO, state="open"))
        expected = ["Add shout()", "Add slugify()"] if status == "complete" else ["Add shout()"]
        assert titles == expected, [(e["state"], e.get("reason")) for e in events(setup)]
    finally:  # pytest's clean-up of old temp dirs recurses: leave no deep tree behind
        subprocess.run(["rm", "-rf", "--", str(tmp_path / "case")], check=False)
