"""What Agent OS would have done with the replayed history: per issue and in total, and whether the final
tree equals the real one.

Per issue: merged / escalated / needs_info / parked / open, with the reasons Agent OS recorded (events), the
attempts and parks, CI runs and rebases of its PR, the GitHub requests and writes charged to it, and the
time from dispatch to merge. In total: the same summed, requests spent on polling, wall time. Then the tree
check (the sandbox base's tree vs the real commit's, with the differing paths) and the merge check (each
merge on the base changed exactly the paths its real commit changes).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.replay.accounting import POLLING
from orchestrator.replay.history import git
from orchestrator.state import metrics

PROBLEM_STATES = frozenset(
    {
        "escalated",
        "needs_info",
        "blocked",
        "tests_failed",
        "crash",
        "timeout",
        "contract_error",
        "no_changes",
        "push_failed",
        "pr_failed",
        "fix_ci",
        "resolve_conflict",
        "fix_verifier",
        "wedged_closed",
        "parked",
        "security",
        "stopped",
        "secret_in_diff",
    }
)


@dataclass
class IssueReport:
    issue: int
    sha: str
    subject: str
    outcome: str = "open"  # merged | escalated | needs_info | parked | open
    pr: int | None = None
    attempts: int = 0
    parks: int = 0
    ci_runs: int = 0
    rebases: int = 0
    follow_ups: dict[str, int] = field(default_factory=dict)
    requests: int = 0  # counted GitHub requests charged to this issue
    not_modified: int = 0
    writes: int = 0
    seconds_to_merge: float | None = None
    approved: str | None = None  # the verifier's findings the replay approved as the maintainer
    reasons: list[str] = field(default_factory=list)


@dataclass
class TreeCheck:
    expected_commit: str
    expected_tree: str
    actual_tree: str
    equal: bool
    differing_paths: list[str]


@dataclass
class MergeCheck:
    issue: int
    merge_commit: str
    extra_paths: list[str]  # changed by the merge, not by the real commit
    missing_paths: list[str]  # changed by the real commit, not by the merge


@dataclass
class ReplayReport:
    repo: str
    base: str
    final: str
    waves: int
    workers: int
    test_command: str | None
    wall_seconds: float
    ticks: int
    timed_out: bool
    issues: list[IssueReport]
    polling: dict[str, int]
    totals: dict[str, int]
    tree: TreeCheck | None
    merge_checks: list[MergeCheck]

    @property
    def merged(self) -> int:
        return sum(1 for i in self.issues if i.outcome == "merged")

    def as_json(self) -> str:
        data = asdict(self)
        data["merged"] = self.merged
        return json.dumps(data, indent=2) + "\n"


def issue_reports(
    events: list[metrics.Event], issues: dict[int, tuple[str, str]], outcomes: dict[int, str]
) -> dict[int, IssueReport]:
    """Per issue from the event log. `issues`: number → (sha, subject); `outcomes`: number → settled state."""
    reports = {n: IssueReport(n, sha, subject) for n, (sha, subject) in issues.items()}
    pr_issue: dict[int, int] = {}
    dispatched: dict[int, datetime] = {}
    for event in events:
        pr = event.extra.get("pr")
        number = event.issue if event.issue is not None else pr_issue.get(pr) if isinstance(pr, int) else None
        report = reports.get(number) if number is not None else None
        if report is None:
            continue
        _apply_event(report, event, pr, pr_issue, dispatched)
    for number, report in reports.items():
        report.outcome = outcomes.get(number) or ("parked" if _last_parked(report) else "open")
    return reports


def _apply_event(
    report: IssueReport,
    event: metrics.Event,
    pr: Any,
    pr_issue: dict[int, int],
    dispatched: dict[int, datetime],
) -> None:
    state = event.state
    if state == "dispatched":
        dispatched.setdefault(report.issue, event.ts)
    elif state == "agent_started":
        report.attempts += 1
    elif state == "pr_opened" and isinstance(pr, int):
        report.pr = pr
        pr_issue[pr] = report.issue
    elif state == "rebased":
        report.rebases += 1
    elif state == "merged" and report.issue in dispatched:
        report.seconds_to_merge = round((event.ts - dispatched[report.issue]).total_seconds(), 1)
    elif state in ("fix_ci", "resolve_conflict", "fix_verifier"):
        report.follow_ups[state] = report.follow_ups.get(state, 0) + 1
    if "park" in state or "needs_prerequisite" in event.reason:
        report.parks += "park" in state
    if state in PROBLEM_STATES and event.reason:
        line = f"{state}: {event.reason}"
        if line not in report.reasons:
            report.reasons.append(line)


def _last_parked(report: IssueReport) -> bool:
    return bool(report.reasons) and (
        "park" in report.reasons[-1] or "needs_prerequisite" in report.reasons[-1]
    )


def tree_check(
    source: Path, expected_commit: str, expected_tree: str, clone_url: str, env: dict[str, str]
) -> TreeCheck:
    """Fetch the sandbox base into a scratch repo borrowing the source's objects; compare the trees."""
    with tempfile.TemporaryDirectory(prefix="agentos-replay-check-") as tmp:
        bare = _scratch(source, Path(tmp))
        git(bare, "fetch", "-q", "--no-tags", clone_url, "+refs/heads/main:refs/heads/main", env=env)
        actual = git(bare, "rev-parse", "main^{tree}").strip()
        names = (
            git(bare, "diff", "--name-only", "-z", expected_tree, actual) if actual != expected_tree else ""
        )
        return TreeCheck(
            expected_commit,
            expected_tree,
            actual,
            actual == expected_tree,
            [p for p in names.split("\0") if p],
        )


def merge_checks(
    source: Path,
    clone_url: str,
    merges: dict[int, str],
    paths_of: dict[int, tuple[str, ...]],
    env: dict[str, str],
) -> list[MergeCheck]:
    """For each merged issue, the paths its merge commit changed compared with its real commit's."""
    if not merges:
        return []
    with tempfile.TemporaryDirectory(prefix="agentos-replay-check-") as tmp:
        bare = _scratch(source, Path(tmp))
        git(bare, "fetch", "-q", "--no-tags", clone_url, "+refs/heads/main:refs/heads/main", env=env)
        checks = []
        for issue, merge in sorted(merges.items()):
            changed = set(
                git(bare, "diff-tree", "-r", "--no-commit-id", "--name-only", "-z", f"{merge}^", merge).split(
                    "\0"
                )
            ) - {""}
            real = set(paths_of.get(issue, ()))
            checks.append(MergeCheck(issue, merge, sorted(changed - real), sorted(real - changed)))
        return checks


def _scratch(source: Path, tmp: Path) -> Path:
    bare = tmp / "check.git"
    git(tmp, "init", "-q", "--bare", str(bare))
    objects = Path(git(source, "rev-parse", "--git-path", "objects").strip())
    objects = objects if objects.is_absolute() else source / objects
    (bare / "objects" / "info" / "alternates").write_text(f"{objects.resolve()}{os.linesep}")
    return bare


def render(report: ReplayReport) -> str:
    lines = [
        f"Replay of {report.repo}: {report.base[:12]}..{report.final[:12]}, {len(report.issues)} issue(s), "
        f"{report.waves} wave(s), {report.workers} worker(s), CI: {report.test_command or 'none'}",
        "",
        f"{'issue':<7}{'commit':<14}{'result':<12}{'PR':<6}{'tries':>6}{'parks':>6}{'CI':>5}{'rebases':>8}"
        f"{'requests':>9}{'writes':>7}{'time':>8}  subject",
    ]
    for i in report.issues:
        seconds = f"{i.seconds_to_merge:.0f}s" if i.seconds_to_merge is not None else "-"
        lines.append(
            f"#{i.issue:<6}{i.sha[:12]:<14}{i.outcome:<12}{('#' + str(i.pr)) if i.pr else '-':<6}{i.attempts:>6}"
            f"{i.parks:>6}{i.ci_runs:>5}{i.rebases:>8}{i.requests:>9}{i.writes:>7}{seconds:>8}  {i.subject[:60]}"
        )
    lines += _reasons(report)
    lines += _totals(report)
    return "\n".join(lines) + "\n"


def _reasons(report: ReplayReport) -> list[str]:
    out: list[str] = []
    for i in report.issues:
        if i.approved:
            out.append(f"#{i.issue} PR held for a human, approved by the replay: {i.approved}")
        if i.outcome != "merged" or i.reasons:
            for reason in i.reasons[-6:]:
                out.append(f"#{i.issue} {reason[:300]}")
    return ["", "What happened on the way:", *out] if out else []


def _totals(report: ReplayReport) -> list[str]:
    counts: dict[str, int] = {}
    for i in report.issues:
        counts[i.outcome] = counts.get(i.outcome, 0) + 1
    outcome = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    t = report.totals
    lines = [
        "",
        f"{report.merged}/{len(report.issues)} merged ({outcome}) in {report.wall_seconds:.0f} s, {report.ticks} tick(s)"
        + (" — stopped at the time limit" if report.timed_out else ""),
        f"CI runs {t.get('ci_runs', 0)}, rebases {t.get('rebases', 0)}, agent attempts {t.get('attempts', 0)}, "
        f"parks {t.get('parks', 0)}; GitHub requests counted {t.get('counted', 0)} (of which polling "
        f"{report.polling.get('counted', 0)}), 304s {t.get('not_modified', 0)}, writes {t.get('writes', 0)}",
    ]
    if report.tree is not None:
        tree = report.tree
        if tree.equal:
            lines.append(
                f"final tree equals the real one: {tree.expected_commit[:12]} (tree {tree.expected_tree[:12]})"
            )
        else:
            lines.append(
                f"final tree DIFFERS from {tree.expected_commit[:12]}: sandbox {tree.actual_tree[:12]} vs real "
                f"{tree.expected_tree[:12]}; paths: {', '.join(tree.differing_paths[:30]) or '?'}"
            )
    wrong = [m for m in report.merge_checks if m.extra_paths or m.missing_paths]
    if report.merge_checks and not wrong:
        lines.append(f"every merge ({len(report.merge_checks)}) changed exactly the paths of its real commit")
    for m in wrong:
        lines.append(
            f"#{m.issue} merge {m.merge_commit[:12]}: extra paths {m.extra_paths or '-'}, missing {m.missing_paths or '-'}"
        )
    return lines


def totals(issues: list[IssueReport], costs: dict[int, dict[str, int]]) -> dict[str, int]:
    summed = {
        key: sum(getattr(i, key) for i in issues) for key in ("attempts", "parks", "ci_runs", "rebases")
    }
    for key in ("counted", "not_modified", "writes", "calls"):
        summed[key] = sum(c.get(key, 0) for c in costs.values())
    return summed


def polling(costs: dict[int, dict[str, int]]) -> dict[str, int]:
    return costs.get(POLLING, {})
