"""`make chaos` (`python -m chaos.run`): the core loop over 30+ issues under faults, then the invariants.

Faults: API errors (5xx), 429 with Retry-After, secondary rate limits and client timeouts at 10–30 % per phase
plus latency; `kill -9` of random cron ticks; ticks started faster than they finish; two corrupt task files in
the inbox; `runtime/` out of disk space for a while. A scripted agent mix (steady, flaky, partial, slow,
blocked) does the work. Everything random is drawn from `--seed`. Prints each invariant with its count and
PASS/FAIL, writes chaos/results.json, exits 1 when any invariant fails. docs/chaos.md explains each part.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaos.facts import RunFacts, collect
from chaos.invariants import Invariant, check
from chaos.phases import ChaosLog, run_chaos, settle
from chaos.plan import FULL, QUICK, ChaosPlan, make_plan
from chaos.session import Session, open_session

log = logging.getLogger("chaos")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "chaos" / "results.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos.run", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="every random choice of the run (default 1)")
    parser.add_argument("--quick", action="store_true", help="5 issues, ≈30 s of chaos (the smoke test)")
    parser.add_argument("--issues", type=int, default=None, help="issue count (default 30, quick 5)")
    parser.add_argument("--chaos-seconds", type=float, default=None, help="time limit of the chaos phase")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a fresh temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (kept anyway on FAIL)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where to write results.json")
    parser.add_argument("--disk-mb", type=int, default=256, help="size of runtime/'s own filesystem")
    return parser.parse_args(argv)


def build_plan(args: argparse.Namespace) -> ChaosPlan:
    timing = QUICK if args.quick else FULL
    if args.chaos_seconds is not None:
        timing = _scaled(timing, args.chaos_seconds)
    count = args.issues if args.issues is not None else (5 if args.quick else 30)
    return make_plan(args.seed, count, timing)


def _scaled(timing: Any, seconds: float) -> Any:
    from dataclasses import replace

    factor = seconds / timing.chaos_seconds
    return replace(
        timing,
        chaos_seconds=seconds,
        disk_full_at=timing.disk_full_at * factor,
        kill_until=timing.kill_until * factor,
        aim_until=timing.aim_until * factor,
        corrupt_at=min(timing.corrupt_at, seconds / 4),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    log.setLevel(logging.INFO)  # the run's own progress; the forge and the product log only warnings here
    plan = build_plan(args)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="agentos-chaos-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log.info("chaos run: seed %d, %d issues, work directory %s", plan.seed, len(plan.issues), workdir)
    log.info("agent mix: %s", dict(Counter(i.behaviour for i in plan.issues)))
    started = time.monotonic()
    session = open_session(workdir, plan, args.disk_mb)
    try:
        record = run_chaos(session, plan)
        settle(session, plan, record)
        facts = collect(
            session.ctx,
            session.forge.api_url,
            session.forge.token,
            session.numbers,
            session.project,
            session.workdir,
            session.config_path,
            record.corrupt_files,
        )
        invariants = check(facts)
        results = summarize(plan, session, record, facts, invariants, time.monotonic() - started)
    finally:
        session.ticker.stop(wait_s=60)
        session.close()
    report(invariants, results)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2, default=str) + "\n")
    passed = all(i.passed for i in invariants)
    if passed and not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log.info("work directory kept: %s (ticks.log, runtime-final/logs, runtime-final/metrics)", workdir)
    log.info("results written to %s", args.results)
    return 0 if passed else 1


def summarize(
    plan: ChaosPlan,
    session: Session,
    record: ChaosLog,
    facts: RunFacts,
    invariants: list[Invariant],
    elapsed: float,
) -> dict[str, Any]:
    stats = session.ticker.stats
    return {
        "seed": plan.seed,
        "issues": len(plan.issues),
        "behaviours": dict(Counter(i.behaviour for i in plan.issues)),
        "elapsed_s": round(elapsed, 1),
        "chaos_s": record.chaos_seconds,
        "settle_s": record.settle_seconds,
        "settled": record.settled,
        "passed": all(i.passed for i in invariants),
        "invariants": [asdict(i) for i in invariants],
        "fault_phases": record.phases,
        "kills": [asdict(k) for k in stats.kills],
        "kills_by_job": dict(Counter(k.job for k in stats.kills)),
        "kills_missed": record.kills_missed,
        "ticks_started": dict(stats.started),
        "tick_outcomes": dict(stats.outcomes),
        "tick_crashes": dict(Counter(stats.crashes).most_common(20)),
        "disk": record.disk,
        "corrupt_files": list(record.corrupt_files),
        "forge_requests": session.forge.stats(),
        "events": dict(Counter(str(e.get("state")) for e in facts.events)),
        "workdir": str(session.workdir),
    }


def report(invariants: list[Invariant], results: dict[str, Any]) -> None:
    log.info("")
    log.info("kills: %s   ticks: %s", results["kills_by_job"], results["ticks_started"])
    if results["kills_missed"]:
        log.info("kills that found no tick with work: %s", results["kills_missed"])
    log.info("tick outcomes: %s", results["tick_outcomes"])
    for crash, count in results["tick_crashes"].items():
        log.info("  %3d × %s", count, crash)
    log.info("disk: %s", results["disk"])
    log.info("events: %s", results["events"])
    log.info("")
    for invariant in invariants:
        log.info("%s", invariant.line())
        shown = invariant.details if not invariant.passed else ()
        for detail in shown[:20]:
            log.info("        %s", detail)
    log.info("")
    log.info("%s", "ALL INVARIANTS HOLD" if results["passed"] else "SOME INVARIANTS FAILED")


if __name__ == "__main__":
    raise SystemExit(main())
