"""`bin/agentos cron | env | doctor`: putting Agent OS on cron, the secrets cron jobs read, and the check that
the host (and cron's view of it) is ready. Importing this module needs the standard library only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _runtime_root(args: argparse.Namespace) -> Path:
    """--runtime, else the config's runtime_dir (the loader needs PyYAML: imported here, not at the top)."""
    if getattr(args, "runtime", None):
        return Path(args.runtime).resolve()
    from orchestrator.config import load_config

    return load_config(args.config).runtime_dir


# --- cron -------------------------------------------------------------------------------------------------


def cmd_cron(args: argparse.Namespace) -> int:
    from orchestrator.control import cron

    root = ROOT
    config_path = _config_file(args)
    runtime = _runtime_root(args) if config_path and args.action == "install" else None
    try:
        if args.action == "show":
            block = cron.current_block(cron.read_crontab())
            print(block or "no Agent OS block in the crontab (bin/agentos cron install)")
        elif args.action == "uninstall":
            print("removed the Agent OS block" if cron.uninstall() else "no Agent OS block to remove")
        elif args.systemd:
            unit_dir = Path(args.unit_dir or Path.home() / ".config" / "systemd" / "user")
            for path in cron.install_systemd(root, config_path, unit_dir, runtime):
                print(f"wrote {path}")
            print(
                "enable with: systemctl --user daemon-reload && systemctl --user enable --now 'agent-os-*.timer'"
            )
        else:
            print(cron.install(root, config_path, runtime), end="")
            _say_where_secrets_come_from(runtime or root / "runtime")
    except cron.CronError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _say_where_secrets_come_from(runtime: Path) -> None:
    from orchestrator.state.env_file import EnvFileError, env_file_path, variable_names

    path = env_file_path(runtime)
    try:
        names = variable_names(path)
    except EnvFileError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        return
    if names:
        print(f"cron jobs read {', '.join(names)} from {path}")
    else:
        print(
            f"note: cron does not see variables exported in your shell. Put the tokens the config names in "
            f"{path}: bin/agentos env set GITHUB_TOKEN (then bin/agentos doctor runs each cron line once)"
        )


def _config_file(args: argparse.Namespace) -> Path | None:
    from orchestrator.config import config_path

    path, _origin = config_path(args.config)
    return path.resolve() if path.exists() else None


# --- env (the secrets file cron jobs read) -----------------------------------------------------------


def cmd_env(args: argparse.Namespace) -> int:
    from orchestrator.state import env_file

    path = env_file.env_file_path(_runtime_root(args))
    try:
        if args.env_command == "set":
            env_file.set_variable(path, args.name, _read_secret(args.name, args.value_stdin))
            print(f"{args.name} saved in {path} (mode 0600); cron jobs read it from there")
        elif args.env_command == "rm":
            print(f"{args.name} removed" if env_file.remove_variable(path, args.name) else f"no {args.name}")
        elif args.env_command == "list":
            names = env_file.variable_names(path)
            print(f"{path}: {', '.join(names) if names else 'no variables'}")
        else:
            print(path)
    except env_file.EnvFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _read_secret(name: str, from_stdin: bool) -> str:
    """A secret value from stdin or a prompt that does not echo — never from the command line."""
    if from_stdin:
        return sys.stdin.read().removesuffix("\n")
    import getpass

    return getpass.getpass(f"value for {name} (not shown): ")


# --- doctor -----------------------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    from orchestrator.control.doctor import render, run_checks

    checks = run_checks(args.config)
    print(render(checks))
    return 0 if all(c.ok for c in checks) else 1


def register(sub: argparse._SubParsersAction) -> None:
    """`cron`, `env` and `doctor` on `bin/agentos`'s subparsers."""
    p = sub.add_parser("cron", help="install, remove or show the crontab block (or --systemd timers)")
    p.add_argument("action", choices=("install", "uninstall", "show"))
    p.add_argument("--systemd", action="store_true", help="write systemd user timer units instead")
    p.add_argument("--unit-dir", help="where to write the units (default ~/.config/systemd/user)")
    p.set_defaults(func=cmd_cron)

    p = sub.add_parser("env", help="the secrets file cron jobs read (runtime/secrets.env, mode 0600)")
    p.add_argument("--runtime", help="runtime dir (default: from config)")
    env_sub = p.add_subparsers(dest="env_command", required=True)
    setter = env_sub.add_parser("set", help="add or replace NAME; the value comes from a prompt or stdin")
    setter.add_argument("name")
    setter.add_argument("--value-stdin", action="store_true", help="read the value from stdin")
    env_sub.add_parser("rm", help="remove NAME").add_argument("name")
    env_sub.add_parser("list", help="the names in the file (never the values)")
    env_sub.add_parser("path", help="where the file is")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("doctor", help="check config, token, board, agent CLIs, git, disk, runtime dir, cron")
    p.set_defaults(func=cmd_doctor)
