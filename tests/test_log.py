from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest

from orchestrator.edges.log import format_value, kv, setup_logging


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain", "plain"),
        ("o/r#7", "o/r#7"),
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a=b", '"a=b"'),
        ("line\nbreak", '"line\\nbreak"'),
        ("", '""'),
        (3, "3"),
        (0.125, "0.125"),
        (True, "true"),
        (None, "null"),
        ("ünï", "ünï"),
    ],
)
def test_format_value(value: object, shown: str) -> None:
    assert format_value(value) == shown


def test_lines_go_to_job_file_and_stream(tmp_path: Path, restore_root_logging: None) -> None:
    stream = io.StringIO()
    path = setup_logging("queue", tmp_path / "logs", stream=stream)
    assert path == tmp_path / "logs" / "queue.log"
    logger = logging.getLogger("orchestrator.jobs.queue")
    logger.info("claimed task %s", "t1", extra=kv(task="o__r__7__g1", agent="claude", cost=0.5))
    logger.debug("not shown at info")
    for handler in logging.getLogger().handlers:
        handler.flush()
    [line] = path.read_text().splitlines()
    assert re.fullmatch(
        r"ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info job=queue logger=orchestrator\.jobs\.queue "
        r'msg="claimed task t1" task=o__r__7__g1 agent=claude cost=0\.5',
        line,
    )
    assert stream.getvalue().strip() == line


def test_exceptions_stay_on_one_line(tmp_path: Path, restore_root_logging: None) -> None:
    stream = io.StringIO()
    setup_logging("dispatcher", tmp_path, stream=stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("x").exception("failed", extra=kv(step="claim"))
    [line] = stream.getvalue().splitlines()
    assert 'msg="failed" step=claim exc="Traceback (most recent call last):\\n' in line
    assert "RuntimeError: boom" in line


def test_setup_twice_does_not_duplicate_lines(tmp_path: Path, restore_root_logging: None) -> None:
    stream = io.StringIO()
    setup_logging("pr_monitor", tmp_path, stream=stream)
    setup_logging("pr_monitor", tmp_path, stream=stream, level="WARNING")
    logging.getLogger("y").warning("once")
    logging.getLogger("y").info("filtered")
    assert len(stream.getvalue().splitlines()) == 1


def test_file_rotates_by_size(tmp_path: Path, restore_root_logging: None) -> None:
    setup_logging("digest", tmp_path, stream=io.StringIO(), max_bytes=2000, backup_count=2)
    for i in range(100):
        logging.getLogger("z").info("message %d %s", i, "x" * 50)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["digest.log", "digest.log.1", "digest.log.2"]


def test_job_name_must_be_a_safe_file_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="job name"):
        setup_logging("../etc", tmp_path)
