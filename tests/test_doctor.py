"""doctor: a broken config reports every problem; a good one is checked against a live forge."""

import os
import subprocess
from pathlib import Path

import yaml

from orchestrator.demo.runner import TOKEN_ENV, prepare
from orchestrator.doctor import render, run_checks

ROOT = Path(__file__).resolve().parents[1]


def test_broken_config_reports_each_problem(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "github": {"api_url": "http://127.0.0.1:9/api/v3", "tokn_env": "X"},
                "repos": [{"owner": "o", "name": "r", "board": {"mode": "project", "project_number": "x"}}],
            }
        )
    )
    env = {**os.environ, "AGENT_OS_CRONTAB": str(tmp_path / "crontab")}
    res = subprocess.run(
        [str(ROOT / "bin" / "agentos"), "--config", str(cfg), "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1
    assert "tokn_env" in res.stdout and "did you mean" in res.stdout
    assert "project_number" in res.stdout
    assert res.stdout.count("FAIL") >= 2
    assert "Traceback" not in res.stderr


def test_good_config_against_the_sandbox(sandbox, tmp_path, monkeypatch):
    setup = prepare(sandbox, tmp_path / "demo", issues=[])
    cfg = tmp_path / "demo" / "config.yaml"
    monkeypatch.setenv("AGENT_OS_CRONTAB", str(tmp_path / "crontab"))
    env = {**os.environ, TOKEN_ENV: sandbox.token}
    checks = {c.name: c for c in run_checks(str(cfg), env)}
    assert checks["config"].ok and checks["runtime dir"].ok and checks["git"].ok
    assert checks["repo textkit"].ok and checks["board textkit"].ok, render(list(checks.values()))
    assert "Ready" in checks["board textkit"].detail
    assert checks["agent demo"].ok
    assert not checks["cron"].ok and checks["cron"].fix == "bin/agentos cron install"

    bad = run_checks(str(cfg), {**env, TOKEN_ENV: "wrong-token"})
    auth = next(c for c in bad if c.name == "github auth")
    assert not auth.ok and setup.ctx.config.github.token_env in auth.fix
