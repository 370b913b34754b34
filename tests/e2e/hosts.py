"""Several hosts on one forge in one test: each host is a job context of its own (its own runtime dir, the
setup's config and environment otherwise), and `at_once` starts a job on every host at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator.jobs.entry import build_context
from orchestrator.state.runtime import JobContext


def hosts(setup_ctx: JobContext, tmp_path: Path, names: Sequence[str]) -> list[JobContext]:
    """A context per name: `setup_ctx`'s config with the runtime dir `tmp_path/<name>/runtime`, `host` = name."""
    contexts = []
    for name in names:
        config = replace(setup_ctx.config, runtime_dir=tmp_path / name / "runtime")
        ctx = build_context(config, environ=setup_ctx.environ)
        ctx.host = name
        contexts.append(ctx)
    return contexts


def at_once(
    contexts: Sequence[JobContext], job: Callable[[JobContext], Any], timeout: float = 300
) -> list[Any]:
    """`job(ctx)` for every context, each on its own thread, all released together by a barrier; their results
    in the order of `contexts`. Any exception a thread raised fails the test."""
    barrier = threading.Barrier(len(contexts))
    results: list[Any] = [None] * len(contexts)
    errors: list[BaseException] = []

    def one(i: int, ctx: JobContext) -> None:
        try:
            barrier.wait()
            results[i] = job(ctx)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i, c)) for i, c in enumerate(contexts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not errors, errors
    return results
