"""doctor: a broken config reports every problem; a good one is checked against a live forge."""

import os
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import yaml

from orchestrator.control.doctor import render, run_checks
from orchestrator.demo.runner import TOKEN_ENV, prepare
from tests.loopback import LoopbackHTTP

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


def test_the_unchanged_example_placeholders_are_flagged(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_OS_CRONTAB", str(tmp_path / "crontab"))
    data = yaml.safe_load((ROOT / "example.config.yaml").read_text())
    data["runtime_dir"] = str(tmp_path / "runtime")
    data["github"]["api_url"] = "http://127.0.0.1:9/api/v3"
    data["github"]["graphql_url"] = "http://127.0.0.1:9/api/graphql"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(data))

    checks = {c.name: c for c in run_checks(str(cfg), {"GITHUB_TOKEN": "x" * 20}, run_cron_lines=False)}

    flagged = checks["placeholders"]
    assert not flagged.ok
    assert "repos[0] is your-user-or-org/your-repo" in flagged.detail
    assert "loops.product_urls[0] is https://example.com/health" in flagged.detail

    data["repos"][0].update(owner="acme", name="shop")
    data["loops"]["product_urls"] = []
    cfg.write_text(yaml.safe_dump(data))
    checks = {c.name: c for c in run_checks(str(cfg), {"GITHUB_TOKEN": "x" * 20}, run_cron_lines=False)}
    assert checks["placeholders"].ok


class FailingApi(LoopbackHTTP):
    """A GitHub API that answers every request 502 and counts them."""

    def __init__(self) -> None:
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                return

        super().__init__(Handler)


def test_an_unreachable_github_is_asked_once_not_retried_for_every_repo(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_OS_CRONTAB", str(tmp_path / "crontab"))
    api = FailingApi()
    api.start()
    try:
        url = api.url
        cfg = tmp_path / "config.yaml"
        repos = [{"owner": "acme", "name": n, "board": {"mode": "labels"}} for n in ("a", "b", "c")]
        cfg.write_text(
            yaml.safe_dump(
                {
                    "runtime_dir": str(tmp_path / "runtime"),
                    "github": {"api_url": f"{url}/api/v3", "max_retries": 5, "request_timeout_seconds": 30},
                    "repos": repos,
                }
            )
        )
        checks = run_checks(str(cfg), {"GITHUB_TOKEN": "x" * 20}, run_cron_lines=False)
    finally:
        api.stop()
    github = next(c for c in checks if c.name == "github")
    assert not github.ok and "502" in github.detail and "one try, 5 s timeout" in github.detail
    assert api.requests == 1  # not 6 tries for each of 3 repos
    assert not [c for c in checks if c.name.startswith("repo ")]


def test_telegram_is_checked_with_get_me(tmp_path, monkeypatch):
    from tests.control.conftest import TOKEN
    from tests.control.fake_bot_api import FakeBotApi

    monkeypatch.setenv("AGENT_OS_CRONTAB", str(tmp_path / "crontab"))
    api = FakeBotApi(TOKEN).start()
    try:
        cfg = tmp_path / "config.yaml"
        telegram = {"enabled": True, "api_url": api.url, "allowed_chat_ids": [1], "allowed_user_ids": [2]}
        cfg.write_text(
            yaml.safe_dump(
                {
                    "runtime_dir": str(tmp_path / "runtime"),
                    "github": {"api_url": "http://127.0.0.1:9/api/v3", "max_retries": 0},
                    "repos": [{"owner": "acme", "name": "shop", "board": {"mode": "labels"}}],
                    "telegram": telegram,
                }
            )
        )
        good = {c.name: c for c in run_checks(str(cfg), {"TELEGRAM_BOT_TOKEN": TOKEN}, run_cron_lines=False)}
        wrong = {
            c.name: c for c in run_checks(str(cfg), {"TELEGRAM_BOT_TOKEN": "1:wrong"}, run_cron_lines=False)
        }
        unset = {c.name: c for c in run_checks(str(cfg), {}, run_cron_lines=False)}
    finally:
        api.stop()
    assert good["telegram"].ok and good["telegram"].detail.startswith("getMe: @agentos_bot; this host")
    assert api.calls_to("getMe")
    assert not wrong["telegram"].ok and "getMe" in wrong["telegram"].detail
    assert "1:wrong" not in wrong["telegram"].detail
    assert not unset["telegram"].ok and unset["telegram"].fix.startswith(
        "bin/agentos env set TELEGRAM_BOT_TOKEN"
    )


def test_a_secrets_file_others_can_read_is_a_fail_line_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_OS_CRONTAB", str(tmp_path / "crontab"))
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / "secrets.env").write_text("GITHUB_TOKEN=abc\n")
    (runtime / "secrets.env").chmod(0o644)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "runtime_dir": str(runtime),
                "github": {"api_url": "http://127.0.0.1:9/api/v3"},
                "repos": [{"owner": "acme", "name": "shop", "board": {"mode": "labels"}}],
            }
        )
    )
    checks = {c.name: c for c in run_checks(str(cfg), {}, run_cron_lines=False)}
    assert not checks["secrets file"].ok and "chmod 600" in checks["secrets file"].detail
    assert not checks["github auth"].ok and "readable by other users" in checks["github auth"].detail
