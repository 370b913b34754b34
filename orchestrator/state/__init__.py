"""This host's state under the runtime dir: the mailbox of task files whose folder is their state (`mailbox`,
`task_file`, `task_index`, `task_archive`), one typed record per task beside it (`task_records`, migrated from
the older files by `task_record_migration`), small JSON state files written atomically under a lock (`store`,
`switches`, `task_waits`), the monthly event log with running totals (`metrics`, `event_*`), the latest
decision of each job about each issue (`decisions`), worker slots, secrets.env and the context a job runs with
(`runtime`, `job_context`). It stores; it never decides and never imports executors, jobs or control code."""
