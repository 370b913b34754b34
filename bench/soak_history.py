"""What a day of finished work leaves in runtime/, written with the real writers at simulated times.

For the soak benchmark (bench.soak): a year of cron at 10 or 100 tasks a day cannot be run in real time, so
each simulated day writes what that day's tasks and ticks would have left behind:

- one task file per task in done/ (85 %), escalated/ (10 %) or failed/ (5 %), rendered by
  `task_file.render_task` with the log lines the mailbox appends, dated (mtime) at its finish;
- its events through `metrics.record_event` (dispatched, claimed, agent_started, the outcome with cost and
  duration, pr_opened and merged — or two failed attempts and escalated), stamped with simulated times;
- its agent run folder (prompt, stdout and stderr logs of realistic size);
- five ETag cache entries through `EtagCache` (issue, PR, PR files, check runs, issue events), saved once a
  day with the simulated clock (so LRU eviction sees simulated use);
- its local task branch in each repo clone that exists (`git update-ref --stdin`), as the worktree pool leaves;
- the day's job log lines through the real logging setup: one line per minute for the dispatcher and the
  PR monitor, four per task for the queue.

Log files rotated during a simulated day get that day as their mtime, so the age limit on rotated logs applies
as it would. What it does not write: the audit log, board/lease/PR-monitor state files (their writers need the forge and
grow only with the real tasks the benchmark runs at each checkpoint). Housekeeping runs once per simulated
day, as it does after a job's tick in production.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.edges.log import kv, setup_logging
from orchestrator.edges.process import run as run_process
from orchestrator.github.etag_cache import CachedResponse, EtagCache
from orchestrator.state import metrics
from orchestrator.state.runtime import RuntimePaths
from orchestrator.state.task_file import append_log_entry, render_task
from orchestrator.values.models import AttemptRecord, Task

TICKS_PER_DAY = 24 * 60
FIRST_ISSUE = 100_000  # synthetic issue numbers never meet the forge's real ones
_WORDS = [
    "widget",
    "parser",
    "cache",
    "retry",
    "board",
    "token",
    "branch",
    "deploy",
    "metric",
    "latency",
    "schema",
    "index",
    "queue",
    "worker",
    "lease",
    "config",
    "budget",
    "review",
    "label",
    "merge",
    "rebase",
    "conflict",
    "snapshot",
    "policy",
]


@dataclass(frozen=True)
class DayWritten:
    tasks: int
    events: int
    etag_entries: int
    log_lines: int
    branches: int


class HistoryWriter:
    def __init__(
        self,
        paths: RuntimePaths,
        repos: list[str],
        repo_keys: list[str],
        tasks_per_day: int,
        *,
        log_max_bytes: int,
        log_backups: int,
        etag_max_entries: int,
        etag_max_bytes: int,
        seed: int = 1,
    ) -> None:
        self.paths = paths
        self.repos = repos
        self.repo_keys = repo_keys
        self.tasks_per_day = tasks_per_day
        self.log_max_bytes = log_max_bytes
        self.log_backups = log_backups
        self.etag_max_entries = etag_max_entries
        self.etag_max_bytes = etag_max_bytes
        self.rng = random.Random(seed)
        self.next_issue = {repo: FIRST_ISSUE for repo in repos}
        self.next_pr = FIRST_ISSUE
        self._bank = [self.rng.choice(_WORDS) for _ in range(20_000)]
        self._text = " ".join(self._bank)
        self._devnull = open(os.devnull, "w")  # noqa: SIM115 - the log handlers' stream for the whole run

    def close(self) -> None:
        self._devnull.close()

    def write_day(self, day_start: datetime) -> DayWritten:
        tasks = [self._task(day_start, k) for k in range(self.tasks_per_day)]
        events = sum(self._write_task(task, finished, outcome) for task, finished, outcome in tasks)
        etags = self._write_etags([t for t, _, _ in tasks], day_start + timedelta(days=1))
        branches = self._write_branches([t for t, _, _ in tasks])
        lines = self._write_logs(len(tasks), day_start + timedelta(days=1))
        return DayWritten(len(tasks), events, etags, lines, branches)

    # ------------------------------------------------------------------------------------------- tasks

    def _task(self, day_start: datetime, k: int) -> tuple[Task, datetime, str]:
        repo = self.repos[k % len(self.repos)]
        issue = self.next_issue[repo]
        self.next_issue[repo] += 1
        created = day_start + timedelta(seconds=self.rng.uniform(0, 80_000))
        finished = created + timedelta(minutes=self.rng.uniform(3, 40))
        roll = self.rng.random()
        outcome = "done" if roll < 0.85 else "escalated" if roll < 0.95 else "failed"
        title = f"Fix the {self._words(3)} ({issue})"
        attempts: tuple[AttemptRecord, ...] = ()
        if outcome != "done":
            attempts = (
                AttemptRecord(1, "claude", "crash", "the CLI exited 1", "exit 1", "", ("src/a.py",)),
                AttemptRecord(2, "codex", "timeout", "ran out of time", "timeout after 45 min"),
            )
        task = Task(
            repo=repo,
            issue=issue,
            generation=1,
            branch=f"agent/{issue}-fix-the-{self._words(2).replace(' ', '-')}",
            title=title,
            goal=self._sentences(6),
            success_criteria="\n".join(f"- {self._words(8)}" for _ in range(4)),
            constraints=self._sentences(2),
            context=self._sentences(12),
            agents=("claude", "codex"),
            attempt=1 + len(attempts),
            created_at=created,
            tried_agents=("claude", "codex") if attempts else ("claude",),
            prior_attempts=attempts,
        )
        return task, finished, outcome

    def _write_task(self, task: Task, finished: datetime, outcome: str) -> int:
        stamp = f"{finished:%Y-%m-%dT%H:%M:%SZ}"
        log = append_log_entry("", f"{stamp} inbox → running: claimed by soak/1")
        log = append_log_entry(
            log, f"{stamp} running → {outcome}: {'PR opened' if outcome == 'done' else 'gave up'}"
        )
        folder = self.paths.mailbox / outcome
        fd, tmp = tempfile.mkstemp(dir=self.paths.mailbox / "tmp", suffix=".md")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render_task(task, log))
        target = folder / f"{task.id}.md"
        os.replace(tmp, target)
        os.utime(target, (finished.timestamp(), finished.timestamp()))
        self._write_runs(task, finished)
        return self._write_events(task, finished, outcome)

    def _write_events(self, task: Task, finished: datetime, outcome: str) -> int:
        base = {"task": task.id, "repo": task.repo, "issue": task.issue}
        start = task.created_at or finished
        step = (finished - start) / 6
        if outcome == "done":
            self.next_pr += 1
            states = [
                ("dispatched", {}),
                ("claimed", {}),
                ("agent_started", {"agent": "claude"}),
                (
                    "complete",
                    {
                        "agent": "claude",
                        "cost_usd": round(self.rng.uniform(0.05, 0.9), 4),
                        "duration_s": round(self.rng.uniform(60, 1500), 1),
                    },
                ),
                ("pr_opened", {"pr": self.next_pr}),
                ("merged", {"pr": self.next_pr}),
            ]
        else:
            states = [
                ("dispatched", {}),
                ("agent_started", {"agent": "claude"}),
                ("crash", {"agent": "claude", "reason": "the CLI exited 1", "cost_usd": 0.12}),
                ("agent_started", {"agent": "codex"}),
                ("timeout", {"agent": "codex", "reason": "timeout after 45 min", "cost_usd": 0.4}),
                (outcome, {"reason": "every agent of the chain failed"}),
            ]
        for n, (state, fields) in enumerate(states):
            metrics.record_event(self.paths.metrics, state=state, ts=start + step * n, **base, **fields)  # type: ignore[arg-type]
        return len(states)

    def _write_runs(self, task: Task, finished: datetime) -> None:
        run_dir = self.paths.agent_runs / task.id / f"attempt-{task.attempt}-claude"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "prompt.md").write_text(f"# {task.title}\n\n{task.goal}\n\n{task.context}\n" * 2)
        stream = "".join(
            f'{{"type":"assistant","turn":{n},"text":"{self._chars(90)}","tokens":{self.rng.randint(50, 900)}}}\n'
            for n in range(120)
        )
        (run_dir / "stdout.log").write_text(stream)
        (run_dir / "stderr.log").write_text("warning: telemetry disabled\n")
        moment = finished.timestamp()
        for path in (
            run_dir / "prompt.md",
            run_dir / "stdout.log",
            run_dir / "stderr.log",
            run_dir,
            run_dir.parent,
        ):
            os.utime(path, (moment, moment))

    # ---------------------------------------------------------------------------- ETag cache, clones, logs

    def _write_etags(self, tasks: list[Task], day_end: datetime) -> int:
        moment = day_end.timestamp()
        cache = EtagCache(
            self.paths.state / "etag_cache",
            max_entries=self.etag_max_entries,
            max_bytes=self.etag_max_bytes,
            clock=lambda: moment,
        )
        count = 0
        for task in tasks:
            api = f"https://api.github.com/repos/{task.repo}"
            for path, size in (
                (f"/issues/{task.issue}", 3000),
                (f"/pulls/{task.issue}", 9000),
                (f"/pulls/{task.issue}/files", 4000),
                (f"/commits/{task.issue:040x}/check-runs", 2500),
                (f"/issues/{task.issue}/events", 2000),
            ):
                body = '{"filler":"' + self._chars(size) + '"}'
                cache.store_response(f"{api}{path} accept=", CachedResponse(f'W/"{task.issue}{path}"', body))
                count += 1
        cache.save()
        return count

    def _write_branches(self, tasks: list[Task]) -> int:
        created = 0
        for repo, key in zip(self.repos, self.repo_keys, strict=True):
            clone = self.paths.clones / key
            if not (clone / ".git").is_dir():
                continue
            head = run_process(["git", "rev-parse", "origin/main"], cwd=clone, timeout=60).stdout.strip()
            lines = "".join(f"create refs/heads/{t.branch} {head}\n" for t in tasks if t.repo == repo)
            if lines:
                result = run_process(["git", "update-ref", "--stdin"], cwd=clone, timeout=120, stdin=lines)
                if not result.ok:
                    raise RuntimeError(f"git update-ref failed: {result.stderr[-500:]}")
                created += lines.count("\n")
        return created

    def _write_logs(self, tasks: int, day_end: datetime) -> int:
        root = logging.getLogger()
        saved_handlers, saved_level = list(root.handlers), root.level
        for handler in saved_handlers:  # the caller's own handlers do not see the simulated lines
            root.removeHandler(handler)
        lines = 0
        try:
            for job, count in (
                ("dispatcher", TICKS_PER_DAY),
                ("pr_monitor", TICKS_PER_DAY),
                ("queue", 4 * tasks),
            ):
                setup_logging(
                    job,
                    self.paths.logs,
                    logging.INFO,
                    max_bytes=self.log_max_bytes,
                    backup_count=self.log_backups,
                    stream=self._devnull,
                )
                logger = logging.getLogger(f"orchestrator.jobs.{job}")
                for n in range(count):
                    logger.info("%s tick", job, extra=kv(dispatched=0, asked=0, lost=0, errors=0, n=n))
                lines += count
        finally:
            for handler in list(root.handlers):
                root.removeHandler(handler)
                handler.close()
            for handler in saved_handlers:
                root.addHandler(handler)
            root.setLevel(saved_level)
        self._date_rotated_logs(day_end)
        return lines

    def _date_rotated_logs(self, day_end: datetime) -> None:
        """A log rotated during this simulated day carries that day as its mtime (the handler wrote it now),
        so housekeeping's age limit on rotated logs sees simulated ages."""
        moment = day_end.timestamp()
        for path in self.paths.logs.glob("*.log.*"):
            if path.stat().st_mtime > moment:
                os.utime(path, (moment, moment))

    # --------------------------------------------------------------------------------------------- text

    def _words(self, count: int) -> str:
        """`count` words of a fixed random text from a random place (varied, and cheap to make)."""
        start = self.rng.randrange(0, len(self._bank) - count)
        return " ".join(self._bank[start : start + count])

    def _chars(self, size: int) -> str:
        start = self.rng.randrange(0, len(self._text) - size)
        return self._text[start : start + size]

    def _sentences(self, count: int) -> str:
        return " ".join(f"{self._words(12).capitalize()}." for _ in range(count))
