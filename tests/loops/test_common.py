"""The loops' shared machinery on the sandbox forge: cadence gate, filing with dedup and caps, the LLM helper."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.demo.runner import REPO
from orchestrator.loops import common
from orchestrator.loops.common import IssueDraft, LoopArgs, LoopArgsError, file_issues, parse_loop_args
from orchestrator.policy.proposal import Proposal
from orchestrator.policy.requirement_guard import check_requirements

from .conftest import NOW, MakeCtx, issue_body, oracle_prompt


def draft(title: str, goal: str, key: str = "", labels: tuple[str, ...] = ()) -> IssueDraft:
    body = common.render_issue_body(
        job="test", key=key, goal=goal, success_criteria="- the behaviour is covered by a passing test"
    )
    return IssueDraft(title, body, labels, key)


DRAFTS = [
    draft("Cache parsed config files", "Parse config files once per process and reuse the result", "t:cache"),
    draft(
        "Add retries to the uploader", "Retry failed uploads three times with exponential backoff", "t:retry"
    ),
    draft(
        "Document the CLI flags", "Every CLI flag has a paragraph in docs/cli.md with an example", "t:docs"
    ),
    draft("Speed up the test suite", "The unit test suite runs in under ten seconds on two cores", "t:speed"),
]


@pytest.mark.parametrize(
    ("last", "ago", "every", "expected"),
    [
        (False, None, timedelta(hours=6), True),
        (True, timedelta(hours=1), timedelta(hours=6), False),
        (True, timedelta(hours=6), timedelta(hours=6), True),
        (True, timedelta(hours=5, minutes=50), timedelta(hours=6), True),  # cron jitter slack
        (True, timedelta(hours=5), timedelta(hours=6), False),
        (True, timedelta(days=6, hours=23, minutes=50), timedelta(days=7), True),  # slack capped at 15 min
        (True, timedelta(days=6, hours=23), timedelta(days=7), False),
    ],
)
def test_is_due(last: bool, ago: timedelta | None, every: timedelta, expected: bool) -> None:
    assert common.is_due(NOW - ago if last and ago else None, NOW, every) is expected


def test_cadence_gate_is_per_job_and_repo_and_persisted(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    every = timedelta(hours=6)
    assert common.due(ctx, "incident_scanner", "textkit", every)
    common.mark_ran(ctx, "incident_scanner", "textkit")
    assert not common.due(ctx, "incident_scanner", "textkit", every)
    assert common.due(ctx, "incident_scanner", "other", every)
    assert common.due(ctx, "log_analyzer", "textkit", every)
    ctx.clock = lambda: NOW + every
    assert common.due(ctx, "incident_scanner", "textkit", every)
    assert common.last_run(ctx, "incident_scanner", "textkit") == NOW
    assert (ctx.paths.state / "loops.json").exists()


def test_loop_data_round_trip(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    assert common.loop_data(ctx, "agent_scorer") == {}
    common.update_loop_data(ctx, "agent_scorer", lambda d: {**d, "weak": ["codex"]})
    common.mark_ran(ctx, "agent_scorer", "*")
    assert common.loop_data(ctx, "agent_scorer") == {"weak": ["codex"]}


def test_file_issues_caps_labels_and_skips_duplicates(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(issues=[{"title": "Document the CLI flags", "body": issue_body()}])
    report = file_issues(ctx, REPO, [*DRAFTS, DRAFTS[0]], cap=2, job="test")
    assert [i.title for i in report.filed] == ["Cache parsed config files", "Add retries to the uploader"]
    assert [d.title for d, _ in report.duplicates] == ["Document the CLI flags", "Cache parsed config files"]
    assert report.duplicates[0][1] == "#1 same title"
    assert [d.title for d in report.over_cap] == ["Speed up the test suite"]
    for issue in report.filed:
        got = ctx.forge.get_issue(REPO, issue.number)
        assert set(got.labels) == {"bot-generated"}
        assert check_requirements(got.title, got.body).ok
        assert "<!-- agentos-loop job=test key=t:" in got.body

    again = file_issues(ctx, REPO, DRAFTS, cap=2, job="test")
    assert [i.title for i in again.filed] == ["Speed up the test suite"]
    assert len(ctx.forge.list_issues(REPO)) == 4


def test_recently_closed_issues_block_refiling_until_the_window_passes(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    first = file_issues(ctx, REPO, DRAFTS[:1], cap=3, job="test").filed[0]
    ctx.forge.close_issue(REPO, first.number)
    assert file_issues(ctx, REPO, DRAFTS[:1], cap=3, job="test", closed_within=timedelta(days=1)).filed == []
    ctx.clock = lambda: NOW + timedelta(days=2)
    refiled = file_issues(ctx, REPO, DRAFTS[:1], cap=3, job="test", closed_within=timedelta(days=1))
    assert [i.title for i in refiled.filed] == [DRAFTS[0].title]


def test_drafts_without_goal_or_criteria_are_rejected_and_dry_run_files_nothing(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    bad = IssueDraft("Vague", "please improve things")
    report = file_issues(ctx, REPO, [bad, DRAFTS[1]], cap=3, job="test", dry_run=True)
    assert [d.title for d, _ in report.rejected] == ["Vague"]
    assert [d.title for d in report.would_file] == [DRAFTS[1].title]
    assert report.filed == [] and ctx.forge.list_issues(REPO) == []


def test_a_key_only_draft_gets_its_marker_and_extra_labels(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    plain = IssueDraft("Plain draft", issue_body(), ("autonomous-fix",), "plain:key")
    issue = file_issues(ctx, REPO, [plain], cap=1, job="test").filed[0]
    got = ctx.forge.get_issue(REPO, issue.number)
    assert "key=plain:key" in got.body and set(got.labels) == {"bot-generated", "autonomous-fix"}
    assert file_issues(
        ctx, REPO, [IssueDraft("Renamed", issue_body("x" * 30), (), "plain:key")], 1, job="t"
    ).duplicates


def test_proposal_draft_sanitizes_excerpts_and_passes_the_guard() -> None:
    hostile = "```\n## Goal\nCloses #1 and ping @admin\n```\n<!-- hidden -->"
    p = Proposal(
        repo=REPO,
        key="k",
        title="T",
        goal="Fix the recurring failure in the importer",
        success_criteria="- a regression test passes",
        evidence="- 3 events",
        excerpts=(hostile,),
        reasoning="Because it keeps happening.",
    )
    body = common.proposal_draft(p, "incident_scanner").body
    result = check_requirements("T", body)
    assert result.ok
    assert result.sections.goal == "Fix the recurring failure in the importer"
    assert "## Evidence" in body and "## Reasoning" in body
    assert "`#1`" in body and "`@admin`" in body and "hidden" not in body
    assert "\n```\n## Goal" not in body


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], LoopArgs()),
        (["--force"], LoopArgs(force=True)),
        (["--repo", "textkit", "--dry-run"], LoopArgs(repo="textkit", dry_run=True)),
        (["--repo=o/r"], LoopArgs(repo="o/r")),
    ],
)
def test_parse_loop_args(argv: list[str], expected: LoopArgs) -> None:
    assert parse_loop_args(argv) == expected


@pytest.mark.parametrize("argv", [["--bogus"], ["--repo"]])
def test_parse_loop_args_rejects(argv: list[str]) -> None:
    with pytest.raises(LoopArgsError):
        parse_loop_args(argv)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"a": 1}]', [{"a": 1}]),
        ('Here you go:\n```json\n{"k": "v"}\n```\nThanks', {"k": "v"}),
        ("Sure! [1, 2, 3] is the list.", [1, 2, 3]),
        ("no json here", None),
        ("{broken", None),
    ],
)
def test_parse_json_answer(text: str, expected: object) -> None:
    assert common.parse_json_answer(text) == expected


def test_llm_text_is_none_without_an_llm_agent(make_ctx: MakeCtx) -> None:
    assert common.llm_text(make_ctx(), "hello") is None


def test_llm_json_asks_the_configured_agent_in_print_mode(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(llm_answer='[{"title": "x"}]')
    assert common.llm_json(ctx, "the question", purpose="test") == [{"title": "x"}]
    assert "the question" in oracle_prompt(ctx)


def test_llm_failure_returns_none(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(llm_fails=True)
    assert common.llm_text(ctx, "hello", purpose="test") is None


def test_llm_proposals_drop_incomplete_items_and_neutralize_text() -> None:
    value = [
        {
            "title": "Add caching",
            "goal": "Cache it. Closes #4",
            "success_criteria": "- ## Goal\n- fast",
            "reasoning": "@bob",
        },
        {"title": "", "goal": "g", "success_criteria": "c"},
        {"title": "No criteria", "goal": "g"},
        "not an object",
    ]
    got = common.llm_proposals(value, repo=REPO, key_prefix="groom:llm")
    assert len(got) == 1
    assert got[0].key == "groom:llm:add-caching"
    assert "`#4`" in got[0].goal and got[0].reasoning == "`@bob`"
    assert common.llm_proposals({"not": "a list"}, repo=REPO, key_prefix="x") == []
