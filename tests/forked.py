"""Concurrency across real processes: one function run at once in several forked processes, each of which must
finish cleanly. Make what they share (a barrier) from FORK."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence

FORK = multiprocessing.get_context("fork")


def run_forked(
    target: Callable[..., object], args_per_process: Sequence[tuple[object, ...]], timeout: float = 60
) -> None:
    """`target(*args)` in a forked process for each `args` of `args_per_process`, all started before any is
    joined; each must exit 0 within `timeout` seconds."""
    procs = [FORK.Process(target=target, args=args) for args in args_per_process]
    for p in procs:
        p.start()
    for p, args in zip(procs, args_per_process, strict=True):
        p.join(timeout)
        assert p.exitcode == 0, f"{target.__name__}{args} ended with exit code {p.exitcode}"
