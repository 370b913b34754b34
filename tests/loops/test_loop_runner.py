"""The one loop-job runner: arguments → exit code, the per-repo cadence gate, one repo's failure neither hides
nor stops the others."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from orchestrator.loops.common import LoopArgs, mark_ran
from orchestrator.loops.runner import for_each_repo, run_loop_job
from orchestrator.values.job_registry import EXIT_CONFIG, EXIT_ERROR, EXIT_OK
from tests.loops.conftest import NOW, MakeCtx

JOB = "runner_test"


def test_arguments_and_the_body_decide_the_exit_code(
    make_ctx: MakeCtx, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = make_ctx()
    seen: list[LoopArgs] = []

    def body(_ctx: object, args: LoopArgs) -> bool:
        seen.append(args)
        return not args.dry_run

    assert run_loop_job(JOB, ctx, ["--nope"], body) == EXIT_CONFIG
    assert seen == [] and "unknown argument '--nope'" in caplog.text
    assert run_loop_job(JOB, ctx, ["--force"], body) == EXIT_OK
    assert run_loop_job(JOB, ctx, ["--dry-run"], body) == EXIT_ERROR
    assert seen == [LoopArgs(force=True), LoopArgs(dry_run=True)]


def test_each_repo_runs_when_due_and_a_failure_is_logged_not_raised(
    make_ctx: MakeCtx, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ctx = make_ctx()
    repo = ctx.config.enabled_repos[0]
    ran: list[str] = []

    def step(r: object) -> bool:
        ran.append(repo.key)
        return True

    assert for_each_repo(JOB, ctx, LoopArgs(), step, every=timedelta(days=1))
    mark_ran(ctx, JOB, repo.key, NOW)
    assert for_each_repo(JOB, ctx, LoopArgs(), step, every=timedelta(days=1))  # ran just now: not due
    assert f"{JOB}: not due yet for {repo.key}" in caplog.text
    assert for_each_repo(JOB, ctx, LoopArgs(force=True), step, every=timedelta(days=1))
    assert for_each_repo(JOB, ctx, LoopArgs(), step, every=None)  # no cadence: every run
    assert ran == [repo.key] * 3

    def broken(r: object) -> bool:
        raise OSError("disk full")

    assert not for_each_repo(JOB, ctx, LoopArgs(), broken, every=None, failures=(OSError,))
    assert f"{JOB} failed repo={repo.full_name} error=disk full" in caplog.text
    with pytest.raises(ValueError):  # an unexpected error is not swallowed
        for_each_repo(JOB, ctx, LoopArgs(), lambda r: int("x") > 0, every=None, failures=(OSError,))
    assert not for_each_repo(JOB, ctx, LoopArgs(), lambda r: False, every=None)
    assert for_each_repo(JOB, ctx, LoopArgs(), lambda r: False, every=None, only=())
