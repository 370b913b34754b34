"""The one runner of the self-improvement loop jobs: arguments, the per-repo cadence gate, failures → exit code.

Every loop job's `run_job(ctx, argv)` is

    return run_loop_job(JOB, ctx, argv, body)

where `body(ctx, args)` does the job's work and says whether all of it succeeded. `run_loop_job` parses the
shared arguments (--force, --dry-run, --repo KEY: a bad one is a usage error, exit 2) and turns the answer
into the exit code (0 done, 1 some part failed — the job's log says which). A job that works repo by repo
hands its per-repo step to `for_each_repo`, which applies the cadence gate (`due`, skipped with --force) and
turns an expected failure of one repo (`failures`: the exception types the step may raise) into a logged
error that does not stop the other repos.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from orchestrator.loops.common import LoopArgs, LoopArgsError, due, parse_loop_args, selected_repos
from orchestrator.values.job_registry import EXIT_CONFIG, EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from orchestrator.config import RepoConfig
    from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)

LoopBody = Callable[["JobContext", LoopArgs], bool]  # True when every part of the run succeeded
RepoStep = Callable[["RepoConfig"], bool]  # True when the repo's step succeeded


def run_loop_job(job: str, ctx: JobContext, argv: Sequence[str], body: LoopBody) -> int:
    """Parse the loop arguments, run `body`, and return the job's exit code."""
    try:
        args = parse_loop_args(argv)
    except LoopArgsError as exc:
        log.error("%s: %s", job, exc)
        return EXIT_CONFIG
    return EXIT_OK if body(ctx, args) else EXIT_ERROR


def due_repos(
    job: str, ctx: JobContext, args: LoopArgs, every: timedelta
) -> tuple[list[RepoConfig], list[str]]:
    """The selected repos that are due (all of them with --force), and the keys of those that are not."""
    candidates = selected_repos(ctx, args)
    due_now = [r for r in candidates if args.force or due(ctx, job, r.key, every)]
    return due_now, [r.key for r in candidates if r not in due_now]


def for_each_repo(
    job: str,
    ctx: JobContext,
    args: LoopArgs,
    step: RepoStep,
    *,
    every: timedelta | None,
    failures: tuple[type[Exception], ...] = (),
    only: Sequence[RepoConfig] | None = None,
) -> bool:
    """Run `step` for each selected repo (or each of `only`) that is due (`every`: the cadence; None runs
    every repo each time). A repo whose step raises one of `failures` is logged and counted as failed; the
    others still run. True when no repo failed."""
    repos = selected_repos(ctx, args) if only is None else only
    ok = True
    for repo in repos:
        if every is not None and not (args.force or due(ctx, job, repo.key, every)):
            log.info("%s: not due yet for %s", job, repo.key)
            continue
        try:
            ok = step(repo) and ok
        except failures as exc:
            log.error("%s failed repo=%s error=%s", job, repo.full_name, exc)
            ok = False
    return ok
