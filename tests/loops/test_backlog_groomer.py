"""backlog_groomer on the sandbox forge: stale labels, blocker triage on the board, backlog proposals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from orchestrator.demo.runner import REPO
from orchestrator.jobs import backlog_groomer
from orchestrator.loops.common import LoopArgs
from orchestrator.policy.dedup import marker_job
from orchestrator.state import decisions
from orchestrator.state.runtime import JobContext

from .conftest import NOW, MakeCtx, dump, event, issue_body

LOOPS = {"stale_days": 14, "target_backlog_depth": 6, "max_issues_per_run": 2, "incident_min_count": 3}
ISSUES = [
    {"title": "Old idea", "body": issue_body("Let users export their data as CSV files")},
    {
        "title": "Blocked feature",
        "body": issue_body("Show the import summary page after an upload") + "\nDepends on #3\n",
        "labels": ["blocked"],
        "status": "Blocked",
    },
    {"title": "Prerequisite", "body": issue_body("Store upload results in the database")},
    {
        "title": "Waiting feature",
        "body": issue_body("Email the import summary to the uploader") + "\nBlocked by #1\n",
        "labels": ["blocked"],
        "status": "Blocked",
    },
]


def objectives(tmp_path: Path) -> Path:
    directory = tmp_path / "objectives"
    directory.mkdir()
    (directory / "textkit.yaml").write_text(
        yaml.safe_dump(
            {
                "repo": "textkit",
                "primary_outcome": "Text utilities that people can rely on",
                "metrics": [
                    {"name": "merged_prs", "weight": 2, "direction": "up", "source": "events:merged"},
                    {"name": "escalations", "weight": 1, "direction": "down", "source": "events:escalated"},
                ],
            }
        )
    )
    return directory


def later(ctx: JobContext, days: float) -> None:
    ctx.clock = lambda: NOW + timedelta(days=days)


def statuses(ctx: JobContext) -> dict[int, str | None]:
    board = ctx.forge.get_board("agentos-admin", 1)
    return {i.issue_number: i.status for i in ctx.forge.board_items(board)}


def test_groomer_labels_stale_unblocks_and_fills_the_backlog(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx = make_ctx(issues=ISSUES, loops=LOOPS)
    ctx.forge.close_issue(REPO, 3)
    later(ctx, 20)
    for n in range(3):
        event(
            ctx,
            "tests_failed",
            timedelta(days=2),
            task=f"t{n}",
            agent="demo",
            reason=f"pytest exited 1 ({n})",
        )
    first = backlog_groomer.run(ctx, objectives_path=objectives(tmp_path))

    assert first.stale == [1] and first.unblocked == [2]
    old = ctx.forge.get_issue(REPO, 1)
    assert "stale" in old.labels
    for number, code in ((1, "stale"), (2, "unblocked")):
        said = decisions.subject(ctx.paths.state, REPO, number)
        assert said is not None and said.decisions["backlog_groomer"].code == code
    assert "No activity on this issue for 19 days" in ctx.forge.list_comments(REPO, 1)[-1].body  # 20 - ε
    blocked = ctx.forge.get_issue(REPO, 2)
    assert "blocked" not in blocked.labels and statuses(ctx)[2] == "Ready"
    assert "#3" in ctx.forge.list_comments(REPO, 2)[-1].body
    assert "blocked" in ctx.forge.get_issue(REPO, 4).labels and statuses(ctx)[4] == "Blocked"

    plan = first.plans[REPO]
    assert (plan.depth, plan.deficit) == (3, 3)
    # without an LLM: the recurring failure (evidence) is proposed, the objectives are not restated
    (filed,) = first.filings[REPO].filed
    assert filed.title.startswith("Recurring `tests_failed` in agentos-admin/textkit")
    assert marker_job(filed.body) == "backlog_groomer" and "bot-generated" in filed.labels
    assert "nothing" not in plan.note and "evidence-backed" in plan.note

    # not due again the same day; forced (before the failures happened), nothing is made up to fill the gap
    # (back to the forge's own time, so the issues just filed are not idle)
    later(ctx, 0)
    assert backlog_groomer.run(ctx, objectives_path=tmp_path / "objectives").not_due == ["textkit"]
    second = backlog_groomer.run(ctx, LoopArgs(force=True), objectives_path=tmp_path / "objectives")
    assert second.stale == [] and second.unblocked == []
    assert second.plans[REPO].deficit == 2
    assert second.filings[REPO].filed == [] and "nothing to propose" in second.plans[REPO].note
    assert len(ctx.forge.list_issues(REPO)) == 4
    assert not any("merged_prs" in i.title or "escalations" in i.title for i in ctx.forge.list_issues(REPO))


def test_without_an_llm_and_without_failures_nothing_is_filed(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx = make_ctx(loops=LOOPS)
    report = backlog_groomer.run(ctx, objectives_path=objectives(tmp_path))
    assert report.plans[REPO].deficit == 6 and report.filings[REPO].filed == []
    assert "nothing to propose" in report.plans[REPO].note
    assert ctx.forge.list_issues(REPO) == []


def test_the_machinerys_failures_are_not_backlog(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx = make_ctx(loops=LOOPS)
    for n in range(3):
        event(ctx, "timeout", timedelta(days=2), task=f"t{n}", agent="demo", reason="stalled")
    report = backlog_groomer.run(ctx, objectives_path=objectives(tmp_path))
    assert report.filings[REPO].filed == [] and ctx.forge.list_issues(REPO) == []


def test_llm_proposals_are_used_when_an_llm_answers(make_ctx: MakeCtx, tmp_path: Path) -> None:
    answer = dump(
        [
            {
                "title": "Add a text wrapping helper",
                "goal": "Add textkit.wrap.wrap(text, width) that wraps words at a given width",
                "success_criteria": "- wrap('a b c', 3) == 'a b\\nc'\n- tests pass",
                "reasoning": "Users ask for it; closes #1",
            }
        ]
    )
    ctx = make_ctx(loops=LOOPS, llm_answer=answer)
    report = backlog_groomer.run(ctx, objectives_path=objectives(tmp_path))
    filed = report.filings[REPO].filed
    assert [i.title for i in filed] == ["Add a text wrapping helper"]
    assert "closes `#1`" in filed[0].body and "## Reasoning" in filed[0].body


def test_run_job_arguments(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(loops=LOOPS)
    assert backlog_groomer.run_job(ctx, ["--nope"]) == 2
    assert backlog_groomer.run_job(ctx, ["--dry-run"]) == 0
    assert ctx.forge.list_issues(REPO) == []
