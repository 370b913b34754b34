"""CLI wiring for the operator views: `dashboard build|serve`, `log`, `why`, and `tasks --watch`.

    register(subparsers)            adds `dashboard`, `log` and `why` to bin/agentos
    add_watch_option(tasks_parser)  adds `--watch [SECONDS]` to the existing `tasks` command;
    run_tasks_watch(args)           what `tasks` runs when `args.watch` is set

Every command takes the runtime dir from the config (`--config` on the main parser) or `--runtime DIR`.
Registration imports nothing heavy (rich, jinja2, the event log are imported when a command runs), so
building bin/agentos's parser stays cheap.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.config import Config, ConfigError, UnknownRepoError, load_config
from orchestrator.policy.reliability import WINDOW_DAYS
from orchestrator.state.runtime import RuntimePaths

if TYPE_CHECKING:
    from orchestrator.github.protocol import Forge
    from orchestrator.views.activity import FeedFilter

WATCH_INTERVAL_S = 2.0  # the default of `tasks --watch` with no number
WINDOW_HELP = f"the rolling window every number of the page covers, in days (default {WINDOW_DAYS})"


def window_days(text: str) -> int:
    """--window-days: a whole number of days, at least 1."""
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if days < 1:
        raise argparse.ArgumentTypeError(f"the window must be at least 1 day, got {days}")
    return days


def _config_and_paths(args: argparse.Namespace) -> tuple[Config | None, RuntimePaths]:
    """--runtime wins (the config is then optional); else the config's runtime dir."""
    if getattr(args, "runtime", None):
        try:
            config: Config | None = load_config(getattr(args, "config", None))
        except ConfigError:  # with --runtime the config only adds repo names and keys
            config = None
        return config, RuntimePaths(Path(args.runtime).resolve())
    config = load_config(getattr(args, "config", None))
    return config, RuntimePaths(config.runtime_dir)


def _add_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime", help="runtime dir (default: from the config)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `dashboard build|serve` and `log` to the main parser's subcommands."""
    dashboard = subparsers.add_parser(
        "dashboard", help="the reliability dashboard (build it, or serve it locally)"
    )
    actions = dashboard.add_subparsers(dest="dashboard_command", required=True)
    build = actions.add_parser("build", help="write index.html, README.md and metrics.json")
    build.add_argument("--out", help="output dir (default: <runtime>/dashboard)")
    build.add_argument("--window-days", type=window_days, default=WINDOW_DAYS, help=WINDOW_HELP)
    _add_runtime(build)
    build.set_defaults(func=cmd_dashboard_build)
    serve = actions.add_parser("serve", help="serve the dashboard on 127.0.0.1, regenerated on request")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this host only)")
    serve.add_argument("--out", help="output dir (default: <runtime>/dashboard)")
    serve.add_argument(
        "--max-age", type=float, default=30.0, help="rebuild on a request when older (seconds)"
    )
    serve.add_argument("--interval", type=float, default=None, help="also rebuild every N seconds")
    serve.add_argument("--window-days", type=window_days, default=WINDOW_DAYS, help=WINDOW_HELP)
    _add_runtime(serve)
    serve.set_defaults(func=cmd_dashboard_serve)

    log = subparsers.add_parser("log", help="the activity feed: one line per event, filterable")
    log.add_argument("--repo", action="append", default=[], help="repo key or owner/name (repeatable)")
    log.add_argument("--issue", type=int)
    log.add_argument("--agent")
    log.add_argument("--since", help="30m, 2h, 7d, 1w or an ISO date/time")
    log.add_argument(
        "-n", "--lines", type=int, default=50, help="show the last N matching events (default 50)"
    )
    log.add_argument("--all", action="store_true", help="show every matching event")
    log.add_argument("-f", "--follow", action="store_true", help="keep printing new events (Ctrl-C to stop)")
    _add_runtime(log)
    log.set_defaults(func=cmd_log)

    why = subparsers.add_parser("why", help="why an issue (or its PR) is, or is not, moving")
    why.add_argument("issue", help="OWNER/NAME#N, REPO_KEY#N, or N when one repo is configured")
    why.add_argument("--local", action="store_true", help="do not ask GitHub; recorded decisions only")
    why.set_defaults(func=cmd_why)


def add_watch_option(tasks_parser: argparse.ArgumentParser) -> None:
    tasks_parser.add_argument(
        "--watch",
        nargs="?",
        type=float,
        const=WATCH_INTERVAL_S,
        default=None,
        metavar="SECONDS",
        help=f"live view, refreshed every SECONDS (default {WATCH_INTERVAL_S:g}); Ctrl-C to quit",
    )


def run_tasks_watch(args: argparse.Namespace) -> int:
    from orchestrator.views.task_watch import watch

    interval = float(args.watch)
    if interval <= 0:
        print("error: --watch needs a positive number of seconds", file=sys.stderr)
        return 2
    config, paths = _config_and_paths(args)
    return watch(config, paths, interval)


def _out_dir(args: argparse.Namespace, paths: RuntimePaths) -> Path:
    return Path(args.out).resolve() if args.out else paths.root / "dashboard"


def _web_url(config: Config | None) -> str:
    """Where the page's issue and PR links point: the forge of the config (github.com without one)."""
    from orchestrator.views.dashboard_data import web_base

    return web_base(config.github.api_url if config else None)


def cmd_dashboard_build(args: argparse.Namespace) -> int:
    from orchestrator.views.dashboard_page import build_dashboard

    config, paths = _config_and_paths(args)
    build = build_dashboard(
        paths, _out_dir(args, paths), datetime.now(UTC), args.window_days, _web_url(config)
    )
    for path in build.files:
        print(f"wrote {path}")
    print(
        f"{build.events} events in {build.seconds:.2f}s"
        + (f" ({build.corrupt_lines} corrupt lines skipped)" if build.corrupt_lines else "")
    )
    return 0


def cmd_dashboard_serve(args: argparse.Namespace) -> int:
    from orchestrator.views.dashboard_page import build_dashboard
    from orchestrator.views.serve import DashboardServer

    config, paths = _config_and_paths(args)
    out_dir = _out_dir(args, paths)
    web = _web_url(config)
    try:
        server = DashboardServer(
            out_dir,
            lambda: build_dashboard(paths, out_dir, datetime.now(UTC), args.window_days, web),
            host=args.host,
            port=args.port,
            max_age_s=args.max_age,
            interval_s=args.interval,
        ).start()
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"serving {out_dir} at {server.url} (Ctrl-C to stop)", flush=True)
    server.wait()
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from orchestrator.state.metrics import read_events
    from orchestrator.views import activity

    config, paths = _config_and_paths(args)
    now = datetime.now(UTC)
    try:
        feed_filter = activity.FeedFilter(
            repos=frozenset(_repo_names(config, args.repo)),
            issue=args.issue,
            agent=args.agent,
            since=activity.parse_since(args.since, now) if args.since else None,
        )
    except (activity.BadSince, UnknownRepoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines = activity.select(read_events(paths.metrics), feed_filter, None if args.all else args.lines)
    for line in lines:
        print(activity.format_line(line))
    if not lines and not args.follow:
        print("no matching events", file=sys.stderr)
    if args.follow:
        _follow(paths, feed_filter)
    return 0


def parse_issue(text: str, config: Config) -> tuple[str, int]:
    """ "owner/name#12", "KEY#12" or (one repo configured) "12" / "#12" → (owner/name, 12)."""
    repo, _, number = text.strip().rpartition("#")
    if not number.isdigit():
        raise ValueError(f"{text!r} is not an issue: expected OWNER/NAME#N, REPO_KEY#N or N")
    if not repo:
        if len(config.repos) != 1:
            keys = ", ".join(r.key for r in config.repos)
            raise ValueError(f"which repo is #{number}? write REPO_KEY#{number}; configured: {keys}")
        return config.repos[0].full_name, int(number)
    return config.repo(repo).full_name, int(number)


def cmd_why(args: argparse.Namespace) -> int:
    from orchestrator.policy.control_commands import IssueRef
    from orchestrator.views.why import why_text

    config = load_config(getattr(args, "config", None))
    try:
        repo, number = parse_issue(args.issue, config)
    except (ValueError, UnknownRepoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    forge = None
    if not args.local:
        forge = _forge_or_none(config)
    print(why_text(config, RuntimePaths(config.runtime_dir), IssueRef(repo, number), forge), end="")
    return 0


def _forge_or_none(config: Config) -> Forge | None:
    """The GitHub client, or None (with a note) when it cannot be built: `why` then answers from local state."""
    from orchestrator.github.errors import GitHubError
    from orchestrator.state.job_context import build_context

    try:
        return build_context(config).forge
    except (GitHubError, ConfigError, OSError) as exc:
        print(f"note: GitHub not asked ({exc}); showing what was recorded on this host", file=sys.stderr)
        return None


def _repo_names(config: Config | None, wanted: list[str]) -> list[str]:
    """Repo keys become owner/name through the config; owner/name passes through as given."""
    if config is None:
        return wanted
    return [name if "/" in name else config.repo(name).full_name for name in wanted]


def _follow(paths: RuntimePaths, feed_filter: FeedFilter) -> None:
    from orchestrator.views import activity

    def wait() -> bool:
        time.sleep(1.0)
        return True

    try:
        activity.follow(paths.metrics, feed_filter, lambda text: print(text, flush=True), wait)
    except KeyboardInterrupt:
        return
