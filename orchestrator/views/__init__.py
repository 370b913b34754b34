"""Operator views: the reliability page, `status`, `tasks --watch`, the activity `log` and `dashboard serve`.

Read-only over the runtime dir (event log, mailbox, switches, job-run state); `commands.py` registers the
CLI subcommands.
"""
