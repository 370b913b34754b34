"""`agentos secrets|audit|hooks` subcommands, and the `precommit` entry the git hook runs.

`bin/agentos` calls the `register_*` functions on its own subparsers; each leaf sets `func`, which takes the
parsed arguments and returns an exit code (named failures are reported as one `error:` line and exit 1). This module imports the vault (and `cryptography`)
only inside the secrets commands, so `python3 -m orchestrator.security.commands precommit` runs with the
standard library alone.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.security.errors import SecurityError
from orchestrator.security.precommit import GitError, check_staged, format_report, install_hook

if TYPE_CHECKING:
    from orchestrator.security.vault import Vault

DEFAULT_RUNTIME = "runtime"


Command = Callable[[argparse.Namespace], int]


def reporting_errors(func: Command) -> Command:
    """Named failures (vault, audit, git, files) become one `error: …` line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (SecurityError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return wrapper


def vault_path(runtime_dir: Path) -> Path:
    return Path(runtime_dir) / "state" / "vault.json"


def audit_path(runtime_dir: Path) -> Path:
    return Path(runtime_dir) / "audit" / "audit.jsonl"


def _add_runtime(parser: argparse.ArgumentParser, default: str | Path) -> None:
    parser.add_argument(
        "--runtime", type=Path, default=Path(default), help="the runtime directory (default: %(default)s)"
    )


def register_secrets(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    runtime_default: str | Path = DEFAULT_RUNTIME,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("secrets", help="the encrypted secret vault (runtime/state/vault.json)")
    _add_runtime(parser, runtime_default)
    parser.add_argument(
        "--key-file", type=Path, default=None, help="vault key file (default: see docs/security.md)"
    )
    actions = parser.add_subparsers(dest="secrets_command", required=True)
    setter = actions.add_parser(
        "set", help="store a secret; the value is read from a prompt or stdin, never argv"
    )
    setter.add_argument("name")
    setter.add_argument(
        "--value-stdin", action="store_true", help="read the value from stdin (one trailing newline dropped)"
    )
    setter.set_defaults(func=_secrets_set)
    getter = actions.add_parser("get", help="print a secret's value (the only command that prints one)")
    getter.add_argument("name")
    getter.set_defaults(func=_secrets_get)
    actions.add_parser("list", help="secret names only").set_defaults(func=_secrets_list)
    remover = actions.add_parser("rm", help="delete a secret")
    remover.add_argument("name")
    remover.set_defaults(func=_secrets_rm)
    init = actions.add_parser("init-key", help="create a new vault key file (mode 0600)")
    init.set_defaults(func=_secrets_init_key)
    return parser


def register_audit(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    runtime_default: str | Path = DEFAULT_RUNTIME,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("audit", help="the hash-chained audit log")
    _add_runtime(parser, runtime_default)
    actions = parser.add_subparsers(dest="audit_command", required=True)
    verifier = actions.add_parser("verify", help="check the hash chain; exit 1 with the first bad line")
    verifier.add_argument(
        "--path", type=Path, default=None, help="the log (default: RUNTIME/audit/audit.jsonl)"
    )
    verifier.set_defaults(func=_audit_verify)
    return parser


def register_hooks(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("hooks", help="git hooks")
    actions = parser.add_subparsers(dest="hooks_command", required=True)
    installer = actions.add_parser("install", help="install the secret guard as the repo's pre-commit hook")
    installer.add_argument("--repo", type=Path, default=Path("."), help="the repository (default: .)")
    installer.set_defaults(func=_hooks_install)
    return parser


def register_precommit(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("precommit", help="check the staged changes (run by hooks/pre-commit)")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the repository (default: .)")
    parser.set_defaults(func=_precommit)
    return parser


def _open_vault(args: argparse.Namespace) -> Vault:
    from orchestrator.security.vault import Vault

    return Vault.open(vault_path(args.runtime), os.environ, key_file=args.key_file)


def _read_value(args: argparse.Namespace) -> str:
    if args.value_stdin:
        value = sys.stdin.read()
        return value[:-2] if value.endswith("\r\n") else value.removesuffix("\n")
    return getpass.getpass(f"value for {args.name}: ")


@reporting_errors
def _secrets_set(args: argparse.Namespace) -> int:
    vault = _open_vault(args)
    value = _read_value(args)
    if not value:
        print(f"error: empty value; {args.name} not stored", file=sys.stderr)
        return 1
    vault.set(args.name, value)
    print(f"stored {args.name} in {vault.path}", file=sys.stderr)
    return 0


@reporting_errors
def _secrets_get(args: argparse.Namespace) -> int:
    sys.stdout.write(_open_vault(args).get(args.name) + "\n")
    return 0


@reporting_errors
def _secrets_list(args: argparse.Namespace) -> int:
    for name in _open_vault(args).names():
        print(name)
    return 0


@reporting_errors
def _secrets_rm(args: argparse.Namespace) -> int:
    if _open_vault(args).remove(args.name):
        print(f"removed {args.name}", file=sys.stderr)
        return 0
    print(f"error: no secret named {args.name}", file=sys.stderr)
    return 1


@reporting_errors
def _secrets_init_key(args: argparse.Namespace) -> int:
    from orchestrator.security.vault import init_key, user_key_path

    path = init_key(args.key_file if args.key_file is not None else user_key_path(os.environ))
    print(f"created the vault key {path} (mode 0600); back it up: without it the vault cannot be read")
    return 0


@reporting_errors
def _audit_verify(args: argparse.Namespace) -> int:
    from orchestrator.security.audit import verify

    path = args.path if args.path is not None else audit_path(args.runtime)
    report = verify(path)
    if report.ok:
        print(f"ok: {report.count} entries in {path}" + (f" ({report.reason})" if report.reason else ""))
        return 0
    where = f"{path}:{report.line_number}" if report.line_number is not None else str(path)
    print(f"{where}: tampered (first bad seq {report.first_bad_seq}): {report.reason}", file=sys.stderr)
    return 1


@reporting_errors
def _hooks_install(args: argparse.Namespace) -> int:
    print(f"installed {install_hook(args.repo)}")
    return 0


def _precommit(args: argparse.Namespace) -> int:
    try:
        report = check_staged(args.repo)
    except GitError as exc:
        print(f"agentos secret guard: cannot read the staged changes: {exc}", file=sys.stderr)
        return 2
    if report.ok:
        return 0
    sys.stderr.write(format_report(report))
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m orchestrator.security.commands")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register_secrets(subparsers)
    register_audit(subparsers)
    register_hooks(subparsers)
    register_precommit(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
