"""`bin/agentos replay --repo PATH --from REV --count N [--waves K] [--workers W]`: the honest trial.

Replays the next N first-parent commits of your repository (after REV) through the whole loop — dispatcher,
queue, the agent, the test step, PRs, CI, the merge gate — on the built-in sandbox forge, with an agent that
applies each real change (no model, no credentials, no network). Prints what Agent OS would have done and
whether the final tree equals the real one; `--json FILE` writes the report.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.replay import report as reporting
from orchestrator.replay.driver import (
    ReplayError,
    ReplayOptions,
    ReplaySession,
    run_loop,
    settled_state,
    start,
)
from orchestrator.replay.history import HistoryError
from orchestrator.sandbox.seed import SeedError
from orchestrator.state import metrics


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay your repository's real history through Agent OS on the sandbox")
    add_arguments(p)
    p.set_defaults(func=cmd_replay)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", type=Path, required=True, help="the git repository whose history is replayed")
    p.add_argument("--from", dest="rev", required=True, help="the revision the sandbox starts from")
    p.add_argument("--count", type=int, required=True, help="how many first-parent commits after it")
    p.add_argument(
        "--until", default="HEAD", help="the branch or revision whose first-parent line is followed"
    )
    p.add_argument(
        "--waves", type=int, default=1, help="make the issues Ready in this many waves (default 1)"
    )
    p.add_argument("--workers", type=int, default=2, help="limits.max_parallel_workers (default 2)")
    p.add_argument("--test-command", help="the repository's test command (default: pytest when it has tests)")
    p.add_argument("--max-minutes", type=float, default=60.0, help="stop after this long (default 60)")
    p.add_argument("--no-approve", action="store_true", help="leave PRs the verifier holds for a human open")
    p.add_argument("--json", type=Path, help="write the report as JSON to this file")
    p.add_argument(
        "--workdir", type=Path, help="keep the sandbox, runtime and logs here (default: temporary)"
    )


def cmd_replay(args: argparse.Namespace) -> int:
    keep = args.workdir is not None
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="agentos-replay-"))).resolve()
    options = ReplayOptions(
        repo=args.repo.expanduser().resolve(),
        rev=args.rev,
        count=args.count,
        workdir=workdir,
        waves=args.waves,
        workers=args.workers,
        test_command=args.test_command,
        until=args.until,
        max_seconds=args.max_minutes * 60,
        approve_held=not args.no_approve,
    )
    try:
        result = replay(options, say=_say)
    except (HistoryError, SeedError, ReplayError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 1
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.write(reporting.render(result))
    if args.json:
        args.json.write_text(result.as_json())
        print(f"report written to {args.json}")
    if keep:
        print(f"sandbox, runtime and logs kept in {workdir}")
    return 0 if result.merged == len(result.issues) and (result.tree is None or result.tree.equal) else 1


def _say(text: str) -> None:
    print(text, flush=True)


def replay(options: ReplayOptions, say: Callable[[str], None] = _say) -> reporting.ReplayReport:
    """The whole replay on a fresh sandbox forge under `options.workdir`; the report."""
    from orchestrator.containment.forge_ci import ContainedCI
    from orchestrator.sandbox.server import SandboxForge

    if options.count < 1 or options.waves < 1 or options.workers < 1:
        raise ReplayError("--count, --waves and --workers must be at least 1")
    options.workdir.mkdir(parents=True, exist_ok=True)
    # the forge's CI runs the pushed trees (the agent's work on your code): contained, like our test step
    with SandboxForge(options.workdir / "sandbox", ci_runner=ContainedCI()).start() as forge:
        session = start(options, forge, say)
        say(
            f"replaying {len(session.issue_of)} commit(s) of {options.repo} after {session.history.base[:12]} "
            f"on {forge.url} (CI: {session.test_command or 'none'})"
        )
        run_loop(session, say)
        return collect(session)


def collect(session: ReplaySession) -> reporting.ReplayReport:
    from orchestrator.sandbox.git_auth import git_auth_env

    history, options = session.history, session.options
    events = list(metrics.read_events(session.ctx.paths.metrics))
    numbers = {n: sha for sha, n in session.issue_of.items()}
    commits = {c.sha: c for c in history.commits}
    issues = {n: (sha, commits[sha].subject) for n, sha in numbers.items()}
    outcomes = {n: s for n in numbers if (s := settled_state(session, n)) is not None}
    reports = reporting.issue_reports(events, issues, outcomes)
    costs = session.costs.costs()
    pulls = session.observer.pulls()
    for number, prerequisite in session.progress.stuck.items():
        state = outcomes.get(prerequisite, "not merged")
        reports[number].reasons.append(
            f"stuck: waits for #{prerequisite}, which is {state} and will not merge"
        )
    for report in reports.values():
        cost = costs.get(report.issue, {})
        report.requests, report.not_modified, report.writes = (
            cost.get("counted", 0),
            cost.get("not_modified", 0),
            cost.get("writes", 0),
        )
        if report.pr is not None:
            heads = session.progress.heads.get(report.pr, set())
            report.ci_runs = sum(session.observer.ci_runs(heads).values())
            report.approved = session.progress.approved.get(report.pr)
    clone_url = session.ctx.config.repos[0].clone_url or ""
    env = git_auth_env(clone_url, session.forge.token, session.forge.ca_bundle)
    merges = {
        r.issue: sha
        for r in reports.values()
        if r.outcome == "merged" and r.pr in pulls and (sha := pulls[r.pr].merge_commit_sha)
    }
    ordered = [reports[n] for n in sorted(reports)]
    return reporting.ReplayReport(
        repo=str(options.repo),
        base=history.base,
        final=history.final,
        waves=len(session.waves),
        workers=options.workers,
        test_command=session.test_command,
        wall_seconds=round(time.monotonic() - session.started, 1),
        ticks=session.progress.ticks,
        timed_out=session.progress.timed_out,
        issues=ordered,
        polling=reporting.polling(costs),
        totals=reporting.totals(ordered, costs),
        tree=reporting.tree_check(options.repo, history.final, history.final_tree, clone_url, env),
        merge_checks=reporting.merge_checks(
            options.repo, clone_url, merges, {n: commits[sha].paths for n, sha in numbers.items()}, env
        ),
    )
