"""Edges that need one module each: starting outside processes (`process`: own process group, hard and stall
timeouts), the job log (`log`, `deferred_logging`: key=value lines, set up on the first record) and files an
agent wrote, read as data (`worktree_files`: never through a link, never a FIFO; GNU `rm` for trees deeper than
PATH_MAX), and `local_git` (a git for tools outside `git/`: the sandbox seeder, the replay's history reader:
no system or user config, no hooks). They import nothing of the orchestrator but each other; the larger edges are packages of their own
(`github/`, `git/`, `agents/`, `containment/`, `telegram/`, `state/`)."""
