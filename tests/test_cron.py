"""cron install/uninstall/show: a marked, idempotent block; the user's own lines are never touched."""

import os
import subprocess
from pathlib import Path

from orchestrator.control import cron
from orchestrator.values.job_registry import JOBS

ROOT = Path(__file__).resolve().parents[1]


def test_merge_block_is_idempotent_and_keeps_other_lines():
    mine = "MAILTO=me@example.com\n0 3 * * * /usr/local/bin/backup\n"
    block = cron.render_block(Path("/opt/agent os"), Path("/etc/agent-os/config.yaml"))
    once = cron.merge_block(mine, block)
    twice = cron.merge_block(once, block)
    assert once == twice
    assert once.startswith(mine)
    assert "cd '/opt/agent os' && AGENT_OS_CONFIG=/etc/agent-os/config.yaml bin/cron-run dispatcher" in once
    assert all(f"bin/cron-run {job.name}" in once for job in JOBS)
    assert cron.merge_block(once, None) == mine


def test_cli_install_show_uninstall_against_a_temporary_crontab(tmp_path):
    crontab = tmp_path / "crontab"
    crontab.write_text("0 3 * * * /usr/local/bin/backup\n")
    env = {**os.environ, "AGENT_OS_CRONTAB": str(crontab), "AGENT_OS_CONFIG": str(tmp_path / "missing.yaml")}

    def agentos(*args):
        return subprocess.run(
            [str(ROOT / "bin" / "agentos"), *args], env=env, capture_output=True, text=True, timeout=60
        )

    assert agentos("cron", "install").returncode == 0
    assert agentos("cron", "install").returncode == 0
    text = crontab.read_text()
    assert text.count(cron.BEGIN) == 1 and "/usr/local/bin/backup" in text
    shown = agentos("cron", "show")
    assert "bin/cron-run pr_monitor" in shown.stdout
    assert agentos("cron", "uninstall").returncode == 0
    assert crontab.read_text() == "0 3 * * * /usr/local/bin/backup\n"


def test_systemd_units(tmp_path):
    written = cron.install_systemd(Path("/opt/aos"), None, tmp_path)
    names = {p.name for p in written}
    assert "agent-os-dispatcher.timer" in names and "agent-os-daily-digest.service" in names
    timer = (tmp_path / "agent-os-queue.timer").read_text()
    assert "OnUnitActiveSec=5min" in timer
    assert "ExecStart=/opt/aos/bin/cron-run queue" in (tmp_path / "agent-os-queue.service").read_text()
