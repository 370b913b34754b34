"""`agentos init`: the guided bootstrap (questions → forge setup → charter → seed issues → config → cron).

`register(subparsers)` adds the `init` subcommand to `bin/agentos`; `python -m orchestrator.init_wizard` runs
it on its own.
"""

from orchestrator.init_wizard.commands import cmd_init, register

__all__ = ["cmd_init", "register"]
