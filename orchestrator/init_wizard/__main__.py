"""`python -m orchestrator.init_wizard [--config PATH] init …`: the init subcommand without the whole CLI."""

from __future__ import annotations

import argparse
import sys

from orchestrator.init_wizard.commands import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentos")
    parser.add_argument("--config", help="config file (default: $AGENT_OS_CONFIG, else ./config.yaml)")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
