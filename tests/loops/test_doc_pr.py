"""doc_pr.propose_documents on the sandbox forge: real git worktrees, real pushes, real PRs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator import git
from orchestrator.demo.runner import REPO, prepare
from orchestrator.executors import doc_pr
from orchestrator.executors.worktrees import pool_for

NOW = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def ctx(sandbox, tmp_path: Path):
    setup = prepare(sandbox, tmp_path / "case", issues=[])
    setup.ctx.clock = lambda: NOW
    return setup.ctx


def _show(ctx, ref: str, path: str) -> str:
    repo = ctx.config.repos[0]
    pool = pool_for(ctx, repo)
    pool.fetch()
    return git.run_git(["show", f"origin/{ref}:{path}"], pool.repo_dir).stdout


def test_documents_open_a_pr_and_never_touch_the_base(ctx):
    repo = ctx.config.repos[0]
    base_before = ctx.forge.get_branch_sha(REPO, "main")
    pr = doc_pr.propose_documents(
        ctx,
        repo,
        {"STRATEGY.md": "# Strategy\n", "docs/SPRINT_REPORT.md": "# Report\n"},
        "t",
        "b",
        "Strategy",
    )
    assert pr is not None
    assert pr.head_ref == "agent/docs-strategy-20250304" and pr.base_ref == "main"
    assert "Closes #" not in pr.body
    assert ctx.forge.get_branch_sha(REPO, "main") == base_before
    assert _show(ctx, pr.head_ref, "docs/SPRINT_REPORT.md") == "# Report\n"
    assert sorted(ctx.forge.pull_files(REPO, pr.number)) == ["STRATEGY.md", "docs/SPRINT_REPORT.md"]


def test_same_content_is_no_pr_and_a_later_change_updates_the_open_pr(ctx):
    repo = ctx.config.repos[0]
    first = doc_pr.propose_documents(ctx, repo, {"STRATEGY.md": "one\n"}, "Strategy v1", "body 1", "strategy")
    assert first is not None
    assert (
        doc_pr.propose_documents(ctx, repo, {"STRATEGY.md": "one\n"}, "Strategy v1", "body 1", "strategy")
        is None
    )

    ctx.clock = lambda: NOW.replace(day=5)  # a later day still lands on the open PR's branch
    second = doc_pr.propose_documents(
        ctx,
        repo,
        {"STRATEGY.md": lambda current: (current or "") + "two\n"},
        "Strategy v2",
        "body 2",
        "strategy",
    )
    assert second is not None and second.number == first.number
    assert second.title == "Strategy v2" and second.body == "body 2"
    assert _show(ctx, first.head_ref, "STRATEGY.md") == "one\ntwo\n"
    assert len(ctx.forge.list_pulls(REPO, state="open")) == 1


def test_an_edit_sees_the_base_content_when_no_pr_is_open(ctx):
    repo = ctx.config.repos[0]
    seen: list[str | None] = []

    def edit(current: str | None) -> str:
        seen.append(current)
        return (current or "") + "\nmore\n"

    pr = doc_pr.propose_documents(ctx, repo, {"README.md": edit}, "readme", "", "readme")
    assert pr is not None and seen[0] is not None and seen[0].startswith("#")
    assert _show(ctx, pr.head_ref, "README.md").endswith("\nmore\n")


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.md", ".git/config", ""])
def test_unsafe_paths_are_refused_before_any_git_work(ctx, path):
    with pytest.raises(doc_pr.UnsafeDocumentPath):
        doc_pr.propose_documents(ctx, ctx.config.repos[0], {path: "x"}, "t", "b", "bad")


def test_a_document_holding_a_credential_is_not_pushed(ctx):
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    with pytest.raises(doc_pr.SecretInDocument):
        doc_pr.propose_documents(
            ctx, ctx.config.repos[0], {"NOTES.md": f"token {token}\n"}, "t", "b", "notes"
        )
    assert ctx.forge.list_pulls(REPO, state="open") == []
    assert ctx.forge.get_branch_sha(REPO, "agent/docs-notes-20250304") is None


@pytest.mark.parametrize(
    ("head", "hint", "matches"),
    [
        ("agent/docs-strategy-20250304", "strategy", True),
        ("agent/docs-strategy", "strategy", True),
        ("agent/docs-strategy-report-20250304", "strategy", False),
        ("agent/12-strategy", "strategy", False),
    ],
)
def test_docs_branch_matching(head, hint, matches):
    assert doc_pr.is_docs_branch_for(head, doc_pr.docs_branch_prefix(hint)) is matches
