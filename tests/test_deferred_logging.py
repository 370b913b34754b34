"""A job's log set up on its first record (orchestrator/edges/deferred_logging.py): nothing written, nothing built, until
a record at the job's level arrives; then that record is written exactly once, redacted like every other."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from orchestrator.edges.deferred_logging import SetUpOnFirstRecord, defer
from orchestrator.edges.log import setup_logging
from orchestrator.security.redact import Redactor, install_log_redaction

SECRET = "s3cr3t-value-for-the-test"


def _deferred(tmp_path: Path, stream: io.StringIO, calls: list[str]) -> Path:
    def setup() -> None:
        calls.append("setup")
        setup_logging("dispatcher", tmp_path / "logs", stream=stream)
        install_log_redaction(Redactor([SECRET]))

    defer(setup)
    return tmp_path / "logs" / "dispatcher.log"


def test_a_tick_that_says_nothing_sets_up_nothing(tmp_path: Path, restore_root_logging: None) -> None:
    calls: list[str] = []
    path = _deferred(tmp_path, io.StringIO(), calls)
    logging.getLogger("agentos").debug("dispatcher tick dispatched=0")
    assert calls == [] and not path.exists()


def test_the_first_record_is_written_once_and_redacted(tmp_path: Path, restore_root_logging: None) -> None:
    calls: list[str] = []
    stream = io.StringIO()
    path = _deferred(tmp_path, stream, calls)
    log = logging.getLogger("orchestrator.jobs.dispatcher")
    log.info("claimed with token %s", SECRET)
    log.warning("second line")
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = path.read_text().splitlines()
    assert calls == ["setup"]
    assert len(lines) == 2 and "claimed with token [REDACTED:secret]" in lines[0] and SECRET not in lines[0]
    assert stream.getvalue().count("claimed with token") == 1


def test_a_new_job_in_the_same_process_replaces_the_stand_in(
    tmp_path: Path, restore_root_logging: None
) -> None:
    calls: list[str] = []
    _deferred(tmp_path / "a", io.StringIO(), calls)
    _deferred(tmp_path / "b", io.StringIO(), calls)
    assert sum(isinstance(h, SetUpOnFirstRecord) for h in logging.getLogger().handlers) == 1
    logging.getLogger("agentos").error("failed")
    assert calls == ["setup"] and (tmp_path / "b" / "logs" / "dispatcher.log").exists()
