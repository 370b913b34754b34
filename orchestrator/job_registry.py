"""The one list of Agent OS's jobs: each job's name, its entry point and its cron cadence (a leaf: stdlib only).

Everything that names jobs reads this table: `bin/cron-run` / `bin/agentos run` (orchestrator.jobs.entry) to
find a job's function, the kill switches (orchestrator.switches) to accept `job off NAME`, `bin/agentos cron
install` (orchestrator.cron) to write one line per job, and `bin/agentos status` / Telegram `/jobs` to list
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


def _job(name: str, entry: str, cadence: Cadence, about: str) -> JobSpec:
    if ":" not in entry:
        entry = f"orchestrator.jobs.{name}:{entry}"
    return JobSpec(name, entry, cadence, about)


_ENTRY = "orchestrator.jobs.entry"
_DAILY = "*-*-* {}:00"

# In the order `cron install` writes them and `status` lists them.
JOBS: tuple[JobSpec, ...] = (
    _job("dispatcher", f"{_ENTRY}:run_dispatcher", Cadence("* * * * *", 1), "Ready issues → tasks"),
    _job("pr_monitor", f"{_ENTRY}:run_pr_monitor", Cadence("* * * * *", 1), "CI, rebase, verify, merge"),
    _job("queue", f"{_ENTRY}:run_queue", Cadence("*/5 * * * *", 5), "runs the agents on queued tasks"),
    _job(
        CONTROL_JOB,
        f"{_ENTRY}:run_telegram_control",
        Cadence("* * * * *", 1),
        "Telegram commands and buttons",
    ),
    _job("daily_digest", "run_job", Cadence("0 8 * * *", 1440, _DAILY.format("08:00")), "the daily summary"),
    _job(
        "backlog_groomer",
        "run_job",
        Cadence("15 6 * * *", 1440, _DAILY.format("06:15")),
        "stale, unblocked and missing issues",
    ),
    _job("incident_scanner", "run_job", Cadence("0 */6 * * *", 360), "recurring failures → incidents"),
    _job(
        "log_analyzer",
        "run_job",
        Cadence("30 6 * * 1", 10080, "Mon *-*-* 06:30:00"),
        "chronic agent failure patterns",
    ),
    _job(
        "agent_scorer",
        "run_job",
        Cadence("45 5 * * *", 1440, _DAILY.format("05:45")),
        "routing weights from outcomes",
    ),
    # its own gate plans once per sprint; approvals are quick
    _job("strategic_planner", "run_job", Cadence("*/15 * * * *", 15), "sprint plans toward the objectives"),
    _job(
        "product_inspector",
        "run_job",
        Cadence("30 7 * * *", 1440, _DAILY.format("07:30")),
        "probes the product's URLs",
    ),
    _job(
        "dependency_watcher",
        "run_job",
        Cadence("0 5 * * *", 1440, _DAILY.format("05:00")),
        "dependency audit → issues",
    ),
    _job("codebase_memory", "run_job", Cadence("0 */6 * * *", 360), "keeps CODEBASE.md current"),
    _job("dashboard", "run_job", Cadence("0 * * * *", 60), "the static dashboard"),
    _job("claim_sweeper", "run_job", Cadence("20 * * * *", 60), "claims of issues closed on GitHub"),
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
