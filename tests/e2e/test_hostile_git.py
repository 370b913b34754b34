"""Hostile agents against our git and our secret guard, end to end on the sandbox forge (agents.isolation: none —
the agent runs with our uid and can write our clones).

Each case ends with what the forge holds (every object of its bare repository), our clones' config and hooks,
the marker files a filter, hook or planted command would have written, and the reason we give.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.demo.runner import REPO
from orchestrator.security.secret_catalog import fingerprint
from orchestrator.values.models import TaskState
from tests.e2e.hostile import (
    TOKEN,
    TOKEN_EXPR,
    assert_clones_are_ours,
    branch_of,
    escalation_reasons,
    every_forge_object,
    forge_git,
    run_once,
    security_reasons,
    setup_case,
)

pytestmark = pytest.mark.slow


def markers_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("MARK*"))


def test_a_redirected_git_file_with_filters_hooks_and_an_ext_remote_is_never_obeyed(sandbox, tmp_path):
    trap = tmp_path / "trap"
    trap.mkdir()
    body = f"""
    marker = {str(trap / "MARK")!r}
    evil = pathlib.Path({str(trap / "evil.git")!r})
    subprocess.run(["git", "init", "-q", "--bare", str(evil)], check=True)
    (evil / "config").write_text(
        "[core]\\n\\trepositoryformatversion = 0\\n\\tbare = false\\n"
        f"\\tworktree = {{os.getcwd()}}\\n\\tfsmonitor = touch {{marker}}-fsmonitor\\n\\thooksPath = {{evil}}/hooks\\n"
        f"[filter \\"x\\"]\\n\\tclean = sh -c 'touch {{marker}}-clean; env > {{marker}}-env; cat'\\n"
        f"\\tsmudge = sh -c 'touch {{marker}}-smudge; cat'\\n"
        "[protocol \\"ext\\"]\\n\\tallow = always\\n"
        f"[remote \\"origin\\"]\\n\\turl = ext::sh -c touch% {{marker}}-ext\\n\\tpushurl = ext::sh -c touch% {{marker}}-ext\\n"
        f"[credential]\\n\\thelper = !touch {{marker}}-credential\\n")
    (evil / "hooks").mkdir(exist_ok=True)
    for hook in ("pre-commit", "pre-push", "post-checkout", "reference-transaction", "post-index-change"):
        (evil / "hooks" / hook).write_text(f"#!/bin/sh\\ntouch {{marker}}-hook-{{hook}}\\n")
        (evil / "hooks" / hook).chmod(0o755)
    pathlib.Path(".git").write_text(f"gitdir: {{evil}}\\n")
    pathlib.Path(".gitattributes").write_text("* filter=x\\n")
    good_change()
    result()
    """
    setup = setup_case(sandbox, tmp_path, body)
    run_once(setup)

    assert markers_in(trap) == [], (
        "a filter, hook, fsmonitor, credential helper or ext:: remote of the agent ran"
    )
    assert any("pointed .git at gitdir:" in r for r in security_reasons(setup)), security_reasons(setup)
    branch = branch_of(setup)
    assert "textkit/slug.py" in forge_git(setup, "ls-tree", "-r", "--name-only", branch).split()
    (pr,) = setup.ctx.forge.list_pulls(REPO, state="open")
    assert pr.head_ref == branch
    assert_clones_are_ours(setup)


PLANTING_CONFTEST = """
import pathlib, subprocess


def _plant():
    if not pathlib.Path(".git").is_file():
        return  # the forge's CI clone: nothing of ours to attack there
    common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True).stdout.strip()
    configs = [pathlib.Path(common) / "config"]
    trusted = subprocess.run(["git", "config", "--file", str(configs[0]), "remote.origin.url"],
                             capture_output=True, text=True).stdout.strip()
    if trusted:
        configs.append(pathlib.Path(trusted) / "config")
    for config in configs:
        with open(config, "a") as handle:
            handle.write(
                '[remote "origin"]\\n\\treceivepack = touch MARKER-receivepack\\n'
                "\\tuploadpack = touch MARKER-uploadpack\\n"
                "[core]\\n\\tsshCommand = touch MARKER-ssh\\n\\tfsmonitor = touch MARKER-fsmonitor\\n"
                "\\thooksPath = /tmp\\n"
                "[credential]\\n\\thelper = !touch MARKER-credential\\n"
                '[filter "x"]\\n\\tclean = touch MARKER-clean\\n\\tsmudge = touch MARKER-smudge\\n'
                '[protocol "ext"]\\n\\tallow = always\\n'
            )


_plant()
"""


def test_config_planted_in_our_clones_during_the_test_step_is_undone_before_our_git_runs(sandbox, tmp_path):
    trap = tmp_path / "trap"
    trap.mkdir()
    source = trap / "conftest_source.py"
    source.write_text(PLANTING_CONFTEST.replace("MARKER", str(trap / "MARK")))
    body = f"""
    import shutil
    shutil.copy({str(source)!r}, "conftest.py")
    pathlib.Path(".gitattributes").write_text("* filter=x\\n")
    good_change()
    result()
    """
    setup = setup_case(sandbox, tmp_path, body)
    run_once(setup)

    assert markers_in(trap) == []
    reasons = security_reasons(setup)
    assert any("the test step changed" in r and "config" in r for r in reasons), reasons
    assert_clones_are_ours(setup)
    (pr,) = setup.ctx.forge.list_pulls(REPO, state="open")
    assert "conftest.py" in forge_git(setup, "ls-tree", "-r", "--name-only", pr.head_ref).split()


def test_a_token_committed_and_removed_again_never_leaves_the_machine(sandbox, tmp_path):
    body = f"""
    pathlib.Path("leak.txt").write_text("token=" + {TOKEN_EXPR} + "\\n")
    git("add", "leak.txt")
    git("commit", "-qm", "oops")
    pathlib.Path("leak.txt").unlink()
    git("add", "-A")
    git("commit", "-qm", "remove it again")
    good_change()
    result()
    """
    setup = setup_case(sandbox, tmp_path, body)
    run_once(setup)

    assert TOKEN not in every_forge_object(setup)
    (pr,) = setup.ctx.forge.list_pulls(REPO, state="open")
    log = forge_git(setup, "log", "--format=%an|%s", f"main..{pr.head_ref}").splitlines()
    assert log == ["Agent OS demo|Implemented slugify()"], "only our commit, never the agent's own"
    assert_clones_are_ours(setup)
    assert security_reasons(setup) == [], "an agent using git in its worktree as git is meant is no incident"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (f"good_change()\nresult(summary='done; token ' + {TOKEN_EXPR})", "commit message"),
        (
            f"""
            pathlib.Path(".gitattributes").write_text("data.bin -diff\\n")
            pathlib.Path("data.bin").write_bytes(b"\\x00\\x01binary\\n" + {TOKEN_EXPR}.encode() + b"\\n")
            good_change()
            result()
            """,
            "data.bin:2: github-token",
        ),
        (
            f"""
            pathlib.Path("tests/fixture_token.py").write_text(
                "FAKE = '" + {TOKEN_EXPR} + "'  # agentos: allow-secret\\n")
            good_change()
            result()
            """,
            "tests/fixture_token.py:1: github-token",
        ),
    ],
    ids=["token-in-summary", "token-behind-minus-diff", "allow-marker"],
)
def test_secrets_anywhere_we_would_publish_are_refused_and_escalated(sandbox, tmp_path, body, needle):
    setup = setup_case(sandbox, tmp_path, body)
    run_once(setup)

    (escalated,) = setup.ctx.mailbox.list(TaskState.ESCALATED)
    reasons = escalation_reasons(setup)
    assert any(needle in r and "secret_in_diff" in r for r in reasons), reasons
    assert TOKEN not in every_forge_object(setup)
    assert all(TOKEN not in r for r in reasons)
    assert escalated.task is not None
    base = forge_git(setup, "rev-parse", "main").strip()
    assert forge_git(setup, "rev-parse", escalated.task.branch).strip() == base, "nothing was pushed"


def test_the_operators_allow_list_clears_a_false_positive(sandbox, tmp_path):
    body = f"""
    pathlib.Path("tests/fixture_token.py").write_text("FAKE = '" + {TOKEN_EXPR} + "'\\n")
    good_change()
    result()
    """
    allow = [{"path": "tests/fixture_*.py", "fingerprint": fingerprint(TOKEN)[:23], "reason": "test fixture"}]
    setup = setup_case(sandbox, tmp_path, body, repo_extra={"secret_allowlist": allow})
    run_once(setup)

    (pr,) = setup.ctx.forge.list_pulls(REPO, state="open")
    assert "tests/fixture_token.py" in forge_git(setup, "ls-tree", "-r", "--name-only", pr.head_ref).split()


def test_a_committed_result_file_never_reaches_the_forge(sandbox, tmp_path):
    body = """
    good_change()
    result()
    pathlib.Path("sub").mkdir()
    pathlib.Path("sub/.agent_result.md").write_text("STATUS: complete\\n")
    git("add", "-f", ".agent_result.md", "sub/.agent_result.md", "textkit/slug.py")
    git("commit", "-qm", "with the result file")
    """
    setup = setup_case(sandbox, tmp_path, body)
    run_once(setup)

    (pr,) = setup.ctx.forge.list_pulls(REPO, state="open")
    names = forge_git(setup, "ls-tree", "-r", "--name-only", pr.head_ref).split()
    assert "textkit/slug.py" in names
    assert not [n for n in names if n.endswith(".agent_result.md")]
    outcome = [e for e in _events(setup) if e["state"] == "complete"]
    assert outcome and "sub/.agent_result.md" in outcome[0]["reason"]


def _events(setup):
    from tests.e2e.hostile import events

    return events(setup)


def test_conflict_markers_are_refused_before_push_whitespace_errors_are_not(sandbox, tmp_path):
    """Whitespace errors go to the verifier (where a human's approval clears them), never a refused push."""
    body = """
    pathlib.Path("textkit/slug.py").write_text(
        "<<<<<<< HEAD\\ndef slugify(text):\\n=======\\ndef slugify(text):  \\n>>>>>>> theirs\\n"
        "    return text\\n")
    result()
    """
    setup = setup_case(sandbox, tmp_path, body)
    run_once(setup)

    (escalated,) = setup.ctx.mailbox.list(TaskState.ESCALATED)
    reasons = escalation_reasons(setup)
    wanted = ["textkit/slug.py:1: leftover conflict marker", "textkit/slug.py:5: leftover conflict marker"]
    assert any(all(w in r for w in wanted) and "refused before push" in r for r in reasons), reasons
    assert not any("whitespace" in r for r in reasons), reasons
    assert escalated.task is not None
    base = forge_git(setup, "rev-parse", "main").strip()
    assert forge_git(setup, "rev-parse", escalated.task.branch).strip() == base


def test_refused_work_is_put_back_so_the_next_attempt_fixes_it(sandbox, tmp_path):
    body = """
    slug = pathlib.Path("textkit/slug.py")
    if slug.exists() and "<<<<<<<" in slug.read_text():
        good_change()  # the markers of our first attempt are back in the worktree: resolve them
        result()
    else:
        slug.write_text("<<<<<<< HEAD\\ndef slugify(text):\\n=======\\n>>>>>>> x\\n")
        pathlib.Path("textkit/helper.py").write_text("HELPER = 1\\n")
        result()
    """
    setup = setup_case(sandbox, tmp_path, body, max_attempts=2)
    run_once(setup)

    states = [e["state"] for e in _events(setup) if e["state"] in ("refused", "complete")]
    assert states == ["refused", "complete"]
    (pr,) = setup.ctx.forge.list_pulls(REPO, state="open")
    names = forge_git(setup, "ls-tree", "-r", "--name-only", pr.head_ref).split()
    assert "textkit/helper.py" in names, "the first attempt's other work survived"
    assert "<<<<<<<" not in forge_git(setup, "show", f"{pr.head_ref}:textkit/slug.py")


def test_a_push_over_someone_elses_push_is_an_outcome_not_a_crash(sandbox, tmp_path):
    # Someone else (a human with their own token, here the sandbox admin's) pushes to the task branch while the
    # agent works. The agent code plays them: it finds the forge through our clones' config (readable with
    # isolation: none) — git over HTTP needs a token there, which our clones never hold.
    body = """
    import base64
    common = git("rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip()
    trusted = git("config", "--file", common + "/config", "remote.origin.url").stdout.strip()
    forge = git("config", "--file", trusted + "/config", "remote.origin.url").stdout.strip()
    assert git("push", "-q", "--dry-run", forge, "HEAD:refs/heads/x", check=False).returncode != 0, "no token"
    token = pathlib.Path(TOKEN_FILE).read_text().strip()
    header = "Authorization: Basic " + base64.b64encode(("x:" + token).encode()).decode()
    branch = git("branch", "--show-current").stdout.strip()
    pathlib.Path("theirs.txt").write_text("someone else's work\\n")
    git("add", "theirs.txt")
    git("commit", "-qm", "someone else")
    git("-c", "http.extraheader=" + header, "push", "-q", forge, f"HEAD:refs/heads/{branch}")
    git("reset", "-q", "--hard", "HEAD~1")
    good_change()
    result()
    """.replace("TOKEN_FILE", repr(str(sandbox.data_dir / "token")))
    setup = setup_case(sandbox, tmp_path, body)
    run_once(setup)

    (escalated,) = setup.ctx.mailbox.list(TaskState.ESCALATED)
    assert not setup.ctx.mailbox.list(TaskState.RUNNING)
    reasons = escalation_reasons(setup)
    assert any("push_rejected" in r and "someone else pushed" in r for r in reasons), reasons
    assert escalated.task is not None
    names = forge_git(setup, "ls-tree", "-r", "--name-only", escalated.task.branch).split()
    assert "theirs.txt" in names and "textkit/slug.py" not in names, "their push was not overwritten"
