"""One job registry: every job's entry point exists, and cron, the kill switches, `status` and Telegram all
list exactly the registry's jobs."""

from __future__ import annotations

import importlib
import inspect
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.control import cron
from orchestrator.jobs.entry import run_job
from orchestrator.jobs.telegram_control import command_context
from orchestrator.state.runtime import RuntimePaths
from orchestrator.state.switches import SwitchError, Switches
from orchestrator.values import job_registry
from orchestrator.values.job_registry import CONTROL_JOB, JOB_NAMES, JOBS, UnknownJob, job
from orchestrator.views.snapshot import collect


@pytest.mark.parametrize("spec", JOBS, ids=JOB_NAMES)
def test_every_entry_point_is_a_function_of_ctx_and_argv(spec: job_registry.JobSpec) -> None:
    func = getattr(importlib.import_module(spec.module), spec.function)
    assert list(inspect.signature(func).parameters)[:2] == ["ctx", "argv"]


def test_names_are_unique_and_the_control_job_is_registered() -> None:
    assert len(set(JOB_NAMES)) == len(JOBS) and CONTROL_JOB in JOB_NAMES


def test_an_unknown_job_is_named_with_the_known_ones() -> None:
    with pytest.raises(UnknownJob, match="unknown job 'dispatch'; known jobs: agent_scorer, backlog_groomer"):
        job("dispatch")
    outcome = run_job("dispatch", None, [])
    assert outcome.code == job_registry.EXIT_CONFIG and "known jobs: agent_scorer" in outcome.message


def test_cron_and_systemd_run_every_registered_job_at_its_cadence(tmp_path: Path) -> None:
    lines = cron.block_lines(cron.render_block(tmp_path, None))
    assert [line.job for line in lines] == list(JOB_NAMES)
    assert [line.schedule for line in lines] == [spec.cadence.schedule for spec in JOBS]
    units = cron.systemd_units(tmp_path, None)
    assert len(units) == 2 * len(JOBS)
    weekly = units["agent-os-log-analyzer.timer"]
    assert f"OnCalendar={job('log_analyzer').cadence.at}" in weekly


def test_switches_status_and_telegram_know_the_same_jobs(tmp_path: Path) -> None:
    switches = Switches.load(tmp_path)
    switches.set_job("claim_sweeper", False, "test")  # a registered job can be switched off
    with pytest.raises(SwitchError, match="unknown job 'nope'"):
        switches.set_job("nope", False, "test")
    paths = RuntimePaths(tmp_path)
    paths.ensure()
    snapshot = collect(None, paths, datetime(2026, 1, 1, tzinfo=UTC))
    assert tuple(name for name, _run in snapshot.jobs) == JOB_NAMES
    assert command_context(()).jobs == JOB_NAMES
