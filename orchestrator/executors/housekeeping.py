"""Keeping runtime/ bounded over months of cron: archive, compress, rotate, prune — at most once a period.

After any job's tick, `run_if_due` costs one stat; when `retention.housekeeping_hours` have passed since the
last run (and no other process is running it) it runs every step once. Each step is independent: one
failing is logged and reported, the others still run. The steps:

- finished tasks unchanged for `archive_after_days` → `mailbox/archive/<month>/…zip` (orchestrator.state.task_archive),
  with the prompts and logs of their agent runs; their `agent-runs/<task>` folders are removed; archive months
  older than `archive_keep_months` are deleted (0 keeps them);
- event months older than the newest `events_uncompressed_months` → `events/YYYY-MM.jsonl.gz`;
- agent-run folders of loops, PR judges, issue formatting and of tasks no longer in the mailbox, older than
  `agent_runs_keep_days` → deleted;
- logs: files appended by cron and the detached queue (`*.log` without a rotating handler, `*.out`) rotated
  at `log_max_mb`, keeping `log_backups`; rotated files older than `log_max_age_days` deleted;
- each repo clone of the worktree pool: `git worktree prune`, local `agent/*` branches of finished tasks that
  no worktree has checked out deleted, `git gc --auto`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.edges.worktree_files import remove_tree
from orchestrator.state.metrics import events_dir, events_path, exclusive_lock, month_files, month_of
from orchestrator.state.store import is_disk_full

if TYPE_CHECKING:
    from orchestrator.config import RetentionConfig
    from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)

STAMP = "housekeeping.stamp"
SHARED_RUN_DIRS = ("loops", "judge", "format")
_ROTATED = re.compile(r"^(?P<base>.+\.(?:log|out))\.(?P<n>\d+)$")


@dataclass
class HousekeepingReport:
    archived_tasks: int = 0
    archives: list[str] = field(default_factory=list)
    expired_archives: list[str] = field(default_factory=list)
    compressed_months: list[str] = field(default_factory=list)
    removed_runs: list[str] = field(default_factory=list)
    rotated_logs: list[str] = field(default_factory=list)
    removed_logs: list[str] = field(default_factory=list)
    pruned_branches: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def run_if_due(ctx: JobContext) -> HousekeepingReport | None:
    """Run housekeeping when its period has passed since the last run; None when not due or busy."""
    stamp = ctx.paths.state / STAMP
    period = ctx.config.retention.housekeeping_hours * 3600
    try:
        if time.time() - stamp.stat().st_mtime < period:
            return None
    except FileNotFoundError:
        pass
    ctx.paths.locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(ctx.paths.locks / "housekeeping.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # another job is running it right now
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()  # first: a crash inside a step is not retried every tick
        report = run(ctx)
    finally:
        os.close(fd)
    log.info(
        "housekeeping archived=%d compressed=%s runs_removed=%d logs_rotated=%d logs_removed=%d "
        "branches_pruned=%d errors=%d",
        report.archived_tasks,
        ",".join(report.compressed_months) or "-",
        len(report.removed_runs),
        len(report.rotated_logs),
        len(report.removed_logs),
        sum(report.pruned_branches.values()),
        len(report.errors),
    )
    return report


def run(ctx: JobContext, now: datetime | None = None) -> HousekeepingReport:
    """Every step once (see the module docstring)."""
    moment = now or ctx.clock()
    settings = ctx.config.retention
    report = HousekeepingReport()
    steps = (
        ("archive", lambda: _archive(ctx, moment, settings, report)),
        ("old archives", lambda: _expire_archives(ctx, moment, settings, report)),
        ("events", lambda: _compress_events(ctx, moment, settings, report)),
        ("agent-runs", lambda: _prune_runs(ctx, moment, settings, report)),
        ("logs", lambda: _rotate_logs(ctx.paths.logs, moment, settings, report)),
        ("clones", lambda: _prune_clones(ctx, report)),
    )
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # a failing step is reported; the others still run
            if is_disk_full(exc):  # a condition, said in one line (the next run retries the step)
                log.error("housekeeping step %s failed: %s", name, exc)
            else:
                log.exception("housekeeping step %s failed", name)
            report.errors.append(f"{name}: {exc}")
    return report


# ----------------------------------------------------------------------------------------------- steps


def _archive(ctx: JobContext, now: datetime, settings: RetentionConfig, report: HousekeepingReport) -> None:
    from orchestrator.state.task_archive import archive_finished

    result = archive_finished(
        ctx.mailbox, now, timedelta(days=settings.archive_after_days), ctx.paths.agent_runs
    )
    ctx.mailbox.records.forget_archived(result.archived)
    report.archived_tasks += len(result.archived)
    report.archives += result.archives


def _expire_archives(
    ctx: JobContext, now: datetime, settings: RetentionConfig, report: HousekeepingReport
) -> None:
    """Monthly archive folders older than `archive_keep_months` (the index keeps their generations)."""
    if not settings.archive_keep_months:
        return
    oldest_kept = _months_back(month_of(now), settings.archive_keep_months - 1)
    folder = ctx.mailbox.root / "archive"
    if not folder.is_dir():
        return
    for month in sorted(folder.iterdir()):
        if month.is_dir() and re.fullmatch(r"\d{4}-\d{2}", month.name) and month.name < oldest_kept:
            shutil.rmtree(month)
            report.expired_archives.append(month.name)


def _compress_events(
    ctx: JobContext, now: datetime, settings: RetentionConfig, report: HousekeepingReport
) -> None:
    newest = _months_back(month_of(now), settings.events_uncompressed_months - 1)
    for month in month_files(ctx.paths.metrics):
        if (
            month.month < newest
            and month.plain is not None
            and compress_month(ctx.paths.metrics, month.month)
        ):
            report.compressed_months.append(month.month)


def compress_month(metrics_dir: Path, month: str) -> bool:
    """Move `YYYY-MM.jsonl` into `YYYY-MM.jsonl.gz` (appended as one more gzip member when that exists).

    The plain file is renamed aside under its writers' flock first, so an event appended meanwhile goes
    to a new plain file (read after the archive); after a crash the leftover is finished on the next call,
    and its lines are never added twice."""
    plain = events_path(metrics_dir, month)
    aside = plain.with_name(plain.name + ".compressing")
    with exclusive_lock(events_dir(metrics_dir) / ".compress.lock"):
        if not aside.exists():
            if not plain.exists():
                return False
            with exclusive_lock(plain):  # the lock `append_lines` takes: no write is in flight
                os.rename(plain, aside)
        _append_member(aside, plain.with_name(plain.name + ".gz"))
        aside.unlink()
    return True


def _append_member(source: Path, archive: Path) -> None:
    import gzip

    data = source.read_bytes()
    old = archive.read_bytes() if archive.exists() else b""
    if old and gzip.decompress(old).endswith(data):
        return  # a crash came after the archive was replaced: it already holds these lines
    tmp = archive.with_name(f".{archive.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        handle.write(old)
        handle.write(gzip.compress(data, compresslevel=6, mtime=0))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, archive)


def _prune_runs(
    ctx: JobContext, now: datetime, settings: RetentionConfig, report: HousekeepingReport
) -> None:
    """Agent-run folders older than the retention whose task is not in the mailbox any more (archived
    tasks' runs went into the archive), and the loops' / judges' / formatter's old runs."""
    root = ctx.paths.agent_runs
    if not root.is_dir():
        return
    cutoff = (now - timedelta(days=settings.agent_runs_keep_days)).timestamp()
    candidates = [
        p for shared in SHARED_RUN_DIRS if (root / shared).is_dir() for p in (root / shared).iterdir()
    ]
    candidates += [p for p in root.iterdir() if p.name not in SHARED_RUN_DIRS]
    for path in candidates:
        if not path.is_dir() or _newest_mtime(path) >= cutoff:
            continue
        if path.parent == root and ctx.mailbox.locate(path.name) is not None:
            continue  # its task is still in the mailbox: archived with it later
        try:
            remove_tree(path)  # an agent's HOME/TMP may hold a tree deeper than shutil.rmtree recurses
        except OSError as exc:
            log.warning("run directory %s not removed: %s", path, exc)
            continue
        report.removed_runs.append(str(path.relative_to(root)))


def _rotate_logs(logs: Path, now: datetime, settings: RetentionConfig, report: HousekeepingReport) -> None:
    if not logs.is_dir():
        return
    max_bytes = int(settings.log_max_mb * 1024 * 1024)
    for path in sorted(logs.iterdir()):
        if path.suffix in (".log", ".out") and path.is_file() and path.stat().st_size >= max_bytes:
            rotate_file(path, settings.log_backups)
            report.rotated_logs.append(path.name)
    cutoff = (now - timedelta(days=settings.log_max_age_days)).timestamp()
    for path in sorted(logs.iterdir()):
        match = _ROTATED.match(path.name)
        if match and (path.stat().st_mtime < cutoff or int(match["n"]) > settings.log_backups):
            path.unlink(missing_ok=True)
            report.removed_logs.append(path.name)


def rotate_file(path: Path, backups: int) -> None:
    """`x.log` → `x.log.1` (shifting `.1` → `.2` …, dropping the one past `backups`); the next writer
    that opens `x.log` for appending starts a new file."""
    for n in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{n + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))


def _prune_clones(ctx: JobContext, report: HousekeepingReport) -> None:
    from orchestrator.executors.clone_pruning import prune_clone

    for repo in ctx.config.repos:
        clone = ctx.paths.clones / repo.key
        if (clone / ".git").is_dir():
            report.pruned_branches[repo.key] = prune_clone(ctx, repo, clone)


# -------------------------------------------------------------------------------------------- helpers


def _months_back(month: str, count: int) -> str:
    year, number = int(month[:4]), int(month[5:7]) - count
    while number < 1:
        year, number = year - 1, number + 12
    return f"{year:04d}-{number:02d}"


def _newest_mtime(path: Path) -> float:
    """The newest mtime in the tree, walked iteratively: a run folder holds the sandbox's HOME, where an agent
    can leave a chain deeper than a recursive walk (`Path.rglob`) goes; what lies beyond PATH_MAX is skipped."""
    newest = path.stat().st_mtime
    pending = [str(path)]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            newest = max(newest, info.st_mtime)
            if stat.S_ISDIR(info.st_mode):
                pending.append(entry.path)
    return newest
