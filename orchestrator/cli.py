"""`bin/agentos`: the one human CLI.

Expected failures (bad config, unreachable API, bad token, unknown repo) print one clear message naming the
cause and the fix and exit non-zero, without a traceback. Building the parser needs the standard library
only, so `bin/agentos --help` works before `make install`; a command that needs a dependency that is not
installed says so and how to install it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.control.setup_commands import register as register_setup
from orchestrator.github.errors import GitHubError
from orchestrator.state.runtime import RuntimePaths
from orchestrator.values.models import TaskState

if TYPE_CHECKING:
    from orchestrator.config import Config

Handler = Callable[[argparse.Namespace], int]
EXIT_NOT_INSTALLED = 4
ROOT = Path(__file__).resolve().parents[1]


def load_config(path: str | Path | None) -> Config:
    """The config loader, imported when a command needs it (it needs PyYAML; --help does not)."""
    from orchestrator.config import load_config as load

    return load(path)


def _runtime(args: argparse.Namespace) -> RuntimePaths:
    if getattr(args, "runtime", None):
        return RuntimePaths(Path(args.runtime).resolve())
    return RuntimePaths(load_config(args.config).runtime_dir)


# --- run --------------------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from orchestrator.jobs.entry import run_job

    outcome = run_job(args.job, args.config, list(args.job_args), honour_switches=not args.force)
    stream = sys.stdout if outcome.code == 0 else sys.stderr
    print(outcome.message, file=stream)
    return outcome.code


# --- kill switches ----------------------------------------------------------------------------------------


def cmd_switch_global(args: argparse.Namespace) -> int:
    from orchestrator.state.switches import Switches

    switches = Switches.load(_runtime(args).root)
    on = args.command == "on"
    switches.set_global(on, actor="cli", now=bool(getattr(args, "now", False)), why=args.why or "")
    if on:
        print("Agent OS is ON: jobs run at their next cron tick.")
    elif getattr(args, "now", False):
        print("Agent OS is OFF now: no new tasks; running agents are stopped and their work pushed.")
    else:
        print("Agent OS is OFF: no job starts new work; running tasks finish their current attempt.")
    return 0


def cmd_switch_scoped(args: argparse.Namespace) -> int:
    from orchestrator.state.switches import SwitchError, Switches

    switches = Switches.load(_runtime(args).root)
    on = args.state == "on"
    try:
        if args.command == "repo":
            load_config(args.config).repo(args.name)  # unknown repo → a clear error listing the known keys
            switches.set_repo(args.name, on, actor="cli")
        else:
            switches.set_job(args.name, on, actor="cli")
    except (SwitchError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.command} {args.name} is {args.state.upper()}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from orchestrator.views.status import render_status

    config = load_config(args.config)
    print(render_status(config, RuntimePaths(config.runtime_dir)), end="")
    return 0


# --- tasks and logs ---------------------------------------------------------------------------------------


def cmd_tasks(args: argparse.Namespace) -> int:
    if getattr(args, "watch", None) is not None:
        from orchestrator.views.commands import run_tasks_watch

        return run_tasks_watch(args)
    _print_tasks(_runtime(args), states=tuple(TaskState) if args.all else None)
    return 0


def _print_tasks(paths: RuntimePaths, states: tuple[TaskState, ...] | None) -> None:
    from orchestrator.state.mailbox import Mailbox

    mailbox = Mailbox(paths.mailbox)
    chosen = states or (TaskState.INBOX, TaskState.RUNNING, TaskState.BLOCKED, TaskState.ESCALATED)
    rows = 0
    for state in chosen:
        for entry in mailbox.list(state):
            rows += 1
            if entry.task is None:
                print(f"{state.value:<10} {entry.id:<48} MALFORMED: {entry.error}")
                continue
            t = entry.task
            print(
                f"{state.value:<10} {t.repo}#{t.issue:<6} g{t.generation} attempt {t.attempt:<3} "
                f"{t.agents[0] if t.agents else '-':<8} {t.title[:50]}"
            )
    if rows == 0:
        print("no tasks" + ("" if states else " in flight"))


def cmd_logs(args: argparse.Namespace) -> int:
    path = _runtime(args).logs / f"{args.job}.log"
    if not path.exists():
        print(f"no log yet for {args.job} ({path})", file=sys.stderr)
        return 1
    lines = path.read_text(errors="replace").splitlines()
    print("\n".join(lines[-args.lines :]))
    return 0


# --- retry / close ----------------------------------------------------------------------------------------


def cmd_issue_action(args: argparse.Namespace) -> int:
    from orchestrator.control.control_hooks import close_issue, retry_issue
    from orchestrator.executors.control_actions import ActionFailed
    from orchestrator.policy.control_commands import IssueRef
    from orchestrator.state.job_context import build_context

    repo_name, _, number = args.issue.rpartition("#")
    if not repo_name or not number.isdigit():
        print(f"error: expected OWNER/NAME#NUMBER or REPO_KEY#NUMBER, got {args.issue!r}", file=sys.stderr)
        return 2
    config = load_config(args.config)
    try:
        repo = config.repo(repo_name)
    except KeyError as exc:  # names the repo and the configured ones
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ctx = build_context(config)
    action = retry_issue if args.command == "retry" else close_issue
    try:
        print(action(ctx, IssueRef(repo.full_name, int(number)), "cli"))
    except ActionFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from orchestrator.executors.control_actions import ActionFailed
    from orchestrator.jobs.strategic_planner import answer_plan
    from orchestrator.state.job_context import build_context

    ctx = build_context(load_config(args.config))
    ref = args.ref.removeprefix("approve:")
    try:
        print(answer_plan(ctx, ref if not args.skip else f"{ref}:skip", "cli"))
    except ActionFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


# --- demo -------------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestrator.demo.runner import main as demo_main

    return demo_main(["--agent", args.agent])


# --- parser -----------------------------------------------------------------------------------------------


def add_watch_option(parser: argparse.ArgumentParser) -> None:
    try:
        from orchestrator.views.commands import add_watch_option as add
    except ModuleNotFoundError:  # not installed yet: --help still lists the option
        parser.add_argument(
            "--watch", nargs="?", type=float, const=2.0, help="live view (needs make install)"
        )
        return
    add(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentos", description="Agent OS: GitHub issues → merged PRs.")
    parser.add_argument("--config", help="config file (default: $AGENT_OS_CONFIG, else ./config.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run one job once (honours kill switches and the job lock)")
    p.add_argument("job")
    p.add_argument("job_args", nargs=argparse.REMAINDER)
    p.add_argument("--force", action="store_true", help="run even when a kill switch is off")
    p.set_defaults(func=cmd_run)

    for name, text in (("on", "turn Agent OS on"), ("off", "turn Agent OS off (kill switch)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--why", default="")
        p.add_argument("--runtime", help=argparse.SUPPRESS)
        if name == "off":
            p.add_argument("--now", action="store_true", help="also stop running agents, pushing their work")
        p.set_defaults(func=cmd_switch_global)

    for name in ("repo", "job"):
        p = sub.add_parser(name, help=f"turn one {name} on or off")
        p.add_argument("state", choices=("on", "off"))
        p.add_argument("name")
        p.add_argument("--runtime", help=argparse.SUPPRESS)
        p.set_defaults(func=cmd_switch_scoped)

    p = sub.add_parser("status", help="kill switches, repos and tasks in flight")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("tasks", help="the mailbox: tasks in flight (or --all)")
    p.add_argument("--all", action="store_true")
    p.add_argument("--runtime", help="runtime dir (default: from config)")
    add_watch_option(p)
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("logs", help="the last lines of a job's log")
    p.add_argument("job")
    p.add_argument("-n", "--lines", type=int, default=50)
    p.add_argument("--runtime", help="runtime dir (default: from config)")
    p.set_defaults(func=cmd_logs)

    for name, text in (
        ("retry", "dispatch an escalated issue again as a new generation"),
        ("close", "close an issue, its agent PRs and queued tasks"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("issue", help="OWNER/NAME#NUMBER or REPO_KEY#NUMBER")
        p.set_defaults(func=cmd_issue_action)

    p = sub.add_parser("approve", help="approve (or --skip) a pending sprint plan, e.g. plan:<id>")
    p.add_argument("ref")
    p.add_argument("--skip", action="store_true")
    p.set_defaults(func=cmd_approve)

    register_setup(sub)  # cron, env, doctor: orchestrator/control/setup_commands.py

    p = sub.add_parser("demo", help="the full loop offline on the sandbox forge")
    p.add_argument("--agent", default="demo")
    p.set_defaults(func=cmd_demo)

    _register_optional(sub)
    return parser


def _register_optional(sub: argparse._SubParsersAction) -> None:
    """Subcommand groups that live with their own modules. A group whose module cannot be imported (its
    dependencies are not installed yet) is still listed, and running it says how to install."""
    # (the commands a group adds, the function adding them) — a new group is one more line here
    groups: list[tuple[tuple[str, ...], Callable[[argparse._SubParsersAction], object]]] = [
        (("init",), _register_init),
        (("dashboard", "log"), _register_views),
        (("sandbox",), _register_sandbox),
        (("replay",), _register_replay),
        (("secrets", "audit", "hooks"), _register_security),
    ]
    for names, register in groups:
        try:
            register(sub)
        except ModuleNotFoundError as exc:
            for name in names:
                stub = sub.add_parser(name, help=f"(needs `make install`: {exc.name} is missing)")
                stub.set_defaults(func=lambda args, missing=exc: _not_installed(missing))


def _register_init(sub: argparse._SubParsersAction) -> None:
    from orchestrator.init_wizard import register

    register(sub)


def _register_views(sub: argparse._SubParsersAction) -> None:
    from orchestrator.views.commands import register

    register(sub)


def _register_replay(sub: argparse._SubParsersAction) -> None:
    from orchestrator.replay.command import register

    register(sub)


def _register_sandbox(sub: argparse._SubParsersAction) -> None:
    from orchestrator.containment.forge_ci import forge_ci_runner
    from orchestrator.sandbox.commands import register

    sandbox = sub.add_parser("sandbox", help="the built-in local GitHub-compatible forge")
    register(sandbox.add_subparsers(dest="sandbox_command", required=True), ci_runner=forge_ci_runner)


def _register_security(sub: argparse._SubParsersAction) -> None:
    from orchestrator.security.commands import register_audit, register_hooks, register_secrets

    register_secrets(sub)
    register_audit(sub)
    register_hooks(sub)


def _not_installed(exc: ModuleNotFoundError) -> int:
    print(
        f"Agent OS's dependencies are not installed for {sys.executable} (no module {exc.name!r}).\n"
        f"Run `make install` in {ROOT} (it creates .venv with the pinned requirements); "
        "bin/agentos then uses .venv/bin/python.",
        file=sys.stderr,
    )
    return EXIT_NOT_INSTALLED


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("orchestrator"):
            raise
        return _not_installed(exc)
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    from orchestrator.config import ConfigError

    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"configuration problem:\n{exc}", file=sys.stderr)
        return 2
    except GitHubError as exc:
        print(f"GitHub problem: {exc}", file=sys.stderr)
        return 3
    except (
        OSError
    ) as exc:  # a file or directory the command needs (permissions, a full disk): named, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
