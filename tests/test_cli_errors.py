"""Expected failures print one clear message naming the cause and the fix, exit non-zero, no traceback."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from orchestrator.demo.runner import prepare

ROOT = Path(__file__).resolve().parents[1]


def agentos(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "bin" / "agentos"), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, api_url: str, runtime: Path) -> Path:
    data = {
        "runtime_dir": str(runtime),
        "github": {
            "api_url": api_url,
            "token_env": "AOS_TEST_TOKEN",
            "max_retries": 1,
            "request_timeout_seconds": 2,
        },
        "repos": [{"owner": "o", "name": "r", "board": {"mode": "labels"}}],
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_malformed_config(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("repos: [\n")
    res = agentos("--config", str(cfg), "run", "dispatcher")
    assert res.returncode == 2
    assert "config.yaml" in (res.stdout + res.stderr) and "Traceback" not in res.stderr


def test_missing_config_names_the_fix(tmp_path):
    res = agentos("--config", str(tmp_path / "nope.yaml"), "status")
    assert res.returncode == 2
    assert "nope.yaml" in res.stderr and "example.config.yaml" in res.stderr
    assert "Traceback" not in res.stderr


def test_unreachable_api(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/api/v3"
    cfg = write_config(tmp_path / "config.yaml", url, tmp_path / "runtime")
    res = agentos("--config", str(cfg), "run", "dispatcher", env={"AOS_TEST_TOKEN": "x" * 12})
    assert res.returncode != 0
    assert "127.0.0.1" in res.stderr and "Traceback" not in res.stderr


def test_bad_token_and_unknown_repo_against_the_sandbox(sandbox, tmp_path):
    setup = prepare(sandbox, tmp_path / "demo", issues=[])
    cfg = tmp_path / "demo" / "config.yaml"
    res = agentos(
        "--config", str(cfg), "run", "dispatcher", env={setup.ctx.config.github.token_env: "wrong-token"}
    )
    assert res.returncode != 0
    assert "Bad credentials" in res.stderr and setup.ctx.config.github.token_env in res.stderr
    assert "Traceback" not in res.stderr

    data = yaml.safe_load(cfg.read_text())
    data["repos"][0]["name"] = "no-such-repo"
    cfg.write_text(yaml.safe_dump(data))
    res = agentos(
        "--config", str(cfg), "run", "dispatcher", env={setup.ctx.config.github.token_env: sandbox.token}
    )
    assert res.returncode != 0
    assert "no-such-repo" in res.stderr and "Traceback" not in res.stderr
    assert "dispatcher failed (exit 1)" in res.stderr and "finished" not in res.stderr

    res = agentos("--config", str(cfg), "repo", "off", "nope")
    assert res.returncode == 2 and "nope" in res.stderr and "textkit" in res.stderr


def test_help_before_make_install_needs_only_the_standard_library(tmp_path):
    """A fresh checkout: no .venv, and the python3 on PATH has none of the requirements."""
    install = tmp_path / "agent-os"
    shutil.copytree(ROOT / "bin", install / "bin")
    shutil.copytree(
        ROOT / "orchestrator", install / "orchestrator", ignore=shutil.ignore_patterns("__pycache__")
    )
    bare = tmp_path / "bare-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    env = {"PATH": f"{bare / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}

    shown = subprocess.run(
        [str(install / "bin" / "agentos"), "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert "retry" in shown.stdout and "doctor" in shown.stdout
    assert "init" in shown.stdout and "needs `make install`" in shown.stdout
    assert "make install" in shown.stderr and "Traceback" not in shown.stderr

    status = subprocess.run(
        [str(install / "bin" / "agentos"), "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 4
    assert "not installed" in status.stderr and "make install" in status.stderr
    assert "Traceback" not in status.stderr


def test_retry_of_an_unknown_repo_names_it_and_the_configured_ones(tmp_path):
    cfg = write_config(tmp_path / "config.yaml", "http://127.0.0.1:9/api/v3", tmp_path / "runtime")
    res = agentos("--config", str(cfg), "retry", "no-such/repo#1", env={"AOS_TEST_TOKEN": "x" * 12})
    assert res.returncode == 2
    assert "no-such/repo" in res.stderr and "o/r" in res.stderr and "Traceback" not in res.stderr
