"""The operator's control plane: what Telegram's Retry / Close do on GitHub (`control_hooks`) and how each
update is authorised, parsed and answered once (`control_updates`), `agentos doctor` (`doctor`, `cron_check`,
`cron_preflight`), `agentos cron install` (`cron`), the setup subcommands (`setup_commands`) and the idle
dispatcher tick's memo (`idle_tick`). It sits above the executors and views it calls and below the jobs and
the CLI that use it."""
