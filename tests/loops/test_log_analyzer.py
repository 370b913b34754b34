"""log_analyzer on the sandbox forge: a week of attempt events → one chronic-failure issue, filed once."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.demo.runner import REPO
from orchestrator.jobs import log_analyzer
from orchestrator.loops.common import LoopArgs
from orchestrator.state.runtime import JobContext

from .conftest import NOW, MakeCtx, dump, event, sent_texts

LOOPS = {"max_issues_per_run": 3}


def seed_week(ctx: JobContext) -> None:
    for n in range(6):
        event(ctx, "complete", timedelta(days=n % 6), task=f"ok{n}", agent="claude", duration_s=60.0)
    for n, state in enumerate(("timeout", "timeout", "timeout", "crash", "blocked")):
        event(
            ctx, state, timedelta(days=n + 1), task=f"bad{n}", agent="codex", reason=f"stalled after {n} min"
        )
    event(ctx, "timeout", timedelta(days=9), task="old", agent="claude", reason="old")  # outside the week


def test_chronic_agent_failure_becomes_one_issue_in_the_ops_repo(make_ctx: MakeCtx, ops_repo: str) -> None:
    ctx = make_ctx(loops={**LOOPS, "ops_repo": ops_repo})
    seed_week(ctx)
    report = log_analyzer.run(ctx)
    assert [p.key for p in report.patterns] == ["chronic:agent:codex"]
    assert report.filings[REPO].filed == []  # an agent failing is Agent OS's setup, not the product's work
    filed = report.filings[ops_repo].filed
    assert len(filed) == 1
    body = filed[0].body
    assert filed[0].title == "Chronic failures: agent `codex` fails 100% of attempts (7 days)"
    assert "## Evidence" in body and "## Reasoning" in body
    assert "5 failed of 5 attempts (100%)" in body and "`timeout` 3" in body and "`bad0`" in body
    assert "stalled after n min" in body  # the fingerprinted reason

    assert log_analyzer.run(ctx).not_due == ["textkit"]  # weekly
    ctx.clock = lambda: NOW + timedelta(days=7)
    seed_week(ctx)
    again = log_analyzer.run(ctx)
    assert again.filings[ops_repo].filed == [] and len(again.filings[ops_repo].duplicates) == 1


def test_no_patterns_no_issues(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(loops=LOOPS)
    for n in range(5):
        event(ctx, "complete", task=f"ok{n}", agent="claude")
    report = log_analyzer.run(ctx)
    assert report.patterns == [] and report.filings[REPO].filed == []


def test_cap_limits_the_issues_filed(make_ctx: MakeCtx, ops_repo: str) -> None:
    ctx = make_ctx(loops={"max_issues_per_run": 1, "ops_repo": ops_repo})
    for n in range(5):
        event(ctx, "timeout", task=f"a{n}", agent="codex", reason="stalled")
    report = log_analyzer.run(ctx)  # agent, task type and repo all fail: three patterns, all the machinery's
    assert len(report.patterns) == 3
    assert len(report.filings[ops_repo].filed) == 1 and len(report.filings[ops_repo].over_cap) == 2


def test_a_repository_failing_on_its_own_tests_is_filed_there(make_ctx: MakeCtx, bot_api) -> None:
    ctx = make_ctx(loops=LOOPS, telegram=bot_api)
    for n in range(5):
        event(ctx, "tests_failed", task=f"a{n}", agent="codex", reason="test_parser: assert 1 == 2")
    report = log_analyzer.run(ctx)
    assert [i.title for i in report.filings[REPO].filed] == [
        f"Chronic failures: repository `{REPO}` fails 100% of attempts (7 days)"
    ]
    assert sorted(p.key for p in report.noted) == ["chronic:agent:codex", "chronic:task_type:default"]
    assert len(sent_texts(bot_api)) == 2


def test_llm_analysis_is_added_to_the_reasoning(make_ctx: MakeCtx, ops_repo: str) -> None:
    ctx = make_ctx(
        loops={**LOOPS, "ops_repo": ops_repo},
        llm_answer=dump({"chronic:agent:codex": "The codex timeout is too short."}),
    )
    seed_week(ctx)
    filed = log_analyzer.run(ctx, LoopArgs(force=True)).filings[ops_repo].filed
    assert "Analysis by `oracle`: The codex timeout is too short." in filed[0].body
