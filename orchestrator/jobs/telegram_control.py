"""jobs/telegram_control: obey Telegram commands and inline buttons from the configured chats and users.

One tick: getUpdates from the persisted offset → for each update: authorise (chat id AND user id) → parse
into a Command → execute through ControlActions → reply. Offset bookkeeping in runtime/state/telegram.json
makes every update run at most once:

    before executing update U:  {"offset": U, "in_progress": U}
    after handling update U:    {"offset": U + 1, "in_progress": null}

A restart after U finished fetches from U + 1 (nothing repeated, nothing lost); a crash *during* U leaves
`in_progress = U`, and the next run answers U with "interrupted, not re-run" instead of executing it again.

Each update is handled on its own: an update the Bot API sent malformed is logged with its id and skipped
(its offset acknowledged); a GitHub error during a command is answered truthfully ("GitHub answered 502 …,
try again") and any other failure with a reply naming the update id in the log — the rest of the batch runs.

On several hosts exactly one polls: `telegram.poller_host` names it (see docs/operations.md); every other host
only sends its own notifications. The GitHub-side commands are idempotent besides (control_hooks), so an
update delivered twice still has one effect.
This job ignores every kill switch: it is how a user switches Agent OS back on.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.control.control_updates import (
    MAX_POLL_SECONDS,
    NOT_AUTHORIZED,
    Authorizer,
    ControlBot,
    OffsetFile,
    TickReport,
    github_failure_reply,
    listen,
    run_tick,
    sync_commands,
)
from orchestrator.executors.control_actions import (
    ControlHooks,
    LocalControlActions,
    TaskLister,
    budget_report,
)
from orchestrator.executors.notify import Notifier
from orchestrator.policy import control_commands as cc
from orchestrator.policy.digest import costs_by_agent
from orchestrator.security.redact import default_redactor
from orchestrator.state.runtime import host_name
from orchestrator.state.switches import Switches, utc_now
from orchestrator.telegram.bot_api import (
    TelegramApiError,
    TelegramBot,
    TelegramConfigError,
    TelegramSender,
    token_from_env,
)
from orchestrator.values.job_registry import JOB_NAMES

if TYPE_CHECKING:
    from orchestrator.config import Config
    from orchestrator.state.runtime import JobContext

__all__ = [  # the update handling lives in orchestrator.control.control_updates; these names stay importable here
    "MAX_POLL_SECONDS",
    "NOT_AUTHORIZED",
    "Authorizer",
    "ControlBot",
    "OffsetFile",
    "TickReport",
    "command_context",
    "github_failure_reply",
    "listen",
    "main",
    "run_job",
    "run_tick",
    "serve",
    "sync_commands",
]

log = logging.getLogger(__name__)


def command_context(repos: Sequence[Any]) -> cc.CommandContext:
    return cc.CommandContext(
        repos=tuple(cc.KnownRepo(r.key, r.full_name) for r in repos),
        jobs=JOB_NAMES,
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="telegram_control", description="Obey Telegram commands and buttons."
    )
    parser.add_argument("--config", help="config file (default: $AGENT_OS_CONFIG or ./config.yaml)")
    parser.add_argument(
        "--listen-seconds",
        type=float,
        default=50.0,
        help="keep long-polling this long (cron starts the job every minute; 0 = one short tick)",
    )
    return parser.parse_args(list(argv))


def serve(
    config: Config,
    mailbox: TaskLister,
    environ: Mapping[str, str],
    clock: Callable[[], datetime],
    listen_seconds: float,
    hooks: ControlHooks | None = None,
    host: str | None = None,
) -> int:
    """Connect to Telegram with the configured token and obey updates for `listen_seconds` — on the poller
    host only; any other host just sends the notifications it holds back."""
    tg = config.telegram
    if not tg.enabled:
        log.info("telegram_control: telegram.enabled is false; nothing to do")
        return 0
    try:
        token = token_from_env(tg.token_env, environ)
    except TelegramConfigError as exc:
        log.error("telegram_control: %s", exc)
        return 2
    runtime = Path(config.runtime_dir)
    redactor = default_redactor(environ=environ)
    redactor.add(token)
    this_host = host or host_name()
    if not is_poller(tg.poller_host, this_host):
        log.info(
            "telegram_control: host %s is not the poller (telegram.poller_host is %s); sending notifications only",
            this_host,
            tg.poller_host,
        )
        sender = TelegramSender(token, tg.api_url, tg.allowed_chat_ids)
        Notifier(runtime, sender, redactor.redact, clock).flush()
        return 0
    if not tg.allowed_chat_ids or not tg.allowed_user_ids:
        log.warning(
            "telegram_control: allowed_chat_ids or allowed_user_ids is empty; every message is refused"
        )
    actions = LocalControlActions(
        Switches.load(runtime, clock),
        config.repos,
        mailbox,
        budget_text=lambda: month_budget_text(config, clock()),
        hooks=hooks,
    )
    offsets = OffsetFile(runtime)
    offsets.read_or_reset(clock())
    auth = Authorizer(frozenset(tg.allowed_chat_ids), frozenset(tg.allowed_user_ids))
    try:
        with TelegramBot(token, tg.api_url) as bot:
            sender = TelegramSender(token, tg.api_url, tg.allowed_chat_ids, bot=bot)
            notifier = Notifier(runtime, sender, redactor.redact, clock)
            sync_commands(bot, offsets)
            report = listen(
                bot, actions, offsets, auth, command_context(config.repos), listen_seconds, notifier.flush
            )
    except TelegramApiError as exc:
        log.error("telegram_control: %s", exc)
        return 1
    log.info(
        "telegram_control handled=%d refused=%d interrupted=%d malformed=%d failed=%d",
        len(report.handled),
        len(report.refused),
        len(report.interrupted),
        len(report.malformed),
        len(report.failed),
    )
    return 0


def is_poller(poller_host: str | None, host: str) -> bool:
    """Whether this host polls Telegram: every host when no poller is configured (one host), else only the
    named one."""
    return not poller_host or poller_host == host


def month_budget_text(config: Config, now: datetime) -> str:
    from orchestrator.jobs.daily_digest import load_events

    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    events = load_events(Path(config.runtime_dir) / "metrics", start)
    costs = costs_by_agent(events, start - timedelta(microseconds=1))
    return budget_report(costs, config.budgets.monthly_usd, config.budgets.per_task_usd)


def run_job(ctx: JobContext, argv: list[str], hooks: ControlHooks | None = None) -> int:
    """The entry used by orchestrator.jobs.entry (after its kill-switch check and job lock)."""
    args = parse_args(argv)
    return serve(ctx.config, ctx.mailbox, ctx.environ, ctx.clock, args.listen_seconds, hooks, ctx.host)


def main(argv: Sequence[str] | None = None, hooks: ControlHooks | None = None) -> int:
    """Standalone entry: `python -m orchestrator.jobs.telegram_control [--config PATH] [--listen-seconds N]`."""
    from orchestrator.config import ConfigError, load_config
    from orchestrator.state.mailbox import Mailbox

    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("telegram_control: %s", exc)
        return 2
    mailbox = Mailbox(Path(config.runtime_dir) / "mailbox")
    return serve(config, mailbox, os.environ, utc_now, args.listen_seconds, hooks)


if __name__ == "__main__":
    raise SystemExit(main())
