"""Executors: the code that turns a decision into side effects on GitHub, git, the agents and the mailbox —
one attempt at a task (`task_runner`) and what follows it (`queue_actions`), what pr_monitor does to a PR
(`pr_actions`, `verification`), escalation, the board (`tracker`), leases and claims on GitHub
(`remote_lease`, `claim_facts`), budgets, notifications, prompts and comments (`prompt`), document PRs,
housekeeping, the worktree pools (`worktrees`), the decision hooks and what a control command does locally
(`control_actions`). Only jobs and the executors they call may import the protected ones (the import contracts
in pyproject.toml name them)."""
