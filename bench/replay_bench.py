"""(r) `agentos replay` over the vendored release history of more-itertools: real changes, real tests.

Clones bench/data/more-itertools-releases.bundle (consecutive PyPI releases as commits; see
bench/replay_history.py) and replays the 12 releases after 10.0.0 through the whole loop, all issues Ready at
once, two workers, the library's own test command (`python -m unittest`, its Makefile's `test` target) as CI
and as Agent OS's test step. Release-to-release changes each build on the one before (every release touches
the version and the changelog), so this is the hard case: everything in flight at once, parked and retried
as the base moves. `--quick` replays one release with an import check as the test command.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from bench.report import Target
from bench.report_tables import table
from orchestrator.edges.process import run as run_process
from orchestrator.replay.command import replay
from orchestrator.replay.driver import ReplayOptions

log = logging.getLogger("bench.replay")
BUNDLE = Path(__file__).resolve().parent / "data" / "more-itertools-releases.bundle"
BASE = "v10.0.0"


def run(workdir: Path, count: int, quick: bool = False) -> dict[str, Any]:
    source = workdir / "more-itertools"
    cloned = run_process(["git", "clone", "-q", str(BUNDLE), str(source)], timeout=120)
    if not cloned.ok:
        raise RuntimeError(f"cannot clone {BUNDLE}: {cloned.stderr.strip()}")
    test_command = (
        f'{sys.executable} -c "import more_itertools"' if quick else f"{sys.executable} -m unittest -q"
    )
    options = ReplayOptions(
        repo=source,
        rev=BASE,
        count=count,
        workdir=workdir / "replay",
        workers=2,
        test_command=test_command,
        max_seconds=900 if quick else 5400,
    )
    report = replay(options, say=log.info)
    outcomes: dict[str, int] = {}
    for issue in report.issues:
        outcomes[issue.outcome] = outcomes.get(issue.outcome, 0) + 1
    return {
        "history": f"more-itertools releases after {BASE[1:]} (release-to-release, not upstream commits)",
        "bundle_kib": BUNDLE.stat().st_size // 1024,
        "commits": len(report.issues),
        "merged": report.merged,
        "outcomes": outcomes,
        "tree_equal": bool(report.tree and report.tree.equal),
        "wrong_merges": sum(1 for m in report.merge_checks if m.extra_paths or m.missing_paths),
        "wall_s": report.wall_seconds,
        "ticks": report.ticks,
        "test_command": test_command,
        **{key: report.totals.get(key, 0) for key in ("attempts", "parks", "ci_runs", "rebases")},
        "requests_counted": report.totals.get("counted", 0),
        "requests_polling": report.polling.get("counted", 0),
        "not_modified": report.totals.get("not_modified", 0),
        "writes": report.totals.get("writes", 0),
        "issues": [
            {
                "issue": i.issue,
                "release": i.subject,
                "outcome": i.outcome,
                "attempts": i.attempts,
                "parks": i.parks,
                "ci_runs": i.ci_runs,
                "rebases": i.rebases,
                "requests": i.requests,
                "writes": i.writes,
                "seconds_to_merge": i.seconds_to_merge,
                "approved": i.approved,
                "reasons": i.reasons[-3:],
            }
            for i in report.issues
        ],
    }


def lines(s: dict[str, Any]) -> list[str]:
    rows = [
        (
            f"#{i['issue']}",
            i["release"],
            i["outcome"],
            i["attempts"],
            i["parks"],
            i["ci_runs"],
            i["rebases"],
            i["requests"],
            i["writes"],
            i["seconds_to_merge"],
        )
        for i in s["issues"]
    ]
    out = table(
        ("issue", "release", "result", "tries", "parks", "CI", "rebases", "requests", "writes", "s"), rows
    )
    return [
        f"  {s['history']}, bundle {s['bundle_kib']} KiB, CI: {s['test_command']}",
        *out,
        f"  {s['merged']}/{s['commits']} merged, final tree {'equal' if s['tree_equal'] else 'DIFFERENT'}, "
        f"wrong merges {s['wrong_merges']}; {s['wall_s']} s, CI runs {s['ci_runs']}, rebases {s['rebases']}, "
        f"attempts {s['attempts']}, parks {s['parks']}; requests {s['requests_counted']} "
        f"(polling {s['requests_polling']}), 304s {s['not_modified']}, writes {s['writes']}",
    ]


def targets(s: dict[str, Any]) -> list[Target]:
    r = s["replay"]
    return [
        Target.at_most(
            "r. replayed releases not merged (all Ready at once)", r["commits"] - r["merged"], 0, "issues"
        ),
        Target.at_most(
            "r. final tree differs from the real release", 0 if r["tree_equal"] else 1, 0, "trees"
        ),
        Target.at_most(
            "r. merges that changed other paths than their release", r["wrong_merges"], 0, "merges"
        ),
    ]
