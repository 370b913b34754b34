"""incident_scanner on the sandbox forge: seeded events and job logs → autonomous-fix issues, capped, once."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.demo.runner import REPO
from orchestrator.jobs import incident_scanner
from orchestrator.loops.common import LoopArgs
from orchestrator.policy.requirement_guard import check_requirements
from orchestrator.runtime import JobContext

from .conftest import NOW, MakeCtx, dump, event, oracle_prompt

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


def test_incidents_filed_with_evidence_capped_and_once(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(loops=LOOPS)
    seed_incidents(ctx)
    first = incident_scanner.run(ctx)
    assert sorted(i.rule for i in first.incidents) == [
        "escalations",
        "job_errors",
        "recurring_outcome",
        "retry_storm",
    ]
    filing = first.filings[REPO]
    assert len(filing.filed) == 3 and len(filing.over_cap) == 1
    for issue in filing.filed:
        assert set(issue.labels) == {"bot-generated", "autonomous-fix"}
        assert "## Evidence" in issue.body and "## Reasoning" in issue.body
        assert check_requirements(issue.title, issue.body).ok
    bodies = "\n".join(i.body for i in filing.filed)
    assert "`t0`, `t1`, `t2`" in bodies or "`e0`, `e1`, `e2`" in bodies

    assert incident_scanner.run(ctx).not_due == ["textkit"]  # cadence: every 6 h
    second = incident_scanner.run(ctx, LoopArgs(force=True))
    assert len(second.filings[REPO].filed) == 1 and len(second.filings[REPO].duplicates) == 3
    third = incident_scanner.run(ctx, LoopArgs(force=True))
    assert third.filings[REPO].filed == [] and len(third.filings[REPO].duplicates) == 4
    titles = [i.title for i in ctx.forge.list_issues(REPO)]
    assert len(titles) == 4 and any("Job `queue` is failing repeatedly (3 errors" in t for t in titles)


def test_a_closed_incident_is_refiled_only_after_the_window(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(loops={**LOOPS, "incident_window_hours": 6})
    for n in range(3):
        event(ctx, "timeout", task=f"t{n}", agent="demo", reason="stalled")
    filed = incident_scanner.run(ctx).filings[REPO].filed
    assert len(filed) == 1
    ctx.forge.close_issue(REPO, filed[0].number)
    assert incident_scanner.run(ctx, LoopArgs(force=True)).filings[REPO].filed == []
    ctx.clock = lambda: NOW + timedelta(hours=7)  # the closed issue is older than the window now
    for n in range(3):
        event(ctx, "timeout", task=f"u{n}", agent="demo", reason="stalled")
    again = incident_scanner.run(ctx).filings[REPO].filed
    assert [i.title for i in again] == [filed[0].title]


def test_quiet_window_files_nothing(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(loops=LOOPS)
    event(ctx, "tests_failed", task="t", reason="x")
    event(ctx, "tests_failed", task="t", reason="x", ago=timedelta(hours=100))  # outside the window
    report = incident_scanner.run(ctx)
    assert report.incidents == [] and report.filings[REPO].filed == []
    assert incident_scanner.run_job(ctx, ["--force"]) == 0


def test_llm_fallback_for_failures_no_rule_explains(make_ctx: MakeCtx) -> None:
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
    ctx = make_ctx(loops=LOOPS, llm_answer=answer)
    for n, reason in enumerate(("diff too big", "out of memory", "killed")):
        event(ctx, "crash", task=f"c{n}", agent="demo", reason=reason)
    report = incident_scanner.run(ctx)
    assert report.incidents == []
    assert [i.title for i in report.filings[REPO].filed] == ["Agents crash on large diffs"]
    assert "autonomous-fix" in report.filings[REPO].filed[0].labels
    prompt = oracle_prompt(ctx)
    assert "out of memory" in prompt and "<<<DATA facts" in prompt
