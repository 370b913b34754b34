"""Cron that cannot fail silently: a job cron starts without its token is a failed run in `status` and in its
log after one tick; the secrets file is where cron jobs get tokens from; doctor runs each installed cron line
the way cron does and says what it printed."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from orchestrator.control import cron
from orchestrator.control.cron_check import cron_environment
from orchestrator.control.doctor import run_checks
from orchestrator.demo.runner import TOKEN_ENV, prepare
from orchestrator.edges import process
from orchestrator.state.env_file import EnvFileError, env_file_path, read_env_file, set_variable
from orchestrator.values.job_registry import JOBS

ROOT = Path(__file__).resolve().parents[1]


def agentos(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "bin" / "agentos"), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def shell_env(tmp_path: Path) -> dict[str, str]:
    """The operator's shell: no token exported, our own crontab file, a wide terminal for the tables."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    return {**env, "AGENT_OS_CRONTAB": str(tmp_path / "crontab"), "COLUMNS": "400"}


def run_as_cron(crontab: str, job: str) -> process.ProcessResult:
    """The line exactly as cron runs it: /bin/sh -c with cron's minimal environment, output redirect included."""
    for raw in (cron.current_block(crontab) or "").splitlines():
        if f"bin/cron-run {job} " in raw:
            command = raw.split(None, 5)[5]
            return process.run(["/bin/sh", "-c", command], env=cron_environment(crontab), timeout=120)
    raise AssertionError(f"no cron line for {job}")


@pytest.fixture
def installed(sandbox, tmp_path):
    prepare(sandbox, tmp_path / "demo", issues=[])
    config = tmp_path / "demo" / "config.yaml"
    env = shell_env(tmp_path)
    res = agentos("--config", str(config), "cron", "install", env=env)
    assert res.returncode == 0, res.stderr
    assert "cron does not see variables exported in your shell" in res.stdout
    return config, env, sandbox


def test_a_cron_job_without_its_token_is_a_failed_run_in_status_and_its_log(installed, tmp_path):
    config, env, sandbox = installed
    crontab = (tmp_path / "crontab").read_text()
    runtime = tmp_path / "demo" / "runtime"

    ran = run_as_cron(crontab, "dispatcher")
    assert ran.returncode == 2 and ran.stdout == ran.stderr == ""  # the output went where cron sends it
    cron_log = (runtime / "logs" / "cron.log").read_text()
    assert "dispatcher failed before it could run" in cron_log and TOKEN_ENV in cron_log

    status = agentos("--config", str(config), "status", env=env)
    assert re.search(
        r"dispatcher\s+on\s+\d+s ago\s+exit 2\s+dispatcher failed before it could run", status.stdout
    )
    assert f"{TOKEN_ENV} is empty or not set" in " ".join(status.stdout.split()), status.stdout
    logs = agentos("--config", str(config), "logs", "dispatcher", env=env)
    assert "job failed before it could run" in logs.stdout and TOKEN_ENV in logs.stdout

    saved = agentos(
        "--config", str(config), "env", "set", TOKEN_ENV, "--value-stdin", env=env, stdin=sandbox.token
    )
    assert saved.returncode == 0, saved.stderr
    secrets = env_file_path(runtime)
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600 and sandbox.token not in saved.stdout

    run_as_cron(crontab, "dispatcher")
    status = agentos("--config", str(config), "status", env=env)
    assert re.search(r"dispatcher\s+on\s+\d+s ago\s+ok\s+dispatcher finished", status.stdout), status.stdout


def test_doctor_runs_each_cron_line_in_crons_environment(installed, tmp_path, monkeypatch):
    config, env, sandbox = installed
    monkeypatch.setenv("AGENT_OS_CRONTAB", env["AGENT_OS_CRONTAB"])
    exported = {**env, TOKEN_ENV: sandbox.token}  # doctor's own checks pass with the shell's token …

    checks = {c.name: c for c in run_checks(str(config), exported)}

    assert checks["repo textkit"].ok
    secrets = checks["secrets for cron"]  # … but cron would never see it
    assert not secrets.ok and "exported in this shell only" in secrets.detail
    assert secrets.fix == f"bin/agentos env set {TOKEN_ENV}"
    (failing,) = [c for name, c in checks.items() if name.startswith("cron line")]  # all fail alike: one row
    assert failing.name == f"cron lines ({len(JOBS)})"
    assert failing.detail.startswith("dispatcher, pr_monitor, queue,") and "exit 2" in failing.detail
    assert f"{TOKEN_ENV} is empty or not set" in failing.detail
    assert "bin/agentos env set" in failing.fix

    set_variable(env_file_path(tmp_path / "demo" / "runtime"), TOKEN_ENV, sandbox.token)
    checks = {c.name: c for c in run_checks(str(config), exported)}
    assert checks["secrets for cron"].ok
    lines = checks["cron lines"]
    assert lines.ok and lines.detail.startswith(f"{len(JOBS)} of {len(JOBS)} ready under cron")
    assert not [name for name in checks if name.startswith("cron line ") or "(" in name]


def test_the_secrets_file_is_refused_when_others_can_read_it_or_a_line_is_broken(tmp_path):
    path = tmp_path / "secrets.env"
    set_variable(path, "GITHUB_TOKEN", "ghp_x y")
    set_variable(path, "OTHER", "plain-value")
    set_variable(path, "GITHUB_TOKEN", "replaced")
    assert read_env_file(path) == {"GITHUB_TOKEN": "replaced", "OTHER": "plain-value"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    with pytest.raises(EnvFileError, match=r"readable by other users .*chmod 600"):
        read_env_file(path)
    path.chmod(0o600)
    path.write_text(path.read_text() + "this is not an assignment\n")
    with pytest.raises(EnvFileError, match="line 5"):
        read_env_file(path)
    with pytest.raises(EnvFileError, match="newline"):
        set_variable(tmp_path / "other.env", "X", "a\nb")


def test_systemd_units_read_the_secrets_file(tmp_path):
    units = cron.systemd_units(Path("/opt/aos"), None, tmp_path / "rt")
    assert f"EnvironmentFile=-{tmp_path / 'rt' / 'secrets.env'}" in units["agent-os-queue.service"]


def test_cron_lines_run_with_crons_environment_only_and_failures_are_grouped(tmp_path, monkeypatch):
    from orchestrator.control.cron_check import run_cron_lines

    monkeypatch.setenv("LEAKED_FROM_MY_SHELL", "yes")
    show = 'echo "$PATH|$SHELL|${LEAKED_FROM_MY_SHELL:-unset}|$AGENT_OS_PREFLIGHT|$FROM_CRONTAB"'
    expected = "/usr/bin:/bin|/bin/sh|unset|1|set in the crontab"
    lines = [
        cron.CronLine("* * * * *", f'test "$({show})" = "{expected}" || {{ {show}; exit 9; }}', "a"),
        cron.CronLine("* * * * *", "echo 'b: token missing' >&2; exit 2", "b"),
        cron.CronLine("* * * * *", "echo 'c: token missing' >&2; exit 2", "c"),
        cron.CronLine("* * * * *", "echo 'python: No module named yaml' >&2; exit 1", "d"),
    ]
    env = cron_environment("FROM_CRONTAB=set in the crontab\n", home=str(tmp_path))

    checks = {c.name: c for c in run_cron_lines(lines, env)}

    assert checks["cron lines"].detail == "1 of 4 ready under cron: a"
    assert checks["cron lines (2)"].detail == "b, c: exit 2: each: token missing"
    assert checks["cron line d"].detail == "exit 1: python: No module named yaml"
    assert checks["cron line d"].fix.startswith("make install")


def cron_run(job: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENT_OS_CONFIG": str(config), "GITHUB_TOKEN": "x" * 20}
    return subprocess.run(
        [str(ROOT / "bin" / "cron-run"), job], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("switches", "cannot read the kill switches"),
        ("config", "failed before it could run: invalid configuration"),
        ("secrets", "secrets file: "),
    ],
)
def test_every_failure_before_a_run_is_recorded_as_a_run(tmp_path, breakage, reason):
    from orchestrator.state.runtime import RuntimePaths
    from orchestrator.views.job_runs import read_job_runs

    config = tmp_path / "config.yaml"
    config.write_text("repos: [{owner: acme, name: shop, board: {mode: labels}}]\n")
    runtime = RuntimePaths(tmp_path / "runtime")
    runtime.ensure()
    if breakage == "switches":
        (runtime.state / "switches.json").write_text("{not json")
    elif breakage == "config":
        config.write_text("repos: [{owner: acme}]\n")
    else:
        (runtime.root / "secrets.env").write_text("GITHUB_TOKEN=abc\n")
        (runtime.root / "secrets.env").chmod(0o644)

    res = cron_run("pr_monitor", config)

    assert res.returncode == 2 and reason in res.stderr and "Traceback" not in res.stderr
    run = read_job_runs(runtime)["pr_monitor"]
    assert run.code == 2 and reason in run.message
