"""The one list of Agent OS's jobs: each job's name, its entry point and its cron cadence (a leaf: stdlib only).

Everything that names jobs reads this table: `bin/cron-run` / `bin/agentos run` (orchestrator.jobs.entry) to
find a job's function, the kill switches (orchestrator.state.switches) to accept `job off NAME`, `bin/agentos cron
install` (orchestrator.control.cron) to write one line per job, and `bin/agentos status` / Telegram `/jobs` to list
them. Adding a job is one row here; a test checks that every row's entry point exists.

An entry point is "module:function"; the function takes (JobContext, argv) and returns an exit code. It is
imported only when the job runs, so a cron tick loads only what its own job needs.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK, EXIT_ERROR, EXIT_CONFIG = 0, 1, 2  # a job function's exit codes: done, failed, bad config/arguments
CONTROL_JOB = "telegram_control"  # exempt from every switch: it is how a user switches things back on


@dataclass(frozen=True)
class Cadence:
    schedule: str  # cron expression
    every_minutes: int  # the same cadence for systemd timers
    at: str | None = None  # systemd OnCalendar for daily and weekly jobs


@dataclass(frozen=True)
class JobSpec:
    name: str
    entry: str  # "module:function"
    cadence: Cadence
    about: str  # one line: what the job does

    @property
    def module(self) -> str:
        return self.entry.split(":", 1)[0]

    @property
    def function(self) -> str:
        return self.entry.split(":", 1)[1]


_ENTRY = "orchestrator.jobs.entry"
_LOOP = "run_job"  # a job module's own entry: orchestrator.jobs.<name>:run_job

# In the order `cron install` writes them and `status` lists them:
# (name, entry, cron schedule, every N minutes, systemd OnCalendar or None, what it does)
_TABLE: tuple[tuple[str, str, str, int, str | None, str], ...] = (
    ("dispatcher", f"{_ENTRY}:run_dispatcher", "* * * * *", 1, None, "Ready issues → tasks"),
    ("pr_monitor", f"{_ENTRY}:run_pr_monitor", "* * * * *", 1, None, "CI, rebase, verify, merge"),
    ("queue", f"{_ENTRY}:run_queue", "*/5 * * * *", 5, None, "runs the agents on queued tasks"),
    (CONTROL_JOB, f"{_ENTRY}:run_telegram_control", "* * * * *", 1, None, "Telegram commands and buttons"),
    ("daily_digest", _LOOP, "0 8 * * *", 1440, "*-*-* 08:00:00", "the daily summary"),
    ("backlog_groomer", _LOOP, "15 6 * * *", 1440, "*-*-* 06:15:00", "stale, unblocked and missing issues"),
    ("incident_scanner", _LOOP, "0 */6 * * *", 360, None, "recurring failures → incidents"),
    ("log_analyzer", _LOOP, "30 6 * * 1", 10080, "Mon *-*-* 06:30:00", "chronic agent failure patterns"),
    ("agent_scorer", _LOOP, "45 5 * * *", 1440, "*-*-* 05:45:00", "routing weights from outcomes"),
    # its own gate plans once per sprint; approvals are quick
    ("strategic_planner", _LOOP, "*/15 * * * *", 15, None, "sprint plans toward the objectives"),
    ("product_inspector", _LOOP, "30 7 * * *", 1440, "*-*-* 07:30:00", "probes the product's URLs"),
    ("dependency_watcher", _LOOP, "0 5 * * *", 1440, "*-*-* 05:00:00", "dependency audit → issues"),
    ("codebase_memory", _LOOP, "0 */6 * * *", 360, None, "keeps CODEBASE.md current"),
    ("dashboard", _LOOP, "0 * * * *", 60, None, "the static dashboard"),
    ("claim_sweeper", _LOOP, "20 * * * *", 60, None, "claims of issues closed on GitHub"),
)

JOBS: tuple[JobSpec, ...] = tuple(
    JobSpec(
        name,
        f"orchestrator.jobs.{name}:{entry}" if entry == _LOOP else entry,
        Cadence(schedule, every_minutes, at),
        about,
    )
    for name, entry, schedule, every_minutes, at, about in _TABLE
)
JOB_NAMES: tuple[str, ...] = tuple(job.name for job in JOBS)
_BY_NAME = {job.name: job for job in JOBS}


class UnknownJob(KeyError):
    """A job name that is not in the registry; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def job(name: str) -> JobSpec:
    """The job called `name`, or UnknownJob naming the known jobs."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownJob(f"unknown job {name!r}; known jobs: {', '.join(sorted(JOB_NAMES))}") from None
