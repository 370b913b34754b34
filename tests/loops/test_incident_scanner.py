"""incident_scanner on the sandbox forge: seeded events and job logs → autonomous-fix issues, capped, once."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.demo.runner import REPO
from orchestrator.jobs import incident_scanner
from orchestrator.loops.common import LoopArgs
from orchestrator.policy.requirement_guard import check_requirements
from orchestrator.state import decisions
from orchestrator.state.runtime import JobContext

from .conftest import NOW, MakeCtx, dump, event, oracle_prompt, sent_texts

LOOPS = {"incident_window_hours": 72, "incident_min_count": 3, "max_issues_per_run": 3}


def seed_incidents(ctx: JobContext) -> None:
    for n in range(3):
        event(
            ctx, "tests_failed", task=f"t{n}", issue=n + 1, agent="demo", reason=f"pytest exited 1 after {n}s"
        )
        event(ctx, "escalated", task=f"e{n}", issue=n + 10, reason="agent chain exhausted")
    for state in ("partial", "partial", "contract_error", "fix_ci", "fix_ci", "recovered"):
        event(ctx, state, task="storm__1__g1", issue=7, agent="demo", reason="again")
    log = ctx.paths.logs / "queue.log"
    stamp = f"{NOW - timedelta(hours=2):%Y-%m-%dT%H:%M:%S}.000Z"
    lines = [
        f'ts={stamp} level=error job=queue logger=q msg="claim failed repo={REPO} error=boom {n}"'
        for n in range(3)
    ]
    lines.append(f'ts={stamp} level=info job=queue logger=q msg="fine"')
    log.write_text("\n".join(lines) + "\n")
    # the same lines as seen through cron.log are not counted twice
    (ctx.paths.logs / "cron.log").write_text("\n".join(lines) + "\n")


def test_product_incidents_go_to_their_repo_and_ops_incidents_to_the_ops_repo(
    make_ctx: MakeCtx, ops_repo: str
) -> None:
    ctx = make_ctx(loops={**LOOPS, "ops_repo": ops_repo, "max_issues_per_run": 2})
    seed_incidents(ctx)
    first = incident_scanner.run(ctx)
    assert sorted(i.rule for i in first.incidents) == [
        "escalations",
        "job_errors",
        "recurring_outcome",
        "retry_storm",
    ]
    # the product repo gets only its own work: its tests keep failing the same way
    (product,) = first.filings[REPO].filed
    assert "Recurring `tests_failed`" in product.title and "`t0`, `t1`, `t2`" in product.body
    # the job's errors, the retry storm and the escalations are Agent OS's own: the ops repo, capped
    ops = first.filings[ops_repo]
    assert len(ops.filed) == 2 and len(ops.over_cap) == 1
    for issue in [product, *ops.filed]:
        assert set(issue.labels) == {"bot-generated", "autonomous-fix"}
        assert "## Evidence" in issue.body and "## Reasoning" in issue.body
        assert check_requirements(issue.title, issue.body).ok
    assert first.noted == []
    said = decisions.subject(ctx.paths.state, ops_repo, ops.filed[0].number)
    assert said is not None and said.decisions["incident_scanner"].words.startswith(
        "filed by the incident_scanner loop"
    )

    assert incident_scanner.run(ctx).not_due == ["textkit"]  # cadence: every 6 h
    second = incident_scanner.run(ctx, LoopArgs(force=True))
    assert len(second.filings[ops_repo].filed) == 1 and len(second.filings[ops_repo].duplicates) == 2
    assert second.filings[REPO].filed == [] and len(second.filings[REPO].duplicates) == 1
    assert [i.title for i in ctx.forge.list_issues(REPO)] == [product.title]
    titles = [i.title for i in ctx.forge.list_issues(ops_repo)]
    assert len(titles) == 3 and any("Job `queue` is failing repeatedly (3 errors" in t for t in titles)


def test_without_an_ops_repo_ops_incidents_are_told_on_telegram_once_never_filed(
    make_ctx: MakeCtx, bot_api
) -> None:
    ctx = make_ctx(loops=LOOPS, telegram=bot_api)
    seed_incidents(ctx)
    first = incident_scanner.run(ctx)
    assert [i.title for i in ctx.forge.list_issues(REPO)] == [first.filings[REPO].filed[0].title]
    assert sorted(p.key.split(":")[1] for p in first.noted) == ["escalations", "job_errors", "retry_storm"]
    notes = sent_texts(bot_api)
    assert len(notes) == 3 and all("Agent OS needs its operator" in n for n in notes)
    assert any("Job `queue` is failing repeatedly" in n for n in notes)
    assert all("loops.ops_repo" in n for n in notes)
    again = incident_scanner.run(ctx, LoopArgs(force=True))  # the same incidents within the window
    assert again.noted == [] and len(sent_texts(bot_api)) == 3
    assert len(ctx.forge.list_issues(REPO)) == 1


def test_a_closed_incident_is_refiled_only_after_the_window(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(loops={**LOOPS, "incident_window_hours": 6})
    for n in range(3):
        event(ctx, "tests_failed", task=f"t{n}", agent="demo", reason="test_parser fails")
    filed = incident_scanner.run(ctx).filings[REPO].filed
    assert len(filed) == 1
    ctx.forge.close_issue(REPO, filed[0].number)
    assert incident_scanner.run(ctx, LoopArgs(force=True)).filings[REPO].filed == []
    ctx.clock = lambda: NOW + timedelta(hours=7)  # the closed issue is older than the window now
    for n in range(3):
        event(ctx, "tests_failed", task=f"u{n}", agent="demo", reason="test_parser fails")
    again = incident_scanner.run(ctx).filings[REPO].filed
    assert [i.title for i in again] == [filed[0].title]


def test_quiet_window_files_nothing(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(loops=LOOPS)
    event(ctx, "tests_failed", task="t", reason="x")
    event(ctx, "tests_failed", task="t", reason="x", ago=timedelta(hours=100))  # outside the window
    report = incident_scanner.run(ctx)
    assert report.incidents == [] and report.filings[REPO].filed == []
    assert incident_scanner.run_job(ctx, ["--force"]) == 0


def test_llm_fallback_for_failures_no_rule_explains(make_ctx: MakeCtx, ops_repo: str) -> None:
    answer = dump(
        [
            {
                "title": "Agents crash on large diffs",
                "goal": "Stop the demo agent from crashing when the diff is larger than 1 MB",
                "success_criteria": "- a 2 MB diff is handled\n- a test covers it",
                "evidence": "crash events a, b, c",
            }
        ]
    )
    ctx = make_ctx(loops={**LOOPS, "ops_repo": ops_repo}, llm_answer=answer)
    for n, reason in enumerate(("diff too big", "out of memory", "killed")):
        event(ctx, "crash", task=f"c{n}", agent="demo", reason=reason)
    report = incident_scanner.run(ctx)
    assert report.incidents == []
    # the agents' own failures: Agent OS's work, filed in the ops repo and not in the product's backlog
    assert [i.title for i in report.filings[ops_repo].filed] == ["Agents crash on large diffs"]
    assert "autonomous-fix" in report.filings[ops_repo].filed[0].labels
    assert report.filings[REPO].filed == [] and ctx.forge.list_issues(REPO) == []
    prompt = oracle_prompt(ctx)
    assert "out of memory" in prompt and "<<<DATA facts" in prompt
