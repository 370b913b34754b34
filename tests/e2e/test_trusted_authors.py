"""Trusted authors end to end on the sandbox forge, in both board modes.

With `trusted_authors: [maintainer]`, a stranger's issue the stranger made Ready themselves is left alone —
not dispatched, not closed, not commented on, not labelled, still Ready — while a stranger's issue that the
maintainer moved to Ready (project mode: the Status value's creator) or labelled ready (labels mode: the
newest `labeled` issue event) is dispatched. Real HTTP, real users with their own tokens, the real dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from orchestrator.config.settings import BoardMode
from orchestrator.demo.runner import REPO, prepare
from orchestrator.github.auth import TokenAuth
from orchestrator.github.client import GitHubClient
from orchestrator.jobs import dispatcher
from orchestrator.jobs.entry import build_context
from orchestrator.sandbox.server import SandboxForge
from orchestrator.state.runtime import JobContext
from orchestrator.values.models import Issue
from tests.e2e.scripted import forge_api

pytestmark = pytest.mark.slow

BODY = (
    "## Goal\nAdd `textkit.shout(text)` returning the text upper-cased.\n\n"
    '## Success Criteria\n- `shout("hi") == "HI"` and the tests in `tests/test_shout.py` pass\n'
)


@dataclass
class Setting:
    ctx: JobContext
    stranger: GitHubClient
    maintainer: GitHubClient
    project_number: int


def _client(forge: SandboxForge, login: str) -> GitHubClient:
    token = forge.create_user(login)
    assert token is not None
    return GitHubClient(forge.api_url, forge.graphql_url, TokenAuth(token, source=f"{login}'s token"), None)


def _setting(forge: SandboxForge, workdir: Path, mode: BoardMode) -> Setting:
    setup = prepare(forge, workdir, issues=[])
    repo = setup.ctx.config.repos[0]
    repo = replace(repo, trusted_authors=("maintainer",), board=replace(repo.board, mode=mode))
    config = replace(setup.ctx.config, repos=(repo,))
    ctx = build_context(config, environ=setup.ctx.environ)
    ctx.forge.ensure_labels(REPO, {repo.labels.ready: "0e8a16"})
    number = setup.seeded.project_number
    assert number is not None
    return Setting(ctx, _client(forge, "stranger"), _client(forge, "maintainer"), number)


def _move_to_ready(actor: GitHubClient, setting: Setting, issue: Issue) -> None:
    board = actor.get_board("agentos-admin", setting.project_number)
    actor.set_item_status(board, actor.add_board_item(board, issue.node_id), "Ready")


def _comments(forge: SandboxForge, number: int) -> list[dict]:
    return list(forge_api(forge, "GET", f"/repos/{REPO}/issues/{number}/comments"))


def _assert_left_alone(forge: SandboxForge, ctx: JobContext, issue: Issue) -> None:
    now = ctx.forge.get_issue(REPO, issue.number)
    assert now.state == "open" and now.labels == issue.labels
    assert _comments(forge, issue.number) == []
    assert ctx.forge.matching_branches(REPO, f"agent/{issue.number}-") == {}


def test_project_mode_dispatches_only_what_a_trusted_user_moved_to_ready(
    sandbox: SandboxForge, tmp_path: Path
) -> None:
    setting = _setting(sandbox, tmp_path / "demo", "project")
    own = setting.stranger.create_issue(REPO, "Add shout()", BODY)
    vetted = setting.stranger.create_issue(REPO, "Add whisper()", BODY.replace("upper", "lower"))
    _move_to_ready(setting.stranger, setting, own)
    _move_to_ready(setting.maintainer, setting, vetted)

    report = dispatcher.run(setting.ctx)
    assert [task.split("__")[-2] for task in report.dispatched] == [str(vetted.number)]
    assert "'stranger'" in report.skipped[own.number] and not report.errors
    _assert_left_alone(sandbox, setting.ctx, own)
    board = setting.ctx.forge.get_board("agentos-admin", setting.project_number)
    statuses = {i.issue_number: i.status for i in setting.ctx.forge.board_items(board)}
    assert statuses == {own.number: "Ready", vetted.number: "In Progress"}
    assert len(_comments(sandbox, vetted.number)) == 1  # the picked-up comment


def test_labels_mode_dispatches_only_what_a_trusted_user_labelled_ready(
    sandbox: SandboxForge, tmp_path: Path
) -> None:
    setting = _setting(sandbox, tmp_path / "demo", "labels")
    own = setting.stranger.create_issue(REPO, "Add shout()", BODY, labels=["ready"])
    vetted = setting.stranger.create_issue(REPO, "Add whisper()", BODY.replace("upper", "lower"))
    setting.maintainer.add_labels(REPO, vetted.number, ["ready"])

    report = dispatcher.run(setting.ctx)
    assert [task.split("__")[-2] for task in report.dispatched] == [str(vetted.number)]
    assert "'stranger'" in report.skipped[own.number] and not report.errors
    _assert_left_alone(sandbox, setting.ctx, own)
    assert setting.ctx.forge.get_issue(REPO, vetted.number).labels == ("in-progress",)

    # later ticks read the stranger's issue history again, conditionally: once nothing changes (the first
    # tick's own moves are seen by the second), a tick costs no counted request
    assert dispatcher.run(setting.ctx).dispatched == []
    before = sandbox.stats()
    assert dispatcher.run(setting.ctx).dispatched == []
    after = sandbox.stats()
    assert after["counted"] == before["counted"] and after["not_modified"] > before["not_modified"]


def test_a_stranger_relabelling_a_vetted_issue_takes_the_trust_away(
    sandbox: SandboxForge, tmp_path: Path
) -> None:
    """The newest `labeled` event decides: trust is not kept once a stranger re-adds the label."""
    setting = _setting(sandbox, tmp_path / "demo", "labels")
    issue = setting.stranger.create_issue(REPO, "Add shout()", BODY)
    setting.maintainer.add_labels(REPO, issue.number, ["ready"])
    setting.stranger.remove_label(REPO, issue.number, "ready")
    setting.stranger.add_labels(REPO, issue.number, ["ready"])
    report = dispatcher.run(setting.ctx)
    assert report.dispatched == [] and "'stranger'" in report.skipped[issue.number]
    _assert_left_alone(sandbox, setting.ctx, setting.ctx.forge.get_issue(REPO, issue.number))
