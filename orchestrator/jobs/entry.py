"""Running one job once: config → context → kill-switch check → job lock → the job → exit code.

Used by `bin/cron-run JOB` (cron) and `bin/agentos run JOB` (by hand). Jobs are imported lazily so a cron
tick loads only what its job needs.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.config import Config, ConfigError, load_config
from orchestrator.control.cron_preflight import PREFLIGHT_ENV
from orchestrator.github.errors import GitHubError
from orchestrator.state.job_context import build_context as build_context
from orchestrator.state.runtime import JobContext, RuntimePaths
from orchestrator.state.store import FileLock, LockTimeout, is_disk_full
from orchestrator.values import job_registry
from orchestrator.values.job_registry import EXIT_CONFIG, EXIT_ERROR, EXIT_OK

log = logging.getLogger("agentos")

EXIT_SKIPPED = EXIT_OK  # a job that did not run because it is switched off or already running


@dataclass(frozen=True)
class JobOutcome:
    code: int
    message: str


# Jobs that may run alongside themselves: the queue bounds its agent runs with cross-process worker slots
# (orchestrator/state/worker_slots.py), so the one the dispatcher starts can work while another queue is busy.
CONCURRENT_JOBS = frozenset({"queue"})


def run_job(
    name: str,
    config_path: str | None,
    argv: list[str],
    honour_switches: bool = True,
    environ: MutableMapping[str, str] | None = None,
) -> JobOutcome:
    """Load config and the secrets file, check the kill switches, take the job's lock and run it once.

    A job that fails before it can run (config, secrets file, credentials, switches file, lock file) is
    recorded like any run — `bin/agentos status` shows it failed and why, `bin/agentos logs JOB` has the
    line — as long as a runtime directory is known. `environ` (default: this process's environment) gets the
    secrets file's variables, so the job and every process it starts see them."""
    env = os.environ if environ is None else environ
    try:
        spec = job_registry.job(name)
    except job_registry.UnknownJob as exc:
        return JobOutcome(EXIT_CONFIG, str(exc))
    started = datetime.now(UTC)
    ready = _ready_to_run(name, config_path, env, started, honour_switches)
    if isinstance(ready, JobOutcome):
        return ready
    config, paths = ready
    lock = FileLock(paths.locks / f"{name}.lock", timeout_s=0)
    try:
        if name not in CONCURRENT_JOBS:
            lock.acquire()
    except LockTimeout:
        return JobOutcome(EXIT_SKIPPED, f"{name} is already running (lock {paths.locks / (name + '.lock')})")
    except OSError as exc:
        return _failed_early(paths, name, started, f"cannot take the job lock: {exc}")
    if env.get(PREFLIGHT_ENV):
        from orchestrator.control.cron_preflight import one_try

        config = one_try(config)
    try:
        return _run_locked(spec, config, argv, dict(env), started)
    finally:
        if lock.is_locked:
            lock.release()


def _ready_to_run(
    name: str,
    config_path: str | None,
    env: MutableMapping[str, str],
    started: datetime,
    honour_switches: bool,
) -> tuple[Config, RuntimePaths] | JobOutcome:
    """Config, runtime dir, secrets file, job log and kill switches — or the outcome that stops the run."""
    try:
        config = load_config(config_path, env)
    except ConfigError as exc:
        outcome = JobOutcome(EXIT_CONFIG, f"{name} failed before it could run: {exc}")
        _record_early(_fallback_runtime(config_path, env), name, started, outcome)
        return outcome
    paths = RuntimePaths(config.runtime_dir)
    try:
        paths.ensure()
        env_file_problem = _load_env_file(paths, env)
    except OSError as exc:
        return JobOutcome(EXIT_CONFIG, f"{name} failed before it could run: runtime dir {paths.root}: {exc}")
    if not env.get(PREFLIGHT_ENV):  # a dry run (doctor) leaves the job's log and run record alone
        from orchestrator.edges.deferred_logging import defer

        defer(lambda: _setup_logging(name, paths, config))  # speed: only when the job has a line to write
    if env_file_problem:
        return _failed_early(paths, name, started, env_file_problem)
    skipped = _switch_skip(name, paths, honour_switches)
    if isinstance(skipped, JobOutcome):
        return skipped
    if skipped:
        return _failed_early(paths, name, started, skipped)
    return config, paths


def _load_env_file(paths: RuntimePaths, env: MutableMapping[str, str]) -> str | None:
    """Fill `env` from runtime/secrets.env; the reason when the file cannot be used."""
    from orchestrator.state.env_file import EnvFileError, apply_env_file

    try:
        apply_env_file(paths.root, env)
    except EnvFileError as exc:
        return f"secrets file: {exc}"
    return None


def _switch_skip(name: str, paths: RuntimePaths, honour: bool) -> JobOutcome | str | None:
    """A kill switch that is off → the skip outcome; an unreadable switches file → the reason it failed."""
    if not honour:
        return None
    from orchestrator.state.store import StoreError
    from orchestrator.state.switches import Switches

    try:
        allowed, reason = Switches.load(paths.root).is_allowed(name)
    except StoreError as exc:
        return f"cannot read the kill switches: {exc}"
    if allowed:
        return None
    log.info("job skipped job=%s reason=%s", name, reason)
    return JobOutcome(EXIT_SKIPPED, f"{name} skipped: {reason}")


def _fallback_runtime(config_path: str | None, env: Mapping[str, str]) -> Path | None:
    """Where a config that cannot be loaded would keep its runtime: the default `runtime/` next to the file —
    used only when it exists (nothing is created in a place nobody chose)."""
    from orchestrator.config import config_path as chosen_config

    chosen, _origin = chosen_config(config_path, env)
    runtime = chosen.expanduser().absolute().parent / "runtime"
    return runtime if (runtime / "state").is_dir() else None


def _failed_early(paths: RuntimePaths, name: str, started: datetime, reason: str) -> JobOutcome:
    outcome = JobOutcome(EXIT_CONFIG, f"{name} failed before it could run: {reason}")
    if not os.environ.get(PREFLIGHT_ENV):
        log.error("job failed before it could run job=%s error=%s", name, reason)
    _record_early(paths.root, name, started, outcome)
    return outcome


def _record_early(runtime: Path | None, name: str, started: datetime, outcome: JobOutcome) -> None:
    if runtime is None or os.environ.get(PREFLIGHT_ENV):
        return  # a dry run (doctor) reports what it found; it is not a run of the job
    from orchestrator.views.job_runs import record_job_run

    try:
        record_job_run(
            RuntimePaths(runtime),
            name,
            started=started,
            finished=datetime.now(UTC),
            code=outcome.code,
            message=outcome.message,
        )
    except OSError as exc:
        log.error("job run not recorded job=%s error=%s", name, exc)


def _run_locked(
    spec: job_registry.JobSpec, config: Config, argv: list[str], env: dict[str, str], started: datetime
) -> JobOutcome:
    name = spec.name
    func: Callable[[JobContext, list[str]], int] = getattr(
        importlib.import_module(spec.module), spec.function
    )
    paths = RuntimePaths(config.runtime_dir)
    try:
        ctx = build_context(config, env)
    except GitHubError as exc:
        return _failed_early(paths, name, started, f"cannot talk to GitHub: {exc}")
    except ConfigError as exc:
        return _failed_early(paths, name, started, str(exc))
    if env.get(PREFLIGHT_ENV):
        from orchestrator.control.cron_preflight import preflight

        checked = preflight(name, ctx)
        _close_forge(ctx)
        return JobOutcome(EXIT_OK if checked.ok else EXIT_CONFIG, checked.message)
    outcome = JobOutcome(EXIT_ERROR, f"{name} crashed")
    try:
        code = func(ctx, argv)
        outcome = JobOutcome(code, f"{name} finished" if code == EXIT_OK else f"{name} failed (exit {code})")
    except GitHubError as exc:
        log.error("job failed job=%s error=%s", name, exc)
        outcome = JobOutcome(EXIT_ERROR, f"{name} failed: {exc}")
    except Exception as exc:
        if not is_disk_full(exc, on=paths.root):
            raise  # anything else is a bug: its traceback is the report
        outcome = _disk_full(paths, name, exc)
    finally:
        _bookkeeping(ctx, name, started, outcome)
    return outcome


def _disk_full(paths: RuntimePaths, name: str, exc: Exception) -> JobOutcome:
    """A write the job cannot do without failed for lack of space: the tick stops where it is — as after a
    crash, what it held is recovered by a later tick — with one line that says what to free."""
    message = (
        f"{name} stopped: no space left on the device of {paths.root} ({exc}); "
        "free space there — later ticks recover what this one held"
    )
    log.error("job stopped: disk full job=%s runtime=%s error=%s", name, paths.root, exc)
    return JobOutcome(EXIT_ERROR, message)


def _close_forge(ctx: JobContext) -> None:
    close = getattr(ctx.forge, "close", None)
    if close is not None:
        close()


def _bookkeeping(ctx: JobContext, name: str, started: datetime, outcome: JobOutcome) -> None:
    """Close the client (saves the ETag cache) and record the run. Failing to write these (e.g. a full disk)
    is logged; it never hides or changes the job's own outcome."""
    try:
        _close_forge(ctx)
        _record_run(ctx, name, started, outcome)
    except OSError as exc:
        log.error("job bookkeeping not written job=%s error=%s", name, exc)
    from orchestrator.executors.housekeeping import run_if_due  # one stat unless a period has passed

    try:
        run_if_due(ctx)
    except OSError as exc:
        log.error("housekeeping failed job=%s error=%s", name, exc)


def _record_run(ctx: JobContext, name: str, started: datetime, outcome: JobOutcome) -> None:
    """Last run and result per job, and its API spend per hour (bin/agentos status, the dashboard)."""
    from orchestrator.views.job_runs import record_job_run

    record_job_run(
        ctx.paths,
        name,
        started=started,
        finished=datetime.now(UTC),
        code=outcome.code,
        message=outcome.message,
        stats=getattr(ctx.forge, "stats", None),
    )


def _setup_logging(job: str, paths: RuntimePaths, config: Config) -> None:
    """Key=value job log; every handler redacts known secret values (the env vars the config names) and
    token shapes."""
    from orchestrator.edges.log import setup_logging
    from orchestrator.security.redact import DEFAULT_SECRET_ENV_NAMES, default_redactor, install_log_redaction

    retention = config.retention
    setup_logging(
        job,
        paths.logs,
        logging.INFO,
        max_bytes=int(retention.log_max_mb * 1024 * 1024),
        backup_count=retention.log_backups,
    )
    names = {*DEFAULT_SECRET_ENV_NAMES, config.github.token_env, config.telegram.token_env}
    names |= {a.api_key_env for a in config.agents.values() if a.api_key_env}
    install_log_redaction(default_redactor(sorted(names)))


# --- the core-loop jobs -----------------------------------------------------------------------------------


def _switch_stop(ctx: JobContext, job: str) -> Callable[[], str | None]:
    from orchestrator.state.switches import Switches

    switches = Switches.load(ctx.paths.root)
    return lambda: switches.should_stop(job)


def run_dispatcher(ctx: JobContext, argv: list[str]) -> int:
    from orchestrator.control import idle_tick
    from orchestrator.executors.tracker import Tracker
    from orchestrator.jobs import dispatcher

    tracker = Tracker(ctx.forge, ctx.paths.state, ctx.audit)
    report = dispatcher.run(ctx, start_queue=lambda: _start_queue_detached(ctx), tracker=tracker)
    acted = bool(report.dispatched or report.asked or report.lost_claims or report.errors or report.skipped)
    try:
        idle_tick.remember(ctx, acted, tracker)  # speed: what lets the next idle tick skip all this
    except OSError as exc:
        log.warning("idle memo not written error=%s", exc)
    log.log(
        logging.INFO if acted else logging.DEBUG,  # an idle tick writes no line (and sets up no log file)
        "dispatcher tick dispatched=%s asked=%s lost=%s errors=%s",
        len(report.dispatched),
        len(report.asked),
        len(report.lost_claims),
        len(report.errors),
    )
    return EXIT_ERROR if report.errors else EXIT_OK


def _start_queue_detached(ctx: JobContext) -> None:
    """Start the queue in its own process so a Ready issue's agent starts in this same cron minute."""
    cron_run = Path(__file__).resolve().parents[2] / "bin" / "cron-run"
    env = dict(os.environ)
    if ctx.config.source is not None:
        env["AGENT_OS_CONFIG"] = str(ctx.config.source)
    log_file = (ctx.paths.logs / "queue.out").open("ab")
    subprocess.Popen(  # detached on purpose: the queue outlives this tick; cron-run holds its lock
        [str(cron_run), "queue"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log_file.close()


def run_queue(ctx: JobContext, argv: list[str]) -> int:
    from orchestrator.executors.notify import Notifier
    from orchestrator.jobs import dispatcher, queue

    notifier = Notifier.for_context(ctx)

    def ask(key: str, text: str, buttons: tuple[tuple[str, str], ...]) -> None:
        notifier.notify("budget", text, key=key, buttons=buttons, severity="warning")

    from orchestrator.state.switches import Switches

    switches = Switches.load(ctx.paths.root)
    report = queue.run(
        ctx,
        should_stop=_switch_stop(ctx, "queue"),
        notify=notifier.escalation,
        ask=ask,
        stop_now=lambda: switches.stop_request() is not None,
        dispatch=lambda: dispatcher.between_ticks(ctx),  # Ready issues found between cron ticks
    )
    log.info(
        "queue tick opened=%s follow_ups=%s escalated=%s recovered=%s errors=%s",
        report.opened,
        len(report.follow_ups),
        len(report.escalated),
        len(report.recovered),
        len(report.errors),
    )
    return EXIT_ERROR if report.errors else EXIT_OK


def run_pr_monitor(ctx: JobContext, argv: list[str]) -> int:
    from orchestrator.executors.notify import Notifier
    from orchestrator.jobs import pr_monitor

    report = pr_monitor.run(ctx, notify=Notifier.for_context(ctx).escalation)
    acted = report.merged or report.rebased or report.follow_ups or report.waiting or report.errors
    log.log(
        logging.INFO if acted else logging.DEBUG,  # no agent PR at all: no line (and no log set up)
        "pr_monitor tick merged=%s rebased=%s follow_ups=%s waiting=%s errors=%s",
        report.merged,
        report.rebased,
        report.follow_ups,
        len(report.waiting),
        len(report.errors),
    )
    return EXIT_ERROR if report.errors else EXIT_OK


def run_telegram_control(ctx: JobContext, argv: list[str]) -> int:
    from orchestrator.control.control_hooks import build_hooks
    from orchestrator.jobs import telegram_control
    from orchestrator.jobs.strategic_planner import answer_plan

    return telegram_control.run_job(ctx, argv, hooks=build_hooks(ctx, answer_plan))


def main(argv: list[str] | None = None) -> int:
    """`bin/cron-run JOB [args]`: the one cron wrapper."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: cron-run JOB [args]", file=sys.stderr)
        return EXIT_CONFIG
    outcome = run_job(args[0], os.environ.get("AGENT_OS_CONFIG"), args[1:])
    if outcome.code != EXIT_OK:
        print(outcome.message, file=sys.stderr)
    elif os.environ.get(PREFLIGHT_ENV):
        print(outcome.message)
    return outcome.code


if __name__ == "__main__":
    raise SystemExit(main())
